//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::AppState;
use crate::error::{ApiError, Problem};

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "get_health", tag = "operations",
    responses((status = 200, description = "Alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "get_ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = String),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database does not answer",
            ))
        }
    }
}

/// Prometheus text-format metrics: request latency by route and status, jobs by state and
/// the age of the oldest waiting one, job failures and durations, ratings computed, feed loads.
#[utoipa::path(get, path = "/metrics", operation_id = "get_metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Queue gauges are read at scrape time: every replica reports the shared queue.
    match state.store.queue_stats().await {
        Ok(q) => {
            for (st, n) in [
                ("queued", q.queued),
                ("ready", q.ready),
                ("running", q.running),
                ("done", q.done),
                ("dead", q.dead),
            ] {
                metrics::gauge!("cyrisk_jobs", "state" => st).set(n as f64);
            }
            metrics::gauge!("cyrisk_jobs_oldest_ready_age_seconds").set(q.oldest_ready_age_secs);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the job queue failed"),
    }
    let body = crate::metrics_handle().map_or_else(String::new, |h| {
        h.run_upkeep();
        h.render()
    });
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
