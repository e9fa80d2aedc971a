//! Jobs: create, read, list, pause, resume, delete.

use entity::{jobs, triggers};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{Store, StoreError};
use crate::model::{JobDef, TriggerDef};

/// A job with a summary of its triggers, for listings.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub job: jobs::Model,
    /// The earliest next fire among its waiting triggers.
    pub next_fire_at: Option<i64>,
    pub triggers: Vec<triggers::Model>,
}

/// The columns a job definition sets, for insert and update alike.
pub(super) fn job_columns(def: &JobDef, model: &mut jobs::ActiveModel) {
    model.name = Set(def.name.clone());
    model.kind = Set(def.kind.clone());
    model.settings = Set(def.settings.to_string());
    model.data = Set(def.data.to_string());
    model.pool = Set(def.pool.clone());
    model.job_group = Set(def.group.clone());
    model.overlap = Set(def.overlap.as_str().to_string());
    model.timeout_ms = Set(def
        .timeout
        .map(|t| t.as_millis().min(i64::MAX as u128) as i64));
    model.priority = Set(def.priority);
    model.retry_max_attempts = Set(def.retry.max_attempts.min(i32::MAX as u32) as i32);
    model.retry_backoff_ms = Set(def.retry.backoff.as_millis().min(i64::MAX as u128) as i64);
    model.retry_factor = Set(def.retry.factor);
    model.retry_max_backoff_ms =
        Set(def.retry.max_backoff.as_millis().min(i64::MAX as u128) as i64);
    model.retry_jitter = Set(def.retry.jitter);
    model.requests_recovery = Set(def.requests_recovery);
    model.paused = Set(def.paused);
}

pub(super) async fn insert_job<C: ConnectionTrait>(
    db: &C,
    def: &JobDef,
    source: &str,
    config_hash: Option<String>,
    now_ms: i64,
) -> Result<jobs::Model, StoreError> {
    let mut model = jobs::ActiveModel {
        ..Default::default()
    };
    job_columns(def, &mut model);
    model.source = Set(source.to_string());
    model.config_hash = Set(config_hash);
    model.created_at = Set(now_ms);
    model.updated_at = Set(now_ms);
    Ok(model.insert(db).await?)
}

impl Store {
    /// Creates a job through the API (`source = 'api'`), with its trigger
    /// if it has one, in one transaction.
    pub async fn job_create(
        &self,
        def: &JobDef,
        trigger: Option<&TriggerDef>,
        now_ms: i64,
    ) -> Result<jobs::Model, StoreError> {
        let txn = self.begin_write().await?;
        if jobs::Entity::find()
            .filter(jobs::Column::Name.eq(&def.name))
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "job `{}` already exists",
                def.name
            )));
        }
        let job = insert_job(&txn, def, "api", None, now_ms).await?;
        if let Some(trigger) = trigger {
            super::triggers::insert_trigger(&txn, &job, trigger, "api", None, now_ms).await?;
        }
        txn.commit().await?;
        self.announce_change().await;
        Ok(job)
    }

    pub async fn job_by_name(&self, name: &str) -> Result<Option<jobs::Model>, StoreError> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    pub(crate) async fn job_require(&self, name: &str) -> Result<jobs::Model, StoreError> {
        self.job_by_name(name)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "job",
                name: name.to_string(),
            })
    }

    /// Every job by name, with its triggers and earliest next fire.
    pub async fn jobs_list(&self) -> Result<Vec<JobRow>, StoreError> {
        let rows = jobs::Entity::find()
            .order_by_asc(jobs::Column::Name)
            .find_with_related(triggers::Entity)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(job, mut triggers)| {
                triggers.sort_by_key(|t| t.id);
                let next_fire_at = triggers
                    .iter()
                    .filter(|t| t.state == "waiting")
                    .filter_map(|t| t.next_fire_at)
                    .min();
                JobRow {
                    job,
                    next_fire_at,
                    triggers,
                }
            })
            .collect())
    }

    /// Pauses or resumes a job and its triggers. Resuming leaves each
    /// trigger's next fire as it was: a fire that came due while paused is
    /// then a misfire and its trigger's policy decides. Returns false when
    /// the job was already in that state.
    pub async fn job_set_paused(
        &self,
        name: &str,
        paused: bool,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let changed = txn
            .execute_raw(self.stmt(
                "UPDATE jobs SET paused = $1, updated_at = $2 WHERE name = $3 AND paused <> $1",
                [paused.into(), now_ms.into(), name.into()],
            ))
            .await?
            .rows_affected();
        if changed == 0 {
            let exists = jobs::Entity::find()
                .filter(jobs::Column::Name.eq(name))
                .one(&txn)
                .await?
                .is_some();
            txn.rollback().await?;
            return if exists {
                Ok(false)
            } else {
                Err(StoreError::NotFound {
                    what: "job",
                    name: name.to_string(),
                })
            };
        }
        // A trigger paused on its own stays paused when its job resumes.
        let sql = if paused {
            "UPDATE triggers SET state = 'paused', updated_at = $1 \
             WHERE state = 'waiting' AND job_id = (SELECT id FROM jobs WHERE name = $2)"
        } else {
            "UPDATE triggers SET state = 'waiting', updated_at = $1 \
             WHERE state = 'paused' AND paused = FALSE AND job_id = (SELECT id FROM jobs WHERE name = $2)"
        };
        txn.execute_raw(self.stmt(sql, [now_ms.into(), name.into()]))
            .await?;
        txn.commit().await?;
        if !paused {
            self.announce_change().await;
        }
        Ok(true)
    }

    /// Deletes a job, its triggers and its history.
    pub async fn job_delete(&self, name: &str) -> Result<(), StoreError> {
        let deleted = jobs::Entity::delete_many()
            .filter(jobs::Column::Name.eq(name))
            .exec(&self.db)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(StoreError::NotFound {
                what: "job",
                name: name.to_string(),
            });
        }
        Ok(())
    }
}
