//! Findings of an organisation: list with filters and paging, get, lifecycle history, and
//! moving a finding through its lifecycle.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cyrisk_core::finding::FindingState;
use cyrisk_store::{StateChange, StateOutcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize};
use crate::auth::Caller;
use crate::disputes::DisputeRecord;
use crate::error::{ApiError, Problem};
use crate::inputs::parse_json;
use crate::orgs::page_bounds;
use crate::schemas::{FindingDoc, FindingStateDoc};

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

/// A change of lifecycle state. What each role may set is the state × role table (README,
/// "Who may change a rating"): a third party's `closed`, `false_positive`, `risk_accepted`
/// or `unfixed_mitigated` is an attestation and needs a `reason`; the rated party's
/// `false_positive`, `risk_accepted` or `unfixed_mitigated` is filed as a dispute (202) and
/// needs a `reason`; the rated party cannot set `closed` (403).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateUpdate {
    #[schema(value_type = FindingStateDoc)]
    pub state: String,
    /// Why (required for attestations and disputes).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 4000)]
    pub reason: Option<String>,
    /// What supports it: a reference, a link, a re-test's output.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 16000)]
    pub evidence: Option<String>,
}

/// One lifecycle change.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateChangeRecord {
    #[schema(value_type = FindingStateDoc)]
    pub state: String,
    /// What the rating counts the finding as from then on, when not `state` (a fix only the
    /// rated party declared counts as the state it left until verified).
    #[schema(value_type = Option<FindingStateDoc>)]
    pub counts_as: Option<String>,
    pub at: String,
    /// The key that made the change (`cli` for the operator).
    pub actor: Option<String>,
    /// The key's role at the time (absent on entries made before roles were recorded).
    pub role: Option<String>,
    pub reason: Option<String>,
    pub evidence: Option<String>,
}

impl From<StateChange> for StateChangeRecord {
    fn from(h: StateChange) -> Self {
        Self {
            state: h.state,
            counts_as: h.counts_as,
            at: h.at,
            actor: h.actor,
            role: h.role,
            reason: h.reason,
            evidence: h.evidence,
        }
    }
}

pub(crate) fn parse_state(s: &str) -> Result<FindingState, ApiError> {
    FindingState::parse(s).ok_or_else(|| {
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

/// Move a finding to another lifecycle state, by the state × role table; the rated party's
/// `false_positive`, `risk_accepted` or `unfixed_mitigated` is filed as a dispute instead.
#[utoipa::path(
    patch, path = "/api/v1/organizations/{id}/findings/{finding_id}", operation_id = "update_finding_state", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), ("finding_id" = String, Path, description = "Finding id")),
    request_body(content = StateUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed (or already in that state): the finding's lifecycle history", body = [StateChangeRecord]),
        (status = 202, description = "The rated party's proposal, filed as a pending dispute; the finding and the rating are unchanged until it is accepted", body = DisputeRecord),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The role may not set this state (`verification_required`: the rated party cannot close a finding)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller, or no such finding", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A dispute on this finding is already pending", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body, unknown state, or a reason missing where one is required", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update_finding_state(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, finding_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    authorize(&state, &p, &id, Action::ChangeFindingState).await?;
    let update: StateUpdate = parse_json(&body, "")?;
    let new_state = parse_state(&update.state)?;
    let outcome = state
        .store
        .change_finding_state(
            &id,
            &finding_id,
            new_state,
            update.reason.as_deref(),
            update.evidence.as_deref(),
            &p,
        )
        .await?;
    Ok(match outcome {
        StateOutcome::Changed => Json(history(&state, &id, &finding_id).await?).into_response(),
        StateOutcome::Disputed(d) => {
            (StatusCode::ACCEPTED, Json(DisputeRecord::from(*d))).into_response()
        }
    })
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
        .map(StateChangeRecord::from)
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
