//! The sea-orm migration CLI for cosched (`cargo run -p migration -- up`).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
