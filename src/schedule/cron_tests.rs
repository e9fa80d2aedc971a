//! Tests for `schedule::cron`: exact-instant tables for every special
//! character, leap years, year ranges and DST rule; parse errors with their
//! columns; property tests against the `cron` crate and croner as oracles.

use super::*;
use crate::schedule::dst::{DstOptions, FoldPolicy, GapPolicy};
use chrono::{Duration, SecondsFormat, TimeZone};
use proptest::prelude::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
        .with_timezone(&Utc)
}

fn fmt(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn zone(name: &str) -> Tz {
    name.parse()
        .unwrap_or_else(|e| panic!("bad zone {name}: {e}"))
}

fn schedule(src: &str, dialect: Dialect, tz: &str, dst: DstOptions) -> CronSchedule {
    let expr = CronExpr::parse(src, dialect).unwrap_or_else(|e| panic!("{src}: {e}"));
    CronSchedule::new(expr, zone(tz), dst)
}

/// The next `n` fires after `after`, as RFC 3339 UTC strings.
fn fires(s: &CronSchedule, after: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut t = utc(after);
    for _ in 0..n {
        match s.next_after(t) {
            Some(next) => {
                assert!(next > t, "{}: {} not after {}", s.expr().source(), next, t);
                out.push(fmt(next));
                t = next;
            }
            None => {
                out.push("none".to_string());
                break;
            }
        }
    }
    out
}

fn q(src: &str, after: &str, n: usize) -> Vec<String> {
    fires(
        &schedule(src, Dialect::Quartz, "UTC", DstOptions::default()),
        after,
        n,
    )
}

fn u(src: &str, after: &str, n: usize) -> Vec<String> {
    fires(
        &schedule(src, Dialect::Unix, "UTC", DstOptions::default()),
        after,
        n,
    )
}

#[track_caller]
fn check(got: Vec<String>, want: &[&str]) {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------
// Table: Quartz special characters, UTC.
// ---------------------------------------------------------------------------

#[test]
fn quartz_table_utc() {
    let cases: &[(&str, &str, &[&str])] = &[
        // L, L-n
        (
            "0 0 12 L * ?",
            "2024-02-01T00:00:00Z",
            &[
                "2024-02-29T12:00:00Z",
                "2024-03-31T12:00:00Z",
                "2024-04-30T12:00:00Z",
            ],
        ),
        (
            "0 0 12 L-2 * ?",
            "2024-02-01T00:00:00Z",
            &[
                "2024-02-27T12:00:00Z",
                "2024-03-29T12:00:00Z",
                "2024-04-28T12:00:00Z",
            ],
        ),
        (
            "0 0 12 L-30 * ?",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-01T12:00:00Z",
                "2024-03-01T12:00:00Z",
                "2024-05-01T12:00:00Z",
            ],
        ),
        // nW: 2024-06-15 is a Saturday, 2024-09-15 a Sunday.
        (
            "0 0 12 15W * ?",
            "2024-06-01T00:00:00Z",
            &[
                "2024-06-14T12:00:00Z",
                "2024-07-15T12:00:00Z",
                "2024-08-15T12:00:00Z",
                "2024-09-16T12:00:00Z",
            ],
        ),
        // 1W never goes back into the previous month: 2024-06-01 is a Saturday.
        (
            "0 0 12 1W * ?",
            "2024-05-31T13:00:00Z",
            &[
                "2024-06-03T12:00:00Z",
                "2024-07-01T12:00:00Z",
                "2024-08-01T12:00:00Z",
                "2024-09-02T12:00:00Z",
            ],
        ),
        // 31W: Saturday 2024-08-31 -> Friday 30th; no 31st in September.
        (
            "0 0 12 31W * ?",
            "2024-08-01T00:00:00Z",
            &[
                "2024-08-30T12:00:00Z",
                "2024-10-31T12:00:00Z",
                "2024-12-31T12:00:00Z",
            ],
        ),
        // 31W on a Sunday that is the last day: back to Friday the 29th.
        (
            "0 0 12 31W 8 ?",
            "2025-01-01T00:00:00Z",
            &["2025-08-29T12:00:00Z"],
        ),
        // LW: 2024-06-30 is a Sunday, 2024-08-31 a Saturday.
        (
            "0 0 12 LW * ?",
            "2024-06-01T00:00:00Z",
            &[
                "2024-06-28T12:00:00Z",
                "2024-07-31T12:00:00Z",
                "2024-08-30T12:00:00Z",
            ],
        ),
        // L-1W: 2024-03-30 and 2024-06-29 are Saturdays.
        (
            "0 0 12 L-1W * ?",
            "2024-03-01T00:00:00Z",
            &[
                "2024-03-29T12:00:00Z",
                "2024-04-29T12:00:00Z",
                "2024-05-30T12:00:00Z",
                "2024-06-28T12:00:00Z",
            ],
        ),
        // Lists containing L.
        (
            "0 0 12 1,15,L * ?",
            "2024-02-10T00:00:00Z",
            &[
                "2024-02-15T12:00:00Z",
                "2024-02-29T12:00:00Z",
                "2024-03-01T12:00:00Z",
                "2024-03-15T12:00:00Z",
            ],
        ),
        // nL: last Friday.
        (
            "0 0 12 ? * 6L",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-26T12:00:00Z",
                "2024-02-23T12:00:00Z",
                "2024-03-29T12:00:00Z",
            ],
        ),
        (
            "0 0 12 ? * FRIL",
            "2024-01-01T00:00:00Z",
            &["2024-01-26T12:00:00Z"],
        ),
        // n#k: third Friday; fifth Monday only in months that have one.
        (
            "0 0 12 ? * 6#3",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-19T12:00:00Z",
                "2024-02-16T12:00:00Z",
                "2024-03-15T12:00:00Z",
            ],
        ),
        (
            "0 0 12 ? * MON#5",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-29T12:00:00Z",
                "2024-04-29T12:00:00Z",
                "2024-07-29T12:00:00Z",
            ],
        ),
        // L alone in day-of-week = Saturday.
        (
            "0 0 12 ? * L",
            "2024-01-01T00:00:00Z",
            &["2024-01-06T12:00:00Z", "2024-01-13T12:00:00Z"],
        ),
        // Names, case-insensitive, ranges and wrap-around ranges.
        (
            "0 0 9 ? * mon-fri",
            "2024-01-05T10:00:00Z",
            &["2024-01-08T09:00:00Z", "2024-01-09T09:00:00Z"],
        ),
        (
            "0 0 9 ? * FRI-MON",
            "2024-01-01T10:00:00Z",
            &[
                "2024-01-05T09:00:00Z",
                "2024-01-06T09:00:00Z",
                "2024-01-07T09:00:00Z",
                "2024-01-08T09:00:00Z",
                "2024-01-12T09:00:00Z",
            ],
        ),
        (
            "0 0 22-2 * * ?",
            "2024-01-01T00:30:00Z",
            &[
                "2024-01-01T01:00:00Z",
                "2024-01-01T02:00:00Z",
                "2024-01-01T22:00:00Z",
                "2024-01-01T23:00:00Z",
                "2024-01-02T00:00:00Z",
            ],
        ),
        (
            "0 0 22-2/2 * * ?",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-01T02:00:00Z",
                "2024-01-01T22:00:00Z",
                "2024-01-02T00:00:00Z",
            ],
        ),
        (
            "50-10 0 0 * * ?",
            "2024-01-01T00:00:09Z",
            &["2024-01-01T00:00:10Z", "2024-01-01T00:00:50Z"],
        ),
        (
            "0 0 0 1 NOV-FEB ?",
            "2024-03-01T00:00:00Z",
            &[
                "2024-11-01T00:00:00Z",
                "2024-12-01T00:00:00Z",
                "2025-01-01T00:00:00Z",
                "2025-02-01T00:00:00Z",
                "2025-11-01T00:00:00Z",
            ],
        ),
        (
            "0 0 0 28-2 2 ?",
            "2024-01-01T00:00:00Z",
            &[
                "2024-02-01T00:00:00Z",
                "2024-02-02T00:00:00Z",
                "2024-02-28T00:00:00Z",
                "2024-02-29T00:00:00Z",
                "2025-02-01T00:00:00Z",
            ],
        ),
        // Steps.
        (
            "10-40/10 0 0 * * ?",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-01T00:00:10Z",
                "2024-01-01T00:00:20Z",
                "2024-01-01T00:00:30Z",
                "2024-01-01T00:00:40Z",
                "2024-01-02T00:00:10Z",
            ],
        ),
        (
            "0 10/25 * * * ?",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-01T00:10:00Z",
                "2024-01-01T00:35:00Z",
                "2024-01-01T01:10:00Z",
            ],
        ),
        (
            "0 0/15 * * * ?",
            "2024-01-01T00:50:00Z",
            &["2024-01-01T01:00:00Z", "2024-01-01T01:15:00Z"],
        ),
        (
            "* * * * * ?",
            "2024-01-01T00:00:00.500Z",
            &["2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z"],
        ),
        (
            "0 0 0 * JAN/5 ?",
            "2024-01-31T00:00:00Z",
            &["2024-06-01T00:00:00Z"],
        ),
        // End of month rollover.
        (
            "0 0 0 31 * ?",
            "2024-01-31T00:00:00Z",
            &[
                "2024-03-31T00:00:00Z",
                "2024-05-31T00:00:00Z",
                "2024-07-31T00:00:00Z",
                "2024-08-31T00:00:00Z",
            ],
        ),
        (
            "59 59 23 31 12 ?",
            "2024-12-31T23:59:58Z",
            &["2024-12-31T23:59:59Z", "2025-12-31T23:59:59Z"],
        ),
    ];
    for (src, after, want) in cases {
        assert_eq!(
            q(src, after, want.len()),
            want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{src} after {after}"
        );
    }
}

#[test]
fn leap_years_and_year_ranges() {
    check(
        q("0 0 0 29 2 ?", "2024-03-01T00:00:00Z", 2),
        &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
    );
    // 2100 is not a leap year, 2000 is.
    check(
        q("0 0 0 29 2 ?", "2096-03-01T00:00:00Z", 1),
        &["2104-02-29T00:00:00Z"],
    );
    check(
        q("0 0 0 29 2 ?", "1999-03-01T00:00:00Z", 1),
        &["2000-02-29T00:00:00Z"],
    );
    check(
        q("0 0 0 L 2 ?", "2100-01-01T00:00:00Z", 2),
        &["2100-02-28T00:00:00Z", "2101-02-28T00:00:00Z"],
    );
    // Year ranges that run out.
    check(
        q("0 0 0 1 1 ? 2025-2027", "2024-06-01T00:00:00Z", 4),
        &[
            "2025-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
            "none",
        ],
    );
    let decades = q("0 0 0 1 1 ? 2030/10", "2024-06-01T00:00:00Z", 20);
    assert_eq!(decades.len(), 18, "{decades:?}");
    assert_eq!(decades[0], "2030-01-01T00:00:00Z");
    assert_eq!(decades[16], "2190-01-01T00:00:00Z");
    assert_eq!(decades[17], "none");
    check(q("0 0 0 1 1 ? 2020", "2024-01-01T00:00:00Z", 1), &["none"]);
    check(
        q("0 0 0 1 1 ? 1970,2199", "2024-01-01T00:00:00Z", 2),
        &["2199-01-01T00:00:00Z", "none"],
    );
    // Nothing after 2199.
    check(
        q("0 0 0 1 1 ?", "2198-06-01T00:00:00Z", 2),
        &["2199-01-01T00:00:00Z", "none"],
    );
    check(q("* * * * * ?", "2199-12-31T23:59:59Z", 1), &["none"]);
    check(q("* * * * * ?", "2300-01-01T00:00:00Z", 1), &["none"]);
    // Before 1970 with an explicit year field.
    check(
        q("0 0 0 1 1 ? 1970", "1960-01-01T00:00:00Z", 1),
        &["1970-01-01T00:00:00Z"],
    );
}

#[test]
fn never_firing_expressions_return_none_at_once() {
    for src in [
        "0 0 0 30 2 ?",
        "0 0 0 31 4 ?",
        "0 0 0 31 2,4,6,9,11 ?",
        "0 0 0 ? 2 2#5 2101-2103",
        "0 0 0 31W 9 ?",
    ] {
        let s = schedule(src, Dialect::Quartz, "UTC", DstOptions::default());
        let start = std::time::Instant::now();
        assert_eq!(s.next_after(utc("1970-01-01T00:00:00Z")), None, "{src}");
        assert_eq!(s.next_after(utc("2024-01-01T00:00:00Z")), None, "{src}");
        // Generous bound: a hang would take forever, not milliseconds.
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "{src} was slow"
        );
    }
    // In a DST zone too.
    let s = schedule(
        "0 0 0 30 2 ?",
        Dialect::Quartz,
        "Europe/Berlin",
        DstOptions::default(),
    );
    assert_eq!(s.next_after(utc("2024-01-01T00:00:00Z")), None);
}

// ---------------------------------------------------------------------------
// Unix dialect.
// ---------------------------------------------------------------------------

#[test]
fn unix_table_utc() {
    // 0 and 7 are both Sunday; 2024-01-01 is a Monday.
    check(
        u("0 0 * * 0", "2024-01-01T00:00:00Z", 1),
        &["2024-01-07T00:00:00Z"],
    );
    check(
        u("0 0 * * 7", "2024-01-01T00:00:00Z", 1),
        &["2024-01-07T00:00:00Z"],
    );
    check(
        u("0 0 * * sun", "2024-01-01T00:00:00Z", 1),
        &["2024-01-07T00:00:00Z"],
    );
    check(
        u("0 0 * * 5-7", "2024-01-01T00:00:00Z", 4),
        &[
            "2024-01-05T00:00:00Z",
            "2024-01-06T00:00:00Z",
            "2024-01-07T00:00:00Z",
            "2024-01-12T00:00:00Z",
        ],
    );
    check(
        u("0 0 * * FRI-MON", "2024-01-01T00:00:00Z", 4),
        &[
            "2024-01-05T00:00:00Z",
            "2024-01-06T00:00:00Z",
            "2024-01-07T00:00:00Z",
            "2024-01-08T00:00:00Z",
        ],
    );
    // Vixie: neither day field starts with '*': day of month OR day of week.
    // 2024-09-01 is a Sunday: Fridays are the 6th, 13th, 20th, 27th.
    check(
        u("0 0 13 * 5", "2024-09-01T00:00:00Z", 7),
        &[
            "2024-09-06T00:00:00Z",
            "2024-09-13T00:00:00Z",
            "2024-09-20T00:00:00Z",
            "2024-09-27T00:00:00Z",
            "2024-10-04T00:00:00Z",
            "2024-10-11T00:00:00Z",
            "2024-10-13T00:00:00Z",
        ],
    );
    // One of them starts with '*': both must match (odd days that are Fridays).
    check(
        u("0 0 */2 * 5", "2024-09-01T00:00:00Z", 3),
        &[
            "2024-09-13T00:00:00Z",
            "2024-09-27T00:00:00Z",
            "2024-10-11T00:00:00Z",
        ],
    );
    check(
        u("0 0 13 * *", "2024-09-01T00:00:00Z", 1),
        &["2024-09-13T00:00:00Z"],
    );
    check(
        u("30 9 * jan-mar mon-fri", "2024-03-29T10:00:00Z", 1),
        &["2025-01-01T09:30:00Z"],
    );
    check(
        u("*/20 * * * *", "2024-01-01T00:00:00Z", 3),
        &[
            "2024-01-01T00:20:00Z",
            "2024-01-01T00:40:00Z",
            "2024-01-01T01:00:00Z",
        ],
    );
    // Macros.
    check(
        u("@hourly", "2024-01-01T00:30:00Z", 1),
        &["2024-01-01T01:00:00Z"],
    );
    check(
        u("@daily", "2024-01-01T00:30:00Z", 1),
        &["2024-01-02T00:00:00Z"],
    );
    check(
        u("@midnight", "2024-01-01T00:30:00Z", 1),
        &["2024-01-02T00:00:00Z"],
    );
    check(
        u("@weekly", "2024-01-01T00:30:00Z", 1),
        &["2024-01-07T00:00:00Z"],
    );
    check(
        u("@monthly", "2024-01-01T00:30:00Z", 1),
        &["2024-02-01T00:00:00Z"],
    );
    check(
        u("@yearly", "2024-01-01T00:30:00Z", 1),
        &["2025-01-01T00:00:00Z"],
    );
    check(
        u("@ANNUALLY", "2024-01-01T00:30:00Z", 1),
        &["2025-01-01T00:00:00Z"],
    );
    check(
        q("@daily", "2024-01-01T00:30:00Z", 1),
        &["2024-01-02T00:00:00Z"],
    );
}

#[test]
fn periodic_classification() {
    let periodic = |src: &str, d: Dialect| CronExpr::parse(src, d).map(|e| e.is_periodic());
    assert_eq!(periodic("* 0 0 * * ?", Dialect::Quartz), Ok(true));
    assert_eq!(periodic("0 */5 0 * * ?", Dialect::Quartz), Ok(true));
    assert_eq!(periodic("0 0 10/2 * * ?", Dialect::Quartz), Ok(true));
    assert_eq!(periodic("0 0 1-5/2 * * ?", Dialect::Quartz), Ok(true));
    assert_eq!(periodic("0 30 2 * * ?", Dialect::Quartz), Ok(false));
    assert_eq!(periodic("0 0,30 1-3 */2 * ?", Dialect::Quartz), Ok(false));
    assert_eq!(periodic("@hourly", Dialect::Unix), Ok(true));
    assert_eq!(periodic("@daily", Dialect::Unix), Ok(false));
    assert_eq!(periodic("0 * * * *", Dialect::Unix), Ok(true));
    assert_eq!(periodic("0 1 * * *", Dialect::Unix), Ok(false));
}

#[test]
fn accessors_and_names() {
    let e = CronExpr::parse("  0 0 12 ? * MON  ", Dialect::Quartz).expect("valid");
    assert_eq!(e.source(), "0 0 12 ? * MON");
    assert_eq!(e.dialect(), Dialect::Quartz);
    assert_eq!(e.to_string(), "0 0 12 ? * MON");
    assert_eq!("unix".parse::<Dialect>(), Ok(Dialect::Unix));
    assert_eq!(Dialect::Quartz.to_string(), "quartz");
    let err = "posix"
        .parse::<Dialect>()
        .expect_err("not a dialect")
        .to_string();
    assert!(err.contains("quartz or unix"), "{err}");
    let s = CronSchedule::new(e.clone(), zone("Europe/Berlin"), DstOptions::default());
    assert_eq!(s.expr(), &e);
    assert_eq!(s.tz(), zone("Europe/Berlin"));
}

#[test]
fn matches_local_agrees_with_rules() {
    let e = CronExpr::parse("0 0 12 ? * 6#3", Dialect::Quartz).expect("valid");
    let at = |y, m, d, h| {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, 0, 0))
            .expect("valid date")
    };
    assert!(e.matches_local(at(2024, 1, 19, 12)));
    assert!(!e.matches_local(at(2024, 1, 12, 12)));
    assert!(!e.matches_local(at(2024, 1, 19, 13)));
    let e = CronExpr::parse("0 0 0 1 1 ? 2030", Dialect::Quartz).expect("valid");
    assert!(e.matches_local(at(2030, 1, 1, 0)));
    assert!(!e.matches_local(at(2031, 1, 1, 0)));
    assert!(!e.matches_local(at(1969, 1, 1, 0)));
}

// ---------------------------------------------------------------------------
// Parse errors: field, column, message.
// ---------------------------------------------------------------------------

#[test]
fn parse_errors_name_field_and_column() {
    let cases: &[(&str, Dialect, &str, usize, &str)] = &[
        ("0 0 0 ? * 6#6", Dialect::Quartz, "day-of-week", 13, "1-5"),
        ("0 0 0 ? * 6#0", Dialect::Quartz, "day-of-week", 13, "1-5"),
        (
            "0 0 0 ? * 2-6#1",
            Dialect::Quartz,
            "day-of-week",
            14,
            "single day of week",
        ),
        (
            "0 0 0 ? * 2-6L",
            Dialect::Quartz,
            "day-of-week",
            14,
            "single day of week",
        ),
        ("*/0 * * * * ?", Dialect::Quartz, "second", 3, "step"),
        ("0 10/0 * * * ?", Dialect::Quartz, "minute", 6, "step"),
        (
            "0 0 0 1-5W * ?",
            Dialect::Quartz,
            "day-of-month",
            10,
            "single day",
        ),
        ("0 60 0 * * ?", Dialect::Quartz, "minute", 3, "0-59"),
        ("0 0 24 * * ?", Dialect::Quartz, "hour", 5, "0-23"),
        ("0 0 0 32 * ?", Dialect::Quartz, "day-of-month", 7, "1-31"),
        ("0 0 0 0 * ?", Dialect::Quartz, "day-of-month", 7, "1-31"),
        ("0 0 0 ? 13 *", Dialect::Quartz, "month", 9, "1-12"),
        ("0 0 0 ? * 8", Dialect::Quartz, "day-of-week", 11, "1-7"),
        ("0 0 0 ? * 0", Dialect::Quartz, "day-of-week", 11, "1-7"),
        ("0 0 0 L-31 * ?", Dialect::Quartz, "day-of-month", 9, "0-30"),
        (
            "0 0 0 * *",
            Dialect::Quartz,
            "day-of-week",
            10,
            "6 or 7 fields",
        ),
        (
            "0 0 0 * * ? 2020 x",
            Dialect::Quartz,
            "expression",
            18,
            "at most 7 fields",
        ),
        (
            "0 0 0 * * ? 2020 x y z",
            Dialect::Quartz,
            "expression",
            18,
            "at most 7 fields",
        ),
        (
            "0 0 * * * 1 2 3 4",
            Dialect::Unix,
            "expression",
            11,
            "5 fields",
        ),
        ("0 0 0 * * *", Dialect::Quartz, "day-of-week", 11, "'?'"),
        ("0 0 0 1 * 2", Dialect::Quartz, "day-of-week", 11, "'?'"),
        (
            "0 0 0 ? * ?",
            Dialect::Quartz,
            "day-of-week",
            11,
            "only one",
        ),
        (
            "? 0 0 * * ?",
            Dialect::Quartz,
            "second",
            1,
            "day-of-month or day-of-week",
        ),
        (
            "0 0 0 1,? * ?",
            Dialect::Quartz,
            "day-of-month",
            9,
            "whole field",
        ),
        ("0 0 0 1 JANX ?", Dialect::Quartz, "month", 9, "JAN-DEC"),
        ("0 0 0 1 é ?", Dialect::Quartz, "month", 9, "1-12"),
        ("0 0 0 1 1 ? 2200", Dialect::Quartz, "year", 13, "1970-2199"),
        (
            "0 0 0 1 1 ? 2030-2020",
            Dialect::Quartz,
            "year",
            13,
            "backwards",
        ),
        ("0 0 0 1 1 ? 1969", Dialect::Quartz, "year", 13, "1970-2199"),
        (
            "0 0 0 1,,2 * ?",
            Dialect::Quartz,
            "day-of-month",
            9,
            "empty",
        ),
        ("0 0 0 1-* * ?", Dialect::Quartz, "day-of-month", 9, "1-31"),
        ("0 0 0 5/ * ?", Dialect::Quartz, "day-of-month", 9, "step"),
        ("hello", Dialect::Quartz, "second", 1, "0-59"),
        ("", Dialect::Quartz, "expression", 1, "empty"),
        ("   ", Dialect::Quartz, "expression", 4, "whitespace"),
        ("0 0 L * *", Dialect::Unix, "day-of-month", 5, "unix"),
        ("0 0 ? * *", Dialect::Unix, "day-of-month", 5, "unix"),
        ("0 0 15W * *", Dialect::Unix, "day-of-month", 7, "unix"),
        ("0 0 * * 1#2", Dialect::Unix, "day-of-week", 10, "unix"),
        ("0 0 * * 5L", Dialect::Unix, "day-of-week", 10, "unix"),
        ("0 0 * * 8", Dialect::Unix, "day-of-week", 9, "0-7"),
        ("0 0 * *", Dialect::Unix, "day-of-week", 8, "5 fields"),
        ("0 0 * * * *", Dialect::Unix, "expression", 11, "5 fields"),
        ("@reboot", Dialect::Unix, "expression", 1, "@hourly"),
        ("@daily 0", Dialect::Unix, "expression", 8, "nothing after"),
    ];
    for &(src, dialect, field, column, needle) in cases {
        let err = match CronExpr::parse(src, dialect) {
            Ok(e) => panic!("{src:?} parsed: {e:?}"),
            Err(e) => e,
        };
        assert_eq!((err.field, err.column), (field, column), "{src:?}: {err}");
        assert!(
            err.message.contains(needle),
            "{src:?}: {err} lacks {needle:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(field) && text.contains(&format!("column {column}")),
            "{text}"
        );
    }
}

#[test]
fn accepts_the_documented_syntax() {
    for src in [
        "0 0 12 ? * MON-FRI",
        "0 0 12 ? * 2-6",
        "0 15 10 ? * 6L 2002-2005",
        "0 15 10 ? * 6#3",
        "0 0 12 1/5 * ?",
        "0 11 11 11 11 ?",
        "0 0/5 14,18 * * ?",
        "0 0-5 14 * * ?",
        "0 10,44 14 ? 3 WED",
        "0 15 10 L * ?",
        "0 15 10 L-2 * ?",
        "0 15 10 LW * ?",
        "0 15 10 L-3W * ?",
        "0 15 10 15W * ?",
        "0 15 10 * * ? *",
        "0 15 10 * * ? 2005/2",
        "0 0 0 ? * sun,Mon,TUE#2,fri#5,SATL",
        "0 0 0 l,lw,1w * ?",
        "\t0  0 0 * * ?\n",
    ] {
        if let Err(e) = CronExpr::parse(src, Dialect::Quartz) {
            panic!("{src:?}: {e}");
        }
    }
}

// ---------------------------------------------------------------------------
// DST table.
// ---------------------------------------------------------------------------

fn opts(gap: Option<GapPolicy>, fold: Option<FoldPolicy>) -> DstOptions {
    DstOptions { gap, fold }
}

fn dfires(src: &str, tz: &str, dst: DstOptions, after: &str, n: usize) -> Vec<String> {
    fires(&schedule(src, Dialect::Quartz, tz, dst), after, n)
}

#[test]
fn berlin_gap() {
    let d = DstOptions::default();
    // 2024-03-31: 02:00 CET -> 03:00 CEST at 01:00Z.
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            d,
            "2024-03-30T12:00:00Z",
            2,
        ),
        &["2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z"],
    );
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            opts(Some(GapPolicy::ShiftForward), None),
            "2024-03-30T12:00:00Z",
            2,
        ),
        &["2024-03-31T01:30:00Z", "2024-04-01T00:30:00Z"],
    );
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            opts(Some(GapPolicy::Skip), None),
            "2024-03-30T12:00:00Z",
            1,
        ),
        &["2024-04-01T00:30:00Z"],
    );
    // Periodic: gap wall times are skipped.
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            d,
            "2024-03-31T00:00:00Z",
            3,
        ),
        &[
            "2024-03-31T00:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-03-31T01:30:00Z",
        ],
    );
    // Periodic with run_at_transition: 02:00 and 02:30 collapse into 03:00.
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            opts(Some(GapPolicy::RunAtTransition), None),
            "2024-03-31T00:00:00Z",
            3,
        ),
        &[
            "2024-03-31T00:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-03-31T01:30:00Z",
        ],
    );
    // Periodic with shift_forward: 02:00->03:00 (same as the regular 03:00,
    // fires once), 02:30->03:30 (same as the regular 03:30).
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            opts(Some(GapPolicy::ShiftForward), None),
            "2024-03-31T00:00:00Z",
            4,
        ),
        &[
            "2024-03-31T00:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-03-31T01:30:00Z",
            "2024-03-31T02:00:00Z",
        ],
    );
    // shift_forward interleaving with regular fires after the gap:
    // 02:45 -> 03:45 CEST; regular 03:10 CEST comes first.
    check(
        dfires(
            "0 45,10 2,3 * * ?",
            "Europe/Berlin",
            opts(Some(GapPolicy::ShiftForward), None),
            "2024-03-31T00:50:00Z",
            4,
        ),
        &[
            "2024-03-31T01:10:00Z",
            "2024-03-31T01:45:00Z",
            "2024-04-01T00:10:00Z",
            "2024-04-01T00:45:00Z",
        ],
    );
}

#[test]
fn berlin_fold_and_restart_inside_it() {
    let d = DstOptions::default();
    // 2024-10-27: 03:00 CEST -> 02:00 CET at 01:00Z.
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            d,
            "2024-10-26T12:00:00Z",
            2,
        ),
        &["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"],
    );
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            opts(None, Some(FoldPolicy::Later)),
            "2024-10-26T12:00:00Z",
            2,
        ),
        &["2024-10-27T01:30:00Z", "2024-10-28T01:30:00Z"],
    );
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            opts(None, Some(FoldPolicy::Both)),
            "2024-10-26T12:00:00Z",
            3,
        ),
        &[
            "2024-10-27T00:30:00Z",
            "2024-10-27T01:30:00Z",
            "2024-10-28T01:30:00Z",
        ],
    );
    // Periodic: both passes.
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            d,
            "2024-10-26T23:45:00Z",
            5,
        ),
        &[
            "2024-10-27T00:00:00Z",
            "2024-10-27T00:30:00Z",
            "2024-10-27T01:00:00Z",
            "2024-10-27T01:30:00Z",
            "2024-10-27T02:00:00Z",
        ],
    );
    // Restart inside the fold: from the second pass, from the first pass
    // after its last fire, with sub-second parts.
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            d,
            "2024-10-27T01:00:00Z",
            1,
        ),
        &["2024-10-27T01:30:00Z"],
    );
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            d,
            "2024-10-27T00:45:00Z",
            1,
        ),
        &["2024-10-27T01:00:00Z"],
    );
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            d,
            "2024-10-27T00:30:00.250Z",
            1,
        ),
        &["2024-10-27T01:00:00Z"],
    );
    // Fixed, earlier: restarting in the second pass does not fire 02:30 again.
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            d,
            "2024-10-27T01:10:00Z",
            1,
        ),
        &["2024-10-28T01:30:00Z"],
    );
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            d,
            "2024-10-27T00:30:00Z",
            1,
        ),
        &["2024-10-28T01:30:00Z"],
    );
    // Fixed, later: restarting in the first pass (before or after 02:30 CEST)
    // still fires in the second pass.
    let later = opts(None, Some(FoldPolicy::Later));
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            later,
            "2024-10-27T00:10:00Z",
            1,
        ),
        &["2024-10-27T01:30:00Z"],
    );
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            later,
            "2024-10-27T00:40:00Z",
            1,
        ),
        &["2024-10-27T01:30:00Z"],
    );
    let both = opts(None, Some(FoldPolicy::Both));
    check(
        dfires(
            "0 30 2 * * ?",
            "Europe/Berlin",
            both,
            "2024-10-27T00:40:00Z",
            2,
        ),
        &["2024-10-27T01:30:00Z", "2024-10-28T01:30:00Z"],
    );
    // Periodic with earlier only: the second pass is skipped entirely.
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            opts(None, Some(FoldPolicy::Earlier)),
            "2024-10-27T00:15:00Z",
            3,
        ),
        &[
            "2024-10-27T00:30:00Z",
            "2024-10-27T02:00:00Z",
            "2024-10-27T02:30:00Z",
        ],
    );
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            opts(None, Some(FoldPolicy::Earlier)),
            "2024-10-27T01:15:00Z",
            1,
        ),
        &["2024-10-27T02:00:00Z"],
    );
    // Periodic with later only, restarted in the first pass.
    check(
        dfires(
            "0 */30 * * * ?",
            "Europe/Berlin",
            opts(None, Some(FoldPolicy::Later)),
            "2024-10-27T00:15:00Z",
            3,
        ),
        &[
            "2024-10-27T01:00:00Z",
            "2024-10-27T01:30:00Z",
            "2024-10-27T02:00:00Z",
        ],
    );
}

#[test]
fn dst_adjustment_is_reported() {
    let s = schedule(
        "0 30 2 * * ?",
        Dialect::Quartz,
        "Europe/Berlin",
        DstOptions::default(),
    );
    let f = s
        .next_fire_after(utc("2024-03-30T12:00:00Z"))
        .expect("fires");
    assert_eq!(f.dst, Some(DstAdjustment::GapRunAtTransition));
    assert_eq!(f.local.to_string(), "2024-03-31 02:30:00");
    let f = s
        .next_fire_after(utc("2024-10-26T12:00:00Z"))
        .expect("fires");
    assert_eq!(f.dst, Some(DstAdjustment::FoldEarlier));
    let f = s
        .next_fire_after(utc("2024-06-01T12:00:00Z"))
        .expect("fires");
    assert_eq!(
        (f.dst, f.local.to_string()),
        (None, "2024-06-02 02:30:00".to_string())
    );
    let s = schedule(
        "0 30 2 * * ?",
        Dialect::Quartz,
        "Europe/Berlin",
        opts(Some(GapPolicy::ShiftForward), Some(FoldPolicy::Later)),
    );
    let f = s
        .next_fire_after(utc("2024-03-30T12:00:00Z"))
        .expect("fires");
    assert_eq!(f.dst, Some(DstAdjustment::GapShiftedForward));
    let f = s
        .next_fire_after(utc("2024-10-26T12:00:00Z"))
        .expect("fires");
    assert_eq!(f.dst, Some(DstAdjustment::FoldLater));
}

#[test]
fn new_york_and_london() {
    let d = DstOptions::default();
    // New York 2024-03-10: 02:00 EST -> 03:00 EDT at 07:00Z.
    check(
        dfires(
            "0 30 2 * * ?",
            "America/New_York",
            d,
            "2024-03-09T12:00:00Z",
            2,
        ),
        &["2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"],
    );
    // 02:00, 02:30 (in the gap) and 03:00 (regular) all fall on 07:00Z: once.
    check(
        dfires(
            "0 0,30 2,3 * * ?",
            "America/New_York",
            d,
            "2024-03-10T06:00:00Z",
            2,
        ),
        &["2024-03-10T07:00:00Z", "2024-03-10T07:30:00Z"],
    );
    // 2024-11-03: 02:00 EDT -> 01:00 EST at 06:00Z.
    check(
        dfires(
            "0 30 1 * * ?",
            "America/New_York",
            d,
            "2024-11-02T12:00:00Z",
            2,
        ),
        &["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"],
    );
    // London: 01:00 GMT -> 02:00 BST at 01:00Z; 02:00 BST -> 01:00 GMT at 01:00Z.
    check(
        dfires(
            "0 30 1 * * ?",
            "Europe/London",
            d,
            "2024-03-30T12:00:00Z",
            2,
        ),
        &["2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z"],
    );
    check(
        dfires(
            "0 30 1 * * ?",
            "Europe/London",
            d,
            "2024-10-26T12:00:00Z",
            2,
        ),
        &["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"],
    );
    check(
        dfires(
            "0 0/20 1 * * ?",
            "Europe/London",
            d,
            "2024-10-27T00:00:00Z",
            7,
        ),
        &[
            "2024-10-27T00:20:00Z",
            "2024-10-27T00:40:00Z",
            "2024-10-27T01:00:00Z",
            "2024-10-27T01:20:00Z",
            "2024-10-27T01:40:00Z",
            "2024-10-28T01:00:00Z",
            "2024-10-28T01:20:00Z",
        ],
    );
}

#[test]
fn lord_howe_half_hour_shift() {
    let d = DstOptions::default();
    // 2024-10-06: 02:00 +10:30 -> 02:30 +11 at 2024-10-05T15:30Z.
    check(
        dfires(
            "0 15 2 * * ?",
            "Australia/Lord_Howe",
            d,
            "2024-10-05T00:00:00Z",
            2,
        ),
        &["2024-10-05T15:30:00Z", "2024-10-06T15:15:00Z"],
    );
    check(
        dfires(
            "0 15 2 * * ?",
            "Australia/Lord_Howe",
            opts(Some(GapPolicy::ShiftForward), None),
            "2024-10-05T00:00:00Z",
            1,
        ),
        &["2024-10-05T15:45:00Z"],
    );
    // 2024-04-07: 02:00 +11 -> 01:30 +10:30 at 2024-04-06T15:00Z.
    check(
        dfires(
            "0 45 1 * * ?",
            "Australia/Lord_Howe",
            d,
            "2024-04-06T00:00:00Z",
            2,
        ),
        &["2024-04-06T14:45:00Z", "2024-04-07T15:15:00Z"],
    );
    check(
        dfires(
            "0 45 1 * * ?",
            "Australia/Lord_Howe",
            opts(None, Some(FoldPolicy::Later)),
            "2024-04-06T00:00:00Z",
            1,
        ),
        &["2024-04-06T15:15:00Z"],
    );
    check(
        dfires(
            "0 */15 * * * ?",
            "Australia/Lord_Howe",
            d,
            "2024-04-06T14:20:00Z",
            5,
        ),
        &[
            "2024-04-06T14:30:00Z",
            "2024-04-06T14:45:00Z",
            "2024-04-06T15:00:00Z",
            "2024-04-06T15:15:00Z",
            "2024-04-06T15:30:00Z",
        ],
    );
}

#[test]
fn santiago_midnight_shift() {
    let d = DstOptions::default();
    // 2024-09-08: 24:00 -04 -> 01:00 -03 at 04:00Z; a daily midnight job runs at 01:00.
    check(
        dfires(
            "0 0 0 * * ?",
            "America/Santiago",
            d,
            "2024-09-07T05:00:00Z",
            2,
        ),
        &["2024-09-08T04:00:00Z", "2024-09-09T03:00:00Z"],
    );
    let s = schedule("0 0 0 * * ?", Dialect::Quartz, "America/Santiago", d);
    let f = s
        .next_fire_after(utc("2024-09-07T05:00:00Z"))
        .expect("fires");
    assert_eq!(
        f.at.with_timezone(&zone("America/Santiago"))
            .format("%H:%M")
            .to_string(),
        "01:00"
    );
    // Periodic skips the missing hour.
    check(
        dfires(
            "0 0 * * * ?",
            "America/Santiago",
            d,
            "2024-09-08T02:30:00Z",
            2,
        ),
        &["2024-09-08T03:00:00Z", "2024-09-08T04:00:00Z"],
    );
    // 2024-04-07: 24:00 -03 -> 23:00 -04 at 03:00Z: 23:30 on the 6th occurs twice.
    check(
        dfires(
            "0 30 23 * * ?",
            "America/Santiago",
            d,
            "2024-04-06T12:00:00Z",
            2,
        ),
        &["2024-04-07T02:30:00Z", "2024-04-08T03:30:00Z"],
    );
}

#[test]
fn apia_skipped_day() {
    let d = DstOptions::default();
    // 2011-12-30 does not exist in Pacific/Apia (-10 -> +14 at 2011-12-30T10:00Z).
    check(
        dfires("0 0 12 * * ?", "Pacific/Apia", d, "2011-12-29T12:00:00Z", 2),
        &["2011-12-29T22:00:00Z", "2011-12-30T22:00:00Z"],
    );
    check(
        dfires("0 0 0 * * ?", "Pacific/Apia", d, "2011-12-29T12:00:00Z", 1),
        &["2011-12-30T10:00:00Z"],
    );
    let s = schedule("0 0 0 * * ?", Dialect::Quartz, "Pacific/Apia", d);
    let f = s
        .next_fire_after(utc("2011-12-29T12:00:00Z"))
        .expect("fires");
    assert_eq!(
        (f.local.to_string(), f.dst),
        ("2011-12-31 00:00:00".to_string(), None)
    );
    // Explicit run_at_transition fires once for the lost day.
    check(
        dfires(
            "0 0 12 * * ?",
            "Pacific/Apia",
            opts(Some(GapPolicy::RunAtTransition), None),
            "2011-12-29T22:00:00Z",
            2,
        ),
        &["2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"],
    );
    // A job only on that date never fires that year.
    check(
        dfires(
            "0 0 12 30 12 ? 2011",
            "Pacific/Apia",
            d,
            "2011-01-01T00:00:00Z",
            1,
        ),
        &["none"],
    );
}

// ---------------------------------------------------------------------------
// Property tests.
// ---------------------------------------------------------------------------

/// 256 cases per property unless `PROPTEST_CASES` asks for a deeper run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Apia",
    "Asia/Kolkata",
];

fn num_item(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (min..=max).prop_map(|v| v.to_string()),
        2 => (min..=max, min..=max).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => (min..=max, 1..=(max - min + 1).min(20)).prop_map(|(a, s)| format!("{a}/{s}")),
        1 => (min..=max, min..=max, 1..=(max - min + 1).min(20)).prop_map(|(a, b, s)| format!("{a}-{b}/{s}")),
    ]
}

/// Items that every oracle reads the same way: ascending ranges only, and
/// steps only after `*` or a range (croner rejects `5/10`).
fn shared_item(min: u32, max: u32) -> impl Strategy<Value = String> {
    let asc = move |(a, b): (u32, u32)| (a.min(b), a.max(b));
    prop_oneof![
        3 => (min..=max).prop_map(|v| v.to_string()),
        2 => (min..=max, min..=max).prop_map(asc).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => ((min..=max, min..=max).prop_map(asc), 1..=(max - min + 1).min(20)).prop_map(|((a, b), s)| format!("{a}-{b}/{s}")),
    ]
}

fn shared_field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("*".to_string()),
        1 => (1..=(max - min + 1).min(20)).prop_map(|s| format!("*/{s}")),
        4 => prop::collection::vec(shared_item(min, max), 1..3).prop_map(|v| v.join(",")),
    ]
}

fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("*".to_string()),
        1 => (1..=(max - min + 1).min(20)).prop_map(|s| format!("*/{s}")),
        4 => prop::collection::vec(num_item(min, max), 1..3).prop_map(|v| v.join(",")),
    ]
}

fn quartz_dom() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => field(1, 31),
        1 => shared_field(1, 31),
        1 => Just("L".to_string()),
        1 => (0..=30u32).prop_map(|n| format!("L-{n}")),
        1 => Just("LW".to_string()),
        1 => (1..=31u32).prop_map(|n| format!("{n}W")),
        1 => (1..=31u32).prop_map(|n| format!("{n},L")),
    ]
}

fn quartz_dow() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => field(1, 7),
        1 => (1..=7u32).prop_map(|n| format!("{n}L")),
        1 => (1..=7u32, 1..=5u32).prop_map(|(n, k)| format!("{n}#{k}")),
        1 => Just("MON-FRI".to_string()),
        1 => Just("L".to_string()),
    ]
}

/// Any Quartz expression from the grammar, with a sparse-enough second field
/// that iteration stays cheap.
fn quartz_expr() -> impl Strategy<Value = String> {
    (
        field(0, 59),
        field(0, 59),
        field(0, 23),
        prop_oneof![quartz_dom().prop_map(|d| (d, "?".to_string())), quartz_dow().prop_map(|w| ("?".to_string(), w))],
        field(1, 12),
        prop_oneof![3 => Just(String::new()), 1 => (2020u32..2040, 0u32..10).prop_map(|(y, n)| format!(" {y}-{}", y + n))],
    )
        .prop_map(|(s, m, h, (dom, dow), mon, year)| format!("{s} {m} {h} {dom} {mon} {dow}{year}"))
}

/// Quartz expressions in the syntax the `cron` crate shares with us.
fn shared_quartz_expr() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(shared_item(0, 59), 1..3).prop_map(|v| v.join(",")),
        shared_field(0, 59),
        shared_field(0, 23),
        prop_oneof![
            shared_field(1, 31).prop_map(|d| (d, "?".to_string())),
            shared_field(1, 7).prop_map(|w| ("?".to_string(), w))
        ],
        shared_field(1, 12),
    )
        .prop_map(|(s, m, h, (dom, dow), mon)| format!("{s} {m} {h} {dom} {mon} {dow}"))
}

/// Unix expressions croner reads the same way (day fields '*' exactly or
/// without '*', as croner's Vixie test looks for an exact '*').
fn shared_unix_expr() -> impl Strategy<Value = String> {
    let day = |min, max| {
        prop_oneof![
            1 => Just("*".to_string()),
            3 => prop::collection::vec(shared_item(min, max), 1..3).prop_map(|v| v.join(",")),
        ]
    };
    (
        shared_field(0, 59),
        shared_field(0, 23),
        day(1, 31),
        shared_field(1, 12),
        day(0, 6),
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2040-01-01, with sub-second parts.
    (946_684_800i64..2_208_988_800, 0u32..1_000_000_000).prop_map(|(s, n)| {
        DateTime::from_timestamp(s, n).unwrap_or_else(|| panic!("in range: {s}"))
    })
}

fn dst_options() -> impl Strategy<Value = DstOptions> {
    let gap = prop_oneof![
        Just(None),
        Just(Some(GapPolicy::RunAtTransition)),
        Just(Some(GapPolicy::ShiftForward)),
        Just(Some(GapPolicy::Skip))
    ];
    let fold = prop_oneof![
        Just(None),
        Just(Some(FoldPolicy::Earlier)),
        Just(Some(FoldPolicy::Later)),
        Just(Some(FoldPolicy::Both))
    ];
    (gap, fold).prop_map(|(gap, fold)| DstOptions { gap, fold })
}

proptest! {
    #![proptest_config(config())]

    /// Next is strictly later; every start between a fire and its successor
    /// yields the successor; iteration never repeats or goes back.
    #[test]
    fn successor_properties(src in quartz_expr(), zi in 0..ZONES.len(), t in instant(), dst in dst_options(), frac in 0.0f64..1.0) {
        let s = schedule(&src, Dialect::Quartz, ZONES[zi], dst);
        let mut prev = t;
        for _ in 0..6 {
            let Some(a) = s.next_after(prev) else { break };
            prop_assert!(a > prev, "{src} in {}: {a} after {prev}", ZONES[zi]);
            let Some(b) = s.next_after(a) else { break };
            prop_assert!(b > a);
            // Any start in [a, b) gives b.
            let gap_ms = (b - a).num_milliseconds();
            let mid = a + Duration::milliseconds(((gap_ms as f64) * frac) as i64);
            prop_assert_eq!(s.next_after(mid), Some(b), "{} in {}: from {} (between {} and {})", src, ZONES[zi], mid, a, b);
            let just_before_b = b - Duration::milliseconds(1);
            prop_assert_eq!(s.next_after(just_before_b.max(a)), Some(b));
            prev = b;
        }
    }

    /// The same properties in every zone of the database, from 1970 on, where
    /// historical transitions come in all sizes.
    #[test]
    fn successor_properties_any_zone(src in quartz_expr(), tz in prop::sample::select(&chrono_tz::TZ_VARIANTS[..]), t in 0i64..2_208_988_800, dst in dst_options()) {
        let s = CronSchedule::new(CronExpr::parse(&src, Dialect::Quartz).map_err(|e| TestCaseError::fail(e.to_string()))?, tz, dst);
        let mut prev = DateTime::from_timestamp(t, 0).unwrap_or_else(|| panic!("in range: {t}"));
        for _ in 0..6 {
            let Some(a) = s.next_after(prev) else { break };
            prop_assert!(a > prev, "{src} in {tz}: {a} after {prev}");
            let Some(b) = s.next_after(a) else { break };
            prop_assert!(b > a);
            let mid = a + (b - a) / 2;
            prop_assert_eq!(s.next_after(mid), Some(b), "{} in {}: from {} (between {} and {})", src, tz, mid, a, b);
            prev = b;
        }
    }

    /// In UTC, agrees with the `cron` crate on the shared Quartz syntax.
    #[test]
    fn agrees_with_cron_crate(src in shared_quartz_expr(), t in instant()) {
        use std::str::FromStr;
        let ours = schedule(&src, Dialect::Quartz, "UTC", DstOptions::default());
        let theirs = cron::Schedule::from_str(&src).map_err(|e| TestCaseError::fail(format!("cron crate rejects {src}: {e}")))?;
        let mut mine = t;
        let mut their = theirs.after(&t);
        for _ in 0..5 {
            let a = ours.next_after(mine);
            let b = their.next();
            prop_assert_eq!(a, b, "{}", src);
            match a { Some(a) => mine = a, None => break }
        }
    }

    /// In UTC, agrees with croner on the shared Unix syntax (Vixie rule).
    #[test]
    fn agrees_with_croner(src in shared_unix_expr(), t in instant()) {
        let ours = schedule(&src, Dialect::Unix, "UTC", DstOptions::default());
        let theirs = croner::parser::CronParser::builder()
            .build()
            .parse(&src)
            .map_err(|e| TestCaseError::fail(format!("croner rejects {src}: {e}")))?;
        let mut at = t;
        for _ in 0..5 {
            let a = ours.next_after(at);
            let b = theirs.find_next_occurrence(&at, false).ok();
            prop_assert_eq!(a, b, "{}", src);
            match a { Some(a) => at = a, None => break }
        }
    }

    /// Quartz expressions with special characters agree with croner's Quartz
    /// mode (seconds, 1 = Sunday) where croner supports them.
    #[test]
    fn specials_agree_with_croner(
        // croner knows `L` in day-of-month and `nL`, `n#k` in day-of-week.
        dom in prop_oneof![2 => shared_field(1, 31), 1 => Just("L".to_string()), 1 => (1..=28u32).prop_map(|n| format!("{n},L"))],
        dow in prop_oneof![2 => shared_field(1, 7), 1 => (1..=7u32).prop_map(|n| format!("{n}L")), 1 => (1..=7u32, 1..=5u32).prop_map(|(n, k)| format!("{n}#{k}")), 1 => Just("MON-FRI".to_string())],
        use_dom in any::<bool>(),
        t in instant(),
    ) {
        let (d, w) = if use_dom { (dom, "?".to_string()) } else { ("?".to_string(), dow) };
        let src = format!("0 0 12 {d} * {w}");
        let ours = schedule(&src, Dialect::Quartz, "UTC", DstOptions::default());
        let theirs = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .alternative_weekdays(true)
            .build()
            .parse(&src)
            .map_err(|e| TestCaseError::fail(format!("croner rejects {src}: {e}")))?;
        let mut at = t;
        for _ in 0..4 {
            let a = ours.next_after(at);
            let b = theirs.find_next_occurrence(&at, false).ok();
            prop_assert_eq!(a, b, "{}", src);
            match a { Some(a) => at = a, None => break }
        }
    }

    /// Whatever the input, parsing never panics.
    #[test]
    fn parser_never_panics_on_strings(src in ".{0,64}", unix in any::<bool>()) {
        let _ = CronExpr::parse(&src, if unix { Dialect::Unix } else { Dialect::Quartz });
    }

    /// Cron-like noise: the grammar's alphabet in random order.
    #[test]
    fn parser_never_panics_on_cron_noise(src in "[0-9*/,?LW#A-Za-z@ -]{0,48}", unix in any::<bool>()) {
        if let Err(e) = CronExpr::parse(&src, if unix { Dialect::Unix } else { Dialect::Quartz }) {
            prop_assert!(e.column >= 1 && e.column <= src.chars().count() + 1, "{src:?}: {e}");
        }
    }

    /// Arbitrary bytes (lossily decoded) do not panic either, and any
    /// expression that parses evaluates without panicking in any zone.
    #[test]
    fn arbitrary_bytes_and_evaluation(bytes in prop::collection::vec(any::<u8>(), 0..64), zi in 0..ZONES.len(), t in instant()) {
        let src = String::from_utf8_lossy(&bytes);
        if let Ok(e) = CronExpr::parse(&src, Dialect::Quartz) {
            let s = CronSchedule::new(e, zone(ZONES[zi]), DstOptions::default());
            let _ = s.next_after(t);
        }
    }
}

/// Random instants across DST-heavy years in every zone, for the defaults:
/// fixed daily schedules fire once per local day, except for a skipped day.
#[test]
fn fixed_daily_fires_once_per_local_day() {
    for tz in ZONES {
        let s = schedule("0 30 2 * * ?", Dialect::Quartz, tz, DstOptions::default());
        let zone = zone(tz);
        let mut t = utc("2010-01-01T00:00:00Z");
        let mut last_day = None;
        for _ in 0..(365 * 3) {
            let Some(next) = s.next_after(t) else {
                panic!("{tz} stopped")
            };
            let day = next.with_timezone(&zone).date_naive();
            if let Some(prev) = last_day {
                assert!(day > prev, "{tz}: two fires on {day}");
            }
            last_day = Some(day);
            t = next;
        }
    }
}

#[test]
fn next_after_handles_extreme_instants() {
    let s = schedule(
        "0 0 0 1 1 ?",
        Dialect::Quartz,
        "Europe/Berlin",
        DstOptions::default(),
    );
    assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
    assert_eq!(
        s.next_after(DateTime::<Utc>::MIN_UTC)
            .map(|t| t.timestamp() < 0),
        Some(true)
    );
    let far = Utc
        .with_ymd_and_hms(-5000, 1, 1, 0, 0, 0)
        .single()
        .expect("valid");
    assert!(s.next_after(far).is_some());
}

// ---------------------------------------------------------------------------
// DST against a brute-force reference.
// ---------------------------------------------------------------------------

/// (zone, a transition instant) pairs: gaps and folds of every shape tested.
const TRANSITIONS: &[(&str, &str)] = &[
    ("Europe/Berlin", "2024-03-31T01:00:00Z"),
    ("Europe/Berlin", "2024-10-27T01:00:00Z"),
    ("America/New_York", "2024-03-10T07:00:00Z"),
    ("America/New_York", "2024-11-03T06:00:00Z"),
    ("Europe/London", "2024-03-31T01:00:00Z"),
    ("Europe/London", "2024-10-27T01:00:00Z"),
    ("Australia/Lord_Howe", "2024-10-05T15:30:00Z"),
    ("Australia/Lord_Howe", "2024-04-06T15:00:00Z"),
    ("America/Santiago", "2024-09-08T04:00:00Z"),
    ("America/Santiago", "2024-04-07T03:00:00Z"),
    ("Pacific/Apia", "2011-12-30T10:00:00Z"),
];

/// All fires in `[from, to)` by brute force over every minute: the literal
/// reading of the DST rules, independent of the search in `cron.rs`.
fn brute_force(s: &CronSchedule, from: i64, to: i64) -> Vec<i64> {
    use chrono::{LocalResult, Offset};
    let tz = s.tz();
    let expr = s.expr();
    let periodic = expr.is_periodic();
    let opts = s.dst_options();
    let fold = opts.fold_policy_for(periodic);
    let off = |i: i64| {
        let naive = DateTime::from_timestamp(i, 0)
            .expect("in range")
            .naive_utc();
        i64::from(tz.offset_from_utc_datetime(&naive).fix().local_minus_utc())
    };
    let naive = |w: i64| {
        DateTime::from_timestamp(w, 0)
            .expect("in range")
            .naive_utc()
    };
    let mut out = std::collections::BTreeSet::new();
    let mut i = from;
    while i < to {
        let (o, prev) = (off(i), off(i - 60));
        let w = i + o;
        if expr.matches_local(naive(w)) {
            match tz.offset_from_local_datetime(&naive(w)) {
                LocalResult::Single(_) => {
                    out.insert(i);
                }
                LocalResult::Ambiguous(a, b) => {
                    let hi = i64::from(a.fix().local_minus_utc())
                        .max(i64::from(b.fix().local_minus_utc()));
                    let first_pass = o == hi;
                    if (first_pass && fold.fires_earlier()) || (!first_pass && fold.fires_later()) {
                        out.insert(i);
                    }
                }
                LocalResult::None => unreachable!("the wall time of an instant exists"),
            }
        }
        if o > prev {
            // Clocks jumped forward at i: wall times [i + prev, i + o) are lost.
            let gap = o - prev;
            let mut g = i + prev;
            while g < i + o {
                if expr.matches_local(naive(g)) {
                    match opts.gap_policy_for(periodic, gap) {
                        GapPolicy::RunAtTransition => {
                            out.insert(i);
                        }
                        GapPolicy::ShiftForward => {
                            out.insert(g - prev);
                        }
                        GapPolicy::Skip => {}
                    }
                }
                g += 60;
            }
        }
        i += 60;
    }
    out.into_iter().filter(|&t| t < to).collect()
}

fn minute_expr() -> impl Strategy<Value = String> {
    let hours = prop_oneof![
        1 => Just("*".to_string()),
        1 => (1..=6u32).prop_map(|s| format!("*/{s}")),
        2 => prop::collection::vec(prop_oneof![0..=4u32, 22..=23u32, 0..=23u32], 1..4)
            .prop_map(|v| v.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",")),
        1 => (0..=3u32, 0..=3u32).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b) + 1)),
    ];
    let minutes = prop_oneof![
        1 => Just("*/10".to_string()),
        1 => (1..=30u32).prop_map(|s| format!("*/{s}")),
        2 => prop::collection::vec(0..=59u32, 1..4)
            .prop_map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(",")),
    ];
    let days = prop_oneof![
        3 => Just("* * ?".to_string()),
        1 => Just("? * 1-7".to_string()),
        1 => Just("L * ?".to_string()),
    ];
    (minutes, hours, days).prop_map(|(m, h, d)| format!("0 {m} {h} {d}"))
}

proptest! {
    #![proptest_config(config())]

    /// Around real transitions, iterating `next_after` yields exactly the
    /// brute-force set of fires for every policy combination.
    #[test]
    fn dst_matches_brute_force(src in minute_expr(), which in 0..TRANSITIONS.len(), dst in dst_options()) {
        let (tz, at) = TRANSITIONS[which];
        let s = schedule(&src, Dialect::Quartz, tz, dst);
        let t = utc(at).timestamp();
        let (from, to) = (t - 30 * 3600, t + 30 * 3600);
        let want = brute_force(&s, from, to);
        let mut got = Vec::new();
        let mut cur = DateTime::from_timestamp(from - 1, 0).expect("in range");
        while let Some(next) = s.next_after(cur) {
            if next.timestamp() >= to {
                break;
            }
            got.push(next.timestamp());
            cur = next;
        }
        let show = |v: &[i64]| v.iter().map(|&t| fmt(DateTime::from_timestamp(t, 0).expect("in range"))).collect::<Vec<_>>();
        prop_assert_eq!(show(&got), show(&want), "{} in {} with {:?}", src, tz, dst);
    }
}

/// The first transition of `tz` after `t` within a year, to the second.
fn first_transition_after(tz: Tz, t: i64) -> Option<i64> {
    let off = |i: i64| crate::schedule::dst::offset_at(tz, i);
    let start = off(t)?;
    let mut day = t;
    while day < t + 366 * 86_400 {
        if off(day + 86_400)? != start {
            return crate::schedule::dst::transition_between(tz, day, day + 86_400);
        }
        day += 86_400;
    }
    None
}

proptest! {
    #![proptest_config(config())]

    /// The brute-force comparison around a real transition of any zone in the
    /// database between 1970 and 2040 (historical shifts of every size).
    #[test]
    fn dst_matches_brute_force_any_zone(src in minute_expr(), tz in prop::sample::select(&chrono_tz::TZ_VARIANTS[..]), t in 0i64..2_208_988_800, dst in dst_options()) {
        let Some(tr) = first_transition_after(tz, t) else { return Ok(()) };
        // Brute force steps by minutes: keep to transitions on whole minutes.
        prop_assume!(tr % 60 == 0);
        let s = CronSchedule::new(CronExpr::parse(&src, Dialect::Quartz).map_err(|e| TestCaseError::fail(e.to_string()))?, tz, dst);
        let (from, to) = (tr - 30 * 3600, tr + 30 * 3600);
        let want = brute_force(&s, from, to);
        let mut got = Vec::new();
        let mut cur = DateTime::from_timestamp(from - 1, 0).expect("in range");
        while let Some(next) = s.next_after(cur) {
            if next.timestamp() >= to {
                break;
            }
            got.push(next.timestamp());
            cur = next;
        }
        let show = |v: &[i64]| v.iter().map(|&t| fmt(DateTime::from_timestamp(t, 0).expect("in range"))).collect::<Vec<_>>();
        prop_assert_eq!(show(&got), show(&want), "{} in {} around {} with {:?}", src, tz, fmt(DateTime::from_timestamp(tr, 0).expect("in range")), dst);
    }
}
