//! The nodes a bench runs: `M` real [`Node`]s in this process (each with
//! its own id and connection pool), or `M` real `cosched serve` child
//! processes ([`ServeProcesses`]). Either way they serve only the bench's
//! pool, so they fire nothing else and other nodes on the database never
//! fire the bench's triggers.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::cpu::{self, Memory};
use super::processes::{ProcessUsage, ServeProcesses};
use super::{BenchError, BenchPlan};
use crate::clock::Clock;
use crate::config::{Config, Settings};
use crate::jobs::JobRegistry;
use crate::node::{Node, ShutdownReport};
use crate::store::Store;

/// The bench's nodes, running until [`Fleet::stop`].
pub enum Fleet {
    InProcess(Vec<(Node, JoinHandle<ShutdownReport>)>),
    Processes(ServeProcesses),
}

impl Fleet {
    /// Starts the plan's nodes on the pool `pool` and returns once every
    /// one is serving it.
    pub async fn start(
        plan: &BenchPlan,
        pool: &str,
        store: &Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Fleet, BenchError> {
        if let Some(program) = &plan.serve_program {
            let children = ServeProcesses::start(
                program,
                &plan.database,
                pool,
                plan.nodes,
                plan.max_concurrent,
                store,
            )
            .await?;
            return Ok(Fleet::Processes(children));
        }
        let mut running = Vec::new();
        for i in 1..=plan.nodes {
            match start_node(plan, pool, i, clock.clone()).await {
                Ok(node) => running.push(node),
                Err(e) => {
                    Fleet::InProcess(running).stop().await;
                    return Err(e);
                }
            }
        }
        Ok(Fleet::InProcess(running))
    }

    /// CPU seconds the nodes have used so far (in-process: this whole
    /// process, the bench's own polling included).
    pub fn cpu_seconds(&self) -> Option<f64> {
        match self {
            Fleet::InProcess(_) => cpu::process_cpu_seconds(std::process::id()),
            Fleet::Processes(children) => children
                .pids()
                .into_iter()
                .map(cpu::process_cpu_seconds)
                .sum::<Option<f64>>(),
        }
    }

    /// The largest node's memory (in-process: this whole process).
    pub fn memory(&self) -> Option<Memory> {
        match self {
            Fleet::InProcess(_) => cpu::process_memory(std::process::id()),
            Fleet::Processes(children) => children
                .usage()
                .into_iter()
                .filter_map(|u| u.memory)
                .max_by_key(|m| m.peak_rss_bytes),
        }
    }

    /// Each child process's usage (empty in-process).
    pub fn usage(&self) -> Vec<ProcessUsage> {
        match self {
            Fleet::InProcess(_) => Vec::new(),
            Fleet::Processes(children) => children.usage(),
        }
    }

    /// Stops every node and waits for each to shut down.
    pub async fn stop(self) {
        match self {
            Fleet::Processes(children) => children.stop().await,
            Fleet::InProcess(running) => {
                for (node, _) in &running {
                    node.stop_token().cancel();
                }
                for (node, handle) in running {
                    if let Err(e) = handle.await {
                        tracing::warn!(node = %node.id(), error = %e, "bench node ended abnormally");
                    }
                }
            }
        }
    }
}

/// Starts in-process node `i` of the bench: its own id and connections,
/// serving only the bench's pool.
async fn start_node(
    plan: &BenchPlan,
    pool: &str,
    i: usize,
    clock: Arc<dyn Clock>,
) -> Result<(Node, JoinHandle<ShutdownReport>), BenchError> {
    let config = Config::default();
    let mut settings = Settings::resolve(Some(plan.database.clone()), &config);
    settings.node_id = format!("{pool}-{i}");
    settings.scheduler.max_concurrent = plan.max_concurrent;
    settings.scheduler.pools = vec![pool.to_string()];
    let (node, _) = Node::start(settings, &config, JobRegistry::with_builtins(), clock).await?;
    let handle = tokio::spawn({
        let node = node.clone();
        async move { node.run(std::future::pending()).await }
    });
    Ok((node, handle))
}
