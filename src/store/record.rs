//! Recording a leased trigger's planned fires and advancing it, in one
//! transaction fenced by the lease.
//!
//! Two paths record: a batch path for jobs that allow overlap (one
//! multi-row UPDATE of the triggers, multi-row INSERTs of their fires) and
//! a per-trigger path for the others, which decides overlap with the job's
//! running fires in view. Both build their fire rows with [`FireRows`], so
//! their INSERT column lists cannot disagree.

use std::collections::{HashMap, HashSet};

use entity::fires;
use sea_orm::{ConnectionTrait, EntityTrait, Value};
use serde_json::Value as Json;

use super::{Store, StoreError, codec, placeholders};
use crate::model::{
    Admission, Fire, FireStatus, Job, NotifyEvent, OverlapGate, OverlapPolicy, Trigger,
};
use crate::schedule::jitter;
use crate::schedule::misfire::FirePlan;

impl RecordFire<'_> {
    /// The instant the fire at `scheduled_ms` is due when the job's jitter
    /// puts it later than now; None when it is due now (no jitter, a zero
    /// offset, or an instant already past its offset).
    ///
    /// A jittered fire keeps its nominal instant in `scheduled_at` and is
    /// recorded `queued` with `due_at` at the jittered instant: the fire
    /// queue (leased by any node, recovered like any queued fire) starts it
    /// then, so no executor slot is held while it waits and lateness is
    /// measured from the jittered instant. Overlap is decided when the fire
    /// is recorded, at its nominal instant; a fire of a job that does not
    /// allow overlap also waits in the queue while another one runs.
    fn jittered_due(&self, scheduled_ms: i64) -> Option<i64> {
        let offset = self.jitter_offset(scheduled_ms)?;
        let due = scheduled_ms.saturating_add(offset);
        (due > self.now_ms).then_some(due)
    }

    /// The job's jitter offset for the fire at `scheduled_ms` (None: no
    /// jitter, or a zero offset). Recorded on the fire (`jitter_ms`) so that
    /// its lateness counts from the jittered instant, also when it was
    /// recorded after that instant.
    fn jitter_offset(&self, scheduled_ms: i64) -> Option<i64> {
        let offset = jitter::offset_ms(
            self.job.jitter.as_ref(),
            &self.job.name,
            self.trigger.id,
            scheduled_ms,
        );
        (offset > 0).then_some(offset)
    }
}

/// A fire to record: the leased trigger, its plan, and who records it.
#[derive(Debug, Clone)]
pub struct RecordFire<'a> {
    pub trigger: &'a Trigger,
    pub job: &'a Job,
    pub node_id: &'a str,
    pub now_ms: i64,
    pub plan: &'a FirePlan,
    /// The data the fires run with (job data merged with trigger data).
    pub data: &'a Json,
}

/// What recording a fire did.
#[derive(Debug, Clone)]
pub enum RecordOutcome {
    /// The trigger advanced; the fires with status `running` are ours to
    /// run, those with status `skipped` are what the plan (misfire,
    /// calendar or overlap policy) did not run; jittered fires wait in
    /// the queue (status `queued`) and are in neither.
    Recorded { run: Vec<Fire>, skipped: Vec<Fire> },
    /// The lease was lost (expired and taken): nothing was written.
    LeaseLost,
}

/// Rows per multi-row statement: 9 (fires) or 8 (triggers) parameters
/// each keeps a statement far below SQLite's 32,766 and PostgreSQL's
/// 65,535 bound parameters.
const INSERT_CHUNK_ROWS: usize = 1_000;
const UPDATE_CHUNK_ROWS: usize = 1_000;

/// The trigger's `previous_fire_at` after a plan: its latest instant that
/// runs, or the stored one when the plan runs nothing.
fn previous_fire_ms(plan: &FirePlan, trigger: &Trigger) -> Option<i64> {
    plan.fires
        .iter()
        .filter(|f| f.skip_reason.is_none())
        .map(|f| f.scheduled_at.timestamp_millis())
        .max()
        .or(trigger.previous_fire_at)
}

/// The skipped fires that a misfire policy did not run (their reason
/// says `misfired: …`; calendar and overlap skips are not misfires).
fn misfire_skips<'a>(fires: impl IntoIterator<Item = &'a Fire>) -> Vec<i64> {
    fires
        .into_iter()
        .filter(|f| f.status == FireStatus::Skipped)
        .filter(|f| {
            f.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("misfired"))
        })
        .map(|f| f.id)
        .collect()
}

/// A u64 count as a BIGINT column holds it.
fn stored_count(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

/// First-attempt fire rows of one node at one instant, as one
/// `INSERT … ON CONFLICT DO NOTHING RETURNING *`. `$1` is the instant and
/// `$2` the node, shared by every row; each row binds nine values.
struct FireRows {
    values: Vec<Value>,
    rows: Vec<String>,
}

impl FireRows {
    fn new(now_ms: i64, node_id: &str) -> FireRows {
        FireRows {
            values: vec![now_ms.into(), node_id.into()],
            rows: Vec::new(),
        }
    }

    /// One fire of `r`'s trigger at `scheduled_ms`: running on this node,
    /// queued, or skipped (finished now, with the reason).
    ///
    /// A running fire whose instant has come is born with the start mark
    /// (`started_at` now, see [`super::start_mark`]): the node starts it as
    /// soon as this transaction commits, so the record is its mark, and
    /// the separate mark (one more write of every `fires` row, a quarter
    /// of the database's work per fire) is left to fires recorded ahead of
    /// their instant, which the executor marks when it comes. This keeps
    /// the rule recovery relies on: no job is called before its fire
    /// durably carries the mark (the record commits durably), and a fire
    /// without it never started.
    fn push(&mut self, r: &RecordFire<'_>, data: &str, scheduled_ms: i64, admission: Admission) {
        let n = self.values.len();
        let (jittered, jitter_ms) = match admission {
            Admission::Run => (r.jittered_due(scheduled_ms), r.jitter_offset(scheduled_ms)),
            _ => (None, None),
        };
        let (running, status, reason) = match admission {
            Admission::Run if jittered.is_some() => (
                false,
                FireStatus::Queued,
                Some("jitter: waits in the queue until its jittered instant".to_string()),
            ),
            Admission::Run => (true, FireStatus::Running, None),
            Admission::Queue => (
                false,
                FireStatus::Queued,
                Some("overlap: queued behind the running fire (policy queue)".to_string()),
            ),
            Admission::Skip(reason) => (false, FireStatus::Skipped, Some(reason)),
        };
        let skipped = status == FireStatus::Skipped;
        let starts_now = running && scheduled_ms <= r.now_ms;
        self.rows.push(format!(
            "(${}, ${}, ${}, ${}, ${}, {}, {}, {}, 1, ${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            if starts_now { "$1" } else { "NULL" },
            if skipped { "$1" } else { "NULL" },
            if running { "$2" } else { "NULL" },
            n + 6,
            n + 7,
            n + 8,
            n + 9,
            n + 10,
        ));
        self.values.extend([
            r.trigger.id.into(),
            r.job.id.into(),
            r.job.name.as_str().into(),
            scheduled_ms.into(),
            jittered.unwrap_or(scheduled_ms.max(r.now_ms)).into(),
            r.trigger.fence.into(),
            status.as_str().into(),
            reason.into(),
            data.into(),
            jitter_ms.into(),
        ]);
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Inserts the rows; returns those inserted (a fire already recorded
    /// is not inserted again).
    async fn insert<C: ConnectionTrait>(
        self,
        store: &Store,
        txn: &C,
    ) -> Result<Vec<Fire>, StoreError> {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "INSERT INTO fires (trigger_id, job_id, job_name, scheduled_at, due_at, started_at, \
               finished_at, node_id, attempt, fence, status, reason, data, jitter_ms) \
             VALUES {} \
             ON CONFLICT (trigger_id, scheduled_at, attempt) DO NOTHING RETURNING *",
            self.rows.join(", ")
        );
        let inserted = fires::Entity::find()
            .from_raw_sql(store.stmt(&sql, self.values))
            .all(txn)
            .await?;
        // Rows just written from model values: a failure is a bug, and the
        // transaction is rolled back.
        inserted
            .iter()
            .map(|row| codec::fire(row).map_err(StoreError::from))
            .collect()
    }
}

impl Store {
    /// Records the planned fires of a leased trigger and advances it, in
    /// one transaction fenced by the lease: if another node took the
    /// trigger meanwhile, nothing is written. The unique key on
    /// (trigger, scheduled_at, attempt) makes a second record of the same
    /// fire impossible; such a fire is silently not run again.
    pub async fn record_fire(&self, r: &RecordFire<'_>) -> Result<RecordOutcome, StoreError> {
        let txn = self.begin_write().await?;
        let outcome = self.record_in(&txn, r).await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// Records the fires of a whole pass in one transaction (one commit,
    /// one fsync), each exactly as [`Store::record_fire`] would: a trigger
    /// whose lease was lost writes nothing and comes back `LeaseLost`.
    /// The records of one batch are of one node at one instant (a pass):
    /// the first record's node and `now_ms` stand for all.
    pub async fn record_fires(
        &self,
        batch: &[RecordFire<'_>],
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.begin_write().await?;
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; batch.len()];
        // Jobs that allow overlap need no look at running fires: their
        // triggers advance in one statement and their fires go in another.
        // The others take the per-trigger path, which sees the job's
        // running fires inside this same transaction.
        let (simple, gated): (Vec<usize>, Vec<usize>) =
            (0..batch.len()).partition(|&i| batch[i].job.overlap == OverlapPolicy::Allow);
        for (i, outcome) in self.record_simple(&txn, batch, &simple).await? {
            outcomes[i] = Some(outcome);
        }
        for i in gated {
            outcomes[i] = Some(self.record_in(&txn, &batch[i]).await?);
        }
        if let Some(pause) = self.record_pause {
            tracing::warn!(?pause, "test-only pause inside the record transaction");
            tokio::time::sleep(pause).await;
        }
        txn.commit().await?;
        // Every index was filled by one of the two paths above.
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(RecordOutcome::LeaseLost))
            .collect())
    }

    /// The batch path of [`Store::record_fires`] for triggers of jobs that
    /// allow overlap: one fenced multi-row UPDATE of the triggers, then
    /// multi-row INSERTs of the fires of those that advanced.
    async fn record_simple<C: ConnectionTrait>(
        &self,
        txn: &C,
        batch: &[RecordFire<'_>],
        which: &[usize],
    ) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
        if which.len() > UPDATE_CHUNK_ROWS {
            let mut out = Vec::with_capacity(which.len());
            for chunk in which.chunks(UPDATE_CHUNK_ROWS) {
                out.extend(Box::pin(self.record_simple(txn, batch, chunk)).await?);
            }
            return Ok(out);
        }
        if which.is_empty() {
            return Ok(Vec::new());
        }
        let advanced = self.advance_triggers(txn, batch, which).await?;
        // Per trigger: fires to run, fires skipped, jittered fires queued.
        let mut by_trigger: HashMap<i64, (Vec<Fire>, Vec<Fire>, usize)> = HashMap::new();
        let (node_id, now_ms) = (batch[which[0]].node_id, batch[which[0]].now_ms);
        let mut rows = FireRows::new(now_ms, node_id);
        // Chunks stay far below either backend's limit on bound parameters.
        let mut chunks = Vec::new();
        for &i in which {
            let r = &batch[i];
            if !advanced.contains(&r.trigger.id) {
                continue;
            }
            let data = r.data.to_string();
            for fire in &r.plan.fires {
                if rows.rows.len() == INSERT_CHUNK_ROWS {
                    chunks.push(std::mem::replace(&mut rows, FireRows::new(now_ms, node_id)));
                }
                let admission = match &fire.skip_reason {
                    None => Admission::Run,
                    Some(reason) => Admission::Skip(reason.clone()),
                };
                rows.push(r, &data, fire.scheduled_at.timestamp_millis(), admission);
            }
        }
        if !rows.is_empty() {
            chunks.push(rows);
        }
        for chunk in chunks {
            let inserted = chunk.insert(self, txn).await?;
            self.notify_fires(
                txn,
                NotifyEvent::MisfireSkipped,
                &misfire_skips(&inserted),
                now_ms,
            )
            .await?;
            for fire in inserted {
                let Some(trigger_id) = fire.trigger_id else {
                    continue;
                };
                let entry = by_trigger.entry(trigger_id).or_default();
                match fire.status {
                    FireStatus::Running => entry.0.push(fire),
                    FireStatus::Skipped => entry.1.push(fire),
                    // Jittered: the queue starts it on its instant.
                    _ => entry.2 += 1,
                }
            }
        }
        Ok(which
            .iter()
            .map(|&i| {
                let r = &batch[i];
                if !advanced.contains(&r.trigger.id) {
                    return (i, RecordOutcome::LeaseLost);
                }
                let (mut run, mut skipped, queued) =
                    by_trigger.remove(&r.trigger.id).unwrap_or_default();
                if run.len() + skipped.len() + queued < r.plan.fires.len() {
                    tracing::warn!(
                        trigger = r.trigger.id,
                        "fire already recorded; not recording it twice"
                    );
                }
                run.sort_by_key(|f| f.scheduled_at);
                skipped.sort_by_key(|f| f.scheduled_at);
                (i, RecordOutcome::Recorded { run, skipped })
            })
            .collect())
    }

    /// Advances the triggers `which` of `batch` as their plans say, in one
    /// multi-row UPDATE fenced by each lease; returns the ids that took.
    async fn advance_triggers<C: ConnectionTrait>(
        &self,
        txn: &C,
        batch: &[RecordFire<'_>],
        which: &[usize],
    ) -> Result<HashSet<i64>, StoreError> {
        let node_id = batch[which[0]].node_id;
        let now_ms = batch[which[0]].now_ms;
        let mut rows = Vec::with_capacity(which.len());
        let mut values: Vec<Value> = vec![node_id.into(), now_ms.into()];
        for &i in which {
            let r = &batch[i];
            let plan = r.plan;
            let previous = previous_fire_ms(plan, r.trigger);
            let n = values.len();
            rows.push(format!("({})", placeholders(n + 1, 8)));
            values.extend([
                r.trigger.id.into(),
                r.trigger.fence.into(),
                plan.next_fire_at.map(|t| t.timestamp_millis()).into(),
                previous.into(),
                stored_count(plan.times_fired).into(),
                plan.start_at.timestamp_millis().into(),
                plan.repeat_count.map(stored_count).into(),
                i32::from(plan.next_fire_at.is_none()).into(),
            ]);
        }
        // VALUES columns are column1… on both backends.
        let sql = format!(
            "UPDATE triggers SET next_fire_at = v.column3, previous_fire_at = v.column4, \
               times_fired = v.column5, start_at = v.column6, repeat_count = v.column7, \
               state = CASE WHEN v.column8 = 1 THEN 'complete' ELSE triggers.state END, \
               lease_owner = NULL, lease_until = NULL, updated_at = $2 \
             FROM (VALUES {}) AS v \
             WHERE triggers.id = v.column1 AND triggers.fence = v.column2 AND triggers.lease_owner = $1 \
               AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $1 AND n.state = 'dead') \
             RETURNING triggers.id",
            rows.join(", ")
        );
        Ok(txn
            .query_all_raw(self.stmt(&sql, values))
            .await?
            .iter()
            .map(|r| r.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()?)
    }

    /// The per-trigger path: advance the trigger (fenced), then admit its
    /// fires one by one through the job's overlap gate and insert them.
    async fn record_in<C: ConnectionTrait>(
        &self,
        txn: &C,
        r: &RecordFire<'_>,
    ) -> Result<RecordOutcome, StoreError> {
        let t = r.trigger;
        let plan = r.plan;
        let previous = previous_fire_ms(plan, t);
        let state = if plan.next_fire_at.is_none() {
            "complete"
        } else {
            ""
        };
        let advanced = txn
            .execute_raw(self.stmt(
                "UPDATE triggers SET next_fire_at = $1, previous_fire_at = $2, times_fired = $3, \
                   start_at = $4, repeat_count = $5, \
                   state = CASE WHEN $6 = 'complete' THEN 'complete' ELSE state END, \
                   lease_owner = NULL, lease_until = NULL, updated_at = $7 \
                 WHERE id = $8 AND lease_owner = $9 AND fence = $10 \
                   AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $9 AND n.state = 'dead')",
                [
                    plan.next_fire_at.map(|t| t.timestamp_millis()).into(),
                    previous.into(),
                    stored_count(plan.times_fired).into(),
                    plan.start_at.timestamp_millis().into(),
                    plan.repeat_count.map(stored_count).into(),
                    state.into(),
                    r.now_ms.into(),
                    t.id.into(),
                    r.node_id.into(),
                    t.fence.into(),
                ],
            ))
            .await?
            .rows_affected();
        if advanced == 0 {
            // Nothing was written for this trigger.
            return Ok(RecordOutcome::LeaseLost);
        }
        // Overlap between fires of one job is decided here, inside the
        // fenced transaction, with the job's running fires in view.
        let mut gate = if plan.fires.iter().any(|f| f.skip_reason.is_none()) {
            self.overlap_gate(txn, r.job).await?
        } else {
            OverlapGate::default()
        };
        let data = r.data.to_string();
        let mut run = Vec::new();
        let mut skipped = Vec::new();
        for fire in &plan.fires {
            let admission = match &fire.skip_reason {
                None => gate.admit(),
                Some(reason) => Admission::Skip(reason.clone()),
            };
            if admission == Admission::Run {
                self.cancel_replaced(txn, &gate.to_replace(), r.now_ms)
                    .await?;
            }
            let mut row = FireRows::new(r.now_ms, r.node_id);
            row.push(r, &data, fire.scheduled_at.timestamp_millis(), admission);
            let inserted = row.insert(self, txn).await?;
            if inserted.is_empty() {
                tracing::warn!(
                    trigger = t.id,
                    scheduled_at = %fire.scheduled_at,
                    "fire already recorded; not recording it twice"
                );
            }
            for fire in inserted {
                match fire.status {
                    FireStatus::Running => run.push(fire),
                    FireStatus::Skipped => skipped.push(fire),
                    _ => {}
                }
            }
        }
        self.notify_fires(
            txn,
            NotifyEvent::MisfireSkipped,
            &misfire_skips(&skipped),
            r.now_ms,
        )
        .await?;
        Ok(RecordOutcome::Recorded { run, skipped })
    }
}
