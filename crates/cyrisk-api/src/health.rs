//! Liveness, readiness and metrics.

use std::sync::atomic::Ordering;

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

/// Prometheus text-format metrics.
#[utoipa::path(get, path = "/metrics", operation_id = "get_metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    let body = format!(
        "# HELP cyrisk_http_requests_total HTTP requests served.\n# TYPE cyrisk_http_requests_total counter\ncyrisk_http_requests_total {}\n\
         # HELP cyrisk_http_errors_total HTTP responses with status 500 or above.\n# TYPE cyrisk_http_errors_total counter\ncyrisk_http_errors_total {}\n",
        m.requests.load(Ordering::Relaxed),
        m.server_errors.load(Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
