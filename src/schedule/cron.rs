//! STAND-IN (replaced by the real cron module): delegates to the `cron` crate.
use crate::schedule::dst::DstOptions;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    #[default]
    Quartz,
    Unix,
}
impl Dialect {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Quartz => "quartz",
            Self::Unix => "unix",
        }
    }
}
impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "quartz" => Ok(Self::Quartz),
            "unix" => Ok(Self::Unix),
            _ => Err(format!(
                "unknown cron dialect `{s}`: expected quartz or unix"
            )),
        }
    }
}
impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (field {field}, column {column})")]
pub struct CronError {
    pub field: &'static str,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct CronExpr {
    src: String,
    dialect: Dialect,
    inner: ::cron::Schedule,
}
impl PartialEq for CronExpr {
    fn eq(&self, o: &Self) -> bool {
        self.src == o.src && self.dialect == o.dialect
    }
}
impl Eq for CronExpr {}
impl CronExpr {
    pub fn parse(src: &str, dialect: Dialect) -> Result<CronExpr, CronError> {
        let text = if dialect == Dialect::Unix {
            format!("0 {src}")
        } else {
            src.to_string()
        };
        let inner = ::cron::Schedule::from_str(&text).map_err(|e| CronError {
            field: "expression",
            column: 1,
            message: e.to_string(),
        })?;
        Ok(CronExpr {
            src: src.to_string(),
            dialect,
            inner,
        })
    }
    pub fn source(&self) -> &str {
        &self.src
    }
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
    pub fn is_periodic(&self) -> bool {
        true
    }
    pub fn matches_local(&self, _t: NaiveDateTime) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstAdjustment {
    GapRunAtTransition,
    GapShiftedForward,
    FoldEarlier,
    FoldLater,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronFire {
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub dst: Option<DstAdjustment>,
}

#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: CronExpr,
    tz: Tz,
}
impl CronSchedule {
    pub fn new(expr: CronExpr, tz: Tz, _dst: DstOptions) -> Self {
        Self { expr, tz }
    }
    pub fn expr(&self) -> &CronExpr {
        &self.expr
    }
    pub fn tz(&self) -> Tz {
        self.tz
    }
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_fire_after(after).map(|f| f.at)
    }
    pub fn next_fire_after(&self, after: DateTime<Utc>) -> Option<CronFire> {
        let t = self.tz.from_utc_datetime(&after.naive_utc());
        self.expr.inner.after(&t).next().map(|n| CronFire {
            at: n.with_timezone(&Utc),
            local: n.naive_local(),
            dst: None,
        })
    }
}
