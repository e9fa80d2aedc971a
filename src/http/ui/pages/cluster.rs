//! The cluster (`/ui/cluster`): each node's state, the age of its last
//! check-in against the threshold after which a peer declares it dead
//! (`dead_after_checkins` × its check-in interval), its clock's offset to
//! the database (flagged past [`OFFSET_WARN_MS`]), pools, running fires,
//! version and start.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::super::format::{self, urlencode};
use super::super::{Section, failure, layout, respond};
use crate::client::ClientError;
use crate::http::AppState;
use crate::model::{NodeState, NodeSummary};

/// A clock offset past this many ms is flagged: fires start that much
/// off their instant, and leases are judged that much off.
pub const OFFSET_WARN_MS: i64 = 250;

pub(crate) async fn cluster(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match render(&s).await {
        Ok(body) => respond::html(
            &headers,
            StatusCode::OK,
            layout("Cluster", Section::Cluster, &s.api.node_id, true, body),
        ),
        Err(e) => failure(&headers, &s.api.node_id, e),
    }
}

/// How a node's last check-in compares with its dead threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkin {
    OnTime,
    /// Past the threshold, not declared dead yet.
    Overdue,
    /// Declared dead, or stopped: no longer expected to check in.
    Gone,
}

impl Checkin {
    fn code(self) -> &'static str {
        match self {
            Checkin::OnTime => "on-time",
            Checkin::Overdue => "overdue",
            Checkin::Gone => "gone",
        }
    }
}

async fn render(s: &AppState) -> Result<Markup, ClientError> {
    let now = s.api.clock.now();
    let standby = s.api.client.is_standby().await?;
    let mut nodes = s.api.client.nodes().await?;
    nodes.sort_by(|a, b| a.node.id.cmp(&b.node.id));
    let dead_after = i64::from(s.api.dead_after_checkins.max(1));
    let active = nodes
        .iter()
        .filter(|n| n.node.state == NodeState::Active)
        .count();
    let running: i64 = nodes.iter().map(|n| n.running_fires).sum();
    Ok(html! {
        section class="cards" aria-label="Summary" {
            div class="card" { h2 { "Nodes" } p class="big" { (active) " active" }
                p { (nodes.len()) " known" } }
            div class="card" { h2 { "Running fires" } p class="big" { (running) } }
            div class="card" { h2 { "Standby" }
                @if standby { p class="big warn" { "⏸ on" } } @else { p class="big ok" { "▶ off" } } }
            div class="card" { h2 { "Dead after" } p class="big" { (dead_after) " check-ins" }
                p { "missed, per node's interval" } }
        }
        @if nodes.is_empty() {
            p class="empty" { "No node has checked in." }
        } @else {
            div class="scroll" {
                table class="nodes" {
                    thead { tr {
                        th { "Node" } th { "State" } th { "Last check-in" } th { "Clock offset" }
                        th { "Pools" } th { "Running" } th { "Version" } th { "Host" } th { "Started" }
                    } }
                    tbody { @for n in &nodes { (node_row(n, dead_after, now, s.api.default_timezone)) } }
                }
            }
        }
        p class="legend" {
            "A node is declared dead by a live peer once its last check-in is older than "
            (dead_after) " of its check-in intervals; a clock offset past ±" (OFFSET_WARN_MS)
            " ms is flagged ⚠ (fix the machine's time sync)."
        }
    })
}

fn node_row(n: &NodeSummary, dead_after: i64, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Markup {
    let node = &n.node;
    let age = now.timestamp_millis() - node.last_checkin_at;
    let threshold = node.checkin_interval_ms.saturating_mul(dead_after);
    let checkin = match node.state {
        NodeState::Active if age > threshold => Checkin::Overdue,
        NodeState::Active => Checkin::OnTime,
        NodeState::Dead | NodeState::Stopped => Checkin::Gone,
    };
    let offset_bad = node.clock_offset_ms.abs() > OFFSET_WARN_MS;
    html! {
        tr id={ "node-" (urlencode(&node.id)) } data-node=(node.id) data-state=(node.state.as_str())
            data-checkin=(checkin.code()) data-offset=[offset_bad.then_some("flagged")] {
            td { code { (node.id) } }
            td {
                @match node.state {
                    NodeState::Active => span class="badge st-succeeded" { "▶ active" },
                    NodeState::Stopped => span class="badge st-cancelled" { "■ stopped" },
                    NodeState::Dead => span class="badge st-failed" { "✗ dead" },
                }
                @if let (Some(by), Some(at)) = (&node.declared_dead_by, node.declared_dead_at) {
                    br; span class="muted" { "declared by " (by) " " (format::relative(at, now)) }
                }
            }
            td {
                (format::span(age)) " ago"
                @match checkin {
                    Checkin::Overdue => { br; span class="err" { "⚠ past the dead threshold of " (format::span(threshold)) } }
                    _ => { br; span class="muted" { "dead after " (format::span(threshold))
                        " (" (dead_after) " × " (format::span(node.checkin_interval_ms)) ")" } }
                }
            }
            td class={ "num" @if offset_bad { " err" } } {
                @if offset_bad { "⚠ " }
                (format::lateness(node.clock_offset_ms))
            }
            td { (node.pools.join(", ")) }
            td class="num" { (n.running_fires) }
            td { (node.version) }
            td { (node.host) " · pid " (node.pid) }
            td { (format::instant(node.started_at, tz)) br;
                span class="muted" { (format::relative(node.started_at, now)) } }
        }
    }
}
