//! Daylight-saving policy: how a wall-clock time that a schedule matches in
//! its trigger's time zone becomes an instant.
//!
//! This module owns the policy vocabulary ([`GapPolicy`], [`FoldPolicy`],
//! [`DstOptions`]), the defaults that depend on whether a schedule is
//! periodic or fixed (see DESIGN.md, "Semantics to get exactly right"), and
//! the small amount of zone arithmetic the schedules need: classifying a wall
//! time as unique, folded (it occurs twice) or in a gap (it never occurs), and
//! finding the transition instant that bounds a fold or a gap.
//!
//! All arithmetic here is on whole seconds: instants are seconds since the
//! Unix epoch, and "wall seconds" are a local date-time counted as if it were
//! UTC (so `wall - offset = instant`).

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::closed_enum::closed_enum;

closed_enum! {
    /// What to do with a wall time that does not exist because the clocks jump
    /// forward (a spring-forward gap). Named in snake_case, as in
    /// configuration and the API.
    pub enum GapPolicy: "DST gap policy" {
        /// Fire once, at the first instant after the gap (what cron(8) does).
        RunAtTransition = "run_at_transition",
        /// Fire at the wall time plus the length of the gap, e.g. 02:30 in a one
        /// hour gap fires at 03:30 in the new offset.
        ShiftForward = "shift_forward",
        /// Do not fire for wall times inside the gap.
        Skip = "skip",
    }
}

closed_enum! {
    /// What to do with a wall time that occurs twice because the clocks fall
    /// back (a fold).
    pub enum FoldPolicy: "DST fold policy" {
        /// Fire once, at the first occurrence (the earlier instant).
        Earlier = "earlier",
        /// Fire once, at the second occurrence (the later instant).
        Later = "later",
        /// Fire at both occurrences.
        Both = "both",
    }
}

/// A trigger's choice of DST behaviour. `None` in a field means "the default
/// for the schedule's kind": periodic schedules skip gaps and fire in both
/// passes of a fold; fixed schedules run at the transition for gaps shorter
/// than three hours (skipping longer ones) and fire at the earlier instant of
/// a fold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DstOptions {
    /// Gap policy; `None` = default for the schedule's kind.
    pub gap: Option<GapPolicy>,
    /// Fold policy; `None` = default for the schedule's kind.
    pub fold: Option<FoldPolicy>,
}

/// Under the default policy a fixed schedule skips gaps at least this long
/// (three hours, in seconds) instead of running at the transition.
pub const DEFAULT_MAX_RUN_AT_TRANSITION_GAP_SECS: i64 = 3 * 3600;

impl DstOptions {
    /// The gap policy in force for a schedule of the given kind, for a gap of
    /// `gap_secs` seconds.
    pub fn gap_policy_for(&self, periodic: bool, gap_secs: i64) -> GapPolicy {
        match self.gap {
            Some(policy) => policy,
            None if periodic => GapPolicy::Skip,
            None if gap_secs >= DEFAULT_MAX_RUN_AT_TRANSITION_GAP_SECS => GapPolicy::Skip,
            None => GapPolicy::RunAtTransition,
        }
    }

    /// The fold policy in force for a schedule of the given kind.
    pub fn fold_policy_for(&self, periodic: bool) -> FoldPolicy {
        match self.fold {
            Some(policy) => policy,
            None if periodic => FoldPolicy::Both,
            None => FoldPolicy::Earlier,
        }
    }
}

impl FoldPolicy {
    /// Whether the first occurrence of a folded wall time fires.
    pub fn fires_earlier(self) -> bool {
        matches!(self, FoldPolicy::Earlier | FoldPolicy::Both)
    }

    /// Whether the second occurrence of a folded wall time fires.
    pub fn fires_later(self) -> bool {
        matches!(self, FoldPolicy::Later | FoldPolicy::Both)
    }
}

// ---------------------------------------------------------------------------
// Zone arithmetic on whole seconds.
// ---------------------------------------------------------------------------

/// How a wall time exists in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wall {
    /// The wall time occurs once, at this offset (seconds east of UTC).
    Unique { offset: i64 },
    /// The wall time occurs twice: first at `earlier` offset, then at `later`
    /// offset (`earlier > later`, so `wall - earlier < wall - later`).
    Fold { earlier: i64, later: i64 },
    /// The wall time does not exist: the clocks jump from `start_wall` to
    /// `end_wall` at instant `transition`; `before` is the offset in force
    /// before the jump.
    Gap {
        start_wall: i64,
        end_wall: i64,
        transition: i64,
        before: i64,
    },
    /// The wall time does not exist and the zone data cannot say where the
    /// gap ends (only at the limits of the zone data); treated as skipped.
    Unresolvable,
}

/// Converts wall seconds to a `NaiveDateTime`, `None` when out of chrono's
/// range.
pub(crate) fn naive_from_secs(secs: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc())
}

/// The zone's offset (seconds east of UTC) at the given instant.
pub(crate) fn offset_at(tz: Tz, instant: i64) -> Option<i64> {
    let naive = naive_from_secs(instant)?;
    Some(i64::from(
        tz.offset_from_utc_datetime(&naive).fix().local_minus_utc(),
    ))
}

/// Classifies the wall time `wall` (wall seconds) in `tz`.
pub(crate) fn classify(tz: Tz, wall: i64) -> Option<Wall> {
    use chrono::LocalResult;
    let naive = naive_from_secs(wall)?;
    Some(match tz.offset_from_local_datetime(&naive) {
        LocalResult::Single(o) => Wall::Unique {
            offset: i64::from(o.fix().local_minus_utc()),
        },
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (
                i64::from(a.fix().local_minus_utc()),
                i64::from(b.fix().local_minus_utc()),
            );
            if a == b {
                Wall::Unique { offset: a }
            } else {
                Wall::Fold {
                    earlier: a.max(b),
                    later: a.min(b),
                }
            }
        }
        LocalResult::None => match chrono_tz::GapInfo::new(&naive, &tz) {
            Some(chrono_tz::GapInfo {
                begin: Some((start, before)),
                end: Some(end),
            }) => {
                let transition = end.timestamp();
                let before = i64::from(before.fix().local_minus_utc());
                let after = i64::from(end.offset().fix().local_minus_utc());
                Wall::Gap {
                    start_wall: start.and_utc().timestamp(),
                    end_wall: transition + after,
                    transition,
                    before,
                }
            }
            _ => Wall::Unresolvable,
        },
    })
}

/// The transition instant between `lo` and `hi` (`lo < hi`): the first
/// instant in `(lo, hi]` whose offset differs from the offset at `lo`,
/// assuming at most one transition in the window. `None` when the offsets at
/// both ends agree.
pub(crate) fn transition_between(tz: Tz, mut lo: i64, mut hi: i64) -> Option<i64> {
    let start = offset_at(tz, lo)?;
    if offset_at(tz, hi)? == start {
        return None;
    }
    // Invariant: offset(lo) == start, offset(hi) != start.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_at(tz, mid)? == start {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// The fold containing wall time `wall` whose passes have offsets `earlier`
/// and `later`: returns `(start_wall, end_wall)`, the half-open range of wall
/// times that occur twice.
pub(crate) fn fold_bounds(tz: Tz, wall: i64, earlier: i64, later: i64) -> Option<(i64, i64)> {
    // First pass instant has offset `earlier`, second pass has `later`; the
    // transition lies in (first, second].
    let t = transition_between(tz, wall - earlier, wall - later)?;
    Some((t + later, t + earlier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for p in [
            GapPolicy::RunAtTransition,
            GapPolicy::ShiftForward,
            GapPolicy::Skip,
        ] {
            assert_eq!(p.as_str().parse::<GapPolicy>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        for p in [FoldPolicy::Earlier, FoldPolicy::Later, FoldPolicy::Both] {
            assert_eq!(p.as_str().parse::<FoldPolicy>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
    }

    #[test]
    fn bad_policy_names_list_the_valid_ones() {
        let err = "later"
            .parse::<GapPolicy>()
            .expect_err("not a gap policy")
            .to_string();
        assert!(
            err.contains("run_at_transition, shift_forward or skip"),
            "{err}"
        );
        let err = "run_at_transition"
            .parse::<FoldPolicy>()
            .expect_err("not a fold policy")
            .to_string();
        assert!(err.contains("earlier, later or both"), "{err}");
    }

    #[test]
    fn defaults_depend_on_kind() {
        let d = DstOptions::default();
        assert_eq!(d.gap_policy_for(true, 3600), GapPolicy::Skip);
        assert_eq!(d.fold_policy_for(true), FoldPolicy::Both);
        assert_eq!(d.gap_policy_for(false, 3600), GapPolicy::RunAtTransition);
        assert_eq!(d.gap_policy_for(false, 3 * 3600), GapPolicy::Skip);
        assert_eq!(d.fold_policy_for(false), FoldPolicy::Earlier);
        let explicit = DstOptions {
            gap: Some(GapPolicy::ShiftForward),
            fold: Some(FoldPolicy::Later),
        };
        assert_eq!(
            explicit.gap_policy_for(false, 24 * 3600),
            GapPolicy::ShiftForward
        );
        assert_eq!(explicit.fold_policy_for(true), FoldPolicy::Later);
    }

    #[test]
    fn classify_berlin() {
        let tz: Tz = "Europe/Berlin".parse().expect("known zone");
        // 2024-03-31 02:30 does not exist; the jump is 02:00 -> 03:00 at 01:00Z.
        let wall = chrono::NaiveDate::from_ymd_opt(2024, 3, 31)
            .and_then(|d| d.and_hms_opt(2, 30, 0))
            .expect("valid")
            .and_utc()
            .timestamp();
        match classify(tz, wall) {
            Some(Wall::Gap {
                start_wall,
                end_wall,
                transition,
                before,
            }) => {
                assert_eq!(end_wall - start_wall, 3600);
                assert_eq!(before, 3600);
                assert_eq!(transition, wall - 1800 - 3600);
            }
            other => panic!("expected a gap, got {other:?}"),
        }
        // 2024-10-27 02:30 occurs twice.
        let wall = chrono::NaiveDate::from_ymd_opt(2024, 10, 27)
            .and_then(|d| d.and_hms_opt(2, 30, 0))
            .expect("valid")
            .and_utc()
            .timestamp();
        assert_eq!(
            classify(tz, wall),
            Some(Wall::Fold {
                earlier: 7200,
                later: 3600
            })
        );
        let (fs, fe) = fold_bounds(tz, wall, 7200, 3600).expect("fold");
        assert_eq!((wall - fs, fe - wall), (1800, 1800));
    }
}
