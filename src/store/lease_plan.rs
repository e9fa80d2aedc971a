//! What the lease's plan does: the database's own account (`EXPLAIN`) of
//! the lease's row-selecting query, as a node would run it now. The scale
//! bench reports it, and tests use it to hold the lease to its shape: it
//! never sorts, and it reads about as many rows as it takes, however many
//! triggers are due or stored.

use sea_orm::ConnectionTrait;

use super::lease::{bands_select, due_select, lease_values};
use super::{LeaseParams, Store, StoreError, placeholders};

/// The plan of one lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasePlan {
    /// Whether the plan sorts rows (a `Sort` node on PostgreSQL, a
    /// temporary B-tree on SQLite).
    pub sorts: bool,
    /// Index and table entries the plan read, counting those a filter
    /// removed (PostgreSQL, which measures it; None on SQLite).
    pub rows_read: Option<u64>,
    /// The plan as the database printed it.
    pub text: String,
}

impl Store {
    /// The plan of the lease's two reads (the priority bands, then the
    /// row-selecting query) for `pools` at `now_ms` with `limit` free
    /// slots, without taking any lease: `EXPLAIN (ANALYZE)` on PostgreSQL
    /// (the selects run, and change nothing), `EXPLAIN QUERY PLAN` on
    /// SQLite.
    pub async fn lease_plan(
        &self,
        pools: &[String],
        now_ms: i64,
        limit: u64,
    ) -> Result<LeasePlan, StoreError> {
        let txn = self.begin_lease(false).await?;
        let bands = self.lease_bands_in(txn.as_ref()).await?;
        let select = due_select(&placeholders(6, pools.len()), bands.as_deref(), "");
        let values = lease_values(&LeaseParams {
            node_id: "lease-plan",
            now_ms,
            lease_ms: 0,
            limit,
            pools,
            due_by_ms: now_ms,
        });
        let bands_sql = bands_select(self.backend);
        if let Some(txn) = txn {
            // PostgreSQL: the lease's transaction settings apply.
            let mut stats = PlanStats::default();
            let mut text = Vec::new();
            for (sql, values) in [(bands_sql.as_str(), Vec::new()), (select.as_str(), values)] {
                let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
                let row = txn
                    .query_one_raw(self.stmt(&explain, values))
                    .await?
                    .ok_or_else(|| sea_orm::DbErr::Custom("EXPLAIN returned no row".into()))?;
                let plan: serde_json::Value = row.try_get_by_index(0)?;
                stats.walk(&plan[0]["Plan"]);
                text.push(serde_json::to_string_pretty(&plan).unwrap_or_default());
            }
            txn.commit().await?;
            Ok(LeasePlan {
                sorts: stats.sorts,
                rows_read: Some(stats.rows_read),
                text: text.join("\n"),
            })
        } else {
            let mut lines = Vec::new();
            for (sql, values) in [(bands_sql.as_str(), Vec::new()), (select.as_str(), values)] {
                let explain = format!("EXPLAIN QUERY PLAN {sql}");
                for row in self.db.query_all_raw(self.stmt(&explain, values)).await? {
                    lines.push(row.try_get::<String>("", "detail")?);
                }
            }
            Ok(LeasePlan {
                sorts: lines.iter().any(|l| l.contains("TEMP B-TREE")),
                rows_read: None,
                text: lines.join("\n"),
            })
        }
    }
}

/// What a walk of a PostgreSQL JSON plan found.
#[derive(Debug, Default)]
struct PlanStats {
    sorts: bool,
    rows_read: u64,
}

impl PlanStats {
    fn walk(&mut self, node: &serde_json::Value) {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        if kind.contains("Sort") {
            self.sorts = true;
        }
        if kind.contains("Scan") {
            let loops = node["Actual Loops"].as_f64().unwrap_or(1.0);
            let rows = node["Actual Rows"].as_f64().unwrap_or(0.0)
                + node["Rows Removed by Filter"].as_f64().unwrap_or(0.0)
                + node["Rows Removed by Index Recheck"]
                    .as_f64()
                    .unwrap_or(0.0);
            self.rows_read += (rows * loops).round() as u64;
        }
        if let Some(children) = node["Plans"].as_array() {
            for child in children {
                self.walk(child);
            }
        }
    }
}
