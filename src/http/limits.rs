//! How many connections the API keeps open and how long each may take:
//! the `[http]` keys `max_connections`, `header_timeout`, `idle_timeout`
//! and `request_timeout`, with their defaults and allowed ranges.
//!
//! The point of these bounds is that the API can never take the file
//! descriptors, memory or time the scheduler needs: a connection that
//! sends nothing, trickles its headers, or never reads its answer is
//! closed within seconds, and the number of open connections is capped
//! well below the process's descriptor limit.

use std::ops::RangeInclusive;
use std::time::Duration;

/// Defaults, in one place.
pub mod defaults {
    use std::time::Duration;
    pub const MAX_CONNECTIONS: usize = 256;
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
}

/// The allowed values of each key.
pub const MAX_CONNECTIONS_RANGE: RangeInclusive<usize> = 1..=10_000;
pub const HEADER_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(10);
pub const IDLE_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(10);
pub const REQUEST_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(600);

/// The share of the process's descriptor limit the API may hold at most,
/// whatever `max_connections` says: a quarter, so the database pool, the
/// job processes and their pipes always have room.
const FD_SHARE_DIVISOR: u64 = 4;

/// The connection bounds of one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// At most this many connections are open at once; past it, the
    /// connection idle the longest is closed to make room, and when none
    /// is idle new ones wait in the listen backlog.
    pub max_connections: usize,
    /// From a request's first byte, its whole header block must arrive
    /// within this long.
    pub header_timeout: Duration,
    /// A connection with no request in progress is closed after this long
    /// without a byte in either direction (before its first request,
    /// between keep-alive requests, or while its client does not read the
    /// answer).
    pub idle_timeout: Duration,
    /// Reading a request's body and answering it must end within this
    /// long, else the answer is a 503.
    pub request_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: defaults::MAX_CONNECTIONS,
            header_timeout: defaults::HEADER_TIMEOUT,
            idle_timeout: defaults::IDLE_TIMEOUT,
            request_timeout: defaults::REQUEST_TIMEOUT,
        }
    }
}

impl ConnLimits {
    /// `max_connections`, lowered to a quarter of the soft descriptor limit
    /// when that is smaller (with a warning).
    pub fn effective_max_connections(&self) -> usize {
        let Some(limit) = crate::os::descriptor_limit() else {
            return self.max_connections;
        };
        let share = usize::try_from((limit / FD_SHARE_DIVISOR).max(1)).unwrap_or(usize::MAX);
        if share < self.max_connections {
            tracing::warn!(
                max_connections = self.max_connections,
                descriptor_limit = limit,
                using = share,
                "[http] max_connections is more than a quarter of the process's file-descriptor \
                 limit (ulimit -n): using a quarter of it"
            );
            return share;
        }
        self.max_connections
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_within_their_ranges() {
        let d = ConnLimits::default();
        assert!(MAX_CONNECTIONS_RANGE.contains(&d.max_connections));
        assert!(HEADER_TIMEOUT_RANGE.contains(&d.header_timeout));
        assert!(IDLE_TIMEOUT_RANGE.contains(&d.idle_timeout));
        assert!(REQUEST_TIMEOUT_RANGE.contains(&d.request_timeout));
    }

    #[test]
    fn the_cap_never_exceeds_a_quarter_of_the_descriptor_limit() {
        let limits = ConnLimits {
            max_connections: *MAX_CONNECTIONS_RANGE.end(),
            ..ConnLimits::default()
        };
        let cap = limits.effective_max_connections() as u64;
        if let Some(limit) = crate::os::descriptor_limit() {
            assert!(cap <= (limit / FD_SHARE_DIVISOR).max(1), "{cap} of {limit}");
        }
        assert!(cap >= 1);
    }
}
