//! Fire records: complete (fenced), list with filters.

use super::storable::{refuse_nul, storable_opt};
use super::{Store, StoreError, codec, placeholders};
use crate::model::{Fire, FireStatus, NotifyEvent};
use entity::fires;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
};

/// The outcome of a fire, written by the node that ran it.
#[derive(Debug, Clone)]
pub struct FireCompletion<'a> {
    pub fire_id: i64,
    pub node_id: &'a str,
    pub fence: i64,
    pub status: FireStatus,
    /// When the job actually started (None: keep the recorded start).
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: i64,
    pub error: Option<String>,
    pub output: Option<String>,
}

/// Which fires to list.
#[derive(Debug, Clone, Default)]
pub struct FireFilter {
    pub job: Option<String>,
    pub status: Option<FireStatus>,
    /// At most this many, newest first (by scheduled instant).
    pub limit: Option<u64>,
}

impl Store {
    /// Completes a running fire. Fenced: only the node that owns it, with
    /// the fence it was recorded with, can complete it, and only while it
    /// is still running (a fire recovered or cancelled by another node is
    /// not overwritten). Returns whether the row was updated.
    pub async fn fire_complete(&self, c: &FireCompletion<'_>) -> Result<bool, StoreError> {
        self.fire_complete_and_retry(c, None).await
    }

    /// Completes a running fire as [`Store::fire_complete`] does and, in the
    /// same transaction, queues its next attempt to start at `retry_at`
    /// (UTC ms): the same trigger and scheduled instant, attempt + 1.
    pub async fn fire_complete_and_retry(
        &self,
        c: &FireCompletion<'_>,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        Ok(self.fire_complete_batch(&[(c.clone(), retry_at)]).await?[0])
    }

    /// Completes many fires in one transaction (one commit), each exactly
    /// as [`Store::fire_complete_and_retry`] does; returns, in order,
    /// whether each record was updated.
    pub async fn fire_complete_batch(
        &self,
        batch: &[(FireCompletion<'_>, Option<i64>)],
    ) -> Result<Vec<bool>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.begin_write().await?;
        // One statement for the whole batch: the fenced update of every
        // fire, returning the ids that took.
        let mut rows = Vec::with_capacity(batch.len());
        let mut values: Vec<Value> = Vec::with_capacity(batch.len() * 7);
        for (c, _) in batch {
            let n = values.len();
            rows.push(format!("({})", placeholders(n + 1, 8)));
            values.extend([
                c.node_id.into(),
                c.fire_id.into(),
                c.fence.into(),
                c.status.as_str().into(),
                c.finished_at_ms.into(),
                // Job text is made storable here, on every backend alike.
                storable_opt(c.error.as_deref()).into(),
                storable_opt(c.output.as_deref()).into(),
                c.started_at_ms.into(),
            ]);
        }
        // VALUES columns are column1… on both backends.
        let sql = format!(
            "UPDATE fires SET status = v.column4, finished_at = v.column5, error = v.column6, output = v.column7, \
               started_at = COALESCE(v.column8, fires.started_at) \
             FROM (VALUES {}) AS v \
             WHERE fires.id = v.column2 AND fires.fence = v.column3 AND fires.node_id = v.column1 \
               AND fires.status = 'running' \
             RETURNING fires.id",
            rows.join(", ")
        );
        let updated: std::collections::HashSet<i64> = txn
            .query_all_raw(self.stmt(&sql, values))
            .await?
            .iter()
            .map(|r| r.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()?;
        let mut recorded = Vec::with_capacity(batch.len());
        let mut retries = false;
        let mut failed: Vec<(NotifyEvent, i64, i64)> = Vec::new();
        for (c, retry_at) in batch {
            let took = updated.contains(&c.fire_id);
            if took && let Some(due_at) = retry_at {
                self.queue_retry(&txn, c, *due_at).await?;
                retries = true;
            }
            // A failure notifies when no retry follows it.
            if took && retry_at.is_none() {
                let event = match c.status {
                    FireStatus::Failed => Some(NotifyEvent::Failed),
                    FireStatus::TimedOut => Some(NotifyEvent::TimedOut),
                    _ => None,
                };
                if let Some(event) = event {
                    failed.push((event, c.fire_id, c.finished_at_ms));
                }
            }
            recorded.push(took);
        }
        for event in [NotifyEvent::Failed, NotifyEvent::TimedOut] {
            let ids: Vec<i64> = failed
                .iter()
                .filter(|f| f.0 == event)
                .map(|f| f.1)
                .collect();
            if let Some(now_ms) = failed.iter().map(|f| f.2).max() {
                self.notify_fires(&txn, event, &ids, now_ms).await?;
            }
        }
        txn.commit().await?;
        if retries {
            self.announce_change().await;
        }
        Ok(recorded)
    }

    /// Queues the next attempt of a fire that failed: the same trigger
    /// and scheduled instant, attempt + 1, due at `due_at`.
    async fn queue_retry<C: ConnectionTrait>(
        &self,
        txn: &C,
        c: &FireCompletion<'_>,
        due_at: i64,
    ) -> Result<(), StoreError> {
        txn.execute_raw(self.stmt(
            "INSERT INTO fires (trigger_id, job_id, job_name, scheduled_at, due_at, attempt, fence, \
               status, reason, data) \
             SELECT trigger_id, job_id, job_name, scheduled_at, $1, attempt + 1, 0, 'queued', $2, data \
             FROM fires WHERE id = $3 \
             ON CONFLICT (trigger_id, scheduled_at, attempt) DO NOTHING",
            [
                due_at.into(),
                format!("retry of fire {} ({})", c.fire_id, c.status.as_str()).into(),
                c.fire_id.into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Fires, newest first (a row that does not decode is left out).
    pub async fn fires_list(&self, filter: &FireFilter) -> Result<Vec<Fire>, StoreError> {
        let mut query = fires::Entity::find();
        if let Some(job) = &filter.job {
            refuse_nul("job", job)?;
            query = query.filter(fires::Column::JobName.eq(job.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(fires::Column::Status.eq(status.as_str()));
        }
        let query = query
            .order_by_desc(fires::Column::ScheduledAt)
            .order_by_desc(fires::Column::Attempt)
            .order_by_desc(fires::Column::Id);
        let query = match filter.limit {
            Some(n) => query.limit(n),
            None => query,
        };
        let rows = query.all(&self.db).await?;
        Ok(self.decode_all(&rows, codec::fire))
    }

    /// A fire by id.
    pub async fn fire_by_id(&self, id: i64) -> Result<Option<Fire>, StoreError> {
        let row = fires::Entity::find_by_id(id).one(&self.db).await?;
        Ok(row.as_ref().map(codec::fire).transpose()?)
    }
}
