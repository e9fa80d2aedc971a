//! The `http` job kind against a real HTTP server on 127.0.0.1 that the
//! test starts and that records every request: success with the headers
//! every request carries, failures with and without retries (404, 503,
//! 429 with Retry-After, a server that hangs, connection refused), a body
//! over `max_response`, templates, signing, secrets from the environment
//! and from files, and bad settings refused by every door.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cosched::jobs::http::HttpJob;
use cosched::model::{JobDef, RetryPolicy};
use cosched::{JobRegistry, ManualClock, config};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

use crate::scheduling::fires_of;
use crate::support::{Harness, backends, migrated_client, sqlite, t0};

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no header {name} in {:?}", self.headers))
    }
}

/// What the server answers, in order; `Ok` once the script is used up.
#[derive(Debug, Clone)]
enum Reply {
    Status(u16, Vec<(&'static str, String)>, String),
    /// Never answers.
    Hang,
}

fn ok() -> Reply {
    Reply::Status(200, vec![], "ok".into())
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

/// A recording HTTP server on an ephemeral loopback port.
struct Server {
    base: String,
    shared: Shared,
}

impl Server {
    async fn start(script: Vec<Reply>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Shared {
            seen: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server { base, shared }
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn answer(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    shared.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers,
        body: body.to_vec(),
    });
    let reply = shared.script.lock().unwrap().pop_front().unwrap_or_else(ok);
    match reply {
        Reply::Hang => std::future::pending().await,
        Reply::Status(code, headers, body) => {
            let mut response = (StatusCode::from_u16(code).unwrap(), body).into_response();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
    }
}

fn http_job(name: &str, settings: Value) -> JobDef {
    let mut job = JobDef::new(name, "http");
    job.settings = settings;
    job
}

fn retried(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        backoff: Duration::from_secs(10),
        factor: 1.0,
        max_backoff: Duration::from_secs(3600),
        jitter: 0.0,
    }
}

async fn run_once(h: &mut Harness, job: &JobDef) -> cosched::model::Fire {
    h.client.create_job_def(job, None).await.unwrap();
    h.client.trigger_now(&job.name, None).await.unwrap();
    assert_eq!(h.step_and_settle().await.started, 1);
    fires_of(h, &job.name).await.pop().unwrap()
}

#[tokio::test]
async fn a_fire_posts_its_context_with_the_cosched_headers_and_records_the_response() {
    let server = Server::start(vec![Reply::Status(
        201,
        vec![("x-request-id", "r-1".into()), ("set-cookie", "s=1".into())],
        "{\"created\": true}".into(),
    )])
    .await;
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = http_job("hook", json!({"url": format!("{}/hook", server.base)}));
    job.data = json!({"answer": 42});
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "succeeded", "{:?}", fire.error);
    assert_eq!(
        fire.output.as_deref(),
        Some(
            "HTTP/1.1 201 Created\ncontent-type: text/plain; charset=utf-8\ncontent-length: 17\nx-request-id: r-1\n\n{\"created\": true}"
        )
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!((req.method.as_str(), req.uri.as_str()), ("POST", "/hook"));
    assert_eq!(req.header("content-type"), "application/json");
    let context: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(context["fire_id"], json!(fire.id));
    assert_eq!(context["job"], json!("hook"));
    assert_eq!(context["attempt"], json!(1));
    assert_eq!(context["data"], json!({"answer": 42}));
    assert_eq!(
        req.header("user-agent"),
        format!("cosched/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        req.header("idempotency-key"),
        format!("cosched-{}-{}", fire.trigger_id.unwrap(), fire.scheduled_at)
    );
    assert_eq!(req.header("x-cosched-job"), "hook");
    assert_eq!(req.header("x-cosched-fire-id"), fire.id.to_string());
    assert_eq!(req.header("x-cosched-attempt"), "1");
    assert_eq!(
        req.header("x-cosched-scheduled-at"),
        chrono::DateTime::from_timestamp_millis(fire.scheduled_at)
            .unwrap()
            .to_rfc3339()
    );
}

#[tokio::test]
async fn a_404_fails_at_once_without_retry() {
    let server = Server::start(vec![Reply::Status(404, vec![], "no such report\n".into())]).await;
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = http_job(
        "missing",
        json!({"url": format!("{}/r", server.base), "method": "GET"}),
    );
    job.retry = retried(5);
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "failed");
    assert_eq!(
        fire.error.as_deref(),
        Some("HTTP 404 Not Found: no such report")
    );
    assert!(fire.output.unwrap().starts_with("HTTP/1.1 404 Not Found\n"));
    h.advance(3600);
    assert_eq!(h.step().await.started, 0, "a 404 is not retried");
    assert_eq!(fires_of(&h, "missing").await.len(), 1);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert!(seen[0].body.is_empty(), "a GET carries no body by default");
}

#[tokio::test]
async fn a_503_is_retried_with_the_same_idempotency_key() {
    for db in backends().await {
        let server = Server::start(vec![Reply::Status(503, vec![], "busy".into()), ok()]).await;
        let mut h = Harness::new(&db.url).await;
        let mut job = http_job("flaky", json!({"url": format!("{}/run", server.base)}));
        job.retry = retried(3);
        h.client.create_job_def(&job, None).await.unwrap();
        h.client.trigger_now("flaky", None).await.unwrap();
        assert_eq!(h.step_and_settle().await.started, 1);
        h.advance(9);
        assert_eq!(
            h.step().await.started,
            0,
            "{}: the backoff has not passed",
            db.backend
        );
        h.advance(1);
        assert_eq!(h.step_and_settle().await.started, 1, "{}", db.backend);
        let fires = fires_of(&h, "flaky").await;
        let outcomes: Vec<_> = fires
            .iter()
            .map(|f| (f.attempt, f.status.as_str(), f.error.as_deref()))
            .collect();
        assert_eq!(
            outcomes,
            [
                (1, "failed", Some("HTTP 503 Service Unavailable: busy")),
                (2, "succeeded", None)
            ],
            "{}",
            db.backend
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen[0].header("idempotency-key"),
            seen[1].header("idempotency-key")
        );
        assert_eq!(seen[0].header("x-cosched-fire-id"), fires[0].id.to_string());
        assert_eq!(seen[1].header("x-cosched-fire-id"), fires[1].id.to_string());
        assert_eq!(
            (
                seen[0].header("x-cosched-attempt"),
                seen[1].header("x-cosched-attempt")
            ),
            ("1", "2")
        );
    }
}

#[tokio::test]
async fn a_429_with_retry_after_queues_the_next_attempt_after_it() {
    for db in backends().await {
        let server = Server::start(vec![
            Reply::Status(429, vec![("retry-after", "120".into())], "slow down".into()),
            ok(),
        ])
        .await;
        let mut h = Harness::new(&db.url).await;
        let mut job = http_job("limited", json!({"url": format!("{}/x", server.base)}));
        job.retry = retried(2);
        h.client.create_job_def(&job, None).await.unwrap();
        h.client.trigger_now("limited", None).await.unwrap();
        h.step_and_settle().await;
        let fires = fires_of(&h, "limited").await;
        assert_eq!(fires.len(), 2, "{}", db.backend);
        assert_eq!(
            fires[0].error.as_deref(),
            Some("HTTP 429 Too Many Requests: slow down")
        );
        assert_eq!(fires[1].status, "queued");
        assert_eq!(
            fires[1].due_at,
            t0().timestamp_millis() + 120_000,
            "{}: the retry waits for Retry-After, not the 10 s backoff",
            db.backend
        );
        h.advance(119);
        assert_eq!(h.step().await.started, 0);
        h.advance(1);
        assert_eq!(h.step_and_settle().await.started, 1);
        assert_eq!(fires_of(&h, "limited").await[1].status, "succeeded");
    }
}

#[tokio::test]
async fn a_server_that_hangs_times_out_and_is_retried() {
    let server = Server::start(vec![Reply::Hang, ok()]).await;
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = http_job(
        "hangs",
        json!({"url": format!("{}/slow", server.base), "request_timeout": "300ms"}),
    );
    job.retry = retried(2);
    let first = run_once(&mut h, &job).await;
    let fires = fires_of(&h, "hangs").await;
    assert_eq!(fires[0].status, "failed", "{first:?}");
    assert_eq!(
        fires[0].error.as_deref(),
        Some("no response within 300ms (the http kind's `request_timeout`)")
    );
    h.advance(10);
    assert_eq!(h.step_and_settle().await.started, 1);
    assert_eq!(fires_of(&h, "hangs").await[1].status, "succeeded");
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn connection_refused_fails_naming_the_cause_and_is_retried() {
    // A port that was free a moment ago and has no listener now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = http_job(
        "refused",
        json!({"url": format!("http://127.0.0.1:{port}/x?token=1")}),
    );
    job.retry = retried(2);
    run_once(&mut h, &job).await;
    let fires = fires_of(&h, "refused").await;
    let error = fires[0].error.clone().unwrap();
    assert!(
        error.starts_with(&format!("cannot connect to http://127.0.0.1:{port}/x:")),
        "{error}"
    );
    assert!(error.contains("Connection refused"), "{error}");
    assert_eq!(
        (fires.len(), fires[1].status.as_str()),
        (2, "queued"),
        "connection errors are retried"
    );
}

#[tokio::test]
async fn a_body_over_max_response_is_cut_and_says_so() {
    let server = Server::start(vec![Reply::Status(200, vec![], "x".repeat(100_000))]).await;
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let job = http_job(
        "big",
        json!({"url": format!("{}/big", server.base), "max_response": 1000}),
    );
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "succeeded");
    let output = fire.output.unwrap();
    let (head, body) = output.split_once("\n\n").unwrap();
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\ncontent-type: text/plain; charset=utf-8\ncontent-length: 100000"
    );
    assert_eq!(
        body,
        format!(
            "{}\n[body truncated: only the first 1000 bytes (max_response) were read]",
            "x".repeat(1000)
        )
    );
}

#[tokio::test]
async fn templates_fill_the_url_escaped_and_the_body_json_escaped() {
    let server = Server::start(vec![]).await;
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = http_job(
        "templ",
        json!({
            "url": format!("{}/u/{{{{data.user}}}}/{{{{fire_id}}}}?at={{{{scheduled_at|ms}}}}&job={{{{job}}}}", server.base),
            "method": "PUT",
            "headers": {"X-Run": "run {{attempt}} of {{job}}"},
            "body": {"text": "{\"who\": \"{{data.user}}\", \"attempt\": {{attempt}}}", "content_type": "application/json"},
        }),
    );
    job.data = json!({"user": "a \"b\"/c&d"});
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "succeeded", "{:?}", fire.error);
    let req = &server.seen()[0];
    assert_eq!(req.method, "PUT");
    assert_eq!(
        req.uri,
        format!(
            "/u/a%20%22b%22%2Fc%26d/{}?at={}&job=templ",
            fire.id, fire.scheduled_at
        )
    );
    assert_eq!(req.header("x-run"), "run 1 of templ");
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, json!({"who": "a \"b\"/c&d", "attempt": 1}));

    let mut json_body = http_job(
        "templ-json",
        json!({"url": format!("{}/j", server.base), "body": {"json": {"job": "{{job}}", "tags": ["{{data.user}}", 3]}}}),
    );
    json_body.data = json!({"user": "x\ny"});
    let fire = run_once(&mut h, &json_body).await;
    assert_eq!(fire.status, "succeeded", "{:?}", fire.error);
    let body: Value = serde_json::from_slice(&server.seen()[1].body).unwrap();
    assert_eq!(body, json!({"job": "templ-json", "tags": ["x\ny", 3]}));
}

fn hmac_b64(key: &[u8], signed: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(signed.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn signed_requests_verify_and_secrets_come_from_files() {
    let server = Server::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = b"a key of thirty-two bytes exact!";
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let sign_file = write("sign", format!("whsec_{}\n", STANDARD.encode(key)));
    let password_file = write("password", "p@ss:word\n".into());
    let api_key_file = write("api-key", "k-123".into());
    let db = sqlite();
    // The kind signs with its own clock; here one that reads t0, as the
    // harness's does until the test moves it.
    let mut registry = JobRegistry::with_builtins();
    registry.register(Arc::new(HttpJob::with_clock(Arc::new(ManualClock::new(
        t0(),
    )))));
    let mut h = Harness::with(&db.url, "node-a", 4, registry).await;
    let signed = http_job(
        "signed",
        json!({"url": format!("{}/s", server.base),
               "auth": {"type": "basic", "username": "svc", "password": {"file": password_file}},
               "sign": {"secret": {"file": sign_file}}}),
    );
    let fire = run_once(&mut h, &signed).await;
    assert_eq!(fire.status, "succeeded", "{:?}", fire.error);
    let with_header = http_job(
        "api-key",
        json!({"url": format!("{}/k", server.base), "method": "DELETE",
               "auth": {"type": "header", "name": "X-Api-Key", "value": {"file": api_key_file}}}),
    );
    let fire = run_once(&mut h, &with_header).await;
    assert_eq!(fire.status, "succeeded", "{:?}", fire.error);

    let seen = server.seen();
    let req = &seen[0];
    let id = req.header("webhook-id");
    let timestamp = req.header("webhook-timestamp");
    assert_eq!(id, req.header("idempotency-key"));
    assert_eq!(timestamp, t0().timestamp().to_string());
    let expected = hmac_b64(
        key,
        &format!("{id}.{timestamp}.{}", String::from_utf8_lossy(&req.body)),
    );
    assert_eq!(req.header("webhook-signature"), format!("v1,{expected}"));
    assert_eq!(
        req.header("authorization"),
        format!("Basic {}", STANDARD.encode("svc:p@ss:word"))
    );
    assert_eq!(seen[1].method, "DELETE");
    assert_eq!(seen[1].header("x-api-key"), "k-123");
    assert!(seen[1].headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_missing_secret_fails_the_fire_naming_the_variable_without_a_request() {
    let server = Server::start(vec![]).await;
    let db = sqlite();
    let mut h = Harness::new(&db.url).await;
    let mut job = http_job(
        "no-token",
        json!({"url": format!("{}/x", server.base),
               "auth": {"type": "bearer", "token": {"env": "COSCHED_TEST_UNSET_TOKEN_8d1f"}}}),
    );
    job.retry = retried(3);
    let fire = run_once(&mut h, &job).await;
    assert_eq!(fire.status, "failed");
    assert_eq!(
        fire.error.as_deref(),
        Some(
            "`auth.token`: the environment variable COSCHED_TEST_UNSET_TOKEN_8d1f is not set on this node"
        )
    );
    h.advance(3600);
    assert_eq!(h.step().await.started, 0, "a missing secret is not retried");
    assert!(server.seen().is_empty());
}

/// A node run as an operator runs it: a TOML file whose http job fires
/// every second, its bearer token and signing secret in the node's
/// environment.
#[tokio::test]
async fn a_job_declared_in_the_file_fires_on_schedule_with_secrets_from_the_environment() {
    let server = Server::start(vec![]).await;
    let db = sqlite();
    let client = migrated_client(&db.url).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.toml");
    std::fs::write(
        &file,
        format!(
            r#"[scheduler]
poll_interval = "100ms"

[[job]]
name = "ping"
kind = "http"
every = "1s"
settings = {{ url = "{}/ping/{{{{job}}}}", auth = {{ type = "bearer", token = {{ env = "PING_TOKEN" }} }}, sign = {{ secret = {{ env = "PING_SIGNING" }} }} }}
"#,
            server.base
        ),
    )
    .unwrap();
    let mut node = std::process::Command::new(env!("CARGO_BIN_EXE_cosched"))
        .args([
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--database",
            &db.url,
        ])
        .env("PING_TOKEN", "t-secret")
        .env("PING_SIGNING", "plain signing secret")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.seen().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SAFETY: signalling our own child process, which we have not reaped.
    unsafe { libc::kill(node.id() as i32, libc::SIGTERM) };
    let _ = node.wait();
    let seen = server.seen();
    assert!(
        seen.len() >= 2,
        "two scheduled fires expected, saw {}",
        seen.len()
    );
    for req in &seen[..2] {
        assert_eq!(req.uri, "/ping/ping");
        assert_eq!(req.header("authorization"), "Bearer t-secret");
        let signed = format!(
            "{}.{}.{}",
            req.header("webhook-id"),
            req.header("webhook-timestamp"),
            String::from_utf8_lossy(&req.body)
        );
        assert_eq!(
            req.header("webhook-signature"),
            format!("v1,{}", hmac_b64(b"plain signing secret", &signed))
        );
        let sent: i64 = req.header("webhook-timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - sent).abs() < 300);
    }
    assert_ne!(
        seen[0].header("idempotency-key"),
        seen[1].header("idempotency-key"),
        "two fires, two keys"
    );
    let fires = fires_of_client(&client, "ping").await;
    assert!(fires.iter().any(|f| f.status == "succeeded"), "{fires:?}");
    // The job's settings hold the references, never the secrets.
    let stored = client.jobs().await.unwrap();
    let text = format!("{stored:?}");
    assert!(
        text.contains("PING_TOKEN") && !text.contains("t-secret"),
        "{text}"
    );
}

async fn fires_of_client(client: &cosched::Client, job: &str) -> Vec<cosched::model::Fire> {
    client
        .fires(&cosched::store::FireFilter {
            job: Some(job.to_string()),
            status: None,
            limit: None,
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn bad_settings_are_refused_by_the_file_and_by_the_client_and_nothing_is_written() {
    let db = sqlite();
    let client = migrated_client(&db.url).await;
    let text = "[[job]]\nname = \"a\"\nkind = \"http\"\nevery = \"1m\"\nsettings = { url = \"ftp://example.com/x\" }\n";
    let e = config::parse(text, "jobs.toml", &JobRegistry::with_builtins()).unwrap_err();
    assert_eq!(e.issues.len(), 1, "{e}");
    assert_eq!((e.issues[0].line, e.issues[0].column), (5, 12), "{e}");
    assert_eq!(
        e.issues[0].message,
        "job `a` (http): `url` = \"ftp://example.com/x\" must start with http:// or https://"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, text).unwrap();
    let out = crate::config::cosched(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--database",
        &db.url,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5:12", file.display())),
        "{stderr}"
    );
    assert!(client.jobs().await.unwrap().is_empty(), "nothing written");

    let cases = [
        (
            json!({"url": "http://127.0.0.1/{{fire}}"}),
            "`url`: unknown template variable `{{fire}}`",
        ),
        (
            json!({"url": "http://127.0.0.1/", "method": "TRACE"}),
            "`method` = \"TRACE\" must be one of",
        ),
        (
            json!({"url": "http://127.0.0.1/", "auth": {"type": "bearer", "token": "plain"}}),
            "`auth.token` must be { env = \"NAME\" } or { file = \"/path\" }",
        ),
        (
            json!({"url": "http://127.0.0.1/", "headers": {"Authorization": "Bearer x"}}),
            "`headers.Authorization` cannot be set: use `auth`",
        ),
        (
            json!({"url": "http://127.0.0.1/", "retry_on": ["5xx", "sometimes"]}),
            "`retry_on[1]`",
        ),
        (
            json!({"url": "http://127.0.0.1/", "ca_file": "/nonexistent/ca.pem"}),
            "`ca_file`: cannot read /nonexistent/ca.pem",
        ),
    ];
    for (i, (settings, expected)) in cases.into_iter().enumerate() {
        let e = client
            .create_job_def(&http_job(&format!("bad-{i}"), settings), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("job `bad-{i}` (http): {expected}")),
            "{e}"
        );
    }
    assert!(client.jobs().await.unwrap().is_empty());
}

/// The commented `http` job of `jobs.toml.example`, uncommented as its
/// comment says (with `[http]`), is a valid file whose settings ask for
/// what the node's `/healthz` answers (`"status": "ok"`).
#[test]
fn the_example_http_job_is_valid_once_uncommented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs.toml.example");
    let example = std::fs::read_to_string(path).unwrap();
    let start = example
        .find("# [[job]]\n# name = \"self-check\"")
        .expect("the http example");
    let block: String = example[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter(|l| !l.starts_with("# #"))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
        .collect();
    let text = format!("[http]\nlisten = \"127.0.0.1:8080\"\n\n{block}");
    let cfg = config::parse(&text, "example.toml", &JobRegistry::with_builtins())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let job = &cfg
        .jobs
        .iter()
        .find(|j| j.job.name == "self-check")
        .unwrap()
        .job;
    assert_eq!(job.kind, "http");
    assert_eq!(job.settings["url"], json!("http://127.0.0.1:8080/healthz"));
    assert_eq!(job.settings["method"], json!("GET"));
    let re = regex::Regex::new(job.settings["expect_body"].as_str().unwrap()).unwrap();
    assert!(re.is_match(r#"{"status": "ok", "node": "n", "database": true}"#));
}
