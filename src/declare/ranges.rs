//! The documented range of every duration, instant and count a declaration
//! or the `[scheduler]` table may hold, and the checked parsers that
//! enforce them.
//!
//! The bounds keep every value representable as milliseconds in an `i64`
//! (the database's unit) with room for arithmetic on top: 100 years is
//! about 3.2e12 ms, and 9999-12-31 about 2.5e14 ms, so adding one to the
//! other can never overflow.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Earliest instant: 1970-01-01T00:00:00Z (the epoch of the stored
/// milliseconds).
pub const MIN_INSTANT_MS: i64 = 0;
/// Latest instant: 9999-12-31T23:59:59Z.
pub const MAX_INSTANT_MS: i64 = 253_402_300_799_000;
/// The bounds as written in messages.
pub const INSTANT_RANGE_TEXT: &str = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z";

/// The shortest period, timeout or threshold: 1 ms, the stored unit.
pub const MIN_PERIOD: Duration = Duration::from_millis(1);
/// The longest duration of any kind: 100 years of 365.25 days (what
/// `"100y"` means).
pub const MAX_SPAN: Duration = Duration::from_secs(3_155_760_000);
/// One day: the upper bound of the node's own timings.
pub const DAY: Duration = Duration::from_secs(86_400);

/// An inclusive range of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
}

/// `every`, `timeout`, `misfire_threshold`: 1 ms to 100 years.
pub const PERIOD: DurationRange = DurationRange {
    min: MIN_PERIOD,
    max: MAX_SPAN,
};
/// `retry.backoff`, `retry.max_backoff`: 0 to 100 years.
pub const DELAY: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: MAX_SPAN,
};
/// `[scheduler] poll_interval`: 10 ms (a tighter poll only burns CPU; a
/// change made through any door wakes the node anyway) to 1 day.
pub const POLL_INTERVAL: DurationRange = DurationRange {
    min: Duration::from_millis(10),
    max: DAY,
};
/// `[scheduler] checkin_interval` and `lease`: 1 ms to 1 day.
pub const NODE_TIMING: DurationRange = DurationRange {
    min: MIN_PERIOD,
    max: DAY,
};
/// `[scheduler] shutdown_grace`: 0 to 1 day.
pub const SHUTDOWN_GRACE: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: DAY,
};
/// `jitter`, `jitter.hash`: 1 ms to 1 day.
pub const JITTER: DurationRange = NODE_TIMING;
/// `[scheduler] misfire_threshold`: the default of every trigger's
/// `misfire_threshold`, so the same range, 1 ms to 100 years.
pub const SCHEDULER_MISFIRE_THRESHOLD: DurationRange = PERIOD;

/// `keep_fires.<status>`: 1 ms to 100 years.
pub const KEEP_FIRES_AGE: DurationRange = PERIOD;
/// `keep_fires.max_rows`: 1 to 1 000 000 000 fires per job.
pub const KEEP_FIRES_MAX_ROWS: (i64, i64) = (1, 1_000_000_000);
/// `retry.max_attempts`: 1 (never retry) to 10 000.
pub const MAX_ATTEMPTS: (i64, i64) = (1, 10_000);
/// `repeat`: 0 to 4 294 967 295 fires after the first.
pub const REPEAT: (i64, i64) = (0, u32::MAX as i64);
/// `priority`: a 32-bit signed integer.
pub const PRIORITY: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);
/// `calendar_interval.every`, `daily.every`: 1 to 2 147 483 647 (the
/// stored column is a 32-bit signed integer).
pub const INTERVAL_EVERY: (i64, i64) = (1, i32::MAX as i64);
/// `misfire = { catch_up = N }`: 1 to 10 000.
pub const CATCH_UP: (i64, i64) = (1, crate::schedule::misfire::MAX_CATCH_UP as i64);
/// `[scheduler] dead_after_checkins`: 2 to 1000; with a `checkin_interval`
/// of at most a day, their product stays far below `i64::MAX` ms.
pub const DEAD_AFTER_CHECKINS: (i64, i64) = (2, 1000);
/// `[scheduler] max_concurrent`: 1 to 10 000.
pub const MAX_CONCURRENT: (i64, i64) = (1, 10_000);

/// How a duration is written in messages: `1ms`, `100years`.
fn show(d: Duration) -> String {
    if d.is_zero() {
        "0s".to_string()
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// Parses a humantime duration (`"30s"`, `"1h 30m"`) and checks it lies in
/// `range`; the message names `key` and the value as written.
pub fn duration(text: &str, key: &str, range: DurationRange) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| {
        format!(
            "`{key}` = \"{text}\" is not a duration ({e}): expected e.g. \"30s\", \"5m\", \"1h 30m\""
        )
    })?;
    in_range(d, &format!("`{key}` = \"{text}\""), range)
}

/// Checks a duration given as a value rather than as text.
pub fn check_duration(d: Duration, key: &str, range: DurationRange) -> Result<Duration, String> {
    in_range(d, &format!("`{key}` = {}", show(d)), range)
}

fn in_range(d: Duration, written: &str, range: DurationRange) -> Result<Duration, String> {
    if d < range.min || d > range.max {
        let what = if d < range.min {
            if d.is_zero() {
                "must be longer than zero".to_string()
            } else {
                format!("is shorter than {}", show(range.min))
            }
        } else {
            format!("is longer than {}", show(range.max))
        };
        return Err(format!(
            "{written} {what}: expected from {} to {}",
            show(range.min),
            show(range.max)
        ));
    }
    Ok(d)
}

/// Parses an RFC 3339 instant with an offset and checks it lies between
/// 1970 and 9999.
pub fn instant(text: &str, key: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "`{key}` = {text} is not an instant: expected RFC 3339 with an offset, e.g. 2026-12-01T09:00:00Z"
            )
        })?;
    check_instant(t, key)
}

/// Checks an instant lies between 1970 and 9999.
pub fn check_instant(t: DateTime<Utc>, key: &str) -> Result<DateTime<Utc>, String> {
    let ms = t.timestamp_millis();
    if !(MIN_INSTANT_MS..=MAX_INSTANT_MS).contains(&ms) {
        return Err(format!(
            "`{key}` = {} is out of range: expected an instant from {INSTANT_RANGE_TEXT}",
            t.to_rfc3339()
        ));
    }
    Ok(t)
}

/// `now + delay` as an instant in range, never an overflow.
pub fn after(now: DateTime<Utc>, delay: Duration, key: &str) -> Result<DateTime<Utc>, String> {
    if delay > MAX_SPAN {
        return Err(format!(
            "`{key}` = {} is longer than {}: expected from 0s to {}",
            show(delay),
            show(MAX_SPAN),
            show(MAX_SPAN)
        ));
    }
    let at = chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| {
            format!("`{key}` reaches past 9999: expected an instant from {INSTANT_RANGE_TEXT}")
        })?;
    check_instant(at, key)
}

/// A whole number in the inclusive `range`.
pub fn whole(value: i64, key: &str, range: (i64, i64)) -> Result<i64, String> {
    if value < range.0 || value > range.1 {
        return Err(format!(
            "`{key}` = {value} is out of range: expected a whole number from {} to {}",
            range.0, range.1
        ));
    }
    Ok(value)
}

/// A whole number in the inclusive `range`, converted without loss.
pub fn whole_as<T: TryFrom<i64>>(value: i64, key: &str, range: (i64, i64)) -> Result<T, String> {
    let v = whole(value, key, range)?;
    T::try_from(v).map_err(|_| {
        format!(
            "`{key}` = {value} is out of range: expected a whole number from {} to {}",
            range.0, range.1
        )
    })
}

/// A duration as milliseconds, saturating (every range above keeps the
/// value far from the limit).
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_checked_against_their_range() {
        assert_eq!(
            duration("5m", "every", PERIOD),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(duration("100y", "every", PERIOD), Ok(MAX_SPAN));
        let short = duration("500us", "every", PERIOD).unwrap_err();
        assert!(short.contains("is shorter than 1ms"), "{short}");
        let zero = duration("0s", "timeout", PERIOD).unwrap_err();
        assert!(zero.contains("must be longer than zero"), "{zero}");
        let long = duration("101y", "retry.backoff", DELAY).unwrap_err();
        assert!(long.contains("is longer than 100years"), "{long}");
        assert_eq!(duration("0s", "retry.backoff", DELAY), Ok(Duration::ZERO));
        let bad = duration("5 parsecs", "timeout", PERIOD).unwrap_err();
        assert!(
            bad.starts_with("`timeout` = \"5 parsecs\" is not a duration"),
            "{bad}"
        );
        // Far beyond what a u64 of nanoseconds holds: still an error, no panic.
        assert!(duration("500000000000y", "lease", NODE_TIMING).is_err());
    }

    #[test]
    fn instants_lie_between_1970_and_9999() {
        assert!(instant("2026-12-01T09:00:00Z", "at").is_ok());
        assert!(instant("9999-12-31T23:59:59Z", "at").is_ok());
        let early = instant("1969-12-31T23:59:59Z", "at").unwrap_err();
        assert!(early.contains("out of range"), "{early}");
        let late = instant("9999-12-31T23:59:59-01:00", "at").unwrap_err();
        assert!(late.contains("out of range"), "{late}");
        assert!(
            instant("tomorrow", "at")
                .unwrap_err()
                .contains("not an instant")
        );
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(after(now, Duration::from_secs(60), "in").is_ok());
        assert!(after(now, Duration::from_secs(u64::MAX), "in").is_err());
        assert!(after(now, MAX_SPAN, "in").is_ok());
    }

    #[test]
    fn counts_are_checked_without_wrapping() {
        assert_eq!(whole_as::<u32>(3, "repeat", REPEAT), Ok(3));
        assert!(whole_as::<i32>(i64::from(i32::MAX) + 1, "priority", PRIORITY).is_err());
        assert!(whole_as::<u32>(-1, "repeat", REPEAT).is_err());
        assert!(whole_as::<u32>(0, "retry.max_attempts", MAX_ATTEMPTS).is_err());
    }
}
