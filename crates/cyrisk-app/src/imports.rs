//! Scan and spreadsheet imports, shared by `cyrisk import` and `POST
//! /organizations/{id}/imports`: parse (streamed, on a blocking thread), reconcile with the
//! stored inputs, write in one transaction keyed by the file's hash (importing the same file
//! twice changes nothing) with the organisation's re-rating queued in it.

use std::io::BufRead;
use std::sync::Arc;

use cyrisk_ingest::reconcile::{self, Counts};
use cyrisk_ingest::{IngestError, RejectedRow, Scan};
use cyrisk_store::{ImportOutcome, InputsBatch, Principal};
use serde::{Deserialize, Serialize};

use crate::App;
use crate::error::{AppError, Result};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    fn from_str(s: &str) -> std::result::Result<Self, String> {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The re-rating job the import queued in its transaction (none when nothing changed).
    #[serde(default)]
    pub rerate_job: Option<String>,
    /// The organisation's inputs version after the import.
    pub inputs_version: Option<i64>,
    /// The rating after the import, when the caller waited for it (the CLI does; the API
    /// answers at once with the queued job).
    pub score: Option<i64>,
    pub grade: Option<String>,
}

/// Parses a file of the given format.
pub fn parse_scan<R: BufRead>(
    input: R,
    o: &ImportOptions,
) -> std::result::Result<Scan, IngestError> {
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
        rerate_job: None,
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
) -> std::result::Result<Option<Scan>, String> {
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

impl App {
    /// Reconciles a parsed scan into an organisation in one transaction keyed by the file's
    /// hash (the same file twice changes nothing), queueing its re-rating in that transaction.
    /// (Authorisation is the caller's.)
    pub async fn apply_scan(
        &self,
        org_id: &str,
        scan: Scan,
        content_hash: &str,
        actor: &Principal,
        o: &ImportOptions,
    ) -> Result<ImportSummary> {
        let options = o.reconcile(actor);
        // The same file is imported once as evidence and once as a declaration: a third
        // party loading the file the rated party loaded before still verifies what it shows.
        let key = if options.verifying {
            content_hash.to_owned()
        } else {
            format!("{content_hash}:declared")
        };
        let outcome = self
            .store
            .import(org_id, &key, scan.format.as_str(), actor, |stored| {
                let checked = unknown_assets(stored, &scan, o.skip_bad_rows)?;
                let scan = checked.as_ref().unwrap_or(&scan);
                let r = reconcile::reconcile(stored, scan, options);
                let summary =
                    summary_of(scan, r.counts, r.warnings, content_hash, options.verifying);
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
        Ok(match outcome {
            ImportOutcome::Applied { mut summary, write } => {
                if let Some(w) = write {
                    summary.inputs_version = Some(w.inputs_version);
                    summary.rerate_job = Some(w.rerate_job);
                }
                summary
            }
            ImportOutcome::Duplicate { mut summary, .. } => {
                summary.duplicate = true;
                summary.rerate_job = None;
                summary.inputs_version =
                    Some(self.store.organization(org_id).await?.inputs_version);
                summary
            }
        })
    }

    /// Parses a file's bytes (on the blocking pool) and applies it: `Invalid` naming the
    /// position when the file cannot be read (nothing written).
    pub async fn import_bytes(
        &self,
        actor: &Principal,
        org_id: &str,
        body: Arc<[u8]>,
        o: ImportOptions,
    ) -> Result<ImportSummary> {
        let hash = cyrisk_ingest::content_hash(&body);
        let scan = tokio::task::spawn_blocking(move || parse_scan(&body[..], &o))
            .await?
            .map_err(|e| {
                AppError::Invalid(format!("the uploaded file: {e}; nothing was imported"))
            })?;
        self.apply_scan(org_id, scan, &hash, actor, &o).await
    }
}
