//! The `command` job kind, run for real through the scheduler: success with
//! its context, failure, timeout (the whole process group dies), and
//! output bounded.

use std::time::Duration;

use cosched::definition::JobDef;
use serde_json::json;

use crate::scheduling::fires_of;
use crate::support::{Harness, sqlite};

fn command_job(name: &str, settings: serde_json::Value) -> JobDef {
    let mut job = JobDef::new(name, "command");
    job.settings = settings;
    job
}

async fn run_once(h: &mut Harness, job: &JobDef) -> entity::fires::Model {
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
    assert!(fire.error.unwrap().contains("cannot start"));
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
