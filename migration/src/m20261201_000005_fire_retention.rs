//! Fire-history retention and per-job health.
//!
//! - `jobs.expect_success_within_ms`: a job is unhealthy when its last
//!   success is older than this (NULL: no expectation).
//! - `jobs.keep_fires`: a job's own retention (JSON, NULL: the
//!   `[scheduler]` defaults).
//! - `fires_job_status_scheduled`: the index the prune statements walk
//!   (a job's fires of one status, oldest first) and that finds the
//!   newest fire of each status of a job, which pruning always keeps.
//! - `maintenance_leases`: one row per cluster-wide chore (`prune`), held
//!   by one node until `lease_until`, so that two nodes never prune at
//!   the same time.
//!
//! The producer contract does not change: no contract statement or view
//! names these.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000005_fire_retention"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE jobs ADD COLUMN keep_fires TEXT",
    "ALTER TABLE jobs ADD COLUMN expect_success_within_ms BIGINT CHECK (expect_success_within_ms > 0)",
    "CREATE INDEX fires_job_status_scheduled ON fires (job_id, status, scheduled_at)",
    r#"CREATE TABLE maintenance_leases (
    name        TEXT PRIMARY KEY NOT NULL CHECK (name IN ('prune')),
    owner       TEXT NOT NULL,
    lease_until BIGINT NOT NULL
)"#,
];

const DOWN: &[&str] = &[
    "DROP TABLE maintenance_leases",
    "DROP INDEX fires_job_status_scheduled",
    "ALTER TABLE jobs DROP COLUMN expect_success_within_ms",
    "ALTER TABLE jobs DROP COLUMN keep_fires",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in UP {
            db.execute_unprepared(sql).await?;
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
