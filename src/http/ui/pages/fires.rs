//! Fire history (`/ui/fires`): newest first, filtered by job and status,
//! paged by a cursor (scheduled instant and id). The table is shared with
//! the job page.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::format::{self, status_badge, urlencode};
use super::super::{Section, actions, csrf, error_page, failure, forms, layout, respond};
use crate::client::ClientError;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::model::{Fire, FireStatus};
use crate::store::{FireCursor, FirePage, FirePageQuery};

/// Fires per page.
pub const PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FiresParams {
    job: Option<String>,
    status: Option<String>,
    before: Option<String>,
    flash: Option<String>,
}

/// `SCHEDULED_MS.ID`, the cursor of a page.
pub(crate) fn cursor_text(c: FireCursor) -> String {
    format!("{}.{}", c.scheduled_at, c.id)
}

pub(crate) fn parse_cursor(text: &str) -> Option<FireCursor> {
    let (at, id) = text.split_once('.')?;
    Some(FireCursor {
        scheduled_at: at.parse().ok()?,
        id: id.parse().ok()?,
    })
}

pub(crate) async fn fires(
    State(s): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Query(p): Query<FiresParams>,
) -> Response {
    let node = s.api.node_id.as_str();
    let status = match p.status.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match v.parse::<FireStatus>() {
            Ok(st) => Some(st),
            Err(e) => {
                return error_page(
                    &headers,
                    node,
                    StatusCode::BAD_REQUEST,
                    &e.to_string(),
                    "pick a status from the list",
                );
            }
        },
    };
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
    let job = p.job.clone().filter(|j| !j.is_empty());
    let cancel = csrf::can_operate(&s.security, &caller).then_some("/ui/fires");
    match render(&s, job, status, before, cancel).await {
        Ok(body) => respond::html(
            &headers,
            StatusCode::OK,
            layout(
                "Fires",
                Section::Fires,
                node,
                true,
                html! { (actions::banner(p.flash.as_deref())) (body) },
            ),
        ),
        Err(e) => failure(&headers, node, e),
    }
}

async fn render(
    s: &AppState,
    job: Option<String>,
    status: Option<FireStatus>,
    before: Option<FireCursor>,
    cancel: Option<&str>,
) -> Result<Markup, ClientError> {
    let client = &s.api.client;
    let job_id = match &job {
        Some(name) => Some(client.job(name).await?.job.id),
        None => None,
    };
    let page = client
        .dashboard_fires_page(&FirePageQuery {
            job_id,
            status,
            before,
            limit: PAGE,
        })
        .await?;
    let base = format!(
        "/ui/fires?job={}&status={}",
        urlencode(job.as_deref().unwrap_or_default()),
        status.map(FireStatus::as_str).unwrap_or_default()
    );
    Ok(html! {
        form class="filters" method="get" action="/ui/fires" {
            label { "Job " input type="text" name="job" value=[job.as_deref()]; }
            label { "Status "
                select name="status" {
                    option value="" selected[status.is_none()] { "any" }
                    @for st in FireStatus::ALL {
                        option value=(st.as_str()) selected[status == Some(st)] { (st.as_str()) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        (fire_table(&page, s.api.default_timezone, true, cancel))
        (pager(&base, before.is_some(), &page))
    })
}

/// The links to the first and the next page of `base` (which has a `?`).
pub(crate) fn pager(base: &str, paged: bool, page: &FirePage) -> Markup {
    html! {
        nav class="pager" aria-label="Pages" {
            @if paged { a href=(base) { "⇤ newest" } }
            @if let Some(next) = page.next {
                a rel="next" href={ (base) "&before=" (cursor_text(next)) } { "older →" }
            }
        }
    }
}

/// A table of fires, with output and error expandable; with `cancel`
/// (the page to come back to), a cancel button on each running or queued
/// fire.
pub(crate) fn fire_table(page: &FirePage, tz: Tz, show_job: bool, cancel: Option<&str>) -> Markup {
    html! {
        @if page.fires.is_empty() {
            p class="empty" { "No fire matches." }
        } @else {
            div class="scroll" {
                table class="fires" {
                    thead { tr {
                        @if show_job { th { "Job" } }
                        th { "Scheduled" } th { "Started" } th { "Lateness" } th { "Duration" }
                        th { "Node" } th { "Attempt" } th { "Status" } th { "Reason, output, error" }
                        @if cancel.is_some() { th { "Action" } }
                    } }
                    tbody {
                        @for f in &page.fires { (fire_row(f, tz, show_job, cancel)) }
                    }
                }
            }
        }
    }
}

fn fire_row(f: &Fire, tz: Tz, show_job: bool, cancel: Option<&str>) -> Markup {
    let cancellable = matches!(f.status, FireStatus::Running | FireStatus::Queued);
    html! {
        tr data-fire=(f.id) {
            @if show_job { td { a href={ "/ui/jobs/" (urlencode(&f.job_name)) } { (f.job_name) } } }
            td { (format::instant(f.scheduled_at, tz)) }
            td { @if let Some(st) = f.started_at { (format::instant(st, tz)) } @else { span class="muted" { "–" } } }
            td class="num" { @if let Some(late) = f.lateness_ms() { (format::lateness(late)) } }
            td class="num" { @if let (Some(st), Some(end)) = (f.started_at, f.finished_at) { (format::span(end - st)) } }
            td { (f.node_id.as_deref().unwrap_or("–")) }
            td class="num" { (f.attempt) @if f.recovery { " (recovery)" } }
            td { (status_badge(f.status)) }
            td {
                @if let Some(r) = &f.reason { div { (r) } }
                @if let Some(out) = f.output.as_deref().filter(|o| !o.is_empty()) {
                    details { summary { "output" } pre { (out) } }
                }
                @if let Some(err) = f.error.as_deref().filter(|o| !o.is_empty()) {
                    details { summary { "error" } pre class="err" { (err) } }
                }
            }
            @if let Some(back) = cancel {
                td { @if cancellable {
                    (forms::button(&format!("/ui/fires/{}/cancel", f.id), back, "⊘ Cancel", "stop"))
                } }
            }
        }
    }
}
