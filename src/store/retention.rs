//! Pruning fire history: the prune lease (one node at a time), and the
//! bounded deletes that keep the newest fire of each status of each job.
//!
//! Every delete removes at most `limit` rows in one short transaction, so
//! the lease and record statements of a busy node wait on it for
//! milliseconds at most. `queued` and `running` fires are never touched:
//! the statements name the final statuses only.

use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use super::{Store, StoreError, placeholders};
use crate::model::{FireStatus, PRUNABLE_STATUSES};

/// The row of `maintenance_leases` that the pruning node holds.
const PRUNE_LEASE: &str = "prune";

/// Steps per statement of [`Store::fires_prune_due`]: three parameters
/// each, far below either backend's limit on bound parameters.
const DUE_CHUNK_ROWS: usize = 1_000;

/// The statuses pruning may remove, as an SQL list of literals (a closed
/// set of names, no input).
fn final_statuses() -> String {
    PRUNABLE_STATUSES
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which rows one prune step removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneScope {
    /// The job's fires of `status` scheduled before `before_ms`.
    OlderThan { status: FireStatus, before_ms: i64 },
    /// The job's final fires beyond its newest `keep` (by scheduled
    /// instant).
    BeyondNewest { keep: u64 },
}

/// One bounded prune step on one job.
#[derive(Debug, Clone, Copy)]
pub struct PruneStep<'a> {
    pub job_id: i64,
    pub scope: PruneScope,
    /// At most this many rows in this step.
    pub limit: u64,
    /// The prune lease this step runs under (`owner`, the clock's now and
    /// the new expiry): the step extends it first, in its transaction, and
    /// removes nothing once another node holds it. None: a prune by hand,
    /// or a read ([`Store::fires_prune_due`]), which takes no lease.
    pub lease: Option<PruneLease<'a>>,
}

/// A node's hold on the prune lease.
#[derive(Debug, Clone, Copy)]
pub struct PruneLease<'a> {
    pub owner: &'a str,
    pub now_ms: i64,
    pub until_ms: i64,
}

impl Store {
    /// Takes (or extends) the prune lease for `lease.owner` unless another
    /// node holds it unexpired; returns whether `owner` holds it now.
    pub async fn prune_lease_take(&self, lease: &PruneLease<'_>) -> Result<bool, StoreError> {
        // One statement: on PostgreSQL the conflicting row is locked, so
        // two nodes taking the lease at once serialise, and the second
        // sees the first's unexpired lease.
        let rows = self
            .db
            .query_all_raw(self.stmt(
                "INSERT INTO maintenance_leases (name, owner, lease_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until \
                 WHERE maintenance_leases.owner = excluded.owner OR maintenance_leases.lease_until < $4 \
                 RETURNING owner",
                [
                    PRUNE_LEASE.into(),
                    lease.owner.into(),
                    lease.until_ms.into(),
                    lease.now_ms.into(),
                ],
            ))
            .await?;
        Ok(!rows.is_empty())
    }

    /// Gives the prune lease up, if `owner` holds it.
    pub async fn prune_lease_release(&self, owner: &str) -> Result<(), StoreError> {
        self.db
            .execute_raw(self.stmt(
                "UPDATE maintenance_leases SET lease_until = 0 WHERE name = $1 AND owner = $2",
                [PRUNE_LEASE.into(), owner.into()],
            ))
            .await?;
        Ok(())
    }

    /// Removes the rows of one step; None when the step's lease is held by
    /// another node (nothing removed), else how many rows went.
    pub async fn fires_prune(&self, step: &PruneStep<'_>) -> Result<Option<u64>, StoreError> {
        let txn = self.begin_write().await?;
        if let Some(lease) = &step.lease
            && !self.prune_lease_extend(&txn, lease).await?
        {
            txn.rollback().await?;
            return Ok(None);
        }
        let kept = self.newest_per_status(&txn, step.job_id).await?;
        let (selection, values) = self.prune_selection(step, &kept, Some(step.limit));
        let sql = format!("DELETE FROM fires WHERE id IN ({selection})");
        let removed = txn
            .execute_raw(self.stmt(&sql, values))
            .await?
            .rows_affected();
        txn.commit().await?;
        Ok(Some(removed))
    }

    /// Which of `steps` may remove anything: reads (no write, no commit to
    /// wait for) that a pass runs for a page of jobs before it prunes, so
    /// that the many jobs with nothing to prune cost it no transaction, and
    /// a page costs one statement per kind of scope (each status's age, the
    /// row cap), not one per job and scope. Each answer leaves out the
    /// exclusion of the newest fire of each status: that exclusion only
    /// removes rows, so when a scope without it is empty, the step is
    /// empty (an answer may be a false yes, never a false no).
    pub async fn fires_prune_due(&self, steps: &[PruneStep<'_>]) -> Result<Vec<bool>, StoreError> {
        let mut due = vec![false; steps.len()];
        let final_statuses = final_statuses();
        // One group per kind of scope: `Some(status)` its age, `None` the
        // row cap; each row is (step, job, bound).
        let kinds = PRUNABLE_STATUSES.iter().map(|&s| Some(s)).chain([None]);
        for kind in kinds {
            let rows: Vec<(usize, i64, i64)> = steps
                .iter()
                .enumerate()
                .filter_map(|(i, step)| match (kind, step.scope) {
                    (Some(k), PruneScope::OlderThan { status, before_ms }) if k == status => {
                        Some((i, step.job_id, before_ms))
                    }
                    (None, PruneScope::BeyondNewest { keep }) => {
                        Some((i, step.job_id, i64::try_from(keep).unwrap_or(i64::MAX)))
                    }
                    _ => None,
                })
                .collect();
            // Per job: a fire of the status older than the bound, or a
            // final fire beyond the newest `bound`. SQLite takes no outer
            // column in OFFSET, so it counts the job's final fires.
            let probe = match (kind, self.backend) {
                (Some(status), _) => format!(
                    "SELECT 1 FROM fires f WHERE f.job_id = v.column2 AND f.status = '{}' \
                       AND f.scheduled_at < v.column3",
                    status.as_str()
                ),
                (None, sea_orm::DbBackend::Sqlite) => format!(
                    "SELECT 1 WHERE (SELECT COUNT(*) FROM fires f \
                       WHERE f.job_id = v.column2 AND f.status IN ({final_statuses})) > v.column3"
                ),
                (None, _) => format!(
                    "SELECT 1 FROM (SELECT 1 FROM fires f \
                       WHERE f.job_id = v.column2 AND f.status IN ({final_statuses}) \
                       ORDER BY f.scheduled_at DESC, f.id DESC LIMIT 1 OFFSET v.column3) beyond"
                ),
            };
            for chunk in rows.chunks(DUE_CHUNK_ROWS) {
                let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 3);
                let mut tuples = Vec::with_capacity(chunk.len());
                for &(i, job_id, bound) in chunk {
                    tuples.push(format!("({})", placeholders(values.len() + 1, 3)));
                    values.extend([
                        i64::try_from(i).unwrap_or(i64::MAX).into(),
                        job_id.into(),
                        bound.into(),
                    ]);
                }
                // VALUES columns are column1… on both backends.
                let sql = format!(
                    "SELECT v.column1 AS i FROM (VALUES {}) AS v WHERE EXISTS ({probe})",
                    tuples.join(", ")
                );
                for row in self.db.query_all_raw(self.stmt(&sql, values)).await? {
                    let i = row.try_get::<i64>("", "i")?;
                    if let Some(d) = usize::try_from(i).ok().and_then(|i| due.get_mut(i)) {
                        *d = true;
                    }
                }
            }
        }
        Ok(due)
    }

    /// How many rows the step would remove without its limit (a dry run).
    pub async fn fires_prune_count(&self, step: &PruneStep<'_>) -> Result<u64, StoreError> {
        let txn = self.db.begin().await?;
        let kept = self.newest_per_status(&txn, step.job_id).await?;
        let (selection, values) = self.prune_selection(step, &kept, None);
        let sql = format!("SELECT COUNT(*) AS n FROM ({selection}) AS doomed");
        let n = match txn.query_one_raw(self.stmt(&sql, values)).await? {
            Some(row) => row.try_get::<i64>("", "n")?,
            None => 0,
        };
        txn.commit().await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Extends the lease inside a prune transaction; false when `owner`
    /// no longer holds it (expired and taken by another node).
    async fn prune_lease_extend(
        &self,
        txn: &DatabaseTransaction,
        lease: &PruneLease<'_>,
    ) -> Result<bool, StoreError> {
        let rows = txn
            .query_all_raw(self.stmt(
                "UPDATE maintenance_leases SET lease_until = $1 \
                 WHERE name = $2 AND owner = $3 AND lease_until >= $4 RETURNING owner",
                [
                    lease.until_ms.into(),
                    PRUNE_LEASE.into(),
                    lease.owner.into(),
                    lease.now_ms.into(),
                ],
            ))
            .await?;
        Ok(!rows.is_empty())
    }

    /// A `SELECT id …` of the rows a step removes, oldest first, with its
    /// values: the fires `kept` (the newest of each status of the job, see
    /// [`Store::newest_per_status`]) are left out.
    fn prune_selection(
        &self,
        step: &PruneStep<'_>,
        kept: &[i64],
        limit: Option<u64>,
    ) -> (String, Vec<sea_orm::Value>) {
        let mut values: Vec<sea_orm::Value> = vec![step.job_id.into()];
        let final_statuses = final_statuses();
        let kept_clause = if kept.is_empty() {
            String::new()
        } else {
            let clause = format!(" AND id NOT IN ({})", placeholders(2, kept.len()));
            values.extend(kept.iter().map(|id| sea_orm::Value::from(*id)));
            clause
        };
        let limit_clause = |values: &mut Vec<sea_orm::Value>| match limit {
            Some(n) => {
                values.push(i64::try_from(n).unwrap_or(i64::MAX).into());
                format!(" LIMIT ${}", values.len())
            }
            None => String::new(),
        };
        let sql = match step.scope {
            PruneScope::OlderThan { status, before_ms } => {
                if !status.is_final() {
                    // Never reached through the pruner; refused all the same.
                    return ("SELECT id FROM fires WHERE 1 = 0".into(), Vec::new());
                }
                values.push(status.as_str().into());
                let s = values.len();
                values.push(before_ms.into());
                let b = values.len();
                let limit = limit_clause(&mut values);
                format!(
                    "SELECT id FROM fires WHERE job_id = $1 AND status = ${s} AND scheduled_at < ${b}{kept_clause} \
                     ORDER BY scheduled_at, id{limit}"
                )
            }
            PruneScope::BeyondNewest { keep } => {
                // The newest of each status is left out first, so it never
                // counts against the cap; OFFSET skips the newest `keep`
                // of the others. The limit comes before OFFSET: a step
                // removes the oldest end of the window each time.
                let limit = limit_clause(&mut values);
                let limit = if limit.is_empty() {
                    // OFFSET needs a LIMIT on SQLite (-1: none); PostgreSQL
                    // takes ALL.
                    if self.backend == sea_orm::DbBackend::Sqlite {
                        " LIMIT -1".to_string()
                    } else {
                        " LIMIT ALL".to_string()
                    }
                } else {
                    limit
                };
                values.push(i64::try_from(keep).unwrap_or(i64::MAX).into());
                let k = values.len();
                format!(
                    "SELECT id FROM fires WHERE job_id = $1 AND status IN ({final_statuses}){kept_clause} \
                     ORDER BY scheduled_at DESC, id DESC{limit} OFFSET ${k}"
                )
            }
        };
        (sql, values)
    }

    /// The id of the newest fire (by scheduled instant) of each final
    /// status of a job: what pruning always keeps.
    async fn newest_per_status(
        &self,
        txn: &DatabaseTransaction,
        job_id: i64,
    ) -> Result<Vec<i64>, StoreError> {
        // One scalar subquery per status, each a single step down the
        // (job_id, status, scheduled_at) index.
        let columns = PRUNABLE_STATUSES
            .iter()
            .map(|s| {
                format!(
                    "(SELECT id FROM fires WHERE job_id = $1 AND status = '{0}' \
                       ORDER BY scheduled_at DESC, id DESC LIMIT 1) AS {0}",
                    s.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let row = txn
            .query_one_raw(self.stmt(&format!("SELECT {columns}"), [job_id.into()]))
            .await?;
        let mut ids = Vec::new();
        if let Some(row) = row {
            for s in PRUNABLE_STATUSES {
                if let Some(id) = row.try_get::<Option<i64>>("", s.as_str())? {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }
}
