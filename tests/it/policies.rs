//! Overlap, retries, pause scopes, standby and cancellation, stepped with a
//! manual clock; overlap also across two nodes over one database.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Duration as TimeDelta;
use cosched::events::SchedulerEvent;
use cosched::model::{JobDef, OverlapPolicy, RetryPolicy};
use cosched::{FireContext, JobKind, JobOutcome, JobRegistry};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::scheduling::{Gate, cron_trigger, fires_of};
use crate::support::{Harness, sqlite, t0};

fn gated(gate: &Arc<Semaphore>) -> JobRegistry {
    let mut registry = JobRegistry::with_builtins();
    registry.register(Arc::new(Gate(gate.clone())));
    registry
}

fn statuses(fires: &[cosched::model::Fire]) -> Vec<(i64, u32, &str)> {
    fires
        .iter()
        .map(|f| {
            (
                (f.scheduled_at - t0().timestamp_millis()) / 1000,
                f.attempt,
                f.status.as_str(),
            )
        })
        .collect()
}

async fn gate_job(h: &Harness, overlap: OverlapPolicy) {
    let mut job = JobDef::new("g", "gate");
    job.overlap = overlap;
    h.client
        .create_job_def(&job, Some(&cron_trigger("*/10 * * * * ?")))
        .await
        .unwrap();
}

#[tokio::test]
async fn overlap_skip_records_the_fire_that_came_due_while_the_last_still_ran() {
    let db = sqlite();
    let gate = Arc::new(Semaphore::new(0));
    let mut h = Harness::with(&db.url, "node-a", 4, gated(&gate)).await;
    gate_job(&h, OverlapPolicy::Skip).await;
    assert_eq!(h.step().await.started, 1);
    h.advance(10);
    let pass = h.step().await;
    assert_eq!(
        (pass.started, pass.skipped),
        (0, 1),
        "recorded as skipped, not started"
    );
    gate.add_permits(1);
    h.completions(1).await;
    h.advance(10);
    gate.add_permits(1);
    assert_eq!(h.step_and_settle().await.started, 1);
    let fires = fires_of(&h, "g").await;
    assert_eq!(
        statuses(&fires),
        [
            (0, 1, "succeeded"),
            (10, 1, "skipped"),
            (20, 1, "succeeded")
        ]
    );
    assert!(
        fires[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("still running (policy skip")
    );
}

#[tokio::test]
async fn overlap_queue_starts_one_waiting_fire_when_the_running_one_ends() {
    let db = sqlite();
    let gate = Arc::new(Semaphore::new(0));
    let mut h = Harness::with(&db.url, "node-a", 4, gated(&gate)).await;
    gate_job(&h, OverlapPolicy::Queue).await;
    assert_eq!(h.step().await.started, 1); // t0 runs
    h.advance(10);
    assert_eq!(h.step().await.started, 0); // t10 queued
    h.advance(10);
    assert_eq!(h.step().await.started, 0); // t20 skipped: one is already queued
    gate.add_permits(1);
    h.completions(1).await;
    assert_eq!(h.step().await.started, 1, "the queued fire starts");
    gate.add_permits(1);
    h.completions(1).await;
    let fires = fires_of(&h, "g").await;
    assert_eq!(
        statuses(&fires),
        [
            (0, 1, "succeeded"),
            (10, 1, "succeeded"),
            (20, 1, "skipped")
        ]
    );
    assert!(
        fires[2]
            .reason
            .as_deref()
            .unwrap()
            .contains("already queued")
    );
    assert!(
        fires[1].started_at.unwrap() >= fires[0].finished_at.unwrap(),
        "never ran together"
    );
}

#[tokio::test]
async fn overlap_replace_cancels_the_running_fire_and_starts_the_new_one() {
    let db = sqlite();
    let gate = Arc::new(Semaphore::new(0));
    let mut h = Harness::with(&db.url, "node-a", 4, gated(&gate)).await;
    gate_job(&h, OverlapPolicy::Replace).await;
    assert_eq!(h.step().await.started, 1);
    h.advance(10);
    assert_eq!(h.step().await.started, 1, "the new fire starts at once");
    // The next pass notices the replaced fire and stops it here.
    h.step().await;
    let stopped = h.completions(1).await;
    assert!(
        matches!(
            &stopped[0],
            SchedulerEvent::Completed {
                recorded: false,
                ..
            }
        ),
        "the replaced fire's outcome is not written over its record: {stopped:?}"
    );
    gate.add_permits(1);
    h.completions(1).await;
    let fires = fires_of(&h, "g").await;
    assert_eq!(
        statuses(&fires),
        [(0, 1, "cancelled"), (10, 1, "succeeded")]
    );
    assert!(
        fires[0]
            .error
            .as_deref()
            .unwrap()
            .contains("replaced by a newer fire")
    );
}

#[tokio::test]
async fn overlap_is_enforced_across_two_nodes_over_one_database() {
    let db = sqlite();
    let gate = Arc::new(Semaphore::new(0));
    let mut a = Harness::with(&db.url, "node-a", 4, gated(&gate)).await;
    let mut b = Harness::with(&db.url, "node-b", 4, gated(&gate)).await;
    let mut job = JobDef::new("g", "gate");
    job.overlap = OverlapPolicy::Queue;
    a.client.create_job_def(&job, None).await.unwrap();
    a.client.trigger_now("g", None).await.unwrap();
    assert_eq!(a.step().await.started, 1, "node a runs the first fire");
    b.client.trigger_now("g", None).await.unwrap();
    assert_eq!(
        b.step().await.started,
        0,
        "node b queues the second: a fire is running on a"
    );
    assert_eq!(
        b.step().await.started,
        0,
        "and does not start it while a's runs"
    );
    b.client.trigger_now("g", None).await.unwrap();
    b.step().await;
    gate.add_permits(1);
    a.completions(1).await;
    assert_eq!(
        b.step().await.started,
        1,
        "b starts the queued fire once a's ended"
    );
    gate.add_permits(1);
    b.completions(1).await;
    let fires = fires_of(&a, "g").await;
    let by_status: Vec<(&str, Option<&str>)> = fires
        .iter()
        .map(|f| (f.status.as_str(), f.node_id.as_deref()))
        .collect();
    assert_eq!(
        by_status,
        [
            ("succeeded", Some("node-a")),
            ("succeeded", Some("node-b")),
            ("skipped", None)
        ]
    );
}

#[tokio::test]
async fn a_failing_fire_is_retried_with_backoff_as_new_attempts_of_the_same_fire() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = JobDef::new("flaky", "command");
    job.settings = json!({"command": ["sh", "-c", "echo attempt $COSCHED_ATTEMPT >&2; exit 1"]});
    job.retry = RetryPolicy {
        max_attempts: 3,
        backoff: Duration::from_secs(10),
        factor: 2.0,
        max_backoff: Duration::from_secs(3600),
        jitter: 0.0,
    };
    h.client.create_job_def(&job, None).await.unwrap();
    h.client.trigger_now("flaky", None).await.unwrap();
    assert_eq!(h.step_and_settle().await.started, 1);
    h.advance(9);
    assert_eq!(h.step().await.started, 0, "the backoff has not passed");
    h.advance(1);
    assert_eq!(h.step_and_settle().await.started, 1, "attempt 2 after 10 s");
    h.advance(19);
    assert_eq!(h.step().await.started, 0);
    h.advance(1);
    assert_eq!(
        h.step_and_settle().await.started,
        1,
        "attempt 3 after 20 s more"
    );
    h.advance(3600);
    assert_eq!(h.step().await.started, 0, "three attempts in all");
    let fires = fires_of(&h, "flaky").await;
    assert_eq!(
        statuses(&fires),
        [(0, 1, "failed"), (0, 2, "failed"), (0, 3, "failed")]
    );
    assert_eq!(
        fires[2].error.as_deref(),
        Some("exited with status 1: attempt 3")
    );
    assert_eq!(
        fires[1].started_at,
        Some((t0() + TimeDelta::seconds(10)).timestamp_millis())
    );
    assert!(
        fires[1]
            .reason
            .as_deref()
            .unwrap()
            .starts_with(&format!("retry of fire {}", fires[0].id))
    );
}

#[tokio::test]
async fn a_timed_out_fire_follows_the_retry_policy() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = JobDef::new("slow", "command");
    job.settings = json!({"command": ["sleep", "30"]});
    job.timeout = Some(Duration::from_millis(200));
    job.retry = RetryPolicy {
        max_attempts: 2,
        jitter: 0.0,
        ..RetryPolicy::default()
    };
    h.client.create_job_def(&job, None).await.unwrap();
    h.client.trigger_now("slow", None).await.unwrap();
    h.step_and_settle().await;
    h.advance(1);
    h.step_and_settle().await;
    let fires = fires_of(&h, "slow").await;
    assert_eq!(statuses(&fires), [(0, 1, "timed_out"), (0, 2, "timed_out")]);
}

/// A kind that fails and says not to retry.
struct Fatal;

#[async_trait]
impl JobKind for Fatal {
    fn name(&self) -> &'static str {
        "fatal"
    }
    fn validate(&self, _: &Value) -> Result<(), String> {
        Ok(())
    }
    async fn run(&self, _: &FireContext, _: &Value) -> JobOutcome {
        JobOutcome::Failed {
            error: "bad input".into(),
            output: None,
            retry: cosched::jobs::RetryDirective::Never,
        }
    }
}

#[tokio::test]
async fn a_job_can_fail_without_retry_whatever_the_policy() {
    let db = sqlite();
    let mut registry = JobRegistry::with_builtins();
    registry.register(Arc::new(Fatal));
    let mut h = Harness::with(&db.url, "node-a", 4, registry).await;
    let mut job = JobDef::new("f", "fatal");
    job.retry.max_attempts = 5;
    h.client.create_job_def(&job, None).await.unwrap();
    h.client.trigger_now("f", None).await.unwrap();
    h.step_and_settle().await;
    h.advance(3600);
    assert_eq!(h.step().await.started, 0);
    assert_eq!(fires_of(&h, "f").await.len(), 1);
}

#[tokio::test]
async fn pausing_a_trigger_a_group_or_the_whole_scheduler() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut a = JobDef::new("a", "noop");
    a.group = Some("reports".into());
    let mut b = JobDef::new("b", "noop");
    b.group = Some("reports".into());
    h.client
        .create_job_def(&a, Some(&cron_trigger("*/10 * * * * ?")))
        .await
        .unwrap();
    h.client
        .create_job_def(&b, Some(&cron_trigger("*/10 * * * * ?")))
        .await
        .unwrap();
    h.client
        .create_job_def(
            &JobDef::new("c", "noop"),
            Some(&cron_trigger("*/10 * * * * ?")),
        )
        .await
        .unwrap();
    let extra = h
        .client
        .schedule_at("c", t0() + TimeDelta::seconds(10), None)
        .await
        .unwrap();
    h.step_and_settle().await; // t0: a, b, c

    // One trigger of c paused: its other trigger still fires.
    let cron_of_c = h.client.job("c").await.unwrap().triggers[0].id;
    assert_ne!(cron_of_c, extra.id);
    assert!(h.client.pause_trigger(cron_of_c).await.unwrap());
    // The group: a and b.
    assert_eq!(h.client.pause_group("reports").await.unwrap(), ["a", "b"]);
    h.advance(10);
    assert_eq!(h.step_and_settle().await.started, 1, "only c's one-off");
    // Resuming c (the job) does not resume its own paused trigger.
    h.client.pause("c").await.unwrap();
    h.client.resume("c").await.unwrap();
    let c = h.client.job("c").await.unwrap();
    assert_eq!(c.triggers[0].state, "paused");

    // Standby: nothing starts anywhere, triggers keep their schedule.
    h.client.resume_group("reports").await.unwrap();
    h.client.resume_trigger(cron_of_c).await.unwrap();
    h.client.set_standby(true).await.unwrap();
    h.advance(10);
    let pass = h.step().await;
    assert!(pass.standby);
    assert_eq!(pass.started, 0);
    h.client.set_standby(false).await.unwrap();
    assert_eq!(
        h.step_and_settle().await.started,
        3,
        "a, b and c fire after standby"
    );
    let ran = |job: &'static str| {
        let h = &h;
        async move {
            fires_of(h, job)
                .await
                .iter()
                .filter(|f| f.status == "succeeded")
                .count()
        }
    };
    assert_eq!((ran("a").await, ran("b").await, ran("c").await), (2, 2, 3));
}

#[tokio::test]
async fn a_fire_cancelled_through_the_api_stops_on_its_node() {
    let db = sqlite();
    let gate = Arc::new(Semaphore::new(0));
    let mut h = Harness::with(&db.url, "node-a", 4, gated(&gate)).await;
    h.client
        .create_job_def(&JobDef::new("g", "gate"), None)
        .await
        .unwrap();
    h.client.trigger_now("g", None).await.unwrap();
    h.step().await;
    let fire = fires_of(&h, "g").await.remove(0);
    assert!(h.client.cancel_fire(fire.id).await.unwrap());
    assert!(!h.client.cancel_fire(fire.id).await.unwrap(), "only once");
    h.step().await;
    h.completions(1).await;
    assert_eq!(h.executor.running(), 0, "the job was stopped");
    let fire = h.store.fire_by_id(fire.id).await.unwrap().unwrap();
    assert_eq!(fire.status, "cancelled");
    assert_eq!(fire.error.as_deref(), Some("cancelled through the API"));
}

#[tokio::test]
async fn overlap_skip_holds_across_two_nodes_on_every_backend() {
    for db in crate::support::backends().await {
        let gate = Arc::new(Semaphore::new(0));
        let mut a = Harness::with(&db.url, "node-a", 4, gated(&gate)).await;
        let b = Harness::with(&db.url, "node-b", 4, gated(&gate)).await;
        let mut job = JobDef::new("g", "gate");
        job.overlap = OverlapPolicy::Skip;
        a.client.create_job_def(&job, None).await.unwrap();
        a.client.trigger_now("g", None).await.unwrap();
        assert_eq!(a.step().await.started, 1, "{}", db.backend);
        b.client.trigger_now("g", None).await.unwrap();
        let pass = b.step().await;
        assert_eq!(
            (pass.started, pass.skipped),
            (0, 1),
            "{}: b sees a's fire running",
            db.backend
        );
        gate.add_permits(1);
        a.completions(1).await;
        let fires = fires_of(&a, "g").await;
        let got: Vec<(&str, Option<&str>)> = fires
            .iter()
            .map(|f| (f.status.as_str(), f.node_id.as_deref()))
            .collect();
        assert_eq!(
            got,
            [("succeeded", Some("node-a")), ("skipped", None)],
            "{}",
            db.backend
        );
    }
}
