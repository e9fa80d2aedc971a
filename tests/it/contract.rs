//! The producer contract (`contract/`, migration 3) as other languages use
//! it: every file executed as written on its backend, the rows it writes
//! compared column by column with what [`cosched::Client`] writes, and a
//! stepped node firing what it scheduled. On PostgreSQL also: a rollback
//! schedules nothing and wakes nobody, and a `psql -c` call wakes a running
//! `cosched serve` at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use cosched::Clock;
use cosched::clock::from_ms;
use cosched::model::JobDef;
use entity::{fires, triggers};
use sea_orm::DatabaseConnection;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryResult, RuntimeErr,
    Statement, TransactionTrait, Value,
};
use serde_json::json;

use crate::support::{Harness, TestDb, backends, pg};

/// The operations of contract version 1: one file of each name per backend.
const OPERATIONS: &[&str] = &[
    "contract_version",
    "fire",
    "fires",
    "pause",
    "resume",
    "schedule_in",
    "schedule_once",
    "trigger_now",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn folder(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgres",
        _ => "sqlite",
    }
}

/// The statements of a contract file: comment lines dropped, split at a
/// `;` that ends a line (the format `contract/README.md` documents).
pub(crate) fn statements(backend: DbBackend, operation: &str) -> Vec<String> {
    let path = repo()
        .join("contract")
        .join(folder(backend))
        .join(format!("{operation}.sql"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    body.split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `:name` parameters rewritten to `$1, $2, …` (one number per distinct
/// name, in order of first use) with their values, for sqlx on either
/// backend.
pub(crate) fn bind(sql: &str, params: &[(&str, Value)]) -> (String, Vec<Value>) {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::new();
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_string = !in_string;
        }
        let starts_name = !in_string
            && c == ':'
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic())
            && (i == 0 || chars[i - 1] != ':');
        if !starts_name {
            out.push(c);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        let name: String = chars[i + 1..j].iter().collect();
        let n = match names.iter().position(|x| *x == name) {
            Some(p) => p + 1,
            None => {
                names.push(name);
                names.len()
            }
        };
        out.push_str(&format!("${n}"));
        i = j;
    }
    let values = names
        .iter()
        .map(|name| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no value for parameter :{name}"))
        })
        .collect();
    (out, values)
}

/// Runs a contract file inside `txn`; returns the last statement's rows.
async fn run_in(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    operation: &str,
    params: &[(&str, Value)],
) -> Result<Vec<QueryResult>, DbErr> {
    let mut rows = Vec::new();
    for sql in statements(backend, operation) {
        let (sql, values) = bind(&sql, params);
        rows = txn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(rows)
}

/// Runs a contract file in a transaction of its own and commits it.
async fn run(
    store: &DatabaseConnection,
    operation: &str,
    params: &[(&str, Value)],
) -> Result<Vec<QueryResult>, DbErr> {
    let txn = store.begin().await?;
    let rows = run_in(&txn, store.get_database_backend(), operation, params).await?;
    txn.commit().await?;
    Ok(rows)
}

fn text(s: &str) -> Value {
    Value::String(Some(s.to_string()))
}

fn no_text() -> Value {
    Value::String(None)
}

fn ms(v: i64) -> Value {
    Value::BigInt(Some(v))
}

/// A boolean result column: PostgreSQL returns booleans, SQLite integers.
fn flag(row: &QueryResult, column: &str) -> bool {
    row.try_get::<bool>("", column)
        .or_else(|_| row.try_get::<i64>("", column).map(|v| v != 0))
        .unwrap_or_else(|e| panic!("column {column}: {e}"))
}

/// The SQLSTATE of a database error.
fn sqlstate(err: &DbErr) -> Option<String> {
    if let DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) = err
        && let sea_orm::sqlx::Error::Database(db) = &**e
    {
        return db.code().map(|c| c.to_string());
    }
    None
}

/// A harness whose manual clock reads the database clock on PostgreSQL
/// (where the contract's functions take their instants from it), and t0
/// on SQLite (where the caller passes `:now_ms`).
async fn harness(db: &TestDb) -> Harness {
    let h = Harness::new(&db.url).await;
    if h.db.get_database_backend() == DbBackend::Postgres {
        h.clock.set(from_ms(db_now_ms(&h.db).await));
    }
    h
}

async fn db_now_ms(store: &DatabaseConnection) -> i64 {
    store
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT cosched_now_ms() AS now",
        ))
        .await
        .expect("cosched_now_ms()")
        .expect("one row")
        .try_get::<i64>("", "now")
        .expect("now")
}

async fn create_job(h: &Harness, name: &str, paused: bool) {
    let mut def = JobDef::new(name, "noop");
    def.priority = 5;
    def.paused = paused;
    h.client
        .create_job_def(&def, None)
        .await
        .expect("create job");
}

/// Schedules through the contract file; the trigger id, or None when the
/// (SQLite) statement returned no row.
async fn schedule_once(
    h: &Harness,
    job: &str,
    at_ms: i64,
    data: Option<&str>,
    key: Option<&str>,
) -> Result<Option<i64>, DbErr> {
    let rows = run(
        &h.db,
        "schedule_once",
        &[
            ("job", text(job)),
            ("at_ms", ms(at_ms)),
            ("data", data.map(text).unwrap_or_else(no_text)),
            ("key", key.map(text).unwrap_or_else(no_text)),
            ("now_ms", ms(h.clock.now_ms())),
        ],
    )
    .await?;
    Ok(rows
        .first()
        .map(|r| r.try_get::<i64>("", "trigger_id").expect("trigger_id")))
}

/// Every column of a trigger row as text (NULL as None), by column name.
async fn trigger_columns(store: &DatabaseConnection, id: i64) -> BTreeMap<String, Option<String>> {
    let backend = store.get_database_backend();
    let names_sql = match backend {
        DbBackend::Postgres => {
            "SELECT column_name AS name FROM information_schema.columns \
             WHERE table_name = 'triggers' AND table_schema = current_schema()"
        }
        _ => "SELECT name FROM pragma_table_info('triggers')",
    };
    let names: Vec<String> = store
        .query_all_raw(Statement::from_string(backend, names_sql))
        .await
        .expect("column names")
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect();
    assert!(names.len() > 30, "triggers has its columns: {names:?}");
    let select = names
        .iter()
        .map(|n| format!("CAST({n} AS TEXT) AS {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = store
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT {select} FROM triggers WHERE id = $1"),
            [id.into()],
        ))
        .await
        .expect("read trigger")
        .expect("the trigger exists");
    names
        .iter()
        .map(|n| {
            let v: Option<String> = row.try_get("", n).expect("column as text");
            (n.clone(), v)
        })
        .collect()
}

#[test]
fn every_operation_has_one_file_per_backend_and_the_python_client_ships_them() {
    let expected: BTreeSet<String> = OPERATIONS.iter().map(|o| format!("{o}.sql")).collect();
    for backend in ["sqlite", "postgres"] {
        let dir = repo().join("contract").join(backend);
        let found: BTreeSet<String> = std::fs::read_dir(&dir)
            .expect("contract folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, expected, "{}", dir.display());
        let shipped = repo()
            .join("clients/python/src/cosched_client/contract")
            .join(backend);
        for file in &expected {
            assert_eq!(
                std::fs::read_to_string(shipped.join(file)).ok(),
                std::fs::read_to_string(dir.join(file)).ok(),
                "the Python client's copy of {backend}/{file} is the contract's"
            );
        }
    }
}

#[test]
fn the_readme_shows_the_sqlite_schedule_once_statement_as_it_is() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme
        .find("## From any language")
        .expect("the README section")..];
    let start = section.find("```sql\n").expect("its SQL block") + "```sql\n".len();
    let block = &section[start..start + section[start..].find("```").expect("block end")];
    assert_eq!(
        vec![block.trim().trim_end_matches(';').to_string()],
        statements(DbBackend::Sqlite, "schedule_once"),
        "README.md shows contract/sqlite/schedule_once.sql"
    );
}

#[tokio::test]
async fn the_contract_version_is_1() {
    for db in backends().await {
        let h = harness(&db).await;
        let rows = run(&h.db, "contract_version", &[]).await.unwrap();
        assert_eq!(rows.len(), 1, "{}", db.backend);
        assert_eq!(rows[0].try_get::<i32>("", "version").unwrap(), 1);
    }
}

#[tokio::test]
async fn schedule_once_writes_the_row_client_schedule_at_writes_and_a_node_fires_it() {
    for db in backends().await {
        let mut h = harness(&db).await;
        create_job(&h, "report", false).await;
        create_job(&h, "held", true).await;
        let at = h.clock.now() + TimeDelta::seconds(30);
        let data = json!({"order": 42, "tags": ["a", "b"]});
        for job in ["report", "held"] {
            let ours = h
                .client
                .schedule_at(job, at, Some(data.clone()))
                .await
                .unwrap();
            let theirs = schedule_once(
                &h,
                job,
                at.timestamp_millis(),
                Some(&data.to_string()),
                None,
            )
            .await
            .unwrap()
            .expect("the contract returns the trigger id");
            let mut a = trigger_columns(&h.db, ours.id).await;
            let mut b = trigger_columns(&h.db, theirs).await;
            // Ids and the instants of creation differ; data is compared as
            // JSON (PostgreSQL's jsonb prints its own spacing).
            for row in [&mut a, &mut b] {
                for column in ["id", "created_at", "updated_at"] {
                    assert!(row.remove(column).is_some(), "column {column}");
                }
                let stored = row.remove("data").flatten().expect("data");
                let parsed: serde_json::Value = serde_json::from_str(&stored).unwrap();
                assert_eq!(parsed, data, "{}: data", db.backend);
            }
            assert_eq!(a, b, "{}: job {job}: every other column", db.backend);
            let expected_state = if job == "held" { "paused" } else { "waiting" };
            assert_eq!(b["state"].as_deref(), Some(expected_state));
            assert_eq!(b["priority"].as_deref(), Some("5"), "the job's priority");
        }
        h.clock.set(at);
        assert_eq!(
            h.step_and_settle().await.started,
            2,
            "{}: both one-offs of `report`, none of the paused job",
            db.backend
        );
        let rows = run(
            &h.db,
            "fires",
            &[
                ("job", text("report")),
                ("status", no_text()),
                ("trigger_id", Value::BigInt(None)),
                ("limit", ms(50)),
            ],
        )
        .await
        .unwrap();
        assert_eq!(rows.len(), 2, "{}", db.backend);
        for row in &rows {
            assert_eq!(row.try_get::<String>("", "status").unwrap(), "succeeded");
            assert_eq!(row.try_get::<String>("", "job").unwrap(), "report");
            assert_eq!(
                row.try_get::<i64>("", "scheduled_at").unwrap(),
                at.timestamp_millis()
            );
            let id = row.try_get::<i64>("", "id").unwrap();
            let one = run(&h.db, "fire", &[("fire_id", ms(id))]).await.unwrap();
            assert_eq!(one.len(), 1);
            assert_eq!(one[0].try_get::<i64>("", "id").unwrap(), id);
            assert!(
                one[0]
                    .try_get::<Option<i64>>("", "started_at")
                    .unwrap()
                    .is_some()
            );
        }
        let none = run(&h.db, "fire", &[("fire_id", ms(i64::MAX))])
            .await
            .unwrap();
        assert!(none.is_empty(), "no such fire, no row");
    }
}

#[tokio::test]
async fn a_producer_key_makes_one_trigger_per_job() {
    for db in backends().await {
        let h = harness(&db).await;
        create_job(&h, "report", false).await;
        create_job(&h, "other", false).await;
        let now = h.clock.now_ms();
        let first = schedule_once(&h, "report", now + 60_000, None, Some("order-7"))
            .await
            .unwrap()
            .unwrap();
        let again = schedule_once(&h, "report", now + 120_000, Some("{}"), Some("order-7"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            again, first,
            "{}: the same key returns the trigger",
            db.backend
        );
        let by_trigger_now = run(
            &h.db,
            "trigger_now",
            &[
                ("job", text("report")),
                ("data", no_text()),
                ("key", text("order-7")),
                ("now_ms", ms(now)),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            by_trigger_now[0].try_get::<i64>("", "trigger_id").unwrap(),
            first
        );
        let elsewhere = schedule_once(&h, "other", now + 60_000, None, Some("order-7"))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(elsewhere, first, "keys are per job");
        let unkeyed = schedule_once(&h, "report", now + 60_000, None, None)
            .await
            .unwrap()
            .unwrap();
        let unkeyed_too = schedule_once(&h, "report", now + 60_000, None, None)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(unkeyed, unkeyed_too, "without a key every call schedules");
        let report = h.client.job("report").await.unwrap();
        assert_eq!(report.triggers.len(), 3, "{}", db.backend);
        let kept = triggers::Entity::find_by_id(first)
            .one(&h.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            kept.next_fire_at,
            Some(now + 60_000),
            "the first call's instant stands"
        );
        assert_eq!(kept.data, None, "the first call's data stands");
    }
}

#[tokio::test]
async fn an_unknown_job_is_refused_by_name_and_nothing_is_written() {
    for db in backends().await {
        let h = harness(&db).await;
        let now = h.clock.now_ms();
        let result = schedule_once(&h, "nope", now, None, None).await;
        match h.db.get_database_backend() {
            DbBackend::Postgres => {
                let err = result.expect_err("an unknown job is an error");
                assert_eq!(sqlstate(&err).as_deref(), Some("P0002"), "{err}");
                assert!(
                    err.to_string().contains("job `nope` does not exist"),
                    "{err}"
                );
                for operation in ["pause", "resume"] {
                    let err = run(&h.db, operation, &[("job", text("nope"))])
                        .await
                        .expect_err("unknown job");
                    assert_eq!(sqlstate(&err).as_deref(), Some("P0002"), "{err}");
                }
            }
            _ => {
                assert_eq!(result.unwrap(), None, "no row: no such job");
                for operation in ["pause", "resume"] {
                    let rows = run(
                        &h.db,
                        operation,
                        &[("job", text("nope")), ("now_ms", ms(now))],
                    )
                    .await
                    .unwrap();
                    assert!(!flag(&rows[0], "job_exists"), "{operation}");
                    assert!(!flag(&rows[0], "changed"), "{operation}");
                }
            }
        }
        let count = triggers::Entity::find().all(&h.db).await.unwrap().len();
        assert_eq!(count, 0, "{}", db.backend);
    }
}

#[tokio::test]
async fn schedule_in_and_trigger_now_fire_on_a_stepped_node() {
    for db in backends().await {
        let mut h = harness(&db).await;
        create_job(&h, "report", false).await;
        let now = h.clock.now_ms();
        let later = run(
            &h.db,
            "schedule_in",
            &[
                ("job", text("report")),
                ("delay_ms", ms(90_000)),
                ("data", text(r#"{"why": "later"}"#)),
                ("key", no_text()),
                ("now_ms", ms(now)),
            ],
        )
        .await
        .unwrap()[0]
            .try_get::<i64>("", "trigger_id")
            .unwrap();
        let at_once = run(
            &h.db,
            "trigger_now",
            &[
                ("job", text("report")),
                ("data", no_text()),
                ("key", no_text()),
                ("now_ms", ms(now)),
            ],
        )
        .await
        .unwrap()[0]
            .try_get::<i64>("", "trigger_id")
            .unwrap();
        let later_row = h.store.trigger_by_id(later).await.unwrap().unwrap();
        let due = later_row.next_fire_at.expect("due");
        assert!(
            (now + 90_000..now + 95_000).contains(&due),
            "{}: due 90 s after now ({now}), not at {due}",
            db.backend
        );
        // A second of slack: on PostgreSQL the database clock moved on
        // since the harness read it.
        h.advance(1);
        assert_eq!(h.step_and_settle().await.started, 1, "{}", db.backend);
        h.clock.set(from_ms(due));
        assert_eq!(h.step_and_settle().await.started, 1, "{}", db.backend);
        let fired: Vec<fires::Model> = fires::Entity::find().all(&h.db).await.unwrap();
        let mut triggers: Vec<Option<i64>> = fired.iter().map(|f| f.trigger_id).collect();
        triggers.sort();
        assert_eq!(triggers, vec![Some(later), Some(at_once)]);
        assert!(fired.iter().all(|f| f.status == "succeeded"));
        let later_fire = fired.iter().find(|f| f.trigger_id == Some(later)).unwrap();
        let data: serde_json::Value =
            serde_json::from_str(later_fire.data.as_deref().expect("fire data")).unwrap();
        assert_eq!(data["why"], "later", "the trigger's data reached the fire");
    }
}

#[tokio::test]
async fn pause_and_resume_do_what_job_set_paused_does() {
    for db in backends().await {
        let h = harness(&db).await;
        let at = h.clock.now() + TimeDelta::hours(1);
        // Two twins: the contract drives one, the Rust client the other.
        let mut trigger_ids = BTreeMap::new();
        for job in ["by-contract", "by-client"] {
            create_job(&h, job, false).await;
            let waiting = h.client.schedule_at(job, at, None).await.unwrap();
            let own = h.client.schedule_at(job, at, None).await.unwrap();
            h.client.pause_trigger(own.id).await.unwrap();
            trigger_ids.insert(job, (waiting.id, own.id));
        }
        let states = |h: &Harness, job: &'static str| {
            let (waiting, own) = trigger_ids[job];
            let store = h.store.clone();
            async move {
                let a = store.trigger_by_id(waiting).await.unwrap().unwrap();
                let b = store.trigger_by_id(own).await.unwrap().unwrap();
                let paused = store.job_by_name(job).await.unwrap().unwrap().paused;
                (paused, a.state, b.state)
            }
        };
        let contract = |operation: &'static str| {
            let store = h.db.clone();
            let now = h.clock.now_ms();
            async move {
                let rows = run(
                    &store,
                    operation,
                    &[("job", text("by-contract")), ("now_ms", ms(now))],
                )
                .await
                .unwrap();
                if store.get_database_backend() != DbBackend::Postgres {
                    assert!(flag(&rows[0], "job_exists"));
                }
                flag(&rows[0], "changed")
            }
        };
        for (operation, paused) in [("pause", true), ("pause", true), ("resume", false)] {
            let changed = contract(operation).await;
            let changed_by_client = if paused {
                h.client.pause("by-client").await.unwrap()
            } else {
                h.client.resume("by-client").await.unwrap()
            };
            assert_eq!(changed, changed_by_client, "{}: {operation}", db.backend);
            assert_eq!(
                states(&h, "by-contract").await,
                states(&h, "by-client").await,
                "{}: after {operation}",
                db.backend
            );
        }
        assert!(!contract("resume").await, "resuming twice changes nothing");
        assert_eq!(
            states(&h, "by-contract").await,
            (
                false,
                cosched::model::TriggerState::Waiting,
                cosched::model::TriggerState::Paused
            ),
            "{}: the trigger paused on its own stays paused",
            db.backend
        );
    }
}

#[tokio::test]
async fn on_postgres_a_rollback_schedules_nothing_and_wakes_nobody() {
    let Some(db) = pg::database().await else {
        return;
    };
    let h = harness(&db).await;
    create_job(&h, "report", false).await;
    let mut listener = PgListener::connect(&db.url).await.expect("listener");
    listener.listen("cosched_changes").await.expect("LISTEN");
    let params = [
        ("job", text("report")),
        ("data", no_text()),
        ("key", no_text()),
    ];

    let txn = h.db.begin().await.unwrap();
    run_in(&txn, DbBackend::Postgres, "trigger_now", &params)
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    h.db.execute_unprepared("NOTIFY cosched_changes, 'after the rollback'")
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification")
        .expect("recv");
    assert_eq!(
        first.payload(),
        "after the rollback",
        "the rolled-back call sent nothing"
    );
    assert!(h.client.job("report").await.unwrap().triggers.is_empty());

    let txn = h.db.begin().await.unwrap();
    let id = run_in(&txn, DbBackend::Postgres, "trigger_now", &params)
        .await
        .unwrap()[0]
        .try_get::<i64>("", "trigger_id")
        .unwrap();
    txn.commit().await.unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification at commit")
        .expect("recv");
    assert_eq!(woken.channel(), "cosched_changes");
    assert_eq!(woken.payload(), "");
    let job = h.client.job("report").await.unwrap();
    assert_eq!(
        job.triggers.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![id]
    );
}

/// `psql`: in PATH, else beside the server binaries.
fn psql() -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("psql"));
    let versioned = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/psql"));
    in_path.chain(versioned).find(|p| p.is_file())
}

/// Polls `check` every 20 ms until it returns Some or `within` passes.
async fn poll<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_psql_call_wakes_a_running_node_at_once() {
    let Some(db) = pg::database().await else {
        return;
    };
    let Some(psql) = psql() else {
        assert_ne!(
            std::env::var(pg::REQUIRE_ENV).as_deref(),
            Ok("1"),
            "psql is missing"
        );
        eprintln!("a_psql_call_wakes_a_running_node_at_once: skipped, psql is missing");
        return;
    };
    let h = harness(&db).await;
    create_job(&h, "report", false).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    // A poll a minute apart: a fire within seconds can only be the NOTIFY.
    std::fs::write(
        &config,
        "[scheduler]\nnode_id = \"listener\"\npoll_interval = \"60s\"\n",
    )
    .unwrap();
    let node = ServeGuard(
        Command::new(env!("CARGO_BIN_EXE_cosched"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--database", &db.url])
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cosched serve"),
    );
    let listening = poll(Duration::from_secs(30), || {
        let store = h.db.clone();
        async move {
            let rows = store
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pid FROM pg_stat_activity \
                     WHERE datname = current_database() AND query ILIKE 'LISTEN%cosched_changes%'",
                ))
                .await
                .ok()?;
            (!rows.is_empty()).then_some(())
        }
    })
    .await;
    assert!(listening.is_some(), "the node never LISTENed");
    let out = Command::new(&psql)
        .arg(&db.url)
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg("SELECT cosched_trigger_now('report', '{\"via\": \"psql\"}')")
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trigger_id: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("psql printed the trigger id");
    let fire = poll(Duration::from_secs(20), || {
        let store = h.db.clone();
        async move {
            let fires = fires::Entity::find().all(&store).await.ok()?;
            fires
                .into_iter()
                .find(|f| f.trigger_id == Some(trigger_id) && f.status == "succeeded")
        }
    })
    .await
    .expect("the node fired the one-off");
    let trigger = h.store.trigger_by_id(trigger_id).await.unwrap().unwrap();
    let pickup = fire.started_at.expect("started") - trigger.created_at;
    assert!(
        pickup < 5_000,
        "picked up {pickup} ms after the call: woken by NOTIFY, not by the 60 s poll"
    );
    drop(node);
}

/// Kills the `cosched serve` child when the test ends, pass or fail.
struct ServeGuard(std::process::Child);

impl Drop for ServeGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn client_schedule_once_with_a_key_makes_one_trigger_shared_with_the_contract() {
    for db in backends().await {
        let mut h = harness(&db).await;
        create_job(&h, "report", false).await;
        let at = h.clock.now() + TimeDelta::seconds(10);
        let first = h
            .client
            .schedule_once("report", at, Some(json!({"n": 1})), Some("invoice-9"))
            .await
            .unwrap();
        let again = h
            .client
            .schedule_once(
                "report",
                at + TimeDelta::hours(1),
                Some(json!({"n": 2})),
                Some("invoice-9"),
            )
            .await
            .unwrap();
        assert_eq!(again, first, "{}: the first trigger, unchanged", db.backend);
        let through_sql =
            schedule_once(&h, "report", at.timestamp_millis(), None, Some("invoice-9"))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            through_sql, first.id,
            "the contract sees the Rust client's key"
        );
        let columns = trigger_columns(&h.db, first.id).await;
        assert_eq!(columns["producer_key"].as_deref(), Some("invoice-9"));
        let unkeyed = h
            .client
            .schedule_once("report", at, None, None)
            .await
            .unwrap();
        assert_eq!(
            trigger_columns(&h.db, unkeyed.id).await["producer_key"],
            None
        );
        let err = h
            .client
            .schedule_once("nope", at, None, Some("invoice-9"))
            .await
            .expect_err("unknown job");
        assert!(
            err.to_string().contains("job `nope` does not exist"),
            "{err}"
        );
        assert_eq!(h.client.job("report").await.unwrap().triggers.len(), 2);
        h.clock.set(at);
        assert_eq!(h.step_and_settle().await.started, 2, "{}", db.backend);
        let fired = fires::Entity::find().all(&h.db).await.unwrap();
        let keyed: Vec<_> = fired
            .iter()
            .filter(|f| f.trigger_id == Some(first.id))
            .collect();
        assert_eq!(keyed.len(), 1, "the keyed one-off fired once");
        let data: serde_json::Value =
            serde_json::from_str(keyed[0].data.as_deref().unwrap()).unwrap();
        assert_eq!(data["n"], 1);
    }
}
