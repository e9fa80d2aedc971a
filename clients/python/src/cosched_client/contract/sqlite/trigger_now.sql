-- Fire job :job now (:now_ms, the caller's clock in UTC milliseconds),
-- with :data and :key as in schedule_once.sql. Result: one row
-- (trigger_id); no row: the job does not exist.
INSERT INTO triggers (job_id, source, kind, cron_dialect, timezone,
                      preserve_hour_of_day, skip_day_if_hour_missing,
                      start_at, repeat_count, data, next_fire_at, times_fired,
                      misfire_policy, priority, pool, state, fence,
                      producer_key, created_at, updated_at)
SELECT id, 'api', 'once', 'quartz', 'UTC', FALSE, FALSE,
       :now_ms, 0, json(:data), :now_ms, 0,
       'smart', priority, pool, CASE WHEN paused THEN 'paused' ELSE 'waiting' END, 0,
       :key, :now_ms, :now_ms
FROM jobs WHERE name = :job
ON CONFLICT (job_id, producer_key) WHERE producer_key IS NOT NULL
DO UPDATE SET producer_key = excluded.producer_key
RETURNING id AS trigger_id;
