//! Where `http` jobs created through the API may send requests.
//!
//! A job declared in the configuration file is trusted. One created
//! through the HTTP API (or another door a producer controls) is checked
//! with [`check_destination`] against an allow list of hosts and CIDRs,
//! and link-local and cloud metadata addresses are refused unless an
//! entry names them explicitly: a producer must not make the node read
//! its cloud credentials.
//!
//! The check is on the URL as written (templates cannot change the host,
//! see `settings`). Host names are matched by name and never resolved
//! here: a name that resolves to a metadata address is not caught.

use std::net::IpAddr;

use ipnet::IpNet;

/// Ranges refused unless an allow entry lies within them: link-local
/// (where cloud metadata services answer, 169.254.169.254) and AWS's
/// IPv6 metadata address.
const GUARDED: [&str; 3] = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"];

/// Host names of metadata services, refused unless listed.
const GUARDED_NAMES: [&str; 2] = ["metadata.google.internal", "metadata"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Every host (guarded addresses still need their own entry).
    Any,
    /// Exactly this name (lower case, no trailing dot).
    Name(String),
    /// Any subdomain of this name: `*.example.com`.
    Suffix(String),
    Net(IpNet),
}

/// The hosts and networks API-created `http` jobs may call. Empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAllow {
    entries: Vec<Entry>,
}

impl HttpAllow {
    /// Parses entries such as `"api.example.com"`, `"*.example.com"`,
    /// `"10.0.0.0/8"`, `"::1"` or `"*"` (any host). The error names the
    /// entry by its index.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<HttpAllow, String> {
        let mut parsed = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let text = entry.as_ref().trim();
            let e = if text == "*" {
                Entry::Any
            } else if let Ok(net) = text.parse::<IpNet>() {
                Entry::Net(net.trunc())
            } else if let Ok(ip) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
                Entry::Net(IpNet::from(ip))
            } else if let Some(suffix) = text.strip_prefix("*.") {
                Entry::Suffix(host_name(suffix).ok_or_else(|| bad(i, text))?)
            } else {
                Entry::Name(host_name(text).ok_or_else(|| bad(i, text))?)
            };
            parsed.push(e);
        }
        Ok(HttpAllow { entries: parsed })
    }
}

fn bad(i: usize, text: &str) -> String {
    format!(
        "http_allow[{i}] = \"{text}\" is not a host name, `*.domain`, an IP address, a CIDR \
         such as 10.0.0.0/8, or `*`"
    )
}

fn host_name(text: &str) -> Option<String> {
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    valid.then_some(name)
}

fn guarded() -> impl Iterator<Item = IpNet> {
    GUARDED.iter().filter_map(|n| n.parse::<IpNet>().ok())
}

/// An address as the network sees it: an IPv4-mapped IPv6 address is the
/// IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether an API-created job may send requests to `url`: its scheme is
/// http or https, its host is allowed by `allow`, and a link-local or
/// metadata destination is named by an entry of its own (an IP in the
/// guarded range, or a CIDR within it; `*` or `0.0.0.0/0` do not count).
/// The error says what to add to `[scheduler] http_allow`.
pub fn check_destination(url: &str, allow: &HttpAllow) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`url` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "`url` must be http or https, not {}",
            parsed.scheme()
        ));
    }
    // The URL parser has normalised the host: an IP in any spelling
    // (0xa9.254.169.254, [::ffff:a9fe:a9fe]) is written in its usual form.
    let host = match parsed.host_str() {
        None | Some("") => return Err("`url` has no host".to_string()),
        Some(text) => match text.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => Host::Ip(canonical(ip)),
            Err(_) => Host::Name(text.trim_end_matches('.').to_ascii_lowercase()),
        },
    };
    match host {
        Host::Ip(ip) => {
            let in_guard = guarded().find(|net| net.contains(&ip));
            let listed = allow.entries.iter().any(|e| match (e, in_guard) {
                (Entry::Net(net), Some(guard)) => net.contains(&ip) && guard.contains(net),
                (Entry::Net(net), None) => net.contains(&ip),
                (Entry::Any, None) => true,
                _ => false,
            });
            if listed {
                return Ok(());
            }
            if let Some(guard) = in_guard {
                return Err(format!(
                    "`url` points at {ip}, a link-local or cloud metadata address ({guard}): \
                     refused for jobs created through the API unless [scheduler] http_allow \
                     lists \"{ip}\" itself"
                ));
            }
            Err(format!(
                "`url` points at {ip}, which [scheduler] http_allow does not list: add \"{ip}\" \
                 or a network holding it (e.g. \"{}\") to allow it",
                IpNet::new(ip, if ip.is_ipv4() { 24 } else { 64 })
                    .map(|n| n.trunc().to_string())
                    .unwrap_or_else(|_| ip.to_string())
            ))
        }
        Host::Name(name) => {
            let guarded_name = GUARDED_NAMES.contains(&name.as_str());
            let listed = allow.entries.iter().any(|e| match e {
                Entry::Name(n) => *n == name,
                Entry::Suffix(s) => !guarded_name && name.ends_with(&format!(".{s}")),
                Entry::Any => !guarded_name,
                Entry::Net(_) => false,
            });
            if listed {
                return Ok(());
            }
            if guarded_name {
                return Err(format!(
                    "`url` points at {name}, a cloud metadata service: refused for jobs created \
                     through the API unless [scheduler] http_allow lists \"{name}\" itself"
                ));
            }
            Err(format!(
                "`url` points at {name}, which [scheduler] http_allow does not list: add \
                 \"{name}\" (or \"*.{}\") to allow it",
                name.split_once('.').map_or(name.as_str(), |(_, d)| d)
            ))
        }
    }
}

enum Host {
    Ip(IpAddr),
    Name(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> HttpAllow {
        HttpAllow::parse(entries).unwrap()
    }

    #[test]
    fn the_metadata_address_is_refused_even_when_everything_is_allowed() {
        for list in [&["*"][..], &["0.0.0.0/0"], &["169.254.0.0/8"], &[]] {
            let e = check_destination("http://169.254.169.254/latest/meta-data/", &allow(list))
                .unwrap_err();
            assert!(
                e.contains("link-local or cloud metadata address"),
                "{list:?}: {e}"
            );
            assert!(e.contains("lists \"169.254.169.254\" itself"), "{e}");
        }
        let e = check_destination("http://[fd00:ec2::254]/", &allow(&["::/0"])).unwrap_err();
        assert!(e.contains("metadata"), "{e}");
        let e = check_destination("http://[::ffff:169.254.169.254]/", &allow(&["*"])).unwrap_err();
        assert!(e.contains("169.254.169.254"), "{e}");
        let e = check_destination(
            "http://metadata.google.internal/",
            &allow(&["*", "*.internal"]),
        )
        .unwrap_err();
        assert!(e.contains("cloud metadata service"), "{e}");
    }

    #[test]
    fn a_guarded_address_passes_when_listed_itself() {
        assert!(check_destination("http://169.254.169.254/", &allow(&["169.254.169.254"])).is_ok());
        assert!(check_destination("http://169.254.10.1/", &allow(&["169.254.10.0/24"])).is_ok());
        assert!(check_destination("http://[fd00:ec2::254]/", &allow(&["fd00:ec2::254"])).is_ok());
        assert!(
            check_destination(
                "http://metadata.google.internal/",
                &allow(&["metadata.google.internal"])
            )
            .is_ok()
        );
    }

    #[test]
    fn hosts_outside_the_list_are_refused_with_what_to_add() {
        let list = allow(&["api.example.com", "*.corp.example", "10.1.0.0/16", "::1"]);
        let e = check_destination("https://evil.example.net/x", &list).unwrap_err();
        assert_eq!(
            e,
            "`url` points at evil.example.net, which [scheduler] http_allow does not list: add \
             \"evil.example.net\" (or \"*.example.net\") to allow it"
        );
        let e = check_destination("http://10.2.0.5/", &list).unwrap_err();
        assert!(
            e.contains("add \"10.2.0.5\" or a network holding it (e.g. \"10.2.0.0/24\")"),
            "{e}"
        );
        let e = check_destination("http://corp.example/", &list).unwrap_err();
        assert!(e.contains("corp.example"), "{e}");
        assert!(check_destination("http://h/", &HttpAllow::default()).is_err());
        let e = check_destination("ftp://api.example.com/", &list).unwrap_err();
        assert_eq!(e, "`url` must be http or https, not ftp");
    }

    #[test]
    fn allowed_hosts_and_networks_pass() {
        let list = allow(&["API.example.com.", "*.corp.example", "10.1.0.0/16", "[::1]"]);
        for url in [
            "https://api.example.com/hook",
            "https://api.example.com:8443/hook",
            "http://billing.corp.example/run",
            "http://a.b.corp.example/",
            "http://10.1.200.3:8080/",
            "http://[::1]:9000/",
        ] {
            assert!(check_destination(url, &list).is_ok(), "{url}");
        }
        assert!(check_destination("http://anything.example/", &allow(&["*"])).is_ok());
        assert!(check_destination("http://127.0.0.1/", &allow(&["*"])).is_ok());
    }

    #[test]
    fn bad_entries_are_named() {
        let e = HttpAllow::parse(&["ok.example", "bad host"]).unwrap_err();
        assert!(
            e.starts_with("http_allow[1] = \"bad host\" is not a host name"),
            "{e}"
        );
        assert!(HttpAllow::parse(&["10.0.0.0/33"]).is_err());
    }
}
