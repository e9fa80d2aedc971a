//! Errors from the store.

use sea_orm::DbErr;

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
    #[error("{0}")]
    Conflict(String),
    #[error("malformed row in {table} (id {id}): {message}")]
    Malformed {
        table: &'static str,
        id: String,
        message: String,
    },
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
