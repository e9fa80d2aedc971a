//! `cosched bench`: the flags, and the summary it prints. The benchmark
//! itself lives in [`crate::bench`].

use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::bench::{self, BenchError, BenchPlan};

pub use crate::bench::{BenchKind, BenchReport, Mode};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL")]
    pub database: String,
    /// `burst`: N triggers due at one instant; `steady`: R triggers a
    /// second for a duration.
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
    /// Scheduler nodes to run in this process.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
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
    /// The plan these flags describe.
    pub fn plan(&self) -> BenchPlan {
        BenchPlan {
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
        }
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
    Ok(bench::measure(&args.plan()).await?)
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
    };
    println!("cosched bench on {} ({})", r.database, r.backend);
    if let Some(url) = &r.url {
        println!("  http job: each fire POSTs its context to {url}");
    }
    println!(
        "  {what}; {} node(s), max_concurrent {}",
        r.nodes, r.max_concurrent
    );
    if r.mode == Mode::Burst {
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
    println!(
        "  lost          {}\n  duplicated    {}",
        r.lost, r.duplicated
    );
    if r.kept {
        println!("  kept job      {}", r.job);
    }
}
