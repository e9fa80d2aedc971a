//! Room for HOT lease updates on `triggers` (PostgreSQL).
//!
//! A lease changes no indexed column (owner, expiry, fence), so its update
//! is HOT, adding no index entries, when the new row version fits on the
//! same page. The fill factor of 80 set by `m20261201_000010` leaves room
//! for a fifth of a page's rows, but a lease takes a batch: every row of
//! a page of due triggers is updated by the same statement, and most of
//! them went to other pages, with a new entry in each of the table's
//! indexes. Measured on a burst of 20,000 one-offs: 5.8 WAL records per
//! leased row. At 50 every row of a page has room for one new version,
//! so the lease is HOT (2.5 WAL records a row), and the burst needed about
//! a sixth less database CPU per fire (166 to 138 µs, medians of 3).
//! `triggers` holds one row per trigger, not history, so the extra space
//! is small. It applies to pages written from now on; `VACUUM FULL
//! triggers` applies it to the table at once.
//!
//! `fires` keeps 85: the same change there made no measurable difference
//! and would double the space of the history.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000013_triggers_fillfactor"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE triggers SET (fillfactor = 50)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE triggers SET (fillfactor = 80)")
                .await?;
        }
        Ok(())
    }
}
