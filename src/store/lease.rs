//! Leasing due triggers: one statement that reserves up to the executor's
//! free slots, highest priority first, on-time before late, then earliest;
//! `SKIP LOCKED` on PostgreSQL.
//!
//! The statement reads the rows already in that order, so its cost follows
//! what it takes, not how many triggers are due or stored. It is a
//! `UNION ALL` of index ranges of `triggers_lease` (priority, next fire,
//! id; waiting triggers only), two per priority that holds a waiting
//! trigger: on-time, then late. Under one `LIMIT` the branches run in
//! order and the first that fill the limit end the scan, so a lease never
//! sorts, and never locks a row it does not take. The priorities come
//! from a loose scan of the same index, one probe per distinct priority.
//!
//! On-time or late, for the order only: a trigger is late when its next
//! fire is more than [`ON_TIME_WINDOW_MS`] (the default misfire threshold)
//! before now. One fixed bound keeps each band two index ranges; a trigger
//! with its own threshold is still judged by that threshold when it fires
//! (the misfire policy), only its place in a saturated lease uses the
//! default. Past [`MAX_BANDS`] distinct priorities the lease falls back to
//! one sorted statement with the trigger's own threshold.

use entity::triggers;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, TransactionTrait, Value,
};

use super::{MalformedRow, Store, StoreError, codec, placeholders};
use crate::model::Trigger;

pub use super::queue::LeasedFires;

/// How late a due trigger may be and still go with the on-time ones in a
/// lease's order: the default misfire threshold.
pub const ON_TIME_WINDOW_MS: i64 = 60_000;

/// Distinct priorities of waiting triggers up to which the lease reads
/// them band by band; past it, one sorted statement.
pub const MAX_BANDS: usize = 16;

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

/// The distinct priorities of waiting triggers, highest first: a loose
/// scan of `triggers_lease`, one index probe per priority, however many
/// triggers hold each. At most `MAX_BANDS + 1` rows, enough to tell that
/// there are too many. SQLite is told the index by name (`INDEXED BY`):
/// left to itself it took `triggers_due` and sorted every waiting
/// trigger, twice per lease; PostgreSQL is held to it by
/// [`lease_settings`].
pub(super) fn bands_select(backend: DbBackend) -> String {
    let hint = match backend {
        DbBackend::Sqlite => " INDEXED BY triggers_lease",
        _ => "",
    };
    format!(
        "WITH RECURSIVE bands(p) AS ( \
           SELECT (SELECT priority FROM triggers{hint} WHERE state = 'waiting' \
                   ORDER BY priority DESC LIMIT 1) \
           UNION ALL \
           SELECT (SELECT t.priority FROM triggers t{hint} WHERE t.state = 'waiting' AND t.priority < bands.p \
                   ORDER BY t.priority DESC LIMIT 1) \
           FROM bands WHERE bands.p IS NOT NULL) \
         SELECT p FROM bands WHERE p IS NOT NULL LIMIT 17"
    )
}

/// The settings of a lease's transaction on PostgreSQL, one statement.
///
/// `enable_sort` and `enable_incremental_sort` off: the planner must take
/// `triggers_lease`, the one path that yields the rows in order. Without
/// them, statistics taken while the table was nearly empty (a burst
/// inserted since autovacuum last looked) make it estimate a row or two
/// and choose `triggers_due` plus a sort of everything due, the very plan
/// the index is there to avoid; plans are cached per connection, so that
/// choice would outlive the burst. With only `enable_sort` off it still
/// did, as an incremental sort (`triggers_due` yields the time order, the
/// sort adds `id`): `auto_explain` showed each lease of 256 reading all
/// 20,000 due rows, 10 ms a lease. They are local to the transaction and
/// touch no other statement.
///
/// `synchronous_commit` off (the lease only, `relaxed`): the lease need not
/// wait for the WAL to reach disk, since it only reserves the trigger. If
/// the server crashed and lost it, the fenced (and durable) record that
/// follows would find no lease and write nothing; the trigger is leased
/// again later.
fn lease_settings(relaxed: bool) -> &'static str {
    if relaxed {
        "SELECT set_config('enable_sort', 'off', true), \
                set_config('enable_incremental_sort', 'off', true), \
                set_config('synchronous_commit', 'off', true)"
    } else {
        "SELECT set_config('enable_sort', 'off', true), \
                set_config('enable_incremental_sort', 'off', true)"
    }
}

/// The rows of one band and phase: waiting triggers of this priority and
/// the pools (`$6...`) whose next fire is in `range`, not held by a live
/// lease (`$2` is now), in index order, at most `$4`.
fn band_branch(priority: i32, range: &str, pools: &str, lock: &str, n: usize) -> String {
    format!(
        "SELECT id FROM (SELECT id FROM triggers \
           WHERE state = 'waiting' AND priority = {priority} AND {range} \
             AND pool IN ({pools}) AND (lease_until IS NULL OR lease_until < $2) \
           ORDER BY next_fire_at, id LIMIT $4{lock}) b{n}"
    )
}

/// The lease's row-selecting query: due, waiting triggers of the pools
/// (`$6...`), not leased by a live lease, for a node not declared dead
/// (`$1`), in lease order, at most `$4`; `$2` is now, `$5` the horizon.
/// `bands` are the priorities to read band by band (highest first);
/// `None` is the sorted fallback. `lock` is appended to every row-taking
/// select (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
pub(super) fn due_select(pools: &str, bands: Option<&[i32]>, lock: &str) -> String {
    let alive = "NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $1 AND n.state = 'dead')";
    let Some(bands) = bands else {
        return format!(
            "SELECT id FROM triggers \
             WHERE state = 'waiting' AND pool IN ({pools}) AND next_fire_at <= $5 \
               AND (lease_until IS NULL OR lease_until < $2) AND {alive} \
             ORDER BY priority DESC, \
               CASE WHEN next_fire_at < $2 - COALESCE(misfire_threshold_ms, {ON_TIME_WINDOW_MS}) \
                 THEN 1 ELSE 0 END, \
               next_fire_at, id LIMIT $4{lock}"
        );
    };
    if bands.is_empty() {
        // No waiting trigger at all: a select that takes nothing.
        return "SELECT id FROM triggers WHERE 1 = 0".to_string();
    }
    let on_time = format!("next_fire_at >= $2 - {ON_TIME_WINDOW_MS} AND next_fire_at <= $5");
    let late = format!("next_fire_at < $2 - {ON_TIME_WINDOW_MS}");
    let branches: Vec<String> = bands
        .iter()
        .flat_map(|&p| [(p, on_time.as_str()), (p, late.as_str())])
        .enumerate()
        .map(|(n, (p, range))| band_branch(p, range, pools, lock, n))
        .collect();
    format!(
        "SELECT id FROM ({}) due_bands WHERE {alive} LIMIT $4",
        branches.join(" UNION ALL ")
    )
}

/// The lease statement: [`due_select`] for `pool_count` pools and
/// `bands`, taking the rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and
/// setting their lease, returning `returning` of each leased row.
/// Parameters as [`lease_values`] binds them.
pub(super) fn lease_update(
    backend: DbBackend,
    pool_count: usize,
    bands: Option<&[i32]>,
    returning: &str,
) -> String {
    let pools = placeholders(6, pool_count);
    let set = "lease_owner = $1, lease_until = $3, fence = fence + 1, updated_at = $2";
    match backend {
        DbBackend::Postgres => {
            let select = due_select(&pools, bands, " FOR UPDATE SKIP LOCKED");
            format!(
                "WITH due AS ({select}) UPDATE triggers SET {set} \
                 FROM due WHERE triggers.id = due.id RETURNING triggers.{returning}"
            )
        }
        _ => {
            let select = due_select(&pools, bands, "");
            format!("UPDATE triggers SET {set} WHERE id IN ({select}) RETURNING {returning}")
        }
    }
}

/// The parameters of [`due_select`] and [`lease_update`]: `$1` the node,
/// `$2` now, `$3` the lease's end, `$4` the limit, `$5` the horizon,
/// `$6...` the pools.
pub(super) fn lease_values(p: &LeaseParams<'_>) -> Vec<Value> {
    let mut values: Vec<Value> = vec![
        p.node_id.into(),
        p.now_ms.into(),
        (p.now_ms + p.lease_ms).into(),
        (p.limit.min(i64::MAX as u64) as i64).into(),
        p.due_by_ms.max(p.now_ms).into(),
    ];
    values.extend(p.pools.iter().map(|s| Value::from(s.as_str())));
    values
}

impl Store {
    /// The priorities the lease reads band by band, highest first (empty:
    /// no waiting trigger), or `None` when there are more than
    /// [`MAX_BANDS`] and the lease sorts instead.
    pub(super) async fn lease_bands<C: ConnectionTrait>(
        &self,
        conn: &C,
    ) -> Result<Option<Vec<i32>>, StoreError> {
        let rows = conn
            .query_all_raw(self.stmt(&bands_select(self.backend), Vec::<Value>::new()))
            .await?;
        let bands = rows
            .iter()
            .map(|row| row.try_get_by_index::<i32>(0))
            .collect::<Result<Vec<i32>, _>>()?;
        Ok((bands.len() <= MAX_BANDS).then_some(bands))
    }

    /// [`Store::lease_bands`] in the lease's transaction where there is
    /// one ([`Store::begin_lease`]: PostgreSQL), else on the pool.
    pub(super) async fn lease_bands_in(
        &self,
        txn: Option<&DatabaseTransaction>,
    ) -> Result<Option<Vec<i32>>, StoreError> {
        match txn {
            Some(txn) => self.lease_bands(txn).await,
            None => self.lease_bands(&self.db).await,
        }
    }

    /// A transaction for the lease's statements, on PostgreSQL with
    /// [`lease_settings`] applied (`relaxed`: the lease's own, which also
    /// commits without waiting for the disk). None on SQLite, where the
    /// lease is one statement and its plan has no statistics to go stale.
    pub(super) async fn begin_lease(
        &self,
        relaxed: bool,
    ) -> Result<Option<DatabaseTransaction>, StoreError> {
        if self.backend != DbBackend::Postgres {
            return Ok(None);
        }
        let txn = self.db.begin().await?;
        self.apply_lease_settings(&txn, relaxed).await?;
        Ok(Some(txn))
    }

    /// Applies [`lease_settings`] to a PostgreSQL transaction.
    pub(super) async fn apply_lease_settings(
        &self,
        txn: &DatabaseTransaction,
        relaxed: bool,
    ) -> Result<(), StoreError> {
        txn.query_one_raw(self.stmt(lease_settings(relaxed), Vec::<Value>::new()))
            .await?;
        Ok(())
    }

    /// Leases up to `limit` due triggers of the node's pools in one
    /// statement: highest priority first; within a priority, on-time
    /// triggers before late ones (see the module docs), so a storm of late
    /// fires never holds back on-time ones; then earliest. On PostgreSQL
    /// rows another node is leasing are skipped, not waited for. A leased
    /// row that does not decode goes to `error` at once and comes back in
    /// `put_aside`.
    pub async fn lease_due_triggers(
        &self,
        p: &LeaseParams<'_>,
    ) -> Result<LeasedTriggers, StoreError> {
        if p.limit == 0 || p.pools.is_empty() {
            return Ok(LeasedTriggers::default());
        }
        let txn = self.begin_lease(true).await?;
        let bands = self.lease_bands_in(txn.as_ref()).await?;
        let sql = lease_update(self.backend, p.pools.len(), bands.as_deref(), "*");
        let values = lease_values(p);
        let query = triggers::Entity::find().from_raw_sql(self.stmt(&sql, values));
        let mut rows = match txn {
            Some(txn) => {
                let rows = query.all(&txn).await?;
                txn.commit().await?;
                rows
            }
            None => query.all(&self.db).await?,
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
