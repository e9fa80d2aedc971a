//! Opening the database: what a URL may name, clear errors for the first
//! connection, and passwords kept out of every message.
//!
//! - `sqlite://PATH` (or `sqlite:PATH`) names one file. An empty path (which
//!   SQLite would take as a private temporary database) and anything that is
//!   not a regular file (`/dev/null`, a directory) are refused. Only
//!   [`Create::IfMissing`] (`serve`, `migrate`) creates a missing file;
//!   producers and read-only commands refuse to, so a typo in a path never
//!   leaves an empty database behind. `sqlite::memory:` is allowed when
//!   asked for by name.
//! - `postgres://…`: before the pool is built, one TCP connection to the
//!   server's host and port is tried within the connect timeout (default
//!   5 s, `connect_timeout=SECONDS` in the URL as libpq spells it), so that
//!   nothing listening reads "connection refused to HOST:PORT" at once
//!   instead of a pool timeout half a minute later.
//! - [`redact`] removes the password from a URL, whether it stands in the
//!   user info (even one holding `@` or `:`) or in a `password=` parameter.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgConnectOptions;

use super::StoreError;

/// The connect timeout when the URL names none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `connect_timeout` a URL may ask for.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether opening a SQLite database may create its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// `serve` and `migrate`: a missing file is created.
    IfMissing,
    /// Producers and read-only commands: a missing file is an error.
    Never,
}

/// A URL checked and made ready for the driver, with what the first
/// connection needs to know.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The URL handed to the driver (our own parameters removed).
    pub url: String,
    pub connect_timeout: Duration,
    /// The URL named `connect_timeout` itself.
    pub connect_timeout_given: bool,
    pub is_sqlite: bool,
    /// The SQLite file the URL names (none for `:memory:` and PostgreSQL).
    pub sqlite_file: Option<PathBuf>,
}

/// Checks `url` and prepares it for the driver.
pub(super) fn target(url: &str, create: Create) -> Result<Target, StoreError> {
    let (base, params) = split_query(url);
    let mut connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    let mut connect_timeout_given = false;
    let mut kept = Vec::new();
    for (key, value) in &params {
        if *key == "connect_timeout" {
            connect_timeout = parse_timeout(value, url)?;
            connect_timeout_given = true;
        } else {
            kept.push(format!("{key}={value}"));
        }
    }
    if let Some(rest) = base.strip_prefix("sqlite:") {
        let url = sqlite_url(rest, &kept, create, url)?;
        let path = rest.strip_prefix("//").unwrap_or(rest);
        return Ok(Target {
            url,
            connect_timeout,
            connect_timeout_given,
            is_sqlite: true,
            sqlite_file: (path != ":memory:").then(|| PathBuf::from(path)),
        });
    }
    if !(base.starts_with("postgres://") || base.starts_with("postgresql://")) {
        return Err(StoreError::InvalidUrl(format!(
            "`{}` is not a database URL cosched knows: expected sqlite://FILE or \
             postgres://USER@HOST/DB",
            redact(url)
        )));
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(Target {
        url,
        connect_timeout,
        connect_timeout_given,
        is_sqlite: false,
        sqlite_file: None,
    })
}

fn parse_timeout(value: &str, url: &str) -> Result<Duration, StoreError> {
    let secs: u64 = value.parse().map_err(|_| {
        StoreError::InvalidUrl(format!(
            "`connect_timeout={value}` in {} is not a whole number of seconds",
            redact(url)
        ))
    })?;
    let timeout = Duration::from_secs(secs);
    if timeout.is_zero() || timeout > MAX_CONNECT_TIMEOUT {
        return Err(StoreError::InvalidUrl(format!(
            "`connect_timeout={value}` in {}: expected 1 to {} seconds",
            redact(url),
            MAX_CONNECT_TIMEOUT.as_secs()
        )));
    }
    Ok(timeout)
}

/// `sqlite:` + `rest`: the path checked, the mode set (`rwc` creates, `rw`
/// does not), other parameters kept.
fn sqlite_url(
    rest: &str,
    params: &[String],
    create: Create,
    url: &str,
) -> Result<String, StoreError> {
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path == ":memory:" {
        return Ok(url.to_string());
    }
    if path.is_empty() {
        return Err(StoreError::InvalidUrl(format!(
            "`{url}` names no file (SQLite would use a temporary database that is lost at \
             exit): give a path, e.g. sqlite://cosched.db or sqlite:///var/lib/cosched/cosched.db"
        )));
    }
    let file = PathBuf::from(path);
    match std::fs::metadata(&file) {
        Ok(meta) if !meta.is_file() => {
            return Err(StoreError::InvalidUrl(format!(
                "`{url}`: {} is not a regular file; give the path of a database file",
                file.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if create == Create::Never {
                return Err(StoreError::MissingDatabase {
                    path: file.display().to_string(),
                });
            }
        }
        // Anything else (a permission problem) is the driver's to report.
        Err(_) => {}
    }
    let mode = match create {
        Create::IfMissing => "mode=rwc",
        Create::Never => "mode=rw",
    };
    let mut query: Vec<&str> = params
        .iter()
        .map(String::as_str)
        .filter(|p| !p.starts_with("mode="))
        .collect();
    query.push(mode);
    Ok(format!("sqlite:{rest}?{}", query.join("&")))
}

/// The URL before `?`, and its `key=value` parameters.
fn split_query(url: &str) -> (&str, Vec<(&str, &str)>) {
    match url.split_once('?') {
        None => (url, Vec::new()),
        Some((base, query)) => (
            base,
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, "")))
                .collect(),
        ),
    }
}

/// Tries one TCP connection to the PostgreSQL server `url` names, within
/// `timeout`, and says plainly why it failed. A server reached over a unix
/// socket is left to the driver.
pub(super) async fn probe_postgres(url: &str, timeout: Duration) -> Result<(), StoreError> {
    let Ok(options) = PgConnectOptions::from_str(url) else {
        // The driver reports a malformed URL with its own words.
        return Ok(());
    };
    if options.get_socket().is_some() || options.get_host().starts_with('/') {
        return Ok(());
    }
    let host = options.get_host().to_string();
    let port = options.get_port();
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let reason =
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused: is PostgreSQL running and listening there?".to_string()
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "no answer within {} (connect_timeout)",
                humantime::format_duration(timeout)
            ),
        };
    Err(StoreError::Unreachable { address, reason })
}

/// The URL with any password removed, for logs, errors and listings.
pub fn redact(url: &str) -> String {
    let (base, params) = split_query(url);
    let base = match base.split_once("://") {
        // The host starts after the last `@`: a password may hold `@`.
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => format!("{scheme}://{userinfo}@{host}"),
            },
            None => base.to_string(),
        },
        None => base.to_string(),
    };
    if params.is_empty() {
        return base;
    }
    let params: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            if k.eq_ignore_ascii_case("password") {
                format!("{k}=***")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_in_every_form() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u:a:b@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert!(!redact("postgres://u:p@ss@h/db").contains("ss@"));
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let file = dir.path().join("c.db");
        let url = format!("sqlite://{}", file.display());
        assert!(matches!(
            target(&url, Create::Never),
            Err(StoreError::MissingDatabase { .. })
        ));
        let t = target(&url, Create::IfMissing).expect("creatable");
        assert!(t.url.ends_with("?mode=rwc"), "{}", t.url);
        std::fs::write(&file, b"").expect("write");
        let t = target(&url, Create::Never).expect("exists");
        assert!(t.url.ends_with("?mode=rw"), "{}", t.url);
        for empty in ["sqlite://", "sqlite:"] {
            assert!(matches!(
                target(empty, Create::IfMissing),
                Err(StoreError::InvalidUrl(_))
            ));
        }
        let err = target("sqlite:///dev/null", Create::IfMissing).expect_err("a device");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir_url = format!("sqlite://{}", dir.path().display());
        assert!(target(&dir_url, Create::IfMissing).is_err());
        assert_eq!(
            target("sqlite::memory:", Create::Never)
                .expect("memory")
                .url,
            "sqlite::memory:"
        );
    }

    #[test]
    fn connect_timeout_is_ours_and_bounded() {
        let t = target(
            "postgres://u@h/db?connect_timeout=2&sslmode=disable",
            Create::Never,
        )
        .expect("valid");
        assert_eq!(t.connect_timeout, Duration::from_secs(2));
        assert_eq!(t.url, "postgres://u@h/db?sslmode=disable");
        assert!(target("postgres://u@h/db?connect_timeout=0", Create::Never).is_err());
        assert!(target("postgres://u@h/db?connect_timeout=soon", Create::Never).is_err());
        assert!(target("mysql://u@h/db", Create::Never).is_err());
    }

    #[tokio::test]
    async fn nothing_listening_is_refused_at_once() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let url = format!("postgres://u@127.0.0.1:{port}/db");
        let err = probe_postgres(&url, Duration::from_secs(5))
            .await
            .expect_err("nothing listens");
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("connection refused"), "{text}");
    }
}
