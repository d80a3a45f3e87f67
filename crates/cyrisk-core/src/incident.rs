//! Incident history.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentType {
    Ransomware,
    DataBreach,
    /// Business email compromise / funds-transfer fraud.
    Bec,
    Outage,
    Defacement,
    Malware,
    Insider,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    Minor,
    Moderate,
    Major,
    Severe,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    #[schemars(transform = crate::schema::non_blank)]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: IncidentType,
    pub impact: Impact,
    pub started: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contained: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<NaiveDate>,
    #[serde(default)]
    pub records_affected: u64,
    #[serde(default)]
    #[schemars(extend("minimum" = 0.0))]
    pub downtime_hours: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    /// Reported to the authorities within the required time (24 hours where it endangers
    /// national security or the public interest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_in_time: Option<bool>,
    /// Corrective actions were taken and verified.
    #[serde(default)]
    pub corrective_actions_verified: bool,
    /// Recorded by the rated organisation itself, not verified by a third party: its
    /// `corrective_actions_verified` earns no credit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_declared: bool,
}
