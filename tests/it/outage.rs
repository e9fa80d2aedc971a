//! The database goes away, or a node freezes inside a transaction, on a
//! real PostgreSQL with real `cosched serve` processes:
//!
//! - leasing resumes right after PostgreSQL accepts connections again, and
//!   what the outage made late follows its misfire policy. The delay from
//!   the server accepting connections (seen by a probe polling every
//!   20 ms) to the node's first record after it is printed as
//!   `resume delay: N ms`, never asserted: figures belong in benches and
//!   the README;
//! - a node SIGSTOPped inside its record transaction loses its session to
//!   the server (`idle_in_transaction_session_timeout`, derived from the
//!   dead threshold) while still frozen, so the peer that recovers it is
//!   not held up by its row locks, and the fire it held is fired once;
//! - a configured `idle_in_transaction_timeout` longer than half the dead
//!   threshold is refused (exit 2, with the line), through the validator.
//!
//! Without PostgreSQL the database tests say so and pass, unless
//! `COSCHED_REQUIRE_POSTGRES=1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use cosched::model::{JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::schedule::cron::{CronExpr, Dialect};
use cosched::store::TEST_PAUSE_IN_RECORD_ENV;
use entity::{fires, nodes};
use sea_orm::sqlx::Connection;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};

use crate::cluster::{ServeProcess, detection_deadline};
use crate::support::pg;

/// Calls `probe` every 50 ms until it returns Some or `within` has passed.
async fn poll_some<T, F, Fut>(within: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fires_of(db: &DatabaseConnection, job: &str) -> Vec<fires::Model> {
    fires::Entity::find()
        .filter(fires::Column::JobName.eq(job))
        .all(db)
        .await
        .unwrap_or_default()
}

async fn node(db: &DatabaseConnection, id: &str) -> Option<nodes::Model> {
    nodes::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .ok()
        .flatten()
}

/// Waits until node `id` runs: registered, and checked in since (its
/// start, which an outage would fail, is over).
async fn wait_active(db: &DatabaseConnection, id: &str) {
    let active = poll_some(Duration::from_secs(20), || async {
        node(db, id)
            .await
            .filter(|n| n.state == "active" && n.last_checkin_at > n.started_at)
    })
    .await;
    assert!(active.is_some(), "node {id} did not become active");
}

/// Misfired when later than 1 s; the default policy (smart).
fn misfired_after_a_second(spec: ScheduleSpec) -> TriggerDef {
    let mut def = TriggerDef::new(spec);
    def.misfire_threshold = Some(chrono::Duration::seconds(1));
    def
}

/// Polls the server with a fresh connection and `SELECT 1` every 20 ms;
/// returns the instant (UTC ms) it first answered.
async fn first_answer(url: String) -> i64 {
    loop {
        if let Ok(mut conn) = sea_orm::sqlx::PgConnection::connect(&url).await
            && sea_orm::sqlx::query("SELECT 1")
                .execute(&mut conn)
                .await
                .is_ok()
        {
            return Utc::now().timestamp_millis();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leasing_resumes_as_soon_as_the_database_is_back_and_misfires_follow_their_policy() {
    let Some(server) = pg::private_server() else {
        return;
    };
    let server = Arc::new(server);
    let url = server.database("resume").await;
    let client = crate::support::migrated_client(&url).await;
    let db = crate::support::sql(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut node = ServeProcess::spawn(&dir, &url, "n1");
    wait_active(&db, "n1").await;

    // A one-off due one second into the outage, and a tick every second:
    // both misfired by its end.
    let late = misfired_after_a_second(ScheduleSpec::Once {
        at: Utc::now() + chrono::Duration::seconds(2),
    });
    client
        .create_job_def(&JobDef::new("late", "noop"), Some(&late))
        .await
        .unwrap();
    let tick = misfired_after_a_second(ScheduleSpec::Cron {
        expr: CronExpr::parse("* * * * * ?", Dialect::Quartz).unwrap(),
        tz: chrono_tz::UTC,
        dst: Default::default(),
    });
    client
        .create_job_def(&JobDef::new("tick", "noop"), Some(&tick))
        .await
        .unwrap();
    let stopping = server.clone();
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap()
        .expect("stop PostgreSQL");
    // The outage itself: a wait, not a wait for a condition.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(node.is_running(), "{}", node.log_tail());
    let probe = tokio::spawn(first_answer(server.url("resume")));
    let starting = server.clone();
    tokio::task::spawn_blocking(move || starting.start())
        .await
        .unwrap()
        .expect("start PostgreSQL again");
    let up_at = probe.await.unwrap();

    let recorded = poll_some(Duration::from_secs(20), || async {
        let late = fires_of(&db, "late").await.pop()?;
        let skipped = fires_of(&db, "tick")
            .await
            .into_iter()
            .find(|f| f.status == "skipped")?;
        (late.status == "succeeded").then_some((skipped, late))
    })
    .await;
    let Some((skipped, late)) = recorded else {
        panic!(
            "the fires due in the outage were not recorded; the node's log ends:\n{}",
            node.log_tail()
        );
    };
    client.pause("tick").await.unwrap();
    assert!(
        skipped
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("misfired")),
        "smart (cron): the seconds missed are recorded skipped as misfired: {skipped:?}"
    );
    assert_eq!(
        (late.status.as_str(), late.attempt),
        ("succeeded", 1),
        "smart (one-off): fired once, late: {late:?}"
    );
    let first_record = skipped.finished_at.unwrap().min(late.started_at.unwrap());
    eprintln!(
        "resume delay: {} ms (server accepting connections -> first record)",
        first_record - up_at
    );
    let status = node.terminate().await;
    assert!(status.success(), "{}", node.log_tail());
}

/// The backend pid of a session sitting idle inside a record transaction
/// (its last statement inserted fires) on this database, if any.
async fn idle_in_record(db: &DatabaseConnection) -> Option<i32> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'idle in transaction' \
               AND query LIKE 'INSERT INTO fires%' LIMIT 1",
        ))
        .await
        .ok()??;
    row.try_get::<i32>("", "pid").ok()
}

async fn session_exists(db: &DatabaseConnection, pid: i32) -> bool {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT pid FROM pg_stat_activity WHERE pid = {pid}"),
    ))
    .await
    .ok()
    .flatten()
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_frozen_inside_its_record_transaction_does_not_stall_its_recovery() {
    let Some(test_db) = pg::database().await else {
        eprintln!("frozen in a transaction: skipped, it needs PostgreSQL");
        return;
    };
    let url = test_db.url.clone();
    let client = crate::support::migrated_client(&url).await;
    let db = crate::support::sql(&url).await;
    let dir = tempfile::tempdir().unwrap();
    // The test nodes' dead threshold is 3 x 300 ms: far shorter than the
    // fixed 5 s idle-in-transaction timeout nodes used to run with.
    let mut frozen =
        ServeProcess::spawn_with_env(&dir, &url, "frozen", &[(TEST_PAUSE_IN_RECORD_ENV, "3000")]);
    wait_active(&db, "frozen").await;
    client
        .create_job_def(&JobDef::new("once", "noop"), None)
        .await
        .unwrap();
    client.trigger_now("once", None).await.unwrap();
    let backend = poll_some(Duration::from_secs(10), || idle_in_record(&db)).await;
    let backend = backend.unwrap_or_else(|| {
        panic!(
            "the node never paused inside its record transaction; its log ends:\n{}",
            frozen.log_tail()
        )
    });
    frozen.signal(libc::SIGSTOP);

    // Still frozen, the node loses its session: the server ended it.
    let ended = poll_some(Duration::from_secs(10), || async {
        (!session_exists(&db, backend).await).then_some(())
    })
    .await;
    assert!(
        ended.is_some(),
        "the frozen node's transaction still holds its session"
    );

    // A peer declares it dead, recovers it without waiting on its locks,
    // and fires the one-off it held.
    let mut watcher = ServeProcess::spawn(&dir, &url, "watcher");
    let fired = poll_some(detection_deadline() + Duration::from_secs(20), || async {
        fires_of(&db, "once")
            .await
            .into_iter()
            .find(|f| f.status == "succeeded")
    })
    .await;
    let fired = fired.unwrap_or_else(|| {
        panic!(
            "the one-off was not fired by the peer; its log ends:\n{}",
            watcher.log_tail()
        )
    });
    assert_eq!(fired.node_id.as_deref(), Some("watcher"), "{fired:?}");
    let dead = poll_some(detection_deadline() + Duration::from_secs(5), || async {
        node(&db, "frozen").await.filter(|n| n.state == "dead")
    })
    .await;
    assert!(
        dead.is_some_and(|n| n.declared_dead_by.as_deref() == Some("watcher")),
        "the watcher declared the frozen node dead; its log ends:\n{}",
        watcher.log_tail()
    );
    let recovered = poll_some(Duration::from_secs(10), || async {
        watcher
            .log_tail()
            .contains("recovered the fires of a dead node")
            .then_some(())
    })
    .await;
    assert!(recovered.is_some(), "{}", watcher.log_tail());
    assert!(
        !watcher.log_tail().contains("lock timeout"),
        "the recovery never waited on the frozen node's locks:\n{}",
        watcher.log_tail()
    );

    frozen.signal(libc::SIGCONT);
    let status = frozen.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "the thawed node, declared dead, exits; its log ends:\n{}",
        frozen.log_tail()
    );
    let status = watcher.terminate().await;
    assert!(status.success(), "{}", watcher.log_tail());
    let fires = fires_of(&db, "once").await;
    assert_eq!(
        fires
            .iter()
            .map(|f| (f.attempt, f.status.as_str(), f.node_id.as_deref()))
            .collect::<Vec<_>>(),
        [(1, "succeeded", Some("watcher"))],
        "recorded once, nothing lost: {fires:?}"
    );
}

#[test]
fn an_idle_in_transaction_timeout_that_outlasts_the_dead_threshold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.toml");
    let file = "[scheduler]\ncheckin_interval = \"1s\"\ndead_after_checkins = 4\n\
                idle_in_transaction_timeout = \"3s\"\n";
    std::fs::write(&path, file).unwrap();
    let out = crate::config::cosched(&["check", "--config", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("jobs.toml:4:"), "{text}");
    assert!(
        text.contains(
            "`idle_in_transaction_timeout` = \"3s\" conflicts with the dead-node threshold"
        ) && text.contains("expected at most half of it, 2s"),
        "{text}"
    );
    let fine = file.replace("\"3s\"", "\"2s\"");
    std::fs::write(&path, fine).unwrap();
    let out = crate::config::cosched(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_node_session_ends_idle_transactions_at_half_the_dead_threshold() {
    let Some(test_db) = pg::database().await else {
        return;
    };
    let mut settings = cosched::config::SchedulerSettings {
        checkin_interval: Duration::from_millis(300),
        dead_after_checkins: 3,
        ..Default::default()
    };
    assert_eq!(
        settings.idle_in_transaction_timeout(),
        Duration::from_millis(450)
    );
    let store = cosched::Store::connect_node(&test_db.url, settings.idle_in_transaction_timeout())
        .await
        .unwrap();
    let value = store
        .session_setting("idle_in_transaction_session_timeout")
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("450ms"));
    settings.idle_in_transaction_timeout = Some(Duration::from_millis(200));
    assert_eq!(
        settings.idle_in_transaction_timeout(),
        Duration::from_millis(200)
    );
}
