//! Triggers: when a job fires. [`TriggerDef`] is a trigger as declared;
//! [`Trigger`] is a stored one, its schedule decoded, with its state and
//! lease.

use chrono::Duration as TimeDelta;
use serde_json::Value;

use super::enums::{JobSource, TriggerState};
use crate::schedule::ScheduleSpec;
use crate::schedule::misfire::MisfirePolicy;

/// A trigger: when a job fires.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerDef {
    pub spec: ScheduleSpec,
    pub misfire: MisfirePolicy,
    /// None: the scheduler's `misfire_threshold`.
    pub misfire_threshold: Option<TimeDelta>,
    /// Names of the exclusion calendars applied to this trigger.
    pub calendars: Vec<String>,
    /// None: the job's priority.
    pub priority: Option<i32>,
    /// Data merged over the job's data for this trigger's fires.
    pub data: Option<Value>,
}

impl TriggerDef {
    pub fn new(spec: ScheduleSpec) -> Self {
        Self {
            spec,
            misfire: MisfirePolicy::Smart,
            misfire_threshold: None,
            calendars: Vec::new(),
            priority: None,
            data: None,
        }
    }
}

/// A stored trigger (a `triggers` row, decoded). Instants are UTC
/// milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub id: i64,
    pub job_id: i64,
    pub source: JobSource,
    /// The schedule, rebuilt from its columns.
    pub spec: ScheduleSpec,
    pub misfire: MisfirePolicy,
    /// None: the scheduler's `misfire_threshold`.
    pub misfire_threshold: Option<TimeDelta>,
    /// Names of the exclusion calendars applied to this trigger.
    pub calendars: Vec<String>,
    /// Data merged over the job's data for this trigger's fires.
    pub data: Option<Value>,
    /// The instant that fires next (None: nothing is left to fire).
    pub next_fire_at: Option<i64>,
    pub previous_fire_at: Option<i64>,
    pub times_fired: u64,
    pub priority: i32,
    pub pool: String,
    pub state: TriggerState,
    /// Why the trigger is in the `error` state.
    pub error: Option<String>,
    /// Paused on its own (its state is also `paused` while its job is).
    pub paused: bool,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    /// Bumped by every lease: a record is fenced by the fence it leased.
    pub fence: i64,
    /// Where the schedule counts from (moved by some misfire policies).
    pub start_at: i64,
    /// Repeats left after the first fire (interval and one-off triggers).
    pub repeat_count: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
}
