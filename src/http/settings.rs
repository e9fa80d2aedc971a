//! The `[http]` table as typed values: built and validated by
//! [`crate::config`] (with its file, line and column), used here as is.

/// The `[http]` table, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSettings {
    /// Where the HTTP API listens; None (the default): no HTTP API.
    pub listen: Option<std::net::SocketAddr>,
    /// The accepted tokens (secrets read when the node starts); none: an
    /// open API, on a loopback address only.
    pub tokens: Vec<crate::http::tokens::TokenSpec>,
    /// Serve an open API on a non-loopback address anyway (warned at
    /// every start).
    pub allow_unauthenticated: bool,
    /// `/metrics` answers without a token.
    pub metrics_public: bool,
    /// The API may create `command` jobs (which run programs).
    pub api_command_jobs: bool,
    /// Host names the API answers to besides its listen address.
    pub hosts: Vec<crate::http::guard::HostEntry>,
    pub limits: crate::http::limits::ConnLimits,
}
