//! Small charts as inline SVG: a job's sparkline of its latest fires (a
//! bar each, coloured by status, its height scaled by lateness on a log
//! scale, failures drawn full height so they are seen without colour), and
//! a histogram of a job's lateness.

use maud::{Markup, html};

use super::format::{self, status_symbol};
use crate::model::FireStatus;
use crate::store::FireMark;

const BAR_W: f64 = 3.0;
const GAP: f64 = 1.0;
const SPARK_H: f64 = 20.0;

/// The height of a fire's bar: 3 px on time, up to full height at 60 s
/// or more late (log scale); a fire that did not succeed is full height.
fn bar_height(m: &FireMark) -> f64 {
    if !matches!(m.status, FireStatus::Succeeded | FireStatus::Running) {
        return SPARK_H;
    }
    let late = m.late_ms.unwrap_or(0).max(1) as f64;
    let scale = (late.log10() / 60_000f64.log10()).clamp(0.0, 1.0);
    3.0 + (SPARK_H - 3.0) * scale
}

/// The sparkline of `marks` (oldest first).
pub fn sparkline(marks: &[FireMark]) -> Markup {
    let width = (BAR_W + GAP) * marks.len().max(1) as f64;
    html! {
        svg class="spark" viewBox={ "0 0 " (width) " " (SPARK_H) } width=(width) height=(SPARK_H)
            role="img" aria-label={ "the latest " (marks.len()) " fires" } {
            @for (i, m) in marks.iter().enumerate() {
                @let h = bar_height(m);
                rect class={ "st-" (m.status.as_str()) } data-status=(m.status.as_str())
                    x=((BAR_W + GAP) * i as f64) y=(SPARK_H - h) width=(BAR_W) height=(h) {
                    title { (status_symbol(m.status)) " " (m.status.as_str())
                        @if let Some(l) = m.late_ms { " " (format::lateness(l)) } }
                }
            }
        }
    }
}

/// The buckets of the lateness histogram: an upper bound in ms (None:
/// unbounded) and a label.
const BUCKETS: [(Option<i64>, &str); 8] = [
    (Some(0), "early"),
    (Some(10), "< 10ms"),
    (Some(100), "< 100ms"),
    (Some(1_000), "< 1s"),
    (Some(10_000), "< 10s"),
    (Some(60_000), "< 1m"),
    (Some(600_000), "< 10m"),
    (None, "≥ 10m"),
];

/// How many of `late` fall in each bucket.
pub fn bucket_counts(late: &[i64]) -> [usize; 8] {
    let mut counts = [0; 8];
    for &l in late {
        let i = BUCKETS
            .iter()
            .position(|(bound, _)| bound.is_none_or(|b| l < b))
            .unwrap_or(BUCKETS.len() - 1);
        counts[i] += 1;
    }
    counts
}

/// The lateness histogram of `late` (ms).
pub fn histogram(late: &[i64]) -> Markup {
    let counts = bucket_counts(late);
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (col, h, label_h) = (70.0, 90.0, 32.0);
    let width = col * BUCKETS.len() as f64;
    html! {
        svg class="histogram" viewBox={ "0 0 " (width) " " (h + label_h) } role="img"
            aria-label={ "lateness of the latest " (late.len()) " starts" } {
            @for (i, ((_, label), n)) in BUCKETS.iter().zip(counts).enumerate() {
                @let bar = (h - 14.0) * n as f64 / max;
                @let x = col * i as f64;
                g data-bucket=(label) data-count=(n) {
                    rect class="hbar" x=(x + 8.0) y=(h - bar) width=(col - 16.0) height=(bar.max(1.0)) {}
                    text class="count" x=(x + col / 2.0) y=(h - bar - 3.0) text-anchor="middle" { (n) }
                    text class="axis" x=(x + col / 2.0) y=(h + 16.0) text-anchor="middle" { (label) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_falls_in_its_bucket() {
        let counts = bucket_counts(&[-5, 0, 9, 10, 999, 1_000, 59_999, 60_000, 600_000]);
        assert_eq!(counts, [1, 2, 1, 1, 1, 1, 1, 1]);
    }
}
