//! The HTTP API: a real node with `[http] listen = "127.0.0.1:0"`, spoken
//! to with a small hand-written HTTP/1.1 client over a TCP stream.
//!
//! Waiting is always for a condition with a deadline (`eventually`), never
//! a sleep followed by an assert.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cosched::config::{self, Settings};
use cosched::node::{NodeError, ShutdownReport};
use cosched::{JobRegistry, Node, SystemClock};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::support::{backends, sqlite};

pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// One HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status and the error shape, and returns the message.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let v = self.json();
        let error = v["error"].as_str().expect("an `error` string").to_string();
        assert!(
            v["hint"].as_str().is_some_and(|h| !h.is_empty()),
            "no hint: {v}"
        );
        error
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub(crate) async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> Reply {
    send_with(addr, method, path, &[("Host", &addr.to_string())], body).await
}

/// Sends one request with these headers (give `Host` yourself) and reads
/// the whole answer.
pub(crate) async fn send_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let (content_type, body) = body.unwrap_or(("", ""));
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !content_type.is_empty() {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("write");
        stream.write_all(body.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(DEADLINE, exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} {path}"));
    parse(&raw)
}

pub(crate) fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        let mut body = String::new();
        let mut rest = rest;
        loop {
            let (size, after) = rest.split_once("\r\n").expect("a chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
            if size == 0 {
                break;
            }
            body.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        body
    } else {
        rest.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "GET", path, None).await
}

pub(crate) async fn post(addr: SocketAddr, path: &str, body: Value) -> Reply {
    send(
        addr,
        "POST",
        path,
        Some(("application/json", &body.to_string())),
    )
    .await
}

/// A POST without a body (sent as JSON, as every POST must be).
pub(crate) async fn post_empty(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "POST", path, Some(("application/json", ""))).await
}

pub(crate) async fn put(addr: SocketAddr, path: &str, body: Value) -> Reply {
    send(
        addr,
        "PUT",
        path,
        Some(("application/json", &body.to_string())),
    )
    .await
}

pub(crate) async fn delete(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "DELETE", path, Some(("application/json", ""))).await
}

/// Polls `check` until it gives a value, for at most [`DEADLINE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node running with the HTTP API on a free loopback port.
pub(crate) struct Running {
    pub node: Node,
    pub addr: SocketAddr,
    task: JoinHandle<ShutdownReport>,
}

/// A `[scheduler] keep_fires` that prunes nothing a test records.
const KEEP_EVERYTHING: &str = "keep_fires = { succeeded = \"36500d\", failed = \"36500d\", \
     timed_out = \"36500d\", abandoned = \"36500d\", cancelled = \"36500d\", skipped = \"36500d\" }";

impl Running {
    pub async fn start(url: &str, extra_toml: &str) -> Running {
        Running::start_with(url, "", extra_toml).await
    }

    /// With more keys of `[http]` (`http_keys`), then `extra_toml`.
    pub async fn start_with(url: &str, http_keys: &str, extra_toml: &str) -> Running {
        Running::start_full(url, "", http_keys, extra_toml).await
    }

    /// With more keys of `[scheduler]` and of `[http]`, then `extra_toml`.
    pub async fn start_full(
        url: &str,
        scheduler_keys: &str,
        http_keys: &str,
        extra_toml: &str,
    ) -> Running {
        // The node runs on the system clock while the tests' histories
        // are recorded by manual clocks months ago (`t0`): its pruner keeps
        // everything, so it never races what a test reads.
        let toml = format!(
            "[scheduler]\nnode_id = \"http-node\"\nshutdown_grace = \"1s\"\n{KEEP_EVERYTHING}\n{scheduler_keys}\n\n[http]\nlisten = \"127.0.0.1:0\"\n{http_keys}\n\n{extra_toml}"
        );
        let registry = JobRegistry::with_builtins();
        let config = config::parse(&toml, "http.toml", &registry).expect("valid config");
        let settings = Settings::resolve(Some(url.to_string()), &config);
        let (node, _) = Node::start(settings, &config, registry, Arc::new(SystemClock))
            .await
            .expect("start node");
        let addr = node.http_addr().expect("the HTTP API is on");
        assert_ne!(addr.port(), 0);
        let task = tokio::spawn({
            let node = node.clone();
            async move { node.run(std::future::pending()).await }
        });
        Running { node, addr, task }
    }

    pub async fn stop(self) -> ShutdownReport {
        self.node.stop_token().cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the node stops")
            .expect("the node task")
    }
}

/// The fires of `job`, newest first, as the API lists them.
async fn fires_of(addr: SocketAddr, job: &str) -> Vec<Value> {
    let r = get(addr, &format!("/fires?job={job}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().expect("an array").clone()
}

/// The value of one sample in the metrics text.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn a_job_created_and_triggered_over_http_fires() {
    for db in backends().await {
        let node = Running::start(&db.url, "").await;
        let addr = node.addr;

        let health = get(addr, "/healthz").await;
        assert_eq!(health.status, 200, "{}", health.body);
        assert_eq!(
            health.json(),
            json!({"status": "ok", "node": "http-node", "database": true, "standby": false, "error": null}),
            "{}",
            db.backend
        );

        let created = post(
            addr,
            "/jobs",
            json!({"name": "hello", "kind": "noop", "data": {"greeting": "hi"}, "group": "greeters"}),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let job = created.json();
        assert_eq!(job["name"], "hello");
        assert_eq!(job["source"], "api");
        assert_eq!(job["group"], "greeters");
        assert_eq!(job["data"], json!({"greeting": "hi"}));
        assert_eq!(job["triggers"], json!([]));

        let again = post(addr, "/jobs", json!({"name": "hello", "kind": "noop"})).await;
        assert!(again.error(409).contains("already exists"));

        let list = get(addr, "/jobs").await;
        assert_eq!(list.status, 200);
        assert_eq!(list.json()[0]["name"], "hello");

        let triggered = post(addr, "/jobs/hello/trigger", json!({"data": {"n": 1}})).await;
        assert_eq!(triggered.status, 201, "{}", triggered.body);
        assert_eq!(triggered.json()["job"], "hello");
        assert!(triggered.json()["trigger_id"].is_i64());

        let fire = eventually("the triggered fire to succeed", || async {
            fires_of(addr, "hello")
                .await
                .into_iter()
                .find(|f| f["status"] == "succeeded")
        })
        .await;
        assert_eq!(fire["node"], "http-node");
        assert!(fire["lateness_ms"].is_i64(), "{fire}");

        let one = get(addr, &format!("/fires/{}", fire["id"])).await;
        assert_eq!(one.status, 200);
        assert_eq!(one.json(), fire);
        let shown = get(addr, "/jobs/hello").await.json();
        assert_eq!(shown["recent_fires"][0]["id"], fire["id"]);
        let succeeded = get(addr, "/fires?status=succeeded&limit=5").await.json();
        assert_eq!(succeeded.as_array().map(Vec::len), Some(1));

        // The collector counts the fire; the gauges read the executor.
        let text = eventually("the metrics to count the fire", || async {
            let r = get(addr, "/metrics").await;
            assert_eq!(r.status, 200);
            let succeeded = sample(
                &r.body,
                "cosched_fires_finished_total{status=\"succeeded\"}",
            );
            (succeeded == Some(1)).then_some(r)
        })
        .await;
        assert!(
            text.header("content-type")
                .is_some_and(|c| c.starts_with("application/openmetrics-text; version=1.0.0")),
            "{:?}",
            text.headers
        );
        assert_eq!(sample(&text.body, "cosched_fires_started_total"), Some(1));
        assert_eq!(
            sample(&text.body, "cosched_fire_lateness_seconds_count"),
            Some(1)
        );
        assert_eq!(sample(&text.body, "cosched_max_concurrent"), Some(16));
        assert_eq!(sample(&text.body, "cosched_running_fires"), Some(0));

        let deleted = delete(addr, "/jobs/hello").await;
        assert_eq!(deleted.status, 200, "{}", deleted.body);
        get(addr, "/jobs/hello").await.error(404);

        node.stop().await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port is closed once the node stopped"
        );
    }
}

#[tokio::test]
async fn errors_are_json_with_a_status_and_a_hint() {
    let db = sqlite();
    // Command jobs allowed, to see their settings refused as bad input.
    let node = Running::start_with(&db.url, "api_command_jobs = true", "").await;
    let addr = node.addr;
    let created = post(addr, "/jobs", json!({"name": "j", "kind": "noop"})).await;
    assert_eq!(created.status, 201);

    // Unknown things: 404.
    assert!(get(addr, "/jobs/nope").await.error(404).contains("`nope`"));
    post_empty(addr, "/jobs/nope/trigger").await.error(404);
    post_empty(addr, "/jobs/nope/pause").await.error(404);
    delete(addr, "/jobs/nope").await.error(404);
    post(addr, "/jobs/nope/schedule", json!({"in": "1m"}))
        .await
        .error(404);
    post_empty(addr, "/triggers/999999/pause").await.error(404);
    get(addr, "/fires/999999").await.error(404);
    post_empty(addr, "/fires/999999/cancel").await.error(404);
    delete(addr, "/calendars/nope").await.error(404);
    get(addr, "/no/such/route").await.error(404);

    // Bad input: 400.
    let bad_json = send(
        addr,
        "POST",
        "/jobs",
        Some(("application/json", "{\"name\": ")),
    )
    .await;
    assert!(bad_json.error(400).contains("invalid JSON"));
    let unknown_key = post(
        addr,
        "/jobs",
        json!({"name": "k", "kind": "noop", "kindd": 1}),
    )
    .await;
    assert!(unknown_key.error(400).contains("unknown field `kindd`"));
    let unknown_kind = post(addr, "/jobs", json!({"name": "k", "kind": "nope"})).await;
    assert!(unknown_kind.error(400).contains("unknown job kind `nope`"));
    let bad_settings = post(addr, "/jobs", json!({"name": "k", "kind": "command"})).await;
    assert!(bad_settings.error(400).contains("command"));
    let bad_schedule = post(
        addr,
        "/jobs",
        json!({"name": "k", "kind": "noop", "timeout": "soon",
               "schedule": {"cron": "0 0 25 * * ?", "timezone": "Europe/Berln"}}),
    )
    .await;
    let message = bad_schedule.error(400);
    assert!(message.contains("`timeout` = \"soon\""), "{message}");
    assert!(
        message.contains("did you mean `Europe/Berlin`?"),
        "{message}"
    );
    assert!(message.contains("invalid cron expression"), "{message}");
    let two = post(
        addr,
        "/jobs",
        json!({"name": "k", "kind": "noop", "schedule": {"every": "1m", "at": "2030-01-01T00:00:00Z"}}),
    )
    .await;
    assert!(two.error(400).contains("found every and at"));
    let misfire = post(
        addr,
        "/jobs",
        json!({"name": "k", "kind": "noop", "schedule": {"at": "2030-01-01T00:00:00Z", "misfire": "do_nothing"}}),
    )
    .await;
    assert!(
        misfire
            .error(400)
            .contains("does not apply to a once trigger")
    );
    assert_eq!(
        get(addr, "/jobs/k").await.status,
        404,
        "nothing was created"
    );

    post(addr, "/jobs/j/schedule", json!({})).await.error(400);
    post(
        addr,
        "/jobs/j/schedule",
        json!({"in": "1m", "at": "2030-01-01T00:00:00Z"}),
    )
    .await
    .error(400);
    assert!(
        post(addr, "/jobs/j/schedule", json!({"in": "soon"}))
            .await
            .error(400)
            .contains("not a duration")
    );
    assert!(
        post(addr, "/jobs/j/schedule", json!({"at": "tomorrow"}))
            .await
            .error(400)
            .contains("not an instant")
    );
    post(addr, "/standby", json!({"on": "yes"}))
        .await
        .error(400);
    post_empty(addr, "/standby").await.error(400);
    post_empty(addr, "/triggers/abc/pause").await.error(400);
    get(addr, "/fires/abc").await.error(400);
    assert!(
        get(addr, "/fires?status=done")
            .await
            .error(400)
            .contains("`done`")
    );
    get(addr, "/fires?limit=0").await.error(400);
    get(addr, "/fires?limit=many").await.error(400);
    get(addr, "/fires?jbo=j").await.error(400);

    // A body that is not sent as JSON, a method a route does not take.
    send(addr, "POST", "/jobs/j/trigger", Some(("text/plain", "{}")))
        .await
        .error(415);
    send(addr, "PATCH", "/jobs", None).await.error(405);

    node.stop().await;
}

#[tokio::test]
async fn pause_resume_schedule_standby_calendars_and_nodes() {
    let db = sqlite();
    let declared = "[[job]]\nname = \"declared\"\nkind = \"noop\"\n";
    let node = Running::start(&db.url, declared).await;
    let addr = node.addr;

    // A cron job far in the future, in a group.
    let created = post(
        addr,
        "/jobs",
        json!({"name": "nightly", "kind": "noop", "group": "batch", "overlap": "skip",
               "timeout": "5m", "priority": 3, "retry": {"max_attempts": 3, "backoff": "10s"},
               "schedule": {"cron": "0 0 3 * * ?", "timezone": "Europe/Berlin", "misfire": "do_nothing"}}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let job = created.json();
    assert_eq!(job["overlap"], "skip");
    assert_eq!(job["timeout_ms"], 300_000);
    assert_eq!(job["priority"], 3);
    let trigger = &job["triggers"][0];
    assert_eq!(trigger["kind"], "cron");
    assert_eq!(trigger["misfire_policy"], "do_nothing");
    assert_eq!(trigger["schedule"], "cron 0 0 3 * * ? (Europe/Berlin)");
    let trigger_id = trigger["id"].as_i64().expect("a trigger id");

    // A one-off in an hour, and one at an instant.
    let in_an_hour = post(
        addr,
        "/jobs/nightly/schedule",
        json!({"in": "1h", "data": {"x": 1}}),
    )
    .await;
    assert_eq!(in_an_hour.status, 201, "{}", in_an_hour.body);
    assert!(in_an_hour.json()["fire_at"].is_string());
    let at = post(
        addr,
        "/jobs/nightly/schedule",
        json!({"at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(at.json()["fire_at"], "2099-01-01T00:00:00+00:00");
    assert_eq!(
        get(addr, "/jobs/nightly").await.json()["triggers"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // Pause and resume: a job, one trigger, a group.
    let paused = post_empty(addr, "/jobs/nightly/pause").await;
    assert_eq!(
        paused.json(),
        json!({"job": "nightly", "paused": true, "changed": true})
    );
    assert_eq!(
        post_empty(addr, "/jobs/nightly/pause").await.json()["changed"],
        false
    );
    assert_eq!(get(addr, "/jobs/nightly").await.json()["paused"], true);
    assert_eq!(
        post_empty(addr, "/jobs/nightly/resume").await.json()["changed"],
        true
    );
    let t = post_empty(addr, &format!("/triggers/{trigger_id}/pause")).await;
    assert_eq!(
        t.json(),
        json!({"trigger_id": trigger_id, "paused": true, "changed": true})
    );
    assert_eq!(
        get(addr, "/jobs/nightly").await.json()["triggers"][0]["state"],
        "paused"
    );
    let t = post_empty(addr, &format!("/triggers/{trigger_id}/resume")).await;
    assert_eq!(t.json()["changed"], true);
    let g = post_empty(addr, "/groups/batch/pause").await;
    assert_eq!(
        g.json(),
        json!({"group": "batch", "paused": true, "changed": ["nightly"]})
    );
    let g = post_empty(addr, "/groups/batch/resume").await;
    assert_eq!(g.json()["changed"], json!(["nightly"]));

    // Standby.
    assert_eq!(get(addr, "/standby").await.json(), json!({"on": false}));
    assert_eq!(
        post(addr, "/standby", json!({"on": true})).await.json(),
        json!({"on": true})
    );
    assert_eq!(get(addr, "/standby").await.json(), json!({"on": true}));
    assert_eq!(get(addr, "/healthz").await.json()["standby"], true);
    post(addr, "/standby", json!({"on": false})).await;

    // Calendars: create, replace, use, refuse, delete.
    let cal = put(
        addr,
        "/calendars/weekends",
        json!({"days_of_week": ["sat", "sun"]}),
    )
    .await;
    assert_eq!(cal.status, 200, "{}", cal.body);
    assert_eq!(cal.json()["name"], "weekends");
    assert_eq!(cal.json()["source"], "api");
    let replaced = put(
        addr,
        "/calendars/weekends",
        json!({"name": "weekends", "days_of_week": ["sun"], "timezone": "Europe/Berlin"}),
    )
    .await;
    assert_eq!(
        replaced.json()["definition"]["days_of_week"],
        json!(["sun"])
    );
    let listed = get(addr, "/calendars").await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    put(addr, "/calendars/weekends", json!({"name": "other"}))
        .await
        .error(400);
    assert!(
        put(addr, "/calendars/bad", json!({"days_of_week": ["someday"]}))
            .await
            .error(400)
            .contains("invalid calendar definition")
    );
    let with_cal = post(
        addr,
        "/jobs",
        json!({"name": "weekdays", "kind": "noop",
               "schedule": {"every": "1h", "calendars": ["weekends"]}}),
    )
    .await;
    assert_eq!(with_cal.status, 201, "{}", with_cal.body);
    let typo = post(
        addr,
        "/jobs",
        json!({"name": "typo", "kind": "noop", "schedule": {"every": "1h", "calendars": ["weekend"]}}),
    )
    .await;
    assert!(typo.error(400).contains("did you mean `weekends`?"));
    let gone = delete(addr, "/calendars/weekends").await;
    assert_eq!(
        gone.json(),
        json!({"calendar": "weekends", "deleted": true})
    );
    delete(addr, "/calendars/weekends").await.error(404);

    // Nodes.
    let nodes = get(addr, "/nodes").await.json();
    let me = nodes
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == "http-node"))
        .expect("this node is listed");
    assert_eq!(me["state"], "active");
    assert_eq!(me["pools"], json!(["default"]));

    // A job from the file cannot be deleted over HTTP.
    assert_eq!(get(addr, "/jobs/declared").await.json()["source"], "config");
    assert!(
        delete(addr, "/jobs/declared")
            .await
            .error(409)
            .contains("configuration file")
    );

    node.stop().await;
}

#[tokio::test]
async fn a_running_fire_is_cancelled_over_http() {
    let db = sqlite();
    let node = Running::start_with(&db.url, "api_command_jobs = true", "").await;
    let addr = node.addr;
    let created = post(
        addr,
        "/jobs",
        json!({"name": "sleepy", "kind": "command", "settings": {"command": ["sleep", "30"]}}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(post_empty(addr, "/jobs/sleepy/trigger").await.status, 201);
    let fire = eventually("the fire to run", || async {
        fires_of(addr, "sleepy")
            .await
            .into_iter()
            .find(|f| f["status"] == "running")
    })
    .await;
    let running = eventually("the metrics gauge to show it", || async {
        let text = get(addr, "/metrics").await.body;
        sample(&text, "cosched_running_fires").filter(|&n| n == 1)
    })
    .await;
    assert_eq!(running, 1);

    let id = fire["id"].as_i64().expect("a fire id");
    let cancelled = post_empty(addr, &format!("/fires/{id}/cancel")).await;
    assert_eq!(cancelled.json(), json!({"fire_id": id, "cancelled": true}));
    assert_eq!(
        get(addr, &format!("/fires/{id}")).await.json()["status"],
        "cancelled"
    );
    let again = post_empty(addr, &format!("/fires/{id}/cancel")).await;
    assert!(again.error(409).contains("is cancelled"));

    // The node stops the job when it notices; its slot frees up.
    eventually("the slot to be free again", || async {
        let text = get(addr, "/metrics").await.body;
        (sample(&text, "cosched_running_fires") == Some(0)).then_some(())
    })
    .await;
    node.stop().await;
}

#[tokio::test]
async fn a_taken_port_fails_the_start_and_nothing_is_served_without_http() {
    let db = sqlite();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address");
    let registry = JobRegistry::with_builtins();
    let toml = format!("[http]\nlisten = \"{addr}\"\n");
    let config = config::parse(&toml, "http.toml", &registry).expect("valid");
    assert_eq!(config.http.listen, Some(addr));
    let settings = Settings::resolve(Some(db.url.clone()), &config);
    match Node::start(settings, &config, registry.clone(), Arc::new(SystemClock)).await {
        Err(e @ NodeError::Listen { .. }) => {
            assert!(e.to_string().contains(&addr.to_string()), "{e}")
        }
        other => panic!("expected a listen error, got {:?}", other.map(|_| ())),
    }

    let config = config::Config::default();
    let settings = Settings::resolve(Some(db.url.clone()), &config);
    let (node, _) = Node::start(settings, &config, registry, Arc::new(SystemClock))
        .await
        .expect("start");
    assert_eq!(node.http_addr(), None);
}

#[test]
fn the_listen_address_is_checked_at_load() {
    let registry = JobRegistry::with_builtins();
    let issue = |toml: &str| {
        let err = config::parse(toml, "jobs.toml", &registry).expect_err("invalid");
        err.issues.into_iter().next().expect("one issue")
    };
    let i = issue("[scheduler]\nmax_concurrent = 4\n\n[http]\nlisten = \"localhost:8080\"\n");
    assert_eq!((i.file.as_str(), i.line, i.column), ("jobs.toml", 5, 10));
    assert!(
        i.message.contains("did you mean \"127.0.0.1:8080\"?"),
        "{}",
        i.message
    );
    let i = issue("[http]\nlisten = \"127.0.0.1\"\n");
    assert_eq!(i.line, 2);
    assert!(
        i.message.contains("expected an IP and a port"),
        "{}",
        i.message
    );
    let i = issue("[http]\nlisen = \"127.0.0.1:8080\"\n");
    assert_eq!(i.line, 2);
    assert!(
        i.message.contains("did you mean `listen`?"),
        "{}",
        i.message
    );
    let ok =
        config::parse("[http]\nlisten = \"[::1]:9090\"\n", "jobs.toml", &registry).expect("valid");
    assert_eq!(
        ok.http.listen,
        Some("[::1]:9090".parse().expect("an address"))
    );
    let off = config::parse("", "jobs.toml", &registry).expect("valid");
    assert_eq!(off.http.listen, None);
}
