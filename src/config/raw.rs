//! The serde types of the file, each value with its place (`Spanned`)
//! so that every problem can be reported at its line and column.

use serde::Deserialize;
use toml::Spanned;

use super::http::RawHttp;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub scheduler: Option<RawScheduler>,
    #[serde(default)]
    pub http: Option<RawHttp>,
    #[serde(default)]
    pub job: Vec<Spanned<RawJob>>,
    #[serde(default)]
    pub calendar: Vec<Spanned<RawCalendar>>,
    #[serde(default)]
    pub notify: Vec<Spanned<super::notify::RawNotify>>,
}

/// A `[[calendar]]` table: the fields of
/// [`CalendarDef`](crate::schedule::calendar::CalendarDef), with their places
/// in the file. `dates` and the `daily_range` times may also be TOML
/// date and time literals.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    pub name: Spanned<String>,
    pub timezone: Option<Spanned<String>>,
    pub dates: Option<Spanned<Vec<toml::Value>>>,
    pub annual: Option<Spanned<Vec<String>>>,
    pub days_of_week: Option<Spanned<Vec<String>>>,
    pub days_of_month: Option<Spanned<Vec<u32>>>,
    pub daily_range: Option<Spanned<RawDailyRange>>,
    pub cron: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDailyRange {
    pub from: toml::Value,
    pub to: toml::Value,
    pub invert: Option<bool>,
}

/// `calendar_interval = { every = 1, unit = "month", … }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendarInterval {
    pub every: Spanned<i64>,
    pub unit: Spanned<String>,
    pub preserve_hour_of_day: Option<bool>,
    pub skip_day_if_hour_does_not_exist: Option<bool>,
}

/// `daily = { every = 30, unit = "minute", from = "09:00", to = "17:00", days = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaily {
    pub every: Spanned<i64>,
    pub unit: Spanned<String>,
    pub from: Option<Spanned<toml::Value>>,
    pub to: Option<Spanned<toml::Value>>,
    pub days: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScheduler {
    pub database: Option<String>,
    pub node_id: Option<Spanned<String>>,
    pub max_concurrent: Option<Spanned<i64>>,
    pub poll_interval: Option<Spanned<String>>,
    pub shutdown_grace: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub misfire_threshold: Option<Spanned<String>>,
    pub pools: Option<Spanned<Vec<String>>>,
    pub lease: Option<Spanned<String>>,
    pub checkin_interval: Option<Spanned<String>>,
    pub dead_after_checkins: Option<Spanned<i64>>,
    pub idle_in_transaction_timeout: Option<Spanned<String>>,
    pub http_allow: Option<Spanned<Vec<Spanned<String>>>>,
    pub http_secret_env: Option<Spanned<Vec<Spanned<String>>>>,
    pub http_secret_files: Option<Spanned<Vec<Spanned<String>>>>,
    pub keep_fires: Option<Spanned<RawKeepFires>>,
}

/// `keep_fires = { succeeded = "14d", …, max_rows = 10000 }`, in
/// `[scheduler]` and on a job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeepFires {
    pub succeeded: Option<Spanned<String>>,
    pub failed: Option<Spanned<String>>,
    pub timed_out: Option<Spanned<String>>,
    pub abandoned: Option<Spanned<String>>,
    pub cancelled: Option<Spanned<String>>,
    pub skipped: Option<Spanned<String>>,
    pub max_rows: Option<Spanned<i64>>,
}

impl RawKeepFires {
    /// The declaration, and where each of its keys is (by field name).
    pub fn declaration(
        &self,
    ) -> (
        crate::declare::KeepFiresDecl,
        Vec<(&'static str, std::ops::Range<usize>)>,
    ) {
        let mut spans = Vec::new();
        let mut text = |name: &'static str, v: &Option<Spanned<String>>| {
            v.as_ref().map(|v| {
                spans.push((name, v.span()));
                v.get_ref().clone()
            })
        };
        let decl = crate::declare::KeepFiresDecl {
            succeeded: text("succeeded", &self.succeeded),
            failed: text("failed", &self.failed),
            timed_out: text("timed_out", &self.timed_out),
            abandoned: text("abandoned", &self.abandoned),
            cancelled: text("cancelled", &self.cancelled),
            skipped: text("skipped", &self.skipped),
            max_rows: None,
        };
        let max_rows = self.max_rows.as_ref().map(|v| {
            spans.push(("max_rows", v.span()));
            *v.get_ref()
        });
        (crate::declare::KeepFiresDecl { max_rows, ..decl }, spans)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJob {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    // The command kind's settings, written at job level.
    pub command: Option<Spanned<toml::Value>>,
    pub shell: Option<Spanned<bool>>,
    pub env: Option<Spanned<toml::Table>>,
    pub workdir: Option<Spanned<String>>,
    pub max_output: Option<Spanned<i64>>,
    pub inherit_env: Option<Spanned<toml::Value>>,
    // The http kind's settings, written at job level (`jobs::http::KEYS`).
    pub url: Option<Spanned<toml::Value>>,
    pub method: Option<Spanned<toml::Value>>,
    pub headers: Option<Spanned<toml::Value>>,
    pub body: Option<Spanned<toml::Value>>,
    pub auth: Option<Spanned<toml::Value>>,
    pub sign: Option<Spanned<toml::Value>>,
    pub request_timeout: Option<Spanned<toml::Value>>,
    pub connect_timeout: Option<Spanned<toml::Value>>,
    pub success_codes: Option<Spanned<toml::Value>>,
    pub expect_body: Option<Spanned<toml::Value>>,
    pub retry_on: Option<Spanned<toml::Value>>,
    pub max_response: Option<Spanned<toml::Value>>,
    pub follow_redirects: Option<Spanned<toml::Value>>,
    pub ca_file: Option<Spanned<toml::Value>>,
    pub client_cert: Option<Spanned<toml::Value>>,
    pub client_key: Option<Spanned<toml::Value>>,
    // Any other kind's settings.
    pub settings: Option<Spanned<toml::Table>>,
    // Schedule: one of cron, every, at, calendar_interval, daily (none: on demand).
    pub cron: Option<Spanned<String>>,
    pub calendar_interval: Option<Spanned<RawCalendarInterval>>,
    pub daily: Option<Spanned<RawDaily>>,
    pub dialect: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub dst_gap: Option<Spanned<String>>,
    pub dst_fold: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
    pub start: Option<Spanned<toml::Value>>,
    pub end: Option<Spanned<toml::Value>>,
    pub repeat: Option<Spanned<i64>>,
    pub at: Option<Spanned<toml::Value>>,
    pub misfire: Option<Spanned<toml::Value>>,
    pub misfire_threshold: Option<Spanned<String>>,
    pub calendars: Option<Spanned<Vec<String>>>,
    // Job policies.
    pub timeout: Option<Spanned<String>>,
    pub data: Option<Spanned<toml::Table>>,
    pub pool: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub overlap: Option<Spanned<String>>,
    pub priority: Option<Spanned<i64>>,
    pub retry: Option<Spanned<RawRetry>>,
    pub requests_recovery: Option<bool>,
    pub paused: Option<bool>,
    pub keep_fires: Option<Spanned<RawKeepFires>>,
    pub expect_success_within: Option<Spanned<String>>,
    /// `"5m"` or `{ hash = "5m" }`.
    pub jitter: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    pub max_attempts: Option<Spanned<i64>>,
    pub backoff: Option<Spanned<String>>,
    pub factor: Option<Spanned<f64>>,
    pub max_backoff: Option<Spanned<String>>,
    pub jitter: Option<Spanned<f64>>,
}
