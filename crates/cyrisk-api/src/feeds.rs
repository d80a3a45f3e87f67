//! Threat-intelligence feeds: loading a KEV or EPSS snapshot (admins). The load itself — the
//! current snapshot, what changed, one re-rating job per affected organisation, all in one
//! transaction — is the application layer's (`cyrisk_app::feeds`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use chrono::NaiveDate;
use cyrisk_app::feeds::{FeedFile, FeedLoadSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

/// What loading a snapshot did (the schema of `cyrisk_app::feeds::FeedLoadSummary`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = FeedLoadSummary)]
pub struct FeedLoadSummaryDoc {
    /// `kev` or `epss`.
    pub kind: String,
    pub version: String,
    /// The date the snapshot's content carries (KEV release, EPSS score date).
    pub published: String,
    pub snapshot_id: String,
    pub entries: i64,
    /// The same file was loaded before: nothing changed.
    pub duplicate: bool,
    /// Whether this snapshot is now the one ratings use: false when a newer one (by its own
    /// date) is already current — the file is then kept for the record only.
    pub current: bool,
    /// The version ratings use after this load.
    pub current_version: String,
    /// CVEs added to or removed from the catalogue (KEV), or whose EPSS appeared, disappeared
    /// or moved by 0.01 or more, against the snapshot that was current before.
    pub changed_cves: usize,
    /// The organisations with a finding that still counts on a changed CVE (only those), each
    /// with the re-rating job queued for it in the load's transaction
    /// (`GET /api/v1/jobs/{id}` follows it).
    pub rerating: Vec<QueuedRerate>,
}

/// One organisation whose re-rating a feed load queued.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuedRerate {
    pub org_id: String,
    pub job_id: String,
}

async fn admin_load(
    state: &AppState,
    p: &cyrisk_store::Principal,
    file: FeedFile,
    body: Bytes,
) -> Result<Json<FeedLoadSummary>, ApiError> {
    authorize_role(p, Action::LoadFeed)?;
    let bytes: Arc<[u8]> = body.to_vec().into();
    Ok(Json(
        state.app.load_feed(file, bytes, Some(&p.key_id)).await?,
    ))
}

/// Load a CISA KEV catalogue snapshot (the published JSON); re-rates the organisations with
/// an unresolved finding on a newly listed or delisted CVE (answers at once; the
/// re-ratings run as background jobs).
#[utoipa::path(
    post, path = "/api/v1/feeds/kev", operation_id = "load_kev", tag = "feeds",
    request_body(content = String, description = "known_exploited_vulnerabilities.json", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (or already stored); the re-ratings it causes are queued", body = FeedLoadSummaryDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin keys load feeds", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Other loads of the same feed kept committing while this one compared; load it again", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a KEV catalogue; the detail says where", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn load_kev(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<Json<FeedLoadSummary>, ApiError> {
    admin_load(&state, &p, FeedFile::Kev, body).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EpssQuery {
    /// The day the scores are for, for files published before 2022-02-04 (which carry no
    /// `#model_version:…,score_date:…` line); ignored when the file has that line.
    pub score_date: Option<NaiveDate>,
}

/// Load an EPSS daily scores file (CSV, plain or gzip); re-rates the organisations with a
/// finding whose CVE's score moved by 0.01 or more (answers at once; the re-ratings run as
/// background jobs).
#[utoipa::path(
    post, path = "/api/v1/feeds/epss", operation_id = "load_epss", tag = "feeds",
    params(EpssQuery),
    request_body(content = String, description = "epss_scores-YYYY-MM-DD.csv(.gz)", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored (or already stored); the re-ratings it causes are queued", body = FeedLoadSummaryDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin keys load feeds", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Other loads of the same feed kept committing while this one compared; load it again", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an EPSS file, or an old one without its score date; the detail names the line", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn load_epss(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<EpssQuery>,
    body: Bytes,
) -> Result<Json<FeedLoadSummary>, ApiError> {
    admin_load(
        &state,
        &p,
        FeedFile::Epss {
            score_date: q.score_date,
        },
        body,
    )
    .await
}
