//! The `[http]` table: where the HTTP API listens, who may call it (tokens
//! and their roles), and the bounds on its connections.
//!
//! `listen = "127.0.0.1:8080"` serves the HTTP JSON API and `/metrics`
//! from `cosched serve` (see [`crate::http`]); without it, no port is
//! opened. The address is an IP and a port (port 0: any free port).
//!
//! `tokens = [{ name, role, hash | env | file }]` (roles `read`,
//! `operate`, `admin`; exactly one source of the secret, never the secret
//! itself); without tokens `listen` must be a loopback address unless
//! `allow_unauthenticated = true`. `metrics_public`, `api_command_jobs`,
//! `hosts`, and the connection bounds `max_connections`, `header_timeout`,
//! `idle_timeout`, `request_timeout` (see [`crate::http::limits`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::spans::Checker;
use crate::declare::{hint, ranges};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    listen: Option<Spanned<String>>,
    tokens: Option<Vec<Spanned<RawToken>>>,
    allow_unauthenticated: Option<Spanned<bool>>,
    metrics_public: Option<bool>,
    api_command_jobs: Option<bool>,
    hosts: Option<Vec<Spanned<String>>>,
    max_connections: Option<Spanned<i64>>,
    header_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    request_timeout: Option<Spanned<String>>,
}

/// An entry of `[http] tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: Spanned<String>,
    role: Spanned<String>,
    hash: Option<Spanned<String>>,
    env: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    /// Never valid: named so that its error can say what to write instead.
    secret: Option<Spanned<toml::Value>>,
}

pub use crate::http::HttpSettings;

pub(super) fn http_settings(c: &mut Checker<'_>, raw: Option<&RawHttp>) -> HttpSettings {
    use crate::http::guard::HostEntry;

    let listen = raw.and_then(|r| r.listen.as_ref()).and_then(|l| {
        let text = l.get_ref().trim();
        match text.parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                let hint = match text.rsplit_once(':') {
                    Some(("localhost", port)) => format!("; did you mean \"127.0.0.1:{port}\"?"),
                    _ => String::new(),
                };
                c.at(
                    l.span(),
                    format!("`listen` = \"{text}\" is not an address: expected an IP and a port such as \"127.0.0.1:8080\" or \"[::1]:8080\"{hint}"),
                );
                None
            }
        }
    });
    let mut settings = HttpSettings {
        listen,
        ..HttpSettings::default()
    };
    let Some(raw) = raw else { return settings };
    settings.tokens = http_tokens(c, raw.tokens.as_deref().unwrap_or_default());
    settings.allow_unauthenticated = raw
        .allow_unauthenticated
        .as_ref()
        .is_some_and(|a| *a.get_ref());
    settings.metrics_public = raw.metrics_public.unwrap_or(false);
    settings.api_command_jobs = raw.api_command_jobs.unwrap_or(false);
    if let (Some(a), false) = (&raw.allow_unauthenticated, settings.tokens.is_empty())
        && *a.get_ref()
    {
        c.at(
            a.span(),
            "`allow_unauthenticated = true` has no effect once `tokens` are configured (every \
             route then needs a token): remove it",
        );
    }
    if let (Some(l), Some(addr)) = (&raw.listen, listen) {
        let has_tokens =
            !settings.tokens.is_empty() || raw.tokens.as_ref().is_some_and(|t| !t.is_empty());
        if let Some(problem) =
            crate::http::auth::exposure_problem(addr, has_tokens, settings.allow_unauthenticated)
        {
            c.at(l.span(), problem);
        }
    }
    for h in raw.hosts.iter().flatten() {
        match HostEntry::parse(h.get_ref()) {
            Ok(entry) => settings.hosts.push(entry),
            Err(e) => c.at(h.span(), format!("`hosts`: {e}")),
        }
    }
    settings.limits = conn_limits(c, raw);
    settings
}

/// The connection bounds of the table, each checked against its range.
fn conn_limits(c: &mut Checker<'_>, raw: &RawHttp) -> crate::http::limits::ConnLimits {
    use crate::http::limits as bounds;

    let mut limits = bounds::ConnLimits::default();
    if let Some(m) = &raw.max_connections {
        match usize::try_from(*m.get_ref()) {
            Ok(n) if bounds::MAX_CONNECTIONS_RANGE.contains(&n) => limits.max_connections = n,
            _ => c.at(
                m.span(),
                format!(
                    "`max_connections` must be a whole number from {} to {}",
                    bounds::MAX_CONNECTIONS_RANGE.start(),
                    bounds::MAX_CONNECTIONS_RANGE.end()
                ),
            ),
        }
    }
    let bounded = [
        (
            &raw.header_timeout,
            "header_timeout",
            bounds::HEADER_TIMEOUT_RANGE,
        ),
        (
            &raw.idle_timeout,
            "idle_timeout",
            bounds::IDLE_TIMEOUT_RANGE,
        ),
        (
            &raw.request_timeout,
            "request_timeout",
            bounds::REQUEST_TIMEOUT_RANGE,
        ),
    ];
    for (value, key, range) in bounded {
        let Some(d) = duration(c, value, key) else {
            continue;
        };
        if !range.contains(&d) {
            let span = value.as_ref().map(|v| v.span()).unwrap_or(0..0);
            c.at(
                span,
                format!(
                    "`{key}` must be from {} to {}",
                    humantime::format_duration(*range.start()),
                    humantime::format_duration(*range.end())
                ),
            );
            continue;
        }
        match key {
            "header_timeout" => limits.header_timeout = d,
            "idle_timeout" => limits.idle_timeout = d,
            _ => limits.request_timeout = d,
        }
    }
    limits
}

/// Validates `[http] tokens`: names unique and non-empty, a known role,
/// exactly one of `hash`, `env`, `file`, a well-formed hash.
fn http_tokens(
    c: &mut Checker<'_>,
    raw: &[Spanned<RawToken>],
) -> Vec<crate::http::tokens::TokenSpec> {
    use crate::http::tokens::{Place, Role, TokenSpec};

    let mut specs = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for entry in raw {
        let t = entry.get_ref();
        let name = t.name.get_ref().trim();
        let (line, column) = c.position(entry.span().start);
        if name.is_empty() {
            c.at(t.name.span(), "a token's `name` must not be empty");
            continue;
        }
        if let Some(first) = names.get(name) {
            c.at(
                t.name.span(),
                format!("duplicate token name `{name}`: already declared at line {first}; token names must be unique"),
            );
            continue;
        }
        names.insert(name.to_string(), line);
        if let Some(s) = &t.secret {
            c.at(
                s.span(),
                format!("token `{name}`: a secret is never written in the file; give `hash = \"sha256:...\"` (`cosched token new` prints one), `env = \"VARIABLE\"` or `file = \"/path\"`"),
            );
            continue;
        }
        let role = match Role::parse(t.role.get_ref()) {
            Some(r) => Some(r),
            None => {
                let hint = hint::nearest(t.role.get_ref(), Role::ALL.map(Role::as_str))
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                c.at(
                    t.role.span(),
                    format!(
                        "token `{name}`: unknown role `{}`: {hint}expected read, operate or admin",
                        t.role.get_ref()
                    ),
                );
                None
            }
        };
        let source = token_source(c, entry, name);
        if let (Some(role), Some(source)) = (role, source) {
            specs.push(TokenSpec {
                name: name.to_string(),
                role,
                source,
                place: Place {
                    file: c.file.clone(),
                    line,
                    column,
                },
            });
        }
    }
    specs
}

/// Where a token's secret comes from: exactly one of `hash`, `env`, `file`.
fn token_source(
    c: &mut Checker<'_>,
    entry: &Spanned<RawToken>,
    name: &str,
) -> Option<crate::http::tokens::TokenSource> {
    use crate::http::tokens::{TokenDigest, TokenSource};

    let t = entry.get_ref();
    let given: Vec<&str> = [
        t.hash.as_ref().map(|_| "hash"),
        t.env.as_ref().map(|_| "env"),
        t.file.as_ref().map(|_| "file"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match (given.as_slice(), &t.hash, &t.env, &t.file) {
        (["hash"], Some(h), _, _) => match TokenDigest::parse(h.get_ref().trim()) {
            Ok(d) => Some(TokenSource::Hash(d)),
            Err(e) => {
                c.at(h.span(), format!("token `{name}`: `hash` = \"{}\" is malformed: {e} (`cosched token new` prints one)", h.get_ref()));
                None
            }
        },
        (["env"], _, Some(v), _) => {
            let var = v.get_ref().trim();
            let valid = !var.is_empty()
                && !var.starts_with(|ch: char| ch.is_ascii_digit())
                && var
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if valid {
                Some(TokenSource::Env(var.to_string()))
            } else {
                c.at(v.span(), format!("token `{name}`: `env` = \"{var}\" is not an environment variable name: expected letters, digits and `_`, e.g. \"COSCHED_DEPLOY_TOKEN\""));
                None
            }
        }
        (["file"], _, _, Some(f)) => {
            if f.get_ref().trim().is_empty() {
                c.at(f.span(), format!("token `{name}`: `file` must be a path"));
                None
            } else {
                Some(TokenSource::File(PathBuf::from(f.get_ref().trim())))
            }
        }
        ([], ..) => {
            c.at(
                entry.span(),
                format!("token `{name}` has no secret: give exactly one of `hash = \"sha256:...\"`, `env = \"VARIABLE\"` or `file = \"/path\"`"),
            );
            None
        }
        (many, ..) => {
            c.at(
                entry.span(),
                format!(
                    "token `{name}` gives {}: give exactly one of `hash`, `env` or `file`",
                    many.join(" and ")
                ),
            );
            None
        }
    }
}

/// A duration key of the table, parsed (its range is checked by the caller).
fn duration(c: &mut Checker<'_>, v: &Option<Spanned<String>>, key: &str) -> Option<Duration> {
    let v = v.as_ref()?;
    c.check(v.span(), ranges::duration(v.get_ref(), key, ranges::DELAY))
}
