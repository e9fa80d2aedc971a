//! Errors from the store: typed by what the caller should do about them
//! (retry, fix the input, read the state again), so the HTTP API and the
//! CLI can answer each with its own status and exit code.

use sea_orm::{DbErr, SqlErr};

pub use super::codec::MalformedRow;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: DbErr,
    },
    /// A URL that names no usable database (checked before connecting).
    #[error("{0}")]
    InvalidUrl(String),
    /// A SQLite file that does not exist, opened by a command that must not
    /// create it.
    #[error(
        "the database file {path} does not exist: create it with `cosched migrate --database \
         sqlite://{path}` (or start `cosched serve`, which creates and migrates it), or check \
         the path"
    )]
    MissingDatabase { path: String },
    /// Nothing answered at the server's address.
    #[error("cannot connect to the database at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The database has no cosched tables, or an older schema than this
    /// binary's: a producer does not migrate.
    #[error(
        "the database {url} {state}: run `cosched migrate --database URL` (or start \
         `cosched serve`, which migrates) before using it"
    )]
    Schema { url: String, state: String },
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("{what} `{name}` does not exist")]
    NotFound { what: &'static str, name: String },
    /// The request conflicts with what is stored (a name taken, …).
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid whatever is stored: `field` names the part
    /// of it at fault.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A job or calendar declared in the configuration file, which no
    /// other door may change or delete; the message says what to do.
    #[error("{what} `{name}` is declared in the configuration file: {remedy}")]
    DeclaredInFile {
        what: &'static str,
        name: String,
        remedy: &'static str,
    },
    /// A stored row that does not decode (see the store's codec).
    #[error(transparent)]
    Malformed(#[from] MalformedRow),
}

impl StoreError {
    /// True when the database could not be reached (a restart, a network
    /// fault): the caller should back off and retry, not give up.
    pub fn is_connection(&self) -> bool {
        match self {
            StoreError::Connect { .. } | StoreError::Unreachable { .. } => true,
            StoreError::Db(e) => {
                matches!(e, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) || {
                    let text = e.to_string().to_lowercase();
                    text.contains("connection")
                        || text.contains("broken pipe")
                        || text.contains("io error")
                }
            }
            _ => false,
        }
    }
}

/// `Conflict(message)` when `e` is a unique violation (the row exists),
/// else the database error itself.
pub(super) fn unique_violation_as(e: DbErr, message: impl FnOnce() -> String) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(message()),
        _ => StoreError::Db(e),
    }
}

impl<E: std::error::Error> From<sea_orm::TransactionError<E>> for StoreError
where
    StoreError: From<E>,
{
    fn from(e: sea_orm::TransactionError<E>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => StoreError::Db(db),
            sea_orm::TransactionError::Transaction(e) => e.into(),
        }
    }
}
