//! Indexes for bounded listings.
//!
//! Fires are listed newest first by `(scheduled_at, attempt, id)`, as a
//! whole (`GET /fires`, `cosched fires`) or for one job by name (`?job=`,
//! `cosched fires --job`), one keyset page at a time. `fires_job_scheduled`
//! (by job id) serves neither, so each listing gets an index in its own
//! order: a page is then an index range scan, however long the history.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000004_listing_indexes"
    }
}

const UP: &[&str] = &[
    "CREATE INDEX fires_recent ON fires (scheduled_at, attempt, id)",
    "CREATE INDEX fires_job_recent ON fires (job_name, scheduled_at, attempt, id)",
];

const DOWN: &[&str] = &["DROP INDEX fires_job_recent", "DROP INDEX fires_recent"];

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
