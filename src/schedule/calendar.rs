//! Exclusion calendars: the time math behind Quartz's `HolidayCalendar`,
//! `AnnualCalendar`, `WeeklyCalendar`, `MonthlyCalendar`, `DailyCalendar` and
//! `CronCalendar`.
//!
//! This module owns:
//!
//! - [`Calendar`]: a named set of [`CalendarRule`]s evaluated against the local
//!   wall-clock time of an instant in the calendar's time zone; an instant is
//!   excluded when any rule excludes it.
//! - [`CalendarSet`]: the calendars a trigger names, combined (excluded by any).
//! - [`next_allowed`]: the helper the scheduler uses to find a trigger's next
//!   fire that no calendar excludes, with a fixed bound on the work done.
//! - [`CalendarDef`]: the serde form stored as JSON in `calendars.definition`
//!   and written in TOML as `[[calendar]]` tables, and its validation
//!   ([`CalendarDef::compile`], [`CalendarError`]).
//!
//! Every search here is bounded: [`Calendar::next_included_time`] looks at most
//! [`HORIZON_DAYS`] ahead and evaluates rules at most [`MAX_PROBES`] times, and
//! [`next_allowed`] gives up after [`MAX_EXCLUDED_CANDIDATES`] excluded fires,
//! so a calendar that excludes everything cannot hang the scheduler.
//!
//! Nothing here performs I/O or reads a clock.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::cron::{CronError, CronExpr, Dialect};
use super::interval::{DaysOfWeek, parse_weekday, resolve_local, wall_clock};

/// How far ahead [`Calendar::next_included_time`] looks: about ten years.
pub const HORIZON_DAYS: i64 = 3653;

/// Most rule evaluations (including cron probes) one
/// [`Calendar::next_included_time`] call may spend before giving up.
pub const MAX_PROBES: u32 = 2_000_000;

/// Most excluded candidate fires [`next_allowed`] examines before giving up.
pub const MAX_EXCLUDED_CANDIDATES: u32 = 100_000;

/// One exclusion rule, evaluated on the local wall-clock time of an instant.
#[derive(Debug, Clone)]
pub enum CalendarRule {
    /// Whole local days (holidays).
    Dates(BTreeSet<NaiveDate>),
    /// Whole local days every year, as `(month, day)`; `(2, 29)` only matches
    /// in leap years.
    Annual(BTreeSet<(u32, u32)>),
    /// Whole local days of the week.
    DaysOfWeek(DaysOfWeek),
    /// Whole local days of the month, `1..=31` (a day that a month lacks never
    /// matches in it; other numbers never match).
    DaysOfMonth(BTreeSet<u32>),
    /// Times of day in `[from, to)`; when `from > to` the range wraps midnight
    /// (`22:00..06:00`). With `invert`, the times outside the range are
    /// excluded instead. `from == to` is an empty range (nothing excluded, or
    /// everything when inverted); [`CalendarDef::compile`] rejects it.
    DailyRange {
        /// Start of the range (inclusive).
        from: NaiveTime,
        /// End of the range (exclusive).
        to: NaiveTime,
        /// Exclude outside the range instead of inside.
        invert: bool,
    },
    /// Instants whose local time, to the second, matches the expression.
    Cron(CronExpr),
}

impl CalendarRule {
    /// Whether this rule excludes the local wall-clock time `wall`.
    pub fn excludes_local(&self, wall: NaiveDateTime) -> bool {
        let date = wall.date();
        match self {
            CalendarRule::Dates(dates) => dates.contains(&date),
            CalendarRule::Annual(days) => days.contains(&(date.month(), date.day())),
            CalendarRule::DaysOfWeek(days) => days.contains(date.weekday()),
            CalendarRule::DaysOfMonth(days) => days.contains(&date.day()),
            CalendarRule::DailyRange { from, to, invert } => {
                in_daily_range(wall.time(), *from, *to) != *invert
            }
            CalendarRule::Cron(expr) => expr.matches_local(truncate_to_second(wall)),
        }
    }
}

fn in_daily_range(t: NaiveTime, from: NaiveTime, to: NaiveTime) -> bool {
    if from <= to {
        from <= t && t < to
    } else {
        t >= from || t < to
    }
}

fn truncate_to_second(wall: NaiveDateTime) -> NaiveDateTime {
    // Zero nanoseconds is always valid.
    wall.with_nanosecond(0).unwrap_or(wall)
}

/// A bounded allowance of rule evaluations.
struct Budget(u32);

impl Budget {
    /// Spends one evaluation; false when none is left.
    fn spend(&mut self) -> bool {
        match self.0.checked_sub(1) {
            Some(left) => {
                self.0 = left;
                true
            }
            None => false,
        }
    }
}

/// An exclusion calendar: an instant is excluded when any rule excludes its
/// local wall-clock time in `tz`.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// Unique name, as triggers refer to it.
    pub name: String,
    /// Zone of the wall clock the rules see.
    pub tz: Tz,
    /// The rules; an empty list excludes nothing.
    pub rules: Vec<CalendarRule>,
}

impl Calendar {
    /// Whether any rule excludes `t`.
    pub fn is_excluded(&self, t: DateTime<Utc>) -> bool {
        let Some(wall) = wall_clock(self.tz, t) else {
            return false; // outside chrono's range: no local day to exclude
        };
        self.rules.iter().any(|r| r.excludes_local(wall))
    }

    /// The first instant `>= t` that is not excluded, or `None` if there is
    /// none within [`HORIZON_DAYS`] (or the search spent [`MAX_PROBES`]).
    ///
    /// Jumps from the start of each excluded stretch to its end (the next local
    /// midnight, the end of a daily range, the end of a run of matching cron
    /// seconds), so it takes one step per excluded day rather than per second.
    pub fn next_included_time(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = t
            .checked_add_signed(TimeDelta::days(HORIZON_DAYS))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut budget = Budget(MAX_PROBES);
        let mut c = t;
        while c <= horizon && budget.spend() {
            let wall = wall_clock(self.tz, c)?;
            let mut until: Option<DateTime<Utc>> = None;
            for rule in &self.rules {
                if rule.excludes_local(wall) {
                    // Every rule that excludes `c` excludes [c, its end), so
                    // the union reaches the latest of those ends.
                    let end = self.exclusion_end(rule, wall, c, &mut budget)?;
                    until = Some(until.map_or(end, |u| u.max(end)));
                }
            }
            match until {
                None => return Some(c),
                // Guarantee progress even if a rule's end is not later.
                Some(u) => c = u.max(c.checked_add_signed(TimeDelta::nanoseconds(1))?),
            }
        }
        None
    }

    /// The first instant after `c` at which `rule` (which excludes `c`, whose
    /// wall time is `wall`) may stop excluding; `None` when it never does or
    /// the budget ran out.
    fn exclusion_end(
        &self,
        rule: &CalendarRule,
        wall: NaiveDateTime,
        c: DateTime<Utc>,
        budget: &mut Budget,
    ) -> Option<DateTime<Utc>> {
        let date = wall.date();
        let next_day = |time: NaiveTime| {
            date.checked_add_days(Days::new(1))
                .map(|d| d.and_time(time))
        };
        let end_wall = match rule {
            CalendarRule::Dates(_)
            | CalendarRule::Annual(_)
            | CalendarRule::DaysOfWeek(_)
            | CalendarRule::DaysOfMonth(_) => next_day(NaiveTime::MIN)?,
            CalendarRule::DailyRange { from, to, invert } => {
                let (from, to, tod) = (*from, *to, wall.time());
                match (*invert, from <= to) {
                    (_, _) if from == to => return None, // inverted empty range: excludes all
                    (false, true) => date.and_time(to),
                    (false, false) if tod >= from => next_day(to)?,
                    (false, false) => date.and_time(to),
                    (true, true) if tod < from => date.and_time(from),
                    (true, true) => next_day(from)?,
                    (true, false) => date.and_time(from),
                }
            }
            CalendarRule::Cron(expr) => cron_run_end(expr, wall, budget)?,
        };
        let end = resolve_local(self.tz, end_wall).and_then(|l| l.first_after(c));
        end.or_else(|| c.checked_add_signed(TimeDelta::seconds(1)))
    }
}

/// The first wall time after `wall` that `expr` does not match, given that it
/// matches `wall`.
///
/// Cron matching is a product of independent fields: for a fixed date, a wall
/// time matches iff its hour, minute and second each match. So when all 60
/// seconds of the current minute match, every matching minute is whole and the
/// run can be walked minute by minute; likewise hour by hour when all minutes
/// of the hour match. A weekend-long exclusion takes ~48 steps, not 172 800.
fn cron_run_end(
    expr: &CronExpr,
    wall: NaiveDateTime,
    budget: &mut Budget,
) -> Option<NaiveDateTime> {
    let wall = truncate_to_second(wall);
    let minute_start = wall.with_second(0)?;
    let hour_start = minute_start.with_minute(0)?;
    let mut matches =
        |t: NaiveDateTime| -> Option<bool> { budget.spend().then(|| expr.matches_local(t)) };
    let mut all_match = |start: NaiveDateTime, step: TimeDelta| -> Option<bool> {
        for i in 0..60 {
            if !matches(start.checked_add_signed(step * i)?)? {
                return Some(false);
            }
        }
        Some(true)
    };
    let (mut t, step) = if !all_match(minute_start, TimeDelta::seconds(1))? {
        (wall, TimeDelta::seconds(1))
    } else if !all_match(hour_start, TimeDelta::minutes(1))? {
        (minute_start, TimeDelta::minutes(1))
    } else {
        (hour_start, TimeDelta::hours(1))
    };
    // Bounded by the budget: each step spends one probe.
    loop {
        t = t.checked_add_signed(step)?;
        if !matches(t)? {
            return Some(t);
        }
    }
}

/// The calendars a trigger names, combined: an instant is excluded when any of
/// them excludes it. An empty set excludes nothing.
#[derive(Debug, Clone, Default)]
pub struct CalendarSet(pub Vec<Arc<Calendar>>);

impl CalendarSet {
    /// A set of the given calendars.
    pub fn new(calendars: Vec<Arc<Calendar>>) -> Self {
        CalendarSet(calendars)
    }

    /// Whether any calendar excludes `t`.
    pub fn is_excluded(&self, t: DateTime<Utc>) -> bool {
        self.0.iter().any(|c| c.is_excluded(t))
    }

    /// Whether the set holds no calendar.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The calendars, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Calendar>> {
        self.0.iter()
    }

    /// The first instant `>= t` that no calendar excludes, or `None` if there
    /// is none within [`HORIZON_DAYS`] of `t` (see
    /// [`Calendar::next_included_time`]).
    pub fn next_included_time(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = t
            .checked_add_signed(TimeDelta::days(HORIZON_DAYS))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut c = t;
        // Each round either settles or moves `c` past an excluded stretch of
        // some calendar; the round count bounds pathological interleavings.
        for _ in 0..10_000 {
            if c > horizon {
                return None;
            }
            let mut moved = false;
            for cal in &self.0 {
                let n = cal.next_included_time(c)?;
                if n > c {
                    c = n;
                    moved = true;
                }
            }
            if !moved {
                return Some(c);
            }
        }
        None
    }
}

impl From<Vec<Arc<Calendar>>> for CalendarSet {
    fn from(calendars: Vec<Arc<Calendar>>) -> Self {
        CalendarSet(calendars)
    }
}

impl FromIterator<Arc<Calendar>> for CalendarSet {
    fn from_iter<I: IntoIterator<Item = Arc<Calendar>>>(iter: I) -> Self {
        CalendarSet(iter.into_iter().collect())
    }
}

/// The next fire of a schedule strictly after `after` that no calendar in
/// `calendars` excludes.
///
/// `next` gives the schedule's first fire strictly after an instant (e.g.
/// `|t| schedule.next_after(t)`). When a candidate is excluded, the search
/// resumes from the end of the excluded stretch (so an every-second schedule
/// over an excluded weekend costs a few steps, not 172 800).
///
/// Returns `None` when the schedule ends, when no instant is included within
/// [`HORIZON_DAYS`] of an excluded candidate, when `next` fails to move forward,
/// or after [`MAX_EXCLUDED_CANDIDATES`] excluded candidates.
pub fn next_allowed(
    after: DateTime<Utc>,
    calendars: &CalendarSet,
    next: impl Fn(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let mut cur = after;
    for _ in 0..=MAX_EXCLUDED_CANDIDATES {
        let candidate = next(cur)?;
        if candidate <= cur {
            return None; // the schedule did not move forward; refuse to spin
        }
        if !calendars.is_excluded(candidate) {
            return Some(candidate);
        }
        // [candidate, included) is excluded: resume just before `included`.
        let included = calendars.next_included_time(candidate)?;
        cur = included
            .checked_sub_signed(TimeDelta::nanoseconds(1))
            .unwrap_or(candidate)
            .max(candidate);
    }
    None
}

// ---------------------------------------------------------------------------
// Definitions (storage and TOML)

/// A daily time range in a [`CalendarDef`]: `{ from = "22:00", to = "06:00",
/// invert = false }`. Times are `HH:MM` or `HH:MM:SS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyRangeDef {
    /// Start of the excluded range (inclusive).
    pub from: String,
    /// End of the excluded range (exclusive); before `from` wraps midnight.
    pub to: String,
    /// Exclude the times outside the range instead.
    #[serde(default)]
    pub invert: bool,
}

/// The stored and configured form of a calendar: JSON in
/// `calendars.definition`, a `[[calendar]]` table in TOML. Validate and turn it
/// into a [`Calendar`] with [`CalendarDef::compile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarDef {
    /// Unique name, as triggers refer to it.
    pub name: String,
    /// IANA zone; `None` = the caller's default zone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Excluded local days, `"2026-12-25"`.
    #[serde(default)]
    pub dates: Vec<String>,
    /// Excluded days every year, `"12-25"` (MM-DD).
    #[serde(default)]
    pub annual: Vec<String>,
    /// Excluded days of the week, `"sat"` or `"saturday"` (any case).
    #[serde(default)]
    pub days_of_week: Vec<String>,
    /// Excluded days of the month, `1..=31`.
    #[serde(default)]
    pub days_of_month: Vec<u32>,
    /// Excluded times of day.
    #[serde(default)]
    pub daily_range: Option<DailyRangeDef>,
    /// Quartz-dialect cron expressions whose matching instants are excluded.
    #[serde(default)]
    pub cron: Vec<String>,
}

/// An invalid [`CalendarDef`]. Each variant names the calendar, and where it
/// applies the key, the bad value and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The name is empty or blank.
    #[error("calendar name must not be empty")]
    EmptyName,
    /// A value that does not parse or is out of range.
    #[error("calendar {calendar:?}: {key} = {value}: expected {expected}")]
    InvalidValue {
        /// The calendar's name.
        calendar: String,
        /// The key, with its index for lists (`dates[2]`).
        key: String,
        /// The value as written (strings in quotes).
        value: String,
        /// What the key accepts.
        expected: &'static str,
    },
    /// A time zone that is not in the IANA database.
    #[error("calendar {calendar:?}: timezone = {value:?}: unknown IANA time zone{}",
            suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    UnknownTimeZone {
        /// The calendar's name.
        calendar: String,
        /// The rejected zone name.
        value: String,
        /// The closest known zone name, if one is close.
        suggestion: Option<String>,
    },
    /// A cron expression that does not parse.
    #[error("calendar {calendar:?}: cron[{index}] = {value:?}: {source}")]
    InvalidCron {
        /// The calendar's name.
        calendar: String,
        /// Position in the `cron` list.
        index: usize,
        /// The rejected expression.
        value: String,
        /// The parser's reason.
        #[source]
        source: CronError,
    },
}

impl CalendarDef {
    /// Validates the definition and builds the calendar; `default_tz` applies
    /// when `timezone` is not set. Reports the first fault found.
    pub fn compile(&self, default_tz: Tz) -> Result<Calendar, CalendarError> {
        let name = self.name.as_str();
        if name.trim().is_empty() {
            return Err(CalendarError::EmptyName);
        }
        let tz = match &self.timezone {
            None => default_tz,
            Some(zone) => zone
                .parse::<Tz>()
                .map_err(|_| CalendarError::UnknownTimeZone {
                    calendar: name.to_owned(),
                    value: zone.clone(),
                    suggestion: suggest_zone(zone),
                })?,
        };
        let mut rules = self.day_rules()?;
        if let Some(rule) = self.daily_range_rule()? {
            rules.push(rule);
        }
        for (index, src) in self.cron.iter().enumerate() {
            let expr = CronExpr::parse(src, Dialect::Quartz).map_err(|source| {
                CalendarError::InvalidCron {
                    calendar: name.to_owned(),
                    index,
                    value: src.clone(),
                    source,
                }
            })?;
            rules.push(CalendarRule::Cron(expr));
        }
        Ok(Calendar {
            name: name.to_owned(),
            tz,
            rules,
        })
    }

    fn invalid(&self, key: String, value: String, expected: &'static str) -> CalendarError {
        CalendarError::InvalidValue {
            calendar: self.name.clone(),
            key,
            value,
            expected,
        }
    }

    /// The rules that exclude whole days: dates, annual days, days of the
    /// week and of the month.
    fn day_rules(&self) -> Result<Vec<CalendarRule>, CalendarError> {
        let mut rules = Vec::new();
        if !self.dates.is_empty() {
            let mut dates = BTreeSet::new();
            for (i, s) in self.dates.iter().enumerate() {
                let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                    self.invalid(format!("dates[{i}]"), format!("{s:?}"), "a date YYYY-MM-DD")
                })?;
                dates.insert(date);
            }
            rules.push(CalendarRule::Dates(dates));
        }
        if !self.annual.is_empty() {
            let mut days = BTreeSet::new();
            for (i, s) in self.annual.iter().enumerate() {
                let day = parse_month_day(s).ok_or_else(|| {
                    self.invalid(
                        format!("annual[{i}]"),
                        format!("{s:?}"),
                        "a day of the year MM-DD",
                    )
                })?;
                days.insert(day);
            }
            rules.push(CalendarRule::Annual(days));
        }
        if !self.days_of_week.is_empty() {
            let mut days = DaysOfWeek::NONE;
            for (i, s) in self.days_of_week.iter().enumerate() {
                let day = parse_weekday(s).map_err(|_| {
                    self.invalid(
                        format!("days_of_week[{i}]"),
                        format!("{s:?}"),
                        "a day name: mon..sun or monday..sunday",
                    )
                })?;
                days.insert(day);
            }
            rules.push(CalendarRule::DaysOfWeek(days));
        }
        if !self.days_of_month.is_empty() {
            let mut days = BTreeSet::new();
            for (i, d) in self.days_of_month.iter().enumerate() {
                if !(1..=31).contains(d) {
                    return Err(self.invalid(
                        format!("days_of_month[{i}]"),
                        d.to_string(),
                        "a day of the month 1..=31",
                    ));
                }
                days.insert(*d);
            }
            rules.push(CalendarRule::DaysOfMonth(days));
        }
        Ok(rules)
    }

    /// The `daily_range` rule, if any.
    fn daily_range_rule(&self) -> Result<Option<CalendarRule>, CalendarError> {
        let Some(range) = &self.daily_range else {
            return Ok(None);
        };
        const EXPECTED_TIME: &str = "a time of day HH:MM or HH:MM:SS";
        let from = parse_time_of_day(&range.from).ok_or_else(|| {
            self.invalid(
                "daily_range.from".into(),
                format!("{:?}", range.from),
                EXPECTED_TIME,
            )
        })?;
        let to = parse_time_of_day(&range.to).ok_or_else(|| {
            self.invalid(
                "daily_range.to".into(),
                format!("{:?}", range.to),
                EXPECTED_TIME,
            )
        })?;
        if from == to {
            return Err(self.invalid(
                "daily_range.to".into(),
                format!("{:?}", range.to),
                "a time of day different from daily_range.from",
            ));
        }
        Ok(Some(CalendarRule::DailyRange {
            from,
            to,
            invert: range.invert,
        }))
    }
}

/// `"MM-DD"` (one or two digits each) for a day that exists in a leap year.
fn parse_month_day(s: &str) -> Option<(u32, u32)> {
    let (m, d) = s.trim().split_once('-')?;
    let number = |p: &str| {
        (!p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    let (m, d) = (number(m)?, number(d)?);
    // 2000 is a leap year, so Feb 29 is accepted.
    NaiveDate::from_ymd_opt(2000, m, d).map(|_| (m, d))
}

fn parse_time_of_day(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    NaiveTime::parse_from_str(s, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .ok()
}

/// The known zone name closest to `name`: the nearest by edit distance
/// (ignoring case) when it is within a third of the name's length.
fn suggest_zone(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let (distance, candidate) = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                strsim::levenshtein(&lower, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .min_by_key(|(d, _)| *d)?;
    (distance <= (name.chars().count() / 3).max(1)).then(|| candidate.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::interval::{CalendarIntervalSchedule, IntervalSchedule, IntervalUnit};
    use chrono::{TimeZone, Weekday};
    use chrono_tz::{America::New_York, Europe::Berlin};

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

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid test date")
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid test time")
    }

    fn cal(tz: Tz, rules: Vec<CalendarRule>) -> Calendar {
        Calendar {
            name: "test".into(),
            tz,
            rules,
        }
    }

    fn def(name: &str) -> CalendarDef {
        CalendarDef {
            name: name.into(),
            timezone: None,
            dates: vec![],
            annual: vec![],
            days_of_week: vec![],
            days_of_month: vec![],
            daily_range: None,
            cron: vec![],
        }
    }

    fn weekends(tz: Tz) -> Calendar {
        cal(
            tz,
            vec![CalendarRule::DaysOfWeek(DaysOfWeek::SATURDAY_AND_SUNDAY)],
        )
    }

    #[test]
    fn holiday_is_the_local_day_not_the_utc_day() {
        let c = cal(
            Berlin,
            vec![CalendarRule::Dates([date("2026-12-25")].into())],
        );
        assert!(!c.is_excluded(utc("2026-12-24T22:59:59Z"))); // 23:59:59 on the 24th in Berlin
        assert!(c.is_excluded(utc("2026-12-24T23:00:00Z"))); // 00:00 on the 25th in Berlin
        assert!(c.is_excluded(utc("2026-12-25T22:59:59Z")));
        assert!(!c.is_excluded(utc("2026-12-25T23:00:00Z")));
        assert_eq!(
            c.next_included_time(utc("2026-12-25T12:00:00Z")),
            Some(utc("2026-12-25T23:00:00Z"))
        );
        assert_eq!(
            c.next_included_time(utc("2026-12-24T12:00:00Z")),
            Some(utc("2026-12-24T12:00:00Z"))
        );
    }

    #[test]
    fn annual_every_year() {
        let c = cal(
            New_York,
            vec![CalendarRule::Annual([(12, 25), (2, 29)].into())],
        );
        assert!(c.is_excluded(local(New_York, "2026-12-25 08:00:00")));
        assert!(c.is_excluded(local(New_York, "2031-12-25 23:59:59")));
        assert!(!c.is_excluded(local(New_York, "2031-12-26 00:00:00")));
        assert!(c.is_excluded(local(New_York, "2028-02-29 12:00:00")));
        assert!(!c.is_excluded(local(New_York, "2027-02-28 12:00:00")));
        assert!(!c.is_excluded(local(New_York, "2027-03-01 12:00:00")));
    }

    #[test]
    fn weekly_and_monthly() {
        let c = weekends(Berlin);
        assert!(c.is_excluded(local(Berlin, "2026-03-28 10:00:00"))); // Saturday
        assert!(!c.is_excluded(local(Berlin, "2026-03-27 23:59:59"))); // Friday
        // Monday 00:00 after the weekend that springs forward.
        assert_eq!(
            c.next_included_time(local(Berlin, "2026-03-28 10:00:00")),
            Some(local(Berlin, "2026-03-30 00:00:00"))
        );

        let m = cal(Berlin, vec![CalendarRule::DaysOfMonth([1, 15, 31].into())]);
        assert!(m.is_excluded(local(Berlin, "2026-04-01 00:00:00")));
        assert!(m.is_excluded(local(Berlin, "2026-04-15 13:00:00")));
        assert!(!m.is_excluded(local(Berlin, "2026-04-30 13:00:00")));
        assert!(m.is_excluded(local(Berlin, "2026-05-31 13:00:00")));
        assert_eq!(
            m.next_included_time(local(Berlin, "2026-05-31 13:00:00")),
            Some(local(Berlin, "2026-06-02 00:00:00"))
        );
    }

    #[test]
    fn daily_range_wraps_midnight() {
        let night = cal(
            Berlin,
            vec![CalendarRule::DailyRange {
                from: hm(22, 0),
                to: hm(6, 0),
                invert: false,
            }],
        );
        assert!(night.is_excluded(local(Berlin, "2026-06-01 22:00:00")));
        assert!(night.is_excluded(local(Berlin, "2026-06-01 23:30:00")));
        assert!(night.is_excluded(local(Berlin, "2026-06-02 05:59:59")));
        assert!(!night.is_excluded(local(Berlin, "2026-06-02 06:00:00")));
        assert!(!night.is_excluded(local(Berlin, "2026-06-01 21:59:59")));
        assert_eq!(
            night.next_included_time(local(Berlin, "2026-06-01 23:30:00")),
            Some(local(Berlin, "2026-06-02 06:00:00"))
        );
        assert_eq!(
            night.next_included_time(local(Berlin, "2026-06-02 01:00:00")),
            Some(local(Berlin, "2026-06-02 06:00:00"))
        );

        // A range ending inside the spring-forward gap ends at the transition.
        let early = cal(
            Berlin,
            vec![CalendarRule::DailyRange {
                from: hm(0, 0),
                to: hm(2, 30),
                invert: false,
            }],
        );
        assert_eq!(
            early.next_included_time(local(Berlin, "2026-03-29 01:00:00")),
            Some(local(Berlin, "2026-03-29 03:00:00"))
        );
        // In the New York fold, the second 01:xx pass is still excluded.
        let early = cal(
            New_York,
            vec![CalendarRule::DailyRange {
                from: hm(0, 0),
                to: hm(1, 30),
                invert: false,
            }],
        );
        assert!(early.is_excluded(utc("2026-11-01T06:10:00Z"))); // 01:10 EST
        assert_eq!(
            early.next_included_time(utc("2026-11-01T06:10:00Z")),
            Some(utc("2026-11-01T06:30:00Z"))
        );

        let office = cal(
            Berlin,
            vec![CalendarRule::DailyRange {
                from: hm(9, 0),
                to: hm(17, 0),
                invert: true,
            }],
        );
        assert!(office.is_excluded(local(Berlin, "2026-06-01 08:59:59")));
        assert!(!office.is_excluded(local(Berlin, "2026-06-01 09:00:00")));
        assert!(office.is_excluded(local(Berlin, "2026-06-01 17:00:00")));
        assert_eq!(
            office.next_included_time(local(Berlin, "2026-06-01 18:00:00")),
            Some(local(Berlin, "2026-06-02 09:00:00"))
        );
    }

    #[test]
    fn cron_rule_and_terminating_searches() {
        let c = CalendarDef {
            cron: vec!["* * 3 * * ?".into()],
            ..def("no-3am")
        }
        .compile(Berlin)
        .expect("valid");
        assert!(c.is_excluded(local(Berlin, "2026-06-01 03:00:00")));
        assert!(c.is_excluded(local(Berlin, "2026-06-01 03:59:59")));
        assert!(!c.is_excluded(local(Berlin, "2026-06-01 04:00:00")));
        assert_eq!(
            c.next_included_time(local(Berlin, "2026-06-01 03:12:34")),
            Some(local(Berlin, "2026-06-01 04:00:00"))
        );

        let c = CalendarDef {
            cron: vec!["7 * * * * ?".into()],
            ..def("no-7th-second")
        }
        .compile(Berlin)
        .expect("valid");
        let t = local(Berlin, "2026-06-01 03:00:07");
        assert!(c.is_excluded(t + TimeDelta::milliseconds(500)));
        assert_eq!(c.next_included_time(t), Some(t + TimeDelta::seconds(1)));

        // Whole minutes: walked minute by minute.
        let c = CalendarDef {
            cron: vec!["* 5 * * * ?".into()],
            ..def("no-5th-minute")
        }
        .compile(Berlin)
        .expect("valid");
        assert_eq!(
            c.next_included_time(local(Berlin, "2026-06-01 03:05:10")),
            Some(local(Berlin, "2026-06-01 03:06:00"))
        );

        // Everything excluded: the search ends (None) instead of hanging.
        let all = CalendarDef {
            cron: vec!["* * * * * ?".into()],
            ..def("all")
        }
        .compile(Berlin)
        .expect("valid");
        assert_eq!(all.next_included_time(utc("2026-01-01T00:00:00Z")), None);
        let all = cal(
            Berlin,
            vec![CalendarRule::DailyRange {
                from: hm(1, 0),
                to: hm(1, 0),
                invert: true,
            }],
        );
        assert_eq!(all.next_included_time(utc("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn ends_of_time_do_not_panic() {
        let c = CalendarDef {
            dates: vec!["2026-01-01".into()],
            days_of_week: vec!["mon".into()],
            daily_range: Some(DailyRangeDef {
                from: "22:00".into(),
                to: "06:00".into(),
                invert: true,
            }),
            cron: vec!["* * 3 * * ?".into()],
            ..def("all-rules")
        }
        .compile(chrono_tz::Pacific::Kiritimati)
        .expect("valid");
        let set = CalendarSet::new(vec![Arc::new(c)]);
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            let _ = set.is_excluded(t);
            let _ = set.next_included_time(t);
            let _ = next_allowed(t, &set, |x| x.checked_add_signed(TimeDelta::hours(1)));
        }
    }

    #[test]
    fn combined_calendars() {
        let holidays = cal(
            Berlin,
            vec![CalendarRule::Dates(
                [date("2026-12-24"), date("2026-12-25")].into(),
            )],
        );
        let set = CalendarSet::new(vec![Arc::new(weekends(Berlin)), Arc::new(holidays)]);
        assert!(!set.is_empty());
        assert!(CalendarSet::default().is_empty());
        assert!(!CalendarSet::default().is_excluded(utc("2026-12-25T12:00:00Z")));
        assert!(set.is_excluded(local(Berlin, "2026-12-24 12:00:00"))); // Thursday, holiday
        assert!(set.is_excluded(local(Berlin, "2026-12-26 12:00:00"))); // Saturday
        assert!(!set.is_excluded(local(Berlin, "2026-12-23 12:00:00")));
        // Thu + Fri holidays, then the weekend: Monday.
        assert_eq!(
            set.next_included_time(local(Berlin, "2026-12-24 08:00:00")),
            Some(local(Berlin, "2026-12-28 00:00:00"))
        );
    }

    #[test]
    fn next_allowed_skips_excluded_fires() {
        let daily = CalendarIntervalSchedule::new(
            local(Berlin, "2026-03-02 09:00:00"),
            1,
            IntervalUnit::Day,
            Berlin,
            None,
        )
        .expect("valid");
        let set = CalendarSet::new(vec![Arc::new(weekends(Berlin))]);
        let friday = local(Berlin, "2026-03-27 09:00:00");
        assert_eq!(
            next_allowed(friday, &set, |t| daily.next_after(t)),
            Some(local(Berlin, "2026-03-30 09:00:00"))
        );
        // No calendar: the schedule's own next fire.
        assert_eq!(
            next_allowed(friday, &CalendarSet::default(), |t| daily.next_after(t)),
            Some(local(Berlin, "2026-03-28 09:00:00"))
        );
        // Every second over a weekend jumps to Monday 00:00 at once.
        let every_second = IntervalSchedule::new(
            utc("2026-01-01T00:00:00Z"),
            TimeDelta::seconds(1),
            None,
            None,
        )
        .expect("valid");
        assert_eq!(
            next_allowed(local(Berlin, "2026-03-27 23:59:59"), &set, |t| every_second
                .next_after(t)),
            Some(local(Berlin, "2026-03-30 00:00:00"))
        );
        // Schedule that ends during the exclusion.
        let short = CalendarIntervalSchedule::new(
            local(Berlin, "2026-03-26 09:00:00"),
            1,
            IntervalUnit::Day,
            Berlin,
            Some(local(Berlin, "2026-03-29 09:00:00")),
        )
        .expect("valid");
        assert_eq!(next_allowed(friday, &set, |t| short.next_after(t)), None);
    }

    #[test]
    fn next_allowed_terminates_when_every_day_is_excluded() {
        let every_day = cal(Berlin, vec![CalendarRule::DaysOfWeek(DaysOfWeek::ALL)]);
        let set = CalendarSet::new(vec![Arc::new(every_day)]);
        let hourly =
            IntervalSchedule::new(utc("2026-01-01T00:00:00Z"), TimeDelta::hours(1), None, None)
                .expect("valid");
        assert_eq!(
            next_allowed(utc("2026-01-01T00:00:00Z"), &set, |t| hourly.next_after(t)),
            None
        );
        // A schedule that never moves forward is refused, not looped on.
        assert_eq!(next_allowed(utc("2026-01-01T00:00:00Z"), &set, Some), None);
        // Fires that always land in an excluded stretch between included ones.
        let nights = cal(
            Berlin,
            vec![CalendarRule::DailyRange {
                from: hm(8, 0),
                to: hm(20, 0),
                invert: true,
            }],
        );
        let set = CalendarSet::new(vec![Arc::new(nights)]);
        let at_3am = CalendarIntervalSchedule::new(
            local(Berlin, "2026-01-01 03:00:00"),
            1,
            IntervalUnit::Day,
            Berlin,
            None,
        )
        .expect("valid");
        assert_eq!(
            next_allowed(utc("2026-01-01T00:00:00Z"), &set, |t| at_3am.next_after(t)),
            None
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// `next_allowed` equals stepping the schedule one fire at a time until
        /// a fire is not excluded.
        #[test]
        fn prop_next_allowed_matches_stepping(start in 1_700_000_000i64..1_800_000_000, minutes in 7i64..900,
                                              offset in 0i64..10_000_000, zone in 0usize..2) {
            let tz = [Berlin, New_York][zone];
            let start = DateTime::from_timestamp(start, 0).expect("in range");
            let s = IntervalSchedule::new(start, TimeDelta::minutes(minutes), None, None).expect("valid");
            let set = CalendarSet::new(vec![
                Arc::new(weekends(tz)),
                Arc::new(cal(tz, vec![CalendarRule::DailyRange { from: hm(21, 30), to: hm(2, 30), invert: false }])),
                Arc::new(cal(tz, vec![CalendarRule::DaysOfMonth([1, 2, 3].into())])),
            ]);
            let after = start + TimeDelta::seconds(offset);
            let mut expected = None;
            let mut t = after;
            for _ in 0..100_000 {
                let Some(n) = s.next_after(t) else { break };
                if !set.is_excluded(n) {
                    expected = Some(n);
                    break;
                }
                t = n;
            }
            proptest::prop_assert_eq!(next_allowed(after, &set, |t| s.next_after(t)), expected);
        }
    }

    #[test]
    fn compile_definition() {
        let d = CalendarDef {
            timezone: Some("America/New_York".into()),
            dates: vec!["2026-12-25".into()],
            annual: vec!["1-1".into(), "07-04".into()],
            days_of_week: vec!["SAT".into(), "sunday".into()],
            days_of_month: vec![13],
            daily_range: Some(DailyRangeDef {
                from: "22:00".into(),
                to: "06:00:30".into(),
                invert: false,
            }),
            cron: vec!["0 0 12 * * ?".into()],
            ..def("ops")
        };
        let c = d.compile(Berlin).expect("valid");
        assert_eq!(c.name, "ops");
        assert_eq!(c.tz, New_York);
        assert_eq!(c.rules.len(), 6);
        assert!(
            matches!(&c.rules[2], CalendarRule::DaysOfWeek(w) if w.contains(Weekday::Sat) && w.contains(Weekday::Sun) && w.len() == 2)
        );
        assert!(
            matches!(&c.rules[4], CalendarRule::DailyRange { to, .. } if *to == NaiveTime::from_hms_opt(6, 0, 30).expect("valid"))
        );
        assert_eq!(def("plain").compile(Berlin).expect("valid").tz, Berlin);
    }

    #[test]
    fn compile_errors_name_key_value_and_expectation() {
        let err = |d: CalendarDef| d.compile(Berlin).expect_err("invalid").to_string();
        assert_eq!(
            err(CalendarDef {
                dates: vec![
                    "2026-12-24".into(),
                    "2026-12-25".into(),
                    "2026-13-01".into()
                ],
                ..def("holidays")
            }),
            r#"calendar "holidays": dates[2] = "2026-13-01": expected a date YYYY-MM-DD"#
        );
        assert_eq!(
            err(CalendarDef {
                annual: vec!["02-30".into()],
                ..def("h")
            }),
            r#"calendar "h": annual[0] = "02-30": expected a day of the year MM-DD"#
        );
        assert_eq!(
            err(CalendarDef {
                days_of_week: vec!["sat".into(), "sa".into()],
                ..def("h")
            }),
            r#"calendar "h": days_of_week[1] = "sa": expected a day name: mon..sun or monday..sunday"#
        );
        assert_eq!(
            err(CalendarDef {
                days_of_month: vec![0],
                ..def("h")
            }),
            r#"calendar "h": days_of_month[0] = 0: expected a day of the month 1..=31"#
        );
        assert_eq!(
            err(CalendarDef {
                daily_range: Some(DailyRangeDef {
                    from: "25:00".into(),
                    to: "06:00".into(),
                    invert: false
                }),
                ..def("h")
            }),
            r#"calendar "h": daily_range.from = "25:00": expected a time of day HH:MM or HH:MM:SS"#
        );
        assert!(
            err(CalendarDef {
                daily_range: Some(DailyRangeDef {
                    from: "06:00".into(),
                    to: "06:00".into(),
                    invert: true
                }),
                ..def("h")
            })
            .contains("different from daily_range.from")
        );
        assert_eq!(
            err(CalendarDef {
                timezone: Some("europe/berlin".into()),
                ..def("h")
            }),
            r#"calendar "h": timezone = "europe/berlin": unknown IANA time zone (did you mean "Europe/Berlin"?)"#
        );
        assert_eq!(
            err(CalendarDef {
                timezone: Some("Mars/Olympus".into()),
                ..def("h")
            }),
            r#"calendar "h": timezone = "Mars/Olympus": unknown IANA time zone"#
        );
        let cron = CalendarDef {
            cron: vec!["not cron".into()],
            ..def("h")
        }
        .compile(Berlin)
        .expect_err("invalid");
        assert!(matches!(&cron, CalendarError::InvalidCron { index: 0, .. }));
        assert!(
            cron.to_string()
                .starts_with(r#"calendar "h": cron[0] = "not cron": "#),
            "{cron}"
        );
        assert!(std::error::Error::source(&cron).is_some());
        assert_eq!(err(def(" ")), "calendar name must not be empty");
    }
}
