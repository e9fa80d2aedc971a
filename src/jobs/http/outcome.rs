//! How an `http` fire's response (or its failure to get one) becomes a
//! [`JobOutcome`]: which status codes count as success, which failures
//! are retried (and after how long), and the text the fire records.
//!
//! The rules: a status in `success_codes` (default any 2xx) whose body
//! matches `expect_body` (when set) succeeds. Any other result fails; it
//! is retried by the job's retry policy only when `retry_on` lists it
//! (default 5xx, 408, 429, `connection`, `timeout`), else it fails with
//! [`RetryDirective::Never`]. A retried 429 or 503 with a `Retry-After`
//! header asks for that delay ([`RetryDirective::After`]), capped at
//! [`MAX_RETRY_AFTER`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::settings::kind_of;
use crate::jobs::{JobOutcome, RetryDirective};

/// The longest delay a `Retry-After` header can ask for. The kind does
/// not see the job's retry policy: the executor is to cap it further at
/// the policy's `max_backoff`.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The response headers the record keeps, when present.
pub const RECORDED_HEADERS: [&str; 6] = [
    "content-type",
    "content-length",
    "location",
    "retry-after",
    "x-request-id",
    "request-id",
];

/// The most bytes of the body quoted in a failed fire's error.
const MAX_ERROR_EXCERPT: usize = 256;

/// One entry of a list of statuses: `404` or `"4xx"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusMatch {
    Code(u16),
    Class(u16),
}

/// A set of HTTP statuses, as `success_codes` and `retry_on` list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<StatusMatch>);

impl StatusSet {
    /// Any 2xx.
    pub fn success_default() -> StatusSet {
        StatusSet(vec![StatusMatch::Class(2)])
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|m| match m {
            StatusMatch::Code(code) => *code == status,
            StatusMatch::Class(class) => status / 100 == *class,
        })
    }

    /// Parses one entry at `key[i]`; `None` when it is not a status at
    /// all (so `retry_on` can try its words).
    fn parse_entry(value: &Value) -> Option<Result<StatusMatch, String>> {
        match value {
            Value::Number(n) => Some(match n.as_u64() {
                Some(code @ 100..=599) => Ok(StatusMatch::Code(code as u16)),
                _ => Err(format!("{n} is not an HTTP status (100 to 599)")),
            }),
            Value::String(s) => {
                let s = s.to_ascii_lowercase();
                let class = s.strip_suffix("xx")?;
                Some(match class.parse::<u16>() {
                    Ok(class @ 1..=5) => Ok(StatusMatch::Class(class)),
                    _ => Err(format!("\"{s}\" is not a status class (1xx to 5xx)")),
                })
            }
            _ => None,
        }
    }

    /// `success_codes`: a list such as `[200, 202]` or `["2xx"]`.
    pub fn parse(key: &str, value: &Value) -> Result<StatusSet, String> {
        let expected = "a list of statuses such as [200, 202] or [\"2xx\"]";
        let Value::Array(items) = value else {
            return Err(format!(
                "`{key}` must be {expected}, not {}",
                kind_of(value)
            ));
        };
        if items.is_empty() {
            return Err(format!("`{key}` is empty: expected {expected}"));
        }
        let mut set = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match StatusSet::parse_entry(item) {
                Some(Ok(m)) => set.push(m),
                Some(Err(e)) => return Err(format!("`{key}[{i}]`: {e}")),
                None => {
                    return Err(format!(
                        "`{key}[{i}]` must be a status such as 200 or \"2xx\", not {}",
                        kind_of(item)
                    ));
                }
            }
        }
        Ok(StatusSet(set))
    }
}

/// What failures are retried by the job's retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    statuses: StatusSet,
    /// No connection, a TLS failure, a connection cut mid-response.
    pub connection: bool,
    /// No response within the kind's `request_timeout` (or no connection within
    /// `connect_timeout`).
    pub timeout: bool,
    /// A success status whose body does not match `expect_body`.
    expect_body: bool,
}

/// The words `retry_on` takes besides statuses.
pub const RETRY_WORDS: [&str; 3] = ["connection", "timeout", "expect_body"];

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            statuses: StatusSet(vec![
                StatusMatch::Class(5),
                StatusMatch::Code(408),
                StatusMatch::Code(429),
            ]),
            connection: true,
            timeout: true,
            expect_body: false,
        }
    }
}

impl RetryOn {
    /// `retry_on`: statuses and the words of [`RETRY_WORDS`]; `[]` retries
    /// nothing.
    pub fn parse(value: &Value) -> Result<RetryOn, String> {
        let expected = format!(
            "a list of statuses (503, \"5xx\") and of {}",
            RETRY_WORDS.join(", ")
        );
        let Value::Array(items) = value else {
            return Err(format!(
                "`retry_on` must be {expected}, not {}",
                kind_of(value)
            ));
        };
        let mut on = RetryOn {
            statuses: StatusSet(Vec::new()),
            connection: false,
            timeout: false,
            expect_body: false,
        };
        for (i, item) in items.iter().enumerate() {
            match (StatusSet::parse_entry(item), item) {
                (Some(Ok(m)), _) => on.statuses.0.push(m),
                (Some(Err(e)), _) => return Err(format!("`retry_on[{i}]`: {e}")),
                (None, Value::String(word)) => match word.as_str() {
                    "connection" => on.connection = true,
                    "timeout" => on.timeout = true,
                    "expect_body" => on.expect_body = true,
                    _ => {
                        return Err(format!(
                            "`retry_on[{i}]`: \"{word}\" is neither a status nor one of {}",
                            RETRY_WORDS.join(", ")
                        ));
                    }
                },
                (None, other) => {
                    return Err(format!(
                        "`retry_on[{i}]` must be a status or one of {}, not {}",
                        RETRY_WORDS.join(", "),
                        kind_of(other)
                    ));
                }
            }
        }
        Ok(on)
    }
}

/// A response as the fire saw it: status, the kept headers and the head
/// of the body.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub version: reqwest::Version,
    pub headers: HeaderMap,
    /// The first `max_response` bytes of the body.
    pub body: Vec<u8>,
    /// The body went on past `body` (and was not read further).
    pub truncated: bool,
    /// The connection broke while the body was read.
    pub read_error: Option<String>,
}

/// What the kind decides from a response.
pub struct Rules<'a> {
    pub success: &'a StatusSet,
    pub expect_body: Option<&'a Regex>,
    pub retry_on: &'a RetryOn,
    pub max_response: usize,
    pub now: DateTime<Utc>,
}

impl Rules<'_> {
    /// The outcome of a fire that got a response.
    pub fn judge(&self, response: &Response) -> JobOutcome {
        let output = Some(record(response, self.max_response));
        let code = response.status.as_u16();
        let status_line = status_line(response.status);
        if let Some(cut) = &response.read_error {
            return JobOutcome::Failed {
                error: format!("{status_line}: the connection broke while reading the body: {cut}"),
                output,
                retry: directive(self.retry_on.connection),
            };
        }
        if !self.success.contains(code) {
            let head = excerpt(&response.body);
            let mut error = if head.is_empty() {
                status_line
            } else {
                format!("{status_line}: {head}")
            };
            if response.status.is_redirection() {
                error.push_str(" (redirects are followed only with follow_redirects = true)");
            }
            let retry = if !self.retry_on.statuses.contains(code) {
                RetryDirective::Never
            } else if matches!(code, 429 | 503) {
                retry_after(&response.headers, self.now)
                    .map(RetryDirective::After)
                    .unwrap_or(RetryDirective::ByPolicy)
            } else {
                RetryDirective::ByPolicy
            };
            return JobOutcome::Failed {
                error,
                output,
                retry,
            };
        }
        if let Some(re) = self.expect_body {
            let text = String::from_utf8_lossy(&response.body);
            if !re.is_match(&text) {
                return JobOutcome::Failed {
                    error: format!(
                        "{status_line}: the body does not match expect_body /{}/: {}",
                        re.as_str(),
                        excerpt(&response.body)
                    ),
                    output,
                    retry: directive(self.retry_on.expect_body),
                };
            }
        }
        JobOutcome::Succeeded { output }
    }
}

/// A failure that is retried by policy when `retry_on` lists it.
pub fn directive(retried: bool) -> RetryDirective {
    if retried {
        RetryDirective::ByPolicy
    } else {
        RetryDirective::Never
    }
}

/// `HTTP 404 Not Found`.
pub fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// The delay a `Retry-After` header asks for (seconds or an HTTP date),
/// at most [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
            (at - now).to_std().unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The body's first bytes on one line, to quote in an error.
fn excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(MAX_ERROR_EXCERPT)];
    let text = String::from_utf8_lossy(head);
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.len() > MAX_ERROR_EXCERPT {
        line.push('…');
    }
    line
}

/// The record of a response: its status line, the kept headers, a blank
/// line and the head of the body, with a note when it was cut.
pub fn record(response: &Response, max_response: usize) -> String {
    let version = match response.version {
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    let mut out = format!(
        "{version} {}",
        status_line(response.status).trim_start_matches("HTTP ")
    );
    for name in RECORDED_HEADERS {
        for value in response.headers.get_all(name) {
            out.push_str(&format!(
                "\n{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    out.push_str("\n\n");
    out.push_str(&body_text(&response.body, response.truncated));
    if response.truncated {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "[body truncated: only the first {max_response} bytes (max_response) were read]"
        ));
    }
    out
}

/// The body as text: invalid UTF-8 shown as U+FFFD, and a character cut
/// in half by `max_response` left out.
fn body_text(body: &[u8], truncated: bool) -> String {
    let body = match std::str::from_utf8(body) {
        Err(e) if truncated && e.error_len().is_none() => &body[..e.valid_up_to()],
        _ => body,
    };
    String::from_utf8_lossy(body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn response(code: u16, body: &str) -> Response {
        Response {
            status: StatusCode::from_u16(code).unwrap(),
            version: reqwest::Version::HTTP_11,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            truncated: false,
            read_error: None,
        }
    }

    fn judge(response: &Response) -> JobOutcome {
        Rules {
            success: &StatusSet::success_default(),
            expect_body: None,
            retry_on: &RetryOn::default(),
            max_response: 100,
            now: chrono::Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
        }
        .judge(response)
    }

    fn retry_of(outcome: JobOutcome) -> (String, RetryDirective) {
        match outcome {
            JobOutcome::Failed { error, retry, .. } => (error, retry),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn statuses_follow_the_default_rules() {
        assert!(matches!(
            judge(&response(204, "")),
            JobOutcome::Succeeded { .. }
        ));
        let (error, retry) = retry_of(judge(&response(404, "no such\n  thing")));
        assert_eq!(error, "HTTP 404 Not Found: no such thing");
        assert_eq!(retry, RetryDirective::Never);
        assert_eq!(
            retry_of(judge(&response(502, ""))).1,
            RetryDirective::ByPolicy
        );
        assert_eq!(
            retry_of(judge(&response(408, ""))).1,
            RetryDirective::ByPolicy
        );
        assert_eq!(
            retry_of(judge(&response(502, ""))).0,
            "HTTP 502 Bad Gateway"
        );
        let (error, retry) = retry_of(judge(&response(302, "")));
        assert!(error.contains("follow_redirects = true"), "{error}");
        assert_eq!(retry, RetryDirective::Never);
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_capped() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
        let mut r = response(429, "slow down");
        r.headers.insert("retry-after", "120".parse().unwrap());
        assert_eq!(
            retry_of(judge(&r)).1,
            RetryDirective::After(Duration::from_secs(120))
        );
        r.headers.insert(
            "retry-after",
            "Mon, 02 Mar 2026 10:00:30 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&r.headers, now), Some(Duration::from_secs(30)));
        r.headers.insert("retry-after", "999999".parse().unwrap());
        assert_eq!(retry_after(&r.headers, now), Some(MAX_RETRY_AFTER));
        r.headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_of(judge(&r)).1, RetryDirective::ByPolicy);
    }

    #[test]
    fn status_lists_and_retry_words_parse_or_say_why_not() {
        let set = StatusSet::parse("success_codes", &json!([200, "3XX"])).unwrap();
        assert!(set.contains(200) && set.contains(301) && !set.contains(201));
        let e = StatusSet::parse("success_codes", &json!([700])).unwrap_err();
        assert_eq!(
            e,
            "`success_codes[0]`: 700 is not an HTTP status (100 to 599)"
        );
        let e = StatusSet::parse("success_codes", &json!(200)).unwrap_err();
        assert!(e.starts_with("`success_codes` must be a list"), "{e}");
        let on = RetryOn::parse(&json!(["5xx", "timeout"])).unwrap();
        assert!(on.timeout && !on.connection && on.statuses.contains(500));
        let e = RetryOn::parse(&json!(["conection"])).unwrap_err();
        assert!(e.contains("\"conection\" is neither a status"), "{e}");
    }

    #[test]
    fn the_record_keeps_the_status_line_headers_and_a_cut_body() {
        let mut r = response(200, "abcé");
        r.headers
            .insert("content-type", "text/plain".parse().unwrap());
        r.headers.insert("set-cookie", "secret".parse().unwrap());
        r.body.pop();
        r.truncated = true;
        let text = record(&r, 4);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\ncontent-type: text/plain\n\nabc\n\
             [body truncated: only the first 4 bytes (max_response) were read]"
        );
    }
}
