//! Exclusion calendars as stored.

use super::enums::JobSource;
use crate::schedule::calendar::CalendarDef;

/// A stored calendar (a `calendars` row, decoded). Its definition parsed;
/// whether it compiles is the scheduler's concern, so that only the
/// triggers naming a bad one fail.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub name: String,
    pub definition: CalendarDef,
    pub source: JobSource,
    pub created_at: i64,
    pub updated_at: i64,
}
