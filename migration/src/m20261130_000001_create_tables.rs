//! The first schema: jobs, triggers, fires, nodes and calendars.
//!
//! All instants are UTC milliseconds since the epoch (`BIGINT`). Statuses and
//! states are closed sets enforced with CHECK constraints. The index
//! `triggers_due` serves the lease query (state, pool, next_fire_at).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000001_create_tables"
    }
}

/// DDL with two placeholders that differ between backends: `{id}` (an
/// auto-incrementing 64-bit primary key) and `{bool}`.
const UP: &[&str] = &[
    r#"CREATE TABLE calendars (
    name        TEXT PRIMARY KEY NOT NULL,
    definition  TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
)"#,
    r#"CREATE TABLE jobs (
    id                  {id},
    name                TEXT NOT NULL UNIQUE,
    kind                TEXT NOT NULL,
    settings            TEXT NOT NULL DEFAULT '{}',
    data                TEXT NOT NULL DEFAULT '{}',
    pool                TEXT NOT NULL DEFAULT 'default',
    job_group           TEXT,
    overlap             TEXT NOT NULL DEFAULT 'allow' CHECK (overlap IN ('allow', 'skip', 'queue', 'replace')),
    timeout_ms          BIGINT CHECK (timeout_ms IS NULL OR timeout_ms > 0),
    priority            INTEGER NOT NULL DEFAULT 0,
    retry_max_attempts  INTEGER NOT NULL DEFAULT 1 CHECK (retry_max_attempts >= 1),
    retry_backoff_ms    BIGINT NOT NULL DEFAULT 1000 CHECK (retry_backoff_ms >= 0),
    retry_factor        DOUBLE PRECISION NOT NULL DEFAULT 2.0 CHECK (retry_factor >= 1.0),
    retry_max_backoff_ms BIGINT NOT NULL DEFAULT 3600000 CHECK (retry_max_backoff_ms >= 0),
    retry_jitter        DOUBLE PRECISION NOT NULL DEFAULT 0.1 CHECK (retry_jitter >= 0.0 AND retry_jitter <= 1.0),
    requests_recovery   {bool} NOT NULL DEFAULT FALSE,
    paused              {bool} NOT NULL DEFAULT FALSE,
    source              TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),
    config_hash         TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
)"#,
    r#"CREATE TABLE triggers (
    id                  {id},
    job_id              BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    source              TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),
    kind                TEXT NOT NULL CHECK (kind IN ('cron', 'interval', 'calendar_interval', 'daily_time_interval', 'once')),
    cron_expr           TEXT,
    cron_dialect        TEXT NOT NULL DEFAULT 'quartz' CHECK (cron_dialect IN ('quartz', 'unix')),
    timezone            TEXT NOT NULL DEFAULT 'UTC',
    dst_gap             TEXT CHECK (dst_gap IS NULL OR dst_gap IN ('run_at_transition', 'shift_forward', 'skip')),
    dst_fold            TEXT CHECK (dst_fold IS NULL OR dst_fold IN ('earlier', 'later', 'both')),
    interval_ms         BIGINT CHECK (interval_ms IS NULL OR interval_ms > 0),
    interval_unit       TEXT CHECK (interval_unit IS NULL OR interval_unit IN ('second', 'minute', 'hour', 'day', 'week', 'month', 'year')),
    interval_every      INTEGER CHECK (interval_every IS NULL OR interval_every > 0),
    daily_start         TEXT,
    daily_end           TEXT,
    days_of_week        TEXT,
    preserve_hour_of_day {bool} NOT NULL DEFAULT FALSE,
    skip_day_if_hour_missing {bool} NOT NULL DEFAULT FALSE,
    start_at            BIGINT NOT NULL,
    end_at              BIGINT,
    repeat_count        BIGINT CHECK (repeat_count IS NULL OR repeat_count >= 0),
    calendars           TEXT,
    data                TEXT,
    next_fire_at        BIGINT,
    previous_fire_at    BIGINT,
    times_fired         BIGINT NOT NULL DEFAULT 0,
    misfire_policy      TEXT NOT NULL DEFAULT 'smart' CHECK (misfire_policy IN ('smart', 'ignore', 'fire_once_now', 'do_nothing', 'fire_now',
                            'reschedule_now_with_existing_count', 'reschedule_now_with_remaining_count',
                            'reschedule_next_with_remaining_count', 'reschedule_next_with_existing_count', 'catch_up')),
    misfire_catch_up    INTEGER CHECK (misfire_catch_up IS NULL OR misfire_catch_up > 0),
    misfire_threshold_ms BIGINT CHECK (misfire_threshold_ms IS NULL OR misfire_threshold_ms >= 0),
    priority            INTEGER NOT NULL DEFAULT 0,
    pool                TEXT NOT NULL DEFAULT 'default',
    state               TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'paused', 'complete', 'error')),
    error               TEXT,
    lease_owner         TEXT,
    lease_until         BIGINT,
    fence               BIGINT NOT NULL DEFAULT 0,
    config_hash         TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CHECK (kind <> 'cron' OR cron_expr IS NOT NULL),
    CHECK (kind <> 'interval' OR interval_ms IS NOT NULL),
    CHECK (kind NOT IN ('calendar_interval', 'daily_time_interval') OR (interval_unit IS NOT NULL AND interval_every IS NOT NULL))
)"#,
    "CREATE INDEX triggers_due ON triggers (state, pool, next_fire_at)",
    "CREATE INDEX triggers_job ON triggers (job_id)",
    r#"CREATE TABLE nodes (
    id                  TEXT PRIMARY KEY NOT NULL,
    host                TEXT NOT NULL,
    pid                 BIGINT NOT NULL,
    version             TEXT NOT NULL,
    pools               TEXT NOT NULL,
    started_at          BIGINT NOT NULL,
    last_checkin_at     BIGINT NOT NULL,
    checkin_interval_ms BIGINT NOT NULL CHECK (checkin_interval_ms > 0),
    clock_offset_ms     BIGINT NOT NULL DEFAULT 0,
    state               TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'dead', 'stopped')),
    declared_dead_by    TEXT,
    declared_dead_at    BIGINT
)"#,
    r#"CREATE TABLE fires (
    id              {id},
    trigger_id      BIGINT REFERENCES triggers (id) ON DELETE SET NULL,
    job_id          BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    job_name        TEXT NOT NULL,
    scheduled_at    BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    node_id         TEXT,
    attempt         INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    fence           BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'skipped', 'abandoned', 'cancelled')),
    recovery        {bool} NOT NULL DEFAULT FALSE,
    reason          TEXT,
    error           TEXT,
    output          TEXT,
    data            TEXT,
    UNIQUE (trigger_id, scheduled_at, attempt)
)"#,
    "CREATE INDEX fires_job_scheduled ON fires (job_id, scheduled_at)",
    "CREATE INDEX fires_status_node ON fires (status, node_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE fires",
    "DROP TABLE nodes",
    "DROP TABLE triggers",
    "DROP TABLE jobs",
    "DROP TABLE calendars",
];

fn render(sql: &str, backend: DbBackend) -> String {
    let (id, boolean) = match backend {
        DbBackend::Postgres => (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "BOOLEAN",
        ),
        // SQLite: INTEGER PRIMARY KEY is the 64-bit rowid; AUTOINCREMENT never
        // reuses an id, so a fire id stays a unique idempotency key.
        _ => ("INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL", "BOOLEAN"),
    };
    sql.replace("{id}", id).replace("{bool}", boolean)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        for sql in UP {
            db.execute_unprepared(&render(sql, backend)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in DOWN {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
