//! Jitter (`jitter = "5m"`, `jitter = { hash = "5m" }`): declared through
//! the one validator (file:line in the file, the field path over HTTP),
//! stored and shown; a stepped node records a jittered fire with its
//! nominal `scheduled_at`, starts it exactly at nominal + offset and never
//! before, and the preview shows that same instant.

use std::time::Duration;

use cosched::config;
use cosched::declare::{JobDecl, ScheduleDecl};
use cosched::model::{FireStatus, Jitter};
use cosched::{JobRegistry, clock::from_ms};
use serde_json::{Value, json};

use crate::http::{Running, post};
use crate::scheduling::fires_of;
use crate::support::{Harness, backends, t0};

#[test]
fn the_file_accepts_both_forms_and_refuses_bad_ones_with_their_line() {
    let job = |jitter: &str| format!("[[job]]\nname = \"j\"\nkind = \"noop\"\njitter = {jitter}\n");
    let registry = JobRegistry::with_builtins();
    let ok = config::parse(&job("\"5m\""), "jobs.toml", &registry).unwrap();
    assert_eq!(
        ok.jobs[0].job.jitter,
        Some(Jitter::Uniform(Duration::from_secs(300)))
    );
    let ok = config::parse(&job("{ hash = \"30s\" }"), "jobs.toml", &registry).unwrap();
    assert_eq!(
        ok.jobs[0].job.jitter,
        Some(Jitter::Hash(Duration::from_secs(30)))
    );
    for (bad, expected) in [
        ("\"0s\"", "longer than zero"),
        ("\"25h\"", "jitter"),
        ("\"soon\"", "not a duration"),
        ("{ hash = \"2d\" }", "jitter.hash"),
        ("{ spread = \"5m\" }", "hash"),
        ("{ hash = \"5m\", extra = 1 }", "hash"),
        ("5", "expected a duration"),
    ] {
        let err = config::parse(&job(bad), "jobs.toml", &registry).unwrap_err();
        assert_eq!(err.issues.len(), 1, "{bad}: {err}");
        assert_eq!(err.issues[0].line, 4, "{bad}: {err}");
        let message = &err.issues[0].message;
        assert!(
            message.contains(expected),
            "{bad}: `{expected}` in {message}"
        );
    }
}

#[tokio::test]
async fn the_api_refuses_a_bad_jitter_by_path_and_shows_a_good_one() {
    for db in backends().await {
        let node = Running::start(&db.url, "").await;
        for bad in [
            json!("0s"),
            json!({"hash": "2d"}),
            json!({"uniform": "5m"}),
            json!(true),
        ] {
            let body = json!({"name": "j", "kind": "noop", "jitter": bad});
            let reply = post(node.addr, "/jobs", body).await;
            assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
            let issues = reply.json()["issues"].clone();
            assert_eq!(issues[0]["path"], "jitter", "{bad}: {issues}");
        }
        let body = json!({"name": "j", "kind": "noop", "jitter": {"hash": "30s"}});
        let reply = post(node.addr, "/jobs", body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(
            reply.json()["jitter"],
            json!({"kind": "hash", "window_ms": 30_000})
        );
        let client = crate::support::migrated_client(&db.url).await;
        let job = client.job("j").await.unwrap();
        assert_eq!(job.job.jitter, Some(Jitter::Hash(Duration::from_secs(30))));
        node.stop().await;
    }
}

/// Hourly from `hours` after `t0()`.
fn hourly(name: &str, jitter: Value, hours: i64) -> JobDecl {
    let start = t0() + chrono::Duration::hours(hours);
    JobDecl {
        name: name.into(),
        kind: "noop".into(),
        jitter: Some(jitter),
        schedule: Some(ScheduleDecl {
            every: Some("1h".into()),
            start: Some(start.to_rfc3339()),
            ..ScheduleDecl::default()
        }),
        ..JobDecl::default()
    }
}

#[tokio::test]
async fn a_jittered_fire_starts_at_its_offset_never_before_as_previewed() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await;
        let window = Duration::from_secs(30 * 60);
        for (name, decl, jitter, hours) in [
            ("spread", json!("30m"), Jitter::Uniform(window), 1),
            ("hashed", json!({"hash": "30m"}), Jitter::Hash(window), 4),
        ] {
            fires_at_offset(&mut h, name, hourly(name, decl, hours), jitter).await;
        }
    }
}

async fn fires_at_offset(h: &mut Harness, name: &str, decl: JobDecl, jitter: Jitter) {
    let start = decl
        .schedule
        .as_ref()
        .and_then(|s| s.start.clone())
        .unwrap();
    h.client.create_job(&decl).await.unwrap();
    let trigger = h.client.job(name).await.unwrap().triggers[0].id;
    let nominal = chrono::DateTime::parse_from_rfc3339(&start)
        .unwrap()
        .timestamp_millis();
    let offset = jitter.offset_ms(name, trigger, nominal);
    assert!((1..30 * 60_000).contains(&offset), "{name}: {offset}");
    let due = nominal + offset;

    let preview = h.client.job_preview(name, 2).await.unwrap();
    assert_eq!(preview.fires[0].at().timestamp_millis(), nominal);
    assert_eq!(preview.fires[0].due_at.timestamp_millis(), due);
    let second = preview.fires[1].at().timestamp_millis();
    let second_due = second + jitter.offset_ms(name, trigger, second);
    assert_eq!(preview.fires[1].due_at.timestamp_millis(), second_due);

    // On its nominal instant the trigger is leased and the fire recorded,
    // nominal, waiting for its jittered instant.
    h.clock.set(from_ms(nominal));
    let pass = h.step().await;
    assert_eq!(pass.started, 0, "{name}");
    let fires = fires_of(h, name).await;
    assert_eq!(fires.len(), 1, "{name}: {fires:?}");
    assert_eq!(fires[0].status, FireStatus::Queued, "{name}");
    assert_eq!((fires[0].scheduled_at, fires[0].due_at), (nominal, due));
    assert_eq!(pass.next_due_ms, Some(due), "{name}: the loop wakes for it");

    h.clock.set(from_ms(due - 1));
    assert_eq!(h.step().await.started, 0, "{name}: not before its instant");
    h.clock.set(from_ms(due));
    assert_eq!(h.step_and_settle().await.started, 1, "{name}");
    let fire = &fires_of(h, name).await[0];
    assert_eq!(fire.status, FireStatus::Succeeded, "{name}: {fire:?}");
    assert_eq!(
        (fire.scheduled_at, fire.due_at, fire.started_at),
        (nominal, due, Some(due)),
        "{name}: scheduled nominal, started at nominal + offset"
    );
    // Lateness counts from the jittered instant: started on it, 0 ms late,
    // in the model and in the JSON view every door shows.
    assert_eq!(fire.jitter_ms, Some(offset), "{name}");
    assert_eq!(fire.lateness_ms(), Some(0), "{name}");
    assert_eq!(
        cosched::client::views::fire_json(fire)["lateness_ms"],
        serde_json::json!(0),
        "{name}"
    );
    // The recorded instants are the previewed ones, the next one too.
    h.clock.set(from_ms(second));
    h.step().await;
    h.clock.set(from_ms(second_due));
    h.step_and_settle().await;
    let fires = fires_of(h, name).await;
    assert_eq!(
        (fires[1].scheduled_at, fires[1].started_at),
        (second, Some(second_due))
    );
    // Leave the job paused so it does not fire into the next job's test.
    h.client.pause(name).await.unwrap();
}

fn daily_at_11(name: &str, jitter: Option<Value>) -> JobDecl {
    JobDecl {
        name: name.into(),
        kind: "noop".into(),
        jitter,
        schedule: Some(ScheduleDecl {
            cron: Some("0 0 11 * * ?".into()),
            timezone: Some("UTC".into()),
            misfire: Some(json!("do_nothing")),
            ..ScheduleDecl::default()
        }),
        ..JobDecl::default()
    }
}

#[tokio::test]
async fn the_misfire_threshold_counts_from_the_jittered_instant() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await;
        let jitter = Jitter::Hash(Duration::from_secs(30 * 60));
        let decl = daily_at_11("jittered", Some(json!({"hash": "30m"})));
        h.client.create_job(&decl).await.unwrap();
        h.client
            .create_job(&daily_at_11("plain", None))
            .await
            .unwrap();
        let nominal = (t0() + chrono::Duration::hours(1)).timestamp_millis();
        let offset = jitter.offset_ms("jittered", 0, nominal);
        assert!(offset > 60_000, "the name's offset: {offset}");
        // 30 s after the jittered instant, more than the 60 s threshold
        // after the nominal one: the plain job misfired, the jittered one
        // is merely 30 s late and runs now.
        h.clock.set(from_ms(nominal + offset + 30_000));
        h.step_and_settle().await;
        let plain = &fires_of(&h, "plain").await[0];
        assert_eq!(plain.status, FireStatus::Skipped, "{plain:?}");
        let fire = &fires_of(&h, "jittered").await[0];
        assert_eq!(fire.status, FireStatus::Succeeded, "{fire:?}");
        assert_eq!(fire.scheduled_at, nominal);
        assert_eq!(fire.started_at, Some(nominal + offset + 30_000));
    }
}
