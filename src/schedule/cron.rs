//! Cron expressions: parsing (Quartz and Unix dialects) and evaluation in a
//! trigger's time zone, with the DST policy of [`crate::schedule::dst`].
//!
//! This module owns:
//! - [`CronExpr`], the parsed form of an expression: one bitset per field plus
//!   the special day rules (`L`, `L-n`, `W`, `LW`, `L-nW`, `nL`, `n#k`), and
//!   how the two day fields combine (Quartz `?`, or the Vixie OR rule);
//! - [`CronError`], which names the field, the 1-based column of the fault and
//!   what was expected;
//! - [`CronSchedule`], an expression bound to an IANA zone and a DST policy,
//!   whose [`CronSchedule::next_after`] finds the first fire strictly after an
//!   instant.
//!
//! Evaluation searches local dates in the trigger's zone, skipping whole
//! years, months, days, hours and minutes with the bitsets, then maps the
//! matched wall time to an instant with the DST policy. Every search is
//! bounded: nothing fires after the year [`MAX_YEAR`], and an expression that
//! can never fire again yields `None` after at most a few thousand cheap
//! steps. `next_after` allocates nothing.
//!
//! Semantics (DESIGN.md, "Semantics to get exactly right"):
//! - Quartz: `sec min hour dom month dow [year]`, day of week 1 = Sunday, `?`
//!   in exactly one day field (the other decides alone).
//! - Unix: `min hour dom month dow`, seconds are 0, day of week 0 and 7 =
//!   Sunday; when either day field starts with `*` both must match, otherwise
//!   either may (Vixie cron). Macros `@yearly`, `@annually`, `@monthly`,
//!   `@weekly`, `@daily`, `@midnight`, `@hourly` (accepted in both dialects).
//! - A `W` day (`15W`) that does not exist in a month (31W in April) does not
//!   fire that month; `L-n` earlier than the 1st does not fire either.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::closed_enum::closed_enum;
use crate::schedule::dst::{self, DstOptions, FoldPolicy, GapPolicy, Wall};

/// Latest year in which a cron schedule can fire (as Quartz).
pub const MAX_YEAR: i64 = 2199;
/// Earliest year the year field accepts (as Quartz).
pub const MIN_YEAR: i64 = 1970;
/// Longest expression accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 1024;

closed_enum! {
    /// Which cron syntax an expression is written in: `quartz` or `unix`
    /// (parsing names both when it fails).
    #[derive(Default)]
    pub enum Dialect: "cron dialect" {
        /// `sec min hour dom month dow [year]`, 1 = Sunday, `?`, `L`, `W`, `#`.
        #[default]
        Quartz = "quartz",
        /// `min hour dom month dow`, 0/7 = Sunday, Vixie day rule, `@daily` macros.
        Unix = "unix",
    }
}

/// Why an expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (field {field}, column {column})")]
pub struct CronError {
    /// The field at fault: `second`, `minute`, `hour`, `day-of-month`,
    /// `month`, `day-of-week`, `year`, or `expression` for the whole.
    pub field: &'static str,
    /// 1-based character column of the fault in the source.
    pub column: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

/// How the day-of-month and day-of-week fields combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayMode {
    /// Day of week is `?` (Quartz): day of month decides.
    DomOnly,
    /// Day of month is `?` (Quartz): day of week decides.
    DowOnly,
    /// Both must match (Unix, when either field starts with `*`).
    And,
    /// Either may match (Unix, when neither field starts with `*`).
    Or,
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: Box<str>,
    dialect: Dialect,
    periodic: bool,
    seconds: u64,
    minutes: u64,
    hours: u32,
    months: u16,
    /// Bit `y - MIN_YEAR` set for each allowed year; `None` = every year.
    years: Option<[u64; 4]>,
    days: DaySpec,
}

/// The day rules: plain bitsets plus the special characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DaySpec {
    mode: DayMode,
    /// Bits 1..=31: plain days of month.
    dom: u32,
    /// Bit n: `L-n` (`L` is n = 0).
    dom_last: u32,
    /// Bit n: `L-nW` (`LW` is n = 0).
    dom_last_weekday: u32,
    /// Bit d: `dW`.
    dom_near_weekday: u32,
    /// Bits 0..=6 (0 = Sunday): plain days of week (for `matches_local`).
    dow: u8,
    /// Bits 0..=6: `nL`, the last such weekday of the month.
    dow_last: u8,
    /// Bit `w * 5 + (k - 1)`: `w#k`, the k-th such weekday of the month.
    dow_nth: u64,
    /// For each weekday of the 1st of a month (0 = Sunday), the days of the
    /// month (bits 1..=35) matched by `dow` and `dow_nth`.
    dow_by_first: [u64; 7],
}

impl CronExpr {
    /// Parses `src` in the given dialect.
    pub fn parse(src: &str, dialect: Dialect) -> Result<CronExpr, CronError> {
        parse::parse(src, dialect)
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The dialect it was parsed in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Periodic = its second, minute or hour field holds `*` or a `/` step
    /// (DESIGN.md). Periodic schedules follow real time across DST changes;
    /// fixed ones fire once per matching wall time.
    pub fn is_periodic(&self) -> bool {
        self.periodic
    }

    /// Whether this local wall-clock time matches (used by exclusion
    /// calendars). Sub-second parts are ignored; nothing after
    /// [`MAX_YEAR`] matches.
    pub fn matches_local(&self, t: NaiveDateTime) -> bool {
        let c = Civil::from_wall(t.and_utc().timestamp());
        c.year <= MAX_YEAR
            && self.year_allowed(c.year)
            && bit(u64::from(self.months), c.month)
            && bit(u64::from(self.day_mask(c.year, c.month)), c.day)
            && bit(u64::from(self.hours), c.hour)
            && bit(self.minutes, c.minute)
            && bit(self.seconds, c.second)
    }

    fn year_allowed(&self, year: i64) -> bool {
        match &self.years {
            None => true,
            Some(bits) => {
                let i = year - MIN_YEAR;
                (0..256).contains(&i) && bits[(i / 64) as usize] & (1u64 << (i % 64)) != 0
            }
        }
    }

    /// The first allowed year `>= year`, if any up to `MAX_YEAR`.
    fn next_year(&self, year: i64) -> Option<i64> {
        if year > MAX_YEAR {
            return None;
        }
        match &self.years {
            None => Some(year),
            Some(bits) => {
                let mut i = (year - MIN_YEAR).max(0);
                while i <= MAX_YEAR - MIN_YEAR {
                    let word = bits[(i / 64) as usize] >> (i % 64);
                    if word != 0 {
                        let y = MIN_YEAR + i + i64::from(word.trailing_zeros());
                        return (y <= MAX_YEAR).then_some(y);
                    }
                    i = (i / 64 + 1) * 64;
                }
                None
            }
        }
    }

    /// Days of `month` in `year` that match the day rules, as bits 1..=31.
    fn day_mask(&self, year: i64, month: u32) -> u32 {
        let len = days_in_month(year, month);
        let in_month = (u32::MAX >> (31 - len)) & !1;
        let d = &self.days;
        let need_dom = d.mode != DayMode::DowOnly;
        let need_dow = d.mode != DayMode::DomOnly;
        let first_wd = weekday(days_from_civil(year, month, 1));
        let mut dom = 0u32;
        if need_dom {
            dom = d.dom & in_month;
            if d.dom_last | d.dom_last_weekday | d.dom_near_weekday != 0 {
                let wd_of = |day: u32| (first_wd + day - 1) % 7;
                let mut bits = d.dom_last;
                while bits != 0 {
                    let n = bits.trailing_zeros();
                    bits &= bits - 1;
                    if n < len {
                        dom |= 1 << (len - n);
                    }
                }
                let mut bits = d.dom_last_weekday;
                while bits != 0 {
                    let n = bits.trailing_zeros();
                    bits &= bits - 1;
                    if n < len {
                        dom |= 1 << nearest_weekday(len - n, len, wd_of(len - n));
                    }
                }
                let mut bits = d.dom_near_weekday & in_month;
                while bits != 0 {
                    let day = bits.trailing_zeros();
                    bits &= bits - 1;
                    dom |= 1 << nearest_weekday(day, len, wd_of(day));
                }
            }
        }
        let mut dow = 0u32;
        if need_dow {
            // `dow_by_first` only holds bits 1..=35; the mask keeps 1..=len.
            dow = (d.dow_by_first[first_wd as usize] as u32) & in_month;
            if d.dow_last != 0 {
                let last_wd = (first_wd + len - 1) % 7;
                let mut bits = u32::from(d.dow_last);
                while bits != 0 {
                    let w = bits.trailing_zeros();
                    bits &= bits - 1;
                    dow |= 1 << (len - (last_wd + 7 - w) % 7);
                }
            }
        }
        match d.mode {
            DayMode::DomOnly => dom,
            DayMode::DowOnly => dow,
            DayMode::And => dom & dow,
            DayMode::Or => dom | dow,
        }
    }

    /// The first matching wall time (wall seconds) at or after `from`, or
    /// `None` when there is none up to the end of `MAX_YEAR`.
    fn first_match(&self, from: i64) -> Option<i64> {
        let mut c = Civil::from_wall(from);
        // Each pass either returns or moves to a later year, month, day, hour
        // or minute; the bound is far above what any expression needs (a
        // never-firing expression takes about 2 passes per remaining year).
        let mut cached_mask: Option<(i64, u32, u32)> = None;
        for _ in 0..20_000 {
            let year = self.next_year(c.year)?;
            if year != c.year {
                c = Civil::start_of_year(year);
            }
            let Some(month) = next_bit(u64::from(self.months), c.month) else {
                c = Civil::start_of_year(c.year + 1);
                continue;
            };
            if month != c.month {
                c = Civil::start_of_month(c.year, month);
            }
            let mask = match cached_mask {
                Some((y, m, mask)) if y == c.year && m == c.month => mask,
                _ => {
                    let mask = self.day_mask(c.year, c.month);
                    cached_mask = Some((c.year, c.month, mask));
                    mask
                }
            };
            let Some(day) = next_bit(u64::from(mask), c.day) else {
                c = Civil::start_of_month(c.year, c.month + 1);
                continue;
            };
            if day != c.day {
                c = Civil::start_of_day(c.year, c.month, day);
            }
            let Some(hour) = next_bit(u64::from(self.hours), c.hour) else {
                c = Civil::start_of_day(c.year, c.month, c.day + 1);
                continue;
            };
            if hour != c.hour {
                c.hour = hour;
                c.minute = 0;
                c.second = 0;
            }
            let Some(minute) = next_bit(self.minutes, c.minute) else {
                c.hour += 1;
                c.minute = 0;
                c.second = 0;
                continue;
            };
            if minute != c.minute {
                c.minute = minute;
                c.second = 0;
            }
            let Some(second) = next_bit(self.seconds, c.second) else {
                c.minute += 1;
                c.second = 0;
                continue;
            };
            c.second = second;
            return Some(c.to_wall());
        }
        None
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for CronExpr {
    type Err = CronError;

    /// Parses in the default (Quartz) dialect.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronExpr::parse(s, Dialect::Quartz)
    }
}

/// How DST shaped a fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstAdjustment {
    /// The wall time fell in a gap; fired at the first instant after it.
    GapRunAtTransition,
    /// The wall time fell in a gap; fired at wall time + gap length.
    GapShiftedForward,
    /// The wall time occurs twice; this is its first occurrence.
    FoldEarlier,
    /// The wall time occurs twice; this is its second occurrence.
    FoldLater,
}

/// One fire of a cron schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronFire {
    /// When it fires.
    pub at: DateTime<Utc>,
    /// The wall time in the trigger's zone that the expression matched.
    pub local: NaiveDateTime,
    /// How DST moved or selected it, if it did.
    pub dst: Option<DstAdjustment>,
}

/// A cron expression bound to a time zone and a DST policy.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: CronExpr,
    tz: Tz,
    dst: DstOptions,
    fold: FoldPolicy,
}

/// Upper bound on DST transitions crossed by one `next_after` call.
const MAX_TRANSITION_STEPS: usize = 64;
/// Longest gap looked back over for `shift_forward` (Samoa skipped a day).
const MAX_GAP_LOOKBACK_SECS: i64 = 26 * 3600;

impl CronSchedule {
    /// Binds `expr` to the zone `tz` with the DST options `dst`.
    pub fn new(expr: CronExpr, tz: Tz, dst: DstOptions) -> Self {
        let fold = dst.fold_policy_for(expr.is_periodic());
        CronSchedule {
            expr,
            tz,
            dst,
            fold,
        }
    }

    /// The expression.
    pub fn expr(&self) -> &CronExpr {
        &self.expr
    }

    /// The trigger's time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The DST options as given (unresolved defaults stay `None`).
    pub fn dst_options(&self) -> DstOptions {
        self.dst
    }

    /// First fire strictly after `after`; `None` when it never fires again.
    /// Stateless, monotonic, bounded time.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_fire_after(after).map(|f| f.at)
    }

    /// Same as [`CronSchedule::next_after`], with the matched wall time and
    /// how DST shaped the fire.
    pub fn next_fire_after(&self, after: DateTime<Utc>) -> Option<CronFire> {
        // Fires are whole seconds, so "strictly after `after`" is "at or
        // after the next whole second after `a`".
        let a = after.timestamp();
        let offset = dst::offset_at(self.tz, a)?;
        let wall = a.checked_add(offset)?;
        let mut best = self.shifted_gap_lookback(a, offset, wall);
        let main = match dst::classify(self.tz, wall)? {
            Wall::Fold { earlier, later } if offset == earlier => {
                self.resume_in_first_pass(a, wall, earlier, later)
            }
            _ => self.forward(a, wall + 1),
        };
        if let Some(m) = main {
            best = Some(match best {
                Some(b) if b.0 <= m.0 => b,
                _ => m,
            });
        }
        let (at, local, adj) = best?;
        Some(CronFire {
            at: DateTime::from_timestamp(at, 0)?,
            local: dst::naive_from_secs(local)?,
            dst: adj,
        })
    }

    /// `after` is in the first pass of a fold: the rest of the first pass,
    /// then the whole second pass, then beyond the fold.
    fn resume_in_first_pass(&self, a: i64, wall: i64, earlier: i64, later: i64) -> Option<Fire> {
        let (fold_start, fold_end) = dst::fold_bounds(self.tz, wall, earlier, later)?;
        if self.fold.fires_earlier()
            && let Some(w) = self.expr.first_match(wall + 1).filter(|&w| w < fold_end)
        {
            return Some((w - earlier, w, Some(DstAdjustment::FoldEarlier)));
        }
        if self.fold.fires_later()
            && let Some(w) = self.expr.first_match(fold_start).filter(|&w| w < fold_end)
        {
            return Some((w - later, w, Some(DstAdjustment::FoldLater)));
        }
        self.forward(a, fold_end)
    }

    /// Searches wall times from `cursor` on, for the first fire after `a`,
    /// where `a`'s own wall time is before `cursor` (or in a fold's second
    /// pass).
    fn forward(&self, a: i64, mut cursor: i64) -> Option<Fire> {
        for _ in 0..MAX_TRANSITION_STEPS {
            let wall = self.expr.first_match(cursor)?;
            match dst::classify(self.tz, wall)? {
                Wall::Unique { offset } => {
                    let at = wall - offset;
                    if at > a {
                        return Some((at, wall, None));
                    }
                    cursor = wall + 1;
                }
                Wall::Fold { earlier, later } => {
                    if self.fold.fires_earlier() && wall - earlier > a {
                        return Some((wall - earlier, wall, Some(DstAdjustment::FoldEarlier)));
                    }
                    if self.fold.fires_later() && wall - later > a {
                        return Some((wall - later, wall, Some(DstAdjustment::FoldLater)));
                    }
                    // Nothing left to fire in this fold: go past it.
                    let (_, fold_end) = dst::fold_bounds(self.tz, wall, earlier, later)?;
                    cursor = fold_end.max(wall + 1);
                }
                Wall::Gap {
                    start_wall,
                    end_wall,
                    transition,
                    before,
                } => {
                    let gap = end_wall - start_wall;
                    match self.dst.gap_policy_for(self.expr.is_periodic(), gap) {
                        GapPolicy::Skip => cursor = end_wall.max(wall + 1),
                        GapPolicy::RunAtTransition => {
                            if transition <= a {
                                cursor = end_wall.max(wall + 1);
                                continue;
                            }
                            // A regular fire at the end of the gap is the
                            // same instant: it fires once, as a regular fire.
                            if self.expr.first_match(end_wall) == Some(end_wall) {
                                return Some((transition, end_wall, None));
                            }
                            return Some((
                                transition,
                                wall,
                                Some(DstAdjustment::GapRunAtTransition),
                            ));
                        }
                        GapPolicy::ShiftForward => {
                            let shifted = wall - before;
                            if shifted <= a {
                                cursor = wall + 1;
                                continue;
                            }
                            // A regular fire after the gap may come first.
                            let after_offset = end_wall - transition;
                            if let Some(w) = self
                                .expr
                                .first_match(end_wall)
                                .filter(|&w| w - after_offset < shifted)
                                && let Some(Wall::Unique { offset }) = dst::classify(self.tz, w)
                                && w - offset > a
                            {
                                return Some((w - offset, w, None));
                            }
                            return Some((shifted, wall, Some(DstAdjustment::GapShiftedForward)));
                        }
                    }
                }
                Wall::Unresolvable => cursor = wall + 1,
            }
        }
        None
    }

    /// With `shift_forward`, wall times in a gap that just ended fire up to
    /// one gap length after it: when `a` is within that window, the earliest
    /// such fire after `a`.
    fn shifted_gap_lookback(&self, a: i64, offset: i64, wall: i64) -> Option<Fire> {
        if self.dst.gap != Some(GapPolicy::ShiftForward) {
            return None;
        }
        let transition = dst::transition_between(self.tz, a - MAX_GAP_LOOKBACK_SECS, a)?;
        let before = dst::offset_at(self.tz, transition - 1)?;
        let gap = offset - before;
        if gap <= 0 || a >= transition + gap {
            return None;
        }
        // Gap wall times w with w - before > a, i.e. w > wall - gap.
        let (start_wall, end_wall) = (transition + before, transition + offset);
        let w = self
            .expr
            .first_match((wall - gap + 1).max(start_wall))
            .filter(|&w| w < end_wall)?;
        Some((w - before, w, Some(DstAdjustment::GapShiftedForward)))
    }
}

/// A fire being computed: instant, matched wall time (both in seconds) and
/// its DST adjustment.
type Fire = (i64, i64, Option<DstAdjustment>);

// ---------------------------------------------------------------------------
// Calendar arithmetic on wall seconds (proleptic Gregorian).
// ---------------------------------------------------------------------------

/// A broken-down wall time. Fields may briefly overflow (hour 24, day 32,
/// month 13) between steps of the search; `normalize` folds them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Civil {
    fn from_wall(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
        }
    }

    fn start_of_year(year: i64) -> Civil {
        Civil {
            year,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }

    fn start_of_month(year: i64, month: u32) -> Civil {
        if month > 12 {
            Civil::start_of_year(year + 1)
        } else {
            Civil {
                month,
                ..Civil::start_of_year(year)
            }
        }
    }

    /// `day` may be one past the end of the month.
    fn start_of_day(year: i64, month: u32, day: u32) -> Civil {
        if day > days_in_month(year, month) {
            Civil::start_of_month(year, month + 1)
        } else {
            Civil {
                day,
                ..Civil::start_of_month(year, month)
            }
        }
    }

    fn to_wall(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Day of week of a day count, 0 = Sunday (1970-01-01 was a Thursday).
fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

/// The weekday nearest to `day` without leaving the month (Quartz `W`).
/// `wd` is the weekday of `day`, 0 = Sunday.
fn nearest_weekday(day: u32, len: u32, wd: u32) -> u32 {
    match wd {
        6 if day == 1 => 3,
        6 => day - 1,
        0 if day == len => day - 2,
        0 => day + 1,
        _ => day,
    }
}

fn bit(bits: u64, i: u32) -> bool {
    i < 64 && bits & (1u64 << i) != 0
}

/// The lowest set bit at or above `from`.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = bits >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

// ---------------------------------------------------------------------------
// Parsing.
// ---------------------------------------------------------------------------

mod parse {
    use super::*;

    const NAMES_MONTH: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const NAMES_DOW: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Second,
        Minute,
        Hour,
        Dom,
        Month,
        Dow,
        Year,
    }

    impl Kind {
        fn name(self) -> &'static str {
            match self {
                Kind::Second => "second",
                Kind::Minute => "minute",
                Kind::Hour => "hour",
                Kind::Dom => "day-of-month",
                Kind::Month => "month",
                Kind::Dow => "day-of-week",
                Kind::Year => "year",
            }
        }
    }

    /// A field's names and the value of the first one.
    type Names = Option<(&'static [&'static str], u32)>;

    /// Range of values a field accepts, and whether ranges may wrap.
    struct Spec {
        kind: Kind,
        min: u32,
        max: u32,
        wrap: bool,
        names: Names,
    }

    impl Spec {
        fn new(kind: Kind, dialect: Dialect) -> Spec {
            let (min, max, wrap, names): (u32, u32, bool, Names) = match (kind, dialect) {
                (Kind::Second | Kind::Minute, _) => (0, 59, true, None),
                (Kind::Hour, _) => (0, 23, true, None),
                (Kind::Dom, _) => (1, 31, true, None),
                (Kind::Month, _) => (1, 12, true, Some((&NAMES_MONTH, 1))),
                (Kind::Dow, Dialect::Quartz) => (1, 7, true, Some((&NAMES_DOW, 1))),
                (Kind::Dow, Dialect::Unix) => (0, 7, true, Some((&NAMES_DOW, 0))),
                (Kind::Year, _) => (MIN_YEAR as u32, MAX_YEAR as u32, false, None),
            };
            Spec {
                kind,
                min,
                max,
                wrap,
                names,
            }
        }

        fn expected_value(&self) -> String {
            let mut s = format!("a number {}-{}", self.min, self.max);
            if let Some((names, _)) = self.names {
                s.push_str(&format!(
                    " or a name {}-{}",
                    names[0],
                    names[names.len() - 1]
                ));
            }
            s
        }
    }

    /// A 256-bit set used while parsing (index = value, or year - 1970).
    #[derive(Clone, Copy, Default)]
    struct Bits([u64; 4]);

    impl Bits {
        fn set(&mut self, i: u32) {
            if i < 256 {
                self.0[(i / 64) as usize] |= 1u64 << (i % 64);
            }
        }
    }

    /// Everything collected from one field.
    #[derive(Default)]
    struct Field {
        bits: Bits,
        /// The field is exactly `?`.
        question: bool,
        /// The field starts with `*` (Vixie day rule).
        star_first: bool,
        /// Holds `*` or `/` (periodic test).
        star_or_step: bool,
        dom_last: u32,
        dom_last_weekday: u32,
        dom_near_weekday: u32,
        dow_last: u8,
        dow_nth: u64,
    }

    /// Error builder bound to the source for column computation.
    struct Ctx<'a> {
        src: &'a str,
        dialect: Dialect,
    }

    impl Ctx<'_> {
        fn err(&self, field: &'static str, byte: usize, message: String) -> CronError {
            let byte = byte.min(self.src.len());
            // Count chars before the fault; `byte` always sits on a char
            // boundary here (ASCII syntax), else count the partial prefix.
            let column = self
                .src
                .char_indices()
                .take_while(|&(i, _)| i < byte)
                .count()
                + 1;
            CronError {
                field,
                column,
                message,
            }
        }
    }

    pub(super) fn parse(src: &str, dialect: Dialect) -> Result<CronExpr, CronError> {
        let ctx = Ctx { src, dialect };
        if src.len() > MAX_SOURCE_LEN {
            return Err(ctx.err(
                "expression",
                MAX_SOURCE_LEN,
                format!("expected at most {MAX_SOURCE_LEN} bytes"),
            ));
        }
        // Fields: (byte offset, text), split on ASCII whitespace.
        let mut fields: [(usize, &str); 8] = [(0, ""); 8];
        let mut count = 0;
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_whitespace() {
                i += 1;
                continue;
            }
            if count == fields.len() {
                // More fields than any dialect takes: the dialect reports
                // the first extra one.
                break;
            }
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            // Splitting at ASCII bytes keeps char boundaries.
            fields[count] = (start, &src[start..i]);
            count += 1;
        }
        if count == 0 {
            return Err(ctx.err(
                "expression",
                src.len(),
                format!("expected a cron expression, found {}", describe_empty(src)),
            ));
        }
        if fields[0].1.starts_with('@') {
            if count > 1 {
                return Err(ctx.err(
                    "expression",
                    fields[1].0,
                    "expected nothing after a macro".to_string(),
                ));
            }
            return parse_macro(&ctx, fields[0]);
        }
        let fields = &fields[..count];
        match dialect {
            Dialect::Quartz => parse_quartz(&ctx, fields),
            Dialect::Unix => parse_unix(&ctx, fields),
        }
    }

    fn describe_empty(src: &str) -> &'static str {
        if src.is_empty() {
            "an empty string"
        } else {
            "only whitespace"
        }
    }

    fn too_many(ctx: &Ctx<'_>, byte: usize) -> CronError {
        let message = match ctx.dialect {
            Dialect::Quartz => {
                "expected at most 7 fields (second minute hour day-of-month month day-of-week [year])"
            }
            Dialect::Unix => "expected 5 fields (minute hour day-of-month month day-of-week)",
        };
        ctx.err("expression", byte, message.to_string())
    }

    fn parse_macro(ctx: &Ctx<'_>, (at, text): (usize, &str)) -> Result<CronExpr, CronError> {
        let expansion = match text.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ => {
                return Err(ctx.err(
                    "expression",
                    at,
                    format!(
                        "unknown macro '{}': expected one of @yearly, @annually, @monthly, \
                         @weekly, @daily, @midnight, @hourly",
                        truncate(text)
                    ),
                ));
            }
        };
        let inner = Ctx {
            src: expansion,
            dialect: Dialect::Unix,
        };
        let mut fields: [(usize, &str); 5] = [(0, ""); 5];
        let mut offset = 0;
        for (slot, part) in fields.iter_mut().zip(expansion.split(' ')) {
            *slot = (offset, part);
            offset += part.len() + 1;
        }
        let mut expr = parse_unix(&inner, &fields)?;
        expr.source = ctx.src.trim().into();
        expr.dialect = ctx.dialect;
        Ok(expr)
    }

    fn truncate(s: &str) -> String {
        let mut out: String = s.chars().take(24).collect();
        if s.chars().nth(24).is_some() {
            out.push('…');
        }
        out
    }

    fn parse_quartz(ctx: &Ctx<'_>, fields: &[(usize, &str)]) -> Result<CronExpr, CronError> {
        const KINDS: [Kind; 7] = [
            Kind::Second,
            Kind::Minute,
            Kind::Hour,
            Kind::Dom,
            Kind::Month,
            Kind::Dow,
            Kind::Year,
        ];
        // Fields present are checked first, so garbage is reported where it is.
        let mut parsed: [Field; 7] = Default::default();
        for (i, &(at, text)) in fields.iter().enumerate().take(7) {
            parsed[i] = parse_field(ctx, &Spec::new(KINDS[i], Dialect::Quartz), at, text)?;
        }
        if fields.len() < 6 {
            return Err(ctx.err(
                KINDS[fields.len()].name(),
                ctx.src.len() + 1,
                format!(
                    "expected 6 or 7 fields (second minute hour day-of-month month day-of-week \
                     [year]), found {}; the {} field is missing",
                    fields.len(),
                    KINDS[fields.len()].name()
                ),
            ));
        }
        if fields.len() > 7 {
            return Err(too_many(ctx, fields[7].0));
        }
        let (dom, dow) = (&parsed[3], &parsed[5]);
        let mode = match (dom.question, dow.question) {
            (true, true) => {
                return Err(ctx.err(
                    "day-of-week",
                    fields[5].0,
                    "expected '?' in only one of day-of-month and day-of-week".to_string(),
                ));
            }
            (false, false) => {
                return Err(ctx.err(
                    "day-of-week",
                    fields[5].0,
                    "expected '?' in day-of-month or day-of-week: restricting both is not \
                     supported (use e.g. '0 0 9 ? * MON-FRI' or '0 0 9 1 * ?')"
                        .to_string(),
                ));
            }
            (true, false) => DayMode::DowOnly,
            (false, true) => DayMode::DomOnly,
        };
        let years = fields.get(6).map(|_| parsed[6].bits.0);
        Ok(build(ctx, &parsed, years, mode, 1))
    }

    fn parse_unix(ctx: &Ctx<'_>, fields: &[(usize, &str)]) -> Result<CronExpr, CronError> {
        const KINDS: [Kind; 5] = [Kind::Minute, Kind::Hour, Kind::Dom, Kind::Month, Kind::Dow];
        let mut parsed: [Field; 7] = Default::default();
        parsed[0].bits.set(0); // seconds = 0
        for (i, &(at, text)) in fields.iter().enumerate().take(5) {
            parsed[i + 1] = parse_field(ctx, &Spec::new(KINDS[i], Dialect::Unix), at, text)?;
        }
        if fields.len() < 5 {
            return Err(ctx.err(
                KINDS[fields.len()].name(),
                ctx.src.len() + 1,
                format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), found {}; \
                     the {} field is missing",
                    fields.len(),
                    KINDS[fields.len()].name()
                ),
            ));
        }
        if fields.len() > 5 {
            return Err(too_many(ctx, fields[5].0));
        }
        let mode = if parsed[3].star_first || parsed[5].star_first {
            DayMode::And
        } else {
            DayMode::Or
        };
        Ok(build(ctx, &parsed, None, mode, 0))
    }

    /// Assembles the expression; `dow_base` is the value of Sunday in the
    /// dialect (1 Quartz, 0 Unix, where 7 is also Sunday).
    fn build(
        ctx: &Ctx<'_>,
        f: &[Field; 7],
        years: Option<[u64; 4]>,
        mode: DayMode,
        dow_base: u32,
    ) -> CronExpr {
        let raw_dow = f[5].bits.0[0];
        let mut dow = 0u8;
        for w in 0..7u32 {
            if raw_dow & (1 << (w + dow_base)) != 0 {
                dow |= 1 << w;
            }
        }
        if dow_base == 0 && raw_dow & (1 << 7) != 0 {
            dow |= 1; // 7 = Sunday
        }
        let mut dow_by_first = [0u64; 7];
        for (first, slot) in dow_by_first.iter_mut().enumerate() {
            let first = first as u32;
            for w in 0..7u32 {
                // First day of the month falling on weekday w.
                let d1 = 1 + (w + 7 - first) % 7;
                if dow & (1 << w) != 0 {
                    for k in 0..5 {
                        *slot |= 1u64 << (d1 + 7 * k);
                    }
                }
                for k in 0..5u32 {
                    if f[5].dow_nth & (1u64 << (w * 5 + k)) != 0 {
                        *slot |= 1u64 << (d1 + 7 * k);
                    }
                }
            }
            *slot &= 0xFFFF_FFFE; // days 1..=31
        }
        let periodic = f[0].star_or_step || f[1].star_or_step || f[2].star_or_step;
        CronExpr {
            source: ctx.src.trim().into(),
            dialect: ctx.dialect,
            periodic,
            seconds: f[0].bits.0[0] & ((1u64 << 60) - 1),
            minutes: f[1].bits.0[0] & ((1u64 << 60) - 1),
            hours: (f[2].bits.0[0] & 0xFF_FFFF) as u32,
            months: (f[4].bits.0[0] & 0x1FFE) as u16,
            years,
            days: DaySpec {
                mode,
                dom: (f[3].bits.0[0] & 0xFFFF_FFFE) as u32,
                dom_last: f[3].dom_last,
                dom_last_weekday: f[3].dom_last_weekday,
                dom_near_weekday: f[3].dom_near_weekday,
                dow,
                dow_last: f[5].dow_last,
                dow_nth: f[5].dow_nth,
                dow_by_first,
            },
        }
    }

    /// Cursor over one list item.
    struct Item<'a> {
        ctx: &'a Ctx<'a>,
        spec: &'a Spec,
        text: &'a [u8],
        /// Byte offset of `text` in the source.
        at: usize,
        pos: usize,
    }

    impl Item<'_> {
        fn peek(&self) -> Option<u8> {
            self.text.get(self.pos).copied()
        }

        fn eat(&mut self, c: u8) -> bool {
            if self.peek().map(|p| p.to_ascii_uppercase()) == Some(c) {
                self.pos += 1;
                true
            } else {
                false
            }
        }

        fn done(&self) -> bool {
            self.pos >= self.text.len()
        }

        fn err(&self, message: String) -> CronError {
            self.ctx
                .err(self.spec.kind.name(), self.at + self.pos, message)
        }

        fn found(&self) -> String {
            match self.peek() {
                None => "the end of the field".to_string(),
                Some(c) if c.is_ascii_graphic() => format!("'{}'", c as char),
                Some(_) => {
                    let rest = &self.ctx.src[(self.at + self.pos).min(self.ctx.src.len())..];
                    match rest.chars().next() {
                        Some(ch) => format!("'{}'", ch.escape_default()),
                        None => "the end of the field".to_string(),
                    }
                }
            }
        }

        /// An unsigned number of at most 9 digits.
        fn number(&mut self, what: &str) -> Result<u32, CronError> {
            let start = self.pos;
            let mut n: u32 = 0;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                if self.pos - start >= 9 {
                    return Err(self.err(format!("expected {what}, found a number too long")));
                }
                n = n * 10 + u32::from(c - b'0');
                self.pos += 1;
            }
            if self.pos == start {
                return Err(self.err(format!("expected {what}, found {}", self.found())));
            }
            Ok(n)
        }

        /// A value of the field: number in range, or a name.
        fn value(&mut self) -> Result<u32, CronError> {
            let start = self.pos;
            if let Some((names, base)) = self.spec.names
                && self.peek().is_some_and(|c| c.is_ascii_alphabetic())
            {
                let word = self.text.get(self.pos..self.pos + 3);
                let hit = word.and_then(|w| {
                    names
                        .iter()
                        .position(|n| n.as_bytes().eq_ignore_ascii_case(w))
                });
                let followed_by_letter = self
                    .text
                    .get(self.pos + 3)
                    .is_some_and(|c| c.is_ascii_alphabetic() && !c.eq_ignore_ascii_case(&b'L'));
                return match hit {
                    Some(i) if !followed_by_letter => {
                        self.pos += 3;
                        Ok(base + i as u32)
                    }
                    _ => Err(self.err(format!(
                        "expected {}, found {}",
                        self.spec.expected_value(),
                        self.found_word()
                    ))),
                };
            }
            let n = self.number(&self.spec.expected_value())?;
            if n < self.spec.min || n > self.spec.max {
                self.pos = start;
                return Err(self.err(format!(
                    "value {n} out of range: expected {}",
                    self.spec.expected_value()
                )));
            }
            Ok(n)
        }

        fn found_word(&self) -> String {
            let rest = &self.text[self.pos..];
            let len = rest
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count()
                .max(1);
            let word = String::from_utf8_lossy(&rest[..len.min(rest.len())]);
            format!("'{}'", truncate(&word))
        }

        /// `/step` after a value or `*`.
        fn step(&mut self) -> Result<u32, CronError> {
            let size = self.spec.max - self.spec.min + 1;
            let start = self.pos;
            let step = self.number(&format!("a step 1-{size}"))?;
            if step == 0 || step > size {
                self.pos = start;
                return Err(self.err(format!("step {step} out of range: expected 1-{size}")));
            }
            Ok(step)
        }
    }

    fn parse_field(ctx: &Ctx<'_>, spec: &Spec, at: usize, text: &str) -> Result<Field, CronError> {
        let mut field = Field {
            star_first: text.starts_with('*'),
            ..Field::default()
        };
        if text == "?" {
            if !(matches!(spec.kind, Kind::Dom | Kind::Dow) && ctx.dialect == Dialect::Quartz) {
                return Err(ctx.err(
                    spec.kind.name(),
                    at,
                    match ctx.dialect {
                        Dialect::Quartz => format!(
                            "'?' is only allowed in day-of-month or day-of-week, expected {} \
                             or '*'",
                            spec.expected_value()
                        ),
                        Dialect::Unix => {
                            "'?' is not supported in the unix dialect, expected '*'".to_string()
                        }
                    },
                ));
            }
            field.question = true;
            return Ok(field);
        }
        let mut offset = 0;
        for part in text.split(',') {
            let mut item = Item {
                ctx,
                spec,
                text: part.as_bytes(),
                at: at + offset,
                pos: 0,
            };
            offset += part.len() + 1;
            if part.is_empty() {
                return Err(item.err(format!(
                    "expected {}, '*' or a range, found an empty list item",
                    spec.expected_value()
                )));
            }
            parse_item(&mut item, &mut field)?;
            if !item.done() {
                let msg = if item.peek() == Some(b'?') {
                    "'?' must be the whole field".to_string()
                } else {
                    format!(
                        "expected ',' or the end of the field, found {}",
                        item.found()
                    )
                };
                return Err(item.err(msg));
            }
        }
        Ok(field)
    }

    /// `L` at the start of an item: day-of-month `L`, `L-n`, `LW`, `L-nW`,
    /// or day-of-week `L` alone (Saturday). Returns whether it was one.
    fn parse_last(item: &mut Item<'_>, field: &mut Field) -> Result<bool, CronError> {
        let kind = item.spec.kind;
        let quartz = item.ctx.dialect == Dialect::Quartz;
        // Day-of-month `L`, `L-n`, `LW`, `L-nW`.
        if kind == Kind::Dom && item.peek().is_some_and(|c| c.eq_ignore_ascii_case(&b'L')) {
            if !quartz {
                return Err(item.err("'L' is not supported in the unix dialect".to_string()));
            }
            item.pos += 1;
            let mut n = 0;
            if item.eat(b'-') {
                let start = item.pos;
                n = item.number("an offset 0-30 after 'L-'")?;
                if n > 30 {
                    item.pos = start;
                    return Err(item.err(format!("offset {n} out of range: expected 0-30")));
                }
            }
            if item.eat(b'W') {
                field.dom_last_weekday |= 1 << n;
            } else {
                field.dom_last |= 1 << n;
            }
            return Ok(true);
        }
        // Day-of-week `L` alone = Saturday.
        if kind == Kind::Dow && item.peek().is_some_and(|c| c.eq_ignore_ascii_case(&b'L')) {
            if !quartz {
                return Err(item.err("'L' is not supported in the unix dialect".to_string()));
            }
            item.pos += 1;
            field.bits.set(7);
            return Ok(true);
        }
        Ok(false)
    }

    /// `first-last` with an optional `/step`, after its first value.
    fn parse_range(
        item: &mut Item<'_>,
        field: &mut Field,
        start_pos: usize,
        first: u32,
    ) -> Result<(), CronError> {
        let kind = item.spec.kind;
        let quartz = item.ctx.dialect == Dialect::Quartz;
        item.pos += 1;
        let last = item.value()?;
        let step = if item.eat(b'/') {
            field.star_or_step = true;
            item.step()?
        } else {
            1
        };
        match item.peek().map(|c| c.to_ascii_uppercase()) {
            Some(b'W') if kind == Kind::Dom && quartz => {
                return Err(
                    item.err("'W' is only allowed after a single day, e.g. '15W'".to_string())
                );
            }
            Some(b'#') if kind == Kind::Dow && quartz => {
                return Err(item.err(
                    "'#' is only allowed after a single day of week, e.g. '6#3'".to_string(),
                ));
            }
            Some(b'L') if kind == Kind::Dow && quartz => {
                return Err(item
                    .err("'L' is only allowed after a single day of week, e.g. '6L'".to_string()));
            }
            _ => {}
        }
        range(item, field, start_pos, first, last, step)
    }

    fn parse_item(item: &mut Item<'_>, field: &mut Field) -> Result<(), CronError> {
        let spec = item.spec;
        let kind = spec.kind;
        let quartz = item.ctx.dialect == Dialect::Quartz;
        if item.eat(b'*') {
            field.star_or_step = true;
            let step = if item.eat(b'/') { item.step()? } else { 1 };
            fill(field, spec, spec.min, spec.max, step);
            return Ok(());
        }
        if item.peek() == Some(b'?') {
            return Err(item.err("'?' must be the whole field".to_string()));
        }
        if parse_last(item, field)? {
            return Ok(());
        }
        let start_pos = item.pos;
        let first = item.value()?;
        match item.peek().map(|c| c.to_ascii_uppercase()) {
            Some(b'W') if kind == Kind::Dom => {
                if !quartz {
                    return Err(item.err("'W' is not supported in the unix dialect".to_string()));
                }
                item.pos += 1;
                field.dom_near_weekday |= 1 << first;
                Ok(())
            }
            Some(b'L') if kind == Kind::Dow => {
                if !quartz {
                    return Err(item.err("'L' is not supported in the unix dialect".to_string()));
                }
                item.pos += 1;
                field.dow_last |= 1 << (first - 1);
                Ok(())
            }
            Some(b'#') if kind == Kind::Dow => {
                if !quartz {
                    return Err(item.err("'#' is not supported in the unix dialect".to_string()));
                }
                item.pos += 1;
                let start = item.pos;
                let k = item.number("an occurrence 1-5 after '#'")?;
                if !(1..=5).contains(&k) {
                    item.pos = start;
                    return Err(item.err(format!("occurrence {k} out of range: expected 1-5")));
                }
                field.dow_nth |= 1u64 << ((first - 1) * 5 + (k - 1));
                Ok(())
            }
            Some(b'-') => parse_range(item, field, start_pos, first),
            Some(b'/') => {
                item.pos += 1;
                field.star_or_step = true;
                let step = item.step()?;
                fill(field, spec, first, spec.max, step);
                Ok(())
            }
            _ => {
                fill(field, spec, first, first, 1);
                Ok(())
            }
        }
    }

    fn range(
        item: &mut Item<'_>,
        field: &mut Field,
        start_pos: usize,
        first: u32,
        last: u32,
        step: u32,
    ) -> Result<(), CronError> {
        let spec = item.spec;
        if first <= last {
            fill(field, spec, first, last, step);
            return Ok(());
        }
        if !spec.wrap {
            item.pos = start_pos;
            return Err(item.err(format!(
                "range {first}-{last} runs backwards: expected the first value not above the \
                 last"
            )));
        }
        if spec.kind == Kind::Dow && spec.min == 0 {
            // Unix: 7 is Sunday too; wrap over 0..=6.
            let (a, b) = (first % 7, last % 7);
            let unix = Spec {
                max: 6,
                ..Spec::new(Kind::Dow, Dialect::Unix)
            };
            if a <= b {
                fill(field, &unix, a, b, step);
            } else {
                wrap(field, &unix, a, b, step);
            }
            return Ok(());
        }
        wrap(field, spec, first, last, step);
        Ok(())
    }

    /// Sets first..=last (first <= last) every `step`.
    fn fill(field: &mut Field, spec: &Spec, first: u32, last: u32, step: u32) {
        let mut v = first;
        while v <= last {
            set_value(field, spec, v);
            v += step;
        }
    }

    /// Sets first..=max, min..=last (first > last) every `step`, the step
    /// carrying across the wrap (as Quartz).
    fn wrap(field: &mut Field, spec: &Spec, first: u32, last: u32, step: u32) {
        let size = spec.max - spec.min + 1;
        let span = last + size - first;
        let mut i = 0;
        while i <= span {
            let mut v = first + i;
            if v > spec.max {
                v -= size;
            }
            set_value(field, spec, v);
            i += step;
        }
    }

    fn set_value(field: &mut Field, spec: &Spec, v: u32) {
        if spec.kind == Kind::Year {
            field.bits.set(v - MIN_YEAR as u32);
        } else {
            field.bits.set(v);
        }
    }
}

#[cfg(test)]
#[path = "cron_tests.rs"]
mod tests;
