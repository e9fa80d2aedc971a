//! `cosched bench`: a small burst over two nodes (in this process, and as
//! real `cosched serve` child processes fed through plain SQL and through
//! the Client) fires every trigger exactly once and records it, a scale
//! run fires every cron job once per wave, the CPU meter finds a local
//! PostgreSQL server, and the bench's jobs are deleted afterwards. Speed is
//! the bench's output, never asserted here.

use std::path::PathBuf;
use std::time::Duration;

use cosched::Store;
use cosched::bench::BenchPlan;
use cosched::cli::bench::{BenchArgs, BenchKind, Feed, Mode, measure};

use crate::support::{backends, sqlite};

fn burst(url: &str, triggers: u64, nodes: usize) -> BenchArgs {
    BenchArgs {
        database: url.to_string(),
        mode: Mode::Burst,
        triggers,
        rate: 500.0,
        duration: Duration::from_secs(1),
        lead: Some(Duration::from_millis(500)),
        nodes,
        max_concurrent: 64,
        kind: BenchKind::Noop,
        url: None,
        keep: false,
        json: false,
        processes: false,
        feed: Feed::Sql,
        jobs: 100,
        stored: 0,
        waves: 1,
        wave_budget: Duration::from_secs(30),
    }
}

/// The plan of `burst` with the nodes as `cosched serve` child processes.
fn in_processes(url: &str, triggers: u64, nodes: usize, feed: Feed) -> BenchPlan {
    let mut args = burst(url, triggers, nodes);
    args.feed = feed;
    let mut plan = args.plan().expect("plan");
    plan.serve_program = Some(PathBuf::from(env!("CARGO_BIN_EXE_cosched")));
    plan.lead = Some(Duration::from_secs(3));
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_processes_fed_by_sql_and_by_the_client_fire_every_trigger_once() {
    for db in backends().await {
        for feed in [Feed::Sql, Feed::Client] {
            let report = cosched::bench::measure(&in_processes(&db.url, 300, 2, feed))
                .await
                .unwrap_or_else(|e| panic!("{} {feed}: {e}", db.backend));
            assert!(report.processes);
            assert_eq!(report.feed, feed);
            assert_eq!(report.fires, 300, "{}: {report:?}", db.backend);
            assert_eq!(report.succeeded, 300, "{}: {report:?}", db.backend);
            assert!(report.exact(), "{}: {report:?}", db.backend);
            let nodes: Vec<&str> = report
                .per_node
                .iter()
                .filter_map(|n| n.node.as_deref())
                .collect();
            assert!(
                nodes
                    .iter()
                    .all(|n| n.ends_with("-p1") || n.ends_with("-p2")),
                "the fires were run by the child processes: {nodes:?}"
            );
            let children = &report.cost.processes;
            assert_eq!(children.len(), 2, "{report:?}");
            assert!(
                children
                    .iter()
                    .all(|c| c.cpu_seconds.is_some() && c.memory.is_some_and(|m| m.rss_bytes > 0)),
                "{children:?}"
            );
            assert!(report.cost.nodes_cpu_us_per_fire.is_some());
            // The meter reads a PostgreSQL server on this host; SQLite's
            // work is the nodes' own.
            assert_eq!(
                report.cost.database_cpu_seconds.is_some(),
                db.backend == "postgres",
                "{}: {:?}",
                db.backend,
                report.cost
            );
            let store = Store::connect(&db.url).await.unwrap();
            assert!(store.job_by_name(&report.job).await.unwrap().is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_wave_fires_every_cron_job_once_on_its_minute() {
    let db = sqlite();
    let mut args = burst(&db.url, 1, 2);
    args.mode = Mode::Scale;
    args.jobs = 300;
    args.stored = 1000;
    args.waves = 1;
    let report = measure(&args).await.expect("scale run");
    let scale = report.scale.as_ref().expect("a scale report");
    assert_eq!(scale.waves.len(), 1, "{scale:?}");
    let wave = &scale.waves[0];
    assert_eq!(wave.scheduled_at % 60_000, 0, "on a minute boundary");
    assert_eq!(
        (wave.fires, wave.finished, wave.lost),
        (300, 300, 0),
        "{wave:?}"
    );
    assert!(wave.finished_within_seconds.is_some());
    assert_eq!(report.fires, 300);
    assert!(report.exact(), "{report:?}");
    let store = Store::connect(&db.url).await.unwrap();
    let left = store.jobs_list().await.unwrap();
    assert!(
        left.is_empty(),
        "the scale jobs are deleted: {} left",
        left.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_two_nodes_fires_every_trigger_exactly_once() {
    let db = sqlite();
    let report = measure(&burst(&db.url, 200, 2)).await.expect("bench run");
    assert_eq!(report.triggers, 200);
    assert_eq!((report.lost, report.duplicated), (0, 0), "{report:?}");
    assert_eq!(report.fires, 200, "{report:?}");
    assert_eq!(report.finished, 200, "{report:?}");
    assert_eq!(report.succeeded, 200, "{report:?}");
    assert!(report.exact());
    let per_node: u64 = report.per_node.iter().map(|n| n.fires).sum();
    assert_eq!(per_node, 200);
    assert!(
        report.per_node.iter().all(|n| n.node.is_some()),
        "{report:?}"
    );
    let store = Store::connect(&db.url).await.unwrap();
    assert!(
        store.job_by_name(&report.job).await.unwrap().is_none(),
        "the bench job is deleted after the run"
    );
}

#[tokio::test]
async fn a_database_with_jobs_from_a_file_is_refused_and_left_untouched() {
    // A bench node reconciles an empty configuration, which would delete
    // the jobs a file declared: the bench refuses such a database.
    let db = sqlite();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let registry = cosched::JobRegistry::with_builtins();
    let file = "[[job]]\nname = \"keep-me\"\nkind = \"noop\"\nevery = \"1h\"\n";
    let config = cosched::config::parse(file, "jobs.toml", &registry).unwrap();
    store
        .reconcile_config(&config.jobs, &config.calendars, 0)
        .await
        .unwrap();
    let err = measure(&burst(&db.url, 10, 1)).await.expect_err("refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("declared in a configuration file"),
        "{err}"
    );
    let jobs = store.jobs_list().await.unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j.job.name.as_str()).collect();
    assert_eq!(names, ["keep-me"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_burst_requests_the_loopback_server_once_per_trigger() {
    let db = sqlite();
    let mut args = burst(&db.url, 100, 1);
    args.kind = BenchKind::Http;
    let report = measure(&args).await.expect("bench run");
    assert_eq!((report.lost, report.duplicated), (0, 0), "{report:?}");
    assert_eq!(report.succeeded, 100, "{report:?}");
    let url = report.url.as_deref().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let mut noop_with_url = burst(&db.url, 1, 1);
    noop_with_url.url = Some("http://127.0.0.1:1/".into());
    let err = measure(&noop_with_url).await.expect_err("refused");
    assert_eq!(err.to_string(), "--url is for --kind http");
}
