//! Policies: an insurer binds a layer on an organisation for a period (pre-policy quotes,
//! in-force monitoring, post-policy history). Binding links the insurer to the organisation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use cyrisk_store::{Endorsement, Inception, Policy, PolicyPhase};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::access::{Action, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::inputs::parse_json;

/// A policy to bind.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    #[schema(min_length = 1)]
    pub organization_id: String,
    /// The insurer key the policy belongs to: required for admin keys, and for an insurer
    /// key it may only be its own id (the default).
    #[serde(default)]
    #[schema(min_length = 1)]
    pub insurer_key_id: Option<String>,
    /// The quote the policy was bound from (a quote of the same organisation).
    #[serde(default)]
    #[schema(min_length = 1)]
    pub quote_id: Option<String>,
    /// First day of cover.
    pub starts_on: NaiveDate,
    /// Last day of cover (after `starts_on`).
    pub ends_on: NaiveDate,
    /// ISO 4217 code (default: the organisation's currency).
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// Per-occurrence deductible.
    #[serde(default)]
    #[schema(minimum = 0.0)]
    pub deductible: f64,
    /// Per-occurrence limit.
    #[schema(exclusive_minimum = 0.0)]
    pub limit: f64,
    /// Annual premium.
    #[schema(minimum = 0.0)]
    pub premium: f64,
}

/// A bound policy and where it is in its life today.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyRecord {
    pub id: String,
    pub org_id: String,
    pub insurer_key_id: String,
    pub quote_id: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub currency: String,
    pub deductible: f64,
    pub limit: f64,
    /// The annual premium of the current terms.
    pub premium: f64,
    pub created_at: String,
    /// When the cancellation was recorded.
    pub cancelled_at: Option<String>,
    /// The rating the policy was bound on, frozen with it.
    #[schema(value_type = Option<InceptionDoc>)]
    pub inception: Option<Inception>,
    /// Premium written: the annual premium at binding, plus endorsements' changes, less any
    /// return premium.
    pub written_premium: f64,
    /// A cancellation's effective date.
    pub cancelled_on: Option<NaiveDate>,
    pub cancel_reason: Option<String>,
    /// Premium returned on cancellation (pro rata).
    pub return_premium: Option<f64>,
    /// `bound` (not started), `active` (in force), `expired` or `cancelled`, as of today.
    #[schema(value_type = String)]
    pub phase: PolicyPhase,
}

/// The rating a policy was bound on.
#[derive(Debug, Serialize, ToSchema)]
pub struct InceptionDoc {
    pub rating_id: String,
    pub score: i64,
    pub grade: String,
}

/// A policy with its endorsements.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDetailDoc {
    #[serde(flatten)]
    pub policy: PolicyRecord,
    pub endorsements: Vec<EndorsementDoc>,
}

/// A mid-term change of the layer (the schema of `cyrisk_store::Endorsement`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Endorsement)]
pub struct EndorsementDoc {
    pub id: String,
    pub policy_id: String,
    #[schema(value_type = String, format = Date)]
    pub effective_on: String,
    pub previous_deductible: f64,
    pub previous_limit: f64,
    pub previous_premium: f64,
    pub deductible: f64,
    pub limit: f64,
    /// The annual premium of the new terms (the old, scaled by the model's price of the new
    /// layer over the old on the rating at inception).
    pub annual_premium: f64,
    /// Added to the written premium (negative: returned): the change in annual premium × the
    /// unexpired share of the term.
    pub premium_change: f64,
    pub reason: String,
    pub created_at: String,
    pub created_by: Option<String>,
}

/// A cancellation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The first day without cover (within the policy period).
    pub effective_on: NaiveDate,
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub reason: String,
}

/// A mid-term change of the limit or deductible (at least one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndorseRequestDoc {
    /// The first day the new terms apply (within the policy period).
    pub effective_on: NaiveDate,
    /// The new per-occurrence limit.
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0)]
    pub limit: Option<f64>,
    /// The new deductible (at most the limit).
    #[serde(default)]
    #[schema(minimum = 0.0)]
    pub deductible: Option<f64>,
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub reason: String,
    /// Simulated years for the re-pricing (default 100,000; at least 10,000, since the new
    /// premium is a ratio of two simulated prices).
    #[serde(default)]
    #[schema(minimum = 10_000, maximum = 2_000_000)]
    pub trials: Option<u64>,
}

impl From<Policy> for PolicyRecord {
    fn from(p: Policy) -> Self {
        let phase = p.phase(chrono::Utc::now().date_naive());
        Self {
            id: p.id,
            org_id: p.org_id,
            insurer_key_id: p.insurer_key_id,
            quote_id: p.quote_id,
            starts_on: p.starts_on,
            ends_on: p.ends_on,
            currency: p.currency,
            deductible: p.deductible,
            limit: p.limit,
            premium: p.premium,
            created_at: p.created_at,
            cancelled_at: p.cancelled_at,
            inception: p.inception,
            written_premium: p.written_premium,
            cancelled_on: p.cancelled_on,
            cancel_reason: p.cancel_reason,
            return_premium: p.return_premium,
            phase,
        }
    }
}

/// Bind a policy on an organisation (admin and insurer keys). An insurer binds for itself on
/// an organisation it may see; an admin binds for any insurer key, which links that insurer
/// to the organisation.
#[utoipa::path(
    post, path = "/api/v1/policies", operation_id = "create_policy", tag = "quotes",
    request_body(content = PolicyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The bound policy", body = PolicyRecord),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys bind policies, an insurer only for itself", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request; the detail names the field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create_policy(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<PolicyRecord>), ApiError> {
    authorize_role(&p, Action::BindPolicy)?;
    let req: PolicyRequest = parse_json(&body, "")?;
    let policy = state
        .app
        .bind_policy(
            &p,
            cyrisk_app::policies::BindRequest {
                organization_id: req.organization_id,
                insurer_key_id: req.insurer_key_id,
                quote_id: req.quote_id,
                starts_on: req.starts_on,
                ends_on: req.ends_on,
                currency: req.currency,
                deductible: req.deductible,
                limit: req.limit,
                premium: req.premium,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(policy.into())))
}

/// An organisation's policies, oldest start first. Insurers see only their own.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/policies", operation_id = "list_policies", tag = "quotes",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "Policies, by start date", body = [PolicyRecord]),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_policies(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<PolicyRecord>>, ApiError> {
    Ok(Json(
        state
            .app
            .policies(&p, &id)
            .await?
            .into_iter()
            .map(PolicyRecord::from)
            .collect(),
    ))
}

/// The policy with its endorsements, for its insurer, an admin, or a key of the insured.
fn detail(d: cyrisk_app::policies::PolicyDetail) -> serde_json::Value {
    let mut v = serde_json::to_value(PolicyRecord::from(d.policy)).unwrap_or_default();
    v["endorsements"] = serde_json::to_value(d.endorsements).unwrap_or_default();
    v
}

/// One policy with its endorsements (its insurer, an admin, or a key of the insured).
#[utoipa::path(
    get, path = "/api/v1/policies/{id}", operation_id = "get_policy", tag = "quotes",
    params(("id" = String, Path, description = "Policy id")),
    responses(
        (status = 200, description = "The policy", body = PolicyDetailDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_policy(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(detail(state.app.policy(&p, &id).await?)))
}

/// Cancel a policy from a date; the unexpired premium is returned pro rata (its insurer or
/// an admin).
#[utoipa::path(
    post, path = "/api/v1/policies/{id}/cancel", operation_id = "cancel_policy", tag = "quotes",
    params(("id" = String, Path, description = "Policy id")),
    request_body(content = CancelRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Cancelled", body = PolicyRecord),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The date is outside the policy period, or the body is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn cancel_policy(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<PolicyRecord>, ApiError> {
    authorize_role(&p, Action::BindPolicy)?;
    let r: CancelRequest = parse_json(&body, "")?;
    crate::error::check_text("reason", Some(&r.reason), 2000)?;
    Ok(Json(
        state
            .app
            .cancel_policy(&p, &id, r.effective_on, &r.reason)
            .await?
            .into(),
    ))
}

/// Endorse a policy mid-term: a new limit or deductible, re-priced on the rating at
/// inception, the premium change pro rata (its insurer or an admin).
#[utoipa::path(
    post, path = "/api/v1/policies/{id}/endorsements", operation_id = "endorse_policy", tag = "quotes",
    params(("id" = String, Path, description = "Policy id")),
    request_body(content = EndorseRequestDoc, content_type = "application/json"),
    responses(
        (status = 201, description = "The endorsement", body = EndorsementDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The policy is cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No change, a date outside the period, a deductible above the limit, or an invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn endorse_policy(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Endorsement>), ApiError> {
    authorize_role(&p, Action::BindPolicy)?;
    let r: EndorseRequestDoc = parse_json(&body, "")?;
    crate::error::check_text("reason", Some(&r.reason), 2000)?;
    let e = state
        .app
        .endorse_policy(
            &p,
            &id,
            cyrisk_app::policies::EndorseRequest {
                effective_on: r.effective_on,
                limit: r.limit,
                deductible: r.deductible,
                reason: r.reason,
                trials: r.trials.unwrap_or(100_000),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(e)))
}
