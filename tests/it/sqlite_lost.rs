//! A SQLite file deleted under a running `cosched serve`: the node's check
//! of the file's identity notices within a second, `/healthz` answers 503
//! with the reason, nothing is leased any more (no fire starts unrecorded),
//! and the node exits 1 with a message saying what was lost.

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::send_with;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ticks(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

async fn healthz(addr: SocketAddr) -> Option<(u16, serde_json::Value)> {
    // The node may not listen yet, or no more.
    tokio::net::TcpStream::connect(addr).await.ok()?;
    let reply = send_with(
        addr,
        "GET",
        "/healthz",
        &[("Host", &addr.to_string())],
        None,
    )
    .await;
    Some((reply.status, reply.json()))
}

#[tokio::test]
async fn a_deleted_sqlite_file_makes_healthz_503_stops_firing_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cosched.db");
    let tick_file = dir.path().join("ticks");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[scheduler]\nnode_id = \"lone\"\npoll_interval = \"100ms\"\nshutdown_grace = \"5s\"\n\n\
             [http]\nlisten = \"{addr}\"\n\n\
             [[job]]\nname = \"tick\"\nkind = \"command\"\n\
             command = [\"sh\", \"-c\", \"echo tick >> {}\"]\nevery = \"200ms\"\n\n\
             [[job]]\nname = \"hold\"\nkind = \"command\"\ncommand = [\"sleep\", \"30\"]\nevery = \"1h\"\n",
            tick_file.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("node.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosched"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--database", &format!("sqlite://{}", db.display())])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let healthy = matches!(healthz(addr).await, Some((200, ref v)) if v["status"] == "ok");
        if healthy && ticks(&tick_file) >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node never fired: {}",
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let deleted_at = Instant::now();
    let (status, body) = loop {
        if let Some((503, body)) = healthz(addr).await {
            break (503, body);
        }
        assert!(
            deleted_at.elapsed() < Duration::from_secs(5),
            "/healthz never said the database was lost: {}",
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 503);
    assert_eq!(body["status"], "degraded");
    assert!(
        body["error"].as_str().unwrap().contains("was deleted"),
        "{body}"
    );
    let ticks_when_lost = ticks(&tick_file);

    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if deleted_at.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the node did not exit: {}", log_text());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let text = log_text();
    assert_eq!(exit.code(), Some(1), "{text}");
    assert!(
        text.contains("was deleted") && text.contains("stopped leasing"),
        "{text}"
    );
    // Nothing was leased after the loss was found; one fire leased just
    // before (the scheduler's 25 ms lookahead) may still have started.
    assert!(
        ticks(&tick_file) <= ticks_when_lost + 1,
        "fires went on after the loss: {} then {}",
        ticks_when_lost,
        ticks(&tick_file)
    );
    assert!(!db.exists(), "nothing recreated the database file");
}
