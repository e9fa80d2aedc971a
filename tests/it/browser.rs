//! The dashboard in a real browser: headless Chromium loads each page of
//! a node with a seeded database, the test asserts that no console error
//! and no failed or refused request was logged, and that each page's
//! screenshot (written under `target/dashboard-screenshots/`) exists and
//! is not blank.
//!
//! Chromium is required when `COSCHED_REQUIRE_BROWSER=1` (CI sets it and
//! installs the package); elsewhere a machine without it skips, saying so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::dashboard::Dashboard;
use crate::http::post;
use crate::support::{exec, sqlite};

const BROWSERS: &[&str] = &["chromium", "chromium-browser", "google-chrome"];

fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots")
}

/// Lines of Chromium's log that mean the page did not load cleanly.
fn problems(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Failed to load resource")
                || l.contains("Refused to")
                || l.contains("Uncaught")
                || l.contains("Content Security Policy")
        })
        .collect()
}

async fn shoot(chromium: &Path, url: &str, png: &Path, width: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},900"))
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish with {url}"))
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed on {url}: {log}");
    log
}

/// A PNG that exists and has more than one colour: its size says so
/// well enough (a blank 1280x900 page compresses to about 5 KB).
fn assert_not_blank(png: &Path) {
    let bytes = std::fs::read(png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    assert!(
        bytes.len() > 15_000,
        "{} looks blank ({} bytes)",
        png.display(),
        bytes.len()
    );
}

#[tokio::test]
async fn every_page_loads_in_chromium_without_errors() {
    let Some(chromium) = browser() else {
        assert!(
            std::env::var("COSCHED_REQUIRE_BROWSER").is_err(),
            "COSCHED_REQUIRE_BROWSER is set but no Chromium is installed (apt-get install chromium)"
        );
        eprintln!(
            "skipped: no Chromium on this machine (set COSCHED_REQUIRE_BROWSER=1 to require it)"
        );
        return;
    };
    let db = sqlite();
    let now = Utc.with_ymd_and_hms(2026, 3, 29, 0, 20, 0).unwrap();
    let d = Dashboard::start(&db.url, now).await;
    d.node("node-a", &["default"]).await;
    for (name, group, cron, pool) in [
        ("nightly-backup", "ops", "0 30 2 * * ?", "default"),
        ("reports-every-15m", "reports", "0 0/15 * * * ?", "default"),
        ("cache-warm", "web", "0 0/5 * * * ?", "default"),
        ("gpu-train", "ml", "0 0 * * * ?", "gpu"),
        ("invoice-run", "billing", "0 0/30 * * * ?", "default"),
    ] {
        d.job(
            json!({"name": name, "kind": "noop", "group": group, "pool": pool,
            "schedule": {"cron": cron, "timezone": "Europe/Berlin"}}),
        )
        .await;
    }
    assert_eq!(
        post(d.addr, "/jobs/invoice-run/pause", json!({}))
            .await
            .status,
        200
    );
    // Some history: successes, a failure with output, a skipped fire.
    let t = now.timestamp_millis();
    for (i, status, reason, output) in [
        (1, "succeeded", "NULL", "'backup done: 2.1 GB'"),
        (2, "failed", "NULL", "'exit status 1: disk full'"),
        (3, "skipped", "'overlap: skip'", "NULL"),
        (4, "succeeded", "NULL", "NULL"),
        (5, "timed_out", "NULL", "NULL"),
    ] {
        let at = t - i * 600_000;
        exec(&d.h.db, &format!(
            "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, started_at, finished_at, \
             node_id, attempt, fence, status, recovery, reason, output) \
             SELECT id, name, {at}, {at}, {at} + 40, {at} + 1500, 'node-a', 1, 0, '{status}', FALSE, \
             {reason}, {output} FROM jobs WHERE name IN ('nightly-backup', 'reports-every-15m')"
        ))
        .await
        .unwrap();
    }
    // The timeline's bars: fires of the last hours that ran for minutes,
    // one late, one failed, one still running on another node.
    let minute = 60_000;
    for (job, back_min, late_ms, run_min, status, node) in [
        ("cache-warm", 330, 200, 12, "succeeded", "node-a"),
        ("cache-warm", 250, 45_000, 9, "succeeded", "node-a"),
        ("cache-warm", 170, 300, 14, "failed", "node-b"),
        ("cache-warm", 90, 100, 11, "succeeded", "node-a"),
        ("gpu-train", 300, 90_000, 95, "timed_out", "node-b"),
        ("gpu-train", 120, 500, 70, "succeeded", "node-b"),
        ("gpu-train", 30, 1_000, 0, "running", "node-b"),
        ("invoice-run", 200, 0, 0, "skipped", ""),
        ("nightly-backup", 260, 20_000, 40, "succeeded", "node-a"),
    ] {
        let at = t - back_min * minute;
        let (started, finished) = match status {
            "skipped" => ("NULL".to_string(), "NULL".to_string()),
            "running" => ((at + late_ms).to_string(), "NULL".to_string()),
            _ => (
                (at + late_ms).to_string(),
                (at + late_ms + run_min * minute).to_string(),
            ),
        };
        let node = if node.is_empty() {
            "NULL".to_string()
        } else {
            format!("'{node}'")
        };
        exec(&d.h.db, &format!(
            "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, started_at, finished_at, \
             node_id, attempt, fence, status, recovery) \
             SELECT id, name, {at}, {at}, {started}, {finished}, {node}, 1, 0, '{status}', FALSE \
             FROM jobs WHERE name = '{job}'"
        ))
        .await
        .unwrap();
    }
    let cal = crate::http::put(
        d.addr,
        "/calendars/weekends",
        json!({"days_of_week": ["sat", "sun"]}),
    )
    .await;
    assert_eq!(cal.status, 200, "{}", cal.body);
    d.job(json!({"name": "weekday-report", "kind": "noop", "group": "reports",
        "schedule": {"cron": "0 0 9 * * ?", "timezone": "Europe/Berlin", "calendars": ["weekends"]}}))
        .await;
    d.h.clock.set(now + chrono::Duration::minutes(3));
    d.node("node-a", &["default"]).await;

    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let pages = [
        ("overview", "/ui", 1280),
        ("jobs", "/ui/jobs", 1280),
        ("job", "/ui/jobs/nightly-backup", 1280),
        ("fires", "/ui/fires", 1280),
        ("timeline", "/ui/timeline", 1280),
        ("cluster", "/ui/cluster", 1280),
        ("calendars", "/ui/calendars", 1280),
        ("overview-phone", "/ui", 400),
    ];
    for (name, path, width) in pages {
        let png = dir.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        let url = format!("http://{}{path}", d.addr);
        let log = shoot(&chromium, &url, &png, width).await;
        assert!(problems(&log).is_empty(), "{url}: {:?}", problems(&log));
        assert_not_blank(&png);
    }
    d.stop().await;
}
