//! Text from users and jobs shown to people: names, errors and outputs
//! reach terminals and text logs, where a raw control character could
//! forge a log line or drive the terminal. [`printable`] escapes them.

use std::borrow::Cow;
use std::fmt;

/// `text` with every control character (C0, DEL, C1) escaped as `\n`,
/// `\t`, `\u{1b}`…; text without any is returned as is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Displays a string with its control characters escaped: for log
/// fields (`job = %Printable(&name)`).
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(printable("backup-nightly é"), Cow::Borrowed(_)));
        assert_eq!(
            printable("job\nERROR forged line"),
            "job\\nERROR forged line"
        );
        assert_eq!(printable("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(
            printable("tab\tdel\u{7f}c1\u{85}"),
            "tab\\tdel\\u{7f}c1\\u{85}"
        );
        assert_eq!(Printable("x\ry").to_string(), "x\\ry");
    }
}
