//! How commands print: readable tables, or JSON with `--json`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::client::views::{fire_json, job_json, node_json, schedule_text};
use crate::client::{JobPreview, views::preview_json};
use crate::clock::from_ms;
pub use crate::model::printable;
use crate::model::{Fire, JobHealth, JobSource, JobSummary, NodeState, NodeSummary};
use crate::retention::PruneReport;
use crate::schedule::preview::PreviewFire;

pub fn instant(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "-".to_string())
}

pub(super) fn ms(t: Option<i64>) -> String {
    instant(t.map(from_ms))
}

/// Prints rows under a header, each column as wide as its widest cell.
/// Cells are user text (names, errors): control characters are escaped
/// so that a name cannot forge a line or drive the terminal.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c).into_owned()).collect())
        .collect();
    let rows = rows.as_slice();
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

pub fn jobs(rows: &[JobSummary], as_json: bool) {
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
                .find(|t| t.source == JobSource::Config)
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
                ms(r.health.as_ref().and_then(|h| h.last_success_at)),
                health_word(r.health.as_ref()),
                r.job.source.to_string(),
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
            "LAST SUCCESS (UTC)",
            "HEALTH",
            "SOURCE",
        ],
        &rows,
    );
}

/// A job's health at a glance: `unhealthy` (its expectation is
/// violated), `failing N` (N failures since the last success), `ok`, or
/// `-` before any fire.
fn health_word(h: Option<&JobHealth>) -> String {
    match h {
        Some(h) if h.unhealthy => "unhealthy".into(),
        Some(h) if h.consecutive_failures > 0 => format!("failing {}", h.consecutive_failures),
        Some(h) if h.last_status.is_some() => "ok".into(),
        _ => "-".into(),
    }
}

pub fn job_detail(row: &JobSummary, fires: &[Fire], as_json: bool) {
    if as_json {
        let mut v = job_json(row);
        v["recent_fires"] = Value::Array(fires.iter().map(fire_json).collect());
        println!("{v}");
        return;
    }
    let j = &row.job;
    println!("job       {}", printable(&j.name));
    println!(
        "kind      {}  {}",
        j.kind,
        printable(&j.settings.to_string())
    );
    println!(
        "pool      {}   overlap {}   priority {}",
        printable(&j.pool),
        j.overlap,
        j.priority
    );
    println!(
        "state     {}   source {}",
        if j.paused { "paused" } else { "active" },
        j.source
    );
    println!("next fire {}", ms(row.next_fire_at));
    if let Some(j) = &j.jitter {
        println!("jitter    {}", jitter_text(j));
    }
    if let Some(h) = &row.health {
        println!(
            "health    {}   last status {}   consecutive failures {}",
            health_word(Some(h)),
            h.last_status.map_or("-", |s| s.as_str()),
            h.consecutive_failures
        );
        println!(
            "          last success {}   last failure {}",
            ms(h.last_success_at),
            ms(h.last_failure_at)
        );
        if let Some(within) = h.expect_success_within {
            println!(
                "          expects a success within {}",
                humantime::format_duration(within)
            );
        }
    }
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
            println!("     error: {}", printable(e));
        }
    }
    println!("recent fires");
    self::fires(fires, false);
}

pub fn fires(fires: &[Fire], as_json: bool) {
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
                f.lateness_ms()
                    .map(|late| format!("{late}ms"))
                    .unwrap_or_else(|| "-".into()),
                f.started_at
                    .zip(f.finished_at)
                    .map(|(s, e)| format!("{}ms", e - s))
                    .unwrap_or_else(|| "-".into()),
                f.status.to_string(),
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

/// The note of a previewed fire: the calendar excluding it, or DST.
fn preview_note(f: &PreviewFire) -> String {
    match (&f.excluded_by, f.dst) {
        (Some(calendar), _) => format!("excluded by calendar {calendar} (recorded skipped)"),
        (None, Some(dst)) => dst.describe(),
        (None, None) => String::new(),
    }
}

fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z (%:z)")
        .to_string()
}

/// `cosched next`: the instants (a JSON array of RFC 3339 strings).
pub fn preview(fires: &[PreviewFire], tz: Tz, as_json: bool) {
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
        .map(|f| vec![instant(Some(f.at)), local(f.at, tz), preview_note(f)])
        .collect();
    table(&["UTC", &format!("{tz}"), ""], &rows);
}

/// `cosched next --job`: the job's fires, each with its trigger.
pub fn job_preview(p: &JobPreview, tz: Tz, as_json: bool) {
    if as_json {
        println!("{}", preview_json(p));
        return;
    }
    if p.paused {
        println!(
            "job {} is paused: it fires none of these until resumed (missed ones then follow the misfire policy)",
            printable(&p.job)
        );
    }
    for (id, why) in &p.errors {
        println!("trigger {id} is left out: {}", printable(why));
    }
    if let Some(j) = &p.jitter {
        println!("jitter {}: DUE is when each fire starts", jitter_text(j));
    }
    let rows: Vec<Vec<String>> = p
        .fires
        .iter()
        .map(|f| {
            let paused = if f.trigger_paused { " (paused)" } else { "" };
            let mut row = vec![instant(Some(f.at())), local(f.at(), tz)];
            if p.jitter.is_some() {
                let offset = (f.due_at - f.at()).to_std().unwrap_or_default();
                row.push(format!(
                    "{} (+{})",
                    instant(Some(f.due_at)),
                    humantime::format_duration(offset)
                ));
            }
            row.push(format!("{}{paused}", f.trigger_id));
            row.push(preview_note(&f.fire));
            row
        })
        .collect();
    let zone = format!("{tz}");
    let mut header = vec!["UTC", zone.as_str()];
    if p.jitter.is_some() {
        header.push("DUE (UTC)");
    }
    header.extend(["TRIGGER", ""]);
    table(&header, &rows);
}

pub fn nodes(nodes: &[NodeSummary], now_ms: i64, as_json: bool) {
    if as_json {
        println!("{}", Value::Array(nodes.iter().map(node_json).collect()));
        return;
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|r| {
            let n = &r.node;
            let state = match &n.declared_dead_by {
                Some(by) if n.state == NodeState::Dead => format!("dead (declared by {by})"),
                _ => n.state.to_string(),
            };
            vec![
                n.id.clone(),
                state,
                format!("{}@{}", n.pid, n.host),
                format!("{:.1}s ago", (now_ms - n.last_checkin_at) as f64 / 1000.0),
                format!("{}ms", n.clock_offset_ms),
                n.pools.join(","),
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

/// What a prune removed (or, on a dry run, would remove), per job and status.
pub fn pruned(report: &PruneReport, dry_run: bool, as_json: bool) {
    if as_json {
        let rows: Vec<Value> = report
            .removed
            .iter()
            .map(|r| json!({"job": r.job, "status": r.status.map(|s| s.as_str()), "rows": r.rows}))
            .collect();
        println!(
            "{}",
            json!({"dry_run": dry_run, "total": report.total(), "removed": rows})
        );
        return;
    }
    let rows: Vec<Vec<String>> = report
        .removed
        .iter()
        .map(|r| {
            vec![
                r.job.clone(),
                r.status
                    .map_or("(beyond max_rows)", |s| s.as_str())
                    .to_string(),
                r.rows.to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        table(&["JOB", "STATUS", "FIRES"], &rows);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    println!("{verb} {} fires", report.total());
}

/// `within 5m of each instant` or `5m window, stable offset from the name`.
pub fn jitter_text(j: &crate::model::Jitter) -> String {
    let window = humantime::format_duration(j.window());
    match j {
        crate::model::Jitter::Uniform(_) => format!("uniform, within {window} after each instant"),
        crate::model::Jitter::Hash(_) => {
            format!("hash, one offset within {window} from the job name")
        }
    }
}
