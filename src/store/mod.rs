//! The only door to SQL.
//!
//! [`Store`] owns the connection pool and every statement cosched runs, on
//! SQLite and PostgreSQL alike: sea-orm entities for plain reads and
//! inserts, hand-written SQL for the few statements that must be exact
//! (the lease, the fenced fire record, the start mark, the fenced
//! completion). Every instant is a bound parameter (UTC milliseconds from
//! the caller's [`Clock`](crate::clock::Clock)), never the database's
//! `now()`.
//!
//! Every method takes and returns [`crate::model`] types; rows never leave
//! this module. [`codec`] is the one place rows are decoded, strictly: a
//! row that does not decode is logged, counted ([`Store::malformed_rows`])
//! and put aside, as its documentation lists per table.
//!
//! There is one implementation, since sea-orm serves both backends; the
//! conformance suite in `tests/it/store.rs` runs it on both.

mod backfill;
pub mod bench;
mod calendar_reschedule;
mod calendars;
mod codec;
mod connect;
mod dashboard;
mod error;
mod file_identity;
mod fires;
mod health;
mod jitter_column;
mod jobs;
mod lease;
mod lease_plan;
mod nodes;
mod notification_events;
mod notifications;
mod notify;
mod pages;
mod positional;
mod producer_key;
mod queue;
mod reconcile;
mod record;
mod retention;
mod start_mark;
mod storable;
mod triggers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};
use tokio::sync::Notify;

pub use backfill::{BackfillFires, BackfillOutcome};
pub use calendars::LoadedCalendars;
pub use connect::{Create, DEFAULT_CONNECT_TIMEOUT, redact};
pub use dashboard::{
    FireCursor, FireMark, FirePage, FirePageQuery, FireWindowQuery, JobPage, JobPageQuery,
    MAX_PAGE, ProblemGroup,
};
pub use error::{MalformedRow, StoreError};
pub use fires::{FireCompletion, FireFilter};
pub use jobs::JobsById;
pub use lease::{LeaseParams, LeasedFires, LeasedTriggers, MAX_BANDS, ON_TIME_WINDOW_MS};
pub use lease_plan::LeasePlan;
pub use nodes::{NodeCheckin, Recovery};
pub use notifications::NotificationFailure;
pub use pages::{FireKey, Page};
pub use reconcile::ReconcileReport;
pub use record::{RecordFire, RecordOutcome};
pub use retention::{PruneLease, PruneScope, PruneStep};
pub use storable::{refuse_nul, storable_text};

/// How long a PostgreSQL session may sit idle inside a transaction, unless
/// the node says otherwise ([`Store::connect_node`]): half the default
/// dead-node threshold (4 check-ins of 5 s).
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest any background loop (scheduler passes, check-ins, outcome
/// and start-mark writers, the change listener) waits between attempts
/// while the database does not answer: short, so that the node resumes
/// within a fraction of a second of the database coming back (a failed
/// attempt costs one refused connection). Each loop logs the outage once.
pub const MAX_RETRY_WAIT: Duration = Duration::from_millis(250);

/// How long a PostgreSQL statement waits for a pool connection (opening
/// one included) unless the URL names a `connect_timeout`. Short on
/// purpose: while the server is away, the pool retries refused connections
/// with a backoff capped at a fifth of this, so the node sees the server
/// back within a quarter of a second, and a pass that cannot get a
/// connection fails soon and is retried by its loop. A server that takes
/// longer to connect to (a slow TLS handshake far away) needs
/// `connect_timeout` in the URL, which then bounds the wait instead.
/// (SQLite keeps a long wait: its one connection is shared by every task
/// of the process.)
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1250);
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Test only: milliseconds a node pauses inside each record transaction
/// (before its commit), so that a test can freeze it there (SIGSTOP). Read
/// once, when the store connects; never set it in production.
pub const TEST_PAUSE_IN_RECORD_ENV: &str = "COSCHED_TEST_PAUSE_IN_RECORD_MS";

fn record_pause_from_env() -> Option<Duration> {
    let ms: u64 = std::env::var(TEST_PAUSE_IN_RECORD_ENV).ok()?.parse().ok()?;
    Some(Duration::from_millis(ms))
}

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
    /// Rows put aside because they did not decode, since connecting.
    malformed: Arc<AtomicU64>,
    /// The SQLite file opened (None on PostgreSQL and `:memory:`).
    file: Option<Arc<file_identity::FileIdentity>>,
    /// PostgreSQL's `idle_in_transaction_session_timeout` on every session,
    /// and the `lock_timeout` of a recovery.
    idle_in_transaction: Duration,
    /// Test only: a pause inside every record transaction, read once from
    /// [`TEST_PAUSE_IN_RECORD_ENV`] when the store connects.
    record_pause: Option<Duration>,
    /// Why the database can no longer record (sticky: once the file is
    /// gone, a new file at its path is not the database the node ran on).
    fault: Arc<std::sync::Mutex<Option<String>>>,
    /// The `[[notify]]` rules events are recorded for.
    notify_rules: notification_events::Rules,
}

impl Store {
    /// Connects to `url` (`sqlite://path`, created if missing, or
    /// `postgres://…`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::open(url, Create::IfMissing, |_| {}).await
    }

    /// Connects as a node does: like [`Store::connect`], with PostgreSQL
    /// sessions that the server ends when they sit idle inside a
    /// transaction longer than `idle_in_transaction` (a node frozen
    /// mid-transaction then releases its row locks before its peers
    /// declare it dead; see `[scheduler] idle_in_transaction_timeout`).
    pub async fn connect_node(
        url: &str,
        idle_in_transaction: Duration,
    ) -> Result<Store, StoreError> {
        Self::open_with(url, Create::IfMissing, idle_in_transaction, |_| {}).await
    }

    /// Connects to an existing database: a SQLite file that does not exist
    /// is an error, never created. For producers and read-only commands.
    pub async fn connect_existing(url: &str) -> Result<Store, StoreError> {
        Self::open(url, Create::Never, |_| {}).await
    }

    /// Like [`Store::connect`], with the last word on the pool options.
    /// The conformance suite uses it to run every PostgreSQL session in a
    /// non-UTC time zone: sqlx always asks for `TimeZone=UTC` when it
    /// connects, which overrides a database's or role's own setting.
    pub async fn connect_with(
        url: &str,
        adjust: impl FnOnce(&mut ConnectOptions),
    ) -> Result<Store, StoreError> {
        Self::open(url, Create::IfMissing, adjust).await
    }

    /// Connects to `url`, creating a missing SQLite file only when `create`
    /// says so (see [`connect`](self::connect) for what a URL may name).
    pub async fn open(
        url: &str,
        create: Create,
        adjust: impl FnOnce(&mut ConnectOptions),
    ) -> Result<Store, StoreError> {
        Self::open_with(url, create, DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT, adjust).await
    }

    async fn open_with(
        url: &str,
        create: Create,
        idle_in_transaction: Duration,
        adjust: impl FnOnce(&mut ConnectOptions),
    ) -> Result<Store, StoreError> {
        let mut target = connect::target(url, create)?;
        // A SQLite file is created once, by a connection of its own; the
        // pool itself never creates one (`mode=rw`). Its connection may be
        // reopened at any time (after an error, or by the pool's own
        // lifetime rules), and a file deleted under a running node must
        // stay deleted so the node notices the loss (`file_identity`)
        // rather than carry on in a new, empty file.
        let set_wal = target.is_sqlite && create == Create::IfMissing;
        if set_wal
            && let Some(file) = target.sqlite_file.as_deref()
            && !file.exists()
        {
            create_sqlite_file(&target.url, file).await?;
            target = connect::target(url, Create::Never)?;
        } else if set_wal {
            target = connect::target(url, Create::Never)?;
        }
        let url = target.url.clone();
        let mut options = ConnectOptions::new(url.clone());
        options
            .sqlx_logging(false)
            .connect_timeout(target.connect_timeout)
            .acquire_timeout(if target.is_sqlite {
                SQLITE_ACQUIRE_TIMEOUT
            } else if target.connect_timeout_given {
                target.connect_timeout
            } else {
                PG_ACQUIRE_TIMEOUT
            });
        if target.is_sqlite {
            // One connection: SQLite has one writer at a time anyway, and a
            // single connection makes every transaction in this process
            // serial, so none can fail on a stale read snapshot.
            options.max_connections(1).min_connections(1);
            options.map_sqlx_sqlite_opts(move |o| {
                let o = o
                    .create_if_missing(false)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                // WAL is a property of the file, set once by whoever
                // creates or migrates it; a producer opening an existing
                // file writes nothing to it just by connecting.
                if set_wal {
                    o.journal_mode(SqliteJournalMode::Wal)
                } else {
                    o
                }
            });
        } else {
            connect::probe_postgres(&url, target.connect_timeout).await?;
            options.max_connections(10).min_connections(1);
            // A node frozen inside a transaction (a long pause, SIGSTOP)
            // must not hold its row locks past the dead-node threshold:
            // the server ends such a session, rolling the transaction back,
            // so peers can recover the node's work. cosched's transactions
            // last milliseconds.
            let idle = format!("{}ms", idle_in_transaction.as_millis().max(1));
            options.map_sqlx_postgres_opts(move |o| {
                o.options([("idle_in_transaction_session_timeout", idle.as_str())])
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
        // After connecting: the file exists now, created or not.
        let file = target
            .sqlite_file
            .as_deref()
            .and_then(file_identity::FileIdentity::of)
            .map(Arc::new);
        Ok(Store {
            db,
            backend,
            url,
            changes: Arc::new(Notify::new()),
            malformed: Arc::new(AtomicU64::new(0)),
            file,
            idle_in_transaction,
            record_pause: record_pause_from_env(),
            fault: Arc::new(std::sync::Mutex::new(None)),
            notify_rules: Default::default(),
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

    /// Fails unless the schema is the one this binary was built for, or a
    /// newer one (a later migration keeps the tables this binary uses):
    /// a producer connects without migrating, and says what to run when
    /// the database is empty or behind.
    pub async fn require_schema(&self) -> Result<(), StoreError> {
        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        let applied: Vec<String> = match self
            .db
            .query_all_raw(self.stmt("SELECT version FROM seaql_migrations", []))
            .await
        {
            Ok(rows) => rows
                .iter()
                .map(|r| r.try_get::<String>("", "version"))
                .collect::<Result<_, _>>()?,
            Err(e) if is_missing_table(&e) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let state = if applied.is_empty() {
            "has no cosched tables".to_string()
        } else {
            let pending: Vec<&str> = known
                .iter()
                .filter(|k| !applied.contains(k))
                .map(String::as_str)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            format!(
                "has an older schema than this cosched (missing migrations: {})",
                pending.join(", ")
            )
        };
        Err(StoreError::Schema {
            url: self.display_url(),
            state,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    /// The URL with any password removed, for logs.
    pub fn display_url(&self) -> String {
        redact(&self.url)
    }

    /// The value of a PostgreSQL session setting (`TimeZone`,
    /// `idle_in_transaction_session_timeout`, …) as this store's sessions
    /// see it; None on SQLite. For diagnostics and tests.
    pub async fn session_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        if self.backend != DbBackend::Postgres {
            return Ok(None);
        }
        let row = self
            .db
            .query_one_raw(self.stmt("SELECT current_setting($1) AS value", [name.into()]))
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<String>("", "value")?),
            None => None,
        })
    }

    /// Checks that the SQLite file opened is still the one at its path and
    /// writable; returns why not (logged once, and kept: see
    /// [`Store::database_fault`]). Always None on PostgreSQL.
    pub fn check_database_file(&self) -> Option<String> {
        if let Some(fault) = self.database_fault() {
            return Some(fault);
        }
        let fault = self.file.as_ref()?.fault()?;
        tracing::error!(database = %self.display_url(), reason = %fault,
            "the database is lost: this node stops leasing");
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault.clone());
        Some(fault)
    }

    /// Why this store can no longer record, once a check found out.
    pub fn database_fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many rows were put aside since this store connected (by any
    /// of its clones) because they did not decode.
    pub fn malformed_rows(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// Logs and counts a row that does not decode; the caller puts it
    /// aside as the codec's documentation says.
    fn put_aside(&self, row: &MalformedRow) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
        tracing::error!(table = row.table, id = %row.id, reason = %row.reason(),
            "malformed row put aside");
    }

    /// The rows that decode; the others are logged, counted and left out.
    fn decode_all<R, T>(
        &self,
        rows: &[R],
        decode: impl Fn(&R) -> Result<T, MalformedRow>,
    ) -> Vec<T> {
        rows.iter()
            .filter_map(|row| match decode(row) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.put_aside(&e);
                    None
                }
            })
            .collect()
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

    /// A statement of the store's SQL, written with `$N` parameters; on
    /// SQLite they go positional (see [`positional::positional`]).
    fn stmt<I: IntoIterator<Item = Value>>(&self, sql: &str, values: I) -> Statement {
        if self.backend != DbBackend::Sqlite {
            return Statement::from_sql_and_values(self.backend, sql, values);
        }
        let values: Vec<Value> = values.into_iter().collect();
        match positional::positional(sql, &values) {
            Some((sql, values)) => Statement::from_sql_and_values(self.backend, sql, values),
            None => Statement::from_sql_and_values(self.backend, sql, values),
        }
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

/// Whether a query failed because its table does not exist (SQLite: "no
/// such table"; PostgreSQL: SQLSTATE 42P01, "relation … does not exist").
fn is_missing_table(e: &sea_orm::DbErr) -> bool {
    let text = e.to_string();
    text.contains("no such table") || text.contains("does not exist") || text.contains("42P01")
}

/// `$1, $2, …` placeholders starting at `first`, for `IN (…)` lists.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates the SQLite file `url` names (`mode=rwc`, at `file`) in WAL
/// mode, with a connection of its own that is closed at once.
///
/// Two nodes starting on a new file race here: both saw no file, both
/// open it, and switching the journal mode needs the file to itself, so
/// one of them can be refused with "database is locked" (SQLite does not
/// always wait out that lock, busy timeout or not). The file then exists,
/// created by the other, and the pool's own connection sets WAL under its
/// busy timeout; only a failure that leaves no file is an error.
async fn create_sqlite_file(url: &str, file: &std::path::Path) -> Result<(), StoreError> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .max_connections(1)
        .min_connections(1);
    options.map_sqlx_sqlite_opts(|o| {
        o.create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .journal_mode(SqliteJournalMode::Wal)
    });
    let connect_error = |source| StoreError::Connect {
        url: redact(url),
        source,
    };
    match Database::connect(options).await {
        Ok(db) => db.close().await.map_err(connect_error),
        Err(source) if file.exists() => {
            tracing::debug!(error = %source, "another connection created the SQLite file first");
            Ok(())
        }
        Err(source) => Err(connect_error(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_count_from_the_first() {
        assert_eq!(placeholders(3, 2), "$3, $4");
    }
}
