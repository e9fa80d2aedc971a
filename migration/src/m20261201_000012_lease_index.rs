//! An index that hands the lease its rows in lease order.
//!
//! The lease takes due triggers by priority, highest first, on-time before
//! late, then earliest. Until now it sorted every due trigger on each pass
//! (`triggers_due` gives them by time, not by priority), and with
//! `FOR UPDATE` between the sort and the limit the sort could not stop at
//! the limit: 100,000 triggers due on one second cost about 90 ms per
//! lease, and a wave of them took time quadratic in its size.
//!
//! This partial index holds only waiting triggers, ordered by priority,
//! then next fire, then id. The lease reads it one priority at a time (see
//! `src/store/lease.rs`), each band an index range that is already in
//! order, so a lease reads about as many entries as it takes, however
//! many are due or stored. A lease or a start mark changes none of its
//! columns, and its predicate column `state` only when the trigger leaves
//! `waiting`, so those updates stay HOT.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000012_lease_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX triggers_lease ON triggers (priority, next_fire_at, id) \
                 WHERE state = 'waiting'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX triggers_lease")
            .await?;
        Ok(())
    }
}
