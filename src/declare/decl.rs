//! The declaration of a job and its schedule, as written by a person: the
//! JSON body of `POST /jobs`, and what a `[[job]]` table of the file
//! becomes before validation.
//!
//! Every field is plain data (strings for durations and instants, `i64`
//! for counts) so that a value of the wrong size or shape is reported by
//! [`validate`](super::validate) with its field path, never rejected by a
//! parser with a less useful message.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A job as declared: everything the TOML file can say about a job.
///
/// ```json
/// {"name": "report", "kind": "command", "settings": {"command": ["make", "report"]},
///  "schedule": {"cron": "0 0 6 * * ?", "timezone": "Europe/Berlin", "misfire": "do_nothing"},
///  "timeout": "10m", "overlap": "skip", "retry": {"max_attempts": 3, "backoff": "30s"}}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobDecl {
    pub name: String,
    /// A kind of the job registry (`command`, `noop`, a plugin's).
    pub kind: String,
    /// The kind's own settings (for `command`: `command`, `shell`, `env`,
    /// `workdir`, `max_output`); None: `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
    /// Handed to every fire; None: `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `allow` (default), `skip`, `queue` or `replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<String>,
    /// A duration such as `"10m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryDecl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_recovery: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// The job's own fire-history retention, over `[scheduler] keep_fires`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_fires: Option<KeepFiresDecl>,
    /// A duration such as `"26h"`: the job is unhealthy when it has not
    /// succeeded for this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_success_within: Option<String>,
    /// `"5m"`: each fire is due somewhere in the 5 minutes after its
    /// instant; `{"hash": "5m"}`: every fire at one offset in them,
    /// derived from the job name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Value>,
    /// None: the job fires only on demand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleDecl>,
}

impl JobDecl {
    /// A job of `kind` with every other field left to its default.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            ..Self::default()
        }
    }
}

/// `keep_fires = { succeeded = "14d", failed = "90d", timed_out, abandoned,
/// cancelled, skipped, max_rows = 10000 }`: how long fires of each final
/// status are kept, and at most how many per job. Also the shape of
/// `[scheduler] keep_fires`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepFiresDecl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<i64>,
}

/// `retry = { max_attempts, backoff, factor, max_backoff, jitter }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryDecl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

/// When a job fires: one of `cron`, `every`, `at`, `calendar_interval`,
/// `daily`, with the keys that schedule takes, and the trigger's misfire
/// policy and exclusion calendars.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDecl {
    /// A cron expression (with `dialect`, `timezone`, `dst_gap`, `dst_fold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// `quartz` (default) or `unix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// An IANA zone for `cron`, `calendar_interval` and `daily`; None: the
    /// scheduler's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `run_at_transition`, `shift_forward` or `skip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_gap: Option<String>,
    /// `earlier`, `later` or `both`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_fold: Option<String>,
    /// A duration of real time (with `start`, `end`, `repeat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// An RFC 3339 instant (for `every`, `calendar_interval`, `daily`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Fires after the first (for `every` and `daily`); None: forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<i64>,
    /// An RFC 3339 instant: fire once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_interval: Option<CalendarIntervalDecl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<DailyDecl>,
    /// A policy name, or `{"catch_up": N}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misfire: Option<Value>,
    /// A duration; None: the scheduler's `misfire_threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misfire_threshold: Option<String>,
    /// Names of exclusion calendars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendars: Option<Vec<String>>,
}

/// `calendar_interval = { every = 1, unit = "month", … }`: every N units
/// of the calendar in the schedule's zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarIntervalDecl {
    pub every: i64,
    /// `second` … `year` (singular or plural, any case).
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_hour_of_day: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_day_if_hour_does_not_exist: Option<bool>,
}

/// `daily = { every = 30, unit = "minute", from = "09:00", to = "17:00",
/// days = ["mon", …] }`: every N seconds, minutes or hours within a window
/// of each chosen day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DailyDecl {
    pub every: i64,
    /// `second`, `minute` or `hour`.
    pub unit: String,
    /// `HH:MM` or `HH:MM:SS`; None: 00:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// None: 23:59:59.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Day names (`mon`, `monday`); None: every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
}
