//! A fire's jitter offset (`fires.jitter_ms`, ms after `scheduled_at`): a
//! jittered fire keeps its nominal instant in `scheduled_at`, and its
//! lateness counts from the instant it was due, `scheduled_at +
//! jitter_ms`. NULL for a fire without jitter.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000011_fire_jitter"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE fires ADD COLUMN jitter_ms BIGINT CHECK (jitter_ms IS NULL OR jitter_ms > 0)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE fires DROP COLUMN jitter_ms")
            .await?;
        Ok(())
    }
}
