//! The fire queue and the controls around it: overlap between fires of one
//! job, fires waiting to start (retries after their backoff, fires queued
//! behind a running one), cancellation, pause scopes and standby.
//!
//! A fire row with status `queued` and a `due_at` waits in the queue; a
//! node leases it like a trigger (one statement, never more than its free
//! slots, `SKIP LOCKED` on PostgreSQL) and it becomes `running` under that
//! node's id and a new fence. Overlap is enforced in the database: the job
//! row is locked while its fires are started, so two nodes cannot both
//! start a fire of a job that allows only one at a time.

use entity::fires;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Value};

use super::{MalformedRow, Store, StoreError, codec, placeholders};
use crate::model::{Fire, FireStatus, Job, OverlapGate, OverlapPolicy};

/// Queued fires a node leased to run: those that decode, and those put
/// aside (completed `failed` with the reason) because they do not.
#[derive(Debug, Clone, Default)]
pub struct LeasedFires {
    pub fires: Vec<Fire>,
    pub put_aside: Vec<MalformedRow>,
}

impl Store {
    /// The overlap gate of `job`: its running and queued fires, read (and
    /// on PostgreSQL locked, for this transaction). Jobs that allow
    /// overlap cost no query.
    pub(super) async fn overlap_gate<C: ConnectionTrait>(
        &self,
        db: &C,
        job: &Job,
    ) -> Result<OverlapGate, StoreError> {
        if job.overlap == OverlapPolicy::Allow {
            return Ok(OverlapGate::default());
        }
        if self.backend == DbBackend::Postgres {
            db.execute_raw(self.stmt(
                "SELECT id FROM jobs WHERE id = $1 FOR UPDATE",
                [job.id.into()],
            ))
            .await?;
        }
        let rows = db
            .query_all_raw(self.stmt(
                "SELECT id, status FROM fires WHERE job_id = $1 AND status IN ('running', 'queued')",
                [job.id.into()],
            ))
            .await?;
        let mut running = Vec::new();
        let mut queued = false;
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let status: String = row.try_get("", "status")?;
            if status == FireStatus::Running.as_str() {
                running.push(id);
            } else {
                queued = true;
            }
        }
        Ok(OverlapGate::new(job.overlap, running, queued))
    }

    /// Cancels the running fires a new one replaces (overlap `replace`).
    pub(super) async fn cancel_replaced<C: ConnectionTrait>(
        &self,
        db: &C,
        replaced: &[i64],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if replaced.is_empty() {
            return Ok(());
        }
        db.execute_raw(self.stmt(
            &format!(
                "UPDATE fires SET status = 'cancelled', finished_at = $1, \
                   error = 'replaced by a newer fire (overlap policy replace)' \
                 WHERE status = 'running' AND id IN ({})",
                placeholders(2, replaced.len())
            ),
            std::iter::once(Value::from(now_ms)).chain(replaced.iter().map(|id| Value::from(*id))),
        ))
        .await?;
        Ok(())
    }
}

impl Store {
    /// Leases up to `limit` queued fires that are due, of the node's pools,
    /// whose job is not paused and (unless it allows overlap) has no fire
    /// running. Highest job priority first, then earliest due. Each comes
    /// back with the start mark (`started_at` now, see `start_mark.rs`):
    /// the node starts them as soon as this statement (durable, like any
    /// write of the pool) returns.
    pub async fn lease_due_fires(
        &self,
        node_id: &str,
        now_ms: i64,
        limit: u64,
        pools: &[String],
    ) -> Result<LeasedFires, StoreError> {
        if limit == 0 || pools.is_empty() {
            return Ok(LeasedFires::default());
        }
        let select = format!(
            "SELECT f.id FROM fires f JOIN jobs j ON j.id = f.job_id \
             WHERE f.status = 'queued' AND f.due_at <= $2 AND j.paused = FALSE AND j.pool IN ({pools}) \
               AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $1 AND n.state = 'dead') \
               AND (j.overlap = 'allow' OR NOT EXISTS \
                    (SELECT 1 FROM fires r WHERE r.job_id = f.job_id AND r.status = 'running')) \
             ORDER BY j.priority DESC, f.due_at, f.id LIMIT $3",
            pools = placeholders(4, pools.len())
        );
        let sql = match self.backend {
            // Locking the job row as well keeps two nodes from starting two
            // fires of a no-overlap job at once; a locked job is skipped now
            // and looked at again on the next pass.
            DbBackend::Postgres => format!(
                "WITH due AS ({select} FOR UPDATE OF f, j SKIP LOCKED) \
                 UPDATE fires SET status = 'running', node_id = $1, started_at = $2, fence = fires.fence + 1 \
                 FROM due WHERE fires.id = due.id RETURNING fires.*"
            ),
            _ => format!(
                "UPDATE fires SET status = 'running', node_id = $1, started_at = $2, fence = fence + 1 \
                 WHERE id IN ({select}) RETURNING *"
            ),
        };
        let mut values: Vec<Value> = vec![
            node_id.into(),
            now_ms.into(),
            (limit.min(i64::MAX as u64) as i64).into(),
        ];
        values.extend(pools.iter().map(|p| Value::from(p.as_str())));
        let mut rows = fires::Entity::find()
            .from_raw_sql(self.stmt(&sql, values))
            .all(&self.db)
            .await?;
        rows.sort_by_key(|f| (f.due_at, f.id));
        let mut leased = LeasedFires::default();
        for row in &rows {
            match codec::fire(row) {
                Ok(fire) => leased.fires.push(fire),
                Err(e) => {
                    self.put_aside(&e);
                    self.fail_leased_fire(row.id, node_id, row.fence, &e.reason(), now_ms)
                        .await?;
                    leased.put_aside.push(e);
                }
            }
        }
        Ok(leased)
    }

    /// Completes a fire this node leased as `failed` with `reason`, without
    /// running it (its row, or its job's, does not decode). Fenced like any
    /// completion.
    pub async fn fail_leased_fire(
        &self,
        fire_id: i64,
        node_id: &str,
        fence: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.fire_complete(&super::FireCompletion {
            fire_id,
            node_id,
            fence,
            status: FireStatus::Failed,
            started_at_ms: None,
            finished_at_ms: now_ms,
            error: Some(format!("not run: {reason}")),
            output: None,
        })
        .await
    }

    /// The earliest `due_at` of a queued fire of these pools.
    pub async fn next_queued_due_at(&self, pools: &[String]) -> Result<Option<i64>, StoreError> {
        if pools.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MIN(f.due_at) AS due FROM fires f JOIN jobs j ON j.id = f.job_id \
             WHERE f.status = 'queued' AND j.paused = FALSE AND j.pool IN ({})",
            placeholders(1, pools.len())
        );
        let values: Vec<Value> = pools.iter().map(|p| Value::from(p.as_str())).collect();
        let row = self.db.query_one_raw(self.stmt(&sql, values)).await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i64>>("", "due")?,
            None => None,
        })
    }

    /// Cancels a running or queued fire (through the API, or replaced by a
    /// newer one). The node running it notices on its next pass and stops
    /// the job. Returns whether the fire was cancelled.
    pub async fn fire_cancel(
        &self,
        fire_id: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute_raw(self.stmt(
                "UPDATE fires SET status = 'cancelled', finished_at = $1, error = $2 \
                 WHERE id = $3 AND status IN ('running', 'queued')",
                [
                    now_ms.into(),
                    super::storable_text(reason).as_ref().into(),
                    fire_id.into(),
                ],
            ))
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Of these fires (running here), the ones the database no longer has
    /// as running: cancelled, replaced or recovered elsewhere, or deleted
    /// with their job (a fire whose record is gone has nobody to report
    /// to, and must not hold a slot).
    pub async fn fires_no_longer_running(&self, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id FROM fires WHERE status = 'running' AND id IN ({})",
            placeholders(1, ids.len())
        );
        let values: Vec<Value> = ids.iter().map(|id| Value::from(*id)).collect();
        let rows = self.db.query_all_raw(self.stmt(&sql, values)).await?;
        let still: std::collections::HashSet<i64> = rows
            .iter()
            .map(|r| r.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()?;
        Ok(ids
            .iter()
            .copied()
            .filter(|id| !still.contains(id))
            .collect())
    }

    /// Pauses or resumes one trigger. Its state is `paused` while either
    /// it or its job is paused. Returns false when nothing changed.
    pub async fn trigger_set_paused(
        &self,
        trigger_id: i64,
        paused: bool,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = if paused {
            "UPDATE triggers SET paused = TRUE, updated_at = $1, \
               state = CASE WHEN state = 'waiting' THEN 'paused' ELSE state END \
             WHERE id = $2 AND paused = FALSE"
        } else {
            "UPDATE triggers SET paused = FALSE, updated_at = $1, \
               state = CASE WHEN state = 'paused' AND NOT EXISTS \
                 (SELECT 1 FROM jobs j WHERE j.id = triggers.job_id AND j.paused = TRUE) \
                 THEN 'waiting' ELSE state END \
             WHERE id = $2 AND paused = TRUE"
        };
        let n = self
            .db
            .execute_raw(self.stmt(sql, [now_ms.into(), trigger_id.into()]))
            .await?
            .rows_affected();
        if n == 0 && !self.trigger_exists(trigger_id).await? {
            return Err(StoreError::NotFound {
                what: "trigger",
                name: trigger_id.to_string(),
            });
        }
        if !paused {
            self.announce_change().await;
        }
        Ok(n == 1)
    }

    /// Pauses or resumes every job of a group; returns the jobs changed.
    pub async fn group_set_paused(
        &self,
        group: &str,
        paused: bool,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        super::refuse_nul("group", group)?;
        let rows = self
            .db
            .query_all_raw(self.stmt(
                "SELECT name FROM jobs WHERE job_group = $1 AND paused <> $2 ORDER BY name",
                [group.into(), paused.into()],
            ))
            .await?;
        let mut changed = Vec::new();
        for row in rows {
            let name: String = row.try_get("", "name")?;
            if self.job_set_paused(&name, paused, now_ms).await? {
                changed.push(name);
            }
        }
        Ok(changed)
    }

    /// Puts every node in standby (no fire starts; triggers keep their
    /// schedule) or takes them out of it.
    pub async fn set_standby(&self, standby: bool, now_ms: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO scheduler_flags (name, value, updated_at) VALUES ('standby', $1, $2) \
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
        let value = if standby { "true" } else { "false" };
        self.db
            .execute_raw(self.stmt(sql, [value.into(), now_ms.into()]))
            .await?;
        if !standby {
            self.announce_change().await;
        }
        Ok(())
    }

    /// Whether the scheduler is in standby.
    pub async fn is_standby(&self) -> Result<bool, StoreError> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                "SELECT value FROM scheduler_flags WHERE name = 'standby'",
                [],
            ))
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<String>("", "value")? == "true",
            None => false,
        })
    }
}
