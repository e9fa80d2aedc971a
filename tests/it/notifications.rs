//! Notifications on both backends, stepped by hand with manual clocks:
//! every event type recorded with its event and sent once with two nodes
//! over one database, a lease held by a node that died (or let its lease
//! expire) sent by the survivor exactly once (counted at a real local
//! HTTP server), filters by job and group, retries then `failed`, and the
//! validator's errors at file:line:column.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use cosched::clock::OffsetClock;
use cosched::cluster::{Cluster, ClusterConfig};
use cosched::events::Events;
use cosched::model::{JobDef, NotificationStatus, NotifyEvent, NotifyRule};
use cosched::notifier::{Notifier, NotifierConfig};
use cosched::{Clock, JobRegistry, ManualClock, config};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::scheduling::{Gate, cron_trigger, fires_of};
use crate::support::{Harness, backends};

const CHECKIN: Duration = Duration::from_secs(5);
const DEAD_AFTER: u32 = 3;

fn registry(gate: &Arc<Semaphore>) -> JobRegistry {
    let mut r = JobRegistry::with_builtins();
    r.register(Arc::new(Gate(gate.clone())));
    r
}

fn cluster(h: &Harness) -> Cluster<Arc<ManualClock>> {
    Cluster::new(
        ClusterConfig {
            node_id: h.node_id.clone(),
            pools: vec!["default".into()],
            checkin_interval: CHECKIN,
            dead_after: DEAD_AFTER,
            measure_clock_offset: false,
        },
        h.store.clone(),
        Arc::new(OffsetClock::new(h.clock.clone())),
        Events::new(),
    )
}

fn notifier(h: &Harness, registry: JobRegistry) -> Notifier {
    let mut config = NotifierConfig::new(h.node_id.clone());
    config.lease = Duration::from_secs(10);
    config.max_attempts = 2;
    let clock: Arc<dyn Clock> = h.clock.clone();
    Notifier::new(config, h.store.clone(), clock, registry)
}

/// A rule that appends each event's JSON context, one line each, to `log`.
fn command_rule(name: &str, on: &[NotifyEvent], log: &Path) -> NotifyRule {
    NotifyRule {
        name: name.into(),
        on: on.to_vec(),
        jobs: vec![],
        groups: vec![],
        kind: "command".into(),
        settings: json!({"command": ["sh", "-c", format!("cat >> '{}'; echo >> '{}'", log.display(), log.display())]}),
    }
}

/// The notification ids the command wrote to `log`, in order.
fn delivered(log: &Path) -> Vec<i64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["data"]["notification_id"].as_i64().unwrap()
        })
        .collect()
}

fn failing(name: &str) -> JobDef {
    let mut job = JobDef::new(name, "command");
    job.settings = json!({"command": ["false"]});
    job
}

#[tokio::test]
async fn every_event_type_notifies_once_with_two_nodes_over_one_database() {
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("notify.log");
        let gate = Arc::new(Semaphore::new(0));
        let mut a = Harness::with(&db.url, "node-a", 4, registry(&gate)).await;
        let b = Harness::with(&db.url, "node-b", 4, registry(&gate)).await;
        let rule = command_rule("all", &NotifyEvent::ALL, &log);
        a.store.set_notify_rules(vec![rule.clone()]);
        b.store.set_notify_rules(vec![rule]);
        let (ca, cb) = (cluster(&a), cluster(&b));
        ca.register().await.unwrap();
        cb.register().await.unwrap();

        // failed, timed_out
        a.client
            .create_job_def(&failing("bad"), None)
            .await
            .unwrap();
        let mut slow = JobDef::new("slow", "command");
        slow.settings = json!({"command": ["sleep", "10"]});
        slow.timeout = Some(Duration::from_millis(200));
        a.client.create_job_def(&slow, None).await.unwrap();
        a.client.trigger_now("bad", None).await.unwrap();
        a.client.trigger_now("slow", None).await.unwrap();
        assert_eq!(a.step_and_settle().await.started, 2, "{}", db.backend);

        // misfire_skipped: a minutely cron whose node was away 3 minutes.
        a.client
            .create_job_def(
                &JobDef::new("tick", "noop"),
                Some(&cron_trigger("0 * * * * ?")),
            )
            .await
            .unwrap();
        a.step_and_settle().await;
        a.advance(180);
        b.advance(180);
        a.step_and_settle().await;
        let misfired = fires_of(&a, "tick")
            .await
            .iter()
            .filter(|f| {
                f.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("misfired"))
            })
            .count();
        assert!(misfired >= 1, "{}", db.backend);

        // abandoned, node_dead: a runs a gated fire, then stops checking in.
        a.client
            .create_job_def(&JobDef::new("held", "gate"), None)
            .await
            .unwrap();
        a.client.trigger_now("held", None).await.unwrap();
        assert_eq!(a.step().await.started, 1);
        ca.run_once().await.unwrap();
        for _ in 0..=DEAD_AFTER {
            b.advance(CHECKIN.as_secs() as i64);
            cb.run_once().await.unwrap();
        }
        assert!(ca.run_once().await.unwrap().declared_dead, "{}", db.backend);

        // expectation_violated: seen by both nodes, recorded once.
        let mut expect = JobDef::new("nightly", "noop");
        expect.expect_success_within = Some(Duration::from_secs(60));
        b.client.create_job_def(&expect, None).await.unwrap();
        a.advance(120);
        b.advance(120);
        let (na, nb) = (notifier(&a, registry(&gate)), notifier(&b, registry(&gate)));
        let found = na.check_expectations().await.unwrap() + nb.check_expectations().await.unwrap();
        assert_eq!(found, 1, "{}: one violation, once", db.backend);

        // Both nodes send; a was declared dead and leases nothing.
        let pa = na.run_once().await.unwrap();
        assert_eq!(pa.leased, 0, "{}: a dead node sends nothing", db.backend);
        while nb.run_once().await.unwrap().leased > 0 {}
        let all = b.client.notifications(None, 1000).await.unwrap();
        let mut events: Vec<&str> = all.iter().map(|n| n.event.as_str()).collect();
        events.sort();
        events.dedup();
        assert_eq!(
            events,
            [
                "abandoned",
                "expectation_violated",
                "failed",
                "misfire_skipped",
                "node_dead",
                "timed_out"
            ],
            "{}",
            db.backend
        );
        assert_eq!(
            all.iter()
                .filter(|n| n.event == NotifyEvent::MisfireSkipped)
                .count(),
            misfired
        );
        assert!(
            all.iter().all(|n| n.status == NotificationStatus::Sent),
            "{all:?}"
        );
        let mut sent = delivered(&log);
        assert_eq!(sent.len(), all.len(), "{}: each once", db.backend);
        sent.sort();
        sent.dedup();
        assert_eq!(sent.len(), all.len(), "{}: none twice", db.backend);
        let failed = all.iter().find(|n| n.event == NotifyEvent::Failed).unwrap();
        assert_eq!(failed.job.as_deref(), Some("bad"));
        assert_eq!(failed.fire_status.as_deref(), Some("failed"));
        let dead = all
            .iter()
            .find(|n| n.event == NotifyEvent::NodeDead)
            .unwrap();
        assert_eq!(dead.node.as_deref(), Some("node-a"));
        gate.add_permits(1);
        a.completions(1).await;
    }
}

/// A local HTTP server that counts the notifications it receives.
#[derive(Clone, Default)]
struct Receiver {
    ids: Arc<Mutex<Vec<i64>>>,
}

async fn receive(State(r): State<Receiver>, request: Request) -> &'static str {
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    r.ids
        .lock()
        .unwrap()
        .push(v["data"]["notification_id"].as_i64().unwrap());
    "ok"
}

async fn receiver() -> (String, Receiver) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let r = Receiver::default();
    let app = axum::Router::new().fallback(receive).with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, r)
}

#[tokio::test]
async fn a_lease_left_by_a_dead_or_stalled_node_is_sent_by_the_survivor_exactly_once() {
    for db in backends().await {
        let (url, server) = receiver().await;
        let gate = Arc::new(Semaphore::new(0));
        let mut a = Harness::with(&db.url, "node-a", 4, registry(&gate)).await;
        let b = Harness::with(&db.url, "node-b", 4, registry(&gate)).await;
        let rule = NotifyRule {
            name: "hook".into(),
            on: vec![NotifyEvent::Failed],
            jobs: vec![],
            groups: vec![],
            kind: "http".into(),
            settings: json!({"url": url}),
        };
        a.store.set_notify_rules(vec![rule.clone()]);
        b.store.set_notify_rules(vec![rule]);
        let (ca, cb) = (cluster(&a), cluster(&b));
        ca.register().await.unwrap();
        cb.register().await.unwrap();
        let nb = notifier(&b, registry(&gate));
        a.client
            .create_job_def(&failing("bad"), None)
            .await
            .unwrap();

        // 1. a leases it and stalls past the lease: b sends it; a's late
        // mark is fenced out.
        a.client.trigger_now("bad", None).await.unwrap();
        a.step_and_settle().await;
        let now = a.clock.now_ms();
        let held = a
            .store
            .notifications_lease("node-a", now, now + 10_000, 10)
            .await
            .unwrap();
        assert_eq!(held.len(), 1, "{}", db.backend);
        assert_eq!(nb.run_once().await.unwrap().leased, 0, "the lease holds");
        b.advance(11);
        assert_eq!(nb.run_once().await.unwrap().sent, 1, "{}", db.backend);
        assert!(
            !a.store
                .notification_sent(held[0].id, "node-a", held[0].fence, now)
                .await
                .unwrap()
        );
        a.advance(11);

        // 2. a leases the next one and dies: declared dead, it is freed at
        // once and b sends it.
        a.client.trigger_now("bad", None).await.unwrap();
        a.step_and_settle().await;
        let now = a.clock.now_ms();
        // A lease far longer than the test: only the death frees it.
        let held2 = a
            .store
            .notifications_lease("node-a", now, now + 3_600_000, 10)
            .await
            .unwrap();
        assert_eq!(held2.len(), 1);
        ca.run_once().await.unwrap();
        cb.run_once().await.unwrap();
        for _ in 0..=DEAD_AFTER {
            b.advance(CHECKIN.as_secs() as i64);
            cb.run_once().await.unwrap();
        }
        assert_eq!(nb.run_once().await.unwrap().sent, 1, "{}", db.backend);
        assert_eq!(nb.run_once().await.unwrap().leased, 0);
        let ids = server.ids.lock().unwrap().clone();
        assert_eq!(ids, vec![held[0].id, held2[0].id], "{}", db.backend);
    }
}

#[tokio::test]
async fn filters_pick_jobs_and_groups_and_failed_sends_retry_then_fail() {
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("notify.log");
        let gate = Arc::new(Semaphore::new(0));
        let mut h = Harness::with(&db.url, "node-a", 4, registry(&gate)).await;
        let mut by_job = command_rule("by-job", &[NotifyEvent::Failed], &log);
        by_job.jobs = vec!["one".into()];
        let mut by_group = command_rule("by-group", &[NotifyEvent::Failed], &log);
        by_group.groups = vec!["g".into()];
        let mut broken = command_rule("broken", &[NotifyEvent::Failed], &log);
        broken.jobs = vec!["three".into()];
        broken.settings = json!({"command": ["false"]});
        h.store.set_notify_rules(vec![by_job, by_group, broken]);
        h.client
            .create_job_def(&failing("one"), None)
            .await
            .unwrap();
        let mut two = failing("two");
        two.group = Some("g".into());
        h.client.create_job_def(&two, None).await.unwrap();
        h.client
            .create_job_def(&failing("three"), None)
            .await
            .unwrap();
        for job in ["one", "two", "three"] {
            h.client.trigger_now(job, None).await.unwrap();
        }
        h.step_and_settle().await;
        let n = notifier(&h, registry(&gate));
        let pass = n.run_once().await.unwrap();
        assert_eq!((pass.sent, pass.failed), (2, 1), "{}", db.backend);
        let mut got: Vec<(String, Option<String>)> = h
            .client
            .notifications(None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|n| (n.notify, n.job))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("broken".to_string(), Some("three".to_string())),
                ("by-group".to_string(), Some("two".to_string())),
                ("by-job".to_string(), Some("one".to_string())),
            ]
        );
        // The broken sender is retried after its backoff, then given up.
        assert_eq!(n.run_once().await.unwrap().leased, 0, "backing off");
        h.advance(10);
        assert_eq!(n.run_once().await.unwrap().failed, 1);
        let failed = h
            .client
            .notifications(Some(NotificationStatus::Failed), 10)
            .await
            .unwrap();
        assert_eq!(failed.len(), 1, "{}", db.backend);
        assert_eq!(failed[0].attempts, 2);
        assert!(
            failed[0].error.as_deref().unwrap().contains("exit"),
            "{failed:?}"
        );
        h.advance(3600);
        assert_eq!(n.run_once().await.unwrap().leased, 0, "failed is final");
    }
}

#[test]
fn the_file_validator_reports_notify_errors_at_their_place() {
    let registry = JobRegistry::with_builtins();
    let src = "[[notify]]\nname = \"ops\"\non = [\"failed\", \"timedout\"]\ncommand = [\"true\"]\n\n\
               [[notify]]\nname = \"hook\"\non = [\"node_dead\"]\nhttp = { url = \"ftp://x\" }\n\n\
               [[notify]]\nname = \"ops\"\non = [\"failed\"]\ncommand = [\"true\"]\n";
    let e = config::parse(src, "jobs.toml", &registry).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("jobs.toml:3:17: did you mean `timed_out`?"),
        "{text}"
    );
    assert!(
        text.contains("jobs.toml:9:8: notifier `hook` (http)"),
        "{text}"
    );
    assert!(
        text.contains("jobs.toml:12:8: duplicate notifier name `ops`"),
        "{text}"
    );
    let ok = config::parse(
        "[[notify]]\nname = \"ops\"\non = [\"failed\"]\njobs = [\"a\"]\ncommand = [\"true\"]\n",
        "jobs.toml",
        &registry,
    )
    .unwrap();
    assert_eq!(ok.notify.len(), 1);
    assert_eq!(ok.notify[0].jobs, ["a"]);
}

#[tokio::test]
async fn a_serving_node_sends_its_notifications_and_backfills_over_http() {
    use crate::http::{Running, eventually, get, post};
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("notify.log");
        let toml = format!(
            "[[notify]]\nname = \"ops\"\non = [\"failed\"]\n\
             command = [\"sh\", \"-c\", \"cat >> '{0}'; echo >> '{0}'\"]\n\n\
             [[job]]\nname = \"bad\"\nkind = \"command\"\ncommand = [\"false\"]\n\n\
             [[job]]\nname = \"hourly\"\nkind = \"noop\"\ncron = \"0 0 * * * ?\"\n",
            log.display()
        );
        let node = Running::start(&db.url, &toml).await;
        let r = post(node.addr, "/jobs/bad/trigger", json!({})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let sent = eventually("the notification sent", || async {
            let r = get(node.addr, "/notifications?status=sent").await;
            assert_eq!(r.status, 200, "{}", r.body);
            let list = r.json().as_array().unwrap().clone();
            (!list.is_empty()).then_some(list)
        })
        .await;
        assert_eq!(sent.len(), 1, "{}", db.backend);
        assert_eq!(sent[0]["event"], "failed");
        assert_eq!(sent[0]["job"], "bad");
        assert_eq!(delivered(&log), [sent[0]["id"].as_i64().unwrap()]);
        let r = get(node.addr, "/notifications?status=bogus").await;
        assert_eq!(r.status, 400, "{}", r.body);

        let now = chrono::Utc::now();
        let window = json!({
            "from": (now - chrono::Duration::hours(3)).to_rfc3339(),
            "to": (now - chrono::Duration::hours(1)).to_rfc3339(),
        });
        let r = post(node.addr, "/jobs/hourly/backfill", window.clone()).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.json()["created"].as_array().unwrap().len(),
            2,
            "{}",
            r.body
        );
        let r = post(node.addr, "/jobs/hourly/backfill", window.clone()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["present"].as_array().unwrap().len(), 2);
        let r = post(node.addr, "/jobs/nope/backfill", window).await;
        assert_eq!(r.status, 404, "{}", r.body);
        let r = post(
            node.addr,
            "/jobs/hourly/backfill",
            json!({"from": now.to_rfc3339(), "to": now.to_rfc3339()}),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.body);
        node.stop().await;
    }
}
