//! Interval schedules: the pure time math behind Quartz's `SimpleTrigger`,
//! `CalendarIntervalTrigger` and `DailyTimeIntervalTrigger`.
//!
//! This module owns:
//!
//! - [`IntervalSchedule`]: a fixed period of real elapsed time (`start + k * every`),
//!   with an optional repeat count and end. Time zones and DST play no part.
//! - [`CalendarIntervalSchedule`]: every `n` seconds, minutes, hours, days, weeks,
//!   months or years in an IANA time zone. Units of a day or more step the local
//!   calendar date and keep the wall-clock time of day of the start.
//! - [`DailyTimeIntervalSchedule`]: every `n` seconds, minutes or hours inside a
//!   daily window of wall-clock time, on chosen days of the week.
//! - The shared vocabulary: [`IntervalUnit`], [`DaysOfWeek`] and [`IntervalError`].
//!
//! Every schedule is validated once by its constructor; after that `next_after`
//! is a stateless, total function: it never panics, never loops without a bound,
//! and returns the first fire strictly later than the instant it is given (or
//! `None` when the schedule has no further fire). Occurrences are computed from
//! the start (the k-th occurrence), never cumulatively from the previous fire, so
//! a clamped month (Jan 31 -> Feb 28) does not drift, and a restart anywhere
//! neither repeats nor loses a fire.
//!
//! DST rules for wall-clock based occurrences (calendar units and daily windows):
//! a wall time that occurs twice (fall-back fold) fires once, at the **earlier**
//! instant; a wall time that does not exist (spring-forward gap) is handled as
//! documented on each schedule.
//!
//! Nothing here performs I/O or reads a clock.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeDelta, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Most consecutive occurrences skipped because their wall time falls in a DST
/// gap before `next_after` gives up. Gaps are rare (about one or two a year), so
/// this is only reached by pathological schedules, e.g. a day interval that is a
/// multiple of a week and keeps landing on transition days.
const MAX_CONSECUTIVE_GAP_SKIPS: u32 = 1_000;

/// Days scanned by [`DailyTimeIntervalSchedule::next_after`]: one day before the
/// local date of the search point (for folds around midnight), a full week for
/// the day-of-week filter, and spare weeks for windows that fall entirely in a
/// DST gap.
const DAILY_SCAN_DAYS: u64 = 22;

/// The unit of an interval schedule.
///
/// Serialized in `snake_case` (`"second"`, `"minute"`, … `"year"`); [`FromStr`]
/// also accepts the plural and is case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalUnit {
    /// 1 s of real time.
    Second,
    /// 60 s of real time.
    Minute,
    /// 3600 s of real time (or one wall-clock hour, see
    /// [`CalendarIntervalSchedule::with_preserve_hour_of_day_across_daylight_savings`]).
    Hour,
    /// One local calendar day.
    Day,
    /// Seven local calendar days.
    Week,
    /// One calendar month, clamped to the end of shorter months.
    Month,
    /// Twelve calendar months.
    Year,
}

impl IntervalUnit {
    /// All units, smallest first.
    pub const ALL: [IntervalUnit; 7] = [
        IntervalUnit::Second,
        IntervalUnit::Minute,
        IntervalUnit::Hour,
        IntervalUnit::Day,
        IntervalUnit::Week,
        IntervalUnit::Month,
        IntervalUnit::Year,
    ];

    /// The `snake_case` name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            IntervalUnit::Second => "second",
            IntervalUnit::Minute => "minute",
            IntervalUnit::Hour => "hour",
            IntervalUnit::Day => "day",
            IntervalUnit::Week => "week",
            IntervalUnit::Month => "month",
            IntervalUnit::Year => "year",
        }
    }

    /// Length in seconds of one unit of real time, for the units that have a
    /// fixed length (`Second`, `Minute`, `Hour`).
    pub const fn fixed_seconds(self) -> Option<i64> {
        match self {
            IntervalUnit::Second => Some(1),
            IntervalUnit::Minute => Some(60),
            IntervalUnit::Hour => Some(3600),
            _ => None,
        }
    }
}

impl fmt::Display for IntervalUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IntervalUnit {
    type Err = IntervalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let singular = lower.strip_suffix('s').unwrap_or(&lower);
        IntervalUnit::ALL
            .into_iter()
            .find(|u| u.as_str() == singular)
            .ok_or_else(|| IntervalError::UnknownUnit(s.to_owned()))
    }
}

/// Invalid parameters for an interval schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    /// A fixed period that is zero or negative.
    #[error("interval period must be positive, got {0}")]
    NonPositivePeriod(TimeDelta),
    /// A unit count of zero.
    #[error("interval count must be at least 1, got 0")]
    ZeroCount,
    /// A unit the schedule kind does not support.
    #[error("unit {unit} is not allowed for {schedule}: expected one of {allowed}")]
    UnitNotAllowed {
        /// The rejected unit.
        unit: IntervalUnit,
        /// The schedule kind that rejected it.
        schedule: &'static str,
        /// The units it accepts.
        allowed: &'static str,
    },
    /// An end that is earlier than the start.
    #[error("end {end} is before start {start}")]
    EndBeforeStart {
        /// The schedule's start.
        start: DateTime<Utc>,
        /// The rejected end.
        end: DateTime<Utc>,
    },
    /// A daily window whose start is after its end.
    #[error("start time of day {start_time} is after end time of day {end_time}")]
    StartTimeAfterEndTime {
        /// Window start.
        start_time: NaiveTime,
        /// Window end.
        end_time: NaiveTime,
    },
    /// A day-of-week filter that selects no day.
    #[error("days of week must select at least one day")]
    NoDaysOfWeek,
    /// An unparsable unit name.
    #[error("unknown interval unit {0:?}: expected second, minute, hour, day, week, month or year")]
    UnknownUnit(String),
    /// An unparsable day name.
    #[error("unknown day of week {0:?}: expected mon..sun or monday..sunday")]
    UnknownWeekday(String),
}

// ---------------------------------------------------------------------------
// Small shared helpers (also used by `calendar.rs`).

fn instant_nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS_PER_SEC + i128::from(t.timestamp_subsec_nanos())
}

fn delta_nanos(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * NANOS_PER_SEC + i128::from(d.subsec_nanos())
}

fn instant_from_nanos(n: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(n.div_euclid(NANOS_PER_SEC)).ok()?;
    let nanos = u32::try_from(n.rem_euclid(NANOS_PER_SEC)).ok()?;
    DateTime::from_timestamp(secs, nanos)
}

/// How a local wall-clock time maps to an instant in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalInstant {
    /// The wall time exists; in a fold this is the earlier of the two instants
    /// and `later` holds the other one.
    Exists {
        earliest: DateTime<Utc>,
        later: Option<DateTime<Utc>>,
    },
    /// The wall time falls in a spring-forward gap; `transition` is the first
    /// instant after the gap.
    Gap { transition: DateTime<Utc> },
}

impl LocalInstant {
    /// The earlier instant of an existing wall time, or the first instant after
    /// the gap. Non-decreasing in the wall time, which the searches rely on.
    pub(crate) fn earliest_or_transition(self) -> DateTime<Utc> {
        match self {
            LocalInstant::Exists { earliest, .. } => earliest,
            LocalInstant::Gap { transition } => transition,
        }
    }

    /// The first instant strictly after `t` that shows this wall time (or, for a
    /// gap, the transition if it is after `t`).
    pub(crate) fn first_after(self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            LocalInstant::Exists { earliest, later } => {
                if earliest > t {
                    Some(earliest)
                } else {
                    later.filter(|l| *l > t)
                }
            }
            LocalInstant::Gap { transition } => Some(transition).filter(|x| *x > t),
        }
    }
}

/// Maps a wall-clock time in `tz` to an instant (see [`LocalInstant`]).
/// Returns `None` only outside chrono's representable range.
pub(crate) fn resolve_local(tz: Tz, wall: NaiveDateTime) -> Option<LocalInstant> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(LocalInstant::Exists {
            earliest: t.with_timezone(&Utc),
            later: None,
        }),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            Some(LocalInstant::Exists {
                earliest: a.min(b),
                later: Some(a.max(b)),
            })
        }
        LocalResult::None => {
            gap_transition(tz, wall).map(|transition| LocalInstant::Gap { transition })
        }
    }
}

/// The local wall-clock time of `t` in `tz`; `None` when it falls outside
/// chrono's range (near `DateTime::<Utc>::MAX_UTC` / `MIN_UTC`), where
/// `naive_local()` would panic.
pub(crate) fn wall_clock(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDateTime> {
    let utc = t.naive_utc();
    let offset = tz.offset_from_utc_datetime(&utc).fix().local_minus_utc();
    utc.checked_add_signed(TimeDelta::seconds(i64::from(offset)))
}

/// The first instant after the DST gap that contains `wall`: the smallest
/// instant whose local wall time is later than `wall`. Found by bisection over
/// whole seconds (tz transitions fall on whole seconds) in a window of ±26 h,
/// which holds every UTC offset in use; at most ~18 steps.
fn gap_transition(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let as_utc = wall.and_utc().timestamp();
    let window = 26 * 3600;
    let mut lo = as_utc.checked_sub(window)?; // wall(lo) <= wall (checked below)
    let mut hi = as_utc.checked_add(window)?; // wall(hi) > wall
    let wall_at = |s: i64| DateTime::from_timestamp(s, 0).and_then(|t| wall_clock(tz, t));
    if wall_at(lo)? > wall || wall_at(hi)? <= wall {
        return None;
    }
    // Invariant: wall(lo) <= wall < wall(hi). Halves each step: bounded by 64.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall_at(mid)? > wall {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Smallest `k` in `[lo, end)` for which `pred(k)` holds, given that `pred`
/// is monotone (false…false true…true) on that range; `end` when it never
/// holds there. Bisection: at most 64 evaluations.
fn partition_point(mut lo: u64, mut end: u64, pred: impl Fn(u64) -> bool) -> u64 {
    while lo < end {
        let mid = lo + (end - lo) / 2;
        if pred(mid) {
            end = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Smallest `k >= 0` with `pred(k)`, for a monotone `pred`, starting from an
/// estimate: gallops away from `guess` by doubling steps, then bisects. At most
/// ~128 evaluations; returns `None` when `pred` fails up to `u64::MAX`.
fn search_from_estimate(guess: u64, pred: impl Fn(u64) -> bool) -> Option<u64> {
    if pred(guess) {
        // Gallop down to a false (or 0).
        let mut hi = guess;
        let mut step: u64 = 1;
        loop {
            let lo = hi.saturating_sub(step);
            if lo == hi {
                return Some(0); // hi == 0 and pred(0)
            }
            if !pred(lo) {
                return Some(partition_point(lo + 1, hi, &pred)); // pred(hi) holds
            }
            if lo == 0 {
                return Some(0);
            }
            hi = lo;
            step = step.saturating_mul(2);
        }
    } else {
        // Gallop up to a true; the step doubles, so this ends within 64 rounds.
        let mut lo = guess;
        let mut step: u64 = 1;
        loop {
            let hi = lo.saturating_add(step);
            if hi == lo {
                return None; // lo == u64::MAX and !pred(lo)
            }
            if pred(hi) {
                return Some(partition_point(lo + 1, hi, &pred)); // pred(hi) holds
            }
            lo = hi;
            step = step.saturating_mul(2);
        }
    }
}

fn check_end(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Result<(), IntervalError> {
    match end {
        Some(end) if end < start => Err(IntervalError::EndBeforeStart { start, end }),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// IntervalSchedule

/// Quartz's `SimpleTrigger`: fires at `start + k * every` for `k = 0, 1, 2, …`,
/// counting real elapsed time (UTC arithmetic; time zones and DST play no part).
///
/// - `repeat`: `None` repeats forever; `Some(n)` repeats `n` times after the
///   first fire, so `n + 1` fires in total (Quartz's `repeatCount`).
/// - `end`: no fire is later than `end` (a fire exactly at `end` happens).
///
/// The fields are public for storage mapping. [`IntervalSchedule::new`]
/// validates them; if they are set by hand to invalid values, the methods stay
/// total: a non-positive `every` behaves as a one-shot at `start`, and an `end`
/// before `start` means no fire at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntervalSchedule {
    /// The first fire.
    pub start: DateTime<Utc>,
    /// The period, greater than zero.
    pub every: TimeDelta,
    /// No fire after this instant.
    pub end: Option<DateTime<Utc>>,
    /// Repeats after the first fire (`None` = forever).
    pub repeat: Option<u32>,
}

impl IntervalSchedule {
    /// A validated schedule: `every` must be positive and `end`, if any, not
    /// before `start`.
    pub fn new(
        start: DateTime<Utc>,
        every: TimeDelta,
        end: Option<DateTime<Utc>>,
        repeat: Option<u32>,
    ) -> Result<Self, IntervalError> {
        if every <= TimeDelta::zero() {
            return Err(IntervalError::NonPositivePeriod(every));
        }
        check_end(start, end)?;
        Ok(IntervalSchedule {
            start,
            every,
            end,
            repeat,
        })
    }

    /// A one-shot schedule firing once, at `at` (`repeat = Some(0)`).
    pub fn once(at: DateTime<Utc>) -> Self {
        IntervalSchedule {
            start: at,
            every: TimeDelta::seconds(1),
            end: None,
            repeat: Some(0),
        }
    }

    /// `every` in nanoseconds, or `None` when it is not positive (one-shot).
    fn period(&self) -> Option<i128> {
        Some(delta_nanos(self.every)).filter(|p| *p > 0)
    }

    /// The largest index allowed by `repeat`, `end` and `every`, or `None` when
    /// there is no fire at all. `u64::MAX` stands for "unbounded".
    fn last_index(&self) -> Option<u64> {
        let start = instant_nanos(self.start);
        let mut last = match (self.period(), self.repeat) {
            (None, _) => 0,
            (Some(_), Some(n)) => u64::from(n),
            (Some(_), None) => u64::MAX,
        };
        if let Some(end) = self.end {
            let end = instant_nanos(end);
            if end < start {
                return None;
            }
            if let Some(p) = self.period() {
                let by_end = u64::try_from((end - start) / p).unwrap_or(u64::MAX);
                last = last.min(by_end);
            }
        }
        Some(last)
    }

    /// The instant of the `k`-th fire (`k = 0` is `start`), whether or not the
    /// schedule reaches it; `None` when `k` is past the last fire or out of
    /// chrono's range.
    pub fn nth(&self, k: u64) -> Option<DateTime<Utc>> {
        if k > self.last_index()? {
            return None;
        }
        let offset = match self.period() {
            Some(p) => p.checked_mul(i128::from(k))?,
            None => 0,
        };
        instant_from_nanos(instant_nanos(self.start).checked_add(offset)?)
    }

    /// The last fire, or `None` when the schedule repeats forever (or has no
    /// fire at all).
    pub fn final_fire(&self) -> Option<DateTime<Utc>> {
        match self.last_index()? {
            u64::MAX => None,
            k => self.nth(k),
        }
    }

    /// The first fire strictly later than `after`. O(1).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = instant_nanos(self.start);
        let after = instant_nanos(after);
        let k = if after < start {
            0
        } else {
            let p = self.period()?;
            // floor((after - start) / p) + 1: the first index strictly later.
            u64::try_from((after - start) / p).ok()?.checked_add(1)?
        };
        self.nth(k)
    }

    /// How many fires fall in `(from_exclusive, to_inclusive]`. O(1).
    pub fn fires_between(&self, from_exclusive: DateTime<Utc>, to_inclusive: DateTime<Utc>) -> u64 {
        if to_inclusive <= from_exclusive {
            return 0;
        }
        self.fires_up_to(to_inclusive)
            .saturating_sub(self.fires_up_to(from_exclusive))
    }

    /// Number of fires at or before `t`.
    fn fires_up_to(&self, t: DateTime<Utc>) -> u64 {
        let Some(last) = self.last_index() else {
            return 0;
        };
        let (start, t) = (instant_nanos(self.start), instant_nanos(t));
        if t < start {
            return 0;
        }
        let through = match self.period() {
            Some(p) => u64::try_from((t - start) / p).unwrap_or(u64::MAX),
            None => 0,
        };
        through.min(last).saturating_add(1)
    }

    /// The index `k` of `t` when `t` is exactly one of the schedule's fires.
    pub fn index_of(&self, t: DateTime<Utc>) -> Option<u64> {
        let (start, t_n) = (instant_nanos(self.start), instant_nanos(t));
        if t_n < start {
            return None;
        }
        let k = match self.period() {
            Some(p) if (t_n - start) % p == 0 => u64::try_from((t_n - start) / p).ok()?,
            None if t_n == start => 0,
            _ => return None,
        };
        (k <= self.last_index()?).then_some(k)
    }
}

// ---------------------------------------------------------------------------
// CalendarIntervalSchedule

/// Quartz's `CalendarIntervalTrigger`: every `every` units from `start`, in the
/// time zone `tz`, never after `end`.
///
/// Semantics (each occurrence `k` is computed from `start`, not from the
/// previous one):
///
/// - `Second`, `Minute`, `Hour`: real elapsed time, `start + k * every * unit`
///   (DST changes the wall-clock hour of later fires), unless
///   `preserve_hour_of_day_across_daylight_savings` is set for `Hour`, see below.
/// - `Day`, `Week`, `Month`, `Year`: the local date of `start` plus `k * every`
///   units, at the wall-clock time of day of `start`, so 09:00 stays 09:00
///   across DST. Months clamp to the end of shorter months (Jan 31 + 1 month =
///   Feb 28 or 29) but the next one is computed from the start again (Mar 31).
///   A yearly schedule from Feb 29 fires on Feb 28 in common years.
///   Quartz's `preserveHourOfDayAcrossDaylightSavings` is thus always in effect
///   for these units: the flag makes no difference to them.
/// - `Hour` with `preserve_hour_of_day_across_daylight_savings`: the hours are
///   stepped on the wall clock instead of in real time (`start` wall time +
///   `k * every` hours, as if no DST existed), and then mapped to an instant like
///   the day units. So "every 5 hours from 00:00" keeps firing at 00:00, 05:00,
///   10:00 … wall time across a DST change. (Quartz itself applies the flag only
///   to units of a day or more; this is the natural extension, as the flag's
///   name promises.)
/// - Wall times that occur twice (fall-back fold) fire once, at the earlier
///   instant.
/// - Wall times that do not exist (spring-forward gap): with
///   `skip_day_if_hour_does_not_exist` the occurrence is skipped (the next one is
///   one more interval later, as Quartz does); without it, the fire happens at
///   the first instant after the gap (where Quartz's lenient Java calendar would
///   shift by the gap's length instead, e.g. 02:30 -> 03:30; cosched follows its
///   cron DST rule here).
///
/// `next_after` estimates `k` by dividing the local distance by the interval,
/// then gallops and bisects to the exact index: O(log) evaluations at worst,
/// never a walk from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarIntervalSchedule {
    start: DateTime<Utc>,
    every: u32,
    unit: IntervalUnit,
    tz: Tz,
    end: Option<DateTime<Utc>>,
    preserve_hour_of_day_across_daylight_savings: bool,
    skip_day_if_hour_does_not_exist: bool,
}

impl CalendarIntervalSchedule {
    /// A validated schedule: `every >= 1`, `end` not before `start`. Both DST
    /// options start `false`; see the `with_*` methods.
    pub fn new(
        start: DateTime<Utc>,
        every: u32,
        unit: IntervalUnit,
        tz: Tz,
        end: Option<DateTime<Utc>>,
    ) -> Result<Self, IntervalError> {
        if every == 0 {
            return Err(IntervalError::ZeroCount);
        }
        check_end(start, end)?;
        Ok(CalendarIntervalSchedule {
            start,
            every,
            unit,
            tz,
            end,
            preserve_hour_of_day_across_daylight_savings: false,
            skip_day_if_hour_does_not_exist: false,
        })
    }

    /// Sets Quartz's `preserveHourOfDayAcrossDaylightSavings` (only changes
    /// `Hour` units; see the type docs).
    pub fn with_preserve_hour_of_day_across_daylight_savings(mut self, on: bool) -> Self {
        self.preserve_hour_of_day_across_daylight_savings = on;
        self
    }

    /// Sets Quartz's `skipDayIfHourDoesNotExist`: when an occurrence's wall time
    /// falls in a DST gap, skip it (`true`) or fire at the first instant after
    /// the gap (`false`, the default).
    pub fn with_skip_day_if_hour_does_not_exist(mut self, on: bool) -> Self {
        self.skip_day_if_hour_does_not_exist = on;
        self
    }

    /// The first fire.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }
    /// Number of units between fires.
    pub fn every(&self) -> u32 {
        self.every
    }
    /// The unit.
    pub fn unit(&self) -> IntervalUnit {
        self.unit
    }
    /// The time zone of the wall clock.
    pub fn tz(&self) -> Tz {
        self.tz
    }
    /// No fire after this instant.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.end
    }
    /// See [`Self::with_preserve_hour_of_day_across_daylight_savings`].
    pub fn preserve_hour_of_day_across_daylight_savings(&self) -> bool {
        self.preserve_hour_of_day_across_daylight_savings
    }
    /// See [`Self::with_skip_day_if_hour_does_not_exist`].
    pub fn skip_day_if_hour_does_not_exist(&self) -> bool {
        self.skip_day_if_hour_does_not_exist
    }

    /// Real-time period in nanoseconds for the units counted in real time.
    fn real_period(&self) -> Option<i128> {
        if self.unit == IntervalUnit::Hour && self.preserve_hour_of_day_across_daylight_savings {
            return None;
        }
        let secs = self.unit.fixed_seconds()?;
        Some(i128::from(secs) * i128::from(self.every) * NANOS_PER_SEC)
    }

    /// The wall time of occurrence `k` for the wall-clock units.
    fn wall_of(&self, k: u64) -> Option<NaiveDateTime> {
        let start = wall_clock(self.tz, self.start)?;
        let steps = k.checked_mul(u64::from(self.every))?;
        let add_months = |m: u64| {
            let date = start
                .date()
                .checked_add_months(Months::new(u32::try_from(m).ok()?))?;
            Some(date.and_time(start.time()))
        };
        match self.unit {
            IntervalUnit::Hour => {
                let hours = i64::try_from(steps).ok()?;
                start.checked_add_signed(TimeDelta::try_hours(hours)?)
            }
            IntervalUnit::Day => start.checked_add_days(Days::new(steps)),
            IntervalUnit::Week => start.checked_add_days(Days::new(steps.checked_mul(7)?)),
            IntervalUnit::Month => add_months(steps),
            IntervalUnit::Year => add_months(steps.checked_mul(12)?),
            IntervalUnit::Second | IntervalUnit::Minute => None,
        }
    }

    /// Occurrence `k` of a wall-clock unit; `None` beyond chrono's range.
    fn local_occurrence(&self, k: u64) -> Option<LocalInstant> {
        if k == 0 {
            // The start is an instant, so its wall time exists; keep it exactly
            // (it may be the later instant of a fold).
            return Some(LocalInstant::Exists {
                earliest: self.start,
                later: None,
            });
        }
        resolve_local(self.tz, self.wall_of(k)?)
    }

    /// Estimated index of the last occurrence at or before `after`, from the
    /// local distance divided by the interval (exact up to DST and clamping).
    fn estimate(&self, after: DateTime<Utc>) -> u64 {
        let (Some(s), Some(a)) = (wall_clock(self.tz, self.start), wall_clock(self.tz, after))
        else {
            return 0;
        };
        let every = i64::from(self.every);
        let months = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
        let k = match self.unit {
            IntervalUnit::Hour => (a - s).num_hours() / every,
            IntervalUnit::Day => (a.date() - s.date()).num_days() / every,
            IntervalUnit::Week => (a.date() - s.date()).num_days() / (7 * every),
            IntervalUnit::Month => (months(a.date()) - months(s.date())) / every,
            IntervalUnit::Year => (months(a.date()) - months(s.date())) / (12 * every),
            IntervalUnit::Second | IntervalUnit::Minute => 0,
        };
        u64::try_from(k).unwrap_or(0)
    }

    /// The first fire strictly later than `after`, or `None` when the schedule
    /// has ended (or the next fire is beyond chrono's range).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = match self.real_period() {
            Some(p) => {
                let start = instant_nanos(self.start);
                let after = instant_nanos(after);
                let k = if after < start {
                    0
                } else {
                    (after - start) / p + 1
                };
                instant_from_nanos(start.checked_add(k.checked_mul(p)?)?)?
            }
            None => self.next_wall_after(after)?,
        };
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    fn next_wall_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // The instant of occurrence k is non-decreasing in k (gap wall times map
        // to the transition), so "later than `after`" is monotone in k.
        let later = |k: u64| match self.local_occurrence(k) {
            Some(occ) => occ.earliest_or_transition() > after,
            None => true, // beyond chrono's range: treat as +infinity
        };
        let mut k = search_from_estimate(self.estimate(after), later)?;
        for _ in 0..=MAX_CONSECUTIVE_GAP_SKIPS {
            match self.local_occurrence(k)? {
                LocalInstant::Exists { earliest, .. } => return Some(earliest),
                LocalInstant::Gap { transition } => {
                    if !self.skip_day_if_hour_does_not_exist {
                        return Some(transition);
                    }
                    k = k.checked_add(1)?;
                }
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------
// DaysOfWeek

/// A set of days of the week, as a 7-bit set: bit 0 = Monday … bit 6 = Sunday
/// (chrono's `Weekday::num_days_from_monday`). Copy, ordered, cheap to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DaysOfWeek(u8);

impl DaysOfWeek {
    /// No day.
    pub const NONE: DaysOfWeek = DaysOfWeek(0);
    /// Every day.
    pub const ALL: DaysOfWeek = DaysOfWeek(0b111_1111);
    /// Monday to Friday.
    pub const MONDAY_TO_FRIDAY: DaysOfWeek = DaysOfWeek(0b001_1111);
    /// Saturday and Sunday.
    pub const SATURDAY_AND_SUNDAY: DaysOfWeek = DaysOfWeek(0b110_0000);

    /// The set of the given days (duplicates are harmless).
    pub fn from_weekdays(days: impl IntoIterator<Item = Weekday>) -> Self {
        days.into_iter()
            .fold(DaysOfWeek::NONE, |set, d| set.with(d))
    }

    /// This set plus `day`.
    pub const fn with(self, day: Weekday) -> Self {
        DaysOfWeek(self.0 | 1 << day.num_days_from_monday())
    }

    /// Adds `day`.
    pub fn insert(&mut self, day: Weekday) {
        *self = self.with(day);
    }

    /// Whether `day` is in the set.
    pub const fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// Whether no day is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of days in the set.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// The days in the set, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        const WEEK: [Weekday; 7] = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        WEEK.into_iter().filter(move |d| self.contains(*d))
    }
}

impl FromIterator<Weekday> for DaysOfWeek {
    fn from_iter<I: IntoIterator<Item = Weekday>>(iter: I) -> Self {
        DaysOfWeek::from_weekdays(iter)
    }
}

/// Parses a day name: three-letter (`"sat"`) or full (`"saturday"`),
/// case-insensitive.
pub fn parse_weekday(s: &str) -> Result<Weekday, IntervalError> {
    const NAMES: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    let lower = s.trim().to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(full, _)| lower == *full || (lower.len() == 3 && full.starts_with(lower.as_str())))
        .map(|(_, d)| *d)
        .ok_or_else(|| IntervalError::UnknownWeekday(s.to_owned()))
}

// ---------------------------------------------------------------------------
// DailyTimeIntervalSchedule

/// Quartz's `DailyTimeIntervalTrigger`: on the chosen days of the week, every
/// `every` seconds, minutes or hours from `start_time_of_day` up to and
/// including `end_time_of_day`, in the time zone `tz`, from `start` (inclusive)
/// until `end` (inclusive).
///
/// The slots of a day are the wall times `start_time_of_day + j * every * unit`
/// that are not after `end_time_of_day`; each day starts again at
/// `start_time_of_day`. A slot whose wall time falls in a DST gap is skipped; a
/// slot whose wall time occurs twice fires once, at the earlier instant.
///
/// **`repeat` is not enforced by [`next_after`](Self::next_after).** Quartz's
/// `repeatCount` depends on how many fires already happened, which a stateless
/// function cannot know in O(1) (it would have to count slots day by day,
/// minus the DST-skipped ones). The caller, which keeps the trigger's fire
/// count, checks [`repeat_exhausted`](Self::repeat_exhausted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyTimeIntervalSchedule {
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    tz: Tz,
    days_of_week: DaysOfWeek,
    start_time_of_day: NaiveTime,
    end_time_of_day: NaiveTime,
    every: u32,
    unit: IntervalUnit,
    repeat: Option<u32>,
}

impl DailyTimeIntervalSchedule {
    /// A validated schedule with no end and no repeat limit (see
    /// [`with_end`](Self::with_end) and [`with_repeat`](Self::with_repeat)).
    ///
    /// Errors: `unit` other than second, minute or hour; `every == 0`; no day of
    /// the week; `start_time_of_day > end_time_of_day`.
    pub fn new(
        start: DateTime<Utc>,
        tz: Tz,
        days_of_week: DaysOfWeek,
        start_time_of_day: NaiveTime,
        end_time_of_day: NaiveTime,
        every: u32,
        unit: IntervalUnit,
    ) -> Result<Self, IntervalError> {
        if unit.fixed_seconds().is_none() {
            return Err(IntervalError::UnitNotAllowed {
                unit,
                schedule: "a daily time interval",
                allowed: "second, minute, hour",
            });
        }
        if every == 0 {
            return Err(IntervalError::ZeroCount);
        }
        if days_of_week.is_empty() {
            return Err(IntervalError::NoDaysOfWeek);
        }
        if start_time_of_day > end_time_of_day {
            return Err(IntervalError::StartTimeAfterEndTime {
                start_time: start_time_of_day,
                end_time: end_time_of_day,
            });
        }
        Ok(DailyTimeIntervalSchedule {
            start,
            end: None,
            tz,
            days_of_week,
            start_time_of_day,
            end_time_of_day,
            every,
            unit,
            repeat: None,
        })
    }

    /// Sets the end (no fire after it); errors when it is before the start.
    pub fn with_end(mut self, end: Option<DateTime<Utc>>) -> Result<Self, IntervalError> {
        check_end(self.start, end)?;
        self.end = end;
        Ok(self)
    }

    /// Sets Quartz's `repeatCount` (fires after the first; `None` = forever).
    /// Informational: see the type docs.
    pub fn with_repeat(mut self, repeat: Option<u32>) -> Self {
        self.repeat = repeat;
        self
    }

    /// No fire before this instant.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }
    /// No fire after this instant.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.end
    }
    /// The time zone of the wall clock.
    pub fn tz(&self) -> Tz {
        self.tz
    }
    /// The days on which the schedule fires.
    pub fn days_of_week(&self) -> DaysOfWeek {
        self.days_of_week
    }
    /// First slot of each day.
    pub fn start_time_of_day(&self) -> NaiveTime {
        self.start_time_of_day
    }
    /// No slot after this time of day.
    pub fn end_time_of_day(&self) -> NaiveTime {
        self.end_time_of_day
    }
    /// Number of units between slots.
    pub fn every(&self) -> u32 {
        self.every
    }
    /// Second, minute or hour.
    pub fn unit(&self) -> IntervalUnit {
        self.unit
    }
    /// Quartz's `repeatCount` (not enforced by `next_after`).
    pub fn repeat(&self) -> Option<u32> {
        self.repeat
    }

    /// Whether a trigger that has fired `times_fired` times has used up its
    /// `repeat` count (`repeat + 1` fires in total).
    pub fn repeat_exhausted(&self, times_fired: u64) -> bool {
        self.repeat.is_some_and(|n| times_fired > u64::from(n))
    }

    fn step(&self) -> TimeDelta {
        // `unit` is Second/Minute/Hour (checked in `new`), so the product is at
        // most u32::MAX * 3600 s, far inside TimeDelta's range.
        TimeDelta::seconds(self.unit.fixed_seconds().unwrap_or(1) * i64::from(self.every))
    }

    /// Index of the last slot of a day.
    fn last_slot(&self) -> u64 {
        let window = delta_nanos(self.end_time_of_day - self.start_time_of_day);
        let step = delta_nanos(self.step()).max(1);
        u64::try_from(window / step).unwrap_or(0)
    }

    fn slot_wall(&self, day: NaiveDate, j: u64) -> Option<NaiveDateTime> {
        let offset = TimeDelta::try_seconds(
            self.step()
                .num_seconds()
                .checked_mul(i64::try_from(j).ok()?)?,
        )?;
        day.and_time(self.start_time_of_day)
            .checked_add_signed(offset)
    }

    /// The first fire strictly later than `after` (and not before `start`), or
    /// `None` past `end`. Scans at most [`DAILY_SCAN_DAYS`] local days, with a
    /// bisection over the slots of each day.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = after.max(self.start);
        // One day back covers folds that move the local date backwards.
        let first_day = wall_clock(self.tz, from)?.date().pred_opt()?;
        let wanted = |t: DateTime<Utc>| t > after && t >= self.start;
        for offset in 0..DAILY_SCAN_DAYS {
            let day = first_day.checked_add_days(Days::new(offset))?;
            if !self.days_of_week.contains(day.weekday()) {
                continue;
            }
            if let Some(t) = self.first_slot_on(day, &wanted) {
                return match self.end {
                    Some(end) if t > end => None,
                    _ => Some(t),
                };
            }
        }
        None
    }

    /// The first existing slot of `day` whose instant satisfies `wanted` (a
    /// monotone predicate on instants).
    fn first_slot_on(
        &self,
        day: NaiveDate,
        wanted: &impl Fn(DateTime<Utc>) -> bool,
    ) -> Option<DateTime<Utc>> {
        let last = self.last_slot();
        let slot = |j: u64| {
            self.slot_wall(day, j)
                .and_then(|w| resolve_local(self.tz, w))
        };
        let mut j = partition_point(0, last.saturating_add(1), |j| {
            slot(j).is_none_or(|s| wanted(s.earliest_or_transition()))
        });
        // Each round leaves one gap behind; a day holds at most a couple.
        for _ in 0..4 {
            if j > last {
                return None;
            }
            match slot(j)? {
                LocalInstant::Exists { earliest, .. } => return Some(earliest),
                LocalInstant::Gap { transition } => {
                    // Jump to the first slot whose wall time is at or after the
                    // end of the gap.
                    let gap_end = wall_clock(self.tz, transition)?;
                    let since = delta_nanos(gap_end - day.and_time(self.start_time_of_day));
                    let step = delta_nanos(self.step()).max(1);
                    let next = u64::try_from((since + step - 1) / step).ok()?;
                    j = next.max(j + 1);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        // Test literals are well-formed RFC 3339.
        DateTime::parse_from_rfc3339(s)
            .expect("valid test instant")
            .with_timezone(&Utc)
    }

    fn local(tz: Tz, s: &str) -> DateTime<Utc> {
        let naive =
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("valid test wall time");
        tz.from_local_datetime(&naive)
            .earliest()
            .expect("existing wall time")
            .with_timezone(&Utc)
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid test time")
    }

    /// The first `n` fires after `from`.
    fn take(
        n: usize,
        from: DateTime<Utc>,
        next: impl Fn(DateTime<Utc>) -> Option<DateTime<Utc>>,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = from;
        for _ in 0..n {
            match next(t) {
                Some(x) => {
                    out.push(x);
                    t = x;
                }
                None => break,
            }
        }
        out
    }

    fn in_zone(tz: Tz, v: &[DateTime<Utc>]) -> Vec<String> {
        v.iter()
            .map(|t| {
                t.with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M:%S %Z")
                    .to_string()
            })
            .collect()
    }

    // --- IntervalUnit ---------------------------------------------------

    #[test]
    fn unit_parse_display_serde() {
        for u in IntervalUnit::ALL {
            assert_eq!(u.to_string().parse::<IntervalUnit>(), Ok(u));
            let de: Result<IntervalUnit, serde::de::value::Error> =
                IntervalUnit::deserialize(serde::de::value::StrDeserializer::new(u.as_str()));
            assert_eq!(de, Ok(u));
        }
        assert_eq!("Minutes".parse::<IntervalUnit>(), Ok(IntervalUnit::Minute));
        let err = "fortnight".parse::<IntervalUnit>().unwrap_err();
        assert!(err.to_string().contains("fortnight"), "{err}");
    }

    // --- IntervalSchedule -----------------------------------------------

    #[test]
    fn interval_with_repeat_and_end() {
        let start = utc("2026-01-01T00:00:00Z");
        let s = IntervalSchedule::new(start, TimeDelta::minutes(15), None, Some(3)).expect("valid");
        let fires = take(10, utc("2025-12-31T00:00:00Z"), |t| s.next_after(t));
        assert_eq!(
            fires,
            vec![
                utc("2026-01-01T00:00:00Z"),
                utc("2026-01-01T00:15:00Z"),
                utc("2026-01-01T00:30:00Z"),
                utc("2026-01-01T00:45:00Z"),
            ]
        );
        assert_eq!(s.final_fire(), Some(utc("2026-01-01T00:45:00Z")));

        let s = IntervalSchedule::new(
            start,
            TimeDelta::minutes(15),
            Some(utc("2026-01-01T00:40:00Z")),
            None,
        )
        .expect("valid");
        assert_eq!(take(10, start, |t| s.next_after(t)).len(), 2); // 00:15, 00:30
        assert_eq!(
            s.next_after(utc("2026-01-01T00:07:00Z")),
            Some(utc("2026-01-01T00:15:00Z"))
        );
        assert_eq!(s.next_after(utc("2026-01-01T00:30:00Z")), None);
        // An end exactly on a fire includes it.
        let s = IntervalSchedule::new(
            start,
            TimeDelta::minutes(15),
            Some(utc("2026-01-01T00:30:00Z")),
            None,
        )
        .expect("valid");
        assert_eq!(
            s.next_after(utc("2026-01-01T00:15:00Z")),
            Some(utc("2026-01-01T00:30:00Z"))
        );
    }

    #[test]
    fn interval_counts_and_indexes() {
        let start = utc("2026-03-28T12:00:00Z");
        let s = IntervalSchedule::new(start, TimeDelta::hours(1), None, Some(10)).expect("valid");
        assert_eq!(
            s.fires_between(utc("2026-03-28T00:00:00Z"), utc("2026-03-28T12:00:00Z")),
            1
        );
        assert_eq!(s.fires_between(start, utc("2026-03-28T15:30:00Z")), 3);
        assert_eq!(s.fires_between(utc("2026-03-28T15:30:00Z"), start), 0);
        assert_eq!(
            s.fires_between(utc("2020-01-01T00:00:00Z"), utc("2030-01-01T00:00:00Z")),
            11
        );
        assert_eq!(s.index_of(start), Some(0));
        assert_eq!(s.index_of(utc("2026-03-28T17:00:00Z")), Some(5));
        assert_eq!(s.index_of(utc("2026-03-28T17:00:01Z")), None);
        assert_eq!(s.index_of(utc("2026-03-28T23:00:00Z")), None); // k = 11 > repeat
        assert_eq!(s.index_of(utc("2026-03-28T11:00:00Z")), None);
        // Real time: a DST change in some zone does not matter.
        let s = IntervalSchedule { repeat: None, ..s };
        assert_eq!(
            s.next_after(utc("2026-03-29T00:30:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-03-29T01:00:00Z")),
            Some(utc("2026-03-29T02:00:00Z"))
        );
    }

    #[test]
    fn interval_once_and_invalid() {
        let at = utc("2026-05-01T10:00:00Z");
        let s = IntervalSchedule::once(at);
        assert_eq!(s.next_after(utc("2026-05-01T09:59:59Z")), Some(at));
        assert_eq!(s.next_after(at), None);
        assert_eq!(s.final_fire(), Some(at));
        assert_eq!(
            s.fires_between(at - TimeDelta::days(1), at + TimeDelta::days(1)),
            1
        );
        assert!(matches!(
            IntervalSchedule::new(at, TimeDelta::zero(), None, None),
            Err(IntervalError::NonPositivePeriod(_))
        ));
        assert!(matches!(
            IntervalSchedule::new(
                at,
                TimeDelta::seconds(1),
                Some(at - TimeDelta::seconds(1)),
                None
            ),
            Err(IntervalError::EndBeforeStart { .. })
        ));
        // Hand-built invalid values stay total.
        let bad = IntervalSchedule {
            start: at,
            every: TimeDelta::seconds(-5),
            end: None,
            repeat: None,
        };
        assert_eq!(bad.next_after(at - TimeDelta::days(1)), Some(at));
        assert_eq!(bad.next_after(at), None);
        let bad = IntervalSchedule {
            end: Some(at - TimeDelta::days(1)),
            ..IntervalSchedule::once(at)
        };
        assert_eq!(bad.next_after(at - TimeDelta::days(2)), None);
        assert_eq!(bad.fires_between(at - TimeDelta::days(2), at), 0);
    }

    #[test]
    fn interval_extremes_do_not_panic() {
        let s = IntervalSchedule::new(DateTime::<Utc>::MIN_UTC, TimeDelta::MAX, None, None)
            .expect("valid");
        assert_eq!(s.next_after(DateTime::<Utc>::MIN_UTC), None);
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
        let s = IntervalSchedule::new(
            DateTime::<Utc>::MAX_UTC,
            TimeDelta::nanoseconds(1),
            None,
            None,
        )
        .expect("valid");
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(
            s.fires_between(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC),
            1
        );
    }

    #[test]
    fn zoned_schedules_at_the_ends_of_time_do_not_panic() {
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        for tz in [Berlin, New_York, chrono_tz::Pacific::Kiritimati] {
            for start in [min, max, utc("2026-01-31T12:00:00Z")] {
                for unit in IntervalUnit::ALL {
                    let s = CalendarIntervalSchedule::new(start, u32::MAX, unit, tz, None)
                        .expect("valid")
                        .with_preserve_hour_of_day_across_daylight_savings(true);
                    for at in [min, max, start] {
                        let _ = s.next_after(at);
                    }
                }
                let d = DailyTimeIntervalSchedule::new(
                    start,
                    tz,
                    DaysOfWeek::ALL,
                    hm(0, 0),
                    hm(23, 59),
                    u32::MAX,
                    IntervalUnit::Hour,
                )
                .expect("valid");
                for at in [min, max, start] {
                    let _ = d.next_after(at);
                }
            }
        }
    }

    // --- CalendarIntervalSchedule -----------------------------------------

    #[test]
    fn monthly_from_jan_31_clamps_without_drift() {
        let s = CalendarIntervalSchedule::new(
            local(Berlin, "2027-01-31 10:00:00"),
            1,
            IntervalUnit::Month,
            Berlin,
            None,
        )
        .expect("valid");
        let fires = take(6, local(Berlin, "2027-01-01 00:00:00"), |t| s.next_after(t));
        assert_eq!(
            in_zone(Berlin, &fires),
            [
                "2027-01-31 10:00:00 CET",
                "2027-02-28 10:00:00 CET",
                "2027-03-31 10:00:00 CEST",
                "2027-04-30 10:00:00 CEST",
                "2027-05-31 10:00:00 CEST",
                "2027-06-30 10:00:00 CEST",
            ]
        );
        // Leap year, asking from the middle (stateless).
        let s = CalendarIntervalSchedule::new(
            local(Berlin, "2027-01-31 10:00:00"),
            1,
            IntervalUnit::Month,
            Berlin,
            None,
        )
        .expect("valid");
        let fires = take(2, local(Berlin, "2028-01-31 10:00:00"), |t| s.next_after(t));
        assert_eq!(
            in_zone(Berlin, &fires),
            ["2028-02-29 10:00:00 CET", "2028-03-31 10:00:00 CEST"]
        );
    }

    #[test]
    fn yearly_from_feb_29() {
        let s = CalendarIntervalSchedule::new(
            local(New_York, "2024-02-29 12:00:00"),
            1,
            IntervalUnit::Year,
            New_York,
            None,
        )
        .expect("valid");
        let fires = take(5, local(New_York, "2024-01-01 00:00:00"), |t| {
            s.next_after(t)
        });
        assert_eq!(
            in_zone(New_York, &fires),
            [
                "2024-02-29 12:00:00 EST",
                "2025-02-28 12:00:00 EST",
                "2026-02-28 12:00:00 EST",
                "2027-02-28 12:00:00 EST",
                "2028-02-29 12:00:00 EST",
            ]
        );
        // Far ahead, still fast and exact.
        assert_eq!(
            in_zone(
                New_York,
                &[s.next_after(local(New_York, "2399-06-01 00:00:00"))
                    .expect("fires")]
            ),
            ["2400-02-29 12:00:00 EST"]
        );
    }

    #[test]
    fn daily_0230_across_berlin_spring_forward() {
        // 2026-03-29 02:00 CET -> 03:00 CEST in Berlin.
        let start = local(Berlin, "2026-03-27 02:30:00");
        let shift = CalendarIntervalSchedule::new(start, 1, IntervalUnit::Day, Berlin, None)
            .expect("valid");
        assert_eq!(
            in_zone(
                Berlin,
                &take(4, start - TimeDelta::seconds(1), |t| shift.next_after(t))
            ),
            [
                "2026-03-27 02:30:00 CET",
                "2026-03-28 02:30:00 CET",
                "2026-03-29 03:00:00 CEST", // first instant after the gap
                "2026-03-30 02:30:00 CEST",
            ]
        );
        let skip = shift.with_skip_day_if_hour_does_not_exist(true);
        assert_eq!(
            in_zone(
                Berlin,
                &take(3, start - TimeDelta::seconds(1), |t| skip.next_after(t))
            ),
            [
                "2026-03-27 02:30:00 CET",
                "2026-03-28 02:30:00 CET",
                "2026-03-30 02:30:00 CEST"
            ]
        );
        // Stateless from inside the skipped day.
        assert_eq!(
            in_zone(
                Berlin,
                &[skip
                    .next_after(local(Berlin, "2026-03-29 05:00:00"))
                    .expect("fires")]
            ),
            ["2026-03-30 02:30:00 CEST"]
        );
    }

    #[test]
    fn daily_0130_across_new_york_fall_back_takes_earlier() {
        // 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice.
        let start = local(New_York, "2026-10-31 01:30:00");
        let s = CalendarIntervalSchedule::new(start, 1, IntervalUnit::Day, New_York, None)
            .expect("valid");
        let fires = take(3, start - TimeDelta::seconds(1), |t| s.next_after(t));
        assert_eq!(
            fires,
            vec![
                utc("2026-10-31T05:30:00Z"),
                utc("2026-11-01T05:30:00Z"),
                utc("2026-11-02T06:30:00Z")
            ]
        );
        // Asking from between the two 01:30s does not fire the later one.
        assert_eq!(
            s.next_after(utc("2026-11-01T06:00:00Z")),
            Some(utc("2026-11-02T06:30:00Z"))
        );
    }

    #[test]
    fn weekly_keeps_wall_time() {
        let start = local(Berlin, "2026-03-23 09:00:00"); // Monday
        let s = CalendarIntervalSchedule::new(
            start,
            2,
            IntervalUnit::Week,
            Berlin,
            Some(local(Berlin, "2026-05-04 09:00:00")),
        )
        .expect("valid");
        assert_eq!(
            in_zone(
                Berlin,
                &take(10, start - TimeDelta::days(30), |t| s.next_after(t))
            ),
            [
                "2026-03-23 09:00:00 CET",
                "2026-04-06 09:00:00 CEST",
                "2026-04-20 09:00:00 CEST",
                "2026-05-04 09:00:00 CEST",
            ]
        );
    }

    #[test]
    fn every_5_hours_across_dst_with_and_without_preserve() {
        let start = local(Berlin, "2026-03-28 20:00:00");
        let real = CalendarIntervalSchedule::new(start, 5, IntervalUnit::Hour, Berlin, None)
            .expect("valid");
        assert_eq!(
            in_zone(
                Berlin,
                &take(4, start - TimeDelta::seconds(1), |t| real.next_after(t))
            ),
            [
                "2026-03-28 20:00:00 CET",
                "2026-03-29 01:00:00 CET",
                "2026-03-29 07:00:00 CEST",
                "2026-03-29 12:00:00 CEST",
            ]
        );
        let wall = real.with_preserve_hour_of_day_across_daylight_savings(true);
        assert_eq!(
            in_zone(
                Berlin,
                &take(4, start - TimeDelta::seconds(1), |t| wall.next_after(t))
            ),
            [
                "2026-03-28 20:00:00 CET",
                "2026-03-29 01:00:00 CET",
                "2026-03-29 06:00:00 CEST",
                "2026-03-29 11:00:00 CEST",
            ]
        );
        // Wall-clock hours landing in the gap: shifted or skipped.
        let start = local(Berlin, "2026-03-28 21:30:00");
        let wall = CalendarIntervalSchedule::new(start, 5, IntervalUnit::Hour, Berlin, None)
            .expect("valid")
            .with_preserve_hour_of_day_across_daylight_savings(true);
        assert_eq!(
            in_zone(Berlin, &take(2, start, |t| wall.next_after(t))),
            ["2026-03-29 03:00:00 CEST", "2026-03-29 07:30:00 CEST"]
        );
        let skip = wall.with_skip_day_if_hour_does_not_exist(true);
        assert_eq!(
            in_zone(Berlin, &take(2, start, |t| skip.next_after(t))),
            ["2026-03-29 07:30:00 CEST", "2026-03-29 12:30:00 CEST"]
        );
    }

    #[test]
    fn calendar_interval_real_time_units_and_end() {
        let start = utc("2026-01-01T00:00:10Z");
        let s = CalendarIntervalSchedule::new(
            start,
            90,
            IntervalUnit::Second,
            Berlin,
            Some(utc("2026-01-01T00:05:00Z")),
        )
        .expect("valid");
        assert_eq!(
            take(10, utc("2025-01-01T00:00:00Z"), |t| s.next_after(t)),
            vec![
                start,
                utc("2026-01-01T00:01:40Z"),
                utc("2026-01-01T00:03:10Z"),
                utc("2026-01-01T00:04:40Z"),
            ]
        );
        assert!(matches!(
            CalendarIntervalSchedule::new(start, 0, IntervalUnit::Day, Berlin, None),
            Err(IntervalError::ZeroCount)
        ));
    }

    // --- DailyTimeIntervalSchedule -----------------------------------------

    #[test]
    fn daily_time_weekdays_across_weekend_and_dst() {
        // Fri 2026-03-27 .. Mon 2026-03-30; Berlin springs forward Sun 03-29.
        let s = DailyTimeIntervalSchedule::new(
            local(Berlin, "2026-03-01 00:00:00"),
            Berlin,
            DaysOfWeek::MONDAY_TO_FRIDAY,
            hm(9, 0),
            hm(17, 0),
            30,
            IntervalUnit::Minute,
        )
        .expect("valid");
        let fri = take(17, local(Berlin, "2026-03-27 08:00:00"), |t| {
            s.next_after(t)
        });
        assert_eq!(fri.len(), 17);
        assert_eq!(in_zone(Berlin, &fri[..1]), ["2026-03-27 09:00:00 CET"]);
        assert_eq!(in_zone(Berlin, &fri[16..]), ["2026-03-27 17:00:00 CET"]);
        let after_weekend = take(2, fri[16], |t| s.next_after(t));
        assert_eq!(
            in_zone(Berlin, &after_weekend),
            ["2026-03-30 09:00:00 CEST", "2026-03-30 09:30:00 CEST"]
        );
        assert_eq!(after_weekend[0] - fri[16], TimeDelta::hours(63)); // 64 h of wall clock less the lost hour
        // From the middle of a slot and from the weekend.
        assert_eq!(
            s.next_after(local(Berlin, "2026-03-30 10:10:00")),
            Some(local(Berlin, "2026-03-30 10:30:00"))
        );
        assert_eq!(
            s.next_after(local(Berlin, "2026-03-29 12:00:00")),
            Some(local(Berlin, "2026-03-30 09:00:00"))
        );
    }

    #[test]
    fn daily_time_gap_skipped_and_fold_once() {
        let every_30 = |tz: Tz, from: &str| {
            DailyTimeIntervalSchedule::new(
                local(tz, from),
                tz,
                DaysOfWeek::ALL,
                hm(1, 0),
                hm(4, 0),
                30,
                IntervalUnit::Minute,
            )
            .expect("valid")
        };
        let s = every_30(Berlin, "2026-03-29 00:00:00");
        assert_eq!(
            in_zone(
                Berlin,
                &take(5, local(Berlin, "2026-03-29 00:00:00"), |t| s.next_after(t))
            ),
            [
                "2026-03-29 01:00:00 CET",
                "2026-03-29 01:30:00 CET",
                "2026-03-29 03:00:00 CEST",
                "2026-03-29 03:30:00 CEST",
                "2026-03-29 04:00:00 CEST",
            ]
        );
        let s = every_30(New_York, "2026-11-01 00:00:00");
        let fires = take(6, local(New_York, "2026-11-01 00:00:00"), |t| {
            s.next_after(t)
        });
        assert_eq!(
            fires,
            vec![
                utc("2026-11-01T05:00:00Z"), // 01:00 EDT
                utc("2026-11-01T05:30:00Z"), // 01:30 EDT
                utc("2026-11-01T07:00:00Z"), // 02:00 EST
                utc("2026-11-01T07:30:00Z"),
                utc("2026-11-01T08:00:00Z"),
                utc("2026-11-01T08:30:00Z"), // 03:30 EST
            ]
        );
        // From inside the second pass of the fold: no repeat of 01:30.
        assert_eq!(
            s.next_after(utc("2026-11-01T06:10:00Z")),
            Some(utc("2026-11-01T07:00:00Z"))
        );
    }

    #[test]
    fn daily_time_start_end_and_errors() {
        let start = local(Berlin, "2026-06-10 12:10:00");
        let s = DailyTimeIntervalSchedule::new(
            start,
            Berlin,
            DaysOfWeek::ALL,
            hm(12, 0),
            hm(12, 45),
            15,
            IntervalUnit::Minute,
        )
        .expect("valid")
        .with_end(Some(local(Berlin, "2026-06-11 12:15:00")))
        .expect("valid end")
        .with_repeat(Some(3));
        assert_eq!(
            in_zone(
                Berlin,
                &take(10, start - TimeDelta::days(3), |t| s.next_after(t))
            ),
            [
                "2026-06-10 12:15:00 CEST",
                "2026-06-10 12:30:00 CEST",
                "2026-06-10 12:45:00 CEST",
                "2026-06-11 12:00:00 CEST",
                "2026-06-11 12:15:00 CEST",
            ]
        );
        assert!(!s.repeat_exhausted(3));
        assert!(s.repeat_exhausted(4));
        let new = |days, from, to, every, unit| {
            DailyTimeIntervalSchedule::new(start, Berlin, days, from, to, every, unit)
        };
        assert!(matches!(
            new(DaysOfWeek::ALL, hm(9, 0), hm(17, 0), 1, IntervalUnit::Day),
            Err(IntervalError::UnitNotAllowed {
                unit: IntervalUnit::Day,
                ..
            })
        ));
        assert!(matches!(
            new(DaysOfWeek::NONE, hm(9, 0), hm(17, 0), 1, IntervalUnit::Hour),
            Err(IntervalError::NoDaysOfWeek)
        ));
        assert!(matches!(
            new(DaysOfWeek::ALL, hm(18, 0), hm(17, 0), 1, IntervalUnit::Hour),
            Err(IntervalError::StartTimeAfterEndTime { .. })
        ));
        assert!(matches!(
            new(DaysOfWeek::ALL, hm(9, 0), hm(17, 0), 0, IntervalUnit::Hour),
            Err(IntervalError::ZeroCount)
        ));
        let msg = new(DaysOfWeek::ALL, hm(9, 0), hm(17, 0), 1, IntervalUnit::Week)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "unit week is not allowed for a daily time interval: expected one of second, minute, hour"
        );
    }

    #[test]
    fn days_of_week_set_and_names() {
        let set = DaysOfWeek::from_weekdays([Weekday::Sat, Weekday::Sun, Weekday::Sat]);
        assert_eq!(set, DaysOfWeek::SATURDAY_AND_SUNDAY);
        assert_eq!(set.len(), 2);
        assert_eq!(set.iter().collect::<Vec<_>>(), [Weekday::Sat, Weekday::Sun]);
        assert_eq!(parse_weekday("SAT"), Ok(Weekday::Sat));
        assert_eq!(parse_weekday("Thursday"), Ok(Weekday::Thu));
        assert!(parse_weekday("thurs").is_err());
        assert!(parse_weekday("").is_err());
    }

    // --- properties ----------------------------------------------------------

    const ZONES: [Tz; 5] = [
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Lord_Howe, // 30-minute DST shift
        chrono_tz::Pacific::Apia,        // skipped a whole day in 2011
        chrono_tz::UTC,
    ];

    fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 2005..2035, second resolution plus some sub-second starts.
        (
            1_104_537_600i64..2_051_222_400i64,
            prop_oneof![Just(0u32), 0u32..1_000_000_000],
        )
            .prop_map(|(s, ns)| {
                DateTime::from_timestamp(s, ns).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
            })
    }

    /// next_after is strictly increasing and stateless: with a = next(x) and
    /// b = next(a), every t in [a, b) gives b.
    fn check_stateless(
        next: impl Fn(DateTime<Utc>) -> Option<DateTime<Utc>>,
        x: DateTime<Utc>,
        frac: f64,
    ) -> Result<(), TestCaseError> {
        let Some(a) = next(x) else { return Ok(()) };
        prop_assert!(a > x);
        let Some(b) = next(a) else { return Ok(()) };
        prop_assert!(b > a, "not increasing: {a} then {b}");
        let span = (b - a).num_nanoseconds().unwrap_or(i64::MAX) as f64;
        let t = a + TimeDelta::nanoseconds((span * frac) as i64);
        if t < b {
            prop_assert_eq!(next(t), Some(b), "from {}", t);
        }
        prop_assert_eq!(next(b - TimeDelta::nanoseconds(1)), Some(b));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn prop_interval(start in arb_instant(), every in 1i64..10_000_000, repeat in proptest::option::of(0u32..50),
                         x in arb_instant(), frac in 0.0f64..1.0) {
            let s = IntervalSchedule::new(start, TimeDelta::milliseconds(every), None, repeat).expect("valid");
            check_stateless(|t| s.next_after(t), x, frac)?;
            if let Some(a) = s.next_after(x) {
                prop_assert!(s.index_of(a).is_some());
                prop_assert_eq!(s.fires_between(x, a), 1);
            }
        }

        #[test]
        fn prop_calendar_interval(start in arb_instant(), every in 1u32..40, unit in 0usize..7, zone in 0usize..5,
                                  preserve: bool, skip: bool, x in arb_instant(), frac in 0.0f64..1.0) {
            let s = CalendarIntervalSchedule::new(start, every, IntervalUnit::ALL[unit], ZONES[zone], None)
                .expect("valid")
                .with_preserve_hour_of_day_across_daylight_savings(preserve)
                .with_skip_day_if_hour_does_not_exist(skip);
            check_stateless(|t| s.next_after(t), x, frac)?;
        }

        #[test]
        fn prop_daily_time(start in arb_instant(), days in 1u8..128, from_min in 0u32..1440, len in 0u32..1440,
                           every in 1u32..200, unit in 0usize..3, zone in 0usize..5, x in arb_instant(), frac in 0.0f64..1.0) {
            let from = NaiveTime::from_num_seconds_from_midnight_opt(from_min * 60, 0).expect("in range");
            let to = NaiveTime::from_num_seconds_from_midnight_opt(((from_min + len).min(1439)) * 60 + 59, 0).expect("in range");
            let s = DailyTimeIntervalSchedule::new(start, ZONES[zone], DaysOfWeek(days), from, to, every, IntervalUnit::ALL[unit])
                .expect("valid");
            check_stateless(|t| s.next_after(t), x, frac)?;
        }
    }
}
