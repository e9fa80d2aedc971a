//! Tests for `schedule::misfire`: one table of scenarios checked against
//! Quartz's misfire instructions (the javadoc of `Trigger`, `SimpleTrigger`,
//! `CronTrigger` and each trigger's `updateAfterMisfire`), the skipped-record
//! cap over long outages, and property tests.
//!
//! Times are milliseconds after [`t0`], a minute boundary; `s(n)` is `n`
//! seconds. Reading a row: the trigger was due at `scheduled`, had fired
//! `times_fired` times, and the scheduler looks at it at `now`.

use std::cell::Cell;

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::schedule::interval::IntervalSchedule;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("t0 is a valid UTC instant"))
}

/// `ms` milliseconds after [`t0`].
fn at(ms: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(ms)
}

/// Milliseconds after [`t0`] of an instant, for readable failures.
fn ms_of(t: DateTime<Utc>) -> i64 {
    (t - t0()).num_milliseconds()
}

const fn s(secs: i64) -> i64 {
    secs * 1_000
}

/// A trigger's schedule, as a test builds it.
#[derive(Debug, Clone, Copy)]
enum Sched {
    /// An [`IntervalSchedule`] every `every` ms from the trigger's start,
    /// with the trigger's repeat count and this end.
    Every { every: i64, end: Option<i64> },
    /// A one-shot at the trigger's start.
    Once,
    /// Cron-like: every `every` ms aligned to [`t0`] (start and repeat
    /// play no part), never after `end`.
    Aligned { every: i64, end: Option<i64> },
}

/// Every 10 s from the start, no end.
const EVERY_10S: Sched = Sched::Every {
    every: s(10),
    end: None,
};
/// "Every minute on the minute".
const EVERY_MINUTE: Sched = Sched::Aligned {
    every: s(60),
    end: None,
};
const ONCE: Sched = Sched::Once;

fn every_10s_until(end: i64) -> Sched {
    Sched::Every {
        every: s(10),
        end: Some(end),
    }
}

fn every_minute_until(end: i64) -> Sched {
    Sched::Aligned {
        every: s(60),
        end: Some(end),
    }
}

/// A [`Timeline`] over a [`Sched`] that counts its calls (the work a plan
/// does, asserted instead of wall-clock time).
struct Counted {
    sched: Sched,
    calls: Cell<u64>,
}

impl Counted {
    fn new(sched: Sched) -> Self {
        Counted {
            sched,
            calls: Cell::new(0),
        }
    }
}

impl Timeline for Counted {
    fn next_after(
        &self,
        start: DateTime<Utc>,
        repeat: Option<u64>,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.calls.set(self.calls.get() + 1);
        match self.sched {
            Sched::Every { every, end } => IntervalSchedule {
                start,
                every: Duration::milliseconds(every),
                end: end.map(at),
                repeat: repeat.map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
            }
            .next_after(after),
            Sched::Once => IntervalSchedule::once(start).next_after(after),
            Sched::Aligned { every, end } => {
                let since = (after - t0()).num_nanoseconds()?;
                let k = since.div_euclid(every * 1_000_000) + 1;
                let next = at(k.checked_mul(every)?);
                end.is_none_or(|e| next <= at(e)).then_some(next)
            }
        }
    }
}

/// The trigger as stored: where its schedule starts, its repeat count, the
/// due instant and how many times it has fired.
#[derive(Debug, Clone, Copy)]
struct Trig {
    start: i64,
    repeat: Option<u64>,
    scheduled: i64,
    times_fired: u64,
}

fn trig(start: i64, repeat: Option<u64>, scheduled: i64, times_fired: u64) -> Trig {
    Trig {
        start,
        repeat,
        scheduled,
        times_fired,
    }
}

/// What the plan must say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Want {
    run: Vec<i64>,
    skipped: Vec<i64>,
    next: Option<i64>,
    start: i64,
    repeat: Option<u64>,
    times_fired: u64,
    misfired: bool,
}

fn want(
    run: &[i64],
    skipped: &[i64],
    next: Option<i64>,
    start: i64,
    repeat: Option<u64>,
    times_fired: u64,
    misfired: bool,
) -> Want {
    Want {
        run: run.to_vec(),
        skipped: skipped.to_vec(),
        next,
        start,
        repeat,
        times_fired,
        misfired,
    }
}

struct Row {
    name: String,
    kind: TriggerKind,
    policy: MisfirePolicy,
    sched: Sched,
    trig: Trig,
    now: i64,
    threshold: i64,
    want: Want,
}

#[allow(clippy::too_many_arguments)]
fn row(
    name: impl Into<String>,
    kind: TriggerKind,
    policy: MisfirePolicy,
    sched: Sched,
    trig: Trig,
    now: i64,
    threshold: i64,
    want: Want,
) -> Row {
    Row {
        name: name.into(),
        kind,
        policy,
        sched,
        trig,
        now,
        threshold,
        want,
    }
}

fn due(kind: TriggerKind, policy: MisfirePolicy, trig: Trig, threshold: i64) -> DueTrigger {
    DueTrigger {
        kind,
        policy,
        threshold: Duration::milliseconds(threshold),
        scheduled_at: at(trig.scheduled),
        start_at: at(trig.start),
        repeat_count: trig.repeat,
        times_fired: trig.times_fired,
    }
}

/// The plan of a row, in the row's terms.
fn observed(p: &FirePlan) -> Want {
    Want {
        run: p
            .fires
            .iter()
            .filter(|f| f.skip_reason.is_none())
            .map(|f| ms_of(f.scheduled_at))
            .collect(),
        skipped: p
            .fires
            .iter()
            .filter(|f| f.skip_reason.is_some())
            .map(|f| ms_of(f.scheduled_at))
            .collect(),
        next: p.next_fire_at.map(ms_of),
        start: ms_of(p.start_at),
        repeat: p.repeat_count,
        times_fired: p.times_fired,
        misfired: p.misfired,
    }
}

use MisfirePolicy::*;
use TriggerKind::{CalendarInterval, Cron, DailyTimeInterval, Interval, Once as OneShot};

const CRON_LIKE: [TriggerKind; 3] = [Cron, CalendarInterval, DailyTimeInterval];

/// Interval triggers below, unless a row says otherwise: every 10 s from
/// t0, `repeat` 5 (six fires: 0, 10, …, 50 s), fired at 0 and 10 s, due
/// at 20 s, misfire threshold 5 s.
fn interval_due_at_20s(repeat: Option<u64>) -> Trig {
    trig(0, repeat, s(20), 2)
}

/// A one-shot at 100 s, looked at 900 s late.
fn one_shot() -> Trig {
    trig(s(100), Some(0), s(100), 0)
}

/// Cron-like triggers below: every minute on the minute, fired at 0 s,
/// due at 60 s, threshold 60 s.
fn cron_due_at_60s() -> Trig {
    trig(0, None, s(60), 1)
}

#[rustfmt::skip]
fn table() -> Vec<Row> {
    let count = Some(5);
    let mut rows = vec![
        // --- On time, exactly at the threshold, just past it. -------------
        // JobStoreSupport: misfired when next fire time < now - threshold.
        row("interval on time runs the due instant", Interval, Smart, EVERY_10S,
            interval_due_at_20s(count), s(20), s(5),
            want(&[s(20)], &[], Some(s(30)), 0, count, 3, false)),
        row("interval late by exactly the threshold is on time", Interval, Smart, EVERY_10S,
            interval_due_at_20s(count), s(25), s(5),
            want(&[s(20)], &[], Some(s(30)), 0, count, 3, false)),
        // smart with a count = reschedule_now_with_existing_count: repeat
        // 5 - 2 fired = 3, times fired restart (0, then 1 for this fire),
        // start = now, next = now + 10 s.
        row("interval late by threshold + 1 ms misfires", Interval, Smart, EVERY_10S,
            interval_due_at_20s(count), s(25) + 1, s(5),
            want(&[s(20)], &[], Some(s(35) + 1), s(25) + 1, Some(3), 1, true)),
        row("cron on time runs the due instant", Cron, Smart, EVERY_MINUTE,
            cron_due_at_60s(), s(60), s(60),
            want(&[s(60)], &[], Some(s(120)), 0, None, 2, false)),
        // On time, so it fires and advances from its own instant, even if
        // the next one (120 s) is already due.
        row("cron late by exactly the threshold is on time", Cron, Smart, EVERY_MINUTE,
            cron_due_at_60s(), s(120), s(60),
            want(&[s(60)], &[], Some(s(120)), 0, None, 2, false)),
        row("cron late by threshold + 1 ms misfires: smart fires the latest once", Cron, Smart,
            EVERY_MINUTE, cron_due_at_60s(), s(120) + 1, s(60),
            want(&[s(120)], &[s(60)], Some(s(180)), 0, None, 2, true)),
        row("a zero threshold makes 1 ms late a misfire", Interval, Smart, EVERY_10S,
            interval_due_at_20s(None), s(20) + 1, 0,
            want(&[], &[s(20)], Some(s(30)), 0, None, 3, true)),
        // --- smart resolves per kind. ---------------------------------------
        // CronTriggerImpl / CalendarIntervalTriggerImpl /
        // DailyTimeIntervalTriggerImpl: "The instruction will be interpreted
        // as MISFIRE_INSTRUCTION_FIRE_ONCE_NOW" (whatever the repeat count).
        row("daily_time_interval smart is fire_once_now even with a repeat count",
            DailyTimeInterval, Smart, EVERY_MINUTE, trig(0, Some(3), s(60), 1), s(200), s(60),
            want(&[s(180)], &[s(60), s(120)], Some(s(240)), 0, Some(3), 2, true)),
        // SimpleTriggerImpl: "If the Repeat Count is 0, then the instruction
        // will be interpreted as MISFIRE_INSTRUCTION_FIRE_NOW."
        row("one-shot smart is fire_now", OneShot, Smart, ONCE, one_shot(), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        row("interval with repeat 0 smart is fire_now", Interval, Smart, EVERY_10S,
            trig(s(100), Some(0), s(100), 0), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        // "If the Repeat Count is REPEAT_INDEFINITELY, then the instruction
        // will be interpreted as MISFIRE_INSTRUCTION_RESCHEDULE_NEXT_WITH_REMAINING_COUNT":
        // 20, 30, 40, 50 missed; times fired 2 + 4.
        row("interval forever smart is reschedule_next_with_remaining_count", Interval, Smart,
            EVERY_10S, interval_due_at_20s(None), s(55), s(5),
            want(&[], &[s(20), s(30), s(40), s(50)], Some(s(60)), 0, None, 6, true)),
        // "If the Repeat Count is > 0, then the instruction will be
        // interpreted as MISFIRE_INSTRUCTION_RESCHEDULE_NOW_WITH_EXISTING_REPEAT_COUNT."
        row("interval with a count smart is reschedule_now_with_existing_count", Interval, Smart,
            EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], Some(s(55)), s(45), Some(3), 1, true)),
        // --- Interval policies, repeat 5, now 45 s (20, 30, 40 missed). -----
        // FIRE_NOW: "If it is used on a trigger with a repeat count > 0 then
        // it is equivalent to ... RESCHEDULE_NOW_WITH_REMAINING_REPEAT_COUNT":
        // times missed = (45 - 20) / 10 = 2, remaining = 5 - (2 + 2) = 1.
        row("interval fire_now on a repeating trigger is reschedule_now_with_remaining_count",
            Interval, FireNow, EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], Some(s(55)), s(45), Some(1), 1, true)),
        // "with the repeat count left as-is": 5 - 2 fired = 3 repeats after now.
        row("interval reschedule_now_with_existing_count", Interval,
            RescheduleNowWithExistingCount, EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], Some(s(55)), s(45), Some(3), 1, true)),
        // "with the repeat count set to what it would be, if it had not
        // missed any firings": 6 fires in all = 2 fired + 2 missed + now + 55 s.
        row("interval reschedule_now_with_remaining_count", Interval,
            RescheduleNowWithRemainingCount, EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], Some(s(55)), s(45), Some(1), 1, true)),
        // "re-scheduled to the next scheduled time after 'now' ... with the
        // repeat count set to what it would be": times fired 2 + 3 missed.
        row("interval reschedule_next_with_remaining_count", Interval,
            RescheduleNextWithRemainingCount, EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[], &[s(20), s(30), s(40)], Some(s(50)), 0, count, 5, true)),
        row("interval reschedule_next_with_existing_count", Interval,
            RescheduleNextWithExistingCount, EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[], &[s(20), s(30), s(40)], Some(s(50)), 0, count, 2, true)),
        // IGNORE: "update the Trigger as if it had fired at the proper time":
        // one missed instant per pass, next = the following one (past).
        row("interval ignore fires the due instant and steps to the next", Interval, Ignore,
            EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[s(20)], &[], Some(s(30)), 0, count, 3, true)),
        row("interval catch_up(2) runs the two latest", Interval, CatchUp(2), EVERY_10S,
            interval_due_at_20s(count), s(45), s(5),
            want(&[s(30), s(40)], &[s(20)], Some(s(50)), 0, count, 4, true)),
        row("interval catch_up larger than the missed count runs them all", Interval,
            CatchUp(10), EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[s(20), s(30), s(40)], &[], Some(s(50)), 0, count, 5, true)),
        // --- Interval repeating forever: Quartz leaves the counts alone. ----
        row("interval forever reschedule_now_with_existing_count keeps counting", Interval,
            RescheduleNowWithExistingCount, EVERY_10S, interval_due_at_20s(None), s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], Some(s(55)), s(45), None, 3, true)),
        row("interval forever reschedule_now_with_remaining_count keeps counting", Interval,
            RescheduleNowWithRemainingCount, EVERY_10S, interval_due_at_20s(None), s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], Some(s(55)), s(45), None, 3, true)),
        row("interval forever fire_now is reschedule_now_with_remaining_count", Interval,
            FireNow, EVERY_10S, interval_due_at_20s(None), s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], Some(s(55)), s(45), None, 3, true)),
        row("interval forever reschedule_next_with_existing_count", Interval,
            RescheduleNextWithExistingCount, EVERY_10S, interval_due_at_20s(None), s(45), s(5),
            want(&[], &[s(20), s(30), s(40)], Some(s(50)), 0, None, 2, true)),
        row("interval forever ignore", Interval, Ignore, EVERY_10S,
            interval_due_at_20s(None), s(45), s(5),
            want(&[s(20)], &[], Some(s(30)), 0, None, 3, true)),
        row("interval forever catch_up(1) runs the latest", Interval, CatchUp(1), EVERY_10S,
            interval_due_at_20s(None), s(45), s(5),
            want(&[s(40)], &[s(20), s(30)], Some(s(50)), 0, None, 3, true)),
        // --- One-shot policies. ---------------------------------------------
        row("one-shot fire_now", OneShot, FireNow, ONCE, one_shot(), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        row("one-shot reschedule_now_with_existing_count fires now", OneShot,
            RescheduleNowWithExistingCount, ONCE, one_shot(), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        row("one-shot reschedule_now_with_remaining_count fires now", OneShot,
            RescheduleNowWithRemainingCount, ONCE, one_shot(), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        // "the next scheduled time after 'now'": a one-shot has none, so it
        // completes without firing; no next, so times fired stay.
        row("one-shot reschedule_next_with_remaining_count never fires", OneShot,
            RescheduleNextWithRemainingCount, ONCE, one_shot(), s(1000), s(60),
            want(&[], &[s(100)], None, s(100), Some(0), 0, true)),
        row("one-shot reschedule_next_with_existing_count never fires", OneShot,
            RescheduleNextWithExistingCount, ONCE, one_shot(), s(1000), s(60),
            want(&[], &[s(100)], None, s(100), Some(0), 0, true)),
        row("one-shot ignore fires late", OneShot, Ignore, ONCE, one_shot(), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        row("one-shot on time", OneShot, Smart, ONCE, one_shot(), s(160), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, false)),
        // --- A policy that does not apply to the kind falls back to smart. --
        row("one-shot catch_up falls back to smart = fire_now", OneShot, CatchUp(3), ONCE,
            one_shot(), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        row("one-shot fire_once_now falls back to smart = fire_now", OneShot, FireOnceNow,
            ONCE, one_shot(), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        row("one-shot do_nothing falls back to smart = fire_now", OneShot, DoNothing, ONCE,
            one_shot(), s(1000), s(60),
            want(&[s(100)], &[], None, s(100), Some(0), 1, true)),
        row("interval fire_once_now falls back to smart = reschedule_now_with_existing_count",
            Interval, FireOnceNow, EVERY_10S, interval_due_at_20s(count), s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], Some(s(55)), s(45), Some(3), 1, true)),
        row("interval forever do_nothing falls back to smart = reschedule_next_with_remaining_count",
            Interval, DoNothing, EVERY_10S, interval_due_at_20s(None), s(45), s(5),
            want(&[], &[s(20), s(30), s(40)], Some(s(50)), 0, None, 5, true)),
        row("cron fire_now falls back to smart = fire_once_now", Cron, FireNow, EVERY_MINUTE,
            cron_due_at_60s(), s(200), s(60),
            want(&[s(180)], &[s(60), s(120)], Some(s(240)), 0, None, 2, true)),
        row("cron reschedule_now_with_existing_count falls back to fire_once_now", Cron,
            RescheduleNowWithExistingCount, EVERY_MINUTE, cron_due_at_60s(), s(200), s(60),
            want(&[s(180)], &[s(60), s(120)], Some(s(240)), 0, None, 2, true)),
        row("calendar_interval reschedule_next_with_remaining_count falls back to fire_once_now",
            CalendarInterval, RescheduleNextWithRemainingCount, EVERY_MINUTE, cron_due_at_60s(),
            s(200), s(60),
            want(&[s(180)], &[s(60), s(120)], Some(s(240)), 0, None, 2, true)),
        row("daily_time_interval reschedule_now_with_remaining_count falls back to fire_once_now",
            DailyTimeInterval, RescheduleNowWithRemainingCount, EVERY_MINUTE,
            trig(0, Some(3), s(60), 1), s(200), s(60),
            want(&[s(180)], &[s(60), s(120)], Some(s(240)), 0, Some(3), 2, true)),
        row("daily_time_interval reschedule_next_with_existing_count falls back to fire_once_now",
            DailyTimeInterval, RescheduleNextWithExistingCount, EVERY_MINUTE, cron_due_at_60s(),
            s(200), s(60),
            want(&[s(180)], &[s(60), s(120)], Some(s(240)), 0, None, 2, true)),
        // --- Cron-like: an instant exactly at now is among the missed ones. -
        // DO_NOTHING: "the next time in the schedule after the current time".
        row("cron do_nothing with an instant exactly at now skips it too", Cron, DoNothing,
            EVERY_MINUTE, cron_due_at_60s(), s(240), s(60),
            want(&[], &[s(60), s(120), s(180), s(240)], Some(s(300)), 0, None, 1, true)),
        row("cron fire_once_now with an instant exactly at now runs that one", Cron, FireOnceNow,
            EVERY_MINUTE, cron_due_at_60s(), s(240), s(60),
            want(&[s(240)], &[s(60), s(120), s(180)], Some(s(300)), 0, None, 2, true)),
        // --- Repeat counts running out. -------------------------------------
        // RESCHEDULE_NOW_WITH_REMAINING_REPEAT_COUNT: "could cause the
        // Trigger to go to the 'COMPLETE' state after firing 'now', if all
        // the repeat-fire-times where missed": 5 - (2 + 7) < 0, floored at 0.
        row("reschedule_now_with_remaining_count with every repeat missed fires once and completes",
            Interval, RescheduleNowWithRemainingCount, EVERY_10S, interval_due_at_20s(count),
            s(95), s(5),
            want(&[s(20)], &[s(30), s(40), s(50)], None, s(95), Some(0), 1, true)),
        row("fire_now on a repeating trigger with every repeat missed fires once and completes",
            Interval, FireNow, EVERY_10S, interval_due_at_20s(count), s(95), s(5),
            want(&[s(20)], &[s(30), s(40), s(50)], None, s(95), Some(0), 1, true)),
        // Missed 20 and 30 of 0..=50: remaining 5 - (2 + 1) = 2 → fires at
        // 35 (now), 45 and 55: 2 + 3 = 5 fires = 6 - the one missed.
        row("reschedule_now_with_remaining_count with one repeat missed", Interval,
            RescheduleNowWithRemainingCount, EVERY_10S, interval_due_at_20s(count), s(35), s(5),
            want(&[s(20)], &[s(30)], Some(s(45)), s(35), Some(2), 1, true)),
        // RESCHEDULE_NEXT_WITH_REMAINING_COUNT: "could cause the Trigger to go
        // directly to the 'COMPLETE' state if all fire-times where missed";
        // with no next fire Quartz leaves times fired as they were.
        row("reschedule_next_with_remaining_count with every repeat missed completes unfired",
            Interval, RescheduleNextWithRemainingCount, EVERY_10S, interval_due_at_20s(count),
            s(95), s(5),
            want(&[], &[s(20), s(30), s(40), s(50)], None, 0, count, 2, true)),
        row("reschedule_next_with_existing_count with every repeat missed completes unfired",
            Interval, RescheduleNextWithExistingCount, EVERY_10S, interval_due_at_20s(count),
            s(95), s(5),
            want(&[], &[s(20), s(30), s(40), s(50)], None, 0, count, 2, true)),
        row("smart with a count when the final fire is due fires it and completes", Interval,
            Smart, EVERY_10S, trig(0, count, s(50), 5), s(70), s(5),
            want(&[s(50)], &[], None, s(70), Some(0), 1, true)),
        row("ignore on the final fire completes", Interval, Ignore, EVERY_10S,
            trig(0, count, s(50), 5), s(70), s(5),
            want(&[s(50)], &[], None, 0, count, 6, true)),
        row("catch_up past the final fire runs the latest and completes", Interval, CatchUp(2),
            EVERY_10S, interval_due_at_20s(count), s(95), s(5),
            want(&[s(40), s(50)], &[s(20), s(30)], None, 0, count, 4, true)),
        // --- End times. -----------------------------------------------------
        // RESCHEDULE_NOW_*: "This does obey the Trigger end-time however, so
        // if 'now' is after the end-time the Trigger will not fire again."
        row("reschedule_now_with_existing_count past the end time does not fire", Interval,
            RescheduleNowWithExistingCount, every_10s_until(s(35)), interval_due_at_20s(None),
            s(45), s(5),
            want(&[], &[s(20), s(30)], None, 0, None, 2, true)),
        // Quartz still rewrites the counts (repeat 5 - 2, times fired 0).
        row("reschedule_now_with_existing_count with a count past the end time", Interval,
            RescheduleNowWithExistingCount, every_10s_until(s(35)), interval_due_at_20s(count),
            s(45), s(5),
            want(&[], &[s(20), s(30)], None, 0, Some(3), 0, true)),
        // Times missed here are the instants the schedule had (30; 40 is
        // past the end), where Quartz divides the elapsed time by the
        // interval (2): repeat 2 where Quartz stores 1, on a trigger that
        // completes without firing either way.
        row("reschedule_now_with_remaining_count with a count past the end time", Interval,
            RescheduleNowWithRemainingCount, every_10s_until(s(35)), interval_due_at_20s(count),
            s(45), s(5),
            want(&[], &[s(20), s(30)], None, 0, Some(2), 0, true)),
        row("smart with a count past the end time does not fire", Interval, Smart,
            every_10s_until(s(35)), interval_due_at_20s(count), s(45), s(5),
            want(&[], &[s(20), s(30)], None, 0, Some(3), 0, true)),
        // Quartz: `getEndTime().before(now)`; an end exactly at now is not
        // before it, so it fires, and nothing follows.
        row("reschedule_now with the end time exactly now fires and completes", Interval,
            RescheduleNowWithExistingCount, every_10s_until(s(45)), interval_due_at_20s(None),
            s(45), s(5),
            want(&[s(20)], &[s(30), s(40)], None, s(45), None, 3, true)),
        // Smart WARNING: RESCHEDULE_NEXT_WITH_REMAINING_COUNT "with a trigger
        // that has a non-null end-time may cause the trigger to never fire
        // again if the end-time arrived during the misfire time span".
        row("smart forever with the end time passed during the outage never fires again",
            Interval, Smart, every_10s_until(s(35)), interval_due_at_20s(None), s(45), s(5),
            want(&[], &[s(20), s(30)], None, 0, None, 2, true)),
        row("reschedule_next_with_remaining_count before the end time", Interval,
            RescheduleNextWithRemainingCount, every_10s_until(s(75)), interval_due_at_20s(None),
            s(45), s(5),
            want(&[], &[s(20), s(30), s(40)], Some(s(50)), 0, None, 5, true)),
        row("cron do_nothing past the end time completes", Cron, DoNothing,
            every_minute_until(s(150)), cron_due_at_60s(), s(200), s(60),
            want(&[], &[s(60), s(120)], None, 0, None, 1, true)),
        row("cron fire_once_now past the end time fires the last and completes", Cron,
            FireOnceNow, every_minute_until(s(150)), cron_due_at_60s(), s(200), s(60),
            want(&[s(120)], &[s(60)], None, 0, None, 2, true)),
    ];
    // --- Every cron-like policy on every cron-like kind: 60, 120, 180 s
    // missed at 200 s. --------------------------------------------------------
    for kind in CRON_LIKE {
        let k = kind.as_str();
        let cases = [
            // Smart: "interpreted as MISFIRE_INSTRUCTION_FIRE_ONCE_NOW".
            (Smart, want(&[s(180)], &[s(60), s(120)], Some(s(240)), 0, None, 2, true)),
            // FIRE_ONCE_NOW: "wants to be fired now" (once), then the next
            // instant after now.
            (FireOnceNow, want(&[s(180)], &[s(60), s(120)], Some(s(240)), 0, None, 2, true)),
            // DO_NOTHING: "next-fire-time updated to the next time in the
            // schedule after the current time ... but it does not want to be
            // fired now".
            (DoNothing, want(&[], &[s(60), s(120), s(180)], Some(s(240)), 0, None, 1, true)),
            (Ignore, want(&[s(60)], &[], Some(s(120)), 0, None, 2, true)),
            (CatchUp(2), want(&[s(120), s(180)], &[s(60)], Some(s(240)), 0, None, 3, true)),
            (CatchUp(5), want(&[s(60), s(120), s(180)], &[], Some(s(240)), 0, None, 4, true)),
        ];
        for (policy, w) in cases {
            rows.push(row(format!("{k} {policy}"), kind, policy, EVERY_MINUTE,
                cron_due_at_60s(), s(200), s(60), w));
        }
    }
    rows
}

#[test]
fn misfire_table_follows_quartz() {
    let rows = table();
    let mut failures = Vec::new();
    for r in &rows {
        let t = due(r.kind, r.policy, r.trig, r.threshold);
        let timeline = Counted::new(r.sched);
        let p = plan(&t, at(r.now), &timeline);
        let got = observed(&p);
        if got != r.want {
            failures.push(format!(
                "{}:\n  want {:?}\n   got {:?}",
                r.name, r.want, got
            ));
        }
        // Common to every row: fires in scheduled order, each skip says why.
        let instants: Vec<_> = p.fires.iter().map(|f| ms_of(f.scheduled_at)).collect();
        if !instants.windows(2).all(|w| w[0] < w[1]) {
            failures.push(format!("{}: fires out of order {instants:?}", r.name));
        }
        for why in p.fires.iter().filter_map(|f| f.skip_reason.as_ref()) {
            if !why.starts_with("misfired: ") {
                failures.push(format!("{}: skip reason {why:?}", r.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn table_names_are_unique() {
    let rows = table();
    let mut names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicate row names");
}

fn reasons(p: &FirePlan) -> Vec<&str> {
    p.fires
        .iter()
        .filter_map(|f| f.skip_reason.as_deref())
        .collect()
}

#[test]
fn skip_reasons_name_the_policy_and_its_fallback() {
    let t = due(Cron, FireNow, cron_due_at_60s(), s(60));
    let p = plan(&t, at(s(200)), &Counted::new(EVERY_MINUTE));
    assert_eq!(
        reasons(&p),
        ["misfired: skipped (policy fire_now as fire_once_now)"; 2]
    );

    let t = due(Interval, Smart, interval_due_at_20s(None), s(5));
    let p = plan(&t, at(s(35)), &Counted::new(EVERY_10S));
    assert_eq!(
        reasons(&p),
        ["misfired: not fired (policy smart as reschedule_next_with_remaining_count)"; 2]
    );

    let t = due(
        Interval,
        RescheduleNowWithExistingCount,
        interval_due_at_20s(None),
        s(5),
    );
    let p = plan(&t, at(s(45)), &Counted::new(every_10s_until(s(35))));
    assert_eq!(
        reasons(&p),
        ["misfired: not fired, the end time has passed (policy reschedule_now_with_existing_count)";
            2]
    );
}

/// An every-second cron-like trigger down for a day: 86 401 instants
/// (both ends included) are missed; only the newest
/// [`MAX_SKIPPED_RECORDS`] are recorded and the oldest of those counts the
/// rest. The work is counted in timeline calls (DESIGN: speed is measured
/// in benches, never asserted with a clock): one walk over the outage.
#[test]
fn a_day_long_outage_of_an_every_second_trigger_records_the_newest_skips() {
    let every_second = Sched::Aligned {
        every: s(1),
        end: None,
    };
    let day = s(86_400);
    for (policy, run, left_out) in [
        (DoNothing, vec![], 86_301u64),
        (FireOnceNow, vec![day], 86_300),
        (CatchUp(3), vec![day - s(2), day - s(1), day], 86_298),
    ] {
        let timeline = Counted::new(every_second);
        let t = due(Cron, policy, trig(0, None, 0, 0), s(60));
        let p = plan(&t, at(day), &timeline);
        let got = observed(&p);
        assert_eq!(got.run, run, "{policy}");
        assert_eq!(got.skipped.len(), MAX_SKIPPED_RECORDS, "{policy}");
        let newest_skip = day - s(run.len() as i64);
        let oldest_skip = newest_skip - s(MAX_SKIPPED_RECORDS as i64 - 1);
        assert_eq!(got.skipped.first(), Some(&oldest_skip), "{policy}");
        assert_eq!(got.skipped.last(), Some(&newest_skip), "{policy}");
        assert_eq!(got.next, Some(day + s(1)), "{policy}");
        let reasons = reasons(&p);
        assert!(
            reasons[0].ends_with(&format!("({left_out} earlier missed fires not recorded)")),
            "{policy}: {}",
            reasons[0]
        );
        assert!(
            reasons[1..].iter().all(|r| !r.contains("not recorded")),
            "{policy}"
        );
        assert_eq!(
            left_out + MAX_SKIPPED_RECORDS as u64 + run.len() as u64,
            86_401,
            "every missed instant is run, recorded or counted"
        );
        assert!(
            timeline.calls.get() <= 86_401 + 2,
            "{policy}: {} calls",
            timeline.calls.get()
        );
    }
}

/// Past [`MAX_MISSED_SCAN`] missed instants the plan still runs the most
/// recent ones (found from now backwards) and estimates the count between.
#[test]
fn a_three_day_outage_runs_the_latest_instants_with_bounded_work() {
    let every_second = Sched::Aligned {
        every: s(1),
        end: None,
    };
    let now = s(3 * 86_400);
    let timeline = Counted::new(every_second);
    let t = due(Cron, CatchUp(2), trig(0, None, 0, 0), s(60));
    let p = plan(&t, at(now), &timeline);
    let got = observed(&p);
    assert_eq!(got.run, [now - s(1), now]);
    assert_eq!(got.skipped.len(), MAX_SKIPPED_RECORDS);
    assert_eq!(got.skipped.last(), Some(&(now - s(2))));
    assert_eq!(got.next, Some(now + s(1)));
    assert_eq!(got.times_fired, 2);
    // 259 201 missed = 2 run + 100 recorded + 259 099 (evenly spaced, so
    // the estimate is exact; it says "about" all the same).
    assert!(
        reasons(&p)[0].ends_with("(about 259099 earlier missed fires not recorded)"),
        "{}",
        reasons(&p)[0]
    );
    assert!(
        timeline.calls.get() < MAX_MISSED_SCAN as u64 + 2_000,
        "{} calls",
        timeline.calls.get()
    );

    // Remaining counts use the estimate too: an every-second interval with
    // a million repeats, down for three days from its first fire.
    let timeline = Counted::new(Sched::Every {
        every: s(1),
        end: None,
    });
    let t = due(
        Interval,
        RescheduleNowWithRemainingCount,
        trig(0, Some(1_000_000), 0, 0),
        s(60),
    );
    let p = plan(&t, at(now), &timeline);
    assert_eq!(p.repeat_count, Some(1_000_000 - 259_200));
    assert_eq!(p.next_fire_at, Some(at(now + s(1))));
    assert!(
        timeline.calls.get() < MAX_MISSED_SCAN as u64 + 2_000,
        "{} calls",
        timeline.calls.get()
    );
}

#[test]
fn a_catch_up_cap_beyond_the_limit_is_clamped() {
    let every_second = Sched::Aligned {
        every: s(1),
        end: None,
    };
    let t = due(Cron, CatchUp(u32::MAX), trig(0, None, 0, 0), s(60));
    let p = plan(&t, at(s(20_000)), &Counted::new(every_second));
    let ran = p.fires.iter().filter(|f| f.skip_reason.is_none()).count();
    assert_eq!(ran, MAX_CATCH_UP as usize);
    assert_eq!(p.times_fired, u64::from(MAX_CATCH_UP));
}

// --- Properties. ---------------------------------------------------------

fn any_policy() -> impl Strategy<Value = MisfirePolicy> {
    prop_oneof![
        Just(Smart),
        Just(Ignore),
        Just(FireOnceNow),
        Just(DoNothing),
        Just(FireNow),
        Just(RescheduleNowWithExistingCount),
        Just(RescheduleNowWithRemainingCount),
        Just(RescheduleNextWithRemainingCount),
        Just(RescheduleNextWithExistingCount),
        (1u32..20).prop_map(CatchUp),
    ]
}

fn any_kind() -> impl Strategy<Value = TriggerKind> {
    prop_oneof![
        Just(Cron),
        Just(Interval),
        Just(CalendarInterval),
        Just(DailyTimeInterval),
        Just(OneShot),
    ]
}

/// A kind, a schedule that fits it, and a due trigger on that schedule:
/// its `k`-th instant, having fired `k` times.
fn any_case() -> impl Strategy<Value = (TriggerKind, MisfirePolicy, Sched, Trig, i64, i64)> {
    (
        any_kind(),
        any_policy(),
        prop_oneof![1i64..100, 1i64..120_000], // every, ms
        prop::option::of(0u64..50),            // repeat
        prop::option::of(0i64..5_000_000),     // end after start, ms
        0u64..40,                              // k: the due instant's index
        prop_oneof![0i64..200_000, 0i64..400_000_000], // outage after due, ms
        0i64..120_000,                         // threshold, ms
    )
        .prop_filter_map(
            "the due instant exists",
            |(kind, policy, every, repeat, end, k, outage, threshold)| {
                let (sched, repeat) = match kind {
                    OneShot => (ONCE, Some(0)),
                    Interval => (Sched::Every { every, end }, repeat),
                    _ => (Sched::Aligned { every, end }, repeat),
                };
                let k = match sched {
                    Sched::Once => 0,
                    _ => k,
                };
                let scheduled = match sched {
                    Sched::Every { .. } => IntervalSchedule {
                        start: at(0),
                        every: Duration::milliseconds(every),
                        end: end.map(at),
                        repeat: repeat.map(|r| r as u32),
                    }
                    .nth(k)
                    .map(ms_of)?,
                    Sched::Once => 0,
                    Sched::Aligned { end, .. } => {
                        let i = (k as i64) * every;
                        if end.is_some_and(|e| i > e) {
                            return None;
                        }
                        i
                    }
                };
                let t = trig(0, repeat, scheduled, k);
                Some((kind, policy, sched, t, scheduled + outage, threshold))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn plans_are_sound((kind, policy, sched, trig, now, threshold) in any_case()) {
        let t = due(kind, policy, trig, threshold);
        let timeline = Counted::new(sched);
        let p = plan(&t, at(now), &timeline);
        let now = at(now);

        // Nothing runs later than now.
        for f in p.fires.iter().filter(|f| f.skip_reason.is_none()) {
            prop_assert!(f.scheduled_at <= now, "ran {} after now {}", f.scheduled_at, now);
        }
        // Run and skipped instants are distinct and in scheduled order,
        // and none is before the due instant.
        let instants: Vec<_> = p.fires.iter().map(|f| f.scheduled_at).collect();
        prop_assert!(instants.windows(2).all(|w| w[0] < w[1]), "{:?}", instants);
        prop_assert!(instants.iter().all(|i| *i >= t.scheduled_at));
        prop_assert!(p.fires.iter().filter(|f| f.skip_reason.is_some()).count() <= MAX_SKIPPED_RECORDS);
        // On time, the plan is the due fire alone.
        if !p.misfired {
            prop_assert_eq!(instants, vec![t.scheduled_at]);
        }
        // A misfired trigger's next fire is after now (ignore steps one
        // instant at a time, so it may still be in the past).
        if let Some(next) = p.next_fire_at.filter(|_| p.misfired && policy != Ignore) {
            prop_assert!(next > now, "next {} not after now {}", next, now);
        }
        // Cron-like policies that run something run the latest missed
        // instant, however long the outage.
        let runs_latest = matches!(policy, Smart | FireOnceNow | CatchUp(_) | FireNow
            | RescheduleNowWithExistingCount | RescheduleNowWithRemainingCount
            | RescheduleNextWithExistingCount | RescheduleNextWithRemainingCount);
        if let (true, true, Sched::Aligned { every, end }) = (p.misfired, runs_latest, sched) {
            let now_ms = ms_of(now);
            let limit = end.map_or(now_ms, |e| e.min(now_ms));
            let latest = at(limit.div_euclid(every) * every);
            let last_run = p.fires.iter().rev().find(|f| f.skip_reason.is_none());
            prop_assert_eq!(last_run.map(|f| f.scheduled_at), Some(latest));
        }
        // Bounded work: one head walk, a few windows at the tail.
        prop_assert!(
            timeline.calls.get() <= MAX_MISSED_SCAN as u64 + 96 * 1_025 + 8,
            "{} timeline calls", timeline.calls.get()
        );
    }
}
