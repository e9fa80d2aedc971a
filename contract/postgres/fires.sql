-- Fires, newest first (by scheduled instant, then attempt): of job :job,
-- in status :status, of trigger :trigger_id (each NULL for any), at most
-- :limit rows of cosched_fires.
SELECT id, job, trigger_id, producer_key, status, scheduled_at, due_at,
       started_at, finished_at, attempt, node_id, reason, error, output
FROM cosched_fires
WHERE (CAST(:job AS TEXT) IS NULL OR job = :job)
  AND (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:trigger_id AS BIGINT) IS NULL OR trigger_id = :trigger_id)
ORDER BY scheduled_at DESC, attempt DESC, id DESC
LIMIT :limit;
