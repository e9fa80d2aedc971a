//! A running node: wiring, and the shutdown protocol.
//!
//! Start: connect, migrate, reconcile the file, then run the scheduler
//! loop. Shutdown, in this order: (1) stop leasing (the loop's token),
//! (2) release leases taken but not yet recorded, (3) let running fires
//! finish within the grace period, (4) cancel the rest and record them
//! `cancelled`. Both [`Node::shutdown`] calls and a second signal are safe.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Config, Settings};
use crate::events::Events;
use crate::executor::{DrainReport, Executor, ExecutorConfig};
use crate::jobs::JobRegistry;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::store::{ReconcileReport, Store, StoreError};

/// A scheduler node over one database.
#[derive(Debug, Clone)]
pub struct Node {
    settings: Settings,
    store: Store,
    scheduler: Scheduler,
    executor: Executor,
    events: Events,
    stop: CancellationToken,
}

/// What a node did at shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub released_leases: u64,
    pub cancelled_fires: usize,
}

impl Node {
    /// Connects, migrates and reconciles the file's jobs; does not start
    /// firing until [`Node::run`].
    pub async fn start(
        settings: Settings,
        config: &Config,
        registry: JobRegistry,
        clock: Arc<dyn Clock>,
    ) -> Result<(Node, ReconcileReport), StoreError> {
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        let report = store
            .reconcile_config(&config.jobs, &config.calendars, clock.now_ms())
            .await?;
        let events = Events::new();
        let executor = Executor::new(
            ExecutorConfig {
                node_id: settings.node_id.clone(),
                max_concurrent: settings.scheduler.max_concurrent,
            },
            registry,
            store.clone(),
            clock.clone(),
            events.clone(),
        );
        let scheduler = Scheduler::new(
            SchedulerConfig {
                node_id: settings.node_id.clone(),
                pools: settings.scheduler.pools.clone(),
                poll_interval: settings.scheduler.poll_interval,
                lease: settings.scheduler.lease,
                max_batch: crate::config::defaults::MAX_BATCH,
                misfire_threshold: settings.scheduler.misfire_threshold,
            },
            store.clone(),
            clock,
            executor.clone(),
            events.clone(),
        );
        let node = Node {
            settings,
            store,
            scheduler,
            executor,
            events,
            stop: CancellationToken::new(),
        };
        Ok((node, report))
    }

    pub fn id(&self) -> &str {
        &self.settings.node_id
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    /// A token that, cancelled, makes [`Node::run`] shut down.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Fires until `shutdown` resolves (or the stop token is cancelled),
    /// then shuts down in order.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> ShutdownReport {
        tracing::info!(node = %self.id(), database = %self.store.display_url(),
            pools = ?self.settings.scheduler.pools, "node started");
        let stop = self.stop.clone();
        let scheduler = self.scheduler.clone();
        let loop_stop = stop.clone();
        let scheduler_task = tokio::spawn(async move { scheduler.run(loop_stop).await });
        tokio::select! {
            _ = shutdown => {}
            _ = stop.cancelled() => {}
        }
        self.shutdown(scheduler_task).await
    }

    async fn shutdown(&self, scheduler_task: tokio::task::JoinHandle<()>) -> ShutdownReport {
        tracing::info!(node = %self.id(), running = self.executor.running(),
            grace = ?self.settings.scheduler.shutdown_grace, "shutting down: no new fires");
        self.stop.cancel();
        if let Err(e) = scheduler_task.await {
            tracing::error!(error = %e, "scheduler loop ended abnormally");
        }
        let released_leases = match self.store.release_leases(self.id()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot release leases; they expire on their own");
                0
            }
        };
        let DrainReport { cancelled } = self
            .executor
            .shutdown(self.settings.scheduler.shutdown_grace)
            .await;
        tracing::info!(node = %self.id(), cancelled, released_leases, "node stopped");
        ShutdownReport {
            released_leases,
            cancelled_fires: cancelled,
        }
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
