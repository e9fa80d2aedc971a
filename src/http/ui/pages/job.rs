//! One job (`/ui/jobs/{name}`): its settings, its next 20 fires (DST
//! marks, excluded instants struck through with the calendar's name), its
//! triggers, and its fires, paged.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Duration as TimeDelta;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::format::{self, urlencode};
use super::super::{
    Section, actions, csrf, error_page, failure, forms, layout, respond, spark, upcoming,
};
use super::fires::{PAGE, fire_table, pager, parse_cursor};
use crate::client::ClientError;
use crate::client::views::schedule_text;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::schedule::preview::PreviewFire;
use crate::store::{FireCursor, FirePageQuery};

/// Future fires shown.
const NEXT_FIRES: usize = 20;
/// Starts in the lateness histogram at most.
const HISTOGRAM_STARTS: u64 = 1000;
/// How far ahead the preview looks (a yearly schedule still shows).
const PREVIEW_YEARS: i64 = 5;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct JobParams {
    before: Option<String>,
    flash: Option<String>,
}

pub(crate) async fn job(
    State(s): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Path(name): Path<String>,
    Query(p): Query<JobParams>,
) -> Response {
    let operate = csrf::can_operate(&s.security, &caller);
    let node = s.api.node_id.as_str();
    let before = match p.before.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match parse_cursor(v) {
            Some(c) => Some(c),
            None => {
                return error_page(
                    &headers,
                    node,
                    StatusCode::BAD_REQUEST,
                    &format!("`{v}` is not a page cursor"),
                    "follow the page links",
                );
            }
        },
    };
    match render(&s, &name, before, operate).await {
        Ok(body) => respond::html(
            &headers,
            StatusCode::OK,
            layout(
                &name,
                Section::Jobs,
                node,
                false,
                html! { (actions::banner(p.flash.as_deref())) (body) },
            ),
        ),
        Err(e) => failure(&headers, node, e),
    }
}

async fn render(
    s: &AppState,
    name: &str,
    before: Option<FireCursor>,
    operate: bool,
) -> Result<Markup, ClientError> {
    let client = &s.api.client;
    let tz = s.api.default_timezone;
    let now = s.api.clock.now();
    let summary = client.job(name).await?;
    let job = &summary.job;
    let calendars = client.compiled_calendars().await?;
    let until = now + TimeDelta::days(366 * PREVIEW_YEARS);
    let mut next: Vec<(i64, PreviewFire)> = summary
        .triggers
        .iter()
        .flat_map(|t| {
            upcoming::fires_of(t, &calendars, now - TimeDelta::days(366), until, NEXT_FIRES)
                .into_iter()
                .map(move |f| (t.id, f))
        })
        .collect();
    next.sort_by_key(|(id, f)| (f.at, *id));
    next.truncate(NEXT_FIRES);
    let page = client
        .dashboard_fires_page(&FirePageQuery {
            job_id: Some(job.id),
            status: None,
            before,
            limit: PAGE,
        })
        .await?;
    let late = client.job_lateness(job.id, HISTOGRAM_STARTS).await?;
    let base = format!("/ui/jobs/{}?", urlencode(&job.name));
    let back = format!("/ui/jobs/{}", urlencode(&job.name));
    let cancel = operate.then_some(back.as_str());
    Ok(html! {
        @if operate { (forms::job_actions(&job.name, job.paused, job.group.as_deref(), tz)) }
        dl class="facts" {
            dt { "Kind" } dd { (job.kind) }
            dt { "Pool" } dd { (job.pool) }
            dt { "Group" } dd { (job.group.as_deref().unwrap_or("–")) }
            dt { "State" } dd { @if job.paused { span class="badge paused" { "⏸ paused" } } @else { "▶ active" } }
            dt { "Overlap" } dd { (job.overlap.as_str()) }
            dt { "Timeout" } dd { (job.timeout.map(|t| humantime::format_duration(t).to_string()).unwrap_or_else(|| "none".into())) }
            dt { "Retries" } dd { "up to " (job.retry.max_attempts) " attempts" }
            dt { "Source" } dd { (job.source.as_str()) }
        }
        section aria-labelledby="next" {
            h2 id="next" { "Next fires" }
            @if next.is_empty() {
                p class="empty" { "No future fire." }
            } @else {
                ol class="next-fires" {
                    @for (trigger, f) in &next {
                        @let when = format::instant(f.at.timestamp_millis(), tz);
                        li data-at=(f.at.to_rfc3339()) class=[f.excluded_by.is_some().then_some("excluded")] {
                            @if let Some(cal) = &f.excluded_by {
                                s { (when) } " excluded by calendar " strong { (cal) }
                            } @else {
                                (when) " " span class="muted" { (format::relative(f.at.timestamp_millis(), now)) }
                            }
                            " " span class="muted" { "trigger #" (trigger) }
                            @if let Some(d) = &f.dst { " " span class="dst-mark" { "◆ DST: " (d.describe()) } }
                        }
                    }
                }
            }
        }
        (triggers_section(&summary.triggers, tz, operate.then_some(back.as_str())))
        section aria-labelledby="lateness" {
            h2 id="lateness" { "Lateness of the latest " (late.len()) " starts" }
            @if late.is_empty() { p class="empty" { "No fire has started yet." } }
            @else { div class="scroll" { (spark::histogram(&late)) } }
        }
        section aria-labelledby="history" {
            h2 id="history" { "Fires" }
            (fire_table(&page, tz, false, cancel))
            (pager(&base, before.is_some(), &page))
        }
    })
}

/// Pause or resume one trigger, as the opposite of its state.
fn trigger_button(t: &crate::model::Trigger, back: &str) -> Markup {
    let path = format!("/ui/triggers/{}", t.id);
    if t.paused {
        forms::button(&format!("{path}/resume"), back, "▶ Resume", "go")
    } else {
        forms::button(&format!("{path}/pause"), back, "⏸ Pause", "stop")
    }
}

/// The job's triggers; with `back`, a pause or resume button on each.
fn triggers_section(
    triggers: &[crate::model::Trigger],
    tz: chrono_tz::Tz,
    back: Option<&str>,
) -> Markup {
    html! {
        section aria-labelledby="triggers" {
            h2 id="triggers" { "Triggers" }
            div class="scroll" {
                table {
                    thead { tr { th { "#" } th { "Schedule" } th { "State" } th { "Next" } th { "Previous" }
                        th { "Fired" } th { "Misfire" } th { "Calendars" } th { "Lease" }
                        @if back.is_some() { th { "Action" } } } }
                    tbody {
                        @for t in triggers {
                            tr {
                                td { (t.id) }
                                td { (schedule_text(t)) }
                                td { (t.state.as_str()) @if let Some(e) = &t.error { br; span class="err" { (e) } } }
                                td { @if let Some(n) = t.next_fire_at { (format::instant(n, tz)) } }
                                td { @if let Some(n) = t.previous_fire_at { (format::instant(n, tz)) } }
                                td class="num" { (t.times_fired) }
                                td { (t.misfire.to_string()) }
                                td { (t.calendars.join(", ")) }
                                td { @if let Some(o) = &t.lease_owner { (o) } }
                                @if let Some(back) = back { td { (trigger_button(t, back)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
