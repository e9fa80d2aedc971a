//! The statements of `cosched bench`: many one-off triggers inserted at
//! once, and the counts that judge a run, read back from the tables.
//!
//! A bench job lives in a pool of its own, so the bench nodes fire nothing
//! else and other nodes on the same database never fire the bench's
//! triggers. Nothing here is on a node's hot path.

use sea_orm::{ConnectionTrait, QueryResult, Value};

use super::{LeaseParams, Store, StoreError};
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

/// One minute's wave of a scale run: the fires scheduled at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaveTally {
    /// The scheduled instant (UTC ms).
    pub scheduled_at: i64,
    /// First-attempt fire rows at that instant, and those finished.
    pub fires: u64,
    pub finished: u64,
    /// The latest finish of the wave's fires (UTC ms).
    pub last_finished_at: Option<i64>,
    /// `started_at − scheduled_at` of the wave's started fires, ascending.
    pub lateness_ms: Vec<i64>,
}

/// A recursive series `s(i)` of 1..=n, which both backends understand.
fn series(n_param: &str) -> String {
    format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n_param})")
}

impl Store {
    /// The process id of this connection's server backend (PostgreSQL), to
    /// find the server's processes on this host. None on SQLite.
    pub async fn bench_backend_pid(&self) -> Result<Option<u32>, StoreError> {
        if self.backend != sea_orm::DbBackend::Postgres {
            return Ok(None);
        }
        let row = self
            .db
            .query_one_raw(self.stmt("SELECT pg_backend_pid() AS pid", []))
            .await?;
        Ok(match row {
            Some(row) => u32::try_from(row.try_get::<i32>("", "pid")?).ok(),
            None => None,
        })
    }

    /// Creates `n` `noop` jobs named `{pool}-{i}` in `pool`, each with one
    /// Quartz cron trigger `cron` (UTC) whose next fire is `next_fire_ms`
    /// (the job named `pool` itself, the bench's own, gets none):
    /// the scale mode's population, inserted by two statements per 10,000
    /// jobs rather than through the validator (the bench controls the
    /// values; nothing here is user input).
    pub async fn bench_insert_cron_jobs(
        &self,
        pool: &str,
        n: u64,
        cron: &str,
        next_fire_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        const CHUNK: u64 = 10_000;
        let mut done = 0;
        while done < n {
            let count = CHUNK.min(n - done);
            let txn = self.begin_write().await?;
            txn.execute_raw(self.stmt(
                &format!(
                    "{} INSERT INTO jobs (name, kind, pool, source, created_at, updated_at) \
                     SELECT $1 || '-' || CAST(i + $3 AS TEXT), 'noop', $1, 'api', $4, $4 FROM s",
                    series("$2")
                ),
                [
                    pool.into(),
                    (count as i64).into(),
                    (done as i64).into(),
                    now_ms.into(),
                ],
            ))
            .await?;
            txn.execute_raw(self.stmt(
                "INSERT INTO triggers (job_id, source, kind, cron_expr, start_at, next_fire_at, pool, \
                   state, created_at, updated_at) \
                 SELECT id, 'api', 'cron', $2, $3, $4, $1, 'waiting', $3, $3 FROM jobs j \
                 WHERE j.pool = $1 AND j.name <> $1 \
                   AND NOT EXISTS (SELECT 1 FROM triggers t WHERE t.job_id = j.id)",
                [pool.into(), cron.into(), now_ms.into(), next_fire_ms.into()],
            ))
            .await?;
            txn.commit().await?;
            done += count;
        }
        self.announce_change().await;
        Ok(())
    }

    /// Sets the next fire of the pool's `cron` triggers to `at_ms` (a scale
    /// run's first wave, once its nodes serve the pool) and wakes them.
    pub async fn bench_set_next_fire(
        &self,
        pool: &str,
        cron: &str,
        at_ms: i64,
    ) -> Result<u64, StoreError> {
        let n = self
            .db
            .execute_raw(self.stmt(
                "UPDATE triggers SET next_fire_at = $3 \
                 WHERE pool = $1 AND kind = 'cron' AND cron_expr = $2 AND state = 'waiting'",
                [pool.into(), cron.into(), at_ms.into()],
            ))
            .await?
            .rows_affected();
        self.announce_change().await;
        Ok(n)
    }

    /// Sets every waiting one-off trigger of `pool` due at `at_ms`.
    pub async fn bench_set_once_due(&self, pool: &str, at_ms: i64) -> Result<u64, StoreError> {
        Ok(self
            .db
            .execute_raw(self.stmt(
                "UPDATE triggers SET next_fire_at = $2 \
                 WHERE pool = $1 AND kind = 'once' AND state = 'waiting'",
                [pool.into(), at_ms.into()],
            ))
            .await?
            .rows_affected())
    }

    /// Inserts `n` one-off triggers of `job`, all due at `due_ms` (far
    /// ahead: stored triggers that a scale run carries without firing), by
    /// one statement per 100,000.
    pub async fn bench_insert_stored(
        &self,
        job: &Job,
        n: u64,
        due_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        const CHUNK: u64 = 100_000;
        let mut done = 0;
        while done < n {
            let count = CHUNK.min(n - done);
            let txn = self.begin_write().await?;
            txn.execute_raw(self.stmt(
                &format!(
                    "{} INSERT INTO triggers (job_id, source, kind, start_at, next_fire_at, priority, \
                       pool, state, created_at, updated_at) \
                     SELECT $2, 'api', 'once', $4, $4, 0, $3, 'waiting', $5, $5 FROM s",
                    series("$1")
                ),
                [
                    (count as i64).into(),
                    job.id.into(),
                    job.pool.as_str().into(),
                    due_ms.into(),
                    now_ms.into(),
                ],
            ))
            .await?;
            txn.commit().await?;
            done += count;
        }
        Ok(())
    }

    /// The waves of a scale run: first-attempt fires of the pool's jobs
    /// scheduled in `[from_ms, to_ms)`, by scheduled instant.
    pub async fn bench_waves(
        &self,
        pool: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<WaveTally>, StoreError> {
        let rows = self
            .db
            .query_all_raw(self.stmt(
                "SELECT f.scheduled_at, f.started_at, f.finished_at FROM fires f \
                 JOIN jobs j ON j.id = f.job_id \
                 WHERE j.pool = $1 AND f.attempt = 1 AND f.scheduled_at >= $2 AND f.scheduled_at < $3",
                [pool.into(), from_ms.into(), to_ms.into()],
            ))
            .await?;
        let mut waves: std::collections::BTreeMap<i64, WaveTally> = Default::default();
        for row in rows {
            let at: i64 = row.try_get("", "scheduled_at")?;
            let started: Option<i64> = row.try_get("", "started_at")?;
            let finished: Option<i64> = row.try_get("", "finished_at")?;
            let wave = waves.entry(at).or_insert_with(|| WaveTally {
                scheduled_at: at,
                ..WaveTally::default()
            });
            wave.fires += 1;
            if let Some(f) = finished {
                wave.finished += 1;
                wave.last_finished_at = wave.last_finished_at.max(Some(f));
            }
            if let Some(s) = started {
                wave.lateness_ms.push(s - at);
            }
        }
        Ok(waves
            .into_values()
            .map(|mut w| {
                w.lateness_ms.sort_unstable();
                w
            })
            .collect())
    }

    /// How many first-attempt fires of the pool's jobs scheduled at
    /// `at_ms` have finished: what a scale run polls during a wave.
    pub async fn bench_wave_finished(&self, pool: &str, at_ms: i64) -> Result<u64, StoreError> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                "SELECT COUNT(*) AS n FROM fires f JOIN jobs j ON j.id = f.job_id \
                 WHERE j.pool = $1 AND f.scheduled_at = $2 AND f.attempt = 1 \
                   AND f.finished_at IS NOT NULL",
                [pool.into(), at_ms.into()],
            ))
            .await?;
        row.map_or(Ok(0), |row| count(&row, "n"))
    }

    /// Times the lease's row-selecting query (the statement a node runs to
    /// lease, bands and all, without taking the leases) for `pool` at
    /// `now_ms`: what a scale run samples while a wave is due and between
    /// waves, to see whether due or stored triggers slow the lease.
    pub async fn bench_lease_probe(
        &self,
        pool: &str,
        now_ms: i64,
        limit: u64,
    ) -> Result<std::time::Duration, StoreError> {
        let started = std::time::Instant::now();
        let txn = self.begin_lease(false).await?;
        let bands = self.lease_bands_in(txn.as_ref()).await?;
        let sql = super::lease::due_select("$6", bands.as_deref(), "");
        let pools = [pool.to_string()];
        let values = super::lease::lease_values(&LeaseParams {
            node_id: "bench-probe",
            now_ms,
            lease_ms: 0,
            limit,
            pools: &pools,
            due_by_ms: now_ms,
        });
        match txn {
            Some(txn) => {
                txn.query_all_raw(self.stmt(&sql, values)).await?;
                txn.commit().await?;
            }
            None => {
                self.db.query_all_raw(self.stmt(&sql, values)).await?;
            }
        }
        Ok(started.elapsed())
    }

    /// One batch of the bare SQL of a fire, the ceiling a node's own work
    /// is compared with: in one transaction, lease up to `limit` due
    /// triggers of `pool` (`SKIP LOCKED` on PostgreSQL), insert their fire
    /// rows, advance the (one-off) triggers to `complete`, and complete
    /// the fires. Returns how many fired (0: nothing was due).
    pub async fn bench_bare_batch(
        &self,
        pool: &str,
        node: &str,
        now_ms: i64,
        limit: u64,
    ) -> Result<u64, StoreError> {
        // The lease's own statement (see `lease.rs`).
        let txn = self.begin_write().await?;
        if self.backend == sea_orm::DbBackend::Postgres {
            self.apply_lease_settings(&txn, false).await?;
        }
        let bands = self.lease_bands(&txn).await?;
        let lease = super::lease::lease_update(self.backend, 1, bands.as_deref(), "id");
        let pools = [pool.to_string()];
        let values = super::lease::lease_values(&LeaseParams {
            node_id: node,
            now_ms,
            lease_ms: 60_000,
            limit,
            pools: &pools,
            due_by_ms: now_ms,
        });
        let ids: Vec<i64> = txn
            .query_all_raw(self.stmt(&lease, values))
            .await?
            .iter()
            .map(|r| r.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        // Ids read back from the database: integers, safe to inline.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let fires: Vec<i64> = txn
            .query_all_raw(self.stmt(
                &format!(
                    "INSERT INTO fires (trigger_id, job_id, job_name, scheduled_at, due_at, started_at, \
                       node_id, attempt, fence, status, data) \
                     SELECT t.id, t.job_id, j.name, t.next_fire_at, t.next_fire_at, $1, $2, 1, t.fence, \
                       'running', t.data FROM triggers t JOIN jobs j ON j.id = t.job_id \
                     WHERE t.id IN ({list}) RETURNING id"
                ),
                [now_ms.into(), node.into()],
            ))
            .await?
            .iter()
            .map(|r| r.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()?;
        txn.execute_raw(self.stmt(
            &format!(
                "UPDATE triggers SET state = 'complete', previous_fire_at = next_fire_at, \
                   next_fire_at = NULL, times_fired = times_fired + 1, lease_owner = NULL, \
                   lease_until = NULL, updated_at = $1 \
                 WHERE id IN ({list}) AND lease_owner = $2"
            ),
            [now_ms.into(), node.into()],
        ))
        .await?;
        let fire_list = fires
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        txn.execute_raw(self.stmt(
            &format!(
                "UPDATE fires SET status = 'succeeded', finished_at = $1 \
                 WHERE id IN ({fire_list}) AND node_id = $2"
            ),
            [now_ms.into(), node.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(fires.len() as u64)
    }

    /// Deletes every API job of `pool` (their triggers and fires go with
    /// them): the cleanup of a run that created many jobs.
    pub async fn bench_delete_pool(&self, pool: &str) -> Result<u64, StoreError> {
        Ok(self
            .db
            .execute_raw(self.stmt(
                "DELETE FROM jobs WHERE pool = $1 AND source = 'api'",
                [pool.into()],
            ))
            .await?
            .rows_affected())
    }
}

/// A `COUNT(*)` column as u64.
fn count(row: &QueryResult, column: &str) -> Result<u64, StoreError> {
    // A count is never negative.
    Ok(row.try_get::<i64>("", column)?.max(0) as u64)
}
