//! The producer API: schedule, trigger, pause, resume and read history,
//! over SQL alone.
//!
//! A [`Client`] needs no running node: what it writes waits in the
//! database, and a node started later fires it. The CLI and any embedding
//! program use it; other languages write the same rows with plain SQL.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{fires, jobs, triggers};
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::definition::{JobDef, TriggerDef};
use crate::jobs::JobRegistry;
use crate::schedule::ScheduleSpec;
use crate::schedule::calendar::CalendarDef;
use crate::store::{FireFilter, JobRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// The API over the cosched database.
#[derive(Debug, Clone)]
pub struct Client {
    store: Store,
    clock: Arc<dyn Clock>,
    registry: JobRegistry,
}

impl Client {
    /// Connects to `url` and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Client, ClientError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(Client::new(
            store,
            Arc::new(SystemClock),
            JobRegistry::with_builtins(),
        ))
    }

    /// A client over an open store, with a clock and the job kinds it may
    /// create jobs of.
    pub fn new(store: Store, clock: Arc<dyn Clock>, registry: JobRegistry) -> Client {
        Client {
            store,
            clock,
            registry,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates a job (and its trigger) through the API. The file never
    /// touches API jobs.
    pub async fn create_job(
        &self,
        def: &JobDef,
        trigger: Option<&TriggerDef>,
    ) -> Result<jobs::Model, ClientError> {
        let kind = self.registry.get(&def.kind).ok_or_else(|| {
            ClientError::Invalid(format!(
                "unknown job kind `{}`: expected one of {}",
                def.kind,
                self.registry.names().collect::<Vec<_>>().join(", ")
            ))
        })?;
        kind.validate(&def.settings)
            .map_err(|e| ClientError::Invalid(format!("job `{}`: {e}", def.name)))?;
        if def.name.trim().is_empty() {
            return Err(ClientError::Invalid("a job name must not be empty".into()));
        }
        Ok(self
            .store
            .job_create(def, trigger, self.clock.now_ms())
            .await?)
    }

    /// Schedules a one-off fire of `job` at `at`, with `data` merged over
    /// the job's data.
    pub async fn schedule_at(
        &self,
        job: &str,
        at: DateTime<Utc>,
        data: Option<Value>,
    ) -> Result<triggers::Model, ClientError> {
        let mut def = TriggerDef::new(ScheduleSpec::Once { at });
        def.data = data;
        Ok(self
            .store
            .trigger_create(job, &def, self.clock.now_ms())
            .await?)
    }

    /// Like [`Client::schedule_at`], with an optional producer key: a
    /// second call with the same key for the same job (from any producer,
    /// the SQL contract included) creates nothing and returns the trigger
    /// the first one created, with its instant and data.
    pub async fn schedule_once(
        &self,
        job: &str,
        at: DateTime<Utc>,
        data: Option<Value>,
        key: Option<&str>,
    ) -> Result<triggers::Model, ClientError> {
        let Some(key) = key else {
            return self.schedule_at(job, at, data).await;
        };
        let mut def = TriggerDef::new(ScheduleSpec::Once { at });
        def.data = data;
        Ok(self
            .store
            .trigger_create_keyed(job, &def, key, self.clock.now_ms())
            .await?)
    }

    /// Schedules a one-off fire of `job` after `delay`.
    pub async fn schedule_in(
        &self,
        job: &str,
        delay: Duration,
        data: Option<Value>,
    ) -> Result<triggers::Model, ClientError> {
        let delay = chrono::Duration::from_std(delay)
            .map_err(|_| ClientError::Invalid("delay too long".into()))?;
        self.schedule_at(job, self.clock.now() + delay, data).await
    }

    /// Fires `job` now (a one-off due at once).
    pub async fn trigger_now(
        &self,
        job: &str,
        data: Option<Value>,
    ) -> Result<triggers::Model, ClientError> {
        self.schedule_at(job, self.clock.now(), data).await
    }

    /// Pauses a job: none of its triggers fire until it is resumed.
    /// Returns false when it was already paused.
    pub async fn pause(&self, job: &str) -> Result<bool, ClientError> {
        Ok(self
            .store
            .job_set_paused(job, true, self.clock.now_ms())
            .await?)
    }

    /// Resumes a paused job; fires that came due meanwhile follow each
    /// trigger's misfire policy.
    pub async fn resume(&self, job: &str) -> Result<bool, ClientError> {
        Ok(self
            .store
            .job_set_paused(job, false, self.clock.now_ms())
            .await?)
    }

    /// Pauses one trigger (its job's other triggers keep firing).
    pub async fn pause_trigger(&self, trigger_id: i64) -> Result<bool, ClientError> {
        Ok(self
            .store
            .trigger_set_paused(trigger_id, true, self.clock.now_ms())
            .await?)
    }

    /// Resumes one trigger (it stays paused while its job is).
    pub async fn resume_trigger(&self, trigger_id: i64) -> Result<bool, ClientError> {
        Ok(self
            .store
            .trigger_set_paused(trigger_id, false, self.clock.now_ms())
            .await?)
    }

    /// Pauses every job of a group (the `group` key); returns those changed.
    pub async fn pause_group(&self, group: &str) -> Result<Vec<String>, ClientError> {
        Ok(self
            .store
            .group_set_paused(group, true, self.clock.now_ms())
            .await?)
    }

    /// Resumes every job of a group; returns those changed.
    pub async fn resume_group(&self, group: &str) -> Result<Vec<String>, ClientError> {
        Ok(self
            .store
            .group_set_paused(group, false, self.clock.now_ms())
            .await?)
    }

    /// Standby: no fire starts on any node; triggers keep their schedule,
    /// and on leaving standby the misfire policies apply.
    pub async fn set_standby(&self, standby: bool) -> Result<(), ClientError> {
        Ok(self.store.set_standby(standby, self.clock.now_ms()).await?)
    }

    pub async fn is_standby(&self) -> Result<bool, ClientError> {
        Ok(self.store.is_standby().await?)
    }

    /// Cancels a running or queued fire; the node running it stops the job.
    pub async fn cancel_fire(&self, fire_id: i64) -> Result<bool, ClientError> {
        Ok(self
            .store
            .fire_cancel(fire_id, "cancelled through the API", self.clock.now_ms())
            .await?)
    }

    /// Creates or replaces an exclusion calendar through the API (a
    /// calendar declared in the file cannot be replaced here). Triggers
    /// name calendars in their `calendars` list.
    pub async fn set_calendar(
        &self,
        def: &CalendarDef,
    ) -> Result<entity::calendars::Model, ClientError> {
        let json = serde_json::to_string(def)
            .map_err(|e| ClientError::Invalid(format!("calendar `{}`: {e}", def.name)))?;
        Ok(self
            .store
            .calendar_upsert(&json, self.clock.now_ms())
            .await?)
    }

    /// Deletes an API calendar; triggers still naming it go to `error`.
    pub async fn delete_calendar(&self, name: &str) -> Result<(), ClientError> {
        Ok(self.store.calendar_delete(name).await?)
    }

    /// Every calendar, from the file and from the API.
    pub async fn calendars(&self) -> Result<Vec<entity::calendars::Model>, ClientError> {
        Ok(self.store.calendars_list().await?)
    }

    /// Deletes a job with its triggers and history.
    pub async fn delete_job(&self, job: &str) -> Result<(), ClientError> {
        Ok(self.store.job_delete(job).await?)
    }

    /// Every job with its triggers and next fire.
    pub async fn jobs(&self) -> Result<Vec<JobRow>, ClientError> {
        Ok(self.store.jobs_list().await?)
    }

    /// One job with its triggers and next fire.
    pub async fn job(&self, name: &str) -> Result<JobRow, ClientError> {
        self.jobs()
            .await?
            .into_iter()
            .find(|j| j.job.name == name)
            .ok_or_else(|| {
                StoreError::NotFound {
                    what: "job",
                    name: name.to_string(),
                }
                .into()
            })
    }

    /// One fire by id.
    pub async fn fire(&self, id: i64) -> Result<Option<fires::Model>, ClientError> {
        Ok(self.store.fire_by_id(id).await?)
    }

    /// Every node of the cluster, with its running fires.
    pub async fn nodes(&self) -> Result<Vec<crate::store::NodeRow>, ClientError> {
        Ok(self.store.nodes_list().await?)
    }

    /// Fires, newest first.
    pub async fn fires(&self, filter: &FireFilter) -> Result<Vec<fires::Model>, ClientError> {
        Ok(self.store.fires_list(filter).await?)
    }
}
