//! Pausing and resuming: `POST /jobs/{name}/pause|resume`,
//! `/triggers/{id}/pause|resume`, `/groups/{group}/pause|resume`.

use axum::extract::State;
use serde_json::json;

use super::{Json, Result, id};
use crate::http::{AppState, PathParam};

pub(super) async fn pause_job(
    State(s): State<AppState>,
    PathParam(name): PathParam,
) -> Result<Json> {
    let changed = s.api.client.pause(&name).await?;
    Ok(axum::Json(
        json!({"job": name, "paused": true, "changed": changed}),
    ))
}

pub(super) async fn resume_job(
    State(s): State<AppState>,
    PathParam(name): PathParam,
) -> Result<Json> {
    let changed = s.api.client.resume(&name).await?;
    Ok(axum::Json(
        json!({"job": name, "paused": false, "changed": changed}),
    ))
}

pub(super) async fn pause_trigger(
    State(s): State<AppState>,
    PathParam(t): PathParam,
) -> Result<Json> {
    let t = id(&t, "trigger")?;
    let changed = s.api.client.pause_trigger(t).await?;
    Ok(axum::Json(
        json!({"trigger_id": t, "paused": true, "changed": changed}),
    ))
}

pub(super) async fn resume_trigger(
    State(s): State<AppState>,
    PathParam(t): PathParam,
) -> Result<Json> {
    let t = id(&t, "trigger")?;
    let changed = s.api.client.resume_trigger(t).await?;
    Ok(axum::Json(
        json!({"trigger_id": t, "paused": false, "changed": changed}),
    ))
}

pub(super) async fn pause_group(
    State(s): State<AppState>,
    PathParam(group): PathParam,
) -> Result<Json> {
    let changed = s.api.client.pause_group(&group).await?;
    Ok(axum::Json(
        json!({"group": group, "paused": true, "changed": changed}),
    ))
}

pub(super) async fn resume_group(
    State(s): State<AppState>,
    PathParam(group): PathParam,
) -> Result<Json> {
    let changed = s.api.client.resume_group(&group).await?;
    Ok(axum::Json(
        json!({"group": group, "paused": false, "changed": changed}),
    ))
}
