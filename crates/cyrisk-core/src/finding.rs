//! Findings: vulnerabilities observed on assets, with their lifecycle.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cvss::{CvssVector, Severity};
use crate::units::Probability;

/// Lifecycle state of a finding: `open → verified → remediation_requested →
/// fixed_pending_verification → closed`, plus `unfixed_mitigated`, `risk_accepted` and
/// `false_positive`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingState {
    #[default]
    Open,
    Verified,
    RemediationRequested,
    FixedPendingVerification,
    Closed,
    /// Unfixed but shielded by a compensating control: still tracked, counts at reduced weight.
    UnfixedMitigated,
    RiskAccepted,
    FalsePositive,
}

impl FindingState {
    pub const ALL: [FindingState; 8] = [
        Self::Open,
        Self::Verified,
        Self::RemediationRequested,
        Self::FixedPendingVerification,
        Self::Closed,
        Self::UnfixedMitigated,
        Self::RiskAccepted,
        Self::FalsePositive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Verified => "verified",
            Self::RemediationRequested => "remediation_requested",
            Self::FixedPendingVerification => "fixed_pending_verification",
            Self::Closed => "closed",
            Self::UnfixedMitigated => "unfixed_mitigated",
            Self::RiskAccepted => "risk_accepted",
            Self::FalsePositive => "false_positive",
        }
    }

    /// The state named `s` (`open`, `verified`, …), if there is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The state the rating counts a finding in: [`Finding::counts_as`] when set.
    pub fn counted(f: &Finding) -> FindingState {
        f.counts_as.unwrap_or(f.state)
    }

    /// The states in which the vulnerability is still present on the asset: the one list
    /// every "unresolved" check reads ([`FindingState::is_unresolved`]).
    pub const UNRESOLVED: [FindingState; 5] = [
        Self::Open,
        Self::Verified,
        Self::RemediationRequested,
        Self::UnfixedMitigated,
        Self::RiskAccepted,
    ];

    /// The states that never count in a rating: fixed and verified, or never there. Every
    /// model gives them weight 0 (the model loader checks); a fix awaiting verification is
    /// in neither list — it still counts, at its own weight.
    pub const RETIRED: [FindingState; 2] = [Self::Closed, Self::FalsePositive];

    /// The vulnerability is still present on the asset (one of [`FindingState::UNRESOLVED`]).
    pub fn is_unresolved(self) -> bool {
        Self::UNRESOLVED.contains(&self)
    }
}

/// The most further CVEs one finding may list (scanner items covering a cumulative update
/// list a few hundred).
pub const MAX_ADDITIONAL_CVES: usize = 1024;

/// A CVE identifier, normalised to upper case (`CVE-2024-3400`).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String", extend("pattern" = r"^CVE-\d{4}-\d{4,}$"))]
pub struct Cve(String);

impl Cve {
    pub fn parse(s: &str) -> Result<Self, String> {
        let up = s.trim().to_ascii_uppercase();
        let ok = up
            .strip_prefix("CVE-")
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(year, num)| {
                year.len() == 4
                    && num.len() >= 4
                    && year.bytes().all(|b| b.is_ascii_digit())
                    && num.bytes().all(|b| b.is_ascii_digit())
            });
        if ok {
            Ok(Self(up))
        } else {
            Err(format!("is not a CVE identifier like CVE-2024-3400: {s:?}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Cve {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Cve> for String {
    fn from(c: Cve) -> String {
        c.0
    }
}

/// A CVSS base score, 0.0–10.0.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "f64", into = "f64")]
#[schemars(with = "f64", extend("minimum" = 0.0, "maximum" = 10.0))]
pub struct CvssScore(f64);

impl CvssScore {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for CvssScore {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (0.0..=10.0).contains(&v) {
            Ok(Self(v))
        } else {
            Err(format!(
                "must be a CVSS base score between 0.0 and 10.0, got {v}"
            ))
        }
    }
}

impl From<CvssScore> for f64 {
    fn from(s: CvssScore) -> f64 {
        s.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::schema::finding_rules)]
pub struct Finding {
    /// Identifier, unique within the bundle.
    #[schemars(transform = crate::schema::non_blank)]
    pub id: String,
    /// The `id` of the asset it was found on.
    #[schemars(transform = crate::schema::non_blank)]
    pub asset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cve: Option<Cve>,
    /// Further CVEs the finding covers (a scanner item may list several; `cve` is the first).
    /// KEV membership and EPSS are taken over all of them. At most
    /// [`MAX_ADDITIONAL_CVES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 1024))]
    pub additional_cves: Vec<Cve>,
    /// A CVSS vector; when a score is given too and they disagree, the vector wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_vector: Option<CvssVector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<CvssScore>,
    /// The scanner's own severity, used when there is no CVSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// EPSS probability of exploitation activity in the next 30 days (not the percentile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<Probability>,
    /// Listed in the CISA Known Exploited Vulnerabilities catalogue.
    #[serde(default)]
    pub kev: bool,
    #[serde(default)]
    pub state: FindingState,
    /// The state the rating counts this finding in, when that is not `state`: a fix the
    /// rated party declared itself (`fixed_pending_verification`) keeps counting as the state
    /// it left until a verifying re-scan or a third party confirms it. Set by the service,
    /// which decides who may change what; absent means "as `state`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts_as: Option<FindingState>,
    pub first_seen: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_at: Option<NaiveDate>,
    /// Where it came from: the scanner and its check (`nessus:134862`), or a CSV file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What the scanner saw (its plugin output), kept as evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl Finding {
    /// Every CVE the finding covers: `cve`, then `additional_cves`, without repeats (linear
    /// in their number).
    pub fn cves(&self) -> impl Iterator<Item = &Cve> {
        let mut seen = std::collections::HashSet::new();
        let all: Vec<&Cve> = if self.additional_cves.is_empty() {
            self.cve.iter().collect()
        } else {
            self.cve
                .iter()
                .chain(&self.additional_cves)
                .filter(|c| seen.insert(*c))
                .collect()
        };
        all.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cve_is_normalised_and_checked() {
        assert_eq!(
            Cve::parse("cve-2024-3400").unwrap().as_str(),
            "CVE-2024-3400"
        );
        assert!(Cve::parse("CVE-24-1").is_err());
        assert!(Cve::parse("2024-3400").is_err());
    }
}
