//! `cosched bench` in-process on SQLite: a small burst over two nodes
//! fires every trigger exactly once and records it, and the bench job is
//! deleted afterwards. Speed is the bench's output, never asserted here.

use std::time::Duration;

use cosched::Store;
use cosched::cli::bench::{BenchArgs, BenchKind, Mode, measure};

use crate::support::sqlite;

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
    }
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
