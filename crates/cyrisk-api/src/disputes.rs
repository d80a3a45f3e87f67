//! Disputes: the rated party's claims that a finding is a false positive, an accepted risk or
//! shielded by a compensating control (filed by `PATCH …/findings/{finding_id}`), listed and
//! decided by someone other than the rated party. A dispute has no effect on the rating until
//! it is accepted; a rejected one is kept.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use cyrisk_store::{Dispute, DisputeStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize};
use crate::auth::Caller;
use crate::error::{ApiError, Problem, check_text};
use crate::inputs::parse_json;
use crate::orgs::page_bounds;
use crate::schemas::FindingStateDoc;

/// Where a dispute is.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatusName {
    Pending,
    Accepted,
    Rejected,
}

impl From<DisputeStatusName> for DisputeStatus {
    fn from(s: DisputeStatusName) -> Self {
        match s {
            DisputeStatusName::Pending => Self::Pending,
            DisputeStatusName::Accepted => Self::Accepted,
            DisputeStatusName::Rejected => Self::Rejected,
        }
    }
}

/// A dispute as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeRecord {
    pub id: String,
    pub org_id: String,
    pub finding_id: String,
    /// `false_positive`, `risk_accepted` or `unfixed_mitigated`.
    #[schema(value_type = FindingStateDoc)]
    pub proposed_state: String,
    pub reason: String,
    pub evidence: Option<String>,
    /// The key that filed it.
    pub filed_by: String,
    pub filed_at: String,
    #[schema(value_type = DisputeStatusName)]
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_role: Option<String>,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
}

impl From<Dispute> for DisputeRecord {
    fn from(d: Dispute) -> Self {
        Self {
            id: d.id,
            org_id: d.org_id,
            finding_id: d.finding_id,
            proposed_state: d.proposed_state.as_str().to_owned(),
            reason: d.reason,
            evidence: d.evidence,
            filed_by: d.filed_by,
            filed_at: d.filed_at,
            status: d.status.as_str().to_owned(),
            decided_by: d.decided_by,
            decided_role: d.decided_role,
            decided_at: d.decided_at,
            decision_note: d.decision_note,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisputeQuery {
    /// Only disputes in this status.
    pub status: Option<DisputeStatusName>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Skip this many.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Reject,
}

/// Accept or reject a dispute.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: Decision,
    /// The reviewer's note, kept with the dispute.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 4000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub note: Option<String>,
}

/// An organisation's disputes, newest first.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/disputes", operation_id = "list_disputes", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), DisputeQuery),
    responses(
        (status = 200, description = "Disputes, newest first", body = [DisputeRecord]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_disputes(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<DisputeQuery>,
) -> Result<Json<Vec<DisputeRecord>>, ApiError> {
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    authorize(&state, &p, &id, Action::Read).await?;
    Ok(Json(
        state
            .store
            .disputes(&id, q.status.map(Into::into), limit, offset)
            .await?
            .into_iter()
            .map(DisputeRecord::from)
            .collect(),
    ))
}

/// Accept or reject a pending dispute (assessor, insurer and admin keys; never the rated
/// party, never the key that filed it). Accepting moves the finding to the proposed state.
#[utoipa::path(
    post, path = "/api/v1/organizations/{id}/disputes/{dispute_id}/decision", operation_id = "decide_dispute", tag = "findings",
    params(("id" = String, Path, description = "Organisation id"), ("dispute_id" = String, Path, description = "Dispute id")),
    request_body(content = DecisionRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The decided dispute", body = DisputeRecord),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The rated party, or the key that filed the dispute, may not decide it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller, or no such dispute", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The dispute was already decided", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn decide_dispute(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, dispute_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<DisputeRecord>, ApiError> {
    authorize(&state, &p, &id, Action::DecideDispute).await?;
    let req: DecisionRequest = parse_json(&body, "")?;
    check_text("note", req.note.as_deref(), 4000)?;
    let d = state
        .store
        .decide_dispute(
            &id,
            &dispute_id,
            matches!(req.decision, Decision::Accept),
            req.note.as_deref(),
            &p,
        )
        .await?;
    Ok(Json(d.into()))
}
