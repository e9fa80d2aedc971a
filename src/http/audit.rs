//! The audit log: one structured event (target [`TARGET`]) for every
//! request that may change state (POST, PUT, DELETE), refused or not, with
//! the caller's token name (or `anonymous`), the method, the route, the
//! path and the status.
//!
//! It is the outermost layer, so it also records what the browser
//! defences and the token check refused.

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::auth::{Caller, MatchedRoute};

/// The `tracing` target of audit events (`RUST_LOG=cosched::audit=info`).
pub const TARGET: &str = "cosched::audit";

pub(crate) async fn audit(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if !matches!(method, Method::POST | Method::PUT | Method::DELETE) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let token = response
        .extensions()
        .get::<Caller>()
        .map_or(Caller::ANONYMOUS, |c| &c.name);
    let route = response
        .extensions()
        .get::<MatchedRoute>()
        .map_or("(no route)", |r| r.0);
    let status = response.status().as_u16();
    tracing::info!(target: TARGET, token, %method, route, path, status, "API request");
    response
}
