//! How commands print: readable tables, or JSON with `--json`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::fires;
use serde_json::{Value, json};

use crate::clock::from_ms;
use crate::schedule::cron::CronFire;
use crate::store::{JobRow, NodeRow};

pub fn instant(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn ms(t: Option<i64>) -> String {
    instant(t.map(from_ms))
}

/// Prints rows under a header, each column as wide as its widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn schedule_text(t: &entity::triggers::Model) -> String {
    match t.kind.as_str() {
        "cron" => format!(
            "cron {} ({})",
            t.cron_expr.as_deref().unwrap_or("?"),
            t.timezone
        ),
        "interval" => format!(
            "every {}",
            humantime::format_duration(std::time::Duration::from_millis(
                t.interval_ms.unwrap_or(0).max(0) as u64
            ))
        ),
        "once" => format!("once at {}", ms(Some(t.start_at))),
        other => other.to_string(),
    }
}

pub fn job_json(row: &JobRow) -> Value {
    let j = &row.job;
    json!({
        "name": j.name, "kind": j.kind, "pool": j.pool, "group": j.job_group,
        "paused": j.paused, "source": j.source, "overlap": j.overlap,
        "timeout_ms": j.timeout_ms, "priority": j.priority,
        "settings": serde_json::from_str::<Value>(&j.settings).unwrap_or(Value::Null),
        "data": serde_json::from_str::<Value>(&j.data).unwrap_or(Value::Null),
        "next_fire_at": row.next_fire_at.map(|t| from_ms(t).to_rfc3339()),
        "triggers": row.triggers.iter().map(|t| json!({
            "id": t.id, "kind": t.kind, "source": t.source, "schedule": schedule_text(t),
            "state": t.state, "next_fire_at": t.next_fire_at.map(|x| from_ms(x).to_rfc3339()),
            "previous_fire_at": t.previous_fire_at.map(|x| from_ms(x).to_rfc3339()),
            "times_fired": t.times_fired, "misfire_policy": t.misfire_policy, "error": t.error,
        })).collect::<Vec<_>>(),
    })
}

pub fn jobs(rows: &[JobRow], as_json: bool) {
    if as_json {
        println!("{}", Value::Array(rows.iter().map(job_json).collect()));
        return;
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let schedule = r
                .triggers
                .iter()
                .find(|t| t.source == "config")
                .map(schedule_text)
                .unwrap_or_else(|| "on demand".to_string());
            vec![
                r.job.name.clone(),
                r.job.kind.clone(),
                schedule,
                if r.job.paused {
                    "paused".into()
                } else {
                    "active".into()
                },
                ms(r.next_fire_at),
                r.job.source.clone(),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "KIND",
            "SCHEDULE",
            "STATE",
            "NEXT FIRE (UTC)",
            "SOURCE",
        ],
        &rows,
    );
}

pub fn job_detail(row: &JobRow, fires: &[fires::Model], as_json: bool) {
    if as_json {
        let mut v = job_json(row);
        v["recent_fires"] = Value::Array(fires.iter().map(fire_json).collect());
        println!("{v}");
        return;
    }
    let j = &row.job;
    println!("job       {}", j.name);
    println!("kind      {}  {}", j.kind, j.settings);
    println!(
        "pool      {}   overlap {}   priority {}",
        j.pool, j.overlap, j.priority
    );
    println!(
        "state     {}   source {}",
        if j.paused { "paused" } else { "active" },
        j.source
    );
    println!("next fire {}", ms(row.next_fire_at));
    println!("triggers");
    for t in &row.triggers {
        println!(
            "  #{} {}  state {}  next {}  fired {}x",
            t.id,
            schedule_text(t),
            t.state,
            ms(t.next_fire_at),
            t.times_fired
        );
        if let Some(e) = &t.error {
            println!("     error: {e}");
        }
    }
    println!("recent fires");
    self::fires(fires, false);
}

/// A fire as JSON, with its lateness (start minus scheduled instant).
pub fn fire_json(f: &fires::Model) -> Value {
    json!({
        "id": f.id, "job": f.job_name, "trigger_id": f.trigger_id,
        "scheduled_at": from_ms(f.scheduled_at).to_rfc3339(),
        "started_at": f.started_at.map(|t| from_ms(t).to_rfc3339()),
        "finished_at": f.finished_at.map(|t| from_ms(t).to_rfc3339()),
        "lateness_ms": f.started_at.map(|s| s - f.scheduled_at),
        "duration_ms": f.started_at.zip(f.finished_at).map(|(s, e)| e - s),
        "status": f.status, "attempt": f.attempt, "node": f.node_id,
        "recovery": f.recovery, "reason": f.reason, "error": f.error, "output": f.output,
    })
}

pub fn fires(fires: &[fires::Model], as_json: bool) {
    if as_json {
        println!("{}", Value::Array(fires.iter().map(fire_json).collect()));
        return;
    }
    let rows: Vec<Vec<String>> = fires
        .iter()
        .map(|f| {
            let note = f.error.as_deref().or(f.reason.as_deref()).unwrap_or("");
            let note: String = note.lines().next().unwrap_or("").chars().take(60).collect();
            vec![
                f.id.to_string(),
                f.job_name.clone(),
                ms(Some(f.scheduled_at)),
                f.started_at
                    .map(|s| format!("{}ms", s - f.scheduled_at))
                    .unwrap_or_else(|| "-".into()),
                f.started_at
                    .zip(f.finished_at)
                    .map(|(s, e)| format!("{}ms", e - s))
                    .unwrap_or_else(|| "-".into()),
                f.status.clone(),
                f.attempt.to_string(),
                f.node_id.clone().unwrap_or_else(|| "-".into()),
                note,
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "JOB",
            "SCHEDULED (UTC)",
            "LATE",
            "TOOK",
            "STATUS",
            "TRY",
            "NODE",
            "NOTE",
        ],
        &rows,
    );
}

pub fn next(fires: &[CronFire], tz: Tz, as_json: bool) {
    if as_json {
        let v: Vec<Value> = fires
            .iter()
            .map(|f| Value::String(f.at.to_rfc3339()))
            .collect();
        println!("{}", Value::Array(v));
        return;
    }
    let rows: Vec<Vec<String>> = fires
        .iter()
        .map(|f| {
            vec![
                instant(Some(f.at)),
                f.at.with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M:%S %Z (%:z)")
                    .to_string(),
                f.dst.map(|d| format!("DST: {d:?}")).unwrap_or_default(),
            ]
        })
        .collect();
    table(&["UTC", &format!("{tz}"), ""], &rows);
}

/// A calendar as JSON: its name, source and definition.
pub fn calendar_json(c: &entity::calendars::Model) -> Value {
    json!({
        "name": c.name, "source": c.source,
        "definition": serde_json::from_str::<Value>(&c.definition).unwrap_or(Value::Null),
    })
}

/// A node as JSON, with the count of fires it runs.
pub fn node_json(r: &NodeRow) -> Value {
    let n = &r.node;
    json!({
        "id": n.id, "host": n.host, "pid": n.pid, "version": n.version,
        "pools": n.pools.split(',').collect::<Vec<_>>(), "state": n.state,
        "started_at": from_ms(n.started_at).to_rfc3339(),
        "last_checkin_at": from_ms(n.last_checkin_at).to_rfc3339(),
        "checkin_interval_ms": n.checkin_interval_ms, "clock_offset_ms": n.clock_offset_ms,
        "declared_dead_by": n.declared_dead_by,
        "declared_dead_at": n.declared_dead_at.map(|t| from_ms(t).to_rfc3339()),
        "running_fires": r.running_fires,
    })
}

pub fn nodes(nodes: &[NodeRow], now_ms: i64, as_json: bool) {
    if as_json {
        println!("{}", Value::Array(nodes.iter().map(node_json).collect()));
        return;
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|r| {
            let n = &r.node;
            let state = match &n.declared_dead_by {
                Some(by) if n.state == "dead" => format!("dead (declared by {by})"),
                _ => n.state.clone(),
            };
            vec![
                n.id.clone(),
                state,
                format!("{}@{}", n.pid, n.host),
                format!("{:.1}s ago", (now_ms - n.last_checkin_at) as f64 / 1000.0),
                format!("{}ms", n.clock_offset_ms),
                n.pools.clone(),
                r.running_fires.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "NODE",
            "STATE",
            "PROCESS",
            "LAST CHECK-IN",
            "OFFSET",
            "POOLS",
            "RUNNING",
        ],
        &rows,
    );
}
