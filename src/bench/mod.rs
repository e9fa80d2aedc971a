//! The benchmark behind `cosched bench`: how fast this scheduler fires on
//! your database, measured with real nodes and counted from the tables.
//!
//! A run creates a job of the built-in `noop` kind (so the scheduler is
//! measured, not process start-up), or with `--kind http` of the `http`
//! kind (a POST of the fire's context to `--url`, by default to a server
//! the bench runs on loopback that answers 204 at once: the kind's own
//! cost beside `noop`'s), named `bench-<random>`, in a pool of
//! the same name: the bench nodes fire nothing else, and nodes already
//! serving the database never fire the bench's triggers. It starts `M`
//! real [`Node`]s in this process (each with its own id and connection
//! pool, as separate processes would have), then:
//!
//! - `burst`: inserts `N` one-off triggers all due at one instant a little
//!   in the future and waits until every fire has finished;
//! - `steady`: a producer inserts one-off triggers at rate `R` for a
//!   duration `D`, each due a fixed lead after it is inserted, then waits
//!   for the last to finish.
//!
//! Everything reported is read back from the `fires` and `triggers` tables
//! (see [`Store::bench_tally`]): throughput (fires ÷ the time from the
//! first due instant to the last finish), lateness (`started_at −
//! scheduled_at`), fires per node, and lost (a trigger with no fire) and
//! duplicated (a trigger with two first attempts) fires. The job and its
//! history are deleted afterwards unless `keep`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::client::{Client, ClientError};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Settings};
use crate::jobs::JobRegistry;
use crate::model::{Job, JobDef};
use crate::node::{Node, NodeError, ShutdownReport};
use crate::store::bench::BenchTally;
use crate::store::{Store, StoreError, redact};

/// How long the finished count may stay still, after the last trigger
/// came due, before the bench stops waiting (and reports what is lost).
/// Longer than a lease, so a fire whose lease expired is retaken first.
const STALL_TIMEOUT: Duration = Duration::from_secs(45);

/// How often the bench counts finished fires while it waits.
const POLL: Duration = Duration::from_millis(50);

/// The steady producer's tick: it inserts what came due since the last.
const PRODUCER_TICK: Duration = Duration::from_millis(10);

/// Measure fires per second and lateness on a database.
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
    /// Scheduler nodes to run in this process.
    pub nodes: usize,
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
    /// `burst` (N triggers due at one instant) or `steady` (R a second).
    pub enum Mode: "bench mode" {
        Burst = "burst",
        Steady = "steady",
    }
}

crate::closed_enum::closed_enum! {
    /// The kind of the bench job.
    pub enum BenchKind: "bench job kind" {
        Noop = "noop",
        Http = "http",
    }
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub database: String,
    pub backend: &'static str,
    pub mode: Mode,
    pub kind: BenchKind,
    /// The URL of an `http` bench job.
    pub url: Option<String>,
    pub nodes: usize,
    pub max_concurrent: usize,
    /// The bench job (deleted after the run unless `--keep`).
    pub job: String,
    pub kept: bool,
    /// Triggers inserted.
    pub triggers: u64,
    /// Steady: the rate asked for, and the rate the producer achieved.
    pub rate: Option<f64>,
    pub producer_rate: Option<f64>,
    pub lead_ms: u64,
    /// Triggers inserted per second (burst: the bulk insert alone).
    pub insert_per_second: f64,
    /// First-attempt fire rows, and those finished, and succeeded.
    pub fires: u64,
    pub finished: u64,
    pub succeeded: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// From the first due instant to the last finish.
    pub elapsed_seconds: f64,
    pub fires_per_second: f64,
    pub lateness_ms: Lateness,
    pub per_node: Vec<NodeFires>,
}

/// `started_at − scheduled_at` over the run's fires, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Lateness {
    pub p50: i64,
    pub p99: i64,
    pub max: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeFires {
    pub node: Option<String>,
    pub fires: u64,
}

impl BenchReport {
    /// No fire lost, none recorded twice.
    pub fn exact(&self) -> bool {
        self.lost == 0 && self.duplicated == 0
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
    let outcome = drive(args, &store, &job, &clock).await;
    drop(server);
    let tally = match &outcome {
        Ok(_) => store.bench_tally(job.id).await,
        Err(_) => Ok(BenchTally::default()),
    };
    if !args.keep
        && let Err(e) = store.job_delete(&name).await
    {
        tracing::warn!(job = %name, error = %e, "cannot delete the bench job");
    }
    let run = outcome?;
    let tally = tally?;
    let mut report = report(args, &store, name, run, tally);
    report.url = url;
    Ok(report)
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
        _ => Ok(()),
    }
}

/// What the driver saw, beside the tables.
struct Run {
    triggers: u64,
    lead: Duration,
    insert_per_second: f64,
    producer_rate: Option<f64>,
}

/// Starts the nodes, inserts the triggers, waits for the fires, and stops
/// the nodes (also when something failed on the way).
async fn drive(
    args: &BenchPlan,
    store: &Store,
    job: &Job,
    clock: &Arc<dyn Clock>,
) -> Result<Run, BenchError> {
    let mut nodes = Nodes::default();
    let result = async {
        for i in 1..=args.nodes {
            nodes.start(args, &job.name, i, clock.clone()).await?;
        }
        let run = match args.mode {
            Mode::Burst => burst(args, store, job, clock).await?,
            Mode::Steady => steady(args, store, job, clock).await?,
        };
        Ok(run)
    }
    .await;
    nodes.stop().await;
    result
}

async fn burst(
    args: &BenchPlan,
    store: &Store,
    job: &Job,
    clock: &Arc<dyn Clock>,
) -> Result<Run, BenchError> {
    let lead = args.lead.unwrap_or(Duration::from_secs(2));
    let due_at = clock.now_ms() + millis(lead) as i64;
    let due = vec![due_at; usize::try_from(args.triggers).unwrap_or(usize::MAX)];
    let started = Instant::now();
    store.bench_insert_once(job, &due, clock.now_ms()).await?;
    let inserting = started.elapsed();
    if clock.now_ms() > due_at {
        tracing::warn!(
            ?inserting,
            ?lead,
            "inserting took longer than --lead: lateness includes the insert"
        );
    }
    let until_due = Duration::from_millis(u64::try_from(due_at - clock.now_ms()).unwrap_or(0));
    wait_finished(store, job.id, args.triggers, Instant::now() + until_due).await?;
    Ok(Run {
        triggers: args.triggers,
        lead,
        insert_per_second: per_second(args.triggers, inserting),
        producer_rate: None,
    })
}

/// Trigger `k` is due at `start + lead + k / rate`, inserted `lead` ahead
/// of that: each tick inserts those whose insertion instant has passed.
async fn steady(
    args: &BenchPlan,
    store: &Store,
    job: &Job,
    clock: &Arc<dyn Clock>,
) -> Result<Run, BenchError> {
    let lead = args.lead.unwrap_or(Duration::from_millis(100));
    let total = (args.rate * args.duration.as_secs_f64()).round().max(1.0) as u64;
    let first_due = clock.now_ms() + millis(lead) as i64;
    let due_of = |k: u64| first_due + (k as f64 * 1000.0 / args.rate) as i64;
    let started = Instant::now();
    let mut inserted = 0u64;
    let mut tick = tokio::time::interval(PRODUCER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while inserted < total {
        tick.tick().await;
        let owed = ((started.elapsed().as_secs_f64() * args.rate) as u64 + 1).min(total);
        if owed > inserted {
            let due: Vec<i64> = (inserted..owed).map(due_of).collect();
            store.bench_insert_once(job, &due, clock.now_ms()).await?;
            inserted = owed;
        }
    }
    let producing = started.elapsed();
    wait_finished(store, job.id, total, Instant::now() + lead).await?;
    Ok(Run {
        triggers: total,
        lead,
        insert_per_second: per_second(total, producing),
        producer_rate: Some(per_second(total, producing)),
    })
}

/// Waits until `expected` fires of the job have finished, or until the
/// count has not moved for [`STALL_TIMEOUT`] after `due_by` (then the
/// tally reports what is missing).
async fn wait_finished(
    store: &Store,
    job_id: i64,
    expected: u64,
    due_by: Instant,
) -> Result<(), BenchError> {
    let mut last = 0;
    let mut moved = due_by;
    loop {
        let finished = store.bench_finished(job_id).await?;
        if finished >= expected {
            return Ok(());
        }
        let now = Instant::now();
        if finished != last {
            last = finished;
            moved = moved.max(now);
        } else if now > moved + STALL_TIMEOUT {
            tracing::warn!(
                finished,
                expected,
                "no fire finished for {STALL_TIMEOUT:?}; reporting what there is"
            );
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The bench's nodes, running until stopped.
#[derive(Default)]
struct Nodes {
    running: Vec<(Node, JoinHandle<ShutdownReport>)>,
}

impl Nodes {
    /// Starts node `i` of the bench `name`: its own id and connections,
    /// serving only the bench's pool.
    async fn start(
        &mut self,
        args: &BenchPlan,
        name: &str,
        i: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<(), BenchError> {
        let config = Config::default();
        let mut settings = Settings::resolve(Some(args.database.clone()), &config);
        settings.node_id = format!("{name}-{i}");
        settings.scheduler.max_concurrent = args.max_concurrent;
        settings.scheduler.pools = vec![name.to_string()];
        let (node, _) = Node::start(settings, &config, JobRegistry::with_builtins(), clock).await?;
        let handle = tokio::spawn({
            let node = node.clone();
            async move { node.run(std::future::pending()).await }
        });
        self.running.push((node, handle));
        Ok(())
    }

    /// Stops every node and waits for each to shut down.
    async fn stop(self) {
        for (node, _) in &self.running {
            node.stop_token().cancel();
        }
        for (node, handle) in self.running {
            if let Err(e) = handle.await {
                tracing::warn!(node = %node.id(), error = %e, "bench node ended abnormally");
            }
        }
    }
}

fn report(args: &BenchPlan, store: &Store, job: String, run: Run, t: BenchTally) -> BenchReport {
    let elapsed_ms = match (t.first_scheduled_at, t.last_finished_at) {
        (Some(first), Some(last)) => (last - first).max(1),
        _ => 0,
    };
    let elapsed_seconds = elapsed_ms as f64 / 1000.0;
    BenchReport {
        database: redact(&args.database),
        backend: store.backend_name(),
        mode: args.mode,
        kind: args.kind,
        url: None,
        nodes: args.nodes,
        max_concurrent: args.max_concurrent,
        job,
        kept: args.keep,
        triggers: run.triggers,
        rate: (args.mode == Mode::Steady).then_some(args.rate),
        producer_rate: run.producer_rate,
        lead_ms: millis(run.lead),
        insert_per_second: run.insert_per_second,
        fires: t.fires,
        finished: t.finished,
        succeeded: t.succeeded,
        lost: t.lost,
        duplicated: t.duplicated,
        elapsed_seconds,
        fires_per_second: if elapsed_ms > 0 {
            t.fires as f64 / elapsed_seconds
        } else {
            0.0
        },
        lateness_ms: Lateness {
            p50: percentile(&t.lateness_ms, 50.0),
            p99: percentile(&t.lateness_ms, 99.0),
            max: t.lateness_ms.last().copied().unwrap_or(0),
        },
        per_node: t
            .per_node
            .into_iter()
            .map(|(node, fires)| NodeFires { node, fires })
            .collect(),
    }
}

/// The nearest-rank percentile of ascending values (0 when empty).
fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn per_second(n: u64, over: Duration) -> f64 {
    n as f64 / over.as_secs_f64().max(1e-6)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
