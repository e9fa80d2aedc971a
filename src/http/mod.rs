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
//! Errors are `{"error": "...", "hint": "..."}` with 400 (bad input), 404
//! (no such job, trigger, fire, calendar or route), 405, 409 (conflicts with
//! the current state), 413, 415 (a body that is not `application/json`),
//! 503 (the database does not answer) or 500.
//!
//! There is no authentication: listen on a loopback address, or put the
//! API behind a proxy that authenticates.

pub mod metrics;
pub mod routes;

use std::future::IntoFuture as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
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

use self::metrics::Metrics;

/// How long a stopping server waits for requests in flight before it drops
/// their connections.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// A bound socket, not serving yet.
#[derive(Debug)]
pub struct Listener {
    inner: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> io::Result<Listener> {
        let inner = tokio::net::TcpListener::bind(addr).await?;
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
}

/// The state every handler sees.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub api: Api,
    pub metrics: Arc<Metrics>,
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
    pub fn start(listener: Listener, api: Api) -> Server {
        let stop = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        let collector = tokio::spawn(metrics::collect(
            metrics.clone(),
            api.events.subscribe(),
            api.clock.clone(),
            stop.clone(),
        ));
        let addr = listener.addr;
        let app = routes::router(AppState { api, metrics });
        let server = tokio::spawn(
            axum::serve(listener.inner, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        tracing::info!(%addr, "HTTP API listening");
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
                ApiError::invalid(e, "fix these fields and send the request again")
            }
            ClientError::Invalid(m) => {
                ApiError::bad_request(m, "fix the request body and send it again")
            }
        }
    }
}

// ---- extractors --------------------------------------------------------------

/// A JSON request body; an empty body reads as `{}`, so routes whose
/// fields are all optional take no body at all. A non-empty body must be
/// sent as `Content-Type: application/json`, which also keeps a browser
/// form on another site from posting to the API.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text(), "send a smaller body"))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body is not JSON",
                "send it with `Content-Type: application/json` (curl: --json '{...}')",
            ));
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
                    "GET /fires takes job, status and limit, e.g. /fires?job=backup&status=failed&limit=20",
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
