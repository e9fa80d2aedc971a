//! How long fire history is kept: an age per final status and a row cap
//! per job ([`KeepFires`]), and a job's partial override of the
//! `[scheduler] keep_fires` defaults ([`KeepFiresOverride`]).
//!
//! Whatever the policy, `queued` and `running` fires are never pruned, and
//! the newest fire of each status of each job is always kept, so "last
//! success" and "last failure" survive any policy.

use std::time::Duration;

use super::enums::FireStatus;

const DAY: Duration = Duration::from_secs(86_400);

/// The effective retention of one job's fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepFires {
    pub succeeded: Duration,
    pub failed: Duration,
    pub timed_out: Duration,
    pub abandoned: Duration,
    pub cancelled: Duration,
    pub skipped: Duration,
    /// At most this many final fires per job (newest first), besides the
    /// newest of each status.
    pub max_rows: u64,
}

impl Default for KeepFires {
    /// Safe for years: successes 14 days, failures of every kind 90 days,
    /// skips 7 days, and at most 10 000 rows per job.
    fn default() -> Self {
        Self {
            succeeded: DAY * 14,
            failed: DAY * 90,
            timed_out: DAY * 90,
            abandoned: DAY * 90,
            cancelled: DAY * 90,
            skipped: DAY * 7,
            max_rows: 10_000,
        }
    }
}

impl KeepFires {
    /// How long fires of `status` are kept; None for `queued` and
    /// `running`, which are never pruned.
    pub fn age_of(&self, status: FireStatus) -> Option<Duration> {
        match status {
            FireStatus::Queued | FireStatus::Running => None,
            FireStatus::Succeeded => Some(self.succeeded),
            FireStatus::Failed => Some(self.failed),
            FireStatus::TimedOut => Some(self.timed_out),
            FireStatus::Abandoned => Some(self.abandoned),
            FireStatus::Cancelled => Some(self.cancelled),
            FireStatus::Skipped => Some(self.skipped),
        }
    }

    /// This policy with the fields `o` sets replaced.
    pub fn overridden_by(&self, o: &KeepFiresOverride) -> KeepFires {
        KeepFires {
            succeeded: o.succeeded.unwrap_or(self.succeeded),
            failed: o.failed.unwrap_or(self.failed),
            timed_out: o.timed_out.unwrap_or(self.timed_out),
            abandoned: o.abandoned.unwrap_or(self.abandoned),
            cancelled: o.cancelled.unwrap_or(self.cancelled),
            skipped: o.skipped.unwrap_or(self.skipped),
            max_rows: o.max_rows.unwrap_or(self.max_rows),
        }
    }
}

/// The statuses a retention policy applies to (every final one).
pub const PRUNABLE_STATUSES: [FireStatus; 6] = [
    FireStatus::Succeeded,
    FireStatus::Failed,
    FireStatus::TimedOut,
    FireStatus::Abandoned,
    FireStatus::Cancelled,
    FireStatus::Skipped,
];

/// The fields of a policy one job sets for itself (`keep_fires` on the
/// job); the others come from `[scheduler] keep_fires`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepFiresOverride {
    pub succeeded: Option<Duration>,
    pub failed: Option<Duration>,
    pub timed_out: Option<Duration>,
    pub abandoned: Option<Duration>,
    pub cancelled: Option<Duration>,
    pub skipped: Option<Duration>,
    pub max_rows: Option<u64>,
}

impl KeepFiresOverride {
    /// Whether it sets nothing.
    pub fn is_empty(&self) -> bool {
        *self == KeepFiresOverride::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_only_what_it_sets() {
        let o = KeepFiresOverride {
            succeeded: Some(DAY),
            max_rows: Some(5),
            ..Default::default()
        };
        let k = KeepFires::default().overridden_by(&o);
        assert_eq!(k.age_of(FireStatus::Succeeded), Some(DAY));
        assert_eq!(k.age_of(FireStatus::Failed), Some(DAY * 90));
        assert_eq!(k.age_of(FireStatus::Skipped), Some(DAY * 7));
        assert_eq!(k.max_rows, 5);
        assert_eq!(k.age_of(FireStatus::Running), None);
        assert_eq!(k.age_of(FireStatus::Queued), None);
        assert!(KeepFiresOverride::default().is_empty() && !o.is_empty());
    }
}
