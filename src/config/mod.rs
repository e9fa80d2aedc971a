//! The TOML file: parsed, validated whole, then handed on as typed values.
//!
//! Nothing is written until the whole file is valid. Every problem is
//! reported with its file, line and column, what was expected, and (for a
//! misspelt key, kind or time zone) the nearest valid spelling.
//!
//! Precedence for settings that can also come from elsewhere: command line
//! > environment > file > default ([`Settings::resolve`]).
//!
//! This module owns the file's shape only: its serde types (`raw`),
//! offsets to `file:line:column` (`spans`), `[scheduler]` (`settings`),
//! `[http]` (`http`), `[[calendar]]` (`calendars`), `[[notify]]`
//! (`notify`), and `[[job]]`
//! (`jobs`), which turns each table into a
//! [`JobDecl`](crate::declare::JobDecl) and runs the one validator of
//! [`crate::declare`] that the HTTP API and the `Client` run too; `hash`
//! keeps the declaration hashes reconcile compares.
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

mod calendars;
mod hash;
mod http;
mod jobs;
mod notify;
mod raw;
mod settings;
mod spans;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::declare::hint;
use crate::jobs::JobRegistry;
use crate::model::{ConfigJob, NotifyRule};
use crate::schedule::calendar::{CalendarDef, CalendarSet};

pub use self::http::HttpSettings;
pub use self::settings::{SchedulerSettings, Settings, defaults};

use self::http::http_settings;
use self::raw::RawFile;
use self::settings::scheduler_settings;
use self::spans::{Checker, explain_toml_error};

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
    /// The `[[notify]]` rules.
    pub notify: Vec<NotifyRule>,
}

impl Config {
    /// The file's calendars of these names, combined; an error names a
    /// calendar the file does not declare.
    pub fn calendar_set(&self, names: &[String]) -> Result<CalendarSet, String> {
        names
            .iter()
            .map(|name| {
                let Some((_, json)) = self.calendars.iter().find(|(n, _)| n == name) else {
                    let hint =
                        hint::did_you_mean(name, self.calendars.iter().map(|(n, _)| n.as_str()))
                            .map(|h| format!(" ({h})"))
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
    let mut c = Checker::new(file, src);
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
        if let Some(json) = calendars::calendar_decl(&mut c, cal.get_ref(), scheduler.timezone) {
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
        if let Some(job) = jobs::job_decl(&mut c, raw_job, &scheduler, registry, &calendars) {
            jobs.push(job);
        }
    }
    let notify = notify::notify_rules(&mut c, &raw.notify, registry);
    if !c.issues.is_empty() {
        return Err(ConfigError { issues: c.issues });
    }
    Ok(Config {
        path: None,
        scheduler,
        http,
        jobs,
        calendars,
        notify,
    })
}

#[cfg(test)]
mod tests;
