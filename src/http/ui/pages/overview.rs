//! The overview (`/ui`): cluster state, the last hour in numbers, the
//! timeline of the next two hours, what is late now and why, and the last
//! 24 hours' problems.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Duration as TimeDelta;
use maud::{Markup, html};

use super::super::format::{self, status_badge, urlencode};
use super::super::late::{self, LateReason};
use super::super::svg::{self, Lane, Tick};
use super::super::{Section, actions, csrf, failure, forms, layout, respond, upcoming};
use crate::client::ClientError;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::model::{Job, NodeState, Trigger};

/// Lanes drawn at most (the earliest due first); the jobs page lists all.
const MAX_LANES: u64 = 200;
/// Ticks per lane at most.
const MAX_TICKS: usize = 2000;
/// Late triggers listed at most.
const MAX_LATE: u64 = 100;
/// Lateness samples for the percentiles at most.
const LATENESS_SAMPLES: u64 = 100_000;

/// `/ui?flash=`: the outcome of an action that came back here.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct OverviewParams {
    flash: Option<String>,
}

pub(crate) async fn overview(
    State(s): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Query(p): Query<OverviewParams>,
) -> Response {
    let operate = csrf::can_operate(&s.security, &caller);
    match render(&s, operate).await {
        Ok(body) => respond::html(
            &headers,
            StatusCode::OK,
            layout(
                "Overview",
                Section::Overview,
                &s.api.node_id,
                true,
                html! { (actions::banner(p.flash.as_deref())) (body) },
            ),
        ),
        Err(e) => failure(&headers, &s.api.node_id, e),
    }
}

async fn render(s: &AppState, operate: bool) -> Result<Markup, ClientError> {
    let client = &s.api.client;
    let tz = s.api.default_timezone;
    let now = s.api.clock.now();
    let hour_ago = now - TimeDelta::hours(1);
    let horizon = now + TimeDelta::hours(2);

    let standby = client.is_standby().await?;
    let nodes: Vec<_> = client.nodes().await?.into_iter().map(|n| n.node).collect();
    let live = nodes.iter().filter(|n| late::is_live(n, now)).count();
    let dead = nodes.iter().filter(|n| n.state == NodeState::Dead).count();
    let counts = client.fire_counts_since(hour_ago).await?;
    let mut lateness = client.lateness_since(hour_ago, LATENESS_SAMPLES).await?;
    let p50 = format::percentile(&mut lateness, 50);
    let p99 = format::percentile(&mut lateness, 99);

    let due = client.triggers_due_before(horizon, MAX_LANES).await?;
    let job_ids: Vec<i64> = due.iter().map(|t| t.job_id).collect();
    let jobs = client.jobs_by_id(&job_ids).await?;
    let calendars = client.compiled_calendars().await?;

    let lanes = timeline_lanes(&due, &jobs, &calendars, now, horizon);
    let dst_notes: Vec<(&str, &Tick)> = lanes
        .iter()
        .flat_map(|l| l.ticks.iter().map(move |t| (l.job.as_str(), t)))
        .filter(|(_, t)| t.dst.is_some())
        .collect();

    // Late now: due before now minus the grace, earliest first.
    let late_before = now - TimeDelta::milliseconds(late::LATE_AFTER_MS);
    let late: Vec<(&Trigger, Option<&Job>, LateReason)> = due
        .iter()
        .filter(|t| {
            t.next_fire_at
                .is_some_and(|n| n <= late_before.timestamp_millis())
        })
        .take(usize::try_from(MAX_LATE).unwrap_or(usize::MAX))
        .map(|t| {
            let job = jobs.get(&t.job_id);
            (t, job, late::explain(t, job, &nodes, standby, now))
        })
        .collect();

    let problems = client
        .fire_problems_since(now - TimeDelta::hours(24), 100)
        .await?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();

    Ok(html! {
        (cards_section(s, (standby, operate), (live, dead, nodes.len()), (p50, p99, lateness.len())))
        section aria-labelledby="last-hour" {
            h2 id="last-hour" { "Fires of the last hour" }
            @if counts.is_empty() {
                p class="empty" { "No fire was scheduled in the last hour." }
            } @else {
                ul class="counts" {
                    @for (status, n) in &counts {
                        li { (status_badge(*status)) " " strong { (n) } }
                    }
                    li { "total " strong { (total) } }
                }
            }
        }
        section aria-labelledby="timeline" {
            h2 id="timeline" { "Next 2 hours" }
            @if lanes.is_empty() {
                p class="empty" { "Nothing fires in the next two hours." }
            } @else {
                div class="scroll" { (svg::timeline(&lanes, now, horizon, tz)) }
                p class="legend" {
                    span class="key"{ "●" } " fire · "
                    span class="key"{ "◆" } " moved or doubled by DST · "
                    span class="key"{ "○" } " paused job (hollow)"
                }
                @if !dst_notes.is_empty() {
                    h3 { "DST notes" }
                    ul class="dst-notes" {
                        @for (job, tick) in &dst_notes {
                            li data-at=(tick.at.to_rfc3339()) {
                                "◆ " a href={ "/ui/jobs/" (urlencode(job)) } { (job) } " at "
                                (format::instant(tick.at.timestamp_millis(), tz)) ": "
                                (tick.dst.as_deref().unwrap_or_default())
                            }
                        }
                    }
                }
            }
        }
        (late_section(&late, tz, now))
        (problems_section(&problems, now))
    })
}

/// One lane per job of the due triggers, their fires in `now..horizon`
/// merged (excluded instants left out), by group then job.
fn timeline_lanes(
    due: &[Trigger],
    jobs: &HashMap<i64, Job>,
    calendars: &HashMap<String, std::sync::Arc<crate::schedule::calendar::Calendar>>,
    now: chrono::DateTime<chrono::Utc>,
    horizon: chrono::DateTime<chrono::Utc>,
) -> Vec<Lane> {
    // The timeline: one lane per job, its triggers' fires merged.
    let mut lanes: HashMap<i64, Lane> = HashMap::new();
    for t in due {
        let Some(job) = jobs.get(&t.job_id) else {
            continue;
        };
        let lane = lanes.entry(job.id).or_insert_with(|| Lane {
            job: job.name.clone(),
            group: job.group.clone(),
            paused: job.paused,
            ticks: Vec::new(),
        });
        lane.paused |= t.paused;
        for fire in upcoming::fires_of(t, calendars, now, horizon, MAX_TICKS) {
            if fire.excluded_by.is_none() {
                lane.ticks.push(Tick {
                    at: fire.at,
                    dst: fire.dst.map(|d| d.describe()),
                });
            }
        }
    }
    let mut lanes: Vec<Lane> = lanes
        .into_values()
        .filter(|l| !l.ticks.is_empty())
        .collect();
    for lane in &mut lanes {
        lane.ticks.sort_by_key(|t| t.at);
    }
    lanes.sort_by(|a, b| (&a.group, &a.job).cmp(&(&b.group, &b.job)));
    lanes
}

/// The due triggers not yet fired, each with its reason.
fn late_section(
    late: &[(&Trigger, Option<&Job>, LateReason)],
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    html! {
    section aria-labelledby="late" {
        h2 id="late" { "Late now" }
        @if late.is_empty() {
            p class="empty" { "No due fire is waiting." }
        } @else {
            table class="late" {
                thead { tr { th { "Job" } th { "Trigger" } th { "Due" } th { "Reason" } } }
                tbody {
                    @for (t, job, reason) in late {
                        tr data-reason=(reason.code()) {
                            td { @if let Some(j) = job {
                                a href={ "/ui/jobs/" (urlencode(&j.name)) } { (j.name) }
                            } @else { "job " (t.job_id) } }
                            td { "#" (t.id) }
                            td { @if let Some(n) = t.next_fire_at {
                                (format::instant(n, tz)) br;
                                span class="muted" { (format::relative(n, now)) }
                            } }
                            td class={ "reason r-" (reason.code()) } { (reason.to_string()) }
                        }
                    }
                }
            }
        }
    }
    }
}

/// The last day's failed, timed-out, abandoned and skipped fires.
fn problems_section(
    problems: &[crate::store::ProblemGroup],
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    html! {
    section aria-labelledby="problems" {
        h2 id="problems" { "Problems of the last 24 hours" }
        @if problems.is_empty() {
            p class="empty" { "No failed, timed-out, abandoned or skipped fire." }
        } @else {
            table {
                thead { tr { th { "Job" } th { "Status" } th { "Reason" } th { "Fires" } th { "Last" } } }
                tbody {
                    @for p in problems {
                        tr {
                            td { a href={ "/ui/jobs/" (urlencode(&p.job)) } { (p.job) } }
                            td { (status_badge(p.status)) }
                            td { @if p.reason.is_empty() { span class="muted" { "–" } } @else { (p.reason) } }
                            td class="num" {
                                a href={ "/ui/fires?job=" (urlencode(&p.job)) "&status=" (p.status.as_str()) } { (p.count) }
                            }
                            td { (format::relative(p.last_scheduled_at, now)) }
                        }
                    }
                }
            }
        }
    }
    }
}

/// Standby, nodes (live, dead, known), this node's slots, and the last
/// hour's lateness (p50, p99, starts).
fn cards_section(
    s: &AppState,
    (standby, operate): (bool, bool),
    nodes: (usize, usize, usize),
    lateness: (Option<i64>, Option<i64>, usize),
) -> Markup {
    html! {
    section class="cards" aria-label="Cluster" {
        div class="card" {
            h2 { "Standby" }
            @if standby {
                p class="big warn" { "⏸ on" } p { "no fire starts" }
            } @else {
                p class="big ok" { "▶ off" } p { "firing" }
            }
            @if operate { (forms::standby(standby, "/ui")) }
        }
        div class="card" {
            h2 { "Nodes" }
            p class="big" { (nodes.0) " live" }
            p { (nodes.1) " dead · " (nodes.2) " known" }
        }
        div class="card" {
            h2 { "This node" }
            p class="big" { (s.api.executor.running()) " running" }
            p { (s.api.executor.free_slots()) " free of " (s.api.max_concurrent) " slots" }
        }
        div class="card" {
            h2 { "Lateness, last hour" }
            p class="big" { "p50 " (lateness.0.map(format::lateness).unwrap_or_else(|| "–".into())) }
            p { "p99 " (lateness.1.map(format::lateness).unwrap_or_else(|| "–".into()))
                " · " (lateness.2) " starts" }
        }
    }
    }
}
