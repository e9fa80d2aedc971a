//! The executor: a bounded pool that runs fires and records their outcome.
//!
//! The scheduler leases no more triggers than [`Executor::free_slots`], so
//! a fire handed over always finds a slot. Each fire runs its job kind
//! under the job's timeout and the pool's cancellation token, then
//! completes its record, fenced by node and fence so that a node that lost
//! the fire (declared dead, recovered elsewhere) cannot overwrite it.
//!
//! Outcomes go to one writer task that completes them in batches (one
//! transaction for all that finished meanwhile), so the database sees one
//! commit per batch rather than per fire.
//!
//! No job is called before its fire carries the start mark (see
//! `store/start_mark.rs`): the scheduler marks the fires due at once in
//! one statement per pass before handing them over; a fire recorded ahead
//! of its instant is marked here, on its instant, by one marker task that
//! batches every fire due meanwhile. A fire whose mark does not take
//! (recovered, cancelled or replaced elsewhere) is not run at all.
//!
//! Shutdown: [`Executor::shutdown`] waits for running fires up to a grace
//! period, then cancels the rest; cancelled fires are recorded `cancelled`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, from_ms};
use crate::events::{Events, SchedulerEvent};
use crate::jobs::{FireContext, JobOutcome, JobRegistry, RetryDirective};
use crate::model::FireStatus;
use crate::model::MAX_RECORDED_TEXT;
use crate::model::Printable;
use crate::model::{Fire, Job};
use crate::store::{FireCompletion, Store};

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
    clock: Arc<dyn Clock>,
    events: Events,
    tracker: TaskTracker,
    /// Cancelled when the grace period ends: running fires stop.
    work: CancellationToken,
    /// Each running fire's own token (a child of `work`), to stop one fire
    /// that was cancelled or replaced elsewhere.
    running: Mutex<HashMap<i64, CancellationToken>>,
    /// Outcomes on their way to the completion writer.
    completions: mpsc::UnboundedSender<PendingCompletion>,
    /// Fires on their instant, on their way to the start marker.
    marks: mpsc::UnboundedSender<PendingMark>,
}

/// A fire whose instant came, waiting for its start mark, and where to
/// say whether the mark took (the fire may start).
#[derive(Debug)]
struct PendingMark {
    fire_id: i64,
    fence: i64,
    marked: oneshot::Sender<bool>,
}

/// A fire's outcome waiting to be written, and where to say whether the
/// fenced update took.
#[derive(Debug)]
struct PendingCompletion {
    fire_id: i64,
    fence: i64,
    status: FireStatus,
    /// None: the job never started (cancelled while waiting for its
    /// instant).
    started_at_ms: Option<i64>,
    finished_at_ms: i64,
    error: Option<String>,
    output: Option<String>,
    retry_at: Option<i64>,
    recorded: oneshot::Sender<bool>,
}

/// The longest a fire recorded ahead of its instant waits to start; more
/// would mean a large clock step, and the fire then starts at once.
const MAX_EARLY_WAIT_MS: i64 = 1_000;

/// The first wait before a write is tried again while the database is
/// unreachable; it doubles up to [`crate::store::MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(50);

/// The most outcomes one completion transaction writes.
const MAX_COMPLETION_BATCH: usize = 256;

/// Writes fire outcomes in batches: one transaction (one commit) for every
/// outcome that arrived while the previous batch was written. Retries with
/// backoff while the database is unreachable, so a restart loses no
/// outcome (a refusal of another kind is handled row by row, see
/// [`write_batch`]); gives up only when the node's grace period has ended (`work`):
/// those rows stay `running`, and the node's next start (or a peer, if it
/// never comes back) recovers them.
async fn write_completions(
    store: Store,
    node_id: String,
    work: CancellationToken,
    mut rx: mpsc::UnboundedReceiver<PendingCompletion>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_COMPLETION_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let items: Vec<(FireCompletion<'_>, Option<i64>)> = batch
            .iter()
            .map(|p| {
                let completion = FireCompletion {
                    fire_id: p.fire_id,
                    node_id: &node_id,
                    fence: p.fence,
                    status: p.status,
                    started_at_ms: p.started_at_ms,
                    finished_at_ms: p.finished_at_ms,
                    error: p.error.clone(),
                    output: p.output.clone(),
                };
                (completion, p.retry_at)
            })
            .collect();
        let recorded = write_batch(&store, &items, &work).await;
        drop(items);
        for (pending, recorded) in batch.into_iter().zip(recorded) {
            // The fire's task may be gone (aborted); nobody to tell then.
            let _ = pending.recorded.send(recorded);
        }
    }
}

/// Marks the fires whose instant came, in batches: one statement for every
/// fire that arrived while the previous batch was marked. Retries while the
/// database is unreachable (the fires wait, unstarted); gives up when the
/// node's grace period has ended (`work`): those fires do not start.
async fn mark_starts(
    store: Store,
    clock: Arc<dyn Clock>,
    node_id: String,
    work: CancellationToken,
    mut rx: mpsc::UnboundedReceiver<PendingMark>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        let ids: Vec<(i64, i64)> = batch.iter().map(|p| (p.fire_id, p.fence)).collect();
        let mut delay = FIRST_RETRY_WAIT;
        let marked = loop {
            match store
                .fires_mark_started(&node_id, &ids, clock.now_ms())
                .await
            {
                Ok(marked) => break marked,
                Err(e) if e.is_connection() && !work.is_cancelled() => {
                    if delay == FIRST_RETRY_WAIT {
                        tracing::warn!(fires = ids.len(), error = %e,
                            "cannot mark fires started; retrying until the database answers");
                    }
                    tokio::select! {
                        _ = work.cancelled() => {}
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(crate::store::MAX_RETRY_WAIT);
                }
                Err(e) => {
                    tracing::error!(fires = ids.len(), error = %e,
                        "cannot mark fires started; they do not start (recovery fires them again)");
                    break Default::default();
                }
            }
        };
        for pending in batch {
            // The fire's task may be gone (aborted); nobody to tell then.
            let _ = pending.marked.send(marked.contains(&pending.fire_id));
        }
    }
}

/// Why a write gave up.
enum WriteFailure {
    /// The node's grace period ended with the database unreachable.
    ShuttingDown,
    /// The database refused the write for a reason other than a lost
    /// connection: retrying the same rows would fail the same way.
    Refused(crate::store::StoreError),
}

/// Completes `items` in one transaction, retrying with backoff while the
/// database is unreachable; any other refusal is returned at once.
async fn write_retrying_connection(
    store: &Store,
    items: &[(FireCompletion<'_>, Option<i64>)],
    work: &CancellationToken,
) -> Result<Vec<bool>, WriteFailure> {
    let mut delay = FIRST_RETRY_WAIT;
    let mut warned = false;
    loop {
        match store.fire_complete_batch(items).await {
            Ok(recorded) => return Ok(recorded),
            Err(e) if e.is_connection() => {
                if !warned {
                    warned = true;
                    tracing::warn!(fires = items.len(), error = %e,
                        "cannot record fire outcomes; retrying until the database answers");
                }
                tokio::select! {
                    _ = work.cancelled() => {
                        tracing::error!(fires = items.len(),
                            "shutting down with the database unreachable; the fires stay running until recovered");
                        return Err(WriteFailure::ShuttingDown);
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(crate::store::MAX_RETRY_WAIT);
            }
            Err(e) => return Err(WriteFailure::Refused(e)),
        }
    }
}

/// Completes a batch; whether each record took. One row the database
/// refuses never blocks the others, nor retries forever: a refused batch
/// is written again row by row, and a row still refused is recorded with
/// a placeholder error naming the refusal (its output dropped). A row
/// whose placeholder is refused too stays `running` until recovered.
async fn write_batch(
    store: &Store,
    items: &[(FireCompletion<'_>, Option<i64>)],
    work: &CancellationToken,
) -> Vec<bool> {
    let refusal = match write_retrying_connection(store, items, work).await {
        Ok(recorded) => return recorded,
        Err(WriteFailure::ShuttingDown) => return vec![false; items.len()],
        Err(WriteFailure::Refused(e)) => e,
    };
    if items.len() > 1 {
        tracing::warn!(fires = items.len(), error = %refusal,
            "the database refused a batch of fire outcomes; writing them one by one");
    }
    let mut recorded = Vec::with_capacity(items.len());
    for item in items {
        let row = std::slice::from_ref(item);
        let refusal = match write_retrying_connection(store, row, work).await {
            Ok(took) => {
                recorded.push(took[0]);
                continue;
            }
            Err(WriteFailure::ShuttingDown) => {
                recorded.push(false);
                continue;
            }
            Err(WriteFailure::Refused(e)) => e,
        };
        let (completion, retry_at) = item;
        tracing::error!(fire = completion.fire_id, error = %refusal,
            "the database refused a fire outcome; recording a placeholder");
        let placeholder = FireCompletion {
            error: Some(format!("the outcome could not be stored: {refusal}")),
            output: None,
            ..completion.clone()
        };
        let took = match write_retrying_connection(store, &[(placeholder, *retry_at)], work).await {
            Ok(took) => took[0],
            Err(WriteFailure::ShuttingDown) => false,
            Err(WriteFailure::Refused(e)) => {
                tracing::error!(fire = completion.fire_id, error = %e,
                    "the database refused the placeholder outcome too; the fire stays running until recovered");
                false
            }
        };
        recorded.push(took);
    }
    recorded
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
        let work = CancellationToken::new();
        let (completions, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_completions(
            store.clone(),
            config.node_id.clone(),
            work.clone(),
            rx,
        ));
        let (marks, marks_rx) = mpsc::unbounded_channel();
        tokio::spawn(mark_starts(
            store,
            clock.clone(),
            config.node_id.clone(),
            work.clone(),
            marks_rx,
        ));
        Executor {
            inner: Arc::new(Inner {
                config,
                slots,
                slot_freed: Notify::new(),
                registry,
                clock,
                events,
                tracker: TaskTracker::new(),
                work,
                running: Mutex::new(HashMap::new()),
                completions,
                marks,
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

    /// Starts a recorded fire (status `running`) of `job`: at once when it
    /// already carries the start mark (`started_at`, see
    /// [`Store::fires_mark_started`]), else on its instant (`due_at`),
    /// after marking it; a fire whose mark does not take is not run.
    pub fn start(&self, fire: Fire, job: Job) {
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
            let status = inner.run_fire(&fire, &job, &cancel, permit).await;
            inner.running_fires().remove(&fire.id);
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

    /// Waits until a fire recorded a little ahead of its instant (the
    /// scheduler's lookahead) may start, then marks it started; returns its
    /// start instant, or None when it must not start (cancelled meanwhile,
    /// or its mark did not take: it is no longer ours).
    async fn begin(&self, fire: &Fire, cancel: &CancellationToken) -> Option<i64> {
        if fire.started_at.is_some() {
            // Marked by the scheduler just before handing it over.
            return Some(self.clock.now_ms());
        }
        self.wait_for_start(fire, cancel).await;
        if cancel.is_cancelled() {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        let pending = PendingMark {
            fire_id: fire.id,
            fence: fire.fence,
            marked: reply,
        };
        if self.marks.send(pending).is_err() || !answer.await.unwrap_or(false) {
            return None;
        }
        Some(self.clock.now_ms())
    }

    /// Waits until the instant of a fire recorded a little ahead of it
    /// (the scheduler's lookahead), or until it is cancelled.
    async fn wait_for_start(&self, fire: &Fire, cancel: &CancellationToken) {
        // The clock is checked again after each wait: a node's clock is
        // corrected by its measured offset to the database, and a new
        // measurement can step it back a few milliseconds meanwhile. A
        // fire never starts before its instant by the clock that records
        // its start.
        let planned = fire.due_at;
        let mut now_ms = self.clock.now_ms();
        let mut waited = 0;
        while now_ms < planned && waited < MAX_EARLY_WAIT_MS && !cancel.is_cancelled() {
            let wait = planned - now_ms;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                _ = cancel.cancelled() => {}
            }
            waited += wait;
            now_ms = self.clock.now_ms();
        }
    }

    /// Runs the job kind under the job's timeout and the fire's
    /// cancellation: the status, error, output and retry directive.
    async fn execute(
        &self,
        job: &Job,
        context: &FireContext,
        cancel: &CancellationToken,
    ) -> (FireStatus, Option<String>, Option<String>, RetryDirective) {
        let settings = &job.settings;
        let timeout = job.timeout;
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
                let run = kind.run(context, settings);
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
                        (FireStatus::Cancelled, Some(cancelled_why(&self.work).to_string()), None)
                    }
                }
            }
        };
        (status, error, output, directive)
    }

    /// Runs one fire and completes its record. The slot (`permit`) frees
    /// as soon as the job ends: writing the outcome is the completion
    /// writer's work, and the next pass need not wait for it.
    async fn run_fire(
        &self,
        fire: &Fire,
        job: &Job,
        cancel: &CancellationToken,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> FireStatus {
        let context = FireContext {
            fire_id: fire.id,
            job: job.name.clone(),
            trigger_id: fire.trigger_id,
            scheduled_at: from_ms(fire.scheduled_at),
            attempt: fire.attempt,
            node: self.config.node_id.clone(),
            data: fire.data.clone().unwrap_or(Value::Null),
        };
        let started_at_ms = self.begin(fire, cancel).await;
        if started_at_ms.is_none() && !cancel.is_cancelled() {
            // Not ours any more: recovered, cancelled or replaced elsewhere
            // before it started. Nothing ran, nothing to record.
            drop(permit);
            self.slot_freed.notify_waiters();
            self.slot_freed.notify_one();
            tracing::info!(fire = fire.id, job = %Printable(&job.name),
                "fire not started: it is no longer ours (recovered or cancelled elsewhere)");
            self.events.emit(SchedulerEvent::Completed {
                fire_id: fire.id,
                job: job.name.clone(),
                status: FireStatus::Cancelled,
                recorded: false,
            });
            return FireStatus::Cancelled;
        }
        let (status, error, output, directive) = match started_at_ms {
            Some(_) => self.execute(job, &context, cancel).await,
            None => (
                FireStatus::Cancelled,
                Some(cancelled_why(&self.work).to_string()),
                None,
                RetryDirective::Never,
            ),
        };
        drop(permit);
        self.slot_freed.notify_waiters();
        self.slot_freed.notify_one();
        let retry_at = matches!(status, FireStatus::Failed | FireStatus::TimedOut)
            .then(|| retry_delay(job, fire.attempt, directive))
            .flatten()
            .map(|delay| self.clock.now_ms() + delay.as_millis().min(i64::MAX as u128) as i64);
        let error = error.map(|e| truncate(e, MAX_RECORDED_TEXT));
        let (reply, answer) = oneshot::channel();
        let pending = PendingCompletion {
            fire_id: fire.id,
            fence: fire.fence,
            status,
            started_at_ms,
            finished_at_ms: self.clock.now_ms(),
            error: error.clone(),
            output: output.map(|o| truncate(o, MAX_RECORDED_TEXT)),
            retry_at,
            recorded: reply,
        };
        // The writer lives as long as the executor; a closed channel
        // means the outcome could not be written.
        let recorded = match self.completions.send(pending) {
            Ok(()) => answer.await.unwrap_or(false),
            Err(_) => false,
        };
        if recorded && let Some(at) = retry_at {
            tracing::info!(fire = fire.id, job = %Printable(&job.name), attempt = fire.attempt + 1,
                retry_at = %from_ms(at), "retry queued");
        }
        if !recorded {
            tracing::warn!(fire = fire.id, job = %Printable(&job.name), %status,
                "fire outcome not recorded: the fire is no longer ours (recovered or cancelled elsewhere)");
        }
        match status {
            FireStatus::Succeeded => {
                tracing::debug!(fire = fire.id, job = %Printable(&job.name), "fire succeeded")
            }
            _ => tracing::warn!(fire = fire.id, job = %Printable(&job.name), %status,
                error = error.as_deref().unwrap_or(""), "fire did not succeed"),
        }
        self.events.emit(SchedulerEvent::Completed {
            fire_id: fire.id,
            job: job.name.clone(),
            status,
            recorded,
        });
        status
    }
}

/// Why a fire stopped when its token was cancelled.
fn cancelled_why(work: &CancellationToken) -> &'static str {
    if work.is_cancelled() {
        "cancelled: the node shut down before the fire finished"
    } else {
        "cancelled: the fire was cancelled, replaced or recovered elsewhere"
    }
}

/// The wait before the next attempt of a fire that failed at `attempt`,
/// or None when the job's retry policy (or the job itself) says no more.
fn retry_delay(job: &Job, attempt: u32, directive: RetryDirective) -> Option<Duration> {
    let policy = &job.retry;
    if !policy.allows_retry_after(attempt) {
        return None;
    }
    match directive {
        RetryDirective::Never => None,
        // A server's Retry-After never holds a fire longer than the job's
        // own ceiling between attempts.
        RetryDirective::After(d) => Some(d.min(policy.max_backoff)),
        RetryDirective::ByPolicy => Some(policy.delay_after(attempt, rand::random::<f64>())),
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
