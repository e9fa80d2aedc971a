//! The connection bounds of the HTTP API, on a real node on loopback: idle
//! and trickling connections are closed on time, a slow request times out,
//! and a flood of idle and slow connections neither starves the scheduler
//! of descriptors nor locks out a normal request.
//!
//! These run on the system clock (the server's deadlines are real socket
//! time); every wait has an upper bound, and the lower bounds only say
//! that nothing was closed before its deadline.

use std::net::SocketAddr;
use std::time::Duration;

use cosched::Client;
use cosched::store::FireFilter;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};

use crate::http::{DEADLINE, Running, parse};
use crate::support::sqlite;

/// Reads until the server closes the connection (EOF or reset), within
/// [`DEADLINE`]; returns what was read.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let closing = async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    timeout(DEADLINE, closing)
        .await
        .expect("the server closes the connection");
    got
}

/// `GET /healthz`, answered within `within`.
async fn healthz(addr: SocketAddr, within: Duration) -> u16 {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let head = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        parse(&raw).status
    };
    timeout(within, exchange)
        .await
        .unwrap_or_else(|_| panic!("GET /healthz not answered within {within:?}"))
}

#[tokio::test]
async fn idle_and_trickling_connections_close_on_time_and_slow_requests_time_out() {
    let db = sqlite();
    let limits = "idle_timeout = \"1s\"\nheader_timeout = \"2s\"\nrequest_timeout = \"1s\"";
    let node = Running::start_with(&db.url, limits, "").await;
    let addr = node.addr;

    // Connected, never a byte: closed after the idle timeout.
    let start = Instant::now();
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    assert!(until_closed(&mut idle).await.is_empty());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "closed late: {waited:?}");

    // A head trickled one byte every 200 ms (never idle for 1 s): closed
    // 2 s after its first byte, long before it would be complete.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = slow.split();
    let head = format!(
        "GET /jobs HTTP/1.1\r\nHost: {addr}\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(200)
    );
    let first = Instant::now();
    let trickle = async {
        for b in head.bytes() {
            if writer.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        _ = trickle => panic!("the whole trickled head was accepted"),
        r = timeout(DEADLINE, closed) => r.expect("the server closes the trickle"),
    }
    let waited = first.elapsed();
    assert!(
        waited >= Duration::from_millis(1900),
        "closed early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(6), "closed late: {waited:?}");

    // A body that trickles past the request timeout: a 503 in the JSON
    // error shape.
    let mut body_slow = TcpStream::connect(addr).await.expect("connect");
    let body = format!("{{\"on\": false}}{}", " ".repeat(40));
    let head = format!(
        "POST /standby HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    body_slow.write_all(head.as_bytes()).await.expect("write");
    let sent = Instant::now();
    let (mut reader, mut writer) = body_slow.split();
    let trickle = async {
        for b in body.bytes() {
            if writer.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        std::future::pending::<()>().await;
    };
    let answer = async {
        let mut raw = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return raw,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    };
    let raw = tokio::select! {
        _ = trickle => unreachable!("the trickle never ends by itself"),
        raw = timeout(DEADLINE, answer) => raw.expect("an answer"),
    };
    let reply = parse(&raw);
    assert!(reply.error(503).contains("not answered within 1s"));
    assert!(sent.elapsed() < Duration::from_secs(5));
    let health = healthz(addr, DEADLINE).await;
    assert_eq!(health, 200);
    node.stop().await;
}

/// Opens `n` connections that send nothing, 100 at a time (a burst larger
/// than the listen backlog would only be dropped by the kernel).
async fn open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut opened = Vec::with_capacity(n);
    for batch in 0..n.div_ceil(100) {
        let mut set = JoinSet::new();
        for _ in 0..100.min(n - batch * 100) {
            set.spawn(timeout(Duration::from_secs(2), TcpStream::connect(addr)));
        }
        while let Some(r) = set.join_next().await {
            if let Ok(Ok(Ok(s))) = r {
                opened.push(s);
            }
        }
    }
    opened
}

/// How many idle connections the flood holds, and how many trickle.
const FLOOD: usize = 2000;
const TRICKLERS: usize = 20;
const FLOOD_FOR: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_neither_starves_the_scheduler_nor_locks_out_a_request() {
    let db = sqlite();
    let job = "[[job]]\nname = \"tick\"\nkind = \"command\"\ncommand = [\"true\"]\ncron = \"* * * * * ?\"\n";
    let limits = "max_connections = 200\nidle_timeout = \"3s\"\nheader_timeout = \"3s\"";
    let node = Running::start_with(&db.url, limits, job).await;
    let addr = node.addr;
    assert_eq!(healthz(addr, DEADLINE).await, 200);
    let flood_start = chrono::Utc::now().timestamp_millis();
    let deadline = Instant::now() + FLOOD_FOR;

    // Slow clients: a header byte every 500 ms, reconnecting when closed.
    let mut tricklers = JoinSet::new();
    for _ in 0..TRICKLERS {
        tricklers.spawn(async move {
            let mut closed = 0usize;
            while Instant::now() < deadline {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    continue;
                };
                loop {
                    if Instant::now() >= deadline {
                        return closed;
                    }
                    if s.write_all(b"X").await.is_err() {
                        closed += 1;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            closed
        });
    }

    // Idle clients: FLOOD of them at once, then 200 more every second
    // (dropping the oldest), while a normal request must be answered
    // every second.
    let mut idle: Vec<TcpStream> = Vec::with_capacity(FLOOD + 200);
    idle.extend(open(addr, FLOOD).await);
    assert!(
        idle.len() > FLOOD / 2,
        "the flood could open only {}",
        idle.len()
    );
    let mut answered = 0;
    while Instant::now() < deadline {
        assert_eq!(healthz(addr, Duration::from_secs(5)).await, 200);
        answered += 1;
        let more = open(addr, 200).await;
        assert!(!more.is_empty());
        idle.extend(more);
        if idle.len() > FLOOD {
            let extra = idle.len() - FLOOD;
            idle.drain(..extra);
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let flood_end = chrono::Utc::now().timestamp_millis();
    assert!(
        answered >= 5,
        "only {answered} normal requests in the flood"
    );
    let mut trickles_closed = 0;
    while let Some(n) = tricklers.join_next().await {
        trickles_closed += n.expect("a trickler");
    }
    assert!(
        trickles_closed >= TRICKLERS,
        "the server closed only {trickles_closed} trickling connections"
    );

    // The flood's idle connections all time out (or were closed for room):
    // the server holds none of them open.
    for s in &mut idle {
        until_closed(s).await;
    }
    assert_eq!(healthz(addr, Duration::from_secs(5)).await, 200);

    // The every-second job fired every second of the flood, each fire a
    // success (no "Too many open files").
    let client = Client::connect(&db.url).await.expect("a client");
    let fires = crate::http::eventually("the flood's fires to finish", || async {
        let fires = client
            .fires(&FireFilter {
                job: Some("tick".into()),
                status: None,
                limit: Some(1000),
            })
            .await
            .expect("fires");
        let in_flood: Vec<_> = fires
            .into_iter()
            .filter(|f| f.scheduled_at > flood_start && f.scheduled_at <= flood_end)
            .collect();
        in_flood
            .iter()
            .all(|f| f.status != "running" && f.status != "queued")
            .then_some(in_flood)
    })
    .await;
    let mut seconds: Vec<i64> = fires.iter().map(|f| f.scheduled_at / 1000).collect();
    seconds.sort();
    let expected: Vec<i64> = ((flood_start / 1000 + 1)..=(flood_end / 1000)).collect();
    assert_eq!(
        seconds, expected,
        "one fire per second of the flood, none missed"
    );
    for f in &fires {
        assert_eq!(f.status, "succeeded", "{f:?}");
    }
    node.stop().await;
}
