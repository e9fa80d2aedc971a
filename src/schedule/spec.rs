//! A trigger's timing, validated once and evaluated many times.
//!
//! [`ScheduleSpec`] is what a declaration (TOML, `Client`, a trigger row)
//! says; [`Schedule`] is the evaluator built from it. Both are pure: the
//! store maps them to and from trigger columns.
//!
//! Build the calendar-interval and daily-time-interval specs with
//! [`ScheduleSpec::calendar_interval`] and [`ScheduleSpec::daily_time_interval`]:
//! they reject every combination the evaluators cannot honour, so a spec
//! that passed configuration validation always evaluates. The variants'
//! fields stay public for the store's column mapping; a spec assembled by
//! hand with invalid values never panics, it evaluates to
//! [`Schedule::Never`].
//!
//! Exclusion calendars are not part of a spec: the caller combines
//! [`Schedule::next_after`] with a [`CalendarSet`] through
//! [`next_allowed`] (see [`ScheduleSpec::first_fire_allowed`]).
//!
//! A daily-time-interval `repeat` is *not* enforced by
//! [`Schedule::next_after`], which stays stateless: the count of fires
//! lives on the trigger, and the scheduler stops the trigger once it has
//! fired [`ScheduleSpec::fire_limit`] times.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use super::calendar::{CalendarSet, next_allowed};
use super::cron::{CronExpr, CronSchedule};
use super::dst::DstOptions;
use super::interval::{
    CalendarIntervalSchedule, DailyTimeIntervalSchedule, DaysOfWeek, IntervalError,
    IntervalSchedule, IntervalUnit,
};
use crate::closed_enum::closed_enum;

/// The largest `every` of a calendar or daily interval: the
/// `triggers.interval_every` column is a 32-bit signed integer.
pub const MAX_EVERY: u32 = i32::MAX as u32;

closed_enum! {
    /// The closed set of trigger kinds, as stored in `triggers.kind`.
    pub enum TriggerKind: "trigger kind" {
        Cron = "cron",
        Interval = "interval",
        CalendarInterval = "calendar_interval",
        DailyTimeInterval = "daily_time_interval",
        Once = "once",
    }
}

impl TriggerKind {
    /// Interval and one-shot triggers take Quartz's SimpleTrigger misfire
    /// instructions; the others take the CronTrigger ones.
    pub fn is_simple(self) -> bool {
        matches!(self, TriggerKind::Interval | TriggerKind::Once)
    }
}

/// Why a calendar-interval or daily-time-interval declaration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// What the interval evaluators reject (zero count, unit, days, window,
    /// end before start).
    #[error(transparent)]
    Interval(#[from] IntervalError),
    /// A count too large to store.
    #[error("`every` must be from 1 to {MAX_EVERY}, got {0}")]
    EveryTooLarge(u32),
}

/// When a trigger fires, as declared.
// Not boxed: a spec lives for one evaluation, and other modules match on
// its variants by value.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleSpec {
    /// A cron expression in a time zone, with its DST options.
    Cron {
        expr: CronExpr,
        tz: Tz,
        dst: DstOptions,
    },
    /// Every `every` of real elapsed time from `start`, at most `repeat`
    /// times after the first (None: forever), never after `end`.
    Interval {
        every: Duration,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        repeat: Option<u32>,
    },
    /// Quartz's CalendarIntervalTrigger: every `every` units from `start`
    /// (None: when the trigger is created) in `tz`, never after `end`.
    /// Units of a day or more keep the wall-clock time of day of the start
    /// (see [`CalendarIntervalSchedule`]). Build it with
    /// [`ScheduleSpec::calendar_interval`].
    CalendarInterval {
        every: u32,
        unit: IntervalUnit,
        tz: Tz,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        /// Step `hour` units on the wall clock instead of in real time.
        preserve_hour_of_day: bool,
        /// A wall time in a spring-forward gap skips that occurrence
        /// instead of firing at the end of the gap.
        skip_day_if_hour_does_not_exist: bool,
    },
    /// Quartz's DailyTimeIntervalTrigger: on `days`, every `every` seconds,
    /// minutes or hours from `start_time` up to and including `end_time`
    /// (wall clock in `tz`), not before `start` (None: creation), not after
    /// `end`, `repeat` times after the first fire (None: forever). Build it
    /// with [`ScheduleSpec::daily_time_interval`].
    DailyTimeInterval {
        every: u32,
        unit: IntervalUnit,
        tz: Tz,
        days: DaysOfWeek,
        start_time: NaiveTime,
        end_time: NaiveTime,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        repeat: Option<u32>,
    },
    /// Exactly once, at `at`.
    Once { at: DateTime<Utc> },
}

/// The instant validation checks an end against when no start is declared
/// (the real start is the trigger's creation, unknown here).
fn probe_start(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> DateTime<Utc> {
    start.or(end).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn check_every(every: u32) -> Result<(), SpecError> {
    if every > MAX_EVERY {
        return Err(SpecError::EveryTooLarge(every));
    }
    Ok(())
}

impl ScheduleSpec {
    /// A validated calendar-interval spec: `every` from 1 to [`MAX_EVERY`],
    /// any unit, `end` not before `start`.
    #[allow(clippy::too_many_arguments)]
    pub fn calendar_interval(
        every: u32,
        unit: IntervalUnit,
        tz: Tz,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        preserve_hour_of_day: bool,
        skip_day_if_hour_does_not_exist: bool,
    ) -> Result<ScheduleSpec, SpecError> {
        check_every(every)?;
        CalendarIntervalSchedule::new(probe_start(start, end), every, unit, tz, end)?;
        Ok(ScheduleSpec::CalendarInterval {
            every,
            unit,
            tz,
            start,
            end,
            preserve_hour_of_day,
            skip_day_if_hour_does_not_exist,
        })
    }

    /// A validated daily-time-interval spec: `every` from 1 to
    /// [`MAX_EVERY`], `unit` second, minute or hour, at least one day,
    /// `start_time <= end_time`, `end` not before `start`.
    #[allow(clippy::too_many_arguments)]
    pub fn daily_time_interval(
        every: u32,
        unit: IntervalUnit,
        tz: Tz,
        days: DaysOfWeek,
        start_time: NaiveTime,
        end_time: NaiveTime,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        repeat: Option<u32>,
    ) -> Result<ScheduleSpec, SpecError> {
        check_every(every)?;
        DailyTimeIntervalSchedule::new(
            probe_start(start, end),
            tz,
            days,
            start_time,
            end_time,
            every,
            unit,
        )?
        .with_end(end)?;
        Ok(ScheduleSpec::DailyTimeInterval {
            every,
            unit,
            tz,
            days,
            start_time,
            end_time,
            start,
            end,
            repeat,
        })
    }

    pub fn kind(&self) -> TriggerKind {
        match self {
            ScheduleSpec::Cron { .. } => TriggerKind::Cron,
            ScheduleSpec::Interval { .. } => TriggerKind::Interval,
            ScheduleSpec::CalendarInterval { .. } => TriggerKind::CalendarInterval,
            ScheduleSpec::DailyTimeInterval { .. } => TriggerKind::DailyTimeInterval,
            ScheduleSpec::Once { .. } => TriggerKind::Once,
        }
    }

    /// The instant the schedule counts from when a trigger is created at
    /// `created`: a declared start, the one-shot instant, else `created`.
    pub fn start_at(&self, created: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            ScheduleSpec::Interval { start: Some(s), .. }
            | ScheduleSpec::CalendarInterval { start: Some(s), .. }
            | ScheduleSpec::DailyTimeInterval { start: Some(s), .. } => *s,
            ScheduleSpec::Once { at } => *at,
            _ => created,
        }
    }

    /// The evaluator, for a trigger whose schedule counts from `start_at`
    /// with `repeat_count` repeats (the stored values, which interval
    /// misfire policies may have rebased). Parameters the constructors
    /// would reject (only possible in a spec built by hand) give
    /// [`Schedule::Never`].
    pub fn schedule(&self, start_at: DateTime<Utc>, repeat_count: Option<u64>) -> Schedule {
        match self {
            ScheduleSpec::Cron { expr, tz, dst } => {
                Schedule::Cron(CronSchedule::new(expr.clone(), *tz, *dst), start_at)
            }
            ScheduleSpec::Interval { every, end, .. } => Schedule::Interval(IntervalSchedule {
                start: start_at,
                every: *every,
                end: *end,
                repeat: repeat_count.map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
            }),
            ScheduleSpec::CalendarInterval {
                every,
                unit,
                tz,
                end,
                preserve_hour_of_day,
                skip_day_if_hour_does_not_exist,
                ..
            } => match CalendarIntervalSchedule::new(start_at, *every, *unit, *tz, *end) {
                Ok(s) => Schedule::CalendarInterval(
                    s.with_preserve_hour_of_day_across_daylight_savings(*preserve_hour_of_day)
                        .with_skip_day_if_hour_does_not_exist(*skip_day_if_hour_does_not_exist),
                ),
                Err(_) => Schedule::Never,
            },
            ScheduleSpec::DailyTimeInterval {
                every,
                unit,
                tz,
                days,
                start_time,
                end_time,
                end,
                ..
            } => {
                let built = DailyTimeIntervalSchedule::new(
                    start_at,
                    *tz,
                    *days,
                    *start_time,
                    *end_time,
                    *every,
                    *unit,
                )
                .and_then(|s| s.with_end(*end));
                match built {
                    Ok(s) => Schedule::DailyTimeInterval(
                        s.with_repeat(repeat_count.map(|r| u32::try_from(r).unwrap_or(u32::MAX))),
                    ),
                    Err(_) => Schedule::Never,
                }
            }
            ScheduleSpec::Once { .. } => Schedule::Interval(IntervalSchedule::once(start_at)),
        }
    }

    /// The first fire of a trigger created at `created`: the first instant
    /// at or after its start.
    pub fn first_fire(&self, created: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.first_fire_allowed(created, &CalendarSet::default())
    }

    /// The first fire of a trigger created at `created` that no calendar
    /// of `calendars` excludes.
    pub fn first_fire_allowed(
        &self,
        created: DateTime<Utc>,
        calendars: &CalendarSet,
    ) -> Option<DateTime<Utc>> {
        let start = self.start_at(created);
        let schedule = self.schedule(start, self.repeat_count());
        let before = start.checked_sub_signed(Duration::milliseconds(1))?;
        next_allowed(before, calendars, |t| schedule.next_after(t))
    }

    /// Quartz's repeat count (None: forever): fires after the first, for
    /// simple and daily-time-interval triggers.
    pub fn repeat_count(&self) -> Option<u64> {
        match self {
            ScheduleSpec::Interval { repeat, .. }
            | ScheduleSpec::DailyTimeInterval { repeat, .. } => repeat.map(u64::from),
            ScheduleSpec::Once { .. } => Some(0),
            _ => None,
        }
    }

    /// The most fires a trigger of this spec may record in total, when the
    /// schedule itself does not stop there: `repeat + 1` for a daily time
    /// interval with a repeat count, else None. (Interval and one-shot
    /// schedules stop by themselves.) The caller keeps the count: see
    /// [`DailyTimeIntervalSchedule::repeat_exhausted`].
    pub fn fire_limit(&self, repeat_count: Option<u64>) -> Option<u64> {
        match self {
            ScheduleSpec::DailyTimeInterval { .. } => repeat_count.map(|r| r.saturating_add(1)),
            _ => None,
        }
    }
}

/// A trigger's schedule, ready to evaluate.
#[allow(clippy::large_enum_variant)] // built per evaluation, never stored
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A cron schedule that never fires before its trigger's start.
    Cron(CronSchedule, DateTime<Utc>),
    Interval(IntervalSchedule),
    CalendarInterval(CalendarIntervalSchedule),
    /// Stateless: its repeat count is enforced by the caller.
    DailyTimeInterval(DailyTimeIntervalSchedule),
    /// No fire at all (parameters that admit none).
    Never,
}

impl Schedule {
    /// The first fire strictly after `after`, or None when it has ended.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(cron, start) => {
                let before_start = start
                    .checked_sub_signed(Duration::milliseconds(1))
                    .unwrap_or(*start);
                let from = after.max(before_start);
                cron.next_after(from)
            }
            Schedule::Interval(interval) => interval.next_after(after),
            Schedule::CalendarInterval(s) => s.next_after(after),
            Schedule::DailyTimeInterval(s) => s.next_after(after),
            Schedule::Never => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Weekday};
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::schedule::calendar::CalendarDef;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid instant")
            .with_timezone(&Utc)
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
    }

    fn take(s: &Schedule, n: usize, mut after: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some(t) = s.next_after(after) else { break };
            out.push(t);
            after = t;
        }
        out
    }

    #[test]
    fn calendar_interval_keeps_wall_time_and_validates() {
        let start = Berlin
            .with_ymd_and_hms(2026, 3, 27, 9, 0, 0)
            .single()
            .expect("exists")
            .with_timezone(&Utc);
        let spec = ScheduleSpec::calendar_interval(
            1,
            IntervalUnit::Day,
            Berlin,
            Some(start),
            None,
            false,
            false,
        )
        .expect("valid");
        assert_eq!(spec.kind(), TriggerKind::CalendarInterval);
        assert_eq!(spec.start_at(utc("2020-01-01T00:00:00Z")), start);
        assert_eq!(spec.repeat_count(), None);
        assert_eq!(spec.fire_limit(None), None);
        assert_eq!(spec.first_fire(utc("2020-01-01T00:00:00Z")), Some(start));
        let s = spec.schedule(start, None);
        // 09:00 Berlin before and after the spring-forward of 2026-03-29.
        assert_eq!(
            take(&s, 4, start),
            [
                utc("2026-03-28T08:00:00Z"),
                utc("2026-03-29T07:00:00Z"),
                utc("2026-03-30T07:00:00Z"),
                utc("2026-03-31T07:00:00Z"),
            ]
        );

        let err = |every, end| {
            ScheduleSpec::calendar_interval(
                every,
                IntervalUnit::Month,
                Berlin,
                Some(start),
                end,
                false,
                false,
            )
            .expect_err("invalid")
        };
        assert_eq!(err(0, None), SpecError::Interval(IntervalError::ZeroCount));
        assert_eq!(err(u32::MAX, None), SpecError::EveryTooLarge(u32::MAX));
        assert!(matches!(
            err(1, Some(utc("2026-01-01T00:00:00Z"))),
            SpecError::Interval(IntervalError::EndBeforeStart { .. })
        ));
    }

    #[test]
    fn daily_time_interval_window_days_and_repeat() {
        let spec = ScheduleSpec::daily_time_interval(
            30,
            IntervalUnit::Minute,
            Tz::UTC,
            DaysOfWeek::from_weekdays([Weekday::Mon, Weekday::Tue]),
            hm(9, 0),
            hm(10, 0),
            None,
            None,
            Some(4),
        )
        .expect("valid");
        assert_eq!(spec.kind(), TriggerKind::DailyTimeInterval);
        assert_eq!(spec.repeat_count(), Some(4));
        assert_eq!(spec.fire_limit(spec.repeat_count()), Some(5));
        // Created on a Sunday: first fire Monday 09:00.
        let created = utc("2026-03-01T12:00:00Z");
        assert_eq!(spec.start_at(created), created);
        assert_eq!(spec.first_fire(created), Some(utc("2026-03-02T09:00:00Z")));
        let s = spec.schedule(created, spec.repeat_count());
        assert_eq!(
            take(&s, 7, created),
            [
                utc("2026-03-02T09:00:00Z"),
                utc("2026-03-02T09:30:00Z"),
                utc("2026-03-02T10:00:00Z"),
                utc("2026-03-03T09:00:00Z"),
                utc("2026-03-03T09:30:00Z"),
                utc("2026-03-03T10:00:00Z"),
                utc("2026-03-09T09:00:00Z"), // next Monday: repeat is the caller's
            ]
        );

        let err = |unit, days, from, to| {
            ScheduleSpec::daily_time_interval(1, unit, Tz::UTC, days, from, to, None, None, None)
                .expect_err("invalid")
        };
        assert!(matches!(
            err(IntervalUnit::Day, DaysOfWeek::ALL, hm(9, 0), hm(10, 0)),
            SpecError::Interval(IntervalError::UnitNotAllowed { .. })
        ));
        assert_eq!(
            err(IntervalUnit::Hour, DaysOfWeek::NONE, hm(9, 0), hm(10, 0)),
            SpecError::Interval(IntervalError::NoDaysOfWeek)
        );
        assert!(matches!(
            err(IntervalUnit::Hour, DaysOfWeek::ALL, hm(11, 0), hm(10, 0)),
            SpecError::Interval(IntervalError::StartTimeAfterEndTime { .. })
        ));
    }

    #[test]
    fn hand_built_invalid_specs_never_fire_and_never_panic() {
        let bad = ScheduleSpec::CalendarInterval {
            every: 0,
            unit: IntervalUnit::Day,
            tz: Tz::UTC,
            start: None,
            end: None,
            preserve_hour_of_day: false,
            skip_day_if_hour_does_not_exist: false,
        };
        let now = utc("2026-03-01T00:00:00Z");
        assert!(matches!(bad.schedule(now, None), Schedule::Never));
        assert_eq!(bad.first_fire(now), None);
        let bad = ScheduleSpec::DailyTimeInterval {
            every: 1,
            unit: IntervalUnit::Year,
            tz: Tz::UTC,
            days: DaysOfWeek::ALL,
            start_time: hm(9, 0),
            end_time: hm(10, 0),
            start: None,
            end: None,
            repeat: None,
        };
        assert_eq!(bad.first_fire(now), None);
        // The ends of time.
        let daily = ScheduleSpec::daily_time_interval(
            1,
            IntervalUnit::Hour,
            Tz::UTC,
            DaysOfWeek::ALL,
            hm(0, 0),
            hm(23, 0),
            None,
            None,
            None,
        )
        .expect("valid");
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            let _ = daily.first_fire(t);
            let _ = daily.schedule(t, None).next_after(t);
        }
    }

    #[test]
    fn first_fire_skips_excluded_instants() {
        let holidays = CalendarDef {
            name: "holidays".into(),
            timezone: None,
            dates: vec!["2026-03-02".into()],
            annual: vec![],
            days_of_week: vec!["sat".into(), "sun".into()],
            days_of_month: vec![],
            daily_range: None,
            cron: vec![],
        }
        .compile(Tz::UTC)
        .expect("valid");
        let set = CalendarSet::new(vec![Arc::new(holidays)]);
        let spec = ScheduleSpec::calendar_interval(
            1,
            IntervalUnit::Day,
            Tz::UTC,
            Some(utc("2026-02-28T08:00:00Z")), // a Saturday
            None,
            false,
            false,
        )
        .expect("valid");
        let created = utc("2026-02-27T07:00:00Z");
        assert_eq!(spec.first_fire(created), Some(utc("2026-02-28T08:00:00Z")));
        // Sat, Sun and Monday (a holiday) are excluded.
        assert_eq!(
            spec.first_fire_allowed(created, &set),
            Some(utc("2026-03-03T08:00:00Z"))
        );
    }
}
