//! Recording notifications in the transaction that records their event.
//!
//! The node sets its `[[notify]]` rules on the store
//! ([`Store::set_notify_rules`]); every statement that records an event
//! (a fire completed `failed`/`timed_out` with no retry to follow, fires
//! abandoned by recovery, fires skipped by a misfire, a node declared
//! dead, a job's expectation violated) then inserts, in its own
//! transaction, one `notifications` row per rule that asks for it. The
//! UNIQUE `dedup_key` makes a second insert of the same event a no-op, so
//! two nodes recording it notify once. Without rules nothing is added to
//! the hot path.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, Value};

use super::{Store, StoreError, placeholders};
use crate::model::{NotifyEvent, NotifyRule};

/// The rules a store records notifications for.
pub(super) type Rules = Arc<std::sync::RwLock<Arc<Vec<NotifyRule>>>>;

/// `AND <column> IN (…)` for a non-empty filter, its values appended.
fn filter_clause(column: &str, names: &[String], values: &mut Vec<Value>) -> String {
    if names.is_empty() {
        return String::new();
    }
    let clause = format!(
        " AND {column} IN ({})",
        placeholders(values.len() + 1, names.len())
    );
    values.extend(names.iter().map(|n| Value::from(n.as_str())));
    clause
}

impl Store {
    /// Sets the rules notifications are recorded for (every clone of this
    /// store shares them).
    pub fn set_notify_rules(&self, rules: Vec<NotifyRule>) {
        *self.notify_rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }

    /// The rules notifications are recorded for.
    pub fn notify_rules(&self) -> Arc<Vec<NotifyRule>> {
        self.notify_rules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The rules that ask for `event`.
    fn rules_for(&self, event: NotifyEvent) -> Vec<NotifyRule> {
        self.notify_rules()
            .iter()
            .filter(|r| r.wants(event))
            .cloned()
            .collect()
    }

    /// Records `event` for the fires `fire_ids`, for every rule asking for
    /// it whose filters the fire's job passes.
    pub(super) async fn notify_fires<C: ConnectionTrait>(
        &self,
        txn: &C,
        event: NotifyEvent,
        fire_ids: &[i64],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if fire_ids.is_empty() {
            return Ok(());
        }
        for rule in self.rules_for(event) {
            for chunk in fire_ids.chunks(500) {
                let mut values: Vec<Value> = vec![
                    rule.name.as_str().into(),
                    event.as_str().into(),
                    now_ms.into(),
                ];
                let ids = placeholders(values.len() + 1, chunk.len());
                values.extend(chunk.iter().map(|id| Value::from(*id)));
                let jobs = filter_clause("f.job_name", &rule.jobs, &mut values);
                let groups = filter_clause("j.job_group", &rule.groups, &mut values);
                let sql = format!(
                    "INSERT INTO notifications (notify, event, dedup_key, job_name, fire_id, node_id, \
                       fire_status, scheduled_at, detail, due_at, created_at) \
                     SELECT $1, $2, $1 || ':' || $2 || ':fire:' || CAST(f.id AS TEXT), f.job_name, f.id, \
                       f.node_id, f.status, f.scheduled_at, COALESCE(f.error, f.reason), $3, $3 \
                     FROM fires f LEFT JOIN jobs j ON j.id = f.job_id \
                     WHERE f.id IN ({ids}){jobs}{groups} \
                     ON CONFLICT (dedup_key) DO NOTHING"
                );
                txn.execute_raw(self.stmt(&sql, values)).await?;
            }
        }
        Ok(())
    }

    /// Records that `node` was declared dead by `by` at `now_ms`, for every
    /// rule asking for `node_dead` (job filters do not apply: the event has
    /// no job). A node is declared dead by one peer only (the statement
    /// that declares it takes its row), so the instant is part of the key:
    /// a node id restarted and declared dead again notifies again.
    pub(super) async fn notify_node_dead<C: ConnectionTrait>(
        &self,
        txn: &C,
        node: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for rule in self.rules_for(NotifyEvent::NodeDead) {
            let event = NotifyEvent::NodeDead.as_str();
            txn.execute_raw(self.stmt(
                "INSERT INTO notifications (notify, event, dedup_key, node_id, detail, due_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (dedup_key) DO NOTHING",
                [
                    rule.name.as_str().into(),
                    event.into(),
                    format!("{}:{event}:node:{node}:{now_ms}", rule.name).into(),
                    node.into(),
                    format!("node {node} was declared dead by {by}").into(),
                    now_ms.into(),
                ],
            ))
            .await?;
        }
        Ok(())
    }

    /// Records that `job` has had no success since `since_ms` (its last
    /// success, or its creation) beyond its expectation, once per rule and
    /// per `since_ms`: a later success opens a new window.
    pub async fn notify_expectation_violated(
        &self,
        job: &str,
        since_ms: i64,
        detail: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let event = NotifyEvent::ExpectationViolated.as_str();
        let mut added = 0;
        for rule in self.rules_for(NotifyEvent::ExpectationViolated) {
            let mut values: Vec<Value> = vec![
                rule.name.as_str().into(),
                event.into(),
                format!("{}:{event}:job:{job}:{since_ms}", rule.name).into(),
                job.into(),
                detail.into(),
                now_ms.into(),
            ];
            let jobs = filter_clause("j.name", &rule.jobs, &mut values);
            let groups = filter_clause("j.job_group", &rule.groups, &mut values);
            let sql = format!(
                "INSERT INTO notifications (notify, event, dedup_key, job_name, detail, due_at, created_at) \
                 SELECT $1, $2, $3, j.name, $5, $6, $6 FROM jobs j WHERE j.name = $4{jobs}{groups} \
                 ON CONFLICT (dedup_key) DO NOTHING"
            );
            added += self
                .db
                .execute_raw(self.stmt(&sql, values))
                .await?
                .rows_affected();
        }
        Ok(added)
    }
}
