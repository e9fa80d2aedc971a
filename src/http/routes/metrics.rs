//! `GET /metrics`: the node's metrics and the per-job series read from
//! the database for this scrape (see [`crate::http::metrics`]).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::HEALTH_TIMEOUT;
use crate::client::ClientError;
use crate::http::AppState;
use crate::http::metrics::{CONTENT_TYPE, Gauges, JobSeries};

pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    let executor = &s.api.executor;
    let gauges = Gauges {
        running: executor.running(),
        free_slots: executor.free_slots(),
        max_concurrent: s.api.max_concurrent,
    };
    let jobs = job_series(&s).await;
    let text = s.metrics.render(&s.api.node_id, gauges, jobs.as_ref());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// The per-job series of one scrape, or `None` (logged) when the database
/// does not answer within [`HEALTH_TIMEOUT`].
async fn job_series(s: &AppState) -> Option<JobSeries> {
    let client = &s.api.client;
    let read =
        async { Ok::<_, ClientError>((client.jobs_health().await?, client.fire_counts().await?)) };
    match tokio::time::timeout(HEALTH_TIMEOUT, read).await {
        Ok(Ok((health, counts))) => Some(JobSeries { health, counts }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: the per-job series could not be read");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the database did not answer in time; per-job series left out");
            None
        }
    }
}
