//! A trigger's timing, validated once and evaluated many times.
//!
//! [`ScheduleSpec`] is what a declaration (TOML, `Client`, a trigger row)
//! says; [`Schedule`] is the evaluator built from it. Both are pure: the
//! store maps them to and from trigger columns.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::cron::{CronExpr, CronSchedule};
use super::dst::DstOptions;
use super::interval::IntervalSchedule;

/// The closed set of trigger kinds, as stored in `triggers.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    Cron,
    Interval,
    CalendarInterval,
    DailyTimeInterval,
    Once,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Cron => "cron",
            TriggerKind::Interval => "interval",
            TriggerKind::CalendarInterval => "calendar_interval",
            TriggerKind::DailyTimeInterval => "daily_time_interval",
            TriggerKind::Once => "once",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerKind> {
        Some(match s {
            "cron" => TriggerKind::Cron,
            "interval" => TriggerKind::Interval,
            "calendar_interval" => TriggerKind::CalendarInterval,
            "daily_time_interval" => TriggerKind::DailyTimeInterval,
            "once" => TriggerKind::Once,
            _ => return None,
        })
    }

    /// Interval and one-shot triggers take Quartz's SimpleTrigger misfire
    /// instructions; the others take the CronTrigger ones.
    pub fn is_simple(self) -> bool {
        matches!(self, TriggerKind::Interval | TriggerKind::Once)
    }
}

/// When a trigger fires, as declared.
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
    /// Exactly once, at `at`.
    Once { at: DateTime<Utc> },
}

impl ScheduleSpec {
    pub fn kind(&self) -> TriggerKind {
        match self {
            ScheduleSpec::Cron { .. } => TriggerKind::Cron,
            ScheduleSpec::Interval { .. } => TriggerKind::Interval,
            ScheduleSpec::Once { .. } => TriggerKind::Once,
        }
    }

    /// The instant the schedule counts from when a trigger is created at
    /// `created`: a declared start, the one-shot instant, else `created`.
    pub fn start_at(&self, created: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            ScheduleSpec::Interval { start: Some(s), .. } => *s,
            ScheduleSpec::Once { at } => *at,
            _ => created,
        }
    }

    /// The evaluator, for a trigger whose schedule counts from `start_at`
    /// with `repeat_count` repeats (the stored values, which interval
    /// misfire policies may have rebased).
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
            ScheduleSpec::Once { .. } => Schedule::Interval(IntervalSchedule::once(start_at)),
        }
    }

    /// The first fire of a trigger created at `created`: the first instant
    /// at or after its start.
    pub fn first_fire(&self, created: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = self.start_at(created);
        self.schedule(start, self.repeat_count())
            .next_after(start - Duration::milliseconds(1))
    }

    /// Quartz's repeat count (None: forever) for simple triggers.
    pub fn repeat_count(&self) -> Option<u64> {
        match self {
            ScheduleSpec::Interval { repeat, .. } => repeat.map(u64::from),
            ScheduleSpec::Once { .. } => Some(0),
            _ => None,
        }
    }
}

/// A trigger's schedule, ready to evaluate.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A cron schedule that never fires before its trigger's start.
    Cron(CronSchedule, DateTime<Utc>),
    Interval(IntervalSchedule),
}

impl Schedule {
    /// The first fire strictly after `after`, or None when it has ended.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(cron, start) => {
                let from = after.max(*start - Duration::milliseconds(1));
                cron.next_after(from)
            }
            Schedule::Interval(interval) => interval.next_after(after),
        }
    }
}
