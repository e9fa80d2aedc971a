//! Fires: one row per attempt of one scheduled fire, with its outcome.

use serde_json::Value;

use super::enums::FireStatus;

/// A stored fire attempt (a `fires` row, decoded). Instants are UTC
/// milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Fire {
    pub id: i64,
    /// None once the trigger is deleted (the history stays).
    pub trigger_id: Option<i64>,
    pub job_id: i64,
    pub job_name: String,
    /// The instant the fire was scheduled for.
    pub scheduled_at: i64,
    /// When a queued attempt may start.
    pub due_at: i64,
    /// The (planned, then actual) start.
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The node that runs or ran it.
    pub node_id: Option<String>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The record is completed only by its node with this fence.
    pub fence: i64,
    pub status: FireStatus,
    /// A new attempt after its node died.
    pub recovery: bool,
    /// Why it was queued or skipped.
    pub reason: Option<String>,
    pub error: Option<String>,
    pub output: Option<String>,
    /// The data the fire runs with (job data merged with trigger data).
    pub data: Option<Value>,
    /// The job's jitter offset for this fire (ms after `scheduled_at`).
    pub jitter_ms: Option<i64>,
}

impl Fire {
    /// How late it started: from its scheduled instant moved by its jitter
    /// offset (the instant it was due to start), to its start.
    pub fn lateness_ms(&self) -> Option<i64> {
        let due = self
            .scheduled_at
            .saturating_add(self.jitter_ms.unwrap_or(0));
        self.started_at.map(|s| s - due)
    }
}

/// Bytes of output and of error text kept in a fire record: room for a
/// `command` fire's two streams at their largest `max_output` (1 MiB each)
/// with their notes, so a job kind's own bounded record is never cut again.
pub const MAX_RECORDED_TEXT: usize = 2 * 1024 * 1024 + 4096;
