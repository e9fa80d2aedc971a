//! `/metrics` of a real server, parsed with a real OpenMetrics parser, as
//! a scraper reads it: the per-job series count what a stepped node fired
//! (one-offs under their job), the next-fire gauge is the schedule's next
//! instant, and the node's counters keep their names.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration as TimeDelta;
use cosched::jobs::RetryDirective;
use cosched::model::{JobDef, TriggerDef};
use cosched::schedule::ScheduleSpec;
use cosched::schedule::cron::{CronExpr, Dialect};
use cosched::{FireContext, JobKind, JobOutcome, JobRegistry};
use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use serde_json::Value;

use crate::http::{Running, get};
use crate::support::{self, Harness, t0};

type Exposition = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

/// A job kind that always fails.
struct Fail;

#[async_trait]
impl JobKind for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }
    fn validate(&self, _settings: &Value) -> Result<(), String> {
        Ok(())
    }
    async fn run(&self, _fire: &FireContext, _settings: &Value) -> JobOutcome {
        JobOutcome::Failed {
            error: "always".into(),
            output: None,
            retry: RetryDirective::default(),
        }
    }
}

/// The value of the sample of `family` with exactly these labels.
fn value(exp: &Exposition, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = exp.families.get(family)?;
    family
        .iter_samples()
        .find(|s| {
            let set = s.get_labelset().expect("a label set");
            set.iter().count() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|s| match &s.value {
            OpenMetricsValue::Gauge(n) | OpenMetricsValue::Unknown(n) => n.as_f64(),
            OpenMetricsValue::Counter(c) => c.value.as_f64(),
            OpenMetricsValue::Histogram(h) => h.count.unwrap_or_default() as f64,
            other => panic!("unexpected value {other:?}"),
        })
}

/// Scrapes `/metrics` and parses it.
async fn scrape(node: &Running) -> Exposition {
    let r = get(node.addr, "/metrics").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    parse_openmetrics(&r.body).unwrap_or_else(|e| panic!("not OpenMetrics ({e:?}):\n{}", r.body))
}

#[tokio::test]
async fn per_job_series_count_what_a_stepped_node_fired() {
    for db in support::backends().await {
        let b = db.backend;
        let mut registry = JobRegistry::with_builtins();
        registry.register(Arc::new(Fail));
        let mut h = Harness::with(&db.url, "node-a", 16, registry).await;
        let every_minute = ScheduleSpec::Cron {
            expr: CronExpr::parse("0 * * * * ?", Dialect::Quartz).unwrap(),
            tz: chrono_tz::Europe::Berlin,
            dst: Default::default(),
        };
        let trigger = TriggerDef::new(every_minute.clone());
        h.client
            .create_job_def(&JobDef::new("tick", "noop"), Some(&trigger))
            .await
            .unwrap();
        h.client
            .create_job_def(&JobDef::new("bad", "fail"), None)
            .await
            .unwrap();
        // t0, t0+1m, t0+2m, and two one-offs of `tick` at t0+2m+10s, +20s.
        h.step_and_settle().await;
        for _ in 0..2 {
            h.advance(60);
            h.step_and_settle().await;
        }
        for s in [10, 20] {
            h.client
                .schedule_at("tick", t0() + TimeDelta::seconds(120 + s), None)
                .await
                .unwrap();
        }
        h.client.trigger_now("bad", None).await.unwrap();
        h.advance(10);
        h.step_and_settle().await;
        h.client.trigger_now("bad", None).await.unwrap();
        h.advance(10);
        h.step_and_settle().await;

        // A node serving another pool: it shows the database, fires nothing.
        let node = Running::start_full(&db.url, "pools = [\"elsewhere\"]", "", "").await;
        let exp = scrape(&node).await;
        let tick = [("job", "tick")];
        assert_eq!(
            value(
                &exp,
                "cosched_job_fires",
                &[("job", "tick"), ("status", "succeeded")]
            ),
            Some(5.0),
            "{b}"
        );
        assert_eq!(
            value(
                &exp,
                "cosched_job_fires",
                &[("job", "bad"), ("status", "failed")]
            ),
            Some(2.0),
            "{b}"
        );
        let fires_family = &exp.families["cosched_job_fires"];
        assert_eq!(
            fires_family.iter_samples().count(),
            2,
            "{b}: one series per job and status"
        );
        assert_eq!(
            value(&exp, "cosched_job_consecutive_failures", &[("job", "bad")]),
            Some(2.0),
            "{b}"
        );
        assert_eq!(
            value(&exp, "cosched_job_consecutive_failures", &tick),
            Some(0.0)
        );
        // The next fire is the schedule's next instant after the last one.
        let last = t0() + TimeDelta::seconds(120);
        let next = every_minute
            .schedule(t0(), None)
            .next_after(last)
            .expect("fires again");
        assert_eq!(
            value(&exp, "cosched_job_next_fire_timestamp_seconds", &tick),
            Some(next.timestamp_millis() as f64 / 1000.0),
            "{b}"
        );
        assert_eq!(
            value(
                &exp,
                "cosched_job_next_fire_timestamp_seconds",
                &[("job", "bad")]
            ),
            None
        );
        let success = value(&exp, "cosched_job_last_success_timestamp_seconds", &tick)
            .expect("tick succeeded");
        assert!(
            success >= (t0() + TimeDelta::seconds(140)).timestamp() as f64,
            "{b}: {success}"
        );
        assert_eq!(
            value(
                &exp,
                "cosched_job_last_success_timestamp_seconds",
                &[("job", "bad")]
            ),
            None
        );
        assert!(
            value(
                &exp,
                "cosched_job_last_failure_timestamp_seconds",
                &[("job", "bad")]
            )
            .is_some()
        );
        assert_eq!(value(&exp, "cosched_job_metrics_up", &[]), Some(1.0));

        // The node's own series keep their names; this node fired nothing.
        assert_eq!(value(&exp, "cosched_fires_started", &[]), Some(0.0), "{b}");
        assert_eq!(
            value(&exp, "cosched_fires_finished", &[("status", "succeeded")]),
            Some(0.0)
        );
        assert_eq!(value(&exp, "cosched_max_concurrent", &[]), Some(16.0));
        assert_eq!(value(&exp, "cosched_fire_lateness_seconds", &[]), Some(0.0));
        assert_eq!(
            value(
                &exp,
                "cosched_node_info",
                &[
                    ("node", "http-node"),
                    ("version", env!("CARGO_PKG_VERSION"))
                ]
            ),
            Some(1.0)
        );
        node.stop().await;
    }
}
