//! Real `cosched serve` processes for `cosched bench --processes N`: what a
//! deployment runs, each with its own process, runtime and connections.
//!
//! Each child gets a configuration file of its own in a folder under the
//! system's temporary directory (no jobs; `[scheduler]` with its node id,
//! the bench's pool and `max_concurrent`), the database on `--database`,
//! `RUST_LOG=warn`, and its output in a log file beside the configuration
//! (shown when it fails to start). A child counts as ready when its node
//! row is `active` in the database. Stopping sends SIGTERM (the node's
//! graceful shutdown) and waits; a child still running after the grace is
//! killed. The CPU time and memory of each child are read from `/proc`
//! while it still runs (see [`super::cpu`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::process::{Child, Command};

use super::BenchError;
use super::cpu::{self, Memory};
use crate::model::NodeState;
use crate::os;
use crate::store::Store;

/// How long a child may take to register its node.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a child may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a child used, read just before it was stopped.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub node: String,
    pub pid: u32,
    pub cpu_seconds: Option<f64>,
    pub memory: Option<Memory>,
}

struct ServeChild {
    node: String,
    child: Child,
    log: PathBuf,
}

/// The running children, stopped by [`ServeProcesses::stop`].
pub struct ServeProcesses {
    children: Vec<ServeChild>,
    dir: PathBuf,
}

impl ServeProcesses {
    /// Starts `n` `program serve` children on `database`, serving only
    /// `pool`, and waits until each has registered its node.
    pub async fn start(
        program: &Path,
        database: &str,
        pool: &str,
        n: usize,
        max_concurrent: usize,
        store: &Store,
    ) -> Result<ServeProcesses, BenchError> {
        let dir = std::env::temp_dir().join(format!("cosched-{pool}"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| BenchError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let mut started = ServeProcesses {
            children: Vec::new(),
            dir,
        };
        for i in 1..=n {
            let node = format!("{pool}-p{i}");
            match started.spawn(program, database, pool, &node, max_concurrent) {
                Ok(child) => started.children.push(child),
                Err(e) => {
                    started.stop().await;
                    return Err(e);
                }
            }
        }
        if let Err(e) = started.wait_ready(store).await {
            started.stop().await;
            return Err(e);
        }
        Ok(started)
    }

    fn spawn(
        &self,
        program: &Path,
        database: &str,
        pool: &str,
        node: &str,
        max_concurrent: usize,
    ) -> Result<ServeChild, BenchError> {
        let failed = |what: &str, path: &Path, e: std::io::Error| {
            BenchError::Failed(format!("cannot {what} {}: {e}", path.display()))
        };
        let config = self.dir.join(format!("{node}.toml"));
        let text = format!(
            "# written by cosched bench for one child node\n[scheduler]\nnode_id = {}\n\
             pools = [{}]\nmax_concurrent = {max_concurrent}\n",
            toml_string(node),
            toml_string(pool)
        );
        std::fs::write(&config, text).map_err(|e| failed("write", &config, e))?;
        let log = self.dir.join(format!("{node}.log"));
        let out = std::fs::File::create(&log).map_err(|e| failed("create", &log, e))?;
        let err = out.try_clone().map_err(|e| failed("open", &log, e))?;
        let child = Command::new(program)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--database")
            .arg(database)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed("start", program, e))?;
        Ok(ServeChild {
            node: node.to_string(),
            child,
            log,
        })
    }

    async fn wait_ready(&mut self, store: &Store) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            for c in &mut self.children {
                if let Ok(Some(status)) = c.child.try_wait() {
                    let log = std::fs::read_to_string(&c.log).unwrap_or_default();
                    return Err(BenchError::Failed(format!(
                        "node {} exited ({status}) before it was ready:\n{}",
                        c.node,
                        log.trim_end()
                    )));
                }
            }
            let active = store.nodes_list().await?;
            let ready = self.children.iter().all(|c| {
                active
                    .iter()
                    .any(|n| n.node.id == c.node && n.node.state == NodeState::Active)
            });
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::Failed(format!(
                    "the bench's serve processes did not register within {READY_TIMEOUT:?}; \
                     their logs are in {}",
                    self.dir.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process ids of the running children.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().filter_map(|c| c.child.id()).collect()
    }

    /// What each child has used so far.
    pub fn usage(&self) -> Vec<ProcessUsage> {
        self.children
            .iter()
            .filter_map(|c| {
                let pid = c.child.id()?;
                Some(ProcessUsage {
                    node: c.node.clone(),
                    pid,
                    cpu_seconds: cpu::process_cpu_seconds(pid),
                    memory: cpu::process_memory(pid),
                })
            })
            .collect()
    }

    /// Stops every child (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) and
    /// removes the configuration folder.
    pub async fn stop(mut self) {
        for c in &self.children {
            if let Some(pid) = c.child.id() {
                os::terminate(pid);
            }
        }
        for c in &mut self.children {
            match tokio::time::timeout(STOP_TIMEOUT, c.child.wait()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(node = %c.node, error = %e, "cannot wait for a bench node")
                }
                Err(_) => {
                    tracing::warn!(node = %c.node, "a bench node did not stop in time: killing it");
                    if let Err(e) = c.child.kill().await {
                        tracing::warn!(node = %c.node, error = %e, "cannot kill a bench node");
                    }
                }
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::debug!(dir = %self.dir.display(), error = %e, "cannot remove the bench folder");
        }
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
