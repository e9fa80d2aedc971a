//! `cosched next`: the next fires of a schedule given on the command line
//! (cron, `--every`, `--calendar-interval`, `--daily`), or of a stored job
//! (`--job`), walked with the step the scheduler advances triggers with
//! ([`TriggerTimeline`]). The non-cron schedules go through the same
//! validator as the TOML file and the HTTP body.

use std::path::PathBuf;

use chrono::{Utc, Weekday};
use chrono_tz::Tz;
use clap::{ArgGroup, Args};

use super::{CliError, DatabaseArgs, MAX_PREVIEW_COUNT, client, output, parse_instant};
use crate::config;
use crate::declare::{
    self, CalendarIntervalDecl, DailyDecl, Door, JobDecl, ScheduleDecl, ValidationContext,
    ValidationError, hint,
};
use crate::jobs::JobRegistry;
use crate::schedule::ScheduleSpec;
use crate::schedule::calendar::CalendarSet;
use crate::schedule::cron::{CronExpr, Dialect};
use crate::schedule::dst::{DstOptions, FoldPolicy, GapPolicy};
use crate::schedule::interval::parse_weekday;
use crate::schedule::preview::TriggerTimeline;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true)
    .args(["expression", "every", "calendar_interval", "daily", "job"])))]
pub struct NextArgs {
    /// A cron expression, e.g. '0 30 2 * * ?'.
    pub expression: Option<String>,
    /// Every span of real time, e.g. 90m (with --start, --end, --repeat).
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// Every N units of the calendar in the zone, keeping the wall-clock
    /// time, e.g. '1 month' (with --start, --end).
    #[arg(long, value_name = "N UNIT")]
    pub calendar_interval: Option<String>,
    /// Every N seconds, minutes or hours within a daily window, e.g.
    /// 'every 15 minute from 09:00 to 17:00 on mon-fri', or the TOML table
    /// '{ every = 15, unit = "minute", from = "09:00", to = "17:00" }'.
    #[arg(long, value_name = "SPEC")]
    pub daily: Option<String>,
    /// A stored job: its next fires exactly as the node will record them
    /// (every trigger, its zone, calendars and end; also while paused).
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Where --every, --calendar-interval and --daily count from (RFC
    /// 3339), default now.
    #[arg(long)]
    pub start: Option<String>,
    /// No fire after this instant (RFC 3339).
    #[arg(long)]
    pub end: Option<String>,
    /// Fires after the first (--every, --daily); default: forever.
    #[arg(long)]
    pub repeat: Option<i64>,
    /// IANA time zone the schedule is read in (and the times are shown in).
    #[arg(long, visible_alias = "zone", default_value = "UTC")]
    pub tz: String,
    /// How many fire times (1 to 10000).
    #[arg(short = 'n', long = "count", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PREVIEW_COUNT))]
    pub count: u64,
    /// Start after this instant (RFC 3339), default now.
    #[arg(long)]
    pub from: Option<String>,
    /// Cron dialect.
    #[arg(long, default_value = "quartz")]
    pub dialect: String,
    /// What a fixed time in a spring-forward gap does.
    #[arg(long)]
    pub dst_gap: Option<String>,
    /// What a wall time that occurs twice does.
    #[arg(long)]
    pub dst_fold: Option<String>,
    /// Skip the instants this calendar excludes (repeatable); the calendar
    /// is read from the `[[calendar]]` tables of `--config`.
    #[arg(long = "calendar", value_name = "NAME", requires = "config")]
    pub calendars: Vec<String>,
    /// The configuration file whose `[[calendar]]` tables `--calendar`
    /// names (and, with --job, where the database is).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL for --job (else DATABASE_URL, else the --config file's).
    #[arg(long, env = "DATABASE_URL")]
    pub database: Option<String>,
    /// Print JSON: an array of RFC 3339 instants (with --job, the job's
    /// preview object).
    #[arg(long)]
    pub json: bool,
}

/// `cosched next`.
pub async fn next(args: NextArgs, registry: &JobRegistry) -> Result<(), CliError> {
    if let Some(job) = &args.job {
        return job_next(job, &args, registry).await;
    }
    let calendars = match &args.config {
        Some(path) if !args.calendars.is_empty() => config::load_file(path, registry)?
            .calendar_set(&args.calendars)
            .map_err(|e| CliError::Usage(format!("--calendar: {e}")))?,
        _ => CalendarSet::default(),
    };
    let tz = zone(&args.tz)?;
    let from = match &args.from {
        Some(f) => parse_instant(f, "--from")?,
        None => Utc::now(),
    };
    let spec = match &args.expression {
        Some(expression) => cron_spec(expression, &args, tz)?,
        None => declared_spec(&args, tz, registry)?,
    };
    let start_at = spec.start_at(from);
    let mut first = spec.first_fire_allowed(from, &calendars);
    let timeline = TriggerTimeline {
        spec: &spec,
        start_at,
        repeat_count: spec.repeat_count(),
        times_fired: 0,
        next: first,
        calendars: &calendars,
    };
    // A cron preview starts strictly after --from, as it always did.
    if matches!(spec, ScheduleSpec::Cron { .. }) {
        first = first
            .filter(|t| *t > from)
            .or_else(|| timeline.next_after(from));
    }
    let n = usize::try_from(args.count).unwrap_or(usize::MAX);
    let fires = TriggerTimeline {
        next: first,
        ..timeline
    }
    .upcoming(n);
    if fires.is_empty() {
        // Nothing to print is not a preview: say why, as a failure.
        let what = match &args.expression {
            Some(expression) => format!("`{expression}`"),
            None => "this schedule".to_string(),
        };
        return Err(CliError::Runtime(format!(
            "{what} never fires after {}{}",
            from.to_rfc3339(),
            if calendars.is_empty() {
                ""
            } else {
                " outside the calendars given"
            }
        )));
    }
    output::preview(&fires, tz, args.json);
    Ok(())
}

async fn job_next(job: &str, args: &NextArgs, registry: &JobRegistry) -> Result<(), CliError> {
    let db = DatabaseArgs {
        database: args.database.clone(),
        config: args.config.clone(),
    };
    let client = client(&db, registry).await?;
    let n = usize::try_from(args.count).unwrap_or(usize::MAX);
    let preview = client.job_preview(job, n).await?;
    output::job_preview(&preview, zone(&args.tz)?, args.json);
    Ok(())
}

fn zone(name: &str) -> Result<Tz, CliError> {
    name.parse().map_err(|_| {
        let hint = hint::as_suffix(name, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()));
        CliError::Usage(format!("unknown time zone `{name}`{hint}"))
    })
}

fn cron_spec(expression: &str, args: &NextArgs, tz: Tz) -> Result<ScheduleSpec, CliError> {
    let dialect: Dialect = args
        .dialect
        .parse()
        .map_err(|e: crate::closed_enum::UnknownName| CliError::Usage(e.to_string()))?;
    let expr = CronExpr::parse(expression, dialect).map_err(|e| {
        let caret = format!("{}^", " ".repeat(e.column.saturating_sub(1)));
        CliError::Usage(format!(
            "invalid cron expression: {e}\n  {expression}\n  {caret}"
        ))
    })?;
    let dst = DstOptions {
        gap: args
            .dst_gap
            .as_deref()
            .map(str::parse::<GapPolicy>)
            .transpose()
            .map_err(|e| CliError::Usage(e.to_string()))?,
        fold: args
            .dst_fold
            .as_deref()
            .map(str::parse::<FoldPolicy>)
            .transpose()
            .map_err(|e| CliError::Usage(e.to_string()))?,
    };
    Ok(ScheduleSpec::Cron { expr, tz, dst })
}

/// The schedule of --every, --calendar-interval or --daily, through the
/// declaration validator every other door uses.
fn declared_spec(
    args: &NextArgs,
    tz: Tz,
    registry: &JobRegistry,
) -> Result<ScheduleSpec, CliError> {
    let mut schedule = ScheduleDecl {
        every: args.every.clone(),
        start: args.start.clone(),
        end: args.end.clone(),
        repeat: args.repeat,
        ..ScheduleDecl::default()
    };
    if let Some(text) = &args.calendar_interval {
        schedule.calendar_interval = Some(calendar_interval(text)?);
    }
    if let Some(text) = &args.daily {
        schedule.daily = Some(daily(text)?);
    }
    if schedule.every.is_none() {
        schedule.timezone = Some(tz.name().to_string());
    }
    let decl = JobDecl {
        name: "preview".into(),
        kind: "noop".into(),
        schedule: Some(schedule),
        ..JobDecl::default()
    };
    let ctx = ValidationContext {
        registry,
        default_timezone: tz,
        calendars: &[],
        door: Door::Api,
        http_policy: None,
    };
    let validated = declare::validate(&decl, &ctx).map_err(usage)?;
    validated
        .trigger
        .map(|t| t.spec)
        .ok_or_else(|| CliError::Usage("no schedule given".into()))
}

/// A validation error in the words of the flags.
fn usage(e: ValidationError) -> CliError {
    let lines: Vec<String> = e
        .issues
        .iter()
        .map(|i| {
            let field = i.path.strip_prefix("schedule.").unwrap_or(&i.path);
            let flag = match field.split(['.', '[']).next().unwrap_or(field) {
                "calendar_interval" => "--calendar-interval",
                "daily" => "--daily",
                "every" => "--every",
                "start" => "--start",
                "end" => "--end",
                "repeat" => "--repeat",
                "timezone" => "--tz",
                _ => field,
            };
            format!("{flag}: {}", i.message)
        })
        .collect();
    CliError::Usage(lines.join("\n"))
}

/// `'1 month'`, `'2 weeks'`, `'month'`.
fn calendar_interval(text: &str) -> Result<CalendarIntervalDecl, CliError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (every, unit) = match words.as_slice() {
        [unit] => (1, *unit),
        [n, unit] => (count(n, "--calendar-interval")?, *unit),
        _ => {
            return Err(CliError::Usage(format!(
                "--calendar-interval `{text}`: expected N UNIT, e.g. '1 month' or '2 weeks'"
            )));
        }
    };
    Ok(CalendarIntervalDecl {
        every,
        unit: unit.to_string(),
        ..CalendarIntervalDecl::default()
    })
}

fn count(n: &str, flag: &str) -> Result<i64, CliError> {
    n.parse()
        .map_err(|_| CliError::Usage(format!("{flag}: `{n}` is not a whole number")))
}

/// `'every 15 minute from 09:00 to 17:00 on mon-fri'` (each part but
/// `every` optional; days as `mon-fri` or `mon,wed,fri`), or the TOML
/// inline table of a `daily` key.
fn daily(text: &str) -> Result<DailyDecl, CliError> {
    if text.trim_start().starts_with('{') {
        let table: toml::Table = toml::from_str(&format!("daily = {text}"))
            .map_err(|e| CliError::Usage(format!("--daily: {}", e.message())))?;
        return table
            .get("daily")
            .cloned()
            .ok_or_else(|| CliError::Usage("--daily: expected a table".into()))?
            .try_into()
            .map_err(|e: toml::de::Error| CliError::Usage(format!("--daily: {}", e.message())));
    }
    let bad = |why: &str| {
        CliError::Usage(format!(
            "--daily `{text}`: {why}; expected e.g. 'every 15 minute from 09:00 to 17:00 on mon-fri'"
        ))
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let [first, n, unit, rest @ ..] = words.as_slice() else {
        return Err(bad("too short"));
    };
    if !first.eq_ignore_ascii_case("every") {
        return Err(bad("it starts with `every`"));
    }
    let mut decl = DailyDecl {
        every: count(n, "--daily")?,
        unit: unit.to_string(),
        ..DailyDecl::default()
    };
    for pair in rest.chunks(2) {
        match pair {
            [key, value] if key.eq_ignore_ascii_case("from") => decl.from = Some(value.to_string()),
            [key, value] if key.eq_ignore_ascii_case("to") => decl.to = Some(value.to_string()),
            [key, value] if key.eq_ignore_ascii_case("on") => decl.days = Some(days(value)?),
            _ => return Err(bad(&format!("`{}` is not understood", pair.join(" ")))),
        }
    }
    Ok(decl)
}

/// `mon-fri`, `sat,sun`, `fri-mon` (wrapping) as day names.
fn days(text: &str) -> Result<Vec<String>, CliError> {
    let day = |s: &str| {
        parse_weekday(s).map_err(|e| CliError::Usage(format!("--daily days `{text}`: {e}")))
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (mut d, last) = (day(a)?, day(b)?);
                out.push(name(d));
                while d != last {
                    d = d.succ();
                    out.push(name(d));
                }
            }
            None => out.push(name(day(part)?)),
        }
    }
    Ok(out)
}

fn name(d: Weekday) -> String {
    d.to_string().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_phrases_and_day_ranges_read_as_the_toml_table() {
        let d = daily("every 15 minute from 09:00 to 17:00 on mon-fri").unwrap();
        assert_eq!(d.every, 15);
        assert_eq!(d.unit, "minute");
        assert_eq!(d.from.as_deref(), Some("09:00"));
        assert_eq!(d.to.as_deref(), Some("17:00"));
        assert_eq!(
            d.days.unwrap(),
            ["mon", "tue", "wed", "thu", "fri"].map(String::from)
        );
        let t = daily(r#"{ every = 2, unit = "hour", days = ["sat"] }"#).unwrap();
        assert_eq!((t.every, t.unit.as_str()), (2, "hour"));
        assert_eq!(
            days("fri-mon").unwrap(),
            ["fri", "sat", "sun", "mon"].map(String::from)
        );
        assert!(daily("every 15").is_err());
        assert!(daily("each 15 minute").is_err());
        assert!(daily("every 15 minute at 09:00").is_err());
        assert!(days("mon-funday").is_err());
    }

    #[test]
    fn calendar_intervals_read_n_and_unit() {
        let c = calendar_interval("2 weeks").unwrap();
        assert_eq!((c.every, c.unit.as_str()), (2, "weeks"));
        assert_eq!(calendar_interval("month").unwrap().every, 1);
        assert!(calendar_interval("one month").is_err());
        assert!(calendar_interval("1 month please").is_err());
    }
}
