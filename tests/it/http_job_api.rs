//! The `http` kind's safety for jobs created through the API: the
//! operator's `[scheduler] http_allow`, `http_secret_env` and
//! `http_secret_files` decide where such a job may send requests and what
//! it may read; redirects are refused; the configuration file stays
//! trusted. And a server's `Retry-After` never holds a retry longer than
//! the job's `retry.max_backoff`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cosched::declare::JobDecl;
use cosched::model::{JobDef, RetryPolicy};
use cosched::{JobRegistry, config};
use serde_json::{Value, json};

use crate::http::{Running, eventually, get, post, post_empty};
use crate::scheduling::fires_of;
use crate::support::{Harness, backends, migrated_client, sqlite, t0};

/// A loopback server answering every request with `status` (and
/// `Retry-After: 120` on a 429), counting the requests.
async fn server(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = axum::Router::new()
        .fallback(
            |State((seen, status)): State<(Arc<Mutex<Vec<String>>>, u16)>, req: Request| async move {
                seen.lock().unwrap().push(req.uri().to_string());
                let code = StatusCode::from_u16(status).unwrap();
                let mut response = (code, "answered").into_response();
                if status == 429 {
                    response
                        .headers_mut()
                        .insert("retry-after", "120".parse().unwrap());
                }
                response
            },
        )
        .with_state((seen.clone(), status));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

const SECRET_ENV: &str = "COSCHED_TEST_API_HOOK_TOKEN_5e1a";

fn http_body(name: &str, settings: Value) -> Value {
    json!({"name": name, "kind": "http", "settings": settings})
}

/// A 400 whose error and hint name the setting that would allow it.
fn refused(reply: &crate::http::Reply, path: &str, setting: &str) {
    let error = reply.error(400);
    assert!(error.contains(setting), "{error}");
    let v = reply.json();
    assert!(v["hint"].as_str().unwrap().contains("http_allow"), "{v}");
    assert!(
        v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["path"] == path),
        "{v}"
    );
}

#[tokio::test]
async fn api_http_jobs_go_only_where_the_operator_allows() {
    // SAFETY: set before any node of this test reads the environment.
    unsafe { std::env::set_var(SECRET_ENV, "s3cret") };
    for db in backends().await {
        let (base, seen) = server(200).await;
        let node = Running::start_full(
            &db.url,
            &format!("http_allow = [\"127.0.0.1\", \"*.example.com\"]\nhttp_secret_env = [\"{SECRET_ENV}\"]"),
            "",
            "",
        )
        .await;
        let addr = node.addr;

        // Cloud metadata, a network nobody listed, a name nobody listed.
        for (name, url) in [
            ("metadata", "http://169.254.169.254/latest/meta-data/"),
            ("metadata-v6", "http://[fd00:ec2::254]/latest/"),
            ("internal", "http://10.1.2.3:8080/admin"),
            ("elsewhere", "https://elsewhere.test/hook"),
        ] {
            let reply = post(addr, "/jobs", http_body(name, json!({"url": url}))).await;
            refused(&reply, "settings.url", "http_allow");
        }
        // Redirects, and secrets the operator did not list.
        let reply = post(
            addr,
            "/jobs",
            http_body(
                "redirects",
                json!({"url": format!("{base}/x"), "follow_redirects": true}),
            ),
        )
        .await;
        refused(&reply, "settings.follow_redirects", "follow_redirects");
        let reply = post(
            addr,
            "/jobs",
            http_body(
                "env-secret",
                json!({"url": format!("{base}/x"),
                       "auth": {"type": "bearer", "token": {"env": "DATABASE_URL"}}}),
            ),
        )
        .await;
        refused(&reply, "settings.auth.token", "http_secret_env");
        let reply = post(
            addr,
            "/jobs",
            http_body(
                "file-secret",
                json!({"url": format!("{base}/x"),
                       "sign": {"secret": {"file": "/etc/shadow"}}}),
            ),
        )
        .await;
        refused(&reply, "settings.sign.secret", "http_secret_files");
        let jobs = get(addr, "/jobs").await.json();
        assert_eq!(jobs, json!([]), "{}: nothing was written", db.backend);

        // An allowed destination with an allowed secret: created, and it fires.
        let created = post(
            addr,
            "/jobs",
            http_body(
                "allowed",
                json!({"url": format!("{base}/hook/{{{{job}}}}"),
                       "auth": {"type": "bearer", "token": {"env": SECRET_ENV}}}),
            ),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(post_empty(addr, "/jobs/allowed/trigger").await.status, 201);
        let fire = eventually("the allowed job's fire", || async {
            get(addr, "/fires?job=allowed")
                .await
                .json()
                .as_array()
                .and_then(|f| f.first().cloned())
                .filter(|f| f["status"] != "running" && f["status"] != "queued")
        })
        .await;
        assert_eq!(fire["status"], "succeeded", "{fire}");
        assert_eq!(seen.lock().unwrap().as_slice(), ["/hook/allowed"]);
        node.stop().await;
    }
}

#[tokio::test]
async fn a_client_without_rules_creates_no_http_job_and_the_file_stays_trusted() {
    let db = sqlite();
    let client = migrated_client(&db.url).await;
    let mut decl = JobDecl::new("hook", "http");
    decl.settings = Some(json!({"url": "http://127.0.0.1:9/x"}));
    let e = client.create_job(&decl).await.unwrap_err().to_string();
    assert!(e.contains("http_allow"), "{e}");
    assert!(client.job("hook").await.is_err(), "nothing written");

    // The same client, with the operator's rules, creates it.
    let allowing = client.with_http_policy(cosched::jobs::http::ApiHttpPolicy {
        allow: cosched::jobs::http::HttpAllow::parse(&["127.0.0.0/8"][..]).unwrap(),
        ..Default::default()
    });
    allowing.create_job(&decl).await.unwrap();

    // A job of the file may go anywhere, follow redirects and read secrets.
    let registry = JobRegistry::with_builtins();
    let toml = r#"
[[job]]
name = "metadata"
kind = "http"
every = "1h"
settings = { url = "http://169.254.169.254/latest/", follow_redirects = true, auth = { type = "bearer", token = { env = "CLOUD_TOKEN" } } }
"#;
    config::parse(toml, "trusted.toml", &registry).expect("the file is trusted");
}

#[test]
fn bad_rules_are_refused_at_their_line_and_column() {
    let registry = JobRegistry::with_builtins();
    let toml = "[scheduler]\nhttp_allow = [\"127.0.0.1\", \"bad host!\"]\nhttp_secret_env = [\"A=B\"]\nhttp_secret_files = [\"relative/path\"]\n";
    let e = config::parse(toml, "rules.toml", &registry)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rules.toml:2:28"), "{e}");
    assert!(e.contains("http_allow[1]"), "{e}");
    assert!(e.contains("rules.toml:3:20"), "{e}");
    assert!(e.contains("rules.toml:4:22"), "{e}");
    assert!(e.contains("absolute"), "{e}");

    let ok = "[scheduler]\nhttp_allow = [\"10.0.0.0/8\", \"api.example.com\"]\nhttp_secret_env = [\"HOOK\"]\n";
    let config = config::parse(ok, "rules.toml", &registry).unwrap();
    let rules = &config.scheduler.api_http;
    assert_eq!(rules.secret_env, ["HOOK"]);
    assert!(cosched::jobs::http::check_destination("http://10.2.3.4/", &rules.allow).is_ok());
    assert!(cosched::jobs::http::check_destination("http://11.2.3.4/", &rules.allow).is_err());
}

#[tokio::test]
async fn retry_after_is_capped_by_the_jobs_max_backoff() {
    for db in backends().await {
        let (base, seen) = server(429).await;
        let mut h = Harness::new(&db.url).await;
        let mut job = JobDef::new("capped", "http");
        job.settings = json!({"url": format!("{base}/x")});
        job.retry = RetryPolicy {
            max_attempts: 2,
            backoff: Duration::from_secs(10),
            factor: 1.0,
            max_backoff: Duration::from_secs(30),
            jitter: 0.0,
        };
        h.client.create_job_def(&job, None).await.unwrap();
        h.client.trigger_now("capped", None).await.unwrap();
        h.step_and_settle().await;
        assert_eq!(seen.lock().unwrap().len(), 1);
        let fires = fires_of(&h, "capped").await;
        assert_eq!(fires.len(), 2, "{}", db.backend);
        assert_eq!(fires[1].status, "queued");
        assert_eq!(
            fires[1].due_at,
            t0().timestamp_millis() + 30_000,
            "{}: Retry-After: 120 waits only the job's max_backoff of 30 s",
            db.backend
        );
    }
}
