//! Scan and spreadsheet imports, shared by `cyrisk import` and `POST
//! /organizations/{id}/imports`: parse (streamed, on a blocking thread), reconcile with the
//! stored inputs, write in one transaction keyed by the file's hash (importing the same file
//! twice changes nothing), then re-rate the organisation.

use std::io::BufRead;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use cyrisk_ingest::reconcile::{self, Counts};
use cyrisk_ingest::{IngestError, RejectedRow, Scan};
use cyrisk_store::{ImportOutcome, InputsBatch, Principal};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::orgs::live_rating;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// Nessus v2 (`.nessus`) XML.
    Nessus,
    /// Nmap XML (`nmap -oX`).
    Nmap,
    /// A CSV of assets or of findings (told apart by the header).
    Csv,
}

impl std::str::FromStr for ImportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nessus" => Ok(Self::Nessus),
            "nmap" => Ok(Self::Nmap),
            "csv" => Ok(Self::Csv),
            other => Err(format!("unknown format {other:?}: nessus, nmap or csv")),
        }
    }
}

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub format: ImportFormat,
    /// Keep a CSV's good rows when some are bad (else one bad row fails the file).
    pub skip_bad_rows: bool,
    /// Mark stored assets unseen for this many days as stale.
    pub stale_after_days: i64,
    /// The scan was run from the internet: every asset it saw is internet-facing.
    pub internet_facing: bool,
    /// The date an undated scan is taken from (today).
    pub today: chrono::NaiveDate,
}

impl ImportOptions {
    /// Options for importing as `who`: a scan the rated party loads is a declaration, not
    /// evidence (see [`reconcile::Options::verifying`]).
    fn reconcile(&self, who: &Principal) -> reconcile::Options {
        reconcile::Options {
            default_date: self.today,
            stale_after_days: self.stale_after_days,
            verifying: !who.role.is_rated_party(),
        }
    }
}

/// What an import changed (the same from the CLI's `--format json` and the API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportSummary {
    pub format: String,
    /// SHA-256 of the file: importing the same file again changes nothing.
    pub content_hash: String,
    /// This file had been imported before; nothing was changed (the counts are from then).
    #[serde(default)]
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
    #[serde(default)]
    pub findings_fix_declared: usize,
    /// Whether this import could verify fixes: true for a scan loaded by a third party
    /// (assessor, insurer, admin, the operator), false for the rated party's own.
    #[serde(default)]
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
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The organisation's inputs version and rating after the import.
    pub inputs_version: Option<i64>,
    pub score: Option<i64>,
    pub grade: Option<String>,
}

/// Parses a file of the given format.
pub fn parse_scan<R: BufRead>(input: R, o: &ImportOptions) -> Result<Scan, IngestError> {
    let mut scan = match o.format {
        ImportFormat::Nessus => cyrisk_ingest::nessus::parse(
            input,
            cyrisk_ingest::nessus::Options {
                default_date: o.today,
            },
        )?,
        ImportFormat::Nmap => cyrisk_ingest::nmap::parse(
            input,
            cyrisk_ingest::nmap::Options {
                default_date: o.today,
            },
        )?,
        ImportFormat::Csv => cyrisk_ingest::csv::parse(input, o.skip_bad_rows)?,
    };
    if o.internet_facing {
        for a in &mut scan.assets {
            a.internet_facing = true;
        }
    }
    Ok(scan)
}

fn summary_of(
    scan: &Scan,
    counts: Counts,
    warnings: Vec<String>,
    hash: &str,
    verifying: bool,
) -> ImportSummary {
    ImportSummary {
        format: scan.format.as_str().to_owned(),
        content_hash: hash.to_owned(),
        duplicate: false,
        assets_created: counts.assets_created,
        assets_updated: counts.assets_updated,
        assets_stale: counts.assets_stale,
        findings_opened: counts.findings_opened,
        findings_still_open: counts.findings_still_open,
        findings_closed: counts.findings_closed,
        findings_fix_verified: counts.findings_fix_verified,
        findings_fix_declared: counts.findings_fix_declared,
        verifying,
        findings_in_file: scan.findings.len(),
        facts: scan.fact_count(),
        risky_services: scan.exposures.len(),
        rows_rejected: scan.rejected.len(),
        rejected: scan.rejected.clone(),
        unknown_assets: counts.unknown_assets,
        stale_assets: counts.stale_assets,
        warnings: scan.warnings.iter().cloned().chain(warnings).collect(),
        inputs_version: None,
        score: None,
        grade: None,
    }
}

/// A spreadsheet's findings must name an asset that is stored or in the file. With
/// `skip_bad_rows` those that do not are set aside as rejected rows (`Some`: the scan without
/// them); otherwise the first is an error naming its line, and nothing is imported.
fn unknown_assets(
    stored: &cyrisk_core::AssessmentBundle,
    scan: &Scan,
    skip_bad_rows: bool,
) -> Result<Option<Scan>, String> {
    if scan.finding_lines.is_empty() {
        return Ok(None);
    }
    let known: std::collections::HashSet<&str> = stored
        .assets
        .iter()
        .chain(&scan.assets)
        .map(|a| a.id.as_str())
        .collect();
    let bad: Vec<usize> = (0..scan.findings.len())
        .filter(|&i| !known.contains(scan.findings[i].asset.as_str()))
        .collect();
    let message = |i: usize| {
        format!(
            "finding {:?} refers to asset {:?}, which is neither stored nor in the file",
            scan.findings[i].id, scan.findings[i].asset
        )
    };
    let Some(&first) = bad.first() else {
        return Ok(None);
    };
    let line = |i: usize| scan.finding_lines.get(i).copied().unwrap_or(0);
    if !skip_bad_rows {
        return Err(format!(
            "at line {}: {}{}; nothing was imported (skipping bad rows keeps the good ones)",
            line(first),
            message(first),
            if bad.len() > 1 {
                format!(" (and {} more such rows)", bad.len() - 1)
            } else {
                String::new()
            }
        ));
    }
    let mut kept = scan.clone();
    let bad: std::collections::HashSet<usize> = bad.into_iter().collect();
    kept.findings = Vec::with_capacity(scan.findings.len());
    kept.finding_lines = Vec::with_capacity(scan.findings.len());
    for (i, f) in scan.findings.iter().enumerate() {
        if bad.contains(&i) {
            kept.rejected.push(cyrisk_ingest::RejectedRow {
                line: line(i),
                message: message(i),
            });
        } else {
            kept.findings.push(f.clone());
            kept.finding_lines.push(line(i));
        }
    }
    kept.rejected.sort_by_key(|r| r.line);
    Ok(Some(kept))
}

/// Reconciles a parsed scan into an organisation and re-rates it.
pub async fn apply_scan(
    state: &AppState,
    org_id: &str,
    scan: Scan,
    content_hash: &str,
    actor: &Principal,
    o: &ImportOptions,
) -> Result<ImportSummary, ApiError> {
    let options = o.reconcile(actor);
    // The same file is imported once as evidence and once as a declaration: a third party
    // loading the file the rated party loaded before still verifies what it shows.
    let key = if options.verifying {
        content_hash.to_owned()
    } else {
        format!("{content_hash}:declared")
    };
    let outcome = state
        .store
        .import(org_id, &key, scan.format.as_str(), actor, |stored| {
            let checked = unknown_assets(stored, &scan, o.skip_bad_rows)?;
            let scan = checked.as_ref().unwrap_or(&scan);
            let r = reconcile::reconcile(stored, scan, options);
            let summary = summary_of(scan, r.counts, r.warnings, content_hash, options.verifying);
            Ok((
                InputsBatch {
                    assets: r.assets,
                    findings: r.findings,
                    ..Default::default()
                },
                summary,
            ))
        })
        .await?;
    let mut summary = match outcome {
        ImportOutcome::Applied { summary, .. } => summary,
        ImportOutcome::Duplicate { mut summary, .. } => {
            summary.duplicate = true;
            summary
        }
    };
    let rating = live_rating(state, org_id).await?;
    summary.inputs_version = Some(rating.inputs_version);
    summary.score = Some(rating.score);
    summary.grade = Some(rating.grade);
    Ok(summary)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// What the file holds.
    #[param(value_type = ImportFormat, inline)]
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
        (status = 200, description = "What changed, and the new rating", body = ImportSummary),
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
    import_bytes(
        &state,
        &p,
        &id,
        body,
        ImportOptions {
            format,
            skip_bad_rows: q.skip_bad_rows,
            stale_after_days,
            internet_facing: q.internet_facing,
            today: chrono::Utc::now().date_naive(),
        },
    )
    .await
    .map(Json)
}

async fn import_bytes(
    state: &AppState,
    p: &Principal,
    id: &str,
    body: Bytes,
    o: ImportOptions,
) -> Result<ImportSummary, ApiError> {
    let hash = cyrisk_ingest::content_hash(&body);
    let scan = tokio::task::spawn_blocking(move || parse_scan(&body[..], &o))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::invalid(format!("the uploaded file: {e}; nothing was imported")))?;
    apply_scan(state, id, scan, &hash, p, &o).await
}
