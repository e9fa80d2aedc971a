//! cosched schema migrations.
//!
//! Append-only: a migration that has shipped is never edited; a change to the
//! schema is a new file. Each migration is self-contained (it never imports
//! the `entity` crate) so that its meaning cannot drift when the entities
//! change. The DDL is written by hand, once per backend where the dialects
//! differ, so that keys, foreign keys and CHECK constraints are exactly what
//! DESIGN.md says.
//!
//! Apply them with `cosched migrate` (or `Store::migrate`); the sea-orm
//! migration CLI is left out to keep its dependency tree out of the build.

pub use sea_orm_migration::prelude::*;

mod m20261130_000001_create_tables;
mod m20261130_000002_pause_scopes_and_queue;
mod m20261201_000003_producer_contract;
mod m20261201_000004_listing_indexes;
mod m20261201_000005_fire_retention;
mod m20261201_000006_job_jitter;
mod m20261201_000007_notifications;
mod m20261201_000010_lean_fire_indexes;
mod m20261201_000011_fire_jitter;
mod m20261201_000012_lease_index;
mod m20261201_000013_triggers_fillfactor;

/// The ordered list of cosched migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_create_tables::Migration),
            Box::new(m20261130_000002_pause_scopes_and_queue::Migration),
            Box::new(m20261201_000003_producer_contract::Migration),
            Box::new(m20261201_000004_listing_indexes::Migration),
            Box::new(m20261201_000005_fire_retention::Migration),
            Box::new(m20261201_000006_job_jitter::Migration),
            Box::new(m20261201_000007_notifications::Migration),
            Box::new(m20261201_000010_lean_fire_indexes::Migration),
            Box::new(m20261201_000011_fire_jitter::Migration),
            Box::new(m20261201_000012_lease_index::Migration),
            Box::new(m20261201_000013_triggers_fillfactor::Migration),
        ]
    }
}
