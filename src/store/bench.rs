//! The statements of `cosched bench`: many one-off triggers inserted at
//! once, and the counts that judge a run, read back from the tables.
//!
//! A bench job lives in a pool of its own, so the bench nodes fire nothing
//! else and other nodes on the same database never fire the bench's
//! triggers. Nothing here is on a node's hot path.

use sea_orm::{ConnectionTrait, QueryResult, Value};

use super::{Store, StoreError};
use crate::model::Job;

/// Rows per `INSERT` statement (one transaction each): one bound value per
/// row plus four shared ones, far below either backend's parameter limit.
const INSERT_BATCH: usize = 1000;

/// What the tables say about a bench job's fires (first attempts only:
/// `noop` never fails, so there are no others).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenchTally {
    /// Triggers of the job.
    pub triggers: u64,
    /// Fire rows.
    pub fires: u64,
    /// Fire rows with a finish instant.
    pub finished: u64,
    /// Fire rows with status `succeeded`.
    pub succeeded: u64,
    /// Triggers with no fire row at all.
    pub lost: u64,
    /// Triggers with more than one first-attempt fire row.
    pub duplicated: u64,
    /// The earliest scheduled instant of a fire (UTC ms).
    pub first_scheduled_at: Option<i64>,
    /// The latest finish instant of a fire (UTC ms).
    pub last_finished_at: Option<i64>,
    /// Fires per node id (None: a fire no node started), by node id.
    pub per_node: Vec<(Option<String>, u64)>,
    /// `started_at − scheduled_at` of every started fire, ascending (ms).
    pub lateness_ms: Vec<i64>,
}

impl Store {
    /// Inserts one `once` trigger of `job` per instant of `due_ms` (UTC
    /// ms), in batches of [`INSERT_BATCH`] rows, one transaction each.
    /// Announces the change once at the end, as every other insert does
    /// (on PostgreSQL, listening nodes elsewhere wake too).
    pub async fn bench_insert_once(
        &self,
        job: &Job,
        due_ms: &[i64],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for batch in due_ms.chunks(INSERT_BATCH) {
            let rows = (5..5 + batch.len())
                .map(|i| {
                    format!("($1, 'api', 'once', ${i}, ${i}, $2, $3, 'waiting', 0, 0, $4, $4)")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO triggers (job_id, source, kind, start_at, next_fire_at, priority, pool, \
                   state, fence, times_fired, created_at, updated_at) VALUES {rows}"
            );
            let mut values: Vec<Value> = vec![
                job.id.into(),
                job.priority.into(),
                job.pool.as_str().into(),
                now_ms.into(),
            ];
            values.extend(batch.iter().map(|&at| Value::from(at)));
            let txn = self.begin_write().await?;
            txn.execute_raw(self.stmt(&sql, values)).await?;
            txn.commit().await?;
        }
        self.announce_change().await;
        Ok(())
    }

    /// How many of the job's fires have finished: what a bench polls while
    /// it waits.
    pub async fn bench_finished(&self, job_id: i64) -> Result<u64, StoreError> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                "SELECT COUNT(*) AS n FROM fires WHERE job_id = $1 AND finished_at IS NOT NULL",
                [job_id.into()],
            ))
            .await?;
        row.map_or(Ok(0), |row| count(&row, "n"))
    }

    /// Counts, from the tables, what happened to the job's triggers.
    pub async fn bench_tally(&self, job_id: i64) -> Result<BenchTally, StoreError> {
        let id = || Value::from(job_id);
        let mut tally = BenchTally::default();
        let triggers = self
            .db
            .query_one_raw(self.stmt(
                "SELECT \
                   (SELECT COUNT(*) FROM triggers WHERE job_id = $1) AS triggers, \
                   (SELECT COUNT(*) FROM triggers t WHERE t.job_id = $1 \
                      AND NOT EXISTS (SELECT 1 FROM fires f WHERE f.trigger_id = t.id)) AS lost, \
                   (SELECT COUNT(*) FROM (SELECT trigger_id FROM fires \
                      WHERE job_id = $1 AND attempt = 1 AND trigger_id IS NOT NULL \
                      GROUP BY trigger_id HAVING COUNT(*) > 1) d) AS duplicated",
                [id()],
            ))
            .await?;
        if let Some(row) = triggers {
            tally.triggers = count(&row, "triggers")?;
            tally.lost = count(&row, "lost")?;
            tally.duplicated = count(&row, "duplicated")?;
        }
        let fires = self
            .db
            .query_one_raw(self.stmt(
                "SELECT COUNT(*) AS fires, COUNT(finished_at) AS finished, \
                   COUNT(CASE WHEN status = 'succeeded' THEN 1 END) AS succeeded, \
                   MIN(scheduled_at) AS first_scheduled, MAX(finished_at) AS last_finished \
                 FROM fires WHERE job_id = $1 AND attempt = 1",
                [id()],
            ))
            .await?;
        if let Some(row) = fires {
            tally.fires = count(&row, "fires")?;
            tally.finished = count(&row, "finished")?;
            tally.succeeded = count(&row, "succeeded")?;
            tally.first_scheduled_at = row.try_get("", "first_scheduled")?;
            tally.last_finished_at = row.try_get("", "last_finished")?;
        }
        for row in self
            .db
            .query_all_raw(self.stmt(
                "SELECT node_id, COUNT(*) AS n FROM fires WHERE job_id = $1 AND attempt = 1 \
                 GROUP BY node_id ORDER BY node_id",
                [id()],
            ))
            .await?
        {
            let node: Option<String> = row.try_get("", "node_id")?;
            tally.per_node.push((node, count(&row, "n")?));
        }
        tally.lateness_ms = self
            .db
            .query_all_raw(self.stmt(
                "SELECT started_at - scheduled_at AS late FROM fires \
                 WHERE job_id = $1 AND attempt = 1 AND started_at IS NOT NULL",
                [id()],
            ))
            .await?
            .iter()
            .map(|row| row.try_get::<i64>("", "late"))
            .collect::<Result<_, _>>()?;
        tally.lateness_ms.sort_unstable();
        Ok(tally)
    }

    /// How many jobs and calendars a configuration file declared: starting
    /// a node reconciles its (empty) file, which would delete them.
    pub async fn bench_config_declared(&self) -> Result<(u64, u64), StoreError> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE source = 'config') AS jobs, \
                   (SELECT COUNT(*) FROM calendars WHERE source = 'config') AS calendars",
                [],
            ))
            .await?;
        match row {
            Some(row) => Ok((count(&row, "jobs")?, count(&row, "calendars")?)),
            None => Ok((0, 0)),
        }
    }
}

/// A `COUNT(*)` column as u64.
fn count(row: &QueryResult, column: &str) -> Result<u64, StoreError> {
    // A count is never negative.
    Ok(row.try_get::<i64>("", column)?.max(0) as u64)
}
