//! The deadlines of one connection, enforced on its socket.
//!
//! A connection is in one of three phases ([`Phase`]): idle (no request in
//! progress: before the first, between keep-alive requests, or while an
//! answer is written), receiving a request head (from its first byte), or
//! busy (a handler runs; the request timeout bounds it). [`Watchdog`]
//! wraps the socket and fails a read or write that would wait past the
//! phase's deadline, which makes the HTTP layer close the connection:
//!
//! - idle: [`ConnLimits::idle_timeout`] after the last byte either way;
//! - receiving: [`ConnLimits::header_timeout`] after the first byte, however
//!   slowly the rest trickles in;
//! - busy: no socket deadline.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::limits::ConnLimits;

/// Where a connection is in its life (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle { since: Instant },
    Receiving { since: Instant },
    Busy,
}

/// The shared state of one connection: its phase, read by the accept loop
/// to choose which connection to close when the cap is reached.
#[derive(Debug)]
pub(crate) struct ConnState {
    phase: Mutex<Phase>,
    /// Cancelled to close the connection now (to make room for another).
    pub evict: CancellationToken,
}

impl ConnState {
    pub fn new(now: Instant) -> ConnState {
        ConnState {
            phase: Mutex::new(Phase::Idle { since: now }),
            evict: CancellationToken::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        // A poisoned lock still holds a valid phase: nothing panics while
        // it is held, and a phase is always whole.
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        *phase = f(*phase);
    }

    /// A handler starts: busy until the returned guard drops.
    pub fn begin_request(&self) -> BusyGuard<'_> {
        self.set(|_| Phase::Busy);
        BusyGuard(self)
    }
}

/// Marks the connection idle again when the handler is done.
pub(crate) struct BusyGuard<'a>(&'a ConnState);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.set(|_| Phase::Idle {
            since: Instant::now(),
        });
    }
}

/// A socket with the phase deadlines of [`ConnLimits`].
pub(crate) struct Watchdog<IO> {
    io: IO,
    conn: std::sync::Arc<ConnState>,
    limits: ConnLimits,
    alarm: Pin<Box<Sleep>>,
}

impl<IO> Watchdog<IO> {
    pub fn new(io: IO, conn: std::sync::Arc<ConnState>, limits: ConnLimits) -> Watchdog<IO> {
        let alarm = Box::pin(tokio::time::sleep(limits.idle_timeout));
        Watchdog {
            io,
            conn,
            limits,
            alarm,
        }
    }

    /// Bytes moved: a first byte starts a request head; anything moved
    /// while idle restarts the idle clock.
    fn progressed(&self, read: bool) {
        let now = Instant::now();
        self.conn.set(|phase| match phase {
            Phase::Idle { .. } if read => Phase::Receiving { since: now },
            Phase::Idle { .. } => Phase::Idle { since: now },
            other => other,
        });
    }

    /// The socket would wait: fail if the phase's deadline has passed,
    /// else wake up at the deadline to look again. While busy, the alarm
    /// only re-checks (the phase changes without touching the socket).
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let now = Instant::now();
        let (deadline, what) = match self.conn.phase() {
            Phase::Idle { since } => (Some(since + self.limits.idle_timeout), "idle"),
            Phase::Receiving { since } => (
                Some(since + self.limits.header_timeout),
                "request headers not received",
            ),
            Phase::Busy => (None, ""),
        };
        if let Some(deadline) = deadline
            && now >= deadline
        {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connection {what} past its deadline"),
            ));
        }
        let wake = deadline.unwrap_or(now + self.limits.idle_timeout);
        if self.alarm.deadline() != wake {
            self.alarm.as_mut().reset(wake);
        }
        if self.alarm.as_mut().poll(cx).is_ready() {
            // The deadline passed in between: look again at once.
            cx.waker().wake_by_ref();
        }
        Ok(())
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watchdog<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progressed(true);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.check_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watchdog<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.progressed(false);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.check_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => match this.check_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
