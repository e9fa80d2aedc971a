//! `http`: each fire sends one HTTP request and judges the response.
//!
//! Settings (see `settings` for every key, default and limit): `url`
//! (http or https), `method` (GET, POST, PUT, PATCH, DELETE; default
//! POST), `headers`, `body`, `auth`, `sign`, `timeout`, `connect_timeout`,
//! `success_codes`, `expect_body`, `retry_on`, `max_response`,
//! `follow_redirects`, `ca_file`, `client_cert`, `client_key`.
//!
//! - **Request.** `url`, header values and bodies are templates (see
//!   `template`): substitutions are percent-encoded in the URL and
//!   JSON-escaped in JSON. The body defaults to the fire's context as
//!   JSON, exactly what a `command` job reads on stdin (none for GET and
//!   DELETE). Every request carries `User-Agent: cosched/<version>`,
//!   `Idempotency-Key`, `X-Cosched-Job`, `X-Cosched-Fire-Id`,
//!   `X-Cosched-Scheduled-At` and `X-Cosched-Attempt`.
//! - **Idempotency key.** `cosched-<trigger id>-<scheduled instant in UTC
//!   ms>`: every attempt of one fire (each attempt is its own fire row,
//!   with its own id) has the same trigger and scheduled instant, so the
//!   key is the same on every retry, and differs between fires. A fire
//!   whose trigger was deleted has only its own id: `cosched-fire-<id>`.
//! - **Secrets** (`auth`, `sign`) come from an environment variable or a
//!   file on the node, read at each fire; a missing one fails the fire
//!   naming it, with no retry.
//! - **Outcome** (see `outcome`): success codes, `expect_body`,
//!   `retry_on` and `Retry-After`; the record keeps the status line, a
//!   few headers and the head of the body.
//! - **Cancellation.** The request lives in the `run` future: when the
//!   executor drops it (the job's `timeout`, cancel, shutdown) the
//!   connection is closed and nothing is left running.
//! - **Destinations** of API-created jobs are checked by
//!   [`check_destination`], their secrets and redirects by
//!   [`ApiHttpPolicy`] (config-file jobs are trusted).

mod api_policy;
mod destination;
mod outcome;
mod secret;
mod settings;
mod sign;
mod template;
mod transport;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::{FireContext, JobKind, JobOutcome, RetryDirective};
use crate::clock::{Clock, SystemClock};
use outcome::{Response, Rules};
use settings::{Auth, Body, HttpSettings};
use template::Escape;
use transport::{Clients, Profile};

pub use api_policy::{ApiHttpPolicy, PolicyIssue};
pub use destination::{HttpAllow, check_destination};
pub use outcome::{MAX_RETRY_AFTER, RECORDED_HEADERS};
pub use settings::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE, DEFAULT_TIMEOUT, KEYS, MAX_RESPONSE_LIMIT,
    METHODS,
};
pub use transport::MAX_REDIRECTS;

/// The kind's name, as jobs declare it.
pub const KIND: &str = "http";

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("cosched/", env!("CARGO_PKG_VERSION"));

/// The `http` kind. It holds the node's HTTP clients, so one instance
/// serves every fire of the node (the registry's).
#[derive(Debug)]
pub struct HttpJob {
    clients: Clients,
    /// The instant a request is signed at (`webhook-timestamp`) and
    /// `Retry-After` dates are measured from.
    clock: Arc<dyn Clock>,
}

impl Default for HttpJob {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

impl HttpJob {
    pub fn new() -> Self {
        Self::default()
    }

    /// An `http` kind that reads time from `clock` (tests, or a node
    /// whose clock is corrected).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        HttpJob {
            clients: Clients::default(),
            clock,
        }
    }
}

/// The `Idempotency-Key` of every attempt of `fire` (see the module doc).
pub fn idempotency_key(fire: &FireContext) -> String {
    match fire.trigger_id {
        Some(trigger) => format!("cosched-{trigger}-{}", fire.scheduled_at.timestamp_millis()),
        None => format!("cosched-fire-{}", fire.fire_id),
    }
}

/// A failure before any response: the fire's own setup, no retry.
fn refused(error: String) -> JobOutcome {
    JobOutcome::Failed {
        error,
        output: None,
        retry: RetryDirective::Never,
    }
}

#[async_trait]
impl JobKind for HttpJob {
    fn name(&self) -> &'static str {
        KIND
    }

    fn validate(&self, settings: &Value) -> Result<(), String> {
        HttpSettings::parse(settings)?.check_host()
    }

    async fn run(&self, fire: &FireContext, settings: &Value) -> JobOutcome {
        let settings = match HttpSettings::parse(settings) {
            Ok(s) => s,
            Err(error) => return refused(error),
        };
        let request = match self.prepare(fire, &settings) {
            Ok(r) => r,
            Err(error) => return refused(error),
        };
        let attempt = tokio::time::timeout(settings.timeout, fetch(request, settings.max_response));
        match attempt.await {
            Err(_) => JobOutcome::Failed {
                error: format!(
                    "no response within {} (the http kind's `request_timeout`)",
                    humantime::format_duration(settings.timeout)
                ),
                output: None,
                retry: outcome::directive(settings.retry_on.timeout),
            },
            Ok(Err(failure)) => JobOutcome::Failed {
                retry: outcome::directive(if failure.timed_out {
                    settings.retry_on.timeout
                } else {
                    settings.retry_on.connection
                }),
                error: failure.error,
                output: None,
            },
            Ok(Ok(response)) => Rules {
                success: &settings.success_codes,
                expect_body: settings.expect_body.as_ref(),
                retry_on: &settings.retry_on,
                max_response: settings.max_response,
                now: self.clock.now(),
            }
            .judge(&response),
        }
    }
}

impl HttpJob {
    /// The request of this attempt, with its secrets read and signed.
    fn prepare(
        &self,
        fire: &FireContext,
        settings: &HttpSettings,
    ) -> Result<reqwest::RequestBuilder, String> {
        let url = settings.url.render(fire, Escape::Url)?;
        let url = reqwest::Url::parse(&url)
            .map_err(|e| format!("`url` renders as {url}, which is not a URL: {e}"))?;
        let key = idempotency_key(fire);
        let (body, content_type) = body_of(fire, &settings.body)?;
        let mut headers = HeaderMap::new();
        let mut set = |name: &str, value: &str| -> Result<(), String> {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a header name"))?;
            headers.insert(name, header_value(value)?);
            Ok(())
        };
        set("user-agent", USER_AGENT)?;
        set("idempotency-key", &key)?;
        set("x-cosched-job", &fire.job)?;
        set("x-cosched-fire-id", &fire.fire_id.to_string())?;
        set("x-cosched-scheduled-at", &fire.scheduled_at.to_rfc3339())?;
        set("x-cosched-attempt", &fire.attempt.to_string())?;
        if let Some(content_type) = &content_type {
            set("content-type", content_type)?;
        }
        for (name, value) in &settings.headers {
            let value = value
                .render(fire, Escape::Raw)
                .map_err(|e| format!("`headers.{name}`: {e}"))?;
            settings::check_header_value(&format!("`headers.{name}`"), &value)?;
            headers.insert(name.clone(), header_value(&value)?);
        }
        match &settings.auth {
            None => {}
            Some(Auth::Bearer(token)) => {
                let token = token.read("auth.token")?;
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    secret_header(&format!("Bearer {token}"), "auth.token")?,
                );
            }
            Some(Auth::Basic { username, password }) => {
                let password = password.read("auth.password")?;
                let pair = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    secret_header(&format!("Basic {pair}"), "auth.password")?,
                );
            }
            Some(Auth::Header { name, value }) => {
                let value = value.read("auth.value")?;
                headers.insert(name.clone(), secret_header(&value, "auth.value")?);
            }
        }
        if let Some(secret) = &settings.sign {
            let key_bytes = sign::key_of(&secret.read("sign.secret")?)?;
            let signed = sign::sign(&key_bytes, &key, self.clock.now().timestamp(), &body)?;
            headers.insert("webhook-id", header_value(&signed.id)?);
            headers.insert(
                "webhook-timestamp",
                header_value(&signed.timestamp.to_string())?,
            );
            headers.insert("webhook-signature", header_value(&signed.signature)?);
        }
        let client = self.clients.get(&Profile {
            tls: settings.tls.clone(),
            follow_redirects: settings.follow_redirects,
            connect_timeout: settings.connect_timeout,
        })?;
        let mut request = client
            .request(settings.method.clone(), url)
            .headers(headers);
        if content_type.is_some() {
            request = request.body(body);
        }
        Ok(request)
    }
}

/// The body's bytes and content type (none: no body).
fn body_of(fire: &FireContext, body: &Body) -> Result<(Vec<u8>, Option<String>), String> {
    const JSON: &str = "application/json";
    Ok(match body {
        Body::Empty => (Vec::new(), None),
        Body::Context => (
            serde_json::to_vec(fire)
                .map_err(|e| format!("cannot encode the fire's context: {e}"))?,
            Some(JSON.to_string()),
        ),
        Body::Json(value) => (
            serde_json::to_vec(&render_json(value, fire)?)
                .map_err(|e| format!("cannot encode `body.json`: {e}"))?,
            Some(JSON.to_string()),
        ),
        Body::Text { text, content_type } => {
            let escape = if is_json(content_type) {
                Escape::Json
            } else {
                Escape::Raw
            };
            (
                text.render(fire, escape)
                    .map_err(|e| format!("`body.text`: {e}"))?
                    .into_bytes(),
                Some(content_type.clone()),
            )
        }
    })
}

/// `application/json` or a `+json` type, whatever its parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// A JSON body with each string rendered; serialising it escapes them.
fn render_json(value: &Value, fire: &FireContext) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(
            template::Template::parse(s)
                .and_then(|t| t.render(fire, Escape::Raw))
                .map_err(|e| format!("`body.json`: {e}"))?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json(v, fire))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, fire)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// A header value: visible text as is, anything else percent-encoded
/// (a job name in another script still reaches the receiver, readable).
fn header_value(text: &str) -> Result<HeaderValue, String> {
    if let Ok(value) = HeaderValue::from_str(text)
        && text.is_ascii()
    {
        return Ok(value);
    }
    let encoded = percent_encoding::utf8_percent_encode(text, percent_encoding::CONTROLS)
        .to_string()
        .replace(|c: char| !c.is_ascii(), "");
    HeaderValue::from_str(&encoded).map_err(|e| format!("`{text}` cannot be a header value: {e}"))
}

/// A header value holding a secret: never echoed in the error, and
/// marked sensitive so it is left out of debug output.
fn secret_header(text: &str, key: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        format!("`{key}`: the secret holds a line break or another byte no header can carry")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A request that got no response.
struct Failure {
    error: String,
    timed_out: bool,
}

/// Sends the request and reads at most `max_response` bytes of the body.
async fn fetch(request: reqwest::RequestBuilder, max_response: usize) -> Result<Response, Failure> {
    let mut response = request.send().await.map_err(|e| Failure {
        timed_out: e.is_timeout(),
        error: describe(&e),
    })?;
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    let mut truncated = false;
    let mut read_error = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = max_response - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    // The rest is not read: dropping the response closes
                    // the connection.
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                read_error = Some(describe(&e));
                break;
            }
        }
    }
    Ok(Response {
        status,
        version,
        headers,
        body,
        truncated,
        read_error,
    })
}

/// A transport error with its causes, e.g. `cannot connect to
/// http://127.0.0.1:9/: tcp connect error: Connection refused (os error
/// 111)`.
fn describe(e: &reqwest::Error) -> String {
    let url = e
        .url()
        .map(|u| {
            let mut u = u.clone();
            u.set_query(None);
            u.to_string()
        })
        .unwrap_or_default();
    let what = if e.is_connect() {
        format!("cannot connect to {url}")
    } else if e.is_redirect() {
        format!("redirect from {url} not followed")
    } else {
        format!("request to {url} failed")
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if causes.last() != Some(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        format!("{what}: {e}")
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}
