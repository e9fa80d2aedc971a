//! Events a node emits as it works: for tests to await, for logs and metrics.
//!
//! Sending costs almost nothing when nobody listens. Tests subscribe and
//! wait for the event they expect (with a timeout), never sleep and assert.

use tokio::sync::broadcast;

use crate::model::FireStatus;

/// Something that happened on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchedulerEvent {
    /// A pass leased this many triggers.
    Leased { count: usize },
    /// A fire was recorded and handed to the executor.
    Fired {
        fire_id: i64,
        job: String,
        scheduled_at_ms: i64,
    },
    /// A fire was recorded as skipped (misfire or overlap policy).
    Skipped {
        fire_id: i64,
        job: String,
        scheduled_at_ms: i64,
    },
    /// A fire finished with this status (`recorded`: the fenced update took).
    Completed {
        fire_id: i64,
        job: String,
        status: FireStatus,
        recorded: bool,
    },
    /// A trigger could not be evaluated and was put in the error state.
    TriggerError { trigger_id: i64, message: String },
    /// The node checked in.
    CheckedIn,
    /// Another node was declared dead and its fires recovered: `rerun`
    /// counts every fire that runs again (one that never started, or a new
    /// attempt of one that did, for jobs that request recovery).
    Recovered {
        node: String,
        rerun: usize,
        abandoned: usize,
    },
}

/// A broadcaster of [`SchedulerEvent`]s.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<SchedulerEvent>,
}

impl Events {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self { tx }
    }

    pub fn emit(&self, event: SchedulerEvent) {
        // An error only means nobody is listening.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SchedulerEvent> {
        self.tx.subscribe()
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}
