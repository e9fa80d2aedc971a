//! sea-orm entities for the cosched tables, one module per table.
//!
//! These mirror the migrations in the `migration` crate and hold no logic.
//! Instants are UTC milliseconds since the epoch; JSON columns are TEXT so
//! that any language can read and write them with plain SQL.

pub mod calendars;
pub mod fires;
pub mod jobs;
pub mod nodes;
pub mod notifications;
pub mod scheduler_flags;
pub mod triggers;

pub mod prelude {
    pub use super::calendars::Entity as Calendars;
    pub use super::fires::Entity as Fires;
    pub use super::jobs::Entity as Jobs;
    pub use super::nodes::Entity as Nodes;
    pub use super::notifications::Entity as Notifications;
    pub use super::scheduler_flags::Entity as SchedulerFlags;
    pub use super::triggers::Entity as Triggers;
}
