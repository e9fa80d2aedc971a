//! The `http` kind's settings: parsed from the job's JSON settings and
//! checked whole when the job is declared, so that a request that can
//! never be made is refused then, not at every fire.
//!
//! This module owns the keys, their types, defaults and limits. It reads
//! files only in [`HttpSettings::check_host`] (are `ca_file`,
//! `client_cert` and `client_key` readable PEM?), which declaration runs;
//! secrets are never read here (see `secret`).

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use reqwest::Method;
use reqwest::header::HeaderName;
use serde_json::{Map, Value};

pub use crate::jobs::settings_table::kind_of;
use crate::jobs::settings_table::settings_table;

use super::outcome::{RetryOn, StatusSet};
use super::secret::SecretSource;
use super::template::Template;

/// The keys an `http` job takes.
pub const KEYS: [&str; 16] = [
    "url",
    "method",
    "headers",
    "body",
    "auth",
    "sign",
    "request_timeout",
    "connect_timeout",
    "success_codes",
    "expect_body",
    "retry_on",
    "max_response",
    "follow_redirects",
    "ca_file",
    "client_cert",
    "client_key",
];

/// The wait for a whole response (headers and the kept body) per attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The wait for a connection (TCP and TLS) per attempt.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of the response body kept by default.
pub const DEFAULT_MAX_RESPONSE: usize = 64 * 1024;

/// The largest `max_response` a job may ask for.
pub const MAX_RESPONSE_LIMIT: usize = 1024 * 1024;

/// The methods a job may use.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Headers a job's `headers` may not set: cosched sets them itself, or
/// they carry a secret that belongs in `auth`.
const RESERVED_HEADERS: [(&str, &str); 10] = [
    ("user-agent", "cosched sends its own User-Agent"),
    (
        "idempotency-key",
        "cosched sends one stable across a fire's attempts",
    ),
    (
        "content-type",
        "it follows from `body` (give `content_type` with a text body)",
    ),
    ("content-length", "it follows from the body"),
    ("transfer-encoding", "it follows from the body"),
    ("host", "it follows from `url`"),
    ("connection", "the node manages its connections"),
    (
        "authorization",
        "use `auth`, whose secret comes from an env var or a file",
    ),
    (
        "proxy-authorization",
        "secrets are not written into settings",
    ),
    (
        "cookie",
        "secrets are not written into settings; use `auth` with a named header",
    ),
];

/// What a request carries as its body.
#[derive(Debug, Clone)]
pub enum Body {
    /// The fire's context as JSON, as a `command` job gets it on stdin.
    Context,
    /// No body.
    Empty,
    /// A JSON value; its strings are templates.
    Json(Value),
    /// Text with its content type; substitutions are JSON-escaped when
    /// the type is JSON.
    Text {
        text: Template,
        content_type: String,
    },
}

/// How the request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    Bearer(SecretSource),
    Basic {
        username: String,
        password: SecretSource,
    },
    Header {
        name: HeaderName,
        value: SecretSource,
    },
}

/// TLS files beyond the platform's roots. They select the node's client
/// for the job: jobs with the same files share one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsFiles {
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    /// The key of `client_cert`; its own file when the key is not in it.
    pub client_key: Option<PathBuf>,
}

/// An `http` job's settings, valid by construction.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub url: Template,
    pub method: Method,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Body,
    pub auth: Option<Auth>,
    pub sign: Option<SecretSource>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub success_codes: StatusSet,
    pub expect_body: Option<Regex>,
    pub retry_on: RetryOn,
    pub max_response: usize,
    pub follow_redirects: bool,
    pub tls: TlsFiles,
}

impl HttpSettings {
    /// Parses and checks the settings, without touching the filesystem.
    pub fn parse(settings: &Value) -> Result<HttpSettings, String> {
        let map = settings_table("http", &KEYS, settings)?;
        let url = parse_url(map)?;
        let method = parse_method(map)?;
        let sign = map.get("sign").map(parse_sign).transpose()?;
        let auth = map.get("auth").map(parse_auth).transpose()?;
        let headers = parse_headers(map, auth.as_ref(), sign.is_some())?;
        let body = parse_body(map, &method)?;
        let timeout = parse_duration(map, "request_timeout")?.unwrap_or(DEFAULT_TIMEOUT);
        let connect_timeout =
            parse_duration(map, "connect_timeout")?.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let success_codes = match map.get("success_codes") {
            None => StatusSet::success_default(),
            Some(v) => StatusSet::parse("success_codes", v)?,
        };
        let expect_body = match map.get("expect_body") {
            None => None,
            Some(Value::String(re)) => Some(
                Regex::new(re).map_err(|e| format!("`expect_body` is not a valid regex: {e}"))?,
            ),
            Some(other) => {
                return Err(format!(
                    "`expect_body` must be a regex (a string), not {}",
                    kind_of(other)
                ));
            }
        };
        let retry_on = match map.get("retry_on") {
            None => RetryOn::default(),
            Some(v) => RetryOn::parse(v)?,
        };
        let max_response = parse_max_response(map)?;
        let follow_redirects = match map.get("follow_redirects") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(format!(
                    "`follow_redirects` must be true or false, not {}",
                    kind_of(other)
                ));
            }
        };
        let tls = TlsFiles {
            ca_file: parse_path(map, "ca_file")?,
            client_cert: parse_path(map, "client_cert")?,
            client_key: parse_path(map, "client_key")?,
        };
        if tls.client_key.is_some() && tls.client_cert.is_none() {
            return Err("`client_key` is set without `client_cert`".to_string());
        }
        Ok(HttpSettings {
            url,
            method,
            headers,
            body,
            auth,
            sign,
            timeout,
            connect_timeout,
            success_codes,
            expect_body,
            retry_on,
            max_response,
            follow_redirects,
            tls,
        })
    }

    /// Checks what depends on the node: the TLS files are readable PEM.
    pub fn check_host(&self) -> Result<(), String> {
        super::transport::check_tls_files(&self.tls)
    }
}

fn string<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a str>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{key}` must be {what}, not {}", kind_of(other))),
    }
}

/// The URL: http or https, with templates only after the host, so that
/// the destination is known when the job is declared.
fn parse_url(map: &Map<String, Value>) -> Result<Template, String> {
    let Some(text) = string(map, "url", "a URL (a string)")? else {
        return Err("missing key `url`: expected e.g. \"https://example.com/hook\"".to_string());
    };
    let template = Template::parse(text).map_err(|e| format!("`url`: {e}"))?;
    let prefix = template.literal_prefix().to_ascii_lowercase();
    let Some(rest) = prefix
        .strip_prefix("https://")
        .or_else(|| prefix.strip_prefix("http://"))
    else {
        return Err(format!(
            "`url` = \"{text}\" must start with http:// or https://"
        ));
    };
    if !template.is_literal() && !rest.contains(['/', '?', '#']) {
        return Err(format!(
            "`url` = \"{text}\": templates may appear in the path, query or fragment, not in \
             the host or port (the destination must be known when the job is declared)"
        ));
    }
    let sample = template.render_sample("0");
    let parsed = reqwest::Url::parse(&sample)
        .map_err(|e| format!("`url` = \"{text}\" is not a URL: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`url` = \"{text}\" has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "`url` = \"{text}\" holds credentials: use `auth`, whose secret comes from an env \
             var or a file"
        ));
    }
    Ok(template)
}

fn parse_method(map: &Map<String, Value>) -> Result<Method, String> {
    let what = format!("one of {}", METHODS.join(", "));
    let Some(text) = string(map, "method", &what)? else {
        return Ok(Method::POST);
    };
    let upper = text.to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        return Err(format!("`method` = \"{text}\" must be {what}"));
    }
    Method::from_bytes(upper.as_bytes()).map_err(|e| format!("`method`: {e}"))
}

fn parse_headers(
    map: &Map<String, Value>,
    auth: Option<&Auth>,
    signed: bool,
) -> Result<Vec<(HeaderName, Template)>, String> {
    let table = match map.get("headers") {
        None => return Ok(Vec::new()),
        Some(Value::Object(table)) => table,
        Some(other) => {
            return Err(format!(
                "`headers` must be a table of header names to strings, not {}",
                kind_of(other)
            ));
        }
    };
    let mut headers = Vec::with_capacity(table.len());
    for (name, value) in table {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`headers`: `{name}` is not a valid header name"))?;
        let lower = header.as_str();
        if let Some((_, why)) = RESERVED_HEADERS.iter().find(|(h, _)| *h == lower) {
            return Err(format!("`headers.{name}` cannot be set: {why}"));
        }
        if lower.starts_with("x-cosched-") {
            return Err(format!(
                "`headers.{name}` cannot be set: cosched sends the X-Cosched-* headers itself"
            ));
        }
        if signed && lower.starts_with("webhook-") {
            return Err(format!(
                "`headers.{name}` cannot be set: `sign` sends the webhook-* headers"
            ));
        }
        if let Some(Auth::Header {
            name: auth_name, ..
        }) = auth
            && auth_name == header
        {
            return Err(format!("`headers.{name}` is also `auth`'s header"));
        }
        let Value::String(text) = value else {
            return Err(format!(
                "`headers.{name}` must be a string, not {}",
                kind_of(value)
            ));
        };
        let template = Template::parse(text).map_err(|e| format!("`headers.{name}`: {e}"))?;
        check_header_value(&format!("`headers.{name}`"), &template.render_sample("0"))?;
        headers.push((header, template));
    }
    Ok(headers)
}

/// A header value can carry no line break or NUL (it would end the
/// header, or split the request).
pub fn check_header_value(what: &str, value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(format!(
            "{what} contains a line break or NUL, which no header value can hold"
        ));
    }
    Ok(())
}

fn parse_body(map: &Map<String, Value>, method: &Method) -> Result<Body, String> {
    let expected = "\"context\" (the fire's context as JSON), \"none\", { json = <value> } or \
                    { text = \"...\", content_type = \"...\" }";
    let Some(value) = map.get("body") else {
        // A GET or DELETE carries no body unless asked: many servers
        // refuse one.
        return Ok(if *method == Method::GET || *method == Method::DELETE {
            Body::Empty
        } else {
            Body::Context
        });
    };
    match value {
        Value::String(s) if s == "context" => Ok(Body::Context),
        Value::String(s) if s == "none" => Ok(Body::Empty),
        Value::Object(table) if table.contains_key("json") => {
            if table.len() != 1 {
                return Err("`body` with `json` takes no other key".to_string());
            }
            let json = table.get("json").cloned().unwrap_or(Value::Null);
            check_json_templates(&json, "body.json")?;
            Ok(Body::Json(json))
        }
        Value::Object(table) if table.contains_key("text") => {
            for key in table.keys() {
                if key != "text" && key != "content_type" {
                    return Err(format!(
                        "`body.{key}` is unknown: a text body takes `text` and `content_type`"
                    ));
                }
            }
            let Some(Value::String(text)) = table.get("text") else {
                return Err("`body.text` must be a string".to_string());
            };
            let content_type = match table.get("content_type") {
                None => "text/plain; charset=utf-8".to_string(),
                Some(Value::String(ct)) if !ct.trim().is_empty() => {
                    check_header_value("`body.content_type`", ct)?;
                    ct.clone()
                }
                Some(other) => {
                    return Err(format!(
                        "`body.content_type` must be a media type such as \"text/csv\", not {}",
                        kind_of(other)
                    ));
                }
            };
            let text = Template::parse(text).map_err(|e| format!("`body.text`: {e}"))?;
            Ok(Body::Text { text, content_type })
        }
        other => Err(format!(
            "`body` must be {expected}, not {}",
            describe(other)
        )),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => kind_of(other).to_string(),
    }
}

/// Every string in a JSON body is a template: check each one.
fn check_json_templates(value: &Value, at: &str) -> Result<(), String> {
    match value {
        Value::String(s) => Template::parse(s)
            .map(|_| ())
            .map_err(|e| format!("`{at}`: {e}")),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_json_templates(v, &format!("{at}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| check_json_templates(v, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

fn parse_auth(value: &Value) -> Result<Auth, String> {
    let expected = "{ type = \"bearer\", token = {...} }, { type = \"basic\", username = \"...\", \
                    password = {...} } or { type = \"header\", name = \"...\", value = {...} }";
    let Value::Object(map) = value else {
        return Err(format!("`auth` must be {expected}, not {}", kind_of(value)));
    };
    let allowed: &[&str] = match map.get("type").and_then(Value::as_str) {
        Some("bearer") => &["type", "token"],
        Some("basic") => &["type", "username", "password"],
        Some("header") => &["type", "name", "value"],
        _ => {
            return Err(format!(
                "`auth.type` must be bearer, basic or header: `auth` is {expected}"
            ));
        }
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!(
                "`auth.{key}` is unknown here: this auth takes {}",
                allowed.join(", ")
            ));
        }
    }
    let secret = |key: &str| -> Result<SecretSource, String> {
        match map.get(key) {
            Some(v) => SecretSource::parse(&format!("auth.{key}"), v),
            None => Err(format!("`auth.{key}` is missing")),
        }
    };
    match map.get("type").and_then(Value::as_str) {
        Some("bearer") => Ok(Auth::Bearer(secret("token")?)),
        Some("basic") => {
            let username = match map.get("username") {
                Some(Value::String(u)) if !u.contains(':') => u.clone(),
                Some(Value::String(_)) => {
                    return Err("`auth.username` cannot contain `:`".to_string());
                }
                Some(other) => {
                    return Err(format!(
                        "`auth.username` must be a string, not {}",
                        kind_of(other)
                    ));
                }
                None => return Err("`auth.username` is missing".to_string()),
            };
            check_header_value("`auth.username`", &username)?;
            Ok(Auth::Basic {
                username,
                password: secret("password")?,
            })
        }
        _ => {
            let name = match map.get("name") {
                Some(Value::String(n)) => HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| format!("`auth.name`: `{n}` is not a valid header name"))?,
                _ => {
                    return Err(
                        "`auth.name` must be a header name such as \"X-Api-Key\"".to_string()
                    );
                }
            };
            let reserved = RESERVED_HEADERS
                .iter()
                .any(|(h, _)| *h == name.as_str() && *h != "authorization" && *h != "cookie");
            if reserved || name.as_str().starts_with("x-cosched-") {
                return Err(format!("`auth.name`: cosched sets `{name}` itself"));
            }
            Ok(Auth::Header {
                name,
                value: secret("value")?,
            })
        }
    }
}

fn parse_sign(value: &Value) -> Result<SecretSource, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "`sign` must be {{ secret = {{ env = \"NAME\" }} }} (or a file), not {}",
            kind_of(value)
        ));
    };
    for key in map.keys() {
        if key != "secret" {
            return Err(format!("`sign.{key}` is unknown: `sign` takes `secret`"));
        }
    }
    match map.get("secret") {
        Some(v) => SecretSource::parse("sign.secret", v),
        None => Err("`sign.secret` is missing".to_string()),
    }
}

fn parse_duration(map: &Map<String, Value>, key: &str) -> Result<Option<Duration>, String> {
    let what = "a duration such as \"30s\" or \"500ms\"";
    let Some(text) = string(map, key, what)? else {
        return Ok(None);
    };
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(Some(d)),
        Ok(_) => Err(format!("`{key}` must be longer than zero")),
        Err(e) => Err(format!("`{key}` = \"{text}\" is not {what} ({e})")),
    }
}

fn parse_max_response(map: &Map<String, Value>) -> Result<usize, String> {
    let expected = format!("a number of bytes from 0 to {MAX_RESPONSE_LIMIT} (1 MiB)");
    match map.get("max_response") {
        None => Ok(DEFAULT_MAX_RESPONSE),
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n <= MAX_RESPONSE_LIMIT => Ok(n),
            _ => Err(format!("`max_response` must be {expected}, not {n}")),
        },
        Some(other) => Err(format!(
            "`max_response` must be {expected}, not {}",
            kind_of(other)
        )),
    }
}

fn parse_path(map: &Map<String, Value>, key: &str) -> Result<Option<PathBuf>, String> {
    match string(map, key, "a file path (a string)")? {
        None => Ok(None),
        Some(p) if p.is_empty() || p.contains('\0') => Err(format!("`{key}` must be a file path")),
        Some(p) => Ok(Some(PathBuf::from(p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(settings: Value) -> String {
        HttpSettings::parse(&settings).unwrap_err()
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let s = HttpSettings::parse(&json!({"url": "http://127.0.0.1/x"})).unwrap();
        assert_eq!(s.method, Method::POST);
        assert!(matches!(s.body, Body::Context));
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(s.max_response, DEFAULT_MAX_RESPONSE);
        assert!(!s.follow_redirects);
        let get = HttpSettings::parse(&json!({"url": "http://h/", "method": "get"})).unwrap();
        assert_eq!(get.method, Method::GET);
        assert!(matches!(get.body, Body::Empty));
    }

    #[test]
    fn urls_must_be_http_with_a_known_host() {
        let e = refused(json!({"url": "ftp://h/x"}));
        assert_eq!(
            e,
            "`url` = \"ftp://h/x\" must start with http:// or https://"
        );
        let e = refused(json!({"url": "http://{{data.host}}/x"}));
        assert!(e.contains("not in the host or port"), "{e}");
        let e = refused(json!({"url": "http://h/{{job}/x"}));
        assert!(e.contains("never closed"), "{e}");
        let e = refused(json!({"url": "http://h/{{nope}}"}));
        assert!(
            e.starts_with("`url`: unknown template variable `{{nope}}`"),
            "{e}"
        );
        let e = refused(json!({"url": "http://u:p@h/"}));
        assert!(e.contains("holds credentials"), "{e}");
        let e = refused(json!({"url": "http://h:99999/"}));
        assert!(e.contains("is not a URL"), "{e}");
        assert!(
            HttpSettings::parse(&json!({"url": "https://h/r/{{data.id}}?at={{scheduled_at}}"}))
                .is_ok()
        );
    }

    #[test]
    fn bad_keys_and_values_say_what_was_expected() {
        let e = refused(json!({"url": "http://h/", "methd": "GET"}));
        assert!(
            e.contains("unknown field `methd` (did you mean `method`?)"),
            "{e}"
        );
        let e = refused(json!({"url": "http://h/", "method": "TRACE"}));
        assert_eq!(
            e,
            "`method` = \"TRACE\" must be one of GET, POST, PUT, PATCH, DELETE"
        );
        let e = refused(json!({"url": "http://h/", "request_timeout": "soon"}));
        assert!(
            e.starts_with("`request_timeout` = \"soon\" is not a duration"),
            "{e}"
        );
        let e = refused(json!({"url": "http://h/", "max_response": 2_000_000}));
        assert!(
            e.starts_with("`max_response` must be a number of bytes"),
            "{e}"
        );
        let e = refused(json!({"url": "http://h/", "expect_body": "("}));
        assert!(e.starts_with("`expect_body` is not a valid regex"), "{e}");
        let e = refused(json!({"url": "http://h/", "body": "hello"}));
        assert!(e.starts_with("`body` must be \"context\""), "{e}");
        assert!(e.ends_with("not \"hello\""), "{e}");
        let e = refused(json!({"url": "http://h/", "body": {"json": {"a": ["{{bad}}"]}}}));
        assert!(
            e.starts_with("`body.json.a[0]`: unknown template variable"),
            "{e}"
        );
    }

    #[test]
    fn headers_cannot_carry_secrets_or_what_cosched_sets() {
        let e = refused(json!({"url": "http://h/", "headers": {"Authorization": "Bearer x"}}));
        assert!(
            e.starts_with("`headers.Authorization` cannot be set: use `auth`"),
            "{e}"
        );
        let e = refused(json!({"url": "http://h/", "headers": {"X-Cosched-Job": "x"}}));
        assert!(e.contains("X-Cosched-* headers itself"), "{e}");
        let e = refused(json!({"url": "http://h/", "headers": {"A": "x\ny"}}));
        assert!(e.contains("line break"), "{e}");
        let e = refused(json!({"url": "http://h/", "headers": {"A B": "x"}}));
        assert!(e.contains("not a valid header name"), "{e}");
        assert!(
            HttpSettings::parse(&json!({"url": "http://h/", "headers": {"X-Run": "{{fire_id}}"}}))
                .is_ok()
        );
    }

    #[test]
    fn auth_takes_secrets_by_reference_only() {
        for ok in [
            json!({"type": "bearer", "token": {"env": "T"}}),
            json!({"type": "basic", "username": "u", "password": {"file": "/p"}}),
            json!({"type": "header", "name": "X-Api-Key", "value": {"env": "K"}}),
        ] {
            assert!(HttpSettings::parse(&json!({"url": "http://h/", "auth": ok})).is_ok());
        }
        let e = refused(json!({"url": "http://h/", "auth": {"type": "bearer", "token": "abc"}}));
        assert!(
            e.starts_with("`auth.token` must be { env = \"NAME\" }"),
            "{e}"
        );
        let e = refused(json!({"url": "http://h/", "auth": {"type": "digest"}}));
        assert!(
            e.starts_with("`auth.type` must be bearer, basic or header"),
            "{e}"
        );
        let e = refused(json!({"url": "http://h/", "sign": {"secret": "abc"}}));
        assert!(e.starts_with("`sign.secret` must be"), "{e}");
    }
}
