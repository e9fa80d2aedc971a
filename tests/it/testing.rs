//! The harness cosched ships to embedders (`cosched::testing`), used the way
//! an embedder would: a job kind of its own, stepped through time.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use cosched::jobs::{FireContext, JobKind, JobOutcome};
use cosched::testing::{TestNode, TestingError};
use cosched::{Clock, JobDef, JobRegistry};
use serde_json::Value;

use crate::support::backends;

/// An embedder's job kind: remembers the instants it was fired for.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(String, i64)>>,
}

#[async_trait]
impl JobKind for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn validate(&self, _settings: &Value) -> Result<(), String> {
        Ok(())
    }

    async fn run(&self, fire: &FireContext, _settings: &Value) -> JobOutcome {
        self.seen
            .lock()
            .unwrap()
            .push((fire.job.clone(), fire.scheduled_at.timestamp_millis()));
        JobOutcome::Succeeded {
            output: Some("recorded".into()),
        }
    }
}

#[tokio::test]
async fn an_embedder_steps_its_own_job_kind_through_time() {
    for db in backends().await {
        let recorder = Arc::new(Recorder::default());
        let mut registry = JobRegistry::with_builtins();
        registry.register(recorder.clone());
        let mut node = TestNode::builder(&db.url)
            .registry(registry)
            .start()
            .await
            .expect("node");
        let start = node.clock.now_ms();
        node.client
            .trigger_now("nope", None)
            .await
            .expect_err("unknown job");
        node.client
            .create_job_def(&JobDef::new("mine", "recorder"), None)
            .await
            .expect("create");
        node.client
            .trigger_now("mine", None)
            .await
            .expect("trigger");
        // Nothing fires until the test steps.
        assert!(recorder.seen.lock().unwrap().is_empty());
        let pass = node.step_and_settle().await.expect("pass");
        assert_eq!(pass.started, 1, "{}", db.backend);
        assert_eq!(
            recorder.seen.lock().unwrap().as_slice(),
            [("mine".to_string(), start)]
        );
        // A one-off a minute ahead fires only once the clock gets there.
        node.client
            .schedule_in("mine", Duration::from_secs(60), None)
            .await
            .expect("schedule");
        assert_eq!(node.step_and_settle().await.expect("pass").started, 0);
        node.advance(Duration::from_secs(60));
        assert_eq!(node.step_and_settle().await.expect("pass").started, 1);
        assert_eq!(recorder.seen.lock().unwrap()[1].1, start + 60_000);
        // Waiting for a fire that never starts says so instead of hanging.
        let mut quick = TestNode::builder(&db.url)
            .node_id("other")
            .wait(Duration::from_millis(50))
            .start()
            .await
            .expect("second node");
        assert!(matches!(
            quick.completions(1).await,
            Err(TestingError::Timeout {
                wanted: 1,
                seen: 0,
                ..
            })
        ));
    }
}
