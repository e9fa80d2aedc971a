//! Text made storable: what the store writes on behalf of a job or a user
//! (outputs, errors, reasons) never holds a byte a backend refuses.
//!
//! A Rust `String` is valid UTF-8 by construction (the job kinds decode
//! their bytes, replacing invalid sequences and saying so), so the one
//! byte left that a backend refuses is NUL: PostgreSQL rejects it in any
//! `text` value. Each NUL is shown as the two characters `\0` and the text
//! ends with a note counting them, so the record says it was changed.
//! Clean text (the hot path: a burst of 20,000 fires) is borrowed as is,
//! after one byte scan.

use std::borrow::Cow;

/// `text` with every NUL shown as `\0`, and a note saying how many; the
/// text itself when it holds none.
pub fn storable_text(text: &str) -> Cow<'_, str> {
    if !text.as_bytes().contains(&0) {
        return Cow::Borrowed(text);
    }
    let nuls = text.bytes().filter(|b| *b == 0).count();
    let mut shown = text.replace('\0', "\\0");
    let noun = if nuls == 1 { "byte" } else { "bytes" };
    shown.push_str(&format!("\n[{nuls} NUL {noun} shown as \\0]"));
    Cow::Owned(shown)
}

/// [`storable_text`] of an optional text, owned (to bind as a value).
pub fn storable_opt(text: Option<&str>) -> Option<String> {
    text.map(|t| storable_text(t).into_owned())
}

/// Refuses a name or lookup key holding NUL: a backend either refuses it
/// (PostgreSQL) or stores a name no other door can type (SQLite), so both
/// answer the same: invalid input naming `field`.
pub fn refuse_nul(field: &'static str, value: &str) -> Result<(), super::StoreError> {
    if value.as_bytes().contains(&0) {
        return Err(super::StoreError::Invalid {
            field,
            message: format!(
                "{field} must not contain a NUL byte (\\0): {:?}",
                value.replace('\0', "\\0")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed_unchanged() {
        let text = "ok: ünïcode, tabs\tand\nnewlines";
        assert!(matches!(storable_text(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn nul_bytes_are_shown_and_counted() {
        assert_eq!(
            storable_text("a\0b\0"),
            "a\\0b\\0\n[2 NUL bytes shown as \\0]"
        );
        assert_eq!(storable_text("\0"), "\\0\n[1 NUL byte shown as \\0]");
    }

    #[test]
    fn invalid_utf8_decoded_lossily_is_storable() {
        // What a job kind hands over after decoding bytes that are not
        // UTF-8: U+FFFD, which every backend stores.
        let decoded = String::from_utf8_lossy(b"a\xff\x00b").into_owned();
        let stored = storable_text(&decoded);
        assert_eq!(stored, "a\u{FFFD}\\0b\n[1 NUL byte shown as \\0]");
        assert!(!stored.contains('\0'));
    }

    #[test]
    fn optional_text_keeps_none() {
        assert_eq!(storable_opt(None), None);
        assert_eq!(
            storable_opt(Some("x\0")).as_deref(),
            Some("x\\0\n[1 NUL byte shown as \\0]")
        );
    }

    #[test]
    fn names_with_nul_are_refused_with_the_field() {
        assert!(refuse_nul("job name", "fine").is_ok());
        let err = refuse_nul("job name", "a\0b").unwrap_err();
        assert!(matches!(
            err,
            crate::store::StoreError::Invalid {
                field: "job name",
                ..
            }
        ));
        assert!(
            err.to_string()
                .contains("job name must not contain a NUL byte"),
            "{err}"
        );
    }
}
