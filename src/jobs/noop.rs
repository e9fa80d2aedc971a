//! `noop`: does nothing and succeeds. For benchmarks (the scheduler is
//! measured, not process start-up) and for on-demand placeholders.

use async_trait::async_trait;
use serde_json::Value;

use super::{FireContext, JobKind, JobOutcome};

pub struct NoopJob;

#[async_trait]
impl JobKind for NoopJob {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn validate(&self, settings: &Value) -> Result<(), String> {
        match settings {
            Value::Object(map) if map.is_empty() => Ok(()),
            Value::Null => Ok(()),
            _ => Err("the noop kind takes no settings".to_string()),
        }
    }

    async fn run(&self, _fire: &FireContext, _settings: &Value) -> JobOutcome {
        JobOutcome::Succeeded { output: None }
    }
}
