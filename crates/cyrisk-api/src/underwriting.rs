//! Pre-policy underwriting: `POST /underwriting/assessments` rates and prices an applicant's
//! bundle and decides it by the underwriting rules (`cyrisk_app::underwriting`). Nothing is
//! stored.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use cyrisk_app::underwriting::{Assessment, AssessmentRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::access::{Action, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::schemas::{BundleDoc, RatingDoc};

/// An application: the applicant's bundle and the layer asked for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationRequest {
    /// The applicant's assessment bundle: a profile and whatever is known (an external scan
    /// may be all an SME has).
    #[schema(value_type = BundleDoc)]
    pub bundle: Box<serde_json::value::RawValue>,
    /// Per-occurrence deductible (default 0; at most the limit).
    #[serde(default)]
    #[schema(minimum = 0.0)]
    pub deductible: f64,
    /// Per-occurrence limit.
    #[schema(exclusive_minimum = 0.0)]
    pub limit: f64,
    /// Annual aggregate limit (default none; at least the per-occurrence limit).
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0)]
    pub aggregate_limit: Option<f64>,
    /// Simulated years (default 100,000).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2_000_000)]
    pub trials: Option<u64>,
    /// Random seed (default 1).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub seed: Option<i64>,
}

/// A rule's outcome, explained.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleOutcomeDoc {
    /// The rule's name in the rules file (`score`, `open_kev_internet_facing`,
    /// `ciio_min_mlps_level`, `max_records_held`, `required_controls`, `max_confidence_band`).
    pub rule: String,
    pub outcome: DecisionDoc,
    pub explanation: String,
}

/// `accept`, `refer` (an underwriter decides) or `decline`.
// The schema of `cyrisk_core::underwriting::Decision`: described, never built.
#[allow(dead_code)]
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionDoc {
    Accept,
    Refer,
    Decline,
}

/// The score's 90 % band and how much is known.
#[derive(Debug, Serialize, ToSchema)]
pub struct BandDoc {
    pub score_low: i32,
    pub score_high: i32,
    /// `high`, `medium` or `low`.
    pub level: String,
    pub missing: Vec<String>,
}

/// The layer's price.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessedQuoteDoc {
    /// Deductible, limit, aggregate limit.
    #[schema(value_type = Object)]
    pub layer: serde_json::Value,
    /// Expected annual loss in the layer.
    pub layer_expected_loss: f64,
    /// The premium and its parts (pure premium, loads, capital, expenses, profit, minimum,
    /// rate on line).
    #[schema(value_type = Object)]
    pub premium: serde_json::Value,
}

/// The answer to an application (the schema of `cyrisk_app::underwriting::Assessment`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Assessment)]
pub struct AssessmentDoc {
    pub applicant: String,
    #[schema(value_type = String, format = Date)]
    pub as_of: String,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// The worst rule outcome.
    pub decision: DecisionDoc,
    /// `id version` of the rules applied.
    pub rules_version: String,
    pub rules: Vec<RuleOutcomeDoc>,
    pub score: i32,
    pub grade: String,
    pub confidence: BandDoc,
    /// Expected annual ground-up loss.
    pub expected_annual_loss: f64,
    pub quote: AssessedQuoteDoc,
    #[schema(value_type = RatingDoc)]
    pub rating: serde_json::Value,
}

/// Assess an application before a policy (admin and insurer keys): rate the applicant's
/// bundle with the current feeds, price the layer asked for, and decide it by the underwriting
/// rules — each rule's outcome explained. Nothing is stored.
#[utoipa::path(
    post, path = "/api/v1/underwriting/assessments", operation_id = "assess_application", tag = "underwriting",
    request_body(content = ApplicationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The rating, the price and the decision", body = AssessmentDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys assess applications", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid application; the detail names the field (`bundle.…` for the bundle)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn assess_application(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<Json<Assessment>, ApiError> {
    authorize_role(&p, Action::Quote)?;
    let req: ApplicationRequest = crate::inputs::parse_json(&body, "")?;
    let bundle = crate::orgs::parse_bundle(&Bytes::copy_from_slice(req.bundle.get().as_bytes()))
        .map_err(|e| ApiError::invalid(format!("bundle: {}", e.detail)))?;
    let seed = u64::try_from(req.seed.unwrap_or(1))
        .map_err(|_| ApiError::invalid("seed: must be at least 0"))?;
    Ok(Json(
        state
            .app
            .assess(
                &p,
                AssessmentRequest {
                    bundle,
                    deductible: req.deductible,
                    limit: req.limit,
                    aggregate_limit: req.aggregate_limit,
                    trials: req.trials.unwrap_or(100_000),
                    seed,
                },
            )
            .await?,
    ))
}
