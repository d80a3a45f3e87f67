//! Control results: baseline compliance (MLPS 2.0, hardening) and the key controls that
//! claims data ties to losses.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ControlId {
    /// MFA on remote access, email and privileged accounts.
    Mfa,
    Edr,
    /// Offline (or immutable) backups that are restore-tested.
    OfflineBackups,
    PrivilegedAccess,
    /// Logs kept at least 6 months (1 year for government applications).
    LogRetention,
    /// Incident response plan, exercised by drills.
    IncidentResponse,
    /// Phishing tests and security-awareness training.
    SecurityAwareness,
    /// SPF, DKIM and DMARC on mail domains.
    EmailAuthentication,
    /// High-severity patches applied within 7 days.
    PatchCadence,
    HardeningNetwork,
    HardeningOs,
    HardeningDatabase,
    HardeningMiddleware,
    /// MLPS 2.0 (GB/T 22239) level assessment; carries `level`.
    Mlps,
    /// Cross-border transfer mechanism in place (standard contract, certification or CAC
    /// security assessment, as the volumes require).
    CrossBorderTransfer,
    /// Annual risk assessment filed by an important-data processor.
    DataRiskAssessment,
}

impl ControlId {
    pub const ALL: [ControlId; 16] = [
        Self::Mfa,
        Self::Edr,
        Self::OfflineBackups,
        Self::PrivilegedAccess,
        Self::LogRetention,
        Self::IncidentResponse,
        Self::SecurityAwareness,
        Self::EmailAuthentication,
        Self::PatchCadence,
        Self::HardeningNetwork,
        Self::HardeningOs,
        Self::HardeningDatabase,
        Self::HardeningMiddleware,
        Self::Mlps,
        Self::CrossBorderTransfer,
        Self::DataRiskAssessment,
    ];

    pub fn as_str(self) -> &'static str {
        // Adding a control without listing it in `ALL` fails `all_lists_every_control`.
        match self {
            Self::Mfa => "mfa",
            Self::Edr => "edr",
            Self::OfflineBackups => "offline_backups",
            Self::PrivilegedAccess => "privileged_access",
            Self::LogRetention => "log_retention",
            Self::IncidentResponse => "incident_response",
            Self::SecurityAwareness => "security_awareness",
            Self::EmailAuthentication => "email_authentication",
            Self::PatchCadence => "patch_cadence",
            Self::HardeningNetwork => "hardening_network",
            Self::HardeningOs => "hardening_os",
            Self::HardeningDatabase => "hardening_database",
            Self::HardeningMiddleware => "hardening_middleware",
            Self::Mlps => "mlps",
            Self::CrossBorderTransfer => "cross_border_transfer",
            Self::DataRiskAssessment => "data_risk_assessment",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Partial,
    Fail,
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::schema::control_rules)]
pub struct ControlResult {
    pub control: ControlId,
    pub outcome: Outcome,
    /// When the evidence was collected; stale evidence counts less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessed_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// MLPS level (1–5) the system was assessed at; only for `mlps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// The system or scope the result is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The rated organisation's own statement, not verified by a third party (a
    /// questionnaire answer; anything an enterprise key records). Its evidence counts at the
    /// model's `evidence.self_declared_weight`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_declared: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists every control once: each variant's position in an exhaustive match is its
    /// place in the list.
    #[test]
    fn all_lists_every_control() {
        let index = |c: ControlId| match c {
            ControlId::Mfa => 0,
            ControlId::Edr => 1,
            ControlId::OfflineBackups => 2,
            ControlId::PrivilegedAccess => 3,
            ControlId::LogRetention => 4,
            ControlId::IncidentResponse => 5,
            ControlId::SecurityAwareness => 6,
            ControlId::EmailAuthentication => 7,
            ControlId::PatchCadence => 8,
            ControlId::HardeningNetwork => 9,
            ControlId::HardeningOs => 10,
            ControlId::HardeningDatabase => 11,
            ControlId::HardeningMiddleware => 12,
            ControlId::Mlps => 13,
            ControlId::CrossBorderTransfer => 14,
            ControlId::DataRiskAssessment => 15,
        };
        for (i, c) in ControlId::ALL.into_iter().enumerate() {
            assert_eq!(index(c), i, "{c:?}");
        }
    }
}
