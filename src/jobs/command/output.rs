//! Bounded capture of a program's stdout and stderr, and the text a fire
//! records from them.
//!
//! Memory is bounded by what is kept: each stream keeps its first
//! `max_output` bytes (at most `MAX_OUTPUT_LIMIT`) and reads everything
//! after that into a fixed buffer that is thrown away, counting it. The
//! record holds the head of both streams, each followed by the exact count
//! of its bytes not kept, and never exceeds [`MAX_RECORDED_OUTPUT`], which
//! the executor's own cut leaves alone.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::settings::MAX_OUTPUT_LIMIT;

/// The longest output record a fire can produce: both streams at the
/// largest `max_output`, plus their notes (each well under 256 bytes).
pub const MAX_RECORDED_OUTPUT: usize = 2 * MAX_OUTPUT_LIMIT + 1024;

// The executor cuts every record at its own limit; a command's record must
// fit under it whole, or stderr would be cut off again.
const _: () = assert!(MAX_RECORDED_OUTPUT <= crate::model::MAX_RECORDED_TEXT);

/// The longest stderr line quoted in a failed fire's error.
const MAX_ERROR_LINE: usize = 512;

/// Bytes read from a pipe at a time.
const READ_CHUNK: usize = 16 * 1024;

/// The head of one output stream, and how much the program wrote in all.
#[derive(Debug)]
pub struct StreamCapture {
    kept: Vec<u8>,
    total: u64,
    max: usize,
}

impl StreamCapture {
    pub fn new(max: usize) -> StreamCapture {
        StreamCapture {
            kept: Vec::new(),
            total: 0,
            max,
        }
    }

    /// Reads `pipe` to its end (or its first error), keeping the head.
    /// Safe to drop at any await: what was read so far is already counted.
    pub async fn read_from<R: AsyncRead + Unpin>(&mut self, pipe: Option<R>) {
        let Some(mut pipe) = pipe else { return };
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => self.push(&buf[..n]),
            }
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = self.max.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// The kept head as text, at most `max` bytes of it.
    fn decode(&self) -> Decoded {
        let cut = self.total > self.kept.len() as u64;
        decode(&self.kept, self.max, cut, self.total)
    }
}

/// A stream's head as text, and what it does not show.
#[derive(Debug, PartialEq)]
struct Decoded {
    text: String,
    /// Bytes the program wrote that the text does not hold.
    not_kept: u64,
    /// Invalid UTF-8 sequences shown as U+FFFD.
    replaced: usize,
}

/// Decodes `bytes` as UTF-8 into at most `max` bytes of text, replacing
/// each invalid sequence with U+FFFD. `cut` says the stream went on past
/// `bytes`: an incomplete character at the very end is then the edge of the
/// cut (counted as not kept), not an invalid sequence. `total` is what the
/// stream held in all; the bytes the text does not represent are counted
/// exactly.
fn decode(bytes: &[u8], max: usize, cut: bool, total: u64) -> Decoded {
    const REPLACEMENT: char = '\u{FFFD}';
    let mut text = String::new();
    let mut used = 0usize;
    let mut replaced = 0usize;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, invalid) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => {
                // Everything before valid_up_to is valid UTF-8.
                let valid = std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default();
                (valid, Some(e.error_len()))
            }
        };
        let room = max - text.len();
        if valid.len() > room {
            let mut end = room;
            while !valid.is_char_boundary(end) {
                end -= 1;
            }
            text.push_str(&valid[..end]);
            used += end;
            break;
        }
        text.push_str(valid);
        used += valid.len();
        rest = &rest[valid.len()..];
        match invalid {
            None => break,
            // An incomplete character where the kept head was cut: the
            // rest of it was not kept.
            Some(None) if cut => break,
            Some(len) => {
                if max - text.len() < REPLACEMENT.len_utf8() {
                    break;
                }
                let len = len.unwrap_or(rest.len());
                text.push(REPLACEMENT);
                replaced += 1;
                used += len;
                rest = &rest[len..];
            }
        }
    }
    Decoded {
        text,
        not_kept: total - used as u64,
        replaced,
    }
}

impl Decoded {
    /// The text with its notes, as the record shows it.
    fn render(&self) -> String {
        let mut out = self.text.clone();
        if self.not_kept > 0 {
            out.push_str(&format!("\n[… {} more bytes not kept]", self.not_kept));
        }
        if self.replaced > 0 {
            out.push_str(&format!(
                "\n[{} invalid UTF-8 sequences shown as U+FFFD]",
                self.replaced
            ));
        }
        out
    }

    /// The last non-blank line, bounded, to quote in an error.
    fn last_line(&self) -> Option<String> {
        let line = self.text.lines().rev().find(|l| !l.trim().is_empty())?;
        if line.len() <= MAX_ERROR_LINE {
            return Some(line.to_string());
        }
        let mut end = MAX_ERROR_LINE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        Some(format!("{}…", &line[..end]))
    }
}

/// What happened around the program's exit that the record must say.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExitNotes {
    /// The output was still open this long after the program exited (a
    /// background process held it), and the rest was not read.
    pub output_left_open: Option<Duration>,
    /// Processes the program left in its group were killed.
    pub leftovers_killed: bool,
}

/// A fire's output record and the stderr line to quote in its error.
#[derive(Debug)]
pub struct Record {
    pub output: Option<String>,
    pub last_stderr_line: Option<String>,
}

/// The record of both streams: stdout's head, then `--- stderr ---` and
/// stderr's head, each with its count of bytes not kept, then the notes.
pub fn record(stdout: &StreamCapture, stderr: &StreamCapture, notes: ExitNotes) -> Record {
    let err = stderr.decode();
    let mut output = stdout.decode().render();
    let stderr_text = err.render();
    if !stderr_text.is_empty() {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str("--- stderr ---\n");
        output.push_str(&stderr_text);
    }
    let mut note = |text: String| {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&text);
    };
    if let Some(grace) = notes.output_left_open {
        note(format!(
            "[output still open {} after the program exited (a background process holds it): \
             the rest was not read]",
            humantime::format_duration(grace)
        ));
    }
    if notes.leftovers_killed {
        note("[processes the program left running were killed with its process group]".to_string());
    }
    Record {
        output: (!output.is_empty()).then_some(output),
        last_stderr_line: err.last_line(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(max: usize, chunks: &[&[u8]]) -> StreamCapture {
        let mut c = StreamCapture::new(max);
        for chunk in chunks {
            c.push(chunk);
        }
        c
    }

    #[test]
    fn keeps_the_head_and_counts_the_rest_exactly() {
        let c = capture(4, &[b"abc", b"defgh"]);
        let d = c.decode();
        assert_eq!(d.text, "abcd");
        assert_eq!(d.not_kept, 4);
        assert_eq!(d.render(), "abcd\n[… 4 more bytes not kept]");
    }

    #[test]
    fn a_character_cut_at_the_edge_is_not_kept_and_is_counted() {
        // "aé" is 61 C3 A9: keeping 2 bytes cuts the é in half.
        let c = capture(2, &["aé!".as_bytes()]);
        let d = c.decode();
        assert_eq!(d.text, "a");
        assert_eq!(d.not_kept, 3);
        assert_eq!(d.replaced, 0);
    }

    #[test]
    fn invalid_utf8_is_replaced_said_so_and_the_text_stays_within_max() {
        let c = capture(4, &[b"a\xffb\xfe"]);
        let d = c.decode();
        // a + U+FFFD is 4 bytes; the rest does not fit.
        assert_eq!(d.text, "a\u{FFFD}");
        assert_eq!(d.not_kept, 2);
        assert_eq!(d.replaced, 1);
        let whole = capture(16, &[b"a\xffb\xfe"]).decode();
        assert_eq!(whole.text, "a\u{FFFD}b\u{FFFD}");
        assert_eq!(whole.not_kept, 0);
        assert_eq!(whole.replaced, 2);
        assert!(
            whole
                .render()
                .ends_with("[2 invalid UTF-8 sequences shown as U+FFFD]")
        );
    }

    #[test]
    fn an_incomplete_character_at_the_real_end_is_invalid() {
        let d = capture(16, &[b"a\xc3"]).decode();
        assert_eq!(d.text, "a\u{FFFD}");
        assert_eq!(d.not_kept, 0);
    }

    #[test]
    fn the_largest_record_fits_under_the_bound() {
        let junk = vec![0xffu8; MAX_OUTPUT_LIMIT + 10];
        let out = capture(MAX_OUTPUT_LIMIT, &[&junk, &junk]);
        let err = capture(MAX_OUTPUT_LIMIT, &[&junk, &junk]);
        let r = record(
            &out,
            &err,
            ExitNotes {
                output_left_open: Some(Duration::from_millis(250)),
                leftovers_killed: true,
            },
        );
        let text = r.output.unwrap();
        assert!(text.len() <= MAX_RECORDED_OUTPUT, "{}", text.len());
        assert!(text.len() > 2 * MAX_OUTPUT_LIMIT - 8);
    }

    #[test]
    fn the_error_line_is_the_last_kept_line_not_a_note() {
        let out = capture(100, &[]);
        let err = capture(10, &[b"first\nsecond\nthird line is long"]);
        let r = record(&out, &err, ExitNotes::default());
        assert_eq!(r.last_stderr_line.as_deref(), Some("seco"));
        assert_eq!(
            r.output.as_deref(),
            Some("--- stderr ---\nfirst\nseco\n[… 21 more bytes not kept]")
        );
    }
}
