//! Policies: an insurer binds a layer on an organisation for a period (pre-policy quotes,
//! in-force monitoring, post-policy history). Binding links the insurer to the organisation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use cyrisk_store::{Policy, PolicyPhase};
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
    pub premium: f64,
    pub created_at: String,
    pub cancelled_at: Option<String>,
    /// `pending` (not started), `active` (in force), `expired` or `cancelled`, as of today.
    #[schema(value_type = String)]
    pub phase: PolicyPhase,
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
