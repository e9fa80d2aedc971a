//! PostgreSQL for tests: one private server per test binary, one fresh
//! database per test.
//!
//! This module owns the test cluster's whole life. The first call to
//! [`database`] starts a server (once per process): `initdb` into a
//! temporary folder, then `pg_ctl start` on a free loopback port, with the
//! unix socket inside that folder, trust authentication, `fsync=off` and
//! room for 200 connections. Every call then creates a new database
//! `t_<n>` whose session time zone is `America/Los_Angeles`, so that a
//! statement that leans on the server's time zone (instead of bound UTC
//! milliseconds) shows up as a failure.
//!
//! PostgreSQL refuses to run as root; under root (as in CI) the server
//! binaries run as the `postgres` user, which then owns the temporary
//! folder. Binaries are looked up in `PATH`, then in
//! `/usr/lib/postgresql/*/bin` (newest version first).
//!
//! # Stopping the server
//!
//! A static guard is never dropped at exit, and `pg_ctl` detaches the
//! server from our process group, so neither drop nor Ctrl-C would stop
//! it. Instead, before `initdb` runs, we spawn a small *watchdog* shell in
//! its own session that blocks reading a pipe whose only writer is this
//! process (the write end is close-on-exec, so no other child inherits
//! it). Whenever this process ends, by a normal exit, a failed test,
//! a panic, a signal or `SIGKILL`, the kernel closes the pipe; the watchdog
//! reads end-of-file, runs `pg_ctl stop -m immediate` and deletes the
//! folder. On a normal exit an `atexit` handler also closes the pipe first
//! and *waits* for the watchdog, so that when `cargo test` returns no
//! server process is left, not even briefly.
//!
//! # A private server
//!
//! A test that stops and starts PostgreSQL under running nodes must not do
//! it to the shared server. [`private_server`] starts one of its own (same
//! settings, its own folder, port and watchdog) with [`PrivateServer::stop`]
//! and [`PrivateServer::start`]. Dropping it (or this process ending in any
//! way) stops it and deletes its folder.
//!
//! # When PostgreSQL is unavailable
//!
//! With `COSCHED_REQUIRE_POSTGRES=1` (CI sets it) [`database`] panics with
//! the reason. Otherwise it prints `PostgreSQL tests skipped: <reason>`
//! to stderr once and returns `None`, so the suites run on SQLite alone.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once, OnceLock};

use sea_orm::{ConnectionTrait, Database};

/// The environment variable that turns "cannot start PostgreSQL" from a
/// skip into a failure.
pub const REQUIRE_ENV: &str = "COSCHED_REQUIRE_POSTGRES";

/// The session time zone of every test database: not UTC, and with DST.
pub const SESSION_TIME_ZONE: &str = "America/Los_Angeles";

/// A database on the test server. Databases are not dropped one by one:
/// the whole cluster is deleted when the test process exits.
pub struct PgDatabase {
    pub name: String,
}

/// A fresh PostgreSQL database, or None where no server can be started
/// (and `COSCHED_REQUIRE_POSTGRES` is not `1`).
pub async fn database() -> Option<super::TestDb> {
    let server = match server() {
        Ok(server) => server,
        Err(reason) => {
            if required() {
                panic!(
                    "{REQUIRE_ENV}=1 but the test PostgreSQL server cannot be started: {reason}"
                );
            }
            static SKIP_NOTICE: Once = Once::new();
            SKIP_NOTICE.call_once(|| eprintln!("PostgreSQL tests skipped: {reason}"));
            return None;
        }
    };
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let name = format!("t_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    create_database(&server.url("postgres"), &name).await;
    Some(super::TestDb::from_pg(
        server.url(&name),
        PgDatabase { name },
    ))
}

/// Creates database `name` (session time zone [`SESSION_TIME_ZONE`]) on
/// the server whose admin database is at `admin_url`.
async fn create_database(admin_url: &str, name: &str) {
    let admin = Database::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test PostgreSQL server: {e}"));
    for sql in [
        format!("CREATE DATABASE {name}"),
        format!("ALTER DATABASE {name} SET timezone = '{SESSION_TIME_ZONE}'"),
    ] {
        admin
            .execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // Best effort: the connection is dropped either way.
    let _ = admin.close().await;
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The running test server.
struct Server {
    port: u16,
}

impl Server {
    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

/// The server, started on first use. Starting blocks the calling thread
/// for a few seconds; each `#[tokio::test]` has its own thread and
/// runtime, so this only delays the tests that wait for it.
fn server() -> Result<&'static Server, String> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    SERVER.get_or_init(start).as_ref().map_err(Clone::clone)
}

/// The watchdog that stops the server when this process ends (see the
/// module docs); taken by the `atexit` handler.
static WATCHDOG: Mutex<Option<Child>> = Mutex::new(None);

extern "C" fn stop_at_exit() {
    // try_lock: never block exit. Should the lock be held, the watchdog
    // still stops the server once the process is gone.
    let Ok(mut guard) = WATCHDOG.try_lock() else {
        return;
    };
    if let Some(mut watchdog) = guard.take() {
        drop(watchdog.stdin.take());
        let _ = watchdog.wait();
    }
}

/// The PostgreSQL server programs.
struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

fn find_binaries() -> Result<Binaries, String> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    dirs.extend(versioned.into_iter().map(|(_, dir)| dir));
    for dir in dirs {
        let initdb = dir.join("initdb");
        if !initdb.is_file() {
            continue;
        }
        // pg_ctl finds `postgres` beside its real path, so take pg_ctl from
        // initdb's real folder (PATH entries are often symlinks).
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        let bin = real.parent().unwrap_or(&dir).to_path_buf();
        let pg_ctl = bin.join("pg_ctl");
        if pg_ctl.is_file() {
            return Ok(Binaries {
                initdb: real,
                pg_ctl,
            });
        }
    }
    Err(
        "`initdb` was not found in PATH nor in /usr/lib/postgresql/*/bin \
         (install the PostgreSQL server, e.g. `apt-get install postgresql`)"
            .to_string(),
    )
}

/// True when this process runs as root, where the server must run as
/// `postgres` instead.
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command that runs `program` as the server's user.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Runs a server program to completion; its output is the error on failure.
fn run(what: &str, cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn start() -> Result<Server, String> {
    let bin = find_binaries()?;
    let dir = cluster_folder()?;
    let watchdog = spawn_watchdog(&bin, &dir)?;
    *WATCHDOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(watchdog);
    // SAFETY: stop_at_exit is an extern "C" fn that never unwinds.
    if unsafe { libc::atexit(stop_at_exit) } != 0 {
        return Err("cannot register the exit handler".to_string());
    }
    init_cluster(&bin, &dir)?;
    let port = start_on_free_port(&bin, &dir)?;
    Ok(Server { port })
}

/// Checks that the server can run here, and makes the (kept) temporary
/// folder of a new cluster.
fn cluster_folder() -> Result<PathBuf, String> {
    if is_root() {
        let ok = Command::new("id")
            .args(["-u", "postgres"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(
                "running as root, and PostgreSQL refuses root, but there is no `postgres` user"
                    .to_string(),
            );
        }
    }
    Ok(tempfile::Builder::new()
        .prefix("cosched-pg-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary folder: {e}"))?
        .keep())
}

/// `initdb` into `dir/data`.
fn init_cluster(bin: &Binaries, dir: &Path) -> Result<(), String> {
    if is_root() {
        run(
            "chown",
            Command::new("chown").args(["-R", "postgres:"]).arg(dir),
        )?;
    }
    run(
        "initdb",
        as_server_user(&bin.initdb)
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
    )
}

/// Starts the cluster in `dir` on a free port, and returns the port.
fn start_on_free_port(bin: &Binaries, dir: &Path) -> Result<u16, String> {
    // The free port is found by binding port 0 and letting it go; another
    // process may take it in between, so try a few.
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        match pg_ctl_start(bin, dir, port) {
            Ok(()) => return Ok(port),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// `pg_ctl start` of the cluster in `dir` on `port`, waiting until it
/// accepts connections; the error carries the tail of the server log.
fn pg_ctl_start(bin: &Binaries, dir: &Path, port: u16) -> Result<(), String> {
    let log = dir.join("server.log");
    let options = format!(
        "-p {port} -h 127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=200",
        quote(&dir.display().to_string())
    );
    run(
        "pg_ctl start",
        as_server_user(&bin.pg_ctl)
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &options, "start"]),
    )
    .map_err(|e| {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(5).collect();
        format!("{e}; server log: {}", tail.join(" | "))
    })
}

/// A PostgreSQL server of one test's own, which the test may stop and
/// start (see the module docs). Dropped: stopped, its folder deleted.
pub struct PrivateServer {
    port: u16,
    bin: Binaries,
    dir: PathBuf,
    /// Stops the server and deletes `dir` when its stdin closes.
    watchdog: Option<Child>,
}

/// A private PostgreSQL server, or None where none can be started (and
/// `COSCHED_REQUIRE_POSTGRES` is not `1`: then this panics).
pub fn private_server() -> Option<PrivateServer> {
    match PrivateServer::launch() {
        Ok(server) => Some(server),
        Err(reason) => {
            if required() {
                panic!(
                    "{REQUIRE_ENV}=1 but a private PostgreSQL server cannot be started: {reason}"
                );
            }
            eprintln!("PostgreSQL test skipped: a private server cannot be started: {reason}");
            None
        }
    }
}

impl PrivateServer {
    fn launch() -> Result<PrivateServer, String> {
        let bin = find_binaries()?;
        let dir = cluster_folder()?;
        let watchdog = spawn_watchdog(&bin, &dir)?;
        // From here on, an error drops the server, which cleans up.
        let mut server = PrivateServer {
            port: 0,
            bin,
            dir,
            watchdog: Some(watchdog),
        };
        init_cluster(&server.bin, &server.dir)?;
        server.port = start_on_free_port(&server.bin, &server.dir)?;
        Ok(server)
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh database (as [`database`] does on the shared
    /// server) and returns its URL.
    pub async fn database(&self, name: &str) -> String {
        create_database(&self.url("postgres"), name).await;
        self.url(name)
    }

    /// Stops the server (`pg_ctl stop -m fast`: clients are disconnected),
    /// waiting until it is down.
    pub fn stop(&self) -> Result<(), String> {
        run(
            "pg_ctl stop",
            as_server_user(&self.bin.pg_ctl)
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "fast", "-w", "-t", "60", "stop"]),
        )
    }

    /// Starts the stopped server again on the same port, waiting until it
    /// accepts connections.
    pub fn start(&self) -> Result<(), String> {
        pg_ctl_start(&self.bin, &self.dir, self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

/// Spawns the watchdog that stops the server in `dir` and deletes `dir`
/// when its stdin closes: when the returned child's stdin is dropped, or
/// when this process ends (see the module docs).
fn spawn_watchdog(bin: &Binaries, dir: &Path) -> Result<Child, String> {
    let data = dir.join("data");
    let mut stop = format!(
        "{} stop -D {} -m immediate -w",
        quote(&bin.pg_ctl.display().to_string()),
        quote(&data.display().to_string())
    );
    if is_root() {
        stop = format!("runuser -u postgres -- {stop}");
    }
    let script = format!(
        "read _ignored; if [ -f {pid} ]; then {stop}; fi; rm -rf {dir}",
        pid = quote(&data.join("postmaster.pid").display().to_string()),
        dir = quote(&dir.display().to_string()),
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own session: a Ctrl-C aimed at `cargo test` must not kill the
    // watchdog before it has stopped the server.
    // SAFETY: setsid is async-signal-safe, as required between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start the watchdog shell: {e}"))
}
