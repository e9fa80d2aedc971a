//! Paged answers: the body stays the JSON array the listing always had;
//! when more rows follow, `Link` holds the next page's address
//! (`rel="next"`) and `X-Next-Cursor` its cursor.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::Result;
use crate::client::{DEFAULT_PAGE_LIMIT, Page, check_limit};
use crate::http::ApiError;

/// What a query value may hold unescaped in a `Link` (a cursor is
/// base64url: letters, digits, `-` and `_`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(super) fn page_limit(limit: Option<u64>) -> Result<u64> {
    check_limit(limit.unwrap_or(DEFAULT_PAGE_LIMIT))
        .map_err(|e| ApiError::bad_request(e, "e.g. ?limit=100; follow `Link` for more"))
}

/// A page as a JSON array, with the next page's address in `Link`
/// (`rel="next"`) and its cursor in `X-Next-Cursor`; neither on the last
/// page. The array keeps the shape the listing had before it was paged.
pub(super) fn paged<T>(
    page: Page<T>,
    view: fn(&T) -> Value,
    path: &str,
    limit: u64,
    filters: &[(&str, &str)],
) -> Response {
    let body = axum::Json(Value::Array(page.items.iter().map(view).collect()));
    let Some(cursor) = page.next_cursor else {
        return body.into_response();
    };
    let mut query = format!("limit={limit}");
    for (key, value) in filters {
        query.push_str(&format!(
            "&{key}={}",
            utf8_percent_encode(value, QUERY_VALUE)
        ));
    }
    query.push_str(&format!(
        "&cursor={}",
        utf8_percent_encode(&cursor, QUERY_VALUE)
    ));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    // Every part is ASCII by construction (percent-encoded, base64url).
    if let Ok(link) = HeaderValue::from_str(&format!("<{path}?{query}>; rel=\"next\"")) {
        headers.insert(header::LINK, link);
    }
    if let Ok(next) = HeaderValue::from_str(&cursor) {
        headers.insert("x-next-cursor", next);
    }
    response
}
