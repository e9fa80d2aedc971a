-- Pause job :job and its waiting triggers. Result: one row (changed),
-- false when the job was already paused; an unknown job raises SQLSTATE
-- P0002.
SELECT cosched_pause(CAST(:job AS text)) AS changed;
