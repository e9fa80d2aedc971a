//! Starting a fire's program: its clean environment, its own process
//! group (killed whole when the fire ends), and the real cause when it
//! cannot start (`workdir /x does not exist`, `program `foo` not found in
//! PATH`), never a bare spawn error.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::settings::{CommandLine, CommandSettings, InheritEnv, check_workdir};
use crate::jobs::FireContext;

/// The node's variables a fire gets by default (those set on the node).
pub const PASSED_BY_DEFAULT: [&str; 4] = ["PATH", "HOME", "LANG", "TZ"];

/// `PATH` for a fire when neither the node nor the job sets one.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The largest `data` (as JSON) also put in `COSCHED_DATA`; larger data is
/// only on stdin, since the kernel refuses a variable over 128 KiB and the
/// whole environment over its `ARG_MAX`.
pub const MAX_DATA_IN_ENV: usize = 32 * 1024;

/// The shell that runs a `shell = true` line.
const SHELL: &str = "/bin/sh";

/// The fire's context as `COSCHED_*` variables.
pub fn fire_variables(fire: &FireContext) -> Vec<(&'static str, String)> {
    let data = fire.data.to_string();
    let data = if data.len() <= MAX_DATA_IN_ENV {
        data
    } else {
        format!(
            "(not set here: the data is {} bytes, over {MAX_DATA_IN_ENV}; read it from \
             the fire's JSON context on stdin, key \"data\")",
            data.len()
        )
    };
    vec![
        ("COSCHED_JOB", fire.job.clone()),
        ("COSCHED_FIRE_ID", fire.fire_id.to_string()),
        ("COSCHED_SCHEDULED_AT", fire.scheduled_at.to_rfc3339()),
        ("COSCHED_ATTEMPT", fire.attempt.to_string()),
        ("COSCHED_NODE", fire.node.clone()),
        ("COSCHED_DATA", data),
        (
            "COSCHED_TRIGGER_ID",
            fire.trigger_id.map(|t| t.to_string()).unwrap_or_default(),
        ),
    ]
}

/// A fire's whole environment, in order of precedence (later wins): the
/// node's variables the job inherits (`PATH`, `HOME`, `LANG`, `TZ`, plus
/// what `inherit_env` names, or all of them), `PATH` = [`DEFAULT_PATH`]
/// if still unset, the job's own `env`, and the fire's `COSCHED_*`.
/// Nothing else of the node reaches the program: not `DATABASE_URL`, not
/// `PGPASSWORD`.
pub fn environment(
    settings: &CommandSettings,
    node: impl IntoIterator<Item = (OsString, OsString)>,
    fire: &[(&'static str, String)],
) -> BTreeMap<OsString, OsString> {
    let inherits = |name: &OsStr| match &settings.inherit_env {
        InheritEnv::All => true,
        InheritEnv::Defaults => PASSED_BY_DEFAULT.iter().any(|d| OsStr::new(d) == name),
        InheritEnv::Names(names) => PASSED_BY_DEFAULT
            .iter()
            .copied()
            .chain(names.iter().map(String::as_str))
            .any(|d| OsStr::new(d) == name),
    };
    let mut env: BTreeMap<OsString, OsString> = node
        .into_iter()
        .filter(|(name, _)| inherits(name))
        .collect();
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    for (name, value) in &settings.env {
        env.insert(name.into(), value.into());
    }
    for (name, value) in fire {
        env.insert(name.into(), value.into());
    }
    env
}

/// The program a fire runs (as written: a name looked up in `PATH`, or a
/// path).
pub fn program(settings: &CommandSettings) -> &str {
    match &settings.command {
        CommandLine::Argv(argv) => argv.first().map(String::as_str).unwrap_or_default(),
        CommandLine::Shell(_) => SHELL,
    }
}

/// Starts the program with exactly `env`, stdin, stdout and stderr piped,
/// as the leader of a new process group. The error is the real cause.
pub fn start(
    settings: &CommandSettings,
    env: &BTreeMap<OsString, OsString>,
) -> Result<(Child, ProcessGroup), String> {
    if let Some(dir) = &settings.workdir {
        check_workdir(dir)?;
    }
    let mut cmd = match &settings.command {
        CommandLine::Shell(line) => {
            let mut c = Command::new(SHELL);
            c.arg("-c").arg(line);
            c
        }
        CommandLine::Argv(argv) => {
            let mut c = Command::new(program(settings));
            c.args(argv.iter().skip(1));
            c
        }
    };
    cmd.env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &settings.workdir {
        cmd.current_dir(dir);
    }
    let child = cmd.spawn().map_err(|e| spawn_failure(settings, env, &e))?;
    let group = ProcessGroup(child.id().and_then(|id| i32::try_from(id).ok()));
    Ok((child, group))
}

/// Why the program could not start, found by looking where the system
/// looked.
fn spawn_failure(
    settings: &CommandSettings,
    env: &BTreeMap<OsString, OsString>,
    error: &io::Error,
) -> String {
    let program = program(settings);
    if crate::os::is_argument_list_too_long(error) {
        let size: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        return format!(
            "the arguments and environment are too large for the system \
             (the environment alone is {size} bytes)"
        );
    }
    let found = if program.contains('/') {
        let path = match &settings.workdir {
            Some(dir) if Path::new(program).is_relative() => dir.join(program),
            _ => PathBuf::from(program),
        };
        if !path.exists() {
            return format!("program `{program}` does not exist");
        }
        path
    } else {
        let path = env
            .get(OsStr::new("PATH"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        match find_in_path(program, &path) {
            Some(found) => found,
            None => return format!("program `{program}` not found in PATH ({path})"),
        }
    };
    match error.kind() {
        io::ErrorKind::NotFound => format!(
            "program `{}` exists but its interpreter (its #! line) was not found",
            found.display()
        ),
        io::ErrorKind::PermissionDenied => format!(
            "program `{}` is not executable (permission denied)",
            found.display()
        ),
        _ => format!("program `{}` cannot be started: {error}", found.display()),
    }
}

/// The first executable file `name` in the `:`-separated `path`.
fn find_in_path(name: &str, path: &str) -> Option<PathBuf> {
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The fire's process group, led by the program. Killed with SIGKILL when
/// the fire ends (the program exited, timed out, or the fire was dropped),
/// so no process the program started outlives its fire; a process that left
/// the group (`setsid`) is not ours to track.
pub struct ProcessGroup(Option<i32>);

impl ProcessGroup {
    /// Whether any process is still in the group.
    pub fn has_members(&self) -> bool {
        match self.0 {
            Some(pgid) => crate::os::process_group_alive(pgid),
            None => false,
        }
    }

    /// SIGKILL to every process in the group; a no-op once it is gone.
    pub fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // The group id is our child's pid, made a group leader by
            // process_group(0). A group id stays taken while any member
            // lives, so it names our group until the last member is gone,
            // and then the signal finds nothing.
            crate::os::kill_process_group(pgid);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: serde_json::Value) -> CommandSettings {
        CommandSettings::parse(&value).unwrap()
    }

    fn node() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/node/bin"),
            ("HOME", "/home/node"),
            ("DATABASE_URL", "postgres://u:secret@db/app"),
            ("PGPASSWORD", "secret"),
            ("EDITOR", "vi"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn names(env: &BTreeMap<OsString, OsString>) -> Vec<String> {
        env.keys()
            .map(|k| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn by_default_only_the_safe_variables_pass() {
        let s = settings(json!({"command": ["env"], "env": {"A": "1"}}));
        let env = environment(&s, node(), &[("COSCHED_JOB", "j".into())]);
        assert_eq!(names(&env), ["A", "COSCHED_JOB", "HOME", "PATH"]);
        assert_eq!(env[OsStr::new("PATH")], "/node/bin");
    }

    #[test]
    fn named_and_all_variables_pass_when_asked() {
        let s = settings(json!({"command": ["env"], "inherit_env": ["PGPASSWORD", "NOPE"]}));
        let env = environment(&s, node(), &[]);
        assert_eq!(names(&env), ["HOME", "PATH", "PGPASSWORD"]);
        let s = settings(json!({"command": ["env"], "inherit_env": true}));
        let env = environment(&s, node(), &[]);
        assert_eq!(
            names(&env),
            ["DATABASE_URL", "EDITOR", "HOME", "PATH", "PGPASSWORD"]
        );
    }

    #[test]
    fn path_has_a_safe_default_and_the_job_and_fire_win() {
        let s = settings(json!({"command": ["env"], "env": {"HOME": "/job"}}));
        let env = environment(
            &s,
            Vec::<(OsString, OsString)>::new(),
            &[("COSCHED_JOB", "j".into())],
        );
        assert_eq!(env[OsStr::new("PATH")], DEFAULT_PATH);
        assert_eq!(env[OsStr::new("HOME")], "/job");
    }

    #[test]
    fn large_data_is_only_on_stdin() {
        let fire = |data| FireContext {
            fire_id: 1,
            job: "j".into(),
            trigger_id: None,
            scheduled_at: chrono::DateTime::UNIX_EPOCH,
            attempt: 1,
            node: "n".into(),
            data,
        };
        let var = |vars: Vec<(&str, String)>| {
            vars.into_iter()
                .find(|(k, _)| *k == "COSCHED_DATA")
                .map(|(_, v)| v)
                .unwrap()
        };
        assert_eq!(var(fire_variables(&fire(json!({"a": 1})))), r#"{"a":1}"#);
        let big = "x".repeat(MAX_DATA_IN_ENV);
        let note = var(fire_variables(&fire(json!(big))));
        assert!(
            note.contains("read it from the fire's JSON context on stdin"),
            "{note}"
        );
        assert!(note.len() < 200);
        let names: Vec<&str> = fire_variables(&fire(json!(null)))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, crate::jobs::command::settings::FIRE_VARIABLES);
    }
}
