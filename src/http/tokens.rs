//! API tokens: their roles, where their secrets come from, and how a
//! presented token is recognised.
//!
//! A token's secret never appears in the configuration file: the file
//! holds its SHA-256 digest (`hash = "sha256:<hex>"`), or names the
//! environment variable or file that holds the secret (read once, when the
//! node starts). Only digests are kept in memory, and a presented token is
//! compared digest to digest in constant time against every configured
//! token, so neither the timing nor the order of the table tells anything
//! about a secret.

use std::fmt;
use std::path::PathBuf;

use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// How many random bytes a new token has.
pub const TOKEN_BYTES: usize = 32;

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Every GET, `/metrics` included.
    Read,
    /// Read, plus trigger, schedule one-offs, pause and resume, cancel
    /// fires and set standby.
    Operate,
    /// Operate, plus create and delete jobs and calendars.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Read, Role::Operate, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SHA-256 digest of a token's secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is not a secret, but it does not belong in logs either.
        f.write_str("TokenDigest(..)")
    }
}

impl TokenDigest {
    /// The digest of a secret as presented (surrounding whitespace, as a
    /// file's trailing newline, is not part of a token).
    pub fn of(secret: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(secret.trim().as_bytes()).into())
    }

    /// Parses `sha256:<64 hex digits>`.
    pub fn parse(text: &str) -> Result<TokenDigest, String> {
        let Some(hex) = text.strip_prefix("sha256:") else {
            return Err("expected \"sha256:\" followed by 64 hex digits".into());
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "expected 64 hex digits after \"sha256:\", found {} characters{}",
                hex.len(),
                if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    ""
                } else {
                    " that are not all hex digits"
                }
            ));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            // Both characters were checked to be hex digits above.
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(TokenDigest(out))
    }

    /// Equality that takes the same time wherever the digests differ.
    pub fn ct_eq(&self, other: &TokenDigest) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl fmt::Display for TokenDigest {
    /// `sha256:<hex>`, as the configuration file writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Where a token's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Only the digest is known (`hash = "sha256:..."`).
    Hash(TokenDigest),
    /// The secret is in this environment variable, read at start.
    Env(String),
    /// The secret is the content of this file, read at start.
    File(PathBuf),
}

/// Where a key is in the configuration file, for errors found after
/// loading (a missing environment variable at start).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// One entry of `[http] tokens`, validated but not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub name: String,
    pub role: Role,
    pub source: TokenSource,
    /// Where the entry is written.
    pub place: Place,
}

/// A configured token, ready to recognise its secret.
#[derive(Debug, Clone)]
pub struct Token {
    pub name: String,
    pub role: Role,
    digest: TokenDigest,
}

/// A token's secret could not be read when the node started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}:{}: {message}", place.file, place.line, place.column)]
pub struct TokenError {
    pub place: Place,
    pub message: String,
}

impl TokenSpec {
    /// Reads the secret (from the environment or a file) and keeps its
    /// digest.
    pub fn resolve(&self) -> Result<Token, TokenError> {
        let fail = |message: String| TokenError {
            place: self.place.clone(),
            message,
        };
        let digest = match &self.source {
            TokenSource::Hash(d) => *d,
            TokenSource::Env(var) => match std::env::var(var) {
                Ok(secret) if !secret.trim().is_empty() => TokenDigest::of(&secret),
                Ok(_) => {
                    return Err(fail(format!(
                        "token `{}`: the environment variable `{var}` is empty; set it to the token's secret",
                        self.name
                    )));
                }
                Err(e) => {
                    return Err(fail(format!(
                        "token `{}`: cannot read the environment variable `{var}` ({e}); set it to the token's secret (`cosched token new` makes one)",
                        self.name
                    )));
                }
            },
            TokenSource::File(path) => match std::fs::read_to_string(path) {
                Ok(secret) if !secret.trim().is_empty() => TokenDigest::of(&secret),
                Ok(_) => {
                    return Err(fail(format!(
                        "token `{}`: the file {} is empty; write the token's secret into it",
                        self.name,
                        path.display()
                    )));
                }
                Err(e) => {
                    return Err(fail(format!(
                        "token `{}`: cannot read the file {} ({e})",
                        self.name,
                        path.display()
                    )));
                }
            },
        };
        Ok(Token {
            name: self.name.clone(),
            role: self.role,
            digest,
        })
    }
}

/// The tokens a node accepts.
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    tokens: Vec<Token>,
}

impl TokenSet {
    /// Resolves every spec; reports every secret that cannot be read.
    pub fn resolve(specs: &[TokenSpec]) -> Result<TokenSet, Vec<TokenError>> {
        let (tokens, errors): (Vec<_>, Vec<_>) = specs
            .iter()
            .map(TokenSpec::resolve)
            .partition(Result::is_ok);
        if !errors.is_empty() {
            return Err(errors.into_iter().filter_map(Result::err).collect());
        }
        Ok(TokenSet {
            tokens: tokens.into_iter().filter_map(Result::ok).collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token whose secret is `presented`, if any. Every configured
    /// digest is compared (no early exit), each in constant time.
    pub fn identify(&self, presented: &str) -> Option<&Token> {
        let digest = TokenDigest::of(presented);
        let mut found = None;
        for token in &self.tokens {
            if token.digest.ct_eq(&digest) && found.is_none() {
                found = Some(token);
            }
        }
        found
    }
}

/// A new random token: its secret (hex of [`TOKEN_BYTES`] bytes from the
/// operating system's generator) and its digest.
pub fn generate() -> Result<(String, TokenDigest), rand::rand_core::OsError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let digest = TokenDigest::of(&secret);
    Ok((secret, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, role: Role, source: TokenSource) -> TokenSpec {
        TokenSpec {
            name: name.into(),
            role,
            source,
            place: Place::default(),
        }
    }

    #[test]
    fn digests_compare_equal_only_when_every_byte_is_equal() {
        let a = TokenDigest::of("secret");
        assert!(a.ct_eq(&TokenDigest::of("secret")));
        assert!(
            a.ct_eq(&TokenDigest::of("  secret\n")),
            "whitespace trimmed"
        );
        assert!(!a.ct_eq(&TokenDigest::of("secreT")));
        // A difference in the first, a middle or the last byte.
        for i in [0, 15, 31] {
            let mut other = a;
            other.0[i] ^= 1;
            assert!(!a.ct_eq(&other), "byte {i}");
        }
    }

    #[test]
    fn a_digest_round_trips_through_its_text() {
        let d = TokenDigest::of("abc");
        // The well-known SHA-256 of "abc".
        assert_eq!(
            d.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenDigest::parse(&d.to_string()), Ok(d));
        assert_eq!(
            TokenDigest::parse(&d.to_string().to_uppercase().replace("SHA256", "sha256")),
            Ok(d)
        );
        assert!(TokenDigest::parse("md5:abc").is_err());
        assert!(
            TokenDigest::parse("sha256:abc")
                .unwrap_err()
                .contains("64 hex")
        );
        let not_hex = format!("sha256:{}", "g".repeat(64));
        assert!(
            TokenDigest::parse(&not_hex)
                .unwrap_err()
                .contains("not all hex")
        );
    }

    #[test]
    fn a_token_is_recognised_by_its_secret_only() {
        let set = TokenSet::resolve(&[
            spec(
                "grafana",
                Role::Read,
                TokenSource::Hash(TokenDigest::of("r")),
            ),
            spec(
                "admin",
                Role::Admin,
                TokenSource::Hash(TokenDigest::of("a")),
            ),
        ])
        .expect("resolves");
        assert_eq!(set.identify("r").map(|t| t.name.as_str()), Some("grafana"));
        assert_eq!(set.identify("a").map(|t| t.role), Some(Role::Admin));
        assert!(set.identify("").is_none());
        assert!(set.identify("ra").is_none());
        assert!(TokenSet::default().identify("r").is_none());
    }

    #[test]
    fn secrets_from_files_are_read_and_missing_ones_reported() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").expect("write");
        let set = TokenSet::resolve(&[spec("f", Role::Operate, TokenSource::File(path))])
            .expect("resolves");
        assert_eq!(set.identify("s3cret").map(|t| t.role), Some(Role::Operate));

        let mut missing = spec(
            "gone",
            Role::Read,
            TokenSource::File(dir.path().join("nope")),
        );
        missing.place = Place {
            file: "jobs.toml".into(),
            line: 3,
            column: 12,
        };
        let unset = spec(
            "env",
            Role::Read,
            TokenSource::Env("COSCHED_TEST_TOKEN_THAT_IS_NEVER_SET".into()),
        );
        let errors = TokenSet::resolve(&[missing, unset]).expect_err("both fail");
        assert_eq!(errors.len(), 2);
        let first = errors[0].to_string();
        assert!(first.starts_with("jobs.toml:3:12: token `gone`"), "{first}");
        assert!(
            errors[1]
                .message
                .contains("COSCHED_TEST_TOKEN_THAT_IS_NEVER_SET")
        );
    }

    #[test]
    fn generated_tokens_are_long_random_and_match_their_digest() {
        let (a, da) = generate().expect("the OS generator");
        let (b, _) = generate().expect("the OS generator");
        assert_eq!(a.len(), 2 * TOKEN_BYTES);
        assert_ne!(a, b);
        assert!(da.ct_eq(&TokenDigest::of(&a)));
    }
}
