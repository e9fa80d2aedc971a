//! The node's HTTP clients for `http` jobs: one shared client (and its
//! connection pool) per distinct transport profile, built on first use.
//!
//! A profile is what reqwest fixes per client rather than per request:
//! the TLS files (`ca_file`, `client_cert`, `client_key`), whether
//! redirects are followed, and the connect timeout. Every job with the
//! default profile shares one client, so fires to the same host reuse
//! connections. TLS is rustls with the ring provider, verifying against
//! the platform's roots plus `ca_file`; there is no way to turn
//! verification off. A TLS file is read when its profile's client is
//! first built on this node; a changed file is picked up on restart.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::settings::TlsFiles;

/// The most redirects followed with `follow_redirects = true`.
pub const MAX_REDIRECTS: usize = 10;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// What one client is built for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Profile {
    pub tls: TlsFiles,
    pub follow_redirects: bool,
    pub connect_timeout: Duration,
}

/// The node's clients by profile.
#[derive(Debug, Default)]
pub struct Clients {
    by_profile: Mutex<HashMap<Profile, reqwest::Client>>,
}

impl Clients {
    /// The client for `profile`, built now if this node has none yet.
    /// reqwest clients are handles to a shared pool: cloning is cheap.
    pub fn get(&self, profile: &Profile) -> Result<reqwest::Client, String> {
        // The map holds no invariant a panicking holder could break.
        let mut clients = self.by_profile.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(profile) {
            return Ok(client.clone());
        }
        let client = build(profile)?;
        clients.insert(profile.clone(), client.clone());
        Ok(client)
    }
}

fn build(profile: &Profile) -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra_roots = match &profile.tls.ca_file {
        Some(path) => read_certs("ca_file", path)?,
        None => Vec::new(),
    };
    // The platform's verifier with the extra roots: the system's trust
    // store, not a bypass of it.
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
            .map_err(|e| format!("cannot set up TLS verification: {e}"))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut tls = match client_identity(&profile.tls)? {
        Some((certs, key)) => tls
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("`client_cert`/`client_key` cannot be used: {e}"))?,
        None => tls.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let redirects = if profile.follow_redirects {
        reqwest::redirect::Policy::limited(MAX_REDIRECTS)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(redirects)
        .connect_timeout(profile.connect_timeout)
        .pool_idle_timeout(POOL_IDLE)
        // Proxies from the environment would send job requests (and
        // their secrets) somewhere the job does not name.
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Checks that the TLS files are readable PEM, when a job is declared.
pub fn check_tls_files(tls: &TlsFiles) -> Result<(), String> {
    if let Some(path) = &tls.ca_file {
        read_certs("ca_file", path)?;
    }
    client_identity(tls).map(|_| ())
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(tls: &TlsFiles) -> Result<Option<Identity>, String> {
    let Some(cert) = &tls.client_cert else {
        return Ok(None);
    };
    let certs = read_certs("client_cert", cert)?;
    let (key_setting, key_path) = match &tls.client_key {
        Some(path) => ("client_key", path.as_path()),
        None => ("client_cert", cert.as_path()),
    };
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        format!(
            "`{key_setting}`: no private key in {} ({e})",
            key_path.display()
        )
    })?;
    Ok(Some((certs, key)))
}

fn read_certs(setting: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("`{setting}`: cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{setting}`: {} is not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "`{setting}`: {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}
