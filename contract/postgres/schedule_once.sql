-- Schedule a one-off fire of job :job at :at_ms (UTC milliseconds), with
-- :data (JSON or NULL) merged over the job's data and an optional producer
-- :key. Result: one row (trigger_id); a :key already used for this job
-- returns that trigger and changes nothing. An unknown job raises SQLSTATE
-- P0002 (no_data_found) naming it. A paused job gets the one-off too, in
-- state `paused`. Wakes the nodes (NOTIFY) when the transaction commits.
SELECT cosched_schedule_once(CAST(:job AS text), CAST(:at_ms AS bigint),
                             CAST(:data AS jsonb), CAST(:key AS text)) AS trigger_id;
