//! One declaration type and one validator for every door.
//!
//! A job is declared as a [`JobDecl`]: the JSON body of `POST /jobs`, what
//! a `[[job]]` table of the file becomes, and what an embedder hands to
//! [`Client::create_job`](crate::Client::create_job). [`validate`] turns it
//! into the typed [`JobDef`] and [`TriggerDef`] the store persists, or
//! into a [`ValidationError`] listing every problem with the JSON path of
//! its field (`schedule.daily.every`, `retry.factor`). The file's front end
//! maps those paths back to `file:line:column`; the HTTP API answers 400
//! with them. Nothing here does I/O.
//!
//! # Ranges
//!
//! Every value is checked here, so the file, the HTTP API and the Rust API
//! accept exactly the same things (constants in [`ranges`]):
//!
//! | value | range |
//! |---|---|
//! | `at`, `start`, `end` | RFC 3339 instants from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z |
//! | `every`, `timeout`, `misfire_threshold`, `expect_success_within` | 1 ms to 100 years |
//! | `jitter`, `jitter = { hash = … }` | 1 ms to 1 day |
//! | `retry.backoff`, `retry.max_backoff` | 0 to 100 years |
//! | `retry.max_attempts` | 1 to 10 000 |
//! | `keep_fires.<status>` (`succeeded`, `failed`, `timed_out`, `abandoned`, `cancelled`, `skipped`) | 1 ms to 100 years |
//! | `keep_fires.max_rows` | 1 to 1 000 000 000 |
//! | `retry.factor` | 1.0 or more; `retry.jitter` 0.0 to 1.0 |
//! | `repeat` | 0 to 4 294 967 295 |
//! | `priority` | a 32-bit signed integer |
//! | `calendar_interval.every`, `daily.every` | 1 to 2 147 483 647 |
//! | `misfire = { catch_up = N }` | N from 1 to 10 000 |
//! | `cron` | must fire at least once between 1970 and 2199 (`0 0 0 30 2 ?` is refused) |
//!
//! A year is 365.25 days, as `humantime` reads `"1y"`. The `[scheduler]`
//! table's durations have ranges of their own ([`ranges::POLL_INTERVAL`],
//! [`ranges::NODE_TIMING`], …), checked by the file's front end with the
//! same parsers.

mod decl;
mod error;
pub mod hint;
mod jitter;
mod job;
mod keep_fires;
mod notify;
pub mod ranges;
mod schedule;
mod typed;

pub use decl::{CalendarIntervalDecl, DailyDecl, JobDecl, KeepFiresDecl, RetryDecl, ScheduleDecl};
pub use error::{FieldIssue, ValidationError};
pub use keep_fires::keep_fires_override;
pub use notify::{NotifyDecl, validate_notify};
pub use schedule::{parse_time_of_day, parse_timezone};
pub use typed::check_defs;

use chrono_tz::Tz;

use crate::jobs::JobRegistry;
use crate::jobs::http::ApiHttpPolicy;
use crate::model::{JobDef, TriggerDef};

use self::error::Issues;

/// Which door a declaration came through; it decides the advice for a
/// calendar that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The TOML file: calendars are `[[calendar]]` tables of the same file.
    File,
    /// The HTTP API or the Rust API: calendars are created beforehand.
    Api,
}

impl Door {
    fn unknown_calendar_advice(self, name: &str) -> String {
        match self {
            Door::File => "declare it in a [[calendar]] table".to_string(),
            Door::Api => format!("create it first with PUT /calendars/{name}"),
        }
    }
}

/// What a declaration is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext<'a> {
    /// The job kinds, with their settings' validation.
    pub registry: &'a JobRegistry,
    /// The zone of a schedule that names none (`[scheduler] timezone`).
    pub default_timezone: Tz,
    /// The names of the calendars a schedule may use.
    pub calendars: &'a [String],
    pub door: Door,
    /// What an `http` job from this door may do: `Some` for declarations
    /// from the HTTP API and [`Client::create_job`](crate::Client::create_job)
    /// (the operator's `[scheduler] http_allow`, `http_secret_env`,
    /// `http_secret_files`); `None` for the trusted doors (the file, and
    /// definitions an embedder builds in Rust).
    pub http_policy: Option<&'a ApiHttpPolicy>,
}

/// A valid declaration: the job, and its trigger when it has a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub job: JobDef,
    pub trigger: Option<TriggerDef>,
}

/// Checks every field of `decl`; all problems are reported together.
pub fn validate(decl: &JobDecl, ctx: &ValidationContext<'_>) -> Result<Validated, ValidationError> {
    let mut issues = Issues::default();
    let job = job::job_def(decl, ctx, &mut issues);
    let trigger = decl
        .schedule
        .as_ref()
        .and_then(|s| schedule::trigger_def(s, ctx, &mut issues));
    let validated = job.map(|job| Validated { job, trigger });
    issues.into_result(validated)
}

#[cfg(test)]
mod tests;
