//! One module per dashboard page.

pub mod fires;
pub mod job;
pub mod jobs;
pub mod overview;
