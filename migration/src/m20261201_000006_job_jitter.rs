//! Jitter on a job.
//!
//! - `jobs.jitter`: JSON `{"kind": "uniform" | "hash", "window_ms": N}`
//!   (NULL: fires are due on their instant). A fire keeps its nominal
//!   instant in `scheduled_at` and is due at `scheduled_at` plus the
//!   job's offset (`fires.due_at`, which exists already).
//!
//! The producer contract does not change: a job inserted without the
//! column has no jitter.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000006_job_jitter"
    }
}

const UP: &[&str] = &["ALTER TABLE jobs ADD COLUMN jitter TEXT"];

const DOWN: &[&str] = &["ALTER TABLE jobs DROP COLUMN jitter"];

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
