//! Pre-policy underwriting: `POST /underwriting/assessments` rates and prices an applicant's
//! bundle and decides it by the underwriting rules (`cyrisk_app::underwriting`). Nothing is
//! stored.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use cyrisk_app::underwriting::{Assessment, AssessmentRequest};
use cyrisk_store::{Application, ApplicationStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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
    /// The stored application; a referral waits there for an underwriter.
    pub application_id: String,
    pub status: ApplicationStatusDoc,
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

/// Where an application stands: `accepted`, `referred` (waiting for an underwriter) or
/// `declined`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatusDoc {
    Accepted,
    Referred,
    Declined,
}

/// A stored application (the schema of `cyrisk_store::Application`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Application)]
pub struct ApplicationDoc {
    pub id: String,
    /// The key that assessed it.
    pub insurer_key_id: String,
    pub applicant: String,
    pub created_at: String,
    /// What the rules decided.
    pub decision: DecisionDoc,
    pub status: ApplicationStatusDoc,
    /// The assessment as answered.
    #[schema(value_type = AssessmentDoc)]
    pub assessment: serde_json::Value,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// The underwriter's note.
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplicationsQuery {
    /// Only applications in this state (`referred`: the queue to work).
    #[param(inline)]
    pub status: Option<ApplicationStatusDoc>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Skip this many.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// An underwriter's decision on a referral.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationDecision {
    pub decision: UnderwriterDecision,
    /// Why (kept with the application).
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

/// `accept` or `decline`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnderwriterDecision {
    Accept,
    Decline,
}

/// The underwriting rules a key's assessments apply.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesDoc {
    /// The rules file (TOML; see `models/underwriting-v1.toml` for every rule).
    #[schema(min_length = 1, max_length = 100_000)]
    pub rules: String,
    /// `own` (this key's) or `default` (the built-in set); ignored when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn status_of(s: ApplicationStatusDoc) -> ApplicationStatus {
    match s {
        ApplicationStatusDoc::Accepted => ApplicationStatus::Accepted,
        ApplicationStatusDoc::Referred => ApplicationStatus::Referred,
        ApplicationStatusDoc::Declined => ApplicationStatus::Declined,
    }
}

/// Assessed applications, newest first (admin: all; insurer: its own). `status=referred` is
/// the queue an underwriter works.
#[utoipa::path(
    get, path = "/api/v1/underwriting/applications", operation_id = "list_applications", tag = "underwriting",
    params(ApplicationsQuery),
    responses(
        (status = 200, description = "Applications, newest first", body = [ApplicationDoc]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_applications(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ApplicationsQuery>,
) -> Result<Json<Vec<Application>>, ApiError> {
    authorize_role(&p, Action::Quote)?;
    let (limit, offset) = crate::orgs::page_bounds(q.limit, q.offset)?;
    Ok(Json(
        state
            .app
            .applications(&p, q.status.map(status_of), limit, offset)
            .await?,
    ))
}

/// One application (admin: any; insurer: its own, else 404).
#[utoipa::path(
    get, path = "/api/v1/underwriting/applications/{id}", operation_id = "get_application", tag = "underwriting",
    params(("id" = String, Path, description = "Application id")),
    responses(
        (status = 200, description = "The application", body = ApplicationDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_application(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Application>, ApiError> {
    Ok(Json(state.app.application(&p, &id).await?))
}

/// Decide a referred application: accept or decline, with a note.
#[utoipa::path(
    post, path = "/api/v1/underwriting/applications/{id}/decision", operation_id = "decide_application", tag = "underwriting",
    params(("id" = String, Path, description = "Application id")),
    request_body(content = ApplicationDecision, content_type = "application/json"),
    responses(
        (status = 200, description = "The application, decided", body = ApplicationDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The application is not waiting for a decision (accepted or declined already)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid decision; the detail names the field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn decide_application(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Application>, ApiError> {
    authorize_role(&p, Action::Quote)?;
    let d: ApplicationDecision = crate::inputs::parse_json(&body, "")?;
    crate::error::check_text("note", Some(&d.note), 2000)?;
    Ok(Json(
        state
            .app
            .decide_application(
                &p,
                &id,
                matches!(d.decision, UnderwriterDecision::Accept),
                &d.note,
            )
            .await?,
    ))
}

/// The underwriting rules this key's assessments apply: its own, else the default set.
#[utoipa::path(
    get, path = "/api/v1/underwriting/rules", operation_id = "get_underwriting_rules", tag = "underwriting",
    responses(
        (status = 200, description = "The rules and whether they are the key's own", body = RulesDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_rules(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<RulesDoc>, ApiError> {
    let (_, source, rules) = state.app.rules_for(&p).await?;
    Ok(Json(RulesDoc {
        rules,
        source: Some(source.to_owned()),
    }))
}

/// Replace this key's underwriting rules (its later assessments apply them).
#[utoipa::path(
    put, path = "/api/v1/underwriting/rules", operation_id = "put_underwriting_rules", tag = "underwriting",
    request_body(content = RulesDoc, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored; the rules now applied", body = RulesDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The rules do not load; the detail names the field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn put_rules(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<Json<RulesDoc>, ApiError> {
    authorize_role(&p, Action::Quote)?;
    let r: RulesDoc = crate::inputs::parse_json(&body, "")?;
    crate::error::check_text("rules", Some(&r.rules), 100_000)?;
    state.app.set_rules(&p, &r.rules).await?;
    let (_, source, rules) = state.app.rules_for(&p).await?;
    Ok(Json(RulesDoc {
        rules,
        source: Some(source.to_owned()),
    }))
}

/// A scan's format, for an application.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanFormatDoc {
    Nessus,
    Nmap,
}

/// An application from a scan file: the applicant's profile and the layer in the query, the
/// scan (Nessus v2 or Nmap XML) as the body.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanApplicationQuery {
    #[param(inline)]
    pub format: ScanFormatDoc,
    /// The applicant's name.
    #[param(min_length = 1, max_length = 500)]
    pub name: String,
    /// Its industry (as in the bundle's profile: `retail`, `manufacturing`, `finance`, …).
    #[param(min_length = 1)]
    pub industry: String,
    /// Annual revenue in `currency`.
    #[param(minimum = 0.0)]
    pub annual_revenue: f64,
    /// Employees (default 0: not disclosed).
    #[param(minimum = 0)]
    pub employees: Option<u32>,
    /// Region code (`CN-HB`, `CN-SH`, …).
    #[param(min_length = 1, max_length = 50)]
    pub region: String,
    /// ISO 4217 code (default CNY).
    #[param(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// The scan ran from the internet, so every host it saw is internet-facing (default
    /// true: an external scan).
    pub internet_facing: Option<bool>,
    /// Per-occurrence deductible (default 0; at most the limit).
    #[param(minimum = 0.0)]
    pub deductible: Option<f64>,
    /// Per-occurrence limit.
    #[param(exclusive_minimum = 0.0)]
    pub limit: f64,
    /// Simulated years (default 100,000).
    #[param(minimum = 1, maximum = 2_000_000)]
    pub trials: Option<u64>,
}

/// Assess an application from a scan file (admin and insurer keys): an SME that has only an
/// external Nessus or Nmap scan sends it with its profile; the answer is the same as for a
/// bundle (the rating, the price, the decision), and the application is kept.
#[utoipa::path(
    post, path = "/api/v1/underwriting/assessments/scan", operation_id = "assess_scan_application", tag = "underwriting",
    params(ScanApplicationQuery),
    request_body(content = String, description = "The scan: Nessus v2 XML or Nmap XML", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "The rating, the price and the decision", body = AssessmentDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys assess applications", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The file does not read (the detail names the position), or the profile or layer is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn assess_scan_application(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ScanApplicationQuery>,
    body: Bytes,
) -> Result<Json<Assessment>, ApiError> {
    authorize_role(&p, Action::Quote)?;
    crate::error::check_text("name", Some(&q.name), 500)?;
    crate::error::check_text("region", Some(&q.region), 50)?;
    let mut profile = serde_json::json!({
        "name": q.name, "industry": q.industry, "annual_revenue": q.annual_revenue,
        "employees": q.employees.unwrap_or(0), "region": q.region,
    });
    if let Some(c) = &q.currency {
        profile["currency"] = c.clone().into();
    }
    let profile: cyrisk_core::profile::Profile =
        serde_json::from_value(profile).map_err(|e| ApiError::invalid(format!("profile: {e}")))?;
    Ok(Json(
        state
            .app
            .assess_scan(
                &p,
                cyrisk_app::underwriting::ScanApplication {
                    profile,
                    format: match q.format {
                        ScanFormatDoc::Nessus => cyrisk_app::imports::ImportFormat::Nessus,
                        ScanFormatDoc::Nmap => cyrisk_app::imports::ImportFormat::Nmap,
                    },
                    file: body.to_vec(),
                    internet_facing: q.internet_facing.unwrap_or(true),
                    deductible: q.deductible.unwrap_or(0.0),
                    limit: q.limit,
                    aggregate_limit: None,
                    trials: q.trials.unwrap_or(100_000),
                    seed: 1,
                },
            )
            .await?,
    ))
}
