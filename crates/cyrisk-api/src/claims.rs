//! Post-policy: claims and their reserves and payments, loss runs per policy and per
//! insurer, and the renewal pack (`cyrisk_app::claims`, `cyrisk_app::renewal`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use cyrisk_app::claims::{ClaimRequest, LossRun};
use cyrisk_app::renewal::RenewalPack;
use cyrisk_core::peril::Peril;
use cyrisk_store::{ClaimStatus, InsuranceClaim, MovementKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem, check_text};
use crate::inputs::parse_json;

/// The peril of a loss.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PerilDoc {
    Ransomware,
    FundsTransferFraud,
    DataBreach,
    Outage,
    Other,
}

/// A claim to file.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimCreate {
    #[schema(min_length = 1)]
    pub policy_id: String,
    /// The date of loss (within the period of cover).
    pub loss_on: NaiveDate,
    /// The date the insurer was notified (on or after the loss, not in the future).
    pub notified_on: NaiveDate,
    pub peril: PerilDoc,
    #[schema(min_length = 1, max_length = 10_000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub description: String,
}

/// A reserve change or a payment.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKindDoc {
    /// Sets the outstanding case reserve to the amount.
    Reserve,
    /// Adds to paid; erodes the outstanding reserve by as much.
    Payment,
}

/// A reserve change or a payment to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MovementCreate {
    pub kind: MovementKindDoc,
    /// In the policy's currency: a reserve at least 0, a payment more than 0.
    #[schema(minimum = 0.0)]
    pub amount: f64,
    /// The date (on or after the loss, not in the future).
    pub on: NaiveDate,
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub note: Option<String>,
}

/// A claim's status.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatusDoc {
    Open,
    Closed,
    Denied,
}

/// Close, deny or reopen a claim.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimStatusChange {
    pub status: ClaimStatusDoc,
    /// The date (on or after the loss, not in the future).
    pub on: NaiveDate,
}

/// A reserve change or payment (the schema of `cyrisk_store::ClaimMovement`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ClaimMovement)]
pub struct ClaimMovementDoc {
    pub id: String,
    pub kind: MovementKindDoc,
    pub amount: f64,
    #[schema(value_type = String, format = Date)]
    pub on: String,
    pub note: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

/// A claim with its movements and totals (the schema of `cyrisk_store::InsuranceClaim`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Claim)]
pub struct ClaimDoc {
    pub id: String,
    pub policy_id: String,
    pub org_id: String,
    pub insurer_key_id: String,
    #[schema(value_type = String, format = Date)]
    pub loss_on: String,
    #[schema(value_type = String, format = Date)]
    pub notified_on: String,
    pub peril: PerilDoc,
    pub description: String,
    pub status: ClaimStatusDoc,
    pub created_at: String,
    pub created_by: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub closed_on: Option<String>,
    pub paid: f64,
    /// The outstanding case reserve.
    pub outstanding: f64,
    /// Paid + outstanding.
    pub incurred: f64,
    pub movements: Vec<ClaimMovementDoc>,
}

/// One policy's line in a loss run.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LossRunRow)]
pub struct LossRunRowDoc {
    pub policy_id: String,
    pub org_id: String,
    pub insurer_key_id: String,
    pub underwriting_year: i32,
    #[schema(value_type = String, format = Date)]
    pub starts_on: String,
    #[schema(value_type = String, format = Date)]
    pub ends_on: String,
    pub currency: String,
    pub written_premium: f64,
    /// Written × the share of the period of cover elapsed.
    pub earned_premium: f64,
    pub claims: usize,
    pub open_claims: usize,
    pub paid: f64,
    pub outstanding: f64,
    pub incurred: f64,
    /// Incurred ÷ earned.
    pub loss_ratio: Option<f64>,
}

/// Totals per currency and underwriting year.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LossRunTotal)]
pub struct LossRunTotalDoc {
    pub currency: String,
    pub underwriting_year: i32,
    pub policies: usize,
    pub written_premium: f64,
    pub earned_premium: f64,
    pub claims: usize,
    pub paid: f64,
    pub outstanding: f64,
    pub incurred: f64,
    pub loss_ratio: Option<f64>,
}

/// A loss run as of a date.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LossRun)]
pub struct LossRunDoc {
    #[schema(value_type = String, format = Date)]
    pub as_of: String,
    pub rows: Vec<LossRunRowDoc>,
    pub totals: Vec<LossRunTotalDoc>,
    pub claims: Vec<ClaimDoc>,
}

/// The renewal pack (the schema of `cyrisk_app::renewal::RenewalPack`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RenewalPack)]
pub struct RenewalPackDoc {
    /// The policy (as in `GET /policies/{id}`, without `phase` and `endorsements`).
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
    #[schema(value_type = String, format = Date)]
    pub as_of: String,
    /// 90 days before expiry.
    #[schema(value_type = String, format = Date)]
    pub opens_on: String,
    /// `{rating_id, as_of, score, grade}` at inception.
    #[schema(value_type = Object)]
    pub inception: serde_json::Value,
    /// `{rating_id, as_of, score, grade}` now.
    #[schema(value_type = Object)]
    pub current: serde_json::Value,
    pub score_change: i64,
    /// `[{factor, family, points_at_inception, points_now, change}]`, largest move first.
    #[schema(value_type = Vec<Object>)]
    pub factor_changes: serde_json::Value,
    /// The largest moves in words.
    pub explanation: Vec<String>,
    /// `{open_findings: [...], failing_rules: [...]}`.
    #[schema(value_type = Object)]
    pub contingencies: serde_json::Value,
    pub claims: Vec<ClaimDoc>,
    pub loss_run: LossRunRowDoc,
    /// The same layer next year on today's rating: `{starts_on, ends_on, deductible, limit,
    /// layer_expected_loss, premium, premium_at_inception, expiring_premium,
    /// indicated_premium, indicated_change}`.
    #[schema(value_type = Object)]
    pub renewal_quote: serde_json::Value,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LossRunQuery {
    /// The date premium is earned to (default today).
    pub as_of: Option<NaiveDate>,
    /// Admin keys: one insurer's book (default every policy).
    pub insurer_key_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PolicyLossRunQuery {
    /// The date premium is earned to (default today).
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenewalQuery {
    /// Simulated years for the renewal quote (default 100,000; at least 10,000).
    #[param(minimum = 10_000, maximum = 2_000_000)]
    pub trials: Option<u64>,
}

fn peril_of(p: PerilDoc) -> Peril {
    match p {
        PerilDoc::Ransomware => Peril::Ransomware,
        PerilDoc::FundsTransferFraud => Peril::FundsTransferFraud,
        PerilDoc::DataBreach => Peril::DataBreach,
        PerilDoc::Outage => Peril::Outage,
        PerilDoc::Other => Peril::Other,
    }
}

/// File a claim on a policy (its insurer, or an admin).
#[utoipa::path(
    post, path = "/api/v1/claims", operation_id = "create_claim", tag = "claims",
    request_body(content = ClaimCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Filed", body = ClaimDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A date outside the cover, notice before the loss or in the future, or an invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create_claim(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<InsuranceClaim>), ApiError> {
    authorize_role(&p, Action::BindPolicy)?;
    let r: ClaimCreate = parse_json(&body, "")?;
    check_text("description", Some(&r.description), 10_000)?;
    let c = state
        .app
        .file_claim(
            &p,
            ClaimRequest {
                policy_id: r.policy_id,
                loss_on: r.loss_on,
                notified_on: r.notified_on,
                peril: peril_of(r.peril),
                description: r.description,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// One claim (the policy's insurer, an admin, or a key of the insured).
#[utoipa::path(
    get, path = "/api/v1/claims/{id}", operation_id = "get_claim", tag = "claims",
    params(("id" = String, Path, description = "Claim id")),
    responses(
        (status = 200, description = "The claim", body = ClaimDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_claim(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<InsuranceClaim>, ApiError> {
    Ok(Json(state.app.claim(&p, &id).await?))
}

/// Record a reserve change or a payment on an open claim (its insurer, or an admin).
#[utoipa::path(
    post, path = "/api/v1/claims/{id}/movements", operation_id = "add_claim_movement", tag = "claims",
    params(("id" = String, Path, description = "Claim id")),
    request_body(content = MovementCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The claim with the movement", body = ClaimDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The claim is closed or denied", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A zero payment, a date before the loss or in the future, or an invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn add_claim_movement(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<InsuranceClaim>, ApiError> {
    authorize_role(&p, Action::BindPolicy)?;
    let r: MovementCreate = parse_json(&body, "")?;
    check_text("note", r.note.as_deref(), 2000)?;
    let kind = match r.kind {
        MovementKindDoc::Reserve => MovementKind::Reserve,
        MovementKindDoc::Payment => MovementKind::Payment,
    };
    Ok(Json(
        state
            .app
            .claim_movement(&p, &id, kind, r.amount, r.on, r.note.as_deref())
            .await?,
    ))
}

/// Close, deny or reopen a claim (closing or denying releases its outstanding reserve).
#[utoipa::path(
    post, path = "/api/v1/claims/{id}/status", operation_id = "set_claim_status", tag = "claims",
    params(("id" = String, Path, description = "Claim id")),
    request_body(content = ClaimStatusChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The claim", body = ClaimDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already in that status", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A date before the loss or in the future, or an invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn set_claim_status(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<InsuranceClaim>, ApiError> {
    authorize_role(&p, Action::BindPolicy)?;
    let r: ClaimStatusChange = parse_json(&body, "")?;
    let to = match r.status {
        ClaimStatusDoc::Open => ClaimStatus::Open,
        ClaimStatusDoc::Closed => ClaimStatus::Closed,
        ClaimStatusDoc::Denied => ClaimStatus::Denied,
    };
    Ok(Json(state.app.set_claim_status(&p, &id, to, r.on).await?))
}

/// The loss run of one policy (its insurer, an admin, or a key of the insured).
#[utoipa::path(
    get, path = "/api/v1/policies/{id}/loss-run", operation_id = "get_policy_loss_run", tag = "claims",
    params(("id" = String, Path, description = "Policy id"), PolicyLossRunQuery),
    responses(
        (status = 200, description = "The loss run", body = LossRunDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_policy_loss_run(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<PolicyLossRunQuery>,
) -> Result<Json<LossRun>, ApiError> {
    let as_of = q.as_of.unwrap_or_else(cyrisk_app::today);
    Ok(Json(state.app.policy_loss_run(&p, &id, as_of).await?))
}

/// The loss run of an insurer's book: its own for an insurer key; any insurer's (or every
/// policy) for an admin.
#[utoipa::path(
    get, path = "/api/v1/loss-run", operation_id = "get_book_loss_run", tag = "claims",
    params(LossRunQuery),
    responses(
        (status = 200, description = "The loss run", body = LossRunDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys; an insurer only its own", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such insurer key (admin keys naming one)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_book_loss_run(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<LossRunQuery>,
) -> Result<Json<LossRun>, ApiError> {
    let as_of = q.as_of.unwrap_or_else(cyrisk_app::today);
    Ok(Json(
        state
            .app
            .book_loss_run(&p, q.insurer_key_id.as_deref(), as_of)
            .await?,
    ))
}

/// The renewal pack, from 90 days before expiry (the policy's insurer, or an admin).
#[utoipa::path(
    get, path = "/api/v1/policies/{id}/renewal", operation_id = "get_renewal_pack", tag = "claims",
    params(("id" = String, Path, description = "Policy id"), RenewalQuery),
    responses(
        (status = 200, description = "The renewal pack", body = RenewalPackDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not yet open (more than 90 days before expiry), or the policy is cancelled", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_renewal_pack(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<RenewalQuery>,
) -> Result<Json<RenewalPack>, ApiError> {
    authorize_role(&p, Action::BindPolicy)?;
    let trials = q.trials.unwrap_or(100_000);
    if !(10_000..=2_000_000).contains(&trials) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "trials: must be 10,000 to 2,000,000",
        ));
    }
    Ok(Json(state.app.renewal_pack(&p, &id, trials).await?))
}
