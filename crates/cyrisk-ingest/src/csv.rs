//! Assets and findings from spreadsheets. The header names the columns (any order; a UTF-8
//! BOM, CRLF line ends and surrounding spaces are fine; unknown columns are ignored); a file
//! with an `asset` column holds findings, otherwise assets. Samples: `examples/assets.csv`,
//! `examples/findings.csv`.
//!
//! Asset columns: `id`, `kind` (required); `hostname`, `ip`, `internet_facing`, `criticality`,
//! `owner`, `vendor`, `product`, `version`, `cpe`, `end_of_life`, `declared`, `os`,
//! `first_seen`, `last_seen`.
//!
//! Finding columns: `id`, `asset`, `first_seen` (required) and one of `cvss_vector`,
//! `cvss_score`, `severity`; `title`, `cve`, `epss`, `kev`, `state`, `fixed_at`.
//!
//! `cve` may list several CVEs (separated by spaces, commas or semicolons); dates may be
//! written `2026-03-02`, `2026/3/2` or as a date-time (see [`crate::dates`]).
//!
//! Each bad row is reported with its line number (counted in the file as saved, CRLF or LF).
//! Unless the caller asks to skip bad rows, one bad row fails the whole file.
//!
//! Text encodings: UTF-8 (with or without a BOM), UTF-16 with a BOM (Excel's "Unicode
//! text"), and legacy encodings — GBK, which Chinese Excel uses for "CSV (comma delimited)",
//! Big5, Shift_JIS, windows-1252 … — detected with Mozilla's chardetng and read with a
//! warning naming the encoding.

use std::collections::HashSet;
use std::io::Read;

use cyrisk_core::asset::Asset;
use cyrisk_core::finding::Finding;
use serde_json::{Map, Value};

use crate::{Format, IngestError, RejectedRow, Scan};

const ASSET_BOOLS: &[&str] = &["internet_facing", "end_of_life", "declared", "kev_product"];
const FINDING_BOOLS: &[&str] = &["kev"];
const NUMBERS: &[&str] = &["cvss_score", "epss"];
const DATES: &[&str] = &["first_seen", "last_seen", "fixed_at"];
const ASSET_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "hostname",
    "ip",
    "internet_facing",
    "criticality",
    "owner",
    "vendor",
    "product",
    "version",
    "cpe",
    "end_of_life",
    "declared",
    "kev_product",
    "os",
    "first_seen",
    "last_seen",
];
const FINDING_COLUMNS: &[&str] = &[
    "id",
    "asset",
    "title",
    "cve",
    "cvss_vector",
    "cvss_score",
    "severity",
    "epss",
    "kev",
    "state",
    "first_seen",
    "fixed_at",
];

fn boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Parses a CSV of assets or of findings. Bad rows fail the file unless `skip_bad_rows`,
/// in which case they are listed in [`Scan::rejected`].
pub fn parse<R: Read>(input: R, skip_bad_rows: bool) -> Result<Scan, IngestError> {
    let mut input = input;
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| IngestError::at_line(Format::CsvAssets, 1, format!("cannot read: {e}")))?;
    let (text, decoded_as) = decode(&bytes)?;
    let text = text.as_bytes();
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::at_line(
            Format::CsvAssets,
            1,
            "the file is empty: expected a header line",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| IngestError::at_line(Format::CsvAssets, 1, format!("bad header: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let findings = header.iter().any(|h| h == "asset");
    let format = if findings {
        Format::CsvFindings
    } else {
        Format::CsvAssets
    };
    let (required, known, bools): (&[&str], &[&str], &[&str]) = if findings {
        (
            &["id", "asset", "first_seen"],
            FINDING_COLUMNS,
            FINDING_BOOLS,
        )
    } else {
        (&["id", "kind"], ASSET_COLUMNS, ASSET_BOOLS)
    };
    for r in required {
        if !header.iter().any(|h| h == r) {
            return Err(IngestError::at_line(
                format,
                1,
                format!(
                    "the header has no {r:?} column (it has: {}); see the documented columns",
                    header.join(", ")
                ),
            ));
        }
    }
    let mut seen_headers = HashSet::new();
    for h in &header {
        if known.contains(&h.as_str()) && !seen_headers.insert(h.clone()) {
            return Err(IngestError::at_line(
                format,
                1,
                format!("column {h:?} appears twice"),
            ));
        }
    }
    let mut scan = Scan::new(format);
    if let Some(enc) = decoded_as {
        scan.warnings.push(format!(
            "the file is not UTF-8; it was read as {enc}, the encoding its text looks most like (Chinese Excel saves CSV as GBK)"
        ));
    }
    // Line numbers from byte offsets: the CSV reader's own count lags by one per CRLF row.
    // A line ends at LF, or at a CR not followed by LF (classic Mac OS line ends).
    let line_starts: Vec<u64> = std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && text.get(i + 1) != Some(&b'\n')))
                .map(|(i, _)| i as u64 + 1),
        )
        .collect();
    // A record's position may point at the line end before it (CRLF): skip to its text.
    let line_of = |byte: u64| {
        let skip = text.get(byte as usize..).map_or(0, |rest| {
            rest.iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count()
        });
        line_starts.partition_point(|s| *s <= byte + skip as u64) as u64
    };
    let mut ids = HashSet::new();
    let mut bad = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_of(p.byte()));
                bad.push(RejectedRow {
                    line,
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| line_of(p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let mut obj = Map::new();
        let mut problem = None;
        for (h, v) in header.iter().zip(record.iter()) {
            if v.is_empty() || !known.contains(&h.as_str()) {
                continue;
            }
            let value = if bools.contains(&h.as_str()) {
                match boolean(v) {
                    Some(b) => Value::Bool(b),
                    None => {
                        problem = Some(format!("{h}: {v:?} is not true/false"));
                        break;
                    }
                }
            } else if h == "cve" {
                let mut cves = v
                    .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_owned()));
                let first = cves.next().unwrap_or(Value::Null);
                let more: Vec<Value> = cves.collect();
                if !more.is_empty() {
                    obj.insert("additional_cves".to_owned(), Value::Array(more));
                }
                first
            } else if DATES.contains(&h.as_str()) {
                match crate::dates::parse(v) {
                    Some(d) => Value::String(d.to_string()),
                    None => {
                        problem = Some(format!(
                            "{h}: {v:?} is not a date (write it year first: 2026-03-02)"
                        ));
                        break;
                    }
                }
            } else if NUMBERS.contains(&h.as_str()) {
                match v.parse::<f64>() {
                    Ok(n) if n.is_finite() => n.into(),
                    _ => {
                        problem = Some(format!("{h}: {v:?} is not a number"));
                        break;
                    }
                }
            } else {
                Value::String(v.to_owned())
            };
            obj.insert(h.clone(), value);
        }
        let result = match problem {
            Some(p) => Err(p),
            None if findings => {
                let mut o = obj.clone();
                o.entry("source").or_insert_with(|| "csv".into());
                row::<Finding>(Value::Object(o)).and_then(|f| {
                    if f.cvss_vector.is_none() && f.cvss_score.is_none() && f.severity.is_none() {
                        Err("needs one of cvss_vector, cvss_score or severity".into())
                    } else {
                        Ok(Row::Finding(f))
                    }
                })
            }
            None => row::<Asset>(Value::Object(obj)).map(Row::Asset),
        };
        match result {
            Ok(row) => {
                let id = match &row {
                    Row::Asset(a) => a.id.clone(),
                    Row::Finding(f) => f.id.clone(),
                };
                if !ids.insert(id.clone()) {
                    bad.push(RejectedRow {
                        line,
                        message: format!("id {id:?} appears on an earlier line"),
                    });
                    continue;
                }
                match row {
                    Row::Asset(a) => scan.assets.push(a),
                    Row::Finding(f) => {
                        scan.findings.push(f);
                        scan.finding_lines.push(line);
                    }
                }
            }
            Err(message) => bad.push(RejectedRow { line, message }),
        }
    }
    if !bad.is_empty() && !skip_bad_rows {
        let first = &bad[0];
        let more = if bad.len() > 1 {
            format!(
                " (and {} more bad rows: lines {})",
                bad.len() - 1,
                bad[1..]
                    .iter()
                    .take(20)
                    .map(|r| r.line.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        };
        return Err(IngestError::at_line(
            format,
            first.line,
            format!(
                "{}{more} (skipping bad rows keeps the good ones)",
                first.message
            ),
        ));
    }
    scan.rejected = bad;
    Ok(scan)
}

/// The file's text and, when it was not UTF-8, the encoding it was read as.
fn decode(bytes: &[u8]) -> Result<(std::borrow::Cow<'_, str>, Option<&'static str>), IngestError> {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom..]);
        if had_errors {
            return Err(IngestError::at_line(
                Format::CsvAssets,
                1,
                format!(
                    "the file starts with a {} byte-order mark but is not valid {0}",
                    enc.name()
                ),
            ));
        }
        return Ok((text, (enc != encoding_rs::UTF_8).then_some(enc.name())));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((text.into(), None)),
        Err(e) => {
            // Not UTF-8: the legacy encoding the text most likely is (Mozilla's chardetng, as
            // Firefox uses for unlabelled pages): GBK for Chinese Excel, Big5, Shift_JIS, …
            let mut detector = chardetng::EncodingDetector::new();
            detector.feed(bytes, true);
            // No top-level-domain hint: with `cn` short Big5 text reads as GBK (tested).
            let enc = detector.guess(None, false);
            match enc.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(text) => Ok((text, Some(enc.name()))),
                None => {
                    let line = bytes[..e.valid_up_to()]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count()
                        + 1;
                    Err(IngestError::at_line(
                        Format::CsvAssets,
                        line as u64,
                        format!(
                            "the file is not UTF-8, nor valid {} (the encoding it looks most like); save it as \"CSV UTF-8\"",
                            enc.name()
                        ),
                    ))
                }
            }
        }
    }
}

enum Row {
    Asset(Asset),
    Finding(Finding),
}

/// Deserialises a row object, naming the column on error.
fn row<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}
