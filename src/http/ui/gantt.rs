//! The Gantt chart of the timeline page, as inline SVG: one lane per job
//! (or per node), a bar per fire from its start to its finish coloured by
//! its status *and* marked with the status's symbol, a whisker from the
//! scheduled instant to the start (the lateness), and the future fires as
//! ticks (a diamond where DST moved or doubled one). Every bar and tick
//! carries data attributes (`data-fire`, `data-status`, `data-at`) and a
//! `<title>`; colours come from the stylesheet's classes.

use chrono::{DateTime, Duration as TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

use super::format::{self, status_symbol};
use super::svg::Tick;
use crate::clock::from_ms;
use crate::model::{Fire, FireStatus};

/// One lane: a job's or a node's fires, and (for a job) its next ones.
#[derive(Debug, Clone)]
pub struct GanttLane {
    /// What the lane is found by (`data-lane`): the job or node name.
    pub key: String,
    /// Where its label links to.
    pub href: String,
    pub paused: bool,
    pub fires: Vec<Fire>,
    pub ticks: Vec<Tick>,
}

/// The window drawn, and the instant "now" is marked at.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub tz: Tz,
}

impl Window {
    fn x(&self, at: DateTime<Utc>) -> f64 {
        let span = (self.until - self.from).num_milliseconds().max(1) as f64;
        let off = (at - self.from).num_milliseconds() as f64;
        LABEL + (WIDTH - LABEL - 10.0) * (off / span).clamp(0.0, 1.0)
    }

    fn x_ms(&self, ms: i64) -> f64 {
        self.x(from_ms(ms))
    }

    fn label(&self, ms: i64) -> String {
        format::instant(ms, self.tz)
    }
}

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 200.0;
const LANE_H: f64 = 24.0;
const AXIS_H: f64 = 24.0;

/// The axis marks: every hour for a window over 12 hours, every 15
/// minutes below, every 6 hours over 3 days; in the window's zone.
fn axis(w: &Window) -> Vec<DateTime<Utc>> {
    let hours = (w.until - w.from).num_minutes() / 60;
    let step = match hours {
        0..=12 => TimeDelta::minutes(60),
        13..=72 => TimeDelta::hours(3),
        _ => TimeDelta::hours(12),
    };
    let step = if hours <= 3 {
        TimeDelta::minutes(15)
    } else {
        step
    };
    let local = w.from.with_timezone(&w.tz);
    let mut t = w.from
        - TimeDelta::minutes(i64::from(local.minute()))
        - TimeDelta::seconds(i64::from(local.second()));
    let mut marks = Vec::new();
    while t <= w.until && marks.len() < 200 {
        if t >= w.from {
            marks.push(t);
        }
        t += step;
    }
    marks
}

/// The chart of `lanes` over the window.
pub fn gantt(lanes: &[GanttLane], w: &Window, by: &str) -> Markup {
    let height = AXIS_H + LANE_H * lanes.len() as f64 + 4.0;
    let now_x = w.x(w.now);
    let now_in = w.now >= w.from && w.now <= w.until;
    html! {
        svg class="gantt" viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
            aria-label={ "Fires from " (w.label(w.from.timestamp_millis())) " to "
                (w.label(w.until.timestamp_millis())) ", one lane per " (by) } {
            @for at in axis(w) {
                @let x = w.x(at);
                line class="grid" x1=(x) x2=(x) y1=(AXIS_H - 6.0) y2=(height) {}
                text class="axis" x=(x) y="14" text-anchor="middle" {
                    (at.with_timezone(&w.tz).format("%H:%M"))
                }
            }
            @for (i, lane) in lanes.iter().enumerate() {
                @let y = AXIS_H + LANE_H * i as f64;
                (lane_markup(lane, y, w))
            }
            @if now_in {
                line class="now" x1=(now_x) x2=(now_x) y1=(AXIS_H - 10.0) y2=(height) {
                    title { "now: " (w.label(w.now.timestamp_millis())) }
                }
            }
        }
    }
}

fn lane_markup(lane: &GanttLane, y: f64, w: &Window) -> Markup {
    let cy = y + LANE_H / 2.0;
    html! {
        g class={ "lane" @if lane.paused { " paused" } } data-lane=(lane.key) {
            line class="lane-line" x1=(LABEL) x2=(WIDTH - 10.0) y1=(cy) y2=(cy) {}
            a href=(lane.href) {
                text class="lane-label" x="6" y=(y + 16.0) {
                    title { (lane.key) @if lane.paused { " (paused)" } }
                    (shorten(&lane.key)) @if lane.paused { " ⏸" }
                }
            }
            @for fire in &lane.fires { (bar(fire, cy, w)) }
            @for tick in &lane.ticks {
                @let x = w.x(tick.at);
                @let label = w.label(tick.at.timestamp_millis());
                @if let Some(note) = &tick.dst {
                    path class="tick dst" data-at=(tick.at.to_rfc3339())
                        d={ "M" (x) " " (cy - 7.0) " l6 7 l-6 7 l-6 -7 z" } {
                        title { "next fire " (label) " — DST: " (note) }
                    }
                } @else {
                    circle class="tick" data-at=(tick.at.to_rfc3339()) cx=(x) cy=(cy) r="4" {
                        title { "next fire " (label) }
                    }
                }
            }
        }
    }
}

/// A fire: the whisker from its scheduled instant to its start, the bar
/// from start to finish (to now while it runs), and its symbol; a fire
/// that never started is its symbol at the scheduled instant.
fn bar(f: &Fire, cy: f64, w: &Window) -> Markup {
    let sched = w.x_ms(f.scheduled_at);
    let running = f.status == FireStatus::Running;
    let start = f.started_at.filter(|_| f.status != FireStatus::Queued);
    let end = f
        .finished_at
        .or_else(|| running.then(|| w.now.timestamp_millis()));
    let symbol = status_symbol(f.status);
    html! {
        g class={ "fire st-" (f.status.as_str()) } data-fire=(f.id) data-status=(f.status.as_str())
            data-at=(from_ms(f.scheduled_at).to_rfc3339()) {
            title { (tooltip(f, w)) }
            @if let Some(st) = start {
                @let x1 = w.x_ms(st);
                @let x2 = end.map_or(x1, |e| w.x_ms(e));
                @if x1 - sched > 0.5 {
                    line class="whisker" x1=(sched) x2=(x1) y1=(cy) y2=(cy) {}
                    line class="whisker" x1=(sched) x2=(sched) y1=(cy - 4.0) y2=(cy + 4.0) {}
                }
                rect class={ "bar" @if running { " open" } } x=(x1) y=(cy - 7.0)
                    width=((x2 - x1).max(2.0)) height="14" rx="2" {}
                text class="sym" x=(x1 + 1.0) y=(cy + 4.0) aria-hidden="true" { (symbol) }
            } @else {
                text class="sym lone" x=(sched) y=(cy + 4.0) text-anchor="middle" aria-hidden="true" {
                    (symbol)
                }
            }
        }
    }
}

fn tooltip(f: &Fire, w: &Window) -> String {
    let mut text = format!(
        "{} — {} {} · scheduled {}",
        f.job_name,
        status_symbol(f.status),
        f.status.as_str(),
        w.label(f.scheduled_at)
    );
    if let (Some(st), Some(late)) = (f.started_at, f.lateness_ms()) {
        text.push_str(&format!(
            " · started {} ({})",
            w.label(st),
            format::lateness(late)
        ));
    }
    if let Some(end) = f.finished_at {
        text.push_str(&format!(" · finished {}", w.label(end)));
        if let Some(st) = f.started_at {
            text.push_str(&format!(", ran {}", format::span(end - st)));
        }
    }
    if let Some(node) = &f.node_id {
        text.push_str(&format!(" · node {node}"));
    }
    if f.attempt > 1 {
        text.push_str(&format!(" · attempt {}", f.attempt));
    }
    text
}

fn shorten(name: &str) -> String {
    if name.chars().count() > 26 {
        let head: String = name.chars().take(25).collect();
        format!("{head}…")
    } else {
        name.to_string()
    }
}
