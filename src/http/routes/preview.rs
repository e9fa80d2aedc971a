//! `GET /jobs/{name}/next?n=20`: the next fires of a stored job, as the
//! node will record them (see [`crate::client::JobPreview`]).

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Json, Result};
use crate::client::MAX_PREVIEW_COUNT;
use crate::client::views::preview_json;
use crate::http::{ApiError, AppState, PathParam, QueryParams};

/// How many fires a preview shows when `n` is not given.
const DEFAULT_COUNT: u64 = 10;

/// `GET /jobs/{name}/next` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NextQuery {
    /// How many fires: 1 to 10000, default 10.
    n: Option<u64>,
}

pub(super) async fn job_next(
    State(s): State<AppState>,
    PathParam(name): PathParam,
    QueryParams(q): QueryParams<NextQuery>,
) -> Result<Json> {
    let n = q.n.unwrap_or(DEFAULT_COUNT);
    if !(1..=MAX_PREVIEW_COUNT).contains(&n) {
        return Err(ApiError::bad_request(
            format!("n = {n} is out of range"),
            format!("ask for 1 to {MAX_PREVIEW_COUNT} fires"),
        ));
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let preview = s.api.client.job_preview(&name, n).await?;
    Ok(axum::Json(preview_json(&preview)))
}
