//! Cluster membership: check-ins, clock offset, dead-node detection and
//! recovery.
//!
//! ```text
//!   register (active, recover own leftovers)
//!        │
//!        ▼
//!   ┌─ check in ──► offset measured ──► healthy? ──► declare dead peers ──► recover their fires
//!   │      │ 0 rows: declared dead by a peer ──► stop the node
//!   └──────┴──── every checkin_interval (jittered) ◄──────────────────────────────┘
//! ```
//!
//! [`Cluster::run_once`] is one round; [`Cluster::run`] is the thin loop.
//! A node only judges its peers after `dead_after` consecutive successful
//! check-ins of its own, so after a database outage (when everyone's
//! check-in is stale) the peers get time to check in before anyone is
//! declared dead. An outage need not fail a check-in: the connection pool
//! waits for the database to come back, and the round just takes long. So
//! a check-in that comes longer than the dead threshold after the
//! previous one also starts the count again, and an offset measured over
//! a slow round trip is not applied (it would be off by half of it).
//! The database decides membership: a node that was only
//! slow finds its check-in refused, and stops.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, OffsetClock};
use crate::events::{Events, SchedulerEvent};
use crate::store::{NodeCheckin, Recovery, Store, StoreError};

/// An offset measured over a longer round trip than this is not applied:
/// its error is up to half the round trip.
pub const MAX_OFFSET_ROUND_TRIP_MS: i64 = 1000;

/// What the cluster loop needs, fixed at start.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: String,
    pub pools: Vec<String>,
    pub checkin_interval: Duration,
    /// A peer is dead after this many check-in intervals without one.
    pub dead_after: u32,
    /// Measure the offset to the database clock at each check-in (always,
    /// in a node; off where a test drives a manual clock).
    pub measure_clock_offset: bool,
}

/// What one round found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// This node was declared dead by a peer: it must stop.
    pub declared_dead: bool,
    /// Peers this round declared dead, with what was recovered of each.
    pub recovered: Vec<(String, Recovery)>,
    /// The clock offset measured this round (ms), if any.
    pub offset_ms: Option<i64>,
}

/// The node's membership in the cluster.
#[derive(Debug)]
pub struct Cluster<C: Clock> {
    config: ClusterConfig,
    store: Store,
    clock: Arc<OffsetClock<C>>,
    events: Events,
    host: String,
    healthy_checkins: std::sync::atomic::AtomicU32,
    /// When this node's last check-in (or registration) succeeded.
    last_checkin: Mutex<Option<Instant>>,
}

impl<C: Clock> Cluster<C> {
    pub fn new(
        config: ClusterConfig,
        store: Store,
        clock: Arc<OffsetClock<C>>,
        events: Events,
    ) -> Self {
        Cluster {
            config,
            store,
            clock,
            events,
            host: crate::os::hostname(),
            healthy_checkins: std::sync::atomic::AtomicU32::new(0),
            last_checkin: Mutex::new(None),
        }
    }

    fn checkin<'a>(&'a self, now_ms: i64) -> NodeCheckin<'a> {
        NodeCheckin {
            node_id: &self.config.node_id,
            host: &self.host,
            pid: i64::from(std::process::id()),
            version: env!("CARGO_PKG_VERSION"),
            pools: &self.config.pools,
            now_ms,
            checkin_interval_ms: self.config.checkin_interval.as_millis() as i64,
            clock_offset_ms: self.clock.offset_ms(),
        }
    }

    /// Measures the offset of this node's clock to the database's
    /// (PostgreSQL; SQLite shares the host clock) and applies it.
    async fn measure_offset(&self) -> Result<Option<i64>, StoreError> {
        if !self.config.measure_clock_offset {
            return Ok(None);
        }
        let before = self.clock.inner().now_ms();
        let Some(db_now) = self.store.database_now_ms().await? else {
            return Ok(None);
        };
        let after = self.clock.inner().now_ms();
        if after - before > MAX_OFFSET_ROUND_TRIP_MS {
            // Say, the pool waited for a database that was down.
            tracing::info!(
                round_trip_ms = after - before,
                "clock offset not measured: round trip too slow"
            );
            return Ok(None);
        }
        // The database read its clock somewhere in [before, after]; the
        // midpoint is the best estimate, off by at most half the round trip.
        let offset = db_now - (before + (after - before) / 2);
        self.clock.set_offset_ms(offset);
        Ok(Some(offset))
    }

    /// Registers the node (at start): active, with its leftovers recovered.
    pub async fn register(&self) -> Result<Recovery, StoreError> {
        self.measure_offset().await?;
        let recovery = self
            .store
            .node_register(&self.checkin(self.clock.now_ms()))
            .await?;
        if recovery.abandoned + recovery.refired > 0 {
            tracing::warn!(node = %self.config.node_id, refired = recovery.refired,
                rerun = recovery.rerun, abandoned = recovery.abandoned,
                "recovered fires a previous run of this node left running");
        }
        self.healthy_checkins
            .store(0, std::sync::atomic::Ordering::Relaxed);
        *self.last_checkin_lock() = Some(Instant::now());
        Ok(recovery)
    }

    /// One round: check in, then (when healthy) declare dead peers and
    /// recover their fires.
    pub async fn run_once(&self) -> Result<Round, StoreError> {
        use std::sync::atomic::Ordering;
        let mut round = Round {
            offset_ms: self.measure_offset().await?,
            ..Round::default()
        };
        let now_ms = self.clock.now_ms();
        if !self.store.node_checkin(&self.checkin(now_ms)).await? {
            round.declared_dead = true;
            return Ok(round);
        }
        self.events.emit(SchedulerEvent::CheckedIn);
        let now = Instant::now();
        let previous = self.last_checkin_lock().replace(now);
        let threshold = self.config.checkin_interval * self.config.dead_after;
        if let Some(gap) = previous
            .map(|t| now.duration_since(t))
            .filter(|gap| *gap > threshold)
        {
            // This node was out of touch as long as a dead one: so may its
            // peers have been (a database outage). Judge no one yet.
            tracing::info!(node = %self.config.node_id, ?gap,
                "late check-in: judging no peer until check-ins are regular again");
            self.healthy_checkins.store(0, Ordering::Relaxed);
        }
        let healthy = self.healthy_checkins.fetch_add(1, Ordering::Relaxed) + 1;
        if healthy < self.config.dead_after {
            return Ok(round);
        }
        let mut dead = self
            .store
            .declare_dead_nodes(&self.config.node_id, now_ms, self.config.dead_after)
            .await?;
        // A recovery that failed halfway (the database went away after the
        // declaration) is done again: the node is dead, its fires wait.
        for node in self.store.dead_nodes_with_running_fires().await? {
            if !dead.contains(&node) {
                dead.push(node);
            }
        }
        for node in dead {
            let recovery = self
                .store
                .recover_node_fires(&node, &self.config.node_id, self.clock.now_ms())
                .await?;
            tracing::warn!(dead = %node, refired = recovery.refired, rerun = recovery.rerun,
                abandoned = recovery.abandoned, "recovered the fires of a dead node");
            self.events.emit(SchedulerEvent::Recovered {
                node: node.clone(),
                // Every fire that runs again: never started, or rerun.
                rerun: (recovery.refired + recovery.rerun) as usize,
                abandoned: recovery.abandoned as usize,
            });
            round.recovered.push((node, recovery));
        }
        Ok(round)
    }

    fn last_checkin_lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // An instant cannot be left half-written by a panicking holder.
        self.last_checkin.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The loop. Returns when `stop` is cancelled, or after cancelling
    /// `declared_dead` when a peer declared this node dead.
    pub async fn run(&self, stop: CancellationToken, declared_dead: CancellationToken) {
        use std::sync::atomic::Ordering;
        let mut failing = false;
        while !stop.is_cancelled() {
            let interval = self.config.checkin_interval;
            let wait = match self.run_once().await {
                Ok(round) if round.declared_dead => {
                    tracing::error!(node = %self.config.node_id,
                        "this node was declared dead by a peer (it missed its check-ins); stopping");
                    declared_dead.cancel();
                    return;
                }
                Ok(_) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(node = %self.config.node_id, "checking in again");
                    }
                    interval
                }
                Err(e) => {
                    self.healthy_checkins.store(0, Ordering::Relaxed);
                    // Once per outage; retried soon, so that the node checks
                    // in as soon as the database is back.
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(error = %e, "check-in failed; retrying until the database answers");
                    }
                    interval.min(crate::store::MAX_RETRY_WAIT)
                }
            };
            let jitter = wait.mul_f64(rand::rng().random_range(0.0..0.1));
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait.saturating_sub(jitter)) => {}
            }
        }
    }

    /// Marks the node stopped (clean shutdown), so peers do not wait for it
    /// to time out.
    pub async fn leave(&self) {
        if let Err(e) = self
            .store
            .node_stop(&self.config.node_id, self.clock.now_ms())
            .await
        {
            tracing::warn!(error = %e, "cannot mark the node stopped");
        }
    }
}
