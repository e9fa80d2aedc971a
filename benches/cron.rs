//! Cron parsing and next-fire speed: cosched against the `cron` crate and
//! croner on the same mix of expressions, in one run.
//!
//! An expression a library cannot parse is skipped for that library, and the
//! skip is printed. Run: `cargo bench --bench cron`; for a quick look add
//! `-- --measurement-time 1 --warm-up-time 0.5`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use cosched::schedule::cron::{CronExpr, CronSchedule, Dialect};
use cosched::schedule::dst::DstOptions;
use criterion::{Criterion, criterion_group, criterion_main};

/// (bench name, Quartz expression, time zone).
const MIX: &[(&str, &str, &str)] = &[
    ("every_second", "* * * * * ?", "UTC"),
    ("every_15_minutes", "0 */15 * * * ?", "UTC"),
    ("daily_0230", "0 30 2 * * ?", "UTC"),
    ("weekdays_0900", "0 0 9 ? * MON-FRI", "UTC"),
    ("last_day_of_month", "0 0 12 L * ?", "UTC"),
    ("nearest_weekday_15w", "0 0 12 15W * ?", "UTC"),
    ("third_friday", "0 0 12 ? * 6#3", "UTC"),
    ("feb_29", "0 0 0 29 2 ?", "UTC"),
    ("daily_0230_berlin", "0 30 2 * * ?", "Europe/Berlin"),
    ("weekdays_0900_berlin", "0 0 9 ? * MON-FRI", "Europe/Berlin"),
];

fn croner_parser() -> croner::parser::CronParser {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .alternative_weekdays(true)
        .build()
}

fn start() -> DateTime<Utc> {
    // A Wednesday mid-month, mid-day, with odd seconds.
    match Utc.with_ymd_and_hms(2024, 5, 15, 10, 17, 33).single() {
        Some(t) => t,
        None => unreachable!("a valid fixed instant"),
    }
}

fn zone(name: &str) -> Tz {
    name.parse()
        .unwrap_or_else(|e| panic!("bench zone {name} is not a zone: {e}"))
}

fn bench_parse(c: &mut Criterion) {
    for &(name, src, _) in MIX {
        let mut group = c.benchmark_group(format!("parse/{name}"));
        group.bench_function("cosched", |b| {
            b.iter(|| CronExpr::parse(black_box(src), Dialect::Quartz))
        });
        if cron::Schedule::from_str(src).is_ok() {
            group.bench_function("cron", |b| {
                b.iter(|| cron::Schedule::from_str(black_box(src)))
            });
        } else {
            println!("skip: cron crate cannot parse {src:?} ({name})");
        }
        let parser = croner_parser();
        if parser.parse(src).is_ok() {
            group.bench_function("croner", |b| b.iter(|| parser.parse(black_box(src))));
        } else {
            println!("skip: croner cannot parse {src:?} ({name})");
        }
        group.finish();
    }
}

fn bench_next(c: &mut Criterion) {
    for &(name, src, tz_name) in MIX {
        let tz = zone(tz_name);
        let from = start();
        let from_tz = from.with_timezone(&tz);
        let mut group = c.benchmark_group(format!("next/{name}"));
        let expr = CronExpr::parse(src, Dialect::Quartz)
            .unwrap_or_else(|e| panic!("cosched must parse {src:?}: {e}"));
        let ours = CronSchedule::new(expr, tz, DstOptions::default());
        group.bench_function("cosched", |b| b.iter(|| ours.next_after(black_box(from))));
        match cron::Schedule::from_str(src) {
            Ok(theirs) => {
                group.bench_function("cron", |b| {
                    b.iter(|| theirs.after(black_box(&from_tz)).next())
                });
            }
            Err(_) => println!("skip: cron crate cannot parse {src:?} ({name})"),
        }
        match croner_parser().parse(src) {
            Ok(theirs) => {
                group.bench_function("croner", |b| {
                    b.iter(|| theirs.find_next_occurrence(black_box(&from_tz), false))
                });
            }
            Err(_) => println!("skip: croner cannot parse {src:?} ({name})"),
        }
        group.finish();
    }
}

criterion_group!(benches, bench_parse, bench_next);
criterion_main!(benches);
