//! Findings of an organisation: list with filters and paging, get, lifecycle history, and
//! moving a finding through its lifecycle.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use cyrisk_core::finding::FindingState;
use cyrisk_store::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::orgs::page_bounds;
use crate::schemas::FindingDoc;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingQuery {
    /// Only findings in this lifecycle state (`open`, `verified`, …).
    pub state: Option<String>,
    /// Only KEV-listed (true) or not KEV-listed (false) findings.
    pub kev: Option<bool>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A change of lifecycle state.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateUpdate {
    /// open, verified, remediation_requested, fixed_pending_verification, closed,
    /// unfixed_mitigated, risk_accepted or false_positive.
    pub state: String,
}

/// One lifecycle change.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateChangeRecord {
    pub state: String,
    pub at: String,
    /// The key that made the change.
    pub actor: Option<String>,
}

fn parse_state(s: &str) -> Result<FindingState, ApiError> {
    FindingState::ALL
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| {
            let all: Vec<&str> = FindingState::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::invalid(format!(
                "state: unknown state {s:?}, one of {}",
                all.join(", ")
            ))
        })
}

/// List an organisation's findings.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/findings", operation_id = "list_findings", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), FindingQuery),
    responses(
        (status = 200, description = "Findings, by id (the bundle's finding format)", body = [FindingDoc]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown state filter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_findings(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<FindingQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    let filter = q.state.as_deref().map(parse_state).transpose()?;
    authorize(&state, &p, &id, Action::Read).await?;
    let findings = state
        .store
        .list_findings(&id, filter.map(FindingState::as_str), q.kev, limit, offset)
        .await?;
    Ok(Json(
        serde_json::to_value(findings).map_err(ApiError::internal)?,
    ))
}

/// Get one finding.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/findings/{finding_id}", operation_id = "get_finding", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), ("finding_id" = String, Path, description = "Finding id")),
    responses(
        (status = 200, description = "The finding (the bundle's finding format)", body = FindingDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller, or no such finding", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_finding(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, finding_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &p, &id, Action::Read).await?;
    let f = state.store.finding(&id, &finding_id).await?;
    Ok(Json(serde_json::to_value(f).map_err(ApiError::internal)?))
}

/// Move a finding to another lifecycle state (not for insurer keys).
#[utoipa::path(
    patch, path = "/api/v1/organizations/{id}/findings/{finding_id}", operation_id = "update_finding_state", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), ("finding_id" = String, Path, description = "Finding id")),
    request_body(content = StateUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The finding's lifecycle history after the change", body = [StateChangeRecord]),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Insurer keys watch findings but do not change them", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller, or no such finding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body or unknown state", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update_finding_state(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, finding_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Vec<StateChangeRecord>>, ApiError> {
    authorize(&state, &p, &id, Action::ChangeFindingState).await?;
    if p.role == Role::Insurer {
        return Err(ApiError::forbidden(
            "insurer keys watch findings but do not change them",
        ));
    }
    let update: StateUpdate =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(e.to_string()))?;
    let new_state = parse_state(&update.state)?;
    state
        .store
        .set_finding_state(&id, &finding_id, new_state, Some(&p.key_id))
        .await?;
    history(&state, &id, &finding_id).await.map(Json)
}

async fn history(
    state: &AppState,
    id: &str,
    finding_id: &str,
) -> Result<Vec<StateChangeRecord>, ApiError> {
    Ok(state
        .store
        .finding_history(id, finding_id)
        .await?
        .into_iter()
        .map(|h| StateChangeRecord {
            state: h.state,
            at: h.at,
            actor: h.actor,
        })
        .collect())
}

/// A finding's lifecycle history, oldest first.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/findings/{finding_id}/history", operation_id = "list_finding_history", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), ("finding_id" = String, Path, description = "Finding id")),
    responses(
        (status = 200, description = "Lifecycle changes, oldest first", body = [StateChangeRecord]),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller, or no such finding", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_finding_history(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, finding_id)): Path<(String, String)>,
) -> Result<Json<Vec<StateChangeRecord>>, ApiError> {
    authorize(&state, &p, &id, Action::Read).await?;
    state.store.finding(&id, &finding_id).await?;
    history(&state, &id, &finding_id).await.map(Json)
}
