//! The "did you mean" hint: the nearest valid spelling of a misspelt key,
//! kind, zone, unit or name, and the one wording every door uses for it.

/// The nearest of `candidates` to `word`, if any is close enough to be a
/// likely misspelling (Jaro-Winkler similarity of 0.8 or more, ignoring
/// case).
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" for the nearest candidate, if one is close.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    nearest(word, candidates).map(|n| format!("did you mean `{n}`?"))
}

/// The hint as the end of a message: "; did you mean `x`?", or nothing.
pub fn as_suffix<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|h| format!("; {h}"))
        .unwrap_or_default()
}

/// The hint before what was expected: "did you mean `x`? ", or nothing.
pub fn as_prefix<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|h| format!("{h} "))
        .unwrap_or_default()
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" as
/// "unknown {noun} `x`: did you mean `a`? expected one of a, b" (a `noun`
/// of `key` for the file, `field` for JSON); None for any other message.
pub fn unknown_field(message: &str, noun: &str) -> Option<String> {
    let rest = message.trim().strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once('`')?;
    // serde_json appends " at line L column C"; the caller knows the place.
    let expected = expected.split(" at line ").next().unwrap_or(expected);
    let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let hint = as_prefix(field, keys.iter().copied());
    Some(format!(
        "unknown {noun} `{field}`: {hint}expected one of {}",
        keys.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_spelling_is_offered_only_when_close() {
        assert_eq!(nearest("comand", ["command", "noop"]), Some("command"));
        assert_eq!(nearest("xyz", ["command", "noop"]), None);
        assert_eq!(
            as_suffix("Europe/Berln", ["Europe/Berlin", "Asia/Tokyo"]),
            "; did you mean `Europe/Berlin`?"
        );
        assert_eq!(as_prefix("xyz", ["command"]), "");
    }

    #[test]
    fn serde_unknown_fields_get_the_hint() {
        assert_eq!(
            unknown_field(
                "unknown field `kindd`, expected one of `name`, `kind` at line 1 column 9",
                "field"
            )
            .as_deref(),
            Some("unknown field `kindd`: did you mean `kind`? expected one of name, kind")
        );
        assert_eq!(unknown_field("missing field `name`", "key"), None);
    }
}
