//! cosched: a job scheduler co-server.
//!
//! Producers put jobs and triggers (cron, interval, one-shot) into a SQL
//! database; one or more cosched nodes fire them on time and record what
//! happened. The database is the contract: a producer can schedule work
//! while every node is down.
//!
//! # Layout
//!
//! - [`config`]: the TOML file → validated, typed settings and jobs.
//! - [`model`]: the domain types every layer speaks: jobs, triggers,
//!   fires, nodes, calendars and their closed sets of states and policies.
//! - [`closed_enum`]: the one macro behind every closed set of names.
//! - [`declare`]: one declaration type and one validator for every door.
//! - [`schedule`]: pure time math: cron, DST, intervals, misfires.
//! - [`store`]: the only door to SQL (SQLite and PostgreSQL).
//! - [`scheduler`]: the loop: wait, lease, record, hand over.
//! - [`executor`]: the bounded pool that runs fires and records outcomes.
//! - [`jobs`]: job kinds (`command`, `noop`, your own) and their registry.
//! - [`client`]: the producer API over SQL.
//! - [`http`]: the HTTP JSON API and Prometheus metrics of a node (`[http]`).
//! - [`node`]: a running node and its shutdown protocol.
//! - [`cluster`]: check-ins, clock offset, dead nodes and recovery.
//! - [`retention`]: pruning fire history to `keep_fires`, one node at a time.
//! - [`notifier`]: sending the notifications of `[[notify]]` rules.
//! - [`clock`]: every "now", injectable; [`events`]: what a node did.
//! - [`bench`]: the end-to-end benchmark behind `cosched bench`.
//! - [`cli`]: the command line (the binary is a thin shell around it).
//! - [`testing`]: a node stepped by hand with a manual clock, for embedders'
//!   tests of their own job kinds.

pub mod bench;
pub mod cli;
pub mod client;
pub mod clock;
pub mod closed_enum;
pub mod cluster;
pub mod config;
pub mod declare;
pub mod events;
pub mod executor;
pub mod http;
pub mod jobs;
pub mod model;
pub mod node;
pub mod notifier;
pub mod os;
pub mod retention;
pub mod schedule;
pub mod scheduler;
pub mod store;
pub mod testing;

pub use client::{Client, ClientError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigError, Settings};
pub use jobs::{FireContext, JobKind, JobOutcome, JobRegistry};
pub use model::{JobDef, OverlapPolicy, RetryPolicy, TriggerDef};
pub use node::Node;
pub use store::Store;
