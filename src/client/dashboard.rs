//! The reads the web dashboard needs, over the store's bounded, indexed
//! queries (see [`crate::store`]'s `dashboard` statements): nothing here
//! loads every job or every fire.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Client, ClientError};
use crate::model::{Fire, FireStatus, Job, Trigger};
use crate::schedule::calendar::Calendar;
use crate::store::{
    FireMark, FirePage, FirePageQuery, FireWindowQuery, JobPage, JobPageQuery, ProblemGroup,
};

impl Client {
    /// The client's clock, now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// How many fires scheduled since `since` have each status.
    pub async fn fire_counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(FireStatus, u64)>, ClientError> {
        Ok(self
            .store
            .fire_counts_since(since.timestamp_millis())
            .await?)
    }

    /// Lateness in ms of the (at most `cap` latest) first attempts
    /// scheduled since `since` that started.
    pub async fn lateness_since(
        &self,
        since: DateTime<Utc>,
        cap: u64,
    ) -> Result<Vec<i64>, ClientError> {
        Ok(self
            .store
            .lateness_since(since.timestamp_millis(), cap)
            .await?)
    }

    /// Failed, timed-out, abandoned and skipped fires since `since`, by
    /// job, status and reason.
    pub async fn fire_problems_since(
        &self,
        since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ProblemGroup>, ClientError> {
        Ok(self
            .store
            .fire_problems_since(since.timestamp_millis(), limit)
            .await?)
    }

    /// A page of jobs by name.
    pub async fn dashboard_jobs_page(&self, q: &JobPageQuery) -> Result<JobPage, ClientError> {
        Ok(self.store.dashboard_jobs_page(q).await?)
    }

    /// The latest fire of each of these jobs.
    pub async fn last_fires(&self, job_ids: &[i64]) -> Result<HashMap<i64, Fire>, ClientError> {
        Ok(self.store.last_fires(job_ids).await?)
    }

    /// The latest `per_job` fires of each of a page of jobs, oldest first.
    pub async fn recent_fire_marks(
        &self,
        job_ids: &[i64],
        per_job: u32,
    ) -> Result<HashMap<i64, Vec<FireMark>>, ClientError> {
        Ok(self.store.recent_fire_marks(job_ids, per_job).await?)
    }

    /// Lateness (ms) of one job's latest `cap` first attempts that started.
    pub async fn job_lateness(&self, job_id: i64, cap: u64) -> Result<Vec<i64>, ClientError> {
        Ok(self.store.job_lateness(job_id, cap).await?)
    }

    /// A page of fires, newest first.
    pub async fn dashboard_fires_page(&self, q: &FirePageQuery) -> Result<FirePage, ClientError> {
        Ok(self.store.dashboard_fires_page(q).await?)
    }

    /// The fires of a Gantt window, earliest first.
    pub async fn fires_in_window(&self, q: &FireWindowQuery) -> Result<Vec<Fire>, ClientError> {
        Ok(self.store.fires_in_window(q).await?)
    }

    /// Waiting and paused triggers due at or before `until`.
    pub async fn triggers_due_before(
        &self,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Trigger>, ClientError> {
        Ok(self
            .store
            .triggers_due_before(until.timestamp_millis(), limit)
            .await?)
    }

    /// Waiting and paused triggers that name a calendar, at most `limit`.
    pub async fn triggers_with_calendars(&self, limit: u64) -> Result<Vec<Trigger>, ClientError> {
        Ok(self.store.triggers_with_calendars(limit).await?)
    }

    /// Jobs by id (those that decode).
    pub async fn jobs_by_id(&self, ids: &[i64]) -> Result<HashMap<i64, Job>, ClientError> {
        Ok(self.store.jobs_by_id(ids).await?.jobs)
    }

    /// Every calendar that compiles, by name (a calendar that does not is
    /// left out: the triggers naming it are in error anyway).
    pub async fn compiled_calendars(&self) -> Result<HashMap<String, Arc<Calendar>>, ClientError> {
        let calendars = self.calendars().await?;
        Ok(calendars
            .into_iter()
            .filter_map(|c| {
                let compiled = c.definition.compile(chrono_tz::Tz::UTC).ok()?;
                Some((c.name, Arc::new(compiled)))
            })
            .collect())
    }
}
