//! The same rules for definitions built in Rust: a [`JobDef`] and
//! [`TriggerDef`] assembled by an embedder pass the checks a declaration
//! would (kind and settings, names, every range), so no door lets through
//! what another refuses. Calendar names are the store's to check, in the
//! transaction that inserts the trigger.

use chrono::{DateTime, Utc};

use super::error::Issues;
use super::{ValidationContext, ValidationError, job, ranges, schedule};
use crate::model::{JobDef, TriggerDef};
use crate::schedule::ScheduleSpec;

/// Checks typed definitions against the rules of [`validate`](super::validate).
pub fn check_defs(
    def: &JobDef,
    trigger: Option<&TriggerDef>,
    ctx: &ValidationContext<'_>,
) -> Result<(), ValidationError> {
    let mut issues = Issues::default();
    job::name(&def.name, &mut issues);
    job::kind_and_settings(&def.kind, &def.name, &def.settings, ctx, &mut issues);
    job::pool_and_group(&def.pool, def.group.as_deref(), &mut issues);
    if let Some(t) = def.timeout {
        issues.check(
            "timeout",
            ranges::check_duration(t, "timeout", ranges::PERIOD),
        );
    }
    let r = &def.retry;
    let key = "retry.max_attempts";
    issues.check(
        key,
        ranges::whole(i64::from(r.max_attempts), key, ranges::MAX_ATTEMPTS),
    );
    for (key, d) in [
        ("retry.backoff", r.backoff),
        ("retry.max_backoff", r.max_backoff),
    ] {
        issues.check(key, ranges::check_duration(d, key, ranges::DELAY));
    }
    issues.check("retry.factor", job::factor(r.factor));
    issues.check("retry.jitter", job::jitter(r.jitter));
    super::keep_fires::check_keep_fires(&def.keep_fires, "keep_fires", &mut issues);
    if let Some(d) = def.expect_success_within {
        let key = "expect_success_within";
        issues.check(key, ranges::check_duration(d, key, ranges::PERIOD));
    }
    if let Some(j) = &def.jitter {
        super::jitter::check(j, &mut issues);
    }
    if let Some(t) = trigger {
        check_trigger(t, &mut issues);
    }
    issues.into_result(Some(()))
}

fn instant(t: Option<DateTime<Utc>>, key: &str, issues: &mut Issues) {
    if let Some(t) = t {
        issues.check(&format!("schedule.{key}"), ranges::check_instant(t, key));
    }
}

fn check_trigger(t: &TriggerDef, issues: &mut Issues) {
    match &t.spec {
        ScheduleSpec::Cron { expr, tz, dst } => {
            issues.check("schedule.cron", schedule::fires_at_all(expr, *tz, *dst));
        }
        ScheduleSpec::Interval {
            every, start, end, ..
        } => {
            let every = every
                .to_std()
                .map_err(|_| "`every` must be longer than zero".to_string())
                .and_then(|d| ranges::check_duration(d, "every", ranges::PERIOD));
            issues.check("schedule.every", every);
            instant(*start, "start", issues);
            instant(*end, "end", issues);
        }
        ScheduleSpec::Once { at } => instant(Some(*at), "at", issues),
        ScheduleSpec::CalendarInterval {
            every, start, end, ..
        } => {
            let key = "calendar_interval.every";
            let path = "schedule.calendar_interval.every";
            issues.check(
                path,
                ranges::whole(i64::from(*every), key, ranges::INTERVAL_EVERY),
            );
            instant(*start, "start", issues);
            instant(*end, "end", issues);
        }
        ScheduleSpec::DailyTimeInterval {
            every, start, end, ..
        } => {
            let key = "daily.every";
            let path = "schedule.daily.every";
            issues.check(
                path,
                ranges::whole(i64::from(*every), key, ranges::INTERVAL_EVERY),
            );
            instant(*start, "start", issues);
            instant(*end, "end", issues);
        }
    }
    issues.check(
        "schedule.misfire",
        schedule::applies(t.misfire, t.spec.kind()),
    );
    if let Some(th) = t.misfire_threshold {
        let checked = th
            .to_std()
            .map_err(|_| "`misfire_threshold` must be longer than zero".to_string())
            .and_then(|d| ranges::check_duration(d, "misfire_threshold", ranges::PERIOD));
        issues.check("schedule.misfire_threshold", checked);
    }
    // Calendars are left to the store, which checks them in the same
    // transaction as the insert.
}
