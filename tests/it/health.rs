//! Per-job health on both backends: last success, last failure, last
//! status, next fire and consecutive failures as every door shows them,
//! `expect_success_within` violated exactly past its window, and
//! `/healthz?strict=true` answering 503 naming the jobs.

use std::sync::Arc;
use std::time::Duration;

use cosched::client::views::health_json;
use cosched::model::{FireStatus, JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::store::Store;
use cosched::{Client, Clock, JobRegistry, ManualClock};
use serde_json::json;

use crate::http::{Running, get};
use crate::support::{self, TestDb, t0};

const HOUR_MS: i64 = 3_600_000;

/// Inserts a final fire of `job` scheduled at `at`, finished a second later.
async fn fire(db: &TestDb, job_id: i64, job: &str, status: &str, at: i64) {
    let sql = format!(
        "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, started_at, finished_at, status) \
         VALUES ({job_id}, '{job}', {at}, {at}, {at}, {}, '{status}')",
        at + 1000
    );
    support::exec(db.sql().await, &sql).await.unwrap();
}

#[tokio::test]
async fn health_shows_the_last_outcomes_and_the_expectation_is_violated_exactly_past_its_window() {
    for db in support::backends().await {
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let clock = Arc::new(ManualClock::new(t0()));
        let now = clock.now_ms();
        let client = Client::new(store.clone(), clock.clone(), JobRegistry::with_builtins());

        let mut a = JobDef::new("a", "noop");
        a.expect_success_within = Some(Duration::from_secs(12 * 3600));
        let next = TriggerDef::new(ScheduleSpec::Once {
            at: t0() + chrono::Duration::hours(1),
        });
        store.job_create(&a, Some(&next), now).await.unwrap();
        let mut b = JobDef::new("b", "noop");
        b.expect_success_within = Some(Duration::from_secs(3600));
        store.job_create(&b, None, now).await.unwrap();
        let a_id = store.job_by_name("a").await.unwrap().unwrap().id;
        fire(&db, a_id, "a", "failed", now - 20 * HOUR_MS).await;
        fire(&db, a_id, "a", "succeeded", now - 10 * HOUR_MS).await;
        fire(&db, a_id, "a", "failed", now - 5 * HOUR_MS).await;
        fire(&db, a_id, "a", "timed_out", now - 3 * HOUR_MS).await;
        fire(&db, a_id, "a", "skipped", now - 2 * HOUR_MS).await;
        // Unfinished fires are not outcomes.
        fire(&db, a_id, "a", "running", now - HOUR_MS).await;

        let jobs = client.jobs().await.unwrap();
        let ha = jobs[0].health.clone().expect("health of a");
        assert_eq!(ha.job, "a", "{}", db.backend);
        assert_eq!(
            ha.last_success_at,
            Some(now - 10 * HOUR_MS + 1000),
            "{}",
            db.backend
        );
        assert_eq!(
            ha.last_failure_at,
            Some(now - 3 * HOUR_MS + 1000),
            "{}",
            db.backend
        );
        assert_eq!(ha.last_status, Some(FireStatus::Skipped), "{}", db.backend);
        assert_eq!(ha.next_fire_at, Some(now + HOUR_MS), "{}", db.backend);
        assert_eq!(ha.consecutive_failures, 2, "{}", db.backend);
        assert!(!ha.unhealthy, "{}", db.backend);
        let hb = jobs[1].health.clone().expect("health of b");
        assert_eq!(
            (
                hb.last_success_at,
                hb.last_failure_at,
                hb.last_status,
                hb.consecutive_failures
            ),
            (None, None, None, 0),
            "{}",
            db.backend
        );
        assert_eq!(
            health_json(&ha),
            json!({
                "job": "a", "healthy": true,
                "last_success_at": "2026-03-02T00:00:01+00:00",
                "last_failure_at": "2026-03-02T07:00:01+00:00",
                "last_status": "skipped",
                "next_fire_at": "2026-03-02T11:00:00+00:00",
                "consecutive_failures": 2,
                "expect_success_within_ms": 12 * HOUR_MS,
            }),
            "{}",
            db.backend
        );

        // b: created at t0, no success yet: violated after one hour, not at it.
        clock.set(t0() + chrono::Duration::hours(1));
        assert!(
            !client.job("b").await.unwrap().health.unwrap().unhealthy,
            "{}",
            db.backend
        );
        clock.set(t0() + chrono::Duration::milliseconds(HOUR_MS + 1));
        assert!(
            client.job("b").await.unwrap().health.unwrap().unhealthy,
            "{}",
            db.backend
        );
        // a: its last success finished 10 h before t0 (plus a second).
        let a_limit = now - 10 * HOUR_MS + 1000 + 12 * HOUR_MS;
        clock.set(cosched::clock::from_ms(a_limit));
        assert!(
            !client.job("a").await.unwrap().health.unwrap().unhealthy,
            "{}",
            db.backend
        );
        clock.set(cosched::clock::from_ms(a_limit + 1));
        let unhealthy: Vec<String> = client
            .jobs_health()
            .await
            .unwrap()
            .into_iter()
            .filter(|h| h.unhealthy)
            .map(|h| h.job)
            .collect();
        assert_eq!(unhealthy, ["a", "b"], "{}", db.backend);
        // A new success makes a healthy again and ends its failure streak.
        fire(&db, a_id, "a", "succeeded", a_limit).await;
        let ha = client.job("a").await.unwrap().health.unwrap();
        assert!(
            !ha.unhealthy && ha.consecutive_failures == 0,
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn strict_healthz_answers_503_naming_the_jobs_whose_expectation_is_violated() {
    for db in support::backends().await {
        let node = Running::start(
            &db.url,
            "[[job]]\nname = \"nightly\"\nkind = \"noop\"\nexpect_success_within = \"1h\"\n",
        )
        .await;
        let addr = node.addr;
        let strict = get(addr, "/healthz?strict=true").await;
        assert_eq!(strict.status, 200, "{}: {}", db.backend, strict.body);
        assert_eq!(strict.json()["unhealthy_jobs"], json!([]), "{}", db.backend);

        // Created two hours ago and never succeeded since.
        support::exec(
            db.sql().await,
            "UPDATE jobs SET created_at = created_at - 7200000 WHERE name = 'nightly'",
        )
        .await
        .unwrap();
        let strict = get(addr, "/healthz?strict=true").await;
        assert_eq!(strict.status, 503, "{}: {}", db.backend, strict.body);
        let body = strict.json();
        assert_eq!(body["status"], "unhealthy", "{}", db.backend);
        assert_eq!(body["unhealthy_jobs"], json!(["nightly"]), "{}", db.backend);
        // Without strict the node itself is fine.
        let plain = get(addr, "/healthz").await;
        assert_eq!(plain.status, 200, "{}", db.backend);
        assert_eq!(plain.json()["status"], "ok", "{}", db.backend);
        // The job views say the same.
        let job = get(addr, "/jobs/nightly").await.json();
        assert_eq!(job["health"]["healthy"], false, "{}: {job}", db.backend);

        let id = node
            .node
            .store()
            .job_by_name("nightly")
            .await
            .unwrap()
            .unwrap()
            .id;
        let now = chrono::Utc::now().timestamp_millis();
        fire(&db, id, "nightly", "succeeded", now - 1000).await;
        let strict = get(addr, "/healthz?strict=true").await;
        assert_eq!(strict.status, 200, "{}: {}", db.backend, strict.body);
        node.stop().await;
    }
}
