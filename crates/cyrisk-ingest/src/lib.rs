//! cyrisk-ingest: what scanners and feeds write, turned into domain values. Bytes in (any
//! `BufRead`), assets, findings, facts and feed snapshots out; no I/O of its own beyond the
//! readers it is given, no clock (the caller passes the date an undated scan is taken from).
//!
//! - [`nessus`]: Nessus v2 (`.nessus`) XML, streamed.
//! - [`nmap`]: Nmap `-oX` XML, streamed, with risky exposed services classified.
//! - [`csv`]: assets and findings from spreadsheets (documented headers, any column order,
//!   BOM and CRLF tolerated, bad rows reported by line).
//! - [`reconcile`]: a new scan against what is stored (re-scan lifecycle, stale and unknown
//!   assets).

pub mod csv;
pub mod dates;
pub mod exposure;
pub mod feeds;
mod merge;
pub mod nessus;
pub mod nmap;
pub mod reconcile;
mod xml;

use chrono::NaiveDate;
use cyrisk_core::asset::Asset;
use cyrisk_core::finding::Finding;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use exposure::{Exposure, ExposureClass};

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Nessus,
    Nmap,
    CsvAssets,
    CsvFindings,
    Kev,
    Epss,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nessus => "nessus",
            Self::Nmap => "nmap",
            Self::CsvAssets => "csv-assets",
            Self::CsvFindings => "csv-findings",
            Self::Kev => "kev",
            Self::Epss => "epss",
        }
    }
}

/// Where in the input an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Byte offset from the start (XML, JSON).
    Byte(u64),
    /// 1-based line (CSV).
    Line(u64),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Byte(b) => write!(f, "byte {b}"),
            Self::Line(l) => write!(f, "line {l}"),
        }
    }
}

/// An input that cannot be read: what format was expected, where, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} input, at {position}: {message}", format.as_str())]
pub struct IngestError {
    pub format: Format,
    pub position: Position,
    pub message: String,
}

impl IngestError {
    pub(crate) fn at_byte(format: Format, byte: u64, message: impl Into<String>) -> Self {
        Self {
            format,
            position: Position::Byte(byte),
            message: message.into(),
        }
    }

    pub(crate) fn at_line(format: Format, line: u64, message: impl Into<String>) -> Self {
        Self {
            format,
            position: Position::Line(line),
            message: message.into(),
        }
    }
}

/// A CSV row that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RejectedRow {
    pub line: u64,
    pub message: String,
}

/// What one input file holds, as domain values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scan {
    pub format: Format,
    pub assets: Vec<Asset>,
    pub findings: Vec<Finding>,
    pub exposures: Vec<Exposure>,
    /// Rows refused (CSV only; empty unless the caller asked to skip bad rows).
    pub rejected: Vec<RejectedRow>,
    /// The newest date the scan itself records (host end times), if any.
    pub scan_date: Option<NaiveDate>,
    /// For a CSV, the line each of `findings` came from (empty for other formats).
    pub finding_lines: Vec<u64>,
    /// What the reader could not take as written and what it did instead (an unreadable
    /// date, hosts that yield nothing, a file decoded from another encoding): shown to the
    /// user with the import's summary.
    pub warnings: Vec<String>,
}

impl Scan {
    /// Informational items the scan saw (kept on the assets as facts, not as findings).
    pub fn fact_count(&self) -> usize {
        self.assets.iter().map(|a| a.facts.len()).sum()
    }

    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            assets: Vec::new(),
            findings: Vec::new(),
            exposures: Vec::new(),
            rejected: Vec::new(),
            scan_date: None,
            finding_lines: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// The largest single XML element or text run the readers accept, in bytes.
pub fn xml_limit() -> usize {
    xml::MAX_EVENT_BYTES
}

/// The SHA-256 of an input, hex: the key that makes importing the same file twice a no-op.
pub fn content_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest (as [`content_hash`] writes it), for callers that hash a
/// stream themselves.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
