//! `GET /notifications?status=&limit=`: the notifications of `[[notify]]`
//! rules, newest first, with their delivery.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{Json, Result};
use crate::client::notifications::{MAX_NOTIFICATIONS, notification_json};
use crate::http::{ApiError, AppState, QueryParams};
use crate::model::NotificationStatus;

/// `GET /notifications` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NotificationsQuery {
    /// Only notifications with this status: pending, leased, sent, failed.
    status: Option<String>,
    /// At most this many: 1 to 10000, default 50.
    limit: Option<u64>,
}

pub(super) async fn notifications(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<NotificationsQuery>,
) -> Result<Json> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<NotificationStatus>().map_err(|e| {
            ApiError::bad_request(
                e.to_string(),
                "e.g. /notifications?status=failed".to_string(),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_NOTIFICATIONS).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("`limit` {limit} is out of range"),
            format!("expected 1 to {MAX_NOTIFICATIONS}"),
        ));
    }
    let list = s.api.client.notifications(status, limit).await?;
    Ok(axum::Json(Value::Array(
        list.iter().map(notification_json).collect(),
    )))
}
