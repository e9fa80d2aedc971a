//! How the dashboard writes instants, durations and statuses: instants in
//! the node's zone with the zone's abbreviation, relative times in a few
//! words, and every status as a label with a shape, never a colour alone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

use crate::clock::from_ms;
use crate::model::FireStatus;

/// `2026-03-29 03:00:00 CEST`.
pub fn instant(ms: i64, tz: Tz) -> String {
    from_ms(ms)
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// `in 5m 3s`, `12s ago`, `now`.
pub fn relative(ms: i64, now: DateTime<Utc>) -> String {
    let delta = ms - now.timestamp_millis();
    if delta.abs() < 1000 {
        return "now".into();
    }
    let words = span(delta.abs());
    if delta > 0 {
        format!("in {words}")
    } else {
        format!("{words} ago")
    }
}

/// A duration in ms as `850ms`, `12.3s`, `4m 5s`, `2h 10m`, `3d 4h`.
pub fn span(ms: i64) -> String {
    let ms = ms.abs();
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms}ms"),
        1..60 => format!("{:.1}s", ms as f64 / 1000.0),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d {}h", secs / 86400, (secs % 86400) / 3600),
    }
}

/// Lateness with its sign: `+1.2s` late, `-20ms` early.
pub fn lateness(ms: i64) -> String {
    if ms < 0 {
        format!("-{}", span(ms))
    } else {
        format!("+{}", span(ms))
    }
}

/// The shape that stands for a status besides its colour.
pub fn status_symbol(status: FireStatus) -> &'static str {
    match status {
        FireStatus::Succeeded => "✓",
        FireStatus::Failed => "✗",
        FireStatus::TimedOut => "⧗",
        FireStatus::Skipped => "↷",
        FireStatus::Abandoned => "⚠",
        FireStatus::Cancelled => "⊘",
        FireStatus::Running => "▶",
        FireStatus::Queued => "…",
    }
}

/// A status badge: shape, label and a class for its colour.
pub fn status_badge(status: FireStatus) -> Markup {
    html! {
        span class={ "badge st-" (status.as_str()) } {
            span aria-hidden="true" { (status_symbol(status)) } " " (status.as_str())
        }
    }
}

/// The `p`th percentile (0 to 100) of `values` by nearest rank.
pub fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (u64::from(p) * values.len() as u64).div_ceil(100);
    let index = usize::try_from(rank.max(1) - 1).unwrap_or(0);
    values.get(index.min(values.len() - 1)).copied()
}

/// What a path segment or query value must encode: controls, space and
/// every character with a meaning in a URL or in HTML.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'\'')
    .add(b'=')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'[')
    .add(b']')
    .add(b';')
    .add(b':')
    .add(b'@')
    .add(b',');

/// A path segment or query value, percent-encoded.
pub fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_percentiles() {
        assert_eq!(span(850), "850ms");
        assert_eq!(span(12_300), "12.3s");
        assert_eq!(span(245_000), "4m 5s");
        assert_eq!(lateness(-20), "-20ms");
        let mut v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&mut v, 50), Some(50));
        assert_eq!(percentile(&mut v, 99), Some(99));
        assert_eq!(percentile(&mut [], 50), None);
        let now = from_ms(1_000_000);
        assert_eq!(relative(1_061_000, now), "in 1m 1s");
        assert_eq!(relative(990_000, now), "10.0s ago");
    }
}
