//! The integration tests: one binary, one module per area. Database tests
//! run the real migrations on a SQLite file and, where the harness can
//! start one, on a real PostgreSQL server (see `support::pg`).
//!
//! Tests may unwrap (a panic is how a test fails) and signal their own
//! child processes through libc.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod support;

mod backfill;
mod bench;
mod browser;
mod calendars;
mod cli;
mod cluster;
mod command;
mod config;
mod contract;
mod dashboard;
mod dashboard_actions;
mod declare;
mod health;
mod http;
mod http_job;
mod http_job_api;
mod http_limits;
mod http_openapi;
mod http_paging;
mod http_security;
mod jitter;
mod layout;
mod lease_order;
mod metrics;
mod never_started;
mod next;
mod notifications;
mod outage;
mod policies;
mod reconcile;
mod recovery;
mod retention;
mod scheduling;
mod shutdown;
mod sqlite_lost;
mod store;
mod systemd;
mod testing;
mod unstorable;
