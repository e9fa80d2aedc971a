//! Paged listings (`GET /jobs`, `GET /fires`, `Client::jobs_page`,
//! `Client::fires_page`) and the JSON answers to bad path and query
//! parameters, against a real node on both backends.

use std::collections::BTreeSet;

use cosched::declare::JobDecl;
use cosched::store::FireFilter;
use serde_json::Value;

use crate::http::{Reply, Running, eventually, get, post_empty, send_with};
use crate::support::{backends, migrated_client, sqlite};

fn names(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .json()
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_string())
        .collect()
}

/// The path of the next page from `Link: <path>; rel="next"`, checked
/// against `X-Next-Cursor`.
fn next_page(reply: &Reply) -> Option<String> {
    let link = reply.header("link")?;
    let path = link
        .strip_prefix('<')
        .and_then(|l| l.split_once(">; rel=\"next\""))
        .map(|(p, _)| p.to_string())
        .unwrap_or_else(|| panic!("not a next link: {link}"));
    let cursor = reply.header("x-next-cursor").expect("X-Next-Cursor");
    assert!(
        path.ends_with(&format!("cursor={cursor}")),
        "{path} vs {cursor}"
    );
    Some(path)
}

#[tokio::test]
async fn jobs_and_fires_are_listed_in_keyset_pages() {
    for db in backends().await {
        let node = Running::start(&db.url, "").await;
        let addr = node.addr;
        let client = migrated_client(&db.url).await;
        let mut all: Vec<String> = (0..7).map(|i| format!("job-{i:02}")).collect();
        for name in all.iter().rev() {
            client
                .create_job(&JobDecl::new(name.as_str(), "noop"))
                .await
                .unwrap();
        }

        // Pages of 3 by name: 3, 3, 1, with a next link on all but the last.
        let mut seen = Vec::new();
        let mut path = Some("/jobs?limit=3".to_string());
        let mut pages = 0;
        while let Some(p) = path {
            let reply = get(addr, &p).await;
            let page = names(&reply);
            assert!(page.len() <= 3, "{page:?}");
            seen.extend(page);
            path = next_page(&reply);
            pages += 1;
            if pages == 1 {
                // A job created meanwhile that sorts before the cursor
                // does not shift the pages that follow.
                client
                    .create_job(&JobDecl::new("job-00a-early", "noop"))
                    .await
                    .unwrap();
            }
        }
        assert_eq!(pages, 3, "{}", db.backend);
        assert_eq!(seen, all, "{}: every job once, by name", db.backend);
        all.insert(1, "job-00a-early".into());
        assert_eq!(names(&get(addr, "/jobs").await), all, "{}", db.backend);

        // The Rust API pages the same way.
        let first = client.jobs_page(None, 5).await.unwrap();
        let cursor = first.next_cursor.clone().expect("a second page");
        let second = client.jobs_page(Some(&cursor), 5).await.unwrap();
        assert_eq!(second.next_cursor, None);
        let listed: Vec<String> = first
            .items
            .iter()
            .chain(&second.items)
            .map(|j| j.job.name.clone())
            .collect();
        assert_eq!(listed, all);

        // Five fires of one job, paged by two, newest first.
        for _ in 0..5 {
            assert_eq!(post_empty(addr, "/jobs/job-03/trigger").await.status, 201);
        }
        let everything = eventually("five finished fires", || async {
            let fires = get(addr, "/fires?job=job-03&status=succeeded")
                .await
                .json()
                .as_array()
                .cloned()
                .unwrap_or_default();
            (fires.len() == 5).then_some(fires)
        })
        .await;
        let mut paged: Vec<Value> = Vec::new();
        let mut path = Some("/fires?job=job-03&status=succeeded&limit=2".to_string());
        while let Some(p) = path {
            let reply = get(addr, &p).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            let page = reply.json().as_array().unwrap().clone();
            assert!(page.len() <= 2);
            paged.extend(page);
            path = next_page(&reply);
            if let Some(next) = &path {
                assert!(next.starts_with("/fires?limit=2&job=job-03&status=succeeded&cursor="));
            }
        }
        assert_eq!(paged, everything, "{}: the pages join up", db.backend);
        let ids: BTreeSet<i64> = paged.iter().map(|f| f["id"].as_i64().unwrap()).collect();
        assert_eq!(ids.len(), 5);

        let filter = FireFilter {
            job: Some("job-03".into()),
            status: None,
            limit: None,
        };
        let first = client.fires_page(&filter, None, 3).await.unwrap();
        let rest = client
            .fires_page(&filter, first.next_cursor.as_deref(), 3)
            .await
            .unwrap();
        assert_eq!(first.items.len() + rest.items.len(), 5);
        assert_eq!(rest.next_cursor, None);
        node.stop().await;
    }
}

#[tokio::test]
async fn a_listing_without_a_limit_is_one_page_of_fifty() {
    let db = sqlite();
    let node = Running::start(&db.url, "").await;
    let client = migrated_client(&db.url).await;
    for i in 0..51 {
        client
            .create_job(&JobDecl::new(format!("many-{i:02}"), "noop"))
            .await
            .unwrap();
    }
    let first = get(node.addr, "/jobs").await;
    assert_eq!(names(&first).len(), 50);
    let next = next_page(&first).expect("a second page");
    assert!(next.starts_with("/jobs?limit=50&cursor="), "{next}");
    assert_eq!(names(&get(node.addr, &next).await), ["many-50"]);
    node.stop().await;
}

#[tokio::test]
async fn bad_paging_path_and_query_parameters_are_json_400s() {
    let db = sqlite();
    let node = Running::start(&db.url, "").await;
    let addr = node.addr;
    for path in [
        "/jobs?limit=0",
        "/jobs?limit=1001",
        "/jobs?limit=many",
        "/jobs?page=2",
        "/fires?limit=1001",
        "/fires?cursor=not-a-cursor",
        "/fires/12x",
    ] {
        get(addr, path).await.error(400);
    }
    // A cursor of one listing is not one of the other.
    let client = migrated_client(&db.url).await;
    for name in ["a", "b"] {
        client
            .create_job(&JobDecl::new(name, "noop"))
            .await
            .unwrap();
    }
    let page = get(addr, "/jobs?limit=1").await;
    let cursor = page.header("x-next-cursor").unwrap().to_string();
    assert!(
        get(addr, &format!("/fires?cursor={cursor}"))
            .await
            .error(400)
            .contains("cursor")
    );
    // Path segments that do not decode to UTF-8.
    let host = addr.to_string();
    let headers = [("Host", host.as_str())];
    let bad = send_with(addr, "GET", "/jobs/%FF%FE", &headers, None).await;
    assert!(bad.error(400).contains("path"), "{}", bad.body);
    let json = Some(("application/json", ""));
    send_with(addr, "POST", "/jobs/%C3%28/pause", &headers, json)
        .await
        .error(400);
    send_with(addr, "POST", "/triggers/%FF/pause", &headers, json)
        .await
        .error(400);
    node.stop().await;
}
