//! CVSS vectors, parsed once at the edge with the RustSec `cvss` crate (v2.0, v3.0, v3.1 and
//! v4.0), and the qualitative severity scale the rating uses.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A parsed, scoreable CVSS vector string such as `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvssVector {
    raw: String,
    parsed: cvss::Cvss,
}

impl CvssVector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let trimmed = s.trim();
        let parsed = cvss::Cvss::from_str(trimmed)
            .map_err(|e| format!("is not a valid CVSS vector ({e}): {s:?}"))?;
        Ok(Self {
            raw: trimmed.to_owned(),
            parsed,
        })
    }

    /// The base score (0.0–10.0) computed from the vector.
    pub fn base_score(&self) -> f64 {
        self.parsed.score()
    }

    /// `"2.0"`, `"3.0"`, `"3.1"` or `"4.0"`.
    pub fn version(&self) -> &'static str {
        match self.parsed {
            cvss::Cvss::CvssV20(_) => "2.0",
            cvss::Cvss::CvssV30(_) => "3.0",
            cvss::Cvss::CvssV31(_) => "3.1",
            cvss::Cvss::CvssV40(_) => "4.0",
            _ => "unknown",
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for CvssVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for CvssVector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for CvssVector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for CvssVector {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CvssVector".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A CVSS v2.0, v3.0, v3.1 or v4.0 vector string",
            "examples": ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"]
        })
    }
}

/// Qualitative severity (the CVSS v3/v4 rating scale; scanners' own levels map onto it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The CVSS v3.1 qualitative rating of a base score.
    pub fn from_score(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            s if s > 0.0 => Self::Low,
            _ => Self::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_v31_and_v40() {
        let v3 = CvssVector::parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!(v3.version(), "3.1");
        assert!((v3.base_score() - 9.8).abs() < 1e-9);
        let v4 =
            CvssVector::parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
                .unwrap();
        assert_eq!(v4.version(), "4.0");
        assert!((v4.base_score() - 9.3).abs() < 1e-9);
    }

    #[test]
    fn rejects_garbage_with_the_value_in_the_message() {
        let err = CvssVector::parse("CVSS:3.1/AV:Q").unwrap_err();
        assert!(err.contains("CVSS:3.1/AV:Q"), "{err}");
    }

    #[test]
    fn severity_bands() {
        assert_eq!(Severity::from_score(9.8), Severity::Critical);
        assert_eq!(Severity::from_score(7.0), Severity::High);
        assert_eq!(Severity::from_score(6.9), Severity::Medium);
        assert_eq!(Severity::from_score(0.1), Severity::Low);
        assert_eq!(Severity::from_score(0.0), Severity::Info);
    }
}
