//! The `[[job]]` tables: each becomes a [`JobDecl`] (the declaration every
//! door shares) plus the place in the file of every key it came from, goes
//! through the one validator, and comes back as a [`ConfigJob`] with its
//! hashes, or as issues at `file:line:column`.
//!
//! The file differs from the JSON body in its shape only: schedule keys
//! sit in the job table, and the command kind's settings (`command`,
//! `shell`, `env`, `workdir`, `max_output`, `inherit_env`) and the http
//! kind's (`url`, `method`, `headers`, …, `jobs::http::KEYS`) are keys of
//! the job; any other kind takes a `settings` table.

use std::collections::HashMap;
use std::ops::Range;

use serde_json::{Value, json};
use toml::Spanned;

use super::hash::{job_hash, trigger_hash};
use super::raw::RawJob;
use super::spans::Checker;
use super::{SchedulerSettings, calendars::time_text};
use crate::declare::{
    CalendarIntervalDecl, DailyDecl, Door, JobDecl, RetryDecl, ScheduleDecl, ValidationContext,
    validate,
};
use crate::jobs::JobRegistry;
use crate::model::ConfigJob;

/// Where each field of a declaration was written.
struct DeclSpans {
    by_path: HashMap<&'static str, Range<usize>>,
    /// The whole `[[job]]` table: the place of last resort.
    table: Range<usize>,
}

impl DeclSpans {
    fn put<T>(&mut self, path: &'static str, v: &Option<Spanned<T>>) {
        if let Some(v) = v {
            self.by_path.insert(path, v.span());
        }
    }

    /// The most specific place known for `path`: the field, else its
    /// parent table or list, else the job's table.
    fn span_of(&self, path: &str) -> Range<usize> {
        let mut path = path;
        loop {
            if let Some(span) = self.by_path.get(path) {
                return span.clone();
            }
            let parent = if path.ends_with(']') {
                path.rfind('[').map(|i| &path[..i])
            } else {
                path.rfind('.').map(|i| &path[..i])
            };
            match parent {
                Some(p) => path = p,
                None => return self.table.clone(),
            }
        }
    }
}

/// A TOML value as JSON (a datetime as its RFC 3339 text). Nested values
/// go through serde as they always have: the job hash depends on it.
pub(super) fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        // TOML values are always representable in JSON.
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

pub(super) fn table_to_json(t: &toml::Table) -> Value {
    Value::Object(
        t.iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
    )
}

/// An instant as text: a TOML datetime literal as RFC 3339, a string as
/// written, anything else as TOML prints it (the validator refuses it).
fn instant_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    }
}

/// A time of day as text (a string or a TOML local time), else as TOML
/// prints it (the validator refuses it).
fn time_of_day_text(v: &toml::Value) -> String {
    time_text(v).unwrap_or_else(|| v.to_string())
}

fn text<T: Clone>(v: &Option<Spanned<T>>) -> Option<T> {
    v.as_ref().map(|v| v.get_ref().clone())
}

/// The kind's settings as the declaration's `settings`, with where they
/// were written; issues with the file's own shape go to `c`.
fn settings(
    c: &mut Checker<'_>,
    raw: &RawJob,
    registry: &JobRegistry,
) -> (Option<Value>, Range<usize>) {
    let kind = raw.kind.get_ref();
    let mut span = raw.kind.span();
    if registry.get(kind).is_none() {
        return (None, span);
    }
    let command_keys = [
        raw.command.as_ref().map(|v| ("command", v.span())),
        raw.shell.as_ref().map(|v| ("shell", v.span())),
        raw.env.as_ref().map(|v| ("env", v.span())),
        raw.workdir.as_ref().map(|v| ("workdir", v.span())),
        raw.max_output.as_ref().map(|v| ("max_output", v.span())),
        raw.inherit_env.as_ref().map(|v| ("inherit_env", v.span())),
    ];
    let http_keys = http_keys(raw);
    if kind != "command" {
        for (key, key_span) in command_keys.iter().flatten() {
            c.at(key_span.clone(), format!("`{key}` is a setting of the command kind, but this job's kind is `{kind}`: put the kind's settings in a `settings` table"));
        }
    }
    if kind != "http" {
        for (key, v) in &http_keys {
            c.at(
                v.span(),
                format!("`{key}` is a setting of the http kind, but this job's kind is `{kind}`"),
            );
        }
    }
    if kind == "http" && !http_keys.is_empty() {
        if let Some(s) = &raw.settings {
            c.at(s.span(), "the http kind's settings are keys of the job (url, method, …) or a `settings` table, not both");
        }
        let mut settings = serde_json::Map::new();
        for (key, v) in &http_keys {
            settings.insert((*key).to_string(), toml_to_json(v.get_ref()));
        }
        let span = http_keys
            .iter()
            .find(|(k, _)| *k == "url")
            .map_or_else(|| http_keys[0].1.span(), |(_, v)| v.span());
        return (Some(Value::Object(settings)), span);
    }
    if kind != "command" {
        let Some(s) = &raw.settings else {
            return (None, span);
        };
        return (Some(table_to_json(s.get_ref())), s.span());
    }
    if let Some(s) = &raw.settings {
        c.at(s.span(), "the command kind takes its settings (command, shell, env, workdir, max_output, inherit_env) as keys of the job, not in `settings`");
    }
    let mut settings = serde_json::Map::new();
    if let Some(v) = &raw.command {
        settings.insert("command".into(), toml_to_json(v.get_ref()));
        span = v.span();
    }
    if let Some(v) = &raw.shell {
        settings.insert("shell".into(), json!(v.get_ref()));
    }
    if let Some(v) = &raw.env {
        settings.insert("env".into(), table_to_json(v.get_ref()));
    }
    if let Some(v) = &raw.workdir {
        settings.insert("workdir".into(), json!(v.get_ref()));
    }
    if let Some(v) = &raw.max_output {
        settings.insert("max_output".into(), json!(v.get_ref()));
    }
    if let Some(v) = &raw.inherit_env {
        settings.insert("inherit_env".into(), toml_to_json(v.get_ref()));
    }
    (Some(Value::Object(settings)), span)
}

/// The http kind's keys written on the job table, in `jobs::http::KEYS`
/// order.
fn http_keys(raw: &RawJob) -> Vec<(&'static str, &Spanned<toml::Value>)> {
    [
        ("url", &raw.url),
        ("method", &raw.method),
        ("headers", &raw.headers),
        ("body", &raw.body),
        ("auth", &raw.auth),
        ("sign", &raw.sign),
        ("request_timeout", &raw.request_timeout),
        ("connect_timeout", &raw.connect_timeout),
        ("success_codes", &raw.success_codes),
        ("expect_body", &raw.expect_body),
        ("retry_on", &raw.retry_on),
        ("max_response", &raw.max_response),
        ("follow_redirects", &raw.follow_redirects),
        ("ca_file", &raw.ca_file),
        ("client_cert", &raw.client_cert),
        ("client_key", &raw.client_key),
    ]
    .into_iter()
    .filter_map(|(key, v)| v.as_ref().map(|v| (key, v)))
    .collect()
}

/// The schedule keys of the job table, as a [`ScheduleDecl`]; None when
/// the job names none of them.
fn schedule(raw: &RawJob, spans: &mut DeclSpans) -> Option<ScheduleDecl> {
    let s = ScheduleDecl {
        cron: text(&raw.cron),
        dialect: text(&raw.dialect),
        timezone: text(&raw.timezone),
        dst_gap: text(&raw.dst_gap),
        dst_fold: text(&raw.dst_fold),
        every: text(&raw.every),
        start: raw.start.as_ref().map(|v| instant_text(v.get_ref())),
        end: raw.end.as_ref().map(|v| instant_text(v.get_ref())),
        repeat: text(&raw.repeat),
        at: raw.at.as_ref().map(|v| instant_text(v.get_ref())),
        calendar_interval: raw.calendar_interval.as_ref().map(|ci| {
            let r = ci.get_ref();
            spans
                .by_path
                .insert("schedule.calendar_interval", ci.span());
            spans
                .by_path
                .insert("schedule.calendar_interval.every", r.every.span());
            spans
                .by_path
                .insert("schedule.calendar_interval.unit", r.unit.span());
            CalendarIntervalDecl {
                every: *r.every.get_ref(),
                unit: r.unit.get_ref().clone(),
                preserve_hour_of_day: r.preserve_hour_of_day,
                skip_day_if_hour_does_not_exist: r.skip_day_if_hour_does_not_exist,
            }
        }),
        daily: raw.daily.as_ref().map(|d| {
            let r = d.get_ref();
            spans.by_path.insert("schedule.daily", d.span());
            spans.by_path.insert("schedule.daily.every", r.every.span());
            spans.by_path.insert("schedule.daily.unit", r.unit.span());
            spans.put("schedule.daily.from", &r.from);
            spans.put("schedule.daily.to", &r.to);
            spans.put("schedule.daily.days", &r.days);
            DailyDecl {
                every: *r.every.get_ref(),
                unit: r.unit.get_ref().clone(),
                from: r.from.as_ref().map(|v| time_of_day_text(v.get_ref())),
                to: r.to.as_ref().map(|v| time_of_day_text(v.get_ref())),
                days: text(&r.days),
            }
        }),
        misfire: raw.misfire.as_ref().map(|v| toml_to_json(v.get_ref())),
        misfire_threshold: text(&raw.misfire_threshold),
        calendars: text(&raw.calendars),
    };
    spans.put("schedule.cron", &raw.cron);
    spans.put("schedule.dialect", &raw.dialect);
    spans.put("schedule.timezone", &raw.timezone);
    spans.put("schedule.dst_gap", &raw.dst_gap);
    spans.put("schedule.dst_fold", &raw.dst_fold);
    spans.put("schedule.every", &raw.every);
    spans.put("schedule.start", &raw.start);
    spans.put("schedule.end", &raw.end);
    spans.put("schedule.repeat", &raw.repeat);
    spans.put("schedule.at", &raw.at);
    spans.put("schedule.misfire", &raw.misfire);
    spans.put("schedule.misfire_threshold", &raw.misfire_threshold);
    spans.put("schedule.calendars", &raw.calendars);
    (s != ScheduleDecl::default()).then_some(s)
}

/// The declaration of a `[[job]]` table, and where its keys are.
fn declaration(
    c: &mut Checker<'_>,
    spanned: &Spanned<RawJob>,
    registry: &JobRegistry,
) -> (JobDecl, DeclSpans) {
    let raw = spanned.get_ref();
    let mut spans = DeclSpans {
        by_path: HashMap::new(),
        table: spanned.span(),
    };
    let (settings, settings_span) = settings(c, raw, registry);
    spans.by_path.insert("name", raw.name.span());
    spans.by_path.insert("kind", raw.kind.span());
    spans.by_path.insert("settings", settings_span);
    spans.put("data", &raw.data);
    spans.put("pool", &raw.pool);
    spans.put("group", &raw.group);
    spans.put("overlap", &raw.overlap);
    spans.put("timeout", &raw.timeout);
    spans.put("priority", &raw.priority);
    spans.put("retry", &raw.retry);
    spans.put("keep_fires", &raw.keep_fires);
    spans.put("expect_success_within", &raw.expect_success_within);
    spans.put("jitter", &raw.jitter);
    let keep_fires = raw.keep_fires.as_ref().map(|k| {
        let (decl, places) = k.get_ref().declaration();
        for (name, span) in places {
            spans.by_path.insert(keep_fires_path(name), span);
        }
        decl
    });
    let retry = raw.retry.as_ref().map(|r| {
        let r = r.get_ref();
        spans.put("retry.max_attempts", &r.max_attempts);
        spans.put("retry.backoff", &r.backoff);
        spans.put("retry.factor", &r.factor);
        spans.put("retry.max_backoff", &r.max_backoff);
        spans.put("retry.jitter", &r.jitter);
        RetryDecl {
            max_attempts: text(&r.max_attempts),
            backoff: text(&r.backoff),
            factor: text(&r.factor),
            max_backoff: text(&r.max_backoff),
            jitter: text(&r.jitter),
        }
    });
    let decl = JobDecl {
        name: raw.name.get_ref().clone(),
        kind: raw.kind.get_ref().clone(),
        settings,
        data: raw.data.as_ref().map(|d| table_to_json(d.get_ref())),
        pool: text(&raw.pool),
        group: text(&raw.group),
        overlap: text(&raw.overlap),
        timeout: text(&raw.timeout),
        priority: text(&raw.priority),
        retry,
        requests_recovery: raw.requests_recovery,
        paused: raw.paused,
        keep_fires,
        expect_success_within: text(&raw.expect_success_within),
        jitter: raw.jitter.as_ref().map(|v| toml_to_json(v.get_ref())),
        schedule: schedule(raw, &mut spans),
    };
    (decl, spans)
}

/// The declaration path of a `keep_fires` field.
fn keep_fires_path(name: &str) -> &'static str {
    match name {
        "succeeded" => "keep_fires.succeeded",
        "failed" => "keep_fires.failed",
        "timed_out" => "keep_fires.timed_out",
        "abandoned" => "keep_fires.abandoned",
        "cancelled" => "keep_fires.cancelled",
        "skipped" => "keep_fires.skipped",
        _ => "keep_fires.max_rows",
    }
}

/// Validates one `[[job]]` table; None when it has a problem (in `c`).
pub(super) fn job_decl(
    c: &mut Checker<'_>,
    spanned: &Spanned<RawJob>,
    scheduler: &SchedulerSettings,
    registry: &JobRegistry,
    calendars: &[(String, String)],
) -> Option<ConfigJob> {
    let before = c.issues.len();
    let (decl, spans) = declaration(c, spanned, registry);
    let names: Vec<String> = calendars.iter().map(|(n, _)| n.clone()).collect();
    let ctx = ValidationContext {
        registry,
        default_timezone: scheduler.timezone,
        calendars: &names,
        door: Door::File,
        http_policy: None,
    };
    let validated = match validate(&decl, &ctx) {
        Ok(v) => Some(v),
        Err(e) => {
            for issue in e.issues {
                let mut span = spans.span_of(&issue.path);
                if let Some(column) = issue.column {
                    // The span starts at the opening quote of the string.
                    let at = span.start + column;
                    span = at..at;
                }
                c.at(span, issue.message);
            }
            None
        }
    };
    if c.issues.len() > before {
        return None;
    }
    let v = validated?;
    let job_hash = job_hash(&v.job);
    let trigger_hash = match (&decl.schedule, &v.trigger) {
        (Some(s), Some(t)) => Some(trigger_hash(
            s,
            t,
            v.job.priority,
            scheduler.timezone,
            calendars,
        )),
        _ => None,
    };
    Some(ConfigJob {
        job: v.job,
        trigger: v.trigger,
        job_hash,
        trigger_hash,
    })
}
