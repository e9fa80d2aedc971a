//! `jitter` on a job: `"5m"` (each fire somewhere in the window after its
//! instant) or `{ hash = "5m" }` (every fire at one offset derived from
//! the job name), 1 ms to 1 day.

use serde_json::Value;

use super::error::Issues;
use super::ranges;
use crate::schedule::jitter::Jitter;

const EXPECTED: &str = "expected a duration such as \"5m\" or { hash = \"5m\" }";

/// The jitter `v` declares, or None with the problem in `issues`.
pub(super) fn parse(v: &Value, issues: &mut Issues) -> Option<Jitter> {
    let parsed = match v {
        Value::String(s) => ranges::duration(s, "jitter", ranges::JITTER).map(Jitter::Uniform),
        Value::Object(m) => match (m.len(), m.get("hash")) {
            (1, Some(Value::String(s))) => {
                ranges::duration(s, "jitter.hash", ranges::JITTER).map(Jitter::Hash)
            }
            _ => Err(format!(
                "`jitter` = {v}: {EXPECTED} (a table takes only `hash`)"
            )),
        },
        other => Err(format!("`jitter` = {other}: {EXPECTED}")),
    };
    issues.check("jitter", parsed)
}

/// The same range for a jitter built in Rust.
pub(super) fn check(j: &Jitter, issues: &mut Issues) {
    let key = match j {
        Jitter::Uniform(_) => "jitter",
        Jitter::Hash(_) => "jitter.hash",
    };
    issues.check(
        "jitter",
        ranges::check_duration(j.window(), key, ranges::JITTER),
    );
}
