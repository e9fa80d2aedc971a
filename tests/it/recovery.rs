//! Dead-node detection and recovery, stepped by hand: two nodes over one
//! database, each with a manual clock, check-ins driven one round at a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as TimeDelta;
use cosched::clock::OffsetClock;
use cosched::cluster::{Cluster, ClusterConfig};
use cosched::events::{Events, SchedulerEvent};
use cosched::model::JobDef;
use cosched::{JobRegistry, ManualClock};
use tokio::sync::Semaphore;

use crate::scheduling::{Gate, fires_of};
use crate::support::{Harness, backends};

pub(crate) const INTERVAL: Duration = Duration::from_secs(5);
pub(crate) const DEAD_AFTER: u32 = 3;

/// Node `h`'s cluster membership on its manual clock (no offset measured).
pub(crate) fn cluster(h: &Harness) -> Cluster<Arc<ManualClock>> {
    Cluster::new(
        ClusterConfig {
            node_id: h.node_id.clone(),
            pools: vec!["default".into()],
            checkin_interval: INTERVAL,
            dead_after: DEAD_AFTER,
            measure_clock_offset: false,
        },
        h.store.clone(),
        Arc::new(OffsetClock::new(h.clock.clone())),
        Events::new(),
    )
}

/// The built-in kinds and the `gate` kind, held by `gate`.
pub(crate) fn registry(gate: &Arc<Semaphore>) -> JobRegistry {
    let mut r = JobRegistry::with_builtins();
    r.register(Arc::new(Gate(gate.clone())));
    r
}

#[tokio::test]
async fn a_dead_node_is_declared_once_and_its_fires_recovered_by_policy() {
    for db in backends().await {
        let gate = Arc::new(Semaphore::new(0));
        let mut a = Harness::with(&db.url, "node-a", 4, registry(&gate)).await;
        let mut b = Harness::with(&db.url, "node-b", 4, registry(&gate)).await;
        let (ca, cb) = (cluster(&a), cluster(&b));
        ca.register().await.unwrap();
        cb.register().await.unwrap();
        let mut keep = JobDef::new("keep", "gate");
        keep.requests_recovery = true;
        a.client.create_job_def(&keep, None).await.unwrap();
        a.client
            .create_job_def(&JobDef::new("drop", "gate"), None)
            .await
            .unwrap();
        a.client.trigger_now("keep", None).await.unwrap();
        a.client.trigger_now("drop", None).await.unwrap();
        assert_eq!(
            a.step().await.started,
            2,
            "{}: node a runs both",
            db.backend
        );

        // b checks in regularly; a stops checking in (paused, partitioned).
        for _ in 0..DEAD_AFTER {
            b.advance(INTERVAL.as_secs() as i64);
            let round = cb.run_once().await.unwrap();
            assert!(
                round.recovered.is_empty(),
                "{}: too early to judge",
                db.backend
            );
        }
        b.advance(1);
        let round = cb.run_once().await.unwrap();
        assert_eq!(round.recovered.len(), 1, "{}", db.backend);
        let (dead, recovery) = &round.recovered[0];
        assert_eq!(dead, "node-a");
        assert_eq!((recovery.rerun, recovery.abandoned), (1, 2));
        assert!(
            cb.run_once().await.unwrap().recovered.is_empty(),
            "declared once"
        );

        let nodes = b.store.nodes_list().await.unwrap();
        let a_row = nodes.iter().find(|n| n.node.id == "node-a").unwrap();
        assert_eq!(a_row.node.state, "dead");
        assert_eq!(a_row.node.declared_dead_by.as_deref(), Some("node-b"));

        // The slow node wakes up: its fires finish, but their outcomes are
        // fenced out; its check-in is refused; it leases nothing more.
        a.client.trigger_now("drop", None).await.unwrap();
        gate.add_permits(2);
        let done = a.completions(2).await;
        assert!(
            done.iter().all(|e| matches!(
                e,
                SchedulerEvent::Completed {
                    recorded: false,
                    ..
                }
            )),
            "{done:?}"
        );
        assert!(ca.run_once().await.unwrap().declared_dead, "{}", db.backend);
        assert_eq!(
            a.step().await.started,
            0,
            "{}: a dead node starts nothing",
            db.backend
        );

        // The survivor runs the recovery attempt and the new one-off.
        b.advance(1);
        gate.add_permits(2);
        assert_eq!(b.step().await.started, 2, "{}", db.backend);
        b.completions(2).await;
        let keep = fires_of(&b, "keep").await;
        let summary: Vec<_> = keep
            .iter()
            .map(|f| {
                (
                    f.attempt,
                    f.status.as_str(),
                    f.recovery,
                    f.node_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, "abandoned", false, Some("node-a")),
                (2, "succeeded", true, Some("node-b"))
            ]
        );
        assert!(
            keep[0]
                .error
                .as_deref()
                .unwrap()
                .contains("declared dead by node-b")
        );
        let dropped = fires_of(&b, "drop").await;
        assert_eq!(dropped[0].status, "abandoned");
        assert!(
            dropped.iter().all(|f| f.attempt == 1),
            "{}: no new attempt without requests_recovery",
            db.backend
        );
        assert_eq!(dropped[1].node_id.as_deref(), Some("node-b"));
    }
}

#[tokio::test]
async fn a_slow_but_alive_node_is_not_recovered() {
    for db in backends().await {
        let a = Harness::new(&db.url).await;
        let b = Harness::with(&db.url, "node-b", 4, JobRegistry::with_builtins()).await;
        let (ca, cb) = (cluster(&a), cluster(&b));
        ca.register().await.unwrap();
        cb.register().await.unwrap();
        // a checks in late every time, but always within the dead threshold.
        for _ in 0..10 {
            a.advance((INTERVAL.as_secs() * u64::from(DEAD_AFTER) - 1) as i64);
            b.advance((INTERVAL.as_secs() * u64::from(DEAD_AFTER) - 1) as i64);
            assert!(!ca.run_once().await.unwrap().declared_dead);
            assert!(
                cb.run_once().await.unwrap().recovered.is_empty(),
                "{}",
                db.backend
            );
        }
    }
}

#[tokio::test]
async fn a_node_judges_no_peer_until_its_own_check_ins_are_healthy() {
    for db in backends().await {
        let a = Harness::new(&db.url).await;
        let b = Harness::with(&db.url, "node-b", 4, JobRegistry::with_builtins()).await;
        let (ca, cb) = (cluster(&a), cluster(&b));
        ca.register().await.unwrap();
        // b starts long after a's last check-in (as after a database
        // outage, when every check-in is stale).
        b.clock.set(a.clock.now() + TimeDelta::hours(1));
        cb.register().await.unwrap();
        for _ in 1..DEAD_AFTER {
            assert!(
                cb.run_once().await.unwrap().recovered.is_empty(),
                "{}: not yet healthy",
                db.backend
            );
        }
        // a checked in meanwhile: it is alive.
        a.clock.set(b.clock.now());
        ca.run_once().await.unwrap();
        assert!(
            cb.run_once().await.unwrap().recovered.is_empty(),
            "{}",
            db.backend
        );
    }
}

use cosched::Clock;

#[tokio::test]
async fn a_restarted_node_recovers_what_its_previous_run_left_running() {
    for db in backends().await {
        let gate = Arc::new(Semaphore::new(0));
        let a = Harness::with(&db.url, "node-a", 4, registry(&gate)).await;
        cluster(&a).register().await.unwrap();
        let mut job = JobDef::new("keep", "gate");
        job.requests_recovery = true;
        a.client.create_job_def(&job, None).await.unwrap();
        a.client.trigger_now("keep", None).await.unwrap();
        assert_eq!(a.step().await.started, 1);
        // The process dies (nothing completes the fire) and starts again
        // under the same node id.
        let again = Harness::with(&db.url, "node-a", 4, registry(&gate)).await;
        let recovery = cluster(&again).register().await.unwrap();
        assert_eq!(
            (recovery.rerun, recovery.abandoned),
            (1, 1),
            "{}",
            db.backend
        );
        let fires = fires_of(&again, "keep").await;
        assert_eq!(
            fires.iter().map(|f| f.status.as_str()).collect::<Vec<_>>(),
            ["abandoned", "queued"]
        );
    }
}

#[tokio::test]
async fn a_frozen_session_cannot_hold_locks_past_the_dead_threshold() {
    for db in backends().await {
        if db.backend != "postgres" {
            continue;
        }
        let store = cosched::Store::connect(&db.url).await.unwrap();
        let value = store
            .session_setting("idle_in_transaction_session_timeout")
            .await
            .unwrap()
            .expect("a PostgreSQL setting");
        assert_eq!(value, "10s", "half the default dead threshold");
    }
}
