//! The benchmark behind `cosched bench`: how fast this scheduler fires on
//! your database, measured with real nodes and counted from the tables.
//!
//! A run creates a job of the built-in `noop` kind (so the scheduler is
//! measured, not process start-up), or with `--kind http` of the `http`
//! kind (a POST of the fire's context to `--url`, by default to a server
//! the bench runs on loopback that answers 204 at once: the kind's own
//! cost beside `noop`'s), named `bench-<random>`, in a pool of the same
//! name: the bench nodes fire nothing else, and nodes already serving the
//! database never fire the bench's triggers. It starts `M` nodes
//! ([`fleet`]): real [`crate::node::Node`]s in this process, or with
//! `--processes` real `cosched serve` child processes, as a deployment runs
//! them. Then, by mode:
//!
//! - `burst`: `N` one-off triggers all due at one instant a little in the
//!   future, then waits until every fire has finished;
//! - `steady`: a producer inserts one-off triggers at rate `R` for a
//!   duration `D`, each due a fixed lead after it is inserted;
//! - `scale`: `--jobs N` cron jobs all due on second 0 of every minute,
//!   for `--waves` minutes ([`scale`]);
//! - `bare`: no scheduler, the bare SQL of `N` fires in batches: the
//!   database's ceiling for a burst (`ceiling`).
//!
//! One-offs reach the database through plain SQL (a multi-row `INSERT`, as
//! any producer may write it) or, with `--feed client`, one
//! [`Client::schedule_at`] call each. Everything reported is read back
//! from the `fires` and `triggers` tables (see [`Store::bench_tally`]):
//! throughput (fires ÷ the time from the first due instant to the last
//! finish), lateness (`started_at − scheduled_at`), fires per node, and
//! lost (a trigger with no fire) and duplicated (a trigger with two first
//! attempts) fires; beside them the CPU the database server and the nodes
//! spent per fire and the nodes' memory ([`meter`]). The bench's jobs and
//! their history are deleted afterwards unless `keep`.

mod ceiling;
pub mod cpu;
mod fleet;
mod load;
pub mod meter;
mod processes;
mod report;
pub mod scale;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::client::{Client, ClientError};
use crate::clock::{Clock, SystemClock};
use crate::jobs::JobRegistry;
use crate::model::{Job, JobDef};
use crate::node::NodeError;
use crate::store::{Store, StoreError};
use fleet::Fleet;
use load::{Load, Run};
use meter::{Cost, Meter};
pub use processes::ProcessUsage;
pub use report::{BenchReport, Lateness, NodeFires};
use scale::{Scale, ScaleReport};

/// What to measure: the plain values behind `cosched bench`'s flags.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    pub database: String,
    /// `burst`: N triggers due at one instant; `steady`: R triggers a
    /// second for a duration.
    pub mode: Mode,
    /// Burst: how many one-off triggers.
    pub triggers: u64,
    /// Steady: triggers inserted per second.
    pub rate: f64,
    /// Steady: for how long.
    pub duration: Duration,
    /// How far ahead of its insertion a trigger is due (None: 2 s for a
    /// burst, 100 ms for the steady producer).
    pub lead: Option<Duration>,
    /// Scheduler nodes to run.
    pub nodes: usize,
    /// Run the nodes as `serve` child processes of this program (None:
    /// in this process).
    pub serve_program: Option<PathBuf>,
    /// How one-offs reach the database.
    pub feed: Feed,
    /// Scale: cron jobs, all due on second 0 of every minute.
    pub jobs: u64,
    /// Scale: one-off triggers stored far ahead beside them.
    pub stored: u64,
    /// Scale: how many minutes' waves.
    pub waves: u32,
    /// Scale: the time a wave may take, from its instant to its last finish.
    pub wave_budget: Duration,
    /// Each node's executor slots (`max_concurrent`).
    pub max_concurrent: usize,
    /// The bench job's kind.
    pub kind: BenchKind,
    /// With `BenchKind::Http`: the URL every fire requests (None: a server
    /// the bench runs on 127.0.0.1 that answers 204 at once).
    pub url: Option<String>,
    /// Keep the bench job and its history instead of deleting them.
    pub keep: bool,
}

/// Why a bench could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A plan or a database the bench refuses (exit 2).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Anything else that stopped the run (exit 1).
    #[error("{0}")]
    Failed(String),
}

crate::closed_enum::closed_enum! {
    /// `burst` (N triggers due at one instant), `steady` (R a second) or
    /// `scale` (N cron jobs due on the same second every minute).
    pub enum Mode: "bench mode" {
        Burst = "burst",
        Steady = "steady",
        Scale = "scale",
        Bare = "bare",
    }
}

crate::closed_enum::closed_enum! {
    /// How one-offs reach the database: plain SQL or the `Client`.
    pub enum Feed: "bench feed" {
        Sql = "sql",
        Client = "client",
    }
}

crate::closed_enum::closed_enum! {
    /// The kind of the bench job.
    pub enum BenchKind: "bench job kind" {
        Noop = "noop",
        Http = "http",
    }
}

/// Runs one bench and reads its result from the tables.
pub async fn measure(args: &BenchPlan) -> Result<BenchReport, BenchError> {
    check(args)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Store::connect(&args.database).await?;
    store.migrate().await?;
    let (config_jobs, config_calendars) = store.bench_config_declared().await?;
    if config_jobs + config_calendars > 0 {
        // Node::start reconciles its configuration; the bench's is empty.
        return Err(BenchError::Refused(format!(
            "{} holds {config_jobs} job(s) and {config_calendars} calendar(s) declared in a \
             configuration file; a bench node reconciles an empty one and would delete them: \
             run the bench on a database of its own (e.g. a new database on the same server)",
            store.display_url()
        )));
    }
    if store.is_standby().await? {
        return Err(BenchError::Refused(
            "the database is in standby: no fire would start (`cosched standby off`)".into(),
        ));
    }
    let name = format!("bench-{:08x}", rand::random::<u32>());
    let client = Client::new(store.clone(), clock.clone(), JobRegistry::with_builtins());
    // The loopback server lives as long as this run (aborted on drop).
    let (def, server) = match args.kind {
        BenchKind::Noop => (JobDef::new(&name, "noop"), None),
        BenchKind::Http => {
            let (url, server) = match &args.url {
                Some(url) => (url.clone(), None),
                None => {
                    let (url, server) = answer_at_once().await?;
                    (url, Some(server))
                }
            };
            let mut def = JobDef::new(&name, "http");
            def.settings = serde_json::json!({ "url": url });
            (def, server.map(AbortOnDrop))
        }
    };
    let mut def = def;
    def.pool = name.clone();
    let url = def.settings["url"].as_str().map(str::to_string);
    let job = client.create_job_def(&def, None).await?;
    let outcome = drive(args, &store, &client, &job, &clock).await;
    drop(server);
    let tally = match &outcome {
        Ok(Driven::Load(..)) => Some(store.bench_tally(job.id).await),
        _ => None,
    };
    if !args.keep {
        match store.bench_delete_pool(&name).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(job = %name, error = %e, "cannot delete the bench's jobs"),
        }
    }
    let mut report = match outcome? {
        Driven::Load(run, cost) => {
            let tally = tally.transpose()?.unwrap_or_default();
            report::report(args, &store, name, run, tally, cost)
        }
        Driven::Scale(scale, cost) => scale_report(args, &store, name, scale, cost),
    };
    report.url = url;
    Ok(report)
}

fn scale_report(
    plan: &BenchPlan,
    store: &Store,
    name: String,
    scale: ScaleReport,
    cost: Cost,
) -> BenchReport {
    let fires = scale.waves.iter().map(|w| w.fires).sum();
    BenchReport {
        triggers: plan.jobs * u64::from(plan.waves),
        fires,
        finished: scale.waves.iter().map(|w| w.finished).sum(),
        succeeded: scale.waves.iter().map(|w| w.finished).sum(),
        lost: scale.waves.iter().map(|w| w.lost).sum::<u64>()
            + plan.jobs * u64::from(plan.waves).saturating_sub(scale.waves.len() as u64),
        cost,
        scale: Some(scale),
        ..report::empty(plan, store, name)
    }
}

/// Serves 204 No Content to every request on an ephemeral loopback port.
async fn answer_at_once() -> Result<(String, JoinHandle<()>), BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::Failed(format!("cannot listen on 127.0.0.1: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::Failed(format!("cannot read the bench server's address: {e}")))?;
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the bench's HTTP server stopped");
        }
    });
    Ok((format!("http://{addr}/"), server))
}

/// A task stopped when its handle is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn check(args: &BenchPlan) -> Result<(), BenchError> {
    let bad = |m: &str| Err(BenchError::Refused(m.to_string()));
    if args.url.is_some() && args.kind != BenchKind::Http {
        return bad("--url is for --kind http");
    }
    if args.nodes == 0 {
        return bad("--nodes must be at least 1");
    }
    if args.max_concurrent == 0 {
        return bad("--max-concurrent must be at least 1");
    }
    match args.mode {
        Mode::Burst if args.triggers == 0 => bad("--triggers must be at least 1"),
        Mode::Steady if !(args.rate.is_finite() && args.rate > 0.0) => {
            bad("--rate must be a positive number of triggers per second")
        }
        Mode::Steady if args.duration.is_zero() => bad("--duration must be positive"),
        Mode::Scale if args.jobs == 0 => bad("--jobs must be at least 1"),
        Mode::Scale if args.waves == 0 => bad("--waves must be at least 1"),
        Mode::Scale if args.wave_budget.is_zero() || args.wave_budget > Duration::from_secs(55) => {
            bad("--wave-budget must be between 1ms and 55s (a wave comes every minute)")
        }
        _ => Ok(()),
    }
}

/// What a run produced before the tally.
enum Driven {
    Load(Run, Cost),
    Scale(ScaleReport, Cost),
}

/// Starts the nodes, drives the mode's load, and stops the nodes (also
/// when something failed on the way). The CPU meter and the nodes'
/// memory are read while the nodes still run.
async fn drive(
    plan: &BenchPlan,
    store: &Store,
    client: &Client,
    job: &Job,
    clock: &Arc<dyn Clock>,
) -> Result<Driven, BenchError> {
    let meter = Meter::new(store).await?;
    let scale = Scale {
        plan,
        store,
        clock,
        pool: &job.pool,
    };
    let first_wave = if plan.mode == Mode::Scale {
        Some(scale.populate(job).await?)
    } else {
        None
    };
    if plan.mode == Mode::Bare {
        let fleet = Fleet::InProcess(Vec::new());
        let run = ceiling::bare(plan, store, job, clock, &meter, &fleet).await?;
        let fires = store.bench_finished(job.id).await?;
        let cost = Meter::cost(run.from, run.to, fires, &fleet);
        return Ok(Driven::Load(run, cost));
    }
    let fleet = Fleet::start(plan, &job.pool, store, clock.clone()).await?;
    let result = async {
        if let Some(first) = first_wave {
            let (report, from, to) = scale.waves(first, &fleet, &meter).await?;
            let fires = report.waves.iter().map(|w| w.fires).sum();
            return Ok(Driven::Scale(report, Meter::cost(from, to, fires, &fleet)));
        }
        let load = Load {
            plan,
            store,
            client,
            job,
            clock,
            meter: &meter,
            fleet: &fleet,
        };
        let run = match plan.mode {
            Mode::Steady => load.steady().await?,
            _ => load.burst().await?,
        };
        let fires = store.bench_finished(job.id).await?;
        let cost = Meter::cost(run.from, run.to, fires, &fleet);
        Ok(Driven::Load(run, cost))
    }
    .await;
    fleet.stop().await;
    result
}
