//! Threat-intelligence feeds: the CISA KEV catalogue (JSON) and the EPSS daily scores (CSV
//! with its `#model_version:…,score_date:…` line, plain or gzip).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

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
    Ok(cat)
}

/// One day's EPSS scores.
#[derive(Debug, Clone, PartialEq)]
pub struct EpssScores {
    pub model_version: String,
    /// The `score_date` of the header line (its date part), which versions the snapshot.
    pub score_date: String,
    /// Probability of exploitation activity in the next 30 days, and its percentile.
    pub scores: HashMap<Cve, (f32, f32)>,
}

impl EpssScores {
    pub fn version(&self) -> String {
        format!("{} ({})", self.score_date, self.model_version)
    }
}

/// Parses the EPSS CSV, plain or gzip-compressed (told apart by the gzip magic bytes).
pub fn parse_epss<R: Read>(input: R) -> Result<EpssScores, IngestError> {
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let gz = input
        .fill_buf()
        .map_err(|e| IngestError::at_line(Format::Epss, 1, format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    if gz {
        parse_epss_text(BufReader::with_capacity(
            256 * 1024,
            flate2::read::MultiGzDecoder::new(input),
        ))
    } else {
        parse_epss_text(input)
    }
}

fn parse_epss_text<R: BufRead>(mut input: R) -> Result<EpssScores, IngestError> {
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
    let meta = line.trim().trim_start_matches('\u{feff}');
    let Some(meta) = meta.strip_prefix('#') else {
        return Err(err(
            1,
            format!(
                "expected the `#model_version:…,score_date:…` line, got {:?}",
                truncate(meta)
            ),
        ));
    };
    let mut model_version = None;
    let mut score_date = None;
    for part in meta.split(',') {
        match part.split_once(':') {
            Some(("model_version", v)) => model_version = Some(v.trim().to_owned()),
            Some(("score_date", v)) => {
                score_date = Some(v.trim().get(..10).unwrap_or(v).to_owned())
            }
            _ => {}
        }
    }
    let (Some(model_version), Some(score_date)) = (model_version, score_date) else {
        return Err(err(
            1,
            "the first line lacks model_version or score_date".into(),
        ));
    };
    if read(&mut line, 2)? == 0 || line.trim() != "cve,epss,percentile" {
        return Err(err(
            2,
            format!(
                "expected the header cve,epss,percentile, got {:?}",
                truncate(line.trim())
            ),
        ));
    }
    let mut scores = HashMap::with_capacity(320_000);
    let mut n = 2u64;
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
        let (Some(cve), Some(epss), Some(pct), None) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return Err(err(
                n,
                format!("expected cve,epss,percentile, got {:?}", truncate(row)),
            ));
        };
        let cve = Cve::parse(cve).map_err(|m| err(n, format!("cve {m}")))?;
        let prob = |s: &str, what: &str| -> Result<f32, IngestError> {
            match s.parse::<f32>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
                _ => Err(err(n, format!("{what} {s:?} is not a number from 0 to 1"))),
            }
        };
        scores.insert(cve, (prob(epss, "epss")?, prob(pct, "percentile")?));
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
