//! The `command` kind's settings: parsed from the job's JSON settings and
//! checked whole, so that a job that can never run is refused when it is
//! declared instead of failing every fire.
//!
//! This module owns the keys, their types and their limits. It touches the
//! filesystem only in [`CommandSettings::check_host`] (does `workdir`
//! exist?), which declaration runs and a fire does not (a fire names the
//! real cause itself, see `process`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::jobs::settings_table::{kind_of, settings_table};

/// Bytes of stdout (and of stderr) kept by default.
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024;

/// The largest `max_output` a job may ask for: 1 MiB per stream. A fire's
/// memory for output is bounded by twice this, whatever the program prints.
pub const MAX_OUTPUT_LIMIT: usize = 1024 * 1024;

/// The longest single argument or `NAME=value` environment entry the kernel
/// passes to a program (Linux's `MAX_ARG_STRLEN`, 32 pages, with its NUL).
pub const MAX_ARG_BYTES: usize = 128 * 1024 - 1;

/// The most bytes of arguments plus the job's own environment a job may
/// declare; the kernel's total (`ARG_MAX`, often 2 MiB) also holds the
/// inherited variables and the fire's `COSCHED_*` ones.
pub const MAX_ARGS_TOTAL: usize = 1024 * 1024;

/// The keys a `command` job takes.
pub const KEYS: [&str; 6] = [
    "command",
    "shell",
    "env",
    "workdir",
    "max_output",
    "inherit_env",
];

/// The variables that carry a fire's context; a job's `env` may not set
/// them, since the fire's values always win.
pub const FIRE_VARIABLES: [&str; 7] = [
    "COSCHED_JOB",
    "COSCHED_FIRE_ID",
    "COSCHED_SCHEDULED_AT",
    "COSCHED_ATTEMPT",
    "COSCHED_NODE",
    "COSCHED_DATA",
    "COSCHED_TRIGGER_ID",
];

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// A program and its arguments, run without a shell.
    Argv(Vec<String>),
    /// A line run by `/bin/sh -c` (only with `shell = true`).
    Shell(String),
}

/// Which of the node's environment variables a fire gets besides the
/// defaults (see `process::environment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InheritEnv {
    /// Only the defaults: `PATH`, `HOME`, `LANG`, `TZ`.
    #[default]
    Defaults,
    /// The defaults and these names (those set on the node).
    Names(Vec<String>),
    /// The node's whole environment.
    All,
}

/// A `command` job's settings, valid by construction.
#[derive(Debug, Clone)]
pub struct CommandSettings {
    pub command: CommandLine,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<PathBuf>,
    pub max_output: usize,
    pub inherit_env: InheritEnv,
}

impl CommandSettings {
    /// Parses and checks the settings, without looking at the filesystem.
    /// The error names the key and says what was expected.
    pub fn parse(settings: &Value) -> Result<CommandSettings, String> {
        let map = settings_table("command", &KEYS, settings)?;
        let shell = parse_bool(map, "shell")?.unwrap_or(false);
        let command = parse_command(map, shell)?;
        let env = parse_env(map)?;
        let workdir = parse_workdir(map)?;
        let max_output = parse_max_output(map)?;
        let inherit_env = parse_inherit_env(map)?;
        let settings = CommandSettings {
            command,
            env,
            workdir,
            max_output,
            inherit_env,
        };
        settings.check_sizes()?;
        Ok(settings)
    }

    /// Checks what depends on the host the node runs on: the `workdir`
    /// exists and is a directory.
    pub fn check_host(&self) -> Result<(), String> {
        match &self.workdir {
            Some(dir) => check_workdir(dir).map_err(|cause| format!("`workdir`: {cause}")),
            None => Ok(()),
        }
    }

    /// The arguments and the job's environment fit what the kernel passes
    /// to a program.
    fn check_sizes(&self) -> Result<(), String> {
        let mut total = 0usize;
        let args: Vec<(String, usize)> = match &self.command {
            CommandLine::Argv(argv) => argv
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("`command[{i}]`"), a.len()))
                .collect(),
            CommandLine::Shell(line) => vec![("`command`".to_string(), line.len())],
        };
        let envs = self
            .env
            .iter()
            .map(|(k, v)| (format!("`env.{k}`"), k.len() + 1 + v.len()));
        for (what, len) in args.into_iter().chain(envs) {
            if len > MAX_ARG_BYTES {
                return Err(format!(
                    "{what} is {len} bytes: the system passes at most {MAX_ARG_BYTES} bytes \
                     per argument or variable to a program (pass large input in `data`, \
                     which the program reads on stdin)"
                ));
            }
            total += len + 1;
        }
        if total > MAX_ARGS_TOTAL {
            return Err(format!(
                "`command` and `env` are {total} bytes together: at most {MAX_ARGS_TOTAL} \
                 bytes are allowed (pass large input in `data`, which the program reads on stdin)"
            ));
        }
        Ok(())
    }
}

/// Why a working directory cannot be used, in words a log reader acts on:
/// `workdir /x does not exist`.
pub fn check_workdir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!("workdir {} is not a directory", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("workdir {} does not exist", dir.display()))
        }
        Err(e) => Err(format!("workdir {} cannot be used: {e}", dir.display())),
    }
}

/// A NUL byte can never reach a program: the kernel's strings end at it.
fn refuse_nul(what: &str, text: &str) -> Result<(), String> {
    if text.contains('\0') {
        Err(format!(
            "{what} contains a NUL byte, which no program can receive"
        ))
    } else {
        Ok(())
    }
}

fn parse_bool(map: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!(
            "`{key}` must be true or false, not {}",
            kind_of(other)
        )),
    }
}

fn parse_command(map: &Map<String, Value>, shell: bool) -> Result<CommandLine, String> {
    let line = match map.get("command") {
        None => {
            return Err(
                "missing key `command`: expected an argv list such as [\"echo\", \"hello\"]"
                    .to_string(),
            );
        }
        Some(Value::String(line)) => line,
        Some(Value::Array(items)) => {
            if shell {
                return Err(
                    "`command` is a list but `shell = true`: a shell would join the elements \
                     without quoting them. Write the command line as one string with \
                     shell = true (command = \"echo 'file name'\"), or drop `shell` to run the \
                     argv list as is, without a shell"
                        .to_string(),
                );
            }
            if items.is_empty() {
                return Err("`command` is empty: expected at least the program to run".to_string());
            }
            let mut argv = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Value::String(arg) = item else {
                    return Err(format!(
                        "`command[{i}]` must be a string, not {}",
                        kind_of(item)
                    ));
                };
                refuse_nul(&format!("`command[{i}]`"), arg)?;
                argv.push(arg.clone());
            }
            if argv[0].is_empty() {
                return Err("`command[0]` is empty: expected the program to run".to_string());
            }
            return Ok(CommandLine::Argv(argv));
        }
        Some(other) => {
            return Err(format!(
                "`command` must be a list of strings (argv), or a string with shell = true, \
                 not {}",
                kind_of(other)
            ));
        }
    };
    if !shell {
        return Err(
            "`command` is a string but `shell` is false: give an argv list such as \
             [\"echo\", \"hello\"], or set shell = true to run the string with /bin/sh -c"
                .to_string(),
        );
    }
    if line.trim().is_empty() {
        return Err("`command` is empty: expected a shell command line".to_string());
    }
    refuse_nul("`command`", line)?;
    Ok(CommandLine::Shell(line.clone()))
}

/// An environment variable's name as `execve` can pass it: not empty, no
/// `=` (it ends the name) and no NUL.
pub fn check_env_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} has an empty variable name"));
    }
    if name.contains('=') {
        return Err(format!(
            "{what}: the variable name `{name}` contains `=`, which ends a name"
        ));
    }
    refuse_nul(&format!("{what}: the variable name {name:?}"), name)
}

fn parse_env(map: &Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
    let table = match map.get("env") {
        None => return Ok(BTreeMap::new()),
        Some(Value::Object(table)) => table,
        Some(other) => {
            return Err(format!(
                "`env` must be a table of variable names to strings, not {}",
                kind_of(other)
            ));
        }
    };
    let mut env = BTreeMap::new();
    for (name, value) in table {
        check_env_name("`env`", name)?;
        if FIRE_VARIABLES.contains(&name.as_str()) {
            return Err(format!(
                "`env.{name}`: cosched sets {name} for every fire (the fire's context, \
                 see {}); choose another name",
                FIRE_VARIABLES.join(", ")
            ));
        }
        let value = match value {
            Value::String(value) => value,
            Value::Number(_) | Value::Bool(_) => {
                return Err(format!(
                    "`env.{name}` must be a string, not {} (quote it: {name} = \"{value}\")",
                    kind_of(value)
                ));
            }
            other => {
                return Err(format!(
                    "`env.{name}` must be a string, not {}",
                    kind_of(other)
                ));
            }
        };
        refuse_nul(&format!("`env.{name}`"), value)?;
        env.insert(name.clone(), value.clone());
    }
    Ok(env)
}

fn parse_workdir(map: &Map<String, Value>) -> Result<Option<PathBuf>, String> {
    match map.get("workdir") {
        None => Ok(None),
        Some(Value::String(dir)) if dir.is_empty() => {
            Err("`workdir` is empty: expected a directory".to_string())
        }
        Some(Value::String(dir)) => {
            refuse_nul("`workdir`", dir)?;
            Ok(Some(PathBuf::from(dir)))
        }
        Some(other) => Err(format!(
            "`workdir` must be a directory path (a string), not {}",
            kind_of(other)
        )),
    }
}

fn parse_max_output(map: &Map<String, Value>) -> Result<usize, String> {
    let expected = format!("a number of bytes from 0 to {MAX_OUTPUT_LIMIT} (1 MiB)");
    match map.get("max_output") {
        None => Ok(DEFAULT_MAX_OUTPUT),
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n <= MAX_OUTPUT_LIMIT => Ok(n),
            _ => Err(format!("`max_output` must be {expected}, not {n}")),
        },
        Some(other) => Err(format!(
            "`max_output` must be {expected}, not {}",
            kind_of(other)
        )),
    }
}

fn parse_inherit_env(map: &Map<String, Value>) -> Result<InheritEnv, String> {
    let expected = "true (the node's whole environment), false (only PATH, HOME, LANG, TZ) \
                    or a list of variable names";
    match map.get("inherit_env") {
        None | Some(Value::Bool(false)) => Ok(InheritEnv::Defaults),
        Some(Value::Bool(true)) => Ok(InheritEnv::All),
        Some(Value::Array(items)) => {
            let mut names = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Value::String(name) = item else {
                    return Err(format!(
                        "`inherit_env[{i}]` must be a variable name (a string), not {}",
                        kind_of(item)
                    ));
                };
                check_env_name(&format!("`inherit_env[{i}]`"), name)?;
                names.push(name.clone());
            }
            Ok(InheritEnv::Names(names))
        }
        Some(other) => Err(format!(
            "`inherit_env` must be {expected}, not {}",
            kind_of(other)
        )),
    }
}
