//! Text no backend stores as is (NUL bytes, bytes that are not UTF-8) and
//! rows the database refuses never block the fires recorded with them: the
//! text is made storable and says so, a refused outcome is recorded with a
//! placeholder error, and the fires behind it complete. Also: a NUL in a
//! name or a lookup is refused as invalid input, the same on both
//! backends, and a job deleted while its fire runs stops that fire.

use std::time::{Duration, Instant};

use cosched::model::{FireStatus, JobDef};
use cosched::store::FireFilter;
use serde_json::json;

use crate::scheduling::fires_of;
use crate::support::{Harness, TestDb, backends, exec, pg};

fn command_job(name: &str, script: &str) -> JobDef {
    let mut job = JobDef::new(name, "command");
    job.settings = json!({"command": ["sh", "-c", script]});
    job
}

/// Creates `jobs`, triggers each now, runs one pass and waits for every
/// fire to complete; returns each job's one fire.
async fn fire_all(h: &mut Harness, jobs: &[JobDef]) -> Vec<cosched::model::Fire> {
    for job in jobs {
        h.client.create_job_def(job, None).await.unwrap();
        h.client.trigger_now(&job.name, None).await.unwrap();
    }
    assert_eq!(h.step_and_settle().await.started, jobs.len());
    let mut fires = Vec::new();
    for job in jobs {
        let mut of_job = fires_of(h, &job.name).await;
        assert_eq!(of_job.len(), 1, "{}: {of_job:?}", job.name);
        fires.push(of_job.remove(0));
    }
    fires
}

#[tokio::test]
async fn output_with_nul_and_invalid_utf8_is_stored_escaped_and_blocks_no_other_fire() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await;
        let jobs = [
            command_job("clean-1", "echo one"),
            command_job(
                "hostile",
                r"printf 'a\000b\377c'; printf 'x\000y' >&2; exit 1",
            ),
            command_job("clean-2", "echo two"),
        ];
        let fires = fire_all(&mut h, &jobs).await;
        assert_eq!(fires[0].status, FireStatus::Succeeded, "{}", db.backend);
        assert_eq!(fires[0].output.as_deref(), Some("one\n"), "{}", db.backend);
        assert_eq!(fires[2].status, FireStatus::Succeeded, "{}", db.backend);
        assert_eq!(fires[2].output.as_deref(), Some("two\n"), "{}", db.backend);

        let hostile = &fires[1];
        assert_eq!(hostile.status, FireStatus::Failed, "{}", db.backend);
        let output = hostile.output.as_deref().unwrap();
        assert!(
            output.starts_with("a\\0b\u{FFFD}c"),
            "{}: {output:?}",
            db.backend
        );
        assert!(output.contains("x\\0y"), "{}: {output:?}", db.backend);
        assert!(
            output.ends_with("[2 NUL bytes shown as \\0]"),
            "{}: {output:?}",
            db.backend
        );
        assert!(!output.contains('\0'));
        let error = hostile.error.as_deref().unwrap();
        assert!(!error.contains('\0'), "{}: {error:?}", db.backend);

        // The node goes on: a later fire completes too.
        let later = fire_all(&mut h, &[command_job("later", "echo three")]).await;
        assert_eq!(later[0].status, FireStatus::Succeeded, "{}", db.backend);
    }
}

/// Makes the database itself refuse any fire outcome whose output holds
/// `poison` (a check of the database's own, as a constraint of an
/// operator's might be), so a write fails for a reason other than a lost
/// connection.
async fn refuse_poisoned_outputs(db: &TestDb) {
    let conn = db.sql().await;
    let statements: &[&str] = if db.backend == "postgres" {
        &[
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.output LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned output refused'; \
             END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_poison BEFORE UPDATE ON fires FOR EACH ROW \
             EXECUTE FUNCTION refuse_poison()",
        ]
    } else {
        &["CREATE TRIGGER refuse_poison BEFORE UPDATE ON fires \
           WHEN NEW.output LIKE '%poison%' \
           BEGIN SELECT RAISE(ABORT, 'poisoned output refused'); END"]
    };
    for sql in statements {
        exec(conn, sql).await.unwrap();
    }
}

#[tokio::test]
async fn a_refused_outcome_gets_a_placeholder_and_the_rest_of_its_batch_completes() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await;
        refuse_poisoned_outputs(&db).await;
        let jobs = [
            command_job("fine-1", "echo fine"),
            command_job("poisoned", "echo poison"),
            command_job("fine-2", "echo fine"),
        ];
        let fires = fire_all(&mut h, &jobs).await;
        for fine in [&fires[0], &fires[2]] {
            assert_eq!(fine.status, FireStatus::Succeeded, "{}", db.backend);
            assert_eq!(fine.output.as_deref(), Some("fine\n"), "{}", db.backend);
        }
        let poisoned = &fires[1];
        assert_eq!(poisoned.status, FireStatus::Succeeded, "{}", db.backend);
        assert_eq!(poisoned.output, None, "{}", db.backend);
        let error = poisoned.error.as_deref().unwrap();
        assert!(
            error.starts_with("the outcome could not be stored: ")
                && error.contains("poisoned output refused"),
            "{}: {error}",
            db.backend
        );
        assert!(poisoned.finished_at.is_some(), "{}", db.backend);
    }
}

#[tokio::test]
async fn a_nul_in_a_name_or_a_lookup_is_invalid_input_on_every_backend() {
    use cosched::ClientError;
    use cosched::store::StoreError;
    for db in backends().await {
        let h = Harness::new(&db.url).await;
        // Declared names are the validator's (a field issue), lookups the
        // store's (invalid input naming the field): both say NUL.
        let invalid = |r: Result<(), ClientError>, field: &str| match r {
            Err(ClientError::Store(StoreError::Invalid { field: f, message })) => {
                assert_eq!(f, field, "{}: {message}", db.backend);
                assert!(message.contains("NUL"), "{}: {message}", db.backend);
            }
            Err(ClientError::Validation(v)) => {
                let text = format!("{v:?}");
                assert!(text.contains("NUL"), "{}: {text}", db.backend);
            }
            other => panic!("{}: {field}: {other:?}", db.backend),
        };
        invalid(
            h.client
                .create_job_def(&JobDef::new("a\0b", "noop"), None)
                .await
                .map(drop),
            "job name",
        );
        let mut grouped = JobDef::new("grouped", "noop");
        grouped.group = Some("g\0".into());
        invalid(
            h.client.create_job_def(&grouped, None).await.map(drop),
            "group",
        );
        invalid(h.client.job("a\0b").await.map(drop), "job name");
        invalid(h.client.delete_job("a\0b").await, "job name");
        invalid(h.client.pause("a\0b").await.map(drop), "job name");
        invalid(
            h.client.trigger_now("a\0b", None).await.map(drop),
            "job name",
        );
        invalid(h.client.pause_group("g\0").await.map(drop), "group");
        invalid(h.client.delete_calendar("c\0").await, "calendar name");
        invalid(
            h.client
                .fires(&FireFilter {
                    job: Some("a\0b".into()),
                    ..Default::default()
                })
                .await
                .map(drop),
            "job",
        );
        // Nothing was written.
        assert!(h.client.jobs().await.unwrap().is_empty(), "{}", db.backend);
    }
}

#[tokio::test]
async fn deleting_a_job_stops_its_running_fire_and_frees_the_slot() {
    for db in backends().await {
        let mut h =
            Harness::with(&db.url, "node-a", 1, cosched::JobRegistry::with_builtins()).await;
        let job = command_job("long", "sleep 30");
        h.client.create_job_def(&job, None).await.unwrap();
        h.client.trigger_now("long", None).await.unwrap();
        assert_eq!(h.step().await.started, 1);
        assert_eq!(h.executor.free_slots(), 0);

        h.client.delete_job("long").await.unwrap();
        let began = Instant::now();
        // The next pass sees the fire's record gone and stops the process.
        h.step().await;
        let done = h.completions(1).await;
        assert!(
            matches!(
                &done[0],
                cosched::events::SchedulerEvent::Completed {
                    status: FireStatus::Cancelled,
                    recorded: false,
                    ..
                }
            ),
            "{}: {done:?}",
            db.backend
        );
        assert!(began.elapsed() < Duration::from_secs(10), "{}", db.backend);
        assert_eq!(h.executor.free_slots(), 1, "{}", db.backend);
        assert!(h.client.jobs().await.unwrap().is_empty(), "{}", db.backend);
    }
}

/// End to end on PostgreSQL: a real node runs a job that prints a NUL, and
/// then a second job fires and completes on the same node.
#[tokio::test]
async fn a_serving_node_records_a_nul_output_and_goes_on_firing() {
    let Some(db) = pg::database().await else {
        eprintln!(
            "a_serving_node_records_a_nul_output_and_goes_on_firing: skipped, it needs PostgreSQL"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let client = crate::support::migrated_client(&db.url).await;
    let mut node = crate::cluster::ServeProcess::spawn(&dir, &db.url, "nul-node");

    let finished = |name: &'static str| {
        let client = &client;
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let fires = client
                    .fires(&FireFilter {
                        job: Some(name.into()),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                if let Some(f) = fires.iter().find(|f| f.finished_at.is_some()) {
                    return f.clone();
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} never finished: {fires:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    client
        .create_job_def(&command_job("nul", r"printf 'a\000b'"), None)
        .await
        .unwrap();
    client.trigger_now("nul", None).await.unwrap();
    let nul = finished("nul").await;
    assert_eq!(nul.status, FireStatus::Succeeded, "{}", node.log_tail());
    assert_eq!(
        nul.output.as_deref(),
        Some("a\\0b\n[1 NUL byte shown as \\0]")
    );

    client
        .create_job_def(&command_job("after", "echo after"), None)
        .await
        .unwrap();
    client.trigger_now("after", None).await.unwrap();
    let after = finished("after").await;
    assert_eq!(after.status, FireStatus::Succeeded, "{}", node.log_tail());
    assert_eq!(after.node_id.as_deref(), Some("nul-node"));
    assert_eq!(after.node_id, nul.node_id);
    assert!(node.terminate().await.success());
}

/// One HTTP request with an empty JSON body (DELETE, POST without body).
async fn send_empty(addr: std::net::SocketAddr, method: &str, path: &str) -> crate::http::Reply {
    crate::http::send_with(
        addr,
        method,
        path,
        &[("Host", &addr.to_string())],
        Some(("application/json", "")),
    )
    .await
}

#[tokio::test]
async fn a_nul_gets_400_over_http_and_exit_2_from_the_cli_on_every_backend() {
    use crate::http::{Running, get, post};
    for db in backends().await {
        let node = Running::start(&db.url, "").await;
        let addr = node.addr;
        let b = db.backend;
        let create = post(addr, "/jobs", json!({"name": "a\u{0}b", "kind": "noop"})).await;
        assert!(create.error(400).contains("NUL"), "{b}: {}", create.body);
        let grouped = post(
            addr,
            "/jobs",
            json!({"name": "ok", "kind": "noop", "group": "g\u{0}"}),
        )
        .await;
        assert!(grouped.error(400).contains("NUL"), "{b}: {}", grouped.body);
        for (method, path) in [
            ("GET", "/jobs/a%00b"),
            ("DELETE", "/jobs/a%00b"),
            ("POST", "/jobs/a%00b/trigger"),
            ("POST", "/jobs/a%00b/pause"),
            ("POST", "/groups/g%00/pause"),
            ("DELETE", "/calendars/c%00"),
            ("GET", "/fires?job=a%00b"),
        ] {
            let reply = if method == "GET" {
                get(addr, path).await
            } else {
                send_empty(addr, method, path).await
            };
            assert!(
                reply.error(400).contains("NUL"),
                "{b}: {method} {path}: {}",
                reply.body
            );
        }
        let calendar = crate::http::send_with(
            addr,
            "PUT",
            "/calendars/c%00",
            &[("Host", &addr.to_string())],
            Some(("application/json", r#"{"days_of_week": ["sun"]}"#)),
        )
        .await;
        assert!(
            calendar.error(400).contains("NUL"),
            "{b}: {}",
            calendar.body
        );

        // The command line: a calendar named with a NUL, from JSON.
        let out = crate::config::cosched(&[
            "calendars",
            "set",
            r#"{"name": "c\u0000", "days_of_week": ["sun"]}"#,
            "--database",
            &db.url,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{b}: {stderr}");
        assert!(stderr.contains("NUL"), "{b}: {stderr}");

        let jobs = get(addr, "/jobs").await.json();
        assert_eq!(jobs, json!([]), "{b}: nothing was created");
        let calendars = get(addr, "/calendars").await.json();
        assert_eq!(calendars, json!([]), "{b}: nothing was created");
        node.stop().await;
    }
}

#[tokio::test]
async fn deleting_a_running_job_over_http_and_the_cli_stops_its_fire() {
    use crate::http::{Running, eventually, get, post};
    for db in backends().await {
        let node = Running::start_with(&db.url, "api_command_jobs = true", "").await;
        let addr = node.addr;
        let b = db.backend;
        for name in ["by-http", "by-cli"] {
            let created = post(
                addr,
                "/jobs",
                json!({"name": name, "kind": "command", "settings": {"command": ["sleep", "30"]}}),
            )
            .await;
            assert_eq!(created.status, 201, "{b}: {}", created.body);
            let fired = send_empty(addr, "POST", &format!("/jobs/{name}/trigger")).await;
            assert_eq!(fired.status, 201, "{b}: {}", fired.body);
        }
        let running = || async {
            let text = get(addr, "/metrics").await.body;
            text.lines()
                .find(|l| l.starts_with("cosched_running_fires "))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
        };
        eventually("both fires to run", || async {
            running().await.filter(|&n| n == 2)
        })
        .await;

        let deleted = send_empty(addr, "DELETE", "/jobs/by-http").await;
        assert!(
            deleted.status < 300,
            "{b}: {} {}",
            deleted.status,
            deleted.body
        );
        eventually("the deleted job's fire to stop", || async {
            running().await.filter(|&n| n == 1)
        })
        .await;

        let out = crate::config::cosched(&["jobs", "delete", "by-cli", "--database", &db.url]);
        assert!(
            out.status.success(),
            "{b}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eventually("the other fire to stop too", || async {
            running().await.filter(|&n| n == 0)
        })
        .await;
        assert_eq!(get(addr, "/jobs").await.json(), json!([]), "{b}");
        node.stop().await;
    }
}
