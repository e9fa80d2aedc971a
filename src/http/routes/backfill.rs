//! `POST /jobs/{name}/backfill`: `{"from", "to", "max"?, "dry_run"?}`, the
//! missed fires of a job in a past window (see [`crate::client::backfill`]).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Json, Result};
use crate::client::backfill::{Backfill, DEFAULT_BACKFILL_MAX, backfill_json};
use crate::http::{ApiError, AppState, JsonBody, PathParam};

/// The body of `POST /jobs/{name}/backfill`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackfillBody {
    /// The window's start (included), RFC 3339.
    from: String,
    /// The window's end (excluded), RFC 3339.
    to: String,
    /// At most this many instants: 1 to 10000, default 1000.
    max: Option<u64>,
    /// Say what would be created; create nothing.
    dry_run: Option<bool>,
}

fn instant(text: &str, field: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(
                format!("`{field}` {text:?}: {e}"),
                "expected RFC 3339, e.g. 2026-12-01T09:00:00Z",
            )
        })
}

pub(super) async fn backfill(
    State(s): State<AppState>,
    PathParam(name): PathParam,
    JsonBody(body): JsonBody<BackfillBody>,
) -> Result<(StatusCode, Json)> {
    let what = Backfill {
        from: instant(&body.from, "from")?,
        to: instant(&body.to, "to")?,
        max: body.max.unwrap_or(DEFAULT_BACKFILL_MAX),
        dry_run: body.dry_run.unwrap_or(false),
    };
    let report = s.api.client.backfill(&name, &what).await?;
    let status = if report.created.is_empty() || what.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(backfill_json(&report))))
}
