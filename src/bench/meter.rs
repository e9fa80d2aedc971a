//! The CPU meter of a run: the database server's CPU seconds (a PostgreSQL
//! server on this host, found from the bench's own backend) and the
//! nodes', sampled at the start and end of the measured window, so the
//! report can say what one fire cost each side.

use serde::Serialize;

use super::cpu::{Memory, ServerProcesses};
use super::fleet::Fleet;
use super::processes::ProcessUsage;
use crate::store::{Store, StoreError};

/// Where the CPU time is read from.
pub struct Meter {
    server: Option<ServerProcesses>,
}

/// CPU seconds used so far, where they can be read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub database: Option<f64>,
    pub nodes: Option<f64>,
}

/// What the fires of a run cost, from the meter's two samples.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    /// CPU seconds of the database server over the measured window (None:
    /// SQLite, whose work is the nodes' own, or a server on another host).
    pub database_cpu_seconds: Option<f64>,
    pub database_cpu_us_per_fire: Option<f64>,
    /// CPU seconds of the nodes (in-process: this whole process).
    pub nodes_cpu_seconds: Option<f64>,
    pub nodes_cpu_us_per_fire: Option<f64>,
    /// The largest node's resident memory at the end (in-process: this
    /// whole process).
    pub node_memory: Option<Memory>,
    /// Each `serve` child's usage (with `--processes`).
    pub processes: Vec<ProcessUsage>,
}

impl Meter {
    /// A meter for `store`'s server (a PostgreSQL server whose processes
    /// this host can read), or for the nodes alone.
    pub async fn new(store: &Store) -> Result<Meter, StoreError> {
        let server = store
            .bench_backend_pid()
            .await?
            .and_then(ServerProcesses::of_backend);
        Ok(Meter { server })
    }

    pub fn sample(&self, fleet: &Fleet) -> Sample {
        Sample {
            database: self.server.as_ref().and_then(ServerProcesses::cpu_seconds),
            nodes: fleet.cpu_seconds(),
        }
    }

    /// The cost of `fires` fires between two samples.
    pub fn cost(from: Sample, to: Sample, fires: u64, fleet: &Fleet) -> Cost {
        let spent = |a: Option<f64>, b: Option<f64>| Some((b? - a?).max(0.0));
        let per_fire = |s: Option<f64>| s.filter(|_| fires > 0).map(|s| s * 1e6 / fires as f64);
        let database = spent(from.database, to.database);
        let nodes = spent(from.nodes, to.nodes);
        Cost {
            database_cpu_seconds: database,
            database_cpu_us_per_fire: per_fire(database),
            nodes_cpu_seconds: nodes,
            nodes_cpu_us_per_fire: per_fire(nodes),
            node_memory: fleet.memory(),
            processes: fleet.usage(),
        }
    }
}
