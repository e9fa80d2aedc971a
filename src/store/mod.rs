//! The only door to SQL.
//!
//! [`Store`] owns the connection pool and every statement cosched runs, on
//! SQLite and PostgreSQL alike: sea-orm entities for plain reads and
//! inserts, hand-written SQL for the few statements that must be exact
//! (the lease, the fenced fire record, the fenced completion). Every
//! instant is a bound parameter (UTC milliseconds from the caller's
//! [`Clock`](crate::clock::Clock)), never the database's `now()`.
//!
//! There is one implementation, since sea-orm serves both backends; the
//! conformance suite in `tests/it/store.rs` runs it on both.

pub mod bench;
mod error;
mod fires;
mod jobs;
mod nodes;
mod notify;
mod producer_key;
mod queue;
mod reconcile;
mod triggers;

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};
use tokio::sync::Notify;

pub use error::StoreError;
pub use fires::{FireCompletion, FireFilter, FireStatus};
pub use jobs::JobRow;
pub use nodes::{NodeCheckin, NodeRow, Recovery};
pub use reconcile::{ConfigJob, ReconcileReport};
pub use triggers::{
    LeaseParams, LoadedCalendars, RecordFire, RecordOutcome, TriggerState, trigger_calendar_names,
    trigger_policy, trigger_spec,
};

/// How long a PostgreSQL session may sit idle inside a transaction.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5s";

/// The database a node uses when none is named.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://cosched.db";

/// A connection pool to the cosched database, and the statements on it.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    backend: DbBackend,
    url: String,
    /// Notified after a local write that may make a trigger due sooner, so
    /// that a sleeping scheduler in this process wakes at once.
    changes: Arc<Notify>,
}

impl Store {
    /// Connects to `url` (`sqlite://path`, created if missing, or
    /// `postgres://…`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, |_| {}).await
    }

    /// Like [`Store::connect`], with the last word on the pool options.
    /// The conformance suite uses it to run every PostgreSQL session in a
    /// non-UTC time zone: sqlx always asks for `TimeZone=UTC` when it
    /// connects, which overrides a database's or role's own setting.
    pub async fn connect_with(
        url: &str,
        adjust: impl FnOnce(&mut ConnectOptions),
    ) -> Result<Store, StoreError> {
        let url = normalize_url(url);
        let mut options = ConnectOptions::new(url.clone());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30));
        if url.starts_with("sqlite:") {
            // One connection: SQLite has one writer at a time anyway, and a
            // single connection makes every transaction in this process
            // serial, so none can fail on a stale read snapshot.
            options.max_connections(1).min_connections(1);
            options.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        } else {
            options.max_connections(10).min_connections(1);
            // A node frozen inside a transaction (a long pause, SIGSTOP)
            // must not hold its row locks past the dead-node threshold:
            // the server ends such a session, rolling the transaction back,
            // so peers can recover the node's work. cosched's transactions
            // last milliseconds.
            options.map_sqlx_postgres_opts(|o| {
                o.options([(
                    "idle_in_transaction_session_timeout",
                    IDLE_IN_TRANSACTION_TIMEOUT,
                )])
            });
        }
        adjust(&mut options);
        let db = Database::connect(options)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(&url),
                source,
            })?;
        let backend = db.get_database_backend();
        Ok(Store {
            db,
            backend,
            url,
            changes: Arc::new(Notify::new()),
        })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // Nodes starting together would race to create the same tables.
        // The migration runs in one transaction holding a lock (PostgreSQL:
        // an advisory lock; SQLite: the write lock of an IMMEDIATE
        // transaction), so the second node waits, then finds nothing to do.
        let txn = self.begin_write().await?;
        if self.backend == DbBackend::Postgres {
            txn.execute_raw(self.stmt("SELECT pg_advisory_xact_lock(7362957301)", []))
                .await?;
        }
        Migrator::up(&txn, None).await?;
        txn.commit().await?;
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// The URL with any password removed, for logs.
    pub fn display_url(&self) -> String {
        redact(&self.url)
    }

    /// The sea-orm connection, for tests and tools that inspect tables.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Woken after local writes that may make a trigger due sooner.
    pub fn changes(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// Wakes a scheduler sleeping in this process.
    pub fn notify_change(&self) {
        // notify_one stores a permit when nobody waits yet, so a change
        // made just before the scheduler sleeps still wakes it.
        self.changes.notify_one();
    }

    fn stmt<I: IntoIterator<Item = Value>>(&self, sql: &str, values: I) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, values)
    }

    /// A write transaction. On SQLite it starts IMMEDIATE (taking the write
    /// lock first), so a concurrent writer makes it wait, never fail.
    async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == DbBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }
}

fn normalize_url(url: &str) -> String {
    if let Some(path) = url.strip_prefix("sqlite:") {
        if path.contains('?') || path.contains(":memory:") {
            return url.to_string();
        }
        return format!("sqlite:{path}?mode=rwc");
    }
    url.to_string()
}

/// Removes the password from a URL.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

/// `$1, $2, …` placeholders starting at `first`, for `IN (…)` lists.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_and_redacted() {
        assert_eq!(
            normalize_url("sqlite://cosched.db"),
            "sqlite://cosched.db?mode=rwc"
        );
        assert_eq!(normalize_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(placeholders(3, 2), "$3, $4");
    }
}
