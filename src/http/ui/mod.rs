//! The web dashboard at `/ui`: server-rendered HTML (maud templates,
//! checked at compile time), charts as inline SVG drawn in Rust, one
//! stylesheet and one small script embedded in the binary.
//!
//! | route | page |
//! |---|---|
//! | `GET /ui` | overview: cluster state, the last hour, the timeline of the next 2 hours, late now, the last 24 hours' problems |
//! | `GET /ui/timeline?at=&span=&lanes=&after=&group=&pool=` | a Gantt view of a window: fires as bars, next fires as ticks, lanes per job or node, paged |
//! | `GET /ui/jobs?group=&pool=&paused=&status=&after=` | the jobs with a sparkline of their latest fires, paged by name |
//! | `GET /ui/jobs/{name}?before=` | one job: next 20 fires, triggers, a lateness histogram, its fires (paged), its actions |
//! | `GET /ui/fires?job=&status=&before=` | fire history, paged |
//! | `GET /ui/cluster` | the nodes: state, check-in age against the dead threshold, clock offset (flagged past 250 ms), pools, running fires, version, start |
//! | `GET /ui/calendars` | each calendar's definition and the fires it suppresses in the next 7 days |
//! | `GET /ui/assets/app.css`, `/ui/assets/app.js` | the embedded assets |
//!
//! Access follows the JSON API's rules exactly, since the routes are in
//! the same table ([`super::routes::ROUTES`]) with the `read` role: open
//! on a loopback listen without tokens; with tokens, each request needs
//! `Authorization: Bearer <token>`, which a browser does not send by
//! itself, so a dashboard behind tokens is reached through a reverse
//! proxy that adds the header (see the README's Dashboard section).
//!
//! The pages only read. What changes state is the [`actions`]: forms
//! (`POST /ui/...`, the `operate` role, as their JSON twins) drawn only
//! for a caller who may use them, each checked to come from the
//! dashboard's own origin ([`csrf`]) and answered with a redirect back.
//! Every response carries `Content-Security-Policy: default-src 'self'`
//! (the forms need no script) and an ETag ([`respond`]).
//!
//! Every list is paged (at most [`crate::store::MAX_PAGE`] rows) and every
//! query it runs is served by an index (see the store's dashboard reads).

pub mod actions;
mod assets;
pub mod csrf;
pub mod format;
pub mod forms;
pub mod gantt;
pub mod late;
mod pages;
pub mod respond;
pub mod spark;
pub mod svg;
mod upcoming;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{DOCTYPE, Markup, html};

use super::ApiError;
use crate::client::ClientError;

pub(crate) use assets::{css, js};
pub(crate) use pages::calendars::calendars;
pub(crate) use pages::cluster::cluster;
pub(crate) use pages::fires::fires;
pub(crate) use pages::job::job;
pub(crate) use pages::jobs::jobs;
pub(crate) use pages::overview::overview;
pub(crate) use pages::timeline::timeline;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Timeline,
    Jobs,
    Fires,
    Cluster,
    Calendars,
}

/// A page of the dashboard: `refresh` asks the script to reload its
/// `<main>` every few seconds while the tab is visible.
pub(crate) fn layout(
    title: &str,
    section: Section,
    node_id: &str,
    refresh: bool,
    body: Markup,
) -> Markup {
    let nav = [
        (Section::Overview, "/ui", "Overview"),
        (Section::Timeline, "/ui/timeline", "Timeline"),
        (Section::Jobs, "/ui/jobs", "Jobs"),
        (Section::Fires, "/ui/fires", "Fires"),
        (Section::Cluster, "/ui/cluster", "Cluster"),
        (Section::Calendars, "/ui/calendars", "Calendars"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cosched" }
                link rel="stylesheet" href="/ui/assets/app.css";
                script src="/ui/assets/app.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "cosched" }
                    nav aria-label="Dashboard" {
                        ul {
                            @for (s, href, label) in nav {
                                li {
                                    @if s == section {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    span class="node" { "node " code { (node_id) } }
                }
                main id="main" data-refresh=[refresh.then_some("5")] {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The page for a request that failed: the API's status and hint.
pub(crate) fn failure(headers: &HeaderMap, node_id: &str, e: ClientError) -> Response {
    let e = ApiError::from(e);
    error_page(headers, node_id, e.status, &e.error, &e.hint)
}

pub(crate) fn error_page(
    headers: &HeaderMap,
    node_id: &str,
    status: StatusCode,
    error: &str,
    hint: &str,
) -> Response {
    let body = html! {
        div class="error" role="alert" {
            p { strong { (status.as_u16()) } " " (error) }
            p class="hint" { (hint) }
        }
    };
    respond::html(
        headers,
        status,
        layout("Error", Section::Overview, node_id, false, body),
    )
}
