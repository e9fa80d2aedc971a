//! Charts drawn as inline SVG: the timeline of the next fires, one lane
//! per job grouped by `group`. Colours come from classes styled by the
//! stylesheet (the page's policy allows no inline style); every tick
//! carries its instant in `data-at` and a `<title>` for screen readers and
//! tooltips, and a DST-moved tick is drawn as a diamond, not only coloured.

use chrono::{DateTime, Duration as TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

/// One tick of a lane.
#[derive(Debug, Clone)]
pub struct Tick {
    pub at: DateTime<Utc>,
    /// The DST note, when DST moved or doubled this fire.
    pub dst: Option<String>,
}

/// One job's lane.
#[derive(Debug, Clone)]
pub struct Lane {
    pub job: String,
    pub group: Option<String>,
    pub paused: bool,
    pub ticks: Vec<Tick>,
}

const WIDTH: f64 = 1000.0;
const LABEL: f64 = 190.0;
const LANE_H: f64 = 22.0;
const AXIS_H: f64 = 24.0;
/// Ticks closer than this (in px) are drawn as one band, not thousands of
/// marks (an every-second job), with the count in its title.
const DENSE_PX: f64 = 2.0;

fn x_of(at: DateTime<Utc>, from: DateTime<Utc>, until: DateTime<Utc>) -> f64 {
    let span = (until - from).num_milliseconds().max(1) as f64;
    let off = (at - from).num_milliseconds() as f64;
    LABEL + (WIDTH - LABEL - 10.0) * (off / span).clamp(0.0, 1.0)
}

/// The timeline of `lanes` (sorted by group, then job) over `[from, until]`.
pub fn timeline(lanes: &[Lane], from: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> Markup {
    let mut rows: Vec<(f64, Option<&str>, Option<&Lane>)> = Vec::new();
    let mut y = AXIS_H;
    let mut last_group: Option<Option<&str>> = None;
    for lane in lanes {
        let group = lane.group.as_deref();
        if last_group != Some(group) {
            rows.push((y, Some(group.unwrap_or("(no group)")), None));
            y += LANE_H;
            last_group = Some(group);
        }
        rows.push((y, None, Some(lane)));
        y += LANE_H;
    }
    let height = y + 4.0;
    let hours = (until - from).num_minutes() as f64 / 60.0;
    let step_min = if hours > 6.0 { 60 } else { 15 };
    let mut axis = Vec::new();
    let local = from.with_timezone(&tz);
    let rounded = local.minute() - local.minute() % step_min;
    let mut t = from
        - TimeDelta::minutes(i64::from(local.minute() - rounded))
        - TimeDelta::seconds(i64::from(local.second()));
    while t <= until {
        if t >= from {
            axis.push(t);
        }
        t += TimeDelta::minutes(i64::from(step_min));
    }
    html! {
        svg class="timeline" viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
            aria-label="Fires of the next hours, one lane per job" {
            @for at in &axis {
                @let x = x_of(*at, from, until);
                line class="grid" x1=(x) x2=(x) y1=(AXIS_H - 6.0) y2=(height) {}
                text class="axis" x=(x) y="14" text-anchor="middle" {
                    (at.with_timezone(&tz).format("%H:%M"))
                }
            }
            @for (y, heading, lane) in &rows {
                @if let Some(h) = heading {
                    text class="group" x="4" y=(y + 15.0) { (h) }
                }
                @if let Some(lane) = lane {
                    g class={ "lane" @if lane.paused { " paused" } } data-job=(lane.job) {
                        title { (lane.job) @if lane.paused { " (paused)" } }
                        line class="lane-line" x1=(LABEL) x2=(WIDTH - 10.0)
                            y1=(y + LANE_H / 2.0) y2=(y + LANE_H / 2.0) {}
                        text class="lane-label" x="14" y=(y + 15.0) {
                            (shorten(&lane.job)) @if lane.paused { " ⏸" }
                        }
                        (ticks(lane, *y, from, until, tz))
                    }
                }
            }
        }
    }
}

fn shorten(name: &str) -> String {
    if name.chars().count() > 24 {
        let head: String = name.chars().take(23).collect();
        format!("{head}…")
    } else {
        name.to_string()
    }
}

fn ticks(lane: &Lane, y: f64, from: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> Markup {
    let cy = y + LANE_H / 2.0;
    let dense = lane
        .ticks
        .windows(2)
        .any(|w| x_of(w[1].at, from, until) - x_of(w[0].at, from, until) < DENSE_PX)
        && lane.ticks.iter().all(|t| t.dst.is_none());
    html! {
        @if dense {
            @if let (Some(first), Some(last)) = (lane.ticks.first(), lane.ticks.last()) {
                @let x1 = x_of(first.at, from, until);
                @let x2 = x_of(last.at, from, until);
                rect class="band" x=(x1) y=(cy - 5.0) width=((x2 - x1).max(2.0)) height="10"
                    data-count=(lane.ticks.len()) {
                    title { (lane.ticks.len()) " fires from "
                        (first.at.with_timezone(&tz).format("%H:%M:%S")) " to "
                        (last.at.with_timezone(&tz).format("%H:%M:%S")) }
                }
            }
        } @else {
            @for tick in &lane.ticks {
                @let x = x_of(tick.at, from, until);
                @let label = tick.at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string();
                @if let Some(note) = &tick.dst {
                    path class="tick dst" data-at=(tick.at.to_rfc3339())
                        d={ "M" (x) " " (cy - 7.0) " l6 7 l-6 7 l-6 -7 z" } {
                        title { (label) " — DST: " (note) }
                    }
                } @else {
                    circle class="tick" data-at=(tick.at.to_rfc3339()) cx=(x) cy=(cy) r="4" {
                        title { (label) }
                    }
                }
            }
        }
    }
}
