//! What a run measured, as `cosched bench` prints it (and `--json`), built
//! from the tables' tally and the driver's own observations.

use std::time::Duration;

use serde::Serialize;

use super::load::Run;
use super::meter::Cost;
use super::scale::ScaleReport;
use super::{BenchKind, BenchPlan, Feed, Mode};
use crate::store::bench::BenchTally;
use crate::store::{Store, redact};

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub database: String,
    pub backend: &'static str,
    pub mode: Mode,
    pub kind: BenchKind,
    /// The URL of an `http` bench job.
    pub url: Option<String>,
    pub nodes: usize,
    /// The nodes ran as `cosched serve` child processes (else in this one).
    pub processes: bool,
    /// How the one-offs reached the database.
    pub feed: Feed,
    pub max_concurrent: usize,
    /// The bench job (deleted after the run unless `--keep`).
    pub job: String,
    pub kept: bool,
    /// Triggers inserted.
    pub triggers: u64,
    /// Steady: the rate asked for, and the rate the producer achieved.
    pub rate: Option<f64>,
    pub producer_rate: Option<f64>,
    pub lead_ms: u64,
    /// Triggers inserted per second (burst: the bulk insert alone).
    pub insert_per_second: f64,
    /// First-attempt fire rows, and those finished, and succeeded.
    pub fires: u64,
    pub finished: u64,
    pub succeeded: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// From the first due instant to the last finish.
    pub elapsed_seconds: f64,
    pub fires_per_second: f64,
    pub lateness_ms: Lateness,
    pub per_node: Vec<NodeFires>,
    /// CPU per fire of the database and the nodes, and node memory.
    pub cost: Cost,
    /// The waves of a `scale` run.
    pub scale: Option<ScaleReport>,
}

/// `started_at − scheduled_at` over the run's fires, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Lateness {
    pub p50: i64,
    pub p99: i64,
    pub max: i64,
}

impl Lateness {
    /// Of ascending values.
    pub fn of(sorted: &[i64]) -> Lateness {
        Lateness {
            p50: percentile(sorted, 50.0),
            p99: percentile(sorted, 99.0),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeFires {
    pub node: Option<String>,
    pub fires: u64,
}

impl BenchReport {
    /// No fire lost, none recorded twice.
    pub fn exact(&self) -> bool {
        self.lost == 0 && self.duplicated == 0
    }
}

/// The report of a `burst` or `steady` run.
pub fn report(
    plan: &BenchPlan,
    store: &Store,
    job: String,
    run: Run,
    t: BenchTally,
    cost: Cost,
) -> BenchReport {
    let elapsed_ms = match (t.first_scheduled_at, t.last_finished_at) {
        (Some(first), Some(last)) => (last - first).max(1),
        _ => 0,
    };
    let elapsed_seconds = elapsed_ms as f64 / 1000.0;
    BenchReport {
        fires: t.fires,
        finished: t.finished,
        succeeded: t.succeeded,
        lost: t.lost,
        duplicated: t.duplicated,
        elapsed_seconds,
        fires_per_second: if elapsed_ms > 0 {
            t.fires as f64 / elapsed_seconds
        } else {
            0.0
        },
        lateness_ms: Lateness::of(&t.lateness_ms),
        per_node: t
            .per_node
            .into_iter()
            .map(|(node, fires)| NodeFires { node, fires })
            .collect(),
        triggers: run.triggers,
        producer_rate: run.producer_rate,
        lead_ms: millis(run.lead),
        insert_per_second: run.insert_per_second,
        cost,
        ..empty(plan, store, job)
    }
}

/// A report with the plan's values and nothing measured yet.
pub fn empty(plan: &BenchPlan, store: &Store, job: String) -> BenchReport {
    BenchReport {
        database: redact(&plan.database),
        backend: store.backend_name(),
        mode: plan.mode,
        kind: plan.kind,
        url: None,
        nodes: plan.nodes,
        processes: plan.serve_program.is_some(),
        feed: plan.feed,
        max_concurrent: plan.max_concurrent,
        job,
        kept: plan.keep,
        triggers: 0,
        rate: (plan.mode == Mode::Steady).then_some(plan.rate),
        producer_rate: None,
        lead_ms: 0,
        insert_per_second: 0.0,
        fires: 0,
        finished: 0,
        succeeded: 0,
        lost: 0,
        duplicated: 0,
        elapsed_seconds: 0.0,
        fires_per_second: 0.0,
        lateness_ms: Lateness::default(),
        per_node: Vec::new(),
        cost: Cost::default(),
        scale: None,
    }
}

/// The nearest-rank percentile of ascending values (0 when empty).
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn per_second(n: u64, over: Duration) -> f64 {
    n as f64 / over.as_secs_f64().max(1e-6)
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
