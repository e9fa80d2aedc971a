-- Pause job :job and its waiting triggers (:now_ms: the caller's clock).
-- Result of the last statement: one row (changed, job_exists); changed is
-- 0 when the job was already paused, job_exists 0 when there is no such job.
UPDATE triggers SET state = 'paused', updated_at = :now_ms
WHERE state = 'waiting'
  AND job_id = (SELECT id FROM jobs WHERE name = :job AND paused = FALSE);
UPDATE jobs SET paused = TRUE, updated_at = :now_ms
WHERE name = :job AND paused = FALSE;
SELECT changes() > 0 AS changed,
       EXISTS (SELECT 1 FROM jobs WHERE name = :job) AS job_exists;
