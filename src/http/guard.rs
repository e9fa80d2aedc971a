//! Browser defences, checked before anything else of a request:
//!
//! - the `Host` header must name this API (its listen address, or an entry
//!   of `[http] hosts`), so a page whose domain was re-pointed at this
//!   machine (DNS rebinding) is refused with 421;
//! - a present `Origin` must be the API's own origin (`http://` or
//!   `https://` and the request's host), so no page of another site can
//!   use the answers or the effects of a request: 403;
//! - every POST, PUT and DELETE must be sent as
//!   `Content-Type: application/json`, even with no body, which a browser
//!   will not do across origins without asking first (and this API never
//!   says yes): 415. The dashboard's forms (a POST under `/ui/`) are
//!   sent as forms instead, and must prove their origin
//!   ([`super::ui::csrf`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// An entry of `[http] hosts`: a name (or IP) with an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Lower case, IPv6 in brackets as in a `Host` header.
    pub host: String,
    /// None: any port (or none, behind a proxy on the default port).
    pub port: Option<u16>,
}

impl HostEntry {
    /// Parses `name`, `name:port`, `10.0.0.5:8080` or `[::1]:8080`.
    pub fn parse(text: &str) -> Result<HostEntry, String> {
        let text = text.trim();
        if text.is_empty() || text.contains(['/', '@', ' ', '*']) {
            return Err(format!(
                "`{text}` is not a host: expected a name or address with an optional port, \
                 such as \"cosched.example.com\" or \"10.0.0.5:8080\" (no scheme, no path)"
            ));
        }
        let (host, port) = split_host(text).ok_or_else(|| {
            format!("`{text}` is not a host: expected e.g. \"cosched.example.com:8080\"")
        })?;
        Ok(HostEntry { host, port })
    }

    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && (self.port.is_none() || self.port == port)
    }
}

/// Splits `host[:port]` (IPv6 in brackets); the host in lower case.
fn split_host(text: &str) -> Option<(String, Option<u16>)> {
    let authority: axum::http::uri::Authority = text.parse().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    let after_host = authority
        .as_str()
        .rsplit_once(']')
        .map_or(authority.as_str(), |(_, rest)| rest);
    let port = authority.port_u16();
    // `name:` or `name:99999` is a malformed port, not "any port".
    if host.is_empty() || (after_host.contains(':') && port.is_none()) {
        return None;
    }
    Some((host, port))
}

/// Which IP addresses the listen address answers for.
#[derive(Debug, Clone, Copy)]
enum ListenIps {
    /// A loopback address: any loopback address, and `localhost`.
    Loopback,
    /// One address.
    Exact(IpAddr),
    /// `0.0.0.0` or `::`: any address of this machine, and `localhost`.
    Any,
}

/// The `Host` values this API answers to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    port: u16,
    ips: ListenIps,
    names: Vec<HostEntry>,
}

impl AllowedHosts {
    /// For the address actually bound, and the `[http] hosts` entries.
    pub fn new(bound: SocketAddr, names: Vec<HostEntry>) -> AllowedHosts {
        let ip = bound.ip();
        let ips = if ip.is_loopback() {
            ListenIps::Loopback
        } else if ip.is_unspecified() {
            ListenIps::Any
        } else {
            ListenIps::Exact(ip)
        };
        AllowedHosts {
            port: bound.port(),
            ips,
            names,
        }
    }

    /// Whether a `Host` header value names this API. An IP literal names
    /// no other site, so it cannot be a rebinding; a name must be
    /// `localhost` on a loopback or wildcard listen, or listed in `hosts`.
    pub fn allows(&self, value: &str) -> bool {
        let Some((host, port)) = split_host(value) else {
            return false;
        };
        if self.names.iter().any(|e| e.matches(&host, port)) {
            return true;
        }
        if port != Some(self.port) {
            return false;
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match (literal.parse::<IpAddr>(), self.ips) {
            (Ok(ip), ListenIps::Loopback) => ip.is_loopback(),
            (Ok(ip), ListenIps::Exact(bound)) => ip == bound,
            (Ok(_), ListenIps::Any) => true,
            (Err(_), ListenIps::Loopback | ListenIps::Any) => host == "localhost",
            (Err(_), ListenIps::Exact(_)) => false,
        }
    }
}

/// The checks of this module, as middleware over every request.
pub(crate) async fn browser_defences(
    State(hosts): State<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Response {
    match check(&hosts, req.method(), req.uri().path(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn check(
    hosts: &AllowedHosts,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "the request has no Host header",
                "send HTTP/1.1 with `Host: ADDRESS:PORT`, as curl does",
            )
        })?;
    if !hosts.allows(host) {
        return Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!("this API does not answer to the host `{host}`"),
            "address it by its listen address (for a loopback listen: 127.0.0.1:PORT, \
             localhost:PORT or [::1]:PORT), or add the name to `[http] hosts`",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = origin.to_str().ok().is_some_and(|o| is_own_origin(o, host));
        if !own {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "requests from the origin {} are refused",
                    String::from_utf8_lossy(origin.as_bytes())
                ),
                "the API answers only its own origin; call it from a server or the command line, \
                 not from another site's page",
            ));
        }
    }
    if *method == Method::POST && path.starts_with("/ui/") {
        // The dashboard's forms: their own, stricter check.
        return super::ui::csrf::same_origin(headers, host);
    }
    let changes_state = matches!(*method, Method::POST | Method::PUT | Method::DELETE);
    if changes_state && !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("a {method} must be sent as `Content-Type: application/json`"),
            "send it as JSON, even with no body (curl: -H 'Content-Type: application/json', \
             or --json '{...}')",
        ));
    }
    Ok(())
}

/// `Content-Type: application/json`, with or without parameters.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// `http://HOST` or `https://HOST` for the request's own (checked) host.
fn is_own_origin(origin: &str, host: &str) -> bool {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    rest.is_some_and(|r| r.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn a_loopback_listen_answers_its_loopback_names_only() {
        let h = AllowedHosts::new(addr("127.0.0.1:8080"), Vec::new());
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1:8081",
            "127.0.0.1",
            "evil.example:8080",
            "localhost",
            "10.0.0.1:8080",
            "",
            "user@127.0.0.1:8080",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
    }

    #[test]
    fn named_hosts_and_exact_addresses() {
        let names = vec![
            HostEntry::parse("Cosched.Example.com").expect("valid"),
            HostEntry::parse("ops.example.com:9000").expect("valid"),
        ];
        let h = AllowedHosts::new(addr("10.0.0.5:8080"), names);
        for ok in [
            "10.0.0.5:8080",
            "cosched.example.com",
            "cosched.example.com:443",
            "ops.example.com:9000",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in ["ops.example.com:9001", "10.0.0.6:8080", "localhost:8080"] {
            assert!(!h.allows(bad), "{bad}");
        }
        let any = AllowedHosts::new(addr("0.0.0.0:8080"), Vec::new());
        assert!(any.allows("192.168.1.2:8080"));
        assert!(any.allows("localhost:8080"));
        assert!(!any.allows("rebound.example:8080"));
    }

    #[test]
    fn host_entries_reject_urls() {
        for bad in ["", "http://x", "x/y", "*.example.com", "a b", "x:99999"] {
            assert!(HostEntry::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            HostEntry::parse("[::1]:8080"),
            Ok(HostEntry {
                host: "[::1]".into(),
                port: Some(8080)
            })
        );
    }

    #[test]
    fn origins_and_content_types() {
        assert!(is_own_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(is_own_origin(
            "https://cosched.example.com",
            "cosched.example.com"
        ));
        assert!(!is_own_origin("http://evil.example", "127.0.0.1:8080"));
        assert!(!is_own_origin("null", "127.0.0.1:8080"));
        assert!(!is_own_origin(
            "http://127.0.0.1:8080.evil",
            "127.0.0.1:8080"
        ));
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().expect("a value"),
        );
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().expect("a value"));
        assert!(!is_json(&headers));
    }
}
