//! The calendar routes: `GET /calendars`, `PUT /calendars/{name}`,
//! `DELETE /calendars/{name}`.

use axum::extract::State;
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{Json, Result};
use crate::client::views::calendar_json;
use crate::http::{ApiError, AppState, JsonBody, PathParam};
use crate::schedule::calendar::CalendarDef;

pub(super) async fn calendars(State(s): State<AppState>) -> Result<Json> {
    let rows = s.api.client.calendars().await?;
    Ok(axum::Json(Value::Array(
        rows.iter().map(calendar_json).collect(),
    )))
}

pub(super) async fn put_calendar(
    State(s): State<AppState>,
    PathParam(name): PathParam,
    JsonBody(mut body): JsonBody<Value>,
) -> Result<Json> {
    let example = r#"e.g. {"timezone": "Europe/Berlin", "dates": ["2026-12-25"], "days_of_week": ["sat", "sun"]}"#;
    let Value::Object(map) = &mut body else {
        return Err(ApiError::bad_request(
            "a calendar is a JSON object",
            example,
        ));
    };
    match map.get("name") {
        None => {
            map.insert("name".into(), Value::String(name.clone()));
        }
        Some(Value::String(n)) if *n == name => {}
        Some(other) => {
            return Err(ApiError::bad_request(
                format!("the body names calendar {other}, the path `{name}`"),
                "leave `name` out of the body, or make it match the path",
            ));
        }
    }
    let def: CalendarDef = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("invalid calendar definition: {e}"), example))?;
    def.compile(Tz::UTC)
        .map_err(|e| ApiError::bad_request(format!("invalid calendar definition: {e}"), example))?;
    let row = s.api.client.set_calendar(&def).await?;
    Ok(axum::Json(calendar_json(&row)))
}

pub(super) async fn delete_calendar(
    State(s): State<AppState>,
    PathParam(name): PathParam,
) -> Result<Json> {
    s.api.client.delete_calendar(&name).await?;
    Ok(axum::Json(json!({"calendar": name, "deleted": true})))
}
