-- Resume job :job (:now_ms: the caller's clock); a trigger paused on its
-- own stays paused. Fires that came due while paused follow each trigger's
-- misfire policy. Result of the last statement: one row (changed,
-- job_exists); changed is 0 when the job was not paused, job_exists 0 when
-- there is no such job.
UPDATE triggers SET state = 'waiting', updated_at = :now_ms
WHERE state = 'paused' AND paused = FALSE
  AND job_id = (SELECT id FROM jobs WHERE name = :job AND paused = TRUE);
UPDATE jobs SET paused = FALSE, updated_at = :now_ms
WHERE name = :job AND paused = TRUE;
SELECT changes() > 0 AS changed,
       EXISTS (SELECT 1 FROM jobs WHERE name = :job) AS job_exists;
