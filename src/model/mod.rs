//! The domain model: what every layer speaks. Jobs, triggers, fires,
//! nodes, calendars and notifications as declared and as stored, the closed sets of their
//! states and policies, and the overlap decision.
//!
//! Nothing here does I/O or knows a database row: the store's codec turns
//! rows into these types (strictly, once) and back. Instants are UTC
//! milliseconds since the epoch, as the store and the clock's `now_ms` use
//! them; schedules and policies are the typed values of [`crate::schedule`].

mod calendar;
mod enums;
mod fire;
mod health;
mod job;
mod node;
mod notification;
mod overlap;
mod retention;
mod text;
mod trigger;

pub use crate::schedule::jitter::Jitter;
pub use calendar::Calendar;
pub use enums::{FireStatus, JobSource, NodeState, OverlapPolicy, TriggerState};
pub use fire::{Fire, MAX_RECORDED_TEXT};
pub use health::{FireCount, JobHealth};
pub use job::{ConfigJob, DEFAULT_POOL, Job, JobDef, JobSummary, RetryPolicy};
pub use node::{NodeInfo, NodeSummary};
pub use notification::{Notification, NotificationStatus, NotifyEvent, NotifyRule};
pub use overlap::{Admission, OverlapGate};
pub use retention::{KeepFires, KeepFiresOverride, PRUNABLE_STATUSES};
pub use text::{Printable, printable};
pub use trigger::{Trigger, TriggerDef};
