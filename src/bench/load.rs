//! The loads of `burst` and `steady` runs: how triggers reach the database
//! (plain SQL or the [`Client`]), and the wait for their fires.
//!
//! - `burst`: `N` one-off triggers all due at one instant a little in the
//!   future; the CPU meter starts once they are in, before they come due.
//! - `steady`: a producer inserts one-off triggers at rate `R` for a
//!   duration `D`, each due a fixed lead after it is inserted; the meter
//!   covers the producer too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fleet::Fleet;
use super::meter::{Meter, Sample};
use super::report::{millis, per_second};
use super::{BenchError, BenchPlan, Feed};
use crate::client::Client;
use crate::clock::Clock;
use crate::model::Job;
use crate::store::Store;

/// How long the finished count may stay still, after the last trigger
/// came due, before the bench stops waiting (and reports what is lost).
/// Longer than a lease, so a fire whose lease expired is retaken first.
const STALL_TIMEOUT: Duration = Duration::from_secs(45);

/// How often the bench counts finished fires while it waits. The count
/// is work for the database too, measured with the rest: at 250 ms it is
/// a small share of a burst's database CPU (at 50 ms it was a tenth).
const POLL: Duration = Duration::from_millis(250);

/// The steady producer's tick: it inserts what came due since the last.
const PRODUCER_TICK: Duration = Duration::from_millis(10);

/// One-offs the `Client` feed schedules at once (each is a transaction).
const CLIENT_CONCURRENCY: usize = 32;

/// What the driver saw, beside the tables.
pub struct Run {
    pub triggers: u64,
    pub lead: Duration,
    pub insert_per_second: f64,
    pub producer_rate: Option<f64>,
    /// The CPU meter at the start and the end of the measured window.
    pub from: Sample,
    pub to: Sample,
}

/// What a load needs.
pub struct Load<'a> {
    pub plan: &'a BenchPlan,
    pub store: &'a Store,
    pub client: &'a Client,
    pub job: &'a Job,
    pub clock: &'a Arc<dyn Clock>,
    pub meter: &'a Meter,
    pub fleet: &'a Fleet,
}

impl Load<'_> {
    /// Inserts one-offs of the job due at `due_ms`, through the plan's feed.
    async fn feed(&self, due_ms: &[i64]) -> Result<(), BenchError> {
        match self.plan.feed {
            Feed::Sql => {
                self.store
                    .bench_insert_once(self.job, due_ms, self.clock.now_ms())
                    .await?;
            }
            Feed::Client => {
                // CLIENT_CONCURRENCY producers, each scheduling its share
                // one call (one transaction) at a time.
                let share = due_ms.len().div_ceil(CLIENT_CONCURRENCY).max(1);
                let mut producers = tokio::task::JoinSet::new();
                for chunk in due_ms.chunks(share) {
                    let (client, name, chunk) =
                        (self.client.clone(), self.job.name.clone(), chunk.to_vec());
                    producers.spawn(async move {
                        for at in chunk {
                            let at =
                                chrono::DateTime::from_timestamp_millis(at).ok_or_else(|| {
                                    BenchError::Failed(format!("instant {at} ms is out of range"))
                                })?;
                            client.schedule_at(&name, at, None).await?;
                        }
                        Ok::<_, BenchError>(())
                    });
                }
                while let Some(done) = producers.join_next().await {
                    done.map_err(|e| BenchError::Failed(format!("a producer task failed: {e}")))??;
                }
            }
        }
        Ok(())
    }

    pub async fn burst(&self) -> Result<Run, BenchError> {
        let default_lead = match self.plan.feed {
            Feed::Sql => Duration::from_secs(2),
            // One transaction per one-off: give the feed time to finish.
            Feed::Client => Duration::from_secs(10),
        };
        let lead = self.plan.lead.unwrap_or(default_lead);
        let due_at = self.clock.now_ms() + millis(lead) as i64;
        let due = vec![due_at; usize::try_from(self.plan.triggers).unwrap_or(usize::MAX)];
        let started = Instant::now();
        self.feed(&due).await?;
        let inserting = started.elapsed();
        if self.clock.now_ms() > due_at {
            tracing::warn!(
                ?inserting,
                ?lead,
                "inserting took longer than --lead: lateness includes the insert"
            );
        }
        let from = self.meter.sample(self.fleet);
        let until_due =
            Duration::from_millis(u64::try_from(due_at - self.clock.now_ms()).unwrap_or(0));
        wait_finished(
            self.store,
            self.job.id,
            self.plan.triggers,
            Instant::now() + until_due,
        )
        .await?;
        Ok(Run {
            triggers: self.plan.triggers,
            lead,
            insert_per_second: per_second(self.plan.triggers, inserting),
            producer_rate: None,
            from,
            to: self.meter.sample(self.fleet),
        })
    }

    /// Trigger `k` is due at `start + lead + k / rate`, inserted `lead`
    /// ahead of that: each tick inserts those whose insertion instant has
    /// passed.
    pub async fn steady(&self) -> Result<Run, BenchError> {
        let plan = self.plan;
        let lead = plan.lead.unwrap_or(Duration::from_millis(100));
        let total = (plan.rate * plan.duration.as_secs_f64()).round().max(1.0) as u64;
        let first_due = self.clock.now_ms() + millis(lead) as i64;
        let due_of = |k: u64| first_due + (k as f64 * 1000.0 / plan.rate) as i64;
        let from = self.meter.sample(self.fleet);
        let started = Instant::now();
        let mut inserted = 0u64;
        let mut tick = tokio::time::interval(PRODUCER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while inserted < total {
            tick.tick().await;
            let owed = ((started.elapsed().as_secs_f64() * plan.rate) as u64 + 1).min(total);
            if owed > inserted {
                let due: Vec<i64> = (inserted..owed).map(due_of).collect();
                self.feed(&due).await?;
                inserted = owed;
            }
        }
        let producing = started.elapsed();
        wait_finished(self.store, self.job.id, total, Instant::now() + lead).await?;
        Ok(Run {
            triggers: total,
            lead,
            insert_per_second: per_second(total, producing),
            producer_rate: Some(per_second(total, producing)),
            from,
            to: self.meter.sample(self.fleet),
        })
    }
}

/// Waits until `expected` fires of the job have finished, or until the
/// count has not moved for [`STALL_TIMEOUT`] after `due_by` (then the
/// tally reports what is missing).
async fn wait_finished(
    store: &Store,
    job_id: i64,
    expected: u64,
    due_by: Instant,
) -> Result<(), BenchError> {
    let mut last = 0;
    let mut moved = due_by;
    loop {
        let finished = store.bench_finished(job_id).await?;
        if finished >= expected {
            return Ok(());
        }
        let now = Instant::now();
        if finished != last {
            last = finished;
            moved = moved.max(now);
        } else if now > moved + STALL_TIMEOUT {
            tracing::warn!(
                finished,
                expected,
                "no fire finished for {STALL_TIMEOUT:?}; reporting what there is"
            );
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}
