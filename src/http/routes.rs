//! The routes and their handlers. [`ROUTES`] is the one table the router
//! is built from, each route with the [`Access`] it requires.
//!
//! | route | does |
//! |---|---|
//! | `GET /healthz?strict=` | node id, whether the database answers, standby; 503 when the database file is lost; `strict=true`: also 503 naming the jobs whose `expect_success_within` is violated |
//! | `GET /metrics` | OpenMetrics text (see [`super::metrics`]) |
//! | `GET /openapi.json` | the OpenAPI 3.1 document ([`super::openapi`]) |
//! | `GET /jobs?limit=&cursor=` | the jobs by name, paged ([`job_json`]) |
//! | `GET /jobs/{name}` | one job with its ten most recent fires |
//! | `POST /jobs` | create an API job ([`JobDecl`]): 201 |
//! | `DELETE /jobs/{name}` | delete an API job with its history |
//! | `POST /jobs/{name}/trigger` | fire now: `{"data"?}`: 201 |
//! | `POST /jobs/{name}/schedule` | a one-off: `{"at" \| "in", "data"?}`: 201 |
//! | `POST /jobs/{name}/backfill` | missed fires in a past window: `{"from", "to", "max"?, "dry_run"?}`: 201 when it created some |
//! | `POST /jobs/{name}/pause`, `/resume` | pause or resume a job |
//! | `POST /triggers/{id}/pause`, `/resume` | one trigger |
//! | `POST /groups/{group}/pause`, `/resume` | every job of a group |
//! | `GET /standby`, `POST /standby` | `{"on": bool}` |
//! | `GET /fires?job=&status=&limit=&cursor=` | fires, newest first, paged ([`fire_json`]) |
//! | `GET /fires/{id}` | one fire |
//! | `POST /fires/{id}/cancel` | cancel a running or queued fire |
//! | `GET /nodes` | the nodes ([`node_json`]) |
//! | `GET /notifications?status=&limit=` | notifications of `[[notify]]` rules, newest first |
//! | `GET /calendars` | the calendars ([`calendar_json`]) |
//! | `PUT /calendars/{name}`, `DELETE /calendars/{name}` | create or replace, delete an API calendar |
//! | `POST /ui/jobs/{name}/trigger`, `/schedule`, `/pause`, `/resume`, `/ui/triggers/{id}/pause`, `/resume`, `/ui/groups/{group}/pause`, `/resume`, `/ui/fires/{id}/cancel`, `/ui/standby` | the dashboard's forms ([`super::ui::actions`]): 303 back to the page |
//! | `GET /ui`, `/ui/timeline`, `/ui/jobs`, `/ui/jobs/{name}`, `/ui/fires`, `/ui/cluster`, `/ui/calendars`, `/ui/assets/*` | the dashboard ([`super::ui`]) |
//!
//! Listings are paged: `limit` (1 to 1000, default 50) and an opaque
//! `cursor`. The body stays a JSON array; when more rows follow, the
//! `Link` header holds the next page's address (`rel="next"`) and
//! `X-Next-Cursor` its cursor.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use self::backfill::{BackfillBody, backfill};
use self::calendars::{calendars, delete_calendar, put_calendar};
use self::fires::{FiresQuery, cancel_fire, fire, fires};
use self::metrics::metrics;
use self::notifications::{NotificationsQuery, notifications};
use self::paging::{page_limit, paged};
use self::pause::{
    pause_group, pause_job, pause_trigger, resume_group, resume_job, resume_trigger,
};
use self::preview::{NextQuery, job_next};
use super::auth::{self, Access, Caller};
use super::openapi::{self, Answer, any_object, component, list_of, query_of, shapes};
use super::ui::{self, actions};
use super::{ApiError, AppState, JsonBody, PathParam, QueryParams};
use crate::client::views::{fire_json, job_json, node_json};
use crate::clock::from_ms;
use crate::declare::{JobDecl, ValidationError, hint, ranges};
use crate::model::Trigger;
use crate::store::FireFilter;

/// How long `/healthz` waits for the database.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

mod backfill;
mod calendars;
mod fires;
mod metrics;
mod notifications;
mod paging;
mod pause;
mod preview;
mod table;

use self::table::{ADMIN, OPERATE, READ, doc, form, page, route, with_body, with_query};
pub use self::table::{Route, Verb};

type Result<T, E = ApiError> = std::result::Result<T, E>;
type Json = axum::Json<Value>;

const CHANGED: Answer = Answer::Json(200, component::<shapes::Changed>);
const SCHEDULED: Answer = Answer::Json(201, component::<shapes::Scheduled>);
const STANDBY: Answer = Answer::Json(200, component::<shapes::Standby>);

/// Every route of the API with its access rule: the router and the
/// OpenAPI document are built from this table alone, so no route can
/// exist without a rule or without a description.
pub static ROUTES: &[Route] = &[
    route(
        Verb::Get,
        "/healthz",
        Access::Health,
        doc(
            "whether the node is up and its database answers",
            Answer::Json(200, component::<shapes::Health>),
        ),
        |m| on(m, healthz),
    ),
    route(
        Verb::Get,
        "/metrics",
        Access::Metrics,
        doc(
            "Prometheus metrics (OpenMetrics text): the node's counters and every job's series",
            Answer::Text(super::metrics::CONTENT_TYPE),
        ),
        |m| on(m, metrics),
    ),
    route(
        Verb::Get,
        "/openapi.json",
        READ,
        doc("this document", Answer::Json(200, any_object)),
        |m| on(m, openapi),
    ),
    route(
        Verb::Get,
        "/jobs",
        READ,
        with_query(
            doc(
                "the jobs by name, one page at a time",
                Answer::Paged(list_of::<shapes::Job>),
            ),
            query_of::<JobsQuery>,
        ),
        |m| on(m, jobs),
    ),
    route(
        Verb::Post,
        "/jobs",
        ADMIN,
        with_body(
            doc(
                "create a job (a `command` job also needs `[http] api_command_jobs`)",
                Answer::Json(201, component::<shapes::Job>),
            ),
            component::<JobDecl>,
        ),
        |m| on(m, create_job),
    ),
    route(
        Verb::Get,
        "/jobs/{name}",
        READ,
        doc(
            "one job with its ten most recent fires",
            Answer::Json(200, component::<shapes::JobDetail>),
        ),
        |m| on(m, job),
    ),
    route(
        Verb::Delete,
        "/jobs/{name}",
        ADMIN,
        doc("delete an API job with its history", CHANGED),
        |m| on(m, delete_job),
    ),
    route(
        Verb::Get,
        "/jobs/{name}/next",
        READ,
        with_query(
            doc(
                "the job's next fires as the node will record them: every trigger merged in order, calendars applied, also while paused",
                Answer::Json(200, component::<shapes::JobNext>),
            ),
            query_of::<NextQuery>,
        ),
        |m| on(m, job_next),
    ),
    route(
        Verb::Post,
        "/jobs/{name}/trigger",
        OPERATE,
        with_body(doc("fire a job now", SCHEDULED), component::<TriggerBody>),
        |m| on(m, trigger_job),
    ),
    route(
        Verb::Post,
        "/jobs/{name}/backfill",
        OPERATE,
        with_body(
            doc(
                "create the fires a job's triggers had in `[from, to)` that have no fire yet",
                Answer::Json(201, any_object),
            ),
            component::<BackfillBody>,
        ),
        |m| on(m, backfill),
    ),
    route(
        Verb::Post,
        "/jobs/{name}/schedule",
        OPERATE,
        with_body(
            doc(
                "schedule a one-off fire `at` an instant or `in` a delay",
                SCHEDULED,
            ),
            component::<ScheduleBody>,
        ),
        |m| on(m, schedule_job),
    ),
    route(
        Verb::Post,
        "/jobs/{name}/pause",
        OPERATE,
        doc("pause a job", CHANGED),
        |m| on(m, pause_job),
    ),
    route(
        Verb::Post,
        "/jobs/{name}/resume",
        OPERATE,
        doc("resume a job", CHANGED),
        |m| on(m, resume_job),
    ),
    route(
        Verb::Post,
        "/triggers/{id}/pause",
        OPERATE,
        doc("pause one trigger", CHANGED),
        |m| on(m, pause_trigger),
    ),
    route(
        Verb::Post,
        "/triggers/{id}/resume",
        OPERATE,
        doc("resume one trigger", CHANGED),
        |m| on(m, resume_trigger),
    ),
    route(
        Verb::Post,
        "/groups/{group}/pause",
        OPERATE,
        doc("pause every job of a group", CHANGED),
        |m| on(m, pause_group),
    ),
    route(
        Verb::Post,
        "/groups/{group}/resume",
        OPERATE,
        doc("resume every job of a group", CHANGED),
        |m| on(m, resume_group),
    ),
    route(
        Verb::Get,
        "/standby",
        READ,
        doc("whether the cluster is in standby", STANDBY),
        |m| on(m, standby),
    ),
    route(
        Verb::Post,
        "/standby",
        OPERATE,
        with_body(
            doc("enter or leave standby", STANDBY),
            component::<StandbyBody>,
        ),
        |m| on(m, set_standby),
    ),
    route(
        Verb::Get,
        "/fires",
        READ,
        with_query(
            doc(
                "fires, newest first, one page at a time",
                Answer::Paged(list_of::<shapes::Fire>),
            ),
            query_of::<FiresQuery>,
        ),
        |m| on(m, fires),
    ),
    route(
        Verb::Get,
        "/fires/{id}",
        READ,
        doc("one fire", Answer::Json(200, component::<shapes::Fire>)),
        |m| on(m, fire),
    ),
    route(
        Verb::Post,
        "/fires/{id}/cancel",
        OPERATE,
        doc("cancel a running or queued fire", CHANGED),
        |m| on(m, cancel_fire),
    ),
    route(
        Verb::Get,
        "/nodes",
        READ,
        doc(
            "the nodes of the cluster",
            Answer::Json(200, list_of::<shapes::Node>),
        ),
        |m| on(m, nodes),
    ),
    route(
        Verb::Get,
        "/notifications",
        READ,
        with_query(
            doc(
                "notifications of `[[notify]]` rules, newest first, with their delivery",
                Answer::Json(200, list_of::<shapes::Notification>),
            ),
            query_of::<NotificationsQuery>,
        ),
        |m| on(m, notifications),
    ),
    route(
        Verb::Get,
        "/calendars",
        READ,
        doc(
            "the calendars",
            Answer::Json(200, list_of::<shapes::Calendar>),
        ),
        |m| on(m, calendars),
    ),
    route(
        Verb::Put,
        "/calendars/{name}",
        ADMIN,
        with_body(
            doc(
                "create or replace an API calendar (`timezone`, `dates`, `annual`, \
                 `days_of_week`, `days_of_month`, `daily_range`)",
                Answer::Json(200, component::<shapes::Calendar>),
            ),
            any_object,
        ),
        |m| on(m, put_calendar),
    ),
    route(
        Verb::Delete,
        "/calendars/{name}",
        ADMIN,
        doc("delete an API calendar", CHANGED),
        |m| on(m, delete_calendar),
    ),
    // The dashboard (see `super::ui`): its pages and assets, then its forms.
    page("/ui", "the dashboard: overview", |m| on(m, ui::overview)),
    page("/ui/timeline", "the dashboard: timeline (Gantt)", |m| {
        on(m, ui::timeline)
    }),
    page("/ui/jobs", "the dashboard: jobs", |m| on(m, ui::jobs)),
    page("/ui/jobs/{name}", "the dashboard: one job", |m| {
        on(m, ui::job)
    }),
    page("/ui/fires", "the dashboard: fires", |m| on(m, ui::fires)),
    page("/ui/cluster", "the dashboard: cluster", |m| {
        on(m, ui::cluster)
    }),
    page("/ui/calendars", "the dashboard: calendars", |m| {
        on(m, ui::calendars)
    }),
    form(
        "/ui/jobs/{name}/trigger",
        "dashboard form: fire a job now",
        |m| on(m, actions::trigger_job),
    ),
    form(
        "/ui/jobs/{name}/schedule",
        "dashboard form: schedule a one-off fire (`at` or `in`)",
        |m| on(m, actions::schedule_job),
    ),
    form(
        "/ui/jobs/{name}/pause",
        "dashboard form: pause a job",
        |m| on(m, actions::pause_job),
    ),
    form(
        "/ui/jobs/{name}/resume",
        "dashboard form: resume a job",
        |m| on(m, actions::resume_job),
    ),
    form(
        "/ui/triggers/{id}/pause",
        "dashboard form: pause one trigger",
        |m| on(m, actions::pause_trigger),
    ),
    form(
        "/ui/triggers/{id}/resume",
        "dashboard form: resume one trigger",
        |m| on(m, actions::resume_trigger),
    ),
    form(
        "/ui/groups/{group}/pause",
        "dashboard form: pause every job of a group",
        |m| on(m, actions::pause_group),
    ),
    form(
        "/ui/groups/{group}/resume",
        "dashboard form: resume every job of a group",
        |m| on(m, actions::resume_group),
    ),
    form(
        "/ui/fires/{id}/cancel",
        "dashboard form: cancel a running or queued fire",
        |m| on(m, actions::cancel_fire),
    ),
    form(
        "/ui/standby",
        "dashboard form: enter or leave standby (`on`)",
        |m| on(m, actions::set_standby),
    ),
    route(
        Verb::Get,
        "/ui/assets/app.css",
        READ,
        doc("the dashboard's style sheet", Answer::Text("text/css")),
        |m| on(m, ui::css),
    ),
    route(
        Verb::Get,
        "/ui/assets/app.js",
        READ,
        doc("the dashboard's script", Answer::Text("text/javascript")),
        |m| on(m, ui::js),
    ),
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
    // A lost SQLite file still answers queries (on its unlinked inode):
    // the node's own check says the truth, and the answer is 503.
    if let Some(lost) = s.api.client.store().database_fault() {
        let body = json!({
            "status": "degraded", "node": s.api.node_id, "database": false,
            "standby": null, "error": lost,
        });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
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

async fn nodes(State(s): State<AppState>) -> Result<Json> {
    let nodes = s.api.client.nodes().await?;
    Ok(axum::Json(Value::Array(
        nodes.iter().map(node_json).collect(),
    )))
}

/// `POST /standby`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StandbyBody {
    /// true: no fire starts on any node.
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

/// `GET /jobs` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobsQuery {
    /// How many jobs a page holds: 1 to 1000, default 50.
    limit: Option<u64>,
    /// Where the page starts: the `X-Next-Cursor` of the previous page.
    cursor: Option<String>,
}

async fn jobs(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<JobsQuery>,
) -> Result<Response> {
    let limit = page_limit(q.limit)?;
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let page = s.api.client.jobs_page(cursor.as_deref(), limit).await?;
    Ok(paged(page, job_json, "/jobs", limit, &[]))
}

async fn openapi() -> Result<Json> {
    static DOCUMENT: std::sync::LazyLock<std::result::Result<Value, String>> =
        std::sync::LazyLock::new(|| {
            serde_json::to_value(openapi::document()).map_err(|e| e.to_string())
        });
    match &*DOCUMENT {
        Ok(doc) => Ok(axum::Json(doc.clone())),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the OpenAPI document could not be written: {e}"),
            "see the node's log",
        )),
    }
}

async fn job(State(s): State<AppState>, PathParam(name): PathParam) -> Result<Json> {
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

async fn delete_job(State(s): State<AppState>, PathParam(name): PathParam) -> Result<Json> {
    s.api.client.delete_job(&name).await?;
    Ok(axum::Json(json!({"job": name, "deleted": true})))
}

/// `POST /jobs/{name}/trigger` (the body may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriggerBody {
    /// Merged over the job's data for this fire.
    data: Option<Value>,
}

async fn trigger_job(
    State(s): State<AppState>,
    PathParam(name): PathParam,
    JsonBody(body): JsonBody<TriggerBody>,
) -> Result<(StatusCode, Json)> {
    let t = s.api.client.trigger_now(&name, body.data).await?;
    Ok(scheduled(&name, &t))
}

/// `POST /jobs/{name}/schedule`: exactly one of `at` and `in`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleBody {
    /// RFC 3339 with an offset, e.g. `2026-12-01T09:00:00Z`.
    at: Option<String>,
    /// A delay such as `10m` or `1h 30m`.
    #[serde(rename = "in")]
    in_: Option<String>,
    /// Merged over the job's data for this fire.
    data: Option<Value>,
}

async fn schedule_job(
    State(s): State<AppState>,
    PathParam(name): PathParam,
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
