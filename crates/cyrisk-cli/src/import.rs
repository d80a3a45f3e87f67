//! `cyrisk import nessus|nmap|csv FILE --org ID`: the same import as `POST
//! /organizations/{id}/imports`, on the database directly, with a progress bar while the file
//! streams in.

use std::io::{BufReader, Read, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use cyrisk_app::imports::{ImportFormat, ImportOptions, ImportSummary, parse_scan};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::commands::Format;
use cyrisk_app::feeds::FeedFile;

use crate::db::{Db, runtime};
use crate::input_error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// Nessus v2 (`.nessus`) XML.
    Nessus,
    /// Nmap XML (`nmap -oX`).
    Nmap,
    /// CSV of assets or of findings (see examples/assets.csv, examples/findings.csv).
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// What the file holds.
    #[arg(value_enum)]
    kind: Kind,
    /// The file.
    file: PathBuf,
    /// The organisation to import into.
    #[arg(long = "org", value_name = "ID")]
    org: String,
    /// CSV: keep the good rows when some are bad (else one bad row fails the file and
    /// nothing is written).
    #[arg(long)]
    skip_bad_rows: bool,
    /// Mark stored assets no scan has seen for this many days as stale.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..=3650))]
    stale_after_days: i64,
    /// The scan ran from the internet: every asset it saw is internet-facing.
    #[arg(long)]
    internet_facing: bool,
    #[command(flatten)]
    db: Db,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Hashes what passes through.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// The 1-based line of a byte offset in a file (for error messages).
fn line_of(path: &PathBuf, byte: u64) -> Option<u64> {
    let f = std::fs::File::open(path).ok()?;
    let mut lines = 1;
    for b in BufReader::new(f).take(byte).bytes() {
        if b.ok()? == b'\n' {
            lines += 1;
        }
    }
    Some(lines)
}

pub(crate) fn import(
    a: &ImportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let options = ImportOptions {
        format: match a.kind {
            Kind::Nessus => ImportFormat::Nessus,
            Kind::Nmap => ImportFormat::Nmap,
            Kind::Csv => ImportFormat::Csv,
        },
        skip_bad_rows: a.skip_bad_rows,
        stale_after_days: a.stale_after_days,
        internet_facing: a.internet_facing,
        today: chrono::Utc::now().date_naive(),
    };
    let file = std::fs::File::open(&a.file)
        .map_err(|e| input_error(format!("{}: {e}", a.file.display())))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if size >= 8 * 1024 * 1024 {
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "reading [{bar:40}] {binary_bytes}/{binary_total_bytes} ({eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut reader = Hashing {
        inner: bar.wrap_read(file),
        hash: Sha256::new(),
    };
    let parsed = parse_scan(BufReader::with_capacity(256 * 1024, &mut reader), &options);
    // Hash whatever the parser left unread (a CSV reads to the end; XML may stop at the root).
    let mut rest = Vec::new();
    reader
        .read_to_end(&mut rest)
        .map_err(|e| input_error(format!("{}: {e}", a.file.display())))?;
    bar.finish_and_clear();
    let scan = parsed.map_err(|e| {
        let at = match e.position {
            cyrisk_ingest::Position::Byte(b) => match line_of(&a.file, b) {
                Some(l) => format!("byte {b} (line {l})"),
                None => format!("byte {b}"),
            },
            cyrisk_ingest::Position::Line(l) => format!("line {l}"),
        };
        input_error(format!(
            "{}: {} input, at {at}: {}; nothing was imported",
            a.file.display(),
            e.format.as_str(),
            e.message
        ))
    })?;
    let hash = cyrisk_ingest::hex(&reader.hash.finalize());
    let summary = runtime()?.block_on(async {
        let app = crate::jobs::app(&a.db).await?;
        let r = async {
            let mut summary = app
                .apply_scan(
                    &a.org,
                    scan,
                    &hash,
                    &cyrisk_store::Principal::operator(),
                    &options,
                )
                .await?;
            // Run the re-rating the import queued here rather than leave it to a worker, so
            // the summary can show the new rating.
            if let Some(job) = &summary.rerate_job {
                let ran = crate::jobs::drain(&app, std::slice::from_ref(job), "re-rating").await?;
                if let Some(e) = ran.iter().find_map(|j| {
                    j.last_error
                        .as_ref()
                        .filter(|_| j.state == cyrisk_store::JobState::Dead)
                }) {
                    return Err(cyrisk_app::AppError::Internal(format!(
                        "the import was applied, but re-rating failed: {e}"
                    )));
                }
            }
            let rating = app.live_rating(&a.org).await?;
            summary.inputs_version = Some(rating.inputs_version);
            summary.score = Some(rating.score);
            summary.grade = Some(rating.grade);
            Ok::<_, cyrisk_app::AppError>(summary)
        }
        .await;
        app.store.close().await;
        r.map_err(|e| match e {
            cyrisk_app::AppError::NotFound {
                what: "organization",
            } => crate::input_error(format!(
                "--org {}: no such organisation (cyrisk orgs list)",
                a.org
            )),
            e => crate::jobs::cli_error(e, &a.file.display().to_string()),
        })
    })?;
    for w in &summary.warnings {
        writeln!(err, "warning: {}: {w}", a.file.display())?;
    }
    print(&summary, a.format, out)
}

fn print(s: &ImportSummary, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(s)?)?,
        Format::Text => {
            if s.duplicate {
                writeln!(
                    out,
                    "this file was imported before: nothing changed (the counts below are from then)"
                )?;
            }
            writeln!(
                out,
                "assets: {} created, {} updated, {} marked stale",
                s.assets_created, s.assets_updated, s.assets_stale
            )?;
            writeln!(
                out,
                "findings: {} opened, {} still open, {} closed ({} verified fixed, {} declared fixed); {} in the file",
                s.findings_opened,
                s.findings_still_open,
                s.findings_closed,
                s.findings_fix_verified,
                s.findings_fix_declared,
                s.findings_in_file
            )?;
            writeln!(
                out,
                "facts: {}; risky exposed services: {}; rows rejected: {}",
                s.facts, s.risky_services, s.rows_rejected
            )?;
            for r in &s.rejected {
                writeln!(out, "  line {}: {}", r.line, r.message)?;
            }
            if !s.unknown_assets.is_empty() {
                writeln!(
                    out,
                    "not in the declared inventory: {}",
                    s.unknown_assets.join(", ")
                )?;
            }
            if !s.stale_assets.is_empty() {
                writeln!(
                    out,
                    "stale (zombie candidates): {}",
                    s.stale_assets.join(", ")
                )?;
            }
            if let (Some(score), Some(grade)) = (s.score, &s.grade) {
                writeln!(out, "score: {score} ({grade})")?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FeedKindArg {
    /// The CISA KEV catalogue (known_exploited_vulnerabilities.json).
    Kev,
    /// The EPSS daily scores (epss_scores-YYYY-MM-DD.csv, plain or .gz).
    Epss,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum FeedsCommand {
    /// Load a snapshot: store it (versioned) with one re-rating job per organisation it
    /// affects, then run those jobs here (a progress bar) unless --no-wait.
    Load {
        #[arg(value_enum)]
        kind: FeedKindArg,
        file: PathBuf,
        /// EPSS files from before 2022-02-04 carry no `#model_version:…,score_date:…` line:
        /// the day they score (by default taken from a file named
        /// `epss_scores-YYYY-MM-DD.csv[.gz]`).
        #[arg(long, value_name = "YYYY-MM-DD")]
        score_date: Option<chrono::NaiveDate>,
        /// Queue the re-ratings for the workers (`cyrisk serve` or `cyrisk worker`) and return
        /// at once, instead of running them here.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

pub(crate) fn feeds(
    cmd: &FeedsCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let FeedsCommand::Load {
        kind,
        file,
        score_date,
        no_wait,
        db,
        format,
    } = cmd;
    let bytes = std::fs::read(file).map_err(|e| input_error(format!("{}: {e}", file.display())))?;
    let file_kind = match kind {
        FeedKindArg::Kev => FeedFile::Kev,
        FeedKindArg::Epss => FeedFile::Epss {
            score_date: score_date.or_else(|| {
                file.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(cyrisk_ingest::feeds::epss_date_from_file_name)
            }),
        },
    };
    let (summary, rerated) = runtime()?.block_on(async {
        let app = crate::jobs::app(db).await?;
        let r = async {
            let summary = app.load_feed(file_kind, bytes.into(), Some("cli")).await?;
            let ids: Vec<String> = summary.rerating.iter().map(|q| q.job_id.clone()).collect();
            let rerated = if *no_wait || ids.is_empty() {
                Vec::new()
            } else {
                crate::jobs::drain(&app, &ids, "re-rating").await?
            };
            Ok::<_, cyrisk_app::AppError>((summary, rerated))
        }
        .await;
        app.store.close().await;
        r.map_err(|e| crate::jobs::cli_error(e, &file.display().to_string()))
    })?;
    if !summary.current {
        writeln!(
            err,
            "warning: {}: this {} snapshot ({}, of {}) is older than the current one ({}): stored for the record; ratings keep using the current one",
            file.display(),
            summary.kind.as_str(),
            summary.version,
            summary.published,
            summary.current_version
        )?;
    }
    match format {
        Format::Json => {
            let mut v = serde_json::to_value(&summary)?;
            v["rerated"] = serde_json::to_value(&rerated)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Text => {
            if summary.duplicate {
                writeln!(out, "this file was loaded before: nothing changed")?;
            }
            writeln!(
                out,
                "{} {}: {} entries; {} CVEs added, removed or moved; {} organisations to re-rate{}",
                summary.kind.as_str(),
                summary.version,
                summary.entries,
                summary.changed_cves,
                summary.rerating.len(),
                if *no_wait && !summary.rerating.is_empty() {
                    " (queued for the workers)"
                } else {
                    ""
                }
            )?;
            for j in &rerated {
                let r = j.result.as_ref();
                let score = |k: &str| {
                    r.and_then(|r| r.get(k))
                        .and_then(serde_json::Value::as_i64)
                        .map_or("-".to_owned(), |s| s.to_string())
                };
                writeln!(
                    out,
                    "  {}: {} → {}{}",
                    j.org_id.as_deref().unwrap_or("-"),
                    score("score_before"),
                    score("score"),
                    match (&j.state, &j.last_error) {
                        (cyrisk_store::JobState::Dead, Some(e)) => format!(" (failed: {e})"),
                        _ => String::new(),
                    }
                )?;
            }
        }
    }
    let failed = rerated
        .iter()
        .filter(|j| j.state == cyrisk_store::JobState::Dead)
        .count();
    if failed > 0 {
        anyhow::bail!(
            "the snapshot was loaded, but {failed} re-ratings failed (see above; `cyrisk jobs list --state dead`)"
        );
    }
    Ok(())
}
