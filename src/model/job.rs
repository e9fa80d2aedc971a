//! Jobs: what to run and how. [`JobDef`] is a job as declared (file or
//! API), before it is stored; [`Job`] is a stored job as every layer reads
//! it; [`JobSummary`] is a job with its triggers, for listings.
//!
//! Instants are UTC milliseconds since the epoch, as the store keeps them
//! and as the [`Clock`](crate::clock::Clock)'s `now_ms` gives them.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::enums::{JobSource, OverlapPolicy};
use super::health::JobHealth;
use super::retention::KeepFiresOverride;
use super::trigger::{Trigger, TriggerDef};
use crate::schedule::jitter::Jitter;

/// The pool a job runs in when it names none.
pub const DEFAULT_POOL: &str = "default";

/// A job: what to run and how.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDef {
    pub name: String,
    /// A job kind name from the registry (`command`, `noop`, or a plugin's).
    pub kind: String,
    /// The kind's own settings (for `command`: argv, env, …), as JSON.
    pub settings: Value,
    /// Free-form data handed to every fire of the job.
    pub data: Value,
    pub pool: String,
    pub group: Option<String>,
    pub overlap: OverlapPolicy,
    pub timeout: Option<Duration>,
    pub priority: i32,
    pub retry: RetryPolicy,
    pub requests_recovery: bool,
    pub paused: bool,
    /// The job's own fire-history retention (`keep_fires`), over the
    /// `[scheduler]` defaults.
    pub keep_fires: KeepFiresOverride,
    /// The job is unhealthy when its last success (or, before any, its
    /// creation) is older than this.
    pub expect_success_within: Option<Duration>,
    /// Fires are due this far after their nominal instant (`jitter`).
    pub jitter: Option<Jitter>,
}

impl JobDef {
    /// A job of `kind` with every policy at its default.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            settings: Value::Object(Default::default()),
            data: Value::Object(Default::default()),
            pool: DEFAULT_POOL.to_string(),
            group: None,
            overlap: OverlapPolicy::Allow,
            timeout: None,
            priority: 0,
            retry: RetryPolicy::default(),
            requests_recovery: false,
            paused: false,
            keep_fires: KeepFiresOverride::default(),
            expect_success_within: None,
            jitter: None,
        }
    }
}

/// A stored job (a `jobs` row, decoded).
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub name: String,
    /// A job kind name from the registry (`command`, `noop`, or a plugin's).
    pub kind: String,
    /// The kind's own settings, as JSON.
    pub settings: Value,
    /// Free-form data handed to every fire of the job.
    pub data: Value,
    pub pool: String,
    pub group: Option<String>,
    pub overlap: OverlapPolicy,
    pub timeout: Option<Duration>,
    pub priority: i32,
    pub retry: RetryPolicy,
    pub requests_recovery: bool,
    pub paused: bool,
    /// The job's own fire-history retention, over the `[scheduler]` defaults.
    pub keep_fires: KeepFiresOverride,
    /// See [`JobDef::expect_success_within`].
    pub expect_success_within: Option<Duration>,
    /// See [`JobDef::jitter`].
    pub jitter: Option<Jitter>,
    pub source: JobSource,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job with its triggers (by id) and its earliest next fire, for listings.
#[derive(Debug, Clone)]
pub struct JobSummary {
    pub job: Job,
    /// The earliest next fire among its waiting triggers.
    pub next_fire_at: Option<i64>,
    pub triggers: Vec<Trigger>,
    /// Its last outcomes and health, where the reader asked for them.
    pub health: Option<JobHealth>,
}

/// A job as declared in the configuration file, with the hashes of its
/// declaration: a reconcile leaves a job whose hashes did not change as it is.
#[derive(Debug, Clone)]
pub struct ConfigJob {
    pub job: JobDef,
    pub trigger: Option<TriggerDef>,
    /// Hash of everything declared about the job but its schedule.
    pub job_hash: String,
    /// Hash of the schedule declaration.
    pub trigger_hash: Option<String>,
}

/// How a failed fire is retried: attempt n+1 waits
/// `min(backoff * factor^(n-1), max_backoff)`, spread by ±`jitter`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: never retry).
    pub max_attempts: u32,
    pub backoff: Duration,
    pub factor: f64,
    pub max_backoff: Duration,
    /// Fraction of the delay, 0.0 to 1.0.
    pub jitter: f64,
}

impl RetryPolicy {
    /// Whether a fire that failed at `attempt` (1-based) gets another.
    pub fn allows_retry_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// The wait before the attempt after `attempt` failed:
    /// `min(backoff * factor^(attempt-1), max_backoff)`, spread by
    /// ±`jitter` with `unit_random` in [0, 1).
    pub fn delay_after(&self, attempt: u32, unit_random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let base = self.backoff.as_secs_f64() * self.factor.powi(exponent);
        let capped = base.min(self.max_backoff.as_secs_f64());
        let spread = 1.0 + self.jitter * (2.0 * unit_random.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((capped * spread).max(0.0))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            backoff: Duration::from_secs(1),
            factor: 2.0,
            max_backoff: Duration::from_secs(3600),
            jitter: 0.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_by_the_factor_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 5,
            backoff: Duration::from_secs(10),
            factor: 3.0,
            max_backoff: Duration::from_secs(60),
            jitter: 0.0,
        };
        let delays: Vec<u64> = (1..=4).map(|a| p.delay_after(a, 0.5).as_secs()).collect();
        assert_eq!(delays, [10, 30, 60, 60]);
        assert!(p.allows_retry_after(4));
        assert!(!p.allows_retry_after(5));
    }

    #[test]
    fn jitter_spreads_the_delay_both_ways() {
        let p = RetryPolicy {
            jitter: 0.5,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_after(1, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay_after(1, 0.5), Duration::from_secs(1));
        assert!(p.delay_after(1, 0.999) < Duration::from_millis(1500));
    }
}
