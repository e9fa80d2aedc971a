//! `next --job` and `GET /jobs/{name}/next`: the next fires of a stored
//! job exactly as the node will record them, every trigger merged in
//! order, with the calendars the scheduler loads
//! ([`Store::calendars_load`](crate::store::Store::calendars_load)) and the
//! step it advances triggers with
//! ([`TriggerTimeline`](crate::schedule::preview::TriggerTimeline)). A
//! jittered job's fires show their nominal instant and the instant they
//! are due, with the offset the scheduler computes
//! ([`jitter`](crate::schedule::jitter)), so the preview is what the node
//! records.

use chrono::{DateTime, Utc};

use super::{Client, ClientError};
use crate::clock::from_ms;
use crate::model::{Jitter, Job, Trigger, TriggerState};
use crate::schedule::jitter;
use crate::schedule::preview::{PreviewFire, TriggerTimeline};

/// The most fires one preview may ask for.
pub const MAX_PREVIEW_COUNT: u64 = 10_000;

/// The next fires of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPreview {
    pub job: String,
    /// The job is paused: it fires none of these until it is resumed
    /// (then missed ones follow the misfire policy).
    pub paused: bool,
    /// The job's jitter: each fire is due at its `due_at`, after `at`.
    pub jitter: Option<Jitter>,
    /// In firing order (ties by trigger id).
    pub fires: Vec<JobPreviewFire>,
    /// Triggers that cannot be previewed (in `error`, or naming a calendar
    /// that is gone), with why.
    pub errors: Vec<(i64, String)>,
}

/// One previewed fire of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPreviewFire {
    pub trigger_id: i64,
    /// Paused on its own (see [`Trigger::paused`]).
    pub trigger_paused: bool,
    /// The nominal instant (`at`, recorded as `scheduled_at`) and its marks.
    pub fire: PreviewFire,
    /// When the fire is due: the nominal instant plus the job's jitter
    /// offset, exactly as the scheduler computes it; `at` without jitter
    /// and for a fire a calendar excludes (recorded skipped on its instant).
    pub due_at: DateTime<Utc>,
}

impl JobPreviewFire {
    pub fn at(&self) -> DateTime<Utc> {
        self.fire.at
    }
}

impl Client {
    /// The next `n` fires of the job `name`, from each trigger's stored
    /// next fire, merged in order.
    pub async fn job_preview(&self, name: &str, n: usize) -> Result<JobPreview, ClientError> {
        let summary = self.store.job_summary(name).await?;
        let mut names: Vec<String> = summary
            .triggers
            .iter()
            .flat_map(|t| t.calendars.clone())
            .collect();
        names.sort();
        names.dedup();
        let loaded = self.store.calendars_load(&names).await?;
        let mut fires = Vec::new();
        let mut errors = Vec::new();
        for t in &summary.triggers {
            if t.state == TriggerState::Error {
                let why = t.error.clone().unwrap_or_else(|| "in error".into());
                errors.push((t.id, why));
                continue;
            }
            match loaded.set_for(&t.calendars) {
                Ok(set) => fires.extend(upcoming(t, &set, n, &summary.job)),
                Err(why) => errors.push((t.id, why)),
            }
        }
        fires.sort_by_key(|f: &JobPreviewFire| (f.fire.at, f.trigger_id));
        fires.truncate(n);
        Ok(JobPreview {
            job: summary.job.name.clone(),
            paused: summary.job.paused,
            jitter: summary.job.jitter,
            fires,
            errors,
        })
    }
}

fn upcoming(
    t: &Trigger,
    calendars: &crate::schedule::calendar::CalendarSet,
    n: usize,
    job: &Job,
) -> Vec<JobPreviewFire> {
    let timeline = TriggerTimeline {
        spec: &t.spec,
        start_at: from_ms(t.start_at),
        repeat_count: t.repeat_count,
        times_fired: t.times_fired,
        next: t.next_fire_at.map(from_ms),
        calendars,
    };
    timeline
        .upcoming(n)
        .into_iter()
        .map(|fire| {
            let nominal = fire.at.timestamp_millis();
            let offset = match fire.excluded_by {
                Some(_) => 0,
                None => jitter::offset_ms(job.jitter.as_ref(), &job.name, t.id, nominal),
            };
            JobPreviewFire {
                trigger_id: t.id,
                trigger_paused: t.paused,
                due_at: from_ms(nominal.saturating_add(offset)),
                fire,
            }
        })
        .collect()
}
