//! Serving connections with bounds: the accept loop of the API.
//!
//! At most [`ConnLimits::max_connections`] connections are open at once
//! (lowered to a quarter of the descriptor limit if that is smaller), so
//! the API can never take the descriptors the scheduler and its jobs
//! need. At the cap, the connection idle the longest (else the one whose
//! request head has trickled the longest) is closed to make room: a flood
//! of idle connections cannot lock out a client that sends its request at
//! once. When every connection is busy in a handler, new ones wait in the
//! listen backlog until one ends. Each connection's socket deadlines are
//! kept by [`Watchdog`]; each request's by a timeout around its handler.
//!
//! Stopping: the loop stops accepting, asks every connection to finish its
//! request in flight and close, and returns once all have; connections
//! still open when the server task is dropped are dropped with it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::ApiError;
use super::limits::ConnLimits;
use super::watchdog::{ConnState, Phase, Watchdog};

/// How long the loop pauses when `accept` fails (out of descriptors, say)
/// or when every connection is busy, before it looks again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The open connections, for choosing which to close at the cap.
#[derive(Debug, Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    /// Notified whenever a connection ends.
    ended: Notify,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        // The map stays whole: nothing panics while the lock is held.
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Closes the connection idle the longest (an idle one before one
    /// still receiving its head), unless one is closing already; false
    /// when every one is busy.
    fn evict_one(&self) -> bool {
        let conns = self.lock();
        if conns.values().any(|c| c.evict.is_cancelled()) {
            // One is closing already: wait for it rather than close more.
            return true;
        }
        let victim = conns
            .values()
            .filter(|c| !c.evict.is_cancelled())
            .filter_map(|c| match c.phase() {
                Phase::Idle { since } => Some(((0, since), c)),
                Phase::Receiving { since } => Some(((1, since), c)),
                Phase::Busy => None,
            })
            .min_by_key(|(key, _)| *key);
        match victim {
            Some((_, c)) => {
                c.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// Removes a connection from the registry when its task ends (or is
/// dropped).
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        self.registry.ended.notify_waiters();
    }
}

/// Serves `app` on `listener` until `stop` is cancelled, then lets the
/// requests in flight finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: CancellationToken,
) -> io::Result<()> {
    let max = limits.effective_max_connections();
    let registry = Arc::new(Registry::default());
    let mut tasks = JoinSet::new();
    let mut next_id: u64 = 0;
    'accept: loop {
        while tasks.try_join_next().is_some() {}
        // Room first, so the descriptors in use never pass `max`.
        loop {
            let ended = registry.ended.notified();
            if registry.len() < max {
                break;
            }
            registry.evict_one();
            tokio::select! {
                _ = stop.cancelled() => break 'accept,
                _ = ended => {}
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
            }
        }
        let accepted = tokio::select! {
            _ = stop.cancelled() => break 'accept,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was
                // accepted: never a reason to stop serving.
                tracing::warn!(error = %e, "HTTP API: accept failed");
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let conn = Arc::new(ConnState::new(Instant::now()));
        registry.lock().insert(next_id, conn.clone());
        let registered = Registered {
            registry: registry.clone(),
            id: next_id,
        };
        tasks.spawn(connection(
            stream,
            app.clone(),
            limits,
            conn,
            stop.clone(),
            registered,
        ));
    }
    drop(listener);
    // Every connection saw `stop` and closes after its request in flight.
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// One connection, until it closes, is evicted, or the server stops.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: ConnLimits,
    conn: Arc<ConnState>,
    stop: CancellationToken,
    _registered: Registered,
) {
    let io = TokioIo::new(Watchdog::new(stream, conn.clone(), limits));
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let app = app.clone();
            let conn = conn.clone();
            async move {
                let _busy = conn.begin_request();
                let req = req.map(axum::body::Body::new);
                let answer = tokio::time::timeout(limits.request_timeout, app.oneshot(req)).await;
                Ok::<Response, Infallible>(match answer {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => request_timed_out(limits.request_timeout),
                })
            }
        })
    };
    let serving = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(serving);
    tokio::select! {
        result = serving.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "HTTP API: connection closed");
            }
        }
        _ = conn.evict.cancelled() => {
            tracing::debug!("HTTP API: closed an idle connection at the connection cap");
        }
        _ = stop.cancelled() => {
            serving.as_mut().graceful_shutdown();
            tokio::select! {
                _ = serving.as_mut() => {}
                _ = conn.evict.cancelled() => {}
            }
        }
    }
}

fn request_timed_out(limit: Duration) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the request was not answered within {}",
            humantime::format_duration(limit)
        ),
        "retry later; `[http] request_timeout` sets this limit",
    )
    .into_response()
}
