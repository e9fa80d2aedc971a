//! A running node: wiring, and the shutdown protocol.
//!
//! Start: connect, migrate, reconcile the file, register in `nodes`, then
//! run its loops: the scheduler, the cluster check-in, the pruner, the
//! notifier and (PostgreSQL) the change listener. Every instant the node uses comes from its clock
//! corrected by the offset to the database clock measured at check-in.
//!
//! With `[http] listen` set, the node binds that address in
//! [`Node::start`] (before anything fires; [`Node::http_addr`] tells the
//! port) and serves the [HTTP API](crate::http) from the first instant of
//! [`Node::run`].
//!
//! Shutdown, in this order: (1) stop leasing (the scheduler's token),
//! (2) release leases taken but not yet recorded, (3) let running fires
//! finish within the grace period, (4) cancel the rest and record them
//! `cancelled`, (5) stop the HTTP API (it stays up while the node drains,
//! so the drain can be watched and fires cancelled): stop accepting, let
//! requests in flight finish, (6) stop checking in, last, so the node never
//! looks dead while it drains, and mark it `stopped`. Stopping twice is
//! safe.
//!
//! A node that a peer declared dead (it missed its check-ins: a long
//! pause, a stalled connection) stops at once: its fires were recovered
//! elsewhere, and its own attempts to complete them are fenced out.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::clock::{Clock, OffsetClock};
use crate::cluster::{Cluster, ClusterConfig};
use crate::config::{Config, Settings};
use crate::events::Events;
use crate::executor::{DrainReport, Executor, ExecutorConfig};
use crate::http;
use crate::jobs::JobRegistry;
use crate::notifier::{Notifier, NotifierConfig};
use crate::retention::{Pruner, PrunerConfig};
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
    /// Keeps fire history to `keep_fires`, off the hot path.
    pruner: Pruner,
    /// Sends the notifications of `[[notify]]` rules.
    notifier: Notifier,
    stop: CancellationToken,
    declared_dead: CancellationToken,
    /// The HTTP API's bound socket until [`Node::run`] serves it, and the
    /// parts it serves from.
    http: Option<Arc<HttpPart>>,
}

/// The HTTP API of a node: bound at start, served by the first run.
#[derive(Debug)]
struct HttpPart {
    addr: SocketAddr,
    listener: Mutex<Option<http::Listener>>,
    api: http::Api,
    protection: http::Protection,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The `[http]` table cannot be served as it is (a token's secret is
    /// missing, an open API on a non-loopback address).
    #[error(transparent)]
    Http(#[from] http::ProtectionError),
    /// The `[http] listen` address could not be bound.
    #[error("cannot listen on {addr} for the HTTP API ([http] listen): {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// How far ahead of their instant a node leases and records fires, so
/// that each starts on its instant rather than a few round trips after.
pub const LOOKAHEAD: std::time::Duration = std::time::Duration::from_millis(25);

/// What a node did at shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub released_leases: u64,
    pub cancelled_fires: usize,
    /// The node stopped because a peer declared it dead.
    pub declared_dead: bool,
    /// The node stopped because its database was lost (a SQLite file
    /// deleted, replaced or made read-only under it): why.
    pub database_lost: Option<String>,
}

/// How often a node checks that its SQLite file is still the one it
/// opened. A fire leased meanwhile is recorded on the lost file: at most
/// one interval of work is unrecorded, and nothing is leased after.
pub const DATABASE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Checks the database file every [`DATABASE_CHECK_INTERVAL`] until it
/// is lost (then cancels `lost`) or `stop` is cancelled.
async fn watch_database(store: Store, stop: CancellationToken, lost: CancellationToken) {
    loop {
        if store.check_database_file().is_some() {
            lost.cancel();
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(DATABASE_CHECK_INTERVAL) => {}
        }
    }
}

impl Node {
    /// Binds the HTTP API's address (`config.http`), connects, migrates,
    /// reconciles the file's jobs and registers the node; does not start
    /// firing (nor serving HTTP) until [`Node::run`]. `clock` is the node's
    /// own clock (the system clock, or a skewed one in tests); the node
    /// corrects it by its measured offset to the database.
    pub async fn start(
        settings: Settings,
        config: &Config,
        registry: JobRegistry,
        clock: Arc<dyn Clock>,
    ) -> Result<(Node, ReconcileReport), NodeError> {
        // First, so a missing token secret or a taken port fails the start
        // before anything is written.
        let bound = bind_http(config).await?;
        let store = Store::connect_node(
            &settings.database_url,
            settings.scheduler.idle_in_transaction_timeout(),
        )
        .await?;
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
        let (pruner, notifier) = chores(&settings, config, &store, &clock, &registry);
        let api_registry = registry.clone();
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
                lookahead: LOOKAHEAD,
            },
            store.clone(),
            clock.clone(),
            executor.clone(),
            events.clone(),
        );
        let http = bound.map(|(listener, protection)| {
            Arc::new(HttpPart {
                protection,
                addr: listener.local_addr(),
                listener: Mutex::new(Some(listener)),
                api: http::Api {
                    client: Client::new(store.clone(), clock.clone(), api_registry)
                        .with_default_timezone(settings.scheduler.timezone)
                        .with_http_policy(settings.scheduler.api_http.clone()),
                    node_id: settings.node_id.clone(),
                    executor: executor.clone(),
                    events: events.clone(),
                    clock,
                    default_timezone: settings.scheduler.timezone,
                    max_concurrent: settings.scheduler.max_concurrent,
                    dead_after_checkins: settings.scheduler.dead_after_checkins,
                },
            })
        });
        let node = Node {
            settings,
            store,
            scheduler,
            executor,
            events,
            cluster,
            pruner,
            notifier,
            stop: CancellationToken::new(),
            declared_dead: CancellationToken::new(),
            http,
        };
        Ok((node, report))
    }

    pub fn id(&self) -> &str {
        &self.settings.node_id
    }

    /// Where the HTTP API listens (the port actually bound when
    /// `[http] listen` asked for port 0); None without `[http] listen`.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    /// The node's pruner of fire history.
    pub fn pruner(&self) -> &Pruner {
        &self.pruner
    }

    /// The node's notifier.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
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
        // Before the scheduler, so the metrics see every fire.
        let http_server = self.http.as_ref().and_then(|h| {
            // The lock is only held here, and nothing panics while holding it.
            let listener = h.listener.lock().ok()?.take()?;
            Some(http::Server::start(
                listener,
                h.api.clone(),
                h.protection.clone(),
            ))
        });
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
        let database_lost = CancellationToken::new();
        let watch_task = tokio::spawn(watch_database(
            self.store.clone(),
            scheduler_stop.clone(),
            database_lost.clone(),
        ));
        let pruner_task = tokio::spawn({
            let pruner = self.pruner.clone();
            let stop = scheduler_stop.clone();
            async move { pruner.run(stop).await }
        });
        let notifier_task = tokio::spawn({
            let notifier = self.notifier.clone();
            let stop = scheduler_stop.clone();
            async move { notifier.run(stop).await }
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
            _ = database_lost.cancelled() => {}
        }
        let declared_dead = self.declared_dead.is_cancelled();
        scheduler_stop.cancel();
        let report = self.shutdown(scheduler_task, declared_dead).await;
        if let Some(server) = http_server {
            server.shutdown(http::SHUTDOWN_DEADLINE).await;
        }
        let _ = listener_task.await;
        let _ = watch_task.await;
        let _ = pruner_task.await;
        let _ = notifier_task.await;
        cluster_stop.cancel();
        let _ = cluster_task.await;
        if !declared_dead {
            self.cluster.leave().await;
        }
        tracing::info!(node = %self.id(), cancelled = report.cancelled_fires,
            released_leases = report.released_leases, declared_dead, "node stopped");
        ShutdownReport {
            database_lost: self.store.database_fault(),
            ..report
        }
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
        ShutdownReport {
            released_leases,
            cancelled_fires: cancelled,
            declared_dead,
            database_lost: None,
        }
    }
}

/// The pruner of fire history and the notifier of `[[notify]]` rules,
/// whose rules the store records events for from now on.
fn chores(
    settings: &Settings,
    config: &Config,
    store: &Store,
    clock: &Arc<dyn Clock>,
    registry: &JobRegistry,
) -> (Pruner, Notifier) {
    let pruner = Pruner::new(
        PrunerConfig::new(settings.node_id.clone(), settings.scheduler.keep_fires),
        store.clone(),
        clock.clone(),
    );
    store.set_notify_rules(config.notify.clone());
    let notifier = Notifier::new(
        NotifierConfig::new(settings.node_id.clone()),
        store.clone(),
        clock.clone(),
        registry.clone(),
    );
    (pruner, notifier)
}

/// The HTTP API's socket and guards, when `[http] listen` asks for one: the
/// token secrets are read and the address bound here.
async fn bind_http(
    config: &Config,
) -> Result<Option<(http::Listener, http::Protection)>, NodeError> {
    let Some(addr) = config.http.listen else {
        return Ok(None);
    };
    let protection = http::Protection::from_settings(&config.http)?;
    let listener = http::Listener::bind(addr)
        .await
        .map_err(|source| NodeError::Listen { addr, source })?;
    Ok(Some((listener, protection)))
}
