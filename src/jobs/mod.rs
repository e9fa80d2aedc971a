//! Job kinds: what a fire runs.
//!
//! A kind is a stable string name (`command`, `http`, `noop`, or a plugin's own)
//! with an implementation of [`JobKind`]. Names are persisted in
//! `jobs.kind`, so a kind keeps its name across releases. A Rust program
//! that embeds cosched registers its own kinds in the [`JobRegistry`].

pub mod command;
pub mod http;
pub mod noop;
mod registry;
mod settings_table;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use registry::JobRegistry;

/// What a running fire knows about itself. `fire_id`, `scheduled_at` and
/// `attempt` together identify one attempt of one fire: a job can use them
/// as an idempotency key.
#[derive(Debug, Clone, Serialize)]
pub struct FireContext {
    pub fire_id: i64,
    pub job: String,
    pub trigger_id: Option<i64>,
    pub scheduled_at: DateTime<Utc>,
    pub attempt: u32,
    pub node: String,
    /// The job's data merged with the trigger's.
    pub data: Value,
}

/// How a fire ended, as the job kind reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Succeeded {
        output: Option<String>,
    },
    Failed {
        error: String,
        output: Option<String>,
        retry: RetryDirective,
    },
}

/// What a failed fire asks of the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryDirective {
    /// Retry as the job's retry policy says.
    #[default]
    ByPolicy,
    /// Retry after this delay (within the policy's attempts).
    After(Duration),
    /// Do not retry, whatever the policy.
    Never,
}

/// A kind of job.
#[async_trait]
pub trait JobKind: Send + Sync + 'static {
    /// The stable name persisted in `jobs.kind`.
    fn name(&self) -> &'static str;

    /// Checks a job's settings when it is declared (file or API), so that a
    /// bad job is refused before anything is written. The error names the
    /// key and says what was expected.
    fn validate(&self, settings: &Value) -> Result<(), String>;

    /// Runs one fire. The future may be dropped at any await point (on
    /// timeout or shutdown); a kind that starts external work must stop it
    /// on drop.
    async fn run(&self, fire: &FireContext, settings: &Value) -> JobOutcome;
}
