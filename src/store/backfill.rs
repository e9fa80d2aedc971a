//! Backfill: queued fires for past instants of a trigger that have no fire
//! row yet, in one transaction, through the job's overlap gate.
//!
//! Existing rows (any status, any attempt) are left alone, so a second
//! backfill of the same window creates nothing. Each new fire is first
//! admitted by the same [`OverlapGate`](crate::model::OverlapGate) the
//! record path uses, with the job's running and queued fires in view:
//! under `skip` only the first new fire is queued (the others are recorded
//! `skipped` with the reason), under `queue` one runs and one waits; the
//! queue then leases a no-overlap job's fires one at a time. The fires are
//! `queued` with `due_at` = now and their instant as `scheduled_at`.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, Value};

use super::{Store, StoreError, placeholders};
use crate::model::{Admission, FireStatus, Job, OverlapGate, OverlapPolicy};

/// The backfill of one trigger.
#[derive(Debug, Clone)]
pub struct BackfillFires<'a> {
    pub job: &'a Job,
    pub trigger_id: i64,
    /// The instants (UTC ms), ascending.
    pub instants: &'a [i64],
    /// The data the fires run with (job data merged with trigger data).
    pub data: &'a serde_json::Value,
    pub now_ms: i64,
    /// Decide everything, write nothing.
    pub dry_run: bool,
}

/// What a backfill of one trigger did (or would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillOutcome {
    /// (instant, fire id (0 on a dry run), `queued` or `skipped`, reason).
    pub created: Vec<(i64, i64, FireStatus, Option<String>)>,
    /// Instants that already had a fire row.
    pub present: Vec<i64>,
}

impl Store {
    /// Creates the fires of `b` that do not exist yet (see the module doc).
    pub async fn backfill_fires(
        &self,
        b: &BackfillFires<'_>,
    ) -> Result<BackfillOutcome, StoreError> {
        let txn = self.begin_write().await?;
        let mut present = HashSet::new();
        for chunk in b.instants.chunks(500) {
            let sql = format!(
                "SELECT DISTINCT scheduled_at FROM fires WHERE trigger_id = $1 AND scheduled_at IN ({})",
                placeholders(2, chunk.len())
            );
            let values = std::iter::once(Value::from(b.trigger_id))
                .chain(chunk.iter().map(|t| Value::from(*t)));
            for row in txn.query_all_raw(self.stmt(&sql, values)).await? {
                present.insert(row.try_get::<i64>("", "scheduled_at")?);
            }
        }
        let mut gate = match b.job.overlap {
            OverlapPolicy::Skip | OverlapPolicy::Queue => self.overlap_gate(&txn, b.job).await?,
            // Allow runs them side by side; under replace the queue runs
            // them one after another, and no running fire is cancelled.
            _ => OverlapGate::default(),
        };
        let data = b.data.to_string();
        let mut out = BackfillOutcome::default();
        for &at in b.instants {
            if present.contains(&at) {
                out.present.push(at);
                continue;
            }
            let (status, reason) = match gate.admit() {
                Admission::Run | Admission::Queue => (FireStatus::Queued, "backfill".to_string()),
                Admission::Skip(why) => (FireStatus::Skipped, format!("backfill: {why}")),
            };
            let finished = (status == FireStatus::Skipped).then_some(b.now_ms);
            let id = if b.dry_run {
                0
            } else {
                let row = txn
                    .query_one_raw(self.stmt(
                        "INSERT INTO fires (trigger_id, job_id, job_name, scheduled_at, due_at, finished_at, \
                           attempt, fence, status, reason, data) \
                         VALUES ($1, $2, $3, $4, $5, $6, 1, 0, $7, $8, $9) \
                         ON CONFLICT (trigger_id, scheduled_at, attempt) DO NOTHING RETURNING id",
                        [
                            b.trigger_id.into(),
                            b.job.id.into(),
                            b.job.name.as_str().into(),
                            at.into(),
                            b.now_ms.into(),
                            finished.into(),
                            status.as_str().into(),
                            reason.as_str().into(),
                            data.as_str().into(),
                        ],
                    ))
                    .await?;
                match row {
                    Some(row) => row.try_get::<i64>("", "id")?,
                    None => {
                        out.present.push(at);
                        continue;
                    }
                }
            };
            out.created.push((at, id, status, Some(reason)));
        }
        if b.dry_run {
            txn.rollback().await?;
        } else {
            txn.commit().await?;
            if out.created.iter().any(|c| c.2 == FireStatus::Queued) {
                self.announce_change().await;
            }
        }
        Ok(out)
    }
}
