//! Organisations: list, get, load a bundle, the live rating, rating history, the plan.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cyrisk_core::{AssessmentBundle, Bundle};
use cyrisk_store::{LoadSummary, LoadTarget, OrgSummary, RawRating};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::schemas::{BundleDoc, PlanDoc, RatingDoc};

/// An organisation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub industry: String,
    /// Increases with every change to the organisation's inputs.
    pub inputs_version: i64,
    pub updated_at: String,
}

impl From<OrgSummary> for Organization {
    fn from(o: OrgSummary) -> Self {
        Self {
            id: o.id,
            name: o.name,
            industry: o.industry,
            inputs_version: o.inputs_version,
            updated_at: o.updated_at,
        }
    }
}

/// What loading a bundle did.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoadResult {
    pub org_id: String,
    pub created: bool,
    pub inputs_version: i64,
    pub assets: usize,
    pub findings: usize,
    pub findings_changed_state: usize,
    pub controls: usize,
    pub incidents: usize,
    /// The re-rating job queued with the load (`GET /api/v1/jobs/{id}`, admins).
    pub rerate_job: String,
}

impl From<LoadSummary> for LoadResult {
    fn from(s: LoadSummary) -> Self {
        Self {
            org_id: s.org_id,
            created: s.created,
            inputs_version: s.inputs_version,
            assets: s.assets,
            findings: s.findings,
            findings_changed_state: s.findings_changed_state,
            controls: s.controls,
            incidents: s.incidents,
            rerate_job: s.rerate_job,
        }
    }
}

/// A stored rating: the full rating document with when and from what it was computed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RatingRecord {
    pub id: String,
    pub org_id: String,
    pub computed_at: String,
    pub as_of: String,
    pub inputs_version: i64,
    pub model_id: String,
    pub model_version: String,
    pub score: i64,
    pub grade: String,
    /// The threat-intelligence snapshots the rating used.
    #[schema(value_type = Option<FeedVersions>)]
    pub feeds: Option<Box<serde_json::value::RawValue>>,
    /// The rating: score, grade, probability, factors with points, reasons, confidence,
    /// warnings and model (as `cyrisk rate --format json` prints it).
    #[schema(value_type = RatingDoc)]
    pub rating: Box<serde_json::value::RawValue>,
}

/// The versions of the threat-intelligence snapshots a rating used.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedVersions {
    /// The CISA KEV catalogue version (`2025.08.25`).
    pub kev: String,
    /// The EPSS snapshot (`2025-09-03 (v2025.03.14)`), absent when none was loaded.
    pub epss: Option<String>,
}

/// The stored feeds text (a JSON object) passed through as an object.
fn feeds_object(
    text: Option<String>,
) -> Result<Option<Box<serde_json::value::RawValue>>, ApiError> {
    text.map(serde_json::value::RawValue::from_string)
        .transpose()
        .map_err(ApiError::internal)
}

impl TryFrom<RawRating> for RatingRecord {
    type Error = ApiError;
    fn try_from(r: RawRating) -> Result<Self, ApiError> {
        Ok(Self {
            id: r.id,
            org_id: r.org_id,
            computed_at: r.computed_at,
            as_of: r.as_of,
            inputs_version: r.inputs_version,
            model_id: r.model_id,
            model_version: r.model_version,
            score: r.score,
            grade: r.grade,
            feeds: feeds_object(r.feeds)?,
            rating: serde_json::value::RawValue::from_string(r.rating)
                .map_err(ApiError::internal)?,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Skip this many items.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl Page {
    pub(crate) fn resolve(&self) -> Result<(i64, i64), ApiError> {
        page_bounds(self.limit, self.offset)
    }
}

/// Paging parameters checked once for every listing: limit 1–1000 (default 100), offset ≥ 0.
pub(crate) fn page_bounds(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(100);
    let offset = offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1 to 1000, got {limit}"),
        ));
    }
    if offset < 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("offset must be at least 0, got {offset}"),
        ));
    }
    Ok((limit, offset))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    /// How many fixes (default 10). Priced plans price the 200 best by score, so list at most
    /// 200 items.
    #[param(minimum = 1, maximum = 1000)]
    pub top: Option<usize>,
    /// Rank by score points gained (default) or by expected annual loss removed.
    #[param(inline)]
    pub by: Option<RankQuery>,
    /// Price each fix (default true): expected annual loss and premium it removes.
    pub money: Option<bool>,
    /// The layer's per-occurrence deductible (with `limit`; default 0).
    #[param(minimum = 0.0)]
    pub deductible: Option<f64>,
    /// The layer's per-occurrence limit [default: the standard primary layer for the
    /// organisation's size band].
    #[param(exclusive_minimum = 0.0)]
    pub limit: Option<f64>,
}

/// What a plan is ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankQuery {
    Score,
    Loss,
}

/// Parses a bundle body, naming the offending field in the error.
pub(crate) fn parse_bundle(body: &Bytes) -> Result<Bundle, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::invalid(format!("the body is not UTF-8: {e}")))?;
    let bundle = match AssessmentBundle::from_json(text) {
        Ok(b) => b,
        Err(e) => {
            // `5.0` where an integer is expected is valid JSON Schema: read it as `5`.
            let retry = e
                .to_string()
                .contains("floating point")
                .then(|| crate::inputs::integral_floats(body))
                .flatten()
                .and_then(|fixed| String::from_utf8(fixed).ok())
                .and_then(|t| AssessmentBundle::from_json(&t).ok());
            retry.ok_or_else(|| ApiError::invalid(e.to_string()))?
        }
    };
    bundle
        .validate()
        .map_err(|e| ApiError::invalid(e.to_string()))
}

/// List the organisations the caller may see.
#[utoipa::path(
    get, path = "/api/v1/organizations", operation_id = "list_organizations", tag = "organizations",
    params(Page),
    responses(
        (status = 200, description = "Organisations, by name", body = [Organization]),
        (status = 400, description = "Bad paging parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_organizations(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Organization>>, ApiError> {
    let (limit, offset) = page.resolve()?;
    let orgs = state
        .store
        .list_organizations_for(&p, limit, offset)
        .await?;
    Ok(Json(orgs.into_iter().map(Organization::from).collect()))
}

/// Create or update an organisation from an assessment bundle (admins and insurers).
#[utoipa::path(
    post, path = "/api/v1/organizations/bundle", operation_id = "load_bundle", tag = "organizations",
    request_body(content = BundleDoc, description = "An assessment bundle (JSON Schema: models/bundle.schema.json)", content_type = "application/json"),
    responses(
        (status = 200, description = "Loaded; the organisation with the bundle's name is updated, else created", body = LoadResult),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The role may not create organisations", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "More than one organisation the caller can see has this name: load into one by its id", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid bundle; the detail names the field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn load_bundle(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<Json<LoadResult>, ApiError> {
    authorize_role(&p, Action::CreateOrganization)?;
    let bundle = parse_bundle(&body)?;
    let summary = state
        .store
        .load_bundle(LoadTarget::ByName, &bundle, &p)
        .await?;
    Ok(Json(summary.into()))
}

/// Update an organisation from an assessment bundle.
#[utoipa::path(
    post, path = "/api/v1/organizations/{id}/bundle", operation_id = "load_organization_bundle", tag = "organizations",
    params(("id" = String, Path, description = "Organisation id")),
    request_body(content = BundleDoc, description = "An assessment bundle (JSON Schema: models/bundle.schema.json)", content_type = "application/json"),
    responses(
        (status = 200, description = "Loaded", body = LoadResult),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The rated party may not make this change: rewrite what a third party recorded, tone down its own records, close a finding, set a disputed state, or restate its profile (`recorded_by_third_party`, `lowers_own_record`, `verification_required`, `dispute_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid bundle; the detail names the field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn load_organization_bundle(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<LoadResult>, ApiError> {
    authorize(&state, &p, &id, Action::WriteInputs).await?;
    let bundle = parse_bundle(&body)?;
    Ok(Json(
        state
            .store
            .load_bundle(LoadTarget::Existing(&id), &bundle, &p)
            .await?
            .into(),
    ))
}

/// Get one organisation.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}", operation_id = "get_organization", tag = "organizations",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The organisation", body = Organization),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_organization(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Organization>, ApiError> {
    authorize(&state, &p, &id, Action::Read).await?;
    Ok(Json(state.store.organization(&id).await?.into()))
}

/// The live rating: the latest stored one if the inputs have not changed since (and it is
/// from today), else recomputed, stored and returned.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/rating", operation_id = "get_rating", tag = "ratings",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The current rating", body = RatingRecord),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_rating(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<RatingRecord>, ApiError> {
    authorize(&state, &p, &id, Action::Read).await?;
    Ok(Json(live_rating(&state, &id).await?))
}

/// The current rating (the application layer's live rating) as the API shows it.
pub(crate) async fn live_rating(state: &AppState, id: &str) -> Result<RatingRecord, ApiError> {
    state.app.live_rating(id).await?.try_into()
}

/// Rating history, newest first: every rating ever computed, unchanged.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/ratings", operation_id = "list_ratings", tag = "ratings",
    params(("id" = String, Path, description = "Organisation id"), Page),
    responses(
        (status = 200, description = "Stored ratings, newest first", body = [RatingRecord]),
        (status = 400, description = "Bad paging parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_ratings(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<RatingRecord>>, ApiError> {
    let (limit, offset) = page.resolve()?;
    authorize(&state, &p, &id, Action::Read).await?;
    Ok(Json(
        state
            .store
            .ratings_raw(&id, limit, offset)
            .await?
            .into_iter()
            .map(RatingRecord::try_from)
            .collect::<Result<_, _>>()?,
    ))
}

/// What to fix first: candidate fixes with their score gain and, priced for a layer, the
/// expected annual loss and premium each removes; ranked by score or by loss.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/plan", operation_id = "get_plan", tag = "ratings",
    params(("id" = String, Path, description = "Organisation id"), PlanQuery),
    responses(
        (status = 200, description = "The plan (as `cyrisk plan --format json` prints it), each fix priced unless money=false", body = PlanDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Parameters that break a rule across them (deductible needs limit and is at most it; by=loss, limit and deductible need money=true), or an organisation whose currency has no exchange rate in the severity model", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_plan(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<PlanQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let top = q.top.unwrap_or(10);
    if !(1..=1000).contains(&top) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("top must be 1 to 1000, got {top}"),
        ));
    }
    let req = cyrisk_app::plan::PlanRequest {
        top,
        by: match q.by.unwrap_or(RankQuery::Score) {
            RankQuery::Score => cyrisk_sim::money_plan::RankBy::Score,
            RankQuery::Loss => cyrisk_sim::money_plan::RankBy::Loss,
        },
        money: q.money.unwrap_or(true),
        deductible: q.deductible,
        limit: q.limit,
    };
    // Rules across parameters, which JSON Schema cannot state: 422 with the rule, before the
    // object check (they do not depend on the organisation).
    req.check()?;
    authorize(&state, &p, &id, Action::Read).await?;
    let plan = state.app.plan(&id, req).await?;
    Ok(Json(
        serde_json::to_value(plan).map_err(ApiError::internal)?,
    ))
}
