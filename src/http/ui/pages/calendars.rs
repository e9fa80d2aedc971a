//! The calendars (`/ui/calendars`): each definition, and the fires it
//! suppresses in the next [`HORIZON_DAYS`] days: for every waiting or
//! paused trigger that names it, each instant of its schedule (the
//! schedule code's preview) that the calendar excludes; an instant two
//! calendars exclude is credited to the first the trigger names.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use maud::{Markup, html};

use super::super::format::{self, urlencode};
use super::super::{Section, failure, layout, respond, upcoming};
use crate::client::ClientError;
use crate::http::AppState;
use crate::model::{Calendar, Job};
use crate::schedule::calendar::CalendarDef;

/// How far ahead the suppressed fires are looked for.
pub const HORIZON_DAYS: i64 = 7;
/// Suppressed fires listed per calendar at most.
const MAX_LISTED: usize = 50;
/// Triggers naming a calendar read at most.
const MAX_TRIGGERS: u64 = 2000;
/// Previewed fires per trigger at most (an every-second trigger stops there).
const MAX_PREVIEW: usize = 5000;

/// One suppressed fire.
struct Suppressed {
    at: DateTime<Utc>,
    job: String,
    trigger: i64,
}

pub(crate) async fn calendars(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match render(&s).await {
        Ok(body) => respond::html(
            &headers,
            StatusCode::OK,
            layout("Calendars", Section::Calendars, &s.api.node_id, false, body),
        ),
        Err(e) => failure(&headers, &s.api.node_id, e),
    }
}

async fn render(s: &AppState) -> Result<Markup, ClientError> {
    let client = &s.api.client;
    let now = s.api.clock.now();
    let until = now + TimeDelta::days(HORIZON_DAYS);
    let mut defs = client.calendars().await?;
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    let compiled = client.compiled_calendars().await?;
    let triggers = client.triggers_with_calendars(MAX_TRIGGERS).await?;
    let ids: Vec<i64> = triggers.iter().map(|t| t.job_id).collect();
    let jobs: HashMap<i64, Job> = client.jobs_by_id(&ids).await?;
    let mut suppressed: BTreeMap<String, Vec<Suppressed>> = BTreeMap::new();
    let mut naming: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &triggers {
        for name in &t.calendars {
            *naming.entry(name.as_str()).or_default() += 1;
        }
        let job = jobs
            .get(&t.job_id)
            .map_or_else(|| format!("job {}", t.job_id), |j| j.name.clone());
        for (at, cal) in upcoming::suppressed_of(t, &compiled, now, until, MAX_PREVIEW) {
            suppressed.entry(cal).or_default().push(Suppressed {
                at,
                job: job.clone(),
                trigger: t.id,
            });
        }
    }
    for list in suppressed.values_mut() {
        list.sort_by(|a, b| (a.at, &a.job).cmp(&(b.at, &b.job)));
    }
    let tz = s.api.default_timezone;
    Ok(html! {
        @if defs.is_empty() {
            p class="empty" { "No calendar is defined." }
        }
        @for c in &defs {
            (calendar_section(c, compiled.contains_key(&c.name),
                naming.get(c.name.as_str()).copied().unwrap_or(0),
                suppressed.get(&c.name).map_or(&[][..], Vec::as_slice), now, tz))
        }
    })
}

fn calendar_section(
    c: &Calendar,
    compiles: bool,
    triggers: usize,
    suppressed: &[Suppressed],
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Markup {
    let anchor = format!("cal-{}", urlencode(&c.name));
    html! {
        section class="calendar" data-calendar=(c.name) aria-labelledby=(anchor) {
            h2 id=(anchor) { (c.name) " " span class="muted" { "(" (c.source.as_str()) ")" } }
            @if !compiles { p class="err" { "⚠ this definition does not compile: the triggers naming it are in error" } }
            (definition(&c.definition))
            p { (triggers) " trigger(s) name it." }
            h3 { "Fires it suppresses in the next " (HORIZON_DAYS) " days" }
            @if suppressed.is_empty() {
                p class="empty" { "None." }
            } @else {
                ol class="suppressed" {
                    @for f in suppressed.iter().take(MAX_LISTED) {
                        li data-at=(f.at.to_rfc3339()) {
                            s { (format::instant(f.at.timestamp_millis(), tz)) } " "
                            span class="muted" { (format::relative(f.at.timestamp_millis(), now)) } " · "
                            a href={ "/ui/jobs/" (urlencode(&f.job)) } { (f.job) }
                            " " span class="muted" { "trigger #" (f.trigger) }
                        }
                    }
                }
                @if suppressed.len() > MAX_LISTED {
                    p class="muted" { "and " (suppressed.len() - MAX_LISTED) " more" }
                }
            }
        }
    }
}

/// The definition's rules, those that are set.
fn definition(d: &CalendarDef) -> Markup {
    let list = |v: &[String]| v.join(", ");
    let days: Vec<String> = d.days_of_month.iter().map(u32::to_string).collect();
    let range = d
        .daily_range
        .as_ref()
        .and_then(|r| serde_json::to_string(r).ok());
    html! {
        dl class="facts" {
            dt { "Zone" } dd { (d.timezone.as_deref().unwrap_or("the node's default")) }
            @if !d.dates.is_empty() { dt { "Dates" } dd { (list(&d.dates)) } }
            @if !d.annual.is_empty() { dt { "Every year" } dd { (list(&d.annual)) } }
            @if !d.days_of_week.is_empty() { dt { "Days of week" } dd { (list(&d.days_of_week)) } }
            @if !days.is_empty() { dt { "Days of month" } dd { (days.join(", ")) } }
            @if let Some(r) = range { dt { "Daily range" } dd { code { (r) } } }
            @if !d.cron.is_empty() { dt { "Cron" } dd { (list(&d.cron)) } }
        }
    }
}
