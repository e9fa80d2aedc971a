//! Places in the file: byte offsets to `file:line:column`, and the
//! collector of every problem found in one file.

use std::ops::Range;

use super::ConfigIssue;
use crate::declare::hint;

/// Collects issues against one source text.
pub(super) struct Checker<'a> {
    pub file: String,
    pub src: &'a str,
    pub issues: Vec<ConfigIssue>,
}

impl<'a> Checker<'a> {
    pub fn new(file: &str, src: &'a str) -> Self {
        Self {
            file: file.to_string(),
            src,
            issues: Vec::new(),
        }
    }

    /// The 1-based line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// Records a problem at the start of `span`.
    pub fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.issues.push(ConfigIssue {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }

    /// Records the error of a check at `span`, and passes its value on.
    pub fn check<T>(&mut self, span: Range<usize>, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.at(span, message)).ok()
    }
}

/// Rewrites serde's "unknown field `x`, expected one of …" with the
/// nearest valid key, and its other wordings in the file's terms.
pub(super) fn explain_toml_error(message: &str) -> String {
    let message = message.trim();
    if let Some(explained) = hint::unknown_field(message, "key") {
        return explained;
    }
    message
        .replace("missing field", "missing key")
        .replace("unknown variant", "unknown value")
}
