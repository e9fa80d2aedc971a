//! The producer contract, version 1: what a program in any language may do
//! to the database, kept stable across migrations.
//!
//! - `triggers.producer_key`: an optional key per one-off, unique per job,
//!   so that scheduling twice with the same key creates one trigger.
//! - `cosched_contract`: one row holding the contract version a client
//!   checks before its first operation. A later migration that changes
//!   any part of the contract (these functions, the view, the statements
//!   in `contract/`) updates this row.
//! - `cosched_fires`: the view producers read fires through, on both
//!   backends.
//! - On PostgreSQL, plpgsql functions for the producer operations. They
//!   write exactly the rows `Client::schedule_at` and `Store::job_set_paused`
//!   write, take every instant from the database clock, and `NOTIFY
//!   cosched_changes` inside the caller's transaction, so that a rollback
//!   schedules nothing and wakes nobody. SQLite has no stored functions;
//!   the same operations are the statements in `contract/sqlite/`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000003_producer_contract"
    }
}

/// The contract version this migration installs.
const CONTRACT_VERSION: i32 = 1;

const UP_BOTH: &[&str] = &[
    "ALTER TABLE triggers ADD COLUMN producer_key TEXT",
    // NULL keys never conflict; the partial index keeps them out entirely.
    "CREATE UNIQUE INDEX triggers_producer_key ON triggers (job_id, producer_key) \
     WHERE producer_key IS NOT NULL",
    "CREATE TABLE cosched_contract (version INTEGER NOT NULL CHECK (version > 0))",
    // At most one row: every row has the same indexed value.
    "CREATE UNIQUE INDEX cosched_contract_one_row ON cosched_contract ((1))",
    r#"CREATE VIEW cosched_fires AS
SELECT f.id, f.job_name AS job, f.trigger_id, t.producer_key, f.status,
       f.scheduled_at, f.due_at, f.started_at, f.finished_at, f.attempt,
       f.node_id, f.reason, f.error, f.output
FROM fires f LEFT JOIN triggers t ON t.id = f.trigger_id"#,
];

/// PostgreSQL's producer functions. Parameters keep their documented names
/// (callers may use named notation), so inside the bodies they are
/// qualified with the function's name where a column shares the name.
const UP_POSTGRES: &[&str] = &[
    // The database clock in UTC milliseconds: the clock every node corrects
    // itself to at check-in. clock_timestamp(), not now(): the instant of
    // the call, not of the transaction's start.
    r#"CREATE FUNCTION cosched_now_ms() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
$$"#,
    // A one-off, as insert_trigger writes it for ScheduleSpec::Once with
    // the default TriggerDef: kind `once`, source `api`, repeat count 0,
    // misfire `smart`, pool and priority from the job, `paused` when the
    // job is paused. A key already used for this job returns the trigger
    // it made and writes nothing.
    r#"CREATE FUNCTION cosched_schedule_once(job text, at_ms bigint, data jsonb DEFAULT NULL, key text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    target jobs%ROWTYPE;
    now_ms bigint := cosched_now_ms();
    created bigint;
BEGIN
    IF at_ms IS NULL THEN
        RAISE EXCEPTION 'cosched_schedule_once: at_ms must not be null (UTC milliseconds since the epoch)'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO target FROM jobs WHERE name = cosched_schedule_once.job;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job `%` does not exist', cosched_schedule_once.job
            USING ERRCODE = 'no_data_found', HINT = 'create the job first (configuration file, HTTP API or Client)';
    END IF;
    IF cosched_schedule_once.key IS NOT NULL THEN
        SELECT id INTO created FROM triggers
        WHERE job_id = target.id AND producer_key = cosched_schedule_once.key;
        IF FOUND THEN
            RETURN created;
        END IF;
    END IF;
    INSERT INTO triggers (job_id, source, kind, cron_dialect, timezone,
                          preserve_hour_of_day, skip_day_if_hour_missing,
                          start_at, repeat_count, data, next_fire_at, times_fired,
                          misfire_policy, priority, pool, state, fence,
                          producer_key, created_at, updated_at)
    VALUES (target.id, 'api', 'once', 'quartz', 'UTC', FALSE, FALSE,
            at_ms, 0, cosched_schedule_once.data::text, at_ms, 0,
            'smart', target.priority, target.pool,
            CASE WHEN target.paused THEN 'paused' ELSE 'waiting' END, 0,
            cosched_schedule_once.key, now_ms, now_ms)
    ON CONFLICT (job_id, producer_key) WHERE producer_key IS NOT NULL DO NOTHING
    RETURNING id INTO created;
    IF created IS NULL THEN
        -- A concurrent producer committed the same key first.
        SELECT id INTO created FROM triggers
        WHERE job_id = target.id AND producer_key = cosched_schedule_once.key;
        RETURN created;
    END IF;
    PERFORM pg_notify('cosched_changes', '');
    RETURN created;
END
$$"#,
    r#"CREATE FUNCTION cosched_schedule_in(job text, delay_ms bigint, data jsonb DEFAULT NULL, key text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF delay_ms IS NULL OR delay_ms < 0 THEN
        RAISE EXCEPTION 'cosched_schedule_in: delay_ms must be a number of milliseconds >= 0, not %', coalesce(delay_ms::text, 'null')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN cosched_schedule_once(job, cosched_now_ms() + delay_ms, data, key);
END
$$"#,
    r#"CREATE FUNCTION cosched_trigger_now(job text, data jsonb DEFAULT NULL, key text DEFAULT NULL)
RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT cosched_schedule_once(job, cosched_now_ms(), data, key)
$$"#,
    // As Store::job_set_paused(name, true): the job, then its waiting
    // triggers. False when it was already paused. No NOTIFY: a pause never
    // makes anything due sooner.
    r#"CREATE FUNCTION cosched_pause(job text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    now_ms bigint := cosched_now_ms();
    target bigint;
BEGIN
    UPDATE jobs SET paused = TRUE, updated_at = now_ms
    WHERE name = cosched_pause.job AND paused <> TRUE
    RETURNING id INTO target;
    IF target IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM jobs WHERE name = cosched_pause.job) THEN
            RAISE EXCEPTION 'job `%` does not exist', cosched_pause.job USING ERRCODE = 'no_data_found';
        END IF;
        RETURN FALSE;
    END IF;
    UPDATE triggers SET state = 'paused', updated_at = now_ms
    WHERE state = 'waiting' AND job_id = target;
    RETURN TRUE;
END
$$"#,
    // As Store::job_set_paused(name, false): a trigger paused on its own
    // (`triggers.paused`) stays paused. NOTIFY: fires that came due while
    // paused are due now.
    r#"CREATE FUNCTION cosched_resume(job text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    now_ms bigint := cosched_now_ms();
    target bigint;
BEGIN
    UPDATE jobs SET paused = FALSE, updated_at = now_ms
    WHERE name = cosched_resume.job AND paused <> FALSE
    RETURNING id INTO target;
    IF target IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM jobs WHERE name = cosched_resume.job) THEN
            RAISE EXCEPTION 'job `%` does not exist', cosched_resume.job USING ERRCODE = 'no_data_found';
        END IF;
        RETURN FALSE;
    END IF;
    UPDATE triggers SET state = 'waiting', updated_at = now_ms
    WHERE state = 'paused' AND paused = FALSE AND job_id = target;
    PERFORM pg_notify('cosched_changes', '');
    RETURN TRUE;
END
$$"#,
];

const DOWN_POSTGRES: &[&str] = &[
    "DROP FUNCTION cosched_resume(text)",
    "DROP FUNCTION cosched_pause(text)",
    "DROP FUNCTION cosched_trigger_now(text, jsonb, text)",
    "DROP FUNCTION cosched_schedule_in(text, bigint, jsonb, text)",
    "DROP FUNCTION cosched_schedule_once(text, bigint, jsonb, text)",
    "DROP FUNCTION cosched_now_ms()",
];

const DOWN_BOTH: &[&str] = &[
    "DROP VIEW cosched_fires",
    "DROP TABLE cosched_contract",
    "DROP INDEX triggers_producer_key",
    "ALTER TABLE triggers DROP COLUMN producer_key",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in UP_BOTH {
            db.execute_unprepared(sql).await?;
        }
        db.execute_unprepared(&format!(
            "INSERT INTO cosched_contract (version) VALUES ({CONTRACT_VERSION})"
        ))
        .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in UP_POSTGRES {
                db.execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in DOWN_POSTGRES {
                db.execute_unprepared(sql).await?;
            }
        }
        for sql in DOWN_BOTH {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
