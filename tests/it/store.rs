//! The store conformance suite: every test runs the real
//! [`cosched::store::Store`] API, on the real migrations, on every backend
//! from [`support::backends`] (SQLite always, PostgreSQL when the harness
//! can start it). Time is always an explicit `now_ms`, never the wall
//! clock; fire plans are built by hand, as the scheduler would build them
//! from `cosched::schedule::misfire`.

use chrono::Duration;
use cosched::model::{ConfigJob, FireStatus, Job, Trigger};
use cosched::model::{JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::schedule::misfire::{FirePlan, PlannedFire};
use cosched::store::{
    FireCompletion, FireFilter, LeaseParams, ReconcileReport, RecordFire, RecordOutcome, Store,
    StoreError,
};
use entity::fires;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};

use crate::support::{self, TestDb, t0};

/// A store on `db`. On PostgreSQL every session of its pool runs in
/// [`SESSION_TIME_ZONE`](support::pg::SESSION_TIME_ZONE), not UTC, so the
/// whole suite proves the store never depends on the session time zone
/// (sqlx asks for UTC when it connects; the hook sets it back).
async fn connect(db: &TestDb) -> Store {
    Store::connect_with(&db.url, |options| {
        options.map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|conn, _| {
                Box::pin(async move {
                    let sql = format!("SET TimeZone = '{}'", support::pg::SESSION_TIME_ZONE);
                    sea_orm::sqlx::Executor::execute(conn, sea_orm::sqlx::AssertSqlSafe(sql))
                        .await
                        .map(|_| ())
                })
            })
        });
    })
    .await
    .expect("connect")
}

/// A migrated store on each backend, with the database it lives in.
async fn stores() -> Vec<(TestDb, Store)> {
    let mut out = Vec::new();
    for db in support::backends().await {
        let store = connect(&db).await;
        store.migrate().await.expect("migrate");
        out.push((db, store));
    }
    out
}

/// `t0()` plus `secs` seconds, in UTC milliseconds.
fn at(secs: i64) -> i64 {
    t0().timestamp_millis() + secs * 1000
}

fn pools(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn noop_job(name: &str) -> JobDef {
    JobDef::new(name, "noop")
}

/// A one-off trigger at `t0 + secs`, with an optional priority.
fn once(secs: i64, priority: Option<i32>) -> TriggerDef {
    let mut def = TriggerDef::new(ScheduleSpec::Once {
        at: t0() + Duration::seconds(secs),
    });
    def.priority = priority;
    def
}

/// A trigger every `secs` seconds from `t0`.
fn every(secs: i64) -> TriggerDef {
    TriggerDef::new(ScheduleSpec::Interval {
        every: Duration::seconds(secs),
        start: Some(t0()),
        end: None,
        repeat: None,
    })
}

fn lease<'a>(node_id: &'a str, now_ms: i64, limit: u64, pools: &'a [String]) -> LeaseParams<'a> {
    LeaseParams {
        node_id,
        now_ms,
        lease_ms: 30_000,
        limit,
        pools,
        due_by_ms: now_ms,
    }
}

/// The plan for one fire at `scheduled_ms` that advances the trigger to
/// `next_ms` (None: the trigger is complete).
fn plan(trigger: &Trigger, scheduled_ms: i64, next_ms: Option<i64>) -> FirePlan {
    FirePlan {
        fires: vec![PlannedFire {
            scheduled_at: cosched::clock::from_ms(scheduled_ms),
            skip_reason: None,
        }],
        next_fire_at: next_ms.map(cosched::clock::from_ms),
        start_at: cosched::clock::from_ms(trigger.start_at),
        repeat_count: trigger.repeat_count,
        times_fired: trigger.times_fired + 1,
        misfired: false,
    }
}

async fn job(store: &Store, name: &str) -> Job {
    store.job_by_name(name).await.unwrap().expect("job exists")
}

async fn trigger(store: &Store, id: i64) -> Trigger {
    store
        .trigger_by_id(id)
        .await
        .unwrap()
        .expect("trigger exists")
}

async fn fire_count(db: &TestDb) -> u64 {
    fires::Entity::find().count(db.sql().await).await.unwrap()
}

async fn raw(db: &TestDb, sql: &str) -> Result<u64, sea_orm::DbErr> {
    support::exec(db.sql().await, sql).await
}

/// Records `plan` for the trigger as `node` leased it.
async fn record(
    store: &Store,
    node: &str,
    leased: &Trigger,
    now_ms: i64,
    plan: &FirePlan,
) -> RecordOutcome {
    let job = store
        .jobs_by_id(&[leased.job_id])
        .await
        .unwrap()
        .jobs
        .remove(&leased.job_id)
        .expect("the trigger's job");
    store
        .record_fire(&RecordFire {
            trigger: leased,
            job: &job,
            node_id: node,
            now_ms,
            plan,
            data: &serde_json::json!({}),
        })
        .await
        .expect("record_fire")
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    for (db, store) in stores().await {
        store
            .job_create(&noop_job("keep"), Some(&once(10, None)), at(0))
            .await
            .unwrap();
        store.migrate().await.expect("second migrate");
        let applied = Migrator::get_applied_migrations(db.sql().await)
            .await
            .unwrap();
        assert_eq!(
            applied.len(),
            Migrator::migrations().len(),
            "{}",
            db.backend
        );
        assert!(
            store.job_by_name("keep").await.unwrap().is_some(),
            "{}",
            db.backend
        );
        assert_eq!(
            store.jobs_list().await.unwrap()[0].triggers.len(),
            1,
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    for db in support::backends().await {
        let store = connect(&db).await;
        let conn = db.sql().await;
        Migrator::up(conn, None).await.expect("up");
        store
            .job_create(&noop_job("gone"), None, at(0))
            .await
            .unwrap();

        Migrator::down(conn, None).await.expect("down");
        assert_eq!(
            Migrator::get_pending_migrations(conn).await.unwrap().len(),
            Migrator::migrations().len(),
            "{}",
            db.backend
        );
        for table in ["jobs", "triggers", "fires", "nodes", "calendars"] {
            assert!(
                raw(&db, &format!("SELECT 1 FROM {table}")).await.is_err(),
                "{}: table {table} survived the down migration",
                db.backend
            );
        }

        Migrator::up(conn, None).await.expect("up again");
        assert!(
            store.job_by_name("gone").await.unwrap().is_none(),
            "{}",
            db.backend
        );
        store
            .job_create(&noop_job("back"), Some(&every(60)), at(0))
            .await
            .expect("the schema works after up, down, up");
    }
}

#[tokio::test]
async fn job_create_writes_job_and_trigger_and_rejects_a_duplicate_name() {
    for (db, store) in stores().await {
        let mut def = noop_job("report");
        def.priority = 3;
        def.retry.factor = 1.5;
        let created = store
            .job_create(&def, Some(&every(60)), at(0))
            .await
            .unwrap();
        assert_eq!(created.source, "api");
        assert_eq!(created.priority, 3);
        assert_eq!(created.retry.factor, 1.5);

        let err = store
            .job_create(&noop_job("report"), Some(&every(5)), at(1))
            .await
            .expect_err("duplicate name");
        assert!(
            matches!(err, StoreError::Conflict(_)),
            "{}: {err}",
            db.backend
        );

        let listed = store.jobs_list().await.unwrap();
        assert_eq!(listed.len(), 1, "{}", db.backend);
        assert_eq!(listed[0].triggers.len(), 1, "{}", db.backend);
        let t = &listed[0].triggers[0];
        assert_eq!(t.spec.kind(), "interval");
        assert_eq!(t.state, "waiting");
        assert_eq!(t.next_fire_at, Some(at(0)), "{}", db.backend);
        assert_eq!(listed[0].next_fire_at, Some(at(0)));
    }
}

#[tokio::test]
async fn trigger_create_adds_a_one_off_to_an_existing_job() {
    for (db, store) in stores().await {
        store.job_create(&noop_job("j"), None, at(0)).await.unwrap();
        let t = store
            .trigger_create("j", &once(90, Some(7)), at(0))
            .await
            .unwrap();
        assert_eq!(t.spec.kind(), "once");
        assert_eq!(t.next_fire_at, Some(at(90)), "{}", db.backend);
        assert_eq!(t.priority, 7);
        assert_eq!(t.repeat_count, Some(0));
        assert_eq!(t.fence, 0);

        let err = store
            .trigger_create("missing", &once(90, None), at(0))
            .await
            .expect_err("unknown job");
        assert!(
            matches!(err, StoreError::NotFound { .. }),
            "{}: {err}",
            db.backend
        );
    }
}

#[tokio::test]
async fn lease_takes_due_triggers_of_its_pools_by_priority_then_time_up_to_the_limit() {
    for (db, store) in stores().await {
        let b = db.backend;
        store.job_create(&noop_job("j"), None, at(0)).await.unwrap();
        let mut other = noop_job("elsewhere");
        other.pool = "other".to_string();
        store.job_create(&other, None, at(0)).await.unwrap();

        let early = store
            .trigger_create("j", &once(5, None), at(0))
            .await
            .unwrap();
        let later = store
            .trigger_create("j", &once(10, None), at(0))
            .await
            .unwrap();
        let urgent = store
            .trigger_create("j", &once(20, Some(5)), at(0))
            .await
            .unwrap();
        let _future = store
            .trigger_create("j", &once(60, Some(9)), at(0))
            .await
            .unwrap();
        let foreign = store
            .trigger_create("elsewhere", &once(1, Some(9)), at(0))
            .await
            .unwrap();

        let default = pools(&["default"]);
        let first = store
            .lease_due_triggers(&lease("a", at(30), 2, &default))
            .await
            .unwrap()
            .triggers;
        let ids: Vec<i64> = first.iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            vec![urgent.id, early.id],
            "{b}: priority first, then earliest"
        );
        for t in &first {
            assert_eq!(t.lease_owner.as_deref(), Some("a"), "{b}");
            assert_eq!(t.lease_until, Some(at(30) + 30_000), "{b}");
            assert_eq!(t.fence, 1, "{b}");
        }

        let rest = store
            .lease_due_triggers(&lease("a", at(30), 10, &default))
            .await
            .unwrap()
            .triggers;
        let ids: Vec<i64> = rest.iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            vec![later.id],
            "{b}: not due, leased, or other pools are left"
        );

        let none = store
            .lease_due_triggers(&lease("a", at(30), 0, &default))
            .await
            .unwrap()
            .triggers;
        assert!(none.is_empty(), "{b}: limit 0 leases nothing");

        let theirs = store
            .lease_due_triggers(&lease("b", at(30), 10, &pools(&["other", "spare"])))
            .await
            .unwrap()
            .triggers;
        let ids: Vec<i64> = theirs.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![foreign.id], "{b}");
    }
}

#[tokio::test]
async fn a_leased_trigger_is_not_leased_again_until_its_lease_expires() {
    for (db, store) in stores().await {
        let b = db.backend;
        store
            .job_create(&noop_job("j"), Some(&once(0, None)), at(0))
            .await
            .unwrap();
        let default = pools(&["default"]);
        let held = store
            .lease_due_triggers(&lease("a", at(1), 10, &default))
            .await
            .unwrap()
            .triggers;
        assert_eq!(held.len(), 1, "{b}");
        let until = held[0].lease_until.unwrap();

        for now in [at(2), until] {
            let stolen = store
                .lease_due_triggers(&lease("b", now, 10, &default))
                .await
                .unwrap()
                .triggers;
            assert!(
                stolen.is_empty(),
                "{b}: leased again at {now} before {until} passed"
            );
        }
        let taken = store
            .lease_due_triggers(&lease("b", until + 1, 10, &default))
            .await
            .unwrap()
            .triggers;
        assert_eq!(taken.len(), 1, "{b}");
        assert_eq!(taken[0].lease_owner.as_deref(), Some("b"));
        assert_eq!(
            taken[0].fence,
            held[0].fence + 1,
            "{b}: each lease bumps the fence"
        );
    }
}

#[tokio::test]
async fn record_fire_with_a_stale_lease_writes_nothing() {
    for (db, store) in stores().await {
        let b = db.backend;
        store
            .job_create(&noop_job("j"), Some(&once(0, None)), at(0))
            .await
            .unwrap();
        let default = pools(&["default"]);
        let stale = store
            .lease_due_triggers(&lease("a", at(1), 10, &default))
            .await
            .unwrap()
            .triggers
            .remove(0);
        // a's lease expires and b takes the trigger.
        let now = stale.lease_until.unwrap() + 1;
        let current = store
            .lease_due_triggers(&lease("b", now, 10, &default))
            .await
            .unwrap()
            .triggers
            .remove(0);

        let p = plan(&stale, at(0), None);
        let outcome = record(&store, "a", &stale, now, &p).await;
        assert!(
            matches!(outcome, RecordOutcome::LeaseLost),
            "{b}: {outcome:?}"
        );
        assert_eq!(fire_count(&db).await, 0, "{b}");
        let row = trigger(&store, stale.id).await;
        assert_eq!(row, current, "{b}: the trigger is untouched");

        // b, holding the current fence, records the fire.
        let p = plan(&current, at(0), None);
        let RecordOutcome::Recorded { run, .. } = record(&store, "b", &current, now, &p).await
        else {
            panic!("{b}: b holds the lease");
        };
        assert_eq!(run.len(), 1, "{b}");
        let fire = &run[0];
        assert_eq!(fire.status, "running");
        assert_eq!(fire.scheduled_at, at(0));
        assert_eq!(
            fire.started_at,
            Some(now),
            "{b}: recorded after its instant, so born with the start mark (the node starts it at once)"
        );
        assert_eq!(fire.node_id.as_deref(), Some("b"));
        assert_eq!(fire.attempt, 1);
        assert_eq!(fire.fence, current.fence, "{b}");
        assert_eq!(fire.trigger_id, Some(current.id));

        let row = trigger(&store, current.id).await;
        assert_eq!(
            row.state, "complete",
            "{b}: a one-off with no next fire completes"
        );
        assert_eq!(row.next_fire_at, None);
        assert_eq!(row.previous_fire_at, Some(at(0)));
        assert_eq!(row.times_fired, 1);
        assert_eq!(row.lease_owner, None);
        assert_eq!(row.lease_until, None);
    }
}

#[tokio::test]
async fn the_same_fire_is_never_recorded_twice() {
    for (db, store) in stores().await {
        let b = db.backend;
        store
            .job_create(&noop_job("j"), Some(&every(60)), at(0))
            .await
            .unwrap();
        let default = pools(&["default"]);
        let leased = store
            .lease_due_triggers(&lease("a", at(0), 10, &default))
            .await
            .unwrap()
            .triggers
            .remove(0);
        let p = plan(&leased, at(0), Some(at(60)));
        let RecordOutcome::Recorded { run, .. } = record(&store, "a", &leased, at(0), &p).await
        else {
            panic!("{b}: first record");
        };
        assert_eq!(run.len(), 1, "{b}");
        let advanced = trigger(&store, leased.id).await;
        assert_eq!(advanced.state, "waiting", "{b}");
        assert_eq!(advanced.next_fire_at, Some(at(60)), "{b}");

        // A replay of the same scheduled instant (a bug, or a node that
        // planned from an old row) is not recorded nor run again.
        let again = store
            .lease_due_triggers(&lease("a", at(60), 10, &default))
            .await
            .unwrap()
            .triggers
            .remove(0);
        let replay = plan(&again, at(0), Some(at(120)));
        let RecordOutcome::Recorded { run, .. } =
            record(&store, "a", &again, at(60), &replay).await
        else {
            panic!("{b}: the lease is held");
        };
        assert!(run.is_empty(), "{b}: a recorded fire must not run twice");
        assert_eq!(fire_count(&db).await, 1, "{b}");

        // The unique key itself, for producers writing plain SQL.
        let duplicate = raw(
            &db,
            &format!(
                "INSERT INTO fires (trigger_id, job_id, job_name, scheduled_at, due_at, attempt, status) \
                 VALUES ({}, {}, 'j', {}, {}, 1, 'skipped')",
                leased.id,
                leased.job_id,
                at(0),
                at(0)
            ),
        )
        .await;
        assert!(
            duplicate.is_err(),
            "{b}: (trigger, scheduled_at, attempt) is unique"
        );
        assert_eq!(fire_count(&db).await, 1, "{b}");
    }
}

#[tokio::test]
async fn fire_complete_is_fenced_by_node_and_fence_and_only_while_running() {
    for (db, store) in stores().await {
        let b = db.backend;
        store
            .job_create(&noop_job("j"), Some(&once(0, None)), at(0))
            .await
            .unwrap();
        let leased = store
            .lease_due_triggers(&lease("a", at(0), 10, &pools(&["default"])))
            .await
            .unwrap()
            .triggers
            .remove(0);
        let p = plan(&leased, at(0), None);
        let RecordOutcome::Recorded { run, .. } = record(&store, "a", &leased, at(0), &p).await
        else {
            panic!("{b}: record");
        };
        let fire = &run[0];
        let done = |node_id, fence, status| FireCompletion {
            started_at_ms: None,
            fire_id: fire.id,
            node_id,
            fence,
            status,
            finished_at_ms: at(3),
            error: None,
            output: Some("ok".to_string()),
        };

        let wrong_node = done("b", fire.fence, FireStatus::Succeeded);
        assert!(
            !store.fire_complete(&wrong_node).await.unwrap(),
            "{b}: other node"
        );
        let wrong_fence = done("a", fire.fence + 1, FireStatus::Succeeded);
        assert!(
            !store.fire_complete(&wrong_fence).await.unwrap(),
            "{b}: stale fence"
        );
        let row = store.fire_by_id(fire.id).await.unwrap().unwrap();
        assert_eq!(row.status, "running", "{b}");
        assert_eq!(row.finished_at, None, "{b}");

        assert!(
            store
                .fire_complete(&done("a", fire.fence, FireStatus::Succeeded))
                .await
                .unwrap(),
            "{b}"
        );
        let row = store.fire_by_id(fire.id).await.unwrap().unwrap();
        assert_eq!(row.status, "succeeded", "{b}");
        assert_eq!(row.finished_at, Some(at(3)));
        assert_eq!(row.output.as_deref(), Some("ok"));

        let late = done("a", fire.fence, FireStatus::Failed);
        assert!(
            !store.fire_complete(&late).await.unwrap(),
            "{b}: no longer running"
        );
        let row = store.fire_by_id(fire.id).await.unwrap().unwrap();
        assert_eq!(row.status, "succeeded", "{b}: a final status is kept");

        let listed = store
            .fires_list(&FireFilter {
                job: Some("j".to_string()),
                status: Some(FireStatus::Succeeded),
                limit: Some(10),
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{b}");
        assert_eq!(listed[0].id, fire.id);
    }
}

#[tokio::test]
async fn release_leases_frees_only_that_nodes_leases() {
    for (db, store) in stores().await {
        let b = db.backend;
        store.job_create(&noop_job("j"), None, at(0)).await.unwrap();
        let first = store
            .trigger_create("j", &once(0, None), at(0))
            .await
            .unwrap();
        let second = store
            .trigger_create("j", &once(1, None), at(0))
            .await
            .unwrap();
        let default = pools(&["default"]);
        let a = store
            .lease_due_triggers(&lease("a", at(2), 1, &default))
            .await
            .unwrap()
            .triggers;
        let other = store
            .lease_due_triggers(&lease("b", at(2), 1, &default))
            .await
            .unwrap()
            .triggers;
        assert_eq!(a[0].id, first.id, "{b}");
        assert_eq!(other[0].id, second.id, "{b}");

        assert_eq!(store.release_leases("a").await.unwrap(), 1, "{b}");
        assert_eq!(store.release_leases("a").await.unwrap(), 0, "{b}");
        let released = trigger(&store, first.id).await;
        assert_eq!(released.lease_owner, None, "{b}");
        assert_eq!(released.lease_until, None, "{b}");

        let c = store
            .lease_due_triggers(&lease("c", at(2), 10, &default))
            .await
            .unwrap()
            .triggers;
        let ids: Vec<i64> = c.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![first.id], "{b}: b's lease still holds");
    }
}

#[tokio::test]
async fn next_due_at_is_the_earliest_fire_or_lease_end_of_waiting_triggers() {
    for (db, store) in stores().await {
        let b = db.backend;
        let default = pools(&["default"]);
        assert_eq!(
            store.next_due_at(&default, at(0)).await.unwrap(),
            None,
            "{b}"
        );
        assert_eq!(store.next_due_at(&[], at(0)).await.unwrap(), None, "{b}");

        store.job_create(&noop_job("j"), None, at(0)).await.unwrap();
        let mut off = noop_job("off");
        off.paused = true;
        store
            .job_create(&off, Some(&once(1, None)), at(0))
            .await
            .unwrap();
        let mut other = noop_job("elsewhere");
        other.pool = "other".to_string();
        store
            .job_create(&other, Some(&once(2, None)), at(0))
            .await
            .unwrap();
        store
            .trigger_create("j", &once(10, None), at(0))
            .await
            .unwrap();
        store
            .trigger_create("j", &once(60, None), at(0))
            .await
            .unwrap();

        assert_eq!(
            store.next_due_at(&default, at(0)).await.unwrap(),
            Some(at(10)),
            "{b}: paused triggers and other pools do not count"
        );
        assert_eq!(
            store.next_due_at(&pools(&["other"]), at(0)).await.unwrap(),
            Some(at(2)),
            "{b}"
        );

        // Leased by another node: due again just after its lease ends.
        let leased = store
            .lease_due_triggers(&lease("z", at(10), 1, &default))
            .await
            .unwrap()
            .triggers;
        let until = leased[0].lease_until.unwrap();
        assert!(until < at(60));
        assert_eq!(
            store.next_due_at(&default, at(10)).await.unwrap(),
            Some(until + 1),
            "{b}"
        );
        // Once the lease has expired, the trigger's own fire time counts.
        assert_eq!(
            store.next_due_at(&default, until + 1).await.unwrap(),
            Some(at(10)),
            "{b}"
        );
    }
}

#[tokio::test]
async fn job_set_paused_pauses_and_resumes_the_jobs_triggers() {
    for (db, store) in stores().await {
        let b = db.backend;
        let created = store
            .job_create(&noop_job("j"), Some(&every(60)), at(0))
            .await
            .unwrap();
        let t = store.jobs_list().await.unwrap()[0].triggers[0].clone();
        let default = pools(&["default"]);

        assert!(store.job_set_paused("j", true, at(1)).await.unwrap(), "{b}");
        assert!(
            !store.job_set_paused("j", true, at(2)).await.unwrap(),
            "{b}: already paused"
        );
        assert!(job(&store, "j").await.paused, "{b}");
        assert_eq!(trigger(&store, t.id).await.state, "paused", "{b}");
        let leased = store
            .lease_due_triggers(&lease("a", at(120), 10, &default))
            .await
            .unwrap()
            .triggers;
        assert!(leased.is_empty(), "{b}: a paused trigger is not leased");

        assert!(
            store.job_set_paused("j", false, at(3)).await.unwrap(),
            "{b}"
        );
        let resumed = trigger(&store, t.id).await;
        assert_eq!(resumed.state, "waiting", "{b}");
        assert_eq!(
            resumed.next_fire_at, t.next_fire_at,
            "{b}: next fire is kept"
        );
        assert!(!job(&store, "j").await.paused);
        assert_eq!(job(&store, "j").await.id, created.id);
        let leased = store
            .lease_due_triggers(&lease("a", at(120), 10, &default))
            .await
            .unwrap()
            .triggers;
        assert_eq!(leased.len(), 1, "{b}");

        let err = store
            .job_set_paused("missing", true, at(4))
            .await
            .expect_err("unknown");
        assert!(matches!(err, StoreError::NotFound { .. }), "{b}: {err}");
    }
}

#[tokio::test]
async fn reconcile_creates_updates_keeps_and_removes_config_jobs_but_never_api_jobs() {
    fn declared(name: &str, job_hash: &str, secs: i64) -> ConfigJob {
        ConfigJob {
            job: noop_job(name),
            trigger: Some(every(secs)),
            job_hash: job_hash.to_string(),
            trigger_hash: Some(format!("every-{secs}")),
        }
    }
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    for (db, store) in stores().await {
        let b = db.backend;
        store
            .job_create(&noop_job("manual"), Some(&every(30)), at(0))
            .await
            .unwrap();
        let manual = store.jobs_list().await.unwrap()[0].clone();
        let calendars = vec![("holidays".to_string(), r#"{"dates":[]}"#.to_string())];

        let report = store
            .reconcile_config(
                &[declared("a", "h1", 60), declared("b", "h1", 60)],
                &calendars,
                at(0),
            )
            .await
            .unwrap();
        assert_eq!(
            report,
            ReconcileReport {
                created: names(&["a", "b"]),
                ..Default::default()
            },
            "{b}"
        );
        assert_eq!(job(&store, "a").await.source, "config", "{b}");

        let same = [declared("a", "h1", 60), declared("b", "h1", 60)];
        let report = store
            .reconcile_config(&same, &calendars, at(5))
            .await
            .unwrap();
        assert_eq!(report.unchanged, names(&["a", "b"]), "{b}");
        assert!(
            report.created.is_empty() && report.updated.is_empty() && report.removed.is_empty()
        );
        assert_eq!(
            job(&store, "a").await.updated_at,
            at(0),
            "{b}: unchanged is untouched"
        );

        let b_trigger = store.jobs_list().await.unwrap()[1].triggers[0].clone();
        let mut a_changed = declared("a", "h2", 60);
        a_changed.job.priority = 4;
        let report = store
            .reconcile_config(
                &[a_changed.clone(), declared("b", "h1", 90)],
                &calendars,
                at(10),
            )
            .await
            .unwrap();
        assert_eq!(report.updated, names(&["a", "b"]), "{b}");
        assert_eq!(job(&store, "a").await.priority, 4, "{b}");
        let b_now = &store.jobs_list().await.unwrap()[1];
        assert_eq!(b_now.job.name, "b");
        assert_eq!(b_now.triggers.len(), 1, "{b}");
        assert_ne!(
            b_now.triggers[0].id, b_trigger.id,
            "{b}: a new schedule replaces the trigger"
        );
        assert_eq!(
            match b_now.triggers[0].spec {
                ScheduleSpec::Interval { every, .. } => Some(every.num_milliseconds()),
                _ => None,
            },
            Some(90_000),
            "{b}"
        );

        let report = store
            .reconcile_config(&[a_changed.clone()], &[], at(20))
            .await
            .unwrap();
        assert_eq!(report.removed, names(&["b"]), "{b}");
        assert_eq!(report.unchanged, names(&["a"]), "{b}");
        assert!(store.job_by_name("b").await.unwrap().is_none(), "{b}");

        let manual_now = store
            .jobs_list()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.job.name == "manual")
            .expect("the API job survives every reconcile");
        assert_eq!(manual_now.job, manual.job, "{b}");
        assert_eq!(manual_now.triggers, manual.triggers, "{b}");

        // The file may not take over an API job; nothing changes then.
        let err = store
            .reconcile_config(&[declared("manual", "h1", 60)], &[], at(30))
            .await
            .expect_err("an API job cannot be redefined by the file");
        assert!(matches!(err, StoreError::Conflict(_)), "{b}: {err}");
        assert!(
            store.job_by_name("a").await.unwrap().is_some(),
            "{b}: rolled back"
        );
    }
}

#[tokio::test]
async fn check_constraints_reject_unknown_states_on_every_backend() {
    for (db, store) in stores().await {
        let b = db.backend;
        let j = store.job_create(&noop_job("j"), None, at(0)).await.unwrap();
        let insert = |status: &str| {
            format!(
                "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, attempt, status) \
                 VALUES ({}, 'j', {}, {}, 1, '{status}')",
                j.id,
                at(0),
                at(0)
            )
        };
        assert!(
            raw(&db, &insert("bogus")).await.is_err(),
            "{b}: status 'bogus'"
        );
        assert_eq!(fire_count(&db).await, 0, "{b}");
        // The same row with a known status is fine: the CHECK was the fault.
        assert_eq!(raw(&db, &insert("queued")).await.unwrap(), 1, "{b}");

        let bad_state = format!(
            "INSERT INTO triggers (job_id, kind, start_at, state, created_at, updated_at) \
             VALUES ({}, 'once', 0, 'bogus', 0, 0)",
            j.id
        );
        assert!(
            raw(&db, &bad_state).await.is_err(),
            "{b}: trigger state 'bogus'"
        );
        let bad_job = "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, status) \
                       VALUES (999999, 'x', 0, 0, 'queued')";
        assert!(raw(&db, bad_job).await.is_err(), "{b}: foreign key to jobs");
    }
}

#[tokio::test]
async fn concurrent_leases_never_hand_one_trigger_to_two_nodes() {
    for db in support::backends().await {
        let b = db.backend;
        let setup = connect(&db).await;
        setup.migrate().await.unwrap();
        setup.job_create(&noop_job("j"), None, at(0)).await.unwrap();
        for i in 0..40 {
            setup
                .trigger_create("j", &once(i % 7, None), at(0))
                .await
                .unwrap();
        }
        // Four nodes, each with its own pool of connections, lease at once.
        let mut tasks = Vec::new();
        for node in ["n1", "n2", "n3", "n4"] {
            let store = connect(&db).await;
            tasks.push(tokio::spawn(async move {
                let default = pools(&["default"]);
                let mut mine = Vec::new();
                loop {
                    let got = store
                        .lease_due_triggers(&lease(node, at(10), 3, &default))
                        .await
                        .unwrap()
                        .triggers;
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|t| (t.id, node)));
                }
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        let mut ids: Vec<i64> = all.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(all.len(), 40, "{b}: every due trigger leased exactly once");
        assert_eq!(ids.len(), 40, "{b}: no trigger leased twice");
        for (id, node) in all {
            let row = trigger(&setup, id).await;
            assert_eq!(row.lease_owner.as_deref(), Some(node), "{b}");
            assert_eq!(row.fence, 1, "{b}");
        }
    }
}

#[tokio::test]
async fn nodes_migrating_together_apply_the_schema_once() {
    for db in support::backends().await {
        let (a, b) = tokio::join!(connect(&db), connect(&db));
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        ra.unwrap_or_else(|e| panic!("{}: first node: {e}", db.backend));
        rb.unwrap_or_else(|e| panic!("{}: second node: {e}", db.backend));
        let applied = Migrator::get_applied_migrations(db.sql().await)
            .await
            .unwrap();
        assert_eq!(
            applied.len(),
            Migrator::migrations().len(),
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn postgres_sessions_run_in_a_time_zone_other_than_utc() {
    // Every PostgreSQL test runs its sessions in this zone (see `connect`)
    // and every test database defaults to it (for plain-SQL clients), so a
    // statement that leaned on the session time zone would fail somewhere.
    for (db, store) in stores().await {
        if db.backend != "postgres" {
            continue;
        }
        let conn = db.sql().await;
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT (SELECT setconfig::text FROM pg_db_role_setting \
                    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                      AND setrole = 0) AS db_default",
            ))
            .await
            .unwrap()
            .unwrap();
        let tz = store.session_setting("TimeZone").await.unwrap().unwrap();
        let db_default: Option<String> = row.try_get("", "db_default").unwrap();
        assert_eq!(tz, support::pg::SESSION_TIME_ZONE);
        assert_eq!(
            db_default.as_deref(),
            Some(format!("{{TimeZone={}}}", support::pg::SESSION_TIME_ZONE).as_str())
        );
    }
}

#[tokio::test]
async fn node_rows_round_trip_through_their_entity() {
    // The store has no node statements yet; this pins the `nodes` DDL to
    // the entity's Rust types (INTEGER vs BIGINT matters on PostgreSQL).
    use sea_orm::{ActiveModelTrait, Set};
    for (db, _store) in stores().await {
        let row = entity::nodes::ActiveModel {
            id: Set("node-a".to_string()),
            host: Set("h".to_string()),
            pid: Set(i64::from(u32::MAX) + 1),
            version: Set("0.1.0".to_string()),
            pools: Set("default".to_string()),
            started_at: Set(at(0)),
            last_checkin_at: Set(at(1)),
            checkin_interval_ms: Set(10_000),
            clock_offset_ms: Set(-250),
            state: Set("active".to_string()),
            declared_dead_by: Set(None),
            declared_dead_at: Set(None),
        }
        .insert(db.sql().await)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", db.backend));
        let read = entity::nodes::Entity::find_by_id("node-a".to_string())
            .one(db.sql().await)
            .await
            .unwrap();
        assert_eq!(read, Some(row), "{}", db.backend);
    }
}

#[tokio::test]
async fn record_fires_batches_a_pass_like_one_record_each() {
    for (db, store) in stores().await {
        let mut with_overlap = noop_job("queue");
        with_overlap.overlap = cosched::model::OverlapPolicy::Queue;
        store
            .job_create(&noop_job("a"), Some(&every(10)), at(0))
            .await
            .unwrap();
        store
            .job_create(&noop_job("b"), Some(&once(0, None)), at(0))
            .await
            .unwrap();
        store
            .job_create(&noop_job("late"), Some(&every(1)), at(0))
            .await
            .unwrap();
        store
            .job_create(&with_overlap, Some(&once(0, None)), at(0))
            .await
            .unwrap();
        let p = pools(&["default"]);
        let mut leased = store
            .lease_due_triggers(&lease("n1", at(0), 10, &p))
            .await
            .unwrap()
            .triggers;
        leased.sort_by_key(|t| t.id);
        assert_eq!(leased.len(), 4, "{}", db.backend);
        let jobs: Vec<Job> = {
            let ids: Vec<i64> = leased.iter().map(|t| t.job_id).collect();
            let by_id = store.jobs_by_id(&ids).await.unwrap().jobs;
            ids.iter().map(|id| by_id[id].clone()).collect()
        };
        // a: on time; b: a stale fence (as if another node re-leased it);
        // late: 1,200 skipped instants and one run; queue: the gated path.
        let mut stale = leased[1].clone();
        stale.fence -= 1;
        let mut late_plan = plan(&leased[2], at(0), Some(at(1201)));
        late_plan.fires = (0..1200)
            .map(|s| PlannedFire {
                scheduled_at: cosched::clock::from_ms(at(s)),
                skip_reason: Some("misfired".into()),
            })
            .chain(std::iter::once(PlannedFire {
                scheduled_at: cosched::clock::from_ms(at(1200)),
                skip_reason: None,
            }))
            .collect();
        let plans = [
            plan(&leased[0], at(0), Some(at(10))),
            plan(&stale, at(0), None),
            late_plan,
            plan(&leased[3], at(0), None),
        ];
        let triggers = [&leased[0], &stale, &leased[2], &leased[3]];
        let no_data = serde_json::json!({});
        let batch: Vec<RecordFire<'_>> = (0..4)
            .map(|i| RecordFire {
                trigger: triggers[i],
                job: &jobs[i],
                node_id: "n1",
                now_ms: at(1300),
                plan: &plans[i],
                data: &no_data,
            })
            .collect();
        let outcomes = store.record_fires(&batch).await.unwrap();
        let shape: Vec<(usize, usize)> = outcomes
            .iter()
            .map(|o| match o {
                RecordOutcome::Recorded { run, skipped } => (run.len(), skipped.len()),
                RecordOutcome::LeaseLost => (usize::MAX, usize::MAX),
            })
            .collect();
        assert_eq!(
            shape,
            [(1, 0), (usize::MAX, usize::MAX), (1, 1200), (1, 0)],
            "{}",
            db.backend
        );
        let a = store.trigger_by_id(leased[0].id).await.unwrap().unwrap();
        assert_eq!(
            (a.next_fire_at, a.lease_owner.as_deref(), a.times_fired),
            (Some(at(10)), None, 1)
        );
        let b = store.trigger_by_id(leased[1].id).await.unwrap().unwrap();
        assert_eq!(
            b.lease_owner.as_deref(),
            Some("n1"),
            "{}: the stale record wrote nothing",
            db.backend
        );
        let total = fires::Entity::find().count(db.sql().await).await.unwrap();
        assert_eq!(total, 1 + 1201 + 1, "{}", db.backend);
        // Replaying the same batch (fences now stale) records nothing twice.
        let again = store.record_fires(&batch).await.unwrap();
        assert!(
            again.iter().all(|o| matches!(o, RecordOutcome::LeaseLost)),
            "{}",
            db.backend
        );
        assert_eq!(
            fires::Entity::find().count(db.sql().await).await.unwrap(),
            total
        );
    }
}

// ---- typed errors ----------------------------------------------------------

#[tokio::test]
async fn two_concurrent_creates_of_one_name_give_one_job_and_one_conflict() {
    for db in support::backends().await {
        let b = db.backend;
        // Two producers, each with its own pool.
        let a = support::Harness::new(&db.url).await.client.clone();
        let other = cosched::Client::new(
            connect(&db).await,
            std::sync::Arc::new(cosched::ManualClock::new(t0())),
            cosched::JobRegistry::with_builtins(),
        );
        for round in 0..5 {
            let name = format!("race-{round}");
            let def = noop_job(&name);
            let schedule = every(60);
            let (x, y) = tokio::join!(
                a.create_job_def(&def, Some(&schedule)),
                other.create_job_def(&def, Some(&schedule))
            );
            let (ok, err) = match (x, y) {
                (Ok(job), Err(e)) | (Err(e), Ok(job)) => (job, e),
                (x, y) => panic!("{b}: expected one Ok and one Conflict, got {x:?} and {y:?}"),
            };
            assert_eq!(ok.name, name, "{b}");
            assert!(
                matches!(
                    &err,
                    cosched::ClientError::Store(StoreError::Conflict(m))
                        if *m == format!("job `{name}` already exists")
                ),
                "{b}: {err:?}"
            );
            let job = a.job(&name).await.unwrap();
            assert_eq!(job.triggers.len(), 1, "{b}: one job, one trigger");
        }
    }
}

#[tokio::test]
async fn validation_failures_are_invalid_not_conflicts() {
    for (db, store) in stores().await {
        let b = db.backend;
        let mut def = every(60);
        def.calendars = vec!["nope".into()];
        let err = store
            .job_create(&noop_job("j"), Some(&def), at(0))
            .await
            .expect_err("unknown calendar");
        assert!(
            matches!(&err, StoreError::Invalid { field: "calendars", message }
                if message.contains("calendar `nope` does not exist")),
            "{b}: {err:?}"
        );
        let bad: cosched::schedule::calendar::CalendarDef =
            serde_json::from_str(r#"{"name": "x", "dates": ["2026-02-30"]}"#).unwrap();
        let err = store
            .calendar_upsert(&bad, at(0))
            .await
            .expect_err("bad date");
        assert!(
            matches!(
                &err,
                StoreError::Invalid {
                    field: "definition",
                    ..
                }
            ),
            "{b}: {err:?}"
        );
        assert!(
            store.jobs_list().await.unwrap().is_empty(),
            "{b}: nothing written"
        );
        assert!(store.calendars_list().await.unwrap().is_empty(), "{b}");
    }
}

#[tokio::test]
async fn config_jobs_and_calendars_are_changed_only_through_the_file() {
    for (db, store) in stores().await {
        let b = db.backend;
        let declared = ConfigJob {
            job: noop_job("declared"),
            trigger: Some(every(60)),
            job_hash: "h".into(),
            trigger_hash: Some("t".into()),
        };
        let days = r#"{"name":"days","timezone":"UTC","dates":["2026-12-25"],"annual":[],"days_of_week":[],"days_of_month":[],"daily_range":null,"cron":[]}"#;
        store
            .reconcile_config(&[declared], &[("days".into(), days.into())], at(0))
            .await
            .unwrap();
        let err = store.job_delete("declared").await.expect_err("config job");
        assert!(
            matches!(&err, StoreError::DeclaredInFile { what: "job", .. }),
            "{b}: {err:?}"
        );
        assert!(err.to_string().contains("remove it there"), "{b}: {err}");
        let def: cosched::schedule::calendar::CalendarDef = serde_json::from_str(days).unwrap();
        let err = store
            .calendar_upsert(&def, at(1))
            .await
            .expect_err("config calendar");
        assert!(
            matches!(
                &err,
                StoreError::DeclaredInFile {
                    what: "calendar",
                    ..
                }
            ),
            "{b}: {err:?}"
        );
        let err = store
            .calendar_delete("days")
            .await
            .expect_err("config calendar");
        assert!(
            matches!(
                &err,
                StoreError::DeclaredInFile {
                    what: "calendar",
                    ..
                }
            ),
            "{b}: {err:?}"
        );
        assert_eq!(store.jobs_list().await.unwrap().len(), 1, "{b}: kept");
        assert_eq!(store.calendars_list().await.unwrap().len(), 1, "{b}: kept");
        assert!(store.job_set_paused("declared", true, at(2)).await.unwrap());
    }
}

// ---- rows that do not decode ---------------------------------------------------

/// A harness on `db` with the jobs `good` and `bad`, each with a one-off
/// due at `t0`.
async fn two_jobs(db: &TestDb) -> support::Harness {
    let h = support::Harness::new(&db.url).await;
    for name in ["good", "bad"] {
        h.client
            .create_job_def(&noop_job(name), Some(&once(0, None)))
            .await
            .unwrap();
    }
    h
}

async fn trigger_row(h: &support::Harness, job_id: i64) -> entity::triggers::Model {
    use sea_orm::{ColumnTrait, QueryFilter};
    entity::triggers::Entity::find()
        .filter(entity::triggers::Column::JobId.eq(job_id))
        .one(&h.db)
        .await
        .unwrap()
        .expect("the trigger row")
}

#[tokio::test]
async fn a_job_row_that_does_not_decode_is_left_out_and_its_trigger_goes_to_error() {
    for db in support::backends().await {
        let b = db.backend;
        let mut h = two_jobs(&db).await;
        let bad = h.store.job_by_name("bad").await.unwrap().unwrap();
        support::exec(
            &h.db,
            "UPDATE jobs SET settings = 'not json' WHERE name = 'bad'",
        )
        .await
        .unwrap();
        let err = h.store.job_by_name("bad").await.expect_err("malformed");
        assert!(
            matches!(&err, StoreError::Malformed(row)
                if row.table == "jobs" && row.id == bad.id.to_string() && row.column == "settings"),
            "{b}: {err:?}"
        );
        let before = h.store.malformed_rows();
        let names: Vec<String> = h
            .client
            .jobs()
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.job.name)
            .collect();
        assert_eq!(names, ["good"], "{b}: the bad job is left out");
        assert!(h.store.malformed_rows() > before, "{b}: and counted");

        let pass = h.step_and_settle().await;
        assert_eq!(pass.started, 1, "{b}: the good job still fired");
        let t = trigger_row(&h, bad.id).await;
        assert_eq!(t.state, "error", "{b}");
        assert!(
            t.error.as_deref().is_some_and(|e| e.contains("settings")),
            "{b}: {:?}",
            t.error
        );
        assert_eq!(h.step().await.leased, 0, "{b}: not leased again");
    }
}

#[tokio::test]
async fn a_trigger_row_that_does_not_decode_goes_to_error_and_out_of_listings() {
    for db in support::backends().await {
        let b = db.backend;
        let mut h = two_jobs(&db).await;
        let bad = h.store.job_by_name("bad").await.unwrap().unwrap();
        let id = trigger_row(&h, bad.id).await.id;
        support::exec(
            &h.db,
            &format!("UPDATE triggers SET data = '{{oops' WHERE id = {id}"),
        )
        .await
        .unwrap();
        let err = h.store.trigger_by_id(id).await.expect_err("malformed");
        assert!(
            matches!(&err, StoreError::Malformed(row) if row.table == "triggers" && row.column == "data"),
            "{b}: {err:?}"
        );
        assert!(
            h.client.job("bad").await.unwrap().triggers.is_empty(),
            "{b}"
        );

        let before = h.store.malformed_rows();
        let pass = h.step_and_settle().await;
        assert_eq!((pass.leased, pass.started), (2, 1), "{b}");
        assert!(h.store.malformed_rows() > before, "{b}: counted");
        let t = trigger_row(&h, bad.id).await;
        assert_eq!(t.state, "error", "{b}");
        assert!(
            t.error.as_deref().is_some_and(|e| e.starts_with("data: ")),
            "{b}: {:?}",
            t.error
        );
        assert_eq!(h.step().await.leased, 0, "{b}: not leased again");
    }
}

#[tokio::test]
async fn a_queued_fire_that_does_not_decode_fails_with_the_reason() {
    for db in support::backends().await {
        let b = db.backend;
        let mut h = support::Harness::new(&db.url).await;
        let job = h.client.create_job_def(&noop_job("j"), None).await.unwrap();
        for data in ["'{}'", "'not json'"] {
            support::exec(
                &h.db,
                &format!(
                    "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, attempt, status, data) \
                     VALUES ({}, 'j', {}, {}, 1, 'queued', {data})",
                    job.id,
                    at(0),
                    at(0)
                ),
            )
            .await
            .unwrap();
        }
        let pass = h.step_and_settle().await;
        assert_eq!(pass.started, 1, "{b}: the good fire ran");
        let listed = h.client.fires(&FireFilter::default()).await.unwrap();
        assert_eq!(listed.len(), 1, "{b}: the bad fire is left out of listings");
        assert_eq!(listed[0].status, "succeeded", "{b}");
        let rows = fires::Entity::find().all(&h.db).await.unwrap();
        let bad = rows
            .iter()
            .find(|f| f.data.as_deref() == Some("not json"))
            .expect("the bad fire");
        assert_eq!(bad.status, "failed", "{b}");
        assert!(
            bad.error
                .as_deref()
                .is_some_and(|e| e.contains("data: is not JSON")),
            "{b}: {:?}",
            bad.error
        );
        let err = h.store.fire_by_id(bad.id).await.expect_err("malformed");
        assert!(
            matches!(&err, StoreError::Malformed(row) if row.table == "fires" && row.column == "data"),
            "{b}: {err:?}"
        );
    }
}

#[tokio::test]
async fn node_and_calendar_rows_that_do_not_decode_are_left_out_of_listings() {
    for db in support::backends().await {
        let b = db.backend;
        let mut h = support::Harness::new(&db.url).await;
        for (id, pools) in [("n-good", "default"), ("n-bad", "default,,other")] {
            support::exec(
                &h.db,
                &format!(
                    "INSERT INTO nodes (id, host, pid, version, pools, started_at, last_checkin_at, \
                       checkin_interval_ms, clock_offset_ms, state) \
                     VALUES ('{id}', 'h', 1, '0', '{pools}', 0, 0, 1000, 0, 'active')"
                ),
            )
            .await
            .unwrap();
        }
        let before = h.store.malformed_rows();
        let nodes: Vec<String> = h
            .client
            .nodes()
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.node.id)
            .collect();
        assert_eq!(nodes, ["n-good"], "{b}");
        assert!(h.store.malformed_rows() > before, "{b}: counted");

        // A calendar broken after a trigger named it: left out of the
        // listing, and the trigger goes to error with the reason.
        let days: cosched::schedule::calendar::CalendarDef =
            serde_json::from_str(r#"{"name": "days", "dates": []}"#).unwrap();
        h.client.set_calendar(&days).await.unwrap();
        let mut def = once(0, None);
        def.calendars = vec!["days".into()];
        let job = h
            .client
            .create_job_def(&noop_job("j"), Some(&def))
            .await
            .unwrap();
        support::exec(
            &h.db,
            "UPDATE calendars SET definition = 'nope' WHERE name = 'days'",
        )
        .await
        .unwrap();
        assert!(h.client.calendars().await.unwrap().is_empty(), "{b}");
        let pass = h.step_and_settle().await;
        assert_eq!((pass.leased, pass.started), (1, 0), "{b}");
        let t = trigger_row(&h, job.id).await;
        assert_eq!(t.state, "error", "{b}");
        assert!(
            t.error
                .as_deref()
                .is_some_and(|e| e.contains("calendar `days` cannot be used: definition")),
            "{b}: {:?}",
            t.error
        );
    }
}
