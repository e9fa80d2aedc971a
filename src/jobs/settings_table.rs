//! What every job kind's settings share: a JSON table of known keys, a
//! misspelt key refused with the nearest valid one, and values described
//! by their JSON kind in errors.

use serde_json::{Map, Value};

/// How a JSON value is named in an error ("a list", "a string", …).
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

/// The settings of the kind `kind` as a table whose every key is one of
/// `keys`; the error names the first unknown key and its nearest spelling.
pub fn settings_table<'a>(
    kind: &str,
    keys: &[&'static str],
    settings: &'a Value,
) -> Result<&'a Map<String, Value>, String> {
    let Some(map) = settings.as_object() else {
        return Err(format!(
            "the {kind} kind's settings must be a table of keys ({}), not {}",
            keys.join(", "),
            kind_of(settings)
        ));
    };
    for key in map.keys() {
        if !keys.contains(&key.as_str()) {
            let hint = nearest_key(keys, key)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown field `{key}`{hint}: the {kind} kind takes {}",
                keys.join(", ")
            ));
        }
    }
    Ok(map)
}

fn nearest_key(keys: &[&'static str], key: &str) -> Option<&'static str> {
    keys.iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), *k))
        .filter(|(edits, _)| *edits <= 2)
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, k)| k)
}
