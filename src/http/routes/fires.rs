//! The fire routes: `GET /fires` (paged), `GET /fires/{id}`,
//! `POST /fires/{id}/cancel`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::paging::{page_limit, paged};
use super::{Json, Result, id};
use crate::client::views::fire_json;
use crate::http::{ApiError, AppState, PathParam, QueryParams};
use crate::model::{Fire, FireStatus};
use crate::store::FireFilter;

/// `GET /fires` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FiresQuery {
    /// Only the fires of this job.
    job: Option<String>,
    /// Only fires with this status.
    status: Option<String>,
    /// How many fires a page holds: 1 to 1000, default 50.
    limit: Option<u64>,
    /// Where the page starts: the `X-Next-Cursor` of the previous page.
    cursor: Option<String>,
}

pub(super) async fn fires(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<FiresQuery>,
) -> Result<Response> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<FireStatus>().map_err(|_| {
            ApiError::bad_request(
                format!("unknown fire status `{text}`"),
                format!(
                    "expected one of {}",
                    FireStatus::ALL.map(FireStatus::as_str).join(", ")
                ),
            )
        })?),
    };
    let limit = page_limit(q.limit)?;
    let job = q.job.filter(|j| !j.is_empty());
    let filter = FireFilter {
        job: job.clone(),
        status,
        limit: None,
    };
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let page = s
        .api
        .client
        .fires_page(&filter, cursor.as_deref(), limit)
        .await?;
    let mut filters = Vec::new();
    if let Some(job) = &job {
        filters.push(("job", job.as_str()));
    }
    if let Some(status) = status {
        filters.push(("status", status.as_str()));
    }
    Ok(paged(page, fire_json, "/fires", limit, &filters))
}

async fn fire_by_id(s: &AppState, fire: &str) -> Result<Fire> {
    let fire = id(fire, "fire")?;
    s.api.client.fire(fire).await?.ok_or_else(|| {
        ApiError::not_found(
            format!("fire {fire} does not exist"),
            "GET /fires lists recent fires",
        )
    })
}

pub(super) async fn fire(State(s): State<AppState>, PathParam(fire): PathParam) -> Result<Json> {
    Ok(axum::Json(fire_json(&fire_by_id(&s, &fire).await?)))
}

pub(super) async fn cancel_fire(
    State(s): State<AppState>,
    PathParam(fire): PathParam,
) -> Result<Json> {
    let row = fire_by_id(&s, &fire).await?;
    if s.api.client.cancel_fire(row.id).await? {
        return Ok(axum::Json(json!({"fire_id": row.id, "cancelled": true})));
    }
    // It finished between the read and the cancel, or long before.
    let status = match s.api.client.fire(row.id).await? {
        Some(now) => now.status,
        None => row.status,
    };
    Err(ApiError::conflict(
        format!("fire {} is {status}, not running or queued", row.id),
        "only a running or queued fire can be cancelled",
    ))
}
