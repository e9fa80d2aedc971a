//! Per-job health: the last outcomes of a job, its next fire, and whether
//! it meets its `expect_success_within` expectation.

use std::time::Duration;

use super::enums::FireStatus;

/// What a job's fire history says about it (UTC ms instants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHealth {
    pub job_id: i64,
    pub job: String,
    /// When the last successful fire finished.
    pub last_success_at: Option<i64>,
    /// When the last failed, timed-out or abandoned fire finished.
    pub last_failure_at: Option<i64>,
    /// The status of the job's newest final fire.
    pub last_status: Option<FireStatus>,
    /// The earliest next fire of its waiting triggers.
    pub next_fire_at: Option<i64>,
    /// Failed, timed-out and abandoned attempts since the last success.
    pub consecutive_failures: u64,
    /// The job's creation, the start of its first expectation window.
    pub created_at: i64,
    pub expect_success_within: Option<Duration>,
    /// Whether the expectation was violated when this was read.
    pub unhealthy: bool,
}

/// How many fires of one job the history holds with one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireCount {
    pub job: String,
    pub status: FireStatus,
    pub count: u64,
}

impl JobHealth {
    /// Whether the job's expectation is violated at `now_ms`: it has not
    /// succeeded within `expect_success_within` of now (counting from its
    /// creation before its first success). Exactly at the limit it holds.
    pub fn expectation_violated(&self, now_ms: i64) -> bool {
        let Some(within) = self.expect_success_within else {
            return false;
        };
        let since = self.last_success_at.unwrap_or(self.created_at);
        let within_ms = i64::try_from(within.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(since) > within_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expectation_is_violated_only_past_its_window() {
        let mut h = JobHealth {
            job_id: 1,
            job: "j".into(),
            last_success_at: None,
            last_failure_at: None,
            last_status: None,
            next_fire_at: None,
            consecutive_failures: 0,
            created_at: 1_000,
            expect_success_within: None,
            unhealthy: false,
        };
        assert!(!h.expectation_violated(i64::MAX));
        h.expect_success_within = Some(Duration::from_millis(500));
        assert!(!h.expectation_violated(1_500));
        assert!(h.expectation_violated(1_501));
        h.last_success_at = Some(2_000);
        assert!(!h.expectation_violated(2_500));
        assert!(h.expectation_violated(2_501));
    }
}
