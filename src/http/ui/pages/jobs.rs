//! The jobs (`/ui/jobs`): name, kind, schedule and zone, next fire, last
//! fire with a sparkline of the latest [`SPARK_FIRES`] (one statement for
//! the page), pool, group and source; paged by name, filtered by group,
//! pool, paused and the last fire's status.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::format::{self, status_badge, urlencode};
use super::super::{Section, error_page, failure, layout, respond, spark};
use crate::client::ClientError;
use crate::client::views::schedule_text;
use crate::http::AppState;
use crate::model::FireStatus;
use crate::store::JobPageQuery;

/// Jobs per page.
pub const PAGE: u64 = 50;
/// Fires in a job's sparkline.
pub const SPARK_FIRES: u32 = 60;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct JobsParams {
    after: Option<String>,
    group: Option<String>,
    pool: Option<String>,
    paused: Option<String>,
    status: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.is_empty()).cloned()
}

pub(crate) async fn jobs(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<JobsParams>,
) -> Response {
    let status = match non_empty(&p.status).map(|v| v.parse::<FireStatus>()) {
        None => None,
        Some(Ok(st)) => Some(st),
        Some(Err(e)) => {
            return error_page(
                &headers,
                &s.api.node_id,
                StatusCode::BAD_REQUEST,
                &e.to_string(),
                "pick a status from the list",
            );
        }
    };
    match render(&s, &p, status).await {
        Ok(body) => respond::html(
            &headers,
            StatusCode::OK,
            layout("Jobs", Section::Jobs, &s.api.node_id, true, body),
        ),
        Err(e) => failure(&headers, &s.api.node_id, e),
    }
}

async fn render(
    s: &AppState,
    p: &JobsParams,
    status: Option<FireStatus>,
) -> Result<Markup, ClientError> {
    let client = &s.api.client;
    let tz = s.api.default_timezone;
    let now = s.api.clock.now();
    let paused = match p.paused.as_deref() {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let query = JobPageQuery {
        after: non_empty(&p.after),
        limit: PAGE,
        group: non_empty(&p.group),
        pool: non_empty(&p.pool),
        paused,
        last_status: status,
    };
    let page = client.dashboard_jobs_page(&query).await?;
    let ids: Vec<i64> = page.jobs.iter().map(|j| j.job.id).collect();
    let last = client.last_fires(&ids).await?;
    let marks = client.recent_fire_marks(&ids, SPARK_FIRES).await?;
    let filters = format!(
        "group={}&pool={}&paused={}&status={}",
        urlencode(query.group.as_deref().unwrap_or_default()),
        urlencode(query.pool.as_deref().unwrap_or_default()),
        p.paused.as_deref().map(urlencode).unwrap_or_default(),
        status.map(FireStatus::as_str).unwrap_or_default()
    );
    Ok(html! {
        (filters_form(&query, paused, status))
        @if page.jobs.is_empty() {
            p class="empty" { "No job matches." }
        } @else {
            div class="scroll" {
                table class="jobs" {
                    thead { tr {
                        th { "Name" } th { "Kind" } th { "Schedule" } th { "Next fire" }
                        th { "Last fire" } th { "Latest " (SPARK_FIRES) } th { "Pool" } th { "Group" } th { "Source" }
                    } }
                    tbody {
                        @for row in &page.jobs {
                            @let job = &row.job;
                            tr class=[job.paused.then_some("paused")] {
                                td { a href={ "/ui/jobs/" (urlencode(&job.name)) } { (job.name) }
                                    @if job.paused { " " span class="badge paused" { "⏸ paused" } } }
                                td { (job.kind) }
                                td { @for t in &row.triggers { div { (schedule_text(t)) } } }
                                td { @if let Some(n) = row.next_fire_at {
                                    (format::instant(n, tz)) br;
                                    span class="muted" { (format::relative(n, now)) }
                                } @else { span class="muted" { "–" } } }
                                td { @if let Some(f) = last.get(&job.id) {
                                    (status_badge(f.status))
                                    @if let Some(late) = f.lateness_ms() {
                                        " " span class="muted" { (format::lateness(late)) }
                                    }
                                    br; span class="muted" { (format::relative(f.scheduled_at, now)) }
                                } @else { span class="muted" { "never" } } }
                                td { @if let Some(m) = marks.get(&job.id) { (spark::sparkline(m)) } }
                                td { (job.pool) }
                                td { (job.group.as_deref().unwrap_or("–")) }
                                td { (job.source.as_str()) }
                            }
                        }
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if query.after.is_some() {
                a href={ "/ui/jobs?" (filters) } { "⇤ first page" }
            }
            @if let Some(next) = &page.next {
                a rel="next" href={ "/ui/jobs?" (filters) "&after=" (urlencode(next)) } { "next page →" }
            }
        }
    })
}

/// The filters: group, pool, paused and the last fire's status.
fn filters_form(q: &JobPageQuery, paused: Option<bool>, status: Option<FireStatus>) -> Markup {
    html! {
        form class="filters" method="get" action="/ui/jobs" {
            label { "Group " input type="text" name="group" value=[q.group.as_deref()]; }
            label { "Pool " input type="text" name="pool" value=[q.pool.as_deref()]; }
            label { "Paused "
                select name="paused" {
                    option value="" selected[paused.is_none()] { "any" }
                    option value="yes" selected[paused == Some(true)] { "paused" }
                    option value="no" selected[paused == Some(false)] { "active" }
                }
            }
            label { "Last status "
                select name="status" {
                    option value="" selected[status.is_none()] { "any" }
                    @for st in FireStatus::ALL {
                        option value=(st.as_str()) selected[status == Some(st)] { (st.as_str()) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}
