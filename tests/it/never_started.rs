//! A fire that never started is never lost: a node that recorded a fire
//! ahead of its instant and died before starting it leaves a fire without
//! the start mark, which the survivor fires again, once, whatever the job's
//! `requests_recovery`; a fire that had started is not run again without
//! it. Two nodes over one database, manual clocks, check-ins stepped by
//! hand.

use std::sync::Arc;

use chrono::Duration as TimeDelta;
use cosched::clock::from_ms;
use cosched::model::{FireStatus, JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::schedule::misfire::{FirePlan, PlannedFire};
use cosched::store::{LeaseParams, RecordFire, RecordOutcome, Recovery};
use cosched::{Clock, JobRegistry};
use tokio::sync::Semaphore;

use crate::recovery::{DEAD_AFTER, INTERVAL, cluster, registry};
use crate::scheduling::fires_of;
use crate::support::{Harness, backends, t0};

/// Leases and records, as node `h`'s scheduler does with its 25 ms
/// lookahead, the one-off that is due 20 ms after the clock's instant;
/// returns the recorded fire, which nothing has started.
async fn record_ahead(h: &Harness) -> cosched::model::Fire {
    let now_ms = h.clock.now_ms();
    let pools = vec!["default".to_string()];
    let leased = h
        .store
        .lease_due_triggers(&LeaseParams {
            node_id: &h.node_id,
            now_ms,
            lease_ms: 30_000,
            limit: 10,
            pools: &pools,
            due_by_ms: now_ms + 25,
        })
        .await
        .unwrap()
        .triggers;
    assert_eq!(
        leased.len(),
        1,
        "the one-off is leased ahead of its instant"
    );
    let trigger = &leased[0];
    let job = h
        .store
        .jobs_by_id(&[trigger.job_id])
        .await
        .unwrap()
        .jobs
        .remove(&trigger.job_id)
        .unwrap();
    let scheduled = trigger.next_fire_at.unwrap();
    assert!(scheduled > now_ms, "recorded before its instant");
    let plan = FirePlan {
        fires: vec![PlannedFire {
            scheduled_at: from_ms(scheduled),
            skip_reason: None,
        }],
        next_fire_at: None,
        start_at: from_ms(trigger.start_at),
        repeat_count: trigger.repeat_count,
        times_fired: trigger.times_fired + 1,
        misfired: false,
    };
    let outcomes = h
        .store
        .record_fires(&[RecordFire {
            trigger,
            job: &job,
            node_id: &h.node_id,
            now_ms,
            plan: &plan,
            data: &serde_json::json!({}),
        }])
        .await
        .unwrap();
    let Some(RecordOutcome::Recorded { mut run, .. }) = outcomes.into_iter().next() else {
        panic!("the lease holds");
    };
    assert_eq!(run.len(), 1);
    run.remove(0)
}

#[tokio::test]
async fn a_fire_recorded_ahead_by_a_node_that_died_fires_again_once_and_a_started_one_does_not() {
    for db in backends().await {
        let b_name = db.backend;
        let gate = Arc::new(Semaphore::new(0));
        let a = Harness::with(&db.url, "node-a", 4, registry(&gate)).await;
        let mut b = Harness::with(&db.url, "node-b", 4, registry(&gate)).await;
        let (ca, cb) = (cluster(&a), cluster(&b));
        ca.register().await.unwrap();
        cb.register().await.unwrap();

        // Started on node a: a job that does not request recovery.
        a.client
            .create_job_def(&JobDef::new("started", "gate"), None)
            .await
            .unwrap();
        a.client.trigger_now("started", None).await.unwrap();
        assert_eq!(a.step().await.started, 1, "{b_name}");
        let started = fires_of(&a, "started").await;
        assert!(
            started[0].started_at.is_some(),
            "{b_name}: the start mark is written before the job runs"
        );

        // Recorded ahead on node a, which then dies before the instant.
        // The job does not request recovery either.
        let once = TriggerDef::new(ScheduleSpec::Once {
            at: t0() + TimeDelta::milliseconds(20),
        });
        a.client
            .create_job_def(&JobDef::new("ahead", "noop"), Some(&once))
            .await
            .unwrap();
        let ahead = record_ahead(&a).await;
        assert_eq!(
            (ahead.status, ahead.started_at),
            (FireStatus::Running, None),
            "{b_name}: recorded running, not started"
        );

        // b declares a dead.
        for _ in 0..DEAD_AFTER {
            b.advance(INTERVAL.as_secs() as i64);
            assert!(cb.run_once().await.unwrap().recovered.is_empty());
        }
        b.advance(1);
        let round = cb.run_once().await.unwrap();
        assert_eq!(
            round.recovered,
            [(
                "node-a".to_string(),
                Recovery {
                    refired: 1,
                    rerun: 0,
                    abandoned: 1
                }
            )],
            "{b_name}"
        );
        // Had a reached the instant after all, its start mark is refused:
        // the fire is no longer its own, so its job is never called there.
        let late_mark = a
            .store
            .fires_mark_started("node-a", &[(ahead.id, ahead.fence)], ahead.due_at)
            .await
            .unwrap();
        assert!(late_mark.is_empty(), "{b_name}: {late_mark:?}");

        // The survivor fires the one that never started, once; the started
        // one is not run again.
        assert_eq!(b.step().await.started, 1, "{b_name}");
        b.completions(1).await;
        b.advance(60);
        assert_eq!(b.step().await.started, 0, "{b_name}: nothing more");

        let summary = |fires: &[cosched::model::Fire]| {
            fires
                .iter()
                .map(|f| {
                    (
                        f.attempt,
                        f.status.as_str().to_string(),
                        f.node_id.clone(),
                        f.recovery,
                    )
                })
                .collect::<Vec<_>>()
        };
        let ahead_fires = fires_of(&b, "ahead").await;
        assert_eq!(
            summary(&ahead_fires),
            [(1, "succeeded".to_string(), Some("node-b".to_string()), true)],
            "{b_name}: the same fire, same attempt, run once by the survivor"
        );
        let fired = &ahead_fires[0];
        assert_eq!(fired.id, ahead.id, "{b_name}: the same fire row");
        assert!(
            fired
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("stopped before starting it")),
            "{b_name}: {:?}",
            fired.reason
        );
        assert!(
            fired.started_at.is_some_and(|s| s >= fired.scheduled_at),
            "{b_name}: its start is the survivor's, late and honest: {fired:?}"
        );
        assert_eq!(
            summary(&fires_of(&b, "started").await),
            [(
                1,
                "abandoned".to_string(),
                Some("node-a".to_string()),
                false
            )],
            "{b_name}: a fire that may have run is not run again without requests_recovery"
        );
        gate.add_permits(1);
    }
}

#[tokio::test]
async fn a_restarted_node_fires_again_what_its_previous_run_recorded_but_never_started() {
    for db in backends().await {
        let a = Harness::with(&db.url, "node-a", 4, JobRegistry::with_builtins()).await;
        cluster(&a).register().await.unwrap();
        let once = TriggerDef::new(ScheduleSpec::Once {
            at: t0() + TimeDelta::milliseconds(20),
        });
        a.client
            .create_job_def(&JobDef::new("ahead", "noop"), Some(&once))
            .await
            .unwrap();
        let ahead = record_ahead(&a).await;
        // The process dies before the instant and starts again under the
        // same id.
        let mut again = Harness::with(&db.url, "node-a", 4, JobRegistry::with_builtins()).await;
        let recovery = cluster(&again).register().await.unwrap();
        assert_eq!(
            recovery,
            Recovery {
                refired: 1,
                rerun: 0,
                abandoned: 0
            },
            "{}",
            db.backend
        );
        again.advance(1);
        assert_eq!(again.step().await.started, 1, "{}", db.backend);
        again.completions(1).await;
        let fires = fires_of(&again, "ahead").await;
        assert_eq!(fires.len(), 1, "{}: {fires:?}", db.backend);
        assert_eq!(
            (fires[0].id, fires[0].status, fires[0].attempt),
            (ahead.id, FireStatus::Succeeded, 1)
        );
    }
}
