//! Triggers: insert (computing the first fire through the calendars the
//! trigger names), put in `error`, release, the next due instant, read.

use std::collections::HashMap;

use entity::{jobs, triggers};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, Value};

use super::calendars::load_calendars;
use super::{Store, StoreError, codec};
use crate::clock::from_ms;
use crate::model::{JobSource, Trigger, TriggerDef, TriggerState};
use crate::schedule::cron::Dialect;

/// How many waiting triggers per pool [`Store::next_due_at`] reads. More
/// than the leases in flight at once on a pool's nodes is exact; fewer
/// only wakes a loop early.
const NEXT_DUE_ROWS: usize = 64;

pub(super) async fn insert_trigger<C: ConnectionTrait>(
    store: &Store,
    db: &C,
    job: &jobs::Model,
    def: &TriggerDef,
    source: JobSource,
    config_hash: Option<String>,
    now_ms: i64,
) -> Result<triggers::Model, StoreError> {
    let now = from_ms(now_ms);
    let spec = &def.spec;
    for name in &def.calendars {
        super::refuse_nul("calendars", name)?;
    }
    let loaded = load_calendars(store, db, &def.calendars).await?;
    let calendars = loaded
        .set_for(&def.calendars)
        .map_err(|message| StoreError::Invalid {
            field: "calendars",
            message,
        })?;
    let next = spec.first_fire_allowed(now, &calendars);
    let mut m = triggers::ActiveModel {
        job_id: Set(job.id),
        source: Set(source.as_str().to_string()),
        start_at: Set(spec.start_at(now).timestamp_millis()),
        repeat_count: Set(spec.repeat_count().map(|r| r as i64)),
        calendars: Set((!def.calendars.is_empty()).then(|| def.calendars.join(","))),
        data: Set(def.data.as_ref().map(|d| d.to_string())),
        next_fire_at: Set(next.map(|t| t.timestamp_millis())),
        misfire_policy: Set(def.misfire.as_str().to_string()),
        misfire_catch_up: Set(def
            .misfire
            .catch_up_cap()
            .map(|n| n.min(i32::MAX as u32) as i32)),
        misfire_threshold_ms: Set(def.misfire_threshold.map(|d| d.num_milliseconds())),
        priority: Set(def.priority.unwrap_or(job.priority)),
        pool: Set(job.pool.clone()),
        state: Set(match (next, job.paused) {
            (None, _) => TriggerState::Complete,
            (Some(_), true) => TriggerState::Paused,
            (Some(_), false) => TriggerState::Waiting,
        }
        .as_str()
        .to_string()),
        fence: Set(0),
        config_hash: Set(config_hash),
        created_at: Set(now_ms),
        updated_at: Set(now_ms),
        cron_dialect: Set(Dialect::Quartz.as_str().to_string()),
        timezone: Set("UTC".to_string()),
        preserve_hour_of_day: Set(false),
        skip_day_if_hour_missing: Set(false),
        times_fired: Set(0),
        ..Default::default()
    };
    codec::schedule_columns(spec, &mut m)?;
    Ok(m.insert(db).await?)
}

impl Store {
    /// Creates a trigger for an existing job (a one-off, a trigger-now).
    pub async fn trigger_create(
        &self,
        job_name: &str,
        def: &TriggerDef,
        now_ms: i64,
    ) -> Result<Trigger, StoreError> {
        let job = self.job_row(job_name).await?;
        let row = insert_trigger(self, &self.db, &job, def, JobSource::Api, None, now_ms).await?;
        self.announce_change().await;
        Ok(codec::trigger(&row)?)
    }

    /// Puts a leased trigger whose row cannot be evaluated into the
    /// `error` state, with the reason, so it stops being leased.
    pub async fn trigger_set_error(
        &self,
        trigger: &Trigger,
        node_id: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.set_trigger_error(trigger.id, trigger.fence, node_id, message, now_ms)
            .await
    }

    /// [`Store::trigger_set_error`] by id and fence.
    pub(super) async fn set_trigger_error(
        &self,
        id: i64,
        fence: i64,
        node_id: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db
            .execute_raw(self.stmt(
                "UPDATE triggers SET state = 'error', error = $1, lease_owner = NULL, lease_until = NULL, \
                   updated_at = $2 WHERE id = $3 AND lease_owner = $4 AND fence = $5",
                [
                    super::storable_text(message).as_ref().into(),
                    now_ms.into(),
                    id.into(),
                    node_id.into(),
                    fence.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Releases every lease the node holds (at shutdown: triggers leased
    /// but not yet recorded become available at once).
    pub async fn release_leases(&self, node_id: &str) -> Result<u64, StoreError> {
        Ok(self
            .db
            .execute_raw(self.stmt(
                "UPDATE triggers SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
                [node_id.into()],
            ))
            .await?
            .rows_affected())
    }

    /// The earliest instant at which a trigger of these pools may be
    /// leasable: its next fire, or the end of another node's lease on it.
    ///
    /// It reads only the first [`NEXT_DUE_ROWS`] waiting triggers of each
    /// pool by next fire (an index range, however many are stored): one
    /// that no live lease holds is due at its next fire, and no later row
    /// can be due before it. If all of them are leased, the last one's
    /// next fire bounds every row after it, so the answer may be early
    /// (the loop wakes, finds nothing and asks again), never late.
    pub async fn next_due_at(
        &self,
        pools: &[String],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        if pools.is_empty() {
            return Ok(None);
        }
        let branches: Vec<String> = (0..pools.len())
            .map(|i| {
                format!(
                    "SELECT pool, next_fire_at, lease_until FROM (SELECT pool, next_fire_at, lease_until \
                       FROM triggers WHERE state = 'waiting' AND pool = ${} AND next_fire_at IS NOT NULL \
                       ORDER BY next_fire_at LIMIT {NEXT_DUE_ROWS}) p{i}",
                    i + 1
                )
            })
            .collect();
        let values: Vec<Value> = pools.iter().map(|s| Value::from(s.as_str())).collect();
        let rows = self
            .db
            .query_all_raw(self.stmt(&branches.join(" UNION ALL "), values))
            .await?;
        let mut per_pool: HashMap<String, (i64, usize, i64)> = HashMap::new();
        for row in &rows {
            let pool: String = row.try_get("", "pool")?;
            let next: i64 = row.try_get("", "next_fire_at")?;
            let lease_until: Option<i64> = row.try_get("", "lease_until")?;
            let due = match lease_until {
                Some(until) if until >= now_ms => until + 1,
                _ => next,
            };
            let entry = per_pool.entry(pool).or_insert((due, 0, next));
            entry.0 = entry.0.min(due);
            entry.1 += 1;
            entry.2 = entry.2.max(next);
        }
        Ok(per_pool
            .into_values()
            .map(|(due, rows, last)| {
                if rows >= NEXT_DUE_ROWS {
                    due.min(last)
                } else {
                    due
                }
            })
            .min())
    }

    /// A trigger by id.
    pub async fn trigger_by_id(&self, id: i64) -> Result<Option<Trigger>, StoreError> {
        let row = triggers::Entity::find_by_id(id).one(&self.db).await?;
        Ok(row.as_ref().map(codec::trigger).transpose()?)
    }

    /// Whether a trigger row with this id exists.
    pub(super) async fn trigger_exists(&self, id: i64) -> Result<bool, StoreError> {
        Ok(triggers::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .is_some())
    }
}
