//! The hashes of a declared job and of its schedule, stored beside the
//! rows so that reconcile leaves an unchanged declaration alone.
//!
//! The hash inputs are part of the stored state: changing what goes in
//! (or its order) makes every node think every job changed. A unit test
//! pins the hashes of a set of declarations.

use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::declare::ScheduleDecl;
use crate::model::{JobDef, TriggerDef};
use crate::schedule::ScheduleSpec;

/// FNV-1a, 64 bits: a hash that is the same in every build, so a stored
/// declaration hash stays comparable across releases.
fn stable_hash(v: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Everything declared about the job but its schedule.
pub(super) fn job_hash(job: &JobDef) -> String {
    let mut inputs = json!({
        "name": job.name, "kind": job.kind, "settings": job.settings, "data": job.data,
        "pool": job.pool, "group": job.group, "overlap": job.overlap.as_str(),
        "timeout_ms": job.timeout.map(|t| t.as_millis() as u64), "priority": job.priority,
        "retry": job.retry, "requests_recovery": job.requests_recovery, "paused": job.paused,
    });
    // Added only when set, so the hashes of jobs declared before the key
    // existed do not change.
    if !job.keep_fires.is_empty()
        && let Value::Object(map) = &mut inputs
    {
        let k = &job.keep_fires;
        let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64);
        map.insert(
            "keep_fires".into(),
            json!({
                "succeeded": ms(k.succeeded), "failed": ms(k.failed),
                "timed_out": ms(k.timed_out), "abandoned": ms(k.abandoned),
                "cancelled": ms(k.cancelled), "skipped": ms(k.skipped),
                "max_rows": k.max_rows,
            }),
        );
    }
    if let Some(d) = job.expect_success_within
        && let Value::Object(map) = &mut inputs
    {
        map.insert(
            "expect_success_within_ms".into(),
            json!(d.as_millis() as u64),
        );
    }
    if let Some(j) = job.jitter
        && let Value::Object(map) = &mut inputs
    {
        map.insert(
            "jitter".into(),
            json!({ "kind": j.kind(), "window_ms": j.window().as_millis() as u64 }),
        );
    }
    stable_hash(&inputs)
}

/// The schedule as written (`timezone` defaulted to the scheduler's), the
/// job's priority, and the definitions of the calendars it names.
pub(super) fn trigger_hash(
    s: &ScheduleDecl,
    trigger: &TriggerDef,
    job_priority: i32,
    default_tz: Tz,
    calendars: &[(String, String)],
) -> String {
    let mut inputs = json!({
        "cron": s.cron, "dialect": s.dialect,
        "timezone": s.timezone.clone().unwrap_or_else(|| default_tz.name().to_string()),
        "dst_gap": s.dst_gap, "dst_fold": s.dst_fold, "every": s.every,
        "start": s.start, "end": s.end, "repeat": s.repeat,
        "at": s.at, "misfire": s.misfire, "misfire_threshold": s.misfire_threshold,
        "calendars": s.calendars, "priority": job_priority,
    });
    // Added only when present, so the hashes of jobs declared before
    // these keys existed do not change.
    if let Value::Object(map) = &mut inputs {
        if let Some(extra) = schedule_hash_input(&trigger.spec) {
            map.insert("schedule".into(), extra);
        }
        // A changed calendar definition recomputes the triggers using it.
        let defs: Vec<&str> = trigger
            .calendars
            .iter()
            .filter_map(|name| calendars.iter().find(|(n, _)| n == name))
            .map(|(_, json)| json.as_str())
            .collect();
        if !defs.is_empty() {
            map.insert("calendar_definitions".into(), json!(defs));
        }
    }
    stable_hash(&inputs)
}

/// The parameters of the schedule kinds whose TOML is a table, for the
/// trigger hash (None for the others, whose keys are hashed as written).
fn schedule_hash_input(spec: &ScheduleSpec) -> Option<Value> {
    match spec {
        ScheduleSpec::CalendarInterval {
            every,
            unit,
            preserve_hour_of_day,
            skip_day_if_hour_does_not_exist,
            ..
        } => Some(json!({
            "calendar_interval": { "every": every, "unit": unit.as_str(),
                "preserve_hour_of_day": preserve_hour_of_day,
                "skip_day_if_hour_does_not_exist": skip_day_if_hour_does_not_exist },
        })),
        ScheduleSpec::DailyTimeInterval {
            every,
            unit,
            days,
            start_time,
            end_time,
            ..
        } => Some(json!({
            "daily": { "every": every, "unit": unit.as_str(),
                "from": start_time.format("%H:%M:%S%.f").to_string(),
                "to": end_time.format("%H:%M:%S%.f").to_string(),
                "days": days.iter().map(|d| d.to_string()).collect::<Vec<_>>() },
        })),
        _ => None,
    }
}
