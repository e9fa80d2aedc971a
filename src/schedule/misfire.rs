//! Misfires: given a due trigger and "now", what runs, what is skipped and
//! when the trigger fires next.
//!
//! A fire is *misfired* when now is later than its scheduled instant by more
//! than the trigger's threshold. The policies follow Quartz's misfire
//! instructions by trigger kind (CronTrigger's for cron, calendar-interval
//! and daily-time-interval triggers; SimpleTrigger's for interval and
//! one-shot triggers), plus `catch_up`. Every instant a policy does not run
//! is returned as a skipped fire with its reason, so history shows it; a
//! fire that runs late keeps its original scheduled instant.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

use super::spec::TriggerKind;

/// At most this many skipped fires are recorded by one plan (the most
/// recent ones); the reason of the oldest recorded one counts the rest.
pub const MAX_SKIPPED_RECORDS: usize = 100;

/// How many missed instants a plan walks before it stops counting, so a
/// long outage of an every-second trigger stays cheap.
pub const MAX_MISSED_SCAN: usize = 100_000;

/// What to do with a misfired trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MisfirePolicy {
    /// Quartz's smart policy for the trigger's kind.
    #[default]
    Smart,
    /// Fire every missed instant as soon as possible.
    Ignore,
    /// Cron-like: fire the most recent missed instant once, now.
    FireOnceNow,
    /// Cron-like: skip every missed instant, wait for the next one.
    DoNothing,
    /// Simple: fire now (a repeating trigger: reschedule now with the remaining count).
    FireNow,
    RescheduleNowWithExistingCount,
    RescheduleNowWithRemainingCount,
    RescheduleNextWithRemainingCount,
    RescheduleNextWithExistingCount,
    /// Fire up to this many of the most recent missed instants, skip older ones.
    CatchUp(u32),
}

impl MisfirePolicy {
    /// The name stored in `triggers.misfire_policy` (catch_up's cap lives
    /// in `misfire_catch_up`).
    pub fn as_str(self) -> &'static str {
        match self {
            MisfirePolicy::Smart => "smart",
            MisfirePolicy::Ignore => "ignore",
            MisfirePolicy::FireOnceNow => "fire_once_now",
            MisfirePolicy::DoNothing => "do_nothing",
            MisfirePolicy::FireNow => "fire_now",
            MisfirePolicy::RescheduleNowWithExistingCount => "reschedule_now_with_existing_count",
            MisfirePolicy::RescheduleNowWithRemainingCount => "reschedule_now_with_remaining_count",
            MisfirePolicy::RescheduleNextWithRemainingCount => {
                "reschedule_next_with_remaining_count"
            }
            MisfirePolicy::RescheduleNextWithExistingCount => "reschedule_next_with_existing_count",
            MisfirePolicy::CatchUp(_) => "catch_up",
        }
    }

    pub const NAMES: &'static [&'static str] = &[
        "smart",
        "ignore",
        "fire_once_now",
        "do_nothing",
        "fire_now",
        "reschedule_now_with_existing_count",
        "reschedule_now_with_remaining_count",
        "reschedule_next_with_remaining_count",
        "reschedule_next_with_existing_count",
        "catch_up",
    ];

    /// Rebuilds a policy from its stored name and catch-up cap.
    pub fn from_stored(name: &str, catch_up: Option<u32>) -> Option<MisfirePolicy> {
        if name == "catch_up" {
            return Some(MisfirePolicy::CatchUp(catch_up.unwrap_or(1).max(1)));
        }
        name.parse().ok()
    }

    /// The cap stored beside the name.
    pub fn catch_up_cap(self) -> Option<u32> {
        match self {
            MisfirePolicy::CatchUp(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the policy is defined for triggers of `kind`.
    pub fn applies_to(self, kind: TriggerKind) -> bool {
        use MisfirePolicy::*;
        match self {
            Smart | Ignore => true,
            FireOnceNow | DoNothing => !kind.is_simple(),
            FireNow
            | RescheduleNowWithExistingCount
            | RescheduleNowWithRemainingCount
            | RescheduleNextWithRemainingCount
            | RescheduleNextWithExistingCount => kind.is_simple(),
            CatchUp(_) => kind != TriggerKind::Once,
        }
    }

    /// The policies defined for `kind`, for error messages.
    pub fn names_for(kind: TriggerKind) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .copied()
            .filter(|n| Self::from_stored(n, Some(1)).is_some_and(|p| p.applies_to(kind)))
            .collect()
    }
}

impl FromStr for MisfirePolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use MisfirePolicy::*;
        Ok(match s {
            "smart" => Smart,
            "ignore" => Ignore,
            "fire_once_now" => FireOnceNow,
            "do_nothing" => DoNothing,
            "fire_now" => FireNow,
            "reschedule_now_with_existing_count" => RescheduleNowWithExistingCount,
            "reschedule_now_with_remaining_count" => RescheduleNowWithRemainingCount,
            "reschedule_next_with_remaining_count" => RescheduleNextWithRemainingCount,
            "reschedule_next_with_existing_count" => RescheduleNextWithExistingCount,
            _ => {
                return Err(format!(
                    "unknown misfire policy `{s}`: expected one of {} (catch_up takes a cap: {{ catch_up = 10 }})",
                    Self::NAMES.join(", ")
                ));
            }
        })
    }
}

impl fmt::Display for MisfirePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MisfirePolicy::CatchUp(n) => write!(f, "catch_up({n})"),
            p => f.write_str(p.as_str()),
        }
    }
}

/// A trigger that is due, as the misfire planner sees it.
#[derive(Debug, Clone)]
pub struct DueTrigger {
    pub kind: TriggerKind,
    pub policy: MisfirePolicy,
    pub threshold: Duration,
    /// The trigger's `next_fire_at`: the instant that is due.
    pub scheduled_at: DateTime<Utc>,
    /// Where an interval trigger's schedule counts from, and its repeat count.
    pub start_at: DateTime<Utc>,
    pub repeat_count: Option<u64>,
    pub times_fired: u64,
}

/// One fire a plan records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFire {
    pub scheduled_at: DateTime<Utc>,
    /// None: run it. Some(reason): record it as skipped.
    pub skip_reason: Option<String>,
}

impl PlannedFire {
    fn run(scheduled_at: DateTime<Utc>) -> Self {
        Self {
            scheduled_at,
            skip_reason: None,
        }
    }
}

/// What to record and how to advance the trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirePlan {
    /// In scheduled order: fires to run and fires skipped.
    pub fires: Vec<PlannedFire>,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub start_at: DateTime<Utc>,
    pub repeat_count: Option<u64>,
    pub times_fired: u64,
    pub misfired: bool,
}

/// The trigger's schedule: the next fire strictly after an instant, for a
/// schedule counting from `start` with `repeat` repeats (cron-like kinds
/// ignore both). Calendars are already applied.
pub trait Timeline {
    fn next_after(
        &self,
        start: DateTime<Utc>,
        repeat: Option<u64>,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>>;
}

impl<F> Timeline for F
where
    F: Fn(DateTime<Utc>, Option<u64>, DateTime<Utc>) -> Option<DateTime<Utc>>,
{
    fn next_after(
        &self,
        start: DateTime<Utc>,
        repeat: Option<u64>,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self(start, repeat, after)
    }
}

/// The missed instants from the due one up to `now`: how many there are
/// (up to the scan bound) and the most recent `keep` of them.
struct Missed {
    count: u64,
    complete: bool,
    recent: VecDeque<DateTime<Utc>>,
}

fn scan_missed(t: &DueTrigger, timeline: &dyn Timeline, now: DateTime<Utc>, keep: usize) -> Missed {
    let mut recent = VecDeque::with_capacity(keep.min(1024));
    let mut count = 0u64;
    let mut at = Some(t.scheduled_at);
    while let Some(instant) = at {
        if instant > now {
            return Missed {
                count,
                complete: true,
                recent,
            };
        }
        if count as usize >= MAX_MISSED_SCAN {
            return Missed {
                count,
                complete: false,
                recent,
            };
        }
        count += 1;
        if keep > 0 {
            if recent.len() == keep {
                recent.pop_front();
            }
            recent.push_back(instant);
        }
        at = timeline.next_after(t.start_at, t.repeat_count, instant);
    }
    Missed {
        count,
        complete: true,
        recent,
    }
}

/// Skipped records for `missed` instants not in `run`, newest
/// [`MAX_SKIPPED_RECORDS`] only, the oldest one saying how many are left out.
fn skipped(missed: &Missed, run: &[DateTime<Utc>], reason: &str) -> Vec<PlannedFire> {
    let skipped: Vec<DateTime<Utc>> = missed
        .recent
        .iter()
        .copied()
        .filter(|t| !run.contains(t))
        .collect();
    let total_skipped = missed.count.saturating_sub(run.len() as u64);
    let left_out = total_skipped.saturating_sub(skipped.len() as u64);
    skipped
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            let mut why = reason.to_string();
            if i == 0 && (left_out > 0 || !missed.complete) {
                let more = if missed.complete { "" } else { " or more" };
                why.push_str(&format!(
                    " ({left_out}{more} earlier missed fires not recorded)"
                ));
            }
            PlannedFire {
                scheduled_at: at,
                skip_reason: Some(why),
            }
        })
        .collect()
}

/// Plans the fire of a due trigger at `now`.
pub fn plan(t: &DueTrigger, now: DateTime<Utc>, timeline: &dyn Timeline) -> FirePlan {
    let on_time = now - t.scheduled_at <= t.threshold;
    if on_time || t.policy == MisfirePolicy::Ignore {
        return FirePlan {
            fires: vec![PlannedFire::run(t.scheduled_at)],
            next_fire_at: timeline.next_after(t.start_at, t.repeat_count, t.scheduled_at),
            start_at: t.start_at,
            repeat_count: t.repeat_count,
            times_fired: t.times_fired + 1,
            misfired: !on_time,
        };
    }
    let policy = effective_policy(t);
    let keep_run = |n: usize| n + MAX_SKIPPED_RECORDS;
    let reason = |what: &str| {
        format!(
            "misfired: {what} (policy {})",
            policy_name(policy, t.policy)
        )
    };
    match policy {
        MisfirePolicy::FireOnceNow | MisfirePolicy::CatchUp(_) => {
            let cap = match policy {
                MisfirePolicy::CatchUp(n) => n.max(1) as usize,
                _ => 1,
            };
            let missed = scan_missed(t, timeline, now, keep_run(cap));
            let run: Vec<DateTime<Utc>> = missed
                .recent
                .iter()
                .rev()
                .take(cap)
                .rev()
                .copied()
                .collect();
            let mut fires = skipped(&missed, &run, &reason("skipped"));
            fires.extend(run.iter().map(|&at| PlannedFire::run(at)));
            FirePlan {
                fires,
                next_fire_at: timeline.next_after(t.start_at, t.repeat_count, now),
                start_at: t.start_at,
                repeat_count: t.repeat_count,
                times_fired: t.times_fired + run.len() as u64,
                misfired: true,
            }
        }
        MisfirePolicy::DoNothing => {
            let missed = scan_missed(t, timeline, now, MAX_SKIPPED_RECORDS);
            FirePlan {
                fires: skipped(&missed, &[], &reason("not fired")),
                next_fire_at: timeline.next_after(t.start_at, t.repeat_count, now),
                start_at: t.start_at,
                repeat_count: t.repeat_count,
                times_fired: t.times_fired,
                misfired: true,
            }
        }
        MisfirePolicy::RescheduleNextWithRemainingCount
        | MisfirePolicy::RescheduleNextWithExistingCount => {
            let missed = scan_missed(t, timeline, now, MAX_SKIPPED_RECORDS);
            let times_fired = if policy == MisfirePolicy::RescheduleNextWithRemainingCount {
                t.times_fired + missed.count
            } else {
                t.times_fired
            };
            FirePlan {
                fires: skipped(&missed, &[], &reason("not fired")),
                next_fire_at: timeline.next_after(t.start_at, t.repeat_count, now),
                start_at: t.start_at,
                repeat_count: t.repeat_count,
                times_fired,
                misfired: true,
            }
        }
        MisfirePolicy::FireNow
        | MisfirePolicy::RescheduleNowWithExistingCount
        | MisfirePolicy::RescheduleNowWithRemainingCount => {
            // The due fire runs now (keeping its scheduled instant); the
            // schedule is rebased to start now, as Quartz does.
            let missed = scan_missed(t, timeline, now, MAX_SKIPPED_RECORDS);
            let repeat_count = match (policy, t.repeat_count) {
                (_, None) => None,
                (MisfirePolicy::FireNow, Some(r)) => Some(r),
                (MisfirePolicy::RescheduleNowWithExistingCount, Some(r)) => {
                    Some(r.saturating_sub(t.times_fired))
                }
                (_, Some(r)) => {
                    // Remaining: the instants missed count as if they had fired.
                    Some(r.saturating_sub(t.times_fired + missed.count.saturating_sub(1)))
                }
            };
            let run = [t.scheduled_at];
            let mut fires = skipped(&missed, &run, &reason("not fired"));
            fires.push(PlannedFire::run(t.scheduled_at));
            // A one-shot keeps its declared instant; a repeating schedule
            // counts from now.
            let start_at = if t.repeat_count == Some(0) {
                t.start_at
            } else {
                now
            };
            FirePlan {
                fires,
                next_fire_at: timeline.next_after(start_at, repeat_count, now),
                start_at,
                repeat_count,
                times_fired: 1,
                misfired: true,
            }
        }
        MisfirePolicy::Smart | MisfirePolicy::Ignore => {
            unreachable!("effective_policy resolves smart, and ignore returned above")
        }
    }
}

fn policy_name(effective: MisfirePolicy, declared: MisfirePolicy) -> String {
    if effective == declared {
        effective.to_string()
    } else {
        format!("{declared} as {effective}")
    }
}

/// Resolves `smart` (and a policy that does not apply to the kind) to the
/// instruction Quartz uses for that kind of trigger.
fn effective_policy(t: &DueTrigger) -> MisfirePolicy {
    let policy = if t.policy.applies_to(t.kind) {
        t.policy
    } else {
        MisfirePolicy::Smart
    };
    match policy {
        MisfirePolicy::Smart if !t.kind.is_simple() => MisfirePolicy::FireOnceNow,
        MisfirePolicy::Smart => match t.repeat_count {
            Some(0) => MisfirePolicy::FireNow,
            None => MisfirePolicy::RescheduleNextWithRemainingCount,
            Some(_) => MisfirePolicy::RescheduleNowWithExistingCount,
        },
        // Quartz: FIRE_NOW on a repeating trigger is RESCHEDULE_NOW_WITH_REMAINING_REPEAT_COUNT.
        MisfirePolicy::FireNow if t.repeat_count != Some(0) => {
            MisfirePolicy::RescheduleNowWithRemainingCount
        }
        p => p,
    }
}
