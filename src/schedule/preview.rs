//! Previews: the next fires of a stored trigger, as the scheduler will
//! record them, with how DST shaped each one and the instants its
//! calendars exclude (named by calendar). Pure: the caller gives the
//! trigger's schedule, its next fire and the instant to stop at.
//!
//! [`next_fire_after`] is the one step that advances a trigger: the
//! scheduler computes every `next_fire_at` with it after a fire, and
//! [`TriggerTimeline::upcoming`] walks it from the stored next fire, with
//! the same fire limit, so a preview never disagrees with what fires.

use chrono::{DateTime, Duration as TimeDelta, Utc};

use super::calendar::{CalendarSet, next_allowed};
use super::cron::{CronSchedule, DstAdjustment};
use super::dst::FoldPolicy;
use super::spec::{Schedule, ScheduleSpec};

/// Most schedule steps one preview takes, excluded candidates included:
/// an every-second schedule over an excluded stretch jumps past it, so
/// this bounds only pathological calendars.
const MAX_STEPS: usize = 10_000;

/// One previewed instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFire {
    pub at: DateTime<Utc>,
    /// How DST moved or selected it, with the policy that decided.
    pub dst: Option<DstNote>,
    /// The calendar that excludes it (then it does not fire).
    pub excluded_by: Option<String>,
}

/// A DST mark on a previewed fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DstNote {
    pub adjustment: DstAdjustment,
    /// The fold policy in force (for fold adjustments).
    pub fold: FoldPolicy,
}

impl DstNote {
    /// A sentence naming what happened and the policy behind it.
    pub fn describe(&self) -> String {
        match self.adjustment {
            DstAdjustment::GapRunAtTransition => {
                "spring-forward gap: fired at the transition (gap policy run_at_transition)".into()
            }
            DstAdjustment::GapShiftedForward => {
                "spring-forward gap: shifted by the gap's length (gap policy shift_forward)".into()
            }
            DstAdjustment::FoldEarlier => format!(
                "fall-back fold: first occurrence of the wall time (fold policy {})",
                self.fold
            ),
            DstAdjustment::FoldLater => format!(
                "fall-back fold: second occurrence of the wall time (fold policy {})",
                self.fold
            ),
        }
    }
}

/// What to preview.
#[derive(Debug, Clone, Copy)]
pub struct PreviewRange {
    /// The first instant to report (earlier fires are walked over).
    pub from: DateTime<Utc>,
    /// Stop after this instant.
    pub until: DateTime<Utc>,
    /// Report at most this many instants (fires and excluded ones).
    pub limit: usize,
}

/// The next fire of a trigger strictly after `after`: the first instant
/// of its schedule (counting from `start_at` with `repeat_count` repeats)
/// that no calendar of `calendars` excludes. The scheduler advances every
/// trigger with this after a fire; previews walk it.
pub fn next_fire_after(
    spec: &ScheduleSpec,
    start_at: DateTime<Utc>,
    repeat_count: Option<u64>,
    calendars: &CalendarSet,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let schedule = spec.schedule(start_at, repeat_count);
    next_allowed(after, calendars, |t| schedule.next_after(t))
}

/// A stored trigger as the scheduler advances it.
#[derive(Debug, Clone, Copy)]
pub struct TriggerTimeline<'a> {
    pub spec: &'a ScheduleSpec,
    pub start_at: DateTime<Utc>,
    pub repeat_count: Option<u64>,
    /// Fires recorded so far (for a schedule with a fire limit).
    pub times_fired: u64,
    /// The stored next fire; None: the trigger is done.
    pub next: Option<DateTime<Utc>>,
    pub calendars: &'a CalendarSet,
}

impl TriggerTimeline<'_> {
    /// The next fire strictly after `after` ([`next_fire_after`]).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_fire_after(
            self.spec,
            self.start_at,
            self.repeat_count,
            self.calendars,
            after,
        )
    }

    /// The next `limit` fires, on time, from the stored next fire: each one
    /// the scheduler will record, in order, up to the schedule's end and
    /// fire limit. A stored next fire that a calendar changed since then
    /// excludes is reported with that calendar (it is recorded skipped).
    pub fn upcoming(&self, limit: usize) -> Vec<PreviewFire> {
        let schedule = self.spec.schedule(self.start_at, self.repeat_count);
        let mut left = self
            .spec
            .fire_limit(self.repeat_count)
            .map(|l| l.saturating_sub(self.times_fired));
        let mut out = Vec::new();
        let mut at = self.next;
        while let Some(t) = at {
            if out.len() >= limit || left == Some(0) {
                break;
            }
            let excluded_by = self
                .calendars
                .iter()
                .find(|c| c.is_excluded(t))
                .map(|c| c.name.clone());
            if excluded_by.is_none() {
                left = left.map(|l| l.saturating_sub(1));
            }
            out.push(PreviewFire {
                at: t,
                dst: dst_note(&schedule, t),
                excluded_by,
            });
            at = self.next_after(t).filter(|next| *next > t);
        }
        out
    }
}

/// The fires of a trigger from its next fire `next`, within `range`.
/// `start_at` and `repeat_count` are the trigger's stored ones; `fired`
/// how many fires it has recorded (for schedules with a fire limit).
pub fn preview(
    spec: &ScheduleSpec,
    start_at: DateTime<Utc>,
    repeat_count: Option<u64>,
    next: DateTime<Utc>,
    calendars: &CalendarSet,
    range: PreviewRange,
) -> Vec<PreviewFire> {
    let schedule = spec.schedule(start_at, repeat_count);
    let mut out = Vec::new();
    let mut candidate = Some(next);
    for _ in 0..MAX_STEPS {
        let Some(at) = candidate else { break };
        if at > range.until || out.len() >= range.limit {
            break;
        }
        let excluded_by = calendars
            .iter()
            .find(|c| c.is_excluded(at))
            .map(|c| c.name.clone());
        if at >= range.from {
            out.push(PreviewFire {
                at,
                dst: dst_note(&schedule, at),
                excluded_by: excluded_by.clone(),
            });
        }
        candidate = match excluded_by {
            // Resume at the end of the excluded stretch, as the scheduler
            // does, reporting only its first instant.
            Some(_) => calendars
                .next_included_time(at)
                .and_then(|included| included.checked_sub_signed(TimeDelta::nanoseconds(1)))
                .map(|resume| resume.max(at))
                .and_then(|resume| schedule.next_after(resume)),
            None => schedule.next_after(at),
        };
    }
    out
}

fn dst_note(schedule: &Schedule, at: DateTime<Utc>) -> Option<DstNote> {
    let Schedule::Cron(cron, _) = schedule else {
        return None;
    };
    cron_note(cron, at)
}

fn cron_note(cron: &CronSchedule, at: DateTime<Utc>) -> Option<DstNote> {
    let just_before = at.checked_sub_signed(TimeDelta::nanoseconds(1))?;
    let fire = cron.next_fire_after(just_before).filter(|f| f.at == at)?;
    let fold = cron
        .dst_options()
        .fold_policy_for(cron.expr().is_periodic());
    fire.dst.map(|adjustment| DstNote { adjustment, fold })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use chrono_tz::Tz;

    use super::*;
    use crate::schedule::calendar::CalendarDef;
    use crate::schedule::cron::{CronExpr, Dialect};
    use crate::schedule::dst::DstOptions;

    fn cron(expr: &str, tz: Tz) -> ScheduleSpec {
        ScheduleSpec::Cron {
            expr: CronExpr::parse(expr, Dialect::Quartz).expect("valid"),
            tz,
            dst: DstOptions::default(),
        }
    }

    #[test]
    fn a_berlin_fixed_time_in_the_spring_gap_is_marked() {
        // 02:30 every day: on 2026-03-29 02:30 does not exist in Berlin.
        let spec = cron("0 30 2 * * ?", chrono_tz::Europe::Berlin);
        let start = Utc.with_ymd_and_hms(2026, 3, 27, 0, 0, 0).unwrap();
        let next = spec.first_fire(start).expect("fires");
        let fires = preview(
            &spec,
            start,
            None,
            next,
            &CalendarSet::default(),
            PreviewRange {
                from: start,
                until: start + TimeDelta::days(4),
                limit: 10,
            },
        );
        let marked: Vec<_> = fires.iter().filter(|f| f.dst.is_some()).collect();
        assert_eq!(marked.len(), 1, "{fires:?}");
        assert_eq!(
            marked[0].at,
            Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap()
        );
        assert!(
            marked[0]
                .dst
                .expect("marked")
                .describe()
                .contains("run_at_transition")
        );
        assert_eq!(fires.len(), 4);
    }

    #[test]
    fn excluded_instants_name_their_calendar() {
        let spec = cron("0 0 9 * * ?", Tz::UTC);
        let def: CalendarDef = serde_json::from_value(serde_json::json!({
            "name": "weekends", "days_of_week": ["sat", "sun"]
        }))
        .expect("a definition");
        let set = CalendarSet::new(vec![Arc::new(def.compile(Tz::UTC).expect("compiles"))]);
        // Friday 2026-03-06 09:00, then the weekend, then Monday.
        let friday = Utc.with_ymd_and_hms(2026, 3, 6, 9, 0, 0).unwrap();
        let fires = preview(
            &spec,
            friday - TimeDelta::days(1),
            None,
            friday,
            &set,
            PreviewRange {
                from: friday,
                until: friday + TimeDelta::days(3),
                limit: 10,
            },
        );
        let excluded: Vec<_> = fires
            .iter()
            .map(|f| (f.at.format("%a").to_string(), f.excluded_by.clone()))
            .collect();
        assert_eq!(
            excluded,
            vec![
                ("Fri".to_string(), None),
                ("Sat".to_string(), Some("weekends".to_string())),
                ("Mon".to_string(), None),
            ]
        );
    }
}
