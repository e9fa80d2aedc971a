//! The scheduler loop: wait, lease, fire, hand over.
//!
//! ```text
//!            ┌──────────── woken: local change, slot freed, poll ceiling ───┐
//!            ▼                                                              │
//!   sleep until next due ──► lease ≤ free slots ──► per trigger: plan       │
//!                                                   (misfire policy),       │
//!                                                   record fires + advance  │
//!                                                   (one fenced txn),       │
//!                                                   hand to executor ───────┘
//! ```
//!
//! [`Scheduler::run_once`] is one pass; [`Scheduler::run`] is the thin loop
//! around it that only waits, logs and repeats. Tests drive `run_once`
//! with a manual clock. A pass that fills every free slot loops at once; a
//! database error backs off and retries, and never ends the loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as TimeDelta;
use entity::{jobs, triggers};
use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, from_ms};
use crate::events::{Events, SchedulerEvent};
use crate::executor::Executor;
use crate::schedule::misfire::{self, DueTrigger};
use crate::store::{LeaseParams, RecordFire, RecordOutcome, Store, StoreError, trigger_spec};

/// What the loop needs, fixed at start.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub node_id: String,
    pub pools: Vec<String>,
    /// The longest the loop sleeps without looking at the database.
    pub poll_interval: Duration,
    /// How long a lease holds before another node may take the trigger.
    pub lease: Duration,
    /// The most triggers one pass leases, whatever the free slots.
    pub max_batch: usize,
    /// The default misfire threshold.
    pub misfire_threshold: Duration,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub leased: usize,
    /// Fires handed to the executor.
    pub started: usize,
    /// Fires recorded as skipped.
    pub skipped: usize,
    /// The pass leased as many as it asked for: more may be due.
    pub full: bool,
    /// The earliest instant a trigger may be due (UTC ms), as the pass saw it.
    pub next_due_ms: Option<i64>,
}

/// Leases due triggers and fires them.
#[derive(Debug, Clone)]
pub struct Scheduler {
    store: Store,
    clock: Arc<dyn Clock>,
    executor: Executor,
    events: Events,
    config: SchedulerConfig,
}

impl Scheduler {
    pub fn new(
        config: SchedulerConfig,
        store: Store,
        clock: Arc<dyn Clock>,
        executor: Executor,
        events: Events,
    ) -> Self {
        Scheduler {
            store,
            clock,
            executor,
            events,
            config,
        }
    }

    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// One pass: lease what is due (no more than the executor's free
    /// slots), record each fire and hand it over.
    pub async fn run_once(&self) -> Result<Pass, StoreError> {
        let limit = self.executor.free_slots().min(self.config.max_batch);
        let now_ms = self.clock.now_ms();
        let mut pass = Pass::default();
        if limit > 0 {
            let leased = self
                .store
                .lease_due_triggers(&LeaseParams {
                    node_id: &self.config.node_id,
                    now_ms,
                    lease_ms: self.config.lease.as_millis() as i64,
                    limit: limit as u64,
                    pools: &self.config.pools,
                })
                .await?;
            pass.leased = leased.len();
            pass.full = leased.len() == limit;
            if !leased.is_empty() {
                self.events.emit(SchedulerEvent::Leased {
                    count: leased.len(),
                });
                let jobs = self.jobs_of(&leased).await?;
                for trigger in &leased {
                    let Some(job) = jobs.get(&trigger.job_id) else {
                        // Deleted between lease and now: its triggers went with it.
                        continue;
                    };
                    self.fire_trigger(trigger, job, &mut pass).await?;
                }
            }
        }
        pass.next_due_ms = self
            .store
            .next_due_at(&self.config.pools, self.clock.now_ms())
            .await?;
        Ok(pass)
    }

    async fn jobs_of(
        &self,
        leased: &[triggers::Model],
    ) -> Result<HashMap<i64, jobs::Model>, StoreError> {
        let ids: Vec<i64> = leased.iter().map(|t| t.job_id).collect();
        let rows = jobs::Entity::find()
            .filter(jobs::Column::Id.is_in(ids))
            .all(self.store.connection())
            .await?;
        Ok(rows.into_iter().map(|j| (j.id, j)).collect())
    }

    /// Plans, records and starts the fires of one leased trigger. A row
    /// that cannot be evaluated goes to the `error` state; it never stops
    /// the pass.
    async fn fire_trigger(
        &self,
        trigger: &triggers::Model,
        job: &jobs::Model,
        pass: &mut Pass,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let evaluated = trigger_spec(trigger).and_then(|spec| {
            let policy = crate::store::trigger_policy(trigger)?;
            let scheduled = trigger.next_fire_at.ok_or("next_fire_at is NULL")?;
            Ok((spec, policy, scheduled))
        });
        let (spec, policy, scheduled_ms) = match evaluated {
            Ok(v) => v,
            Err(message) => {
                tracing::error!(trigger = trigger.id, job = %job.name, %message, "trigger cannot be evaluated; set to error");
                self.store
                    .trigger_set_error(
                        trigger,
                        &self.config.node_id,
                        &message,
                        now.timestamp_millis(),
                    )
                    .await?;
                self.events.emit(SchedulerEvent::TriggerError {
                    trigger_id: trigger.id,
                    message,
                });
                return Ok(());
            }
        };
        let threshold = trigger
            .misfire_threshold_ms
            .map(TimeDelta::milliseconds)
            .unwrap_or_else(|| {
                TimeDelta::from_std(self.config.misfire_threshold).unwrap_or(TimeDelta::MAX)
            });
        let due = DueTrigger {
            kind: spec.kind(),
            policy,
            threshold,
            scheduled_at: from_ms(scheduled_ms),
            start_at: from_ms(trigger.start_at),
            repeat_count: trigger.repeat_count.and_then(|r| u64::try_from(r).ok()),
            times_fired: u64::try_from(trigger.times_fired).unwrap_or(0),
        };
        let timeline = |start, repeat, after| spec.schedule(start, repeat).next_after(after);
        let plan = misfire::plan(&due, now, &timeline);
        if plan.misfired {
            tracing::info!(trigger = trigger.id, job = %job.name, scheduled_at = %due.scheduled_at,
                policy = %policy, "misfired");
        }
        let data = merged_data(&job.data, trigger.data.as_deref());
        let outcome = self
            .store
            .record_fire(&RecordFire {
                trigger,
                job,
                node_id: &self.config.node_id,
                now_ms: now.timestamp_millis(),
                plan: &plan,
                data: &data,
            })
            .await?;
        match outcome {
            RecordOutcome::LeaseLost => {
                tracing::warn!(
                    trigger = trigger.id,
                    "lease lost before the fire was recorded; another node has it"
                );
            }
            RecordOutcome::Recorded { run } => {
                pass.skipped += plan.fires.len().saturating_sub(
                    plan.fires
                        .iter()
                        .filter(|f| f.skip_reason.is_none())
                        .count(),
                );
                for fire in run {
                    self.events.emit(SchedulerEvent::Fired {
                        fire_id: fire.id,
                        job: job.name.clone(),
                        scheduled_at_ms: fire.scheduled_at,
                    });
                    tracing::debug!(fire = fire.id, job = %job.name, scheduled_at = %from_ms(fire.scheduled_at), "firing");
                    self.executor.start(fire, job.clone());
                    pass.started += 1;
                }
            }
        }
        Ok(())
    }

    /// The loop: pass, then sleep until the next due instant, a local
    /// change, a freed slot (when the pool was full) or the poll ceiling.
    /// Returns when `stop` is cancelled; never on a database error.
    pub async fn run(&self, stop: CancellationToken) {
        let changes = self.store.changes();
        let mut failures = 0u32;
        while !stop.is_cancelled() {
            let wait = match self.run_once().await {
                Ok(pass) => {
                    if failures > 0 {
                        tracing::info!("database reachable again; scheduling resumes");
                    }
                    failures = 0;
                    if pass.full && self.executor.free_slots() > 0 {
                        continue;
                    }
                    self.sleep_for(&pass)
                }
                Err(e) => {
                    failures += 1;
                    let backoff = backoff(failures);
                    tracing::warn!(error = %e, retry_in = ?backoff, "scheduler pass failed");
                    backoff
                }
            };
            let saturated = self.executor.free_slots() == 0;
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = changes.notified() => {}
                _ = self.executor.slot_freed(), if saturated => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn sleep_for(&self, pass: &Pass) -> Duration {
        let ceiling = self.config.poll_interval;
        // Jitter keeps a cluster's polls from lining up.
        let jitter = ceiling.mul_f64(rand::rng().random_range(0.0..0.1));
        let ceiling = ceiling.saturating_sub(jitter);
        match pass.next_due_ms {
            Some(due) => {
                let wait_ms = (due - self.clock.now_ms()).max(0) as u64;
                Duration::from_millis(wait_ms).min(ceiling)
            }
            None => ceiling,
        }
    }
}

/// Exponential backoff after `failures` failed passes: 100 ms doubling to 10 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(7))).min(Duration::from_secs(10))
}

/// The job's data with the trigger's keys over it (objects merge; any
/// other trigger value replaces the job's).
fn merged_data(job: &str, trigger: Option<&str>) -> String {
    let job: Value = serde_json::from_str(job).unwrap_or(Value::Null);
    let Some(trigger) = trigger.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return job.to_string();
    };
    match (job, trigger) {
        (Value::Object(mut base), Value::Object(over)) => {
            base.extend(over);
            Value::Object(base).to_string()
        }
        (_, over) => over.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_data_merges_over_job_data() {
        assert_eq!(
            merged_data(r#"{"a":1,"b":2}"#, Some(r#"{"b":3}"#)),
            r#"{"a":1,"b":3}"#
        );
        assert_eq!(merged_data(r#"{"a":1}"#, None), r#"{"a":1}"#);
        assert_eq!(merged_data(r#"{"a":1}"#, Some("5")), "5");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(30), Duration::from_secs(10));
    }
}
