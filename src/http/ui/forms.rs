//! The markup of the dashboard's action forms: each a small
//! `<form method="post">` with the page to come back to, no script (the
//! page's policy allows none inline, and none is needed). Pages draw them
//! only for a caller who may use them ([`super::csrf::can_operate`]).

use maud::{Markup, html};

use super::format::urlencode;

/// A one-button form posting to `action`.
pub fn button(action: &str, back: &str, label: &str, class: &str) -> Markup {
    html! {
        form class="action" method="post" action=(action) {
            input type="hidden" name="back" value=(back);
            button type="submit" class=(class) { (label) }
        }
    }
}

/// Standby on or off, as the opposite of its state.
pub fn standby(on_now: bool, back: &str) -> Markup {
    html! {
        form class="action" method="post" action="/ui/standby" {
            input type="hidden" name="back" value=(back);
            input type="hidden" name="on" value=(if on_now { "false" } else { "true" });
            button type="submit" class=(if on_now { "go" } else { "stop" }) {
                @if on_now { "▶ Leave standby" } @else { "⏸ Enter standby" }
            }
        }
    }
}

/// The actions of one job: fire now, pause or resume it (and its group),
/// and schedule a one-off at a local time or after a delay.
pub fn job_actions(name: &str, paused: bool, group: Option<&str>, tz: chrono_tz::Tz) -> Markup {
    let base = format!("/ui/jobs/{}", urlencode(name));
    html! {
        section class="actions" aria-labelledby="actions" {
            h2 id="actions" { "Actions" }
            div class="action-row" {
                (button(&format!("{base}/trigger"), &base, "▶ Fire now", "go"))
                @if paused {
                    (button(&format!("{base}/resume"), &base, "▶ Resume job", "go"))
                } @else {
                    (button(&format!("{base}/pause"), &base, "⏸ Pause job", "stop"))
                }
                @if let Some(g) = group {
                    @let gpath = format!("/ui/groups/{}", urlencode(g));
                    (button(&format!("{gpath}/pause"), &base, &format!("⏸ Pause group {g}"), "stop"))
                    (button(&format!("{gpath}/resume"), &base, &format!("▶ Resume group {g}"), "go"))
                }
            }
            form class="action filters" method="post" action={ (base) "/schedule" } {
                input type="hidden" name="back" value=(base);
                label { "One-off at (" (tz) ")" input type="datetime-local" name="at" step="1"; }
                label { "or in" input type="text" name="in" placeholder="10m" size="8"; }
                button type="submit" { "Schedule" }
            }
        }
    }
}
