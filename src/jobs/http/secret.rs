//! Where an `http` job's secrets come from: an environment variable of the
//! node or a file on it, read at each fire and never stored. A job's
//! settings are readable by every producer and the API, so a secret value
//! written into them is refused when the job is declared.

use std::path::PathBuf;

use serde_json::Value;

use super::settings::kind_of;

/// A reference to a secret: `{ env = "NAME" }` or `{ file = "/path" }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    /// Parses the reference at `key` (e.g. `auth.token`).
    pub fn parse(key: &str, value: &Value) -> Result<SecretSource, String> {
        let expected = format!(
            "`{key}` must be {{ env = \"NAME\" }} or {{ file = \"/path\" }}: secrets are read \
             on the node at each fire and never written into a job's settings, which every \
             producer can read"
        );
        let Value::Object(map) = value else {
            return Err(format!("{expected}, not {}", kind_of(value)));
        };
        let mut entries = map.iter();
        let (Some((source, reference)), None) = (entries.next(), entries.next()) else {
            return Err(expected);
        };
        let Value::String(reference) = reference else {
            return Err(format!(
                "`{key}.{source}` must be a string, not {}",
                kind_of(reference)
            ));
        };
        if reference.is_empty() || reference.contains('\0') {
            return Err(format!(
                "`{key}.{source}` must be a non-empty name without NUL"
            ));
        }
        match source.as_str() {
            "env" => {
                if reference.contains('=') {
                    return Err(format!(
                        "`{key}.env`: the variable name `{reference}` contains `=`"
                    ));
                }
                Ok(SecretSource::Env(reference.clone()))
            }
            "file" => Ok(SecretSource::File(PathBuf::from(reference))),
            _ => Err(expected),
        }
    }

    /// Reads the secret now. A file's trailing line break is not part of
    /// the secret. The error names the variable or file, never the value.
    pub fn read(&self, key: &str) -> Result<String, String> {
        match self {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => Ok(value),
                Ok(_) => Err(format!(
                    "`{key}`: the environment variable {name} is empty on this node"
                )),
                Err(std::env::VarError::NotPresent) => Err(format!(
                    "`{key}`: the environment variable {name} is not set on this node"
                )),
                Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                    "`{key}`: the environment variable {name} is not valid UTF-8"
                )),
            },
            SecretSource::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => {
                    let value = text.strip_suffix('\n').unwrap_or(&text);
                    let value = value.strip_suffix('\r').unwrap_or(value);
                    if value.is_empty() {
                        Err(format!("`{key}`: the file {} is empty", path.display()))
                    } else {
                        Ok(value.to_string())
                    }
                }
                Err(e) => Err(format!(
                    "`{key}`: cannot read the file {}: {e}",
                    path.display()
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reference_is_an_env_name_or_a_file() {
        assert_eq!(
            SecretSource::parse("t", &json!({"env": "TOKEN"})).unwrap(),
            SecretSource::Env("TOKEN".into())
        );
        assert_eq!(
            SecretSource::parse("t", &json!({"file": "/run/s"})).unwrap(),
            SecretSource::File("/run/s".into())
        );
        let e = SecretSource::parse("auth.token", &json!("s3cret")).unwrap_err();
        assert!(
            e.starts_with("`auth.token` must be { env = \"NAME\" }"),
            "{e}"
        );
        assert!(e.ends_with("not a string"), "{e}");
        assert!(SecretSource::parse("t", &json!({"env": "A", "file": "/b"})).is_err());
        assert!(SecretSource::parse("t", &json!({"value": "x"})).is_err());
        assert!(SecretSource::parse("t", &json!({"env": ""})).is_err());
    }

    #[test]
    fn a_file_secret_loses_its_trailing_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "abc\r\n").unwrap();
        assert_eq!(SecretSource::File(path.clone()).read("k").unwrap(), "abc");
        let missing = dir.path().join("missing");
        let e = SecretSource::File(missing.clone()).read("k").unwrap_err();
        assert!(
            e.starts_with(&format!("`k`: cannot read the file {}", missing.display())),
            "{e}"
        );
    }
}
