//! `GET /metrics`: this node's counters in the Prometheus text format
//! (version 0.0.4), written by hand.
//!
//! A collector task counts the node's [`SchedulerEvent`]s; the gauges
//! (running fires, free slots) are read from the executor at each scrape.
//! Counters start at zero when the node starts, as Prometheus expects.
//!
//! | metric | type | from |
//! |---|---|---|
//! | `cosched_fires_started_total` | counter | `Fired` |
//! | `cosched_fires_finished_total{status}` | counter | `Completed`: succeeded, failed, timed_out, cancelled |
//! | `cosched_fires_skipped_total` | counter | `Skipped` |
//! | `cosched_recoveries_total` | counter | `Recovered`: dead nodes this node recovered |
//! | `cosched_recovered_fires_total{outcome}` | counter | `Recovered`: rerun, abandoned |
//! | `cosched_trigger_errors_total` | counter | `TriggerError` |
//! | `cosched_fire_lateness_seconds` | histogram | `Fired`: start minus scheduled instant |
//! | `cosched_running_fires`, `cosched_free_slots`, `cosched_max_concurrent` | gauge | the executor |
//! | `cosched_metrics_events_lost_total` | counter | events the collector fell behind on |

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::events::SchedulerEvent;
use crate::model::FireStatus;

/// Upper bounds of the lateness histogram's buckets, in milliseconds.
pub const LATENESS_BUCKETS_MS: [u64; 15] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
];

/// The statuses a finished fire is counted under.
const FINISHED: [FireStatus; 4] = [
    FireStatus::Succeeded,
    FireStatus::Failed,
    FireStatus::TimedOut,
    FireStatus::Cancelled,
];

/// The counters, updated by the collector and read by scrapes.
#[derive(Debug, Default)]
pub struct Metrics {
    started: AtomicU64,
    finished: [AtomicU64; FINISHED.len()],
    skipped: AtomicU64,
    recoveries: AtomicU64,
    recovered_rerun: AtomicU64,
    recovered_abandoned: AtomicU64,
    trigger_errors: AtomicU64,
    events_lost: AtomicU64,
    /// Per bucket (not cumulative; summed when rendered), plus +Inf last.
    lateness: [AtomicU64; LATENESS_BUCKETS_MS.len() + 1],
    lateness_sum_ms: AtomicU64,
}

/// The values read from the executor at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    pub running: usize,
    pub free_slots: usize,
    pub max_concurrent: usize,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one event; `now_ms` is when it was seen (for lateness).
    pub fn record(&self, event: &SchedulerEvent, now_ms: i64) {
        let add = |c: &AtomicU64, n: u64| {
            c.fetch_add(n, Ordering::Relaxed);
        };
        match event {
            SchedulerEvent::Fired {
                scheduled_at_ms, ..
            } => {
                add(&self.started, 1);
                self.observe_lateness(now_ms.saturating_sub(*scheduled_at_ms));
            }
            SchedulerEvent::Completed { status, .. } => {
                if let Some(i) = FINISHED.iter().position(|s| s == status) {
                    add(&self.finished[i], 1);
                }
            }
            SchedulerEvent::Skipped { .. } => add(&self.skipped, 1),
            SchedulerEvent::Recovered {
                rerun, abandoned, ..
            } => {
                add(&self.recoveries, 1);
                add(&self.recovered_rerun, *rerun as u64);
                add(&self.recovered_abandoned, *abandoned as u64);
            }
            SchedulerEvent::TriggerError { .. } => add(&self.trigger_errors, 1),
            SchedulerEvent::Leased { .. } | SchedulerEvent::CheckedIn => {}
        }
    }

    /// Counts events the collector missed (it fell behind the channel).
    pub fn lost(&self, n: u64) {
        self.events_lost.fetch_add(n, Ordering::Relaxed);
    }

    fn observe_lateness(&self, ms: i64) {
        // Early starts (clock skew) count as on time.
        let ms = u64::try_from(ms).unwrap_or(0);
        let i = LATENESS_BUCKETS_MS
            .iter()
            .position(|&le| ms <= le)
            .unwrap_or(LATENESS_BUCKETS_MS.len());
        self.lateness[i].fetch_add(1, Ordering::Relaxed);
        self.lateness_sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, node_id: &str, gauges: Gauges) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::with_capacity(4096);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        let node = escape(node_id);

        head(
            &mut out,
            "cosched_node_info",
            "gauge",
            "This node (always 1).",
        );
        let _ = writeln!(
            out,
            "cosched_node_info{{node=\"{node}\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        head(
            &mut out,
            "cosched_fires_started_total",
            "counter",
            "Fires this node started.",
        );
        let _ = writeln!(out, "cosched_fires_started_total {}", get(&self.started));
        head(
            &mut out,
            "cosched_fires_finished_total",
            "counter",
            "Fires this node finished, by status.",
        );
        for (status, count) in FINISHED.iter().zip(&self.finished) {
            let _ = writeln!(
                out,
                "cosched_fires_finished_total{{status=\"{}\"}} {}",
                status.as_str(),
                get(count)
            );
        }
        head(
            &mut out,
            "cosched_fires_skipped_total",
            "counter",
            "Fires recorded as skipped (misfire or overlap policy).",
        );
        let _ = writeln!(out, "cosched_fires_skipped_total {}", get(&self.skipped));
        head(
            &mut out,
            "cosched_recoveries_total",
            "counter",
            "Dead nodes whose fires this node recovered.",
        );
        let _ = writeln!(out, "cosched_recoveries_total {}", get(&self.recoveries));
        head(
            &mut out,
            "cosched_recovered_fires_total",
            "counter",
            "Fires of dead nodes recovered by this node, by outcome.",
        );
        let _ = writeln!(
            out,
            "cosched_recovered_fires_total{{outcome=\"rerun\"}} {}\ncosched_recovered_fires_total{{outcome=\"abandoned\"}} {}",
            get(&self.recovered_rerun),
            get(&self.recovered_abandoned)
        );
        head(
            &mut out,
            "cosched_trigger_errors_total",
            "counter",
            "Triggers put in the error state.",
        );
        let _ = writeln!(
            out,
            "cosched_trigger_errors_total {}",
            get(&self.trigger_errors)
        );
        self.render_load(&mut out, gauges);
        out
    }

    /// The node's load (running fires, free slots), the lateness histogram
    /// and the collector's own losses.
    fn render_load(&self, out: &mut String, gauges: Gauges) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            out,
            "cosched_running_fires",
            "gauge",
            "Fires running on this node.",
        );
        let _ = writeln!(out, "cosched_running_fires {}", gauges.running);
        head(
            out,
            "cosched_free_slots",
            "gauge",
            "Fires this node could start now.",
        );
        let _ = writeln!(out, "cosched_free_slots {}", gauges.free_slots);
        head(
            out,
            "cosched_max_concurrent",
            "gauge",
            "This node's max_concurrent.",
        );
        let _ = writeln!(out, "cosched_max_concurrent {}", gauges.max_concurrent);
        head(
            out,
            "cosched_fire_lateness_seconds",
            "histogram",
            "How late fires started after their scheduled instant.",
        );
        let mut cumulative = 0;
        for (i, count) in self.lateness.iter().enumerate() {
            cumulative += get(count);
            let le = LATENESS_BUCKETS_MS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |ms| seconds(*ms));
            let _ = writeln!(
                out,
                "cosched_fire_lateness_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "cosched_fire_lateness_seconds_sum {}\ncosched_fire_lateness_seconds_count {cumulative}",
            seconds(get(&self.lateness_sum_ms))
        );
        head(
            out,
            "cosched_metrics_events_lost_total",
            "counter",
            "Events the metrics collector fell behind on (not counted above).",
        );
        let _ = writeln!(
            out,
            "cosched_metrics_events_lost_total {}",
            get(&self.events_lost)
        );
    }
}

/// Milliseconds as seconds, exactly (`2500` → `2.5`).
fn seconds(ms: u64) -> String {
    let (s, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        s.to_string()
    } else {
        format!("{s}.{frac:03}").trim_end_matches('0').to_string()
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts events until `stop` is cancelled.
pub async fn collect(
    metrics: Arc<Metrics>,
    mut rx: broadcast::Receiver<SchedulerEvent>,
    clock: Arc<dyn Clock>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            event = rx.recv() => match event {
                Ok(event) => metrics.record(&event, clock.now_ms()),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "metrics collector fell behind; events not counted");
                    metrics.lost(n);
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix} in\n{text}"))
    }

    #[test]
    fn counts_events_and_renders_the_text_format() {
        let m = Metrics::new();
        let fired = |at| SchedulerEvent::Fired {
            fire_id: 1,
            job: "j".into(),
            scheduled_at_ms: at,
        };
        m.record(&fired(1_000), 1_003); // 3 ms
        m.record(&fired(1_000), 3_500); // 2.5 s
        m.record(&fired(1_000), 999); // early: on time
        m.record(&fired(0), 10_000_000); // beyond the last bucket
        m.record(
            &SchedulerEvent::Completed {
                fire_id: 1,
                job: "j".into(),
                status: FireStatus::TimedOut,
                recorded: true,
            },
            0,
        );
        m.record(
            &SchedulerEvent::Recovered {
                node: "b".into(),
                rerun: 2,
                abandoned: 1,
            },
            0,
        );
        m.lost(7);
        let text = m.render(
            "node \"a\"",
            Gauges {
                running: 3,
                free_slots: 13,
                max_concurrent: 16,
            },
        );
        assert_eq!(
            line(&text, "cosched_node_info{"),
            format!(
                "cosched_node_info{{node=\"node \\\"a\\\"\",version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(
            line(&text, "cosched_fires_started_total "),
            "cosched_fires_started_total 4"
        );
        assert_eq!(
            line(&text, "cosched_fires_finished_total{status=\"timed_out\"}"),
            "cosched_fires_finished_total{status=\"timed_out\"} 1"
        );
        assert_eq!(
            line(&text, "cosched_fires_finished_total{status=\"succeeded\"}"),
            "cosched_fires_finished_total{status=\"succeeded\"} 0"
        );
        assert_eq!(
            line(&text, "cosched_recovered_fires_total{outcome=\"rerun\"}"),
            "cosched_recovered_fires_total{outcome=\"rerun\"} 2"
        );
        assert_eq!(line(&text, "cosched_free_slots "), "cosched_free_slots 13");
        assert_eq!(
            line(&text, "cosched_fire_lateness_seconds_bucket{le=\"0.005\"}"),
            "cosched_fire_lateness_seconds_bucket{le=\"0.005\"} 2"
        );
        assert_eq!(
            line(&text, "cosched_fire_lateness_seconds_bucket{le=\"2.5\"}"),
            "cosched_fire_lateness_seconds_bucket{le=\"2.5\"} 3"
        );
        assert_eq!(
            line(&text, "cosched_fire_lateness_seconds_bucket{le=\"900\"}"),
            "cosched_fire_lateness_seconds_bucket{le=\"900\"} 3"
        );
        assert_eq!(
            line(&text, "cosched_fire_lateness_seconds_bucket{le=\"+Inf\"}"),
            "cosched_fire_lateness_seconds_bucket{le=\"+Inf\"} 4"
        );
        assert_eq!(
            line(&text, "cosched_fire_lateness_seconds_sum"),
            "cosched_fire_lateness_seconds_sum 10002.503"
        );
        assert_eq!(
            line(&text, "cosched_fire_lateness_seconds_count"),
            "cosched_fire_lateness_seconds_count 4"
        );
        assert_eq!(
            line(&text, "cosched_metrics_events_lost_total "),
            "cosched_metrics_events_lost_total 7"
        );
        // Every sample belongs to a family announced by # TYPE.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap_or_default();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "no # TYPE for {name}"
            );
        }
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(5), "0.005");
        assert_eq!(seconds(250), "0.25");
        assert_eq!(seconds(1_000), "1");
        assert_eq!(seconds(2_500), "2.5");
        assert_eq!(seconds(0), "0");
    }
}
