//! The per-job series of `/metrics`, read from the database at each scrape
//! (the jobs' health and their fires counted by status), so every node
//! shows the whole cluster's jobs. One series per job (and status): a job's
//! one-off triggers and fires are counted under the job, never one series
//! per fire or trigger.
//!
//! | metric | type |
//! |---|---|
//! | `cosched_job_last_success_timestamp_seconds{job}` | gauge (absent before the first success) |
//! | `cosched_job_last_failure_timestamp_seconds{job}` | gauge (absent before the first failure) |
//! | `cosched_job_next_fire_timestamp_seconds{job}` | gauge (absent when nothing waits) |
//! | `cosched_job_consecutive_failures{job}` | gauge |
//! | `cosched_job_unhealthy{job}` | gauge: 1 when `expect_success_within` is violated |
//! | `cosched_job_fires{job,status}` | gauge: the fires the history holds (retention prunes it) |
//! | `cosched_job_metrics_up` | gauge: 1 when this scrape could read the above |

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::model::{FireCount, JobHealth};

/// What one scrape read from the database.
#[derive(Debug, Clone, Default)]
pub struct JobSeries {
    pub health: Vec<JobHealth>,
    pub counts: Vec<FireCount>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobStatusLabels {
    job: String,
    status: &'static str,
}

type Seconds = Gauge<f64, AtomicU64>;

/// UTC milliseconds as fractional seconds since the epoch.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Registers the per-job families of `series` (only the `up` gauge, at 0,
/// when the database could not be read).
pub(super) fn register(registry: &mut Registry, series: Option<&JobSeries>) {
    let up = Gauge::<i64>::default();
    up.set(i64::from(series.is_some()));
    registry.register(
        "cosched_job_metrics_up",
        "Whether this scrape read the per-job series from the database",
        up,
    );
    let Some(series) = series else { return };

    let last_success = Family::<JobLabel, Seconds>::default();
    let last_failure = Family::<JobLabel, Seconds>::default();
    let next_fire = Family::<JobLabel, Seconds>::default();
    let failures = Family::<JobLabel, Gauge>::default();
    let unhealthy = Family::<JobLabel, Gauge>::default();
    for h in &series.health {
        let job = JobLabel { job: h.job.clone() };
        let stamps = [
            (&last_success, h.last_success_at),
            (&last_failure, h.last_failure_at),
            (&next_fire, h.next_fire_at),
        ];
        for (family, at) in stamps {
            if let Some(at) = at {
                family.get_or_create(&job).set(seconds(at));
            }
        }
        let n = i64::try_from(h.consecutive_failures).unwrap_or(i64::MAX);
        failures.get_or_create(&job).set(n);
        unhealthy.get_or_create(&job).set(i64::from(h.unhealthy));
    }
    let fires = Family::<JobStatusLabels, Gauge>::default();
    for c in &series.counts {
        let labels = JobStatusLabels {
            job: c.job.clone(),
            status: c.status.as_str(),
        };
        fires
            .get_or_create(&labels)
            .set(i64::try_from(c.count).unwrap_or(i64::MAX));
    }

    registry.register(
        "cosched_job_last_success_timestamp_seconds",
        "When the job's last successful fire finished",
        last_success,
    );
    registry.register(
        "cosched_job_last_failure_timestamp_seconds",
        "When the job's last failed, timed-out or abandoned fire finished",
        last_failure,
    );
    registry.register(
        "cosched_job_next_fire_timestamp_seconds",
        "The earliest next fire of the job's waiting triggers",
        next_fire,
    );
    registry.register(
        "cosched_job_consecutive_failures",
        "Failed, timed-out and abandoned attempts since the job's last success",
        failures,
    );
    registry.register(
        "cosched_job_unhealthy",
        "1 when the job has not succeeded within expect_success_within",
        unhealthy,
    );
    registry.register(
        "cosched_job_fires",
        "Fires of the job in the history, by status",
        fires,
    );
}
