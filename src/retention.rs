//! Fire-history retention: the pruner that keeps `fires` to the policy of
//! `[scheduler] keep_fires` and each job's own `keep_fires`, and the prune
//! by hand behind `cosched fires prune`.
//!
//! [`Pruner::run_once`] is one full pass: take the cluster-wide prune
//! lease (a node that does not get it does nothing), then for every job
//! remove, in steps of at most `batch` rows with a pause between, its
//! fires older than their status's age and those beyond its row cap. A
//! read first tells whether a job's scope has anything to remove, so a
//! pass over many jobs with little to prune (100,000 cron jobs: a write
//! transaction per job and scope made it the busiest writer on the
//! database during a wave) writes only where it deletes, and renews the
//! lease once per page of jobs.
//! Each pass also removes sent and failed notifications older than
//! [`NOTIFICATION_RETENTION`] (30 days).
//! [`Pruner::run`] is the thin loop around it. The store keeps the newest
//! fire of each status of each job and never touches `queued`/`running`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::declare::ranges;
use crate::model::{FireStatus, Job, KeepFires, PRUNABLE_STATUSES};
use crate::store::{PruneLease, PruneScope, PruneStep, Store, StoreError};

/// Jobs read per page by a pass over every job (and by a prune by hand).
const JOBS_PAGE: u64 = 500;

/// How long sent and failed notifications are kept.
pub const NOTIFICATION_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How the pruner runs.
#[derive(Debug, Clone)]
pub struct PrunerConfig {
    pub node_id: String,
    /// The policy of jobs that set none of their own.
    pub keep: KeepFires,
    /// At most this many rows per transaction.
    pub batch: u64,
    /// The pause between two steps, leaving the database to the hot path.
    pub pause: Duration,
    /// Time between two passes.
    pub interval: Duration,
    /// How long the prune lease holds without a step extending it.
    pub lease: Duration,
    /// Jobs read per page of a pass: its memory follows the page, not the
    /// number of jobs (or of their triggers).
    pub jobs_page: u64,
}

impl PrunerConfig {
    /// The defaults: 1 000 rows a step, 50 ms apart, a pass every 10
    /// minutes under a 5 minute lease, jobs read 500 at a time.
    pub fn new(node_id: impl Into<String>, keep: KeepFires) -> Self {
        Self {
            node_id: node_id.into(),
            keep,
            batch: 1_000,
            pause: Duration::from_millis(50),
            interval: Duration::from_secs(600),
            lease: Duration::from_secs(300),
            jobs_page: JOBS_PAGE,
        }
    }
}

/// What one pass (or a prune by hand) removed, per job and reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// False when another node held the prune lease (nothing was done).
    pub ran: bool,
    pub removed: Vec<PrunedRows>,
}

impl PruneReport {
    /// Rows removed in all.
    pub fn total(&self) -> u64 {
        self.removed.iter().map(|r| r.rows).sum()
    }
}

/// Rows of one job removed for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedRows {
    pub job: String,
    /// The status pruned by age; None: beyond the job's row cap.
    pub status: Option<FireStatus>,
    pub rows: u64,
}

/// What `cosched fires prune` removes: final fires scheduled more than
/// `older_than` ago, of one status or all, of one job or all; the newest
/// fire of each status of each job is kept as always.
#[derive(Debug, Clone)]
pub struct ManualPrune {
    pub older_than: Duration,
    pub status: Option<FireStatus>,
    pub job: Option<String>,
    /// Count, remove nothing.
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// The pruner of one node.
#[derive(Debug, Clone)]
pub struct Pruner {
    config: PrunerConfig,
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Pruner {
    pub fn new(config: PrunerConfig, store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            store,
            clock,
        }
    }

    fn lease(&self) -> PruneLease<'_> {
        let now_ms = self.clock.now_ms();
        PruneLease {
            owner: &self.config.node_id,
            now_ms,
            until_ms: now_ms.saturating_add(ranges::millis(self.config.lease)),
        }
    }

    /// One pass over every job, if this node gets the prune lease.
    pub async fn run_once(&self) -> Result<PruneReport, StoreError> {
        if !self.store.prune_lease_take(&self.lease()).await? {
            return Ok(PruneReport::default());
        }
        let mut report = PruneReport {
            ran: true,
            removed: Vec::new(),
        };
        let mut result = self.prune_all(&mut report).await;
        if result.is_ok() && report.ran {
            result = self.prune_notifications().await;
        }
        // Give the lease up at once, so a pass elsewhere need not wait
        // for it to expire; a node that stops mid-pass lets it expire.
        if result.is_ok() {
            self.store.prune_lease_release(&self.config.node_id).await?;
        }
        result.map(|()| report)
    }

    /// Prunes every job's history, reading the jobs a page at a time.
    async fn prune_all(&self, report: &mut PruneReport) -> Result<(), StoreError> {
        let mut after = 0;
        loop {
            let (jobs, last) = self
                .store
                .jobs_after_id(after, self.config.jobs_page)
                .await?;
            // Only steps that delete extend the lease; a page of jobs
            // with nothing to prune renews it here, so a long pass of
            // reads does not outlive it.
            if !self.store.prune_lease_take(&self.lease()).await? {
                report.ran = false;
                return Ok(());
            }
            // The page's scopes, and which of them may remove anything:
            // a few reads for the whole page.
            let steps: Vec<(&Job, Option<FireStatus>, PruneStep<'_>)> = jobs
                .iter()
                .flat_map(|job| {
                    self.scopes_of(job)
                        .into_iter()
                        .map(move |(status, scope)| (job, status, self.step(job.id, scope)))
                })
                .collect();
            let probes: Vec<PruneStep<'_>> = steps.iter().map(|(_, _, step)| *step).collect();
            let due = self.store.fires_prune_due(&probes).await?;
            for ((job, status, step), due) in steps.iter().zip(due) {
                if !due {
                    continue;
                }
                let Some(rows) = self.prune_scope(step.job_id, step.scope).await? else {
                    // The lease went to another node: stop this pass.
                    report.ran = false;
                    return Ok(());
                };
                if rows > 0 {
                    report.removed.push(PrunedRows {
                        job: job.name.clone(),
                        status: *status,
                        rows,
                    });
                }
            }
            match last {
                Some(id) => after = id,
                None => return Ok(()),
            }
        }
    }

    /// The scopes of one job's history that its policy prunes: each status
    /// with an age, then the row cap.
    fn scopes_of(&self, job: &Job) -> Vec<(Option<FireStatus>, PruneScope)> {
        let keep = self.config.keep.overridden_by(&job.keep_fires);
        let now_ms = self.clock.now_ms();
        let mut scopes: Vec<(Option<FireStatus>, PruneScope)> = PRUNABLE_STATUSES
            .iter()
            .filter_map(|&status| {
                let age = keep.age_of(status)?;
                Some((
                    Some(status),
                    PruneScope::OlderThan {
                        status,
                        before_ms: now_ms.saturating_sub(ranges::millis(age)),
                    },
                ))
            })
            .collect();
        scopes.push((
            None,
            PruneScope::BeyondNewest {
                keep: keep.max_rows,
            },
        ));
        scopes
    }

    /// A step of `scope` on one job, without the lease (a read, or the
    /// base of the steps that delete under it).
    fn step(&self, job_id: i64, scope: PruneScope) -> PruneStep<'static> {
        PruneStep {
            job_id,
            scope,
            limit: self.config.batch,
            lease: None,
        }
    }

    /// Removes sent and failed notifications older than
    /// [`NOTIFICATION_RETENTION`], in steps of `batch`.
    async fn prune_notifications(&self) -> Result<(), StoreError> {
        let before_ms = self
            .clock
            .now_ms()
            .saturating_sub(ranges::millis(NOTIFICATION_RETENTION));
        loop {
            let removed = self
                .store
                .notifications_prune(before_ms, self.config.batch)
                .await?;
            if removed < self.config.batch {
                return Ok(());
            }
            if !self.config.pause.is_zero() {
                tokio::time::sleep(self.config.pause).await;
            }
        }
    }

    /// Removes a scope of one job step by step; None once the lease is lost.
    async fn prune_scope(&self, job_id: i64, scope: PruneScope) -> Result<Option<u64>, StoreError> {
        let mut total = 0;
        loop {
            let step = PruneStep {
                lease: Some(self.lease()),
                ..self.step(job_id, scope)
            };
            let Some(removed) = self.store.fires_prune(&step).await? else {
                return Ok(None);
            };
            total += removed;
            if removed < self.config.batch {
                return Ok(Some(total));
            }
            if !self.config.pause.is_zero() {
                tokio::time::sleep(self.config.pause).await;
            }
        }
    }

    /// Passes every `interval` until `stop`; an error is logged and the
    /// next pass tries again.
    pub async fn run(&self, stop: CancellationToken) {
        loop {
            // A pass stopped mid-step rolls its transaction back; its
            // lease expires on its own.
            let pass = tokio::select! {
                _ = stop.cancelled() => return,
                pass = self.run_once() => pass,
            };
            match pass {
                Ok(report) if report.total() > 0 => {
                    tracing::info!(rows = report.total(), "pruned fire history");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning fire history failed; retrying later"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.config.interval) => {}
            }
        }
    }
}

/// Prunes (or counts, on a dry run) by hand, in steps of `batch` rows,
/// without the lease: what it removes is final history, which a node's
/// pass may remove as well without harm.
pub async fn prune_by_hand(
    store: &Store,
    clock: &dyn Clock,
    what: &ManualPrune,
    batch: u64,
) -> Result<PruneReport, PruneError> {
    let statuses: Vec<FireStatus> = match what.status {
        Some(s) if !s.is_final() => {
            return Err(PruneError::Invalid(format!(
                "`--status {s}`: queued and running fires are never pruned; \
                 expected one of {}",
                PRUNABLE_STATUSES.map(FireStatus::as_str).join(", ")
            )));
        }
        Some(s) => vec![s],
        None => PRUNABLE_STATUSES.to_vec(),
    };
    let before_ms = clock
        .now_ms()
        .saturating_sub(ranges::millis(what.older_than));
    let mut report = PruneReport {
        ran: true,
        removed: Vec::new(),
    };
    let by_hand = ByHand {
        store,
        statuses: &statuses,
        before_ms,
        dry_run: what.dry_run,
        batch,
    };
    match &what.job {
        Some(name) => match store.job_by_name(name).await? {
            Some(job) => by_hand.prune(&job, &mut report).await?,
            None => return Err(PruneError::Invalid(format!("job `{name}` does not exist"))),
        },
        None => {
            // A page of jobs at a time: memory follows the page.
            let mut after = 0;
            while let (jobs, Some(last)) = store.jobs_after_id(after, JOBS_PAGE).await? {
                for job in &jobs {
                    by_hand.prune(job, &mut report).await?;
                }
                after = last;
            }
        }
    }
    Ok(report)
}

/// What a prune by hand does to each job.
struct ByHand<'a> {
    store: &'a Store,
    statuses: &'a [FireStatus],
    before_ms: i64,
    dry_run: bool,
    batch: u64,
}

impl ByHand<'_> {
    /// Prunes (or counts) one job's fires of each status older than the
    /// bound, adding what went to `report`.
    async fn prune(&self, job: &Job, report: &mut PruneReport) -> Result<(), StoreError> {
        for &status in self.statuses {
            let step = PruneStep {
                job_id: job.id,
                scope: PruneScope::OlderThan {
                    status,
                    before_ms: self.before_ms,
                },
                limit: self.batch,
                lease: None,
            };
            let rows = if self.dry_run {
                self.store.fires_prune_count(&step).await?
            } else {
                let mut total = 0;
                loop {
                    let removed = self.store.fires_prune(&step).await?.unwrap_or(0);
                    total += removed;
                    if removed < self.batch {
                        break total;
                    }
                }
            };
            if rows > 0 {
                report.removed.push(PrunedRows {
                    job: job.name.clone(),
                    status: Some(status),
                    rows,
                });
            }
        }
        Ok(())
    }
}
