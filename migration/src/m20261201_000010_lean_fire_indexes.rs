//! Leaner writes per fire.
//!
//! Every fire row is written twice (recorded `running`, then completed),
//! and each write inserts an entry into every index of `fires` whose key
//! or predicate it touches. Two indexes led by `status` held every row,
//! although their readers only ever look for one status: the queue
//! (`status = 'queued'`, by `due_at`) and recovery and the running counts
//! (`status = 'running'`, by `node_id`). As partial indexes they hold only
//! the rows in that status: a completed fire (nearly all of history) is in
//! neither, so a completion and a long history cost them nothing.
//!
//! On PostgreSQL `triggers` gets a fill factor of 80 and `fires` one of
//! 85: a lease changes only columns no index covers (owner, expiry,
//! fence), and so does a fire's start mark (`started_at`), so with room
//! left on the page the update is HOT and adds no index entries (it used
//! to add one to every index of the table, four for a trigger and seven
//! for a fire).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000010_lean_fire_indexes"
    }
}

const UP: &[&str] = &[
    "CREATE INDEX fires_queued_due ON fires (due_at) WHERE status = 'queued'",
    "CREATE INDEX fires_running_node ON fires (node_id) WHERE status = 'running'",
    "DROP INDEX fires_queued",
    "DROP INDEX fires_status_node",
];

const DOWN: &[&str] = &[
    "CREATE INDEX fires_status_node ON fires (status, node_id)",
    "CREATE INDEX fires_queued ON fires (status, due_at)",
    "DROP INDEX fires_running_node",
    "DROP INDEX fires_queued_due",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in UP {
            db.execute_unprepared(sql).await?;
        }
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE triggers SET (fillfactor = 80)")
                .await?;
            db.execute_unprepared("ALTER TABLE fires SET (fillfactor = 85)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE triggers RESET (fillfactor)")
                .await?;
            db.execute_unprepared("ALTER TABLE fires RESET (fillfactor)")
                .await?;
        }
        for sql in DOWN {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
