//! An organisation's inputs piece by piece: assets, control results and incidents (list, get),
//! and bulk upserts of those and of findings, each batch one transaction.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use cyrisk_store::{InputsBatch, UpsertSummary};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::orgs::page_bounds;
use crate::schemas::{
    AssetBatch, AssetDoc, ControlResultBatch, ControlResultDoc, FindingBatch, IncidentBatch,
    IncidentDoc,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetQuery {
    /// Only internet-facing (true) or internal (false) assets.
    pub internet_facing: Option<bool>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Skip this many.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

fn json<T: serde::Serialize>(v: &T) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(serde_json::to_value(v).map_err(ApiError::internal)?))
}

/// List an organisation's assets.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/assets", operation_id = "list_assets", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id"), AssetQuery),
    responses(
        (status = 200, description = "Assets, by id", body = [AssetDoc]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_assets(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<AssetQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    authorize(&state, &p, &id, Action::Read).await?;
    json(
        &state
            .store
            .list_assets(&id, q.internet_facing, limit, offset)
            .await?,
    )
}

/// Get one asset.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/assets/{asset_id}", operation_id = "get_asset", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id"), ("asset_id" = String, Path, description = "Asset id")),
    responses(
        (status = 200, description = "The asset", body = AssetDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller, or no such asset", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_asset(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, asset_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &p, &id, Action::Read).await?;
    json(&state.store.asset(&id, &asset_id).await?)
}

/// List an organisation's control results.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/controls", operation_id = "list_controls", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "Control results, in the order recorded", body = [ControlResultDoc]),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_controls(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &p, &id, Action::Read).await?;
    json(&state.store.list_controls(&id).await?)
}

/// List an organisation's incidents.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/incidents", operation_id = "list_incidents", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "Incidents, by id", body = [IncidentDoc]),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_incidents(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &p, &id, Action::Read).await?;
    json(&state.store.list_incidents(&id).await?)
}

/// What a bulk upsert did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpsertResult {
    pub org_id: String,
    /// The organisation's inputs version after the write.
    pub inputs_version: i64,
    /// Items that did not exist before.
    pub created: usize,
    /// Items that replaced a stored one.
    pub updated: usize,
    /// Findings whose lifecycle state is new or changed (each got a history entry).
    pub findings_changed_state: usize,
}

impl From<UpsertSummary> for UpsertResult {
    fn from(s: UpsertSummary) -> Self {
        Self {
            org_id: s.org_id,
            inputs_version: s.inputs_version,
            created: s.created,
            updated: s.updated,
            findings_changed_state: s.findings_changed_state,
        }
    }
}

/// Parses a JSON body, naming the offending field on error, prefixed by `what`
/// (`findings[3].first_seen: …` for an array of findings).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    let parse = |bytes: &[u8]| {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de)
    };
    let result = match parse(body) {
        Err(e) if e.inner().to_string().contains("floating point") => match integral_floats(body) {
            Some(fixed) => parse(&fixed),
            None => Err(e),
        },
        other => other,
    };
    result.map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ApiError::invalid(format!("{what}{path}: {}", e.into_inner()))
    })
}

/// JSON Schema counts `5.0` as an integer; serde's integer types do not. For a body that
/// failed to parse on such a number: the body with every integral float written as an
/// integer (`None` when nothing would change). Called only after such a failure, so the
/// normal path never pays for it.
pub(crate) fn integral_floats(body: &[u8]) -> Option<Vec<u8>> {
    fn fix(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    *v = serde_json::Value::from(f as i64);
                    true
                }
                _ => false,
            },
            serde_json::Value::Array(a) => a.iter_mut().fold(false, |c, x| fix(x) | c),
            serde_json::Value::Object(o) => o.values_mut().fold(false, |c, x| fix(x) | c),
            _ => false,
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    fix(&mut v).then(|| serde_json::to_vec(&v).ok()).flatten()
}

/// The body of every bulk upsert: the caller may see the organisation, the body is a JSON
/// array of `what` items (errors name `what[i].field`), and the batch is written in one
/// transaction.
async fn upsert<T: DeserializeOwned>(
    state: &AppState,
    p: &cyrisk_store::Principal,
    id: &str,
    body: &Bytes,
    what: &str,
    into_batch: impl FnOnce(Vec<T>) -> InputsBatch,
) -> Result<Json<UpsertResult>, ApiError> {
    authorize(state, p, id, Action::WriteInputs).await?;
    let batch = into_batch(parse_json(body, what)?);
    Ok(Json(state.store.upsert_inputs(id, &batch, p).await?.into()))
}

/// Create or update assets (bulk upsert by id; one transaction).
#[utoipa::path(
    post, path = "/api/v1/organizations/{id}/assets", operation_id = "upsert_assets", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id")),
    request_body(content = AssetBatch, description = "Assets (one or many), keyed by id", content_type = "application/json"),
    responses(
        (status = 200, description = "Written", body = UpsertResult),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The rated party may not make this change: rewrite what a third party recorded, tone down its own records, close a finding, set a disputed state, or restate its profile (`recorded_by_third_party`, `lowers_own_record`, `verification_required`, `dispute_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid item; the detail names it and the field (`assets[2].last_seen`); nothing written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn upsert_assets(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<UpsertResult>, ApiError> {
    upsert(&state, &p, &id, &body, "assets", |assets| InputsBatch {
        assets,
        ..Default::default()
    })
    .await
}

/// Create or update findings (bulk upsert by id; one transaction). A finding may refer to an
/// asset stored earlier; a new or changed state is recorded in the finding's history.
#[utoipa::path(
    post, path = "/api/v1/organizations/{id}/findings", operation_id = "upsert_findings", tag = "findings",
    params(("id" = String, Path, description = "Organisation id")),
    request_body(content = FindingBatch, description = "Findings (one or many), keyed by id", content_type = "application/json"),
    responses(
        (status = 200, description = "Written", body = UpsertResult),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The rated party may not make this change: rewrite what a third party recorded, tone down its own records, close a finding, set a disputed state, or restate its profile (`recorded_by_third_party`, `lowers_own_record`, `verification_required`, `dispute_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid item (e.g. `findings[0].asset` refers to no asset); nothing written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn upsert_findings(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<UpsertResult>, ApiError> {
    upsert(&state, &p, &id, &body, "findings", |findings| InputsBatch {
        findings,
        ..Default::default()
    })
    .await
}

/// Record control results (a result replaces the stored one for the same control and scope).
#[utoipa::path(
    post, path = "/api/v1/organizations/{id}/controls", operation_id = "upsert_controls", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id")),
    request_body(content = ControlResultBatch, description = "Control results (one or many)", content_type = "application/json"),
    responses(
        (status = 200, description = "Written", body = UpsertResult),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The rated party may not make this change: rewrite what a third party recorded, tone down its own records, close a finding, set a disputed state, or restate its profile (`recorded_by_third_party`, `lowers_own_record`, `verification_required`, `dispute_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid item (e.g. `controls[0].level`); nothing written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn upsert_controls(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<UpsertResult>, ApiError> {
    upsert(&state, &p, &id, &body, "controls", |controls| InputsBatch {
        controls,
        ..Default::default()
    })
    .await
}

/// Create or update incidents (bulk upsert by id; one transaction).
#[utoipa::path(
    post, path = "/api/v1/organizations/{id}/incidents", operation_id = "upsert_incidents", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id")),
    request_body(content = IncidentBatch, description = "Incidents (one or many), keyed by id", content_type = "application/json"),
    responses(
        (status = 200, description = "Written", body = UpsertResult),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The rated party may not make this change: rewrite what a third party recorded, tone down its own records, close a finding, set a disputed state, or restate its profile (`recorded_by_third_party`, `lowers_own_record`, `verification_required`, `dispute_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid item (e.g. `incidents[0].contained`); nothing written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn upsert_incidents(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<UpsertResult>, ApiError> {
    upsert(&state, &p, &id, &body, "incidents", |incidents| {
        InputsBatch {
            incidents,
            ..Default::default()
        }
    })
    .await
}
