//! Triggers: insert, lease the due ones, record a fire and advance, release;
//! and the exclusion calendars they name (load, create, replace, delete, list).
//!
//! A calendar row holds the JSON of a [`CalendarDef`] (its `timezone` set:
//! the configuration fills in `[scheduler] timezone`; a definition stored
//! through the API without one is read in UTC). Triggers name calendars in
//! `triggers.calendars`, comma-separated.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Duration, NaiveTime};
use chrono_tz::Tz;
use entity::{calendars, fires, jobs, triggers};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, Set, TransactionTrait, Value,
};

use super::queue::{Admission, OverlapGate};
use super::{Store, StoreError, placeholders};
use crate::clock::from_ms;
use crate::model::{OverlapPolicy, TriggerDef, TriggerState};
use crate::schedule::ScheduleSpec;
use crate::schedule::calendar::{Calendar, CalendarDef, CalendarSet};
use crate::schedule::cron::{CronExpr, Dialect};
use crate::schedule::dst::DstOptions;
use crate::schedule::interval::{DaysOfWeek, IntervalError, IntervalUnit, parse_weekday};
use crate::schedule::misfire::{FirePlan, MisfirePolicy};
use crate::schedule::spec::SpecError;

/// Rebuilds a trigger's schedule declaration from its row. A row written
/// by plain SQL may be malformed; the error says which column and why.
pub fn trigger_spec(row: &triggers::Model) -> Result<ScheduleSpec, String> {
    match row.kind.as_str() {
        "cron" => {
            let src = row.cron_expr.as_deref().ok_or("cron_expr is NULL")?;
            let dialect: Dialect = row.cron_dialect.parse()?;
            let expr =
                CronExpr::parse(src, dialect).map_err(|e| format!("cron_expr `{src}`: {e}"))?;
            let tz: Tz = row
                .timezone
                .parse()
                .map_err(|_| format!("timezone `{}` is not an IANA time zone", row.timezone))?;
            let dst = DstOptions {
                gap: row.dst_gap.as_deref().map(str::parse).transpose()?,
                fold: row.dst_fold.as_deref().map(str::parse).transpose()?,
            };
            Ok(ScheduleSpec::Cron { expr, tz, dst })
        }
        "interval" => {
            let ms = row.interval_ms.ok_or("interval_ms is NULL")?;
            if ms <= 0 {
                return Err(format!("interval_ms must be positive, found {ms}"));
            }
            Ok(ScheduleSpec::Interval {
                every: Duration::milliseconds(ms),
                start: Some(from_ms(row.start_at)),
                end: row.end_at.map(from_ms),
                repeat: row
                    .repeat_count
                    .map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
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
            .map_err(|e| spec_error_message(&e))
        }
        "daily_time_interval" => {
            let (every, unit, tz) = interval_columns(row)?;
            let time = |column: &str, v: &Option<String>| -> Result<NaiveTime, String> {
                let text = v.as_deref().ok_or_else(|| format!("{column} is NULL"))?;
                parse_stored_time(text).ok_or_else(|| {
                    format!("{column} `{text}` is not a time of day: expected HH:MM:SS")
                })
            };
            let start_time = time("daily_start", &row.daily_start)?;
            let end_time = time("daily_end", &row.daily_end)?;
            let days = parse_days(row.days_of_week.as_deref().ok_or("days_of_week is NULL")?)?;
            let repeat = row
                .repeat_count
                .map(|r| {
                    u32::try_from(r).map_err(|_| {
                        format!("repeat_count must be from 0 to {}, found {r}", u32::MAX)
                    })
                })
                .transpose()?;
            ScheduleSpec::daily_time_interval(
                every,
                unit,
                tz,
                days,
                start_time,
                end_time,
                Some(from_ms(row.start_at)),
                row.end_at.map(from_ms),
                repeat,
            )
            .map_err(|e| spec_error_message(&e))
        }
        other => Err(format!(
            "trigger kind `{other}` is not supported by this node"
        )),
    }
}

/// `interval_every`, `interval_unit` and `timezone` of a calendar or daily
/// interval row.
fn interval_columns(row: &triggers::Model) -> Result<(u32, IntervalUnit, Tz), String> {
    let every = row.interval_every.ok_or("interval_every is NULL")?;
    let every = u32::try_from(every)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("interval_every must be positive, found {every}"))?;
    let unit_text = row
        .interval_unit
        .as_deref()
        .ok_or("interval_unit is NULL")?;
    let unit = IntervalUnit::from_str(unit_text).map_err(|e| format!("interval_unit: {e}"))?;
    let tz = parse_tz(&row.timezone)?;
    Ok((every, unit, tz))
}

fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse()
        .map_err(|_| format!("timezone `{name}` is not an IANA time zone"))
}

/// Names the column a constructor's complaint is about.
fn spec_error_message(e: &SpecError) -> String {
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
    format!("{column}: {e}")
}

/// A time of day as stored: `HH:MM:SS` with an optional fraction (`HH:MM`
/// also reads, for rows written by hand).
fn parse_stored_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
}

fn format_time(t: NaiveTime) -> String {
    t.format("%H:%M:%S%.f").to_string()
}

/// `days_of_week` as stored: `mon,tue,…` (full names and any case read too).
fn parse_days(text: &str) -> Result<DaysOfWeek, String> {
    let mut days = DaysOfWeek::NONE;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        days.insert(parse_weekday(part).map_err(|e| format!("days_of_week `{text}`: {e}"))?);
    }
    if days.is_empty() {
        return Err(format!(
            "days_of_week `{text}` names no day: expected e.g. mon,tue,wed"
        ));
    }
    Ok(days)
}

fn format_days(days: DaysOfWeek) -> String {
    days.iter()
        .map(|d| d.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// The calendar names of a trigger row (`triggers.calendars`, comma-separated).
pub fn trigger_calendar_names(row: &triggers::Model) -> Vec<String> {
    row.calendars
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// Calendars loaded by name and compiled: a stored definition that does not
/// compile keeps its error, so only the triggers naming it fail.
#[derive(Debug, Clone, Default)]
pub struct LoadedCalendars(HashMap<String, Result<Arc<Calendar>, String>>);

impl LoadedCalendars {
    /// The set of the named calendars, or why it cannot be built (a name
    /// that does not exist, a definition that does not compile).
    pub fn set_for(&self, names: &[String]) -> Result<CalendarSet, String> {
        names
            .iter()
            .map(|name| match self.0.get(name) {
                Some(Ok(calendar)) => Ok(calendar.clone()),
                Some(Err(e)) => Err(format!("calendar `{name}` cannot be used: {e}")),
                None => Err(format!(
                    "calendar `{name}` does not exist: declare it in a [[calendar]] table of the \
                     configuration file or create it through the API, or remove it from the \
                     trigger's calendars"
                )),
            })
            .collect()
    }

    /// Whether no calendar was loaded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Validates a stored definition and builds its calendar.
fn compile_row(row: &calendars::Model) -> Result<Calendar, String> {
    let def: CalendarDef = serde_json::from_str(&row.definition)
        .map_err(|e| format!("definition is not a calendar definition: {e}"))?;
    if def.name != row.name {
        return Err(format!(
            "definition names calendar `{}`, the row `{}`",
            def.name, row.name
        ));
    }
    def.compile(Tz::UTC).map_err(|e| e.to_string())
}

async fn load_calendars<C: ConnectionTrait>(
    db: &C,
    names: &[String],
) -> Result<LoadedCalendars, StoreError> {
    if names.is_empty() {
        return Ok(LoadedCalendars::default());
    }
    let rows = calendars::Entity::find()
        .filter(calendars::Column::Name.is_in(names.iter().map(String::as_str)))
        .all(db)
        .await?;
    Ok(LoadedCalendars(
        rows.iter()
            .map(|row| (row.name.clone(), compile_row(row).map(Arc::new)))
            .collect(),
    ))
}

/// Parses and validates a calendar definition given as JSON (the API's
/// form); returns it with its canonical JSON.
fn checked_definition(def_json: &str) -> Result<(CalendarDef, String), StoreError> {
    let invalid = |message: String| {
        StoreError::Conflict(format!(
            "invalid calendar definition: {message}; expected a JSON object such as \
             {{\"name\": \"holidays\", \"timezone\": \"Europe/Berlin\", \"dates\": [\"2026-12-25\"], \
             \"days_of_week\": [\"sat\", \"sun\"]}}"
        ))
    };
    let def: CalendarDef = serde_json::from_str(def_json).map_err(|e| invalid(e.to_string()))?;
    def.compile(Tz::UTC).map_err(|e| invalid(e.to_string()))?;
    let json = serde_json::to_string(&def).map_err(|e| invalid(e.to_string()))?;
    Ok((def, json))
}

/// The trigger's misfire policy, its threshold in milliseconds (None: the
/// scheduler's default) and its calendars, from its row.
pub fn trigger_policy(row: &triggers::Model) -> Result<MisfirePolicy, String> {
    MisfirePolicy::from_stored(
        &row.misfire_policy,
        row.misfire_catch_up.and_then(|n| u32::try_from(n).ok()),
    )
    .ok_or_else(|| format!("misfire_policy `{}` is unknown", row.misfire_policy))
}

pub(super) async fn insert_trigger<C: ConnectionTrait>(
    db: &C,
    job: &jobs::Model,
    def: &TriggerDef,
    source: &str,
    config_hash: Option<String>,
    now_ms: i64,
) -> Result<triggers::Model, StoreError> {
    let now = from_ms(now_ms);
    let spec = &def.spec;
    let loaded = load_calendars(db, &def.calendars).await?;
    let calendars = loaded
        .set_for(&def.calendars)
        .map_err(StoreError::Conflict)?;
    let next = spec.first_fire_allowed(now, &calendars);
    let mut m = triggers::ActiveModel {
        job_id: Set(job.id),
        source: Set(source.to_string()),
        kind: Set(spec.kind().as_str().to_string()),
        start_at: Set(spec.start_at(now).timestamp_millis()),
        repeat_count: Set(spec.repeat_count().map(|r| r as i64)),
        calendars: Set((!def.calendars.is_empty()).then(|| def.calendars.join(","))),
        data: Set(def.data.as_ref().map(|d| d.to_string())),
        next_fire_at: Set(next.map(|t| t.timestamp_millis())),
        misfire_policy: Set(def.misfire.as_str().to_string()),
        misfire_catch_up: Set(def
            .misfire
            .catch_up_cap()
            .map(|n| n.min(i32::MAX as u32) as i32)),
        misfire_threshold_ms: Set(def.misfire_threshold.map(|d| d.num_milliseconds())),
        priority: Set(def.priority.unwrap_or(job.priority)),
        pool: Set(job.pool.clone()),
        state: Set(match (next, job.paused) {
            (None, _) => TriggerState::Complete,
            (Some(_), true) => TriggerState::Paused,
            (Some(_), false) => TriggerState::Waiting,
        }
        .as_str()
        .to_string()),
        fence: Set(0),
        config_hash: Set(config_hash),
        created_at: Set(now_ms),
        updated_at: Set(now_ms),
        cron_dialect: Set(Dialect::Quartz.as_str().to_string()),
        timezone: Set("UTC".to_string()),
        preserve_hour_of_day: Set(false),
        skip_day_if_hour_missing: Set(false),
        times_fired: Set(0),
        ..Default::default()
    };
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
            m.daily_start = Set(Some(format_time(*start_time)));
            m.daily_end = Set(Some(format_time(*end_time)));
            m.days_of_week = Set(Some(format_days(*days)));
            m.end_at = Set(end.map(|e| e.timestamp_millis()));
        }
        ScheduleSpec::Once { .. } => {}
    }
    Ok(m.insert(db).await?)
}

/// `every` as the `interval_every` column holds it (the spec constructors
/// keep it in range).
fn stored_every(every: u32) -> Result<i32, StoreError> {
    i32::try_from(every).map_err(|_| {
        StoreError::Conflict(format!(
            "`every` = {every} is too large: expected at most {}",
            i32::MAX
        ))
    })
}

/// What to lease.
#[derive(Debug, Clone)]
pub struct LeaseParams<'a> {
    pub node_id: &'a str,
    pub now_ms: i64,
    /// How long the lease holds before another node may take the trigger.
    pub lease_ms: i64,
    /// At most this many: the executor's free slots.
    pub limit: u64,
    pub pools: &'a [String],
    /// Lease triggers due at or before this instant (UTC ms): `now_ms`, or
    /// a few milliseconds later so that the fire can be recorded before
    /// its instant and start exactly on it.
    pub due_by_ms: i64,
}

/// A fire to record: the leased trigger, its plan, and who records it.
#[derive(Debug, Clone)]
pub struct RecordFire<'a> {
    pub trigger: &'a triggers::Model,
    pub job: &'a jobs::Model,
    pub node_id: &'a str,
    pub now_ms: i64,
    pub plan: &'a FirePlan,
    /// The data the fires run with (job data merged with trigger data), JSON.
    pub data: &'a str,
}

/// The trigger's `previous_fire_at` after a plan: its latest instant that
/// runs, or the stored one when the plan runs nothing.
fn previous_fire_ms(plan: &FirePlan, trigger: &triggers::Model) -> Option<i64> {
    plan.fires
        .iter()
        .filter(|f| f.skip_reason.is_none())
        .map(|f| f.scheduled_at.timestamp_millis())
        .max()
        .or(trigger.previous_fire_at)
}

/// Rows per multi-row statement: 9 (fires) or 8 (triggers) parameters
/// each keeps a statement far below SQLite's 32,766 and PostgreSQL's
/// 65,535 bound parameters.
const INSERT_CHUNK_ROWS: usize = 1_000;
const UPDATE_CHUNK_ROWS: usize = 1_000;

/// What recording a fire did.
#[derive(Debug, Clone)]
pub enum RecordOutcome {
    /// The trigger advanced; the fire rows with status `running` are ours
    /// to run, those with status `skipped` are what the plan (misfire,
    /// calendar or overlap policy) did not run.
    Recorded {
        run: Vec<fires::Model>,
        skipped: Vec<fires::Model>,
    },
    /// The lease was lost (expired and taken): nothing was written.
    LeaseLost,
}

impl Store {
    /// Creates a trigger for an existing job (a one-off, a trigger-now).
    pub async fn trigger_create(
        &self,
        job_name: &str,
        def: &TriggerDef,
        now_ms: i64,
    ) -> Result<triggers::Model, StoreError> {
        let job = self.job_require(job_name).await?;
        let trigger = insert_trigger(&self.db, &job, def, "api", None, now_ms).await?;
        self.announce_change().await;
        Ok(trigger)
    }

    /// Leases up to `limit` due triggers of the node's pools in one
    /// statement: highest priority first; within a priority, on-time
    /// triggers before misfired ones (late by more than their threshold,
    /// or 60 s), so a storm of late fires never holds back on-time ones;
    /// then earliest. On PostgreSQL rows
    /// another node is leasing are skipped, not waited for.
    pub async fn lease_due_triggers(
        &self,
        p: &LeaseParams<'_>,
    ) -> Result<Vec<triggers::Model>, StoreError> {
        if p.limit == 0 || p.pools.is_empty() {
            return Ok(Vec::new());
        }
        let pools = placeholders(6, p.pools.len());
        let select = format!(
            "SELECT id FROM triggers \
             WHERE state = 'waiting' AND pool IN ({pools}) AND next_fire_at <= $5 \
               AND (lease_until IS NULL OR lease_until < $2) \
               AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $1 AND n.state = 'dead') \
             ORDER BY priority DESC, \
               CASE WHEN next_fire_at < $2 - COALESCE(misfire_threshold_ms, 60000) THEN 1 ELSE 0 END, \
               next_fire_at, id LIMIT $4"
        );
        let sql = match self.backend {
            DbBackend::Postgres => format!(
                "WITH due AS ({select} FOR UPDATE SKIP LOCKED) \
                 UPDATE triggers t SET lease_owner = $1, lease_until = $3, fence = t.fence + 1, updated_at = $2 \
                 FROM due WHERE t.id = due.id RETURNING t.*"
            ),
            _ => format!(
                "UPDATE triggers SET lease_owner = $1, lease_until = $3, fence = fence + 1, updated_at = $2 \
                 WHERE id IN ({select}) RETURNING *"
            ),
        };
        let mut values: Vec<Value> = vec![
            p.node_id.into(),
            p.now_ms.into(),
            (p.now_ms + p.lease_ms).into(),
            (p.limit.min(i64::MAX as u64) as i64).into(),
            p.due_by_ms.max(p.now_ms).into(),
        ];
        values.extend(p.pools.iter().map(|s| Value::from(s.as_str())));
        let query = triggers::Entity::find().from_raw_sql(self.stmt(&sql, values));
        let mut rows = if self.backend == DbBackend::Postgres {
            // The lease need not wait for the WAL to reach disk: it only
            // reserves the trigger. If the server crashed and lost it, the
            // fenced (and durable) record that follows would find no lease
            // and write nothing; the trigger is leased again later.
            let txn = self.db.begin().await?;
            txn.execute_unprepared("SET LOCAL synchronous_commit TO OFF")
                .await?;
            let rows = query.all(&txn).await?;
            txn.commit().await?;
            rows
        } else {
            query.all(&self.db).await?
        };
        rows.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.next_fire_at.cmp(&b.next_fire_at))
                .then(a.id.cmp(&b.id))
        });
        Ok(rows)
    }

    /// Records the planned fires of a leased trigger and advances it, in
    /// one transaction fenced by the lease: if another node took the
    /// trigger meanwhile, nothing is written. The unique key on
    /// (trigger, scheduled_at, attempt) makes a second record of the same
    /// fire impossible; such a fire is silently not run again.
    pub async fn record_fire(&self, r: &RecordFire<'_>) -> Result<RecordOutcome, StoreError> {
        let txn = self.begin_write().await?;
        let outcome = self.record_in(&txn, r).await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// Records the fires of a whole pass in one transaction (one commit,
    /// one fsync), each exactly as [`Store::record_fire`] would: a trigger
    /// whose lease was lost writes nothing and comes back `LeaseLost`.
    /// The records of one batch are of one node at one instant (a pass):
    /// the first record's node and `now_ms` stand for all.
    pub async fn record_fires(
        &self,
        batch: &[RecordFire<'_>],
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.begin_write().await?;
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; batch.len()];
        // Jobs that allow overlap need no look at running fires: their
        // triggers advance in one statement and their fires go in another.
        // The others take the per-trigger path, which sees the job's
        // running fires inside this same transaction.
        let (simple, gated): (Vec<usize>, Vec<usize>) =
            (0..batch.len()).partition(|&i| batch[i].job.overlap == OverlapPolicy::Allow.as_str());
        for (i, outcome) in self.record_simple(&txn, batch, &simple).await? {
            outcomes[i] = Some(outcome);
        }
        for i in gated {
            outcomes[i] = Some(self.record_in(&txn, &batch[i]).await?);
        }
        txn.commit().await?;
        // Every index was filled by one of the two paths above.
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(RecordOutcome::LeaseLost))
            .collect())
    }

    /// The batch path of [`Store::record_fires`] for triggers of jobs that
    /// allow overlap: one fenced multi-row UPDATE of the triggers, then
    /// multi-row INSERTs of the fires of those that advanced.
    async fn record_simple<C: ConnectionTrait>(
        &self,
        txn: &C,
        batch: &[RecordFire<'_>],
        which: &[usize],
    ) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
        if which.len() > UPDATE_CHUNK_ROWS {
            let mut out = Vec::with_capacity(which.len());
            for chunk in which.chunks(UPDATE_CHUNK_ROWS) {
                out.extend(Box::pin(self.record_simple(txn, batch, chunk)).await?);
            }
            return Ok(out);
        }
        if which.is_empty() {
            return Ok(Vec::new());
        }
        let node_id = batch[which[0]].node_id;
        let now_ms = batch[which[0]].now_ms;
        let mut rows = Vec::with_capacity(which.len());
        let mut values: Vec<Value> = vec![node_id.into(), now_ms.into()];
        for &i in which {
            let r = &batch[i];
            let plan = r.plan;
            let previous = previous_fire_ms(plan, r.trigger);
            let n = values.len();
            rows.push(format!("({})", placeholders(n + 1, 8)));
            values.extend([
                r.trigger.id.into(),
                r.trigger.fence.into(),
                plan.next_fire_at.map(|t| t.timestamp_millis()).into(),
                previous.into(),
                (plan.times_fired.min(i64::MAX as u64) as i64).into(),
                plan.start_at.timestamp_millis().into(),
                plan.repeat_count
                    .map(|r| r.min(i64::MAX as u64) as i64)
                    .into(),
                i32::from(plan.next_fire_at.is_none()).into(),
            ]);
        }
        // VALUES columns are column1… on both backends.
        let sql = format!(
            "UPDATE triggers SET next_fire_at = v.column3, previous_fire_at = v.column4, \
               times_fired = v.column5, start_at = v.column6, repeat_count = v.column7, \
               state = CASE WHEN v.column8 = 1 THEN 'complete' ELSE triggers.state END, \
               lease_owner = NULL, lease_until = NULL, updated_at = $2 \
             FROM (VALUES {}) AS v \
             WHERE triggers.id = v.column1 AND triggers.fence = v.column2 AND triggers.lease_owner = $1 \
               AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $1 AND n.state = 'dead') \
             RETURNING triggers.id",
            rows.join(", ")
        );
        let advanced: std::collections::HashSet<i64> = txn
            .query_all_raw(self.stmt(&sql, values))
            .await?
            .iter()
            .map(|r| r.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()?;

        // One row per fire: (trigger, job, name, scheduled, due, fence,
        // status, reason, data, running?).
        let mut fire_rows: Vec<([Value; 9], bool)> = Vec::new();
        for &i in which {
            let r = &batch[i];
            if !advanced.contains(&r.trigger.id) {
                continue;
            }
            for fire in &r.plan.fires {
                let at = fire.scheduled_at.timestamp_millis();
                let running = fire.skip_reason.is_none();
                fire_rows.push((
                    [
                        r.trigger.id.into(),
                        r.job.id.into(),
                        r.job.name.as_str().into(),
                        at.into(),
                        at.max(now_ms).into(),
                        r.trigger.fence.into(),
                        (if running { "running" } else { "skipped" }).into(),
                        fire.skip_reason.clone().into(),
                        r.data.into(),
                    ],
                    running,
                ));
            }
        }
        let mut by_trigger: std::collections::HashMap<i64, (Vec<fires::Model>, Vec<fires::Model>)> =
            std::collections::HashMap::new();
        // Chunks stay far below either backend's limit on bound parameters.
        for chunk in fire_rows.chunks(INSERT_CHUNK_ROWS) {
            let mut rows = Vec::with_capacity(chunk.len());
            let mut values: Vec<Value> = vec![now_ms.into(), node_id.into()];
            for (row, running) in chunk {
                let n = values.len();
                // A running fire's planned start is its due instant (the
                // 5th value): the executor starts it then, and its
                // completion records the actual start.
                let planned_start = format!("${}", n + 5);
                rows.push(format!(
                    "(${}, ${}, ${}, ${}, ${}, {}, {}, {}, 1, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    if *running {
                        planned_start.as_str()
                    } else {
                        "NULL"
                    },
                    if *running { "NULL" } else { "$1" },
                    if *running { "$2" } else { "NULL" },
                    n + 6,
                    n + 7,
                    n + 8,
                    n + 9,
                ));
                values.extend(row.iter().cloned());
            }
            let sql = format!(
                "INSERT INTO fires (trigger_id, job_id, job_name, scheduled_at, due_at, started_at, \
                   finished_at, node_id, attempt, fence, status, reason, data) \
                 VALUES {} \
                 ON CONFLICT (trigger_id, scheduled_at, attempt) DO NOTHING RETURNING *",
                rows.join(", ")
            );
            let inserted = fires::Entity::find()
                .from_raw_sql(self.stmt(&sql, values))
                .all(txn)
                .await?;
            for fire in inserted {
                let Some(trigger_id) = fire.trigger_id else {
                    continue;
                };
                let entry = by_trigger.entry(trigger_id).or_default();
                if fire.status == "running" {
                    entry.0.push(fire);
                } else {
                    entry.1.push(fire);
                }
            }
        }
        Ok(which
            .iter()
            .map(|&i| {
                let r = &batch[i];
                if !advanced.contains(&r.trigger.id) {
                    return (i, RecordOutcome::LeaseLost);
                }
                let (mut run, mut skipped) = by_trigger.remove(&r.trigger.id).unwrap_or_default();
                if run.len() + skipped.len() < r.plan.fires.len() {
                    tracing::warn!(
                        trigger = r.trigger.id,
                        "fire already recorded; not recording it twice"
                    );
                }
                run.sort_by_key(|f| f.scheduled_at);
                skipped.sort_by_key(|f| f.scheduled_at);
                (i, RecordOutcome::Recorded { run, skipped })
            })
            .collect())
    }

    async fn record_in<C: ConnectionTrait>(
        &self,
        txn: &C,
        r: &RecordFire<'_>,
    ) -> Result<RecordOutcome, StoreError> {
        let t = r.trigger;
        let plan = r.plan;
        let previous = previous_fire_ms(plan, t);
        let state = if plan.next_fire_at.is_none() {
            "complete"
        } else {
            ""
        };
        let advanced = txn
            .execute_raw(self.stmt(
                "UPDATE triggers SET next_fire_at = $1, previous_fire_at = $2, times_fired = $3, \
                   start_at = $4, repeat_count = $5, \
                   state = CASE WHEN $6 = 'complete' THEN 'complete' ELSE state END, \
                   lease_owner = NULL, lease_until = NULL, updated_at = $7 \
                 WHERE id = $8 AND lease_owner = $9 AND fence = $10 \
                   AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = $9 AND n.state = 'dead')",
                [
                    plan.next_fire_at.map(|t| t.timestamp_millis()).into(),
                    previous.into(),
                    (plan.times_fired.min(i64::MAX as u64) as i64).into(),
                    plan.start_at.timestamp_millis().into(),
                    plan.repeat_count.map(|r| r.min(i64::MAX as u64) as i64).into(),
                    state.into(),
                    r.now_ms.into(),
                    t.id.into(),
                    r.node_id.into(),
                    t.fence.into(),
                ],
            ))
            .await?
            .rows_affected();
        if advanced == 0 {
            // Nothing was written for this trigger.
            return Ok(RecordOutcome::LeaseLost);
        }
        // Overlap between fires of one job is decided here, inside the
        // fenced transaction, with the job's running fires in view.
        let mut gate = if plan.fires.iter().any(|f| f.skip_reason.is_none()) {
            OverlapGate::load(self, txn, r.job).await?
        } else {
            OverlapGate::default()
        };
        let mut run = Vec::new();
        let mut skipped = Vec::new();
        for fire in &plan.fires {
            let admission = match &fire.skip_reason {
                None => gate.admit(),
                Some(reason) => Admission::Skip(reason.clone()),
            };
            if admission == Admission::Run {
                let replaced = gate.to_replace();
                if !replaced.is_empty() {
                    txn.execute_raw(
                        self.stmt(
                            &format!(
                                "UPDATE fires SET status = 'cancelled', finished_at = $1, \
                               error = 'replaced by a newer fire (overlap policy replace)' \
                             WHERE status = 'running' AND id IN ({})",
                                placeholders(2, replaced.len())
                            ),
                            std::iter::once(Value::from(r.now_ms))
                                .chain(replaced.iter().map(|id| Value::from(*id))),
                        ),
                    )
                    .await?;
                }
            }
            let (status, started, finished, node, reason) = match admission {
                Admission::Run => (
                    "running",
                    Some(r.now_ms.max(fire.scheduled_at.timestamp_millis())),
                    None,
                    Some(r.node_id),
                    None,
                ),
                Admission::Queue => (
                    "queued",
                    None,
                    None,
                    None,
                    Some("overlap: queued behind the running fire (policy queue)".to_string()),
                ),
                Admission::Skip(reason) => ("skipped", None, Some(r.now_ms), None, Some(reason)),
            };
            let inserted = fires::Entity::find()
                .from_raw_sql(self.stmt(
                    "INSERT INTO fires (trigger_id, job_id, job_name, scheduled_at, due_at, started_at, \
                       finished_at, node_id, attempt, fence, status, reason, data) \
                     VALUES ($1, $2, $3, $4, $12, $5, $6, $7, 1, $8, $9, $10, $11) \
                     ON CONFLICT (trigger_id, scheduled_at, attempt) DO NOTHING RETURNING *",
                    [
                        t.id.into(),
                        r.job.id.into(),
                        r.job.name.as_str().into(),
                        fire.scheduled_at.timestamp_millis().into(),
                        started.into(),
                        finished.into(),
                        node.into(),
                        t.fence.into(),
                        status.into(),
                        reason.into(),
                        r.data.into(),
                        fire.scheduled_at.timestamp_millis().max(r.now_ms).into(),
                    ],
                ))
                .one(txn)
                .await?;
            match inserted {
                Some(row) if status == "running" => run.push(row),
                Some(row) if status == "skipped" => skipped.push(row),
                Some(_) => {}
                None => tracing::warn!(
                    trigger = t.id,
                    scheduled_at = %fire.scheduled_at,
                    "fire already recorded; not recording it twice"
                ),
            }
        }
        Ok(RecordOutcome::Recorded { run, skipped })
    }

    /// Puts a leased trigger whose row cannot be evaluated into the
    /// `error` state, with the reason, so it stops being leased.
    pub async fn trigger_set_error(
        &self,
        trigger: &triggers::Model,
        node_id: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db
            .execute_raw(self.stmt(
                "UPDATE triggers SET state = 'error', error = $1, lease_owner = NULL, lease_until = NULL, \
                   updated_at = $2 WHERE id = $3 AND lease_owner = $4 AND fence = $5",
                [
                    message.into(),
                    now_ms.into(),
                    trigger.id.into(),
                    node_id.into(),
                    trigger.fence.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Releases every lease the node holds (at shutdown: triggers leased
    /// but not yet recorded become available at once).
    pub async fn release_leases(&self, node_id: &str) -> Result<u64, StoreError> {
        Ok(self
            .db
            .execute_raw(self.stmt(
                "UPDATE triggers SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
                [node_id.into()],
            ))
            .await?
            .rows_affected())
    }

    /// The earliest instant at which a trigger of these pools may be
    /// leasable: its next fire, or the end of another node's lease on it.
    pub async fn next_due_at(
        &self,
        pools: &[String],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        if pools.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until >= $1 THEN lease_until + 1 \
                        ELSE next_fire_at END) AS due \
             FROM triggers WHERE state = 'waiting' AND next_fire_at IS NOT NULL AND pool IN ({})",
            placeholders(2, pools.len())
        );
        let mut values: Vec<Value> = vec![now_ms.into()];
        values.extend(pools.iter().map(|s| Value::from(s.as_str())));
        let row = self.db.query_one_raw(self.stmt(&sql, values)).await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i64>>("", "due")?,
            None => None,
        })
    }

    /// A trigger by id.
    pub async fn trigger_by_id(&self, id: i64) -> Result<Option<triggers::Model>, StoreError> {
        Ok(triggers::Entity::find_by_id(id).one(&self.db).await?)
    }
}

impl Store {
    /// The named calendars, compiled. Names without a row are absent (the
    /// caller reports them); a row that does not compile keeps its error.
    pub async fn calendars_load(&self, names: &[String]) -> Result<LoadedCalendars, StoreError> {
        load_calendars(&self.db, names).await
    }

    /// Creates or replaces a calendar through the API from its JSON
    /// definition (a [`CalendarDef`]; without `timezone` it is read in
    /// UTC). Stores the canonical JSON, with source `api`. A calendar
    /// declared in the configuration file cannot be replaced here.
    ///
    /// Triggers keep their computed next fire; a fire the new definition
    /// excludes is recorded as skipped when it comes due.
    pub async fn calendar_upsert(
        &self,
        def_json: &str,
        now_ms: i64,
    ) -> Result<calendars::Model, StoreError> {
        let (def, json) = checked_definition(def_json)?;
        let txn = self.begin_write().await?;
        let existing = calendars::Entity::find_by_id(def.name.clone())
            .one(&txn)
            .await?;
        let row = match existing {
            Some(c) if c.source == "config" => {
                txn.rollback().await?;
                return Err(StoreError::Conflict(format!(
                    "calendar `{}` is declared in the configuration file: change it there",
                    def.name
                )));
            }
            Some(c) => {
                let mut model = c.into_active_model();
                model.definition = Set(json);
                model.updated_at = Set(now_ms);
                model.update(&txn).await?
            }
            None => {
                calendars::ActiveModel {
                    name: Set(def.name.clone()),
                    definition: Set(json),
                    source: Set("api".to_string()),
                    created_at: Set(now_ms),
                    updated_at: Set(now_ms),
                }
                .insert(&txn)
                .await?
            }
        };
        txn.commit().await?;
        Ok(row)
    }

    /// Deletes a calendar created through the API. Triggers still naming it
    /// go to the `error` state when they next come due.
    pub async fn calendar_delete(&self, name: &str) -> Result<(), StoreError> {
        let row = calendars::Entity::find_by_id(name.to_string())
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "calendar",
                name: name.to_string(),
            })?;
        if row.source == "config" {
            return Err(StoreError::Conflict(format!(
                "calendar `{name}` is declared in the configuration file: remove it there"
            )));
        }
        calendars::Entity::delete_by_id(row.name)
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Every calendar, by name.
    pub async fn calendars_list(&self) -> Result<Vec<calendars::Model>, StoreError> {
        Ok(calendars::Entity::find()
            .order_by_asc(calendars::Column::Name)
            .all(&self.db)
            .await?)
    }
}
