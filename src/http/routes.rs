//! The routes and their handlers. [`ROUTES`] is the one table the router
//! is built from, each route with the [`Access`] it requires.
//!
//! | route | does |
//! |---|---|
//! | `GET /healthz?strict=` | node id, whether the database answers, standby; `strict=true`: also 503 naming the jobs whose `expect_success_within` is violated |
//! | `GET /metrics` | Prometheus text (see [`super::metrics`]) |
//! | `GET /jobs` | every job ([`job_json`]) |
//! | `GET /jobs/{name}` | one job with its ten most recent fires |
//! | `POST /jobs` | create an API job ([`JobDecl`]): 201 |
//! | `DELETE /jobs/{name}` | delete an API job with its history |
//! | `POST /jobs/{name}/trigger` | fire now: `{"data"?}`: 201 |
//! | `POST /jobs/{name}/schedule` | a one-off: `{"at" \| "in", "data"?}`: 201 |
//! | `POST /jobs/{name}/pause`, `/resume` | pause or resume a job |
//! | `POST /triggers/{id}/pause`, `/resume` | one trigger |
//! | `POST /groups/{group}/pause`, `/resume` | every job of a group |
//! | `GET /standby`, `POST /standby` | `{"on": bool}` |
//! | `GET /fires?job=&status=&limit=` | recent fires, newest first ([`fire_json`]) |
//! | `GET /fires/{id}` | one fire |
//! | `POST /fires/{id}/cancel` | cancel a running or queued fire |
//! | `GET /nodes` | the nodes ([`node_json`]) |
//! | `GET /calendars` | the calendars ([`calendar_json`]) |
//! | `PUT /calendars/{name}`, `DELETE /calendars/{name}` | create or replace, delete an API calendar |

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{self, Access, Caller};
use super::metrics::Gauges;
use super::tokens::Role;
use super::{ApiError, AppState, JsonBody, QueryParams};
use crate::client::views::{calendar_json, fire_json, job_json, node_json};
use crate::clock::from_ms;
use crate::declare::{JobDecl, ValidationError, hint, ranges};
use crate::model::{Fire, FireStatus, Trigger};
use crate::schedule::calendar::CalendarDef;
use crate::store::FireFilter;

/// How many fires `GET /fires` returns when `limit` is not given, and at most.
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 1000;

/// How long `/healthz` waits for the database.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

type Result<T, E = ApiError> = std::result::Result<T, E>;
type Json = axum::Json<Value>;

/// A method of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One route: its method and path, who may call it, and its handler.
#[derive(Debug)]
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    pub access: Access,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

const fn route(
    verb: Verb,
    path: &'static str,
    access: Access,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
) -> Route {
    Route {
        verb,
        path,
        access,
        handler,
    }
}

const READ: Access = Access::Role(Role::Read);
const OPERATE: Access = Access::Role(Role::Operate);
const ADMIN: Access = Access::Role(Role::Admin);

/// Every route of the API with its access rule: the router is built from
/// this table alone, so no route can exist without a rule.
pub static ROUTES: &[Route] = &[
    route(Verb::Get, "/healthz", Access::Health, |m| on(m, healthz)),
    route(Verb::Get, "/metrics", Access::Metrics, |m| on(m, metrics)),
    route(Verb::Get, "/jobs", READ, |m| on(m, jobs)),
    route(Verb::Post, "/jobs", ADMIN, |m| on(m, create_job)),
    route(Verb::Get, "/jobs/{name}", READ, |m| on(m, job)),
    route(Verb::Delete, "/jobs/{name}", ADMIN, |m| on(m, delete_job)),
    route(Verb::Post, "/jobs/{name}/trigger", OPERATE, |m| {
        on(m, trigger_job)
    }),
    route(Verb::Post, "/jobs/{name}/schedule", OPERATE, |m| {
        on(m, schedule_job)
    }),
    route(Verb::Post, "/jobs/{name}/pause", OPERATE, |m| {
        on(m, pause_job)
    }),
    route(Verb::Post, "/jobs/{name}/resume", OPERATE, |m| {
        on(m, resume_job)
    }),
    route(Verb::Post, "/triggers/{id}/pause", OPERATE, |m| {
        on(m, pause_trigger)
    }),
    route(Verb::Post, "/triggers/{id}/resume", OPERATE, |m| {
        on(m, resume_trigger)
    }),
    route(Verb::Post, "/groups/{group}/pause", OPERATE, |m| {
        on(m, pause_group)
    }),
    route(Verb::Post, "/groups/{group}/resume", OPERATE, |m| {
        on(m, resume_group)
    }),
    route(Verb::Get, "/standby", READ, |m| on(m, standby)),
    route(Verb::Post, "/standby", OPERATE, |m| on(m, set_standby)),
    route(Verb::Get, "/fires", READ, |m| on(m, fires)),
    route(Verb::Get, "/fires/{id}", READ, |m| on(m, fire)),
    route(Verb::Post, "/fires/{id}/cancel", OPERATE, |m| {
        on(m, cancel_fire)
    }),
    route(Verb::Get, "/nodes", READ, |m| on(m, nodes)),
    route(Verb::Get, "/calendars", READ, |m| on(m, calendars)),
    route(Verb::Put, "/calendars/{name}", ADMIN, |m| {
        on(m, put_calendar)
    }),
    route(Verb::Delete, "/calendars/{name}", ADMIN, |m| {
        on(m, delete_calendar)
    }),
];

pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for r in ROUTES {
        let rule = from_fn_with_state((state.security.clone(), r.access, r.path), auth::authorize);
        router = router.route(r.path, (r.handler)(r.verb.filter()).route_layer(rule));
    }
    // Unknown routes and methods tell a caller without a token nothing.
    router
        .fallback(|caller: Caller| async move {
            match auth::refuse_anonymous(&caller) {
                Some(refused) => refused,
                None => unknown_route().await.into_response(),
            }
        })
        .method_not_allowed_fallback(|caller: Caller| async move {
            match auth::refuse_anonymous(&caller) {
                Some(refused) => refused,
                None => wrong_method().await.into_response(),
            }
        })
        .with_state(state)
}

async fn unknown_route() -> ApiError {
    ApiError::not_found(
        "no such route",
        "the routes are listed in the README's HTTP API section, e.g. GET /jobs",
    )
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method",
        "the routes are listed in the README's HTTP API section",
    )
}

fn id(text: &str, what: &str) -> Result<i64> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            format!("`{text}` is not a {what} id"),
            format!("a {what} id is a whole number, as listed by the API"),
        )
    })
}

// ---- node ------------------------------------------------------------------

/// `/healthz?strict=true`.
#[derive(Debug, Deserialize)]
struct HealthQuery {
    #[serde(default)]
    strict: bool,
}

async fn healthz(State(s): State<AppState>, QueryParams(q): QueryParams<HealthQuery>) -> Response {
    let probe = tokio::time::timeout(HEALTH_TIMEOUT, s.api.client.is_standby()).await;
    let (database, standby, error) = match probe {
        Ok(Ok(standby)) => (true, Some(standby), None),
        Ok(Err(e)) => (false, None, Some(e.to_string())),
        Err(_) => (
            false,
            None,
            Some(format!(
                "the database did not answer within {}",
                humantime::format_duration(HEALTH_TIMEOUT)
            )),
        ),
    };
    let mut body = json!({
        "status": if database { "ok" } else { "degraded" },
        "node": s.api.node_id, "database": database, "standby": standby, "error": error,
    });
    if !q.strict {
        return axum::Json(body).into_response();
    }
    // Strict: the node is healthy only when the database answers and every
    // job meets its expectation.
    let unhealthy = match tokio::time::timeout(HEALTH_TIMEOUT, s.api.client.jobs_health()).await {
        Ok(Ok(jobs)) => Some(
            jobs.into_iter()
                .filter(|h| h.unhealthy)
                .map(|h| h.job)
                .collect::<Vec<_>>(),
        ),
        _ => None,
    };
    let ok = database && unhealthy.as_ref().is_some_and(Vec::is_empty);
    body["unhealthy_jobs"] = json!(unhealthy);
    if !ok {
        body["status"] = json!("unhealthy");
    }
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    let executor = &s.api.executor;
    let text = s.metrics.render(
        &s.api.node_id,
        Gauges {
            running: executor.running(),
            free_slots: executor.free_slots(),
            max_concurrent: s.api.max_concurrent,
        },
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn nodes(State(s): State<AppState>) -> Result<Json> {
    let nodes = s.api.client.nodes().await?;
    Ok(axum::Json(Value::Array(
        nodes.iter().map(node_json).collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StandbyBody {
    on: bool,
}

async fn standby(State(s): State<AppState>) -> Result<Json> {
    Ok(axum::Json(json!({"on": s.api.client.is_standby().await?})))
}

async fn set_standby(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<StandbyBody>,
) -> Result<Json> {
    s.api.client.set_standby(body.on).await?;
    Ok(axum::Json(json!({"on": s.api.client.is_standby().await?})))
}

// ---- jobs ------------------------------------------------------------------

async fn jobs(State(s): State<AppState>) -> Result<Json> {
    let rows = s.api.client.jobs().await?;
    Ok(axum::Json(Value::Array(
        rows.iter().map(job_json).collect(),
    )))
}

async fn job(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json> {
    let row = s.api.client.job(&name).await?;
    let fires = s
        .api
        .client
        .fires(&FireFilter {
            job: Some(name),
            status: None,
            limit: Some(10),
        })
        .await?;
    let mut v = job_json(&row);
    v["recent_fires"] = Value::Array(fires.iter().map(fire_json).collect());
    Ok(axum::Json(v))
}

async fn delete_job(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json> {
    s.api.client.delete_job(&name).await?;
    Ok(axum::Json(json!({"job": name, "deleted": true})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    data: Option<Value>,
}

async fn trigger_job(
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<TriggerBody>,
) -> Result<(StatusCode, Json)> {
    let t = s.api.client.trigger_now(&name, body.data).await?;
    Ok(scheduled(&name, &t))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    at: Option<String>,
    #[serde(rename = "in")]
    in_: Option<String>,
    data: Option<Value>,
}

async fn schedule_job(
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<ScheduleBody>,
) -> Result<(StatusCode, Json)> {
    let client = &s.api.client;
    let t = match (body.at, body.in_) {
        (Some(at), None) => {
            client
                .schedule_at(&name, instant(&at, "at")?, body.data)
                .await?
        }
        (None, Some(delay)) => {
            let delay = duration(&delay, "in")?;
            client.schedule_in(&name, delay, body.data).await?
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `at` and `in`",
                r#"e.g. {"at": "2026-12-01T09:00:00Z"} or {"in": "10m"}"#,
            ));
        }
    };
    Ok(scheduled(&name, &t))
}

/// The answer to a trigger or schedule: the CLI's `schedule --json` shape.
fn scheduled(job: &str, t: &Trigger) -> (StatusCode, Json) {
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "trigger_id": t.id, "job": job,
            "fire_at": t.next_fire_at.map(|ms| from_ms(ms).to_rfc3339()),
        })),
    )
}

async fn pause_job(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json> {
    let changed = s.api.client.pause(&name).await?;
    Ok(axum::Json(
        json!({"job": name, "paused": true, "changed": changed}),
    ))
}

async fn resume_job(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json> {
    let changed = s.api.client.resume(&name).await?;
    Ok(axum::Json(
        json!({"job": name, "paused": false, "changed": changed}),
    ))
}

async fn pause_trigger(State(s): State<AppState>, Path(t): Path<String>) -> Result<Json> {
    let t = id(&t, "trigger")?;
    let changed = s.api.client.pause_trigger(t).await?;
    Ok(axum::Json(
        json!({"trigger_id": t, "paused": true, "changed": changed}),
    ))
}

async fn resume_trigger(State(s): State<AppState>, Path(t): Path<String>) -> Result<Json> {
    let t = id(&t, "trigger")?;
    let changed = s.api.client.resume_trigger(t).await?;
    Ok(axum::Json(
        json!({"trigger_id": t, "paused": false, "changed": changed}),
    ))
}

async fn pause_group(State(s): State<AppState>, Path(group): Path<String>) -> Result<Json> {
    let changed = s.api.client.pause_group(&group).await?;
    Ok(axum::Json(
        json!({"group": group, "paused": true, "changed": changed}),
    ))
}

async fn resume_group(State(s): State<AppState>, Path(group): Path<String>) -> Result<Json> {
    let changed = s.api.client.resume_group(&group).await?;
    Ok(axum::Json(
        json!({"group": group, "paused": false, "changed": changed}),
    ))
}

// ---- creating a job ----------------------------------------------------------

/// `POST /jobs`: the body is a [`JobDecl`] (only `name` and `kind` are
/// required); it goes through [`Client::create_job`](crate::Client::create_job),
/// so it meets exactly the file's rules.
async fn create_job(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json)> {
    let decl = job_decl(body)?;
    s.security.allow_job_kind(&decl.kind)?;
    s.api.client.create_job(&decl).await?;
    let row = s.api.client.job(decl.name.trim()).await?;
    Ok((StatusCode::CREATED, axum::Json(job_json(&row))))
}

/// The body as a declaration; a field of the wrong shape (an unknown key,
/// a string for a number) is a 400 naming its path.
fn job_decl(body: Value) -> Result<JobDecl> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = match hint::unknown_field(&inner, "field") {
            Some(explained) => explained,
            None if path == "." => inner,
            None => format!("`{path}`: {inner}"),
        };
        let path = if path == "." { String::new() } else { path };
        ApiError::invalid(
            ValidationError::one(path, message),
            "fix these fields and send the job again",
        )
    })
}

fn duration(text: &str, key: &str) -> Result<Duration> {
    ranges::duration(text, key, ranges::DELAY).map_err(|e| {
        ApiError::invalid(
            ValidationError::one(key, e),
            "give a duration such as \"10m\" or \"1h 30m\"",
        )
    })
}

fn instant(text: &str, key: &str) -> Result<DateTime<Utc>> {
    ranges::instant(text, key).map_err(|e| {
        ApiError::invalid(
            ValidationError::one(key, e),
            "give RFC 3339 with an offset, e.g. 2026-12-01T09:00:00Z",
        )
    })
}

// ---- fires -----------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FiresQuery {
    job: Option<String>,
    status: Option<String>,
    limit: Option<u64>,
}

async fn fires(State(s): State<AppState>, QueryParams(q): QueryParams<FiresQuery>) -> Result<Json> {
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
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("`limit` = {limit} is out of range"),
            format!("give a limit from 1 to {MAX_LIMIT}"),
        ));
    }
    let fires = s
        .api
        .client
        .fires(&FireFilter {
            job: q.job.filter(|j| !j.is_empty()),
            status,
            limit: Some(limit),
        })
        .await?;
    Ok(axum::Json(Value::Array(
        fires.iter().map(fire_json).collect(),
    )))
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

async fn fire(State(s): State<AppState>, Path(fire): Path<String>) -> Result<Json> {
    Ok(axum::Json(fire_json(&fire_by_id(&s, &fire).await?)))
}

async fn cancel_fire(State(s): State<AppState>, Path(fire): Path<String>) -> Result<Json> {
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

// ---- calendars ---------------------------------------------------------------

async fn calendars(State(s): State<AppState>) -> Result<Json> {
    let rows = s.api.client.calendars().await?;
    Ok(axum::Json(Value::Array(
        rows.iter().map(calendar_json).collect(),
    )))
}

async fn put_calendar(
    State(s): State<AppState>,
    Path(name): Path<String>,
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

async fn delete_calendar(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json> {
    s.api.client.delete_calendar(&name).await?;
    Ok(axum::Json(json!({"calendar": name, "deleted": true})))
}
