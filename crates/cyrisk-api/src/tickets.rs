//! Remediation tickets and the organisation's remediation record (`cyrisk_app::tickets`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use cyrisk_app::tickets::{RemediationRecord, TicketRequest};
use cyrisk_store::{Ticket, TicketEvent, TicketSource, TicketStatus, TicketUpdate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Problem, check_text};
use crate::inputs::parse_json;

/// What a ticket is about.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketSourceDoc {
    Finding,
    Control,
    Alert,
}

/// Where a ticket is: `open`, `in_progress`, `resolved` (the insured says fixed; waiting for
/// verification) or `closed` (verified).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatusDoc {
    Open,
    InProgress,
    Resolved,
    Closed,
}

/// The statuses the people working a ticket may set (closing takes verification).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkStatusDoc {
    Open,
    InProgress,
    Resolved,
}

fn status_of(s: TicketStatusDoc) -> TicketStatus {
    match s {
        TicketStatusDoc::Open => TicketStatus::Open,
        TicketStatusDoc::InProgress => TicketStatus::InProgress,
        TicketStatusDoc::Resolved => TicketStatus::Resolved,
        TicketStatusDoc::Closed => TicketStatus::Closed,
    }
}

/// A ticket to open.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketCreate {
    pub source: TicketSourceDoc,
    /// The finding id, the control id (`mfa`, `patch_cadence`, …) or the alert id.
    #[schema(min_length = 1, max_length = 200, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub source_id: String,
    /// Default: from the source.
    #[schema(min_length = 1, max_length = 500, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub title: Option<String>,
    #[schema(min_length = 1, max_length = 200, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub assignee: Option<String>,
    /// The working due date. Default: the rating model's remediation SLA, from when the
    /// finding was first seen (a control or alert: from today). The remediation record always
    /// measures against the SLA date, whatever this says.
    pub due_on: Option<NaiveDate>,
}

/// A ticket (the schema of `cyrisk_store::Ticket`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Ticket)]
pub struct TicketDoc {
    pub id: String,
    pub org_id: String,
    pub source: TicketSourceDoc,
    pub source_id: String,
    pub title: String,
    pub assignee: Option<String>,
    /// The working due date.
    #[schema(value_type = String, format = Date)]
    pub due_on: String,
    /// The due date by the rating model's remediation SLA, fixed when opened: the remediation
    /// record measures against it.
    #[schema(value_type = String, format = Date)]
    pub sla_due_on: String,
    pub status: TicketStatusDoc,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub acknowledged_at: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    /// `rescan` or `attestation`, once closed.
    pub verified_by: Option<String>,
    pub verification_note: Option<String>,
}

/// One entry of a ticket's history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TicketEvent)]
pub struct TicketEventDoc {
    pub id: String,
    pub ticket_id: String,
    pub at: String,
    /// The key that made the change, or `rescan`.
    pub actor: String,
    /// `created`, `status`, `comment`, `evidence`, `assigned`, `due` or `verified`.
    pub kind: String,
    pub from_status: Option<TicketStatusDoc>,
    pub to_status: Option<TicketStatusDoc>,
    pub body: Option<String>,
}

/// A ticket with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetailDoc {
    #[serde(flatten)]
    pub ticket: TicketDoc,
    pub events: Vec<TicketEventDoc>,
}

/// A change by the people working a ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub status: Option<WorkStatusDoc>,
    #[schema(min_length = 1, max_length = 200, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub assignee: Option<String>,
    pub due_on: Option<NaiveDate>,
}

/// A comment, or evidence of the fix.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketComment {
    #[schema(min_length = 1, max_length = 10_000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub body: String,
    /// Evidence of the fix (a change record, a screenshot's reference) rather than a comment.
    #[serde(default)]
    pub evidence: bool,
}

/// An attestation that the fix is verified.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketVerification {
    /// What was checked, and how.
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub note: String,
}

/// The remediation record over the last year.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RemediationRecord)]
pub struct RemediationRecordDoc {
    pub window_days: u64,
    pub closed: usize,
    pub closed_within_sla: usize,
    pub share_closed_within_sla: Option<f64>,
    pub mean_days_to_acknowledge: Option<f64>,
    pub mean_days_to_remediate: Option<f64>,
    /// `pass` (≥ 90 % within SLA), `partial` (≥ 60 %) or `fail`, once at least five tickets
    /// closed; it enters the rating as a verified `patch_cadence` result.
    pub patch_cadence: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketsQuery {
    #[param(inline)]
    pub status: Option<TicketStatusDoc>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Skip this many.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// Open a remediation ticket on a finding, a control or an alert of the organisation.
#[utoipa::path(
    post, path = "/api/v1/organizations/{id}/tickets", operation_id = "create_ticket", tag = "tickets",
    params(("id" = String, Path, description = "Organisation id")),
    request_body(content = TicketCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Opened", body = TicketDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation, finding or alert visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The source already has an unclosed ticket", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a control id, or an invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create_ticket(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    let r: TicketCreate = parse_json(&body, "")?;
    check_text("source_id", Some(&r.source_id), 200)?;
    check_text("title", r.title.as_deref(), 500)?;
    check_text("assignee", r.assignee.as_deref(), 200)?;
    let source = match r.source {
        TicketSourceDoc::Finding => TicketSource::Finding,
        TicketSourceDoc::Control => TicketSource::Control,
        TicketSourceDoc::Alert => TicketSource::Alert,
    };
    let t = state
        .app
        .create_ticket(
            &p,
            &id,
            TicketRequest {
                source,
                source_id: r.source_id,
                title: r.title,
                assignee: r.assignee,
                due_on: r.due_on,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// The organisation's tickets, newest first.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/tickets", operation_id = "list_tickets", tag = "tickets",
    params(("id" = String, Path, description = "Organisation id"), TicketsQuery),
    responses(
        (status = 200, description = "Tickets", body = [TicketDoc]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_tickets(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<TicketsQuery>,
) -> Result<Json<Vec<Ticket>>, ApiError> {
    let (limit, offset) = crate::orgs::page_bounds(q.limit, q.offset)?;
    Ok(Json(
        state
            .app
            .tickets(&p, &id, q.status.map(status_of), limit, offset)
            .await?,
    ))
}

/// The organisation's remediation record over the last year (what feeds its patch cadence).
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/remediation", operation_id = "get_remediation_record", tag = "tickets",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The record", body = RemediationRecordDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_remediation_record(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<RemediationRecord>, ApiError> {
    Ok(Json(state.app.remediation_record(&p, &id).await?))
}

/// A ticket with its history.
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}", operation_id = "get_ticket", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id")),
    responses(
        (status = 200, description = "The ticket", body = TicketDetailDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_ticket(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<cyrisk_app::tickets::TicketDetail>, ApiError> {
    Ok(Json(state.app.ticket(&p, &id).await?))
}

/// Move a ticket (`open`, `in_progress`, `resolved`), reassign it or change its due date.
/// Closing takes verification: a re-scan, a passing control, or an attestation.
#[utoipa::path(
    patch, path = "/api/v1/tickets/{id}", operation_id = "update_ticket", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id")),
    request_body(content = TicketPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed", body = TicketDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ticket is closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn update_ticket(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Ticket>, ApiError> {
    let r: TicketPatch = parse_json(&body, "")?;
    check_text("assignee", r.assignee.as_deref(), 200)?;
    let u = TicketUpdate {
        status: r.status.map(|s| match s {
            WorkStatusDoc::Open => TicketStatus::Open,
            WorkStatusDoc::InProgress => TicketStatus::InProgress,
            WorkStatusDoc::Resolved => TicketStatus::Resolved,
        }),
        assignee: r.assignee,
        due_on: r.due_on,
    };
    Ok(Json(state.app.update_ticket(&p, &id, &u).await?))
}

/// Add a comment, or evidence of the fix, to a ticket.
#[utoipa::path(
    post, path = "/api/v1/tickets/{id}/comments", operation_id = "comment_ticket", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id")),
    request_body(content = TicketComment, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = TicketEventDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn comment_ticket(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<TicketEvent>), ApiError> {
    let r: TicketComment = parse_json(&body, "")?;
    check_text("body", Some(&r.body), 10_000)?;
    let e = state
        .app
        .comment_ticket(&p, &id, &r.body, r.evidence)
        .await?;
    Ok((StatusCode::CREATED, Json(e)))
}

/// Close a ticket on an attestation that the fix is verified (assessor, insurer or admin
/// keys; never the rated party's).
#[utoipa::path(
    post, path = "/api/v1/tickets/{id}/verify", operation_id = "verify_ticket", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id")),
    request_body(content = TicketVerification, content_type = "application/json"),
    responses(
        (status = 200, description = "Closed as verified", body = TicketDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The rated party does not verify its own remediation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn verify_ticket(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Ticket>, ApiError> {
    let r: TicketVerification = parse_json(&body, "")?;
    check_text("note", Some(&r.note), 2000)?;
    Ok(Json(state.app.verify_ticket(&p, &id, &r.note).await?))
}
