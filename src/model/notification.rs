//! Notifications: the events a `[[notify]]` rule can ask for, the rule
//! itself as validated, and a stored notification with its delivery.

use serde::Serialize;
use serde_json::Value;

use crate::closed_enum::closed_enum;

closed_enum! {
    /// What happened (`notifications.event`, a rule's `on`).
    pub enum NotifyEvent: "notification event" {
        Failed = "failed",
        TimedOut = "timed_out",
        Abandoned = "abandoned",
        MisfireSkipped = "misfire_skipped",
        ExpectationViolated = "expectation_violated",
        NodeDead = "node_dead",
    }
}

closed_enum! {
    /// Where a notification's delivery stands (`notifications.status`).
    pub enum NotificationStatus: "notification status" {
        Pending = "pending",
        Leased = "leased",
        Sent = "sent",
        Failed = "failed",
    }
}

/// A `[[notify]]` rule, validated: which events of which jobs it sends,
/// and how (a job kind, `command` or `http`, with its settings).
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyRule {
    pub name: String,
    pub on: Vec<NotifyEvent>,
    /// Only these jobs (empty: every job).
    pub jobs: Vec<String>,
    /// Only jobs of these groups (empty: every group).
    pub groups: Vec<String>,
    /// The job kind that sends it: `command` or `http`.
    pub kind: String,
    /// The kind's settings, as a job of that kind takes them.
    pub settings: Value,
}

impl NotifyRule {
    /// Whether the rule asks for `event`.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.on.contains(&event)
    }

    /// Whether a job (its name and group) passes the rule's filters.
    pub fn matches_job(&self, job: &str, group: Option<&str>) -> bool {
        (self.jobs.is_empty() || self.jobs.iter().any(|j| j == job))
            && (self.groups.is_empty() || group.is_some_and(|g| self.groups.iter().any(|x| x == g)))
    }
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: i64,
    /// The rule's name.
    pub notify: String,
    pub event: NotifyEvent,
    pub dedup_key: String,
    pub job: Option<String>,
    pub fire_id: Option<i64>,
    /// The node that ran the fire, or the node declared dead.
    pub node: Option<String>,
    /// The fire's status when the event was recorded.
    pub fire_status: Option<String>,
    pub scheduled_at: Option<i64>,
    /// The fire's error, or what the event is about.
    pub detail: Option<String>,
    pub status: NotificationStatus,
    pub attempts: u32,
    pub due_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub fence: i64,
    /// Why the last delivery failed.
    pub error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}
