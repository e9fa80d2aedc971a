//! `jobs.jitter` <-> [`Jitter`]: JSON `{"kind": "uniform" | "hash",
//! "window_ms": N}`, decoded strictly (exactly those keys, a known kind,
//! a window of 1 ms to 1 day, as the validator allows).

use serde_json::{Value, json};

use crate::schedule::jitter::Jitter;

/// The longest window the validator lets through (1 day), in ms.
const MAX_WINDOW_MS: u64 = 86_400_000;

/// The column value of a job's jitter (NULL without one).
pub(super) fn encode(jitter: Option<&Jitter>) -> Option<String> {
    jitter.map(|j| {
        let window_ms = j.window().as_millis().min(u128::from(MAX_WINDOW_MS)) as u64;
        json!({ "kind": j.kind(), "window_ms": window_ms }).to_string()
    })
}

/// The jitter a column value holds, or what is wrong with it.
pub(super) fn decode(text: &str) -> Result<Jitter, String> {
    let expected = "expected {\"kind\": \"uniform\" | \"hash\", \"window_ms\": 1 to 86400000}";
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON ({e}): {expected}"))?;
    let Value::Object(map) = &value else {
        return Err(format!("is not a JSON object: {expected}"));
    };
    let window = match map.get("window_ms").and_then(Value::as_u64) {
        Some(ms) if map.len() == 2 && (1..=MAX_WINDOW_MS).contains(&ms) => {
            std::time::Duration::from_millis(ms)
        }
        _ => return Err(format!("is {text}: {expected}")),
    };
    match map.get("kind").and_then(Value::as_str) {
        Some("uniform") => Ok(Jitter::Uniform(window)),
        Some("hash") => Ok(Jitter::Hash(window)),
        _ => Err(format!("is {text}: {expected}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn round_trips_and_refuses_anything_else() {
        for j in [
            Jitter::Uniform(Duration::from_secs(300)),
            Jitter::Hash(Duration::from_millis(1)),
        ] {
            let text = encode(Some(&j)).unwrap_or_default();
            assert_eq!(decode(&text), Ok(j));
        }
        assert_eq!(encode(None), None);
        for bad in [
            "",
            "[]",
            r#"{"kind":"hash"}"#,
            r#"{"kind":"hash","window_ms":0}"#,
            r#"{"kind":"hash","window_ms":86400001}"#,
            r#"{"kind":"often","window_ms":5}"#,
            r#"{"kind":"hash","window_ms":5,"extra":1}"#,
            r#"{"kind":"hash","window_ms":-5}"#,
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
