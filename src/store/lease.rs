//! Leasing due triggers: one statement that reserves up to the executor's
//! free slots, ordered by priority, then on-time before misfired, then
//! earliest; `SKIP LOCKED` on PostgreSQL.

use entity::triggers;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, TransactionTrait, Value};

use super::{MalformedRow, Store, StoreError, codec, placeholders};
use crate::model::Trigger;

pub use super::queue::LeasedFires;

/// What to lease.
#[derive(Debug, Clone)]
pub struct LeaseParams<'a> {
    pub node_id: &'a str,
    pub now_ms: i64,
    /// How long the lease holds before another node may take the trigger.
    pub lease_ms: i64,
    /// At most this many: the executor's free slots.
    pub limit: u64,
    pub pools: &'a [String],
    /// Lease triggers due at or before this instant (UTC ms): `now_ms`, or
    /// a few milliseconds later so that the fire can be recorded before
    /// its instant and start exactly on it.
    pub due_by_ms: i64,
}

/// Triggers a node leased: those that decode, and those put aside (set to
/// `error` with the reason) because they do not.
#[derive(Debug, Clone, Default)]
pub struct LeasedTriggers {
    pub triggers: Vec<Trigger>,
    pub put_aside: Vec<MalformedRow>,
}

/// The lease's row-selecting query: due, waiting triggers of the pools
/// (`$6...`), not leased by a live lease, for a node not declared dead
/// (`$1`), in lease order, at most `$4`; `$2` is now, `$5` the horizon.
pub(super) fn due_select(pools: &str) -> String {
    format!(
        "SELECT id FROM triggers \
         WHERE state = 'waiting' AND pool IN ({pools}) AND next_fire_at <= $5 \
           AND (lease_until IS NULL OR lease_until < $2) \
           AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $1 AND n.state = 'dead') \
         ORDER BY priority DESC, \
           CASE WHEN next_fire_at < $2 - COALESCE(misfire_threshold_ms, 60000) THEN 1 ELSE 0 END, \
           next_fire_at, id LIMIT $4"
    )
}

impl Store {
    /// Leases up to `limit` due triggers of the node's pools in one
    /// statement: highest priority first; within a priority, on-time
    /// triggers before misfired ones (late by more than their threshold,
    /// or 60 s), so a storm of late fires never holds back on-time ones;
    /// then earliest. On PostgreSQL rows another node is leasing are
    /// skipped, not waited for. A leased row that does not decode goes to
    /// `error` at once and comes back in `put_aside`.
    pub async fn lease_due_triggers(
        &self,
        p: &LeaseParams<'_>,
    ) -> Result<LeasedTriggers, StoreError> {
        if p.limit == 0 || p.pools.is_empty() {
            return Ok(LeasedTriggers::default());
        }
        let select = due_select(&placeholders(6, p.pools.len()));
        let sql = match self.backend {
            DbBackend::Postgres => format!(
                "WITH due AS ({select} FOR UPDATE SKIP LOCKED) \
                 UPDATE triggers t SET lease_owner = $1, lease_until = $3, fence = t.fence + 1, updated_at = $2 \
                 FROM due WHERE t.id = due.id RETURNING t.*"
            ),
            _ => format!(
                "UPDATE triggers SET lease_owner = $1, lease_until = $3, fence = fence + 1, updated_at = $2 \
                 WHERE id IN ({select}) RETURNING *"
            ),
        };
        let mut values: Vec<Value> = vec![
            p.node_id.into(),
            p.now_ms.into(),
            (p.now_ms + p.lease_ms).into(),
            (p.limit.min(i64::MAX as u64) as i64).into(),
            p.due_by_ms.max(p.now_ms).into(),
        ];
        values.extend(p.pools.iter().map(|s| Value::from(s.as_str())));
        let query = triggers::Entity::find().from_raw_sql(self.stmt(&sql, values));
        let mut rows = if self.backend == DbBackend::Postgres {
            // The lease need not wait for the WAL to reach disk: it only
            // reserves the trigger. If the server crashed and lost it, the
            // fenced (and durable) record that follows would find no lease
            // and write nothing; the trigger is leased again later.
            let txn = self.db.begin().await?;
            txn.execute_unprepared("SET LOCAL synchronous_commit TO OFF")
                .await?;
            let rows = query.all(&txn).await?;
            txn.commit().await?;
            rows
        } else {
            query.all(&self.db).await?
        };
        rows.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.next_fire_at.cmp(&b.next_fire_at))
                .then(a.id.cmp(&b.id))
        });
        let mut leased = LeasedTriggers::default();
        for row in &rows {
            match codec::trigger(row) {
                Ok(trigger) => leased.triggers.push(trigger),
                Err(e) => {
                    self.put_aside(&e);
                    self.set_trigger_error(row.id, row.fence, p.node_id, &e.reason(), p.now_ms)
                        .await?;
                    leased.put_aside.push(e);
                }
            }
        }
        Ok(leased)
    }
}
