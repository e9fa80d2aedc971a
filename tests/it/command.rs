//! The `command` job kind, run for real through the scheduler: success with
//! its context, failure, timeout (the whole process group dies), output
//! bounded per stream, background children that cannot hold a fire open,
//! a clean environment, and settings that can never work refused when the
//! job is declared.

use std::time::Duration;

use cosched::model::JobDef;
use serde_json::json;

use crate::scheduling::fires_of;
use crate::support::{Harness, sqlite};

fn command_job(name: &str, settings: serde_json::Value) -> JobDef {
    let mut job = JobDef::new(name, "command");
    job.settings = settings;
    job
}

async fn run_once(h: &mut Harness, job: &JobDef) -> cosched::model::Fire {
    h.client.create_job_def(job, None).await.unwrap();
    h.client.trigger_now(&job.name, None).await.unwrap();
    assert_eq!(h.step_and_settle().await.started, 1);
    fires_of(h, &job.name).await.pop().unwrap()
}

#[tokio::test]
async fn a_command_gets_its_fire_context_on_stdin_and_in_the_environment() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = command_job(
        "ctx",
        json!({"command": ["sh", "-c", "cat; echo; echo \"$COSCHED_JOB $COSCHED_ATTEMPT $COSCHED_FIRE_ID $GREETING\""],
               "env": {"GREETING": "hi"}}),
    );
    job.data = json!({"answer": 42});
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "succeeded");
    let output = fire.output.unwrap();
    let (stdin, env) = output.trim_end().rsplit_once('\n').unwrap();
    let context: serde_json::Value = serde_json::from_str(stdin).unwrap();
    assert_eq!(context["fire_id"], json!(fire.id));
    assert_eq!(context["job"], json!("ctx"));
    assert_eq!(context["attempt"], json!(1));
    assert_eq!(context["data"], json!({"answer": 42}));
    assert_eq!(env, format!("ctx 1 {} hi", fire.id));
}

#[tokio::test]
async fn a_failing_command_is_recorded_failed_with_its_stderr() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let job = command_job(
        "fails",
        json!({"command": ["sh", "-c", "echo partial; echo 'disk full' >&2; exit 3"]}),
    );
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "failed");
    assert_eq!(
        fire.error.as_deref(),
        Some("exited with status 3: disk full")
    );
    let output = fire.output.unwrap();
    assert!(
        output.starts_with("partial\n--- stderr ---\ndisk full"),
        "{output}"
    );
}

#[tokio::test]
async fn a_missing_program_fails_the_fire() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let job = command_job("missing", json!({"command": ["/nonexistent/program"]}));
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "failed");
    assert_eq!(
        fire.error.as_deref(),
        Some("cannot start: program `/nonexistent/program` does not exist")
    );
}

fn process_is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie has been killed and only waits for its parent to reap it.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn a_timed_out_command_is_killed_with_its_whole_process_group() {
    let db = sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let mut h = Harness::new(&db.url).await;
    let mut job = command_job(
        "hangs",
        json!({"command": ["sh", "-c", format!("sleep 300 & echo $! > {}; wait", pidfile.display())]}),
    );
    job.timeout = Some(Duration::from_millis(500));
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "timed_out");
    assert_eq!(fire.error.as_deref(), Some("timed out after 500ms"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL is delivered by the time the outcome is recorded; allow the
    // kernel a moment to finish tearing the process down.
    let mut gone = false;
    for _ in 0..100 {
        if process_is_gone(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        gone,
        "the grandchild `sleep` (pid {pid}) survived the timeout"
    );
}

#[tokio::test]
async fn a_command_that_prints_a_lot_keeps_a_bounded_output() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let job = command_job(
        "chatty",
        json!({"command": ["sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' 'x'"], "max_output": 1000}),
    );
    let fire = run_once(&mut h, &job).await;
    assert_eq!(
        fire.status, "succeeded",
        "the program was not blocked by a full pipe"
    );
    let output = fire.output.unwrap();
    assert!(output.starts_with(&"x".repeat(1000)));
    assert!(
        output.ends_with("[… 1999000 more bytes not kept]"),
        "{}",
        &output[output.len() - 60..]
    );
    assert!(output.len() < 1100);
}

/// Waits (up to 2 s) for `pid` to be gone: SIGKILL is sent by the time the
/// outcome is recorded, the kernel may take a moment to tear it down.
async fn wait_gone(pid: i32) -> bool {
    for _ in 0..100 {
        if process_is_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn read_pid(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_background_child_holding_the_output_does_not_hold_the_fire_open() {
    let db = sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let mut h = Harness::new(&db.url).await;
    // No timeout: before, the fire stayed `running` as long as `sleep`
    // held stdout, here 300 s (longer than the harness waits).
    let job = command_job(
        "daemonizes",
        json!({"command": ["sh", "-c", format!("sleep 300 & echo $! > {}; echo started", pidfile.display())]}),
    );
    let started = std::time::Instant::now();
    let fire = run_once(&mut h, &job).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(fire.status, "succeeded");
    assert_eq!(
        fire.output.as_deref(),
        Some(
            "started\n\
             [output still open 250ms after the program exited (a background process holds it): \
             the rest was not read]\n\
             [processes the program left running were killed with its process group]"
        )
    );
    let pid = read_pid(&pidfile);
    assert!(
        wait_gone(pid).await,
        "the background `sleep` (pid {pid}) outlived its fire"
    );
}

#[tokio::test]
async fn a_background_child_with_its_output_closed_is_killed_when_the_fire_ends() {
    let db = sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let mut h = Harness::new(&db.url).await;
    let job = command_job(
        "detaches",
        json!({"command": ["sh", "-c", format!("sleep 300 >/dev/null 2>&1 </dev/null & echo $! > {}; echo done", pidfile.display())]}),
    );
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "succeeded");
    assert_eq!(
        fire.output.as_deref(),
        Some("done\n[processes the program left running were killed with its process group]")
    );
    let pid = read_pid(&pidfile);
    assert!(
        wait_gone(pid).await,
        "the background `sleep` (pid {pid}) outlived its fire"
    );
}

#[tokio::test]
async fn both_streams_keep_their_heads_and_count_what_was_dropped_exactly() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let job = command_job(
        "both",
        json!({"command": ["sh", "-c",
            "head -c 300000 /dev/zero | tr '\\0' o; head -c 200000 /dev/zero | tr '\\0' e >&2; exit 1"],
               "max_output": 1000}),
    );
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "failed");
    let expected = format!(
        "{}\n[… 299000 more bytes not kept]\n--- stderr ---\n{}\n[… 199000 more bytes not kept]",
        "o".repeat(1000),
        "e".repeat(1000)
    );
    assert_eq!(fire.output.as_deref(), Some(expected.as_str()));
    assert_eq!(
        fire.error,
        Some(format!("exited with status 1: {}", "e".repeat(512) + "…"))
    );
}

#[tokio::test]
async fn the_largest_max_output_of_both_streams_is_recorded_whole() {
    const MIB: usize = 1024 * 1024;
    for db in crate::support::backends().await {
        let mut h = Harness::new(&db.url).await;
        let job = command_job(
            "mebibytes",
            json!({"command": ["sh", "-c",
                "head -c 3145728 /dev/zero | tr '\\0' o; head -c 3145728 /dev/zero | tr '\\0' e >&2"],
                   "max_output": MIB}),
        );
        let fire = run_once(&mut h, &job).await;
        assert_eq!(fire.status, "succeeded", "{}", db.backend);
        let expected = format!(
            "{}\n[… 2097152 more bytes not kept]\n--- stderr ---\n{}\n[… 2097152 more bytes not kept]",
            "o".repeat(MIB),
            "e".repeat(MIB)
        );
        let output = fire.output.unwrap();
        assert!(
            output == expected,
            "{}: the record was cut: {} bytes, tail {:?}",
            db.backend,
            output.len(),
            &output[output.len().saturating_sub(80)..]
        );

        let mut too_big = command_job(
            "too-big",
            json!({"command": ["true"], "max_output": 600_000_000}),
        );
        too_big.settings["max_output"] = json!(MIB + 1);
        let e = h
            .client
            .create_job_def(&too_big, None)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "job `too-big` (command): `max_output` must be a number of bytes from 0 to 1048576 (1 MiB), not 1048577"
        );
        assert!(h.client.job("too-big").await.is_err(), "{}", db.backend);
    }
}

#[tokio::test]
async fn large_data_goes_on_stdin_and_the_variable_says_so() {
    let db = sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&db.url).await;
    let stdin_file = dir.path().join("stdin.json");
    let script = format!(
        "cat > {}; printf '%s' \"$COSCHED_DATA\"",
        stdin_file.display()
    );
    let blob = "x".repeat(200_000);
    let mut big = command_job("big-data", json!({"command": ["sh", "-c", &script]}));
    big.data = json!({ "blob": blob });
    let fire = run_once(&mut h, &big).await;
    assert_eq!(fire.status, "succeeded", "{:?}", fire.error);
    let context: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stdin_file).unwrap()).unwrap();
    assert_eq!(context["data"]["blob"], json!(blob));
    let note = fire.output.unwrap();
    assert!(
        note.starts_with("(not set here: the data is 200011 bytes, over 32768;")
            && note.contains("on stdin"),
        "{note}"
    );

    let mut small = command_job("small-data", json!({"command": ["sh", "-c", &script]}));
    small.data = json!({"n": 1});
    let fire = run_once(&mut h, &small).await;
    assert_eq!(fire.output.as_deref(), Some(r#"{"n":1}"#));
}

#[tokio::test]
async fn settings_that_can_never_work_are_refused_when_the_job_is_created() {
    let db = sqlite();
    let h = Harness::new(&db.url).await;
    let cases = [
        (
            json!({"command": ["echo", "file name; id -u"], "shell": true}),
            "`command` is a list but `shell = true`",
        ),
        (
            json!({"command": ["echo", "a\u{0}b"]}),
            "`command[1]` contains a NUL byte",
        ),
        (
            json!({"command": ["true"], "env": {"A": "\u{0}"}}),
            "`env.A` contains a NUL byte",
        ),
        (
            json!({"command": ["true"], "env": {"A=B": "x"}}),
            "`env`: the variable name `A=B` contains `=`",
        ),
        (
            json!({"command": ["true"], "workdir": "/nonexistent/dir"}),
            "`workdir`: workdir /nonexistent/dir does not exist",
        ),
        (
            json!({"command": ["true"], "workdir": "/etc/hostname"}),
            "`workdir`: workdir /etc/hostname is not a directory",
        ),
        (
            json!({"command": ["true"], "inherit_env": ["A\u{0}"]}),
            "`inherit_env[0]`",
        ),
    ];
    for (i, (settings, expected)) in cases.into_iter().enumerate() {
        let job = command_job(&format!("bad-{i}"), settings);
        let e = h
            .client
            .create_job_def(&job, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("job `bad-{i}` (command): {expected}")),
            "{e}"
        );
    }
    assert!(h.client.jobs().await.unwrap().is_empty());
}

#[test]
fn the_file_refuses_settings_that_can_never_work_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "command = [\"echo\", \"a; id\"]\nshell = true\n",
            "`command` is a list but `shell = true`",
        ),
        (
            "command = [\"true\"]\nworkdir = \"/nonexistent/dir\"\n",
            "workdir /nonexistent/dir does not exist",
        ),
        (
            "command = [\"true\"]\nmax_output = 600000000\n",
            "`max_output` must be a number of bytes from 0 to 1048576",
        ),
        (
            "command = [\"a\\u0000b\"]\n",
            "`command[0]` contains a NUL byte",
        ),
    ];
    for (i, (keys, expected)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(
            &file,
            format!("[[job]]\nname = \"a\"\nkind = \"command\"\n{keys}"),
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let out = crate::config::cosched(&["check", "--config", file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{file}:")), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

#[tokio::test]
async fn a_fire_that_cannot_start_names_the_real_cause() {
    let db = sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&db.url).await;
    let workdir = dir.path().join("work");
    std::fs::create_dir(&workdir).unwrap();
    let gone = command_job(
        "gone-workdir",
        json!({"command": ["true"], "workdir": workdir}),
    );
    h.client.create_job_def(&gone, None).await.unwrap();
    // Valid when declared, removed before the fire.
    std::fs::remove_dir(&workdir).unwrap();
    let not_exec = dir.path().join("script.sh");
    std::fs::write(&not_exec, "#!/bin/sh\necho hi\n").unwrap();
    let jobs = [
        command_job(
            "not-in-path",
            json!({"command": ["no-such-program-7f3a"], "env": {"PATH": "/usr/bin:/bin"}}),
        ),
        command_job("not-executable", json!({"command": [not_exec]})),
    ];
    for job in &jobs {
        h.client.create_job_def(job, None).await.unwrap();
    }
    for name in ["gone-workdir", "not-in-path", "not-executable"] {
        h.client.trigger_now(name, None).await.unwrap();
    }
    assert_eq!(h.step_and_settle().await.started, 3);
    let error = |fires: Vec<cosched::model::Fire>| fires[0].error.clone().unwrap();
    assert_eq!(
        error(fires_of(&h, "gone-workdir").await),
        format!("cannot start: workdir {} does not exist", workdir.display())
    );
    assert_eq!(
        error(fires_of(&h, "not-in-path").await),
        "cannot start: program `no-such-program-7f3a` not found in PATH (/usr/bin:/bin)"
    );
    assert_eq!(
        error(fires_of(&h, "not-executable").await),
        format!(
            "cannot start: program `{}` is not executable (permission denied)",
            not_exec.display()
        )
    );
}

#[tokio::test]
async fn the_node_environment_reaches_a_job_only_when_it_asks() {
    let db = sqlite();
    let dir = tempfile::tempdir().unwrap();
    let client = crate::support::migrated_client(&db.url).await;
    let script = "echo \"url=${DATABASE_URL-unset} pw=${PGPASSWORD-unset} extra=${EXTRA_MARKER-unset} home=${HOME-unset}\"";
    let jobs = [
        ("env-default", json!(false)),
        ("env-named", json!(["DATABASE_URL", "PGPASSWORD"])),
        ("env-all", json!(true)),
    ];
    for (name, inherit) in &jobs {
        let job = command_job(
            name,
            json!({"command": ["sh", "-c", script], "inherit_env": inherit}),
        );
        client.create_job_def(&job, None).await.unwrap();
        client.trigger_now(name, None).await.unwrap();
    }
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[scheduler]\npoll_interval = \"100ms\"\n").unwrap();
    // A real node, configured the way a careless operator would: its
    // database URL and password in its environment.
    let mut node = std::process::Command::new(env!("CARGO_BIN_EXE_cosched"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .env("PGPASSWORD", "hunter2")
        .env("EXTRA_MARKER", "m1")
        .env("HOME", "/home/node")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let outputs = loop {
        let mut outputs = Vec::new();
        for (name, _) in &jobs {
            let fires = client
                .fires(&cosched::store::FireFilter {
                    job: Some(name.to_string()),
                    status: None,
                    limit: None,
                })
                .await
                .unwrap();
            if let Some(f) = fires
                .into_iter()
                .find(|f| f.status != "running" && f.status != "queued")
            {
                outputs.push((f.status.to_string(), f.output.unwrap_or_default()));
            }
        }
        if outputs.len() == jobs.len() || std::time::Instant::now() > deadline {
            break outputs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // SAFETY: signalling our own child process, which we have not reaped.
    unsafe { libc::kill(node.id() as i32, libc::SIGTERM) };
    let _ = node.wait();
    let url = &db.url;
    assert_eq!(
        outputs,
        [
            (
                "succeeded".to_string(),
                "url=unset pw=unset extra=unset home=/home/node\n".to_string()
            ),
            (
                "succeeded".to_string(),
                format!("url={url} pw=hunter2 extra=unset home=/home/node\n")
            ),
            (
                "succeeded".to_string(),
                format!("url={url} pw=hunter2 extra=m1 home=/home/node\n")
            ),
        ]
    );
}
