//! The command line: clap definitions, and each command's work and output.
//!
//! Commands return [`CliError`]; only `main` turns it into an exit code
//! (0 success, 1 runtime failure, 2 bad usage or configuration).

mod backfill;
pub mod bench;
mod next;
mod notifications;
mod output;
mod producer;

pub use next::NextArgs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::client::{Client, ClientError, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config, ConfigError, Settings};
use crate::http::tokens::{self, Role};
use crate::jobs::JobRegistry;
use crate::model::FireStatus;
use crate::node::{Node, NodeError};
use crate::retention::ManualPrune;
use crate::store::{FireFilter, Store, StoreError};

pub use crate::client::views::{calendar_json, fire_json, job_json, node_json};

/// cosched: fire cron, interval and one-shot jobs from a SQL database.
#[derive(Debug, Parser)]
#[command(name = "cosched", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format on stderr (filter with RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Cli {
    /// The log level when `RUST_LOG` is not set: a node (`serve`) and the
    /// commands that change the schema or run nodes (`migrate`, `bench`)
    /// say what they do at `info`; every other command prints only its
    /// answer, and a log line only when something is wrong (`warn`).
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Serve { .. } | Command::Migrate { .. } | Command::Bench(_) => "info",
            _ => "warn",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the database is: `--database`, else `DATABASE_URL`, else the
/// config file's `[scheduler] database`, else `sqlite://cosched.db`.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database: Option<String>,
    /// A config file to read the database URL (and time zone) from.
    #[arg(long, short = 'c', global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scheduler node: reconcile the file's jobs, then fire until SIGINT/SIGTERM.
    Serve {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Validate a configuration file without touching any database.
    Check {
        /// The file to check.
        #[arg(long, short = 'c')]
        config: PathBuf,
    },
    /// Apply pending database migrations.
    Migrate {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Preview the next fire times of a schedule (cron, --every,
    /// --calendar-interval, --daily; optionally skipping what the
    /// `--calendar`s of a `--config` file exclude), or of a stored --job.
    Next(NextArgs),
    /// List, show, pause, resume, trigger or delete jobs.
    Jobs {
        #[command(subcommand)]
        action: Option<JobsAction>,
        #[command(flatten)]
        db: DatabaseArgs,
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Schedule a one-off fire of a job.
    Schedule {
        /// The job to fire.
        job: String,
        /// When: an RFC 3339 instant, e.g. 2026-12-01T09:00:00Z.
        #[arg(long, conflicts_with = "in_", required_unless_present = "in_")]
        at: Option<String>,
        /// When: after this long, e.g. 10m, 1h30m.
        #[arg(long = "in", id = "in_")]
        in_: Option<String>,
        /// JSON data merged over the job's data for this fire.
        #[arg(long)]
        data: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
        #[arg(long)]
        json: bool,
    },
    /// Pause or resume one trigger (by id, from `cosched jobs show`).
    Triggers {
        #[command(subcommand)]
        action: PauseAction,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Pause or resume every job of a group.
    Group {
        #[command(subcommand)]
        action: PauseAction,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Standby for every node: `on` (no fire starts), `off`, or `status`.
    Standby {
        #[arg(value_parser = ["on", "off", "status"], default_value = "status")]
        state: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Exclusion calendars: list, set (create or replace) or delete.
    Calendars {
        #[command(subcommand)]
        action: Option<CalendarsAction>,
        #[command(flatten)]
        db: DatabaseArgs,
        #[arg(long, global = true)]
        json: bool,
    },
    /// Nodes: state, last check-in, clock offset, pools, running fires.
    Nodes {
        #[command(flatten)]
        db: DatabaseArgs,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a running or queued fire (the node running it stops the job).
    Cancel {
        fire_id: i64,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Recent fires, newest first; `fires prune` removes old history.
    #[command(args_conflicts_with_subcommands = true)]
    Fires {
        #[command(subcommand)]
        action: Option<FiresAction>,
        /// Only this job's fires.
        #[arg(long)]
        job: Option<String>,
        /// Only fires with this status.
        #[arg(long, value_parser = parse_status)]
        status: Option<FireStatus>,
        /// At most this many (1 to 10000; with `--cursor`, 1 to 1000).
        #[arg(long, default_value_t = 50,
              value_parser = clap::value_parser!(u64).range(1..=MAX_LIST_LIMIT))]
        limit: u64,
        /// Continue after the page this cursor ends (printed on stderr
        /// after a page of at most 1000 fires).
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
        #[arg(long)]
        json: bool,
    },
    /// Create the missed fires of a job in a past window (`--from`, `--to`).
    Backfill(backfill::BackfillArgs),
    /// Notifications of `[[notify]]` rules, newest first, and their delivery.
    Notifications(notifications::NotificationsArgs),
    /// Measure fires per second and lateness on a database (burst or steady load).
    Bench(bench::BenchArgs),
    /// Print a shell completion script: `cosched completions bash > /etc/bash_completion.d/cosched`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `cosched man | man -l -`.
    Man,
    /// Tokens for the HTTP API's `[http] tokens`.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Print a fresh random token (first line) and the `[http] tokens`
    /// entry that accepts it, with only its SHA-256 digest (second line).
    New {
        /// read (every GET), operate (read + trigger, schedule, pause,
        /// resume, cancel, standby) or admin (operate + create and delete
        /// jobs and calendars).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The token's name in the audit log (default: the role).
        #[arg(long)]
        name: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected read, operate or admin".to_string())
}

/// Says on stderr (so `--json` output stays one document) how to get the
/// next page, when there is one.
fn announce_next_page(cursor: Option<&str>) {
    if let Some(cursor) = cursor {
        eprintln!("more: repeat with --cursor {cursor}");
    }
}

/// The most rows `--limit` may ask for in one listing.
pub const MAX_LIST_LIMIT: u64 = 10_000;
/// The most instants `next -n` may preview.
pub use crate::client::MAX_PREVIEW_COUNT;

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// Every job with its schedule and next fire (the default), or one
    /// page of them with `--limit` or `--cursor`.
    List {
        /// At most this many jobs, by name (1 to 1000).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_PAGE_LIMIT))]
        limit: Option<u64>,
        /// Start after the page this cursor ends (printed on stderr after a page).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One job, its triggers and recent fires.
    Show { name: String },
    /// Stop a job's triggers from firing.
    Pause { name: String },
    /// Let a paused job fire again (missed fires follow the misfire policy).
    Resume { name: String },
    /// Fire a job now.
    Trigger {
        name: String,
        /// JSON data merged over the job's data for this fire.
        #[arg(long)]
        data: Option<String>,
    },
    /// Delete a job created through the API, with its history.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum FiresAction {
    /// Remove final fires scheduled longer ago than `--older-than` and
    /// print what went (the newest fire of each status of each job stays;
    /// queued and running fires are never pruned).
    Prune(PruneArgs),
}

/// `cosched fires prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// e.g. 30d, 12h.
    #[arg(long)]
    pub older_than: String,
    /// Only fires with this (final) status.
    #[arg(long, value_parser = parse_status)]
    pub status: Option<FireStatus>,
    /// Only this job's fires.
    #[arg(long)]
    pub job: Option<String>,
    /// Print what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CalendarsAction {
    /// Every calendar with its definition (the default).
    List,
    /// Create or replace a calendar from its JSON definition, e.g.
    /// '{"name":"weekends","days_of_week":["sat","sun"]}'.
    Set { definition: String },
    /// Delete a calendar created through the API.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum PauseAction {
    Pause { target: String },
    Resume { target: String },
}

fn parse_status(s: &str) -> Result<FireStatus, String> {
    s.parse().map_err(|_| {
        format!(
            "expected one of {}",
            FireStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Why a command failed, which decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or input: exit 2.
    #[error("{0}")]
    Usage(String),
    /// A bad configuration file: exit 2.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Anything else: exit 1.
    #[error("{0}")]
    Runtime(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::Config(_) => 2,
            CliError::Runtime(_) => 1,
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. }
            | StoreError::Conflict(_)
            | StoreError::Invalid { .. }
            | StoreError::InvalidUrl(_)
            | StoreError::DeclaredInFile { .. } => CliError::Usage(e.to_string()),
            e => CliError::Runtime(e.to_string()),
        }
    }
}

impl From<NodeError> for CliError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Store(e) => e.into(),
            // The configuration cannot be served as written: exit 2.
            e @ NodeError::Http(_) => CliError::Usage(e.to_string()),
            e @ NodeError::Listen { .. } => CliError::Runtime(e.to_string()),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Store(e) => e.into(),
            ClientError::Validation(e) => CliError::Usage(e.to_string()),
            ClientError::Invalid(m) => CliError::Usage(m),
        }
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let registry = JobRegistry::with_builtins();
    match cli.command {
        Command::Serve { db } => serve(db, registry).await,
        Command::Check { config } => check(&config, &registry),
        Command::Token {
            action: TokenAction::New { role, name },
        } => new_token(role, name),
        Command::Migrate { db } => {
            let (settings, _) = resolve(&db, &registry)?;
            let store = Store::connect(&settings.database_url).await?;
            store.migrate().await?;
            println!("migrated {}", store.display_url());
            Ok(())
        }
        Command::Next(args) => next::next(args, &registry).await,
        Command::Jobs { action, db, json } => {
            let client = client(&db, &registry).await?;
            let action = action.unwrap_or(JobsAction::List {
                limit: None,
                cursor: None,
            });
            jobs(&client, action, json).await
        }
        Command::Schedule {
            job,
            at,
            in_,
            data,
            db,
            json,
        } => producer::schedule(&db, &registry, &job, at, in_, data, json).await,
        Command::Triggers { action, db } => {
            producer::pause_trigger(&client(&db, &registry).await?, action).await
        }
        Command::Group { action, db } => {
            producer::pause_group(&client(&db, &registry).await?, action).await
        }
        Command::Standby { state, db } => {
            producer::standby(&client(&db, &registry).await?, &state).await
        }
        Command::Calendars { action, db, json } => {
            let client = client(&db, &registry).await?;
            producer::calendars(&client, action.unwrap_or(CalendarsAction::List), json).await
        }
        Command::Nodes { db, json } => {
            let client = client(&db, &registry).await?;
            let nodes = client.nodes().await?;
            output::nodes(&nodes, Utc::now().timestamp_millis(), json);
            Ok(())
        }
        Command::Cancel { fire_id, db } => {
            producer::cancel(&client(&db, &registry).await?, fire_id).await
        }
        Command::Fires {
            action: Some(FiresAction::Prune(args)),
            ..
        } => prune(args, &registry).await,
        Command::Fires {
            action: None,
            job,
            status,
            limit,
            cursor,
            db,
            json,
        } => {
            let filter = FireFilter {
                job,
                status,
                limit: Some(limit),
            };
            list_fires(&client(&db, &registry).await?, &filter, cursor, json).await
        }
        Command::Notifications(args) => notifications::run(args, &registry).await,
        Command::Backfill(args) => backfill::run(args, &registry).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "cosched", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command)
                .render(&mut std::io::stdout())
                .map_err(|e| CliError::Runtime(format!("cannot write the manual page: {e}")))
        }
    }
}

/// Prunes fire history by hand and prints what went (or would).
async fn prune(args: PruneArgs, registry: &JobRegistry) -> Result<(), CliError> {
    let older_than = parse_duration(&args.older_than, "--older-than")?;
    let client = client(&args.db, registry).await?;
    let report = client
        .prune_fires(&ManualPrune {
            older_than,
            status: args.status,
            job: args.job,
            dry_run: args.dry_run,
        })
        .await?;
    output::pruned(&report, args.dry_run, args.json);
    Ok(())
}

/// `cosched check`: validates a file and says what it holds.
fn check(path: &std::path::Path, registry: &JobRegistry) -> Result<(), CliError> {
    let config = config::load_file(path, registry)?;
    println!(
        "{}: valid: {} job(s), {} calendar(s)",
        config
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        config.jobs.len(),
        config.calendars.len()
    );
    Ok(())
}

/// `cosched fires`: a page (with a cursor to the next) when it fits in
/// one; a longer listing in one read, as before paging.
async fn list_fires(
    client: &Client,
    filter: &FireFilter,
    cursor: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let limit = filter.limit.unwrap_or(50);
    if cursor.is_some() || limit <= MAX_PAGE_LIMIT {
        let page = client.fires_page(filter, cursor.as_deref(), limit).await?;
        output::fires(&page.items, json);
        announce_next_page(page.next_cursor.as_deref());
    } else {
        output::fires(&client.fires(filter).await?, json);
    }
    Ok(())
}

/// Reads the config file (if any) and resolves the settings.
fn resolve(db: &DatabaseArgs, registry: &JobRegistry) -> Result<(Settings, Config), CliError> {
    let config = match &db.config {
        Some(path) => config::load_file(path, registry)?,
        None => Config::default(),
    };
    Ok((Settings::resolve(db.database.clone(), &config), config))
}

async fn client(db: &DatabaseArgs, registry: &JobRegistry) -> Result<Client, CliError> {
    let (settings, _) = resolve(db, registry)?;
    Ok(Client::connect(&settings.database_url).await?)
}

async fn serve(db: DatabaseArgs, registry: JobRegistry) -> Result<(), CliError> {
    let (settings, config) = resolve(&db, &registry)?;
    // Before the node starts serving, so that a signal at any instant takes
    // the orderly path instead of the default action (an abrupt exit).
    let shutdown = shutdown_signal();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (node, report) = Node::start(settings, &config, registry, clock).await?;
    tracing::info!(created = ?report.created, updated = ?report.updated, removed = ?report.removed,
        unchanged = report.unchanged.len(), "configuration reconciled");
    // systemd (`Type=notify`): ready once the file is reconciled and the
    // node registered; stopping as the shutdown protocol starts.
    crate::os::sd_notify("READY=1");
    let report = node
        .run(async {
            shutdown.await;
            crate::os::sd_notify("STOPPING=1");
        })
        .await;
    if let Some(lost) = report.database_lost {
        return Err(CliError::Runtime(format!(
            "{lost}. The node stopped leasing and exited: fires recorded since the loss are \
             gone with the file. Restore the file or point --database at the right one, then \
             start the node again"
        )));
    }
    if report.declared_dead {
        return Err(CliError::Runtime(
            "this node was declared dead by a peer after missing its check-ins, and stopped; \
             its fires were recovered elsewhere. Restart it (check for long pauses or a stalled \
             database connection)"
                .into(),
        ));
    }
    Ok(())
}

/// `cosched token new`: the secret on the first line, the entry to paste
/// on the second.
fn new_token(role: Role, name: Option<String>) -> Result<(), CliError> {
    let name = name.unwrap_or_else(|| role.as_str().to_string());
    if name.trim().is_empty() {
        return Err(CliError::Usage("--name must not be empty".into()));
    }
    let (secret, digest) = tokens::generate()
        .map_err(|e| CliError::Runtime(format!("cannot read the OS random generator: {e}")))?;
    println!("{secret}");
    println!(
        "{{ name = {}, role = \"{role}\", hash = \"{digest}\" }}",
        toml::Value::String(name.trim().to_string())
    );
    eprintln!(
        "Give the first line to the client (`Authorization: Bearer <token>`); paste the second \
         into `[http] tokens`. The token is not stored anywhere else."
    );
    Ok(())
}

/// Resolves at the first SIGINT or SIGTERM; the handlers are installed
/// when this is called, not when the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(interrupt) => {}
            _ = wait(terminate) => {}
        }
        tracing::info!("shutdown requested");
    }
}

async fn jobs(client: &Client, action: JobsAction, json: bool) -> Result<(), CliError> {
    match action {
        JobsAction::List {
            limit: None,
            cursor: None,
        } => {
            let rows = client.jobs().await?;
            output::jobs(&rows, json);
        }
        JobsAction::List { limit, cursor } => {
            let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
            let page = client.jobs_page(cursor.as_deref(), limit).await?;
            output::jobs(&page.items, json);
            announce_next_page(page.next_cursor.as_deref());
        }
        JobsAction::Show { name } => {
            let row = client.job(&name).await?;
            let fires = client
                .fires(&FireFilter {
                    job: Some(name),
                    status: None,
                    limit: Some(10),
                })
                .await?;
            output::job_detail(&row, &fires, json);
        }
        JobsAction::Pause { name } => {
            let changed = client.pause(&name).await?;
            println!(
                "{name}: {}",
                if changed { "paused" } else { "already paused" }
            );
        }
        JobsAction::Resume { name } => {
            let changed = client.resume(&name).await?;
            println!("{name}: {}", if changed { "resumed" } else { "not paused" });
        }
        JobsAction::Trigger { name, data } => {
            let data = parse_data(data.as_deref())?;
            let t = client.trigger_now(&name, data).await?;
            if json {
                println!("{}", json!({"trigger_id": t.id, "job": name}));
            } else {
                println!("{name}: triggered (trigger {})", t.id);
            }
        }
        JobsAction::Delete { name } => {
            client.delete_job(&name).await?;
            println!("{name}: deleted");
        }
    }
    Ok(())
}

fn parse_instant(s: &str, flag: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            CliError::Usage(format!(
                "{flag} {s}: {e}; expected RFC 3339, e.g. 2026-12-01T09:00:00Z"
            ))
        })
}

fn parse_duration(s: &str, flag: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(s).map_err(|e| {
        CliError::Usage(format!(
            "{flag} {s}: {e}; expected a duration such as 10m or 1h30m"
        ))
    })
}

fn parse_data(s: Option<&str>) -> Result<Option<Value>, CliError> {
    s.map(|s| {
        serde_json::from_str(s)
            .map_err(|e| CliError::Usage(format!("--data is not valid JSON: {e}")))
    })
    .transpose()
}
