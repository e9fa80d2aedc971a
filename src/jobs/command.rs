//! `command`: runs a program.
//!
//! Settings: `command` (an argv list; a string only with `shell = true`,
//! then run by `/bin/sh -c`), `env` (a table of variables), `workdir`,
//! `max_output` (bytes of stdout and of stderr kept, default 64 KiB).
//! The fire's context goes to the program as JSON on stdin and in
//! `COSCHED_*` variables. Exit code 0 is success. The program runs in its
//! own process group; when the fire is dropped (timeout, shutdown) the
//! whole group is killed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{FireContext, JobKind, JobOutcome, RetryDirective};

/// Bytes of stdout (and of stderr) kept by default.
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024;

pub struct CommandJob;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandSettings {
    command: CommandLine,
    #[serde(default)]
    shell: bool,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    workdir: Option<PathBuf>,
    #[serde(default = "default_max_output")]
    max_output: usize,
}

fn default_max_output() -> usize {
    DEFAULT_MAX_OUTPUT
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CommandLine {
    Argv(Vec<String>),
    Line(String),
}

impl CommandSettings {
    fn parse(settings: &Value) -> Result<CommandSettings, String> {
        let s: CommandSettings = serde_json::from_value(settings.clone()).map_err(|e| {
            let text = e.to_string();
            if text.contains("missing field `command`") {
                "missing key `command`: expected an argv list such as [\"echo\", \"hello\"]"
                    .to_string()
            } else if text.contains("did not match any variant") {
                "`command` must be a list of strings (argv), or a string with shell = true"
                    .to_string()
            } else {
                text
            }
        })?;
        match (&s.command, s.shell) {
            (CommandLine::Argv(argv), _) if argv.is_empty() => {
                Err("`command` is empty: expected at least the program to run".to_string())
            }
            (CommandLine::Line(_), false) => Err(
                "`command` is a string but `shell` is false: give an argv list such as \
                 [\"echo\", \"hello\"], or set shell = true to run the string with /bin/sh -c"
                    .to_string(),
            ),
            (CommandLine::Line(l), true) if l.trim().is_empty() => {
                Err("`command` is empty: expected a shell command line".to_string())
            }
            _ => Ok(s),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = match &self.command {
            CommandLine::Line(line) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c").arg(line);
                c
            }
            CommandLine::Argv(argv) if self.shell => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c").arg(argv.join(" "));
                c
            }
            CommandLine::Argv(argv) => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        cmd.envs(&self.env);
        if let Some(dir) = &self.workdir {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// Kills the child's whole process group when dropped (timeout, shutdown
/// or normal end: a no-op once the group is gone).
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: kill(2) with a negative pid signals a process group;
            // it has no memory effects. The group id is our child's pid,
            // made a group leader by process_group(0).
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// Reads a pipe to its end, keeping at most `max` bytes.
async fn read_bounded<R: AsyncRead + Unpin>(mut pipe: R, max: usize) -> (Vec<u8>, usize) {
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                let room = max.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, total)
}

fn text(bytes: &[u8], total: usize) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    if total > bytes.len() {
        s.push_str(&format!(
            "\n[… {} more bytes not kept]",
            total - bytes.len()
        ));
    }
    s
}

#[async_trait]
impl JobKind for CommandJob {
    fn name(&self) -> &'static str {
        "command"
    }

    fn validate(&self, settings: &Value) -> Result<(), String> {
        CommandSettings::parse(settings).map(|_| ())
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
        let context = serde_json::to_string(fire).unwrap_or_default();
        let mut cmd = settings.command();
        cmd.env("COSCHED_JOB", &fire.job)
            .env("COSCHED_FIRE_ID", fire.fire_id.to_string())
            .env("COSCHED_SCHEDULED_AT", fire.scheduled_at.to_rfc3339())
            .env("COSCHED_ATTEMPT", fire.attempt.to_string())
            .env("COSCHED_NODE", &fire.node)
            .env("COSCHED_DATA", fire.data.to_string())
            .env(
                "COSCHED_TRIGGER_ID",
                fire.trigger_id.map(|t| t.to_string()).unwrap_or_default(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                return JobOutcome::Failed {
                    error: format!("cannot start {:?}: {e}", settings.command),
                    output: None,
                    retry: RetryDirective::ByPolicy,
                };
            }
        };
        let _group = GroupGuard(child.id().and_then(|id| i32::try_from(id).ok()));
        let stdin = child.stdin.take();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // A program that does not read stdin closes it; that is fine.
                let _ = stdin.write_all(context.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
        };
        let max = settings.max_output;
        // The pipes were requested above, so they are present.
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out = async move {
            match stdout {
                Some(p) => read_bounded(p, max).await,
                None => (Vec::new(), 0),
            }
        };
        let err = async move {
            match stderr {
                Some(p) => read_bounded(p, max).await,
                None => (Vec::new(), 0),
            }
        };
        let ((), (out, out_total), (err, err_total)) = tokio::join!(feed, out, err);
        let status = match child.wait().await {
            Ok(status) => status,
            Err(e) => {
                return JobOutcome::Failed {
                    error: format!("cannot wait for the program: {e}"),
                    output: None,
                    retry: RetryDirective::ByPolicy,
                };
            }
        };
        let stdout = text(&out, out_total);
        let stderr = text(&err, err_total);
        let mut output = stdout;
        if !stderr.is_empty() {
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
            output.push_str("--- stderr ---\n");
            output.push_str(&stderr);
        }
        let output = (!output.is_empty()).then_some(output);
        if status.success() {
            JobOutcome::Succeeded { output }
        } else {
            let how = match (
                status.code(),
                std::os::unix::process::ExitStatusExt::signal(&status),
            ) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                _ => "failed".to_string(),
            };
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            let error = match last {
                Some(line) => format!("{how}: {line}"),
                None => how,
            };
            JobOutcome::Failed {
                error,
                output,
                retry: RetryDirective::ByPolicy,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    }
}
