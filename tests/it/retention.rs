//! Fire-history retention on both backends, with a manual clock: what the
//! policy keeps and prunes, the newest fire of each status that always
//! survives, the prune lease that keeps a second node out, and
//! `cosched fires prune` by hand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cosched::model::{FireStatus, JobDef, KeepFires, KeepFiresOverride};
use cosched::retention::{PrunedRows, Pruner, PrunerConfig};
use cosched::store::{PruneLease, PruneScope, PruneStep, Store};
use cosched::{Clock, ManualClock};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use crate::config::cosched;
use crate::support::{self, TestDb, t0};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

async fn store_on(db: &TestDb) -> Store {
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Inserts fires of `job` with plain SQL: each (status, age in ms before
/// `now_ms`).
async fn insert_fires(db: &TestDb, store: &Store, job: &str, now_ms: i64, fires: &[(&str, i64)]) {
    let job = store.job_by_name(job).await.unwrap().unwrap();
    let rows: Vec<String> = fires
        .iter()
        .map(|(status, age)| {
            let at = now_ms - age;
            format!("({}, '{}', {at}, {at}, '{status}')", job.id, job.name)
        })
        .collect();
    let sql = format!(
        "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, status) VALUES {}",
        rows.join(", ")
    );
    support::exec(db.sql().await, &sql).await.unwrap();
}

/// The remaining fires: (job, status, age in hours), sorted by all three
/// (each test's fires are distinct in them).
async fn remaining(db: &TestDb, now_ms: i64) -> Vec<(String, String, i64)> {
    let conn = db.sql().await;
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT job_name, status, scheduled_at FROM fires ORDER BY job_name, status, scheduled_at",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let at: i64 = r.try_get("", "scheduled_at").unwrap();
            (
                r.try_get("", "job_name").unwrap(),
                r.try_get("", "status").unwrap(),
                (now_ms - at) / HOUR_MS,
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn pruner(store: &Store, clock: &Arc<ManualClock>, node: &str) -> Pruner {
    let mut config = PrunerConfig::new(node, KeepFires::default());
    // Small steps, no pause, one job a page: every pass takes several
    // transactions and reads the jobs over several pages.
    config.batch = 2;
    config.pause = Duration::ZERO;
    config.jobs_page = 1;
    Pruner::new(config, store.clone(), clock.clone())
}

fn by_reason(removed: &[PrunedRows]) -> BTreeMap<(String, String), u64> {
    removed
        .iter()
        .map(|r| {
            let reason = r.status.map_or("max_rows", |s| s.as_str()).to_string();
            ((r.job.clone(), reason), r.rows)
        })
        .collect()
}

#[tokio::test]
async fn a_pass_prunes_to_the_policy_and_keeps_the_newest_fire_of_each_status() {
    for db in support::backends().await {
        let store = store_on(&db).await;
        let clock = Arc::new(ManualClock::new(t0()));
        let now = clock.now_ms();
        store
            .job_create(&JobDef::new("report", "noop"), None, now)
            .await
            .unwrap();
        let mut chatty = JobDef::new("chatty", "noop");
        chatty.keep_fires = KeepFiresOverride {
            succeeded: Some(Duration::from_secs(86_400)),
            max_rows: Some(5),
            ..Default::default()
        };
        store.job_create(&chatty, None, now).await.unwrap();
        // The defaults: succeeded 14 days, failed 90, skipped 7.
        insert_fires(
            &db,
            &store,
            "report",
            now,
            &[
                ("succeeded", 20 * DAY_MS),
                ("succeeded", 15 * DAY_MS),
                ("succeeded", 13 * DAY_MS),
                ("succeeded", DAY_MS),
                // Both past 90 days: the newer one is the last failure.
                ("failed", 100 * DAY_MS),
                ("failed", 95 * DAY_MS),
                ("skipped", 10 * DAY_MS),
                ("skipped", 8 * DAY_MS),
                ("skipped", 6 * DAY_MS),
                // The only one of its status: kept however old.
                ("timed_out", 300 * DAY_MS),
                // Never pruned, whatever their age.
                ("running", 200 * DAY_MS),
                ("queued", 200 * DAY_MS),
            ],
        )
        .await;
        // Its own policy: successes for a day, at most 5 final rows
        // besides the newest of each status.
        let mut chatty_fires: Vec<(&str, i64)> =
            (1..=10).map(|h| ("succeeded", h * HOUR_MS)).collect();
        chatty_fires.push(("succeeded", 3 * DAY_MS));
        chatty_fires.push(("failed", 30 * DAY_MS));
        insert_fires(&db, &store, "chatty", now, &chatty_fires).await;

        let report = pruner(&store, &clock, "node-a").run_once().await.unwrap();
        assert!(report.ran, "{}", db.backend);
        let expected: BTreeMap<(String, String), u64> = [
            (("chatty", "succeeded"), 1),
            (("chatty", "max_rows"), 4),
            (("report", "failed"), 1),
            (("report", "skipped"), 2),
            (("report", "succeeded"), 2),
        ]
        .into_iter()
        .map(|((j, r), n)| ((j.to_string(), r.to_string()), n))
        .collect();
        assert_eq!(by_reason(&report.removed), expected, "{}", db.backend);
        let left = remaining(&db, now).await;
        let want: Vec<(String, String, i64)> = [
            ("chatty", "failed", 30 * 24),
            ("chatty", "succeeded", 1),
            ("chatty", "succeeded", 2),
            ("chatty", "succeeded", 3),
            ("chatty", "succeeded", 4),
            ("chatty", "succeeded", 5),
            ("chatty", "succeeded", 6),
            ("report", "failed", 95 * 24),
            ("report", "queued", 200 * 24),
            ("report", "running", 200 * 24),
            ("report", "skipped", 6 * 24),
            ("report", "succeeded", 24),
            ("report", "succeeded", 13 * 24),
            ("report", "timed_out", 300 * 24),
        ]
        .into_iter()
        .map(|(j, s, h)| (j.to_string(), s.to_string(), h))
        .collect();
        assert_eq!(left, want, "{}", db.backend);

        // A second pass finds nothing more; a year later only the newest
        // of each status (and the unfinished fires) are left.
        let again = pruner(&store, &clock, "node-a").run_once().await.unwrap();
        assert_eq!(again.total(), 0, "{}", db.backend);
        clock.advance(chrono::Duration::days(365));
        let later = clock.now_ms();
        pruner(&store, &clock, "node-a").run_once().await.unwrap();
        let statuses: Vec<(String, String)> = remaining(&db, later)
            .await
            .into_iter()
            .map(|(j, s, _)| (j, s))
            .collect();
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(j, s)| (j.to_string(), s.to_string()))
                .collect()
        };
        assert_eq!(
            statuses,
            pairs(&[
                ("chatty", "failed"),
                ("chatty", "succeeded"),
                ("report", "failed"),
                ("report", "queued"),
                ("report", "running"),
                ("report", "skipped"),
                ("report", "succeeded"),
                ("report", "timed_out"),
            ]),
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn a_second_node_does_not_prune_while_another_holds_the_lease() {
    for db in support::backends().await {
        let store = store_on(&db).await;
        let clock = Arc::new(ManualClock::new(t0()));
        let now = clock.now_ms();
        store
            .job_create(&JobDef::new("report", "noop"), None, now)
            .await
            .unwrap();
        let old: Vec<(&str, i64)> = (20..30).map(|d| ("succeeded", d * DAY_MS)).collect();
        insert_fires(&db, &store, "report", now, &old).await;

        // Node A is in the middle of a pass: it holds the lease.
        let a_lease = PruneLease {
            owner: "node-a",
            now_ms: now,
            until_ms: now + 300_000,
        };
        assert!(store.prune_lease_take(&a_lease).await.unwrap());
        let b = pruner(&store, &clock, "node-b");
        let report = b.run_once().await.unwrap();
        assert!(!report.ran, "{}", db.backend);
        assert_eq!(remaining(&db, now).await.len(), 10, "{}", db.backend);

        // Once A's lease has expired, B takes it and prunes; A's next
        // step then removes nothing.
        clock.advance(chrono::Duration::seconds(301));
        let b_lease = PruneLease {
            owner: "node-b",
            now_ms: clock.now_ms(),
            until_ms: clock.now_ms() + 300_000,
        };
        assert!(store.prune_lease_take(&b_lease).await.unwrap());
        let a_step = PruneStep {
            job_id: store.job_by_name("report").await.unwrap().unwrap().id,
            scope: PruneScope::OlderThan {
                status: FireStatus::Succeeded,
                before_ms: clock.now_ms(),
            },
            limit: 100,
            lease: Some(PruneLease {
                now_ms: clock.now_ms(),
                ..a_lease
            }),
        };
        assert_eq!(
            store.fires_prune(&a_step).await.unwrap(),
            None,
            "{}",
            db.backend
        );
        assert!(!store.prune_lease_take(&a_lease).await.unwrap());
        assert_eq!(remaining(&db, now).await.len(), 10, "{}", db.backend);

        let report = b.run_once().await.unwrap();
        assert!(report.ran, "{}", db.backend);
        // All but the newest success went (older than 14 days).
        assert_eq!(report.total(), 9, "{}", db.backend);
        assert_eq!(remaining(&db, now).await.len(), 1, "{}", db.backend);
        // B gave the lease up when its pass ended: A may take it now.
        let a_now = PruneLease {
            owner: "node-a",
            now_ms: clock.now_ms(),
            until_ms: clock.now_ms() + 300_000,
        };
        assert!(
            store.prune_lease_take(&a_now).await.unwrap(),
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn fires_prune_by_hand_prints_what_it_removes_or_would() {
    let db = support::sqlite();
    let store = store_on(&db).await;
    let now = chrono::Utc::now().timestamp_millis();
    for name in ["a", "b"] {
        store
            .job_create(&JobDef::new(name, "noop"), None, now)
            .await
            .unwrap();
    }
    insert_fires(
        &db,
        &store,
        "a",
        now,
        &[
            ("succeeded", 40 * DAY_MS),
            ("succeeded", 35 * DAY_MS),
            ("succeeded", DAY_MS),
            ("failed", 50 * DAY_MS),
            ("failed", 45 * DAY_MS),
            ("failed", 2 * DAY_MS),
            ("running", 60 * DAY_MS),
        ],
    )
    .await;
    insert_fires(
        &db,
        &store,
        "b",
        now,
        &[("succeeded", 40 * DAY_MS), ("succeeded", 39 * DAY_MS)],
    )
    .await;
    let run = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--database", &db.url]);
        cosched(&args)
    };
    let out = run(&[
        "fires",
        "prune",
        "--older-than",
        "30d",
        "--dry-run",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    // a: two old successes, two old failures; b: one (its newest stays).
    assert_eq!(v["total"], 5);
    assert_eq!(remaining(&db, now).await.len(), 9);

    let out = run(&[
        "fires",
        "prune",
        "--older-than",
        "30d",
        "--status",
        "failed",
        "--job",
        "a",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("removed 2 fires"), "{text}");
    assert!(text.contains("failed"), "{text}");
    let left = remaining(&db, now).await;
    assert_eq!(
        left.iter()
            .filter(|(j, s, _)| j == "a" && s == "failed")
            .count(),
        1
    );

    let out = run(&["fires", "prune", "--older-than", "30d"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("removed 3 fires")
    );
    let left: Vec<(String, String, i64)> = remaining(&db, now).await;
    assert_eq!(
        left,
        [
            ("a", "failed", 2 * 24),
            ("a", "running", 60 * 24),
            ("a", "succeeded", 24),
            ("b", "succeeded", 39 * 24),
        ]
        .map(|(j, s, h)| (j.to_string(), s.to_string(), h))
        .to_vec()
    );

    // Unfinished fires are refused with a usage error, and nothing changes.
    let out = run(&[
        "fires",
        "prune",
        "--older-than",
        "1d",
        "--status",
        "running",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never pruned"));
    assert_eq!(remaining(&db, now).await.len(), 4);
}

#[tokio::test]
async fn the_read_before_a_prune_step_says_no_only_when_the_step_removes_nothing() {
    for db in support::backends().await {
        let b = db.backend;
        let store = store_on(&db).await;
        let now = t0().timestamp_millis();
        store
            .job_create(&JobDef::new("j", "noop"), None, now)
            .await
            .unwrap();
        let job = store.job_by_name("j").await.unwrap().unwrap();
        let older = |days: i64| PruneStep {
            job_id: job.id,
            scope: PruneScope::OlderThan {
                status: FireStatus::Succeeded,
                before_ms: now - days * DAY_MS,
            },
            limit: 10,
            lease: None,
        };
        let beyond = |keep: u64| PruneStep {
            job_id: job.id,
            scope: PruneScope::BeyondNewest { keep },
            limit: 10,
            lease: None,
        };
        // No fires: nothing to read, nothing to remove.
        assert_eq!(
            store.fires_prune_due(&[older(1), beyond(0)]).await.unwrap(),
            [false, false],
            "{b}"
        );
        insert_fires(
            &db,
            &store,
            "j",
            now,
            &[("succeeded", 3 * DAY_MS), ("succeeded", HOUR_MS)],
        )
        .await;
        // (step, what the read says, whether the step removes a row). The
        // read leaves out the newest-of-each-status rule, so it may say
        // yes to a step that rule then empties (never no to one that
        // removes): beyond(1) counts the newest fire, which is kept.
        // All in one call, as a pass asks for a page of jobs.
        let table = [
            (older(5), false, false),
            (older(2), true, true),
            (older(0), true, true),
            (beyond(2), false, false),
            (beyond(1), true, false),
            (beyond(0), true, true),
        ];
        let steps: Vec<PruneStep<'_>> = table.iter().map(|(step, _, _)| *step).collect();
        let said = store.fires_prune_due(&steps).await.unwrap();
        for ((step, due, removes), said) in table.iter().zip(said) {
            let count = store.fires_prune_count(step).await.unwrap();
            assert_eq!(said, *due, "{b}: {:?}", step.scope);
            assert_eq!(count > 0, *removes, "{b}: {:?}", step.scope);
        }
    }
}
