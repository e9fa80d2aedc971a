//! The overlap decision between fires of one job, as a pure function of
//! the job's policy and its fires running or queued at that moment. The
//! store loads those fires (inside the transaction that records the new
//! ones, with the job row locked on PostgreSQL) and feeds them in.

use super::enums::OverlapPolicy;

/// What happens to one fire that would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Run,
    /// Wait in the queue behind the running fire.
    Queue,
    /// Record as skipped, with the reason.
    Skip(String),
}

/// The runs of one job while new fires of it are admitted, one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlapGate {
    policy: OverlapPolicy,
    /// Ids of the fires running; 0 stands for a fire admitted here.
    running: Vec<i64>,
    queued: bool,
}

impl OverlapGate {
    /// The gate of a job with `policy` whose fires `running` run and
    /// (`queued`) of which one already waits in the queue.
    pub fn new(policy: OverlapPolicy, running: Vec<i64>, queued: bool) -> OverlapGate {
        OverlapGate {
            policy,
            running,
            queued,
        }
    }

    /// Decides the next fire that would run, and counts it in.
    pub fn admit(&mut self) -> Admission {
        let busy = !self.running.is_empty();
        match self.policy {
            OverlapPolicy::Skip if busy => Admission::Skip(format!(
                "overlap: a fire of this job is still running (policy skip{})",
                self.running
                    .first()
                    .filter(|id| **id > 0)
                    .map(|id| format!(", fire {id}"))
                    .unwrap_or_default()
            )),
            OverlapPolicy::Queue if busy && self.queued => Admission::Skip(
                "overlap: a fire of this job is running and another is already queued (policy queue)"
                    .into(),
            ),
            OverlapPolicy::Queue if busy => {
                self.queued = true;
                Admission::Queue
            }
            _ => {
                self.running.push(0);
                Admission::Run
            }
        }
    }

    /// Under `replace`, the running fires to cancel before a new one starts.
    pub fn to_replace(&self) -> Vec<i64> {
        if self.policy == OverlapPolicy::Replace {
            self.running.iter().copied().filter(|id| *id > 0).collect()
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKIP_RUNNING: &str = "overlap: a fire of this job is still running (policy skip, fire 7)";
    const SKIP_QUEUED: &str =
        "overlap: a fire of this job is running and another is already queued (policy queue)";

    /// The admission of one new fire, and what `replace` would cancel, for
    /// a job idle, running fire 7, or running fire 7 with one queued.
    fn decide(policy: OverlapPolicy) -> [(Admission, Vec<i64>); 3] {
        [(vec![], false), (vec![7], false), (vec![7], true)].map(|(running, queued)| {
            let mut gate = OverlapGate::new(policy, running, queued);
            let admission = gate.admit();
            let replaced = if admission == Admission::Run {
                gate.to_replace()
            } else {
                Vec::new()
            };
            (admission, replaced)
        })
    }

    #[test]
    fn allow_always_runs_and_replaces_nothing() {
        let run = (Admission::Run, vec![]);
        assert_eq!(
            decide(OverlapPolicy::Allow),
            [run.clone(), run.clone(), run]
        );
    }

    #[test]
    fn skip_runs_only_when_idle() {
        let skipped = (Admission::Skip(SKIP_RUNNING.into()), vec![]);
        assert_eq!(
            decide(OverlapPolicy::Skip),
            [(Admission::Run, vec![]), skipped.clone(), skipped]
        );
    }

    #[test]
    fn queue_queues_one_behind_a_running_fire_and_skips_the_next() {
        assert_eq!(
            decide(OverlapPolicy::Queue),
            [
                (Admission::Run, vec![]),
                (Admission::Queue, vec![]),
                (Admission::Skip(SKIP_QUEUED.into()), vec![]),
            ]
        );
    }

    #[test]
    fn replace_runs_and_cancels_the_running_fires() {
        assert_eq!(
            decide(OverlapPolicy::Replace),
            [
                (Admission::Run, vec![]),
                (Admission::Run, vec![7]),
                (Admission::Run, vec![7]),
            ]
        );
    }

    #[test]
    fn fires_admitted_in_one_pass_count_as_running() {
        let mut skip = OverlapGate::new(OverlapPolicy::Skip, vec![], false);
        assert_eq!(skip.admit(), Admission::Run);
        assert_eq!(
            skip.admit(),
            Admission::Skip("overlap: a fire of this job is still running (policy skip)".into())
        );
        let mut queue = OverlapGate::new(OverlapPolicy::Queue, vec![], false);
        assert_eq!(queue.admit(), Admission::Run);
        assert_eq!(queue.admit(), Admission::Queue);
        assert_eq!(queue.admit(), Admission::Skip(SKIP_QUEUED.into()));
    }
}
