//! `scale`: many cron jobs all due on the same second, every minute.
//!
//! The run creates `--jobs N` jobs of the `noop` kind in the bench's pool,
//! each with the Quartz cron trigger `0 * * * * ?`, and optionally
//! `--stored M` one-off triggers due in the year 2100 (stored, never due:
//! they show whether a large table slows the lease). Every cron trigger
//! is then set to the first minute boundary at least [`SETTLE`] away, the
//! nodes start, and from then on they advance the triggers as they fire. For each of `--waves` minutes the bench waits for the wave's `N`
//! fires to finish (or for `--wave-budget` to pass), timing the lease's
//! row-selecting query ([`Store::bench_lease_probe`]) on every poll, so
//! each wave reports what a lease costs while its triggers are due; it
//! then samples the nodes' memory, and between waves times the same
//! query every [`PROBE_EVERY`]. Everything about a wave is read back from
//! the `fires` table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cpu::Memory;
use super::fleet::Fleet;
use super::meter::{Meter, Sample};
use super::report::{Lateness, millis, percentile};
use super::{BenchError, BenchPlan};
use crate::clock::Clock;
use crate::model::Job;
use crate::store::Store;

/// The cron expression of every scale job: second 0 of every minute.
pub const EVERY_MINUTE: &str = "0 * * * * ?";

/// The first wave is at least this far away when the triggers are set:
/// time for the nodes to start.
const SETTLE: Duration = Duration::from_secs(10);

/// How often the lease probe runs between waves.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// How often a wave's finished fires are counted while it runs.
const WAVE_COUNT_EVERY: Duration = Duration::from_secs(1);

/// Stored triggers are due at 2100-01-01T00:00:00Z.
const FAR_AHEAD_MS: i64 = 4_102_444_800_000;

/// What a scale run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub jobs: u64,
    pub stored: u64,
    pub wave_budget_seconds: f64,
    pub waves: Vec<WaveReport>,
    /// The lease's row-selecting query between waves, in microseconds.
    pub lease_probe_us: Probe,
}

/// One minute's wave.
#[derive(Debug, Clone, Serialize)]
pub struct WaveReport {
    /// The scheduled instant (UTC ms).
    pub scheduled_at: i64,
    pub fires: u64,
    pub finished: u64,
    /// Jobs with no fire at this instant.
    pub lost: u64,
    /// From the instant to the wave's last finish.
    pub finished_within_seconds: Option<f64>,
    pub within_budget: bool,
    pub lateness_ms: Lateness,
    /// The largest node's memory when the wave was over.
    pub node_memory: Option<Memory>,
    /// The lease's row-selecting query while the wave was due, in
    /// microseconds (sampled about every 100 ms).
    pub lease_probe_us: Probe,
}

/// Percentiles of a probe's samples.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Probe {
    pub samples: usize,
    pub p50: i64,
    pub p99: i64,
    pub max: i64,
}

impl Probe {
    /// The percentiles of `samples`.
    fn of(mut samples: Vec<i64>) -> Probe {
        samples.sort_unstable();
        Probe {
            samples: samples.len(),
            p50: percentile(&samples, 50.0),
            p99: percentile(&samples, 99.0),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// What a scale run needs.
pub struct Scale<'a> {
    pub plan: &'a BenchPlan,
    pub store: &'a Store,
    pub clock: &'a Arc<dyn Clock>,
    pub pool: &'a str,
}

impl Scale<'_> {
    /// Creates the population and sets its first wave, before the nodes
    /// start (so they find it due however they learn of changes); returns
    /// the first wave's instant.
    pub async fn populate(&self, stored_job: &Job) -> Result<i64, BenchError> {
        let now = self.clock.now_ms();
        let started = Instant::now();
        self.store
            .bench_insert_cron_jobs(self.pool, self.plan.jobs, EVERY_MINUTE, FAR_AHEAD_MS, now)
            .await?;
        if self.plan.stored > 0 {
            self.store
                .bench_insert_stored(stored_job, self.plan.stored, FAR_AHEAD_MS, now)
                .await?;
        }
        tracing::info!(
            jobs = self.plan.jobs,
            stored = self.plan.stored,
            took = ?started.elapsed(),
            "scale population inserted"
        );
        let first = next_minute(self.clock.now_ms() + millis(SETTLE) as i64);
        self.store
            .bench_set_next_fire(self.pool, EVERY_MINUTE, first)
            .await?;
        Ok(first)
    }

    /// Runs the waves; returns the report and the meter's samples around
    /// them.
    pub async fn waves(
        &self,
        first: i64,
        fleet: &Fleet,
        meter: &Meter,
    ) -> Result<(ScaleReport, Sample, Sample), BenchError> {
        let from = meter.sample(fleet);
        let mut memory = Vec::new();
        let mut probes = Vec::new();
        let mut wave_probes = Vec::new();
        let budget = millis(self.plan.wave_budget) as i64;
        for k in 0..self.plan.waves {
            let at = first + i64::from(k) * 60_000;
            self.sleep_until(at).await;
            let mut in_wave = Vec::new();
            // The count of finished fires reads the whole wave (64 ms at
            // 50,000 jobs, a fifth of the database's CPU per fire when it
            // ran with every probe): once a second is enough to know when
            // to stop, since the wave's figures come from the tables.
            let mut counted_at = None;
            while self.clock.now_ms() < at + budget {
                if counted_at.is_none_or(|t: tokio::time::Instant| t.elapsed() >= WAVE_COUNT_EVERY)
                {
                    counted_at = Some(tokio::time::Instant::now());
                    if self.store.bench_wave_finished(self.pool, at).await? >= self.plan.jobs {
                        break;
                    }
                }
                in_wave.push(self.probe_once().await?);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            wave_probes.push(Probe::of(in_wave));
            memory.push(fleet.memory());
            if k + 1 < self.plan.waves {
                self.probe_until(at + 58_000, &mut probes).await?;
            }
        }
        // The last wave may have run past its budget (it is reported so):
        // its stragglers are late, not lost. Wait up to a minute more for
        // every fire of it before counting, so that "lost" means lost.
        if self.plan.waves > 0 {
            let last = first + i64::from(self.plan.waves - 1) * 60_000;
            let drain_until = self.clock.now_ms() + 60_000;
            while self.clock.now_ms() < drain_until
                && self.store.bench_wave_finished(self.pool, last).await? < self.plan.jobs
            {
                tokio::time::sleep(WAVE_COUNT_EVERY).await;
            }
        }
        let to = meter.sample(fleet);
        let end = first + i64::from(self.plan.waves) * 60_000;
        let waves = self.store.bench_waves(self.pool, first, end).await?;
        let waves = waves
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                let within = w
                    .last_finished_at
                    .map(|l| (l - w.scheduled_at) as f64 / 1000.0);
                WaveReport {
                    scheduled_at: w.scheduled_at,
                    fires: w.fires,
                    finished: w.finished,
                    lost: self.plan.jobs.saturating_sub(w.fires),
                    finished_within_seconds: within,
                    within_budget: w.finished == self.plan.jobs
                        && within.is_some_and(|s| s <= self.plan.wave_budget.as_secs_f64()),
                    lateness_ms: Lateness::of(&w.lateness_ms),
                    node_memory: memory.get(i).copied().flatten(),
                    lease_probe_us: wave_probes.get(i).copied().unwrap_or_default(),
                }
            })
            .collect();
        let report = ScaleReport {
            jobs: self.plan.jobs,
            stored: self.plan.stored,
            wave_budget_seconds: self.plan.wave_budget.as_secs_f64(),
            waves,
            lease_probe_us: Probe::of(probes),
        };
        Ok((report, from, to))
    }

    async fn sleep_until(&self, at_ms: i64) {
        let wait = u64::try_from(at_ms - self.clock.now_ms()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }

    /// Times the lease probe every [`PROBE_EVERY`] until `until_ms`.
    async fn probe_until(&self, until_ms: i64, probes: &mut Vec<i64>) -> Result<(), BenchError> {
        while self.clock.now_ms() < until_ms {
            probes.push(self.probe_once().await?);
            tokio::time::sleep(PROBE_EVERY).await;
        }
        Ok(())
    }

    /// One timing of the lease's row-selecting query, in microseconds.
    async fn probe_once(&self) -> Result<i64, BenchError> {
        let took = self
            .store
            .bench_lease_probe(
                self.pool,
                self.clock.now_ms(),
                self.plan.max_concurrent as u64,
            )
            .await?;
        Ok(i64::try_from(took.as_micros()).unwrap_or(i64::MAX))
    }
}

/// The first whole minute (UTC ms) at or after `ms`.
fn next_minute(ms: i64) -> i64 {
    ms.div_euclid(60_000) * 60_000
        + if ms.rem_euclid(60_000) == 0 {
            0
        } else {
            60_000
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_wave_is_on_a_minute_boundary() {
        assert_eq!(next_minute(0), 0);
        assert_eq!(next_minute(1), 60_000);
        assert_eq!(next_minute(60_000), 60_000);
        assert_eq!(next_minute(119_999), 120_000);
    }
}
