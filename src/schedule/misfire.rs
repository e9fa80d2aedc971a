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

/// How many missed instants a plan walks from the due one; past that, the
/// most recent ones are found from `now` backwards and the count between
/// is extrapolated, so a long outage of an every-second trigger stays cheap.
pub const MAX_MISSED_SCAN: usize = 100_000;

/// The largest `catch_up` cap a plan honours (configuration accepts 1 to
/// 10 000; a larger stored value is clamped, so one plan stays bounded).
pub const MAX_CATCH_UP: u32 = 10_000;

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

/// The missed instants from the due one up to `now`.
struct Missed {
    /// How many there are: exact when `exact`, else an estimate (more than
    /// [`MAX_MISSED_SCAN`] of them: the middle is extrapolated from their
    /// spacing instead of walked).
    count: u64,
    exact: bool,
    /// The most recent of them (up to the `keep` asked for), oldest first.
    recent: VecDeque<DateTime<Utc>>,
}

/// One bounded walk along the timeline.
struct Walk {
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    recent: VecDeque<DateTime<Utc>>,
    /// False when it stopped at `limit` before passing `now`.
    complete: bool,
}

/// Walks the instants from `first` (an instant of the timeline, or None)
/// up to and including `now`, at most `limit` of them, keeping the last
/// `keep`.
fn walk(
    t: &DueTrigger,
    timeline: &dyn Timeline,
    first: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    limit: usize,
    keep: usize,
) -> Walk {
    let mut w = Walk {
        count: 0,
        first: None,
        last: None,
        recent: VecDeque::with_capacity(keep.min(1024)),
        complete: true,
    };
    let mut at = first;
    while let Some(instant) = at {
        if instant > now {
            break;
        }
        if w.count >= limit as u64 {
            w.complete = false;
            break;
        }
        w.count += 1;
        w.first.get_or_insert(instant);
        w.last = Some(instant);
        if keep > 0 {
            if w.recent.len() == keep {
                w.recent.pop_front();
            }
            w.recent.push_back(instant);
        }
        // A timeline is strictly increasing; one that is not ends here
        // rather than looping.
        at = timeline
            .next_after(t.start_at, t.repeat_count, instant)
            .filter(|next| *next > instant);
    }
    w
}

/// How many windows the search for the most recent missed instants may
/// try: enough to bisect any span chrono can represent, in nanoseconds.
const MAX_TAIL_PROBES: usize = 96;

fn nanos(d: Duration) -> i128 {
    i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos())
}

fn from_nanos(n: i128) -> Option<Duration> {
    let secs = i64::try_from(n.div_euclid(1_000_000_000)).ok()?;
    let sub = i64::try_from(n.rem_euclid(1_000_000_000)).ok()?;
    Duration::try_seconds(secs)?.checked_add(&Duration::nanoseconds(sub))
}

/// The missed instants: the due one and every later one up to `now`,
/// keeping the most recent `keep`. Bounded work: at most
/// [`MAX_MISSED_SCAN`] instants are walked from the due one; beyond that
/// the most recent ones are found by walking a window that ends at `now`
/// (its width from the spacing seen so far), and the count in between is
/// extrapolated.
fn scan_missed(t: &DueTrigger, timeline: &dyn Timeline, now: DateTime<Utc>, keep: usize) -> Missed {
    let head = walk(
        t,
        timeline,
        Some(t.scheduled_at),
        now,
        MAX_MISSED_SCAN,
        keep,
    );
    if head.complete {
        return Missed {
            count: head.count,
            exact: true,
            recent: head.recent,
        };
    }
    let (Some(head_first), Some(head_last)) = (head.first, head.last) else {
        // Unreachable (an incomplete walk walked MAX_MISSED_SCAN > 0
        // instants), but a head-only answer is still a valid one.
        return Missed {
            count: head.count,
            exact: false,
            recent: head.recent,
        };
    };
    let spacing = (nanos(head_last - head_first) / i128::from(head.count.max(2) - 1)).max(1);
    // The window is (head_last + offset, now]. Wanted: at least `keep`
    // instants in it, and few enough to walk (at most `tail_limit`). The
    // count only grows as the window widens, one instant at a time, so
    // bisecting the offset finds one; the first guess, from the spacing,
    // usually is one.
    let tail_limit = keep.saturating_mul(2).clamp(1024, MAX_MISSED_SCAN);
    let range = nanos(now - head_last).max(0);
    let (mut too_wide, mut too_narrow) = (0i128, range);
    let mut offset = (range - spacing.saturating_mul(keep as i128 + 1)).max(0);
    for _ in 0..MAX_TAIL_PROBES {
        let from = from_nanos(offset)
            .and_then(|d| head_last.checked_add_signed(d))
            .unwrap_or(head_last);
        let first = timeline.next_after(t.start_at, t.repeat_count, from);
        let tail = walk(t, timeline, first, now, tail_limit, keep);
        let reached_head = offset == 0;
        if tail.complete && (tail.count as usize >= keep || reached_head) {
            let gap = match (reached_head, tail.first) {
                (false, Some(f)) => {
                    let between = (nanos(f - head_last) + spacing / 2) / spacing - 1;
                    u64::try_from(between.max(0)).unwrap_or(u64::MAX)
                }
                _ => 0,
            };
            let recent = if tail.count as usize >= keep {
                tail.recent
            } else {
                // The window reached back to the head: join them.
                let mut joined = head.recent;
                joined.extend(tail.recent);
                while joined.len() > keep {
                    joined.pop_front();
                }
                joined
            };
            return Missed {
                count: head.count.saturating_add(gap).saturating_add(tail.count),
                exact: reached_head,
                recent,
            };
        }
        if tail.complete {
            too_narrow = offset;
        } else {
            too_wide = offset;
        }
        let mid = too_wide + (too_narrow - too_wide) / 2;
        // Once the bounds meet, try the whole stretch after the head.
        offset = if mid <= too_wide { 0 } else { mid };
    }
    // A timeline too irregular to window: the head alone, a lower bound.
    Missed {
        count: head.count,
        exact: false,
        recent: head.recent,
    }
}

/// Skipped records for the `missed` instants not in `run` (sorted), the
/// newest [`MAX_SKIPPED_RECORDS`] only, the oldest recorded one saying how
/// many are left out.
fn skipped(missed: &Missed, run: &[DateTime<Utc>], reason: &str) -> Vec<PlannedFire> {
    let recorded: Vec<DateTime<Utc>> = missed
        .recent
        .iter()
        .copied()
        .filter(|t| run.binary_search(t).is_err())
        .collect();
    let recorded = &recorded[recorded.len().saturating_sub(MAX_SKIPPED_RECORDS)..];
    let total_skipped = missed.count.saturating_sub(run.len() as u64);
    let left_out = total_skipped.saturating_sub(recorded.len() as u64);
    recorded
        .iter()
        .enumerate()
        .map(|(i, &at)| {
            let mut why = reason.to_string();
            if i == 0 && left_out > 0 {
                let about = if missed.exact { "" } else { "about " };
                why.push_str(&format!(
                    " ({about}{left_out} earlier missed fires not recorded)"
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
///
/// On time (`now - scheduled_at <= threshold`) or under `ignore`, the due
/// instant runs and the trigger advances from it. Otherwise the policy,
/// resolved for the trigger's kind, decides; every missed instant it does
/// not run is returned as skipped. Bounded work whatever the outage.
pub fn plan(t: &DueTrigger, now: DateTime<Utc>, timeline: &dyn Timeline) -> FirePlan {
    let on_time = now - t.scheduled_at <= t.threshold;
    if on_time || t.policy == MisfirePolicy::Ignore {
        return FirePlan {
            fires: vec![PlannedFire::run(t.scheduled_at)],
            next_fire_at: timeline.next_after(t.start_at, t.repeat_count, t.scheduled_at),
            start_at: t.start_at,
            repeat_count: t.repeat_count,
            times_fired: t.times_fired.saturating_add(1),
            misfired: !on_time,
        };
    }
    let policy = effective_policy(t);
    let reason = |what: &str| {
        format!(
            "misfired: {what} (policy {})",
            policy_name(policy, t.policy)
        )
    };
    let unchanged =
        |fires: Vec<PlannedFire>, next: Option<DateTime<Utc>>, times_fired: u64| FirePlan {
            fires,
            next_fire_at: next,
            start_at: t.start_at,
            repeat_count: t.repeat_count,
            times_fired,
            misfired: true,
        };
    let next_after_now = || timeline.next_after(t.start_at, t.repeat_count, now);
    match policy {
        MisfirePolicy::FireOnceNow | MisfirePolicy::CatchUp(_) => {
            // The most recent `cap` missed instants run, keeping their
            // scheduled instants; the schedule goes on after now.
            let cap = match policy {
                MisfirePolicy::CatchUp(n) => n.clamp(1, MAX_CATCH_UP) as usize,
                _ => 1,
            };
            let missed = scan_missed(t, timeline, now, cap + MAX_SKIPPED_RECORDS);
            let run: Vec<DateTime<Utc>> = missed
                .recent
                .iter()
                .skip(missed.recent.len().saturating_sub(cap))
                .copied()
                .collect();
            let mut fires = skipped(&missed, &run, &reason("skipped"));
            fires.extend(run.iter().map(|&at| PlannedFire::run(at)));
            unchanged(
                fires,
                next_after_now(),
                t.times_fired.saturating_add(run.len() as u64),
            )
        }
        MisfirePolicy::DoNothing | MisfirePolicy::RescheduleNextWithExistingCount => {
            // Quartz: the next fire time is the first one after now; the
            // counts stay as they are.
            let missed = scan_missed(t, timeline, now, MAX_SKIPPED_RECORDS);
            unchanged(
                skipped(&missed, &[], &reason("not fired")),
                next_after_now(),
                t.times_fired,
            )
        }
        MisfirePolicy::RescheduleNextWithRemainingCount => {
            // Quartz adds the instants missed to the times fired, only when
            // there is a next fire (else the trigger completes as it is).
            let missed = scan_missed(t, timeline, now, MAX_SKIPPED_RECORDS);
            let next = next_after_now();
            let times_fired = match next {
                Some(_) => t.times_fired.saturating_add(missed.count),
                None => t.times_fired,
            };
            unchanged(
                skipped(&missed, &[], &reason("not fired")),
                next,
                times_fired,
            )
        }
        MisfirePolicy::FireNow => {
            // Only a one-shot gets here (effective_policy): it fires now,
            // keeping its instant, start and count; Quartz's FIRE_NOW does
            // not look at the end time.
            let missed = scan_missed(t, timeline, now, MAX_SKIPPED_RECORDS);
            let mut fires = vec![PlannedFire::run(t.scheduled_at)];
            fires.extend(skipped(&missed, &[t.scheduled_at], &reason("not fired")));
            unchanged(fires, next_after_now(), t.times_fired.saturating_add(1))
        }
        MisfirePolicy::RescheduleNowWithExistingCount
        | MisfirePolicy::RescheduleNowWithRemainingCount => {
            reschedule_now(t, now, timeline, policy, &reason)
        }
        MisfirePolicy::Smart | MisfirePolicy::Ignore => {
            unreachable!("effective_policy resolves smart, and ignore returned above")
        }
    }
}

/// Quartz's RESCHEDULE_NOW_WITH_{EXISTING,REMAINING}_REPEAT_COUNT: a finite
/// repeat count becomes what is left (existing: minus the fires so far;
/// remaining: minus those and the instants missed after the due one, never
/// below zero) and the times fired restart at zero; then, unless now is
/// past the end time, the schedule restarts now and the due fire runs now
/// (keeping its scheduled instant). Past the end time nothing runs and the
/// trigger completes.
fn reschedule_now(
    t: &DueTrigger,
    now: DateTime<Utc>,
    timeline: &dyn Timeline,
    policy: MisfirePolicy,
    reason: &dyn Fn(&str) -> String,
) -> FirePlan {
    let missed = scan_missed(t, timeline, now, MAX_SKIPPED_RECORDS);
    let (repeat_count, times_fired) = match t.repeat_count {
        Some(r) if r > 0 => {
            let used = match policy {
                MisfirePolicy::RescheduleNowWithExistingCount => t.times_fired,
                // Quartz's times missed: the instants after the due one
                // up to now (the due one is the fire that runs now).
                _ => t.times_fired.saturating_add(missed.count.saturating_sub(1)),
            };
            (Some(r.saturating_sub(used)), 0)
        }
        // One-shot or forever: Quartz leaves both counts alone.
        other => (other, t.times_fired),
    };
    // Does a schedule restarted now have a fire at now or later? Only its
    // end time can say no (a one-shot has none).
    let before_now = now
        .checked_sub_signed(Duration::nanoseconds(1))
        .unwrap_or(now);
    let past_end = timeline.next_after(now, repeat_count, before_now).is_none();
    if past_end {
        return FirePlan {
            fires: skipped(&missed, &[], &reason("not fired, the end time has passed")),
            next_fire_at: None,
            start_at: t.start_at,
            repeat_count,
            times_fired,
            misfired: true,
        };
    }
    // A one-shot keeps its declared instant (its schedule has nothing
    // after it either way); a repeating schedule counts from now.
    let start_at = if t.repeat_count == Some(0) || t.kind == TriggerKind::Once {
        t.start_at
    } else {
        now
    };
    // The due fire is the oldest missed instant: it comes first.
    let mut fires = vec![PlannedFire::run(t.scheduled_at)];
    fires.extend(skipped(&missed, &[t.scheduled_at], &reason("not fired")));
    FirePlan {
        fires,
        next_fire_at: timeline.next_after(start_at, repeat_count, now),
        start_at,
        repeat_count,
        times_fired: times_fired.saturating_add(1),
        misfired: true,
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
    // A one-shot repeats zero times whatever its row says.
    let repeat = if t.kind == TriggerKind::Once {
        Some(0)
    } else {
        t.repeat_count
    };
    match policy {
        // CronTrigger, CalendarIntervalTrigger, DailyTimeIntervalTrigger:
        // "The instruction will be interpreted as MISFIRE_INSTRUCTION_FIRE_ONCE_NOW".
        MisfirePolicy::Smart if !t.kind.is_simple() => MisfirePolicy::FireOnceNow,
        // SimpleTriggerImpl.updateAfterMisfire's smart scheme.
        MisfirePolicy::Smart => match repeat {
            Some(0) => MisfirePolicy::FireNow,
            None => MisfirePolicy::RescheduleNextWithRemainingCount,
            Some(_) => MisfirePolicy::RescheduleNowWithExistingCount,
        },
        // SimpleTrigger.MISFIRE_INSTRUCTION_FIRE_NOW: "If it is used on a
        // trigger with a repeat count > 0 then it is equivalent to the
        // instruction MISFIRE_INSTRUCTION_RESCHEDULE_NOW_WITH_REMAINING_REPEAT_COUNT."
        MisfirePolicy::FireNow if repeat != Some(0) => {
            MisfirePolicy::RescheduleNowWithRemainingCount
        }
        p => p,
    }
}

#[cfg(test)]
#[path = "misfire_tests.rs"]
mod tests;
