//! Per-job health in one statement: last success, last failure, last
//! status, next fire and consecutive failures of every job.
//!
//! Each value is a scalar subquery that takes one step down an index
//! (`fires (job_id, status, scheduled_at)`, `fires (job_id,
//! scheduled_at)`, `triggers (job_id)`), so the cost grows with the number
//! of jobs, not with the history; the failure count is bounded by the
//! fires since the last success, which retention bounds in turn.

use sea_orm::ConnectionTrait;

use super::{Store, StoreError};
use crate::model::{FireCount, FireStatus, JobHealth};

/// The failing final statuses.
const FAILING: &str = "'failed', 'timed_out', 'abandoned'";

fn newest(status: &str, column: &str) -> String {
    format!(
        "(SELECT {column} FROM fires f WHERE f.job_id = j.id AND f.status = '{status}' \
           ORDER BY f.scheduled_at DESC, f.id DESC LIMIT 1)"
    )
}

impl Store {
    /// The health of every job (by name), or of the one named, judged at
    /// `now_ms`.
    pub async fn jobs_health(
        &self,
        name: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<JobHealth>, StoreError> {
        let done = "COALESCE(f.finished_at, f.scheduled_at)";
        let sql = format!(
            "WITH h AS (SELECT j.id, j.name, j.created_at, j.expect_success_within_ms, \
               {} AS last_success_at, {} AS last_success_scheduled, \
               {} AS last_failed_at, {} AS last_timed_out_at, {} AS last_abandoned_at, \
               (SELECT f.status FROM fires f WHERE f.job_id = j.id \
                  AND f.status NOT IN ('queued', 'running') \
                  ORDER BY f.scheduled_at DESC, f.id DESC LIMIT 1) AS last_status, \
               (SELECT MIN(t.next_fire_at) FROM triggers t \
                  WHERE t.job_id = j.id AND t.state = 'waiting') AS next_fire_at \
             FROM jobs j WHERE ($1 IS NULL OR j.name = $1)) \
             SELECT h.*, (SELECT COUNT(*) FROM fires f WHERE f.job_id = h.id \
                AND f.status IN ({FAILING}) \
                AND f.scheduled_at > COALESCE(h.last_success_scheduled, -1)) AS consecutive_failures \
             FROM h ORDER BY h.name",
            newest("succeeded", done),
            newest("succeeded", "f.scheduled_at"),
            newest("failed", done),
            newest("timed_out", done),
            newest("abandoned", done),
        );
        let name: sea_orm::Value = name.map(str::to_string).into();
        let rows = self.db.query_all_raw(self.stmt(&sql, [name])).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let get = |c: &str| row.try_get::<Option<i64>>("", c);
            let last_failure_at = [
                get("last_failed_at")?,
                get("last_timed_out_at")?,
                get("last_abandoned_at")?,
            ]
            .into_iter()
            .flatten()
            .max();
            let status: Option<String> = row.try_get("", "last_status")?;
            let within: Option<i64> = row.try_get("", "expect_success_within_ms")?;
            let failures: i64 = row.try_get("", "consecutive_failures")?;
            let mut health = JobHealth {
                job_id: row.try_get("", "id")?,
                job: row.try_get("", "name")?,
                last_success_at: get("last_success_at")?,
                last_failure_at,
                // A status the CHECK constraint lets through always parses.
                last_status: status.and_then(|s| s.parse::<FireStatus>().ok()),
                next_fire_at: get("next_fire_at")?,
                consecutive_failures: u64::try_from(failures).unwrap_or(0),
                created_at: row.try_get("", "created_at")?,
                expect_success_within: within
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(std::time::Duration::from_millis),
                unhealthy: false,
            };
            health.unhealthy = health.expectation_violated(now_ms);
            out.push(health);
        }
        Ok(out)
    }
}

impl Store {
    /// The fires of every existing job counted by status, in one grouped
    /// statement over `fires (job_id, status, …)`: one row per job and
    /// status, whatever the number of fires or one-off triggers.
    pub async fn fire_counts(&self) -> Result<Vec<FireCount>, StoreError> {
        let sql = "SELECT j.name, f.status, COUNT(*) AS n FROM fires f \
                   JOIN jobs j ON j.id = f.job_id \
                   GROUP BY j.name, f.status ORDER BY j.name, f.status";
        let rows = self.db.query_all_raw(self.stmt(sql, [])).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let status: String = row.try_get("", "status")?;
            let n: i64 = row.try_get("", "n")?;
            // A status the CHECK constraint lets through always parses.
            let Ok(status) = status.parse::<FireStatus>() else {
                continue;
            };
            out.push(FireCount {
                job: row.try_get("", "name")?,
                status,
                count: u64::try_from(n).unwrap_or(0),
            });
        }
        Ok(out)
    }
}
