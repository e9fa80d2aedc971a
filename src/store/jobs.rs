//! Jobs: create, read, list, pause, resume, delete.

use std::collections::HashMap;

use entity::{jobs, triggers};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::error::unique_violation_as;
use super::storable::refuse_nul;
use super::{MalformedRow, Store, StoreError, codec};
use crate::model::{Job, JobDef, JobSource, JobSummary, TriggerDef, TriggerState};

/// Jobs read by id for a pass: those that decode, and why the others do
/// not (their fires and triggers are put aside with that reason).
#[derive(Debug, Clone, Default)]
pub struct JobsById {
    pub jobs: HashMap<i64, Job>,
    pub malformed: HashMap<i64, MalformedRow>,
}

pub(super) async fn insert_job<C: ConnectionTrait>(
    db: &C,
    def: &JobDef,
    source: JobSource,
    config_hash: Option<String>,
    now_ms: i64,
) -> Result<jobs::Model, StoreError> {
    refuse_nul("job name", &def.name)?;
    refuse_nul("kind", &def.kind)?;
    refuse_nul("pool", &def.pool)?;
    if let Some(group) = &def.group {
        refuse_nul("group", group)?;
    }
    let mut model = jobs::ActiveModel {
        ..Default::default()
    };
    codec::job_columns(def, &mut model);
    model.source = Set(source.as_str().to_string());
    model.config_hash = Set(config_hash);
    model.created_at = Set(now_ms);
    model.updated_at = Set(now_ms);
    // Two producers creating one name at once: the second waits for the
    // first's commit on the unique index, then fails there.
    model
        .insert(db)
        .await
        .map_err(|e| unique_violation_as(e, || already_exists(&def.name)))
}

fn already_exists(name: &str) -> String {
    format!("job `{name}` already exists")
}

impl Store {
    /// Creates a job through the API (`source = 'api'`), with its trigger
    /// if it has one, in one transaction. A name that exists, even when
    /// another producer creates it at the same moment, is a `Conflict`.
    pub async fn job_create(
        &self,
        def: &JobDef,
        trigger: Option<&TriggerDef>,
        now_ms: i64,
    ) -> Result<Job, StoreError> {
        refuse_nul("job name", &def.name)?;
        let txn = self.begin_write().await?;
        if jobs::Entity::find()
            .filter(jobs::Column::Name.eq(&def.name))
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(already_exists(&def.name)));
        }
        let job = insert_job(&txn, def, JobSource::Api, None, now_ms).await?;
        if let Some(trigger) = trigger {
            super::triggers::insert_trigger(
                self,
                &txn,
                &job,
                trigger,
                JobSource::Api,
                None,
                now_ms,
            )
            .await?;
        }
        txn.commit()
            .await
            .map_err(|e| unique_violation_as(e, || already_exists(&def.name)))?;
        self.announce_change().await;
        Ok(codec::job(&job)?)
    }

    /// A job by name.
    pub async fn job_by_name(&self, name: &str) -> Result<Option<Job>, StoreError> {
        let row = self.find_job(name).await?;
        Ok(row.as_ref().map(codec::job).transpose()?)
    }

    async fn find_job(&self, name: &str) -> Result<Option<jobs::Model>, StoreError> {
        refuse_nul("job name", name)?;
        Ok(jobs::Entity::find()
            .filter(jobs::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    /// The row of a job that must exist.
    pub(super) async fn job_row(&self, name: &str) -> Result<jobs::Model, StoreError> {
        self.find_job(name)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "job",
                name: name.to_string(),
            })
    }

    /// The jobs with these ids (for the fires and triggers of one pass).
    pub async fn jobs_by_id(&self, ids: &[i64]) -> Result<JobsById, StoreError> {
        let rows = jobs::Entity::find()
            .filter(jobs::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        let mut out = JobsById::default();
        for row in &rows {
            match codec::job(row) {
                Ok(job) => {
                    out.jobs.insert(job.id, job);
                }
                Err(e) => {
                    self.put_aside(&e);
                    out.malformed.insert(row.id, e);
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` jobs with ids above `after_id`, by id, without their
    /// triggers: what a walk over every job (retention) reads a page at a
    /// time, so that its memory follows the page and not the table (a job
    /// with a million one-offs is one row here). Rows that do not decode
    /// are left out; the last id read comes back for the next page (None:
    /// no more).
    pub async fn jobs_after_id(
        &self,
        after_id: i64,
        limit: u64,
    ) -> Result<(Vec<Job>, Option<i64>), StoreError> {
        let rows = jobs::Entity::find()
            .filter(jobs::Column::Id.gt(after_id))
            .order_by_asc(jobs::Column::Id)
            .limit(limit.max(1))
            .all(&self.db)
            .await?;
        let last = rows.last().map(|row| row.id);
        let jobs = rows
            .iter()
            .filter_map(|row| match codec::job(row) {
                Ok(job) => Some(job),
                Err(e) => {
                    self.put_aside(&e);
                    None
                }
            })
            .collect();
        Ok((jobs, last))
    }

    /// Every job by name, with its triggers and earliest next fire. Rows
    /// that do not decode are left out.
    pub async fn jobs_list(&self) -> Result<Vec<JobSummary>, StoreError> {
        let rows = jobs::Entity::find()
            .order_by_asc(jobs::Column::Name)
            .find_with_related(triggers::Entity)
            .all(&self.db)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|(job, triggers)| match codec::job(job) {
                Ok(job) => Some(self.summary(job, triggers)),
                Err(e) => {
                    self.put_aside(&e);
                    None
                }
            })
            .collect())
    }

    /// One job with its triggers and earliest next fire.
    pub async fn job_summary(&self, name: &str) -> Result<JobSummary, StoreError> {
        let row = self.job_row(name).await?;
        let job = codec::job(&row)?;
        let triggers = triggers::Entity::find()
            .filter(triggers::Column::JobId.eq(row.id))
            .all(&self.db)
            .await?;
        Ok(self.summary(job, &triggers))
    }

    pub(super) fn summary(&self, job: Job, rows: &[triggers::Model]) -> JobSummary {
        let mut triggers = self.decode_all(rows, codec::trigger);
        triggers.sort_by_key(|t| t.id);
        let next_fire_at = triggers
            .iter()
            .filter(|t| t.state == TriggerState::Waiting)
            .filter_map(|t| t.next_fire_at)
            .min();
        JobSummary {
            job,
            next_fire_at,
            triggers,
            health: None,
        }
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
        refuse_nul("job name", name)?;
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

    /// Deletes a job created through the API, with its triggers and its
    /// history. A job declared in the configuration file is removed there.
    pub async fn job_delete(&self, name: &str) -> Result<(), StoreError> {
        refuse_nul("job name", name)?;
        let deleted = jobs::Entity::delete_many()
            .filter(jobs::Column::Name.eq(name))
            .filter(jobs::Column::Source.ne(JobSource::Config.as_str()))
            .exec(&self.db)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(match self.find_job(name).await? {
                Some(_) => StoreError::DeclaredInFile {
                    what: "job",
                    name: name.to_string(),
                    remedy: "remove it there; the next `cosched serve` deletes it",
                },
                None => StoreError::NotFound {
                    what: "job",
                    name: name.to_string(),
                },
            });
        }
        Ok(())
    }
}
