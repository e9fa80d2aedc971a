//! The job half of the validator: kind and settings, pool, policies.

use serde_json::Value;

use super::error::Issues;
use super::{JobDecl, RetryDecl, ValidationContext, hint, ranges};
use crate::jobs::http::KIND as HTTP_KIND;
use crate::model::{DEFAULT_POOL, JobDef, OverlapPolicy, RetryPolicy};

/// The job of `decl`, or None when a field is wrong (each problem is in
/// `issues`).
pub(super) fn job_def(
    decl: &JobDecl,
    ctx: &ValidationContext<'_>,
    issues: &mut Issues,
) -> Option<JobDef> {
    let before = issues.len();
    let name = decl.name.trim().to_string();
    self::name(&name, issues);
    let settings = decl
        .settings
        .clone()
        .unwrap_or_else(|| Value::Object(Default::default()));
    kind_and_settings(&decl.kind, &name, &settings, ctx, issues);
    let pool = decl
        .pool
        .clone()
        .unwrap_or_else(|| DEFAULT_POOL.to_string());
    pool_and_group(&pool, decl.group.as_deref(), issues);
    let overlap = match &decl.overlap {
        None => OverlapPolicy::Allow,
        Some(o) => o.parse::<OverlapPolicy>().unwrap_or_else(|_| {
            let names = ["allow", "skip", "queue", "replace"];
            issues.push(
                "overlap",
                format!(
                    "unknown overlap policy `{o}`: {}expected allow, skip, queue or replace",
                    hint::as_prefix(o, names)
                ),
            );
            OverlapPolicy::Allow
        }),
    };
    let timeout = decl
        .timeout
        .as_deref()
        .and_then(|t| issues.check("timeout", ranges::duration(t, "timeout", ranges::PERIOD)));
    let priority = match decl.priority {
        None => 0,
        Some(p) => issues
            .check(
                "priority",
                ranges::whole_as(p, "priority", ranges::PRIORITY),
            )
            .unwrap_or(0),
    };
    let retry = decl
        .retry
        .as_ref()
        .map_or_else(RetryPolicy::default, |r| retry_policy(r, issues));
    let keep_fires = decl
        .keep_fires
        .as_ref()
        .map(|k| super::keep_fires::fields(k, "keep_fires", issues))
        .unwrap_or_default();
    let expect_success_within = decl.expect_success_within.as_deref().and_then(|t| {
        let key = "expect_success_within";
        issues.check(key, ranges::duration(t, key, ranges::PERIOD))
    });
    let jitter = decl
        .jitter
        .as_ref()
        .and_then(|v| super::jitter::parse(v, issues));
    if issues.len() > before {
        return None;
    }
    Some(JobDef {
        name,
        kind: decl.kind.clone(),
        settings,
        data: decl
            .data
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default())),
        pool,
        group: decl.group.clone(),
        overlap,
        timeout,
        priority,
        retry,
        requests_recovery: decl.requests_recovery.unwrap_or(false),
        paused: decl.paused.unwrap_or(false),
        keep_fires,
        expect_success_within,
        jitter,
    })
}

/// The kind must be registered, and accept the settings.
pub(super) fn kind_and_settings(
    kind: &str,
    name: &str,
    settings: &Value,
    ctx: &ValidationContext<'_>,
    issues: &mut Issues,
) {
    match ctx.registry.get(kind) {
        None => {
            let names: Vec<&str> = ctx.registry.names().collect();
            issues.push(
                "kind",
                format!(
                    "unknown job kind `{kind}`: {}expected one of {}",
                    hint::as_prefix(kind, names.iter().copied()),
                    names.join(", ")
                ),
            );
        }
        Some(k) => {
            if let Err(e) = k.validate(settings) {
                issues.push("settings", format!("job `{name}` ({kind}): {e}"));
            } else if kind == HTTP_KIND
                && let Some(policy) = ctx.http_policy
            {
                for (key, message) in policy.check(settings) {
                    issues.push(
                        format!("settings.{key}"),
                        format!("job `{name}`: {message}"),
                    );
                }
            }
        }
    }
}

pub(super) fn name(name: &str, issues: &mut Issues) {
    if name.trim().is_empty() {
        issues.push("name", "a job `name` must not be empty");
    }
    no_nul(issues, "name", name);
}

pub(super) fn pool_and_group(pool: &str, group: Option<&str>, issues: &mut Issues) {
    if pool.trim().is_empty() {
        issues.push("pool", "`pool` must not be empty");
    }
    no_nul(issues, "pool", pool);
    if let Some(group) = group {
        no_nul(issues, "group", group);
    }
}

/// Refuses a NUL character, which no database column can hold.
pub(super) fn no_nul(issues: &mut Issues, path: &str, text: &str) {
    if text.contains('\0') {
        issues.push(path, format!("`{path}` must not contain a NUL character"));
    }
}

fn retry_policy(r: &RetryDecl, issues: &mut Issues) -> RetryPolicy {
    let mut retry = RetryPolicy::default();
    let key = "retry.max_attempts";
    if let Some(n) = r.max_attempts
        && let Some(n) = issues.check(key, ranges::whole_as(n, key, ranges::MAX_ATTEMPTS))
    {
        retry.max_attempts = n;
    }
    for (key, text, slot) in [
        ("retry.backoff", &r.backoff, &mut retry.backoff),
        ("retry.max_backoff", &r.max_backoff, &mut retry.max_backoff),
    ] {
        if let Some(text) = text
            && let Some(d) = issues.check(key, ranges::duration(text, key, ranges::DELAY))
        {
            *slot = d;
        }
    }
    if let Some(f) = r.factor
        && let Some(f) = issues.check("retry.factor", factor(f))
    {
        retry.factor = f;
    }
    if let Some(j) = r.jitter
        && let Some(j) = issues.check("retry.jitter", jitter(j))
    {
        retry.jitter = j;
    }
    retry
}

pub(super) fn factor(f: f64) -> Result<f64, String> {
    if f >= 1.0 && f.is_finite() {
        Ok(f)
    } else {
        Err(format!(
            "`retry.factor` = {f}: must be a number of 1.0 or more"
        ))
    }
}

pub(super) fn jitter(j: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&j) {
        Ok(j)
    } else {
        Err(format!(
            "`retry.jitter` = {j}: must be a fraction from 0.0 to 1.0"
        ))
    }
}
