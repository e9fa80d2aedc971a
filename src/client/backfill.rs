//! Backfill: fires for the instants a job's triggers had in a past window
//! `[from, to)`, as `cosched backfill` and `POST /jobs/{name}/backfill`
//! ask for them.
//!
//! The instants come from the very functions the scheduler uses (each
//! trigger's schedule with its zone and DST rules, then
//! [`next_allowed`] past what its calendars exclude). Instants that have a
//! fire row already are left alone (a second backfill creates nothing);
//! the others become `queued` fires due now, through the job's overlap
//! gate (see [`Store::backfill_fires`](crate::store::Store::backfill_fires)).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Client, ClientError};
use crate::clock::from_ms;
use crate::model::{FireStatus, TriggerState};
use crate::schedule::calendar::next_allowed;
use crate::scheduler::merged_data;
use crate::store::BackfillFires;

/// The instants a backfill creates when `max` is not given.
pub const DEFAULT_BACKFILL_MAX: u64 = 1_000;
/// The most instants one backfill may create.
pub const MAX_BACKFILL: u64 = 10_000;

/// What to backfill.
#[derive(Debug, Clone)]
pub struct Backfill {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// At most this many instants (1 to [`MAX_BACKFILL`]); a window with
    /// more is refused, nothing created.
    pub max: u64,
    /// Say what would be created, create nothing.
    pub dry_run: bool,
}

/// One instant a backfill created (or would create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfilledFire {
    pub trigger_id: i64,
    pub scheduled_at: i64,
    /// 0 on a dry run.
    pub fire_id: i64,
    /// `queued`, or `skipped` by the job's overlap policy.
    pub status: FireStatus,
    pub reason: Option<String>,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    pub job: String,
    pub dry_run: bool,
    pub created: Vec<BackfilledFire>,
    /// (trigger id, instant) that already had a fire.
    pub present: Vec<(i64, i64)>,
}

impl Client {
    /// Backfills `job` over `what`'s window (see the module doc).
    pub async fn backfill(
        &self,
        job: &str,
        what: &Backfill,
    ) -> Result<BackfillReport, ClientError> {
        if what.from >= what.to {
            return Err(ClientError::Invalid(format!(
                "the window is empty: `from` ({}) must be before `to` ({})",
                what.from.to_rfc3339(),
                what.to.to_rfc3339()
            )));
        }
        if !(1..=MAX_BACKFILL).contains(&what.max) {
            return Err(ClientError::Invalid(format!(
                "`max` {} is out of range: expected 1 to {MAX_BACKFILL}",
                what.max
            )));
        }
        let summary = self.store.job_summary(job).await?;
        let triggers: Vec<_> = summary
            .triggers
            .iter()
            .filter(|t| t.state != TriggerState::Error)
            .collect();
        let names: Vec<String> = triggers.iter().flat_map(|t| t.calendars.clone()).collect();
        let calendars = self.store.calendars_load(&names).await?;
        let mut plans = Vec::new();
        let mut total = 0u64;
        for t in &triggers {
            let set = calendars
                .set_for(&t.calendars)
                .map_err(ClientError::Invalid)?;
            // A declared start (and a one-shot's instant) bounds and
            // phases the instants; without one the schedule counts from
            // `from`, not from when the trigger was created.
            let declared = t.spec.start_at(what.from) != what.from;
            let start = if declared {
                from_ms(t.start_at)
            } else {
                what.from
            };
            let schedule = t.spec.schedule(start, t.repeat_count);
            let mut instants = Vec::new();
            let mut cur = what.from - chrono::Duration::milliseconds(1);
            while let Some(next) = next_allowed(cur, &set, |x| schedule.next_after(x)) {
                if next >= what.to {
                    break;
                }
                total += 1;
                if total > what.max {
                    return Err(ClientError::Invalid(format!(
                        "the window is too large: more than {} instants of job `{job}` in [{}, {}); \
                         narrow it or raise `max` (at most {MAX_BACKFILL})",
                        what.max,
                        what.from.to_rfc3339(),
                        what.to.to_rfc3339()
                    )));
                }
                instants.push(next.timestamp_millis());
                cur = next;
            }
            plans.push((*t, instants));
        }
        let now_ms = self.clock.now_ms();
        let mut report = BackfillReport {
            job: summary.job.name.clone(),
            dry_run: what.dry_run,
            ..Default::default()
        };
        for (t, instants) in plans {
            let data = merged_data(&summary.job.data, t.data.as_ref());
            let outcome = self
                .store
                .backfill_fires(&BackfillFires {
                    job: &summary.job,
                    trigger_id: t.id,
                    instants: &instants,
                    data: &data,
                    now_ms,
                    dry_run: what.dry_run,
                })
                .await
                .map_err(ClientError::from)?;
            report.created.extend(outcome.created.into_iter().map(
                |(scheduled_at, fire_id, status, reason)| BackfilledFire {
                    trigger_id: t.id,
                    scheduled_at,
                    fire_id,
                    status,
                    reason,
                },
            ));
            report
                .present
                .extend(outcome.present.into_iter().map(|at| (t.id, at)));
        }
        Ok(report)
    }
}

/// A backfill report as JSON (the CLI's `--json` and the HTTP answer).
pub fn backfill_json(r: &BackfillReport) -> Value {
    json!({
        "job": r.job,
        "dry_run": r.dry_run,
        "created": r.created.iter().map(|c| json!({
            "trigger_id": c.trigger_id,
            "scheduled_at": from_ms(c.scheduled_at).to_rfc3339(),
            "fire_id": (c.fire_id > 0).then_some(c.fire_id),
            "status": c.status.as_str(),
            "reason": c.reason,
        })).collect::<Vec<_>>(),
        "present": r.present.iter().map(|(t, at)| json!({
            "trigger_id": t,
            "scheduled_at": from_ms(*at).to_rfc3339(),
        })).collect::<Vec<_>>(),
    })
}
