//! `fires_scheduled`: fires by scheduled instant, for the dashboard's
//! windows ("the last hour", "the last 24 hours") and its history pages
//! that list every job's fires newest first. Without it those queries scan
//! the whole history, which grows without bound.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000004_fires_by_schedule"
    }
}

const UP: &[&str] = &["CREATE INDEX fires_scheduled ON fires (scheduled_at, id)"];

const DOWN: &[&str] = &["DROP INDEX fires_scheduled"];

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
