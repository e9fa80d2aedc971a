//! The scheduler loop, stepped by hand with a manual clock: which instants
//! fire, how many at once, misfires, pause, one-offs, malformed rows.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Duration as TimeDelta;
use cosched::model::FireStatus;
use cosched::model::{JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::schedule::cron::{CronExpr, Dialect};
use cosched::store::FireFilter;
use cosched::{FireContext, JobKind, JobOutcome, JobRegistry};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::{Harness, sqlite, t0};

pub fn cron_trigger(expr: &str) -> TriggerDef {
    TriggerDef::new(ScheduleSpec::Cron {
        expr: CronExpr::parse(expr, Dialect::Quartz).expect("valid cron"),
        tz: chrono_tz::UTC,
        dst: Default::default(),
    })
}

pub async fn fires_of(h: &Harness, job: &str) -> Vec<cosched::model::Fire> {
    let mut fires = h
        .client
        .fires(&FireFilter {
            job: Some(job.to_string()),
            status: None,
            limit: None,
        })
        .await
        .expect("fires");
    fires.sort_by_key(|f| (f.scheduled_at, f.attempt, f.id));
    fires
}

/// A job kind that holds each fire until the test releases a permit.
pub struct Gate(pub Arc<Semaphore>);

#[async_trait]
impl JobKind for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }
    fn validate(&self, _settings: &Value) -> Result<(), String> {
        Ok(())
    }
    async fn run(&self, _fire: &FireContext, _settings: &Value) -> JobOutcome {
        // The semaphore is never closed while tests run.
        self.0.acquire().await.expect("gate open").forget();
        JobOutcome::Succeeded { output: None }
    }
}

#[tokio::test]
async fn every_second_cron_fires_once_per_scheduled_second() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    h.client
        .create_job_def(
            &JobDef::new("tick", "noop"),
            Some(&cron_trigger("* * * * * ?")),
        )
        .await
        .unwrap();
    for _ in 0..5 {
        let pass = h.step_and_settle().await;
        assert_eq!(pass.started, 1, "one fire per scheduled second");
        assert_eq!(
            h.step().await.started,
            0,
            "nothing more is due within the same second"
        );
        h.advance(1);
    }
    let fires = fires_of(&h, "tick").await;
    let scheduled: Vec<_> = fires.iter().map(|f| f.scheduled_at).collect();
    let expected: Vec<_> = (0..5)
        .map(|s| (t0() + TimeDelta::seconds(s)).timestamp_millis())
        .collect();
    assert_eq!(scheduled, expected);
    for f in &fires {
        assert_eq!(f.status, "succeeded");
        assert_eq!(
            f.started_at,
            Some(f.scheduled_at),
            "the manual clock started each on time"
        );
        assert!(f.finished_at.is_some());
        assert_eq!(f.node_id.as_deref(), Some("node-a"));
    }
}

#[tokio::test]
async fn one_off_scheduled_while_no_node_runs_fires_once_later() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    h.client
        .create_job_def(&JobDef::new("report", "noop"), None)
        .await
        .unwrap();
    let trigger = h
        .client
        .schedule_in("report", Duration::from_secs(10), Some(json!({"n": 7})))
        .await
        .unwrap();
    assert_eq!(
        trigger.next_fire_at,
        Some((t0() + TimeDelta::seconds(10)).timestamp_millis())
    );
    // No pass runs until much later: the node "starts" five minutes on.
    h.advance(300);
    assert_eq!(h.step_and_settle().await.started, 1);
    assert_eq!(h.step().await.started, 0, "a one-off fires once");
    let fires = fires_of(&h, "report").await;
    assert_eq!(fires.len(), 1);
    assert_eq!(
        fires[0].scheduled_at,
        trigger.next_fire_at.unwrap(),
        "keeps its scheduled instant"
    );
    assert_eq!(fires[0].status, "succeeded");
    assert_eq!(fires[0].data, Some(json!({"n": 7})));
    let t = h.store.trigger_by_id(trigger.id).await.unwrap().unwrap();
    assert_eq!(t.state, "complete");
    assert_eq!(t.next_fire_at, None);
}

#[tokio::test]
async fn a_pass_leases_no_more_than_the_free_slots() {
    let db = sqlite();
    let gate = Arc::new(Semaphore::new(0));
    let mut registry = JobRegistry::with_builtins();
    registry.register(Arc::new(Gate(gate.clone())));
    let mut h = Harness::with(&db.url, "node-a", 2, registry).await;
    h.client
        .create_job_def(&JobDef::new("slow", "gate"), None)
        .await
        .unwrap();
    for _ in 0..5 {
        h.client.trigger_now("slow", None).await.unwrap();
    }
    let pass = h.step().await;
    assert_eq!((pass.leased, pass.started), (2, 2));
    assert!(pass.full);
    assert_eq!(h.step().await.leased, 0, "no free slot, nothing leased");
    gate.add_permits(2);
    h.completions(2).await;
    assert_eq!(h.step().await.started, 2);
    gate.add_permits(3);
    h.completions(2).await;
    assert_eq!(h.step().await.started, 1);
    h.completions(1).await;
    let fires = fires_of(&h, "slow").await;
    assert_eq!(fires.len(), 5);
    assert!(fires.iter().all(|f| f.status == "succeeded"));
}

#[tokio::test]
async fn higher_priority_fires_first_when_slots_are_short() {
    let db = sqlite();
    let mut h = Harness::with(&db.url, "node-a", 1, JobRegistry::with_builtins()).await;
    let mut low = JobDef::new("low", "noop");
    low.priority = 1;
    let mut high = JobDef::new("high", "noop");
    high.priority = 5;
    h.client.create_job_def(&low, None).await.unwrap();
    h.client.create_job_def(&high, None).await.unwrap();
    h.client
        .schedule_at("low", t0() - TimeDelta::seconds(5), None)
        .await
        .unwrap();
    h.client.schedule_at("high", t0(), None).await.unwrap();
    h.step_and_settle().await;
    assert_eq!(
        fires_of(&h, "high").await.len(),
        1,
        "the higher priority went first"
    );
    assert_eq!(fires_of(&h, "low").await.len(), 0);
    h.step_and_settle().await;
    assert_eq!(fires_of(&h, "low").await.len(), 1);
}

#[tokio::test]
async fn a_paused_job_does_not_fire_and_resumes_on_schedule() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    h.client
        .create_job_def(
            &JobDef::new("tick", "noop"),
            Some(&cron_trigger("*/10 * * * * ?")),
        )
        .await
        .unwrap();
    h.step_and_settle().await; // t0
    assert!(h.client.pause("tick").await.unwrap());
    assert!(
        !h.client.pause("tick").await.unwrap(),
        "pausing twice changes nothing"
    );
    h.advance(10);
    assert_eq!(h.step().await.started, 0, "paused: the due fire waits");
    assert!(h.client.resume("tick").await.unwrap());
    h.advance(5); // t0+15: the t0+10 fire is 5 s late, within the threshold
    assert_eq!(h.step_and_settle().await.started, 1);
    let scheduled: Vec<_> = fires_of(&h, "tick")
        .await
        .iter()
        .map(|f| f.scheduled_at)
        .collect();
    assert_eq!(
        scheduled,
        vec![
            t0().timestamp_millis(),
            (t0() + TimeDelta::seconds(10)).timestamp_millis()
        ]
    );
}

#[tokio::test]
async fn after_an_outage_a_cron_trigger_fires_once_and_records_what_it_skipped() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    h.client
        .create_job_def(
            &JobDef::new("tick", "noop"),
            Some(&cron_trigger("* * * * * ?")),
        )
        .await
        .unwrap();
    h.step_and_settle().await; // t0 fires
    h.advance(300); // down for five minutes
    let pass = h.step_and_settle().await;
    assert_eq!(pass.started, 1, "smart = fire once now");
    let fires = fires_of(&h, "tick").await;
    let ran: Vec<_> = fires.iter().filter(|f| f.status == "succeeded").collect();
    assert_eq!(ran.len(), 2);
    assert_eq!(
        ran[1].scheduled_at,
        (t0() + TimeDelta::seconds(300)).timestamp_millis(),
        "the most recent missed instant runs"
    );
    let skipped: Vec<_> = fires.iter().filter(|f| f.status == "skipped").collect();
    assert_eq!(
        skipped.len(),
        cosched::schedule::misfire::MAX_SKIPPED_RECORDS
    );
    assert!(
        skipped
            .iter()
            .all(|f| f.reason.as_deref().unwrap_or("").contains("misfired"))
    );
    assert!(
        skipped[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("199 earlier missed fires not recorded"),
        "{:?}",
        skipped[0].reason
    );
    // The next fire is the first instant after now.
    h.advance(1);
    assert_eq!(h.step_and_settle().await.started, 1);
}

#[tokio::test]
async fn a_malformed_trigger_row_goes_to_error_and_the_pass_goes_on() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let job = h
        .client
        .create_job_def(&JobDef::new("ok", "noop"), None)
        .await
        .unwrap();
    h.client.trigger_now("ok", None).await.unwrap();
    // A producer writing plain SQL names a time zone that does not exist.
    let now = t0().timestamp_millis();
    h.db.execute_unprepared(&format!(
            "INSERT INTO triggers (job_id, kind, cron_expr, timezone, start_at, next_fire_at, created_at, updated_at) \
             VALUES ({}, 'cron', '0 * * * * ?', 'Mars/Olympus', {now}, {now}, {now}, {now})",
            job.id
        ))
        .await
        .unwrap();
    let pass = h.step_and_settle().await;
    assert_eq!(pass.started, 1, "the good trigger still fired");
    // The row does not decode, so listings leave it out; read it by SQL.
    let bad = entity::triggers::Entity::find()
        .filter(entity::triggers::Column::JobId.eq(job.id))
        .filter(entity::triggers::Column::Kind.eq("cron"))
        .one(&h.db)
        .await
        .unwrap()
        .expect("the malformed trigger");
    assert_eq!(bad.state, "error");
    assert!(
        bad.error.as_deref().unwrap().contains("Mars/Olympus"),
        "{:?}",
        bad.error
    );
    assert_eq!(
        h.step().await.leased,
        0,
        "an errored trigger is not leased again"
    );
}

#[tokio::test]
async fn an_unknown_job_kind_fails_the_fire_with_a_clear_error() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let job = h
        .client
        .create_job_def(&JobDef::new("alien", "noop"), None)
        .await
        .unwrap();
    h.db.execute_unprepared(&format!(
        "UPDATE jobs SET kind = 'teleport' WHERE id = {}",
        job.id
    ))
    .await
    .unwrap();
    h.client.trigger_now("alien", None).await.unwrap();
    h.step_and_settle().await;
    let fires = fires_of(&h, "alien").await;
    assert_eq!(fires[0].status, FireStatus::Failed.as_str());
    assert!(
        fires[0]
            .error
            .as_deref()
            .unwrap()
            .contains("`teleport` is not registered")
    );
}

#[tokio::test]
async fn on_time_fires_go_before_misfired_ones_of_the_same_priority() {
    let db = sqlite();
    let mut h = Harness::with(&db.url, "node-a", 1, JobRegistry::with_builtins()).await;
    h.client
        .create_job_def(&JobDef::new("late", "noop"), None)
        .await
        .unwrap();
    h.client
        .create_job_def(&JobDef::new("on-time", "noop"), None)
        .await
        .unwrap();
    h.client
        .schedule_at("late", t0() - TimeDelta::minutes(10), None)
        .await
        .unwrap();
    h.client.schedule_at("on-time", t0(), None).await.unwrap();
    h.step_and_settle().await;
    assert_eq!(
        fires_of(&h, "on-time").await.len(),
        1,
        "the on-time fire went first"
    );
    assert_eq!(fires_of(&h, "late").await.len(), 0);
    h.step_and_settle().await;
    assert_eq!(
        fires_of(&h, "late").await.len(),
        1,
        "then the late one, by its policy"
    );
}

#[tokio::test]
async fn a_one_off_inserted_with_the_readme_plain_sql_fires() {
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    h.client
        .create_job_def(&JobDef::new("cleanup", "noop"), None)
        .await
        .unwrap();
    let readme = include_str!("../../README.md");
    let readme = &readme[readme
        .find("## From any language")
        .expect("README has the section")..];
    let start = readme.find("```sql\n").expect("README has the SQL example") + "```sql\n".len();
    let sql = &readme[start..start + readme[start..].find("```").unwrap()];
    // The statement as the README shows it, with the values it names.
    use cosched::Clock;
    let (sql, values) = crate::contract::bind(
        sql.trim().trim_end_matches(';'),
        &[
            ("job", "cleanup".into()),
            ("at_ms", 1796083200000_i64.into()),
            ("data", sea_orm::Value::String(None)),
            ("key", sea_orm::Value::String(None)),
            ("now_ms", h.clock.now_ms().into()),
        ],
    );
    let rows =
        h.db.query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            sql,
            values,
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the statement returns the trigger id");
    h.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .into(),
    );
    assert_eq!(h.step_and_settle().await.started, 1);
    let fires = fires_of(&h, "cleanup").await;
    assert_eq!(fires[0].scheduled_at, 1796083200000);
    assert_eq!(fires[0].status, "succeeded");
}
