//! The routes and their handlers. [`ROUTES`] is the one table the router
//! is built from, each route with the [`Access`] it requires.
//!
//! | route | does |
//! |---|---|
//! | `GET /healthz` | node id, whether the database answers, standby |
//! | `GET /metrics` | Prometheus text (see [`super::metrics`]) |
//! | `GET /jobs` | every job ([`job_json`]) |
//! | `GET /jobs/{name}` | one job with its ten most recent fires |
//! | `POST /jobs` | create an API job ([`NewJob`]): 201 |
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
use crate::cli::{calendar_json, fire_json, job_json, node_json};
use crate::clock::from_ms;
use crate::definition::{DEFAULT_POOL, JobDef, OverlapPolicy, RetryPolicy, TriggerDef};
use crate::schedule::ScheduleSpec;
use crate::schedule::calendar::CalendarDef;
use crate::schedule::cron::{CronExpr, Dialect};
use crate::schedule::dst::{DstOptions, FoldPolicy, GapPolicy};
use crate::schedule::misfire::MisfirePolicy;
use crate::store::{FireFilter, FireStatus};

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

async fn healthz(State(s): State<AppState>) -> Json {
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
    axum::Json(json!({
        "status": if database { "ok" } else { "degraded" },
        "node": s.api.node_id, "database": database, "standby": standby, "error": error,
    }))
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
    let row = s.api.client.job(&name).await?;
    if row.job.source == "config" {
        return Err(ApiError::conflict(
            format!("job `{name}` is declared in the configuration file"),
            "remove it from the file; the next `cosched serve` deletes it",
        ));
    }
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
            let delay = humantime::parse_duration(&delay).map_err(|e| {
                ApiError::bad_request(
                    format!("`in` = \"{delay}\" is not a duration ({e})"),
                    "give a duration such as \"10m\" or \"1h 30m\"",
                )
            })?;
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
fn scheduled(job: &str, t: &entity::triggers::Model) -> (StatusCode, Json) {
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

/// The body of `POST /jobs`. Only `name` and `kind` are required; the rest
/// defaults as in the configuration file.
///
/// ```json
/// {"name": "report", "kind": "command", "settings": {"command": ["make", "report"]},
///  "data": {"to": "ops"}, "schedule": {"cron": "0 0 6 * * ?", "timezone": "Europe/Berlin"},
///  "timeout": "10m", "overlap": "skip", "retry": {"max_attempts": 3, "backoff": "30s"}}
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    pub name: String,
    pub kind: String,
    /// The kind's settings (for `command`: `command`, `shell`, `env`, …).
    pub settings: Option<Value>,
    pub data: Option<Value>,
    /// None: the job runs only on demand.
    pub schedule: Option<NewSchedule>,
    pub pool: Option<String>,
    pub group: Option<String>,
    /// `allow` (default), `skip`, `queue` or `replace`.
    pub overlap: Option<String>,
    /// A duration, e.g. `"10m"`.
    pub timeout: Option<String>,
    pub priority: Option<i32>,
    pub retry: Option<NewRetry>,
    #[serde(default)]
    pub requests_recovery: bool,
    #[serde(default)]
    pub paused: bool,
}

/// One of `cron` (with `timezone`, `dialect`, `dst_gap`, `dst_fold`),
/// `every` (with `start`, `end`, `repeat`) or `at`; and the trigger's
/// `misfire` policy (a name or `{"catch_up": N}`), `misfire_threshold` and
/// exclusion `calendars`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub cron: Option<String>,
    pub dialect: Option<String>,
    pub timezone: Option<String>,
    pub dst_gap: Option<String>,
    pub dst_fold: Option<String>,
    pub every: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub repeat: Option<u32>,
    pub at: Option<String>,
    pub misfire: Option<Value>,
    pub misfire_threshold: Option<String>,
    #[serde(default)]
    pub calendars: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRetry {
    pub max_attempts: Option<u32>,
    pub backoff: Option<String>,
    pub factor: Option<f64>,
    pub max_backoff: Option<String>,
    pub jitter: Option<f64>,
}

async fn create_job(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<NewJob>,
) -> Result<(StatusCode, Json)> {
    let mut problems = Vec::new();
    let known_calendars = match body.schedule.as_ref() {
        Some(sc) if !sc.calendars.is_empty() => s
            .api
            .client
            .calendars()
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect(),
        _ => Vec::new(),
    };
    let def = job_def(&body, &mut problems);
    s.security.allow_job_kind(&def.kind)?;
    let trigger = body
        .schedule
        .as_ref()
        .and_then(|sc| trigger_def(sc, s.api.default_timezone, &known_calendars, &mut problems));
    if !problems.is_empty() {
        return Err(ApiError::bad_request(
            problems.join("; "),
            "fix these fields and send the job again",
        ));
    }
    s.api.client.create_job(&def, trigger.as_ref()).await?;
    let row = s.api.client.job(&def.name).await?;
    Ok((StatusCode::CREATED, axum::Json(job_json(&row))))
}

fn duration(text: &str, key: &str, problems: &mut Vec<String>) -> Option<Duration> {
    match humantime::parse_duration(text) {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(format!(
                "`{key}` = \"{text}\" is not a duration ({e}): expected e.g. \"30s\", \"5m\", \"1h 30m\""
            ));
            None
        }
    }
}

fn instant(text: &str, key: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(
                format!("`{key}` = \"{text}\" is not an instant ({e})"),
                "give RFC 3339 with an offset, e.g. 2026-12-01T09:00:00Z",
            )
        })
}

fn job_def(body: &NewJob, problems: &mut Vec<String>) -> JobDef {
    let mut def = JobDef::new(body.name.trim(), body.kind.clone());
    if let Some(settings) = &body.settings {
        def.settings = settings.clone();
    }
    if let Some(data) = &body.data {
        def.data = data.clone();
    }
    def.pool = body
        .pool
        .clone()
        .unwrap_or_else(|| DEFAULT_POOL.to_string());
    if def.pool.trim().is_empty() {
        problems.push("`pool` must not be empty".into());
    }
    def.group = body.group.clone();
    if let Some(o) = &body.overlap {
        match OverlapPolicy::parse(o) {
            Some(p) => def.overlap = p,
            None => problems.push(format!(
                "unknown overlap policy `{o}`: expected allow, skip, queue or replace"
            )),
        }
    }
    if let Some(t) = &body.timeout {
        def.timeout = duration(t, "timeout", problems);
        if def.timeout.is_some_and(|t| t.is_zero()) {
            problems.push("`timeout` must be longer than zero".into());
        }
    }
    def.priority = body.priority.unwrap_or(0);
    if let Some(r) = &body.retry {
        let mut retry = RetryPolicy::default();
        if let Some(n) = r.max_attempts {
            if n >= 1 {
                retry.max_attempts = n;
            } else {
                problems.push("`retry.max_attempts` must be 1 or more".into());
            }
        }
        if let Some(d) = r
            .backoff
            .as_deref()
            .and_then(|b| duration(b, "retry.backoff", problems))
        {
            retry.backoff = d;
        }
        if let Some(d) = r
            .max_backoff
            .as_deref()
            .and_then(|b| duration(b, "retry.max_backoff", problems))
        {
            retry.max_backoff = d;
        }
        if let Some(f) = r.factor {
            if f >= 1.0 && f.is_finite() {
                retry.factor = f;
            } else {
                problems.push("`retry.factor` must be a number of 1.0 or more".into());
            }
        }
        if let Some(j) = r.jitter {
            if (0.0..=1.0).contains(&j) {
                retry.jitter = j;
            } else {
                problems.push("`retry.jitter` must be a fraction from 0.0 to 1.0".into());
            }
        }
        def.retry = retry;
    }
    def.requests_recovery = body.requests_recovery;
    def.paused = body.paused;
    def
}

fn trigger_def(
    sc: &NewSchedule,
    default_tz: Tz,
    known_calendars: &[String],
    problems: &mut Vec<String>,
) -> Option<TriggerDef> {
    let before = problems.len();
    let given: Vec<&str> = [
        sc.cron.as_ref().map(|_| "cron"),
        sc.every.as_ref().map(|_| "every"),
        sc.at.as_ref().map(|_| "at"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let kind = match given.as_slice() {
        [one] => *one,
        [] => {
            problems.push(
                "`schedule` needs one of `cron`, `every` or `at` (leave `schedule` out for a job run on demand)"
                    .into(),
            );
            return None;
        }
        many => {
            problems.push(format!(
                "a schedule has one of `cron`, `every` or `at`, found {}",
                many.join(" and ")
            ));
            return None;
        }
    };
    let scoped: [(&str, bool, &[&str]); 7] = [
        ("dialect", sc.dialect.is_some(), &["cron"]),
        ("timezone", sc.timezone.is_some(), &["cron"]),
        ("dst_gap", sc.dst_gap.is_some(), &["cron"]),
        ("dst_fold", sc.dst_fold.is_some(), &["cron"]),
        ("start", sc.start.is_some(), &["every"]),
        ("end", sc.end.is_some(), &["every"]),
        ("repeat", sc.repeat.is_some(), &["every"]),
    ];
    for (key, present, allowed) in scoped {
        if present && !allowed.contains(&kind) {
            problems.push(format!(
                "`{key}` applies to a `{}` schedule, and this one is `{kind}`",
                allowed.join("` or `")
            ));
        }
    }
    let instant_of = |v: &Option<String>, key: &str, problems: &mut Vec<String>| {
        v.as_deref().and_then(|t| {
            instant(t, key)
                .map_err(|e| problems.push(format!("{}: {}", e.error, e.hint)))
                .ok()
        })
    };
    let spec = match kind {
        "cron" => {
            let dialect = match sc.dialect.as_deref().map(str::parse::<Dialect>) {
                None => Some(Dialect::Quartz),
                Some(Ok(d)) => Some(d),
                Some(Err(e)) => {
                    problems.push(e);
                    None
                }
            };
            let tz = match sc.timezone.as_deref() {
                None => Some(default_tz),
                Some(name) => name
                    .parse::<Tz>()
                    .map_err(|_| {
                        let hint = crate::config::nearest(
                            name,
                            chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()),
                        )
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_default();
                        problems.push(format!(
                            "unknown time zone `{name}`: expected an IANA name such as \"Europe/Berlin\"{hint}"
                        ));
                    })
                    .ok(),
            };
            let gap = sc
                .dst_gap
                .as_deref()
                .and_then(|g| g.parse::<GapPolicy>().map_err(|e| problems.push(e)).ok());
            let fold = sc
                .dst_fold
                .as_deref()
                .and_then(|f| f.parse::<FoldPolicy>().map_err(|e| problems.push(e)).ok());
            let src = sc.cron.as_deref().unwrap_or_default();
            let expr = dialect.and_then(|d| {
                CronExpr::parse(src, d)
                    .map_err(|e| problems.push(format!("invalid cron expression \"{src}\": {e}")))
                    .ok()
            });
            ScheduleSpec::Cron {
                expr: expr?,
                tz: tz?,
                dst: DstOptions { gap, fold },
            }
        }
        "every" => {
            let every = sc
                .every
                .as_deref()
                .and_then(|e| duration(e, "every", problems));
            if every.is_some_and(|e| e.is_zero()) {
                problems.push("`every` must be longer than zero".into());
            }
            let every = every.and_then(|e| chrono::Duration::from_std(e).ok());
            let start = instant_of(&sc.start, "start", problems);
            let end = instant_of(&sc.end, "end", problems);
            if let (Some(s), Some(e)) = (start, end)
                && e < s
            {
                problems.push("`end` is before `start`".into());
            }
            ScheduleSpec::Interval {
                every: every?,
                start,
                end,
                repeat: sc.repeat,
            }
        }
        _ => ScheduleSpec::Once {
            at: instant_of(&sc.at, "at", problems)?,
        },
    };
    let trigger_kind = spec.kind();
    let misfire = match &sc.misfire {
        None => MisfirePolicy::Smart,
        Some(v) => match misfire_policy(v) {
            Ok(p) if p.applies_to(trigger_kind) => p,
            Ok(p) => {
                problems.push(format!(
                    "misfire policy `{}` does not apply to a {} trigger: expected one of {}",
                    p.as_str(),
                    trigger_kind.as_str(),
                    MisfirePolicy::names_for(trigger_kind).join(", ")
                ));
                MisfirePolicy::Smart
            }
            Err(e) => {
                problems.push(e);
                MisfirePolicy::Smart
            }
        },
    };
    let misfire_threshold = sc
        .misfire_threshold
        .as_deref()
        .and_then(|t| duration(t, "misfire_threshold", problems))
        .and_then(|d| chrono::Duration::from_std(d).ok());
    for name in &sc.calendars {
        if !known_calendars.contains(name) {
            let hint = crate::config::nearest(name, known_calendars.iter().map(String::as_str))
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            problems.push(format!(
                "unknown calendar `{name}`: create it first with PUT /calendars/{name}{hint}"
            ));
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(TriggerDef {
        spec,
        misfire,
        misfire_threshold,
        calendars: sc.calendars.clone(),
        priority: None,
        data: None,
    })
}

/// `"do_nothing"` or `{"catch_up": 10}`.
fn misfire_policy(v: &Value) -> Result<MisfirePolicy, String> {
    match v {
        Value::String(s) if s == "catch_up" => {
            Err(r#"`catch_up` takes a cap: "misfire": {"catch_up": 10}"#.to_string())
        }
        Value::String(s) => s.parse(),
        Value::Object(m) => match (m.len(), m.get("catch_up").and_then(Value::as_u64)) {
            (1, Some(n)) if (1..=10_000).contains(&n) => Ok(MisfirePolicy::CatchUp(n as u32)),
            _ => Err(r#"expected "misfire": {"catch_up": N} with N from 1 to 10000"#.to_string()),
        },
        _ => Err(r#"`misfire` must be a policy name or {"catch_up": N}"#.to_string()),
    }
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
        Some(text) => Some(FireStatus::parse(text).ok_or_else(|| {
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

async fn fire_by_id(s: &AppState, fire: &str) -> Result<entity::fires::Model> {
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
