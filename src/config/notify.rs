//! `[[notify]]` tables: read with their places, validated by
//! [`validate_notify`] (the one validator), problems reported at
//! `file:line:column`.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::jobs::{table_to_json, toml_to_json};
use super::spans::Checker;
use crate::declare::{NotifyDecl, validate_notify};
use crate::jobs::JobRegistry;
use crate::model::NotifyRule;

/// A `[[notify]]` table, each value with its place.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub name: Spanned<String>,
    pub on: Option<Spanned<Vec<Spanned<String>>>>,
    pub jobs: Option<Spanned<Vec<String>>>,
    pub groups: Option<Spanned<Vec<String>>>,
    pub command: Option<Spanned<toml::Value>>,
    pub http: Option<Spanned<toml::Table>>,
}

/// Where the field of a declaration path was written (the table itself
/// when the path names nothing written).
fn span_of(raw: &Spanned<RawNotify>, path: &str) -> Range<usize> {
    let r = raw.get_ref();
    let (key, index) = match path.split_once('[') {
        Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
        None => (path, None),
    };
    let list = |l: &Option<Spanned<Vec<String>>>| l.as_ref().map(Spanned::span);
    let found = match key {
        "name" => Some(r.name.span()),
        "on" => r.on.as_ref().map(|on| {
            index
                .and_then(|i| on.get_ref().get(i))
                .map_or_else(|| on.span(), Spanned::span)
        }),
        "jobs" => list(&r.jobs),
        "groups" => list(&r.groups),
        "command" => r.command.as_ref().map(Spanned::span),
        "http" => r.http.as_ref().map(Spanned::span),
        _ => None,
    };
    found.unwrap_or_else(|| raw.span())
}

/// Validates every `[[notify]]` table; the valid rules, problems in `c`.
pub(super) fn notify_rules(
    c: &mut Checker<'_>,
    raws: &[Spanned<RawNotify>],
    registry: &JobRegistry,
) -> Vec<NotifyRule> {
    let mut rules = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for raw in raws {
        let r = raw.get_ref();
        let name = r.name.get_ref().trim().to_string();
        if let Some(first) = seen.get(&name) {
            c.at(
                r.name.span(),
                format!("duplicate notifier name `{name}`: already declared at line {first}; notifier names must be unique"),
            );
            continue;
        }
        seen.insert(name, c.position(raw.span().start).0);
        let decl = NotifyDecl {
            name: r.name.get_ref().clone(),
            on: r
                .on
                .as_ref()
                .map(|on| on.get_ref().iter().map(|e| e.get_ref().clone()).collect())
                .unwrap_or_default(),
            jobs: r
                .jobs
                .as_ref()
                .map(|j| j.get_ref().clone())
                .unwrap_or_default(),
            groups: r
                .groups
                .as_ref()
                .map(|g| g.get_ref().clone())
                .unwrap_or_default(),
            command: r.command.as_ref().map(|v| toml_to_json(v.get_ref())),
            http: r.http.as_ref().map(|t| table_to_json(t.get_ref())),
        };
        match validate_notify(&decl, registry) {
            Ok(rule) => rules.push(rule),
            Err(e) => {
                for issue in e.issues {
                    c.at(span_of(raw, &issue.path), issue.message);
                }
            }
        }
    }
    rules
}
