//! `Type=notify`: `cosched serve` tells the service manager at
//! `$NOTIFY_SOCKET` when it is ready and when it stops, as systemd would
//! see it (a Unix datagram socket the test binds).

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The next datagram, waiting at most a minute of real time.
fn next_message(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = socket
        .recv(&mut buf)
        .expect("a datagram before the deadline");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn serve_sends_ready_then_stopping_to_the_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let config = dir.path().join("jobs.toml");
    std::fs::write(
        &config,
        "[scheduler]\nshutdown_grace = \"1s\"\n\n[[job]]\nname = \"tick\"\nkind = \"noop\"\nevery = \"1h\"\n",
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("cosched.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosched"))
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--database",
            &db,
        ])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(next_message(&socket), "READY=1");
    // SAFETY: signals our own child, which has not been waited for.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(next_message(&socket), "STOPPING=1");
    assert!(child.wait().unwrap().success());
}
