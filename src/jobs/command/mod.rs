//! `command`: runs a program per fire.
//!
//! Settings (see `settings`): `command` (an argv list run without a shell,
//! or a string with `shell = true`, run by `/bin/sh -c`; a list with
//! `shell = true` is refused, since the shell would join its elements
//! unquoted), `env` (a table of variables), `workdir` (must exist when the
//! job is declared), `max_output` (bytes of stdout and of stderr kept,
//! default 64 KiB, at most 1 MiB) and `inherit_env`.
//!
//! - **Context.** The fire's context goes to the program as JSON on stdin
//!   and in `COSCHED_*` variables. `COSCHED_DATA` holds the data only up to
//!   32 KiB of JSON; larger data is on stdin only and the variable holds a
//!   short note saying so.
//! - **Environment.** Clean by default: the node's `PATH`, `HOME`, `LANG`
//!   and `TZ` (`PATH` defaults to `/usr/local/bin:/usr/bin:/bin`), the
//!   job's `env`, then the `COSCHED_*` variables. `inherit_env = true`
//!   passes the node's whole environment, `inherit_env = ["NAME", ...]`
//!   those names too. So `DATABASE_URL` or `PGPASSWORD` reach a job only
//!   when it asks for them.
//! - **End of a fire.** Exit code 0 is success. The fire ends when the
//!   program itself exits: output still open after that (a background
//!   child holds the pipe) is read for [`OUTPUT_GRACE_AFTER_EXIT`], then
//!   dropped, and the record says so.
//! - **Leftover processes.** The program runs as the leader of its own
//!   process group. When the fire ends (exit and grace, timeout, shutdown,
//!   cancel) the whole group is killed with SIGKILL, so no daemon outlives
//!   its fire; the record says when processes were left to kill. A process
//!   that leaves the group (`setsid`) is not tracked.
//! - **Output.** Memory per fire is bounded by what is kept: the head of
//!   both streams, every byte past it read and counted exactly (see
//!   `output`).
//! - **Failures to start** name the real cause (`workdir /x does not
//!   exist`, `program `foo` not found in PATH (...)`).

mod output;
mod process;
mod settings;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;

use super::{FireContext, JobKind, JobOutcome, RetryDirective};
use output::{ExitNotes, StreamCapture};
use settings::CommandSettings;

pub use output::MAX_RECORDED_OUTPUT;
pub use process::{DEFAULT_PATH, MAX_DATA_IN_ENV, PASSED_BY_DEFAULT};
pub use settings::{DEFAULT_MAX_OUTPUT, MAX_OUTPUT_LIMIT};

/// How long output still open after the program exited is read before it
/// is dropped (and the process group killed).
pub const OUTPUT_GRACE_AFTER_EXIT: Duration = Duration::from_millis(250);

pub struct CommandJob;

#[async_trait]
impl JobKind for CommandJob {
    fn name(&self) -> &'static str {
        "command"
    }

    fn validate(&self, settings: &Value) -> Result<(), String> {
        CommandSettings::parse(settings)?.check_host()
    }

    async fn run(&self, fire: &FireContext, settings: &Value) -> JobOutcome {
        let settings = match CommandSettings::parse(settings) {
            Ok(s) => s,
            Err(error) => {
                return JobOutcome::Failed {
                    error,
                    output: None,
                    retry: RetryDirective::Never,
                };
            }
        };
        let env = process::environment(
            &settings,
            std::env::vars_os(),
            &process::fire_variables(fire),
        );
        let (mut child, mut group) = match process::start(&settings, &env) {
            Ok(started) => started,
            Err(cause) => {
                return JobOutcome::Failed {
                    error: format!("cannot start: {cause}"),
                    output: None,
                    retry: RetryDirective::ByPolicy,
                };
            }
        };
        let context = serde_json::to_vec(fire).unwrap_or_default();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut out = StreamCapture::new(settings.max_output);
        let mut err = StreamCapture::new(settings.max_output);
        let (status, output_left_open) = {
            // Dropping this future closes every pipe; the captures keep
            // what was read.
            let io = async {
                tokio::join!(
                    feed(stdin, &context),
                    out.read_from(stdout),
                    err.read_from(stderr)
                )
            };
            tokio::pin!(io);
            let mut io_done = false;
            let status = tokio::select! {
                status = child.wait() => status,
                _ = &mut io => {
                    io_done = true;
                    child.wait().await
                }
            };
            // The fire ends with the program: what its leftovers still
            // hold open gets a short grace, not the fire's slot.
            if !io_done {
                io_done = tokio::time::timeout(OUTPUT_GRACE_AFTER_EXIT, &mut io)
                    .await
                    .is_ok();
            }
            (status, (!io_done).then_some(OUTPUT_GRACE_AFTER_EXIT))
        };
        let leftovers_killed = group.has_members();
        group.kill();
        let status = match status {
            Ok(status) => status,
            Err(e) => {
                return JobOutcome::Failed {
                    error: format!("cannot wait for the program: {e}"),
                    output: None,
                    retry: RetryDirective::ByPolicy,
                };
            }
        };
        let record = output::record(
            &out,
            &err,
            ExitNotes {
                output_left_open,
                leftovers_killed,
            },
        );
        outcome(status, record)
    }
}

/// How the fire ended, from the program's exit status and its record.
fn outcome(status: std::process::ExitStatus, record: output::Record) -> JobOutcome {
    if status.success() {
        return JobOutcome::Succeeded {
            output: record.output,
        };
    }
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "failed".to_string(),
    };
    let error = match record.last_stderr_line {
        Some(line) => format!("{how}: {line}"),
        None => how,
    };
    JobOutcome::Failed {
        error,
        output: record.output,
        retry: RetryDirective::ByPolicy,
    }
}

/// Writes the fire's JSON context to the program's stdin, then closes it.
async fn feed(stdin: Option<ChildStdin>, context: &[u8]) {
    if let Some(mut stdin) = stdin {
        // A program that does not read stdin closes it; that is fine.
        let _ = stdin.write_all(context).await;
        let _ = stdin.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(settings: Value) -> String {
        CommandJob.validate(&settings).unwrap_err()
    }

    #[test]
    fn settings_are_validated() {
        let job = CommandJob;
        assert!(job.validate(&json!({"command": ["echo", "hi"]})).is_ok());
        assert!(
            job.validate(&json!({"command": "echo hi", "shell": true}))
                .is_ok()
        );
        let e = job.validate(&json!({"command": "echo hi"})).unwrap_err();
        assert!(e.contains("shell = true"), "{e}");
        let e = job.validate(&json!({"command": []})).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = job.validate(&json!({})).unwrap_err();
        assert!(e.contains("missing key `command`"), "{e}");
        let e = job
            .validate(&json!({"command": ["x"], "evn": {}}))
            .unwrap_err();
        assert!(e.contains("unknown field `evn`"), "{e}");
        assert!(e.contains("did you mean `env`?"), "{e}");
    }

    #[test]
    fn an_argv_list_with_a_shell_is_refused_with_what_to_write() {
        let e = refused(json!({"command": ["echo", "file name; id -u"], "shell": true}));
        assert!(e.contains("`command` is a list but `shell = true`"), "{e}");
        assert!(e.contains("one string with shell = true"), "{e}");
        assert!(e.contains("drop `shell`"), "{e}");
        assert!(
            CommandJob
                .validate(&json!({"command": ["echo", "x"], "shell": false}))
                .is_ok()
        );
    }

    #[test]
    fn max_output_is_capped() {
        assert!(
            CommandJob
                .validate(&json!({"command": ["x"], "max_output": MAX_OUTPUT_LIMIT}))
                .is_ok()
        );
        for bad in [
            json!(MAX_OUTPUT_LIMIT + 1),
            json!(600_000_000),
            json!(-1),
            json!(1.5),
            json!("1k"),
        ] {
            let e = refused(json!({"command": ["x"], "max_output": bad}));
            assert!(
                e.starts_with("`max_output` must be a number of bytes from 0 to 1048576"),
                "{e}"
            );
        }
    }

    #[test]
    fn what_no_program_can_receive_is_refused() {
        let e = refused(json!({"command": ["echo", "a\u{0}b"]}));
        assert_eq!(
            e,
            "`command[1]` contains a NUL byte, which no program can receive"
        );
        let e = refused(json!({"command": "echo a\u{0}", "shell": true}));
        assert!(e.starts_with("`command` contains a NUL byte"), "{e}");
        let e = refused(json!({"command": ["x"], "env": {"A": "a\u{0}"}}));
        assert!(e.starts_with("`env.A` contains a NUL byte"), "{e}");
        let e = refused(json!({"command": ["x"], "env": {"A\u{0}": "a"}}));
        assert!(e.contains("NUL byte"), "{e}");
        let e = refused(json!({"command": ["x"], "env": {"A=B": "a"}}));
        assert!(e.contains("`A=B` contains `=`"), "{e}");
        let e = refused(json!({"command": ["x"], "env": {"": "a"}}));
        assert!(e.contains("empty variable name"), "{e}");
        let e = refused(json!({"command": ["x"], "env": {"PORT": 80}}));
        assert!(
            e.contains("`env.PORT` must be a string, not a number"),
            "{e}"
        );
        let e = refused(json!({"command": ["x"], "env": {"COSCHED_JOB": "x"}}));
        assert!(e.contains("cosched sets COSCHED_JOB for every fire"), "{e}");
        assert!(
            CommandJob
                .validate(&json!({"command": ["x"], "env": {"COSCHED_MINE": "x"}}))
                .is_ok()
        );
        let e = refused(json!({"command": ["x"], "workdir": "/tmp\u{0}"}));
        assert!(e.starts_with("`workdir` contains a NUL byte"), "{e}");
        let e = refused(json!({"command": ["x", "y".repeat(200_000)]}));
        assert!(e.starts_with("`command[1]` is 200000 bytes"), "{e}");
        let e = refused(json!({"command": [1]}));
        assert_eq!(e, "`command[0]` must be a string, not a number");
        let e = refused(json!({"command": ["x"], "shell": "yes"}));
        assert_eq!(e, "`shell` must be true or false, not a string");
    }

    #[test]
    fn inherit_env_takes_a_boolean_or_names() {
        for ok in [
            json!(true),
            json!(false),
            json!(["DATABASE_URL", "PGPASSWORD"]),
        ] {
            assert!(
                CommandJob
                    .validate(&json!({"command": ["x"], "inherit_env": ok}))
                    .is_ok()
            );
        }
        let e = refused(json!({"command": ["x"], "inherit_env": "DATABASE_URL"}));
        assert!(e.starts_with("`inherit_env` must be true"), "{e}");
        let e = refused(json!({"command": ["x"], "inherit_env": ["A=B"]}));
        assert!(e.starts_with("`inherit_env[0]`"), "{e}");
        let e = refused(json!({"command": ["x"], "inherit_env": [3]}));
        assert!(
            e.starts_with("`inherit_env[0]` must be a variable name"),
            "{e}"
        );
    }

    #[test]
    fn a_workdir_must_exist_and_be_a_directory_when_declared() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let missing = dir.path().join("missing");
        assert!(
            CommandJob
                .validate(&json!({"command": ["x"], "workdir": dir.path()}))
                .is_ok()
        );
        let e = refused(json!({"command": ["x"], "workdir": missing}));
        assert_eq!(
            e,
            format!("`workdir`: workdir {} does not exist", missing.display())
        );
        let e = refused(json!({"command": ["x"], "workdir": file}));
        assert_eq!(
            e,
            format!("`workdir`: workdir {} is not a directory", file.display())
        );
    }
}
