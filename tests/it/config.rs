//! Bad configuration: every kind of mistake exits 2 with the file, the line
//! and what was expected, and leaves the database exactly as it was.

use std::path::Path;
use std::process::{Command, Output};

use cosched::JobRegistry;
use cosched::config;

use crate::support::sqlite;

pub fn cosched(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosched"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run cosched")
}

const GOOD: &str = r#"
[scheduler]
timezone = "Europe/Berlin"

[[job]]
name = "a"
kind = "command"
command = ["true"]
cron = "0 0 * * * ?"
"#;

/// (name, file text, line expected in the message, text expected in it)
const BAD: &[(&str, &str, usize, &str)] = &[
    (
        "unknown key",
        "[[job]]\nname = \"a\"\nkind = \"noop\"\ntiemzone = \"UTC\"\n",
        4,
        "unknown key `tiemzone`: did you mean `timezone`?",
    ),
    (
        "unknown scheduler key",
        "[scheduler]\nmax_concurent = 4\n",
        2,
        "did you mean `max_concurrent`?",
    ),
    (
        "bad duration",
        "[[job]]\nname = \"a\"\nkind = \"noop\"\ntimeout = \"5 parsecs\"\n",
        4,
        "`timeout` = \"5 parsecs\" is not a duration",
    ),
    (
        "bad cron",
        "[[job]]\nname = \"a\"\nkind = \"noop\"\n\ncron = \"0 0 25 * * ?\"\n",
        5,
        "invalid cron expression \"0 0 25 * * ?\"",
    ),
    (
        "unknown time zone",
        "[[job]]\nname = \"a\"\nkind = \"noop\"\ncron = \"0 0 * * * ?\"\ntimezone = \"Europe/Berln\"\n",
        5,
        "did you mean `Europe/Berlin`?",
    ),
    (
        "unknown kind",
        "[[job]]\nname = \"a\"\nkind = \"comand\"\n",
        3,
        "unknown job kind `comand`: did you mean `command`?",
    ),
    (
        "duplicate name",
        "[[job]]\nname = \"a\"\nkind = \"noop\"\n\n[[job]]\nname = \"a\"\nkind = \"noop\"\n",
        6,
        "duplicate job name `a`: already declared at line 1",
    ),
    (
        "two schedules",
        "[[job]]\nname = \"a\"\nkind = \"noop\"\ncron = \"0 0 * * * ?\"\nevery = \"5s\"\n",
        5,
        "at most one schedule",
    ),
    (
        "misfire policy of another kind",
        "[[job]]\nname = \"a\"\nkind = \"noop\"\nevery = \"5s\"\nmisfire = \"fire_once_now\"\n",
        5,
        "does not apply to a interval trigger",
    ),
    (
        "command as a string without a shell",
        "[[job]]\nname = \"a\"\nkind = \"command\"\ncommand = \"echo hi\"\n",
        4,
        "set shell = true",
    ),
    ("not TOML", "[[job]\nname = 1\n", 1, ""),
];

fn snapshot(db: &Path) -> String {
    // The whole database, as SQLite's own dump would compare it: the
    // file's bytes do not change when nothing is written.
    let bytes = std::fs::read(db).unwrap_or_default();
    format!(
        "{}:{:x}",
        bytes.len(),
        bytes
            .iter()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(*b as u64))
    )
}

#[test]
fn every_bad_config_exits_2_with_file_and_line_and_changes_nothing() {
    let db = sqlite();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, GOOD).unwrap();
    // Create the database from the good file (serve would run forever, so
    // reconcile through the library, as serve does).
    let registry = JobRegistry::with_builtins();
    let cfg = config::load_file(&good, &registry).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = cosched::Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        store
            .reconcile_config(&cfg.jobs, &cfg.calendars, 0)
            .await
            .unwrap();
    });
    let db_path = db.url.trim_start_matches("sqlite://").to_string();
    // Let SQLite fold its write-ahead log into the file first.
    rt.block_on(async {
        let conn = crate::support::sql(&db.url).await;
        crate::support::exec(&conn, "PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
    });
    let before = snapshot(Path::new(&db_path));

    for (name, text, line, expected) in BAD {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let file_arg = file.to_str().unwrap();
        for args in [
            vec!["check", "--config", file_arg],
            vec!["serve", "--config", file_arg, "--database", &db.url],
        ] {
            let out = cosched(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{name}: {args:?} exit code; stderr: {stderr}"
            );
            let location = format!("{file_arg}:{line}:");
            assert!(
                stderr.contains(&location),
                "{name}: expected `{location}` in: {stderr}"
            );
            assert!(
                stderr.contains(expected),
                "{name}: expected `{expected}` in: {stderr}"
            );
        }
        assert_eq!(
            snapshot(Path::new(&db_path)),
            before,
            "{name}: the database changed"
        );
    }
}

#[test]
fn several_problems_are_reported_together() {
    let text = "[[job]]\nname = \"a\"\nkind = \"noop\"\ntimeout = \"soon\"\ncron = \"x\"\n";
    let err = config::parse(text, "jobs.toml", &JobRegistry::with_builtins()).unwrap_err();
    assert_eq!(err.issues.len(), 2, "{err}");
    assert_eq!(err.issues[0].line, 4);
    assert_eq!(err.issues[1].line, 5);
}

#[test]
fn the_example_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs.toml.example");
    let out = cosched(&["check", "--config", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = config::load_file(&path, &JobRegistry::with_builtins()).unwrap();
    assert!(
        cfg.jobs.iter().any(|j| j.trigger.is_some()),
        "the example has scheduled jobs"
    );
}

#[test]
fn a_missing_file_is_a_configuration_error() {
    let out = cosched(&["check", "--config", "/nonexistent/jobs.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/nonexistent/jobs.toml: cannot read the file")
    );
}
