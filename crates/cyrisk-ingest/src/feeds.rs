//! Threat-intelligence feeds: the CISA KEV catalogue (JSON) and the EPSS daily scores (CSV,
//! plain or gzip).
//!
//! Each snapshot is dated by its own content — the catalogue's `dateReleased` (else its
//! `catalogVersion`), the EPSS `score_date` — so that the newest one is current whatever the
//! order they are loaded in. EPSS files published before 2022-02-04 have no
//! `#model_version:…,score_date:…` line (`cve,epss` in 2021, then `cve,epss,percentile`):
//! their score date comes from the caller, e.g. from the published file name
//! `epss_scores-YYYY-MM-DD.csv.gz` ([`epss_date_from_file_name`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use chrono::NaiveDate;
use cyrisk_core::KevCatalog;
use cyrisk_core::finding::Cve;

use crate::{Format, IngestError};

/// A KEV catalogue, checked.
pub fn parse_kev(bytes: &[u8]) -> Result<KevCatalog, IngestError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| IngestError::at_byte(Format::Kev, e.valid_up_to() as u64, "not UTF-8"))?;
    if text.trim().is_empty() {
        return Err(IngestError::at_byte(Format::Kev, 0, "the file is empty"));
    }
    // Syntax first, for a position; then the catalogue's own checks, which name the field.
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(IngestError::at_line(
            Format::Kev,
            e.line() as u64,
            format!("not valid JSON (column {}): {e}", e.column()),
        ));
    }
    let cat = KevCatalog::from_json(text)
        .map_err(|e| IngestError::at_byte(Format::Kev, 0, format!("not a KEV catalogue: {e}")))?;
    if cat.version.trim().is_empty() {
        return Err(IngestError::at_byte(
            Format::Kev,
            0,
            "catalogVersion is empty",
        ));
    }
    if kev_published(&cat).is_none() {
        return Err(IngestError::at_byte(
            Format::Kev,
            0,
            format!(
                "cannot tell when the catalogue was published: neither dateReleased nor catalogVersion ({:?}) is a date",
                cat.version
            ),
        ));
    }
    Ok(cat)
}

/// When a catalogue was published: its `dateReleased`, else its `catalogVersion`
/// (`2025.08.25`).
pub fn kev_published(cat: &KevCatalog) -> Option<NaiveDate> {
    cat.released
        .as_deref()
        .and_then(crate::dates::parse)
        .or_else(|| crate::dates::parse(&cat.version))
}

/// The score date in an EPSS file's published name (`epss_scores-2021-04-14.csv.gz`).
pub fn epss_date_from_file_name(name: &str) -> Option<NaiveDate> {
    let at = name.rfind("epss_scores-")? + "epss_scores-".len();
    NaiveDate::parse_from_str(name.get(at..at + 10)?, "%Y-%m-%d").ok()
}

/// One day's EPSS scores.
#[derive(Debug, Clone, PartialEq)]
pub struct EpssScores {
    /// The model that scored them (`unstated` for files before 2022-02-04).
    pub model_version: String,
    /// The day scored: the `score_date` of the header line, or the one given for older files.
    pub score_date: NaiveDate,
    /// Probability of exploitation activity in the next 30 days, and its percentile (absent
    /// in the 2021 format).
    pub scores: HashMap<Cve, (f32, Option<f32>)>,
}

impl EpssScores {
    pub fn version(&self) -> String {
        format!("{} (model {})", self.score_date, self.model_version)
    }
}

/// Parses the EPSS CSV, plain or gzip-compressed (told apart by the gzip magic bytes).
/// `score_date` dates a file without the `#model_version:…,score_date:…` line (before
/// 2022-02-04); such a file without it is refused, saying how to give it. A file with the line
/// is dated by the line.
pub fn parse_epss<R: Read>(
    input: R,
    score_date: Option<NaiveDate>,
) -> Result<EpssScores, IngestError> {
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let gz = input
        .fill_buf()
        .map_err(|e| IngestError::at_line(Format::Epss, 1, format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    if gz {
        parse_epss_text(
            BufReader::with_capacity(256 * 1024, flate2::read::MultiGzDecoder::new(input)),
            score_date,
        )
    } else {
        parse_epss_text(input, score_date)
    }
}

fn parse_epss_text<R: BufRead>(
    mut input: R,
    given_date: Option<NaiveDate>,
) -> Result<EpssScores, IngestError> {
    let err = |line: u64, m: String| IngestError::at_line(Format::Epss, line, m);
    let mut line = String::new();
    let mut read = |buf: &mut String, n: u64| -> Result<usize, IngestError> {
        buf.clear();
        input
            .read_line(buf)
            .map_err(|e| err(n, format!("cannot read (gzip damaged?): {e}")))
    };
    if read(&mut line, 1)? == 0 {
        return Err(err(1, "the file is empty".into()));
    }
    let first = line.trim().trim_start_matches('\u{feff}').to_owned();
    let mut n = 1u64;
    let (model_version, score_date, header) = match first.strip_prefix('#') {
        Some(meta) => {
            let mut model_version = None;
            let mut score_date = None;
            for part in meta.split(',') {
                match part.split_once(':') {
                    Some(("model_version", v)) => model_version = Some(v.trim().to_owned()),
                    Some(("score_date", v)) => score_date = crate::dates::parse(v),
                    _ => {}
                }
            }
            let (Some(model_version), Some(score_date)) = (model_version, score_date) else {
                return Err(err(
                    1,
                    "the first line lacks model_version or a readable score_date".into(),
                ));
            };
            n += 1;
            if read(&mut line, n)? == 0 {
                return Err(err(n, "the file ends after its first line".into()));
            }
            (model_version, score_date, line.trim().to_owned())
        }
        None if first.starts_with("cve,epss") => {
            let Some(d) = given_date else {
                return Err(err(
                    1,
                    "this EPSS file has no `#model_version:…,score_date:…` line (the format before \
                     2022-02-04), so its score date must be given: --score-date YYYY-MM-DD on the \
                     command line, ?score_date=YYYY-MM-DD over HTTP, or keep the published file name \
                     epss_scores-YYYY-MM-DD.csv(.gz)"
                        .into(),
                ));
            };
            // FIRST has written the model line on every file since 2022-02-04.
            if d >= NaiveDate::from_ymd_opt(2022, 2, 4).expect("a date") {
                return Err(err(
                    1,
                    format!(
                        "this EPSS file has no `#model_version:…` line, which every file since 2022-02-04 has, so it cannot be scores of {d}; check the date"
                    ),
                ));
            }
            ("unstated".to_owned(), d, first.clone())
        }
        None => {
            return Err(err(
                1,
                format!(
                    "expected the `#model_version:…,score_date:…` line or a cve,epss header, got {:?}",
                    truncate(&first)
                ),
            ));
        }
    };
    let with_percentile = match header.as_str() {
        "cve,epss,percentile" => true,
        "cve,epss" => false,
        other => {
            return Err(err(
                n,
                format!(
                    "expected the header cve,epss,percentile (or cve,epss), got {:?}",
                    truncate(other)
                ),
            ));
        }
    };
    let mut scores = HashMap::with_capacity(320_000);
    loop {
        n += 1;
        if read(&mut line, n)? == 0 {
            break;
        }
        let row = line.trim_end();
        if row.is_empty() {
            continue;
        }
        let mut cols = row.split(',');
        let (cve, epss, pct) = match (cols.next(), cols.next(), cols.next(), cols.next()) {
            (Some(c), Some(e), Some(p), None) if with_percentile => (c, e, Some(p)),
            (Some(c), Some(e), None, None) if !with_percentile => (c, e, None),
            _ => {
                return Err(err(
                    n,
                    format!("expected {header}, got {:?}", truncate(row)),
                ));
            }
        };
        let cve = Cve::parse(cve).map_err(|m| err(n, format!("cve {m}")))?;
        let prob = |s: &str, what: &str| -> Result<f32, IngestError> {
            match s.parse::<f32>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
                _ => Err(err(n, format!("{what} {s:?} is not a number from 0 to 1"))),
            }
        };
        let pct = pct.map(|p| prob(p, "percentile")).transpose()?;
        scores.insert(cve, (prob(epss, "epss")?, pct));
    }
    if scores.is_empty() {
        return Err(err(n, "no scores in the file".into()));
    }
    Ok(EpssScores {
        model_version,
        score_date,
        scores,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}
