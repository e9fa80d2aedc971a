//! A running node: wiring, and the shutdown protocol.
//!
//! Start: connect, migrate, reconcile the file, register in `nodes`, then
//! run three loops: the scheduler, the cluster check-in, and (PostgreSQL)
//! the change listener. Every instant the node uses comes from its clock
//! corrected by the offset to the database clock measured at check-in.
//!
//! Shutdown, in this order: (1) stop leasing (the scheduler's token),
//! (2) release leases taken but not yet recorded, (3) let running fires
//! finish within the grace period, (4) cancel the rest and record them
//! `cancelled`, (5) stop checking in, last, so the node never looks dead
//! while it drains, and mark it `stopped`. Stopping twice is safe.
//!
//! A node that a peer declared dead (it missed its check-ins: a long
//! pause, a stalled connection) stops at once: its fires were recovered
//! elsewhere, and its own attempts to complete them are fenced out.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, OffsetClock};
use crate::cluster::{Cluster, ClusterConfig};
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
    cluster: Arc<Cluster<Arc<dyn Clock>>>,
    stop: CancellationToken,
    declared_dead: CancellationToken,
}

/// What a node did at shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub released_leases: u64,
    pub cancelled_fires: usize,
    /// The node stopped because a peer declared it dead.
    pub declared_dead: bool,
}

impl Node {
    /// Connects, migrates, reconciles the file's jobs and registers the
    /// node; does not start firing until [`Node::run`]. `clock` is the
    /// node's own clock (the system clock, or a skewed one in tests); the
    /// node corrects it by its measured offset to the database.
    pub async fn start(
        settings: Settings,
        config: &Config,
        registry: JobRegistry,
        clock: Arc<dyn Clock>,
    ) -> Result<(Node, ReconcileReport), StoreError> {
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        let clock = Arc::new(OffsetClock::new(clock));
        let events = Events::new();
        let cluster = Arc::new(Cluster::new(
            ClusterConfig {
                node_id: settings.node_id.clone(),
                pools: settings.scheduler.pools.clone(),
                checkin_interval: settings.scheduler.checkin_interval,
                dead_after: settings.scheduler.dead_after_checkins,
                measure_clock_offset: true,
            },
            store.clone(),
            clock.clone(),
            events.clone(),
        ));
        cluster.register().await?;
        let report = store
            .reconcile_config(&config.jobs, &config.calendars, clock.now_ms())
            .await?;
        let clock: Arc<dyn Clock> = clock;
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
            cluster,
            stop: CancellationToken::new(),
            declared_dead: CancellationToken::new(),
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

    /// Fires until `shutdown` resolves (or the stop token is cancelled,
    /// or a peer declares this node dead), then shuts down in order.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> ShutdownReport {
        tracing::info!(node = %self.id(), database = %self.store.display_url(),
            pools = ?self.settings.scheduler.pools, "node started");
        let scheduler_stop = self.stop.child_token();
        let cluster_stop = CancellationToken::new();
        let scheduler_task = tokio::spawn({
            let scheduler = self.scheduler.clone();
            let stop = scheduler_stop.clone();
            async move { scheduler.run(stop).await }
        });
        let cluster_task = tokio::spawn({
            let cluster = self.cluster.clone();
            let stop = cluster_stop.clone();
            let dead = self.declared_dead.clone();
            async move { cluster.run(stop, dead).await }
        });
        let listener_task = tokio::spawn({
            let store = self.store.clone();
            let stop = scheduler_stop.clone();
            async move { store.listen_for_changes(stop).await }
        });
        tokio::select! {
            _ = shutdown => {}
            _ = self.stop.cancelled() => {}
            _ = self.declared_dead.cancelled() => {}
        }
        let declared_dead = self.declared_dead.is_cancelled();
        scheduler_stop.cancel();
        let report = self.shutdown(scheduler_task, declared_dead).await;
        let _ = listener_task.await;
        cluster_stop.cancel();
        let _ = cluster_task.await;
        if !declared_dead {
            self.cluster.leave().await;
        }
        tracing::info!(node = %self.id(), cancelled = report.cancelled_fires,
            released_leases = report.released_leases, declared_dead, "node stopped");
        report
    }

    async fn shutdown(
        &self,
        scheduler_task: tokio::task::JoinHandle<()>,
        declared_dead: bool,
    ) -> ShutdownReport {
        // A node declared dead has no grace: its fires belong to others now.
        let grace = if declared_dead {
            std::time::Duration::ZERO
        } else {
            self.settings.scheduler.shutdown_grace
        };
        tracing::info!(node = %self.id(), running = self.executor.running(), ?grace,
            "shutting down: no new fires");
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
        let DrainReport { cancelled } = self.executor.shutdown(grace).await;
        ShutdownReport { released_leases, cancelled_fires: cancelled, declared_dead }
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
