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
//! around it that only waits, logs and repeats. A pass loads the exclusion
//! calendars its leased triggers name in one query, so a trigger's
//! timeline ([`next_fire_after`], shared with the previews) sees definitions at most one
//! pass old; a trigger naming a calendar that is gone goes to `error`.
//! The repeat count of daily-time-interval triggers is enforced here, on
//! the plan, since their schedule is stateless. Tests drive `run_once`
//! with a manual clock. A pass that fills every free slot loops at once; a
//! database error is logged once per outage and retried every
//! [`MAX_RETRY_WAIT`] at most, and never ends the loop.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as TimeDelta;
use rand::Rng;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, from_ms};
use crate::events::{Events, SchedulerEvent};
use crate::executor::Executor;
use crate::model::Printable;
use crate::model::{Fire, Job, Trigger};
use crate::schedule::calendar::CalendarSet;
use crate::schedule::jitter;
use crate::schedule::misfire::{self, DueTrigger, FirePlan};
use crate::schedule::preview::next_fire_after;
use crate::store::{
    JobsById, LeaseParams, LeasedFires, LoadedCalendars, MAX_RETRY_WAIT, RecordFire, RecordOutcome,
    Store, StoreError,
};

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
    /// Lease and record fires up to this long before their instant; the
    /// executor starts each exactly on it. Zero leases only what is due.
    pub lookahead: Duration,
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
    /// The earliest instant a trigger or queued fire may be due (UTC ms),
    /// as the pass saw it.
    pub next_due_ms: Option<i64>,
    /// The scheduler is in standby: nothing was started.
    pub standby: bool,
    /// The database is lost (see [`Store::database_fault`]): nothing was
    /// leased, so nothing fires unrecorded.
    pub database_lost: bool,
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

    /// One pass: stop fires cancelled elsewhere, then start what is due
    /// (queued fires first, then triggers), never more than the
    /// executor's free slots. In standby nothing starts.
    pub async fn run_once(&self) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        if self.store.database_fault().is_some() {
            pass.database_lost = true;
            return Ok(pass);
        }
        let running = self.executor.running_fire_ids();
        if !running.is_empty() {
            let gone = self.store.fires_no_longer_running(&running).await?;
            self.executor.cancel_fires(&gone);
        }
        if self.store.is_standby().await? {
            pass.standby = true;
            return Ok(pass);
        }
        let limit = self.executor.free_slots().min(self.config.max_batch);
        let now_ms = self.clock.now_ms();
        if limit > 0 {
            let queued = self
                .store
                .lease_due_fires(
                    &self.config.node_id,
                    now_ms,
                    limit as u64,
                    &self.config.pools,
                )
                .await?;
            self.start_queued(queued, now_ms, &mut pass).await?;
        }
        let limit = limit.saturating_sub(pass.started);
        if limit > 0 {
            let leased = self
                .store
                .lease_due_triggers(&LeaseParams {
                    node_id: &self.config.node_id,
                    now_ms,
                    lease_ms: self.config.lease.as_millis() as i64,
                    limit: limit as u64,
                    pools: &self.config.pools,
                    due_by_ms: now_ms + self.config.lookahead.as_millis() as i64,
                })
                .await?;
            let count = leased.triggers.len() + leased.put_aside.len();
            pass.leased = count;
            pass.full = count == limit;
            if count > 0 {
                self.events.emit(SchedulerEvent::Leased { count });
            }
            for row in &leased.put_aside {
                // The store already put the trigger in `error`.
                self.trigger_error_event(&row.id, row.reason());
            }
            let leased = leased.triggers;
            if !leased.is_empty() {
                let jobs = self.jobs_of(leased.iter().map(|t| t.job_id)).await?;
                let calendars = self.calendars_of(&leased).await?;
                let now = self.clock.now();
                let mut planned = Vec::with_capacity(leased.len());
                for trigger in &leased {
                    let Some(job) = self.job_of_trigger(trigger, &jobs, now_ms).await? else {
                        continue;
                    };
                    if let Some((plan, data)) =
                        self.plan_trigger(trigger, job, &calendars, now).await?
                    {
                        planned.push((trigger, job, plan, data));
                    }
                }
                self.record_and_start(&planned, now.timestamp_millis(), &mut pass)
                    .await?;
            }
        }
        if pass.full {
            // More may be due: the loop passes again at once, no need to
            // know when to wake.
            return Ok(pass);
        }
        let now_ms = self.clock.now_ms();
        let next_trigger = self.store.next_due_at(&self.config.pools, now_ms).await?;
        let next_queued = self.store.next_queued_due_at(&self.config.pools).await?;
        pass.next_due_ms = match (next_trigger, next_queued) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(pass)
    }

    /// Starts the queued fires a pass leased. A fire (or its job) whose row
    /// does not decode was, or is now, completed `failed` with the reason.
    async fn start_queued(
        &self,
        queued: LeasedFires,
        now_ms: i64,
        pass: &mut Pass,
    ) -> Result<(), StoreError> {
        if queued.fires.is_empty() {
            return Ok(());
        }
        let jobs = self.jobs_of(queued.fires.iter().map(|f| f.job_id)).await?;
        let mut to_start = Vec::with_capacity(queued.fires.len());
        for fire in queued.fires {
            if let Some(job) = jobs.jobs.get(&fire.job_id) {
                to_start.push((fire, job));
            } else if let Some(bad) = jobs.malformed.get(&fire.job_id) {
                let reason = format!("its job (id {}) cannot be read: {}", bad.id, bad.reason());
                tracing::error!(fire = fire.id, %reason, "queued fire not run; set to failed");
                self.store
                    .fail_leased_fire(fire.id, &self.config.node_id, fire.fence, &reason, now_ms)
                    .await?;
            }
            // Else the job is gone: the foreign key cascades deletes.
        }
        self.start_all(to_start, pass).await;
        Ok(())
    }

    /// Hands a pass's fires to the executor. Fires recorded on or after
    /// their instant already carry the start mark (the record wrote it).
    /// The other fires due now are first marked started, all in one
    /// statement (see `store/start_mark.rs`), and only those whose mark
    /// took are handed over: the others were recovered or cancelled
    /// elsewhere meanwhile. Fires recorded ahead of their instant are
    /// handed over unmarked: the executor marks them on it. If the mark
    /// cannot be written now (the database went away), the fires go over
    /// unmarked too, and the executor marks them when it can: a recorded
    /// fire is never left behind on a live node.
    async fn start_all(&self, fires: Vec<(Fire, &Job)>, pass: &mut Pass) {
        if fires.is_empty() {
            return;
        }
        let now_ms = self.clock.now_ms();
        let to_mark = |f: &Fire| f.started_at.is_none() && f.due_at <= now_ms;
        let due: Vec<(i64, i64)> = fires
            .iter()
            .filter(|(f, _)| to_mark(f))
            .map(|(f, _)| (f.id, f.fence))
            .collect();
        let marked = if due.is_empty() {
            None
        } else {
            match self
                .store
                .fires_mark_started(&self.config.node_id, &due, now_ms)
                .await
            {
                Ok(marked) => Some(marked),
                Err(e) => {
                    tracing::warn!(fires = due.len(), error = %e,
                        "cannot mark fires started; the executor marks them when it can");
                    None
                }
            }
        };
        for (mut fire, job) in fires {
            if let Some(marked) = &marked
                && to_mark(&fire)
            {
                if !marked.contains(&fire.id) {
                    tracing::info!(fire = fire.id, job = %Printable(&job.name),
                        "fire not started: it is no longer ours (recovered or cancelled elsewhere)");
                    continue;
                }
                fire.started_at = Some(now_ms);
            }
            self.start(fire, job, pass);
        }
    }

    /// The job of a leased trigger; None when it is gone (deleted between
    /// lease and now: its triggers went with it) or does not decode (the
    /// trigger goes to `error`, naming the job's bad column).
    async fn job_of_trigger<'j>(
        &self,
        trigger: &Trigger,
        jobs: &'j JobsById,
        now_ms: i64,
    ) -> Result<Option<&'j Job>, StoreError> {
        if let Some(job) = jobs.jobs.get(&trigger.job_id) {
            return Ok(Some(job));
        }
        if let Some(bad) = jobs.malformed.get(&trigger.job_id) {
            let message = format!("its job (id {}) cannot be read: {}", bad.id, bad.reason());
            tracing::error!(trigger = trigger.id, %message, "trigger cannot be evaluated; set to error");
            self.store
                .trigger_set_error(trigger, &self.config.node_id, &message, now_ms)
                .await?;
            self.trigger_error_event(&trigger.id.to_string(), message);
        }
        Ok(None)
    }

    fn trigger_error_event(&self, id: &str, message: String) {
        if let Ok(trigger_id) = id.parse() {
            self.events.emit(SchedulerEvent::TriggerError {
                trigger_id,
                message,
            });
        }
    }

    /// The calendars the leased triggers name, in one query.
    async fn calendars_of(&self, leased: &[Trigger]) -> Result<LoadedCalendars, StoreError> {
        let mut names: Vec<String> = leased.iter().flat_map(|t| t.calendars.clone()).collect();
        names.sort();
        names.dedup();
        self.store.calendars_load(&names).await
    }

    async fn jobs_of(&self, ids: impl Iterator<Item = i64>) -> Result<JobsById, StoreError> {
        let mut ids: Vec<i64> = ids.collect();
        ids.sort_unstable();
        ids.dedup();
        self.store.jobs_by_id(&ids).await
    }

    fn start(&self, fire: Fire, job: &Job, pass: &mut Pass) {
        self.events.emit(SchedulerEvent::Fired {
            fire_id: fire.id,
            job: job.name.clone(),
            scheduled_at_ms: fire.scheduled_at,
        });
        tracing::debug!(fire = fire.id, job = %Printable(&job.name), attempt = fire.attempt,
            scheduled_at = %from_ms(fire.scheduled_at), "firing");
        self.executor.start(fire, job.clone());
        pass.started += 1;
    }

    /// Plans the fires of one leased trigger at `now`: what runs, what is
    /// skipped, and the data they run with. A row that cannot be evaluated
    /// goes to the `error` state (None); it never stops the pass.
    async fn plan_trigger(
        &self,
        trigger: &Trigger,
        job: &Job,
        calendars: &LoadedCalendars,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(FirePlan, Value)>, StoreError> {
        let evaluated = trigger
            .next_fire_at
            .ok_or_else(|| "next_fire_at is NULL".to_string())
            .and_then(|scheduled| Ok((scheduled, calendars.set_for(&trigger.calendars)?)));
        let (scheduled_ms, set) = match evaluated {
            Ok(v) => v,
            Err(message) => {
                tracing::error!(trigger = trigger.id, job = %Printable(&job.name), %message, "trigger cannot be evaluated; set to error");
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
                return Ok(None);
            }
        };
        let spec = &trigger.spec;
        let policy = trigger.misfire;
        let threshold = trigger.misfire_threshold.unwrap_or_else(|| {
            TimeDelta::from_std(self.config.misfire_threshold).unwrap_or(TimeDelta::MAX)
        });
        // Jitter: the trigger keeps its nominal instant (next_fire_at) and
        // is leased on it; its fire keeps that instant as `scheduled_at` and
        // waits in the fire queue until nominal + offset (see
        // `RecordFire::jittered_due`). The misfire threshold counts from the
        // jittered instant, so a fire is late only when now is past nominal +
        // offset + threshold: the threshold is widened by the offset. (A
        // uniform offset differs per fire; the trigger's next instant's is
        // used for the plan.)
        let offset = jitter::offset_ms(job.jitter.as_ref(), &job.name, trigger.id, scheduled_ms);
        let threshold = threshold
            .checked_add(&TimeDelta::milliseconds(offset))
            .unwrap_or(TimeDelta::MAX);
        let due = DueTrigger {
            kind: spec.kind(),
            policy,
            threshold,
            scheduled_at: from_ms(scheduled_ms),
            start_at: from_ms(trigger.start_at),
            repeat_count: trigger.repeat_count,
            times_fired: trigger.times_fired,
        };
        let timeline = |start, repeat, after| next_fire_after(spec, start, repeat, &set, after);
        let plan = misfire::plan(&due, now, &timeline);
        let plan = skip_excluded(plan, &set);
        let plan = limit_fires(plan, spec.fire_limit(due.repeat_count), due.times_fired);
        if plan.misfired {
            tracing::info!(trigger = trigger.id, job = %Printable(&job.name), scheduled_at = %due.scheduled_at,
                policy = %policy, "misfired");
        }
        let data = merged_data(&job.data, trigger.data.as_ref());
        Ok(Some((plan, data)))
    }

    /// Records a pass's planned fires in one transaction, then starts the
    /// ones to run.
    async fn record_and_start(
        &self,
        planned: &[(&Trigger, &Job, FirePlan, Value)],
        now_ms: i64,
        pass: &mut Pass,
    ) -> Result<(), StoreError> {
        let records: Vec<RecordFire<'_>> = planned
            .iter()
            .map(|(trigger, job, plan, data)| RecordFire {
                trigger,
                job,
                node_id: &self.config.node_id,
                now_ms,
                plan,
                data,
            })
            .collect();
        let outcomes = self.store.record_fires(&records).await?;
        let mut to_start = Vec::new();
        for ((trigger, job, _, _), outcome) in planned.iter().zip(outcomes) {
            match outcome {
                RecordOutcome::LeaseLost => {
                    tracing::warn!(
                        trigger = trigger.id,
                        "lease lost before the fire was recorded; another node has it"
                    );
                }
                RecordOutcome::Recorded { run, skipped } => {
                    pass.skipped += skipped.len();
                    for fire in skipped {
                        self.events.emit(SchedulerEvent::Skipped {
                            fire_id: fire.id,
                            job: job.name.clone(),
                            scheduled_at_ms: fire.scheduled_at,
                        });
                    }
                    to_start.extend(run.into_iter().map(|fire| (fire, *job)));
                }
            }
        }
        self.start_all(to_start, pass).await;
        Ok(())
    }

    /// The loop: pass, then sleep until the next due instant, a local
    /// change, a freed slot (when the pool was full) or the poll ceiling.
    /// Returns when `stop` is cancelled; never on a database error.
    pub async fn run(&self, stop: CancellationToken) {
        let changes = self.store.changes();
        let mut failures = 0u32;
        let mut failing_since = None;
        while !stop.is_cancelled() {
            let wait = match self.run_once().await {
                Ok(pass) => {
                    if let Some(since) = failing_since.take() {
                        let since: std::time::Instant = since;
                        tracing::info!(failed_passes = failures, outage = ?since.elapsed(),
                            "database reachable again; scheduling resumes");
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
                    // Once per outage: the loop retries every few hundred
                    // milliseconds until the database answers again.
                    if failing_since.is_none() {
                        failing_since = Some(std::time::Instant::now());
                        tracing::warn!(error = %e, retry_every = ?backoff,
                            "scheduler pass failed; retrying until the database answers");
                    } else {
                        tracing::debug!(error = %e, "scheduler pass failed again");
                    }
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
                let due = due - self.config.lookahead.as_millis() as i64;
                let wait_ms = (due - self.clock.now_ms()).max(0) as u64;
                Duration::from_millis(wait_ms).min(ceiling)
            }
            None => ceiling,
        }
    }
}

/// The wait after `failures` failed passes: 50 ms doubling to
/// [`MAX_RETRY_WAIT`].
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(50u64.saturating_mul(1 << failures.min(7))).min(MAX_RETRY_WAIT)
}

/// Records as skipped the fires a calendar excludes. The timeline never
/// yields such an instant, but a trigger's stored next fire was computed
/// with the definitions of its day: a holiday added since then still
/// stops it.
fn skip_excluded(mut plan: FirePlan, calendars: &CalendarSet) -> FirePlan {
    if calendars.is_empty() {
        return plan;
    }
    for fire in &mut plan.fires {
        if fire.skip_reason.is_none() && calendars.is_excluded(fire.scheduled_at) {
            let names: Vec<&str> = calendars
                .iter()
                .filter(|c| c.is_excluded(fire.scheduled_at))
                .map(|c| c.name.as_str())
                .collect();
            fire.skip_reason = Some(format!("excluded by calendar {}", names.join(", ")));
            plan.times_fired = plan.times_fired.saturating_sub(1);
        }
    }
    plan
}

/// Enforces a total fire count (`limit`, from
/// [`ScheduleSpec::fire_limit`](crate::schedule::ScheduleSpec::fire_limit))
/// on a plan for a trigger that has fired `fired` times: fires beyond it
/// are dropped (they never were due), and a trigger that reaches it has no
/// next fire, so it completes.
fn limit_fires(mut plan: FirePlan, limit: Option<u64>, fired: u64) -> FirePlan {
    let Some(limit) = limit else { return plan };
    let mut remaining = limit.saturating_sub(fired);
    plan.fires.retain(|f| {
        if f.skip_reason.is_some() {
            return true;
        }
        if remaining == 0 {
            return false;
        }
        remaining -= 1;
        true
    });
    let ran = plan
        .fires
        .iter()
        .filter(|f| f.skip_reason.is_none())
        .count() as u64;
    plan.times_fired = plan.times_fired.min(fired.saturating_add(ran));
    if plan.times_fired >= limit {
        plan.next_fire_at = None;
    }
    plan
}

/// The job's data with the trigger's keys over it (objects merge; any
/// other trigger value replaces the job's).
pub fn merged_data(job: &Value, trigger: Option<&Value>) -> Value {
    match (job, trigger) {
        (job, None) => job.clone(),
        (Value::Object(base), Some(Value::Object(over))) => {
            let mut merged = base.clone();
            merged.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
            Value::Object(merged)
        }
        (_, Some(over)) => over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_data_merges_over_job_data() {
        use serde_json::json;
        let merged =
            |job: Value, trigger: Option<Value>| merged_data(&job, trigger.as_ref()).to_string();
        assert_eq!(
            merged(json!({"a": 1, "b": 2}), Some(json!({"b": 3}))),
            r#"{"a":1,"b":3}"#
        );
        assert_eq!(merged(json!({"a": 1}), None), r#"{"a":1}"#);
        assert_eq!(merged(json!({"a": 1}), Some(json!(5))), "5");
    }

    fn plan_of(runs: &[i64], skipped: &[i64], times_fired: u64) -> FirePlan {
        use crate::schedule::misfire::PlannedFire;
        let mut fires: Vec<PlannedFire> = skipped
            .iter()
            .map(|&ms| PlannedFire {
                scheduled_at: from_ms(ms),
                skip_reason: Some("misfired".into()),
            })
            .collect();
        fires.extend(runs.iter().map(|&ms| PlannedFire {
            scheduled_at: from_ms(ms),
            skip_reason: None,
        }));
        FirePlan {
            fires,
            next_fire_at: Some(from_ms(1_000_000)),
            start_at: from_ms(0),
            repeat_count: Some(2),
            times_fired,
            misfired: false,
        }
    }

    #[test]
    fn fire_limit_trims_runs_and_completes() {
        // No limit: unchanged.
        let plan = limit_fires(plan_of(&[10, 20], &[], 2), None, 0);
        assert_eq!(plan.fires.len(), 2);
        assert!(plan.next_fire_at.is_some());
        // Below the limit: unchanged.
        let plan = limit_fires(plan_of(&[10], &[], 1), Some(3), 0);
        assert_eq!((plan.times_fired, plan.next_fire_at.is_some()), (1, true));
        // Reaching it: complete.
        let plan = limit_fires(plan_of(&[10], &[], 3), Some(3), 2);
        assert_eq!((plan.times_fired, plan.next_fire_at), (3, None));
        // A catch-up past it: extra runs dropped, skipped records kept.
        let plan = limit_fires(plan_of(&[10, 20, 30], &[5], 4), Some(3), 1);
        let runs: Vec<i64> = plan
            .fires
            .iter()
            .filter(|f| f.skip_reason.is_none())
            .map(|f| f.scheduled_at.timestamp_millis())
            .collect();
        assert_eq!(runs, [10, 20]);
        assert_eq!(plan.fires.len(), 3);
        assert_eq!((plan.times_fired, plan.next_fire_at), (3, None));
        // Already used up (a row written by hand): nothing runs.
        let plan = limit_fires(plan_of(&[10], &[], 6), Some(3), 5);
        assert!(plan.fires.is_empty());
        assert_eq!(plan.next_fire_at, None);
    }

    #[test]
    fn excluded_fires_are_recorded_as_skipped() {
        use crate::schedule::calendar::CalendarDef;
        let weekends = CalendarDef {
            name: "weekends".into(),
            timezone: None,
            dates: vec![],
            annual: vec![],
            days_of_week: vec!["sat".into(), "sun".into()],
            days_of_month: vec![],
            daily_range: None,
            cron: vec![],
        }
        .compile(chrono_tz::UTC)
        .expect("valid");
        let set = CalendarSet::new(vec![Arc::new(weekends)]);
        let saturday = from_ms(1_772_280_000_000); // 2026-02-28T12:00:00Z
        let monday = saturday + TimeDelta::days(2);
        let plan = plan_of(
            &[saturday.timestamp_millis(), monday.timestamp_millis()],
            &[],
            2,
        );
        let plan = skip_excluded(plan, &set);
        assert_eq!(
            plan.fires[0].skip_reason.as_deref(),
            Some("excluded by calendar weekends")
        );
        assert_eq!(plan.fires[1].skip_reason, None);
        assert_eq!(plan.times_fired, 1);
        let untouched = skip_excluded(
            plan_of(&[saturday.timestamp_millis()], &[], 1),
            &CalendarSet::default(),
        );
        assert_eq!(untouched.fires[0].skip_reason, None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert!(backoff(2) > backoff(1));
        assert_eq!(backoff(30), MAX_RETRY_WAIT);
    }
}
