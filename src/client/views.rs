//! The JSON views of the model: one shape per type, shared by the CLI's
//! `--json` output and the HTTP API so the two always agree. Instants are
//! RFC 3339 in UTC; durations are milliseconds.

use serde_json::{Value, json};

use crate::clock::from_ms;
use crate::model::{Calendar, Fire, Jitter, JobHealth, JobSummary, NodeSummary, Trigger};
use crate::schedule::ScheduleSpec;

fn rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(|t| from_ms(t).to_rfc3339())
}

/// A trigger's schedule in a few words: `cron <expr> (<zone>)`, `every
/// <duration>`, `once at <instant>`, or its kind.
pub fn schedule_text(t: &Trigger) -> String {
    match &t.spec {
        ScheduleSpec::Cron { expr, tz, .. } => format!("cron {} ({})", expr.source(), tz.name()),
        ScheduleSpec::Interval { every, .. } => format!(
            "every {}",
            humantime::format_duration(std::time::Duration::from_millis(
                every.num_milliseconds().max(0) as u64
            ))
        ),
        ScheduleSpec::Once { .. } => format!(
            "once at {}",
            from_ms(t.start_at).format("%Y-%m-%dT%H:%M:%S%.3fZ")
        ),
        other => other.kind().as_str().to_string(),
    }
}

/// A trigger as it appears in a job's view.
fn trigger_json(t: &Trigger) -> Value {
    json!({
        "id": t.id, "kind": t.spec.kind().as_str(), "source": t.source.as_str(),
        "schedule": schedule_text(t), "state": t.state.as_str(),
        "next_fire_at": rfc3339(t.next_fire_at),
        "previous_fire_at": rfc3339(t.previous_fire_at),
        "times_fired": t.times_fired, "misfire_policy": t.misfire.as_str(), "error": t.error,
    })
}

/// A job's jitter: `{"kind": "uniform" | "hash", "window_ms": N}`.
pub fn jitter_json(j: &Jitter) -> Value {
    json!({ "kind": j.kind(), "window_ms": j.window().as_millis().min(i64::MAX as u128) as i64 })
}

/// A job with its settings, data, triggers and next fire.
pub fn job_json(row: &JobSummary) -> Value {
    let j = &row.job;
    json!({
        "name": j.name, "kind": j.kind, "pool": j.pool, "group": j.group,
        "paused": j.paused, "source": j.source.as_str(), "overlap": j.overlap.as_str(),
        "timeout_ms": j.timeout.map(|t| t.as_millis().min(i64::MAX as u128) as i64),
        "priority": j.priority,
        "settings": j.settings, "data": j.data,
        "next_fire_at": rfc3339(row.next_fire_at),
        "expect_success_within_ms": j.expect_success_within.map(|t| t.as_millis().min(i64::MAX as u128) as i64),
        "jitter": j.jitter.as_ref().map(jitter_json),
        "health": row.health.as_ref().map(health_json),
        "triggers": row.triggers.iter().map(trigger_json).collect::<Vec<_>>(),
    })
}

/// A job's health: last outcomes, next fire, consecutive failures, and
/// whether its `expect_success_within` holds (`healthy`).
pub fn health_json(h: &JobHealth) -> Value {
    json!({
        "job": h.job,
        "healthy": !h.unhealthy,
        "last_success_at": rfc3339(h.last_success_at),
        "last_failure_at": rfc3339(h.last_failure_at),
        "last_status": h.last_status.map(|s| s.as_str()),
        "next_fire_at": rfc3339(h.next_fire_at),
        "consecutive_failures": h.consecutive_failures,
        "expect_success_within_ms": h.expect_success_within.map(|t| t.as_millis().min(i64::MAX as u128) as i64),
    })
}

/// A fire, with its lateness (start minus scheduled instant) and duration.
pub fn fire_json(f: &Fire) -> Value {
    json!({
        "id": f.id, "job": f.job_name, "trigger_id": f.trigger_id,
        "scheduled_at": from_ms(f.scheduled_at).to_rfc3339(),
        "started_at": rfc3339(f.started_at),
        "finished_at": rfc3339(f.finished_at),
        "lateness_ms": f.lateness_ms(),
        "duration_ms": f.started_at.zip(f.finished_at).map(|(s, e)| e - s),
        "status": f.status.as_str(), "attempt": f.attempt, "node": f.node_id,
        "recovery": f.recovery, "reason": f.reason, "error": f.error, "output": f.output,
    })
}

/// A calendar: its name, source and definition.
pub fn calendar_json(c: &Calendar) -> Value {
    json!({
        "name": c.name, "source": c.source.as_str(),
        "definition": c.definition,
    })
}

/// A node, with the count of fires it runs.
pub fn node_json(r: &NodeSummary) -> Value {
    let n = &r.node;
    json!({
        "id": n.id, "host": n.host, "pid": n.pid, "version": n.version,
        "pools": n.pools, "state": n.state.as_str(),
        "started_at": from_ms(n.started_at).to_rfc3339(),
        "last_checkin_at": from_ms(n.last_checkin_at).to_rfc3339(),
        "checkin_interval_ms": n.checkin_interval_ms, "clock_offset_ms": n.clock_offset_ms,
        "declared_dead_by": n.declared_dead_by,
        "declared_dead_at": rfc3339(n.declared_dead_at),
        "running_fires": r.running_fires,
    })
}

/// A job's previewed fires (`next --job --json`, `GET /jobs/{name}/next`).
pub fn preview_json(p: &super::JobPreview) -> Value {
    let fires: Vec<Value> = p
        .fires
        .iter()
        .map(|f| {
            json!({
                "at": f.fire.at.to_rfc3339(),
                "due_at": f.due_at.to_rfc3339(),
                "jitter_offset_ms": (f.due_at - f.fire.at).num_milliseconds(),
                "trigger_id": f.trigger_id,
                "trigger_paused": f.trigger_paused,
                "excluded_by": f.fire.excluded_by,
                "dst": f.fire.dst.map(|d| d.describe()),
            })
        })
        .collect();
    let errors: Vec<Value> = p
        .errors
        .iter()
        .map(|(id, why)| json!({"trigger_id": id, "error": why}))
        .collect();
    json!({"job": p.job, "paused": p.paused, "jitter": p.jitter.as_ref().map(jitter_json),
        "fires": fires, "errors": errors})
}
