//! Calendar-interval and daily-time-interval triggers, and exclusion
//! calendars, end to end: declared in TOML (or through the API), stored,
//! leased and fired by a node stepped with a manual clock.

use chrono::{DateTime, Utc};
use cosched::model::{JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::schedule::cron::{CronExpr, Dialect};
use cosched::store::FireFilter;
use cosched::{Clock, JobRegistry, config};

use crate::support::{Harness, backends};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid instant")
        .with_timezone(&Utc)
}

async fn reconcile(h: &Harness, text: &str) {
    let cfg =
        config::parse(text, "jobs.toml", &JobRegistry::with_builtins()).expect("valid config");
    h.store
        .reconcile_config(&cfg.jobs, &cfg.calendars, h.clock.now_ms())
        .await
        .expect("reconcile");
}

/// The scheduled instants of a job's fires with this status (None: any),
/// oldest first.
async fn fires(h: &Harness, job: &str, status: Option<&str>) -> Vec<DateTime<Utc>> {
    let mut rows = h
        .client
        .fires(&FireFilter {
            job: Some(job.to_string()),
            status: None,
            limit: None,
        })
        .await
        .expect("fires");
    rows.retain(|f| status.is_none_or(|s| f.status == s));
    let mut at: Vec<DateTime<Utc>> = rows
        .iter()
        .map(|f| cosched::clock::from_ms(f.scheduled_at))
        .collect();
    at.sort();
    at
}

async fn step_at(h: &mut Harness, at: &str) -> usize {
    h.clock.set(utc(at));
    h.step_and_settle().await.started
}

async fn trigger_of(h: &Harness, job: &str) -> cosched::model::Trigger {
    h.client
        .job(job)
        .await
        .expect("job")
        .triggers
        .into_iter()
        .next()
        .expect("a trigger")
}

#[tokio::test]
async fn daily_time_interval_fires_in_its_window_and_stops_at_its_repeat_count() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await; // t0: Monday 2026-03-02 10:00 UTC
        reconcile(
            &h,
            r#"
[[job]]
name = "window"
kind = "noop"
daily = { every = 30, unit = "minute", from = "10:00", to = "11:00", days = ["mon"] }
timezone = "UTC"

[[job]]
name = "limited"
kind = "noop"
daily = { every = 30, unit = "minute", from = "10:00", to = "11:00" }
repeat = 1
"#,
        )
        .await;
        assert_eq!(
            step_at(&mut h, "2026-03-02T10:00:00Z").await,
            2,
            "{}",
            db.backend
        );
        assert_eq!(step_at(&mut h, "2026-03-02T10:29:59Z").await, 0);
        assert_eq!(step_at(&mut h, "2026-03-02T10:30:00Z").await, 2);
        assert_eq!(step_at(&mut h, "2026-03-02T11:00:00Z").await, 1);
        assert_eq!(step_at(&mut h, "2026-03-02T11:30:00Z").await, 0);
        assert_eq!(step_at(&mut h, "2026-03-03T10:00:00Z").await, 0); // Tuesday
        assert_eq!(step_at(&mut h, "2026-03-09T10:00:00Z").await, 1); // next Monday
        assert_eq!(
            fires(&h, "window", Some("succeeded")).await,
            [
                utc("2026-03-02T10:00:00Z"),
                utc("2026-03-02T10:30:00Z"),
                utc("2026-03-02T11:00:00Z"),
                utc("2026-03-09T10:00:00Z"),
            ]
        );
        // repeat = 1: the first fire and one more, then complete.
        assert_eq!(
            fires(&h, "limited", None).await,
            [utc("2026-03-02T10:00:00Z"), utc("2026-03-02T10:30:00Z")]
        );
        let limited = trigger_of(&h, "limited").await;
        assert_eq!(limited.state, "complete", "{}", db.backend);
        assert_eq!(limited.next_fire_at, None);
        assert_eq!(limited.times_fired, 2);
    }
}

#[tokio::test]
async fn calendar_interval_keeps_the_wall_clock_time_across_dst() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await;
        reconcile(
            &h,
            r#"
[[job]]
name = "nine-berlin"
kind = "noop"
calendar_interval = { every = 1, unit = "day" }
start = 2026-03-28T09:00:00+01:00
timezone = "Europe/Berlin"
"#,
        )
        .await;
        let t = trigger_of(&h, "nine-berlin").await;
        assert_eq!(t.spec.kind(), "calendar_interval");
        assert_eq!(
            t.next_fire_at,
            Some(utc("2026-03-28T08:00:00Z").timestamp_millis())
        );
        assert_eq!(
            step_at(&mut h, "2026-03-28T08:00:00Z").await,
            1,
            "{}",
            db.backend
        );
        // Berlin springs forward on 2026-03-29: 09:00 is 07:00 UTC from then on.
        assert_eq!(step_at(&mut h, "2026-03-29T06:59:59Z").await, 0);
        assert_eq!(step_at(&mut h, "2026-03-29T07:00:00Z").await, 1);
        assert_eq!(step_at(&mut h, "2026-03-30T07:00:00Z").await, 1);
        assert_eq!(
            fires(&h, "nine-berlin", Some("succeeded")).await,
            [
                utc("2026-03-28T08:00:00Z"),
                utc("2026-03-29T07:00:00Z"),
                utc("2026-03-30T07:00:00Z"),
            ]
        );
    }
}

#[tokio::test]
async fn cron_with_a_holiday_calendar_skips_the_holiday() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await; // Monday 10:00 UTC
        reconcile(
            &h,
            r#"
[[calendar]]
name = "holidays"
timezone = "UTC"
dates = [2026-03-03]

[[job]]
name = "noon"
kind = "noop"
cron = "0 0 12 * * ?"
calendars = ["holidays"]

[[job]]
name = "nine"
kind = "noop"
cron = "0 0 9 * * ?"
calendars = ["holidays"]
"#,
        )
        .await;
        // The first fire computed at insert already skips the holiday.
        assert_eq!(
            trigger_of(&h, "nine").await.next_fire_at,
            Some(utc("2026-03-04T09:00:00Z").timestamp_millis()),
            "{}",
            db.backend
        );
        assert_eq!(step_at(&mut h, "2026-03-02T12:00:00Z").await, 1);
        assert_eq!(
            trigger_of(&h, "noon").await.next_fire_at,
            Some(utc("2026-03-04T12:00:00Z").timestamp_millis())
        );
        assert_eq!(step_at(&mut h, "2026-03-03T12:00:00Z").await, 0);
        assert_eq!(step_at(&mut h, "2026-03-04T09:00:00Z").await, 1);
        assert_eq!(step_at(&mut h, "2026-03-04T12:00:00Z").await, 1);
        assert_eq!(
            fires(&h, "noon", None).await,
            [utc("2026-03-02T12:00:00Z"), utc("2026-03-04T12:00:00Z")]
        );
    }
}

/// A calendar definition from its JSON, as the API receives it.
fn calendar(json: &str) -> cosched::schedule::calendar::CalendarDef {
    serde_json::from_str(json).expect("a calendar definition")
}

#[tokio::test]
async fn api_calendars_changed_or_deleted_after_scheduling() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await;
        let store = h.store.clone();
        let err = store
            .calendar_upsert(&calendar(r#"{"name": "x", "dates": ["2026-02-30"]}"#), 0)
            .await
            .expect_err("invalid date");
        assert!(err.to_string().contains("dates[0]"), "{err}");
        store
            .calendar_upsert(&calendar(r#"{"name": "api-days", "dates": []}"#), 0)
            .await
            .expect("created");
        let mut trigger = TriggerDef::new(ScheduleSpec::Cron {
            expr: CronExpr::parse("0 0 12 * * ?", Dialect::Quartz).expect("valid"),
            tz: chrono_tz::UTC,
            dst: Default::default(),
        });
        trigger.calendars = vec!["api-days".to_string()];
        h.client
            .create_job_def(&JobDef::new("api-job", "noop"), Some(&trigger))
            .await
            .expect("job");
        // Naming a calendar that does not exist is refused at once.
        trigger.calendars = vec!["nope".to_string()];
        let err = h
            .client
            .create_job_def(&JobDef::new("api-job-2", "noop"), Some(&trigger))
            .await
            .expect_err("unknown calendar");
        assert!(
            err.to_string().contains("calendar `nope` does not exist"),
            "{err}"
        );

        // A holiday added after the next fire was computed moves it at once.
        let row = store
            .calendar_upsert(
                &calendar(r#"{"name": "api-days", "dates": ["2026-03-02"]}"#),
                1,
            )
            .await
            .expect("replaced");
        assert_eq!(row.source, "api");
        assert_eq!(
            trigger_of(&h, "api-job").await.next_fire_at,
            Some(utc("2026-03-03T12:00:00Z").timestamp_millis()),
            "{}",
            db.backend
        );
        assert_eq!(step_at(&mut h, "2026-03-02T12:00:00Z").await, 0);
        assert!(fires(&h, "api-job", None).await.is_empty());

        // A deleted calendar puts the trigger in error, with the reason.
        store.calendar_delete("api-days").await.expect("deleted");
        assert!(store.calendars_list().await.expect("list").is_empty());
        assert_eq!(step_at(&mut h, "2026-03-03T12:00:00Z").await, 0);
        let t = trigger_of(&h, "api-job").await;
        assert_eq!(t.state, "error");
        assert!(
            t.error
                .as_deref()
                .is_some_and(|e| e.contains("calendar `api-days` does not exist")),
            "{:?}",
            t.error
        );
    }
}

#[tokio::test]
async fn a_calendar_set_through_the_client_excludes_fires_of_an_api_job() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await;
        let weekends: cosched::schedule::calendar::CalendarDef =
            serde_json::from_str(r#"{"name": "weekends", "days_of_week": ["sat", "sun"]}"#)
                .unwrap();
        h.client.set_calendar(&weekends).await.unwrap();
        let mut trigger = TriggerDef::new(ScheduleSpec::Cron {
            expr: CronExpr::parse("0 0 12 * * ?", Dialect::Quartz).unwrap(),
            tz: chrono_tz::UTC,
            dst: Default::default(),
        });
        trigger.calendars = vec!["weekends".into()];
        h.client
            .create_job_def(&JobDef::new("noon", "noop"), Some(&trigger))
            .await
            .unwrap();
        // 2026-03-06 is a Friday: Friday fires, the weekend is skipped.
        h.clock.set(utc("2026-03-06T00:00:00Z"));
        for day in ["2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09"] {
            step_at(&mut h, &format!("{day}T12:00:00Z")).await;
        }
        assert_eq!(
            fires(&h, "noon", Some("succeeded")).await,
            [
                utc("2026-03-02T12:00:00Z"),
                utc("2026-03-06T12:00:00Z"),
                utc("2026-03-09T12:00:00Z")
            ]
            .into_iter()
            .filter(|t| *t >= utc("2026-03-06T00:00:00Z"))
            .collect::<Vec<_>>(),
            "{}",
            db.backend
        );
        let names: Vec<String> = h
            .client
            .calendars()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["weekends"]);
        h.client.delete_calendar("weekends").await.unwrap();
        assert!(h.client.calendars().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_changed_calendar_moves_the_triggers_naming_it_at_once() {
    for db in backends().await {
        let b = db.backend;
        let mut h = Harness::new(&db.url).await; // Monday 2026-03-02 10:00 UTC
        let next = |h: &Harness| {
            let h = h.client.clone();
            async move { h.job("noon").await.expect("job").triggers[0].next_fire_at }
        };
        let at = |s: &str| Some(utc(s).timestamp_millis());
        h.client
            .set_calendar(&calendar(r#"{"name": "closed", "days_of_week": ["tue"]}"#))
            .await
            .unwrap();
        let mut trigger = TriggerDef::new(ScheduleSpec::Cron {
            expr: CronExpr::parse("0 0 12 * * ?", Dialect::Quartz).unwrap(),
            tz: chrono_tz::UTC,
            dst: Default::default(),
        });
        trigger.calendars = vec!["closed".into()];
        h.client
            .create_job_def(&JobDef::new("noon", "noop"), Some(&trigger))
            .await
            .unwrap();
        assert_eq!(step_at(&mut h, "2026-03-02T12:00:00Z").await, 1, "{b}");
        assert_eq!(next(&h).await, at("2026-03-04T12:00:00Z"), "{b}");

        // Tuesday allowed again: the earlier day is next, and fires.
        h.client
            .set_calendar(&calendar(r#"{"name": "closed", "days_of_week": ["sat"]}"#))
            .await
            .unwrap();
        assert_eq!(next(&h).await, at("2026-03-03T12:00:00Z"), "{b}");
        assert_eq!(step_at(&mut h, "2026-03-03T12:00:00Z").await, 1, "{b}");
        // Wednesday closed: strictly after Tuesday's fire, Thursday.
        h.client
            .set_calendar(&calendar(r#"{"name": "closed", "days_of_week": ["wed"]}"#))
            .await
            .unwrap();
        assert_eq!(next(&h).await, at("2026-03-05T12:00:00Z"), "{b}");
        assert_eq!(
            fires(&h, "noon", None).await,
            [utc("2026-03-02T12:00:00Z"), utc("2026-03-03T12:00:00Z")],
            "{b}"
        );

        // The file's calendars too, in the reconcile's transaction (now is
        // Tuesday 12:00: Wednesday 09:00 is first, unless excluded).
        let file = |days: &str| {
            format!(
                "[[calendar]]\nname = \"c\"\ndays_of_week = [{days}]\n\n\
                 [[job]]\nname = \"nine\"\nkind = \"noop\"\ncron = \"0 0 9 * * ?\"\ncalendars = [\"c\"]\n"
            )
        };
        reconcile(&h, &file("\"wed\"")).await;
        assert_eq!(
            trigger_of(&h, "nine").await.next_fire_at,
            at("2026-03-05T09:00:00Z"),
            "{b}"
        );
        reconcile(&h, &file("\"thu\"")).await;
        assert_eq!(
            trigger_of(&h, "nine").await.next_fire_at,
            at("2026-03-04T09:00:00Z"),
            "{b}"
        );
    }
}
