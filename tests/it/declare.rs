//! One declaration, two doors: every kind of mistake in a job declaration
//! is refused the same way by the file (`file:line:column`) and by the
//! HTTP API (400 with the field's JSON path), from one table of cases; and
//! what the API creates is what the file would.

use cosched::config;
use cosched::{Client, JobRegistry};
use serde_json::{Value, json};

use crate::http::{Running, get, post};
use crate::support::backends;

/// One mistake, written for both doors.
struct Case {
    name: &'static str,
    /// A whole file; the job is named `j`.
    toml: &'static str,
    /// The same job as a `POST /jobs` body.
    json: fn() -> Value,
    /// Where the file's first issue points.
    line: usize,
    column: usize,
    /// The JSON path of the API's issue.
    path: &'static str,
    /// In both messages.
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "unknown key",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ntiemzone = \"UTC\"\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"tiemzone": "UTC"}}),
        line: 4,
        column: 1,
        path: "schedule.tiemzone",
        message: "`tiemzone`: did you mean `timezone`?",
    },
    Case {
        name: "unknown kind with a hint",
        toml: "[[job]]\nname = \"j\"\nkind = \"comand\"\n",
        json: || json!({"name": "j", "kind": "comand"}),
        line: 3,
        column: 8,
        path: "kind",
        message: "unknown job kind `comand`: did you mean `command`?",
    },
    Case {
        name: "bad duration",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ntimeout = \"5 parsecs\"\n",
        json: || json!({"name": "j", "kind": "noop", "timeout": "5 parsecs"}),
        line: 4,
        column: 11,
        path: "timeout",
        message: "`timeout` = \"5 parsecs\" is not a duration",
    },
    Case {
        name: "duration below 1 ms",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\nevery = \"500us\"\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"every": "500us"}}),
        line: 4,
        column: 9,
        path: "schedule.every",
        message: "`every` = \"500us\" is shorter than 1ms",
    },
    Case {
        name: "duration above 100 years",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\nretry = { backoff = \"101y\" }\n",
        json: || json!({"name": "j", "kind": "noop", "retry": {"backoff": "101y"}}),
        line: 4,
        column: 21,
        path: "retry.backoff",
        message: "`retry.backoff` = \"101y\" is longer than 100years",
    },
    Case {
        name: "instant out of range",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\nat = 1969-12-31T23:59:59Z\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"at": "1969-12-31T23:59:59Z"}}),
        line: 4,
        column: 6,
        path: "schedule.at",
        message: "is out of range: expected an instant from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z",
    },
    Case {
        name: "bad cron, at its column",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ncron = \"0 0 25 * * ?\"\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"cron": "0 0 25 * * ?"}}),
        line: 4,
        column: 13,
        path: "schedule.cron",
        message: "invalid cron expression \"0 0 25 * * ?\"",
    },
    Case {
        name: "cron that never fires",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ncron = \"0 0 0 30 2 ?\"\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"cron": "0 0 0 30 2 ?"}}),
        line: 4,
        column: 8,
        path: "schedule.cron",
        message: "\"0 0 0 30 2 ?\" never fires",
    },
    Case {
        name: "unknown time zone with a hint",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ncron = \"0 0 * * * ?\"\ntimezone = \"Europe/Berln\"\n",
        json: || {
            json!({"name": "j", "kind": "noop",
                   "schedule": {"cron": "0 0 * * * ?", "timezone": "Europe/Berln"}})
        },
        line: 5,
        column: 12,
        path: "schedule.timezone",
        message: "unknown time zone `Europe/Berln`: expected an IANA name such as \"Europe/Berlin\"; did you mean `Europe/Berlin`?",
    },
    Case {
        name: "two schedules",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ncron = \"0 0 * * * ?\"\nevery = \"5s\"\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"cron": "0 0 * * * ?", "every": "5s"}}),
        line: 5,
        column: 9,
        path: "schedule.every",
        message: "a job has at most one schedule, found cron and every: keep one of them",
    },
    Case {
        name: "a key of another schedule kind",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\nevery = \"5s\"\ndst_fold = \"later\"\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"every": "5s", "dst_fold": "later"}}),
        line: 5,
        column: 12,
        path: "schedule.dst_fold",
        message: "`dst_fold` applies to a `cron` schedule, and this job's schedule is `every`",
    },
    Case {
        name: "a misfire policy that does not apply",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\nevery = \"5s\"\nmisfire = \"fire_once_now\"\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"every": "5s", "misfire": "fire_once_now"}}),
        line: 5,
        column: 11,
        path: "schedule.misfire",
        message: "misfire policy `fire_once_now` does not apply to a interval trigger",
    },
    Case {
        name: "unknown calendar",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\nevery = \"5s\"\ncalendars = [\"holidays\"]\n",
        json: || json!({"name": "j", "kind": "noop", "schedule": {"every": "5s", "calendars": ["holidays"]}}),
        line: 5,
        column: 13,
        path: "schedule.calendars[0]",
        message: "unknown calendar `holidays`",
    },
    Case {
        name: "calendar_interval.every = 0",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ncalendar_interval = { every = 0, unit = \"day\" }\n",
        json: || {
            json!({"name": "j", "kind": "noop",
                   "schedule": {"calendar_interval": {"every": 0, "unit": "day"}}})
        },
        line: 4,
        column: 31,
        path: "schedule.calendar_interval.every",
        message: "`calendar_interval.every` = 0 is out of range: expected a whole number from 1 to 2147483647",
    },
    Case {
        name: "daily.from after daily.to",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ndaily = { every = 1, unit = \"hour\", from = \"18:00\", to = \"10:00\" }\n",
        json: || {
            json!({"name": "j", "kind": "noop",
                   "schedule": {"daily": {"every": 1, "unit": "hour", "from": "18:00", "to": "10:00"}}})
        },
        line: 4,
        column: 58,
        path: "schedule.daily.to",
        message: "start time of day 18:00:00 is after end time of day 10:00:00",
    },
    Case {
        name: "a misspelt day",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\ndaily = { every = 1, unit = \"hour\", days = [\"mon\", \"tuw\"] }\n",
        json: || {
            json!({"name": "j", "kind": "noop",
                   "schedule": {"daily": {"every": 1, "unit": "hour", "days": ["mon", "tuw"]}}})
        },
        line: 4,
        column: 44,
        path: "schedule.daily.days[1]",
        message: "unknown day \"tuw\": did you mean `tue`?",
    },
    Case {
        name: "retry.factor below 1",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\nretry = { factor = 0.5 }\n",
        json: || json!({"name": "j", "kind": "noop", "retry": {"factor": 0.5}}),
        line: 4,
        column: 20,
        path: "retry.factor",
        message: "`retry.factor` = 0.5: must be a number of 1.0 or more",
    },
    Case {
        name: "retry.jitter above 1",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\nretry = { jitter = 1.5 }\n",
        json: || json!({"name": "j", "kind": "noop", "retry": {"jitter": 1.5}}),
        line: 4,
        column: 20,
        path: "retry.jitter",
        message: "`retry.jitter` = 1.5: must be a fraction from 0.0 to 1.0",
    },
    Case {
        name: "priority overflow",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\npriority = 2147483648\n",
        json: || json!({"name": "j", "kind": "noop", "priority": 2_147_483_648_i64}),
        line: 4,
        column: 12,
        path: "priority",
        message: "`priority` = 2147483648 is out of range: expected a whole number from -2147483648 to 2147483647",
    },
    Case {
        name: "empty name",
        toml: "[[job]]\nname = \" \"\nkind = \"noop\"\n",
        json: || json!({"name": " ", "kind": "noop"}),
        line: 2,
        column: 8,
        path: "name",
        message: "a job `name` must not be empty",
    },
    Case {
        name: "empty pool",
        toml: "[[job]]\nname = \"j\"\nkind = \"noop\"\npool = \"\"\n",
        json: || json!({"name": "j", "kind": "noop", "pool": ""}),
        line: 4,
        column: 8,
        path: "pool",
        message: "`pool` must not be empty",
    },
    Case {
        name: "a command settings error",
        toml: "[[job]]\nname = \"j\"\nkind = \"command\"\ncommand = \"echo hi\"\n",
        json: || json!({"name": "j", "kind": "command", "settings": {"command": "echo hi"}}),
        line: 4,
        column: 11,
        path: "settings",
        message: "job `j` (command): ",
    },
];

#[test]
fn every_mistake_is_refused_by_the_file_with_its_line_and_column() {
    let registry = JobRegistry::with_builtins();
    for case in CASES {
        let err = config::parse(case.toml, "jobs.toml", &registry)
            .map(|_| ())
            .expect_err(case.name);
        let first = &err.issues[0];
        assert_eq!(
            (first.line, first.column),
            (case.line, case.column),
            "{}: {err}",
            case.name
        );
        assert!(
            first.message.contains(case.message),
            "{}: expected `{}` in: {}",
            case.name,
            case.message,
            first.message
        );
    }
}

#[tokio::test]
async fn every_mistake_is_refused_by_the_api_with_its_path() {
    for db in backends().await {
        api_refuses_every_mistake(&db.url).await;
    }
}

async fn api_refuses_every_mistake(url: &str) {
    // Command jobs through the API are allowed here, so that a command
    // settings mistake reaches the validator.
    let node = Running::start_with(url, "api_command_jobs = true", "").await;
    for case in CASES {
        let reply = post(node.addr, "/jobs", (case.json)()).await;
        assert_eq!(reply.status, 400, "{}: {}", case.name, reply.body);
        let body = reply.json();
        let issues = body["issues"].as_array().expect("an issues list");
        let issue = issues
            .iter()
            .find(|i| i["path"] == case.path)
            .unwrap_or_else(|| panic!("{}: no issue at `{}` in {body}", case.name, case.path));
        let message = issue["message"].as_str().expect("a message");
        assert!(
            message.contains(case.message),
            "{}: expected `{}` in: {message}",
            case.name,
            case.message
        );
        // `error` joins every message, so a client that reads only it
        // still sees them all.
        let joined: Vec<&str> = issues
            .iter()
            .filter_map(|i| i["message"].as_str())
            .collect();
        assert_eq!(body["error"], joined.join("; "), "{}", case.name);
        assert!(body["hint"].as_str().is_some_and(|h| !h.is_empty()));
    }
    let cron = post(node.addr, "/jobs", (CASES[6].json)()).await.json();
    assert_eq!(cron["issues"][0]["column"], 5, "{cron}");
    // The file's advice for an unknown calendar is the file's, the API's
    // the API's.
    let calendar = CASES
        .iter()
        .find(|c| c.name == "unknown calendar")
        .expect("a case");
    let api = post(node.addr, "/jobs", (calendar.json)()).await.json();
    assert!(
        api["error"]
            .as_str()
            .is_some_and(|e| e.contains("create it first with PUT /calendars/holidays")),
        "{api}"
    );
    let file = config::parse(calendar.toml, "jobs.toml", &JobRegistry::with_builtins())
        .map(|_| ())
        .expect_err("unknown calendar");
    assert!(
        file.to_string()
            .contains("declare it in a [[calendar]] table"),
        "{file}"
    );
    let jobs = get(node.addr, "/jobs").await.json();
    assert_eq!(jobs, json!([]), "nothing was created");

    // A one-off beyond the instant range is refused, not an overflow.
    let created = post(node.addr, "/jobs", json!({"name": "k", "kind": "noop"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    for (body, path, message) in [
        (json!({"in": "300000y"}), "in", "is longer than 100years"),
        (json!({"at": "1969-12-31T23:59:59Z"}), "at", "out of range"),
    ] {
        let reply = post(node.addr, "/jobs/k/schedule", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        let v = reply.json();
        assert_eq!(v["issues"][0]["path"], path, "{v}");
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains(message)),
            "{v}"
        );
    }
    let jobs = get(node.addr, "/jobs/k").await.json();
    assert_eq!(jobs["triggers"], json!([]), "no trigger was created");
    node.stop().await;
}

/// A schedule: the trigger kind it stores, its keys in a `[[job]]` table,
/// and the same as the `schedule` of a `POST /jobs` body.
type Schedule = (&'static str, &'static str, fn() -> Value);

/// Every schedule the file accepts, DST options included.
const SCHEDULES: &[Schedule] = &[
    (
        "cron",
        "cron = \"30 2 * * *\"\ndialect = \"unix\"\ntimezone = \"Europe/Berlin\"\ndst_gap = \"skip\"\ndst_fold = \"both\"\nmisfire = \"do_nothing\"\nmisfire_threshold = \"5m\"",
        || {
            json!({"cron": "30 2 * * *", "dialect": "unix", "timezone": "Europe/Berlin",
                   "dst_gap": "skip", "dst_fold": "both", "misfire": "do_nothing",
                   "misfire_threshold": "5m"})
        },
    ),
    (
        "interval",
        "every = \"90m\"\nstart = 2030-01-01T00:00:00Z\nend = \"2031-01-01T00:00:00Z\"\nrepeat = 10\nmisfire = \"reschedule_next_with_remaining_count\"",
        || {
            json!({"every": "90m", "start": "2030-01-01T00:00:00Z", "end": "2031-01-01T00:00:00Z",
                   "repeat": 10, "misfire": "reschedule_next_with_remaining_count"})
        },
    ),
    (
        "once",
        "at = 2030-06-01T09:00:00+02:00\nmisfire = \"fire_now\"",
        || json!({"at": "2030-06-01T09:00:00+02:00", "misfire": "fire_now"}),
    ),
    (
        "calendar_interval",
        "calendar_interval = { every = 2, unit = \"months\", preserve_hour_of_day = true, skip_day_if_hour_does_not_exist = true }\ntimezone = \"America/New_York\"\nstart = 2030-01-31T06:00:00Z\nend = 2040-01-01T00:00:00Z\nmisfire = { catch_up = 3 }",
        || {
            json!({"calendar_interval": {"every": 2, "unit": "months", "preserve_hour_of_day": true,
                                         "skip_day_if_hour_does_not_exist": true},
                   "timezone": "America/New_York", "start": "2030-01-31T06:00:00Z",
                   "end": "2040-01-01T00:00:00Z", "misfire": {"catch_up": 3}})
        },
    ),
    (
        "daily_time_interval",
        "daily = { every = 30, unit = \"minute\", from = \"09:00\", to = 17:30:00, days = [\"mon\", \"friday\"] }\ntimezone = \"Asia/Tokyo\"\nstart = 2030-01-01T00:00:00Z\nrepeat = 100\ncalendars = [\"holidays\"]",
        || {
            json!({"daily": {"every": 30, "unit": "minute", "from": "09:00", "to": "17:30:00",
                             "days": ["mon", "friday"]},
                   "timezone": "Asia/Tokyo", "start": "2030-01-01T00:00:00Z", "repeat": 100,
                   "calendars": ["holidays"]})
        },
    ),
];

/// A stored trigger without what differs between two equal declarations
/// (its row, its job, where it came from, when it was written).
fn comparable(t: &cosched::model::Trigger) -> cosched::model::Trigger {
    let mut t = t.clone();
    t.id = 0;
    t.job_id = 0;
    t.source = cosched::model::JobSource::Api;
    t.created_at = 0;
    t.updated_at = 0;
    if matches!(t.spec, cosched::schedule::ScheduleSpec::Cron { .. }) {
        // A cron trigger starts when it is created.
        t.start_at = 0;
    }
    t
}

#[tokio::test]
async fn the_api_creates_every_schedule_the_file_accepts_and_stores_the_same_trigger() {
    for db in backends().await {
        let calendar = "[[calendar]]\nname = \"holidays\"\ndates = [\"2030-12-25\"]\n";
        let mut file = String::from(calendar);
        for (kind, toml, _) in SCHEDULES {
            file.push_str(&format!(
                "\n[[job]]\nname = \"file-{kind}\"\nkind = \"noop\"\n{toml}\n"
            ));
        }
        let node = Running::start(&db.url, &file).await;
        for (kind, _, schedule) in SCHEDULES {
            let body =
                json!({"name": format!("api-{kind}"), "kind": "noop", "schedule": schedule()});
            let created = post(node.addr, "/jobs", body).await;
            assert_eq!(
                created.status, 201,
                "{kind} on {}: {}",
                db.backend, created.body
            );
            let job = created.json();
            assert_eq!(job["triggers"][0]["kind"], *kind, "{job}");
        }
        let client = Client::connect(&db.url).await.expect("client");
        let jobs = client.jobs().await.expect("jobs");
        assert_eq!(jobs.len(), 2 * SCHEDULES.len(), "no row was put aside");
        for (kind, _, _) in SCHEDULES {
            let trigger = |name: String| {
                let row = jobs
                    .iter()
                    .find(|j| j.job.name == name)
                    .unwrap_or_else(|| panic!("job {name}"));
                assert_eq!(row.triggers.len(), 1, "{name}");
                comparable(&row.triggers[0])
            };
            let from_file = trigger(format!("file-{kind}"));
            let from_api = trigger(format!("api-{kind}"));
            assert_eq!(from_api, from_file, "{kind} on {}", db.backend);
            assert_eq!(from_api.state, "waiting", "{kind}: {:?}", from_api.error);
        }
        node.stop().await;
    }
}

#[test]
fn the_command_line_refuses_the_same_ranges() {
    let db = crate::support::sqlite();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["next", "0 0 0 30 2 ?"], 1, "`0 0 0 30 2 ?` never fires"),
        (
            &["next", "0 0 * * * ?", "-n", "10001"],
            2,
            "not in 1..=10000",
        ),
        (
            &[
                "fires",
                "--limit",
                "9223372036854775808",
                "--database",
                &db.url,
            ],
            2,
            "not in 1..=10000",
        ),
        (
            &["schedule", "x", "--in", "300000y", "--database", &db.url],
            2,
            "`in` = 300000years is longer than 100years",
        ),
    ];
    for (args, code, text) in cases {
        let out = crate::config::cosched(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(
            stderr.contains(text),
            "{args:?}: expected `{text}` in {stderr}"
        );
    }
}
