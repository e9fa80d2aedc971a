//! `cosched bench`: the flags, and the summary it prints. The benchmark
//! itself lives in [`crate::bench`].

use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::bench::{self, BenchError, BenchPlan};

pub use crate::bench::{BenchKind, BenchReport, Feed, Mode};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL")]
    pub database: String,
    /// `burst`: N triggers due at one instant; `steady`: R triggers a
    /// second for a duration; `scale`: `--jobs` cron jobs due on the same
    /// second every minute, for `--waves` minutes.
    #[arg(long, default_value_t = Mode::Burst)]
    pub mode: Mode,
    /// Burst: how many one-off triggers.
    #[arg(long, default_value_t = 20_000)]
    pub triggers: u64,
    /// Steady: triggers inserted per second.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Steady: for how long, e.g. 20s.
    #[arg(long, default_value = "20s", value_parser = duration_arg)]
    pub duration: Duration,
    /// How far ahead of its insertion a trigger is due (burst: of the
    /// first insertion; default 2s), or of the steady producer's (default
    /// 100ms: the nodes learn of the next due instant before it comes).
    #[arg(long, value_parser = duration_arg)]
    pub lead: Option<Duration>,
    /// Scheduler nodes to run.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Run the nodes as real `cosched serve` child processes of this
    /// binary (as a deployment runs them) instead of in this process.
    #[arg(long)]
    pub processes: bool,
    /// How one-offs reach the database: `sql` (a multi-row INSERT) or
    /// `client` (one `Client::schedule_at` call, one transaction, each).
    #[arg(long, default_value_t = Feed::Sql)]
    pub feed: Feed,
    /// Scale: how many cron jobs (`0 * * * * ?`, all due on second 0).
    #[arg(long, default_value_t = 100_000)]
    pub jobs: u64,
    /// Scale: one-off triggers stored far ahead (year 2100) beside them,
    /// to see whether a large table slows the lease.
    #[arg(long, default_value_t = 0)]
    pub stored: u64,
    /// Scale: how many minutes' waves.
    #[arg(long, default_value_t = 3)]
    pub waves: u32,
    /// Scale: the time a wave may take, from its instant to its last finish.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub wave_budget: Duration,
    /// Each node's executor slots (`max_concurrent`).
    #[arg(long, default_value_t = 256)]
    pub max_concurrent: usize,
    /// The bench job's kind: `noop`, or `http` (each fire POSTs its
    /// context to `--url`).
    #[arg(long, default_value_t = BenchKind::Noop)]
    pub kind: BenchKind,
    /// With `--kind http`: the URL every fire requests (default: a server
    /// the bench runs on 127.0.0.1 that answers 204 at once).
    #[arg(long)]
    pub url: Option<String>,
    /// Keep the bench job and its history instead of deleting them.
    #[arg(long)]
    pub keep: bool,
    /// Print JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e}; expected e.g. 20s or 500ms"))
}

impl BenchArgs {
    /// The plan these flags describe (`--processes` runs this very binary).
    pub fn plan(&self) -> Result<BenchPlan, CliError> {
        let serve_program = if self.processes {
            Some(std::env::current_exe().map_err(|e| {
                CliError::Runtime(format!("cannot find this program to run its nodes: {e}"))
            })?)
        } else {
            None
        };
        Ok(BenchPlan {
            database: self.database.clone(),
            mode: self.mode,
            triggers: self.triggers,
            rate: self.rate,
            duration: self.duration,
            lead: self.lead,
            nodes: self.nodes,
            max_concurrent: self.max_concurrent,
            kind: self.kind,
            url: self.url.clone(),
            keep: self.keep,
            serve_program,
            feed: self.feed,
            jobs: self.jobs,
            stored: self.stored,
            waves: self.waves,
            wave_budget: self.wave_budget,
        })
    }
}

impl From<BenchError> for CliError {
    fn from(e: BenchError) -> Self {
        match e {
            BenchError::Refused(m) => CliError::Usage(m),
            BenchError::Store(e) => e.into(),
            BenchError::Client(e) => e.into(),
            BenchError::Node(e) => e.into(),
            BenchError::Failed(m) => CliError::Runtime(m),
        }
    }
}

/// Runs one bench and reads its result from the tables.
pub async fn measure(args: &BenchArgs) -> Result<BenchReport, CliError> {
    Ok(bench::measure(&args.plan()?).await?)
}

/// `cosched bench`: measures, prints, and fails (exit 1) when a fire was
/// lost or duplicated.
pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    let report = measure(&args).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::Runtime(format!("cannot write the report: {e}")))?
        );
    } else {
        print_summary(&report);
    }
    if report.exact() {
        Ok(())
    } else {
        Err(CliError::Runtime(format!(
            "{} fire(s) lost and {} duplicated",
            report.lost, report.duplicated
        )))
    }
}

fn print_summary(r: &BenchReport) {
    let what = match r.mode {
        Mode::Burst => format!(
            "burst of {} one-off triggers due at one instant",
            r.triggers
        ),
        Mode::Steady => format!(
            "steady {} triggers/s for {} triggers (producer achieved {:.0}/s), each due {} ms after insertion",
            r.rate.unwrap_or_default(),
            r.triggers,
            r.producer_rate.unwrap_or_default(),
            r.lead_ms
        ),
        Mode::Bare => format!(
            "bare SQL of {} fires (lease, record, advance, complete), no scheduler: {} loop(s), \
             up to {} fires per transaction",
            r.triggers, r.nodes, r.max_concurrent
        ),
        Mode::Scale => match &r.scale {
            Some(s) => format!(
                "scale: {} cron jobs due on second 0 of every minute, {} stored triggers, {} wave(s)",
                s.jobs,
                s.stored,
                s.waves.len()
            ),
            None => "scale".to_string(),
        },
    };
    let nodes = if r.processes {
        "serve process(es)"
    } else {
        "node(s) in this process"
    };
    println!("cosched bench on {} ({})", r.database, r.backend);
    if let Some(url) = &r.url {
        println!("  http job: each fire POSTs its context to {url}");
    }
    println!(
        "  {what}; {} {nodes}, max_concurrent {}, fed by {}",
        r.nodes, r.max_concurrent, r.feed
    );
    match &r.scale {
        Some(scale) => print_waves(scale),
        None => print_load(r),
    }
    print_cost(r);
    println!(
        "  lost          {}\n  duplicated    {}",
        r.lost, r.duplicated
    );
    if r.kept {
        println!("  kept job      {}", r.job);
    }
}

fn print_load(r: &BenchReport) {
    if matches!(r.mode, Mode::Burst | Mode::Bare) {
        println!("  inserted      {:.0} triggers/s", r.insert_per_second);
    }
    println!(
        "  throughput    {:.0} fires/s ({} fires in {:.2} s, first due instant to last finish)",
        r.fires_per_second, r.fires, r.elapsed_seconds
    );
    println!(
        "  lateness      p50 {} ms, p99 {} ms, max {} ms (started_at - scheduled_at)",
        r.lateness_ms.p50, r.lateness_ms.p99, r.lateness_ms.max
    );
    let spread: Vec<String> = r
        .per_node
        .iter()
        .map(|n| format!("{} {}", n.node.as_deref().unwrap_or("(none)"), n.fires))
        .collect();
    println!("  per node      {}", spread.join(", "));
    println!(
        "  finished      {} of {} ({} succeeded)",
        r.finished, r.triggers, r.succeeded
    );
}

fn print_waves(s: &crate::bench::scale::ScaleReport) {
    for w in &s.waves {
        let within = w
            .finished_within_seconds
            .map_or("-".to_string(), |s| format!("{s:.2} s"));
        let rss = w
            .node_memory
            .map_or("-".to_string(), |m| format!("{} MiB", m.rss_bytes >> 20));
        println!(
            "  wave {}  {} of {} finished within {within} ({}), lateness p50 {} ms p99 {} ms, node RSS {rss}",
            w.scheduled_at,
            w.finished,
            s.jobs,
            if w.within_budget {
                "within budget"
            } else {
                "OVER BUDGET"
            },
            w.lateness_ms.p50,
            w.lateness_ms.p99,
        );
    }
    let p = s.lease_probe_us;
    println!(
        "  lease query   p50 {} us, p99 {} us, max {} us between waves ({} samples)",
        p.p50, p.p99, p.max, p.samples
    );
}

fn print_cost(r: &BenchReport) {
    let c = &r.cost;
    let us = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} us"));
    println!(
        "  CPU per fire  database {}, nodes {}",
        us(c.database_cpu_us_per_fire),
        us(c.nodes_cpu_us_per_fire)
    );
    if let Some(m) = c.node_memory {
        println!(
            "  node memory   RSS {} MiB, peak {} MiB",
            m.rss_bytes >> 20,
            m.peak_rss_bytes >> 20
        );
    }
}
