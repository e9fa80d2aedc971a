//! One module per dashboard page.

pub mod calendars;
pub mod cluster;
pub mod fires;
pub mod job;
pub mod jobs;
pub mod overview;
pub mod timeline;
