//! The `[http]` table: where the HTTP API listens.

use serde::Deserialize;
use toml::Spanned;

use super::spans::Checker;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    listen: Option<Spanned<String>>,
}

/// The `[http]` table, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSettings {
    /// Where the HTTP API listens; None (the default): no HTTP API.
    pub listen: Option<std::net::SocketAddr>,
}

pub(super) fn http_settings(c: &mut Checker<'_>, raw: Option<&RawHttp>) -> HttpSettings {
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
    HttpSettings { listen }
}
