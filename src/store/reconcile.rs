//! Reconcile the jobs and calendars declared in the TOML file with the
//! database, in one transaction.
//!
//! Declared jobs are created or updated; a job whose declaration is
//! unchanged (same hash) is left exactly as it is, state included; a
//! changed schedule replaces the job's config trigger (its next fire is
//! computed afresh), while a changed job setting keeps the trigger's state.
//! Config jobs gone from the file are deleted. Jobs and triggers created
//! through the API are never touched.

use std::collections::{BTreeMap, BTreeSet};

use entity::{calendars, jobs, triggers};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    IntoActiveModel, QueryFilter, Set,
};
use serde::Serialize;

use super::calendar_reschedule::reschedule_naming;
use super::codec::job_columns;
use super::jobs::insert_job;
use super::triggers::insert_trigger;
use super::{Store, StoreError};
use crate::model::{ConfigJob, JobSource};

/// What a reconcile changed, by job name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

impl Store {
    /// Makes the database match the file's jobs and calendars
    /// (`calendars`: name and JSON definition).
    pub async fn reconcile_config(
        &self,
        declared: &[ConfigJob],
        declared_calendars: &[(String, String)],
        now_ms: i64,
    ) -> Result<ReconcileReport, StoreError> {
        let txn = self.begin_write().await?;
        if self.backend == DbBackend::Postgres {
            // Nodes starting together with the same file reconcile one after
            // another; the second finds everything unchanged.
            txn.execute_raw(self.stmt("SELECT pg_advisory_xact_lock(7362957302)", []))
                .await?;
        }
        // Calendars first: a new trigger's first fire skips what the
        // calendars it names exclude, read in this transaction.
        self.reconcile_calendars(&txn, declared_calendars, now_ms)
            .await?;
        let mut report = ReconcileReport::default();
        // Only the rows reconcile can touch: the file's jobs, and any job
        // of a declared name (an API job of that name is refused below).
        // Reading every job held a deployment's whole jobs table in memory
        // at each start (100,000 API jobs: hundreds of MiB the allocator
        // kept).
        let existing: BTreeMap<String, jobs::Model> = jobs::Entity::find()
            .filter(
                Condition::any()
                    .add(jobs::Column::Source.eq(JobSource::Config.as_str()))
                    .add(jobs::Column::Name.is_in(declared.iter().map(|c| c.job.name.as_str()))),
            )
            .all(&txn)
            .await?
            .into_iter()
            .map(|j| (j.name.clone(), j))
            .collect();

        for cj in declared {
            let name = cj.job.name.clone();
            match existing.get(&name) {
                None => {
                    self.create_config_job(&txn, cj, now_ms).await?;
                    report.created.push(name);
                }
                Some(current) => {
                    if self.update_config_job(&txn, cj, current, now_ms).await? {
                        report.updated.push(name);
                    } else {
                        report.unchanged.push(name);
                    }
                }
            }
        }

        let declared_names: BTreeSet<&str> = declared.iter().map(|c| c.job.name.as_str()).collect();
        for (name, job) in &existing {
            if job.source == JobSource::Config.as_str() && !declared_names.contains(name.as_str()) {
                jobs::Entity::delete_by_id(job.id).exec(&txn).await?;
                report.removed.push(name.clone());
            }
        }

        txn.commit().await?;
        self.announce_change().await;
        Ok(report)
    }

    async fn create_config_job<C: ConnectionTrait>(
        &self,
        txn: &C,
        cj: &ConfigJob,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let hash = Some(cj.job_hash.clone());
        let job = insert_job(txn, &cj.job, JobSource::Config, hash, now_ms).await?;
        self.insert_config_trigger(txn, cj, &job, now_ms).await
    }

    async fn insert_config_trigger<C: ConnectionTrait>(
        &self,
        txn: &C,
        cj: &ConfigJob,
        job: &jobs::Model,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if let Some(t) = &cj.trigger {
            let hash = cj.trigger_hash.clone();
            insert_trigger(self, txn, job, t, JobSource::Config, hash, now_ms).await?;
        }
        Ok(())
    }

    /// Brings an existing config job in line with its declaration; returns
    /// whether anything changed. A job whose hashes match is left exactly
    /// as it is.
    async fn update_config_job<C: ConnectionTrait>(
        &self,
        txn: &C,
        cj: &ConfigJob,
        current: &jobs::Model,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let name = &cj.job.name;
        if current.source != JobSource::Config.as_str() {
            return Err(StoreError::Conflict(format!(
                "job `{name}` exists and was created through the API; the file may not \
                 redefine it: rename the job in the file, or delete the API job first \
                 (`cosched jobs delete {name}`)"
            )));
        }
        let mut changed = false;
        let mut job = current.clone();
        if current.config_hash.as_deref() != Some(cj.job_hash.as_str()) {
            let mut model = current.clone().into_active_model();
            job_columns(&cj.job, &mut model);
            // An operator's pause through the API survives a change to
            // the file; `paused = true` in the file still pauses.
            model.paused = Set(current.paused || cj.job.paused);
            model.config_hash = Set(Some(cj.job_hash.clone()));
            model.updated_at = Set(now_ms);
            job = model.update(txn).await?;
            // Triggers follow the job's pool and pause state.
            txn.execute_raw(self.stmt(
                "UPDATE triggers SET pool = $1, updated_at = $2 WHERE job_id = $3",
                [job.pool.as_str().into(), now_ms.into(), job.id.into()],
            ))
            .await?;
            if job.paused && !current.paused {
                txn.execute_raw(self.stmt(
                    "UPDATE triggers SET state = 'paused' WHERE job_id = $1 AND state = 'waiting'",
                    [job.id.into()],
                ))
                .await?;
            }
            changed = true;
        }
        let config_triggers: Vec<triggers::Model> = triggers::Entity::find()
            .filter(triggers::Column::JobId.eq(job.id))
            .filter(triggers::Column::Source.eq(JobSource::Config.as_str()))
            .all(txn)
            .await?;
        let keep = match (&cj.trigger_hash, config_triggers.as_slice()) {
            (Some(hash), [one]) => one.config_hash.as_deref() == Some(hash.as_str()),
            (None, []) => true,
            _ => false,
        };
        if !keep {
            for t in &config_triggers {
                triggers::Entity::delete_by_id(t.id).exec(txn).await?;
            }
            self.insert_config_trigger(txn, cj, &job, now_ms).await?;
            changed = true;
        }
        Ok(changed)
    }

    async fn reconcile_calendars<C: ConnectionTrait>(
        &self,
        db: &C,
        declared: &[(String, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let existing: BTreeMap<String, calendars::Model> = calendars::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        let mut changed = Vec::new();
        for (name, definition) in declared {
            match existing.get(name) {
                Some(c) if c.source == JobSource::Api.as_str() => {
                    return Err(StoreError::Conflict(format!(
                        "calendar `{name}` exists and was created through the API; rename the \
                         calendar in the file"
                    )));
                }
                Some(c) if &c.definition == definition => {}
                Some(c) => {
                    let mut model = c.clone().into_active_model();
                    model.definition = Set(definition.clone());
                    model.updated_at = Set(now_ms);
                    model.update(db).await?;
                    changed.push(name.clone());
                }
                None => {
                    calendars::ActiveModel {
                        name: Set(name.clone()),
                        definition: Set(definition.clone()),
                        source: Set(JobSource::Config.as_str().to_string()),
                        created_at: Set(now_ms),
                        updated_at: Set(now_ms),
                    }
                    .insert(db)
                    .await?;
                    changed.push(name.clone());
                }
            }
        }
        // Changed definitions take effect at once on the triggers naming them.
        reschedule_naming(self, db, &changed, now_ms).await?;
        for (name, c) in &existing {
            if c.source == JobSource::Config.as_str() && !declared.iter().any(|(n, _)| n == name) {
                calendars::Entity::delete_by_id(name.clone())
                    .exec(db)
                    .await?;
            }
        }
        Ok(())
    }
}
