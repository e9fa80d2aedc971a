//! PostgreSQL for tests: not yet available (the harness lands with the
//! PostgreSQL backend).

#![allow(dead_code)]

/// A database on the test server, dropped with the test.
pub struct PgDatabase;

/// A fresh PostgreSQL database, or None where no server can be started.
pub async fn database() -> Option<super::TestDb> {
    None
}
