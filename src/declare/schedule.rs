//! The schedule half of the validator: one schedule kind with the keys it
//! takes, its misfire policy, threshold and calendars.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::error::Issues;
use super::{CalendarIntervalDecl, DailyDecl, ScheduleDecl, ValidationContext, hint, ranges};
use crate::model::TriggerDef;
use crate::schedule::cron::{CronExpr, CronSchedule, Dialect, MAX_YEAR};
use crate::schedule::dst::{DstOptions, FoldPolicy, GapPolicy};
use crate::schedule::interval::{DaysOfWeek, IntervalError, IntervalUnit, parse_weekday};
use crate::schedule::misfire::MisfirePolicy;
use crate::schedule::spec::SpecError;
use crate::schedule::{ScheduleSpec, TriggerKind};

/// The schedule kinds, as keys.
const KINDS: [&str; 5] = ["cron", "every", "at", "calendar_interval", "daily"];

/// Keys that only some schedules take, and which.
const SCOPED: [(&str, &[&str]); 7] = [
    ("dialect", &["cron"]),
    ("timezone", &["cron", "calendar_interval", "daily"]),
    ("dst_gap", &["cron"]),
    ("dst_fold", &["cron"]),
    ("start", &["every", "calendar_interval", "daily"]),
    ("end", &["every", "calendar_interval", "daily"]),
    ("repeat", &["every", "daily"]),
];

/// The trigger of `s`, or None when it has no schedule or a field is wrong
/// (each problem is in `issues`).
pub(super) fn trigger_def(
    s: &ScheduleDecl,
    ctx: &ValidationContext<'_>,
    issues: &mut Issues,
) -> Option<TriggerDef> {
    let before = issues.len();
    let given = given_kinds(s);
    if given.len() > 1 {
        issues.push(
            format!("schedule.{}", given[1]),
            format!(
                "a job has at most one schedule, found {}: keep one of them",
                given.join(" and ")
            ),
        );
        return None;
    }
    let kind = given.first().copied();
    check_scoped(s, kind, issues);
    let Some(kind) = kind else {
        unscheduled(s, issues, before);
        return None;
    };
    let spec = match kind {
        "cron" => cron_spec(s, ctx, issues),
        "every" => every_spec(s, issues),
        "calendar_interval" => s
            .calendar_interval
            .as_ref()
            .and_then(|ci| calendar_interval_spec(s, ci, ctx, issues)),
        "daily" => s.daily.as_ref().and_then(|d| daily_spec(s, d, ctx, issues)),
        _ => {
            s.at.as_deref()
                .and_then(|at| issues.check("schedule.at", ranges::instant(at, "at")))
                .map(|at| ScheduleSpec::Once { at })
        }
    };
    let misfire = misfire(s, trigger_kind(kind), issues);
    let misfire_threshold = s.misfire_threshold.as_deref().and_then(|t| {
        let key = "misfire_threshold";
        let d = issues.check(
            "schedule.misfire_threshold",
            ranges::duration(t, key, ranges::PERIOD),
        )?;
        chrono::Duration::from_std(d).ok()
    });
    let calendars = calendars(s, ctx, issues);
    if issues.len() > before {
        return None;
    }
    let Some(spec) = spec else {
        issues.push("schedule", "the schedule is invalid");
        return None;
    };
    Some(TriggerDef {
        spec,
        misfire,
        misfire_threshold,
        calendars,
        priority: None,
        data: None,
    })
}

fn given_kinds(s: &ScheduleDecl) -> Vec<&'static str> {
    let present = [
        s.cron.is_some(),
        s.every.is_some(),
        s.at.is_some(),
        s.calendar_interval.is_some(),
        s.daily.is_some(),
    ];
    KINDS
        .iter()
        .zip(present)
        .filter(|(_, p)| *p)
        .map(|(k, _)| *k)
        .collect()
}

fn trigger_kind(schedule: &str) -> TriggerKind {
    match schedule {
        "cron" => TriggerKind::Cron,
        "every" => TriggerKind::Interval,
        "calendar_interval" => TriggerKind::CalendarInterval,
        "daily" => TriggerKind::DailyTimeInterval,
        _ => TriggerKind::Once,
    }
}

fn check_scoped(s: &ScheduleDecl, kind: Option<&str>, issues: &mut Issues) {
    let present = [
        s.dialect.is_some(),
        s.timezone.is_some(),
        s.dst_gap.is_some(),
        s.dst_fold.is_some(),
        s.start.is_some(),
        s.end.is_some(),
        s.repeat.is_some(),
    ];
    for ((key, allowed), present) in SCOPED.iter().zip(present) {
        if !present || kind.is_some_and(|k| allowed.contains(&k)) {
            continue;
        }
        let allowed = allowed
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        let found = match kind {
            Some(k) => format!("this job's schedule is `{k}`"),
            None => "this job has no schedule".to_string(),
        };
        issues.push(
            format!("schedule.{key}"),
            format!("`{key}` applies to a {allowed} schedule, and {found}"),
        );
    }
}

/// A schedule table without a schedule: what it holds is misplaced.
fn unscheduled(s: &ScheduleDecl, issues: &mut Issues, before: usize) {
    let present = [
        ("misfire", s.misfire.is_some()),
        ("misfire_threshold", s.misfire_threshold.is_some()),
        ("calendars", s.calendars.is_some()),
    ];
    for (key, _) in present.iter().filter(|(_, p)| *p) {
        issues.push(
            format!("schedule.{key}"),
            format!(
                "`{key}` applies to a scheduled job; this job has none of cron, every, at, calendar_interval or daily"
            ),
        );
    }
    if issues.len() == before {
        issues.push(
            "schedule",
            "`schedule` needs one of `cron`, `every`, `at`, `calendar_interval` or `daily` (leave `schedule` out for a job run on demand)",
        );
    }
}

fn timezone(s: &ScheduleDecl, ctx: &ValidationContext<'_>, issues: &mut Issues) -> Option<Tz> {
    match &s.timezone {
        None => Some(ctx.default_timezone),
        Some(name) => issues.check("schedule.timezone", parse_timezone(name)),
    }
}

/// An IANA zone name; the error names the nearest zone.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        let hint = hint::as_suffix(name, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()));
        format!("unknown time zone `{name}`: expected an IANA name such as \"Europe/Berlin\"{hint}")
    })
}

type StartEnd = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn start_end(s: &ScheduleDecl, issues: &mut Issues) -> StartEnd {
    let mut instant = |text: &Option<String>, key: &str| {
        let text = text.as_deref()?;
        issues.check(&format!("schedule.{key}"), ranges::instant(text, key))
    };
    (instant(&s.start, "start"), instant(&s.end, "end"))
}

fn repeat(s: &ScheduleDecl, issues: &mut Issues) -> Option<u32> {
    let r = s.repeat?;
    issues.check(
        "schedule.repeat",
        ranges::whole_as(r, "repeat", ranges::REPEAT),
    )
}

fn cron_spec(
    s: &ScheduleDecl,
    ctx: &ValidationContext<'_>,
    issues: &mut Issues,
) -> Option<ScheduleSpec> {
    let src = s.cron.as_deref()?;
    let dialect = match &s.dialect {
        None => Some(Dialect::Quartz),
        Some(d) => issues.check(
            "schedule.dialect",
            d.parse::<Dialect>().map_err(String::from),
        ),
    };
    let tz = timezone(s, ctx, issues);
    let gap = s.dst_gap.as_deref().and_then(|g| {
        issues.check(
            "schedule.dst_gap",
            g.parse::<GapPolicy>().map_err(|e| e.to_string()),
        )
    });
    let fold = s.dst_fold.as_deref().and_then(|f| {
        issues.check(
            "schedule.dst_fold",
            f.parse::<FoldPolicy>().map_err(|e| e.to_string()),
        )
    });
    let expr = match CronExpr::parse(src, dialect.unwrap_or_default()) {
        Ok(expr) => Some(expr),
        Err(e) => {
            issues.push_at(
                "schedule.cron",
                e.column,
                format!("invalid cron expression \"{src}\": {e}"),
            );
            None
        }
    };
    let (expr, tz) = (expr?, tz?);
    let dst = DstOptions { gap, fold };
    if let Err(e) = fires_at_all(&expr, tz, dst) {
        issues.push("schedule.cron", e);
        return None;
    }
    dialect?;
    Some(ScheduleSpec::Cron { expr, tz, dst })
}

/// An expression that matches nothing from 1970 to the last cron year
/// never fires for anyone: refused rather than stored complete at birth.
pub(super) fn fires_at_all(expr: &CronExpr, tz: Tz, dst: DstOptions) -> Result<(), String> {
    let from = DateTime::<Utc>::UNIX_EPOCH - chrono::Duration::milliseconds(1);
    match CronSchedule::new(expr.clone(), tz, dst).next_after(from) {
        Some(_) => Ok(()),
        None => Err(format!(
            "the cron expression \"{}\" never fires: no instant from 1970 to {MAX_YEAR} matches it",
            expr.source()
        )),
    }
}

fn every_spec(s: &ScheduleDecl, issues: &mut Issues) -> Option<ScheduleSpec> {
    let every = s.every.as_deref().and_then(|e| {
        issues.check(
            "schedule.every",
            ranges::duration(e, "every", ranges::PERIOD),
        )
    });
    let (start, end) = start_end(s, issues);
    let repeat = repeat(s, issues);
    if let (Some(st), Some(en)) = (start, end)
        && en < st
    {
        issues.push("schedule.end", "`end` is before `start`");
    }
    Some(ScheduleSpec::Interval {
        every: chrono::Duration::from_std(every?).ok()?,
        start,
        end,
        repeat,
    })
}

fn interval_every(every: i64, path: &str, key: &str, issues: &mut Issues) -> Option<u32> {
    issues.check(path, ranges::whole_as(every, key, ranges::INTERVAL_EVERY))
}

/// A unit name (singular or plural, any case).
fn interval_unit(text: &str, path: &str, key: &str, issues: &mut Issues) -> Option<IntervalUnit> {
    let parsed = text.parse::<IntervalUnit>().map_err(|_| {
        let hint = hint::as_prefix(text, IntervalUnit::ALL.iter().map(|u| u.as_str()));
        format!(
            "`{key}` = \"{text}\" is not a unit: {hint}expected second, minute, hour, day, week, month or year"
        )
    });
    issues.check(path, parsed)
}

/// The path of the field a calendar or daily interval's fault is in.
fn spec_error_path(e: &SpecError, table: &str) -> String {
    match e {
        SpecError::EveryTooLarge(_) | SpecError::Interval(IntervalError::ZeroCount) => {
            format!("{table}.every")
        }
        SpecError::Interval(IntervalError::UnitNotAllowed { .. }) => format!("{table}.unit"),
        SpecError::Interval(IntervalError::EndBeforeStart { .. }) => "schedule.end".to_string(),
        SpecError::Interval(IntervalError::StartTimeAfterEndTime { .. }) => {
            format!("{table}.to")
        }
        SpecError::Interval(IntervalError::NoDaysOfWeek) => format!("{table}.days"),
        _ => table.to_string(),
    }
}

fn calendar_interval_spec(
    s: &ScheduleDecl,
    ci: &CalendarIntervalDecl,
    ctx: &ValidationContext<'_>,
    issues: &mut Issues,
) -> Option<ScheduleSpec> {
    const TABLE: &str = "schedule.calendar_interval";
    let tz = timezone(s, ctx, issues);
    let (start, end) = start_end(s, issues);
    let every = interval_every(
        ci.every,
        "schedule.calendar_interval.every",
        "calendar_interval.every",
        issues,
    );
    let unit = interval_unit(
        &ci.unit,
        "schedule.calendar_interval.unit",
        "calendar_interval.unit",
        issues,
    );
    let built = ScheduleSpec::calendar_interval(
        every?,
        unit?,
        tz?,
        start,
        end,
        ci.preserve_hour_of_day.unwrap_or(false),
        ci.skip_day_if_hour_does_not_exist.unwrap_or(false),
    );
    built
        .map_err(|e| {
            issues.push(
                spec_error_path(&e, TABLE),
                format!("`calendar_interval`: {e}"),
            )
        })
        .ok()
}

/// `HH:MM` or `HH:MM:SS` (with an optional fraction).
pub fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
}

fn time_of_day(
    v: &Option<String>,
    key: &str,
    default: NaiveTime,
    issues: &mut Issues,
) -> Option<NaiveTime> {
    let Some(text) = v else { return Some(default) };
    let parsed = parse_time_of_day(text).ok_or_else(|| {
        format!("`daily.{key}` = \"{text}\": expected a time of day \"HH:MM\" or \"HH:MM:SS\", e.g. \"09:00\"")
    });
    issues.check(&format!("schedule.daily.{key}"), parsed)
}

fn days(list: &Option<Vec<String>>, issues: &mut Issues) -> Option<DaysOfWeek> {
    let Some(list) = list else {
        return Some(DaysOfWeek::ALL);
    };
    const NAMES: [&str; 14] = [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let mut days = DaysOfWeek::NONE;
    let mut ok = true;
    for (i, day) in list.iter().enumerate() {
        match parse_weekday(day) {
            Ok(w) => days.insert(w),
            Err(_) => {
                ok = false;
                issues.push(
                    format!("schedule.daily.days[{i}]"),
                    format!(
                        "`daily.days`: unknown day \"{day}\": {}expected mon, tue, wed, thu, fri, sat, sun (or full names)",
                        hint::as_prefix(day, NAMES)
                    ),
                );
            }
        }
    }
    ok.then_some(days)
}

fn daily_spec(
    s: &ScheduleDecl,
    d: &DailyDecl,
    ctx: &ValidationContext<'_>,
    issues: &mut Issues,
) -> Option<ScheduleSpec> {
    const TABLE: &str = "schedule.daily";
    let tz = timezone(s, ctx, issues);
    let (start, end) = start_end(s, issues);
    let every = interval_every(d.every, "schedule.daily.every", "daily.every", issues);
    let unit = interval_unit(&d.unit, "schedule.daily.unit", "daily.unit", issues);
    let from = time_of_day(&d.from, "from", NaiveTime::MIN, issues);
    let last_second = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    let to = time_of_day(&d.to, "to", last_second, issues);
    let days = days(&d.days, issues);
    let repeat = repeat(s, issues);
    let built = ScheduleSpec::daily_time_interval(
        every?, unit?, tz?, days?, from?, to?, start, end, repeat,
    );
    built
        .map_err(|e| issues.push(spec_error_path(&e, TABLE), format!("`daily`: {e}")))
        .ok()
}

/// `"do_nothing"` or `{ catch_up = 10 }`, checked against the trigger kind.
fn misfire(s: &ScheduleDecl, kind: TriggerKind, issues: &mut Issues) -> MisfirePolicy {
    let Some(v) = &s.misfire else {
        return MisfirePolicy::Smart;
    };
    let policy = parse_misfire(v).and_then(|p| applies(p, kind));
    issues
        .check("schedule.misfire", policy)
        .unwrap_or(MisfirePolicy::Smart)
}

/// The policy, if it is defined for triggers of `kind`.
pub(super) fn applies(p: MisfirePolicy, kind: TriggerKind) -> Result<MisfirePolicy, String> {
    if p.applies_to(kind) {
        return Ok(p);
    }
    Err(format!(
        "misfire policy `{}` does not apply to a {} trigger: expected one of {}",
        p.as_str(),
        kind.as_str(),
        MisfirePolicy::names_for(kind).join(", ")
    ))
}

fn parse_misfire(v: &Value) -> Result<MisfirePolicy, String> {
    let expected = format!(
        "expected misfire = {{ catch_up = N }} with N from {} to {}",
        ranges::CATCH_UP.0,
        ranges::CATCH_UP.1
    );
    match v {
        Value::String(s) if s == "catch_up" => {
            Err("`catch_up` takes a cap: misfire = { catch_up = 10 }".to_string())
        }
        Value::String(s) => s.parse(),
        Value::Object(m) => match (m.len(), m.get("catch_up").and_then(Value::as_i64)) {
            (1, Some(n)) => ranges::whole_as::<u32>(n, "misfire.catch_up", ranges::CATCH_UP)
                .map(MisfirePolicy::CatchUp)
                .map_err(|_| expected),
            _ => Err(expected),
        },
        other => Err(format!(
            "`misfire` must be a policy name or {{ catch_up = N }}, found {other}"
        )),
    }
}

fn calendars(s: &ScheduleDecl, ctx: &ValidationContext<'_>, issues: &mut Issues) -> Vec<String> {
    let Some(list) = &s.calendars else {
        return Vec::new();
    };
    known_calendars(list, ctx, issues);
    list.clone()
}

/// Each name must be a calendar of the context.
pub(super) fn known_calendars(list: &[String], ctx: &ValidationContext<'_>, issues: &mut Issues) {
    for (i, name) in list.iter().enumerate() {
        if !ctx.calendars.iter().any(|c| c == name) {
            issues.push(
                format!("schedule.calendars[{i}]"),
                format!(
                    "unknown calendar `{name}`: {}{}",
                    ctx.door.unknown_calendar_advice(name),
                    hint::as_suffix(name, ctx.calendars.iter().map(String::as_str))
                ),
            );
        }
    }
}
