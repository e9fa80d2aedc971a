//! The TOML file: parsed, validated whole, then handed on as typed values.
//!
//! Nothing is written until the whole file is valid. Every problem is
//! reported with its file, line and column, what was expected, and (for a
//! misspelt key, kind or time zone) the nearest valid spelling.
//!
//! Precedence for settings that can also come from elsewhere: command line
//! > environment > file > default ([`Settings::resolve`]).
//!
//! # Schedules of a `[[job]]`
//!
//! At most one of (none: the job fires only on demand):
//!
//! - `cron = "0 30 9 ? * MON-FRI"` with optional `dialect`, `timezone`,
//!   `dst_gap`, `dst_fold`;
//! - `every = "5m"` (real elapsed time) with optional `start`, `end`,
//!   `repeat`;
//! - `at = 2026-12-01T09:00:00Z` (once);
//! - `calendar_interval = { every = 1, unit = "month",
//!   preserve_hour_of_day = false, skip_day_if_hour_does_not_exist = false }`
//!   (units `second` … `year`; from `day` up the wall-clock time of `start`
//!   is kept) with optional `timezone`, `start` (default: when the trigger
//!   is created), `end`;
//! - `daily = { every = 30, unit = "minute", from = "09:00", to = "17:00",
//!   days = ["mon", "tue", "wed", "thu", "fri"] }` (units `second`,
//!   `minute`, `hour`; `from` defaults to 00:00, `to` to 23:59:59, `days`
//!   to every day) with optional `timezone`, `start`, `end`, `repeat`.
//!
//! `calendars = ["holidays"]` applies exclusion calendars to any schedule;
//! each name must be a `[[calendar]]` table of the same file (the file is
//! self-contained: calendars created only through the API cannot be named
//! here). A `[[calendar]]` table is a
//! [`CalendarDef`](crate::schedule::calendar::CalendarDef): `name`,
//! `timezone` (default: `[scheduler] timezone`), `dates`, `annual`,
//! `days_of_week`, `days_of_month`, `daily_range`, `cron`. It is stored as
//! that definition's JSON, with its time zone filled in.
//!
//! # The `[http]` table
//!
//! `listen = "127.0.0.1:8080"` serves the HTTP JSON API and `/metrics`
//! from `cosched serve` (see [`crate::http`]); without it, no port is
//! opened. The address is an IP and a port (port 0: any free port).
//!
//! `tokens = [{ name, role, hash | env | file }]` (roles `read`,
//! `operate`, `admin`; exactly one source of the secret, never the secret
//! itself); without tokens `listen` must be a loopback address unless
//! `allow_unauthenticated = true`. `metrics_public`, `api_command_jobs`,
//! `hosts`, and the connection bounds `max_connections`, `header_timeout`,
//! `idle_timeout`, `request_timeout` (see [`crate::http::limits`]).

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};
use toml::Spanned;

use crate::definition::{DEFAULT_POOL, JobDef, OverlapPolicy, RetryPolicy, TriggerDef};
use crate::jobs::JobRegistry;
use crate::schedule::ScheduleSpec;
use crate::schedule::calendar::{CalendarDef, CalendarError, CalendarSet, DailyRangeDef};
use crate::schedule::cron::{CronExpr, Dialect};
use crate::schedule::dst::{DstOptions, FoldPolicy, GapPolicy};
use crate::schedule::interval::{DaysOfWeek, IntervalError, IntervalUnit, parse_weekday};
use crate::schedule::misfire::MisfirePolicy;
use crate::schedule::spec::SpecError;
use crate::store::{ConfigJob, DEFAULT_DATABASE_URL};

/// Defaults, in one place.
pub mod defaults {
    use std::time::Duration;
    pub const MAX_CONCURRENT: usize = 16;
    pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    pub const MISFIRE_THRESHOLD: Duration = Duration::from_secs(60);
    pub const LEASE: Duration = Duration::from_secs(30);
    pub const CHECKIN_INTERVAL: Duration = Duration::from_secs(5);
    pub const DEAD_AFTER_CHECKINS: u32 = 4;
    pub const MAX_BATCH: usize = 256;
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub file: String,
    /// 1-based; 0 when the problem is not at one place (an unreadable file).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// The `[scheduler]` table, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerSettings {
    pub database: Option<String>,
    pub node_id: Option<String>,
    pub max_concurrent: usize,
    pub poll_interval: Duration,
    pub shutdown_grace: Duration,
    pub timezone: Tz,
    pub misfire_threshold: Duration,
    pub pools: Vec<String>,
    pub lease: Duration,
    pub checkin_interval: Duration,
    pub dead_after_checkins: u32,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            database: None,
            node_id: None,
            max_concurrent: defaults::MAX_CONCURRENT,
            poll_interval: defaults::POLL_INTERVAL,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
            timezone: Tz::UTC,
            misfire_threshold: defaults::MISFIRE_THRESHOLD,
            pools: vec![DEFAULT_POOL.to_string()],
            lease: defaults::LEASE,
            checkin_interval: defaults::CHECKIN_INTERVAL,
            dead_after_checkins: defaults::DEAD_AFTER_CHECKINS,
        }
    }
}

/// The `[http]` table, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSettings {
    /// Where the HTTP API listens; None (the default): no HTTP API.
    pub listen: Option<std::net::SocketAddr>,
    /// The accepted tokens (secrets read when the node starts); none: an
    /// open API, on a loopback address only.
    pub tokens: Vec<crate::http::tokens::TokenSpec>,
    /// Serve an open API on a non-loopback address anyway (warned at
    /// every start).
    pub allow_unauthenticated: bool,
    /// `/metrics` answers without a token.
    pub metrics_public: bool,
    /// The API may create `command` jobs (which run programs).
    pub api_command_jobs: bool,
    /// Host names the API answers to besides its listen address.
    pub hosts: Vec<crate::http::guard::HostEntry>,
    pub limits: crate::http::limits::ConnLimits,
}

/// A validated configuration file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub scheduler: SchedulerSettings,
    pub http: HttpSettings,
    pub jobs: Vec<ConfigJob>,
    /// Calendars by name, with their JSON definitions (a
    /// [`CalendarDef`] with its time zone set).
    pub calendars: Vec<(String, String)>,
}

impl Config {
    /// The file's calendars of these names, combined; an error names a
    /// calendar the file does not declare.
    pub fn calendar_set(&self, names: &[String]) -> Result<CalendarSet, String> {
        names
            .iter()
            .map(|name| {
                let Some((_, json)) = self.calendars.iter().find(|(n, _)| n == name) else {
                    let hint = nearest(name, self.calendars.iter().map(|(n, _)| n.as_str()))
                        .map(|n| format!(" (did you mean `{n}`?)"))
                        .unwrap_or_default();
                    let known: Vec<&str> = self.calendars.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(format!(
                        "unknown calendar `{name}`{hint}: the file declares {}",
                        if known.is_empty() {
                            "no [[calendar]] table".to_string()
                        } else {
                            known.join(", ")
                        }
                    ));
                };
                let def: CalendarDef =
                    serde_json::from_str(json).map_err(|e| format!("calendar `{name}`: {e}"))?;
                def.compile(self.scheduler.timezone)
                    .map(std::sync::Arc::new)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

/// What a node runs with, after every source of settings is resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub node_id: String,
    pub scheduler: SchedulerSettings,
}

impl Settings {
    /// Resolves the database (`--database`/`DATABASE_URL` > file >
    /// default) and the node id (file > `host-pid`).
    pub fn resolve(cli_database: Option<String>, config: &Config) -> Settings {
        let database_url = cli_database
            .or_else(|| config.scheduler.database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        let node_id = config
            .scheduler
            .node_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", crate::node::hostname(), std::process::id()));
        Settings {
            database_url,
            node_id,
            scheduler: config.scheduler.clone(),
        }
    }
}

// ---- raw TOML ------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    scheduler: Option<RawScheduler>,
    #[serde(default)]
    http: Option<RawHttp>,
    #[serde(default)]
    job: Vec<Spanned<RawJob>>,
    #[serde(default)]
    calendar: Vec<Spanned<RawCalendar>>,
}

/// A `[[calendar]]` table: the fields of [`CalendarDef`], with their places
/// in the file. `dates` and the `daily_range` times may also be TOML
/// date and time literals.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    name: Spanned<String>,
    timezone: Option<Spanned<String>>,
    dates: Option<Spanned<Vec<toml::Value>>>,
    annual: Option<Spanned<Vec<String>>>,
    days_of_week: Option<Spanned<Vec<String>>>,
    days_of_month: Option<Spanned<Vec<u32>>>,
    daily_range: Option<Spanned<RawDailyRange>>,
    cron: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDailyRange {
    from: toml::Value,
    to: toml::Value,
    invert: Option<bool>,
}

/// `calendar_interval = { every = 1, unit = "month", … }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendarInterval {
    every: Spanned<i64>,
    unit: Spanned<String>,
    preserve_hour_of_day: Option<bool>,
    skip_day_if_hour_does_not_exist: Option<bool>,
}

/// `daily = { every = 30, unit = "minute", from = "09:00", to = "17:00", days = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaily {
    every: Spanned<i64>,
    unit: Spanned<String>,
    from: Option<Spanned<toml::Value>>,
    to: Option<Spanned<toml::Value>>,
    days: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheduler {
    database: Option<String>,
    node_id: Option<Spanned<String>>,
    max_concurrent: Option<Spanned<i64>>,
    poll_interval: Option<Spanned<String>>,
    shutdown_grace: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    misfire_threshold: Option<Spanned<String>>,
    pools: Option<Spanned<Vec<String>>>,
    lease: Option<Spanned<String>>,
    checkin_interval: Option<Spanned<String>>,
    dead_after_checkins: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<Spanned<String>>,
    tokens: Option<Vec<Spanned<RawToken>>>,
    allow_unauthenticated: Option<Spanned<bool>>,
    metrics_public: Option<bool>,
    api_command_jobs: Option<bool>,
    hosts: Option<Vec<Spanned<String>>>,
    max_connections: Option<Spanned<i64>>,
    header_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    request_timeout: Option<Spanned<String>>,
}

/// An entry of `[http] tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: Spanned<String>,
    role: Spanned<String>,
    hash: Option<Spanned<String>>,
    env: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    /// Never valid: named so that its error can say what to write instead.
    secret: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    kind: Spanned<String>,
    // The command kind's settings, written at job level.
    command: Option<Spanned<toml::Value>>,
    shell: Option<Spanned<bool>>,
    env: Option<Spanned<toml::Table>>,
    workdir: Option<Spanned<String>>,
    max_output: Option<Spanned<i64>>,
    // Any other kind's settings.
    settings: Option<Spanned<toml::Table>>,
    // Schedule: one of cron, every, at, calendar_interval, daily (none: on demand).
    cron: Option<Spanned<String>>,
    calendar_interval: Option<Spanned<RawCalendarInterval>>,
    daily: Option<Spanned<RawDaily>>,
    dialect: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    dst_gap: Option<Spanned<String>>,
    dst_fold: Option<Spanned<String>>,
    every: Option<Spanned<String>>,
    start: Option<Spanned<toml::Value>>,
    end: Option<Spanned<toml::Value>>,
    repeat: Option<Spanned<i64>>,
    at: Option<Spanned<toml::Value>>,
    misfire: Option<Spanned<toml::Value>>,
    misfire_threshold: Option<Spanned<String>>,
    calendars: Option<Spanned<Vec<String>>>,
    // Job policies.
    timeout: Option<Spanned<String>>,
    data: Option<Spanned<toml::Table>>,
    pool: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    overlap: Option<Spanned<String>>,
    priority: Option<Spanned<i64>>,
    retry: Option<Spanned<RawRetry>>,
    requests_recovery: Option<bool>,
    paused: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<Spanned<i64>>,
    backoff: Option<Spanned<String>>,
    factor: Option<Spanned<f64>>,
    max_backoff: Option<Spanned<String>>,
    jitter: Option<Spanned<f64>>,
}

// ---- loading ---------------------------------------------------------------

/// Collects issues against one source text.
struct Checker<'a> {
    file: String,
    src: &'a str,
    issues: Vec<ConfigIssue>,
}

impl<'a> Checker<'a> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.issues.push(ConfigIssue {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }

    fn duration(&mut self, v: &Option<Spanned<String>>, key: &str) -> Option<Duration> {
        let v = v.as_ref()?;
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.at(
                    v.span(),
                    format!("`{key}` = \"{}\" is not a duration ({e}): expected e.g. \"30s\", \"5m\", \"1h 30m\"", v.get_ref()),
                );
                None
            }
        }
    }

    fn positive(&mut self, v: &Option<Spanned<String>>, key: &str) -> Option<Duration> {
        let d = self.duration(v, key)?;
        if d.is_zero() {
            // The value parsed, so it exists.
            let span = v.as_ref().map(|s| s.span()).unwrap_or(0..0);
            self.at(span, format!("`{key}` must be longer than zero"));
            return None;
        }
        Some(d)
    }

    fn timezone(&mut self, v: &Spanned<String>) -> Option<Tz> {
        match v.get_ref().parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
                let hint = nearest(v.get_ref(), names)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                self.at(
                    v.span(),
                    format!("unknown time zone `{}`: expected an IANA name such as \"Europe/Berlin\"{hint}", v.get_ref()),
                );
                None
            }
        }
    }

    fn instant(&mut self, v: &Spanned<toml::Value>, key: &str) -> Option<DateTime<Utc>> {
        let text = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Datetime(d) => d.to_string(),
            other => {
                self.at(
                    v.span(),
                    format!("`{key}` must be an instant, found a {}", other.type_str()),
                );
                return None;
            }
        };
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.at(
                    v.span(),
                    format!("`{key}` = {text} is not an instant: expected RFC 3339 with an offset, e.g. 2026-12-01T09:00:00Z"),
                );
                None
            }
        }
    }

    fn nonnegative_u32(&mut self, v: &Spanned<i64>, key: &str, min: i64) -> Option<u32> {
        match u32::try_from(*v.get_ref()) {
            Ok(n) if i64::from(n) >= min => Some(n),
            _ => {
                self.at(
                    v.span(),
                    format!("`{key}` must be a whole number from {min} to {}", u32::MAX),
                );
                None
            }
        }
    }
}

/// The nearest of `candidates` to `word`, if any is close enough to be a
/// likely misspelling.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Reads and validates a configuration file.
pub fn load_file(path: &Path, registry: &JobRegistry) -> Result<Config, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
        issues: vec![ConfigIssue {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    let mut config = parse(&src, &path.display().to_string(), registry)?;
    config.path = Some(path.to_path_buf());
    Ok(config)
}

/// Validates configuration text; `file` names it in errors.
pub fn parse(src: &str, file: &str, registry: &JobRegistry) -> Result<Config, ConfigError> {
    let mut c = Checker {
        file: file.to_string(),
        src,
        issues: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(src) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = explain_toml_error(e.message());
            c.at(span, message);
            return Err(ConfigError { issues: c.issues });
        }
    };
    let scheduler = scheduler_settings(&mut c, raw.scheduler.as_ref());
    let http = http_settings(&mut c, raw.http.as_ref());
    let mut calendars: Vec<(String, String)> = Vec::new();
    let mut calendar_lines: HashMap<String, usize> = HashMap::new();
    for cal in &raw.calendar {
        let name = cal.get_ref().name.get_ref();
        if let Some(first) = calendar_lines.get(name) {
            c.at(
                cal.get_ref().name.span(),
                format!("duplicate calendar name `{name}`: already declared at line {first}; calendar names must be unique"),
            );
            continue;
        }
        let line = c.position(cal.span().start).0;
        calendar_lines.insert(name.clone(), line);
        if let Some(json) = calendar_decl(&mut c, cal.get_ref(), scheduler.timezone) {
            calendars.push((name.clone(), json));
        }
    }
    let mut jobs = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for raw_job in &raw.job {
        let name = raw_job.get_ref().name.get_ref();
        let line = c.position(raw_job.span().start).0;
        if let Some(first) = seen.get(name) {
            c.at(
                raw_job.get_ref().name.span(),
                format!("duplicate job name `{name}`: already declared at line {first}; job names must be unique"),
            );
            continue;
        }
        seen.insert(name.clone(), line);
        if let Some(job) = job_decl(&mut c, raw_job, &scheduler, registry, &calendars) {
            jobs.push(job);
        }
    }
    if !c.issues.is_empty() {
        return Err(ConfigError { issues: c.issues });
    }
    Ok(Config {
        path: None,
        scheduler,
        http,
        jobs,
        calendars,
    })
}

/// Rewrites serde's "unknown field `x`, expected one of …" with the
/// nearest valid key.
fn explain_toml_error(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = nearest(field, keys.iter().copied())
            .map(|n| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        return format!(
            "unknown key `{field}`: {hint}expected one of {}",
            keys.join(", ")
        );
    }
    message
        .replace("missing field", "missing key")
        .replace("unknown variant", "unknown value")
}

fn scheduler_settings(c: &mut Checker<'_>, raw: Option<&RawScheduler>) -> SchedulerSettings {
    let mut s = SchedulerSettings::default();
    let Some(raw) = raw else { return s };
    s.database = raw.database.clone();
    s.node_id = raw.node_id.as_ref().map(|n| n.get_ref().clone());
    if let Some(n) = &raw.node_id
        && n.get_ref().trim().is_empty()
    {
        c.at(n.span(), "`node_id` must not be empty");
    }
    if let Some(m) = &raw.max_concurrent {
        match usize::try_from(*m.get_ref()) {
            Ok(n) if (1..=10_000).contains(&n) => s.max_concurrent = n,
            _ => c.at(
                m.span(),
                "`max_concurrent` must be a whole number from 1 to 10000",
            ),
        }
    }
    if let Some(d) = c.positive(&raw.poll_interval, "poll_interval") {
        s.poll_interval = d;
    }
    if let Some(d) = c.duration(&raw.shutdown_grace, "shutdown_grace") {
        s.shutdown_grace = d;
    }
    if let Some(tz) = raw.timezone.as_ref().and_then(|t| c.timezone(t)) {
        s.timezone = tz;
    }
    if let Some(d) = c.duration(&raw.misfire_threshold, "misfire_threshold") {
        s.misfire_threshold = d;
    }
    if let Some(p) = &raw.pools {
        if p.get_ref().is_empty() || p.get_ref().iter().any(|n| n.trim().is_empty()) {
            c.at(
                p.span(),
                "`pools` must list at least one non-empty pool name",
            );
        } else {
            s.pools = p.get_ref().clone();
        }
    }
    if let Some(d) = c.positive(&raw.lease, "lease") {
        s.lease = d;
    }
    if let Some(d) = c.positive(&raw.checkin_interval, "checkin_interval") {
        s.checkin_interval = d;
    }
    if let Some(n) = &raw.dead_after_checkins
        && let Some(n) = c.nonnegative_u32(n, "dead_after_checkins", 2)
    {
        s.dead_after_checkins = n;
    }
    s
}

fn http_settings(c: &mut Checker<'_>, raw: Option<&RawHttp>) -> HttpSettings {
    use crate::http::guard::HostEntry;
    use crate::http::limits;

    let listen = raw.and_then(|r| r.listen.as_ref()).and_then(|l| {
        let text = l.get_ref().trim();
        match text.parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                let hint = match text.rsplit_once(':') {
                    Some(("localhost", port)) => format!("; did you mean \"127.0.0.1:{port}\"?"),
                    _ => String::new(),
                };
                c.at(
                    l.span(),
                    format!("`listen` = \"{text}\" is not an address: expected an IP and a port such as \"127.0.0.1:8080\" or \"[::1]:8080\"{hint}"),
                );
                None
            }
        }
    });
    let mut settings = HttpSettings {
        listen,
        ..HttpSettings::default()
    };
    let Some(raw) = raw else { return settings };
    settings.tokens = http_tokens(c, raw.tokens.as_deref().unwrap_or_default());
    settings.allow_unauthenticated = raw
        .allow_unauthenticated
        .as_ref()
        .is_some_and(|a| *a.get_ref());
    settings.metrics_public = raw.metrics_public.unwrap_or(false);
    settings.api_command_jobs = raw.api_command_jobs.unwrap_or(false);
    if let (Some(a), false) = (&raw.allow_unauthenticated, settings.tokens.is_empty())
        && *a.get_ref()
    {
        c.at(
            a.span(),
            "`allow_unauthenticated = true` has no effect once `tokens` are configured (every \
             route then needs a token): remove it",
        );
    }
    if let (Some(l), Some(addr)) = (&raw.listen, listen) {
        let has_tokens =
            !settings.tokens.is_empty() || raw.tokens.as_ref().is_some_and(|t| !t.is_empty());
        if let Some(problem) =
            crate::http::auth::exposure_problem(addr, has_tokens, settings.allow_unauthenticated)
        {
            c.at(l.span(), problem);
        }
    }
    for h in raw.hosts.iter().flatten() {
        match HostEntry::parse(h.get_ref()) {
            Ok(entry) => settings.hosts.push(entry),
            Err(e) => c.at(h.span(), format!("`hosts`: {e}")),
        }
    }
    if let Some(m) = &raw.max_connections {
        match usize::try_from(*m.get_ref()) {
            Ok(n) if limits::MAX_CONNECTIONS_RANGE.contains(&n) => {
                settings.limits.max_connections = n
            }
            _ => c.at(
                m.span(),
                format!(
                    "`max_connections` must be a whole number from {} to {}",
                    limits::MAX_CONNECTIONS_RANGE.start(),
                    limits::MAX_CONNECTIONS_RANGE.end()
                ),
            ),
        }
    }
    let bounded = [
        (
            &raw.header_timeout,
            "header_timeout",
            limits::HEADER_TIMEOUT_RANGE,
        ),
        (
            &raw.idle_timeout,
            "idle_timeout",
            limits::IDLE_TIMEOUT_RANGE,
        ),
        (
            &raw.request_timeout,
            "request_timeout",
            limits::REQUEST_TIMEOUT_RANGE,
        ),
    ];
    for (value, key, range) in bounded {
        let Some(d) = c.duration(value, key) else {
            continue;
        };
        if !range.contains(&d) {
            let span = value.as_ref().map(|v| v.span()).unwrap_or(0..0);
            c.at(
                span,
                format!(
                    "`{key}` must be from {} to {}",
                    humantime::format_duration(*range.start()),
                    humantime::format_duration(*range.end())
                ),
            );
            continue;
        }
        match key {
            "header_timeout" => settings.limits.header_timeout = d,
            "idle_timeout" => settings.limits.idle_timeout = d,
            _ => settings.limits.request_timeout = d,
        }
    }
    settings
}

/// Validates `[http] tokens`: names unique and non-empty, a known role,
/// exactly one of `hash`, `env`, `file`, a well-formed hash.
fn http_tokens(
    c: &mut Checker<'_>,
    raw: &[Spanned<RawToken>],
) -> Vec<crate::http::tokens::TokenSpec> {
    use crate::http::tokens::{Place, Role, TokenDigest, TokenSource, TokenSpec};

    let mut specs = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for entry in raw {
        let t = entry.get_ref();
        let name = t.name.get_ref().trim();
        let (line, column) = c.position(entry.span().start);
        if name.is_empty() {
            c.at(t.name.span(), "a token's `name` must not be empty");
            continue;
        }
        if let Some(first) = names.get(name) {
            c.at(
                t.name.span(),
                format!("duplicate token name `{name}`: already declared at line {first}; token names must be unique"),
            );
            continue;
        }
        names.insert(name.to_string(), line);
        if let Some(s) = &t.secret {
            c.at(
                s.span(),
                format!("token `{name}`: a secret is never written in the file; give `hash = \"sha256:...\"` (`cosched token new` prints one), `env = \"VARIABLE\"` or `file = \"/path\"`"),
            );
            continue;
        }
        let role = match Role::parse(t.role.get_ref()) {
            Some(r) => Some(r),
            None => {
                let hint = nearest(t.role.get_ref(), Role::ALL.map(Role::as_str))
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                c.at(
                    t.role.span(),
                    format!(
                        "token `{name}`: unknown role `{}`: {hint}expected read, operate or admin",
                        t.role.get_ref()
                    ),
                );
                None
            }
        };
        let given: Vec<&str> = [
            t.hash.as_ref().map(|_| "hash"),
            t.env.as_ref().map(|_| "env"),
            t.file.as_ref().map(|_| "file"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let source = match (given.as_slice(), &t.hash, &t.env, &t.file) {
            (["hash"], Some(h), _, _) => match TokenDigest::parse(h.get_ref().trim()) {
                Ok(d) => Some(TokenSource::Hash(d)),
                Err(e) => {
                    c.at(h.span(), format!("token `{name}`: `hash` = \"{}\" is malformed: {e} (`cosched token new` prints one)", h.get_ref()));
                    None
                }
            },
            (["env"], _, Some(v), _) => {
                let var = v.get_ref().trim();
                let valid = !var.is_empty()
                    && !var.starts_with(|ch: char| ch.is_ascii_digit())
                    && var
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                if valid {
                    Some(TokenSource::Env(var.to_string()))
                } else {
                    c.at(v.span(), format!("token `{name}`: `env` = \"{var}\" is not an environment variable name: expected letters, digits and `_`, e.g. \"COSCHED_DEPLOY_TOKEN\""));
                    None
                }
            }
            (["file"], _, _, Some(f)) => {
                if f.get_ref().trim().is_empty() {
                    c.at(f.span(), format!("token `{name}`: `file` must be a path"));
                    None
                } else {
                    Some(TokenSource::File(PathBuf::from(f.get_ref().trim())))
                }
            }
            ([], ..) => {
                c.at(
                    entry.span(),
                    format!("token `{name}` has no secret: give exactly one of `hash = \"sha256:...\"`, `env = \"VARIABLE\"` or `file = \"/path\"`"),
                );
                None
            }
            (many, ..) => {
                c.at(
                    entry.span(),
                    format!(
                        "token `{name}` gives {}: give exactly one of `hash`, `env` or `file`",
                        many.join(" and ")
                    ),
                );
                None
            }
        };
        if let (Some(role), Some(source)) = (role, source) {
            specs.push(TokenSpec {
                name: name.to_string(),
                role,
                source,
                place: Place {
                    file: c.file.clone(),
                    line,
                    column,
                },
            });
        }
    }
    specs
}

fn toml_to_json(v: &toml::Value) -> Value {
    // TOML values are always representable in JSON (datetimes as strings).
    match v {
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

fn table_to_json(t: &toml::Table) -> Value {
    Value::Object(
        t.iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
    )
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

/// Validates a `[[calendar]]` table and returns its [`CalendarDef`] as
/// JSON, with `timezone` filled in (`default_tz` when the table names none),
/// so the stored definition means the same on every node.
fn calendar_decl(c: &mut Checker<'_>, raw: &RawCalendar, default_tz: Tz) -> Option<String> {
    let name = raw.name.get_ref().clone();
    let before = c.issues.len();
    let list = |v: &Option<Spanned<Vec<String>>>| {
        v.as_ref().map(|l| l.get_ref().clone()).unwrap_or_default()
    };
    let mut dates = Vec::new();
    if let Some(d) = &raw.dates {
        for v in d.get_ref() {
            match v {
                toml::Value::String(s) => dates.push(s.clone()),
                toml::Value::Datetime(dt) if dt.date.is_some() && dt.time.is_none() => {
                    dates.push(dt.to_string())
                }
                other => c.at(
                    d.span(),
                    format!(
                        "calendar `{name}`: `dates` = {other}: expected days such as \"2026-12-25\" or 2026-12-25"
                    ),
                ),
            }
        }
    }
    let daily_range = raw.daily_range.as_ref().and_then(|r| {
        let range = r.get_ref();
        let text = |key: &str, v: &toml::Value, c: &mut Checker<'_>| match time_text(v) {
            Some(t) => Some(t),
            None => {
                c.at(
                    r.span(),
                    format!("calendar `{name}`: `daily_range.{key}` = {v}: expected a time of day such as \"22:00\""),
                );
                None
            }
        };
        let from = text("from", &range.from, c);
        let to = text("to", &range.to, c);
        Some(DailyRangeDef {
            from: from?,
            to: to?,
            invert: range.invert.unwrap_or(false),
        })
    });
    let tz = match &raw.timezone {
        None => default_tz,
        Some(t) => c.timezone(t)?,
    };
    if c.issues.len() > before {
        return None;
    }
    let def = CalendarDef {
        name: name.clone(),
        timezone: Some(tz.name().to_string()),
        dates,
        annual: list(&raw.annual),
        days_of_week: list(&raw.days_of_week),
        days_of_month: raw
            .days_of_month
            .as_ref()
            .map(|l| l.get_ref().clone())
            .unwrap_or_default(),
        daily_range,
        cron: list(&raw.cron),
    };
    if let Err(e) = def.compile(tz) {
        let span = |v: Option<Range<usize>>| v.unwrap_or_else(|| raw.name.span());
        let at = match &e {
            CalendarError::EmptyName => raw.name.span(),
            CalendarError::UnknownTimeZone { .. } => span(raw.timezone.as_ref().map(|t| t.span())),
            CalendarError::InvalidCron { .. } => span(raw.cron.as_ref().map(|t| t.span())),
            CalendarError::InvalidValue { key, .. } => {
                let field = key.split(['[', '.']).next().unwrap_or_default();
                span(match field {
                    "dates" => raw.dates.as_ref().map(|v| v.span()),
                    "annual" => raw.annual.as_ref().map(|v| v.span()),
                    "days_of_week" => raw.days_of_week.as_ref().map(|v| v.span()),
                    "days_of_month" => raw.days_of_month.as_ref().map(|v| v.span()),
                    "daily_range" => raw.daily_range.as_ref().map(|v| v.span()),
                    _ => None,
                })
            }
        };
        c.at(at, e.to_string());
        return None;
    }
    match serde_json::to_string(&def) {
        Ok(json) => Some(json),
        Err(e) => {
            c.at(
                raw.name.span(),
                format!("calendar `{name}` cannot be stored: {e}"),
            );
            None
        }
    }
}

/// A time of day written as a string (`"09:00"`) or a TOML local time
/// (`09:00:00`), as text.
fn time_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Datetime(dt)
            if dt.date.is_none() && dt.time.is_some() && dt.offset.is_none() =>
        {
            Some(dt.to_string())
        }
        _ => None,
    }
}

/// `HH:MM` or `HH:MM:SS` (with an optional fraction).
fn parse_time_of_day(text: &str) -> Option<chrono::NaiveTime> {
    let text = text.trim();
    chrono::NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
}

fn job_decl(
    c: &mut Checker<'_>,
    spanned: &Spanned<RawJob>,
    scheduler: &SchedulerSettings,
    registry: &JobRegistry,
    calendars: &[(String, String)],
) -> Option<ConfigJob> {
    let raw = spanned.get_ref();
    let before = c.issues.len();
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        c.at(raw.name.span(), "a job `name` must not be empty");
    }
    let kind = raw.kind.get_ref().clone();

    // Kind and its settings.
    let command_keys = [
        raw.command.as_ref().map(|v| ("command", v.span())),
        raw.shell.as_ref().map(|v| ("shell", v.span())),
        raw.env.as_ref().map(|v| ("env", v.span())),
        raw.workdir.as_ref().map(|v| ("workdir", v.span())),
        raw.max_output.as_ref().map(|v| ("max_output", v.span())),
    ];
    let mut settings = serde_json::Map::new();
    let mut settings_span = raw.kind.span();
    match registry.get(&kind) {
        None => {
            let hint = nearest(&kind, registry.names())
                .map(|n| format!("did you mean `{n}`? "))
                .unwrap_or_default();
            c.at(
                raw.kind.span(),
                format!(
                    "unknown job kind `{kind}`: {hint}expected one of {}",
                    registry.names().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        Some(job_kind) => {
            if kind == "command" {
                if let Some(v) = &raw.command {
                    settings.insert("command".into(), toml_to_json(v.get_ref()));
                    settings_span = v.span();
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
                if let Some(s) = &raw.settings {
                    c.at(s.span(), "the command kind takes its settings (command, shell, env, workdir, max_output) as keys of the job, not in `settings`");
                }
            } else {
                for (key, span) in command_keys.iter().flatten() {
                    c.at(span.clone(), format!("`{key}` is a setting of the command kind, but this job's kind is `{kind}`: put the kind's settings in a `settings` table"));
                }
                if let Some(s) = &raw.settings {
                    settings = match table_to_json(s.get_ref()) {
                        Value::Object(m) => m,
                        _ => serde_json::Map::new(),
                    };
                    settings_span = s.span();
                }
            }
            if let Err(e) = job_kind.validate(&Value::Object(settings.clone())) {
                c.at(settings_span, format!("job `{name}` ({kind}): {e}"));
            }
        }
    }

    // Policies.
    let timeout = c.positive(&raw.timeout, "timeout");
    let overlap = match &raw.overlap {
        None => OverlapPolicy::Allow,
        Some(o) => OverlapPolicy::parse(o.get_ref()).unwrap_or_else(|| {
            c.at(
                o.span(),
                format!(
                    "unknown overlap policy `{}`: expected allow, skip, queue or replace",
                    o.get_ref()
                ),
            );
            OverlapPolicy::Allow
        }),
    };
    let priority = match &raw.priority {
        None => 0,
        Some(p) => i32::try_from(*p.get_ref()).unwrap_or_else(|_| {
            c.at(p.span(), "`priority` must fit in a 32-bit signed integer");
            0
        }),
    };
    let mut retry = RetryPolicy::default();
    if let Some(r) = &raw.retry {
        let r = r.get_ref();
        if let Some(n) = &r.max_attempts
            && let Some(n) = c.nonnegative_u32(n, "retry.max_attempts", 1)
        {
            retry.max_attempts = n;
        }
        if let Some(d) = c.duration(&r.backoff, "retry.backoff") {
            retry.backoff = d;
        }
        if let Some(d) = c.duration(&r.max_backoff, "retry.max_backoff") {
            retry.max_backoff = d;
        }
        if let Some(f) = &r.factor {
            if *f.get_ref() >= 1.0 && f.get_ref().is_finite() {
                retry.factor = *f.get_ref();
            } else {
                c.at(f.span(), "`retry.factor` must be a number of 1.0 or more");
            }
        }
        if let Some(j) = &r.jitter {
            if (0.0..=1.0).contains(j.get_ref()) {
                retry.jitter = *j.get_ref();
            } else {
                c.at(
                    j.span(),
                    "`retry.jitter` must be a fraction from 0.0 to 1.0",
                );
            }
        }
    }
    let pool = raw
        .pool
        .as_ref()
        .map_or(DEFAULT_POOL.to_string(), |p| p.get_ref().clone());
    if pool.trim().is_empty() {
        c.at(
            raw.pool.as_ref().map(|p| p.span()).unwrap_or(0..0),
            "`pool` must not be empty",
        );
    }
    let data = raw
        .data
        .as_ref()
        .map_or(json!({}), |d| table_to_json(d.get_ref()));

    let job = JobDef {
        name: name.clone(),
        kind: kind.clone(),
        settings: Value::Object(settings),
        data,
        pool,
        group: raw.group.as_ref().map(|g| g.get_ref().clone()),
        overlap,
        timeout,
        priority,
        retry,
        requests_recovery: raw.requests_recovery.unwrap_or(false),
        paused: raw.paused.unwrap_or(false),
    };
    let trigger = trigger_decl(c, spanned, scheduler, calendars);
    if c.issues.len() > before {
        return None;
    }
    let job_hash = stable_hash(&json!({
        "name": job.name, "kind": job.kind, "settings": job.settings, "data": job.data,
        "pool": job.pool, "group": job.group, "overlap": job.overlap.as_str(),
        "timeout_ms": job.timeout.map(|t| t.as_millis() as u64), "priority": job.priority,
        "retry": job.retry, "requests_recovery": job.requests_recovery, "paused": job.paused,
    }));
    let trigger_hash = trigger.as_ref().map(|_| {
        let opt = |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.get_ref().clone());
        let val = |v: &Option<Spanned<toml::Value>>| v.as_ref().map(|s| toml_to_json(s.get_ref()));
        let mut inputs = json!({
            "cron": opt(&raw.cron), "dialect": opt(&raw.dialect),
            "timezone": opt(&raw.timezone).unwrap_or_else(|| scheduler.timezone.name().to_string()),
            "dst_gap": opt(&raw.dst_gap), "dst_fold": opt(&raw.dst_fold), "every": opt(&raw.every),
            "start": val(&raw.start), "end": val(&raw.end), "repeat": raw.repeat.as_ref().map(|r| *r.get_ref()),
            "at": val(&raw.at), "misfire": val(&raw.misfire), "misfire_threshold": opt(&raw.misfire_threshold),
            "calendars": raw.calendars.as_ref().map(|c| c.get_ref().clone()), "priority": job.priority,
        });
        // Added only when present, so the hashes of jobs declared before
        // these keys existed do not change.
        if let Value::Object(map) = &mut inputs {
            if let Some(extra) = trigger.as_ref().and_then(|t| schedule_hash_input(&t.spec)) {
                map.insert("schedule".into(), extra);
            }
            // A changed calendar definition recomputes the triggers using it.
            let defs: Vec<&str> = trigger
                .iter()
                .flat_map(|t| t.calendars.iter())
                .filter_map(|name| calendars.iter().find(|(n, _)| n == name))
                .map(|(_, json)| json.as_str())
                .collect();
            if !defs.is_empty() {
                map.insert("calendar_definitions".into(), json!(defs));
            }
        }
        stable_hash(&inputs)
    });
    Some(ConfigJob {
        job,
        trigger,
        job_hash,
        trigger_hash,
    })
}

/// A key that only some schedules take: its name, its place if given, and
/// the schedules that take it.
type ScopedKey<'a> = (&'a str, Option<Range<usize>>, &'static [&'static str]);

fn trigger_decl(
    c: &mut Checker<'_>,
    spanned: &Spanned<RawJob>,
    scheduler: &SchedulerSettings,
    calendars: &[(String, String)],
) -> Option<TriggerDef> {
    let raw = spanned.get_ref();
    let before = c.issues.len();
    let given: Vec<(&str, Range<usize>)> = [
        raw.cron.as_ref().map(|v| ("cron", v.span())),
        raw.every.as_ref().map(|v| ("every", v.span())),
        raw.at.as_ref().map(|v| ("at", v.span())),
        raw.calendar_interval
            .as_ref()
            .map(|v| ("calendar_interval", v.span())),
        raw.daily.as_ref().map(|v| ("daily", v.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        let names: Vec<&str> = given.iter().map(|(n, _)| *n).collect();
        c.at(
            given[1].1.clone(),
            format!(
                "a job has at most one schedule, found {}: keep one of them",
                names.join(" and ")
            ),
        );
        return None;
    }
    let schedule = given.first().map(|(n, _)| *n);
    // Keys that only some schedules take.
    let scoped: [ScopedKey<'_>; 7] = [
        ("dialect", raw.dialect.as_ref().map(|v| v.span()), &["cron"]),
        (
            "timezone",
            raw.timezone.as_ref().map(|v| v.span()),
            &["cron", "calendar_interval", "daily"],
        ),
        ("dst_gap", raw.dst_gap.as_ref().map(|v| v.span()), &["cron"]),
        (
            "dst_fold",
            raw.dst_fold.as_ref().map(|v| v.span()),
            &["cron"],
        ),
        (
            "start",
            raw.start.as_ref().map(|v| v.span()),
            &["every", "calendar_interval", "daily"],
        ),
        (
            "end",
            raw.end.as_ref().map(|v| v.span()),
            &["every", "calendar_interval", "daily"],
        ),
        (
            "repeat",
            raw.repeat.as_ref().map(|v| v.span()),
            &["every", "daily"],
        ),
    ];
    for (key, span, allowed) in &scoped {
        let Some(span) = span else { continue };
        if schedule.is_some_and(|s| allowed.contains(&s)) {
            continue;
        }
        let allowed = allowed
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        let found = match schedule {
            Some(s) => format!("this job's schedule is `{s}`"),
            None => "this job has no schedule".to_string(),
        };
        c.at(
            span.clone(),
            format!("`{key}` applies to a {allowed} schedule, and {found}"),
        );
    }
    let tz = |c: &mut Checker<'_>| match &raw.timezone {
        None => Some(scheduler.timezone),
        Some(t) => c.timezone(t),
    };
    let start_end = |c: &mut Checker<'_>| {
        (
            raw.start.as_ref().and_then(|s| c.instant(s, "start")),
            raw.end.as_ref().and_then(|s| c.instant(s, "end")),
        )
    };
    let spec = match schedule {
        None => {
            for (key, span) in [
                ("misfire", raw.misfire.as_ref().map(|v| v.span())),
                (
                    "misfire_threshold",
                    raw.misfire_threshold.as_ref().map(|v| v.span()),
                ),
                ("calendars", raw.calendars.as_ref().map(|v| v.span())),
            ] {
                if let Some(span) = span {
                    c.at(
                        span,
                        format!(
                            "`{key}` applies to a scheduled job; this job has none of cron, every, at, calendar_interval or daily"
                        ),
                    );
                }
            }
            return None;
        }
        Some("cron") => {
            let expr_src = raw.cron.as_ref()?;
            let dialect = match &raw.dialect {
                None => Dialect::Quartz,
                Some(d) => d.get_ref().parse::<Dialect>().unwrap_or_else(|e| {
                    c.at(d.span(), e.to_string());
                    Dialect::Quartz
                }),
            };
            let tz = tz(c);
            let gap = raw.dst_gap.as_ref().and_then(|g| {
                g.get_ref()
                    .parse::<GapPolicy>()
                    .map_err(|e| c.at(g.span(), e.to_string()))
                    .ok()
            });
            let fold = raw.dst_fold.as_ref().and_then(|f| {
                f.get_ref()
                    .parse::<FoldPolicy>()
                    .map_err(|e| c.at(f.span(), e.to_string()))
                    .ok()
            });
            let expr = match CronExpr::parse(expr_src.get_ref(), dialect) {
                Ok(expr) => Some(expr),
                Err(e) => {
                    // Point at the faulty character inside the string: the
                    // span starts at the opening quote.
                    let start = expr_src.span().start + 1 + e.column.saturating_sub(1);
                    c.at(
                        start..start,
                        format!("invalid cron expression \"{}\": {e}", expr_src.get_ref()),
                    );
                    None
                }
            };
            ScheduleSpec::Cron {
                expr: expr?,
                tz: tz?,
                dst: DstOptions { gap, fold },
            }
        }
        Some("calendar_interval") => {
            let ci = raw.calendar_interval.as_ref()?;
            let r = ci.get_ref();
            let tz = tz(c);
            let (start, end) = start_end(c);
            let every = c.nonnegative_u32(&r.every, "calendar_interval.every", 1);
            let unit = interval_unit(c, &r.unit, "calendar_interval.unit");
            let built = ScheduleSpec::calendar_interval(
                every?,
                unit?,
                tz?,
                start,
                end,
                r.preserve_hour_of_day.unwrap_or(false),
                r.skip_day_if_hour_does_not_exist.unwrap_or(false),
            );
            match built {
                Ok(spec) => spec,
                Err(e) => {
                    let span = spec_error_span(
                        &e,
                        raw,
                        r.every.span(),
                        r.unit.span(),
                        ci.span(),
                        None,
                        None,
                    );
                    c.at(span, format!("`calendar_interval`: {e}"));
                    return None;
                }
            }
        }
        Some("daily") => {
            let d = raw.daily.as_ref()?;
            let r = d.get_ref();
            let tz = tz(c);
            let (start, end) = start_end(c);
            let every = c.nonnegative_u32(&r.every, "daily.every", 1);
            let unit = interval_unit(c, &r.unit, "daily.unit");
            let time = |c: &mut Checker<'_>,
                        v: &Option<Spanned<toml::Value>>,
                        key: &str,
                        default: chrono::NaiveTime| {
                let Some(v) = v else { return Some(default) };
                let parsed = time_text(v.get_ref()).and_then(|t| parse_time_of_day(&t));
                if parsed.is_none() {
                    c.at(
                        v.span(),
                        format!("`daily.{key}` = {}: expected a time of day \"HH:MM\" or \"HH:MM:SS\", e.g. \"09:00\"", v.get_ref()),
                    );
                }
                parsed
            };
            let from = time(c, &r.from, "from", chrono::NaiveTime::MIN);
            let last_second =
                chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(chrono::NaiveTime::MIN);
            let to = time(c, &r.to, "to", last_second);
            let days = match &r.days {
                None => Some(DaysOfWeek::ALL),
                Some(list) => {
                    let mut days = DaysOfWeek::NONE;
                    let mut ok = true;
                    for day in list.get_ref() {
                        match parse_weekday(day) {
                            Ok(w) => days.insert(w),
                            Err(_) => {
                                ok = false;
                                c.at(
                                    list.span(),
                                    format!("`daily.days`: unknown day \"{day}\": expected mon, tue, wed, thu, fri, sat, sun (or full names)"),
                                );
                            }
                        }
                    }
                    ok.then_some(days)
                }
            };
            let repeat = raw
                .repeat
                .as_ref()
                .and_then(|r| c.nonnegative_u32(r, "repeat", 0));
            let built = ScheduleSpec::daily_time_interval(
                every?, unit?, tz?, days?, from?, to?, start, end, repeat,
            );
            match built {
                Ok(spec) => spec,
                Err(e) => {
                    let span = spec_error_span(
                        &e,
                        raw,
                        r.every.span(),
                        r.unit.span(),
                        d.span(),
                        r.to.as_ref().map(|v| v.span()),
                        r.days.as_ref().map(|v| v.span()),
                    );
                    c.at(span, format!("`daily`: {e}"));
                    return None;
                }
            }
        }
        Some("every") => {
            let every = c.positive(&raw.every, "every")?;
            let every = chrono::Duration::from_std(every).ok()?;
            let start = raw.start.as_ref().and_then(|s| c.instant(s, "start"));
            let end = raw.end.as_ref().and_then(|s| c.instant(s, "end"));
            let repeat = raw
                .repeat
                .as_ref()
                .and_then(|r| c.nonnegative_u32(r, "repeat", 0));
            if let (Some(s), Some(e)) = (start, end)
                && e < s
            {
                c.at(raw.end.as_ref()?.span(), "`end` is before `start`");
            }
            ScheduleSpec::Interval {
                every,
                start,
                end,
                repeat,
            }
        }
        Some(_) => {
            let at = c.instant(raw.at.as_ref()?, "at")?;
            ScheduleSpec::Once { at }
        }
    };
    if c.issues.len() > before {
        return None;
    }
    let kind = spec.kind();
    let misfire =
        match &raw.misfire {
            None => MisfirePolicy::Smart,
            Some(m) => match parse_misfire(m.get_ref()) {
                Ok(p) if p.applies_to(kind) => p,
                Ok(p) => {
                    c.at(m.span(), format!(
                    "misfire policy `{}` does not apply to a {} trigger: expected one of {}",
                    p.as_str(), kind.as_str(), MisfirePolicy::names_for(kind).join(", ")
                ));
                    MisfirePolicy::Smart
                }
                Err(e) => {
                    c.at(m.span(), e);
                    MisfirePolicy::Smart
                }
            },
        };
    let misfire_threshold = c
        .duration(&raw.misfire_threshold, "misfire_threshold")
        .and_then(|d| chrono::Duration::from_std(d).ok());
    let mut names = Vec::new();
    if let Some(list) = &raw.calendars {
        for name in list.get_ref() {
            if calendars.iter().any(|(n, _)| n == name) {
                names.push(name.clone());
            } else {
                let hint = nearest(name, calendars.iter().map(|(n, _)| n.as_str()))
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                c.at(
                    list.span(),
                    format!("unknown calendar `{name}`: declare it in a [[calendar]] table{hint}"),
                );
            }
        }
    }
    Some(TriggerDef {
        spec,
        misfire,
        misfire_threshold,
        calendars: names,
        priority: None,
        data: None,
    })
}

/// A unit name (singular or plural, any case).
fn interval_unit(c: &mut Checker<'_>, v: &Spanned<String>, key: &str) -> Option<IntervalUnit> {
    match v.get_ref().parse::<IntervalUnit>() {
        Ok(unit) => Some(unit),
        Err(_) => {
            let hint = nearest(v.get_ref(), IntervalUnit::ALL.iter().map(|u| u.as_str()))
                .map(|n| format!("did you mean `{n}`? "))
                .unwrap_or_default();
            c.at(
                v.span(),
                format!(
                    "`{key}` = \"{}\" is not a unit: {hint}expected second, minute, hour, day, week, month or year",
                    v.get_ref()
                ),
            );
            None
        }
    }
}

/// Where in the file a calendar or daily interval's fault is: `every`,
/// `unit`, `end`, the daily `to` or `days`, else the whole table.
fn spec_error_span(
    e: &SpecError,
    raw: &RawJob,
    every: Range<usize>,
    unit: Range<usize>,
    table: Range<usize>,
    to: Option<Range<usize>>,
    days: Option<Range<usize>>,
) -> Range<usize> {
    let found = match e {
        SpecError::EveryTooLarge(_) | SpecError::Interval(IntervalError::ZeroCount) => Some(every),
        SpecError::Interval(IntervalError::UnitNotAllowed { .. }) => Some(unit),
        SpecError::Interval(IntervalError::EndBeforeStart { .. }) => {
            raw.end.as_ref().map(|v| v.span())
        }
        SpecError::Interval(IntervalError::StartTimeAfterEndTime { .. }) => to,
        SpecError::Interval(IntervalError::NoDaysOfWeek) => days,
        _ => None,
    };
    found.unwrap_or(table)
}

/// `misfire = "do_nothing"` or `misfire = { catch_up = 10 }`.
fn parse_misfire(v: &toml::Value) -> Result<MisfirePolicy, String> {
    match v {
        toml::Value::String(s) if s == "catch_up" => {
            Err("`catch_up` takes a cap: misfire = { catch_up = 10 }".to_string())
        }
        toml::Value::String(s) => s.parse(),
        toml::Value::Table(t) => match (t.len(), t.get("catch_up")) {
            (1, Some(toml::Value::Integer(n))) if *n >= 1 && *n <= 10_000 => {
                Ok(MisfirePolicy::CatchUp(*n as u32))
            }
            _ => Err("expected misfire = { catch_up = N } with N from 1 to 10000".to_string()),
        },
        other => Err(format!(
            "`misfire` must be a policy name or {{ catch_up = N }}, found a {}",
            other.type_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;
    use crate::schedule::TriggerKind;

    fn load(src: &str) -> Result<Config, ConfigError> {
        parse(src, "jobs.toml", &JobRegistry::with_builtins())
    }

    fn issue(src: &str) -> ConfigIssue {
        let err = load(src).expect_err("invalid");
        err.issues.into_iter().next().expect("one issue")
    }

    fn spec(config: &Config, job: &str) -> ScheduleSpec {
        config
            .jobs
            .iter()
            .find(|j| j.job.name == job)
            .and_then(|j| j.trigger.as_ref())
            .map(|t| t.spec.clone())
            .expect("job with a trigger")
    }

    const CALENDAR: &str = r#"
[scheduler]
timezone = "Europe/Berlin"

[[calendar]]
name = "holidays"
dates = [2026-12-25, "2026-12-26"]
days_of_week = ["sat", "SUNDAY"]
daily_range = { from = 22:00:00, to = "06:00" }
"#;

    #[test]
    fn calendar_interval_and_daily_schedules() {
        let config = load(&format!(
            r#"{CALENDAR}
[[job]]
name = "monthly"
kind = "noop"
calendar_interval = {{ every = 2, unit = "months", preserve_hour_of_day = true }}
start = 2026-01-31T06:00:00Z
timezone = "America/New_York"

[[job]]
name = "office"
kind = "noop"
daily = {{ every = 30, unit = "minute", from = "09:00", to = 17:30:00, days = ["mon", "fri"] }}
repeat = 5
calendars = ["holidays"]
"#
        ))
        .expect("valid");
        match spec(&config, "monthly") {
            ScheduleSpec::CalendarInterval {
                every,
                unit,
                tz,
                start,
                preserve_hour_of_day,
                skip_day_if_hour_does_not_exist,
                ..
            } => {
                assert_eq!((every, unit), (2, IntervalUnit::Month));
                assert_eq!(tz, chrono_tz::America::New_York);
                assert!(start.is_some());
                assert!(preserve_hour_of_day && !skip_day_if_hour_does_not_exist);
            }
            other => panic!("not a calendar interval: {other:?}"),
        }
        let office = spec(&config, "office");
        assert_eq!(office.kind(), TriggerKind::DailyTimeInterval);
        match office {
            ScheduleSpec::DailyTimeInterval {
                every,
                unit,
                tz,
                days,
                start_time,
                end_time,
                repeat,
                ..
            } => {
                assert_eq!((every, unit), (30, IntervalUnit::Minute));
                assert_eq!(tz, chrono_tz::Europe::Berlin); // the scheduler's
                assert_eq!(
                    days,
                    DaysOfWeek::from_weekdays([chrono::Weekday::Mon, chrono::Weekday::Fri])
                );
                assert_eq!(start_time, NaiveTime::from_hms_opt(9, 0, 0).expect("valid"));
                assert_eq!(end_time, NaiveTime::from_hms_opt(17, 30, 0).expect("valid"));
                assert_eq!(repeat, Some(5));
            }
            other => panic!("not a daily interval: {other:?}"),
        }
    }

    #[test]
    fn calendars_are_stored_as_definitions_with_their_zone() {
        let config = load(CALENDAR).expect("valid");
        let (name, json) = &config.calendars[0];
        assert_eq!(name, "holidays");
        let def: CalendarDef = serde_json::from_str(json).expect("a CalendarDef");
        assert_eq!(def.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(def.dates, ["2026-12-25", "2026-12-26"]);
        assert_eq!(
            def.daily_range
                .as_ref()
                .map(|r| (r.from.as_str(), r.to.as_str())),
            Some(("22:00:00", "06:00"))
        );
        let set = config
            .calendar_set(&["holidays".to_string()])
            .expect("declared");
        assert!(
            set.is_excluded(
                DateTime::parse_from_rfc3339("2026-12-25T12:00:00+01:00")
                    .expect("valid")
                    .with_timezone(&Utc)
            )
        );
        let err = config
            .calendar_set(&["holiday".to_string()])
            .expect_err("unknown");
        assert!(err.contains("did you mean `holidays`?"), "{err}");
    }

    #[test]
    fn bad_calendars_point_at_the_key() {
        let i = issue(
            "[[calendar]]\nname = \"h\"\ndays_of_week = [\"sat\"]\ndates = [\"2026-02-30\"]\n",
        );
        assert_eq!((i.line, i.column), (4, 9));
        assert_eq!(
            i.message,
            r#"calendar "h": dates[0] = "2026-02-30": expected a date YYYY-MM-DD"#
        );
        let i = issue("[[calendar]]\nname = \"h\"\ntimezone = \"Europe/Berln\"\n");
        assert_eq!(i.line, 3);
        assert!(i.message.contains("Europe/Berlin"), "{}", i.message);
        let i = issue("[[calendar]]\nname = \"h\"\ndayz_of_week = [\"sat\"]\n");
        assert_eq!(i.line, 3);
        assert!(
            i.message.contains("did you mean `days_of_week`?"),
            "{}",
            i.message
        );
        let i = issue("[[calendar]]\nname = \"h\"\n[[calendar]]\nname = \"h\"\n");
        assert_eq!(i.line, 4);
        assert!(
            i.message.contains("duplicate calendar name"),
            "{}",
            i.message
        );
    }

    #[test]
    fn bad_schedules_say_what_was_expected() {
        let job = |schedule: &str| format!("[[job]]\nname = \"j\"\nkind = \"noop\"\n{schedule}\n");
        let i = issue(&job("calendar_interval = { every = 0, unit = \"day\" }"));
        assert_eq!(i.line, 4);
        assert!(i.message.contains("from 1"), "{}", i.message);
        let i = issue(&job("calendar_interval = { every = 1, unit = \"mnth\" }"));
        assert!(i.message.contains("did you mean `month`?"), "{}", i.message);
        let i = issue(&job(
            "daily = { every = 1, unit = \"day\", from = \"09:00\", to = \"10:00\" }",
        ));
        assert!(
            i.message.contains("expected one of second, minute, hour"),
            "{}",
            i.message
        );
        let i = issue(&job(
            "daily = { every = 1, unit = \"hour\", from = \"18:00\", to = \"10:00\" }",
        ));
        assert!(i.message.contains("after end time of day"), "{}", i.message);
        let i = issue(&job(
            "daily = { every = 1, unit = \"hour\", from = \"9 am\" }",
        ));
        assert!(i.message.contains("HH:MM"), "{}", i.message);
        let i = issue(&job(
            "daily = { every = 1, unit = \"hour\", days = [\"mo\"] }",
        ));
        assert!(i.message.contains("unknown day \"mo\""), "{}", i.message);
        let i = issue(&job(
            "daily = { every = 1, unit = \"hour\", dayz = [\"mon\"] }",
        ));
        assert!(i.message.contains("did you mean `days`?"), "{}", i.message);
        let i = issue(&job(
            "cron = \"0 0 * * * ?\"\ndaily = { every = 1, unit = \"hour\" }",
        ));
        assert_eq!(i.line, 5);
        assert!(i.message.contains("at most one schedule"), "{}", i.message);
        let i = issue(&job(
            "calendar_interval = { every = 1, unit = \"day\" }\nrepeat = 3",
        ));
        assert_eq!(
            i.message,
            "`repeat` applies to a `every` or `daily` schedule, and this job's schedule is `calendar_interval`"
        );
        let i = issue(&job(
            "calendar_interval = { every = 1, unit = \"day\" }\nstart = 2026-02-01T00:00:00Z\nend = 2026-01-01T00:00:00Z",
        ));
        assert_eq!(i.line, 6);
        assert!(i.message.contains("before start"), "{}", i.message);
    }

    #[test]
    fn trigger_hash_follows_schedule_and_calendars() {
        let hash = |src: &str| {
            load(src).expect("valid").jobs[0]
                .trigger_hash
                .clone()
                .expect("scheduled")
        };
        let with = |schedule: &str, cal: &str| {
            format!(
                "[[calendar]]\nname = \"h\"\n{cal}\n[[job]]\nname = \"j\"\nkind = \"noop\"\ncalendars = [\"h\"]\n{schedule}\n"
            )
        };
        let daily = "daily = { every = 1, unit = \"hour\" }";
        let base = hash(&with(daily, "dates = [\"2026-12-25\"]"));
        assert_eq!(base, hash(&with(daily, "dates = [2026-12-25]")));
        assert_ne!(base, hash(&with(daily, "dates = [\"2026-12-26\"]")));
        assert_ne!(
            base,
            hash(&with(
                "daily = { every = 2, unit = \"hour\" }",
                "dates = [\"2026-12-25\"]"
            ))
        );
        let interval = |unit: &str| {
            hash(&with(
                &format!("calendar_interval = {{ every = 1, unit = \"{unit}\" }}"),
                "",
            ))
        };
        assert_ne!(interval("day"), interval("week"));
        // A job without the new keys hashes as before.
        let plain = hash("[[job]]\nname = \"j\"\nkind = \"noop\"\ncron = \"0 0 * * * ?\"\n");
        assert_eq!(plain.len(), 16);
    }
}
