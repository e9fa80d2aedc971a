//! The producer API: schedule, trigger, pause, resume and read history,
//! over SQL alone.
//!
//! A [`Client`] needs no running node: what it writes waits in the
//! database, and a node started later fires it. The CLI, the HTTP API and
//! any embedding program use it; other languages write the same rows with
//! plain SQL. It speaks [`crate::model`] types, and [`views`] gives their
//! JSON shapes, shared by `--json` and the HTTP API.

pub mod backfill;
mod dashboard;
pub mod notifications;
mod page;
mod preview;
pub mod views;

pub use page::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Page, check_limit};
pub use preview::{JobPreview, JobPreviewFire, MAX_PREVIEW_COUNT};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::declare::{self, Door, JobDecl, ValidationContext, ValidationError, ranges};
use crate::jobs::JobRegistry;
use crate::jobs::http::ApiHttpPolicy;
use crate::model::{
    Calendar, Fire, FireCount, Job, JobDef, JobHealth, JobSummary, NodeSummary, Trigger, TriggerDef,
};
use crate::retention::{self, ManualPrune, PruneError, PruneReport};
use crate::schedule::ScheduleSpec;
use crate::schedule::calendar::CalendarDef;
use crate::store::{FireFilter, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A declaration with bad fields, each with its JSON path.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    Invalid(String),
}

/// The API over the cosched database.
#[derive(Debug, Clone)]
pub struct Client {
    store: Store,
    clock: Arc<dyn Clock>,
    registry: JobRegistry,
    default_timezone: Tz,
    /// What `http` jobs declared through [`Client::create_job`] may do.
    http_policy: Arc<ApiHttpPolicy>,
}

impl Client {
    /// Connects to the cosched database at `url`. It does not migrate: a
    /// producer needs no DDL rights. A SQLite file that does not exist, or
    /// a database without the schema this binary expects, is an error that
    /// says what to run (`cosched migrate`, or a node's `cosched serve`).
    pub async fn connect(url: &str) -> Result<Client, ClientError> {
        let store = Store::connect_existing(url).await?;
        store.require_schema().await?;
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
            default_timezone: Tz::UTC,
            http_policy: Arc::new(ApiHttpPolicy::default()),
        }
    }

    /// The zone of a declared schedule that names none (default: UTC; a
    /// node's client uses `[scheduler] timezone`).
    pub fn with_default_timezone(mut self, tz: Tz) -> Client {
        self.default_timezone = tz;
        self
    }

    /// The operator's rules for `http` jobs declared through
    /// [`Client::create_job`] (and so the HTTP API): where they may send
    /// requests, which secrets they may read. The default allows no
    /// destination; a node's client uses its `[scheduler]` settings.
    pub fn with_http_policy(mut self, policy: ApiHttpPolicy) -> Client {
        self.http_policy = Arc::new(policy);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates a job (and its trigger) from a declaration, after the same
    /// validation as the file and the HTTP API: every problem comes back
    /// at once as [`ClientError::Validation`], and nothing is written. The
    /// file never touches API jobs.
    pub async fn create_job(&self, decl: &JobDecl) -> Result<Job, ClientError> {
        let names_calendars = decl
            .schedule
            .as_ref()
            .is_some_and(|s| s.calendars.as_ref().is_some_and(|c| !c.is_empty()));
        let calendars: Vec<String> = if names_calendars {
            self.store
                .calendars_list()
                .await?
                .into_iter()
                .map(|c| c.name)
                .collect()
        } else {
            Vec::new()
        };
        let validated = declare::validate(
            decl,
            &ValidationContext {
                registry: &self.registry,
                default_timezone: self.default_timezone,
                calendars: &calendars,
                door: Door::Api,
                http_policy: Some(self.http_policy.as_ref()),
            },
        )?;
        Ok(self
            .store
            .job_create(
                &validated.job,
                validated.trigger.as_ref(),
                self.clock.now_ms(),
            )
            .await?)
    }

    /// Creates a job from typed definitions (built in Rust rather than
    /// declared), checked against the same rules and ranges as
    /// [`create_job`](Self::create_job); a calendar it names must exist
    /// (the store refuses the insert otherwise).
    pub async fn create_job_def(
        &self,
        def: &JobDef,
        trigger: Option<&TriggerDef>,
    ) -> Result<Job, ClientError> {
        declare::check_defs(
            def,
            trigger,
            &ValidationContext {
                registry: &self.registry,
                default_timezone: self.default_timezone,
                calendars: &[],
                door: Door::Api,
                // Definitions built in Rust by the embedding program are
                // as trusted as the program, which holds the store too.
                http_policy: None,
            },
        )?;
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
    ) -> Result<Trigger, ClientError> {
        let at = ranges::check_instant(at, "at")
            .map_err(|e| ClientError::Validation(ValidationError::one("at", e)))?;
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
    ) -> Result<Trigger, ClientError> {
        let Some(key) = key else {
            return self.schedule_at(job, at, data).await;
        };
        let at = ranges::check_instant(at, "at")
            .map_err(|e| ClientError::Validation(ValidationError::one("at", e)))?;
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
    ) -> Result<Trigger, ClientError> {
        let at = ranges::after(self.clock.now(), delay, "in")
            .map_err(|e| ClientError::Validation(ValidationError::one("in", e)))?;
        self.schedule_at(job, at, data).await
    }

    /// Fires `job` now (a one-off due at once).
    pub async fn trigger_now(
        &self,
        job: &str,
        data: Option<Value>,
    ) -> Result<Trigger, ClientError> {
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
    pub async fn set_calendar(&self, def: &CalendarDef) -> Result<Calendar, ClientError> {
        Ok(self.store.calendar_upsert(def, self.clock.now_ms()).await?)
    }

    /// Deletes an API calendar; triggers still naming it go to `error`.
    pub async fn delete_calendar(&self, name: &str) -> Result<(), ClientError> {
        Ok(self.store.calendar_delete(name).await?)
    }

    /// Every calendar, from the file and from the API.
    pub async fn calendars(&self) -> Result<Vec<Calendar>, ClientError> {
        Ok(self.store.calendars_list().await?)
    }

    /// Deletes a job created through the API, with its triggers and
    /// history. A job declared in the configuration file is refused
    /// ([`StoreError::DeclaredInFile`]): remove it from the file.
    ///
    /// A fire of the job still running is not left behind: its record is
    /// gone with the job, and the node running it stops it at its next
    /// pass, as for [`Client::cancel_fire`], freeing its slot.
    pub async fn delete_job(&self, job: &str) -> Result<(), ClientError> {
        Ok(self.store.job_delete(job).await?)
    }

    /// Every job with its triggers and next fire (rows that do not decode
    /// are left out, logged and counted).
    pub async fn jobs(&self) -> Result<Vec<JobSummary>, ClientError> {
        let mut jobs = self.store.jobs_list().await?;
        let mut health: std::collections::HashMap<i64, JobHealth> = self
            .store
            .jobs_health(None, self.clock.now_ms())
            .await?
            .into_iter()
            .map(|h| (h.job_id, h))
            .collect();
        for j in &mut jobs {
            j.health = health.remove(&j.job.id);
        }
        Ok(jobs)
    }

    /// One page of jobs by name (at most `limit`, 1 to
    /// [`MAX_PAGE_LIMIT`]), after the job `cursor` points at (a
    /// `next_cursor` of an earlier page; `None`: from the first).
    pub async fn jobs_page(
        &self,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<JobSummary>, ClientError> {
        let limit = check_limit(limit).map_err(ClientError::Invalid)?;
        let after = cursor
            .map(page::parse_job_cursor)
            .transpose()
            .map_err(ClientError::Invalid)?;
        let p = self.store.jobs_page(after.as_deref(), limit).await?;
        Ok(Page {
            items: p.items,
            next_cursor: p.next.as_deref().map(page::job_cursor),
        })
    }

    /// One page of fires matching `filter` (whose own `limit` is not
    /// used), newest first, at most `limit` (1 to [`MAX_PAGE_LIMIT`]),
    /// after the fire `cursor` points at.
    pub async fn fires_page(
        &self,
        filter: &FireFilter,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page<Fire>, ClientError> {
        let limit = check_limit(limit).map_err(ClientError::Invalid)?;
        let before = cursor
            .map(page::parse_fire_cursor)
            .transpose()
            .map_err(ClientError::Invalid)?;
        let p = self.store.fires_page(filter, before, limit).await?;
        Ok(Page {
            items: p.items,
            next_cursor: p.next.map(page::fire_cursor),
        })
    }

    /// One job with its triggers and next fire, looked up by its name
    /// through the unique index (its triggers through theirs by job).
    /// One job with its triggers, next fire and health.
    pub async fn job(&self, name: &str) -> Result<JobSummary, ClientError> {
        let mut job = self.store.job_summary(name).await?;
        job.health = self
            .store
            .jobs_health(Some(name), self.clock.now_ms())
            .await?
            .into_iter()
            .next();
        Ok(job)
    }

    /// The health of every job, judged now: last outcomes, next fire,
    /// consecutive failures, and `unhealthy` where `expect_success_within`
    /// is violated.
    pub async fn jobs_health(&self) -> Result<Vec<JobHealth>, ClientError> {
        Ok(self.store.jobs_health(None, self.clock.now_ms()).await?)
    }

    /// The fires of every job in the history, counted by status.
    pub async fn fire_counts(&self) -> Result<Vec<FireCount>, ClientError> {
        Ok(self.store.fire_counts().await?)
    }

    /// One fire by id.
    pub async fn fire(&self, id: i64) -> Result<Option<Fire>, ClientError> {
        Ok(self.store.fire_by_id(id).await?)
    }

    /// Every node of the cluster, with its running fires.
    pub async fn nodes(&self) -> Result<Vec<NodeSummary>, ClientError> {
        Ok(self.store.nodes_list().await?)
    }

    /// Fires, newest first.
    pub async fn fires(&self, filter: &FireFilter) -> Result<Vec<Fire>, ClientError> {
        Ok(self.store.fires_list(filter).await?)
    }

    /// Prunes final fires by hand (or counts them, on a dry run); the
    /// newest fire of each status of each job is kept.
    pub async fn prune_fires(&self, what: &ManualPrune) -> Result<PruneReport, ClientError> {
        retention::prune_by_hand(&self.store, self.clock.as_ref(), what, PRUNE_BATCH)
            .await
            .map_err(|e| match e {
                PruneError::Store(e) => ClientError::Store(e),
                PruneError::Invalid(m) => ClientError::Invalid(m),
            })
    }
}

/// Rows per transaction of a prune by hand.
const PRUNE_BATCH: u64 = 1_000;
