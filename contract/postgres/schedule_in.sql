-- Schedule a one-off fire of job :job :delay_ms milliseconds from now by
-- the database clock, with :data and :key as in schedule_once.sql.
-- Result: one row (trigger_id); an unknown job raises SQLSTATE P0002.
SELECT cosched_schedule_in(CAST(:job AS text), CAST(:delay_ms AS bigint),
                           CAST(:data AS jsonb), CAST(:key AS text)) AS trigger_id;
