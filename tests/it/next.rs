//! Previews: `cosched next` for every schedule kind and for a stored job,
//! `GET /jobs/{name}/next`, and a property: a job's preview is exactly the
//! instants a stepped node records (cron and interval schedules, with a
//! calendar, in Europe/Berlin across its spring-forward night).

use chrono::{DateTime, TimeZone, Utc};
use cosched::Client;
use cosched::declare::{JobDecl, ScheduleDecl};
use cosched::model::FireStatus;
use cosched::schedule::calendar::CalendarDef;
use cosched::store::FireFilter;
use cosched::testing::TestNode;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::config::cosched;
use crate::http::{Running, get};
use crate::support::{self, sqlite};

fn json_of(args: &[&str]) -> Value {
    let out = cosched(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn next_previews_every_schedule_kind() {
    let every = json_of(&[
        "next",
        "--every",
        "90m",
        "--start",
        "2026-03-06T00:00:00Z",
        "-n",
        "3",
        "--json",
    ]);
    assert_eq!(
        every,
        json!([
            "2026-03-06T00:00:00+00:00",
            "2026-03-06T01:30:00+00:00",
            "2026-03-06T03:00:00+00:00"
        ])
    );
    // Monthly at 10:00 in Berlin: 09:00Z in winter, 08:00Z from April.
    let monthly = json_of(&[
        "next",
        "--calendar-interval",
        "1 month",
        "--start",
        "2026-01-15T09:00:00Z",
        "--zone",
        "Europe/Berlin",
        "-n",
        "4",
        "--json",
    ]);
    assert_eq!(
        monthly,
        json!([
            "2026-01-15T09:00:00+00:00",
            "2026-02-15T09:00:00+00:00",
            "2026-03-15T09:00:00+00:00",
            "2026-04-15T08:00:00+00:00"
        ])
    );
    // Friday 2026-03-06, then Monday.
    let daily = json_of(&[
        "next",
        "--daily",
        "every 4 hour from 09:00 to 16:00 on mon-fri",
        "--start",
        "2026-03-06T00:00:00Z",
        "-n",
        "4",
        "--json",
    ]);
    assert_eq!(
        daily,
        json!([
            "2026-03-06T09:00:00+00:00",
            "2026-03-06T13:00:00+00:00",
            "2026-03-09T09:00:00+00:00",
            "2026-03-09T13:00:00+00:00"
        ])
    );
    let table = json_of(&[
        "next",
        "--daily",
        r#"{ every = 4, unit = "hour", from = "09:00", to = "16:00", days = ["mon"] }"#,
        "--start",
        "2026-03-06T00:00:00Z",
        "-n",
        "1",
        "--json",
    ]);
    assert_eq!(table, json!(["2026-03-09T09:00:00+00:00"]));
    // The repeat count ends an interval.
    let repeat = json_of(&[
        "next",
        "--every",
        "1h",
        "--start",
        "2026-03-06T00:00:00Z",
        "--repeat",
        "1",
        "-n",
        "5",
        "--json",
    ]);
    assert_eq!(repeat.as_array().map(Vec::len), Some(2));
    // And a daily interval, whose schedule does not stop by itself: the
    // fire limit the scheduler enforces ends the preview too.
    let daily_repeat = json_of(&[
        "next",
        "--daily",
        "every 1 hour from 09:00 to 17:00",
        "--start",
        "2026-03-06T00:00:00Z",
        "--repeat",
        "2",
        "-n",
        "10",
        "--json",
    ]);
    assert_eq!(
        daily_repeat,
        json!([
            "2026-03-06T09:00:00+00:00",
            "2026-03-06T10:00:00+00:00",
            "2026-03-06T11:00:00+00:00"
        ])
    );
}

#[test]
fn bad_preview_flags_exit_2_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["next", "--every", "banana"], "--every"),
        (
            &["next", "--every", "1h", "--start", "yesterday"],
            "--start",
        ),
        (
            &["next", "--calendar-interval", "one month"],
            "--calendar-interval",
        ),
        (
            &["next", "--calendar-interval", "1 fortnight"],
            "--calendar-interval",
        ),
        (&["next", "--daily", "every 15"], "--daily"),
        (&["next", "--daily", "every 0 minute"], "--daily"),
        (
            &["next", "--daily", "every 15 minute on mon-funday"],
            "--daily",
        ),
        (&["next", "--daily", "{ every = 15 "], "--daily"),
        (
            &["next", "--every", "1h", "--zone", "Mars/Olympus"],
            "time zone",
        ),
        (
            &["next", "0 0 * * * ?", "--every", "1h"],
            "cannot be used with",
        ),
        (&["next"], "required"),
    ];
    for (args, text) in cases {
        let out = cosched(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(text),
            "{args:?}: expected `{text}` in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

fn hourly_from(start: &str) -> JobDecl {
    JobDecl {
        name: "hourly".into(),
        kind: "noop".into(),
        paused: Some(true),
        schedule: Some(ScheduleDecl {
            every: Some("1h".into()),
            start: Some(start.into()),
            repeat: Some(3),
            ..ScheduleDecl::default()
        }),
        ..JobDecl::default()
    }
}

#[tokio::test]
async fn a_stored_job_previews_on_the_cli_and_over_http() {
    let db = sqlite();
    let client = support::migrated_client(&db.url).await;
    client
        .create_job(&hourly_from("2030-01-01T00:00:00Z"))
        .await
        .unwrap();
    // A one-off of the same job merges in order.
    let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 30, 0).unwrap();
    let once = client.schedule_at("hourly", at, None).await.unwrap();
    let want = [
        "2030-01-01T00:00:00+00:00",
        "2030-01-01T00:30:00+00:00",
        "2030-01-01T01:00:00+00:00",
        "2030-01-01T02:00:00+00:00",
        "2030-01-01T03:00:00+00:00",
    ];
    let url = db.url.clone();
    let cli = tokio::task::spawn_blocking(move || {
        json_of(&[
            "next",
            "--job",
            "hourly",
            "--database",
            &url,
            "-n",
            "10",
            "--json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(cli["paused"], true, "{cli}");
    let at: Vec<&str> = cli["fires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["at"].as_str().unwrap())
        .collect();
    assert_eq!(at, want, "the repeat count ends it after 4 fires: {cli}");
    assert_eq!(cli["fires"][1]["trigger_id"], once.id);

    let node = Running::start_full(&db.url, "pools = [\"elsewhere\"]", "", "").await;
    let r = get(node.addr, "/jobs/hourly/next?n=2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let http = r.json();
    assert_eq!(http["fires"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        http["fires"],
        Value::Array(cli["fires"].as_array().unwrap()[..2].to_vec())
    );
    get(node.addr, "/jobs/hourly/next?n=0").await.error(400);
    get(node.addr, "/jobs/nope/next").await.error(404);
    node.stop().await;

    let url = db.url.clone();
    let text = tokio::task::spawn_blocking(move || {
        cosched(&["next", "--job", "hourly", "--database", &url])
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("is paused"), "{stdout}");
}

/// 2026-03-27T12:00Z, a Friday: the weekend ahead holds Berlin's
/// spring-forward night (2026-03-29 02:00 → 03:00); the calendar excludes
/// the Saturday before it.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 27, 12, 0, 0).unwrap()
}

/// The job's first `n` previewed instants (calendar-excluded ones left
/// out), then what a node stepped to each trigger's next fire recorded.
async fn preview_and_step(url: &str, schedule: ScheduleDecl, n: usize) -> (Vec<i64>, Vec<i64>) {
    let mut node = TestNode::builder(url)
        .start_at(start())
        .start()
        .await
        .expect("a stepped node");
    let client: &Client = &node.client;
    let def: CalendarDef = serde_json::from_value(json!({
        "name": "saturdays", "timezone": "Europe/Berlin", "days_of_week": ["sat"]
    }))
    .unwrap();
    client.set_calendar(&def).await.unwrap();
    let decl = JobDecl {
        name: "p".into(),
        kind: "noop".into(),
        schedule: Some(schedule),
        ..JobDecl::default()
    };
    client.create_job(&decl).await.unwrap();
    let preview: Vec<i64> = client
        .job_preview("p", n)
        .await
        .unwrap()
        .fires
        .iter()
        .filter(|f| f.fire.excluded_by.is_none())
        .map(|f| f.at().timestamp_millis())
        .collect();
    for _ in 0..n {
        let job = node.client.job("p").await.unwrap();
        let Some(next) = job.triggers.iter().filter_map(|t| t.next_fire_at).min() else {
            break;
        };
        node.clock.set(cosched::clock::from_ms(next));
        node.step_and_settle().await.unwrap();
    }
    let filter = FireFilter {
        job: Some("p".into()),
        status: None,
        limit: None,
    };
    let mut fires = node.client.fires(&filter).await.unwrap();
    fires.sort_by_key(|f| (f.scheduled_at, f.id));
    let fired: Vec<i64> = fires
        .iter()
        .filter(|f| f.status != FireStatus::Skipped)
        .map(|f| f.scheduled_at)
        .take(n)
        .collect();
    (preview, fired)
}

fn berlin(schedule: ScheduleDecl) -> ScheduleDecl {
    ScheduleDecl {
        calendars: Some(vec!["saturdays".into()]),
        ..schedule
    }
}

fn cron(expr: &str) -> ScheduleDecl {
    berlin(ScheduleDecl {
        cron: Some(expr.into()),
        timezone: Some("Europe/Berlin".into()),
        ..ScheduleDecl::default()
    })
}

fn every(minutes: u32) -> ScheduleDecl {
    berlin(ScheduleDecl {
        every: Some(format!("{minutes}m")),
        start: Some(start().to_rfc3339()),
        ..ScheduleDecl::default()
    })
}

fn schedules() -> impl Strategy<Value = ScheduleDecl> {
    prop_oneof![
        // Fixed wall times, one of them inside the spring-forward gap.
        (0u32..24, prop::sample::select(vec![0u32, 15, 30, 45]))
            .prop_map(|(h, m)| cron(&format!("0 {m} {h} * * ?"))),
        // Periodic: every N hours at a minute.
        (1u32..9, 0u32..60).prop_map(|(h, m)| cron(&format!("0 {m} */{h} * * ?"))),
        (97u32..1500).prop_map(every),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn a_preview_is_what_a_stepped_node_records(schedule in schedules()) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let db = sqlite();
        let (preview, fired) = rt.block_on(preview_and_step(&db.url, schedule.clone(), 8));
        prop_assert_eq!(preview.len(), 8, "{:?}", schedule);
        prop_assert_eq!(preview, fired, "{:?}", schedule);
    }
}

#[tokio::test]
async fn a_preview_is_what_a_stepped_node_records_on_postgres_too() {
    for db in support::backends().await {
        let (preview, fired) = preview_and_step(&db.url, cron("0 30 2 * * ?"), 4).await;
        // Fri 27 02:30 has passed, Sat 28 is excluded, Sun 29 02:30 is in
        // the gap (fired at the transition, 03:00 CEST), then 02:30 CEST.
        let t = |m, d, h, min| {
            Utc.with_ymd_and_hms(2026, m, d, h, min, 0)
                .unwrap()
                .timestamp_millis()
        };
        assert_eq!(
            preview,
            [
                t(3, 29, 1, 0),
                t(3, 30, 0, 30),
                t(3, 31, 0, 30),
                t(4, 1, 0, 30)
            ],
            "{}",
            db.backend
        );
        assert_eq!(preview, fired, "{}", db.backend);
    }
}
