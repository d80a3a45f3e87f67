//! An organisation's other inputs: assets, control results and incidents (read; they are
//! written through the bundle endpoints, which upsert in one transaction).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::orgs::{page_bounds, visible};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetQuery {
    /// Only internet-facing (true) or internal (false) assets.
    pub internet_facing: Option<bool>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
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
        (status = 200, description = "Assets, by id (the bundle's asset format)", body = [Object]),
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
    visible(&state, &p, &id).await?;
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
        (status = 200, description = "The asset", body = Object),
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
    visible(&state, &p, &id).await?;
    json(&state.store.asset(&id, &asset_id).await?)
}

/// List an organisation's control results.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/controls", operation_id = "list_controls", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "Control results (the bundle's format)", body = [Object]),
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
    visible(&state, &p, &id).await?;
    json(&state.store.list_controls(&id).await?)
}

/// List an organisation's incidents.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/incidents", operation_id = "list_incidents", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "Incidents (the bundle's format)", body = [Object]),
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
    visible(&state, &p, &id).await?;
    json(&state.store.list_incidents(&id).await?)
}
