//! The web dashboard (`/ui`) over HTTP: a node's API served on loopback
//! with a manual clock and no scheduler loop, so the test decides what is
//! due and what fired. The pages are read as HTML: ticks, reasons and
//! paging are found by their data attributes.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use cosched::clock::Clock;
use cosched::http::{Api, Listener, Protection, Server};
use cosched::schedule::cron::{CronExpr, CronSchedule, Dialect};
use cosched::schedule::dst::DstOptions;
use cosched::store::NodeCheckin;
use serde_json::json;

use crate::http::{Reply, get, post, send_with};
use crate::support::{Harness, backends, exec};

/// A harness with the HTTP API (and so the dashboard) served on loopback.
pub(crate) struct Dashboard {
    pub h: Harness,
    server: Server,
    pub addr: SocketAddr,
}

impl Dashboard {
    pub async fn start(url: &str, now: DateTime<Utc>) -> Dashboard {
        Dashboard::start_with(url, now, Protection::default()).await
    }

    /// With these protections (tokens) instead of an open loopback API.
    pub async fn start_with(url: &str, now: DateTime<Utc>, protection: Protection) -> Dashboard {
        let h = Harness::new(url).await;
        h.clock.set(now);
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let clock: Arc<dyn Clock> = h.clock.clone();
        let api = Api {
            client: h.client.clone(),
            node_id: h.node_id.clone(),
            executor: h.executor.clone(),
            events: h.events.clone(),
            clock,
            default_timezone: chrono_tz::UTC,
            max_concurrent: 16,
            dead_after_checkins: 4,
        };
        let server = Server::start(listener, api, protection);
        let addr = server.local_addr();
        Dashboard { h, server, addr }
    }

    /// Registers a live node serving `pools`.
    pub async fn node(&self, id: &str, pools: &[&str]) {
        let pools: Vec<String> = pools.iter().map(|p| p.to_string()).collect();
        self.h
            .store
            .node_register(&NodeCheckin {
                node_id: id,
                host: "localhost",
                pid: 1,
                version: "test",
                pools: &pools,
                now_ms: self.h.clock.now_ms(),
                checkin_interval_ms: 10_000,
                clock_offset_ms: 0,
            })
            .await
            .unwrap();
    }

    pub async fn page(&self, path: &str) -> Reply {
        let r = get(self.addr, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r
    }

    pub async fn job(&self, decl: serde_json::Value) {
        let r = post(self.addr, "/jobs", decl.clone()).await;
        assert_eq!(r.status, 201, "{decl}: {}", r.body);
    }

    pub async fn stop(self) {
        self.server
            .shutdown(std::time::Duration::from_secs(5))
            .await;
    }
}

/// The `data-at` instants inside the element that starts at `marker`,
/// up to the element's end `until`.
fn instants_in(html: &str, marker: &str, until: &str) -> Vec<String> {
    let Some(start) = html.find(marker) else {
        return Vec::new();
    };
    let rest = &html[start..];
    let section = &rest[..rest.find(until).unwrap_or(rest.len())];
    section
        .split("data-at=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

fn lane(html: &str, job: &str) -> String {
    let marker = format!("data-job=\"{job}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no lane {job}: {html}"));
    let rest = &html[start..];
    rest[..rest.find("</g>").unwrap()].to_string()
}

fn cron_fires(
    expr: &str,
    tz: chrono_tz::Tz,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<String> {
    let schedule = CronSchedule::new(
        CronExpr::parse(expr, Dialect::Quartz).unwrap(),
        tz,
        DstOptions::default(),
    );
    let mut out = Vec::new();
    let mut at = from - TimeDelta::milliseconds(1);
    while let Some(next) = schedule.next_after(at) {
        if next > until {
            break;
        }
        out.push(next.to_rfc3339());
        at = next;
    }
    out
}

#[tokio::test]
async fn the_timeline_ticks_are_the_schedule_s_fires_with_the_berlin_gap_marked() {
    // 01:15 in Berlin on the last Sunday of March 2026: at 02:00 the
    // clocks jump to 03:00.
    let now = Utc.with_ymd_and_hms(2026, 3, 29, 0, 15, 0).unwrap();
    let berlin = chrono_tz::Europe::Berlin;
    for db in backends().await {
        let d = Dashboard::start(&db.url, now).await;
        d.node("node-a", &["default"]).await;
        d.job(
            json!({"name": "quarterly", "kind": "noop", "group": "berlin",
            "schedule": {"cron": "0 0/15 * * * ?", "timezone": "Europe/Berlin"}}),
        )
        .await;
        d.job(
            json!({"name": "half-past-two", "kind": "noop", "group": "berlin",
            "schedule": {"cron": "0 30 2 * * ?", "timezone": "Europe/Berlin"}}),
        )
        .await;
        d.job(json!({"name": "held", "kind": "noop",
            "schedule": {"cron": "0 0 * * * ?", "timezone": "UTC"}}))
            .await;
        assert_eq!(
            post(d.addr, "/jobs/held/pause", json!({})).await.status,
            200
        );

        let html = d.page("/ui").await.body;
        let horizon = now + TimeDelta::hours(2);
        let quarterly = lane(&html, "quarterly");
        assert_eq!(
            instants_in(&quarterly, "data-job", "</g>"),
            cron_fires("0 0/15 * * * ?", berlin, now, horizon),
            "{}",
            db.backend
        );
        // 02:30 does not exist that night: fired at the transition, marked.
        let gap = lane(&html, "half-past-two");
        assert_eq!(
            instants_in(&gap, "data-job", "</g>"),
            vec!["2026-03-29T01:00:00+00:00".to_string()]
        );
        assert!(gap.contains("class=\"tick dst\""), "{gap}");
        let notes = instants_in(&html, "class=\"dst-notes\"", "</ul>");
        assert_eq!(notes, vec!["2026-03-29T01:00:00+00:00".to_string()]);
        assert!(html.contains("gap policy run_at_transition"), "{html}");
        // A paused job's lane is drawn hollow.
        assert!(
            html.contains("class=\"lane paused\" data-job=\"held\""),
            "{html}"
        );
        assert_eq!(
            instants_in(&lane(&html, "held"), "data-job", "</g>"),
            cron_fires("0 0 * * * ?", chrono_tz::UTC, now, horizon)
        );

        // The job page previews the same fires, the DST one marked.
        let page = d.page("/ui/jobs/half-past-two").await.body;
        let next = instants_in(&page, "class=\"next-fires\"", "</ol>");
        assert_eq!(next.len(), 20);
        assert_eq!(next[0], "2026-03-29T01:00:00+00:00");
        assert_eq!(next[1], "2026-03-30T00:30:00+00:00");
        assert!(page.contains("◆ DST"), "{page}");
        d.stop().await;
    }
}

#[tokio::test]
async fn late_now_names_each_reason() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    for db in backends().await {
        let d = Dashboard::start(&db.url, now).await;
        d.node("node-a", &["default"]).await;
        d.node("node-gone", &["default"]).await;
        for (name, pool) in [
            ("gpu-job", "gpu"),
            ("paused-job", "default"),
            ("orphan", "default"),
            ("plain", "default"),
        ] {
            d.job(json!({"name": name, "kind": "noop", "pool": pool,
                "schedule": {"cron": "0 * * * * ?", "timezone": "UTC"}}))
                .await;
        }
        assert_eq!(
            post(d.addr, "/jobs/paused-job/pause", json!({}))
                .await
                .status,
            200
        );
        let sql = d.h.store.clone();
        drop(sql);
        exec(
            &d.h.db,
            "UPDATE nodes SET state = 'dead' WHERE id = 'node-gone'",
        )
        .await
        .unwrap();
        let lease_until = (now + TimeDelta::minutes(10)).timestamp_millis();
        exec(
            &d.h.db,
            &format!(
                "UPDATE triggers SET lease_owner = 'node-gone', lease_until = {lease_until} \
             WHERE job_id = (SELECT id FROM jobs WHERE name = 'orphan')"
            ),
        )
        .await
        .unwrap();
        // Five minutes on, each trigger's 10:01 fire is four minutes late.
        d.h.clock.set(now + TimeDelta::minutes(5));
        // Keep the live node live at the new instant.
        d.node("node-a", &["default"]).await;

        let html = d.page("/ui").await.body;
        let reason = |job: &str| -> String {
            let row_start = html
                .find(&format!(">{job}</a>"))
                .unwrap_or_else(|| panic!("{job} not late: {html}"));
            let before = &html[..row_start];
            let tr = before.rfind("<tr data-reason=\"").unwrap();
            let code = &before[tr + 17..];
            code[..code.find('"').unwrap()].to_string()
        };
        assert_eq!(reason("gpu-job"), "no-node", "{}", db.backend);
        assert_eq!(reason("paused-job"), "paused");
        assert_eq!(reason("orphan"), "dead-lease");
        assert_eq!(reason("plain"), "waiting");
        assert!(html.contains("no live node serves pool `gpu`"));
        assert!(html.contains("lease held by dead node `node-gone`"));

        // Standby outranks every cause but a pause.
        d.h.client.set_standby(true).await.unwrap();
        let html2 = d.page("/ui").await.body;
        assert!(html2.contains("data-reason=\"standby\""), "{html2}");
        assert!(html2.contains("data-reason=\"paused\""));
        assert!(!html2.contains("data-reason=\"no-node\""));
        assert!(html2.contains("⏸ on"));
        d.stop().await;
    }
}

#[tokio::test]
async fn jobs_and_fires_are_paged() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    for db in backends().await {
        let d = Dashboard::start(&db.url, now).await;
        for i in 0..55 {
            d.job(json!({"name": format!("job-{i:02}"), "kind": "noop", "group": if i % 2 == 0 { "even" } else { "odd" }}))
                .await;
        }
        let count = |html: &str| html.matches("<a href=\"/ui/jobs/job-").count();
        let first = d.page("/ui/jobs").await.body;
        assert_eq!(count(&first), 50, "{}", db.backend);
        assert!(first.contains("job-49") && !first.contains("job-50"));
        let next = first
            .split("rel=\"next\" href=\"")
            .nth(1)
            .map(|s| s[..s.find('"').unwrap()].replace("&amp;", "&"))
            .expect("a next page");
        let second = d.page(&next).await.body;
        assert_eq!(count(&second), 5);
        assert!(second.contains("job-54") && !second.contains("job-49<"));
        assert!(!second.contains("rel=\"next\""));
        let odd = d.page("/ui/jobs?group=odd").await.body;
        assert_eq!(count(&odd), 27);

        // 60 fires of one job: 50, then 10, newest first.
        for i in 0..60 {
            let at = now.timestamp_millis() - i * 1000;
            exec(&d.h.db, &format!(
                "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, attempt, fence, status, recovery) \
                 SELECT id, name, {at}, {at}, 1, 0, 'succeeded', FALSE FROM jobs WHERE name = 'job-00'"
            ))
            .await
            .unwrap();
        }
        let fires = d.page("/ui/fires?job=job-00").await.body;
        assert_eq!(fires.matches("<tr data-fire=").count(), 50);
        let older = fires
            .split("rel=\"next\" href=\"")
            .nth(1)
            .map(|s| s[..s.find('"').unwrap()].replace("&amp;", "&"))
            .expect("an older page");
        let rest = d.page(&older).await.body;
        assert_eq!(rest.matches("<tr data-fire=").count(), 10);
        let job_page = d.page("/ui/jobs/job-00").await.body;
        assert_eq!(job_page.matches("<tr data-fire=").count(), 50);
        let bad = get(d.addr, "/ui/fires?before=nonsense").await;
        assert_eq!(bad.status, 400);
        d.stop().await;
    }
}

#[tokio::test]
async fn hostile_names_and_outputs_render_as_text() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    for db in backends().await {
        let d = Dashboard::start(&db.url, now).await;
        let name = "<script>alert('name')</script>";
        d.job(json!({"name": name, "kind": "noop",
            "schedule": {"cron": "0 0/10 * * * ?", "timezone": "UTC"}}))
            .await;
        let t = now.timestamp_millis() - 60_000;
        exec(&d.h.db, &format!(
            "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, started_at, finished_at, \
             node_id, attempt, fence, status, recovery, output, error) \
             SELECT id, name, {t}, {t}, {t}, {t}, 'n', 1, 0, 'failed', FALSE, \
             '<script>alert(''out'')</script>', '<img src=x onerror=alert(1)>' FROM jobs"
        ))
        .await
        .unwrap();
        let encoded = cosched::http::ui::format::urlencode(name);
        for path in [
            "/ui".to_string(),
            "/ui/jobs".into(),
            format!("/ui/jobs/{encoded}"),
            "/ui/fires".into(),
            "/ui/timeline".into(),
            "/ui/timeline?lanes=node".into(),
        ] {
            let body = d.page(&path).await.body;
            assert!(!body.contains("<script>alert"), "{path}: {body}");
            assert!(!body.contains("<img src=x"), "{path}");
            assert!(body.contains("&lt;script&gt;alert("), "{path}: {body}");
            // The only scripts are the dashboard's own file.
            assert_eq!(body.matches("<script").count(), 1, "{path}");
        }
        let job = d.page(&format!("/ui/jobs/{encoded}")).await.body;
        assert!(
            job.contains("&lt;script&gt;alert('out')&lt;/script&gt;")
                || job.contains("&lt;script&gt;alert(&#39;out&#39;)"),
            "{job}"
        );
        assert!(job.contains("&lt;img src=x onerror=alert(1)&gt;"));
        d.stop().await;
    }
}

#[tokio::test]
async fn pages_and_assets_carry_the_policy_and_etags() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let db = crate::support::sqlite();
    let d = Dashboard::start(&db.url, now).await;
    let host = d.addr.to_string();
    for path in [
        "/ui",
        "/ui/jobs",
        "/ui/fires",
        "/ui/timeline",
        "/ui/assets/app.css",
        "/ui/assets/app.js",
    ] {
        let r = d.page(path).await;
        let csp = r.header("content-security-policy").expect("a CSP");
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let etag = r.header("etag").expect("an ETag").to_string();
        let again = send_with(
            d.addr,
            "GET",
            path,
            &[("Host", &host), ("If-None-Match", &etag)],
            None,
        )
        .await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        let stale = send_with(
            d.addr,
            "GET",
            path,
            &[("Host", &host), ("If-None-Match", "\"other\"")],
            None,
        )
        .await;
        assert_eq!(stale.status, 200);
    }
    let css = d.page("/ui/assets/app.css").await;
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(css.body.contains("prefers-color-scheme: dark"));
    // No inline script or style in a page: the policy would refuse them.
    let page = d.page("/ui").await.body;
    assert!(!page.contains(" style=") && !page.contains("<style"));
    assert!(!page.contains("<script>"));
    // A foreign origin is refused as by the JSON API.
    let foreign = send_with(
        d.addr,
        "GET",
        "/ui",
        &[("Host", &host), ("Origin", "http://evil.example")],
        None,
    )
    .await;
    assert_eq!(foreign.status, 403);
    let missing = get(d.addr, "/ui/jobs/nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("<!DOCTYPE html>"));
    d.stop().await;
}

/// Inserts a fire of `job` scheduled `at` (ms) with this status, start,
/// finish and node.
pub(crate) async fn insert_fire(
    d: &Dashboard,
    job: &str,
    at: i64,
    status: &str,
    run: Option<(i64, Option<i64>)>,
    node: Option<&str>,
) {
    let (started, finished) = match run {
        Some((s, f)) => (s.to_string(), f.map_or("NULL".into(), |f| f.to_string())),
        None => ("NULL".into(), "NULL".into()),
    };
    let node = node.map_or("NULL".into(), |n| format!("'{n}'"));
    exec(
        &d.h.db,
        &format!(
            "INSERT INTO fires (job_id, job_name, scheduled_at, due_at, started_at, finished_at, \
             node_id, attempt, fence, status, recovery) \
             SELECT id, name, {at}, {at}, {started}, {finished}, {node}, 1, 0, '{status}', FALSE \
             FROM jobs WHERE name = '{job}'"
        ),
    )
    .await
    .unwrap();
}

/// The Gantt lane `key` of a timeline page: its fires as (status,
/// scheduled instant) and its future ticks.
fn gantt_lane(html: &str, key: &str) -> (Vec<(String, String)>, Vec<String>) {
    let marker = format!("data-lane=\"{key}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no lane {key}: {html}"));
    let rest = &html[start..];
    let end = rest[1..]
        .find("data-lane=\"")
        .map_or_else(|| rest.find("</svg>").unwrap(), |i| i + 1);
    let lane = &rest[..end];
    let attr = |s: &str, name: &str| -> String {
        let at = s.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        s[at..at + s[at..].find('"').unwrap()].to_string()
    };
    let fires = lane
        .split("<g class=\"fire ")
        .skip(1)
        .map(|f| (attr(f, "data-status"), attr(f, "data-at")))
        .collect();
    let ticks = lane
        .split("class=\"tick")
        .skip(1)
        .map(|t| attr(t, "data-at"))
        .collect();
    (fires, ticks)
}

fn rfc(ms: i64) -> String {
    cosched::clock::from_ms(ms).to_rfc3339()
}

#[tokio::test]
async fn the_gantt_bars_are_the_fires_of_the_window_and_the_ticks_the_schedule_s() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let t = now.timestamp_millis();
    let hour = 3_600_000;
    for db in backends().await {
        let d = Dashboard::start(&db.url, now).await;
        d.node("node-a", &["default"]).await;
        d.job(json!({"name": "alpha", "kind": "noop",
            "schedule": {"cron": "0 0 * * * ?", "timezone": "UTC"}}))
            .await;
        d.job(json!({"name": "beta", "kind": "noop"})).await;
        // In the window: a success, a failure on another node, a skipped
        // fire (never started), and a fire running since long before.
        insert_fire(
            &d,
            "alpha",
            t - 2 * hour,
            "succeeded",
            Some((t - 2 * hour + 30_000, Some(t - 2 * hour + 90_000))),
            Some("node-a"),
        )
        .await;
        insert_fire(
            &d,
            "alpha",
            t - hour,
            "failed",
            Some((t - hour + 500, Some(t - hour + 9_000))),
            Some("node-b"),
        )
        .await;
        insert_fire(&d, "beta", t - 3 * hour, "skipped", None, None).await;
        insert_fire(
            &d,
            "beta",
            t - 20 * hour,
            "running",
            Some((t - 20 * hour, None)),
            Some("node-a"),
        )
        .await;
        // Out of it: finished before the window opened (6 h back).
        insert_fire(
            &d,
            "alpha",
            t - 8 * hour,
            "succeeded",
            Some((t - 8 * hour, Some(t - 8 * hour + 60_000))),
            Some("node-a"),
        )
        .await;
        insert_fire(
            &d,
            "beta",
            t - 30 * hour,
            "failed",
            Some((t - 30 * hour, Some(t - 30 * hour + 1))),
            Some("node-a"),
        )
        .await;

        let html = d.page("/ui/timeline").await.body;
        let (alpha, ticks) = gantt_lane(&html, "alpha");
        assert_eq!(
            alpha,
            vec![
                ("succeeded".into(), rfc(t - 2 * hour)),
                ("failed".into(), rfc(t - hour))
            ],
            "{}",
            db.backend
        );
        assert_eq!(
            ticks,
            cron_fires(
                "0 0 * * * ?",
                chrono_tz::UTC,
                now,
                now + TimeDelta::hours(6)
            )
        );
        let (beta, beta_ticks) = gantt_lane(&html, "beta");
        assert_eq!(
            beta,
            vec![
                ("running".into(), rfc(t - 20 * hour)),
                ("skipped".into(), rfc(t - 3 * hour))
            ]
        );
        assert!(beta_ticks.is_empty());
        // The whisker of the late success, and each status's symbol.
        assert!(html.contains("class=\"whisker\""), "{html}");
        assert!(html.contains("✓") && html.contains("✗") && html.contains("↷"));

        // Per node: the nodes' lanes, and one for fires no node took.
        let nodes = d.page("/ui/timeline?lanes=node").await.body;
        assert_eq!(gantt_lane(&nodes, "node-a").0.len(), 2);
        assert_eq!(
            gantt_lane(&nodes, "node-b").0,
            vec![("failed".into(), rfc(t - hour))]
        );
        assert_eq!(gantt_lane(&nodes, "(no node)").0.len(), 1);

        // Centred half an hour back, one hour each side: only the failure.
        let at = urlencode_instant(now - TimeDelta::minutes(30));
        let moved = d.page(&format!("/ui/timeline?at={at}&span=1")).await.body;
        let (alpha, ticks) = gantt_lane(&moved, "alpha");
        assert_eq!(alpha, vec![("failed".into(), rfc(t - hour))]);
        assert_eq!(ticks, vec![rfc(t)]);
        for bad in [
            "span=0",
            "span=169",
            "span=x",
            "at=yesterday",
            "lanes=pool",
            "at=2030-01-01T00:00:00Z",
        ] {
            assert_eq!(
                get(d.addr, &format!("/ui/timeline?{bad}")).await.status,
                400,
                "{bad}"
            );
        }
        d.stop().await;
    }
}

fn urlencode_instant(at: DateTime<Utc>) -> String {
    cosched::http::ui::format::urlencode(&at.to_rfc3339())
}

#[tokio::test]
async fn the_timeline_pages_its_lanes() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    for db in backends().await {
        let d = Dashboard::start(&db.url, now).await;
        for i in 0..53 {
            d.job(json!({"name": format!("lane-{i:02}"), "kind": "noop"}))
                .await;
        }
        let first = d.page("/ui/timeline?span=2").await.body;
        assert_eq!(
            first.matches("data-lane=\"lane-").count(),
            50,
            "{}",
            db.backend
        );
        let next = first
            .split("rel=\"next\" href=\"")
            .nth(1)
            .map(|s| s[..s.find('"').unwrap()].replace("&amp;", "&"))
            .expect("a next page");
        assert!(next.contains("span=2"), "{next}");
        let second = d.page(&next).await.body;
        assert_eq!(second.matches("data-lane=\"lane-").count(), 3);
        assert!(second.contains("data-lane=\"lane-52\""));
        assert!(!second.contains("rel=\"next\""));
        d.stop().await;
    }
}

/// The `<tr>` of node `id` on the cluster page.
fn node_row(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("data-node=\"{id}\""))
        .unwrap_or_else(|| panic!("no node {id}: {html}"));
    let rest = &html[start..];
    rest[..rest.find("</tr>").unwrap()].to_string()
}

#[tokio::test]
async fn the_cluster_page_shows_dead_and_overdue_nodes_and_flags_clock_offsets() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    for db in backends().await {
        let d = Dashboard::start(&db.url, now - TimeDelta::minutes(1)).await;
        // Checked in a minute ago with a 10 s interval: past 4 × 10 s.
        d.node("node-late", &["default"]).await;
        d.node("node-gone", &["default"]).await;
        d.h.clock.set(now);
        d.node("node-a", &["default", "gpu"]).await;
        d.node("node-skew", &["default"]).await;
        exec(&d.h.db, "UPDATE nodes SET state = 'dead', declared_dead_by = 'node-a', declared_dead_at = last_checkin_at WHERE id = 'node-gone'").await.unwrap();
        exec(
            &d.h.db,
            "UPDATE nodes SET clock_offset_ms = 300 WHERE id = 'node-skew'",
        )
        .await
        .unwrap();
        exec(
            &d.h.db,
            "UPDATE nodes SET clock_offset_ms = -250 WHERE id = 'node-a'",
        )
        .await
        .unwrap();

        let html = d.page("/ui/cluster").await.body;
        let gone = node_row(&html, "node-gone");
        assert!(
            gone.contains("data-state=\"dead\""),
            "{} {gone}",
            db.backend
        );
        assert!(gone.contains("✗ dead") && gone.contains("declared by node-a"));
        let late = node_row(&html, "node-late");
        assert!(
            late.contains("data-state=\"active\" data-checkin=\"overdue\""),
            "{late}"
        );
        assert!(late.contains("past the dead threshold of 40.0s"), "{late}");
        let a = node_row(&html, "node-a");
        assert!(a.contains("data-checkin=\"on-time\""), "{a}");
        assert!(a.contains("default, gpu"));
        // 250 ms is the limit: only beyond it is an offset flagged.
        assert!(
            !a.contains("data-offset=\"flagged\"") && a.contains("-250ms"),
            "{a}"
        );
        let skew = node_row(&html, "node-skew");
        assert!(
            skew.contains("data-offset=\"flagged\"") && skew.contains("⚠ +300ms"),
            "{skew}"
        );
        d.stop().await;
    }
}

#[tokio::test]
async fn the_calendars_page_lists_the_fires_each_calendar_suppresses() {
    // A Saturday morning: the trigger's next fire is Monday's (the
    // weekend's are skipped), and the page lists the two it skipped.
    let now = Utc.with_ymd_and_hms(2026, 3, 7, 10, 0, 0).unwrap();
    for db in backends().await {
        let d = Dashboard::start(&db.url, now).await;
        for (name, def) in [
            ("weekends", json!({"days_of_week": ["sat", "sun"]})),
            ("<b>xmas</b>", json!({"dates": ["2026-12-25"]})),
        ] {
            let path = format!("/calendars/{}", cosched::http::ui::format::urlencode(name));
            let r = crate::http::put(d.addr, &path, def).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        d.job(json!({"name": "noon", "kind": "noop",
            "schedule": {"cron": "0 0 12 * * ?", "timezone": "UTC", "calendars": ["weekends"]}}))
            .await;
        let monday = Utc.with_ymd_and_hms(2026, 3, 9, 12, 0, 0).unwrap();
        let noon = d.h.client.job("noon").await.unwrap();
        assert_eq!(noon.next_fire_at, Some(monday.timestamp_millis()));
        let html = d.page("/ui/calendars").await.body;
        let weekends = instants_in(&html, "data-calendar=\"weekends\"", "</section>");
        assert_eq!(
            weekends,
            vec![
                "2026-03-07T12:00:00+00:00".to_string(),
                "2026-03-08T12:00:00+00:00".into()
            ],
            "{}",
            db.backend
        );
        assert!(html.contains("sat, sun"));
        assert!(html.contains("1 trigger(s) name it."));
        assert!(
            instants_in(
                &html,
                "data-calendar=\"&lt;b&gt;xmas&lt;/b&gt;\"",
                "</section>"
            )
            .is_empty(),
            "{html}"
        );
        assert!(!html.contains("<b>xmas"));
        d.stop().await;
    }
}

#[tokio::test]
async fn sparklines_status_filter_and_lateness_histogram_are_the_fires() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let t = now.timestamp_millis();
    for db in backends().await {
        let d = Dashboard::start(&db.url, now).await;
        for name in ["a", "b", "c"] {
            d.job(json!({"name": name, "kind": "noop"})).await;
        }
        // a: 65 fires, late by 0, 50, 500, 5000 ms in turn; the last failed.
        let mut lates = Vec::new();
        for i in 0..65 {
            let at = t - (65 - i) * 60_000;
            let late = [0, 50, 500, 5_000][usize::try_from(i % 4).unwrap()];
            let status = if i == 64 { "failed" } else { "succeeded" };
            insert_fire(
                &d,
                "a",
                at,
                status,
                Some((at + late, Some(at + late + 10))),
                Some("n"),
            )
            .await;
            lates.push(late);
        }
        for i in 0..3 {
            let at = t - (3 - i) * 60_000;
            insert_fire(
                &d,
                "b",
                at,
                "succeeded",
                Some((at, Some(at + 1))),
                Some("n"),
            )
            .await;
        }
        let html = d.page("/ui/jobs").await.body;
        let spark = |job: &str| -> Vec<String> {
            let row = &html[html.find(&format!(">{job}</a>")).unwrap()..];
            let row = &row[..row.find("</tr>").unwrap()];
            row.split("data-status=\"")
                .skip(1)
                .map(|s| s[..s.find('"').unwrap()].to_string())
                .collect()
        };
        let a = spark("a");
        assert_eq!(a.len(), 60, "{}", db.backend);
        assert_eq!(a.last().map(String::as_str), Some("failed"));
        assert!(a[..59].iter().all(|s| s == "succeeded"));
        assert_eq!(spark("b"), vec!["succeeded"; 3]);
        assert!(spark("c").is_empty());

        let count = |html: &str| html.matches("<a href=\"/ui/jobs/").count();
        let failed = d.page("/ui/jobs?status=failed").await.body;
        assert_eq!(count(&failed), 1);
        assert!(failed.contains(">a</a>"));
        let ok = d.page("/ui/jobs?status=succeeded").await.body;
        assert_eq!(count(&ok), 1);
        assert!(ok.contains(">b</a>"));
        assert_eq!(get(d.addr, "/ui/jobs?status=bogus").await.status, 400);

        // The histogram counts every started first attempt by bucket.
        let job = d.page("/ui/jobs/a").await.body;
        let bucket = |label: &str| -> usize {
            let at = job
                .find(&format!("data-bucket=\"{label}\" data-count=\""))
                .unwrap_or_else(|| panic!("{label}: {job}"));
            let rest = &job[at + label.len() + 27..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        };
        assert_eq!(
            bucket("&lt; 10ms"),
            lates.iter().filter(|&&l| l == 0).count()
        );
        assert_eq!(
            bucket("&lt; 100ms"),
            lates.iter().filter(|&&l| l == 50).count()
        );
        assert_eq!(
            bucket("&lt; 1s"),
            lates.iter().filter(|&&l| l == 500).count()
        );
        assert_eq!(
            bucket("&lt; 10s"),
            lates.iter().filter(|&&l| l == 5_000).count()
        );
        assert_eq!(bucket("early"), 0);
        d.stop().await;
    }
}
