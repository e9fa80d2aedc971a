//! Nodes as the database records them (the running node is
//! [`crate::node::Node`]).

use super::enums::NodeState;

/// A stored node (a `nodes` row, decoded). Instants are UTC milliseconds
/// since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// The pools it fires, as it declared them.
    pub pools: Vec<String>,
    pub started_at: i64,
    pub last_checkin_at: i64,
    pub checkin_interval_ms: i64,
    /// Its clock's measured offset to the database clock.
    pub clock_offset_ms: i64,
    pub state: NodeState,
    pub declared_dead_by: Option<String>,
    pub declared_dead_at: Option<i64>,
}

/// A node with the number of fires it is running, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    pub node: NodeInfo,
    pub running_fires: i64,
}
