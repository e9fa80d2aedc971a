//! The executor: a bounded pool that runs fires and records their outcome.
//!
//! The scheduler leases no more triggers than [`Executor::free_slots`], so
//! a fire handed over always finds a slot. Each fire runs its job kind
//! under the job's timeout and the pool's cancellation token, then
//! completes its record, fenced by node and fence so that a node that lost
//! the fire (declared dead, recovered elsewhere) cannot overwrite it.
//!
//! Shutdown: [`Executor::shutdown`] waits for running fires up to a grace
//! period, then cancels the rest; cancelled fires are recorded `cancelled`.

use std::sync::Arc;
use std::time::Duration;

use entity::{fires, jobs};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, from_ms};
use crate::events::{Events, SchedulerEvent};
use crate::jobs::{FireContext, JobOutcome, JobRegistry};
use crate::store::{FireCompletion, FireStatus, Store};

/// Characters of output and of error text kept in a fire record.
pub const MAX_RECORDED_TEXT: usize = 64 * 1024;

/// What the executor needs, fixed at start.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub node_id: String,
    pub max_concurrent: usize,
}

/// A bounded pool of running fires.
#[derive(Debug, Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ExecutorConfig,
    slots: Arc<Semaphore>,
    slot_freed: Notify,
    registry: JobRegistry,
    store: Store,
    clock: Arc<dyn Clock>,
    events: Events,
    tracker: TaskTracker,
    /// Cancelled when the grace period ends: running fires stop.
    work: CancellationToken,
}

/// What a shutdown did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Fires still running when the grace period ended, now cancelled.
    pub cancelled: usize,
}

impl Executor {
    pub fn new(
        config: ExecutorConfig,
        registry: JobRegistry,
        store: Store,
        clock: Arc<dyn Clock>,
        events: Events,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_concurrent));
        Executor {
            inner: Arc::new(Inner {
                config,
                slots,
                slot_freed: Notify::new(),
                registry,
                store,
                clock,
                events,
                tracker: TaskTracker::new(),
                work: CancellationToken::new(),
            }),
        }
    }

    /// Slots free right now: the most triggers a pass may lease.
    pub fn free_slots(&self) -> usize {
        self.inner.slots.available_permits()
    }

    /// How many fires are running.
    pub fn running(&self) -> usize {
        self.inner.config.max_concurrent - self.free_slots()
    }

    /// Resolves when a running fire ends (a slot frees up).
    pub async fn slot_freed(&self) {
        self.inner.slot_freed.notified().await
    }

    /// Starts a recorded fire (status `running`) of `job`.
    pub fn start(&self, fire: fires::Model, job: jobs::Model) {
        let inner = self.inner.clone();
        let permit = match inner.slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                // The scheduler leases at most free_slots(), so this only
                // happens if a caller starts fires on its own: run anyway
                // rather than lose a recorded fire.
                tracing::warn!(fire = fire.id, "executor full; running over the limit");
                None
            }
        };
        self.inner.tracker.spawn(async move {
            let status = inner.run_fire(&fire, &job).await;
            drop(permit);
            inner.slot_freed.notify_waiters();
            inner.slot_freed.notify_one();
            status
        });
    }

    /// Waits for running fires to finish, up to `grace`; then cancels the
    /// rest and waits for their records. Idempotent.
    pub async fn shutdown(&self, grace: Duration) -> DrainReport {
        self.inner.tracker.close();
        let drained = tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_ok();
        if drained {
            return DrainReport::default();
        }
        let cancelled = self.running();
        self.inner.work.cancel();
        self.inner.tracker.wait().await;
        DrainReport { cancelled }
    }
}

impl Inner {
    async fn run_fire(&self, fire: &fires::Model, job: &jobs::Model) -> FireStatus {
        let data: Value = fire
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null);
        let context = FireContext {
            fire_id: fire.id,
            job: job.name.clone(),
            trigger_id: fire.trigger_id,
            scheduled_at: from_ms(fire.scheduled_at),
            attempt: u32::try_from(fire.attempt).unwrap_or(1),
            node: self.config.node_id.clone(),
            data,
        };
        let settings: Value = serde_json::from_str(&job.settings).unwrap_or(Value::Null);
        let timeout = job
            .timeout_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis);
        let (status, error, output) = match self.registry.get(&job.kind) {
            None => (
                FireStatus::Failed,
                Some(format!(
                    "job kind `{}` is not registered on node {} (known: {})",
                    job.kind,
                    self.config.node_id,
                    self.registry.names().collect::<Vec<_>>().join(", ")
                )),
                None,
            ),
            Some(kind) => {
                let run = kind.run(&context, &settings);
                let timed = async {
                    match timeout {
                        Some(t) => tokio::time::timeout(t, run).await.ok(),
                        None => Some(run.await),
                    }
                };
                tokio::select! {
                    outcome = timed => match outcome {
                        Some(JobOutcome::Succeeded { output }) => (FireStatus::Succeeded, None, output),
                        Some(JobOutcome::Failed { error, output, .. }) => (FireStatus::Failed, Some(error), output),
                        None => (
                            FireStatus::TimedOut,
                            Some(format!("timed out after {}", humantime::format_duration(timeout.unwrap_or_default()))),
                            None,
                        ),
                    },
                    _ = self.work.cancelled() => (
                        FireStatus::Cancelled,
                        Some("cancelled: the node shut down before the fire finished".to_string()),
                        None,
                    ),
                }
            }
        };
        let completion = FireCompletion {
            fire_id: fire.id,
            node_id: &self.config.node_id,
            fence: fire.fence,
            status,
            finished_at_ms: self.clock.now_ms(),
            error: error.map(|e| truncate(e, MAX_RECORDED_TEXT)),
            output: output.map(|o| truncate(o, MAX_RECORDED_TEXT)),
        };
        let recorded = self.complete_with_retry(&completion).await;
        if !recorded {
            tracing::warn!(fire = fire.id, job = %job.name, %status,
                "fire outcome not recorded: the fire is no longer ours (recovered or cancelled elsewhere)");
        }
        match status {
            FireStatus::Succeeded => {
                tracing::info!(fire = fire.id, job = %job.name, "fire succeeded")
            }
            _ => tracing::warn!(fire = fire.id, job = %job.name, %status,
                error = completion.error.as_deref().unwrap_or(""), "fire did not succeed"),
        }
        self.events.emit(SchedulerEvent::Completed {
            fire_id: fire.id,
            job: job.name.clone(),
            status,
            recorded,
        });
        status
    }

    /// Completes the record, retrying while the database is unreachable
    /// (bounded: about a minute), so a database restart loses no outcome.
    async fn complete_with_retry(&self, c: &FireCompletion<'_>) -> bool {
        let mut delay = Duration::from_millis(100);
        for _ in 0..20 {
            match self.store.fire_complete(c).await {
                Ok(recorded) => return recorded,
                Err(e) => {
                    tracing::warn!(fire = c.fire_id, error = %e, "cannot record fire outcome; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        false
    }
}

impl std::fmt::Display for FireStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Keeps at most `max` bytes of `s`, on a character boundary, saying so.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = s.len() - cut;
    s.truncate(cut);
    s.push_str(&format!("\n[… {dropped} more bytes not kept]"));
    s
}
