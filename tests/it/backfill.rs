//! Backfill on both backends with a stepped node: the instants of a past
//! window become queued fires that actually run, a second backfill creates
//! nothing, calendars and the overlap policy apply, and bad requests
//! (unknown job, empty or too large window) change nothing.

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use cosched::ClientError;
use cosched::client::backfill::Backfill;
use cosched::model::{FireStatus, JobDef, OverlapPolicy};
use cosched::schedule::calendar::CalendarDef;
use cosched::store::StoreError;

use crate::config::cosched;
use crate::scheduling::{cron_trigger, fires_of};
use crate::support::{Harness, backends, sqlite, t0};

fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> Backfill {
    Backfill {
        from,
        to,
        max: 1000,
        dry_run: false,
    }
}

fn backfilled(fires: &[cosched::model::Fire]) -> Vec<&cosched::model::Fire> {
    fires
        .iter()
        .filter(|f| {
            f.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("backfill"))
        })
        .collect()
}

#[tokio::test]
async fn a_backfill_queues_the_missed_instants_once_and_they_run() {
    for db in backends().await {
        let mut h = Harness::new(&db.url).await;
        h.client
            .create_job_def(
                &JobDef::new("hourly", "noop"),
                Some(&cron_trigger("0 0 * * * ?")),
            )
            .await
            .unwrap();
        let w = window(t0() - TimeDelta::hours(5), t0());
        let mut dry = w.clone();
        dry.dry_run = true;
        let r = h.client.backfill("hourly", &dry).await.unwrap();
        assert_eq!(r.created.len(), 5, "{}", db.backend);
        assert!(
            fires_of(&h, "hourly").await.is_empty(),
            "a dry run writes nothing"
        );

        let r = h.client.backfill("hourly", &w).await.unwrap();
        assert_eq!(r.created.len(), 5, "{}", db.backend);
        assert!(r.created.iter().all(|c| c.status == FireStatus::Queued));
        let again = h.client.backfill("hourly", &w).await.unwrap();
        assert_eq!(
            (again.created.len(), again.present.len()),
            (0, 5),
            "idempotent"
        );

        // The stepped node runs them (and the trigger's own fire at t0).
        h.step_and_settle().await;
        let fires = fires_of(&h, "hourly").await;
        let done = backfilled(&fires);
        assert_eq!(done.len(), 5, "{}", db.backend);
        assert!(
            done.iter().all(|f| f.status == FireStatus::Succeeded),
            "{done:?}"
        );
        let instants: Vec<i64> = done.iter().map(|f| f.scheduled_at).collect();
        let expected: Vec<i64> = (1..=5)
            .rev()
            .map(|h| (t0() - TimeDelta::hours(h)).timestamp_millis())
            .collect();
        assert_eq!(instants, expected);
        let third = h.client.backfill("hourly", &w).await.unwrap();
        assert!(third.created.is_empty(), "run fires count as present");
    }
}

#[tokio::test]
async fn calendars_exclude_and_overlap_skip_applies() {
    for db in backends().await {
        let h = Harness::new(&db.url).await;
        let weekends: CalendarDef = serde_json::from_str(
            r#"{"name": "weekends", "timezone": "UTC", "days_of_week": ["sat", "sun"]}"#,
        )
        .unwrap();
        h.client.set_calendar(&weekends).await.unwrap();
        let mut trigger = cron_trigger("0 0 9 * * ?");
        trigger.calendars = vec!["weekends".into()];
        h.client
            .create_job_def(&JobDef::new("daily", "noop"), Some(&trigger))
            .await
            .unwrap();
        // Monday 2026-02-23 to Monday 2026-03-02: five weekdays.
        let from = Utc.with_ymd_and_hms(2026, 2, 23, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let r = h.client.backfill("daily", &window(from, to)).await.unwrap();
        let days: Vec<String> = r
            .created
            .iter()
            .map(|c| {
                cosched::clock::from_ms(c.scheduled_at)
                    .format("%a")
                    .to_string()
            })
            .collect();
        assert_eq!(days, ["Mon", "Tue", "Wed", "Thu", "Fri"], "{}", db.backend);

        let mut skip = JobDef::new("single", "noop");
        skip.overlap = OverlapPolicy::Skip;
        h.client
            .create_job_def(&skip, Some(&cron_trigger("0 0 * * * ?")))
            .await
            .unwrap();
        let r = h
            .client
            .backfill("single", &window(t0() - TimeDelta::hours(3), t0()))
            .await
            .unwrap();
        let statuses: Vec<FireStatus> = r.created.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [FireStatus::Queued, FireStatus::Skipped, FireStatus::Skipped],
            "{}",
            db.backend
        );
        assert!(
            r.created[1]
                .reason
                .as_deref()
                .unwrap()
                .contains("policy skip")
        );
    }
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    for db in backends().await {
        let h = Harness::new(&db.url).await;
        h.client
            .create_job_def(
                &JobDef::new("hourly", "noop"),
                Some(&cron_trigger("0 0 * * * ?")),
            )
            .await
            .unwrap();
        let e = h
            .client
            .backfill("nope", &window(t0() - TimeDelta::hours(2), t0()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ClientError::Store(StoreError::NotFound { .. })),
            "{e:?}"
        );
        let e = h
            .client
            .backfill("hourly", &window(t0(), t0()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("must be before"), "{e}");
        let mut big = window(t0() - TimeDelta::hours(5), t0());
        big.max = 2;
        let e = h.client.backfill("hourly", &big).await.unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        assert!(fires_of(&h, "hourly").await.is_empty(), "{}", db.backend);
    }
}

#[tokio::test]
async fn the_command_exits_2_for_an_unknown_job_and_prints_what_it_created() {
    let db = sqlite();
    let h = Harness::new(&db.url).await;
    h.client
        .create_job_def(
            &JobDef::new("hourly", "noop"),
            Some(&cron_trigger("0 0 * * * ?")),
        )
        .await
        .unwrap();
    let from = (t0() - TimeDelta::hours(2)).to_rfc3339();
    let to = t0().to_rfc3339();
    let out = cosched(&[
        "backfill",
        "nope",
        "--from",
        &from,
        "--to",
        &to,
        "--database",
        &db.url,
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = cosched(&[
        "backfill",
        "hourly",
        "--from",
        &from,
        "--to",
        &to,
        "--json",
        "--database",
        &db.url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["created"].as_array().unwrap().len(), 2, "{v}");
    let out = cosched(&[
        "backfill",
        "hourly",
        "--from",
        &to,
        "--to",
        &from,
        "--database",
        &db.url,
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
