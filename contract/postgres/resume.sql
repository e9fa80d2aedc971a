-- Resume job :job; a trigger paused on its own stays paused. Fires that
-- came due while paused follow each trigger's misfire policy. Result: one
-- row (changed), false when the job was not paused; an unknown job raises
-- SQLSTATE P0002. Wakes the nodes (NOTIFY) when the transaction commits.
SELECT cosched_resume(CAST(:job AS text)) AS changed;
