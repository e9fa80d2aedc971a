//! Time as the scheduler sees it.
//!
//! Every "now" in cosched comes from a [`Clock`]: the scheduler loop, the
//! executor's records, the store's lease and check-in statements (where
//! `now` is always a bound parameter, never the database's `now()`). Tests
//! drive time with [`ManualClock`]; a clustered node corrects its
//! [`SystemClock`] by its measured offset to the database ([`OffsetClock`]).
//! Durations to *wait* (sleeps, timeouts) use `tokio::time`, never this.

use std::fmt::Debug;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;

    /// The current instant in UTC milliseconds since the epoch, the unit of
    /// every instant stored in the database.
    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Sets the clock to `t` (which may be earlier: tests of skew need it).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.lock() = t;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock only means a test panicked while holding it; the
        // instant inside is still a valid value, so keep using it.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// Another clock corrected by an offset (milliseconds, may be negative).
///
/// A clustered node measures its offset to the database clock at every
/// check-in and stores it here, so that every instant it uses agrees with
/// its peers even when its own clock is skewed.
#[derive(Debug)]
pub struct OffsetClock<C: Clock> {
    inner: C,
    offset_ms: AtomicI64,
}

impl<C: Clock> OffsetClock<C> {
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            offset_ms: AtomicI64::new(0),
        }
    }

    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// The uncorrected clock, for measuring the offset itself.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C: Clock> Clock for OffsetClock<C> {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now() + Duration::milliseconds(self.offset_ms())
    }
}

/// Converts stored UTC milliseconds to an instant. Values outside chrono's
/// range (which no cosched writer produces) saturate to its bounds.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(t0);
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::seconds(90));
        assert_eq!(clock.now(), t0 + Duration::seconds(90));
        clock.set(t0);
        assert_eq!(clock.now_ms(), t0.timestamp_millis());
    }

    #[test]
    fn offset_clock_adds_its_offset() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = OffsetClock::new(ManualClock::new(t0));
        clock.set_offset_ms(-1500);
        assert_eq!(clock.now(), t0 - Duration::milliseconds(1500));
        assert_eq!(from_ms(clock.now_ms()), clock.now());
    }
}
