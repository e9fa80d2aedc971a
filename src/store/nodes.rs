//! Nodes: registration, check-ins, the database clock, dead-node
//! declaration and the recovery of a dead node's fires.
//!
//! The database is the authority on membership. A node is dead when its
//! last check-in is older than `dead_after` check-in intervals; a live peer
//! declares it so with a conditional update, so it happens once. A node
//! declared dead cannot check in again (its check-in is conditional on
//! being active); it notices and stops. Its running fires are recovered in
//! one transaction, scoped to its id: a fire that never started is queued
//! again as it is; one that may have started gets a new attempt when its
//! job requests recovery, and is `abandoned` either way. Completing a fire is fenced on
//! status `running`, so the dead node can never overwrite them.

use entity::nodes;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder};

use super::{Store, StoreError, codec};
use crate::model::{NodeSummary, NotifyEvent};

/// What a node says of itself at each check-in.
#[derive(Debug, Clone)]
pub struct NodeCheckin<'a> {
    pub node_id: &'a str,
    pub host: &'a str,
    pub pid: i64,
    pub version: &'a str,
    pub pools: &'a [String],
    pub now_ms: i64,
    pub checkin_interval_ms: i64,
    pub clock_offset_ms: i64,
}

/// A dead node's fires, recovered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Fires that had not started, queued again as they are (same
    /// attempt), whatever their job's `requests_recovery`.
    pub refired: u64,
    /// Fires that may have started, queued again as a new attempt (their
    /// jobs request recovery).
    pub rerun: u64,
    /// Fires that may have started, marked `abandoned` (each rerun one is
    /// also abandoned: its new attempt is a new row).
    pub abandoned: u64,
}

impl Store {
    /// Registers a starting node: its row becomes `active` whatever it was
    /// (a restart under the same id), and fires a previous incarnation left
    /// `running` are recovered, since nothing runs yet.
    pub async fn node_register(&self, c: &NodeCheckin<'_>) -> Result<Recovery, StoreError> {
        let pools = c.pools.join(",");
        self.db
            .execute_raw(self.stmt(
                "INSERT INTO nodes (id, host, pid, version, pools, started_at, last_checkin_at, \
                   checkin_interval_ms, clock_offset_ms, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, 'active') \
                 ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
                   version = excluded.version, pools = excluded.pools, started_at = excluded.started_at, \
                   last_checkin_at = excluded.last_checkin_at, checkin_interval_ms = excluded.checkin_interval_ms, \
                   clock_offset_ms = excluded.clock_offset_ms, state = 'active', \
                   declared_dead_by = NULL, declared_dead_at = NULL",
                [
                    c.node_id.into(),
                    c.host.into(),
                    c.pid.into(),
                    c.version.into(),
                    pools.into(),
                    c.now_ms.into(),
                    c.checkin_interval_ms.into(),
                    c.clock_offset_ms.into(),
                ],
            ))
            .await?;
        self.recover_node_fires(c.node_id, c.node_id, c.now_ms)
            .await
    }

    /// Checks in. Returns false when the node is no longer active (another
    /// node declared it dead): it must stop at once.
    pub async fn node_checkin(&self, c: &NodeCheckin<'_>) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute_raw(self.stmt(
                "UPDATE nodes SET last_checkin_at = $1, clock_offset_ms = $2, checkin_interval_ms = $3 \
                 WHERE id = $4 AND state = 'active'",
                [
                    c.now_ms.into(),
                    c.clock_offset_ms.into(),
                    c.checkin_interval_ms.into(),
                    c.node_id.into(),
                ],
            ))
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Marks a node that shuts down cleanly as `stopped`.
    pub async fn node_stop(&self, node_id: &str, now_ms: i64) -> Result<(), StoreError> {
        self.db
            .execute_raw(self.stmt(
                "UPDATE nodes SET state = 'stopped', last_checkin_at = $1 WHERE id = $2 AND state = 'active'",
                [now_ms.into(), node_id.into()],
            ))
            .await?;
        Ok(())
    }

    /// The database's own clock in UTC milliseconds, for measuring a
    /// node's clock offset. None on SQLite (one host, one clock).
    pub async fn database_now_ms(&self) -> Result<Option<i64>, StoreError> {
        if self.backend != DbBackend::Postgres {
            return Ok(None);
        }
        let row = self
            .db
            .query_one_raw(self.stmt(
                "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now",
                [],
            ))
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<i64>("", "now")?),
            None => None,
        })
    }

    /// Declares dead every other active node whose last check-in is older
    /// than `dead_after` of its check-in intervals. Each is declared once,
    /// by whichever live node gets there first.
    pub async fn declare_dead_nodes(
        &self,
        me: &str,
        now_ms: i64,
        dead_after: u32,
    ) -> Result<Vec<String>, StoreError> {
        let txn = self.begin_write().await?;
        let rows = txn
            .query_all_raw(self.stmt(
                "UPDATE nodes SET state = 'dead', declared_dead_by = $1, declared_dead_at = $2 \
                 WHERE state = 'active' AND id <> $1 AND last_checkin_at + checkin_interval_ms * $3 < $2 \
                 RETURNING id",
                [me.into(), now_ms.into(), i64::from(dead_after).into()],
            ))
            .await?;
        let dead: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "id"))
            .collect::<Result<_, _>>()?;
        for node in &dead {
            self.notify_node_dead(&txn, node, me, now_ms).await?;
        }
        txn.commit().await?;
        Ok(dead)
    }

    /// Recovers the running fires of a dead (or restarted) node, in one
    /// transaction, and frees its trigger leases at once.
    ///
    /// A fire that never started (no start mark, see
    /// [`super::start_mark`]) goes back to the queue as it is, same fire
    /// and same attempt: its job was never called, so this is its first
    /// run, whatever `requests_recovery` says (it keeps its due instant,
    /// so the queue starts it at once). This statement runs first and
    /// takes the row of every unmarked fire: the start mark, racing with
    /// it, either took the row before (the fire counts as started) or
    /// finds it no longer running (the job is never called). A fire that
    /// may have started gets a new attempt when its job requests recovery;
    /// it is `abandoned` in either case.
    pub async fn recover_node_fires(
        &self,
        dead: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Recovery, StoreError> {
        let txn = self.begin_write().await?;
        if self.backend == DbBackend::Postgres {
            // A dead node frozen inside a transaction holds row locks until
            // the server ends its session (idle_in_transaction_session_
            // timeout, at most half the dead threshold, so normally before
            // anyone declares it dead). Should a lock outlive that, this
            // recovery gives up after as long, and the next round does it
            // again (`dead_nodes_with_running_fires`): a peer is never
            // stalled behind a frozen node.
            txn.execute_unprepared(&format!(
                "SET LOCAL lock_timeout = '{}ms'",
                self.idle_in_transaction.as_millis().max(1)
            ))
            .await?;
        }
        let refired = txn
            .execute_raw(self.stmt(
                "UPDATE fires SET status = 'queued', node_id = NULL, recovery = TRUE, \
                   reason = 'fired again: node ' || $1 || ' stopped before starting it' \
                 WHERE node_id = $1 AND status = 'running' AND started_at IS NULL",
                [dead.into()],
            ))
            .await?
            .rows_affected();
        let rerun = txn
            .execute_raw(self.stmt(
                "INSERT INTO fires (trigger_id, job_id, job_name, scheduled_at, due_at, attempt, fence, \
                   status, recovery, reason, data) \
                 SELECT f.trigger_id, f.job_id, f.job_name, f.scheduled_at, $1, f.attempt + 1, 0, \
                   'queued', TRUE, 'recovery of fire ' || f.id || ': node ' || $2 || ' died while running it', f.data \
                 FROM fires f JOIN jobs j ON j.id = f.job_id \
                 WHERE f.node_id = $2 AND f.status = 'running' AND j.requests_recovery = TRUE \
                 ON CONFLICT (trigger_id, scheduled_at, attempt) DO NOTHING",
                [now_ms.into(), dead.into()],
            ))
            .await?
            .rows_affected();
        let abandoned_ids: Vec<i64> = txn
            .query_all_raw(self.stmt(
                "UPDATE fires SET status = 'abandoned', finished_at = $1, \
                   error = 'node ' || $2 || ' was declared dead by ' || $3 || ' while running this fire' \
                 WHERE node_id = $2 AND status = 'running' RETURNING id",
                [now_ms.into(), dead.into(), by.into()],
            ))
            .await?
            .iter()
            .map(|r| r.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()?;
        let abandoned = abandoned_ids.len() as u64;
        self.notify_fires(&txn, NotifyEvent::Abandoned, &abandoned_ids, now_ms)
            .await?;
        self.release_notifications_of(&txn, dead).await?;
        txn.execute_raw(self.stmt(
            "UPDATE triggers SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            [dead.into()],
        ))
        .await?;
        txn.commit().await?;
        if rerun + refired > 0 {
            self.announce_change().await;
        }
        Ok(Recovery {
            refired,
            rerun,
            abandoned,
        })
    }

    /// Nodes declared dead that still hold running fires: a recovery that
    /// failed (the database went away between the declaration and the
    /// recovery), or a fire a dead node's last transaction committed after
    /// it was recovered. A healthy node recovers them again.
    pub async fn dead_nodes_with_running_fires(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .db
            .query_all_raw(self.stmt(
                "SELECT DISTINCT f.node_id AS id FROM fires f JOIN nodes n ON n.id = f.node_id \
                 WHERE f.status = 'running' AND n.state = 'dead'",
                [],
            ))
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String>("", "id").map_err(StoreError::from))
            .collect()
    }

    /// Every node, with how many fires it is running (a row that does not
    /// decode is left out).
    pub async fn nodes_list(&self) -> Result<Vec<NodeSummary>, StoreError> {
        let nodes = nodes::Entity::find()
            .order_by_asc(nodes::Column::Id)
            .all(&self.db)
            .await?;
        let counts = self
            .db
            .query_all_raw(self.stmt(
                "SELECT node_id, COUNT(*) AS n FROM fires WHERE status = 'running' AND node_id IS NOT NULL \
                 GROUP BY node_id",
                [],
            ))
            .await?;
        let mut running = std::collections::HashMap::new();
        for row in counts {
            running.insert(
                row.try_get::<String>("", "node_id")?,
                row.try_get::<i64>("", "n")?,
            );
        }
        Ok(self
            .decode_all(&nodes, codec::node)
            .into_iter()
            .map(|node| {
                let running_fires = running.get(&node.id).copied().unwrap_or(0);
                NodeSummary {
                    node,
                    running_fires,
                }
            })
            .collect())
    }
}
