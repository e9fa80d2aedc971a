//! The `[[calendar]]` tables: each checked and stored as a
//! [`CalendarDef`]'s JSON with its time zone filled in.

use std::ops::Range;

use chrono_tz::Tz;
use toml::Spanned;

use super::raw::RawCalendar;
use super::spans::Checker;
use crate::declare::parse_timezone;
use crate::schedule::calendar::{CalendarDef, CalendarError, DailyRangeDef};

/// Validates a `[[calendar]]` table and returns its [`CalendarDef`] as
/// JSON, with `timezone` filled in (`default_tz` when the table names none),
/// so the stored definition means the same on every node.
pub(super) fn calendar_decl(
    c: &mut Checker<'_>,
    raw: &RawCalendar,
    default_tz: Tz,
) -> Option<String> {
    let name = raw.name.get_ref().clone();
    let before = c.issues.len();
    let list = |v: &Option<Spanned<Vec<String>>>| {
        v.as_ref().map(|l| l.get_ref().clone()).unwrap_or_default()
    };
    let mut dates = Vec::new();
    if let Some(d) = &raw.dates {
        for v in d.get_ref() {
            match v {
                toml::Value::String(s) => dates.push(s.clone()),
                toml::Value::Datetime(dt) if dt.date.is_some() && dt.time.is_none() => {
                    dates.push(dt.to_string())
                }
                other => c.at(
                    d.span(),
                    format!(
                        "calendar `{name}`: `dates` = {other}: expected days such as \"2026-12-25\" or 2026-12-25"
                    ),
                ),
            }
        }
    }
    let daily_range = raw.daily_range.as_ref().and_then(|r| {
        let range = r.get_ref();
        let text = |key: &str, v: &toml::Value, c: &mut Checker<'_>| match time_text(v) {
            Some(t) => Some(t),
            None => {
                c.at(
                    r.span(),
                    format!("calendar `{name}`: `daily_range.{key}` = {v}: expected a time of day such as \"22:00\""),
                );
                None
            }
        };
        let from = text("from", &range.from, c);
        let to = text("to", &range.to, c);
        Some(DailyRangeDef {
            from: from?,
            to: to?,
            invert: range.invert.unwrap_or(false),
        })
    });
    let tz = match &raw.timezone {
        None => default_tz,
        Some(t) => c.check(t.span(), parse_timezone(t.get_ref()))?,
    };
    if c.issues.len() > before {
        return None;
    }
    let def = CalendarDef {
        name: name.clone(),
        timezone: Some(tz.name().to_string()),
        dates,
        annual: list(&raw.annual),
        days_of_week: list(&raw.days_of_week),
        days_of_month: raw
            .days_of_month
            .as_ref()
            .map(|l| l.get_ref().clone())
            .unwrap_or_default(),
        daily_range,
        cron: list(&raw.cron),
    };
    if let Err(e) = def.compile(tz) {
        let span = |v: Option<Range<usize>>| v.unwrap_or_else(|| raw.name.span());
        let at = match &e {
            CalendarError::EmptyName => raw.name.span(),
            CalendarError::UnknownTimeZone { .. } => span(raw.timezone.as_ref().map(|t| t.span())),
            CalendarError::InvalidCron { .. } => span(raw.cron.as_ref().map(|t| t.span())),
            CalendarError::InvalidValue { key, .. } => {
                let field = key.split(['[', '.']).next().unwrap_or_default();
                span(match field {
                    "dates" => raw.dates.as_ref().map(|v| v.span()),
                    "annual" => raw.annual.as_ref().map(|v| v.span()),
                    "days_of_week" => raw.days_of_week.as_ref().map(|v| v.span()),
                    "days_of_month" => raw.days_of_month.as_ref().map(|v| v.span()),
                    "daily_range" => raw.daily_range.as_ref().map(|v| v.span()),
                    _ => None,
                })
            }
        };
        c.at(at, e.to_string());
        return None;
    }
    match serde_json::to_string(&def) {
        Ok(json) => Some(json),
        Err(e) => {
            c.at(
                raw.name.span(),
                format!("calendar `{name}` cannot be stored: {e}"),
            );
            None
        }
    }
}

/// A time of day written as a string (`"09:00"`) or a TOML local time
/// (`09:00:00`), as text.
pub(super) fn time_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Datetime(dt)
            if dt.date.is_none() && dt.time.is_some() && dt.offset.is_none() =>
        {
            Some(dt.to_string())
        }
        _ => None,
    }
}
