//! The HTTP JSON API and the Prometheus `/metrics` endpoint of a node.
//!
//! Off by default; `[http] listen = "127.0.0.1:8080"` turns it on. The
//! node binds the address when it starts (so a taken port fails the start,
//! and [`Node::http_addr`](crate::Node::http_addr) knows the port before
//! anything fires), serves from the first instant of
//! [`Node::run`](crate::Node::run), and stops serving after its running
//! fires have drained: it stops accepting connections, lets requests in
//! flight finish (within [`SHUTDOWN_DEADLINE`]), then returns.
//!
//! Every handler goes through [`Client`], like the CLI, and prints jobs,
//! fires, nodes and calendars with the CLI's own `--json` shapes
//! ([`job_json`](crate::cli::job_json), [`fire_json`](crate::cli::fire_json),
//! …), so the two always agree. The routes are listed in [`routes`].
//!
//! Errors are `{"error": "...", "hint": "..."}` with 400 (bad input), 401
//! (no token, or a wrong one), 403 (a role too small, a foreign `Origin`,
//! a `command` job without `api_command_jobs`), 404 (no such job, trigger,
//! fire, calendar or route), 405, 409 (conflicts with the current state),
//! 413, 415 (a POST, PUT or DELETE not sent as `application/json`), 421 (a
//! `Host` this API does not answer to), 503 (the database does not answer,
//! or the request timed out) or 500.
//!
//! The API can start programs, so it is closed by default. Every request
//! passes, outermost first: the [audit] log, the [browser
//! defences](guard), [token authentication](auth), then the route's
//! access rule from the route table ([`routes::ROUTES`]). The web
//! dashboard ([`ui`]) is served from the same table, under `/ui`. Connections are
//! served by [`serve`], with the bounds of [`limits`].

pub mod audit;
pub mod auth;
pub mod guard;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod routes;
mod serve;
mod settings;
pub mod tokens;
pub mod ui;
mod watchdog;

pub use settings::HttpSettings;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::{Client, ClientError};
use crate::clock::Clock;
use crate::declare::{FieldIssue, ValidationError};
use crate::events::Events;
use crate::executor::Executor;
use crate::store::StoreError;

use self::auth::Security;
use self::guard::{AllowedHosts, HostEntry};
use self::limits::ConnLimits;
use self::metrics::Metrics;
use self::tokens::{TokenError, TokenSet};

/// How long a stopping server waits for requests in flight before it drops
/// their connections.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// How many connections the kernel holds for the API before it accepts
/// them (capped by `net.core.somaxconn`): room for a burst, and for the
/// connections that wait while every slot is busy. They cost the process
/// no file descriptor until accepted.
pub const LISTEN_BACKLOG: u32 = 1024;

/// A bound socket, not serving yet.
#[derive(Debug)]
pub struct Listener {
    inner: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `addr` (port 0: any free port), with a listen backlog of
    /// [`LISTEN_BACKLOG`].
    pub async fn bind(addr: SocketAddr) -> io::Result<Listener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let inner = socket.listen(LISTEN_BACKLOG)?;
        let addr = inner.local_addr()?;
        Ok(Listener { inner, addr })
    }

    /// The address actually bound (with the port chosen for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// What the API serves from: a node's parts.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: Client,
    pub node_id: String,
    pub executor: Executor,
    pub events: Events,
    /// The node's clock (corrected by its offset to the database).
    pub clock: Arc<dyn Clock>,
    /// The zone of a cron schedule that names none (`[scheduler] timezone`).
    pub default_timezone: Tz,
    pub max_concurrent: usize,
    /// `[scheduler] dead_after_checkins`: a peer is dead once its last
    /// check-in is this many of its intervals old (the cluster page).
    pub dead_after_checkins: u32,
}

/// How an API is guarded: who may call it, which hosts it answers to, and
/// the bounds of its connections. Built from `[http]` when the node starts.
#[derive(Debug, Clone, Default)]
pub struct Protection {
    pub security: Security,
    /// The `[http] hosts` entries, besides the listen address.
    pub hosts: Vec<HostEntry>,
    pub limits: ConnLimits,
}

/// Why the API cannot be served as configured (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtectionError {
    /// A token's secret could not be read.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Tokens(Vec<TokenError>),
    /// A non-loopback listen with no tokens and no opt-out.
    #[error("[http] {0}")]
    Exposed(String),
}

impl Protection {
    /// Reads the tokens' secrets (from the environment and files) and
    /// checks, once more, that an open API listens only on loopback.
    pub fn from_settings(http: &HttpSettings) -> Result<Protection, ProtectionError> {
        let tokens = TokenSet::resolve(&http.tokens).map_err(ProtectionError::Tokens)?;
        if let Some(listen) = http.listen
            && let Some(problem) =
                auth::exposure_problem(listen, !tokens.is_empty(), http.allow_unauthenticated)
        {
            return Err(ProtectionError::Exposed(problem));
        }
        Ok(Protection {
            security: Security {
                tokens,
                metrics_public: http.metrics_public,
                api_command_jobs: http.api_command_jobs,
            },
            hosts: http.hosts.clone(),
            limits: http.limits,
        })
    }
}

/// The state every handler sees.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub api: Api,
    pub metrics: Arc<Metrics>,
    pub security: Arc<Security>,
}

/// A serving API: the server and the metrics collector.
#[derive(Debug)]
pub struct Server {
    stop: CancellationToken,
    server: JoinHandle<io::Result<()>>,
    collector: JoinHandle<()>,
    addr: SocketAddr,
}

impl Server {
    /// Starts serving on `listener`. The metrics collector subscribes to
    /// the node's events before this returns, so it misses nothing the
    /// node does afterwards.
    pub fn start(listener: Listener, api: Api, protection: Protection) -> Server {
        let stop = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        let collector = tokio::spawn(metrics::collect(
            metrics.clone(),
            api.events.subscribe(),
            api.clock.clone(),
            stop.clone(),
        ));
        let addr = listener.addr;
        let security = Arc::new(protection.security);
        auth::warn_if_unauthenticated(&security, addr);
        let hosts = Arc::new(AllowedHosts::new(addr, protection.hosts));
        // The last layer added runs first: audit, browser defences, tokens.
        let app = routes::router(AppState {
            api,
            metrics,
            security: security.clone(),
        })
        .layer(from_fn_with_state(security.clone(), auth::authenticate))
        .layer(from_fn_with_state(hosts, guard::browser_defences))
        .layer(from_fn(audit::audit));
        let server = tokio::spawn(serve::serve(
            listener.inner,
            app,
            protection.limits,
            stop.clone(),
        ));
        tracing::info!(%addr, tokens = !security.is_open(), "HTTP API listening");
        Server {
            stop,
            server,
            collector,
            addr,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets requests in flight finish within
    /// `deadline`, then drops whatever is left.
    pub async fn shutdown(self, deadline: Duration) {
        self.stop.cancel();
        let server = self.server;
        let abort = server.abort_handle();
        match tokio::time::timeout(deadline, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server ended with an error"),
            Ok(Err(e)) => tracing::error!(error = %e, "HTTP server task ended abnormally"),
            Err(_) => {
                tracing::warn!(
                    ?deadline,
                    "HTTP requests still in flight at the deadline: dropped"
                );
                abort.abort();
            }
        }
        let _ = self.collector.await;
        tracing::info!(addr = %self.addr, "HTTP API stopped");
    }
}

// ---- errors ------------------------------------------------------------------

/// An error response: `{"error": ..., "hint": ...}` with its status; a
/// body that fails validation also gets `"issues": [{"path", "message"}]`,
/// one per bad field, `error` joining their messages with "; ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub hint: String,
    pub issues: Vec<FieldIssue>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            hint: hint.into(),
            issues: Vec::new(),
        }
    }

    /// A 400 listing every bad field of a body.
    pub fn invalid(e: ValidationError, hint: impl Into<String>) -> Self {
        let mut err = Self::bad_request(e.to_string(), hint);
        err.issues = e.issues;
        err
    }

    pub fn bad_request(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, hint)
    }

    pub fn not_found(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error, hint)
    }

    pub fn conflict(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error, hint)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.error, "hint": self.hint});
        if !self.issues.is_empty() {
            body["issues"] = json!(self.issues);
        }
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_connection() {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
                "the database did not answer; retry once it is reachable again",
            );
        }
        match &e {
            StoreError::NotFound { what, .. } => {
                let hint = match *what {
                    "job" => "GET /jobs lists the jobs",
                    "trigger" => "GET /jobs/{name} lists a job's triggers with their ids",
                    "calendar" => "GET /calendars lists the calendars",
                    "fire" => "GET /fires lists recent fires",
                    _ => "check the name or id",
                };
                ApiError::not_found(e.to_string(), hint)
            }
            StoreError::Conflict(m) => ApiError::conflict(
                m.clone(),
                "the request conflicts with the current state; read it and try again",
            ),
            StoreError::DeclaredInFile { .. } => ApiError::conflict(
                e.to_string(),
                "the configuration file owns it: change the file, then restart `cosched serve`",
            ),
            StoreError::Invalid { field, .. } => ApiError::bad_request(
                e.to_string(),
                format!("fix `{field}` and send the request again"),
            ),
            _ => {
                tracing::error!(error = %e, "HTTP API: database error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    e.to_string(),
                    "see the node's log",
                )
            }
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Store(e) => e.into(),
            ClientError::Validation(e) => {
                // A refusal by the operator's rules for API-created http
                // jobs: say which settings open it, besides the fields.
                let hint = if e
                    .issues
                    .iter()
                    .any(|i| i.message.contains("[scheduler] http_"))
                {
                    "the node's operator decides where API-created http jobs may go and what \
                     they may read: [scheduler] http_allow (hosts, CIDRs), http_secret_env, \
                     http_secret_files; or declare the job in the configuration file"
                } else {
                    "fix these fields and send the request again"
                };
                ApiError::invalid(e, hint)
            }
            ClientError::Invalid(m) => {
                ApiError::bad_request(m, "fix the request body and send it again")
            }
        }
    }
}

// ---- extractors --------------------------------------------------------------

/// A JSON request body; an empty body reads as `{}`, so routes whose
/// fields are all optional take no body at all. Every body, an empty one
/// too, must be sent as `Content-Type: application/json`, which a page on
/// another site cannot do without a preflight this API never grants
/// ([`guard`] refuses it before any handler too).
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !guard::is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request is not sent as JSON",
                "send it with `Content-Type: application/json`, even with no body \
                 (curl: --json '{...}')",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text(), "send a smaller body"))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(JsonBody).map_err(|e| {
            ApiError::bad_request(
                format!("invalid JSON body: {e}"),
                "see the README's HTTP API section for each route's fields",
            )
        })
    }
}

/// Query parameters, with unknown or malformed ones answered as JSON 400.
#[derive(Debug)]
pub(crate) struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| QueryParams(v))
            .map_err(|e| {
                ApiError::bad_request(
                    e.body_text(),
                    "GET /openapi.json lists each route's query parameters, \
                     e.g. /fires?job=backup&status=failed&limit=20",
                )
            })
    }
}

/// The one parameter of a route's path (a job, group or calendar name,
/// a trigger or fire id), percent-decoded; one that is not UTF-8 is a
/// JSON 400 like every other bad input.
#[derive(Debug)]
pub(crate) struct PathParam(pub String);

impl<S> FromRequestParts<S> for PathParam
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| PathParam(v))
            .map_err(|e| {
                ApiError::bad_request(
                    format!("bad path parameter: {}", e.body_text()),
                    "names and ids in a path are UTF-8, percent-encoded, e.g. /jobs/nightly%20backup",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn store_errors_map_to_statuses() {
        let status = |e: StoreError| ApiError::from(e).status;
        assert_eq!(
            status(StoreError::NotFound {
                what: "job",
                name: "x".into()
            }),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(StoreError::Conflict("taken".into())),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(StoreError::Invalid {
                field: "calendars",
                message: "calendar `x` does not exist".into()
            }),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(StoreError::DeclaredInFile {
                what: "job",
                name: "x".into(),
                remedy: "remove it there"
            }),
            StatusCode::CONFLICT
        );
        // A database that cannot be opened: a folder that does not exist.
        let unreachable = crate::store::Store::connect("sqlite:///nonexistent-folder/cosched.db")
            .await
            .expect_err("no such folder");
        assert!(matches!(unreachable, StoreError::Connect { .. }));
        assert_eq!(status(unreachable), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            ApiError::from(ClientError::Invalid("bad".into())).status,
            StatusCode::BAD_REQUEST
        );
    }
}
