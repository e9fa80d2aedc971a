use chrono::{DateTime, NaiveTime, Utc};

use super::*;
use crate::schedule::interval::{DaysOfWeek, IntervalUnit};
use crate::schedule::{ScheduleSpec, TriggerKind};

fn load(src: &str) -> Result<Config, ConfigError> {
    parse(src, "jobs.toml", &JobRegistry::with_builtins())
}

fn issue(src: &str) -> ConfigIssue {
    let err = load(src).expect_err("invalid");
    err.issues.into_iter().next().expect("one issue")
}

fn spec(config: &Config, job: &str) -> ScheduleSpec {
    config
        .jobs
        .iter()
        .find(|j| j.job.name == job)
        .and_then(|j| j.trigger.as_ref())
        .map(|t| t.spec.clone())
        .expect("job with a trigger")
}

const CALENDAR: &str = r#"
[scheduler]
timezone = "Europe/Berlin"

[[calendar]]
name = "holidays"
dates = [2026-12-25, "2026-12-26"]
days_of_week = ["sat", "SUNDAY"]
daily_range = { from = 22:00:00, to = "06:00" }
"#;

#[test]
fn calendar_interval_and_daily_schedules() {
    let config = load(&format!(
        r#"{CALENDAR}
[[job]]
name = "monthly"
kind = "noop"
calendar_interval = {{ every = 2, unit = "months", preserve_hour_of_day = true }}
start = 2026-01-31T06:00:00Z
timezone = "America/New_York"

[[job]]
name = "office"
kind = "noop"
daily = {{ every = 30, unit = "minute", from = "09:00", to = 17:30:00, days = ["mon", "fri"] }}
repeat = 5
calendars = ["holidays"]
"#
    ))
    .expect("valid");
    match spec(&config, "monthly") {
        ScheduleSpec::CalendarInterval {
            every,
            unit,
            tz,
            start,
            preserve_hour_of_day,
            skip_day_if_hour_does_not_exist,
            ..
        } => {
            assert_eq!((every, unit), (2, IntervalUnit::Month));
            assert_eq!(tz, chrono_tz::America::New_York);
            assert!(start.is_some());
            assert!(preserve_hour_of_day && !skip_day_if_hour_does_not_exist);
        }
        other => panic!("not a calendar interval: {other:?}"),
    }
    let office = spec(&config, "office");
    assert_eq!(office.kind(), TriggerKind::DailyTimeInterval);
    match office {
        ScheduleSpec::DailyTimeInterval {
            every,
            unit,
            tz,
            days,
            start_time,
            end_time,
            repeat,
            ..
        } => {
            assert_eq!((every, unit), (30, IntervalUnit::Minute));
            assert_eq!(tz, chrono_tz::Europe::Berlin); // the scheduler's
            assert_eq!(
                days,
                DaysOfWeek::from_weekdays([chrono::Weekday::Mon, chrono::Weekday::Fri])
            );
            assert_eq!(start_time, NaiveTime::from_hms_opt(9, 0, 0).expect("valid"));
            assert_eq!(end_time, NaiveTime::from_hms_opt(17, 30, 0).expect("valid"));
            assert_eq!(repeat, Some(5));
        }
        other => panic!("not a daily interval: {other:?}"),
    }
}

#[test]
fn calendars_are_stored_as_definitions_with_their_zone() {
    let config = load(CALENDAR).expect("valid");
    let (name, json) = &config.calendars[0];
    assert_eq!(name, "holidays");
    let def: CalendarDef = serde_json::from_str(json).expect("a CalendarDef");
    assert_eq!(def.timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(def.dates, ["2026-12-25", "2026-12-26"]);
    assert_eq!(
        def.daily_range
            .as_ref()
            .map(|r| (r.from.as_str(), r.to.as_str())),
        Some(("22:00:00", "06:00"))
    );
    let set = config
        .calendar_set(&["holidays".to_string()])
        .expect("declared");
    assert!(
        set.is_excluded(
            DateTime::parse_from_rfc3339("2026-12-25T12:00:00+01:00")
                .expect("valid")
                .with_timezone(&Utc)
        )
    );
    let err = config
        .calendar_set(&["holiday".to_string()])
        .expect_err("unknown");
    assert!(err.contains("did you mean `holidays`?"), "{err}");
}

#[test]
fn bad_calendars_point_at_the_key() {
    let i =
        issue("[[calendar]]\nname = \"h\"\ndays_of_week = [\"sat\"]\ndates = [\"2026-02-30\"]\n");
    assert_eq!((i.line, i.column), (4, 9));
    assert_eq!(
        i.message,
        r#"calendar "h": dates[0] = "2026-02-30": expected a date YYYY-MM-DD"#
    );
    let i = issue("[[calendar]]\nname = \"h\"\ntimezone = \"Europe/Berln\"\n");
    assert_eq!(i.line, 3);
    assert!(i.message.contains("Europe/Berlin"), "{}", i.message);
    let i = issue("[[calendar]]\nname = \"h\"\ndayz_of_week = [\"sat\"]\n");
    assert_eq!(i.line, 3);
    assert!(
        i.message.contains("did you mean `days_of_week`?"),
        "{}",
        i.message
    );
    let i = issue("[[calendar]]\nname = \"h\"\n[[calendar]]\nname = \"h\"\n");
    assert_eq!(i.line, 4);
    assert!(
        i.message.contains("duplicate calendar name"),
        "{}",
        i.message
    );
}

#[test]
fn bad_schedules_say_what_was_expected() {
    let job = |schedule: &str| format!("[[job]]\nname = \"j\"\nkind = \"noop\"\n{schedule}\n");
    let i = issue(&job("calendar_interval = { every = 0, unit = \"day\" }"));
    assert_eq!(i.line, 4);
    assert!(i.message.contains("from 1"), "{}", i.message);
    let i = issue(&job("calendar_interval = { every = 1, unit = \"mnth\" }"));
    assert!(i.message.contains("did you mean `month`?"), "{}", i.message);
    let i = issue(&job(
        "daily = { every = 1, unit = \"day\", from = \"09:00\", to = \"10:00\" }",
    ));
    assert!(
        i.message.contains("expected one of second, minute, hour"),
        "{}",
        i.message
    );
    let i = issue(&job(
        "daily = { every = 1, unit = \"hour\", from = \"18:00\", to = \"10:00\" }",
    ));
    assert!(i.message.contains("after end time of day"), "{}", i.message);
    let i = issue(&job(
        "daily = { every = 1, unit = \"hour\", from = \"9 am\" }",
    ));
    assert!(i.message.contains("HH:MM"), "{}", i.message);
    let i = issue(&job(
        "daily = { every = 1, unit = \"hour\", days = [\"mo\"] }",
    ));
    assert!(i.message.contains("unknown day \"mo\""), "{}", i.message);
    let i = issue(&job(
        "daily = { every = 1, unit = \"hour\", dayz = [\"mon\"] }",
    ));
    assert!(i.message.contains("did you mean `days`?"), "{}", i.message);
    let i = issue(&job(
        "cron = \"0 0 * * * ?\"\ndaily = { every = 1, unit = \"hour\" }",
    ));
    assert_eq!(i.line, 5);
    assert!(i.message.contains("at most one schedule"), "{}", i.message);
    let i = issue(&job(
        "calendar_interval = { every = 1, unit = \"day\" }\nrepeat = 3",
    ));
    assert_eq!(
        i.message,
        "`repeat` applies to a `every` or `daily` schedule, and this job's schedule is `calendar_interval`"
    );
    let i = issue(&job(
        "calendar_interval = { every = 1, unit = \"day\" }\nstart = 2026-02-01T00:00:00Z\nend = 2026-01-01T00:00:00Z",
    ));
    assert_eq!(i.line, 6);
    assert!(i.message.contains("before start"), "{}", i.message);
}

#[test]
fn trigger_hash_follows_schedule_and_calendars() {
    let hash = |src: &str| {
        load(src).expect("valid").jobs[0]
            .trigger_hash
            .clone()
            .expect("scheduled")
    };
    let with = |schedule: &str, cal: &str| {
        format!(
            "[[calendar]]\nname = \"h\"\n{cal}\n[[job]]\nname = \"j\"\nkind = \"noop\"\ncalendars = [\"h\"]\n{schedule}\n"
        )
    };
    let daily = "daily = { every = 1, unit = \"hour\" }";
    let base = hash(&with(daily, "dates = [\"2026-12-25\"]"));
    assert_eq!(base, hash(&with(daily, "dates = [2026-12-25]")));
    assert_ne!(base, hash(&with(daily, "dates = [\"2026-12-26\"]")));
    assert_ne!(
        base,
        hash(&with(
            "daily = { every = 2, unit = \"hour\" }",
            "dates = [\"2026-12-25\"]"
        ))
    );
    let interval = |unit: &str| {
        hash(&with(
            &format!("calendar_interval = {{ every = 1, unit = \"{unit}\" }}"),
            "",
        ))
    };
    assert_ne!(interval("day"), interval("week"));
    // A job without the new keys hashes as before.
    let plain = hash("[[job]]\nname = \"j\"\nkind = \"noop\"\ncron = \"0 0 * * * ?\"\n");
    assert_eq!(plain.len(), 16);
}

/// The hashes reconcile compares with the stored ones: an unchanged
/// declaration must keep them across releases, or every node would see
/// every job as changed.
#[test]
fn hashes_of_unchanged_declarations_are_pinned() {
    let src = r#"
[scheduler]
timezone = "Europe/Berlin"

[[calendar]]
name = "holidays"
dates = [2026-12-25]

[[job]]
name = "cron"
kind = "command"
command = ["echo", "hi"]
env = { A = "1" }
cron = "0 30 9 ? * MON-FRI"
timezone = "America/New_York"
dst_gap = "skip"
misfire = { catch_up = 3 }
calendars = ["holidays"]
timeout = "10m"
retry = { max_attempts = 3, backoff = "30s", factor = 1.5 }
priority = 4
group = "g"

[[job]]
name = "every"
kind = "noop"
every = "5m"
start = 2026-01-01T00:00:00Z
end = "2027-01-01T00:00:00Z"
repeat = 10
misfire_threshold = "2m"
data = { x = 1, when = 2026-01-01 }

[[job]]
name = "at"
kind = "noop"
at = 2026-12-01T09:00:00Z
misfire = "fire_now"

[[job]]
name = "monthly"
kind = "noop"
calendar_interval = { every = 2, unit = "months", preserve_hour_of_day = true }
start = 2026-01-31T06:00:00Z

[[job]]
name = "office"
kind = "noop"
daily = { every = 30, unit = "minute", from = "09:00", to = 17:30:00, days = ["mon", "fri"] }
repeat = 5
paused = true
requests_recovery = true
overlap = "skip"
pool = "p"

[[job]]
name = "ondemand"
kind = "noop"
"#;
    let pinned = [
        ("cron", "fde06339961c31fa", Some("539ef80a839c791b")),
        ("every", "6aeb79b080770216", Some("440d1d1362a6b7c1")),
        ("at", "906f3e8b2a48fcbb", Some("4c74e771e58ef153")),
        ("monthly", "e1a7b6227dcc5231", Some("d40b6f6810b609a3")),
        ("office", "83443b2b4592c8d5", Some("12bb8451e8f6d908")),
        ("ondemand", "4e61ae5a1055771a", None),
    ];
    let config = load(src).expect("valid");
    let hashes: Vec<(&str, &str, Option<&str>)> = config
        .jobs
        .iter()
        .map(|j| {
            (
                j.job.name.as_str(),
                j.job_hash.as_str(),
                j.trigger_hash.as_deref(),
            )
        })
        .collect();
    assert_eq!(hashes, pinned);
}

#[test]
fn inherit_env_is_a_command_key_of_the_job() {
    let config = load(
        "[[job]]\nname = \"j\"\nkind = \"command\"\ncommand = [\"true\"]\ninherit_env = [\"HOME\"]\n",
    )
    .expect("valid");
    assert_eq!(
        config.jobs[0].job.settings["inherit_env"],
        serde_json::json!(["HOME"])
    );
    let i = issue(
        "[[job]]\nname = \"j\"\nkind = \"command\"\ncommand = [\"true\"]\ninherit_env = [\"A=B\"]\n",
    );
    assert_eq!(i.line, 4, "{}", i.message);
    assert!(i.message.contains("inherit_env"), "{}", i.message);
    let i = issue("[[job]]\nname = \"j\"\nkind = \"noop\"\ninherit_env = true\n");
    assert_eq!(i.line, 4);
    assert!(
        i.message.contains("setting of the command kind"),
        "{}",
        i.message
    );
}

#[test]
fn the_http_kind_takes_its_settings_as_keys_of_the_job() {
    let at_job_level = load(
        "[[job]]\nname = \"j\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/x\"\nmethod = \"GET\"\n\
         request_timeout = \"5s\"\nsuccess_codes = [200]\n",
    )
    .expect("valid");
    let in_a_table = load(
        "[[job]]\nname = \"j\"\nkind = \"http\"\nsettings = { url = \"http://127.0.0.1:9/x\", \
         method = \"GET\", request_timeout = \"5s\", success_codes = [200] }\n",
    )
    .expect("valid");
    assert_eq!(
        at_job_level.jobs[0].job.settings,
        in_a_table.jobs[0].job.settings
    );
    // Every key of the kind is a key of the job table: on another kind
    // each is refused as the http kind's, never as an unknown key.
    for key in crate::jobs::http::KEYS {
        let i = issue(&format!(
            "[[job]]\nname = \"j\"\nkind = \"noop\"\n{key} = \"x\"\n"
        ));
        assert_eq!(i.line, 4, "{key}: {}", i.message);
        assert!(
            i.message.contains("is a setting of the http kind"),
            "{key}: {}",
            i.message
        );
    }
    let i = issue(
        "[[job]]\nname = \"j\"\nkind = \"http\"\nurl = \"http://h/\"\nsettings = { method = \"GET\" }\n",
    );
    assert!(i.message.contains("not both"), "{}", i.message);
    // A bad value is reported at the job's url line.
    let i = issue("[[job]]\nname = \"j\"\nkind = \"http\"\nurl = \"ftp://h/\"\n");
    assert_eq!(i.line, 4, "{}", i.message);
}

#[test]
fn keep_fires_and_expectations_in_the_scheduler_table_and_on_a_job() {
    let config = load(
        r#"
[scheduler]
keep_fires = { succeeded = "3d", max_rows = 500 }

[[job]]
name = "j"
kind = "noop"
keep_fires = { skipped = "1h" }
expect_success_within = "26h"
"#,
    )
    .expect("valid");
    let keep = config.scheduler.keep_fires;
    assert_eq!(keep.succeeded, std::time::Duration::from_secs(3 * 86_400));
    assert_eq!(keep.failed, crate::model::KeepFires::default().failed);
    assert_eq!(keep.max_rows, 500);
    let job = &config.jobs[0].job;
    assert_eq!(
        job.keep_fires.skipped,
        Some(std::time::Duration::from_secs(3600))
    );
    assert_eq!(job.keep_fires.succeeded, None);
    assert_eq!(
        job.expect_success_within,
        Some(std::time::Duration::from_secs(26 * 3600))
    );

    let i = issue("[scheduler]\nkeep_fires = { succeeded = \"3d\", failed = \"often\" }\n");
    assert_eq!((i.line, i.column), (2, 43));
    assert!(i.message.contains("keep_fires.failed"), "{}", i.message);
    let i = issue("[[job]]\nname = \"j\"\nkind = \"noop\"\nkeep_fires = { max_rows = 0 }\n");
    assert_eq!(i.line, 4);
    assert!(i.message.contains("keep_fires.max_rows"), "{}", i.message);
    let i = issue("[[job]]\nname = \"j\"\nkind = \"noop\"\nkeep_fires = { succeded = \"1d\" }\n");
    assert_eq!(i.line, 4);
    let i = issue("[[job]]\nname = \"j\"\nkind = \"noop\"\nexpect_success_within = \"0s\"\n");
    assert_eq!(i.line, 4);
    assert!(i.message.contains("expect_success_within"), "{}", i.message);
}
