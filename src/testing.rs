//! A test harness for programs that embed cosched: a node driven step by
//! step with a manual clock, exactly as cosched's own tests drive theirs.
//!
//! [`TestNode`] wires a real [`Store`] (SQLite or PostgreSQL, migrated),
//! an [`Executor`], a [`Scheduler`] and a [`Client`] to one [`ManualClock`].
//! Nothing runs on its own: [`TestNode::step`] is one scheduler pass
//! ([`Scheduler::run_once`]) at the clock's instant, [`TestNode::advance`]
//! moves the clock, and [`TestNode::completions`] waits for fires to finish
//! (the executor runs jobs on tokio tasks, so a job kind's own I/O is real).
//! Time never passes by itself, so a test says exactly which instants it
//! visits and what fired at each: no sleeps, no flaky timing.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cosched::testing::TestNode;
//! use cosched::{JobDef, JobRegistry};
//! # async fn example(my_kind: Arc<dyn cosched::JobKind>) -> Result<(), cosched::testing::TestingError> {
//! let mut registry = JobRegistry::with_builtins();
//! registry.register(my_kind);
//! let dir = std::env::temp_dir().join("my-app-test.db");
//! let url = format!("sqlite://{}", dir.display());
//! let mut node = TestNode::builder(&url).registry(registry).start().await?;
//! node.client.create_job_def(&JobDef::new("report", "my-kind"), None).await?;
//! node.client.trigger_now("report", None).await?;
//! let pass = node.step().await?;          // leases and starts the fire
//! assert_eq!(pass.started, 1);
//! node.completions(1).await?;             // the job ran and was recorded
//! node.advance(std::time::Duration::from_secs(60));
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::broadcast;

use crate::client::{Client, ClientError};
use crate::clock::ManualClock;
use crate::events::{Events, SchedulerEvent};
use crate::executor::{Executor, ExecutorConfig};
use crate::jobs::JobRegistry;
use crate::scheduler::{Pass, Scheduler, SchedulerConfig};
use crate::store::{Store, StoreError};

/// How long [`TestNode::completions`] waits, in real time, by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// What can go wrong while driving a [`TestNode`].
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Fewer fires completed than awaited within the wait.
    #[error("waited {waited:?} for {wanted} completions, saw {seen}")]
    Timeout {
        wanted: usize,
        seen: usize,
        waited: Duration,
    },
    /// The node's event channel closed or lagged past what it buffers.
    #[error("the node's events are lost: {0}")]
    Events(String),
}

/// 2026-03-02T10:00:00Z, a Monday: where a [`TestNode`]'s clock starts
/// unless told otherwise.
pub fn default_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// How to build a [`TestNode`].
#[derive(Debug, Clone)]
pub struct TestNodeBuilder {
    url: String,
    node_id: String,
    max_concurrent: usize,
    registry: JobRegistry,
    pools: Vec<String>,
    start: DateTime<Utc>,
    misfire_threshold: Duration,
    wait: Duration,
}

impl TestNodeBuilder {
    /// The node's id (default `test-node`); two test nodes over one
    /// database act as two cluster members.
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.node_id = id.into();
        self
    }

    /// Executor slots (default 16).
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n;
        self
    }

    /// The job kinds the node runs and its client may create (default:
    /// the built-ins).
    pub fn registry(mut self, registry: JobRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// The pools the node serves (default `["default"]`).
    pub fn pools(mut self, pools: Vec<String>) -> Self {
        self.pools = pools;
        self
    }

    /// Where the manual clock starts (default [`default_start`]).
    pub fn start_at(mut self, start: DateTime<Utc>) -> Self {
        self.start = start;
        self
    }

    /// The default misfire threshold (60 s unless set).
    pub fn misfire_threshold(mut self, threshold: Duration) -> Self {
        self.misfire_threshold = threshold;
        self
    }

    /// How long [`TestNode::completions`] waits in real time.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Connects (creating a SQLite file if missing), migrates, and wires
    /// the node's parts. Nothing runs until [`TestNode::step`].
    pub async fn start(self) -> Result<TestNode, TestingError> {
        let store = Store::connect(&self.url).await?;
        store.migrate().await?;
        let clock = Arc::new(ManualClock::new(self.start));
        let events = Events::new();
        let rx = events.subscribe();
        let executor = Executor::new(
            ExecutorConfig {
                node_id: self.node_id.clone(),
                max_concurrent: self.max_concurrent,
            },
            self.registry.clone(),
            store.clone(),
            clock.clone(),
            events.clone(),
        );
        let scheduler = Scheduler::new(
            SchedulerConfig {
                node_id: self.node_id.clone(),
                pools: self.pools,
                poll_interval: Duration::from_secs(1),
                lease: Duration::from_secs(30),
                max_batch: 256,
                misfire_threshold: self.misfire_threshold,
                // A stepped node fires what is due at the clock's instant,
                // never ahead of it.
                lookahead: Duration::ZERO,
            },
            store.clone(),
            clock.clone(),
            executor.clone(),
            events.clone(),
        );
        let client = Client::new(store.clone(), clock.clone(), self.registry);
        Ok(TestNode {
            store,
            clock,
            events,
            executor,
            scheduler,
            client,
            node_id: self.node_id,
            wait: self.wait,
            rx,
        })
    }
}

/// A node's parts over one database, driven by hand.
#[derive(Debug)]
pub struct TestNode {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub events: Events,
    pub executor: Executor,
    pub scheduler: Scheduler,
    /// A producer over the same store and clock.
    pub client: Client,
    pub node_id: String,
    wait: Duration,
    rx: broadcast::Receiver<SchedulerEvent>,
}

impl TestNode {
    /// A builder for a node over the database at `url`.
    pub fn builder(url: &str) -> TestNodeBuilder {
        TestNodeBuilder {
            url: url.to_string(),
            node_id: "test-node".to_string(),
            max_concurrent: 16,
            registry: JobRegistry::with_builtins(),
            pools: vec![crate::model::DEFAULT_POOL.to_string()],
            start: default_start(),
            misfire_threshold: Duration::from_secs(60),
            wait: DEFAULT_WAIT,
        }
    }

    /// A node with every default over the database at `url`.
    pub async fn start(url: &str) -> Result<TestNode, TestingError> {
        Self::builder(url).start().await
    }

    /// One scheduler pass at the clock's current instant.
    pub async fn step(&self) -> Result<Pass, TestingError> {
        Ok(self.scheduler.run_once().await?)
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        self.clock.advance(by);
    }

    /// Waits (in real time, up to the builder's wait) for `n` fires to
    /// complete, and returns their events in completion order.
    pub async fn completions(&mut self, n: usize) -> Result<Vec<SchedulerEvent>, TestingError> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + self.wait;
        while seen.len() < n {
            let event = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => {
                    return Err(TestingError::Timeout {
                        wanted: n,
                        seen: seen.len(),
                        waited: self.wait,
                    });
                }
                Ok(Err(e)) => return Err(TestingError::Events(e.to_string())),
                Ok(Ok(event)) => event,
            };
            if matches!(event, SchedulerEvent::Completed { .. }) {
                seen.push(event);
            }
        }
        Ok(seen)
    }

    /// One pass, then waits for every fire it started to complete.
    pub async fn step_and_settle(&mut self) -> Result<Pass, TestingError> {
        let pass = self.step().await?;
        if pass.started > 0 {
            self.completions(pass.started).await?;
        }
        Ok(pass)
    }
}
