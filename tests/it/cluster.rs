//! The cluster on a real PostgreSQL, with real `cosched serve` processes:
//! three nodes sharing the work with every fire recorded once; a node
//! killed (SIGKILL) or frozen (SIGSTOP) while it runs fires, declared dead
//! by a peer and its fires recovered; the database stopped under running
//! nodes; and (in process) two nodes whose clocks are 30 s apart.
//!
//! PostgreSQL only: without a server each test says so and passes, unless
//! `COSCHED_REQUIRE_POSTGRES=1` (then it fails). Producers use
//! [`cosched::Client`]; fires are counted from the `fires` table at the
//! end. Every wait polls the database (or the process) until a condition
//! holds or a deadline passes, and then asserts that condition.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cosched::config::SchedulerSettings;
use cosched::model::{JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::schedule::cron::{CronExpr, Dialect};
use cosched::store::Store;
use cosched::{
    Client, Clock, Config, FireContext, JobKind, JobOutcome, JobRegistry, Node, Settings,
};
use entity::{fires, nodes, triggers};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::pg;

/// Every node checks in this often...
const CHECKIN: Duration = Duration::from_millis(300);
/// ...and is dead after this many intervals without one.
const DEAD_AFTER: u32 = 3;

/// How long after a node stops checking in its peers must have declared it
/// dead: the threshold, one more interval (the peer's next round), and
/// slack for a loaded machine.
pub(crate) fn detection_deadline() -> Duration {
    CHECKIN * (DEAD_AFTER + 1) + Duration::from_secs(3)
}

/// The `[scheduler]` table every node of these tests runs with.
fn scheduler_toml(node_id: &str) -> String {
    format!(
        "[scheduler]\n\
         node_id = \"{node_id}\"\n\
         checkin_interval = \"{}ms\"\n\
         dead_after_checkins = {DEAD_AFTER}\n\
         poll_interval = \"200ms\"\n\
         lease = \"2s\"\n\
         shutdown_grace = \"2s\"\n",
        CHECKIN.as_millis()
    )
}

// ---- the database ----------------------------------------------------------

/// A fresh database on the shared test server, or None (skip) without one.
async fn shared_database(test: &str) -> Option<crate::support::TestDb> {
    let db = pg::database().await;
    if db.is_none() {
        eprintln!("{test}: skipped, it needs PostgreSQL");
    }
    db
}

/// Reads what the tests look at, through its own connection.
struct Db {
    conn: DatabaseConnection,
}

impl Db {
    async fn connect(url: &str) -> Db {
        Db {
            conn: crate::support::sql(url).await,
        }
    }

    async fn fires(&self) -> Vec<fires::Model> {
        fires::Entity::find()
            .order_by_asc(fires::Column::Id)
            .all(&self.conn)
            .await
            .expect("read fires")
    }

    async fn fires_of(&self, job: &str) -> Vec<fires::Model> {
        fires::Entity::find()
            .filter(fires::Column::JobName.eq(job))
            .order_by_asc(fires::Column::ScheduledAt)
            .order_by_asc(fires::Column::Attempt)
            .all(&self.conn)
            .await
            .expect("read fires")
    }

    async fn nodes(&self) -> Vec<nodes::Model> {
        nodes::Entity::find()
            .order_by_asc(nodes::Column::Id)
            .all(&self.conn)
            .await
            .expect("read nodes")
    }

    async fn node(&self, id: &str) -> Option<nodes::Model> {
        nodes::Entity::find_by_id(id.to_string())
            .one(&self.conn)
            .await
            .expect("read node")
    }

    async fn triggers_of(&self, job_id: i64) -> Vec<triggers::Model> {
        triggers::Entity::find()
            .filter(triggers::Column::JobId.eq(job_id))
            .order_by_asc(triggers::Column::Id)
            .all(&self.conn)
            .await
            .expect("read triggers")
    }

    /// Polls until every node of `ids` is registered and active.
    async fn wait_active(&self, ids: &[&str], within: Duration) {
        let active = |nodes: &[nodes::Model]| {
            ids.iter()
                .all(|id| nodes.iter().any(|n| n.id == *id && n.state == "active"))
        };
        let nodes = poll(within, || self.nodes(), |n| active(n)).await;
        assert!(
            active(&nodes),
            "nodes {ids:?} not all active within {within:?}: {:?}",
            nodes.iter().map(|n| (&n.id, &n.state)).collect::<Vec<_>>()
        );
    }
}

/// Calls `probe` every 100 ms until `done` holds of its value or `within`
/// has passed, and returns the last value: the caller asserts on it.
async fn poll<T, F, Fut>(within: Duration, mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + within;
    loop {
        let value = probe().await;
        if done(&value) || Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// No (trigger, scheduled_at, attempt) is recorded twice, and no
/// scheduled instant has two first attempts.
fn assert_no_fire_twice(fires: &[fires::Model]) {
    let mut keys: Vec<(Option<i64>, i64, i32)> = fires
        .iter()
        .map(|f| (f.trigger_id, f.scheduled_at, f.attempt))
        .collect();
    keys.sort();
    let twice: Vec<_> = keys.windows(2).filter(|w| w[0] == w[1]).collect();
    assert!(twice.is_empty(), "fires recorded twice: {twice:?}");
}

fn noop_job(name: &str) -> JobDef {
    JobDef::new(name, "noop")
}

fn every_second() -> TriggerDef {
    TriggerDef::new(ScheduleSpec::Cron {
        expr: CronExpr::parse("* * * * * ?", Dialect::Quartz).expect("valid cron"),
        tz: chrono_tz::UTC,
        dst: Default::default(),
    })
}

/// A `command` job running `sh -c script`, marked as run for the node
/// process `node_pid` (see [`orphans_of`]).
fn shell_job(name: &str, script: &str, requests_recovery: bool, node_pid: i32) -> JobDef {
    let mut job = JobDef::new(name, "command");
    job.settings = json!({
        "command": ["sh", "-c", script],
        "env": { ORPHAN_MARKER: node_pid.to_string() },
    });
    job.requests_recovery = requests_recovery;
    job
}

/// Asserts that a cron trigger's fires are exactly one first attempt at
/// every second from `first` up to (not including) the trigger's
/// `next_fire_at`, and returns them in order.
fn assert_every_second_once(
    job: &str,
    trigger: &triggers::Model,
    first: i64,
    fires: &[fires::Model],
) -> Vec<fires::Model> {
    let next = trigger
        .next_fire_at
        .expect("a cron trigger has a next fire");
    let mut fires: Vec<fires::Model> = fires
        .iter()
        .filter(|f| f.trigger_id == Some(trigger.id))
        .cloned()
        .collect();
    fires.sort_by_key(|f| (f.scheduled_at, f.attempt));
    let expected: Vec<i64> = (first..next).step_by(1000).collect();
    let seen: Vec<i64> = fires.iter().map(|f| f.scheduled_at).collect();
    assert_eq!(
        seen, expected,
        "{job}: one fire per second from the first instant to the next one, none missing, none twice"
    );
    assert!(
        fires.iter().all(|f| f.attempt == 1),
        "{job}: only first attempts"
    );
    fires
}

// ---- node processes -----------------------------------------------------

/// A `cosched serve` process. Dropped: killed, with every process it
/// started (the jobs' commands run in their own process groups, so they
/// would outlive it).
pub(crate) struct ServeProcess {
    id: String,
    child: Child,
    log: PathBuf,
}

impl ServeProcess {
    /// Starts node `id` over `url` with the test scheduler settings (and
    /// no jobs in its file); its log goes to a file in `dir`.
    pub(crate) fn spawn(dir: &TempDir, url: &str, id: &str) -> ServeProcess {
        Self::spawn_with_env(dir, url, id, &[])
    }

    /// [`ServeProcess::spawn`], with these environment variables set.
    pub(crate) fn spawn_with_env(
        dir: &TempDir,
        url: &str,
        id: &str,
        env: &[(&str, &str)],
    ) -> ServeProcess {
        let config = dir.path().join(format!("{id}.toml"));
        std::fs::write(&config, scheduler_toml(id)).expect("write config");
        let log = dir.path().join(format!("{id}.log"));
        let stderr = std::fs::File::create(&log).expect("create log");
        let child = Command::new(env!("CARGO_BIN_EXE_cosched"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--database", url])
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start cosched serve");
        ServeProcess {
            id: id.to_string(),
            child,
            log,
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub(crate) fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child process, which we have not reaped.
        unsafe { libc::kill(self.pid(), signal) };
    }

    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits up to `within` for the process to exit on its own.
    pub(crate) async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub(crate) async fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit(Duration::from_secs(15)).await;
        status.unwrap_or_else(|| {
            panic!(
                "node {} did not stop on SIGTERM; its log ends:\n{}",
                self.id,
                self.log_tail()
            )
        })
    }

    /// SIGKILL to the node and to every process it started.
    fn kill_all(&mut self) {
        let jobs = descendants(self.pid());
        self.signal(libc::SIGKILL);
        for pid in jobs {
            // SAFETY: these are processes our child started; the worst a
            // reused pid could mean is a signal to an unrelated process of
            // ours, which is already gone by the time the pid is reused.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }

    /// The last lines of the node's log, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("sqlx::postgres::notice"))
            .collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // A stopped process still dies of SIGKILL; its jobs get it too.
            self.kill_all();
        } else {
            // The node is gone; its jobs may not be.
            for pid in orphans_of(self.pid()) {
                // SAFETY: see kill_all.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// (pid, parent pid, state) of every process, from /proc.
fn processes() -> Vec<(i32, i32, char)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid = fields.next()?.parse().ok()?;
            Some((pid, ppid, state))
        })
        .collect()
}

/// Every live process below `root`, with its state.
fn descendants_with_state(root: i32) -> Vec<(i32, char)> {
    let all = processes();
    let mut found: Vec<(i32, char)> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, state) in &all {
            if ppid == parent && !found.iter().any(|(p, _)| *p == pid) {
                found.push((pid, state));
                frontier.push(pid);
            }
        }
    }
    found
}

fn descendants(root: i32) -> Vec<i32> {
    descendants_with_state(root)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// The variable that marks a job's processes with the pid of the node
/// that runs them.
const ORPHAN_MARKER: &str = "COSCHED_TEST_NODE_PID";

/// The job processes a node left behind when it died: re-parented (to
/// init or a subreaper), they are found by their environment.
fn orphans_of(node_pid: i32) -> Vec<i32> {
    let marker = format!("{ORPHAN_MARKER}={node_pid}");
    processes()
        .into_iter()
        .filter(|(pid, _, _)| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == marker.as_bytes()))
                .unwrap_or(false)
        })
        .map(|(pid, _, _)| pid)
        .collect()
}

// ---- 1. three nodes ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_fire_every_instant_exactly_once_and_all_take_part() {
    let Some(test_db) = shared_database("three_nodes").await else {
        return;
    };
    let url = test_db.url.clone();
    let client = crate::support::migrated_client(&url).await;
    let db = Db::connect(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let ids = ["n1", "n2", "n3"];
    let mut nodes: Vec<ServeProcess> = ids
        .iter()
        .map(|id| ServeProcess::spawn(&dir, &url, id))
        .collect();
    db.wait_active(&ids, Duration::from_secs(20)).await;

    // Five every-second cron triggers, and 2,000 one-offs due over 2 s.
    let mut ticks = Vec::new();
    for i in 0..5 {
        let name = format!("tick-{i}");
        let job = client
            .create_job_def(&noop_job(&name), Some(&every_second()))
            .await
            .expect("create cron job");
        let trigger = db.triggers_of(job.id).await.remove(0);
        let first = trigger.next_fire_at.expect("first fire");
        ticks.push((name, job.id, first));
    }
    let oneoff = client
        .create_job_def(&noop_job("oneoff"), None)
        .await
        .expect("create one-off job");
    const ONE_OFFS: usize = 2000;
    let base = Utc::now() + chrono::Duration::milliseconds(2500);
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..8 {
        let client = client.clone();
        producers.spawn(async move {
            for i in (p..ONE_OFFS).step_by(8) {
                let at = base + chrono::Duration::milliseconds(i as i64);
                client
                    .schedule_at("oneoff", at, Some(json!({ "i": i })))
                    .await
                    .expect("schedule a one-off");
            }
        });
    }
    while let Some(done) = producers.join_next().await {
        done.expect("producer task");
    }

    // Every one-off fired and finished, and each tick fired at least four
    // times (about 4 s of them).
    let finished = |fires: &[fires::Model]| fires.iter().filter(|f| f.status != "running").count();
    let oneoff_fires = poll(
        Duration::from_secs(40),
        || db.fires_of("oneoff"),
        |f| finished(f) >= ONE_OFFS,
    )
    .await;
    assert_eq!(
        finished(&oneoff_fires),
        ONE_OFFS,
        "all one-offs fired and finished"
    );
    for (name, job_id, first) in &ticks {
        let long_enough =
            |t: &Vec<triggers::Model>| t[0].next_fire_at.is_some_and(|next| next >= first + 4000);
        let trigger = poll(
            Duration::from_secs(20),
            || db.triggers_of(*job_id),
            long_enough,
        )
        .await;
        assert!(long_enough(&trigger), "{name} kept firing for 4 s");
    }
    for (name, _, _) in &ticks {
        client.pause(name).await.expect("pause");
    }
    for node in &mut nodes {
        let status = node.terminate().await;
        assert!(
            status.success(),
            "node {} exited with {status}; its log ends:\n{}",
            node.id,
            node.log_tail()
        );
    }

    // Counted at the end, with every node stopped.
    let fires = db.fires().await;
    assert_no_fire_twice(&fires);
    let oneoff_fires: Vec<&fires::Model> = fires.iter().filter(|f| f.job_id == oneoff.id).collect();
    let mut oneoff_triggers: Vec<i64> = oneoff_fires.iter().filter_map(|f| f.trigger_id).collect();
    oneoff_triggers.sort();
    oneoff_triggers.dedup();
    assert_eq!(oneoff_fires.len(), ONE_OFFS, "one fire per one-off");
    assert_eq!(oneoff_triggers.len(), ONE_OFFS, "every one-off fired");
    assert!(
        oneoff_fires
            .iter()
            .all(|f| f.attempt == 1 && f.status == "succeeded"),
        "every one-off succeeded at its first attempt"
    );
    assert!(
        db.triggers_of(oneoff.id)
            .await
            .iter()
            .all(|t| t.state == "complete"),
        "every one-off trigger is complete"
    );
    for (name, job_id, first) in &ticks {
        let trigger = db.triggers_of(*job_id).await.remove(0);
        let fired = assert_every_second_once(name, &trigger, *first, &fires);
        assert!(
            fired.iter().all(|f| f.status == "succeeded"),
            "{name}: every fire ran on time and succeeded: {:?}",
            fired
                .iter()
                .map(|f| (f.scheduled_at, &f.status))
                .collect::<Vec<_>>()
        );
    }
    for id in ids {
        let ran = fires
            .iter()
            .filter(|f| f.node_id.as_deref() == Some(id))
            .count();
        assert!(ran > 0, "node {id} ran no fire: the work was not shared");
    }
    assert!(
        db.nodes().await.iter().all(|n| n.state == "stopped"),
        "every node left cleanly"
    );
}

// ---- 2. SIGKILL ------------------------------------------------------------

/// Waits until `job` has a first attempt running on `node`.
async fn wait_running_on(db: &Db, job: &str, node: &str) {
    let running = |f: &Vec<fires::Model>| {
        f.iter()
            .any(|f| f.status == "running" && f.node_id.as_deref() == Some(node))
    };
    let fires = poll(Duration::from_secs(15), || db.fires_of(job), running).await;
    assert!(running(&fires), "{job} is not running on {node}: {fires:?}");
}

/// Waits until a peer declared `node` dead, and returns its row.
async fn wait_declared_dead(db: &Db, node: &str, since: Instant) -> nodes::Model {
    let dead = |n: &Option<nodes::Model>| n.as_ref().is_some_and(|n| n.state == "dead");
    let row = poll(detection_deadline(), || db.node(node), dead).await;
    assert!(
        dead(&row),
        "{node} not declared dead within {:?} of its last sign of life: {row:?}",
        since.elapsed()
    );
    row.expect("node row")
}

/// The command of a job that requests recovery: its first attempt runs
/// `first` (long), a recovered attempt finishes at once.
fn recoverable_script(first: &str) -> String {
    format!("if [ \"$COSCHED_ATTEMPT\" = 1 ]; then {first}; fi")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_declared_dead_and_its_fires_recovered_or_abandoned() {
    let Some(test_db) = shared_database("sigkill").await else {
        return;
    };
    let url = test_db.url.clone();
    let client = crate::support::migrated_client(&url).await;
    let db = Db::connect(&url).await;
    let dir = tempfile::tempdir().unwrap();

    // The victim runs alone, so both fires land on it.
    let mut victim = ServeProcess::spawn(&dir, &url, "victim");
    db.wait_active(&["victim"], Duration::from_secs(20)).await;
    let pid = victim.pid();
    let recoverable = shell_job("recoverable", &recoverable_script("sleep 30"), true, pid);
    client
        .create_job_def(&recoverable, None)
        .await
        .expect("create job");
    let unrecoverable = shell_job("unrecoverable", "sleep 30", false, pid);
    client
        .create_job_def(&unrecoverable, None)
        .await
        .expect("create job");
    client.trigger_now("recoverable", None).await.unwrap();
    client.trigger_now("unrecoverable", None).await.unwrap();
    wait_running_on(&db, "recoverable", "victim").await;
    wait_running_on(&db, "unrecoverable", "victim").await;

    let mut survivor = ServeProcess::spawn(&dir, &url, "survivor");
    db.wait_active(&["survivor"], Duration::from_secs(20)).await;
    victim.kill_all();
    let killed = Instant::now();

    let dead = wait_declared_dead(&db, "victim", killed).await;
    assert_eq!(dead.declared_dead_by.as_deref(), Some("survivor"));

    // The recovered attempt runs on the survivor and finishes.
    let recovered =
        |f: &Vec<fires::Model>| f.iter().any(|f| f.attempt == 2 && f.status == "succeeded");
    let recoverable = poll(
        Duration::from_secs(15),
        || db.fires_of("recoverable"),
        recovered,
    )
    .await;
    assert!(
        recovered(&recoverable),
        "the recovery-requested fire was re-run: {recoverable:?}\nsurvivor log:\n{}",
        survivor.log_tail()
    );
    let status = survivor.terminate().await;
    assert!(status.success(), "survivor exited with {status}");

    let recoverable = db.fires_of("recoverable").await;
    assert_eq!(recoverable.len(), 2, "two attempts: {recoverable:?}");
    let (first, second) = (&recoverable[0], &recoverable[1]);
    assert_eq!(
        (
            first.attempt,
            first.status.as_str(),
            first.node_id.as_deref()
        ),
        (1, "abandoned", Some("victim"))
    );
    assert_eq!(
        (
            second.attempt,
            second.status.as_str(),
            second.node_id.as_deref(),
            second.recovery
        ),
        (2, "succeeded", Some("survivor"), true)
    );
    assert_eq!(
        second.scheduled_at, first.scheduled_at,
        "same instant, next attempt"
    );
    let unrecoverable = db.fires_of("unrecoverable").await;
    assert_eq!(unrecoverable.len(), 1, "no new attempt: {unrecoverable:?}");
    assert_eq!(
        (
            unrecoverable[0].status.as_str(),
            unrecoverable[0].node_id.as_deref()
        ),
        ("abandoned", Some("victim"))
    );
    assert!(
        unrecoverable[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("declared dead by survivor")),
        "the abandoned fire says why: {:?}",
        unrecoverable[0].error
    );
    assert_no_fire_twice(&db.fires().await);
}

// ---- 3. SIGSTOP ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_declared_dead_completes_nothing_and_exits_when_thawed() {
    let Some(test_db) = shared_database("sigstop").await else {
        return;
    };
    let url = test_db.url.clone();
    let client = crate::support::migrated_client(&url).await;
    let db = Db::connect(&url).await;
    let dir = tempfile::tempdir().unwrap();

    let mut frozen = ServeProcess::spawn(&dir, &url, "frozen");
    db.wait_active(&["frozen"], Duration::from_secs(20)).await;
    // The first attempts end (successfully) while their node is frozen: on
    // thawing it finds them done and would record them, were it allowed.
    let pid = frozen.pid();
    let recoverable = shell_job("recoverable", &recoverable_script("sleep 1"), true, pid);
    client
        .create_job_def(&recoverable, None)
        .await
        .expect("create job");
    let unrecoverable = shell_job("unrecoverable", "sleep 1", false, pid);
    client
        .create_job_def(&unrecoverable, None)
        .await
        .expect("create job");
    client.trigger_now("recoverable", None).await.unwrap();
    client.trigger_now("unrecoverable", None).await.unwrap();
    wait_running_on(&db, "recoverable", "frozen").await;
    wait_running_on(&db, "unrecoverable", "frozen").await;

    let mut watcher = ServeProcess::spawn(&dir, &url, "watcher");
    db.wait_active(&["watcher"], Duration::from_secs(20)).await;
    frozen.signal(libc::SIGSTOP);
    let stopped = Instant::now();

    let dead = wait_declared_dead(&db, "frozen", stopped).await;
    assert_eq!(dead.declared_dead_by.as_deref(), Some("watcher"));
    let declared_at = dead.declared_dead_at.expect("declared_dead_at");
    let recovered =
        |f: &Vec<fires::Model>| f.iter().any(|f| f.attempt == 2 && f.status == "succeeded");
    let recoverable = poll(
        Duration::from_secs(15),
        || db.fires_of("recoverable"),
        recovered,
    )
    .await;
    assert!(
        recovered(&recoverable),
        "the recovery-requested fire was re-run by the watcher: {recoverable:?}"
    );
    // Both first attempts have ended while the node is frozen (their
    // processes are zombies it has not reaped).
    let frozen_pid = frozen.pid();
    let all_ended = |jobs: &Vec<(i32, char)>| jobs.iter().all(|(_, state)| *state == 'Z');
    let jobs = poll(
        Duration::from_secs(10),
        || async move { descendants_with_state(frozen_pid) },
        all_ended,
    )
    .await;
    assert!(all_ended(&jobs), "the frozen node's jobs ended: {jobs:?}");

    frozen.signal(libc::SIGCONT);
    let status = frozen.wait_exit(Duration::from_secs(10)).await;
    let status = status.unwrap_or_else(|| {
        panic!(
            "the thawed node did not exit on its own; its log ends:\n{}",
            frozen.log_tail()
        )
    });
    assert_eq!(
        status.code(),
        Some(1),
        "a node declared dead exits with a runtime failure; its log ends:\n{}",
        frozen.log_tail()
    );
    let status = watcher.terminate().await;
    assert!(status.success(), "watcher exited with {status}");

    let fires = db.fires().await;
    assert_no_fire_twice(&fires);
    for job in ["recoverable", "unrecoverable"] {
        let first = fires
            .iter()
            .find(|f| f.job_name == job && f.attempt == 1)
            .expect("first attempt");
        assert_eq!(
            (first.status.as_str(), first.node_id.as_deref()),
            ("abandoned", Some("frozen")),
            "{job}: the thawed node did not complete its first attempt: {first:?}"
        );
        assert!(
            first
                .error
                .as_deref()
                .is_some_and(|e| e.contains("declared dead by watcher")),
            "{job}: the record is the watcher's, untouched since: {first:?}"
        );
    }
    let second: Vec<&fires::Model> = fires
        .iter()
        .filter(|f| f.job_name == "recoverable" && f.attempt == 2)
        .collect();
    assert_eq!(second.len(), 1);
    assert_eq!(
        (second[0].node_id.as_deref(), second[0].recovery),
        (Some("watcher"), true)
    );
    assert!(
        !fires
            .iter()
            .any(|f| f.job_name == "unrecoverable" && f.attempt > 1),
        "no new attempt of a job that does not request recovery"
    );
    let late: Vec<&fires::Model> = fires
        .iter()
        .filter(|f| {
            f.node_id.as_deref() == Some("frozen") && f.started_at.is_some_and(|t| t >= declared_at)
        })
        .collect();
    assert!(late.is_empty(), "the dead node started fires: {late:?}");
}

// ---- 4. the database goes away ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_survive_a_database_restart_and_misfires_follow_the_policy() {
    let Some(server) = pg::private_server() else {
        return;
    };
    let url = server.database("outage").await;
    let client = crate::support::migrated_client(&url).await;
    let db = Db::connect(&url).await;
    let dir = tempfile::tempdir().unwrap();
    // Misfired after 1 s, so that a few seconds of outage are a misfire;
    // the policy is the default (smart: fire once now).
    let mut trigger = every_second();
    trigger.misfire_threshold = Some(chrono::Duration::seconds(1));
    let tick = client
        .create_job_def(&noop_job("tick"), Some(&trigger))
        .await
        .expect("create cron job");
    let first = db.triggers_of(tick.id).await[0]
        .next_fire_at
        .expect("first fire");

    let mut nodes = vec![
        ServeProcess::spawn(&dir, &url, "n1"),
        ServeProcess::spawn(&dir, &url, "n2"),
    ];
    db.wait_active(&["n1", "n2"], Duration::from_secs(20)).await;
    let fired = |f: &Vec<fires::Model>| f.iter().filter(|f| f.status == "succeeded").count() >= 2;
    let before = poll(Duration::from_secs(10), || db.fires_of("tick"), fired).await;
    assert!(fired(&before), "tick fires before the outage: {before:?}");

    server.stop().expect("stop PostgreSQL");
    let down_at = Utc::now().timestamp_millis();
    // The outage itself: a wait, not a wait for a condition.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for node in &mut nodes {
        assert!(
            node.is_running(),
            "node {} died while the database was down; its log ends:\n{}",
            node.id,
            node.log_tail()
        );
    }
    server.start().expect("start PostgreSQL again");
    let up_at = Utc::now().timestamp_millis();

    // Firing resumes: a tick scheduled after the restart ran.
    let resumed = |f: &Vec<fires::Model>| {
        f.iter()
            .any(|f| f.scheduled_at > up_at + 1000 && f.status == "succeeded")
    };
    let after = poll(Duration::from_secs(20), || db.fires_of("tick"), resumed).await;
    assert!(
        resumed(&after),
        "ticks resumed after the restart: {:?}\nn1 log:\n{}",
        after
            .iter()
            .map(|f| (f.scheduled_at, &f.status))
            .collect::<Vec<_>>(),
        nodes[0].log_tail()
    );
    for node in &mut nodes {
        assert!(
            node.is_running(),
            "node {} died after the outage; its log ends:\n{}",
            node.id,
            node.log_tail()
        );
    }
    let rows = db.nodes().await;
    assert!(
        rows.iter().all(|n| n.state == "active"),
        "no node was declared dead over the outage: {rows:?}"
    );
    client.pause("tick").await.expect("pause");
    for node in &mut nodes {
        let status = node.terminate().await;
        assert!(status.success(), "node {} exited with {status}", node.id);
    }

    let fires = db.fires().await;
    assert_no_fire_twice(&fires);
    let trigger = db.triggers_of(tick.id).await.remove(0);
    let ticks = assert_every_second_once("tick", &trigger, first, &fires);
    // One misfire plan after the outage: the seconds missed are recorded
    // `skipped`, and the most recent of them runs, late, all at the
    // instant the plan was made.
    let summary: Vec<(i64, &str, Option<i64>)> = ticks
        .iter()
        .map(|f| {
            (
                f.scheduled_at,
                f.status.as_str(),
                f.started_at.map(|s| s - f.scheduled_at),
            )
        })
        .collect();
    let skipped: Vec<&fires::Model> = ticks.iter().filter(|f| f.status == "skipped").collect();
    assert!(
        !skipped.is_empty(),
        "the seconds missed in the outage are recorded as skipped: {summary:?}"
    );
    let planned_at = skipped[0].finished_at.expect("a skipped record's time");
    for f in &skipped {
        assert!(
            f.reason.as_deref().is_some_and(|r| r.contains("misfired")),
            "a skipped fire says why: {f:?}"
        );
        assert_eq!(
            f.finished_at,
            Some(planned_at),
            "one plan skipped them all: {summary:?}"
        );
        assert!(
            f.scheduled_at >= down_at - 1000 && f.scheduled_at <= up_at,
            "only seconds of the outage ({down_at}..{up_at}) are skipped: {summary:?}"
        );
    }
    let last_skipped = skipped[skipped.len() - 1].scheduled_at;
    let late = ticks
        .iter()
        .find(|f| f.scheduled_at == last_skipped + 1000)
        .expect("a fire after the skipped ones");
    // started_at is when the job actually started: on the plan's instant,
    // plus the time to record the batch and hand the fire over.
    assert_eq!(late.status, "succeeded", "{summary:?}");
    let started = late.started_at.expect("a started fire");
    assert!(
        started >= planned_at && started < planned_at + 1000,
        "the most recent missed second fired once, now, by the same plan: {summary:?}"
    );
    assert!(
        planned_at - skipped[0].scheduled_at > 1000,
        "it was a misfire (later than the 1 s threshold): {summary:?}"
    );
    // Every other second ran, each within the threshold.
    for f in ticks
        .iter()
        .filter(|f| f.status != "skipped" && f.id != late.id)
    {
        assert_eq!(f.status, "succeeded", "{summary:?}");
        let lateness = f.started_at.expect("started") - f.scheduled_at;
        assert!(
            (0..=1000).contains(&lateness),
            "second {} ran {lateness} ms late: {summary:?}",
            f.scheduled_at
        );
    }
}

// ---- 5. clock skew -----------------------------------------------------------

/// The system clock, off by a fixed amount.
#[derive(Debug)]
struct SkewedClock(chrono::Duration);

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

/// A job kind that notes the real (system) instant it ran at, and where.
#[derive(Default)]
struct Stamp {
    runs: Mutex<Vec<(String, i64, DateTime<Utc>)>>,
}

#[async_trait]
impl JobKind for Stamp {
    fn name(&self) -> &'static str {
        "stamp"
    }

    fn validate(&self, _settings: &Value) -> Result<(), String> {
        Ok(())
    }

    async fn run(&self, fire: &FireContext, _settings: &Value) -> JobOutcome {
        self.runs.lock().unwrap().push((
            fire.node.clone(),
            fire.scheduled_at.timestamp_millis(),
            Utc::now(),
        ));
        JobOutcome::Succeeded { output: None }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_skewed_clocks_measure_their_offset_and_fire_on_database_time() {
    let Some(test_db) = shared_database("clock_skew").await else {
        return;
    };
    let url = test_db.url.clone();
    let stamp = Arc::new(Stamp::default());
    let mut registry = JobRegistry::with_builtins();
    registry.register(stamp.clone());
    let skew = chrono::Duration::seconds(30);
    // Each node serves a pool of its own, so each fires its own job.
    let mut running = Vec::new();
    for (id, clock) in [("fast", skew), ("slow", -skew)] {
        let scheduler = SchedulerSettings {
            node_id: Some(id.to_string()),
            pools: vec![id.to_string()],
            checkin_interval: CHECKIN,
            dead_after_checkins: DEAD_AFTER,
            poll_interval: Duration::from_millis(200),
            lease: Duration::from_secs(2),
            ..SchedulerSettings::default()
        };
        let settings = Settings {
            database_url: url.clone(),
            node_id: id.to_string(),
            scheduler,
        };
        let (node, _) = Node::start(
            settings,
            &Config::default(),
            registry.clone(),
            Arc::new(SkewedClock(clock)),
        )
        .await
        .expect("start node");
        let task = tokio::spawn({
            let node = node.clone();
            async move { node.run(std::future::pending()).await }
        });
        running.push((node, task));
    }
    let db = Db::connect(&url).await;

    // After a check-in, each node's offset to the database is the
    // opposite of its skew.
    let checked_in = |rows: &Vec<nodes::Model>| {
        rows.len() == 2 && rows.iter().all(|n| n.last_checkin_at > n.started_at)
    };
    let rows = poll(Duration::from_secs(10), || db.nodes(), checked_in).await;
    assert!(checked_in(&rows), "both nodes checked in: {rows:?}");
    for row in &rows {
        let expected = if row.id == "fast" { -30_000 } else { 30_000 };
        assert!(
            (row.clock_offset_ms - expected).abs() < 2000,
            "{}: offset {} ms, expected about {expected} ms",
            row.id,
            row.clock_offset_ms
        );
    }

    // A one-off for each node, due 3 s from now (the producer's clock and
    // the database's are the same host's).
    let store = Store::connect(&url).await.expect("connect");
    let client = Client::new(store, Arc::new(cosched::SystemClock), registry);
    for id in ["fast", "slow"] {
        let mut job = JobDef::new(format!("on-{id}"), "stamp");
        job.pool = id.to_string();
        client.create_job_def(&job, None).await.expect("create job");
        client
            .schedule_in(&format!("on-{id}"), Duration::from_secs(3), None)
            .await
            .expect("schedule");
    }
    let done = |f: &Vec<fires::Model>| f.len() == 2 && f.iter().all(|f| f.status == "succeeded");
    let fires = poll(Duration::from_secs(15), || db.fires(), done).await;
    assert!(done(&fires), "both one-offs fired: {fires:?}");
    for (node, task) in running {
        node.stop_token().cancel();
        let report = task.await.expect("node task");
        assert!(!report.declared_dead, "{} was declared dead", node.id());
    }

    assert_no_fire_twice(&fires);
    let runs = stamp.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 2, "each one-off ran once: {runs:?}");
    for id in ["fast", "slow"] {
        let fire = fires
            .iter()
            .find(|f| f.job_name == format!("on-{id}"))
            .expect("fire");
        assert_eq!(fire.node_id.as_deref(), Some(id));
        let started = fire.started_at.expect("started");
        assert!(
            started >= fire.scheduled_at,
            "{id}: recorded start {started} before the scheduled {}",
            fire.scheduled_at
        );
        // By the real clock (the database's): not early, and not 30 s late.
        let (_, _, ran_at) = runs.iter().find(|(n, _, _)| n == id).expect("run");
        let lateness = ran_at.timestamp_millis() - fire.scheduled_at;
        assert!(
            lateness >= -5,
            "{id} fired {} ms early by the database clock",
            -lateness
        );
        assert!(
            lateness < 5000,
            "{id} fired {lateness} ms late: its skew was not corrected"
        );
    }
}
