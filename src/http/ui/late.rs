//! "Late now": triggers whose fire is due but not recorded, and why.
//!
//! Pure: given the due triggers, their jobs, the nodes and the standby
//! switch, [`explain`] names the first reason that holds, in the order an
//! operator fixes them: a pause, standby, a lease held by a dead node, no
//! live node serving the trigger's pool; otherwise the fire is only
//! waiting for the next scheduler pass.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::model::{Job, NodeInfo, NodeState, Trigger, TriggerState};

/// A due trigger counts as late once it is this far past its instant: a
/// healthy node records a fire within milliseconds of it.
pub const LATE_AFTER_MS: i64 = 2_000;

/// A node counts as live while its last check-in is at most this many
/// check-in intervals old.
const LIVE_CHECKINS: i64 = 3;

/// Why a due fire has not happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LateReason {
    JobPaused,
    TriggerPaused,
    Standby,
    LeaseHeldByDeadNode(String),
    NoLiveNodeServesPool(String),
    /// Leased by a live node that has not recorded it yet.
    LeasedBy(String),
    /// Not leased yet: the next scheduler pass takes it.
    AwaitingLease,
}

impl LateReason {
    /// A stable name for the reason (a CSS class and a test handle).
    pub fn code(&self) -> &'static str {
        match self {
            LateReason::JobPaused | LateReason::TriggerPaused => "paused",
            LateReason::Standby => "standby",
            LateReason::LeaseHeldByDeadNode(_) => "dead-lease",
            LateReason::NoLiveNodeServesPool(_) => "no-node",
            LateReason::LeasedBy(_) => "leased",
            LateReason::AwaitingLease => "waiting",
        }
    }
}

impl fmt::Display for LateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LateReason::JobPaused => write!(f, "paused: the job is paused"),
            LateReason::TriggerPaused => write!(f, "paused: the trigger is paused"),
            LateReason::Standby => write!(f, "standby: the cluster starts no fire"),
            LateReason::LeaseHeldByDeadNode(n) => {
                write!(f, "lease held by dead node `{n}` until it expires")
            }
            LateReason::NoLiveNodeServesPool(p) => write!(f, "no live node serves pool `{p}`"),
            LateReason::LeasedBy(n) => write!(f, "leased by node `{n}`, not recorded yet"),
            LateReason::AwaitingLease => write!(f, "due, waiting for the next scheduler pass"),
        }
    }
}

/// Whether `node` checked in recently enough to fire.
pub fn is_live(node: &NodeInfo, now: DateTime<Utc>) -> bool {
    let age = now.timestamp_millis() - node.last_checkin_at;
    node.state == NodeState::Active && age <= LIVE_CHECKINS * node.checkin_interval_ms.max(1)
}

/// Why `trigger` (of `job`) is due and not fired at `now`.
pub fn explain(
    trigger: &Trigger,
    job: Option<&Job>,
    nodes: &[NodeInfo],
    standby: bool,
    now: DateTime<Utc>,
) -> LateReason {
    if job.is_some_and(|j| j.paused) {
        return LateReason::JobPaused;
    }
    if trigger.paused || trigger.state == TriggerState::Paused {
        return LateReason::TriggerPaused;
    }
    if standby {
        return LateReason::Standby;
    }
    let lease_live = trigger
        .lease_until
        .is_some_and(|until| until >= now.timestamp_millis());
    if let Some(owner) = trigger.lease_owner.as_deref().filter(|_| lease_live) {
        let owner_node = nodes.iter().find(|n| n.id == owner);
        return match owner_node {
            Some(n) if is_live(n, now) => LateReason::LeasedBy(owner.to_string()),
            _ => LateReason::LeaseHeldByDeadNode(owner.to_string()),
        };
    }
    let served = nodes
        .iter()
        .any(|n| is_live(n, now) && n.pools.iter().any(|p| p == &trigger.pool));
    if !served {
        return LateReason::NoLiveNodeServesPool(trigger.pool.clone());
    }
    LateReason::AwaitingLease
}
