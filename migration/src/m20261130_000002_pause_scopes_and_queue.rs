//! Pause scopes and the fire queue.
//!
//! - `triggers.paused`: a trigger paused on its own (its `state` is
//!   `paused` while either it or its job is paused).
//! - `scheduler_flags`: cluster-wide switches, such as `standby`.
//! - `fires_queued`: the index the queued-fire lease uses (retries waiting
//!   for their backoff, fires queued behind a running one).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000002_pause_scopes_and_queue"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE triggers ADD COLUMN paused BOOLEAN NOT NULL DEFAULT FALSE",
    r#"CREATE TABLE scheduler_flags (
    name        TEXT PRIMARY KEY NOT NULL CHECK (name IN ('standby')),
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
)"#,
    "CREATE INDEX fires_queued ON fires (status, due_at)",
];

const DOWN: &[&str] = &[
    "DROP INDEX fires_queued",
    "DROP TABLE scheduler_flags",
    "ALTER TABLE triggers DROP COLUMN paused",
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
