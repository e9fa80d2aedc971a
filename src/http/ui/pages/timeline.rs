//! The timeline (`/ui/timeline`): a Gantt view of a window around an
//! instant (6 hours back and 6 ahead by default), the past fires as bars
//! and the future ones as ticks, one lane per job (50 jobs a page, by
//! name) or per node (`lanes=node`).
//!
//! Parameters: `at` (the window's centre, RFC 3339; default now, at most
//! [`MAX_SHIFT_DAYS`] days away), `span` (hours each side, 1 to
//! [`MAX_SPAN_HOURS`]), `lanes` (`job` or `node`), `after` (the page
//! cursor: the previous page's last lane), `group` and `pool` (jobs only).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::format::{self, urlencode};
use super::super::gantt::{GanttLane, Window, gantt};
use super::super::svg::Tick;
use super::super::{Section, error_page, failure, layout, respond, upcoming};
use crate::client::ClientError;
use crate::declare::ranges;
use crate::http::AppState;
use crate::model::Fire;
use crate::store::{FireWindowQuery, JobPageQuery};

/// Lanes per page.
pub const LANES: u64 = 50;
/// Hours each side of the centre at most (a week).
pub const MAX_SPAN_HOURS: i64 = 168;
/// How far from now the centre may move, in days.
pub const MAX_SHIFT_DAYS: i64 = 400;
/// Hours each side by default.
const DEFAULT_SPAN_HOURS: i64 = 6;
/// Fires read for one window at most.
const MAX_FIRES: u64 = 10_000;
/// Future ticks per trigger at most.
const MAX_TICKS: usize = 500;
/// The lane of fires that no node took (yet).
const NO_NODE: &str = "(no node)";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TimelineParams {
    at: Option<String>,
    span: Option<String>,
    lanes: Option<String>,
    after: Option<String>,
    group: Option<String>,
    pool: Option<String>,
}

/// The window and lanes asked for, checked.
#[derive(Debug, Clone)]
struct View {
    at: DateTime<Utc>,
    span: i64,
    by_node: bool,
    after: Option<String>,
    group: Option<String>,
    pool: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn view(p: &TimelineParams, now: DateTime<Utc>) -> Result<View, String> {
    let at = match given(&p.at) {
        None => now,
        Some(text) => ranges::instant(text, "at")?,
    };
    if (at - now).num_days().abs() > MAX_SHIFT_DAYS {
        return Err(format!(
            "`at` is more than {MAX_SHIFT_DAYS} days from now: the timeline looks near now"
        ));
    }
    let span = match given(&p.span) {
        None => DEFAULT_SPAN_HOURS,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|h| (1..=MAX_SPAN_HOURS).contains(h))
            .ok_or_else(|| {
                format!("`span` = {text}: expected whole hours from 1 to {MAX_SPAN_HOURS}")
            })?,
    };
    let by_node = match given(&p.lanes) {
        None | Some("job") => false,
        Some("node") => true,
        Some(other) => return Err(format!("`lanes` = {other}: expected `job` or `node`")),
    };
    Ok(View {
        at,
        span,
        by_node,
        after: given(&p.after).map(str::to_string),
        group: given(&p.group).map(str::to_string),
        pool: given(&p.pool).map(str::to_string),
    })
}

impl View {
    /// The address of this view with another centre, span, lanes or page.
    fn link(&self, at: DateTime<Utc>, span: i64, by_node: bool, after: Option<&str>) -> String {
        let mut url = format!(
            "/ui/timeline?at={}&span={span}&lanes={}",
            urlencode(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            if by_node { "node" } else { "job" }
        );
        for (key, value) in [("group", &self.group), ("pool", &self.pool)] {
            if let Some(v) = value.as_deref().filter(|_| !by_node) {
                url.push_str(&format!("&{key}={}", urlencode(v)));
            }
        }
        if let Some(a) = after {
            url.push_str(&format!("&after={}", urlencode(a)));
        }
        url
    }

    fn window(&self, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Window {
        Window {
            from: self.at - TimeDelta::hours(self.span),
            until: self.at + TimeDelta::hours(self.span),
            now,
            tz,
        }
    }
}

pub(crate) async fn timeline(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<TimelineParams>,
) -> Response {
    let node = s.api.node_id.as_str();
    let now = s.api.clock.now();
    let v = match view(&p, now) {
        Ok(v) => v,
        Err(e) => {
            return error_page(
                &headers,
                node,
                StatusCode::BAD_REQUEST,
                &e,
                "follow the timeline's links, or give `at` as RFC 3339 and `span` in hours",
            );
        }
    };
    match render(&s, &v, now).await {
        Ok(body) => respond::html(
            &headers,
            StatusCode::OK,
            layout("Timeline", Section::Timeline, node, false, body),
        ),
        Err(e) => failure(&headers, node, e),
    }
}

/// A page of lanes, the cursor of the next page, and whether the window
/// held more fires than were read.
struct Lanes {
    lanes: Vec<GanttLane>,
    next: Option<String>,
    truncated: bool,
}

async fn render(s: &AppState, v: &View, now: DateTime<Utc>) -> Result<Markup, ClientError> {
    let w = v.window(now, s.api.default_timezone);
    let lanes = if v.by_node {
        node_lanes(s, v, &w).await?
    } else {
        job_lanes(s, v, &w).await?
    };
    let by = if v.by_node { "node" } else { "job" };
    Ok(html! {
        (controls(v, &w))
        @if lanes.truncated {
            p class="warn" { "This window holds more than " (MAX_FIRES)
                " fires: only the earliest are drawn; zoom in to see the rest." }
        }
        @if lanes.lanes.is_empty() {
            p class="empty" { "No lane on this page." }
        } @else {
            div class="scroll" { (gantt(&lanes.lanes, &w, by)) }
            p class="legend" {
                span class="key st-succeeded" { "▬ ✓" } " succeeded · "
                span class="key st-failed" { "▬ ✗" } " failed · "
                span class="key st-timed_out" { "▬ ⧗" } " timed out · "
                span class="key st-running" { "▬ ▶" } " running · "
                span class="key st-skipped" { "↷" } " skipped · "
                span class="key" { "├─" } " whisker: scheduled → started · "
                span class="key" { "●" } " next fire · "
                span class="key" { "◆" } " moved or doubled by DST"
            }
        }
        nav class="pager" aria-label="Pages" {
            @if v.after.is_some() {
                a href=(v.link(v.at, v.span, v.by_node, None)) { "⇤ first lanes" }
            }
            @if let Some(next) = &lanes.next {
                a rel="next" href=(v.link(v.at, v.span, v.by_node, Some(next))) { "next lanes →" }
            }
        }
    })
}

/// Moving, zooming and switching the lanes; the filters of job lanes.
fn controls(v: &View, w: &Window) -> Markup {
    let tz = w.tz;
    let step = TimeDelta::hours(v.span);
    let after = v.after.as_deref();
    html! {
        p class="window" {
            (format::instant(w.from.timestamp_millis(), tz)) " → "
            (format::instant(w.until.timestamp_millis(), tz))
        }
        nav class="pager" aria-label="Window" {
            a href=(v.link(v.at - step, v.span, v.by_node, after)) { "← earlier" }
            a href=(v.link(w.now, v.span, v.by_node, after)) { "now" }
            a href=(v.link(v.at + step, v.span, v.by_node, after)) { "later →" }
            @if v.span > 1 {
                a href=(v.link(v.at, (v.span / 2).max(1), v.by_node, after)) { "zoom in" }
            }
            @if v.span < MAX_SPAN_HOURS {
                a href=(v.link(v.at, (v.span * 2).min(MAX_SPAN_HOURS), v.by_node, after)) { "zoom out" }
            }
            @if v.by_node {
                a href=(v.link(v.at, v.span, false, None)) { "lanes per job" }
            } @else {
                a href=(v.link(v.at, v.span, true, None)) { "lanes per node" }
            }
        }
        @if !v.by_node {
            form class="filters" method="get" action="/ui/timeline" {
                input type="hidden" name="at" value=(v.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                input type="hidden" name="span" value=(v.span);
                label { "Group " input type="text" name="group" value=[v.group.as_deref()]; }
                label { "Pool " input type="text" name="pool" value=[v.pool.as_deref()]; }
                button type="submit" { "Filter" }
            }
        }
    }
}

/// A page of jobs by name, each with its fires in the window and the
/// future fires of its triggers (calendars applied) up to its end.
async fn job_lanes(s: &AppState, v: &View, w: &Window) -> Result<Lanes, ClientError> {
    let client = &s.api.client;
    let page = client
        .dashboard_jobs_page(&JobPageQuery {
            after: v.after.clone(),
            limit: LANES,
            group: v.group.clone(),
            pool: v.pool.clone(),
            paused: None,
            last_status: None,
        })
        .await?;
    let ids: Vec<i64> = page.jobs.iter().map(|j| j.job.id).collect();
    let fires = window_fires(s, Some(ids), w).await?;
    let truncated = fires.len() as u64 >= MAX_FIRES;
    let mut by_job: BTreeMap<i64, Vec<Fire>> = BTreeMap::new();
    for f in fires {
        by_job.entry(f.job_id).or_default().push(f);
    }
    let calendars = client.compiled_calendars().await?;
    let ticks_from = w.from.max(w.now);
    let lanes =
        page.jobs
            .iter()
            .map(|row| {
                let mut ticks: Vec<Tick> = Vec::new();
                if w.until > w.now {
                    for t in &row.triggers {
                        let next =
                            upcoming::fires_of(t, &calendars, ticks_from, w.until, MAX_TICKS);
                        ticks.extend(next.into_iter().filter(|f| f.excluded_by.is_none()).map(
                            |f| Tick {
                                at: f.at,
                                dst: f.dst.map(|d| d.describe()),
                            },
                        ));
                    }
                }
                ticks.sort_by_key(|t| t.at);
                GanttLane {
                    key: row.job.name.clone(),
                    href: format!("/ui/jobs/{}", urlencode(&row.job.name)),
                    paused: row.job.paused,
                    fires: by_job.remove(&row.job.id).unwrap_or_default(),
                    ticks,
                }
            })
            .collect();
    Ok(Lanes {
        lanes,
        next: page.next,
        truncated,
    })
}

/// One lane per known node (and one for fires no node took), a page of
/// them by name; each with the fires it ran in the window.
async fn node_lanes(s: &AppState, v: &View, w: &Window) -> Result<Lanes, ClientError> {
    let client = &s.api.client;
    let fires = window_fires(s, None, w).await?;
    let truncated = fires.len() as u64 >= MAX_FIRES;
    let mut by_node: BTreeMap<String, Vec<Fire>> = BTreeMap::new();
    for n in client.nodes().await? {
        by_node.entry(n.node.id).or_default();
    }
    for f in fires {
        let key = f.node_id.clone().unwrap_or_else(|| NO_NODE.to_string());
        by_node.entry(key).or_default().push(f);
    }
    let mut rest = by_node
        .into_iter()
        .filter(|(key, _)| v.after.as_ref().is_none_or(|a| key > a));
    let page: Vec<(String, Vec<Fire>)> = rest
        .by_ref()
        .take(usize::try_from(LANES).unwrap_or(usize::MAX))
        .collect();
    let next = rest.next().and(page.last().map(|(key, _)| key.clone()));
    let lanes = page
        .into_iter()
        .map(|(key, fires)| GanttLane {
            href: format!("/ui/cluster#node-{}", urlencode(&key)),
            key,
            paused: false,
            fires,
            ticks: Vec::new(),
        })
        .collect();
    Ok(Lanes {
        lanes,
        next,
        truncated,
    })
}

/// The fires of the window (drawn from as far back as one window width,
/// and every fire still running), for these jobs or all.
async fn window_fires(
    s: &AppState,
    job_ids: Option<Vec<i64>>,
    w: &Window,
) -> Result<Vec<Fire>, ClientError> {
    s.api
        .client
        .fires_in_window(&FireWindowQuery {
            job_ids,
            from: w.from.timestamp_millis(),
            until: w.until.timestamp_millis(),
            lookback: (w.until - w.from).num_milliseconds(),
            limit: MAX_FIRES,
        })
        .await
}
