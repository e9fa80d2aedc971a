//! Rows <-> model, strictly, in one place: the only code that turns a
//! sea-orm row into a [`crate::model`] value, and a declaration back into
//! columns.
//!
//! A column that does not decode is never defaulted: decoding fails with a
//! [`MalformedRow`] naming the table, the row's id and the column. Rows
//! written by plain SQL can be anything the CHECK constraints let through
//! (JSON that does not parse, an unknown time zone, a cron expression that
//! does not compile, …), so every reader handles that failure, the same way
//! whatever the table: the row is logged (`tracing::error!` with table, id
//! and reason), counted ([`Store::malformed_rows`]) and put aside:
//!
//! - a leased trigger goes to state `error`, its `error` column naming the
//!   bad column (and it is not leased again);
//! - a leased trigger whose job row does not decode goes to `error` too,
//!   naming the job's bad column;
//! - a queued fire leased to run (or whose job row does not decode) is
//!   completed `failed`, with the reason as its error;
//! - in listings (`jobs` and their triggers, `fires`, `nodes`,
//!   `calendars`) the row is left out; a read of one row by its key
//!   returns [`StoreError::Malformed`];
//! - a calendar that does not decode fails only the triggers naming it
//!   (they go to `error` with the reason), as one that does not compile.
//!
//! [`Store::malformed_rows`]: super::Store::malformed_rows
//! [`StoreError::Malformed`]: super::StoreError::Malformed

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{Duration as TimeDelta, NaiveTime};
use chrono_tz::Tz;
use entity::{calendars, fires, jobs, nodes, notifications, triggers};
use sea_orm::Set;
use serde_json::Value;

use super::StoreError;
use crate::clock::from_ms;
use crate::model::{
    Calendar, Fire, Job, JobDef, KeepFiresOverride, NodeInfo, Notification, RetryPolicy, Trigger,
};
use crate::schedule::ScheduleSpec;
use crate::schedule::calendar::CalendarDef;
use crate::schedule::cron::CronExpr;
use crate::schedule::dst::DstOptions;
use crate::schedule::interval::{DaysOfWeek, IntervalError, IntervalUnit, parse_weekday};
use crate::schedule::misfire::MisfirePolicy;
use crate::schedule::spec::SpecError;

/// A row that does not decode: which one, which column, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed row in {table} (id {id}): {}", self.reason())]
pub struct MalformedRow {
    pub table: &'static str,
    pub id: String,
    pub column: &'static str,
    pub message: String,
}

impl MalformedRow {
    /// The column and what is wrong with it, as a put-aside row records it.
    pub fn reason(&self) -> String {
        format!("{}: {}", self.column, self.message)
    }
}

/// A column that does not decode.
#[derive(Debug)]
struct BadColumn {
    column: &'static str,
    message: String,
}

type Column<T> = Result<T, BadColumn>;

fn bad(column: &'static str, message: impl fmt::Display) -> BadColumn {
    BadColumn {
        column,
        message: message.to_string(),
    }
}

fn row_error(table: &'static str, id: impl ToString) -> impl FnOnce(BadColumn) -> MalformedRow {
    move |c| MalformedRow {
        table,
        id: id.to_string(),
        column: c.column,
        message: c.message,
    }
}

fn json(column: &'static str, text: &str) -> Column<Value> {
    serde_json::from_str(text).map_err(|e| bad(column, format_args!("is not JSON ({e})")))
}

fn parsed<T: FromStr>(column: &'static str, text: &str) -> Column<T>
where
    T::Err: fmt::Display,
{
    text.parse().map_err(|e| bad(column, e))
}

fn unsigned<T: TryFrom<i64>>(column: &'static str, value: i64) -> Column<T> {
    T::try_from(value).map_err(|_| bad(column, format_args!("is out of range: {value}")))
}

fn millis(column: &'static str, ms: i64) -> Column<Duration> {
    Ok(Duration::from_millis(unsigned(column, ms)?))
}

fn required<'a, T>(column: &'static str, v: &'a Option<T>) -> Column<&'a T> {
    v.as_ref().ok_or_else(|| bad(column, "is NULL"))
}

// ---- jobs ----------------------------------------------------------------

pub(super) fn job(row: &jobs::Model) -> Result<Job, MalformedRow> {
    decode_job(row).map_err(row_error("jobs", row.id))
}

fn decode_job(row: &jobs::Model) -> Column<Job> {
    Ok(Job {
        id: row.id,
        name: row.name.clone(),
        kind: row.kind.clone(),
        settings: json("settings", &row.settings)?,
        data: json("data", &row.data)?,
        pool: row.pool.clone(),
        group: row.job_group.clone(),
        overlap: parsed("overlap", &row.overlap)?,
        timeout: row
            .timeout_ms
            .map(|ms| millis("timeout_ms", ms))
            .transpose()?,
        priority: row.priority,
        retry: RetryPolicy {
            max_attempts: unsigned("retry_max_attempts", i64::from(row.retry_max_attempts))?,
            backoff: millis("retry_backoff_ms", row.retry_backoff_ms)?,
            factor: row.retry_factor,
            max_backoff: millis("retry_max_backoff_ms", row.retry_max_backoff_ms)?,
            jitter: row.retry_jitter,
        },
        requests_recovery: row.requests_recovery,
        paused: row.paused,
        keep_fires: row
            .keep_fires
            .as_deref()
            .map(keep_fires)
            .transpose()?
            .unwrap_or_default(),
        expect_success_within: row
            .expect_success_within_ms
            .map(|ms| millis("expect_success_within_ms", ms))
            .transpose()?,
        jitter: row
            .jitter
            .as_deref()
            .map(|t| super::jitter_column::decode(t).map_err(|m| bad("jitter", m)))
            .transpose()?,
        source: parsed("source", &row.source)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn stored_ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// The columns a job definition sets, for insert and update alike.
pub(super) fn job_columns(def: &JobDef, model: &mut jobs::ActiveModel) {
    model.name = Set(def.name.clone());
    model.kind = Set(def.kind.clone());
    model.settings = Set(def.settings.to_string());
    model.data = Set(def.data.to_string());
    model.pool = Set(def.pool.clone());
    model.job_group = Set(def.group.clone());
    model.overlap = Set(def.overlap.as_str().to_string());
    model.timeout_ms = Set(def.timeout.map(stored_ms));
    model.priority = Set(def.priority);
    model.retry_max_attempts = Set(def.retry.max_attempts.min(i32::MAX as u32) as i32);
    model.retry_backoff_ms = Set(stored_ms(def.retry.backoff));
    model.retry_factor = Set(def.retry.factor);
    model.retry_max_backoff_ms = Set(stored_ms(def.retry.max_backoff));
    model.retry_jitter = Set(def.retry.jitter);
    model.requests_recovery = Set(def.requests_recovery);
    model.paused = Set(def.paused);
    model.keep_fires = Set(keep_fires_column(&def.keep_fires));
    model.expect_success_within_ms = Set(def.expect_success_within.map(stored_ms));
    model.jitter = Set(super::jitter_column::encode(def.jitter.as_ref()));
}

/// The names of `jobs.keep_fires`'s fields: milliseconds per status, and
/// `max_rows`.
const KEEP_FIRES_FIELDS: [&str; 7] = [
    "succeeded_ms",
    "failed_ms",
    "timed_out_ms",
    "abandoned_ms",
    "cancelled_ms",
    "skipped_ms",
    "max_rows",
];

/// `jobs.keep_fires`: a JSON object of the fields the job sets; NULL when
/// it sets none.
fn keep_fires_column(k: &KeepFiresOverride) -> Option<String> {
    if k.is_empty() {
        return None;
    }
    let ages = [
        k.succeeded,
        k.failed,
        k.timed_out,
        k.abandoned,
        k.cancelled,
        k.skipped,
    ];
    let mut map = serde_json::Map::new();
    for (name, age) in KEEP_FIRES_FIELDS.iter().zip(ages) {
        if let Some(age) = age {
            map.insert((*name).to_string(), Value::from(stored_ms(age)));
        }
    }
    if let Some(n) = k.max_rows {
        map.insert("max_rows".to_string(), Value::from(n));
    }
    Some(Value::Object(map).to_string())
}

fn keep_fires(text: &str) -> Column<KeepFiresOverride> {
    const COLUMN: &str = "keep_fires";
    let Value::Object(map) = json(COLUMN, text)? else {
        return Err(bad(COLUMN, "is not a JSON object"));
    };
    let mut values = [None; 7];
    for (key, value) in &map {
        let Some(i) = KEEP_FIRES_FIELDS.iter().position(|f| f == key) else {
            return Err(bad(COLUMN, format_args!("has an unknown field `{key}`")));
        };
        let n = value
            .as_u64()
            .filter(|n| *n > 0 && i64::try_from(*n).is_ok())
            .ok_or_else(|| {
                bad(
                    COLUMN,
                    format_args!("`{key}` is not a positive whole number"),
                )
            })?;
        values[i] = Some(n);
    }
    let age = |i: usize| values[i].map(Duration::from_millis);
    Ok(KeepFiresOverride {
        succeeded: age(0),
        failed: age(1),
        timed_out: age(2),
        abandoned: age(3),
        cancelled: age(4),
        skipped: age(5),
        max_rows: values[6],
    })
}

// ---- triggers --------------------------------------------------------------

pub(super) fn trigger(row: &triggers::Model) -> Result<Trigger, MalformedRow> {
    decode_trigger(row).map_err(row_error("triggers", row.id))
}

fn decode_trigger(row: &triggers::Model) -> Column<Trigger> {
    let misfire = match row.misfire_policy.as_str() {
        "catch_up" => {
            let cap = *required("misfire_catch_up", &row.misfire_catch_up)?;
            MisfirePolicy::CatchUp(unsigned("misfire_catch_up", i64::from(cap))?)
        }
        name => parsed("misfire_policy", name)?,
    };
    Ok(Trigger {
        id: row.id,
        job_id: row.job_id,
        source: parsed("source", &row.source)?,
        spec: spec(row)?,
        misfire,
        misfire_threshold: row.misfire_threshold_ms.map(TimeDelta::milliseconds),
        calendars: calendar_names(row.calendars.as_deref()),
        data: row.data.as_deref().map(|d| json("data", d)).transpose()?,
        next_fire_at: row.next_fire_at,
        previous_fire_at: row.previous_fire_at,
        times_fired: unsigned("times_fired", row.times_fired)?,
        priority: row.priority,
        pool: row.pool.clone(),
        state: parsed("state", &row.state)?,
        error: row.error.clone(),
        paused: row.paused,
        lease_owner: row.lease_owner.clone(),
        lease_until: row.lease_until,
        fence: row.fence,
        start_at: row.start_at,
        repeat_count: row
            .repeat_count
            .map(|r| unsigned("repeat_count", r))
            .transpose()?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// `triggers.calendars`: names, comma-separated.
fn calendar_names(text: Option<&str>) -> Vec<String> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// Rebuilds a trigger's schedule from its columns.
fn spec(row: &triggers::Model) -> Column<ScheduleSpec> {
    match row.kind.as_str() {
        "cron" => {
            let src = required("cron_expr", &row.cron_expr)?;
            let dialect = parsed("cron_dialect", &row.cron_dialect)?;
            let expr = CronExpr::parse(src, dialect)
                .map_err(|e| bad("cron_expr", format_args!("`{src}`: {e}")))?;
            let dst = DstOptions {
                gap: row
                    .dst_gap
                    .as_deref()
                    .map(|g| parsed("dst_gap", g))
                    .transpose()?,
                fold: row
                    .dst_fold
                    .as_deref()
                    .map(|f| parsed("dst_fold", f))
                    .transpose()?,
            };
            Ok(ScheduleSpec::Cron {
                expr,
                tz: timezone(&row.timezone)?,
                dst,
            })
        }
        "interval" => {
            let ms = *required("interval_ms", &row.interval_ms)?;
            if ms <= 0 {
                return Err(bad(
                    "interval_ms",
                    format_args!("must be positive, found {ms}"),
                ));
            }
            Ok(ScheduleSpec::Interval {
                every: TimeDelta::milliseconds(ms),
                start: Some(from_ms(row.start_at)),
                end: row.end_at.map(from_ms),
                repeat: repeat(row)?,
            })
        }
        "once" => Ok(ScheduleSpec::Once {
            at: from_ms(row.start_at),
        }),
        "calendar_interval" => {
            let (every, unit, tz) = interval_columns(row)?;
            ScheduleSpec::calendar_interval(
                every,
                unit,
                tz,
                Some(from_ms(row.start_at)),
                row.end_at.map(from_ms),
                row.preserve_hour_of_day,
                row.skip_day_if_hour_missing,
            )
            .map_err(|e| spec_error(&e))
        }
        "daily_time_interval" => {
            let (every, unit, tz) = interval_columns(row)?;
            let start_time = time_of_day("daily_start", &row.daily_start)?;
            let end_time = time_of_day("daily_end", &row.daily_end)?;
            let days = days(required("days_of_week", &row.days_of_week)?)?;
            ScheduleSpec::daily_time_interval(
                every,
                unit,
                tz,
                days,
                start_time,
                end_time,
                Some(from_ms(row.start_at)),
                row.end_at.map(from_ms),
                repeat(row)?,
            )
            .map_err(|e| spec_error(&e))
        }
        other => Err(bad(
            "kind",
            format_args!("trigger kind `{other}` is not supported by this node"),
        )),
    }
}

fn repeat(row: &triggers::Model) -> Column<Option<u32>> {
    row.repeat_count
        .map(|r| unsigned("repeat_count", r))
        .transpose()
}

fn timezone(name: &str) -> Column<Tz> {
    name.parse().map_err(|_| {
        bad(
            "timezone",
            format_args!("`{name}` is not an IANA time zone"),
        )
    })
}

/// `interval_every`, `interval_unit` and `timezone` of a calendar or daily
/// interval row.
fn interval_columns(row: &triggers::Model) -> Column<(u32, IntervalUnit, Tz)> {
    let every = *required("interval_every", &row.interval_every)?;
    let every = u32::try_from(every)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            bad(
                "interval_every",
                format_args!("must be positive, found {every}"),
            )
        })?;
    let unit = parsed(
        "interval_unit",
        required("interval_unit", &row.interval_unit)?,
    )?;
    Ok((every, unit, timezone(&row.timezone)?))
}

/// Names the column a constructor's complaint is about.
fn spec_error(e: &SpecError) -> BadColumn {
    let column = match e {
        SpecError::EveryTooLarge(_) | SpecError::Interval(IntervalError::ZeroCount) => {
            "interval_every"
        }
        SpecError::Interval(IntervalError::UnitNotAllowed { .. })
        | SpecError::Interval(IntervalError::UnknownUnit(_)) => "interval_unit",
        SpecError::Interval(IntervalError::EndBeforeStart { .. }) => "end_at",
        SpecError::Interval(IntervalError::StartTimeAfterEndTime { .. }) => "daily_start",
        SpecError::Interval(IntervalError::NoDaysOfWeek)
        | SpecError::Interval(IntervalError::UnknownWeekday(_)) => "days_of_week",
        SpecError::Interval(IntervalError::NonPositivePeriod(_)) => "interval_every",
    };
    bad(column, e)
}

/// A time of day as stored: `HH:MM:SS` with an optional fraction (`HH:MM`
/// also reads, for rows written by hand).
fn time_of_day(column: &'static str, v: &Option<String>) -> Column<NaiveTime> {
    let text = required(column, v)?;
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .map_err(|_| {
            bad(
                column,
                format_args!("`{text}` is not a time of day: expected HH:MM:SS"),
            )
        })
}

/// `days_of_week` as stored: `mon,tue,…` (full names and any case read too).
fn days(text: &str) -> Column<DaysOfWeek> {
    let mut days = DaysOfWeek::NONE;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        days.insert(
            parse_weekday(part).map_err(|e| bad("days_of_week", format_args!("`{text}`: {e}")))?,
        );
    }
    if days.is_empty() {
        return Err(bad(
            "days_of_week",
            format_args!("`{text}` names no day: expected e.g. mon,tue,wed"),
        ));
    }
    Ok(days)
}

/// The schedule columns of a trigger (kind, expression, zone, interval,
/// window, end), as [`spec`] reads them back.
pub(super) fn schedule_columns(
    spec: &ScheduleSpec,
    m: &mut triggers::ActiveModel,
) -> Result<(), StoreError> {
    m.kind = Set(spec.kind().as_str().to_string());
    match spec {
        ScheduleSpec::Cron { expr, tz, dst } => {
            m.cron_expr = Set(Some(expr.source().to_string()));
            m.cron_dialect = Set(expr.dialect().as_str().to_string());
            m.timezone = Set(tz.name().to_string());
            m.dst_gap = Set(dst.gap.map(|g| g.as_str().to_string()));
            m.dst_fold = Set(dst.fold.map(|f| f.as_str().to_string()));
        }
        ScheduleSpec::Interval { every, end, .. } => {
            m.interval_ms = Set(Some(every.num_milliseconds()));
            m.end_at = Set(end.map(|e| e.timestamp_millis()));
        }
        ScheduleSpec::CalendarInterval {
            every,
            unit,
            tz,
            end,
            preserve_hour_of_day,
            skip_day_if_hour_does_not_exist,
            ..
        } => {
            m.interval_unit = Set(Some(unit.as_str().to_string()));
            m.interval_every = Set(Some(stored_every(*every)?));
            m.timezone = Set(tz.name().to_string());
            m.end_at = Set(end.map(|e| e.timestamp_millis()));
            m.preserve_hour_of_day = Set(*preserve_hour_of_day);
            m.skip_day_if_hour_missing = Set(*skip_day_if_hour_does_not_exist);
        }
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
            m.interval_unit = Set(Some(unit.as_str().to_string()));
            m.interval_every = Set(Some(stored_every(*every)?));
            m.timezone = Set(tz.name().to_string());
            m.daily_start = Set(Some(start_time.format("%H:%M:%S%.f").to_string()));
            m.daily_end = Set(Some(end_time.format("%H:%M:%S%.f").to_string()));
            m.days_of_week = Set(Some(
                days.iter()
                    .map(|d| d.to_string().to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(","),
            ));
            m.end_at = Set(end.map(|e| e.timestamp_millis()));
        }
        ScheduleSpec::Once { .. } => {}
    }
    Ok(())
}

/// `every` as the `interval_every` column holds it (the spec constructors
/// keep it in range).
fn stored_every(every: u32) -> Result<i32, StoreError> {
    i32::try_from(every).map_err(|_| StoreError::Invalid {
        field: "every",
        message: format!(
            "`every` = {every} is too large: expected at most {}",
            i32::MAX
        ),
    })
}

// ---- fires -----------------------------------------------------------------

pub(super) fn fire(row: &fires::Model) -> Result<Fire, MalformedRow> {
    decode_fire(row).map_err(row_error("fires", row.id))
}

fn decode_fire(row: &fires::Model) -> Column<Fire> {
    Ok(Fire {
        id: row.id,
        trigger_id: row.trigger_id,
        job_id: row.job_id,
        job_name: row.job_name.clone(),
        scheduled_at: row.scheduled_at,
        due_at: row.due_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        node_id: row.node_id.clone(),
        attempt: unsigned("attempt", i64::from(row.attempt))?,
        fence: row.fence,
        status: parsed("status", &row.status)?,
        recovery: row.recovery,
        reason: row.reason.clone(),
        error: row.error.clone(),
        output: row.output.clone(),
        data: row.data.as_deref().map(|d| json("data", d)).transpose()?,
        jitter_ms: row.jitter_ms,
    })
}

// ---- nodes -----------------------------------------------------------------

pub(super) fn node(row: &nodes::Model) -> Result<NodeInfo, MalformedRow> {
    decode_node(row).map_err(row_error("nodes", &row.id))
}

fn decode_node(row: &nodes::Model) -> Column<NodeInfo> {
    let pools: Vec<String> = row.pools.split(',').map(str::to_string).collect();
    if pools.iter().any(|p| p.trim().is_empty()) {
        return Err(bad(
            "pools",
            format_args!(
                "`{}` names an empty pool: expected names separated by commas",
                row.pools
            ),
        ));
    }
    Ok(NodeInfo {
        id: row.id.clone(),
        host: row.host.clone(),
        pid: row.pid,
        version: row.version.clone(),
        pools,
        started_at: row.started_at,
        last_checkin_at: row.last_checkin_at,
        checkin_interval_ms: row.checkin_interval_ms,
        clock_offset_ms: row.clock_offset_ms,
        state: parsed("state", &row.state)?,
        declared_dead_by: row.declared_dead_by.clone(),
        declared_dead_at: row.declared_dead_at,
    })
}

// ---- notifications ---------------------------------------------------------

pub(super) fn notification(row: &notifications::Model) -> Result<Notification, MalformedRow> {
    decode_notification(row).map_err(row_error("notifications", row.id))
}

fn decode_notification(row: &notifications::Model) -> Column<Notification> {
    Ok(Notification {
        id: row.id,
        notify: row.notify.clone(),
        event: parsed("event", &row.event)?,
        dedup_key: row.dedup_key.clone(),
        job: row.job_name.clone(),
        fire_id: row.fire_id,
        node: row.node_id.clone(),
        fire_status: row.fire_status.clone(),
        scheduled_at: row.scheduled_at,
        detail: row.detail.clone(),
        status: parsed("status", &row.status)?,
        attempts: unsigned("attempts", i64::from(row.attempts))?,
        due_at: row.due_at,
        lease_owner: row.lease_owner.clone(),
        lease_until: row.lease_until,
        fence: row.fence,
        error: row.error.clone(),
        created_at: row.created_at,
        sent_at: row.sent_at,
    })
}

// ---- calendars -------------------------------------------------------------

pub(super) fn calendar(row: &calendars::Model) -> Result<Calendar, MalformedRow> {
    decode_calendar(row).map_err(row_error("calendars", &row.name))
}

fn decode_calendar(row: &calendars::Model) -> Column<Calendar> {
    let definition: CalendarDef = serde_json::from_str(&row.definition).map_err(|e| {
        bad(
            "definition",
            format_args!("is not a calendar definition ({e})"),
        )
    })?;
    if definition.name != row.name {
        return Err(bad(
            "definition",
            format_args!(
                "names calendar `{}`, the row `{}`",
                definition.name, row.name
            ),
        ));
    }
    Ok(Calendar {
        name: row.name.clone(),
        definition,
        source: parsed("source", &row.source)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A calendar definition as `calendars.definition` holds it.
pub(super) fn calendar_definition(def: &CalendarDef) -> Result<String, StoreError> {
    serde_json::to_string(def).map_err(|e| StoreError::Invalid {
        field: "definition",
        message: format!("calendar `{}` cannot be stored: {e}", def.name),
    })
}
