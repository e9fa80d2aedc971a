//! The dashboard's two static files, embedded in the binary: one
//! stylesheet and one script. Served with an ETag (their digest) and
//! revalidated, so a new binary's assets are picked up at once.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::respond;

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");

pub(crate) async fn css(headers: HeaderMap) -> Response {
    respond::send(
        &headers,
        StatusCode::OK,
        "text/css; charset=utf-8",
        "no-cache",
        APP_CSS.as_bytes().to_vec(),
    )
}

pub(crate) async fn js(headers: HeaderMap) -> Response {
    respond::send(
        &headers,
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        "no-cache",
        APP_JS.as_bytes().to_vec(),
    )
}
