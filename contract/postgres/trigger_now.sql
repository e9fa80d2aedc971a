-- Fire job :job now (the database clock), with :data and :key as in
-- schedule_once.sql. Result: one row (trigger_id); an unknown job raises
-- SQLSTATE P0002.
SELECT cosched_trigger_now(CAST(:job AS text), CAST(:data AS jsonb),
                           CAST(:key AS text)) AS trigger_id;
