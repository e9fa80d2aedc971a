//! The small substituter behind the `http` kind's `url`, header values and
//! bodies: `{{fire_id}}`, `{{job}}`, `{{attempt}}`, `{{scheduled_at}}`
//! (RFC 3339, as `COSCHED_SCHEDULED_AT`), `{{scheduled_at|ms}}` (UTC
//! milliseconds since the epoch) and `{{data.some.path}}` (a key path into
//! the fire's data; a number segment also indexes a list).
//!
//! This is not a template engine: no conditions, loops or escapes. A
//! template is parsed when the job is declared, so an unknown variable or
//! an unclosed `{{` is a declaration error; only a `data` path that the
//! fire's data lacks can fail at fire time. Each substituted value is
//! escaped for where it lands ([`Escape`]); the literal text around it is
//! left as written.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::jobs::FireContext;

/// The variables a template may name, as the error lists them.
pub const VARIABLES: &str = "fire_id, job, attempt, scheduled_at, scheduled_at|ms, data.<path>";

/// What a URL substitution keeps as is: RFC 3986's unreserved characters.
/// Everything else is percent-encoded, so a value can never add a path
/// segment, a query parameter or change the host.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How a substituted value is escaped for the text it lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Percent-encoded (inside a URL).
    Url,
    /// Escaped as the inside of a JSON string (inside a JSON text).
    Json,
    /// As is (header values, plain text).
    Raw,
}

/// A variable a template names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    FireId,
    Job,
    Attempt,
    ScheduledAt,
    ScheduledAtMs,
    /// A path into the fire's data (`data.a.b` is `["a", "b"]`).
    Data(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Variable(Variable),
}

/// A parsed template: literal text and variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`. The error quotes the faulty placeholder and says
    /// what is known.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(format!(
                    "`{{{{` at byte {} is never closed by `}}}}`",
                    text.len() - rest.len() + open
                ));
            };
            let name = after[..close].trim();
            parts.push(Part::Variable(parse_variable(name)?));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// True when the template names no variable.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The literal text before the first variable.
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Text(text)) => text,
            _ => "",
        }
    }

    /// The text with every variable replaced by `stand_in`: the shape of
    /// what it renders, to check when the job is declared.
    pub fn render_sample(&self, stand_in: &str) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Variable(_) => stand_in,
            })
            .collect()
    }

    /// The text with every variable replaced by its value for `fire`,
    /// escaped by `escape`. Fails only when a `data` path is missing.
    pub fn render(&self, fire: &FireContext, escape: Escape) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Variable(var) => {
                    let value = value_of(var, fire)?;
                    match escape {
                        Escape::Raw => out.push_str(&value),
                        Escape::Url => out.extend(utf8_percent_encode(&value, URL_VALUE)),
                        Escape::Json => {
                            let quoted = Value::String(value).to_string();
                            out.push_str(&quoted[1..quoted.len() - 1]);
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn parse_variable(name: &str) -> Result<Variable, String> {
    let var = match name {
        "fire_id" => Variable::FireId,
        "job" => Variable::Job,
        "attempt" => Variable::Attempt,
        "scheduled_at" => Variable::ScheduledAt,
        "scheduled_at|ms" => Variable::ScheduledAtMs,
        _ => match name.strip_prefix("data.") {
            Some(path) if !path.is_empty() && path.split('.').all(|s| !s.trim().is_empty()) => {
                Variable::Data(path.split('.').map(|s| s.trim().to_string()).collect())
            }
            _ if name == "data" => Variable::Data(Vec::new()),
            _ => {
                return Err(format!(
                    "unknown template variable `{{{{{name}}}}}`: expected one of {VARIABLES}"
                ));
            }
        },
    };
    Ok(var)
}

fn value_of(var: &Variable, fire: &FireContext) -> Result<String, String> {
    Ok(match var {
        Variable::FireId => fire.fire_id.to_string(),
        Variable::Job => fire.job.clone(),
        Variable::Attempt => fire.attempt.to_string(),
        Variable::ScheduledAt => fire.scheduled_at.to_rfc3339(),
        Variable::ScheduledAtMs => fire.scheduled_at.timestamp_millis().to_string(),
        Variable::Data(path) => {
            let mut value = &fire.data;
            for segment in path {
                let next = match value {
                    Value::Object(map) => map.get(segment),
                    Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                    _ => None,
                };
                value = next.ok_or_else(|| {
                    format!(
                        "template variable `{{{{data.{}}}}}`: the fire's data has no `{}`",
                        path.join("."),
                        path.join(".")
                    )
                })?;
            }
            match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn fire() -> FireContext {
        FireContext {
            fire_id: 7,
            job: "report".into(),
            trigger_id: Some(3),
            scheduled_at: chrono::Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
            attempt: 2,
            node: "n".into(),
            data: json!({"user": {"name": "a b/c&d=\"e\""}, "ids": [10, 20], "n": 5}),
        }
    }

    fn render(text: &str, escape: Escape) -> Result<String, String> {
        Template::parse(text)?.render(&fire(), escape)
    }

    #[test]
    fn every_variable_renders() {
        assert_eq!(
            render(
                "{{fire_id}} {{ job }} {{attempt}} {{scheduled_at}} {{scheduled_at|ms}} {{data.n}} {{data.ids.1}}",
                Escape::Raw
            )
            .unwrap(),
            "7 report 2 2026-03-02T10:00:00+00:00 1772445600000 5 20"
        );
        assert_eq!(render("{{data.ids}}", Escape::Raw).unwrap(), "[10,20]");
    }

    #[test]
    fn values_are_escaped_for_where_they_land() {
        assert_eq!(
            render("/u/{{data.user.name}}?x=1", Escape::Url).unwrap(),
            "/u/a%20b%2Fc%26d%3D%22e%22?x=1"
        );
        assert_eq!(
            render("{\"n\": \"{{data.user.name}}\"}", Escape::Json).unwrap(),
            "{\"n\": \"a b/c&d=\\\"e\\\"\"}"
        );
    }

    #[test]
    fn unknown_variables_and_unclosed_braces_are_refused() {
        let e = Template::parse("/x/{{fire}}").unwrap_err();
        assert!(e.starts_with("unknown template variable `{{fire}}`"), "{e}");
        assert!(e.contains("fire_id, job"), "{e}");
        let e = Template::parse("ab {{job").unwrap_err();
        assert_eq!(e, "`{{` at byte 3 is never closed by `}}`");
        assert!(Template::parse("{{data.}}").is_err());
        assert!(Template::parse("{{scheduled_at|s}}").is_err());
    }

    #[test]
    fn a_missing_data_path_fails_at_fire_time_naming_it() {
        let e = render("{{data.user.id}}", Escape::Raw).unwrap_err();
        assert_eq!(
            e,
            "template variable `{{data.user.id}}`: the fire's data has no `user.id`"
        );
    }
}
