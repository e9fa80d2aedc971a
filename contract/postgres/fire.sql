-- One fire by id (:fire_id). Result: zero or one row of cosched_fires.
-- Instants are UTC milliseconds; status is one of queued, running,
-- succeeded, failed, timed_out, skipped, abandoned, cancelled.
SELECT id, job, trigger_id, producer_key, status, scheduled_at, due_at,
       started_at, finished_at, attempt, node_id, reason, error, output
FROM cosched_fires
WHERE id = :fire_id;
