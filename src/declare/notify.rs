//! The declaration of a `[[notify]]` rule and its validation: which events
//! (`on`) of which jobs (`jobs`, `groups`; empty: all) it sends, and how:
//! `command` (an argv list, run as a `command` job runs it) or `http` (a
//! table of the `http` kind's settings: `url`, `method`, `headers`,
//! `sign`, …). The sender's settings are checked by the job kind itself,
//! so a notifier accepts exactly what a job of that kind accepts.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{Issues, ValidationError};
use super::hint;
use crate::jobs::JobRegistry;
use crate::model::{NotifyEvent, NotifyRule};

/// A `[[notify]]` rule as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyDecl {
    pub name: String,
    /// Event names: `failed`, `timed_out`, `abandoned`, `misfire_skipped`,
    /// `expectation_violated`, `node_dead`.
    #[serde(default)]
    pub on: Vec<String>,
    #[serde(default)]
    pub jobs: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// An argv list (or a string run by `/bin/sh -c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Value>,
    /// The `http` kind's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Value>,
}

/// Checks every field of a `[[notify]]` rule; all problems together.
pub fn validate_notify(
    decl: &NotifyDecl,
    registry: &JobRegistry,
) -> Result<NotifyRule, ValidationError> {
    let mut issues = Issues::default();
    let name = decl.name.trim().to_string();
    if name.is_empty() {
        issues.push("name", "a notifier `name` must not be empty");
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        issues.push(
            "name",
            format!("notifier name `{name}`: expected letters, digits, `_`, `-` or `.`"),
        );
    }
    let on = events(&decl.on, &mut issues);
    names("jobs", &decl.jobs, &mut issues);
    names("groups", &decl.groups, &mut issues);
    let sender = sender(decl, &name, registry, &mut issues);
    let rule = sender.map(|(kind, settings)| NotifyRule {
        name,
        on,
        jobs: decl.jobs.iter().map(|j| j.trim().to_string()).collect(),
        groups: decl.groups.iter().map(|g| g.trim().to_string()).collect(),
        kind,
        settings,
    });
    issues.into_result(rule)
}

/// The events of `on`, each once; a misspelt one with the nearest name.
fn events(on: &[String], issues: &mut Issues) -> Vec<NotifyEvent> {
    if on.is_empty() {
        issues.push(
            "on",
            format!(
                "`on` must name at least one event: {}",
                NotifyEvent::ALL.map(NotifyEvent::as_str).join(", ")
            ),
        );
    }
    let mut out = Vec::new();
    for (i, text) in on.iter().enumerate() {
        let path = format!("on[{i}]");
        match text.parse::<NotifyEvent>() {
            Ok(e) if out.contains(&e) => issues.push(path, format!("event `{e}` is named twice")),
            Ok(e) => out.push(e),
            Err(e) => {
                let hint = hint::as_prefix(text, NotifyEvent::ALL.map(NotifyEvent::as_str));
                issues.push(path, format!("{hint}{e}"));
            }
        }
    }
    out
}

fn names(key: &str, list: &[String], issues: &mut Issues) {
    for (i, n) in list.iter().enumerate() {
        if n.trim().is_empty() || n.contains('\0') {
            issues.push(
                format!("{key}[{i}]"),
                format!("`{key}` holds names: not empty, no NUL character"),
            );
        }
    }
}

/// The job kind and settings that send the rule's notifications.
fn sender(
    decl: &NotifyDecl,
    name: &str,
    registry: &JobRegistry,
    issues: &mut Issues,
) -> Option<(String, Value)> {
    let (kind, path, settings) = match (&decl.command, &decl.http) {
        (Some(_), Some(_)) => {
            issues.push(
                "http",
                format!("notifier `{name}`: give `command` or `http`, not both"),
            );
            return None;
        }
        (None, None) => {
            issues.push(
                "name",
                format!(
                    "notifier `{name}` says nothing of how to send: give `command = [...]` or `http = {{ url = \"...\" }}`"
                ),
            );
            return None;
        }
        (Some(command), None) => {
            let shell = command.is_string();
            (
                "command",
                "command",
                json!({"command": command, "shell": shell}),
            )
        }
        (None, Some(http)) => ("http", "http", http.clone()),
    };
    let Some(job_kind) = registry.get(kind) else {
        issues.push(path, format!("this node has no `{kind}` job kind"));
        return None;
    };
    match job_kind.validate(&settings) {
        Ok(()) => Some((kind.to_string(), settings)),
        Err(e) => {
            issues.push(path, format!("notifier `{name}` ({path}): {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(v: Value) -> NotifyDecl {
        serde_json::from_value(v).unwrap()
    }

    fn refused(v: Value) -> Vec<(String, String)> {
        validate_notify(&decl(v), &JobRegistry::with_builtins())
            .unwrap_err()
            .issues
            .into_iter()
            .map(|i| (i.path, i.message))
            .collect()
    }

    #[test]
    fn a_command_rule_validates() {
        let rule = validate_notify(
            &decl(json!({"name": "ops", "on": ["failed", "node_dead"], "command": ["true"]})),
            &JobRegistry::with_builtins(),
        )
        .unwrap();
        assert_eq!(rule.kind, "command");
        assert_eq!(rule.on, vec![NotifyEvent::Failed, NotifyEvent::NodeDead]);
        assert!(rule.matches_job("any", None));
    }

    #[test]
    fn a_misspelt_event_gets_the_nearest_name() {
        let e = refused(json!({"name": "ops", "on": ["timedout"], "command": ["true"]}));
        assert_eq!(e[0].0, "on[0]");
        assert!(e[0].1.contains("did you mean `timed_out`?"), "{e:?}");
    }

    #[test]
    fn a_sender_is_required_and_checked_by_its_kind() {
        let e = refused(json!({"name": "ops", "on": ["failed"]}));
        assert!(e[0].1.contains("give `command"), "{e:?}");
        let e = refused(json!({"name": "ops", "on": ["failed"], "http": {"url": "ftp://x"}}));
        assert_eq!(e[0].0, "http");
        let e = refused(json!({"name": "ops", "on": [], "command": ["true"], "http": {}}));
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn filters_match_jobs_and_groups() {
        let rule = validate_notify(
            &decl(json!({"name": "n", "on": ["failed"], "jobs": ["a"], "groups": ["g"], "command": ["true"]})),
            &JobRegistry::with_builtins(),
        )
        .unwrap();
        assert!(rule.matches_job("a", Some("g")));
        assert!(!rule.matches_job("a", None));
        assert!(!rule.matches_job("b", Some("g")));
    }
}
