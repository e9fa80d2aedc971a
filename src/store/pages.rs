//! Keyset pages of jobs and fires, for listings that must stay bounded
//! however many rows there are.
//!
//! A page is read with one statement along an index, never by offset:
//! jobs by name (the unique index on `jobs.name`), fires newest first by
//! `(scheduled_at, attempt, id)` (the indexes `fires_recent` and
//! `fires_job_recent`). One row more than asked is read to learn whether
//! another page follows; the key of the page's last row is where the next
//! one starts, so rows inserted meanwhile never shift a page.

use std::collections::HashMap;

use entity::{fires, jobs, triggers};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{FireFilter, Store, StoreError, codec};
use crate::model::{Fire, JobSummary};

/// Where a page of fires ends: the last fire's sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FireKey {
    pub scheduled_at: i64,
    pub attempt: i32,
    pub id: i64,
}

/// One page of rows, and the key the next page starts after (`None`: this
/// was the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

impl Store {
    /// At most `limit` jobs (at least one) by name, after the job named
    /// `after`, with their triggers. Rows that do not decode are left out
    /// (the page may then be shorter; `next` still says whether more follow).
    pub async fn jobs_page(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Page<JobSummary, String>, StoreError> {
        let limit = limit.max(1);
        let mut query = jobs::Entity::find().order_by_asc(jobs::Column::Name);
        if let Some(after) = after {
            query = query.filter(jobs::Column::Name.gt(after));
        }
        let mut rows = query.limit(limit + 1).all(&self.db).await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next = more.then(|| rows.last().map(|r| r.name.clone())).flatten();
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut by_job: HashMap<i64, Vec<triggers::Model>> = HashMap::new();
        if !ids.is_empty() {
            for t in triggers::Entity::find()
                .filter(triggers::Column::JobId.is_in(ids))
                .all(&self.db)
                .await?
            {
                by_job.entry(t.job_id).or_default().push(t);
            }
        }
        let items = rows
            .iter()
            .filter_map(|row| match codec::job(row) {
                Ok(job) => {
                    let triggers = by_job.remove(&row.id).unwrap_or_default();
                    Some(self.summary(job, &triggers))
                }
                Err(e) => {
                    self.put_aside(&e);
                    None
                }
            })
            .collect();
        Ok(Page { items, next })
    }

    /// At most `limit` fires (at least one) matching `filter` (its own
    /// `limit` is ignored), newest first by (scheduled instant, attempt,
    /// id), after the fire whose key is `before`.
    pub async fn fires_page(
        &self,
        filter: &FireFilter,
        before: Option<FireKey>,
        limit: u64,
    ) -> Result<Page<Fire, FireKey>, StoreError> {
        let limit = limit.max(1);
        let mut query = fires::Entity::find();
        if let Some(job) = &filter.job {
            super::storable::refuse_nul("job", job)?;
            query = query.filter(fires::Column::JobName.eq(job.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(fires::Column::Status.eq(status.as_str()));
        }
        if let Some(k) = before {
            // (scheduled_at, attempt, id) < k, spelled out: both backends
            // walk the index range from its first column.
            query = query
                .filter(fires::Column::ScheduledAt.lte(k.scheduled_at))
                .filter(
                    Condition::any()
                        .add(fires::Column::ScheduledAt.lt(k.scheduled_at))
                        .add(fires::Column::Attempt.lt(k.attempt))
                        .add(
                            Condition::all()
                                .add(fires::Column::Attempt.eq(k.attempt))
                                .add(fires::Column::Id.lt(k.id)),
                        ),
                );
        }
        let mut rows = query
            .order_by_desc(fires::Column::ScheduledAt)
            .order_by_desc(fires::Column::Attempt)
            .order_by_desc(fires::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next = more
            .then(|| {
                rows.last().map(|r| FireKey {
                    scheduled_at: r.scheduled_at,
                    attempt: r.attempt,
                    id: r.id,
                })
            })
            .flatten();
        Ok(Page {
            items: self.decode_all(&rows, codec::fire),
            next,
        })
    }
}
