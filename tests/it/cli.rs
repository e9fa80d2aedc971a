//! The binary end to end: a one-off scheduled by the CLI while no node
//! runs, then a real node on the system clock; exit codes; `next`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cosched::model::JobDef;
use serde_json::Value;

use crate::config::cosched;
use crate::support::sqlite;

fn serve_for(config: &str, db: &str, run: Duration) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosched"))
        .args(["serve", "--config", config, "--database", db])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(run);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "serve exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    log
}

fn fires_json(db: &str, job: &str) -> Vec<Value> {
    let out = cosched(&[
        "fires",
        "--database",
        db,
        "--job",
        job,
        "--json",
        "--limit",
        "1000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

#[test]
fn a_real_node_fires_every_second_and_a_one_off_scheduled_before_it_started() {
    let db = sqlite();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jobs.toml");
    std::fs::write(
        &config,
        "[scheduler]\npoll_interval = \"200ms\"\n\n\
         [[job]]\nname = \"tick\"\nkind = \"noop\"\ncron = \"* * * * * ?\"\n\n\
         [[job]]\nname = \"later\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // The node has never run: create the file's jobs with a short-lived
    // node (to have the job), then schedule the one-off with no node up.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = crate::support::migrated_client(&db.url).await;
        client
            .create_job_def(&JobDef::new("api-job", "noop"), None)
            .await
            .unwrap();
    });
    let out = cosched(&[
        "schedule",
        "api-job",
        "--in",
        "1s",
        "--data",
        "{\"k\":1}",
        "--database",
        &db.url,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scheduled: Value = serde_json::from_slice(&out.stdout).unwrap();

    serve_for(config, &db.url, Duration::from_millis(4500));

    let ticks = fires_json(&db.url, "tick");
    assert!(ticks.len() >= 3, "expected several ticks, got {ticks:?}");
    let mut seconds: Vec<i64> = ticks
        .iter()
        .map(|f| {
            chrono::DateTime::parse_from_rfc3339(f["scheduled_at"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    seconds.sort();
    for pair in seconds.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1000,
            "one fire per second, none missing, none twice: {seconds:?}"
        );
    }
    assert!(seconds.iter().all(|ms| ms % 1000 == 0));
    for f in &ticks {
        assert_eq!(f["status"], "succeeded");
        assert!(f["lateness_ms"].as_i64().unwrap() >= 0);
    }
    let once = fires_json(&db.url, "api-job");
    assert_eq!(once.len(), 1);
    assert_eq!(once[0]["scheduled_at"], scheduled["fire_at"]);
    assert_eq!(once[0]["status"], "succeeded");
}

#[test]
fn usage_errors_exit_2_and_runtime_errors_exit_1() {
    let db = sqlite();
    let migrated = cosched(&["migrate", "--database", &db.url]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["fires", "--status", "bogus"],
            2,
            "expected one of queued, running",
        ),
        (
            &["jobs", "pause", "nosuch"],
            2,
            "job `nosuch` does not exist",
        ),
        (
            &["schedule", "nosuch", "--in", "5m"],
            2,
            "job `nosuch` does not exist",
        ),
        (&["schedule", "x", "--in", "soon"], 2, "--in soon"),
        (&["next", "0 0 0 * *"], 2, "invalid cron expression"),
        (
            &["next", "0 0 * * * ?", "--tz", "Europe/Pariss"],
            2,
            "did you mean `Europe/Paris`?",
        ),
        (&["bogus-command"], 2, "unrecognized subcommand"),
    ];
    for (args, code, text) in cases {
        let mut args = args.to_vec();
        if args[0] != "next" && args[0] != "bogus-command" {
            args.extend(["--database", &db.url]);
        }
        let out = cosched(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(
            stderr.contains(text),
            "{args:?}: expected `{text}` in {stderr}"
        );
    }
    let out = cosched(&[
        "jobs",
        "--database",
        "sqlite:///nonexistent/folder/cosched.db",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreachable database is a runtime failure"
    );
}

#[test]
fn producer_commands_neither_create_nor_migrate_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.db");
    let url = format!("sqlite://{}", file.display());
    for args in [&["jobs"][..], &["fires"], &["schedule", "j", "--in", "1m"]] {
        let mut args = args.to_vec();
        args.extend(["--database", &url]);
        let out = cosched(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("does not exist"), "{args:?}: {stderr}");
        assert!(stderr.contains("cosched migrate"), "{args:?}: {stderr}");
        assert!(!file.exists(), "{args:?} created {}", file.display());
    }
    // An existing file without the schema: the producer says what to run
    // and creates no table.
    std::fs::write(&file, b"").unwrap();
    let out = cosched(&["jobs", "--database", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no cosched tables"), "{stderr}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        0,
        "nothing written"
    );
    // Once migrated, a read command prints its table and, at the default
    // log level, nothing on stderr.
    assert!(cosched(&["migrate", "--database", &url]).status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_cosched"))
        .args(["fires", "--database", &url])
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("SCHEDULED"));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no log lines");
    // Refused URLs: an empty path and a device.
    for bad in ["sqlite://", "sqlite:///dev/null"] {
        let out = cosched(&["jobs", "--database", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

#[test]
fn next_prints_the_next_instants_as_json() {
    let out = cosched(&[
        "next",
        "0 30 9 ? * MON-FRI",
        "--tz",
        "Europe/Berlin",
        "-n",
        "3",
        "--from",
        "2026-03-06T00:00:00Z",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        [
            "2026-03-06T08:30:00+00:00",
            "2026-03-09T08:30:00+00:00",
            "2026-03-10T08:30:00+00:00"
        ]
    );
}

#[test]
fn jobs_lists_pauses_resumes_and_triggers() {
    let db = sqlite();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = crate::support::migrated_client(&db.url).await;
        client
            .create_job_def(&JobDef::new("j", "noop"), None)
            .await
            .unwrap();
    });
    let run = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--database", &db.url]);
        let out = cosched(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["jobs", "pause", "j"]).contains("j: paused"));
    let list: Vec<Value> = serde_json::from_str(&run(&["jobs", "--json"])).unwrap();
    assert_eq!(list[0]["paused"], true);
    assert!(run(&["jobs", "resume", "j"]).contains("j: resumed"));
    assert!(run(&["jobs", "trigger", "j"]).contains("j: triggered"));
    let shown: Value = serde_json::from_str(&run(&["jobs", "show", "j", "--json"])).unwrap();
    assert_eq!(shown["triggers"].as_array().unwrap().len(), 1);
    assert!(run(&["jobs"]).contains("NAME"));
}

#[test]
fn completions_and_the_manual_page_come_from_the_command_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = cosched(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("cosched"), "{shell}");
        assert!(script.contains("schedule"), "{shell}: subcommands listed");
    }
    let out = cosched(&["man"]);
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    assert!(page.contains("serve"));
}

#[test]
fn counts_out_of_range_are_usage_errors_not_panics() {
    for args in [
        &["fires", "--limit", "9223372036854775808"][..],
        &["fires", "--limit", "0"],
        &["fires", "--limit", "10001"],
        &["next", "0 0 * * * ?", "-n", "10000000"],
        &["next", "0 0 * * * ?", "-n", "0"],
    ] {
        let mut args = args.to_vec();
        if args[0] == "fires" {
            args.extend(["--database", "sqlite://unused.db"]);
        }
        let out = cosched(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = cosched(&["next", "0 0 * * * ?", "-n", "10000", "--json"]);
    assert!(out.status.success());
    let instants: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(instants.len(), 10_000);
}

#[test]
fn deleting_a_job_declared_in_the_file_exits_2_and_deletes_nothing() {
    let db = sqlite();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let declared = cosched::model::ConfigJob {
        job: JobDef::new("declared", "noop"),
        trigger: None,
        job_hash: "h".into(),
        trigger_hash: None,
    };
    rt.block_on(async {
        let client = crate::support::migrated_client(&db.url).await;
        client
            .store()
            .reconcile_config(&[declared], &[], 0)
            .await
            .unwrap();
        client
            .trigger_now("declared", None)
            .await
            .expect("a one-off of a config job is allowed");
    });
    let out = cosched(&["jobs", "delete", "declared", "--database", &db.url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("job `declared` is declared in the configuration file")
            && stderr.contains("remove it there"),
        "{stderr}"
    );
    let out = cosched(&["jobs", "show", "declared", "--json", "--database", &db.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["source"], "config");
    assert_eq!(
        shown["triggers"].as_array().unwrap().len(),
        1,
        "its trigger is still there"
    );
    // Pausing and resuming a config job stay allowed.
    let out = cosched(&["jobs", "pause", "declared", "--database", &db.url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
