//! Shutdown: running fires drain within the grace period; those still
//! running after it are cancelled and recorded; leases are released.

use std::sync::Arc;
use std::time::Duration;

use cosched::config::{Config, Settings};
use cosched::events::SchedulerEvent;
use cosched::model::JobDef;
use cosched::{JobRegistry, Node, SystemClock};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::scheduling::{Gate, fires_of};
use crate::support::{Harness, sqlite};

#[tokio::test]
async fn shutdown_lets_running_fires_finish_within_the_grace_period() {
    let db = sqlite();
    let gate = Arc::new(Semaphore::new(0));
    let mut registry = JobRegistry::with_builtins();
    registry.register(Arc::new(Gate(gate.clone())));
    let h = Harness::with(&db.url, "node-a", 4, registry).await;
    h.client
        .create_job_def(&JobDef::new("slow", "gate"), None)
        .await
        .unwrap();
    h.client.trigger_now("slow", None).await.unwrap();
    h.client.trigger_now("slow", None).await.unwrap();
    assert_eq!(h.step().await.started, 2);
    let executor = h.executor.clone();
    let drain = tokio::spawn(async move { executor.shutdown(Duration::from_secs(30)).await });
    gate.add_permits(2);
    let report = drain.await.unwrap();
    assert_eq!(report.cancelled, 0);
    let fires = fires_of(&h, "slow").await;
    assert!(fires.iter().all(|f| f.status == "succeeded"), "{fires:?}");
    // Idempotent: a second shutdown returns at once.
    assert_eq!(
        h.executor.shutdown(Duration::from_secs(1)).await.cancelled,
        0
    );
}

#[tokio::test]
async fn shutdown_cancels_and_records_fires_still_running_after_the_grace_period() {
    let db = sqlite();
    let gate = Arc::new(Semaphore::new(0));
    let mut registry = JobRegistry::with_builtins();
    registry.register(Arc::new(Gate(gate.clone())));
    let h = Harness::with(&db.url, "node-a", 4, registry).await;
    h.client
        .create_job_def(&JobDef::new("stuck", "gate"), None)
        .await
        .unwrap();
    h.client.trigger_now("stuck", None).await.unwrap();
    assert_eq!(h.step().await.started, 1);
    let report = h.executor.shutdown(Duration::from_millis(100)).await;
    assert_eq!(report.cancelled, 1);
    let fires = fires_of(&h, "stuck").await;
    assert_eq!(fires[0].status, "cancelled");
    assert!(fires[0].error.as_deref().unwrap().contains("shut down"));
    assert!(fires[0].finished_at.is_some());
}

#[tokio::test]
async fn a_node_stops_leasing_cancels_a_stuck_command_and_releases_its_leases() {
    let db = sqlite();
    let config = Config::default();
    let mut settings = Settings::resolve(Some(db.url.clone()), &config);
    settings.node_id = "node-x".into();
    settings.scheduler.shutdown_grace = Duration::from_millis(300);
    let (node, _) = Node::start(
        settings,
        &config,
        JobRegistry::with_builtins(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let client = cosched::Client::new(
        node.store().clone(),
        Arc::new(SystemClock),
        JobRegistry::with_builtins(),
    );
    let mut job = JobDef::new("sleeper", "command");
    job.settings = json!({"command": ["sleep", "300"]});
    client.create_job_def(&job, None).await.unwrap();
    let mut events = node.events().subscribe();
    let stop = node.stop_token();
    let running = tokio::spawn({
        let node = node.clone();
        async move { node.run(std::future::pending()).await }
    });
    client.trigger_now("sleeper", None).await.unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(event, SchedulerEvent::Fired { .. }) {
            break;
        }
    }
    stop.cancel();
    let report = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.cancelled_fires, 1);
    let fires = client.fires(&Default::default()).await.unwrap();
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].status, "cancelled");
    // Nothing is left leased by the stopped node.
    let leased = client
        .jobs()
        .await
        .unwrap()
        .iter()
        .flat_map(|j| j.triggers.clone())
        .filter(|t| t.lease_owner.is_some())
        .count();
    assert_eq!(leased, 0);
}
