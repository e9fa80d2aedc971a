//! `GET /metrics`: this node's counters and every job's series, in the
//! OpenMetrics text format, on `prometheus-client` registries.
//!
//! A collector task counts the node's [`SchedulerEvent`]s into typed
//! counters and a histogram that live as long as the node; the load gauges
//! (running fires, free slots) are read from the executor at each scrape,
//! and the per-job series ([`jobs`]) from the database. Counters start at
//! zero when the node starts, as Prometheus expects.
//!
//! | metric | type | from |
//! |---|---|---|
//! | `cosched_node_info{node,version}` | gauge | always 1 |
//! | `cosched_fires_started_total` | counter | `Fired` |
//! | `cosched_fires_finished_total{status}` | counter | `Completed`: succeeded, failed, timed_out, cancelled |
//! | `cosched_fires_skipped_total` | counter | `Skipped` |
//! | `cosched_recoveries_total` | counter | `Recovered`: dead nodes this node recovered |
//! | `cosched_recovered_fires_total{outcome}` | counter | `Recovered`: rerun, abandoned |
//! | `cosched_trigger_errors_total` | counter | `TriggerError` |
//! | `cosched_fire_lateness_seconds` | histogram | `Fired`: start minus scheduled instant |
//! | `cosched_running_fires`, `cosched_free_slots`, `cosched_max_concurrent` | gauge | the executor |
//! | `cosched_metrics_events_lost_total` | counter | events the collector fell behind on |
//! | `cosched_job_*{job}` | gauge | the database, see [`jobs`] |

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::events::SchedulerEvent;
use crate::model::FireStatus;

pub mod jobs;

pub use self::jobs::JobSeries;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

/// The outcomes of a recovered fire.
const OUTCOMES: [&str; 2] = ["rerun", "abandoned"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
    version: &'static str,
}

/// The node's metrics: counted by the collector, read by scrapes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    started: Counter,
    finished: Family<StatusLabel, Counter>,
    skipped: Counter,
    recoveries: Counter,
    recovered: Family<OutcomeLabel, Counter>,
    trigger_errors: Counter,
    events_lost: Counter,
    lateness: Histogram,
    running: Gauge,
    free_slots: Gauge,
    max_concurrent: Gauge,
}

/// The values read from the executor at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    pub running: usize,
    pub free_slots: usize,
    pub max_concurrent: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let buckets = LATENESS_BUCKETS_MS.iter().map(|&ms| ms as f64 / 1000.0);
        let m = Metrics {
            registry: Registry::default(),
            started: Counter::default(),
            finished: Family::default(),
            skipped: Counter::default(),
            recoveries: Counter::default(),
            recovered: Family::default(),
            trigger_errors: Counter::default(),
            events_lost: Counter::default(),
            lateness: Histogram::new(buckets),
            running: Gauge::default(),
            free_slots: Gauge::default(),
            max_concurrent: Gauge::default(),
        };
        // Every label value is shown from the start, at zero.
        for status in FINISHED {
            let _ = m.finished.get_or_create(&StatusLabel {
                status: status.as_str(),
            });
        }
        for outcome in OUTCOMES {
            let _ = m.recovered.get_or_create(&OutcomeLabel { outcome });
        }
        m.registered()
    }

    /// The same metrics, registered under their exposed names (counters
    /// gain `_total` when rendered).
    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "cosched_fires_started",
            "Fires this node started",
            self.started.clone(),
        );
        r.register(
            "cosched_fires_finished",
            "Fires this node finished, by status",
            self.finished.clone(),
        );
        r.register(
            "cosched_fires_skipped",
            "Fires recorded as skipped (misfire or overlap policy)",
            self.skipped.clone(),
        );
        r.register(
            "cosched_recoveries",
            "Dead nodes whose fires this node recovered",
            self.recoveries.clone(),
        );
        r.register(
            "cosched_recovered_fires",
            "Fires of dead nodes recovered by this node, by outcome",
            self.recovered.clone(),
        );
        r.register(
            "cosched_trigger_errors",
            "Triggers put in the error state",
            self.trigger_errors.clone(),
        );
        r.register(
            "cosched_running_fires",
            "Fires running on this node",
            self.running.clone(),
        );
        r.register(
            "cosched_free_slots",
            "Fires this node could start now",
            self.free_slots.clone(),
        );
        r.register(
            "cosched_max_concurrent",
            "This node's max_concurrent",
            self.max_concurrent.clone(),
        );
        r.register(
            "cosched_fire_lateness_seconds",
            "How late fires started after their scheduled instant",
            self.lateness.clone(),
        );
        r.register(
            "cosched_metrics_events_lost",
            "Events the metrics collector fell behind on (not counted above)",
            self.events_lost.clone(),
        );
        self
    }

    /// Counts one event; `now_ms` is when it was seen (for lateness).
    pub fn record(&self, event: &SchedulerEvent, now_ms: i64) {
        match event {
            SchedulerEvent::Fired {
                scheduled_at_ms, ..
            } => {
                self.started.inc();
                self.observe_lateness(now_ms.saturating_sub(*scheduled_at_ms));
            }
            SchedulerEvent::Completed { status, .. } => {
                if FINISHED.contains(status) {
                    self.finished
                        .get_or_create(&StatusLabel {
                            status: status.as_str(),
                        })
                        .inc();
                }
            }
            SchedulerEvent::Skipped { .. } => {
                self.skipped.inc();
            }
            SchedulerEvent::Recovered {
                rerun, abandoned, ..
            } => {
                self.recoveries.inc();
                for (outcome, n) in OUTCOMES.into_iter().zip([*rerun, *abandoned]) {
                    self.recovered
                        .get_or_create(&OutcomeLabel { outcome })
                        .inc_by(n as u64);
                }
            }
            SchedulerEvent::TriggerError { .. } => {
                self.trigger_errors.inc();
            }
            SchedulerEvent::Leased { .. } | SchedulerEvent::CheckedIn => {}
        }
    }

    /// Counts events the collector missed (it fell behind the channel).
    pub fn lost(&self, n: u64) {
        self.events_lost.inc_by(n);
    }

    fn observe_lateness(&self, ms: i64) {
        // Early starts (clock skew) count as on time.
        let ms = u64::try_from(ms).unwrap_or(0);
        self.lateness.observe(ms as f64 / 1000.0);
    }

    /// The OpenMetrics text of every metric: the node's, then the jobs'
    /// (`None` when the database could not be read for this scrape).
    pub fn render(&self, node_id: &str, gauges: Gauges, jobs: Option<&JobSeries>) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.running.set(gauge(gauges.running));
        self.free_slots.set(gauge(gauges.free_slots));
        self.max_concurrent.set(gauge(gauges.max_concurrent));

        let mut scrape = Registry::default();
        let info = Family::<NodeLabels, Gauge>::default();
        info.get_or_create(&NodeLabels {
            node: node_id.to_string(),
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        scrape.register("cosched_node_info", "This node (always 1)", info);
        jobs::register(&mut scrape, jobs);

        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &scrape);
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_eof(&mut out);
        out
    }
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

    fn value(text: &str, prefix: &str) -> f64 {
        let l = line(text, prefix);
        l.rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no value in {l}"))
    }

    #[test]
    fn counts_events_and_renders_openmetrics_text() {
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
        let gauges = Gauges {
            running: 3,
            free_slots: 13,
            max_concurrent: 16,
        };
        let text = m.render("node \"a\"", gauges, None);
        assert_eq!(
            line(&text, "cosched_node_info{"),
            format!(
                "cosched_node_info{{node=\"node \\\"a\\\"\",version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )
        );
        let exact = [
            ("cosched_fires_started_total ", 4.0),
            ("cosched_fires_finished_total{status=\"timed_out\"}", 1.0),
            ("cosched_fires_finished_total{status=\"succeeded\"}", 0.0),
            ("cosched_recovered_fires_total{outcome=\"rerun\"}", 2.0),
            ("cosched_recovered_fires_total{outcome=\"abandoned\"}", 1.0),
            ("cosched_free_slots ", 13.0),
            ("cosched_running_fires ", 3.0),
            ("cosched_max_concurrent ", 16.0),
            ("cosched_fire_lateness_seconds_bucket{le=\"0.005\"}", 2.0),
            ("cosched_fire_lateness_seconds_bucket{le=\"2.5\"}", 3.0),
            ("cosched_fire_lateness_seconds_bucket{le=\"900.0\"}", 3.0),
            ("cosched_fire_lateness_seconds_bucket{le=\"+Inf\"}", 4.0),
            ("cosched_fire_lateness_seconds_count", 4.0),
            ("cosched_metrics_events_lost_total ", 7.0),
            ("cosched_job_metrics_up ", 0.0),
        ];
        for (prefix, want) in exact {
            assert_eq!(value(&text, prefix), want, "{prefix} in\n{text}");
        }
        let sum = value(&text, "cosched_fire_lateness_seconds_sum");
        assert!((sum - 10_002.503).abs() < 1e-6, "{sum}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            !text.contains("cosched_job_fires"),
            "no job series without the database"
        );
    }
}
