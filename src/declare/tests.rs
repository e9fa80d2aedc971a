use chrono_tz::Tz;
use serde_json::json;

use super::*;
use crate::schedule::{ScheduleSpec, TriggerKind};

fn check(body: serde_json::Value) -> Result<Validated, ValidationError> {
    let registry = JobRegistry::with_builtins();
    let calendars = vec!["holidays".to_string()];
    let decl: JobDecl = serde_json::from_value(body).expect("a declaration");
    validate(
        &decl,
        &ValidationContext {
            registry: &registry,
            default_timezone: Tz::Europe__Berlin,
            calendars: &calendars,
            door: Door::Api,
            http_policy: None,
        },
    )
}

fn paths(body: serde_json::Value) -> Vec<String> {
    check(body)
        .expect_err("invalid")
        .issues
        .into_iter()
        .map(|i| i.path)
        .collect()
}

#[test]
fn every_schedule_kind_is_accepted() {
    let kinds = [
        (
            json!({"cron": "0 0 6 * * ?", "dst_gap": "skip", "dst_fold": "both"}),
            TriggerKind::Cron,
        ),
        (
            json!({"every": "5m", "start": "2026-01-01T00:00:00Z", "repeat": 3}),
            TriggerKind::Interval,
        ),
        (json!({"at": "2026-12-01T09:00:00Z"}), TriggerKind::Once),
        (
            json!({"calendar_interval": {"every": 2, "unit": "months"}, "timezone": "America/New_York"}),
            TriggerKind::CalendarInterval,
        ),
        (
            json!({"daily": {"every": 30, "unit": "minute", "from": "09:00", "to": "17:00", "days": ["mon"]},
                   "calendars": ["holidays"], "misfire": {"catch_up": 3}}),
            TriggerKind::DailyTimeInterval,
        ),
    ];
    for (schedule, kind) in kinds {
        let v = check(json!({"name": "j", "kind": "noop", "schedule": schedule})).expect("valid");
        let trigger = v.trigger.expect("a trigger");
        assert_eq!(trigger.spec.kind(), kind);
    }
    let v = check(json!({"name": "j", "kind": "noop", "schedule": {"cron": "0 0 6 * * ?"}}))
        .expect("valid");
    match v.trigger.map(|t| t.spec) {
        Some(ScheduleSpec::Cron { tz, .. }) => assert_eq!(tz, Tz::Europe__Berlin),
        other => panic!("not a cron spec: {other:?}"),
    }
}

#[test]
fn problems_carry_the_path_of_their_field() {
    assert_eq!(
        paths(json!({"name": " ", "kind": "noop", "pool": "",
                     "retry": {"factor": 0.5, "jitter": 2.0, "max_attempts": 0},
                     "priority": 1_i64 << 40})),
        [
            "name",
            "pool",
            "priority",
            "retry.max_attempts",
            "retry.factor",
            "retry.jitter"
        ]
    );
    assert_eq!(
        paths(json!({"name": "j", "kind": "noop",
                     "schedule": {"daily": {"every": 0, "unit": "hour", "days": ["mon", "tuw"]}}})),
        ["schedule.daily.every", "schedule.daily.days[1]"]
    );
    assert_eq!(
        paths(
            json!({"name": "j", "kind": "noop", "schedule": {"every": "1h", "calendars": ["holiday"]}})
        ),
        ["schedule.calendars[0]"]
    );
    let e = check(json!({"name": "j", "kind": "noop", "schedule": {"cron": "0 0 25 * * ?"}}))
        .expect_err("invalid");
    assert_eq!(e.issues[0].column, Some(5));
}

#[test]
fn a_cron_expression_that_never_fires_is_refused() {
    let e = check(json!({"name": "j", "kind": "noop", "schedule": {"cron": "0 0 0 30 2 ?"}}))
        .expect_err("never fires");
    assert_eq!(e.issues[0].path, "schedule.cron");
    assert!(e.to_string().contains("never fires"), "{e}");
}

#[test]
fn an_empty_schedule_says_what_it_needs() {
    let e = check(json!({"name": "j", "kind": "noop", "schedule": {}})).expect_err("empty");
    assert!(e.to_string().contains("`schedule` needs one of"), "{e}");
    let e = check(json!({"name": "j", "kind": "noop", "schedule": {"timezone": "UTC"}}))
        .expect_err("no kind");
    assert_eq!(
        e.to_string(),
        "`timezone` applies to a `cron` or `calendar_interval` or `daily` schedule, and this job has no schedule"
    );
}
