//! The lease's order and shape, on every backend: highest priority first,
//! on-time before late within a priority, then earliest, across the bands
//! the lease reads one by one; the sorted fallback past `MAX_BANDS`
//! priorities keeps the same order; and the plan never sorts and reads
//! about as many rows as it takes, however many triggers are due or
//! stored.

use std::collections::BTreeSet;

use chrono::Duration;
use cosched::model::{JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::store::{LeaseParams, MAX_BANDS, ON_TIME_WINDOW_MS, Store};

use crate::support::{self, TestDb, t0};

async fn stores() -> Vec<(TestDb, Store)> {
    let mut out = Vec::new();
    for db in support::backends().await {
        let store = Store::connect(&db.url).await.expect("connect");
        store.migrate().await.expect("migrate");
        out.push((db, store));
    }
    out
}

/// `t0()` plus `secs` seconds, in UTC milliseconds.
fn at(secs: i64) -> i64 {
    t0().timestamp_millis() + secs * 1000
}

fn once(secs: i64, priority: i32) -> TriggerDef {
    let mut def = TriggerDef::new(ScheduleSpec::Once {
        at: t0() + Duration::seconds(secs),
    });
    def.priority = Some(priority);
    def
}

/// Leases up to `limit` at `now_ms` and returns the leased triggers'
/// scheduled instants (seconds after t0), as a set: the order within one
/// lease is not the point, which triggers it took is.
async fn lease(store: &Store, now_ms: i64, limit: u64) -> BTreeSet<i64> {
    lease_ms(store, now_ms, limit)
        .await
        .iter()
        .map(|ms| (ms - at(0)) / 1000)
        .collect()
}

/// Leases up to `limit` at `now_ms`: the leased triggers' next fires (UTC
/// ms), ascending.
async fn lease_ms(store: &Store, now_ms: i64, limit: u64) -> Vec<i64> {
    let pools = vec!["default".to_string()];
    let mut due: Vec<i64> = store
        .lease_due_triggers(&LeaseParams {
            node_id: "a",
            now_ms,
            lease_ms: 600_000,
            limit,
            pools: &pools,
            due_by_ms: now_ms,
        })
        .await
        .expect("lease")
        .triggers
        .iter()
        .map(|t| t.next_fire_at.expect("due"))
        .collect();
    due.sort_unstable();
    due
}

fn set(secs: &[i64]) -> BTreeSet<i64> {
    secs.iter().copied().collect()
}

#[tokio::test]
async fn a_lease_takes_priority_first_then_on_time_before_late_then_earliest() {
    assert_eq!(ON_TIME_WINDOW_MS, 60_000, "the instants below assume 60 s");
    for (db, store) in stores().await {
        let b = db.backend;
        store
            .job_create(&JobDef::new("j", "noop"), None, at(0))
            .await
            .unwrap();
        // Now is t0 + 600 s: on time means due in the last 60 s.
        for (secs, priority) in [
            (590, 9),
            (595, 9),
            (100, 9), // late
            (700, 9), // not due
            (560, 5),
            (0, 5),   // late
            (200, 5), // late
            (599, 1),
            (50, 1), // late
        ] {
            store
                .trigger_create("j", &once(secs, priority), at(0))
                .await
                .unwrap();
        }
        let now = at(600);
        assert_eq!(lease(&store, now, 3).await, set(&[590, 595, 100]), "{b}");
        assert_eq!(lease(&store, now, 1).await, set(&[560]), "{b}");
        assert_eq!(lease(&store, now, 3).await, set(&[0, 200, 599]), "{b}");
        assert_eq!(lease(&store, now, 5).await, set(&[50]), "{b}");
        assert_eq!(lease(&store, now, 5).await, set(&[]), "{b}: 700 is not due");
        assert_eq!(lease(&store, at(700), 5).await, set(&[700]), "{b}");
    }
}

#[tokio::test]
async fn past_the_band_limit_the_sorted_lease_keeps_the_same_order() {
    for (db, store) in stores().await {
        let b = db.backend;
        store
            .job_create(&JobDef::new("j", "noop"), None, at(0))
            .await
            .unwrap();
        let bands = MAX_BANDS as i32 + 2;
        // One on-time trigger per priority, due later the higher it is,
        // and a late one at the top priority.
        for p in 0..bands {
            store
                .trigger_create("j", &once(500 + i64::from(p), p), at(0))
                .await
                .unwrap();
        }
        store
            .trigger_create("j", &once(10, bands - 1), at(0))
            .await
            .unwrap();
        let pools = vec!["default".to_string()];
        let plan = store.lease_plan(&pools, at(540), 1).await.unwrap();
        assert!(plan.sorts, "{b}: the fallback sorts\n{}", plan.text);
        let top = 500 + i64::from(bands - 1);
        assert_eq!(lease(&store, at(540), 1).await, set(&[top]), "{b}");
        assert_eq!(lease(&store, at(540), 1).await, set(&[10]), "{b}: late");
        assert_eq!(
            lease(&store, at(540), 2).await,
            set(&[top - 1, top - 2]),
            "{b}"
        );
    }
}

#[tokio::test]
async fn the_lease_reads_about_what_it_takes_however_many_are_due_or_stored() {
    for (db, store) in stores().await {
        let b = db.backend;
        let mut def = JobDef::new("j", "noop");
        def.priority = 5;
        let job = store.job_create(&def, None, at(0)).await.unwrap();
        let now = at(3600);
        // Statistics taken while the table held a few triggers, as
        // autovacuum leaves them before a burst: they make the planner
        // expect a row or two where thousands are due.
        store
            .bench_insert_once(&job, &[now + 1], at(0))
            .await
            .unwrap();
        let sql = support::sql(&db.url).await;
        support::exec(&sql, "ANALYZE").await.unwrap();
        // 3,000 due on time, 500 late, 3,000 stored for tomorrow, and a
        // second priority with a few due.
        let on_time: Vec<i64> = (0..3000).map(|i| now - 30_000 + i).collect();
        let late: Vec<i64> = (0..500).map(at).collect();
        let stored: Vec<i64> = (0..3000).map(|i| now + 86_400_000 + i).collect();
        store
            .bench_insert_once(&job, &on_time, at(0))
            .await
            .unwrap();
        store.bench_insert_once(&job, &late, at(0)).await.unwrap();
        store.bench_insert_once(&job, &stored, at(0)).await.unwrap();
        store
            .trigger_create("j", &once(3590, 7), at(0))
            .await
            .unwrap();
        let pools = vec!["default".to_string()];
        let plan = store.lease_plan(&pools, now, 10).await.unwrap();
        assert!(!plan.sorts, "{b}: the lease never sorts\n{}", plan.text);
        if let Some(read) = plan.rows_read {
            // The band probes read one entry each; the lease itself its
            // 10 rows and the next one of each range it ended in.
            assert!(
                read <= 40,
                "{b}: read {read} rows to take 10\n{}",
                plan.text
            );
        }
        let taken = lease_ms(&store, now, 10).await;
        let mut expected: Vec<i64> = on_time[..9].to_vec();
        expected.push(at(3590));
        expected.sort_unstable();
        assert_eq!(
            taken, expected,
            "{b}: priority 7 first, then the earliest on-time ones"
        );
    }
}
