//! What is wrong with a declaration: every problem, each with the JSON
//! path of the field at fault.

use std::fmt;

use serde::Serialize;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldIssue {
    /// The field's JSON path in a [`JobDecl`](super::JobDecl):
    /// `name`, `retry.factor`, `schedule.daily.every`, `schedule.daily.days[2]`.
    pub path: String,
    /// What is wrong and what was expected, naming the key as written.
    pub message: String,
    /// The 1-based character column of the fault inside the field's text,
    /// where the value has a place of its own (a cron expression's field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// Every problem found in one declaration (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    pub issues: Vec<FieldIssue>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&issue.message)?;
        }
        Ok(())
    }
}

impl ValidationError {
    /// A single problem.
    pub fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            issues: vec![FieldIssue {
                path: path.into(),
                message: message.into(),
                column: None,
            }],
        }
    }
}

/// Collects issues while a declaration is checked.
#[derive(Debug, Default)]
pub(crate) struct Issues(Vec<FieldIssue>);

impl Issues {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldIssue {
            path: path.into(),
            message: message.into(),
            column: None,
        });
    }

    pub fn push_at(&mut self, path: impl Into<String>, column: usize, message: impl Into<String>) {
        self.0.push(FieldIssue {
            path: path.into(),
            message: message.into(),
            column: Some(column),
        });
    }

    /// Records the error of a check, and passes its value on.
    pub fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.push(path, message)).ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn into_result<T>(self, value: Option<T>) -> Result<T, ValidationError> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ if self.0.is_empty() => Err(ValidationError::one(
                "",
                "the declaration is invalid".to_string(),
            )),
            _ => Err(ValidationError { issues: self.0 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_every_message() {
        let mut issues = Issues::default();
        issues.push("name", "a job `name` must not be empty");
        issues.push_at("schedule.cron", 3, "invalid cron expression");
        let err = issues.into_result::<()>(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a job `name` must not be empty; invalid cron expression"
        );
        assert_eq!(err.issues[1].column, Some(3));
    }
}
