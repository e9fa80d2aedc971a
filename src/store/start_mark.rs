//! The start mark: `started_at` on a running fire, written durably before
//! its job is called, so that recovery can tell a fire that never started
//! from one that may have.
//!
//! A fire whose instant has come when a node takes it is born with the
//! mark, in the same durable write: the fire record (see
//! `record.rs`) or the lease from the queue (see `queue.rs`); the node
//! starts it as soon as that write commits. A fire recorded ahead of its
//! instant is recorded `running` with `started_at` NULL; when its instant
//! comes, the node sets `started_at` on every fire of the batch in one
//! fenced `UPDATE … RETURNING id` (this module), and starts only the fires
//! whose row took the mark.
//!
//! Why it is sound: recovery ([`Store::recover_node_fires`]) first updates
//! every unmarked `running` fire of the dead node back to `queued` (fired
//! again, whatever `requests_recovery` says), and only then judges the
//! marked ones by `requests_recovery`. The mark and that first recovery
//! statement both update the fire's row under the same predicate
//! (`status = 'running' AND started_at IS NULL`). On PostgreSQL the row
//! lock orders them and the second re-checks the predicate on the row the
//! first committed: either the mark wins (recovery sees a started fire and
//! never fires it again without `requests_recovery`) or recovery wins (the
//! mark takes no row, so the job is never called). On SQLite there is one
//! writer. So a fire without the mark provably never called its job, and
//! a job is never called without the mark. The mark also refuses a node
//! already declared dead.
//!
//! [`Store::recover_node_fires`]: crate::store::Store::recover_node_fires

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, Value};

use super::{Store, StoreError, placeholders};

/// Fires per statement: two parameters each, far below either backend's
/// limit on bound parameters.
const MARK_CHUNK_ROWS: usize = 1_000;

impl Store {
    /// Marks these running fires of `node_id` (each with the fence it was
    /// recorded or leased with) as started at `now_ms`; returns the ids
    /// that took the mark. A fire no longer running here (recovered by a
    /// peer, cancelled, replaced) or already marked does not.
    pub async fn fires_mark_started(
        &self,
        node_id: &str,
        fires: &[(i64, i64)],
        now_ms: i64,
    ) -> Result<HashSet<i64>, StoreError> {
        let mut marked = HashSet::with_capacity(fires.len());
        for chunk in fires.chunks(MARK_CHUNK_ROWS) {
            let mut values: Vec<Value> = vec![now_ms.into(), node_id.into()];
            let mut rows = Vec::with_capacity(chunk.len());
            for (id, fence) in chunk {
                rows.push(format!("({})", placeholders(values.len() + 1, 2)));
                values.extend([Value::from(*id), Value::from(*fence)]);
            }
            // VALUES columns are column1… on both backends.
            let sql = format!(
                "UPDATE fires SET started_at = $1 FROM (VALUES {}) AS v \
                 WHERE fires.id = v.column1 AND fires.fence = v.column2 AND fires.node_id = $2 \
                   AND fires.status = 'running' AND fires.started_at IS NULL \
                   AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $2 AND n.state = 'dead') \
                 RETURNING fires.id",
                rows.join(", ")
            );
            for row in self.db.query_all_raw(self.stmt(&sql, values)).await? {
                marked.insert(row.try_get::<i64>("", "id")?);
            }
        }
        Ok(marked)
    }
}
