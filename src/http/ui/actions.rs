//! The dashboard's actions: each a `<form method="post">` to a `/ui/...`
//! route of the route table (with the `operate` role, as its JSON twin)
//! that calls the same [`Client`](crate::Client) method the JSON API
//! calls, then answers `303 See Other` back to the page it came from with
//! a flash message (`?flash=CODE`: a code of [`Flash`], never free text).
//! A refusal (an unknown job, a finished fire, a bad instant) is the
//! API's error as a page. Every POST has passed [`super::csrf`] first.
//!
//! | route | does |
//! |---|---|
//! | `POST /ui/jobs/{name}/trigger` | fire now |
//! | `POST /ui/jobs/{name}/schedule` | a one-off: `at` (local time in the node's zone, or RFC 3339) or `in` (a delay) |
//! | `POST /ui/jobs/{name}/pause`, `/resume` | the job |
//! | `POST /ui/triggers/{id}/pause`, `/resume` | one trigger |
//! | `POST /ui/groups/{group}/pause`, `/resume` | every job of a group |
//! | `POST /ui/fires/{id}/cancel` | a running or queued fire |
//! | `POST /ui/standby` | `on=true` or `on=false` |

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::format::urlencode;
use super::{error_page, failure};
use crate::client::ClientError;
use crate::declare::ranges;
use crate::http::{ApiError, AppState};

/// What an action's form sends (each action reads what it needs).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActionForm {
    /// The page to go back to (a `/ui` path; anything else is ignored).
    back: Option<String>,
    /// A one-off's instant.
    at: Option<String>,
    /// A one-off's delay.
    #[serde(rename = "in")]
    in_: Option<String>,
    /// Standby: `true` or `false`.
    on: Option<String>,
}

macro_rules! flashes {
    ($($variant:ident = $code:literal => $text:literal,)+) => {
        /// The outcome an action reports on the page it returns to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Flash { $($variant,)+ }

        impl Flash {
            pub fn code(self) -> &'static str {
                match self { $(Flash::$variant => $code,)+ }
            }
            pub fn text(self) -> &'static str {
                match self { $(Flash::$variant => $text,)+ }
            }
            pub fn parse(code: &str) -> Option<Flash> {
                match code { $($code => Some(Flash::$variant),)+ _ => None }
            }
        }
    };
}

flashes! {
    Triggered = "triggered" => "Fired now: the fire is due at once.",
    Scheduled = "scheduled" => "One-off fire scheduled.",
    JobPaused = "job-paused" => "Job paused.",
    JobResumed = "job-resumed" => "Job resumed.",
    TriggerPaused = "trigger-paused" => "Trigger paused.",
    TriggerResumed = "trigger-resumed" => "Trigger resumed.",
    GroupPaused = "group-paused" => "Every job of the group paused.",
    GroupResumed = "group-resumed" => "Every job of the group resumed.",
    Cancelled = "cancelled" => "Fire cancelled.",
    StandbyOn = "standby-on" => "Standby on: no fire starts on any node.",
    StandbyOff = "standby-off" => "Standby off: fires start again.",
    Unchanged = "unchanged" => "Nothing to change: it was already so.",
}

/// The flash banner of a page, for a `flash` query value.
pub fn banner(code: Option<&str>) -> Markup {
    html! {
        @if let Some(f) = code.and_then(Flash::parse) {
            p class="flash" role="status" data-flash=(f.code()) { "✓ " (f.text()) }
        }
    }
}

/// `back` when it is a dashboard path, else `default`.
fn back_to(back: Option<&str>, default: String) -> String {
    match back {
        Some(b)
            if (b == "/ui" || b.starts_with("/ui/") || b.starts_with("/ui?"))
                && !b.contains(['\\', '\r', '\n'])
                && !b.contains("//") =>
        {
            b.to_string()
        }
        _ => default,
    }
}

/// 303 back to the page with the flash, or the refusal as a page.
fn finish(
    s: &AppState,
    headers: &HeaderMap,
    f: &ActionForm,
    default: String,
    outcome: Result<Flash, ApiError>,
) -> Response {
    match outcome {
        Ok(flash) => {
            let back = back_to(f.back.as_deref(), default);
            let sep = if back.contains('?') { '&' } else { '?' };
            let location = format!("{back}{sep}flash={}", flash.code());
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => error_page(headers, &s.api.node_id, e.status, &e.error, &e.hint),
    }
}

fn job_page(name: &str) -> String {
    format!("/ui/jobs/{}", urlencode(name))
}

fn changed(yes: bool, flash: Flash) -> Flash {
    if yes { flash } else { Flash::Unchanged }
}

fn id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            format!("`{text}` is not a {what} id"),
            "follow the dashboard's buttons",
        )
    })
}

pub(crate) async fn trigger_job(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let r = s.api.client.trigger_now(&name, None).await;
    let r = r.map(|_| Flash::Triggered).map_err(ApiError::from);
    finish(&s, &headers, &f, job_page(&name), r)
}

/// A one-off's instant: `YYYY-MM-DDTHH:MM[:SS]` in the node's zone (what
/// a `datetime-local` field sends), or RFC 3339 with an offset.
fn local_instant(text: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, ApiError> {
    let text = text.trim();
    let bad = |why: String| {
        ApiError::bad_request(
            why,
            format!("give a local time in {tz} such as 2026-12-01T09:00, or RFC 3339"),
        )
    };
    if let Ok(at) = ranges::instant(text, "at") {
        return Ok(at);
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| bad(format!("`at` = {text} is not a date and time")))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| bad(format!("`at` = {text} does not exist in {tz} (a DST gap)")))
}

fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

pub(crate) async fn schedule_job(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let client = &s.api.client;
    let r: Result<Flash, ApiError> = async {
        match (given(f.at.as_deref()), given(f.in_.as_deref())) {
            (Some(at), None) => {
                let at = local_instant(at, s.api.default_timezone)?;
                client.schedule_at(&name, at, None).await?;
            }
            (None, Some(delay)) => {
                let delay = ranges::duration(delay, "in", ranges::DELAY)
                    .map_err(|e| ApiError::bad_request(e, "give a delay such as 10m or 1h 30m"))?;
                client.schedule_in(&name, delay, None).await?;
            }
            _ => {
                return Err(ApiError::bad_request(
                    "give exactly one of `at` and `in`",
                    "fill either the time or the delay of the form",
                ));
            }
        }
        Ok(Flash::Scheduled)
    }
    .await;
    finish(&s, &headers, &f, job_page(&name), r)
}

pub(crate) async fn pause_job(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let r = s.api.client.pause(&name).await;
    let r = r
        .map(|c| changed(c, Flash::JobPaused))
        .map_err(ApiError::from);
    finish(&s, &headers, &f, job_page(&name), r)
}

pub(crate) async fn resume_job(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let r = s.api.client.resume(&name).await;
    let r = r
        .map(|c| changed(c, Flash::JobResumed))
        .map_err(ApiError::from);
    finish(&s, &headers, &f, job_page(&name), r)
}

async fn on_trigger(s: &AppState, text: &str, pause: bool) -> Result<Flash, ApiError> {
    let t = id(text, "trigger")?;
    let client = &s.api.client;
    Ok(if pause {
        changed(client.pause_trigger(t).await?, Flash::TriggerPaused)
    } else {
        changed(client.resume_trigger(t).await?, Flash::TriggerResumed)
    })
}

pub(crate) async fn pause_trigger(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(t): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let r = on_trigger(&s, &t, true).await;
    finish(&s, &headers, &f, "/ui/jobs".into(), r)
}

pub(crate) async fn resume_trigger(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(t): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let r = on_trigger(&s, &t, false).await;
    finish(&s, &headers, &f, "/ui/jobs".into(), r)
}

fn group_page(group: &str) -> String {
    format!("/ui/jobs?group={}", urlencode(group))
}

/// Pauses (`pause`) or resumes every job of `group`; the flash says
/// whether any job changed.
async fn on_group(s: &AppState, group: &str, pause: bool) -> Result<Flash, ApiError> {
    let client = &s.api.client;
    Ok(if pause {
        changed(
            !client.pause_group(group).await?.is_empty(),
            Flash::GroupPaused,
        )
    } else {
        changed(
            !client.resume_group(group).await?.is_empty(),
            Flash::GroupResumed,
        )
    })
}

pub(crate) async fn pause_group(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(group): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let r = on_group(&s, &group, true).await;
    finish(&s, &headers, &f, group_page(&group), r)
}

pub(crate) async fn resume_group(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(group): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let r = on_group(&s, &group, false).await;
    finish(&s, &headers, &f, group_page(&group), r)
}

pub(crate) async fn cancel_fire(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(fire): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let r: Result<Flash, ApiError> = async {
        let fire = id(&fire, "fire")?;
        if s.api.client.cancel_fire(fire).await? {
            return Ok(Flash::Cancelled);
        }
        Err(ApiError::conflict(
            format!("fire {fire} is not running or queued (or does not exist)"),
            "only a running or queued fire can be cancelled",
        ))
    }
    .await;
    finish(&s, &headers, &f, "/ui/fires".into(), r)
}

pub(crate) async fn set_standby(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ActionForm>,
) -> Response {
    let on = match f.on.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => {
            let e = ApiError::bad_request("`on` must be true or false", "use the standby button");
            return finish(&s, &headers, &f, "/ui".into(), Err(e));
        }
    };
    let r: Result<(), ClientError> = s.api.client.set_standby(on).await;
    if let Err(e) = r {
        return failure(&headers, &s.api.node_id, e);
    }
    let flash = if on {
        Flash::StandbyOn
    } else {
        Flash::StandbyOff
    };
    finish(&s, &headers, &f, "/ui".into(), Ok(flash))
}
