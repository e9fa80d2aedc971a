//! The closed sets of the domain, as stored in their columns (and checked
//! there by the database): fire statuses, trigger and node states, overlap
//! policies and where a job was declared.

use crate::closed_enum::closed_enum;

closed_enum! {
    /// The status of one fire attempt (`fires.status`).
    pub enum FireStatus: "fire status" {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        TimedOut = "timed_out",
        Skipped = "skipped",
        Abandoned = "abandoned",
        Cancelled = "cancelled",
    }
}

impl FireStatus {
    /// A status no later write changes.
    pub fn is_final(self) -> bool {
        !matches!(self, FireStatus::Queued | FireStatus::Running)
    }
}

closed_enum! {
    /// The state of a trigger (`triggers.state`).
    pub enum TriggerState: "trigger state" {
        Waiting = "waiting",
        Paused = "paused",
        Complete = "complete",
        Error = "error",
    }
}

closed_enum! {
    /// What happens when a fire comes due while the job's previous fire
    /// still runs (`jobs.overlap`).
    #[derive(Default)]
    pub enum OverlapPolicy: "overlap policy" {
        #[default]
        Allow = "allow",
        Skip = "skip",
        Queue = "queue",
        Replace = "replace",
    }
}

closed_enum! {
    /// Where a job, trigger or calendar was declared (`source`): the
    /// configuration file owns `config` rows, producers own `api` rows.
    pub enum JobSource: "source" {
        Config = "config",
        Api = "api",
    }
}

closed_enum! {
    /// The state of a node (`nodes.state`).
    pub enum NodeState: "node state" {
        Active = "active",
        Dead = "dead",
        Stopped = "stopped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stored_ones() {
        assert_eq!(
            FireStatus::ALL.map(FireStatus::as_str).join(","),
            "queued,running,succeeded,failed,timed_out,skipped,abandoned,cancelled"
        );
        assert_eq!(
            "replace".parse::<OverlapPolicy>(),
            Ok(OverlapPolicy::Replace)
        );
        assert_eq!(
            "sometimes"
                .parse::<OverlapPolicy>()
                .unwrap_err()
                .to_string(),
            "unknown overlap policy `sometimes`: expected allow, skip, queue or replace"
        );
        assert!(FireStatus::TimedOut.is_final() && !FireStatus::Queued.is_final());
        assert_eq!(NodeState::Dead.to_string(), "dead");
        assert_eq!(JobSource::Config.as_str(), "config");
    }
}
