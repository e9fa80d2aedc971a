//! The integration tests: one binary, one module per area. Database tests
//! run the real migrations on a SQLite file and, where the harness can
//! start one, on a real PostgreSQL server (see `support::pg`).

mod support;

mod bench;
mod calendars;
mod cli;
mod cluster;
mod command;
mod config;
mod http;
mod http_job;
mod layout;
mod policies;
mod reconcile;
mod recovery;
mod scheduling;
mod shutdown;
mod store;
mod testing;
