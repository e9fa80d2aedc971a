//! The HTTP API closed by default: every route of the route table against
//! every role, the fail-closed binding through the real binary, the
//! browser defences, `api_command_jobs`, the audit log, and the
//! validation of `[http]`.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cosched::JobRegistry;
use cosched::config;
use cosched::http::auth::Access;
use cosched::http::routes::{ROUTES, Route, Verb};
use cosched::http::tokens::{Role, TokenDigest};
use serde_json::{Value, json};

use crate::config::cosched;
use crate::http::{DEADLINE, Reply, Running, eventually, send_with};
use crate::support::{backends, sqlite};

const READ_SECRET: &str = "read-secret-7f3a9c";
const OPERATE_SECRET: &str = "operate-secret-1b2d4e";
const ADMIN_SECRET: &str = "admin-secret-9e8d7c";

/// `[http]` keys with one token of each role, given by their digests.
fn tokens_toml() -> String {
    format!(
        "tokens = [\n  {{ name = \"grafana\", role = \"read\", hash = \"{}\" }},\n  \
         {{ name = \"deploy\", role = \"operate\", hash = \"{}\" }},\n  \
         {{ name = \"root\", role = \"admin\", hash = \"{}\" }},\n]",
        TokenDigest::of(READ_SECRET),
        TokenDigest::of(OPERATE_SECRET),
        TokenDigest::of(ADMIN_SECRET)
    )
}

fn secret(role: Option<Role>) -> Option<&'static str> {
    role.map(|r| match r {
        Role::Read => READ_SECRET,
        Role::Operate => OPERATE_SECRET,
        Role::Admin => ADMIN_SECRET,
    })
}

/// A caller of one API: a token (or none), and extra headers.
#[derive(Clone, Copy)]
struct Caller<'a> {
    addr: SocketAddr,
    token: Option<&'a str>,
}

impl Caller<'_> {
    /// A POST, PUT or DELETE goes as JSON (an empty body too), as it must.
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let host = self.addr.to_string();
        let bearer = self.token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Host", host.as_str())];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        // The dashboard's forms go as forms, from the dashboard's origin.
        let origin = format!("http://{host}");
        let form = method == "POST" && path.starts_with("/ui/");
        if form {
            headers.push(("Origin", origin.as_str()));
        }
        let text = match (&body, form) {
            (Some(Value::Object(fields)), true) => fields
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("&"),
            _ => body.map(|b| b.to_string()).unwrap_or_default(),
        };
        let kind = if form {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        let body = (method != "GET").then_some((kind, text.as_str()));
        send_with(self.addr, method, path, &headers, body).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }
}

/// The access rule each route must have, as the README states it.
fn policy(route: &Route) -> Access {
    match (route.verb, route.path) {
        (Verb::Get, "/healthz") => Access::Health,
        (Verb::Get, "/metrics") => Access::Metrics,
        (Verb::Get, _) => Access::Role(Role::Read),
        (Verb::Post, "/jobs") | (Verb::Delete, "/jobs/{name}") => Access::Role(Role::Admin),
        (Verb::Put | Verb::Delete, p) if p.starts_with("/calendars/") => Access::Role(Role::Admin),
        _ => Access::Role(Role::Operate),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// 401 with `WWW-Authenticate: Bearer`.
    Unauthorized,
    /// 403: the role is too small.
    Forbidden,
    /// Served (2xx, or a 4xx that is not about access).
    Served,
    /// `/healthz` without a token: only that the node is up.
    UpOnly,
}

fn expect(access: Access, caller: Option<Role>) -> Expect {
    match (access, caller) {
        (Access::Health, None) => Expect::UpOnly,
        (Access::Health | Access::Metrics, Some(_)) => Expect::Served,
        (Access::Metrics | Access::Role(_), None) => Expect::Unauthorized,
        (Access::Role(needed), Some(role)) if role >= needed => Expect::Served,
        (Access::Role(_), Some(_)) => Expect::Forbidden,
    }
}

/// The ids and names the routes' parameters are filled with.
struct Fixtures {
    trigger: i64,
    fire: i64,
}

/// The path and body of one call of `route`; a DELETE that will be served
/// gets an object of its own to delete.
async fn request_for(
    route: &Route,
    fx: &Fixtures,
    admin: Caller<'_>,
    served: bool,
    seq: usize,
) -> (String, Option<Value>) {
    let mut name = "probe".to_string();
    if served && route.verb == Verb::Delete {
        name = format!("doomed-{seq}");
        let made = if route.path.starts_with("/jobs/") {
            admin
                .send("POST", "/jobs", Some(json!({"name": name, "kind": "noop"})))
                .await
        } else {
            admin
                .send(
                    "PUT",
                    &format!("/calendars/{name}"),
                    Some(json!({"days_of_week": ["sat"]})),
                )
                .await
        };
        assert!(made.status / 100 == 2, "{}", made.body);
    }
    let id = if route.path.starts_with("/triggers/") {
        fx.trigger
    } else {
        fx.fire
    };
    let path = route
        .path
        .replace("{name}", &name)
        .replace("{group}", "probe-group")
        .replace("{id}", &id.to_string());
    assert!(
        !path.contains('{'),
        "a new path parameter in {}: teach this test a value for it",
        route.path
    );
    let body = match (route.verb, route.path) {
        (Verb::Post, "/jobs") => Some(json!({"name": format!("made-{seq}"), "kind": "noop"})),
        (Verb::Post, "/jobs/{name}/schedule") => Some(json!({"in": "1h"})),
        (Verb::Post, "/jobs/{name}/backfill") => Some(json!({
            "from": "2026-01-01T00:00:00Z",
            "to": "2026-01-01T01:00:00Z",
            "dry_run": true
        })),
        (Verb::Post, "/standby") => Some(json!({"on": false})),
        (Verb::Post, "/ui/jobs/{name}/schedule") => Some(json!({"in": "1h"})),
        (Verb::Post, "/ui/standby") => Some(json!({"on": "false"})),
        (Verb::Put, "/calendars/{name}") => Some(json!({"days_of_week": ["sun"]})),
        _ => None,
    };
    (path, body)
}

#[tokio::test]
async fn every_route_serves_each_role_exactly_its_access() {
    for db in backends().await {
        let node = Running::start_with(&db.url, &tokens_toml(), "").await;
        let addr = node.addr;
        let admin = Caller {
            addr,
            token: Some(ADMIN_SECRET),
        };
        let made = admin
            .send(
                "POST",
                "/jobs",
                Some(
                    json!({"name": "probe", "kind": "noop", "group": "probe-group",
                            "schedule": {"cron": "0 0 3 * * ?"}}),
                ),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        let trigger = made.json()["triggers"][0]["id"]
            .as_i64()
            .expect("a trigger id");
        let cal = admin
            .send(
                "PUT",
                "/calendars/probe",
                Some(json!({"days_of_week": ["sun"]})),
            )
            .await;
        assert_eq!(cal.status, 200, "{}", cal.body);
        assert_eq!(
            admin.send("POST", "/jobs/probe/trigger", None).await.status,
            201
        );
        let fire = eventually("the probe's fire to finish", || async {
            let fires = admin.get("/fires?job=probe").await.json();
            fires
                .as_array()?
                .iter()
                .find(|f| f["status"] == "succeeded")?["id"]
                .as_i64()
        })
        .await;
        let fx = Fixtures { trigger, fire };

        let mut seq = 0;
        for route in ROUTES {
            assert_eq!(
                route.access,
                policy(route),
                "{} {}",
                route.verb.as_str(),
                route.path
            );
            for role in [
                None,
                Some(Role::Read),
                Some(Role::Operate),
                Some(Role::Admin),
            ] {
                seq += 1;
                let want = expect(route.access, role);
                let (path, body) =
                    request_for(route, &fx, admin, want == Expect::Served, seq).await;
                let caller = Caller {
                    addr,
                    token: secret(role),
                };
                let reply = caller.send(route.verb.as_str(), &path, body).await;
                let what = format!(
                    "{} {path} as {role:?} on {}: {} {}",
                    route.verb.as_str(),
                    db.backend,
                    reply.status,
                    reply.body
                );
                match want {
                    Expect::Unauthorized => {
                        assert_eq!(reply.status, 401, "{what}");
                        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{what}");
                        reply.error(401);
                    }
                    Expect::Forbidden => {
                        let needed = match route.access {
                            Access::Role(r) => r.as_str(),
                            _ => unreachable!("only role rules forbid"),
                        };
                        assert!(reply.error(403).contains(needed), "{what}");
                    }
                    Expect::UpOnly => {
                        assert_eq!(reply.status, 200, "{what}");
                        assert_eq!(reply.json(), json!({"status": "up"}), "{what}");
                    }
                    Expect::Served => {
                        // Cancelling a fire that has finished is a conflict.
                        // A dashboard form answers 303 back to its page.
                        let ok = reply.status / 100 == 2
                            || (path.starts_with("/ui/")
                                && route.verb == Verb::Post
                                && reply.status == 303)
                            || (path.ends_with("/cancel") && reply.status == 409);
                        assert!(ok, "{what}");
                    }
                }
            }
        }

        // What was refused changed nothing: the fixtures are all there.
        assert_eq!(admin.get("/jobs/probe").await.status, 200);
        assert_eq!(
            admin
                .get("/calendars")
                .await
                .json()
                .as_array()
                .map(Vec::len),
            Some(1)
        );

        // With a token, /healthz tells the details.
        let health = Caller {
            addr,
            token: Some(READ_SECRET),
        }
        .get("/healthz")
        .await;
        assert_eq!(health.json()["node"], "http-node");
        assert_eq!(health.json()["database"], true);

        // A wrong token, or a scheme that is not Bearer, is refused.
        let wrong = Caller {
            addr,
            token: Some("not-a-token"),
        }
        .get("/jobs")
        .await;
        assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
        assert!(wrong.error(401).contains("not valid"));
        let host = addr.to_string();
        let basic = send_with(
            addr,
            "GET",
            "/jobs",
            &[("Host", &host), ("Authorization", "Basic cm9vdDpyb290")],
            None,
        )
        .await;
        basic.error(401);
        // Unknown routes say nothing without a token.
        let anonymous = Caller { addr, token: None };
        anonymous.get("/no/such/route").await.error(401);
        admin.get("/no/such/route").await.error(404);
        anonymous.send("PATCH", "/jobs", None).await.error(401);
        node.stop().await;
    }
}

#[tokio::test]
async fn metrics_public_opens_only_the_metrics() {
    let db = sqlite();
    let keys = format!("{}\nmetrics_public = true", tokens_toml());
    let node = Running::start_with(&db.url, &keys, "").await;
    let anonymous = Caller {
        addr: node.addr,
        token: None,
    };
    let metrics = anonymous.get("/metrics").await;
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(metrics.body.contains("cosched_max_concurrent"));
    anonymous.get("/jobs").await.error(401);
    anonymous.get("/nodes").await.error(401);
    node.stop().await;
}

#[tokio::test]
async fn command_jobs_need_api_command_jobs() {
    let db = sqlite();
    let command_job = json!({"name": "runner", "kind": "command",
                             "settings": {"command": ["true"]}});
    let node = Running::start_with(&db.url, &tokens_toml(), "").await;
    let admin = Caller {
        addr: node.addr,
        token: Some(ADMIN_SECRET),
    };
    let refused = admin.send("POST", "/jobs", Some(command_job.clone())).await;
    let message = refused.error(403);
    assert!(message.contains("command"), "{message}");
    assert!(
        refused.json()["hint"]
            .as_str()
            .is_some_and(|h| h.contains("api_command_jobs = true")),
        "{}",
        refused.body
    );
    admin.get("/jobs/runner").await.error(404);
    node.stop().await;

    let keys = format!("{}\napi_command_jobs = true", tokens_toml());
    let node = Running::start_with(&db.url, &keys, "").await;
    let admin = Caller {
        addr: node.addr,
        token: Some(ADMIN_SECRET),
    };
    let made = admin.send("POST", "/jobs", Some(command_job)).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.json()["kind"], "command");
    node.stop().await;
}

#[tokio::test]
async fn cross_origin_bodyless_and_misaddressed_requests_are_refused() {
    let db = sqlite();
    let node = Running::start_with(&db.url, "hosts = [\"cosched.test\"]", "").await;
    let addr = node.addr;
    let host = addr.to_string();
    let open = Caller { addr, token: None };
    assert_eq!(
        open.send("POST", "/jobs", Some(json!({"name": "j", "kind": "noop"})))
            .await
            .status,
        201
    );
    let paused = || async { open.get("/jobs/j").await.json()["paused"] == true };

    // A page of another site, even with a JSON body.
    let json = Some(("application/json", "{}"));
    let foreign = send_with(
        addr,
        "POST",
        "/jobs/j/pause",
        &[("Host", &host), ("Origin", "http://evil.example")],
        json,
    )
    .await;
    assert!(foreign.error(403).contains("evil.example"));
    let null_origin = send_with(
        addr,
        "POST",
        "/jobs/j/pause",
        &[("Host", &host), ("Origin", "null")],
        json,
    )
    .await;
    null_origin.error(403);
    assert!(!paused().await, "nothing changed");

    // A no-cors fetch: no body and no Content-Type, or a form.
    let bare = send_with(addr, "POST", "/jobs/j/pause", &[("Host", &host)], None).await;
    assert!(bare.error(415).contains("application/json"));
    let form = send_with(
        addr,
        "POST",
        "/jobs/j/pause",
        &[("Host", &host)],
        Some(("application/x-www-form-urlencoded", "a=1")),
    )
    .await;
    form.error(415);
    let delete = send_with(addr, "DELETE", "/jobs/j", &[("Host", &host)], None).await;
    delete.error(415);
    assert!(!paused().await, "nothing changed");
    assert_eq!(open.get("/jobs/j").await.status, 200, "not deleted");

    // DNS rebinding: a name this API does not answer to.
    let port = addr.port();
    for bad in [
        format!("evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "localhost".to_string(),
    ] {
        let r = send_with(addr, "GET", "/jobs", &[("Host", &bad)], None).await;
        assert!(r.error(421).contains(&bad), "{bad}");
    }
    let rebound = send_with(
        addr,
        "POST",
        "/jobs/j/pause",
        &[("Host", &format!("evil.example:{port}"))],
        json,
    )
    .await;
    rebound.error(421);
    assert!(!paused().await, "nothing changed");
    let no_host = send_with(addr, "GET", "/jobs", &[], None).await;
    no_host.error(400);

    // The API's own names and origin are served.
    for good in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "cosched.test".to_string(),
    ] {
        let r = send_with(addr, "GET", "/jobs", &[("Host", &good)], None).await;
        assert_eq!(r.status, 200, "{good}: {}", r.body);
    }
    let own = send_with(
        addr,
        "POST",
        "/jobs/j/pause",
        &[("Host", &host), ("Origin", &format!("http://{host}"))],
        Some(("application/json", "")),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(paused().await);
    node.stop().await;
}

#[test]
fn the_http_table_is_validated_with_its_places() {
    let registry = JobRegistry::with_builtins();
    let issues = |toml: &str| {
        config::parse(toml, "jobs.toml", &registry)
            .expect_err("invalid")
            .issues
    };
    let hash = TokenDigest::of("x").to_string();
    let i = issues(&format!(
        "[http]\nlisten = \"127.0.0.1:0\"\ntokens = [{{ name = \"a\", role = \"admn\", hash = \"{hash}\" }}]\n"
    ));
    assert_eq!((i[0].file.as_str(), i[0].line), ("jobs.toml", 3));
    assert_eq!(i[0].column, 32, "{}", i[0].message);
    assert!(
        i[0].message.contains("did you mean `admin`?"),
        "{}",
        i[0].message
    );
    let i = issues(&format!(
        "[http]\ntokens = [\n  {{ name = \"a\", role = \"read\", hash = \"{hash}\", env = \"A\" }},\n]\n"
    ));
    assert_eq!(i[0].line, 3);
    assert!(
        i[0].message.contains("gives hash and env"),
        "{}",
        i[0].message
    );
    let i = issues("[http]\ntokens = [{ name = \"a\", role = \"read\" }]\n");
    assert!(i[0].message.contains("no secret"), "{}", i[0].message);
    let i = issues("[http]\ntokens = [{ name = \"a\", role = \"read\", hash = \"sha256:12\" }]\n");
    assert!(i[0].message.contains("malformed"), "{}", i[0].message);
    let i = issues("[http]\ntokens = [{ name = \"a\", role = \"read\", secret = \"hunter2\" }]\n");
    assert!(
        i[0].message.contains("never written in the file"),
        "{}",
        i[0].message
    );
    let i = issues("[http]\ntokens = [{ name = \"a\", role = \"read\", env = \"NOT A NAME\" }]\n");
    assert!(
        i[0].message.contains("not an environment variable name"),
        "{}",
        i[0].message
    );
    let i = issues(&format!(
        "[http]\ntokens = [{{ name = \"a\", role = \"read\", hash = \"{hash}\" }}, {{ name = \"a\", role = \"admin\", env = \"B\" }}]\n"
    ));
    assert!(
        i[0].message.contains("duplicate token name `a`"),
        "{}",
        i[0].message
    );
    let i = issues(&format!(
        "[http]\nallow_unauthenticated = true\ntokens = [{{ name = \"a\", role = \"read\", hash = \"{hash}\" }}]\n"
    ));
    assert_eq!(i[0].line, 2);
    assert!(i[0].message.contains("no effect"), "{}", i[0].message);
    let i = issues("[http]\nhosts = [\"http://cosched.test/\"]\n");
    assert!(i[0].message.contains("no scheme"), "{}", i[0].message);
    let i = issues("[http]\nmax_connections = 0\n");
    assert!(i[0].message.contains("from 1 to 10000"), "{}", i[0].message);
    let i = issues("[http]\nidle_timeout = \"30s\"\n");
    assert!(
        i[0].message
            .contains("`idle_timeout` must be from 100ms to 10s"),
        "{}",
        i[0].message
    );
    let i = issues("[http]\nheader_timeout = \"soon\"\n");
    assert!(i[0].message.contains("not a duration"), "{}", i[0].message);

    let ok = config::parse(
        &format!(
            "[http]\nlisten = \"0.0.0.0:8080\"\nmetrics_public = true\nhosts = [\"cosched.test:8080\"]\n\
             max_connections = 64\nheader_timeout = \"2s\"\nidle_timeout = \"3s\"\nrequest_timeout = \"1m\"\n\
             tokens = [\n  {{ name = \"grafana\", role = \"read\", hash = \"{hash}\" }},\n  \
             {{ name = \"deploy\", role = \"operate\", env = \"COSCHED_DEPLOY_TOKEN\" }},\n  \
             {{ name = \"admin\", role = \"admin\", file = \"/run/secrets/cosched_admin\" }},\n]\n"
        ),
        "jobs.toml",
        &registry,
    )
    .expect("valid");
    let http = ok.http;
    assert_eq!(
        http.tokens
            .iter()
            .map(|t| (t.name.as_str(), t.role, t.place.line))
            .collect::<Vec<_>>(),
        [
            ("grafana", Role::Read, 10),
            ("deploy", Role::Operate, 11),
            ("admin", Role::Admin, 12)
        ]
    );
    assert!(http.metrics_public && !http.api_command_jobs && !http.allow_unauthenticated);
    assert_eq!(http.limits.max_connections, 64);
    assert_eq!(http.limits.header_timeout, Duration::from_secs(2));
    assert_eq!(http.limits.idle_timeout, Duration::from_secs(3));
    assert_eq!(http.limits.request_timeout, Duration::from_secs(60));
}

// ---- the binary ----------------------------------------------------------------

/// A `cosched serve` process whose log (JSON lines) is read as it comes.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Serve {
    fn start(config: &str, db: &str, env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cosched"));
        cmd.args([
            "serve",
            "--config",
            config,
            "--database",
            db,
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn cosched serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Serve {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first log event (JSON) that `pick` accepts, within [`DEADLINE`].
    fn wait_for(&mut self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && pick(&v)
                    {
                        return v;
                    }
                }
                Err(_) => panic!("no log event {what}; the log:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// The API's address, from the "listening" event.
    fn api_addr(&mut self) -> SocketAddr {
        let event = self.wait_for("HTTP API listening", |v| {
            v["fields"]["message"] == "HTTP API listening"
        });
        event["fields"]["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("an address in the event")
    }

    /// SIGTERM, then the exit status must be success.
    fn stop(mut self) -> Vec<String> {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "serve exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.seen.extend(self.lines.try_iter());
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        self.seen
    }
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("jobs.toml");
    std::fs::write(&path, text).expect("write the config");
    path.display().to_string()
}

#[test]
fn a_non_loopback_listen_without_tokens_fails_check_and_serve_with_exit_2() {
    let dir = tempfile::tempdir().expect("a folder");
    let config = write_config(
        &dir,
        "[scheduler]\nnode_id = \"n\"\n\n[http]\nlisten = \"0.0.0.0:0\"\n",
    );
    let db_file = dir.path().join("never.db");
    let db = format!("sqlite://{}", db_file.display());
    for args in [
        vec!["check", "--config", &config],
        vec!["serve", "--config", &config, "--database", &db],
    ] {
        let out = cosched(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{config}:5:10")),
            "{args:?}: {stderr}"
        );
        for needed in [
            "tokens = [",
            "cosched token new",
            "allow_unauthenticated = true",
        ] {
            assert!(stderr.contains(needed), "{args:?}: `{needed}` in {stderr}");
        }
    }
    assert!(!db_file.exists(), "nothing was written");

    // Loopback without tokens is fine, for development.
    let loopback = write_config(&dir, "[http]\nlisten = \"127.0.0.1:0\"\n");
    let out = cosched(&["check", "--config", &loopback]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn the_unauthenticated_opt_out_serves_and_warns_at_start() {
    let dir = tempfile::tempdir().expect("a folder");
    let config = write_config(
        &dir,
        "[scheduler]\nnode_id = \"open\"\n\n[http]\nlisten = \"0.0.0.0:0\"\nallow_unauthenticated = true\n",
    );
    let out = cosched(&["check", "--config", &config]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let db = sqlite();
    let mut serve = Serve::start(&config, &db.url, &[]);
    let warning = serve.wait_for("the opt-out warning", |v| {
        v["level"] == "WARN"
            && v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("WITHOUT authentication"))
    });
    assert!(warning["fields"]["addr"].as_str().is_some(), "{warning}");
    serve.api_addr();
    serve.stop();
}

#[test]
fn a_token_secret_that_cannot_be_read_fails_serve_with_exit_2_and_its_place() {
    let dir = tempfile::tempdir().expect("a folder");
    let config = write_config(
        &dir,
        "[http]\nlisten = \"127.0.0.1:0\"\ntokens = [\n  { name = \"deploy\", role = \"operate\", env = \"COSCHED_TEST_NEVER_SET_TOKEN\" },\n]\n",
    );
    let out = cosched(&["check", "--config", &config]);
    assert_eq!(out.status.code(), Some(0), "check does not read secrets");
    let db_file = dir.path().join("never.db");
    let db = format!("sqlite://{}", db_file.display());
    let out = Command::new(env!("CARGO_BIN_EXE_cosched"))
        .args(["serve", "--config", &config, "--database", &db])
        .env_remove("COSCHED_TEST_NEVER_SET_TOKEN")
        .output()
        .expect("run cosched");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{config}:4:3")), "{stderr}");
    assert!(stderr.contains("COSCHED_TEST_NEVER_SET_TOKEN"), "{stderr}");
    assert!(!db_file.exists(), "nothing was written");
}

#[test]
fn the_secured_example_serves_tokens_from_env_file_and_hash_and_audits_changes() {
    let dir = tempfile::tempdir().expect("a folder");
    let admin_file = dir.path().join("admin-token");
    std::fs::write(&admin_file, format!("{ADMIN_SECRET}\n")).expect("write the secret");
    let config = write_config(
        &dir,
        &format!(
            "[scheduler]\nnode_id = \"secured\"\n\n[http]\nlisten = \"127.0.0.1:0\"\ntokens = [\n  \
             {{ name = \"grafana\", role = \"read\", hash = \"{}\" }},\n  \
             {{ name = \"deploy\", role = \"operate\", env = \"COSCHED_TEST_DEPLOY_TOKEN\" }},\n  \
             {{ name = \"admin\", role = \"admin\", file = \"{}\" }},\n]\n\n\
             [[job]]\nname = \"declared\"\nkind = \"noop\"\n",
            TokenDigest::of(READ_SECRET),
            admin_file.display()
        ),
    );
    let db = sqlite();
    let mut serve = Serve::start(
        &config,
        &db.url,
        &[("COSCHED_TEST_DEPLOY_TOKEN", OPERATE_SECRET)],
    );
    let addr = serve.api_addr();
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let as_role = |token| Caller { addr, token };
        let anonymous = as_role(None);
        anonymous.get("/jobs").await.error(401);
        assert_eq!(
            anonymous.get("/healthz").await.json(),
            json!({"status": "up"})
        );
        let read = as_role(Some(READ_SECRET));
        assert_eq!(read.get("/jobs").await.status, 200);
        read.send("POST", "/jobs/declared/trigger", None)
            .await
            .error(403);
        let operate = as_role(Some(OPERATE_SECRET));
        assert_eq!(
            operate
                .send("POST", "/jobs/declared/trigger", None)
                .await
                .status,
            201
        );
        operate
            .send("POST", "/jobs", Some(json!({"name": "x", "kind": "noop"})))
            .await
            .error(403);
        let admin = as_role(Some(ADMIN_SECRET));
        let made = admin
            .send("POST", "/jobs", Some(json!({"name": "x", "kind": "noop"})))
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        anonymous
            .send("POST", "/jobs/x/pause", None)
            .await
            .error(401);
    });
    let log = serve.stop();
    let audit: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "cosched::audit")
        .map(|v| v["fields"].clone())
        .collect();
    let summary: Vec<(String, String, String, u64)> = audit
        .iter()
        .map(|f| {
            (
                f["token"].as_str().unwrap_or_default().to_string(),
                f["method"].as_str().unwrap_or_default().to_string(),
                f["route"].as_str().unwrap_or_default().to_string(),
                f["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let row = |t: &str, m: &str, r: &str, s: u64| (t.to_string(), m.to_string(), r.to_string(), s);
    assert_eq!(
        summary,
        [
            row("grafana", "POST", "/jobs/{name}/trigger", 403),
            row("deploy", "POST", "/jobs/{name}/trigger", 201),
            row("deploy", "POST", "/jobs", 403),
            row("admin", "POST", "/jobs", 201),
            row("anonymous", "POST", "/jobs/{name}/pause", 401),
        ],
        "{audit:?}"
    );
    assert!(
        audit.iter().all(|f| f["path"].as_str().is_some()),
        "{audit:?}"
    );
}

#[test]
fn token_new_prints_a_fresh_secret_and_the_entry_that_accepts_it() {
    use cosched::http::tokens::TokenSource;

    let out = cosched(&["token", "new", "--role", "operate", "--name", "deploy"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let mut lines = stdout.lines();
    let secret = lines.next().expect("the secret");
    let entry = lines.next().expect("the entry");
    assert!(
        secret.len() >= 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()),
        "{secret}"
    );
    assert!(!entry.contains(secret), "the entry holds only the digest");
    let toml = format!("[http]\nlisten = \"0.0.0.0:0\"\ntokens = [{entry}]\n");
    let config = config::parse(&toml, "jobs.toml", &JobRegistry::with_builtins())
        .expect("the printed entry is valid");
    let token = &config.http.tokens[0];
    assert_eq!((token.name.as_str(), token.role), ("deploy", Role::Operate));
    assert_eq!(token.source, TokenSource::Hash(TokenDigest::of(secret)));

    let again = cosched(&["token", "new", "--role", "admin"]);
    let again = String::from_utf8(again.stdout).expect("UTF-8");
    assert_ne!(again.lines().next(), Some(secret), "every token is new");
    assert!(again.contains("name = \"admin\""), "{again}");
    let bad = cosched(&["token", "new", "--role", "root"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("read, operate or admin"));
}
