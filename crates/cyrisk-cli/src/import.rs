//! `cyrisk import nessus|nmap|csv FILE --org ID`: the same import as `POST
//! /organizations/{id}/imports`, on the database directly, with a progress bar while the file
//! streams in.

use std::io::{BufReader, Read, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use cyrisk_api::imports::{ImportFormat, ImportOptions, ImportSummary, apply_scan, parse_scan};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::commands::Format;
use crate::db::{Db, open, runtime};
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
        let store = open(&a.db).await?;
        let state = crate::serve::app_state(store.clone())?;
        let r = apply_scan(
            &state,
            &a.org,
            scan,
            &hash,
            &cyrisk_store::Principal::operator(),
            &options,
        )
        .await;
        store.close().await;
        r.map_err(|e| {
            if e.status.is_client_error() {
                input_error(format!("{}: {}", a.file.display(), e.detail))
            } else {
                anyhow::anyhow!("{}", e.detail)
            }
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
    /// Load a snapshot: store it (versioned), then re-rate the organisations it affects.
    Load {
        #[arg(value_enum)]
        kind: FeedKindArg,
        file: PathBuf,
        /// EPSS files from before 2022-02-04 carry no `#model_version:…,score_date:…` line:
        /// the day they score (by default taken from a file named
        /// `epss_scores-YYYY-MM-DD.csv[.gz]`).
        #[arg(long, value_name = "YYYY-MM-DD")]
        score_date: Option<chrono::NaiveDate>,
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
        db,
        format,
    } = cmd;
    let bytes = std::fs::read(file).map_err(|e| input_error(format!("{}: {e}", file.display())))?;
    let kind = match kind {
        FeedKindArg::Kev => cyrisk_api::feeds::FeedKind::Kev,
        FeedKindArg::Epss => cyrisk_api::feeds::FeedKind::Epss {
            score_date: score_date.or_else(|| {
                file.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(cyrisk_ingest::feeds::epss_date_from_file_name)
            }),
        },
    };
    let summary = runtime()?.block_on(async {
        let store = open(db).await?;
        let state = crate::serve::app_state(store.clone())?;
        let r = cyrisk_api::feeds::load(&state, kind, bytes.into(), Some("cli")).await;
        store.close().await;
        r.map_err(|e| {
            if e.status.is_client_error() {
                input_error(format!("{}: {}", file.display(), e.detail))
            } else {
                anyhow::anyhow!("{}", e.detail)
            }
        })
    })?;
    if !summary.current {
        writeln!(
            err,
            "warning: {}: this {} snapshot ({}, of {}) is older than the current one ({}): stored for the record; ratings keep using the current one",
            file.display(),
            summary.kind,
            summary.version,
            summary.published,
            summary.current_version
        )?;
    }
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?,
        Format::Text => {
            if summary.duplicate {
                writeln!(out, "this file was loaded before: nothing changed")?;
            }
            writeln!(
                out,
                "{} {}: {} entries; {} CVEs added, removed or moved; {} organisations re-rated",
                summary.kind,
                summary.version,
                summary.entries,
                summary.changed_cves,
                summary.rerated.len()
            )?;
            for r in &summary.rerated {
                writeln!(
                    out,
                    "  {}: {} → {}",
                    r.org_id,
                    r.score_before.map_or("-".to_owned(), |s| s.to_string()),
                    r.score
                )?;
            }
        }
    }
    Ok(())
}
