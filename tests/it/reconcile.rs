//! Reconciling the file with the database: added, changed, unchanged and
//! removed jobs; API jobs untouched; the trigger of a job whose schedule
//! did not change keeps its state.

use std::time::Duration;

use cosched::model::JobDef;
use cosched::schedule::ScheduleSpec;
use cosched::{JobRegistry, config};

use crate::support::{Harness, sqlite, t0};

fn job(name: &str, extra: &str) -> String {
    format!("[[job]]\nname = \"{name}\"\nkind = \"noop\"\n{extra}\n")
}

async fn reconcile(h: &Harness, text: &str) -> cosched::store::ReconcileReport {
    let cfg = config::parse(text, "jobs.toml", &JobRegistry::with_builtins()).unwrap();
    h.store
        .reconcile_config(&cfg.jobs, &cfg.calendars, h.clock.now_ms())
        .await
        .unwrap()
}

use cosched::Clock;

#[tokio::test]
async fn reconcile_creates_updates_keeps_and_removes_config_jobs_only() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    h.client
        .create_job_def(&JobDef::new("from-api", "noop"), None)
        .await
        .unwrap();
    let api_before = h.client.job("from-api").await.unwrap().job;

    let v1 = [
        job("same", "cron = \"0 0 * * * ?\""),
        job("reschedule", "cron = \"0 0 * * * ?\""),
        job("retune", "every = \"10s\""),
        job("gone", "cron = \"0 0 * * * ?\""),
    ]
    .concat();
    let report = reconcile(&h, &v1).await;
    assert_eq!(report.created, ["same", "reschedule", "retune", "gone"]);

    // Let the interval trigger fire twice so it has state worth keeping.
    h.step_and_settle().await;
    h.advance(10);
    h.step_and_settle().await;
    let retune_before = h.client.job("retune").await.unwrap().triggers[0].clone();
    assert_eq!(retune_before.times_fired, 2);
    let same_before = h.client.job("same").await.unwrap();

    h.advance(5);
    let v2 = [
        job("same", "cron = \"0 0 * * * ?\""),
        job("reschedule", "cron = \"0 30 * * * ?\""),
        job("retune", "every = \"10s\"\ntimeout = \"5s\""),
        job("new", "at = 2026-04-01T00:00:00Z"),
    ]
    .concat();
    let report = reconcile(&h, &v2).await;
    assert_eq!(report.created, ["new"]);
    assert_eq!(report.updated, ["reschedule", "retune"]);
    assert_eq!(report.unchanged, ["same"]);
    assert_eq!(report.removed, ["gone"]);

    // Unchanged: the job and its trigger are exactly as they were.
    let same_after = h.client.job("same").await.unwrap();
    assert_eq!(same_after.job, same_before.job);
    assert_eq!(same_after.triggers, same_before.triggers);
    // A changed schedule: a new trigger, next fire computed afresh.
    let resched = h.client.job("reschedule").await.unwrap();
    assert_eq!(resched.triggers.len(), 1);
    assert_eq!(
        match &resched.triggers[0].spec {
            ScheduleSpec::Cron { expr, .. } => Some(expr.source()),
            _ => None,
        },
        Some("0 30 * * * ?")
    );
    assert_eq!(
        resched.next_fire_at,
        Some((t0() + chrono::Duration::minutes(30)).timestamp_millis())
    );
    // A changed job setting: the job updated, its trigger's state kept.
    let retune = h.client.job("retune").await.unwrap();
    assert_eq!(retune.job.timeout, Some(Duration::from_millis(5000)));
    assert_eq!(retune.triggers[0].id, retune_before.id);
    assert_eq!(retune.triggers[0].times_fired, 2);
    assert_eq!(retune.triggers[0].next_fire_at, retune_before.next_fire_at);
    // Removed from the file: gone. The API job: untouched.
    assert!(h.client.job("gone").await.is_err());
    assert_eq!(h.client.job("from-api").await.unwrap().job, api_before);

    // The same file again changes nothing.
    let report = reconcile(&h, &v2).await;
    assert!(report.created.is_empty() && report.updated.is_empty() && report.removed.is_empty());
    assert_eq!(report.unchanged.len(), 4);
}

#[tokio::test]
async fn a_file_may_not_redefine_an_api_job() {
    let db = sqlite();
    let h = Harness::new(&db.url).await;
    h.client
        .create_job_def(&JobDef::new("mine", "noop"), None)
        .await
        .unwrap();
    let cfg = config::parse(&job("mine", ""), "jobs.toml", &JobRegistry::with_builtins()).unwrap();
    let err = h
        .store
        .reconcile_config(&cfg.jobs, &cfg.calendars, 0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("created through the API"), "{err}");
    assert_eq!(
        h.client.jobs().await.unwrap().len(),
        1,
        "nothing was written"
    );
}

#[tokio::test]
async fn an_operator_pause_survives_a_changed_file() {
    let db = sqlite();
    let h = Harness::new(&db.url).await;
    reconcile(&h, &job("j", "cron = \"0 0 * * * ?\"")).await;
    h.client.pause("j").await.unwrap();
    reconcile(&h, &job("j", "cron = \"0 0 * * * ?\"\ntimeout = \"1m\"")).await;
    let row = h.client.job("j").await.unwrap();
    assert!(row.job.paused);
    assert_eq!(row.triggers[0].state, "paused");
}
