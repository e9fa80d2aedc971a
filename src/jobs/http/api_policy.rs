//! What an `http` job created through the API may do.
//!
//! The configuration file is trusted; a producer reaching the HTTP API
//! (or [`Client::create_job`](crate::Client::create_job)) is not: it must
//! not make the node call its cloud metadata service, an internal host the
//! operator did not list, or read the node's environment and files into a
//! request. So a declaration from that door is checked against the
//! operator's `[scheduler]` settings:
//!
//! - `http_allow`: the destinations (see [`check_destination`]); empty by
//!   default, so no API-created `http` job is accepted until the operator
//!   lists where they may go;
//! - `http_secret_env`, `http_secret_files`: the environment variables and
//!   files its `auth`, `sign` and TLS keys may reference; none by default;
//! - `follow_redirects = true` is refused: a redirect could lead anywhere,
//!   past the allow list.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::destination::{HttpAllow, check_destination};
use super::secret::SecretSource;
use super::settings::{Auth, HttpSettings};

/// The operator's rules for API-created `http` jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiHttpPolicy {
    /// `[scheduler] http_allow`.
    pub allow: HttpAllow,
    /// `[scheduler] http_secret_env`: variables a secret may name.
    pub secret_env: Vec<String>,
    /// `[scheduler] http_secret_files`: files a secret or TLS key may name.
    pub secret_files: Vec<PathBuf>,
}

/// One refusal: the settings key (relative to `settings`) and why.
pub type PolicyIssue = (String, String);

impl ApiHttpPolicy {
    /// Checks settings the `http` kind has already accepted; returns every
    /// refusal. Settings that do not parse are the kind's to report.
    pub fn check(&self, settings: &Value) -> Vec<PolicyIssue> {
        let Ok(parsed) = HttpSettings::parse(settings) else {
            return Vec::new();
        };
        let mut issues = Vec::new();
        // The URL as written: templates cannot change its host.
        if let Some(url) = settings.get("url").and_then(Value::as_str)
            && let Err(e) = check_destination(url, &self.allow)
        {
            issues.push(("url".to_string(), e));
        }
        if parsed.follow_redirects {
            issues.push((
                "follow_redirects".to_string(),
                "`follow_redirects = true` is refused for jobs created through the API: a \
                 redirect could lead past [scheduler] http_allow; declare the job in the \
                 configuration file to follow redirects"
                    .to_string(),
            ));
        }
        let mut secrets: Vec<(&str, &SecretSource)> = Vec::new();
        match &parsed.auth {
            Some(Auth::Bearer(s)) => secrets.push(("auth.token", s)),
            Some(Auth::Basic { password, .. }) => secrets.push(("auth.password", password)),
            Some(Auth::Header { value, .. }) => secrets.push(("auth.value", value)),
            None => {}
        }
        if let Some(s) = &parsed.sign {
            secrets.push(("sign.secret", s));
        }
        for (key, source) in secrets {
            if let Some(problem) = self.secret_problem(key, source) {
                issues.push((key.to_string(), problem));
            }
        }
        let tls = &parsed.tls;
        for (key, path) in [
            ("ca_file", &tls.ca_file),
            ("client_cert", &tls.client_cert),
            ("client_key", &tls.client_key),
        ] {
            if let Some(path) = path
                && !self.file_allowed(path)
            {
                issues.push((key.to_string(), file_refused(key, path)));
            }
        }
        issues
    }

    fn secret_problem(&self, key: &str, source: &SecretSource) -> Option<String> {
        match source {
            SecretSource::Env(name) if !self.secret_env.iter().any(|n| n == name) => Some(format!(
                "`{key}` reads the node's environment variable `{name}`, which [scheduler] \
                 http_secret_env does not list: jobs created through the API may read only \
                 the variables the operator lists there"
            )),
            SecretSource::File(path) if !self.file_allowed(path) => Some(file_refused(key, path)),
            _ => None,
        }
    }

    fn file_allowed(&self, path: &Path) -> bool {
        self.secret_files.iter().any(|p| p == path)
    }
}

fn file_refused(key: &str, path: &Path) -> String {
    format!(
        "`{key}` reads the node's file `{}`, which [scheduler] http_secret_files does not \
         list: jobs created through the API may read only the files the operator lists there",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(allow: &[&str]) -> ApiHttpPolicy {
        ApiHttpPolicy {
            allow: HttpAllow::parse(allow).unwrap(),
            secret_env: vec!["HOOK_TOKEN".into()],
            secret_files: vec![PathBuf::from("/run/secrets/hook")],
        }
    }

    fn keys(issues: Vec<PolicyIssue>) -> Vec<String> {
        issues.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn destinations_redirects_and_secrets_are_checked() {
        let p = policy(&["127.0.0.1", "*.example.com"]);
        assert!(p.check(&json!({"url": "http://127.0.0.1:9/x"})).is_empty());
        assert!(
            p.check(&json!({"url": "https://api.example.com/{{job}}"}))
                .is_empty()
        );
        let refused = p.check(&json!({"url": "http://169.254.169.254/latest/meta-data"}));
        assert_eq!(keys(refused.clone()), ["url"]);
        assert!(refused[0].1.contains("http_allow"), "{refused:?}");
        assert_eq!(keys(p.check(&json!({"url": "http://10.1.2.3/"}))), ["url"]);
        assert_eq!(
            keys(p.check(&json!({"url": "http://127.0.0.1/", "follow_redirects": true}))),
            ["follow_redirects"]
        );
        let allowed = json!({"url": "http://127.0.0.1/",
            "auth": {"type": "bearer", "token": {"env": "HOOK_TOKEN"}},
            "sign": {"secret": {"file": "/run/secrets/hook"}}});
        assert!(p.check(&allowed).is_empty());
        let refused = p.check(&json!({"url": "http://127.0.0.1/",
            "auth": {"type": "bearer", "token": {"env": "DATABASE_URL"}},
            "sign": {"secret": {"file": "/etc/shadow"}}}));
        assert_eq!(keys(refused.clone()), ["auth.token", "sign.secret"]);
        assert!(refused[0].1.contains("http_secret_env"));
        assert!(refused[1].1.contains("http_secret_files"));
    }

    #[test]
    fn the_default_policy_allows_no_destination() {
        let refused = ApiHttpPolicy::default().check(&json!({"url": "http://127.0.0.1/"}));
        assert_eq!(keys(refused), ["url"]);
    }
}
