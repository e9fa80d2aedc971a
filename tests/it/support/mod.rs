//! Test support: temporary databases and a node driven step by step with a
//! manual clock.

#![allow(dead_code)]

pub mod pg;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use cosched::events::SchedulerEvent;
use cosched::scheduler::Pass;
use cosched::store::Store;
use cosched::testing::TestNode;
use cosched::{Client, JobRegistry};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use tempfile::TempDir;

/// A database for one test: dropped with the test.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    conn: tokio::sync::OnceCell<DatabaseConnection>,
    _dir: Option<TempDir>,
    _pg: Option<pg::PgDatabase>,
}

impl TestDb {
    pub fn from_pg(url: String, db: pg::PgDatabase) -> TestDb {
        TestDb {
            url,
            backend: "postgres",
            conn: Default::default(),
            _dir: None,
            _pg: Some(db),
        }
    }

    /// The test's own connection to this database (see [`sql`]), opened
    /// on first use.
    pub async fn sql(&self) -> &DatabaseConnection {
        self.conn.get_or_init(|| sql(&self.url)).await
    }
}

/// A fresh SQLite file in a temporary folder.
pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("cosched.db").display());
    TestDb {
        url,
        backend: "sqlite",
        conn: Default::default(),
        _dir: Some(dir),
        _pg: None,
    }
}

/// Every backend this machine can test: SQLite always, PostgreSQL when the
/// harness could start it (mandatory in CI: see `pg::required`).
pub async fn backends() -> Vec<TestDb> {
    let mut dbs = vec![sqlite()];
    if let Some(db) = pg::database().await {
        dbs.push(db);
    }
    dbs
}

/// Migrates the database at `url` (as `cosched migrate` does) and connects
/// a producer to it: `Client::connect` itself never migrates.
pub async fn migrated_client(url: &str) -> Client {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Client::connect(url).await.expect("client")
}

/// A sea-orm connection of the test's own to the database at `url`, to look
/// at tables and to write rows with plain SQL as any producer may (the
/// store keeps its connection to itself). On SQLite it waits for the
/// store's writes instead of failing.
pub async fn sql(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_string());
    options.sqlx_logging(false).max_connections(2);
    options.map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::from_secs(10)));
    Database::connect(options)
        .await
        .expect("test SQL connection")
}

/// Runs one statement on `db`; returns the rows it changed.
pub async fn exec(db: &DatabaseConnection, sql: &str) -> Result<u64, sea_orm::DbErr> {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map(|r| r.rows_affected())
}

/// 2026-03-02T10:00:00Z, a Monday: where manual clocks start.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

/// A node's parts, driven by hand: `step()` is one scheduler pass. It is
/// the harness cosched ships to embedders ([`cosched::testing::TestNode`]),
/// with the test's own SQL connection beside it and panics in place of
/// errors, since a panic is how a test fails.
pub struct Harness {
    node: TestNode,
    /// The test's own connection to the same database.
    pub db: DatabaseConnection,
}

impl std::ops::Deref for Harness {
    type Target = TestNode;

    fn deref(&self) -> &TestNode {
        &self.node
    }
}

impl std::ops::DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut TestNode {
        &mut self.node
    }
}

impl Harness {
    pub async fn new(url: &str) -> Harness {
        Self::with(url, "node-a", 16, JobRegistry::with_builtins()).await
    }

    pub async fn with(
        url: &str,
        node_id: &str,
        max_concurrent: usize,
        registry: JobRegistry,
    ) -> Harness {
        let node = TestNode::builder(url)
            .node_id(node_id)
            .max_concurrent(max_concurrent)
            .registry(registry)
            .start_at(t0())
            .wait(Duration::from_secs(30))
            .start()
            .await
            .expect("a stepped node");
        Harness {
            db: sql(url).await,
            node,
        }
    }

    /// One scheduler pass at the clock's current instant.
    pub async fn step(&self) -> Pass {
        self.node.step().await.expect("scheduler pass")
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    /// Waits (up to 30 s of real time) for `n` fires to complete, and
    /// returns their events in completion order.
    pub async fn completions(&mut self, n: usize) -> Vec<SchedulerEvent> {
        self.node
            .completions(n)
            .await
            .unwrap_or_else(|e| panic!("waiting for {n} completions: {e}"))
    }

    /// Steps once and waits for every fire the step started to complete.
    pub async fn step_and_settle(&mut self) -> Pass {
        self.node.step_and_settle().await.expect("a settled pass")
    }
}
