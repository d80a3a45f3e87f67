//! Findings of an organisation: list with filters and paging, get, lifecycle history, and
//! moving a finding through its lifecycle.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cyrisk_core::finding::{Finding, FindingState};
use cyrisk_store::{StateChange, StateOutcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize};
use crate::auth::Caller;
use crate::disputes::DisputeRecord;
use crate::error::{ApiError, Problem, check_text};
use crate::inputs::parse_json;
use crate::orgs::page_bounds;
use crate::schemas::{FindingStateDoc, FindingViewDoc, StateUpdateDoc};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingQuery {
    /// Only findings in this lifecycle state (`open`, `verified`, …).
    #[param(value_type = Option<FindingStateDoc>)]
    pub state: Option<String>,
    /// Only KEV-listed (true) or not KEV-listed (false) findings, by the flag the rating uses
    /// (the current CISA catalogue over every CVE of the finding, or the scanner's).
    pub kev: Option<bool>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Skip this many.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A change of lifecycle state (its schema, with the rule on `reason`, is
/// [`StateUpdateDoc`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateUpdate {
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
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

/// A finding as the API shows it: the bundle's finding format with the KEV flag and EPSS the
/// rating uses (from the current feeds over all the finding's CVEs), where each came from,
/// and the rated party's pending dispute, if any.
#[derive(Debug, Serialize)]
pub struct FindingView {
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kev_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epss_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_dispute: Option<DisputeRecord>,
}

/// The findings as the API shows them.
async fn views(
    state: &AppState,
    org_id: &str,
    findings: Vec<Finding>,
) -> Result<Vec<FindingView>, ApiError> {
    let feeds = state.app.current_feeds().await?;
    let mut disputes = state.store.pending_disputes(org_id).await?;
    Ok(findings
        .into_iter()
        .map(|mut f| {
            let src = feeds.effective(&mut f);
            FindingView {
                pending_dispute: disputes.remove(&f.id).map(DisputeRecord::from),
                finding: f,
                kev_source: src.kev,
                epss_source: src.epss,
            }
        })
        .collect())
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
        (status = 200, description = "Findings, by id, with the KEV flag and EPSS the rating uses and where they came from", body = [FindingViewDoc]),
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
) -> Result<Json<Vec<FindingView>>, ApiError> {
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    let filter = q.state.as_deref().map(parse_state).transpose()?;
    authorize(&state, &p, &id, Action::Read).await?;
    let state_filter = filter.map(FindingState::as_str);
    let listed = match q.kev {
        // The KEV filter is on the effective flag (the catalogue's, over every CVE), which
        // the database does not hold: filter the organisation's findings, then page.
        Some(kev) => {
            let all = state
                .store
                .list_findings(&id, state_filter, i64::MAX, 0)
                .await?;
            views(&state, &id, all)
                .await?
                .into_iter()
                .filter(|v| v.finding.kev == kev)
                .skip(offset as usize)
                .take(limit as usize)
                .collect()
        }
        None => {
            let page = state
                .store
                .list_findings(&id, state_filter, limit, offset)
                .await?;
            views(&state, &id, page).await?
        }
    };
    Ok(Json(listed))
}

/// Get one finding.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/findings/{finding_id}", operation_id = "get_finding", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), ("finding_id" = String, Path, description = "Finding id")),
    responses(
        (status = 200, description = "The finding, with the KEV flag and EPSS the rating uses and where they came from", body = FindingViewDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller, or no such finding", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_finding(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, finding_id)): Path<(String, String)>,
) -> Result<Json<FindingView>, ApiError> {
    authorize(&state, &p, &id, Action::Read).await?;
    let f = state.store.finding(&id, &finding_id).await?;
    let mut v = views(&state, &id, vec![f]).await?;
    v.pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("finding"))
}

/// Move a finding to another lifecycle state, by the state × role table; the rated party's
/// `false_positive`, `risk_accepted` or `unfixed_mitigated` is filed as a dispute instead.
#[utoipa::path(
    patch, path = "/api/v1/organizations/{id}/findings/{finding_id}", operation_id = "update_finding_state", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), ("finding_id" = String, Path, description = "Finding id")),
    request_body(content = StateUpdateDoc, content_type = "application/json"),
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
    check_text("reason", update.reason.as_deref(), 4000)?;
    check_text("evidence", update.evidence.as_deref(), 16000)?;
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
