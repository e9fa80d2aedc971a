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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entity::{fires, jobs};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, from_ms};
use crate::definition::RetryPolicy;
use crate::events::{Events, SchedulerEvent};
use crate::jobs::{FireContext, JobOutcome, JobRegistry, RetryDirective};
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
    /// Each running fire's own token (a child of `work`), to stop one fire
    /// that was cancelled or replaced elsewhere.
    running: Mutex<HashMap<i64, CancellationToken>>,
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
                running: Mutex::new(HashMap::new()),
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
        let cancel = self.inner.work.child_token();
        self.inner.running_fires().insert(fire.id, cancel.clone());
        self.inner.tracker.spawn(async move {
            let status = inner.run_fire(&fire, &job, &cancel).await;
            inner.running_fires().remove(&fire.id);
            drop(permit);
            inner.slot_freed.notify_waiters();
            inner.slot_freed.notify_one();
            status
        });
    }

    /// The ids of the fires running here.
    pub fn running_fire_ids(&self) -> Vec<i64> {
        self.inner.running_fires().keys().copied().collect()
    }

    /// Stops these running fires (cancelled, replaced or recovered
    /// elsewhere: their records are no longer ours to complete).
    pub fn cancel_fires(&self, ids: &[i64]) {
        let running = self.inner.running_fires();
        for id in ids {
            if let Some(token) = running.get(id) {
                tracing::info!(fire = id, "stopping a fire cancelled elsewhere");
                token.cancel();
            }
        }
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
    fn running_fires(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        // The map holds no invariant a panicking holder could break.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run_fire(
        &self,
        fire: &fires::Model,
        job: &jobs::Model,
        cancel: &CancellationToken,
    ) -> FireStatus {
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
        let mut directive = RetryDirective::ByPolicy;
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
                        Some(JobOutcome::Failed { error, output, retry }) => {
                            directive = retry;
                            (FireStatus::Failed, Some(error), output)
                        }
                        None => (
                            FireStatus::TimedOut,
                            Some(format!("timed out after {}", humantime::format_duration(timeout.unwrap_or_default()))),
                            None,
                        ),
                    },
                    _ = cancel.cancelled() => {
                        let why = if self.work.is_cancelled() {
                            "cancelled: the node shut down before the fire finished"
                        } else {
                            "cancelled: the fire was cancelled, replaced or recovered elsewhere"
                        };
                        (FireStatus::Cancelled, Some(why.to_string()), None)
                    }
                }
            }
        };
        let retry_at = matches!(status, FireStatus::Failed | FireStatus::TimedOut)
            .then(|| retry_delay(job, fire.attempt, directive))
            .flatten()
            .map(|delay| self.clock.now_ms() + delay.as_millis().min(i64::MAX as u128) as i64);
        let completion = FireCompletion {
            fire_id: fire.id,
            node_id: &self.config.node_id,
            fence: fire.fence,
            status,
            finished_at_ms: self.clock.now_ms(),
            error: error.map(|e| truncate(e, MAX_RECORDED_TEXT)),
            output: output.map(|o| truncate(o, MAX_RECORDED_TEXT)),
        };
        let recorded = self.complete_with_retry(&completion, retry_at).await;
        if recorded && let Some(at) = retry_at {
            tracing::info!(fire = fire.id, job = %job.name, attempt = fire.attempt + 1,
                retry_at = %from_ms(at), "retry queued");
        }
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

    /// Completes the record, retrying with backoff while the database is
    /// unreachable, so a database restart loses no outcome. Gives up only
    /// when the node's grace period has ended (the `work` token): the row
    /// then stays `running`, and the node's next start (or a peer, if it
    /// never comes back) recovers it.
    async fn complete_with_retry(&self, c: &FireCompletion<'_>, retry_at: Option<i64>) -> bool {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.store.fire_complete_and_retry(c, retry_at).await {
                Ok(recorded) => return recorded,
                Err(e) => {
                    tracing::warn!(fire = c.fire_id, error = %e, retry_in = ?delay,
                        "cannot record fire outcome; retrying");
                    tokio::select! {
                        _ = self.work.cancelled() => {
                            tracing::error!(fire = c.fire_id,
                                "shutting down with the database unreachable; the fire stays running until recovered");
                            return false;
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The wait before the next attempt of a fire that failed at `attempt`,
/// or None when the job's retry policy (or the job itself) says no more.
fn retry_delay(job: &jobs::Model, attempt: i32, directive: RetryDirective) -> Option<Duration> {
    let policy = RetryPolicy {
        max_attempts: u32::try_from(job.retry_max_attempts).unwrap_or(1),
        backoff: Duration::from_millis(u64::try_from(job.retry_backoff_ms).unwrap_or(0)),
        factor: job.retry_factor,
        max_backoff: Duration::from_millis(u64::try_from(job.retry_max_backoff_ms).unwrap_or(0)),
        jitter: job.retry_jitter,
    };
    let attempt = u32::try_from(attempt).unwrap_or(1);
    if !policy.allows_retry_after(attempt) {
        return None;
    }
    match directive {
        RetryDirective::Never => None,
        RetryDirective::After(d) => Some(d),
        RetryDirective::ByPolicy => Some(policy.delay_after(attempt, rand::random::<f64>())),
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
