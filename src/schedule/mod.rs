//! Pure time math: when does a trigger fire next? No I/O, no clock reads.
//!
//! - [`cron`]: cron expressions (Quartz and Unix dialects) in a time zone.
//! - [`dst`]: what a schedule does in daylight-saving gaps and folds.
//! - [`interval`]: fixed-rate, calendar-interval and daily-time-interval schedules.
//! - [`calendar`]: exclusion calendars (holidays, weekends, time ranges…).
//! - [`jitter`]: how far after its nominal instant a job's fire is due.
//! - [`misfire`]: given a due trigger and now, what fires, what is skipped.
//! - [`preview`]: the one step that advances a trigger after a fire
//!   ([`preview::next_fire_after`]), and the next fires of a stored trigger
//!   walked with it, marked for DST and calendars.
//! - [`spec`]: a trigger's validated timing declaration, and the
//!   [`Schedule`] it evaluates to.
//!
//! Every `next_after` is strictly later than its argument, stateless and
//! bounded in time: the next fire is computed from the previous *scheduled*
//! instant, never from "now", so a restart never repeats or loses a fire.

pub mod calendar;
pub mod cron;
pub mod dst;
pub mod interval;
pub mod jitter;
pub mod misfire;
pub mod preview;
pub mod spec;

pub use spec::{Schedule, ScheduleSpec, TriggerKind};
