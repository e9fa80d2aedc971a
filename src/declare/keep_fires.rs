//! The `keep_fires` table, on a job and in `[scheduler]`: an age per final
//! status (`succeeded`, `failed`, `timed_out`, `abandoned`, `cancelled`,
//! `skipped`) and `max_rows`, each checked against its range.

use std::time::Duration;

use super::error::Issues;
use super::{KeepFiresDecl, ValidationError, ranges};
use crate::model::KeepFiresOverride;

/// The fields `decl` sets, each checked; problems are pushed under
/// `prefix.<field>` (`keep_fires.succeeded`).
pub(crate) fn fields(decl: &KeepFiresDecl, prefix: &str, issues: &mut Issues) -> KeepFiresOverride {
    let mut age = |name: &str, text: &Option<String>| -> Option<Duration> {
        let key = format!("{prefix}.{name}");
        text.as_deref()
            .and_then(|t| issues.check(&key, ranges::duration(t, &key, ranges::KEEP_FIRES_AGE)))
    };
    let succeeded = age("succeeded", &decl.succeeded);
    let failed = age("failed", &decl.failed);
    let timed_out = age("timed_out", &decl.timed_out);
    let abandoned = age("abandoned", &decl.abandoned);
    let cancelled = age("cancelled", &decl.cancelled);
    let skipped = age("skipped", &decl.skipped);
    let key = format!("{prefix}.max_rows");
    let max_rows = decl
        .max_rows
        .and_then(|n| issues.check(&key, ranges::whole_as(n, &key, ranges::KEEP_FIRES_MAX_ROWS)));
    KeepFiresOverride {
        succeeded,
        failed,
        timed_out,
        abandoned,
        cancelled,
        skipped,
        max_rows,
    }
}

/// The policy `decl` declares, or every problem with its field path under
/// `prefix`: the `[scheduler]` table's front end uses it.
pub fn keep_fires_override(
    decl: &KeepFiresDecl,
    prefix: &str,
) -> Result<KeepFiresOverride, ValidationError> {
    let mut issues = Issues::default();
    let k = fields(decl, prefix, &mut issues);
    issues.into_result(Some(k))
}

/// Checks a policy built in Rust against the same ranges.
pub(crate) fn check_keep_fires(k: &KeepFiresOverride, prefix: &str, issues: &mut Issues) {
    let ages = [
        ("succeeded", k.succeeded),
        ("failed", k.failed),
        ("timed_out", k.timed_out),
        ("abandoned", k.abandoned),
        ("cancelled", k.cancelled),
        ("skipped", k.skipped),
    ];
    for (name, age) in ages {
        if let Some(age) = age {
            let key = format!("{prefix}.{name}");
            issues.check(
                &key,
                ranges::check_duration(age, &key, ranges::KEEP_FIRES_AGE),
            );
        }
    }
    if let Some(n) = k.max_rows {
        let key = format!("{prefix}.max_rows");
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        issues.check(&key, ranges::whole(n, &key, ranges::KEEP_FIRES_MAX_ROWS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_checked_with_its_path() {
        let decl = KeepFiresDecl {
            succeeded: Some("3d".into()),
            failed: Some("soon".into()),
            max_rows: Some(0),
            ..Default::default()
        };
        let e = keep_fires_override(&decl, "keep_fires").unwrap_err();
        let paths: Vec<&str> = e.issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["keep_fires.failed", "keep_fires.max_rows"]);
        assert!(e.issues[0].message.contains("is not a duration"));
        let ok = keep_fires_override(
            &KeepFiresDecl {
                skipped: Some("1h".into()),
                max_rows: Some(5),
                ..Default::default()
            },
            "keep_fires",
        )
        .unwrap();
        assert_eq!(ok.skipped, Some(Duration::from_secs(3600)));
        assert_eq!(ok.max_rows, Some(5));
        assert_eq!(ok.succeeded, None);
    }
}
