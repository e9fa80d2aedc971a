//! Triggers: insert (computing the first fire through the calendars the
//! trigger names), put in `error`, release, the next due instant, read.

use entity::{jobs, triggers};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, Value};

use super::calendars::load_calendars;
use super::{Store, StoreError, codec, placeholders};
use crate::clock::from_ms;
use crate::model::{JobSource, Trigger, TriggerDef, TriggerState};
use crate::schedule::cron::Dialect;

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
    pub async fn next_due_at(
        &self,
        pools: &[String],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        if pools.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until >= $1 THEN lease_until + 1 \
                        ELSE next_fire_at END) AS due \
             FROM triggers WHERE state = 'waiting' AND next_fire_at IS NOT NULL AND pool IN ({})",
            placeholders(2, pools.len())
        );
        let mut values: Vec<Value> = vec![now_ms.into()];
        values.extend(pools.iter().map(|s| Value::from(s.as_str())));
        let row = self.db.query_one_raw(self.stmt(&sql, values)).await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i64>>("", "due")?,
            None => None,
        })
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
