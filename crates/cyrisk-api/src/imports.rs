//! `POST /organizations/{id}/imports`: a scan or spreadsheet as the body; the import itself
//! (parse, reconcile, one transaction keyed by the file's hash, the re-rating queued in it) is
//! the application layer's (`cyrisk_app::imports`), shared with `cyrisk import`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use cyrisk_app::imports::{ImportFormat, ImportOptions, ImportSummary};
use cyrisk_ingest::RejectedRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

/// What a file holds (the query parameter's schema).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ImportFormat)]
pub enum ImportFormatDoc {
    /// Nessus v2 (`.nessus`) XML.
    Nessus,
    /// Nmap XML (`nmap -oX`).
    Nmap,
    /// A CSV of assets or of findings (told apart by the header).
    Csv,
}

/// What an import changed (the same from the CLI's `--format json` and the API).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ImportSummary)]
pub struct ImportSummaryDoc {
    pub format: String,
    /// SHA-256 of the file: importing the same file again changes nothing.
    pub content_hash: String,
    /// This file had been imported before; nothing was changed (the counts are from then).
    pub duplicate: bool,
    pub assets_created: usize,
    pub assets_updated: usize,
    pub assets_stale: usize,
    pub findings_opened: usize,
    pub findings_still_open: usize,
    pub findings_closed: usize,
    pub findings_fix_verified: usize,
    /// Fixes declared by the rated party's own scan: they keep counting until a verifying
    /// scan (loaded by an assessor, the insurer or an admin) confirms them.
    pub findings_fix_declared: usize,
    /// Whether this import could verify fixes: true for a scan loaded by a third party
    /// (assessor, insurer, admin, the operator), false for the rated party's own.
    pub verifying: bool,
    /// Findings in the file.
    pub findings_in_file: usize,
    /// Informational items kept as asset facts (not findings).
    pub facts: usize,
    /// Risky exposed services seen (remote access, databases, file sharing, admin panels,
    /// perimeter appliances).
    pub risky_services: usize,
    pub rows_rejected: usize,
    #[schema(value_type = Vec<Object>)]
    pub rejected: Vec<RejectedRow>,
    /// Scanned assets the inventory never declared.
    pub unknown_assets: Vec<String>,
    /// Stored assets marked stale by this import.
    pub stale_assets: Vec<String>,
    /// What could not be taken as written and what was done instead (an unreadable date,
    /// hosts that yielded nothing, a file decoded from another encoding, a scanned host that
    /// matches several stored assets).
    pub warnings: Vec<String>,
    /// The re-rating job the import queued in its transaction (none when nothing changed);
    /// `GET /api/v1/jobs/{id}` follows it, `GET …/rating` gives the rating.
    pub rerate_job: Option<String>,
    /// The organisation's inputs version after the import.
    pub inputs_version: Option<i64>,
    /// Absent here: the API answers at once and the rating is computed by the queued job
    /// (the CLI's `cyrisk import` waits and fills these).
    pub score: Option<i64>,
    pub grade: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// What the file holds.
    #[param(value_type = ImportFormatDoc, inline)]
    pub format: String,
    /// CSV only: keep the good rows when some are bad (default false: one bad row fails the
    /// file and nothing is written).
    #[serde(default)]
    pub skip_bad_rows: bool,
    /// Mark stored assets unseen for this many days as stale (default 90).
    #[param(minimum = 1, maximum = 3650)]
    pub stale_after_days: Option<i64>,
    /// The scan ran from the internet: every asset it saw is internet-facing (default false).
    #[serde(default)]
    pub internet_facing: bool,
}

/// Import a scan or spreadsheet (the file is the body).
#[utoipa::path(
    post, path = "/api/v1/organizations/{id}/imports", operation_id = "import_file", tag = "inputs",
    params(("id" = String, Path, description = "Organisation id"), ImportQuery),
    request_body(content = String, description = "The file: Nessus v2 XML, Nmap XML or CSV", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "What changed, and the re-rating job queued with it", body = ImportSummaryDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The rated party may not make this change: rewrite what a third party recorded, tone down its own records, close a finding, set a disputed state, or restate its profile (`recorded_by_third_party`, `lowers_own_record`, `verification_required`, `dispute_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The file cannot be read; the detail names the position; nothing written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn import_file(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<Json<ImportSummary>, ApiError> {
    let format: ImportFormat = q.format.parse().map_err(|e: String| {
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_query", e)
    })?;
    let stale_after_days = q.stale_after_days.unwrap_or(90);
    if !(1..=3650).contains(&stale_after_days) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("stale_after_days must be 1 to 3650, got {stale_after_days}"),
        ));
    }
    authorize(&state, &p, &id, Action::WriteInputs).await?;
    let body: std::sync::Arc<[u8]> = body.to_vec().into();
    Ok(Json(
        state
            .app
            .import_bytes(
                &p,
                &id,
                body,
                ImportOptions {
                    format,
                    skip_bad_rows: q.skip_bad_rows,
                    stale_after_days,
                    internet_facing: q.internet_facing,
                    today: cyrisk_app::today(),
                },
            )
            .await?,
    ))
}
