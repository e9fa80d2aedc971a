//! STAND-IN (replaced by the real DST module): policy types only.
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapPolicy {
    RunAtTransition,
    ShiftForward,
    Skip,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoldPolicy {
    Earlier,
    Later,
    Both,
}
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DstOptions {
    pub gap: Option<GapPolicy>,
    pub fold: Option<FoldPolicy>,
}

impl GapPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RunAtTransition => "run_at_transition",
            Self::ShiftForward => "shift_forward",
            Self::Skip => "skip",
        }
    }
}
impl FoldPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Earlier => "earlier",
            Self::Later => "later",
            Self::Both => "both",
        }
    }
}
impl FromStr for GapPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "run_at_transition" => Ok(Self::RunAtTransition),
            "shift_forward" => Ok(Self::ShiftForward),
            "skip" => Ok(Self::Skip),
            _ => Err(format!(
                "unknown DST gap policy `{s}`: expected run_at_transition, shift_forward or skip"
            )),
        }
    }
}
impl FromStr for FoldPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "earlier" => Ok(Self::Earlier),
            "later" => Ok(Self::Later),
            "both" => Ok(Self::Both),
            _ => Err(format!(
                "unknown DST fold policy `{s}`: expected earlier, later or both"
            )),
        }
    }
}
impl std::fmt::Display for GapPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
impl std::fmt::Display for FoldPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
