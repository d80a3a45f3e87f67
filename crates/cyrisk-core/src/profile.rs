//! The organisation profile: who is being rated.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::{Currency, Money};

/// Industry, from the fixed list the regulator's guidance prioritises plus a few more.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Industry {
    TelecomInternet,
    Manufacturing,
    Energy,
    Finance,
    Transport,
    Water,
    Education,
    Government,
    Healthcare,
    Retail,
    Other,
}

impl Industry {
    pub const ALL: [Industry; 11] = [
        Self::TelecomInternet,
        Self::Manufacturing,
        Self::Energy,
        Self::Finance,
        Self::Transport,
        Self::Water,
        Self::Education,
        Self::Government,
        Self::Healthcare,
        Self::Retail,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TelecomInternet => "telecom_internet",
            Self::Manufacturing => "manufacturing",
            Self::Energy => "energy",
            Self::Finance => "finance",
            Self::Transport => "transport",
            Self::Water => "water",
            Self::Education => "education",
            Self::Government => "government",
            Self::Healthcare => "healthcare",
            Self::Retail => "retail",
            Self::Other => "other",
        }
    }

    /// Sectors whose important systems are normally classified at MLPS level 3 or above.
    pub fn expects_mlps_level_3(self) -> bool {
        matches!(
            self,
            Self::TelecomInternet
                | Self::Energy
                | Self::Finance
                | Self::Transport
                | Self::Water
                | Self::Government
                | Self::Healthcare
        )
    }
}

/// Size band, derived from revenue (and employees when revenue is not given).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SizeBand {
    Micro,
    Small,
    Medium,
    Large,
    Xlarge,
}

impl SizeBand {
    pub const ALL: [SizeBand; 5] = [
        Self::Micro,
        Self::Small,
        Self::Medium,
        Self::Large,
        Self::Xlarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Micro => "micro",
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
            Self::Xlarge => "xlarge",
        }
    }
}

/// How much data the organisation holds and exports; drives attractiveness to attackers and
/// the cross-border-transfer obligations (CAC Order No. 16, 2024).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataVolumes {
    /// Number of people whose personal information is held.
    #[serde(default)]
    pub personal_records: u64,
    /// Number of people whose sensitive personal information is held.
    #[serde(default)]
    pub sensitive_personal_records: u64,
    /// Whether the organisation processes "important data" in the sense of the Data Security Law.
    #[serde(default)]
    pub important_data: bool,
    /// People whose personal information left China this calendar year.
    #[serde(default)]
    pub cross_border_personal_records: u64,
    /// People whose sensitive personal information left China this calendar year.
    #[serde(default)]
    pub cross_border_sensitive_records: u64,
}

/// The organisation being rated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[schemars(transform = crate::schema::non_blank)]
    pub name: String,
    pub industry: Industry,
    /// Annual revenue in `currency`.
    pub annual_revenue: Money,
    #[serde(default)]
    pub currency: Currency,
    pub employees: u32,
    /// Region, e.g. an ISO 3166-2 code such as `CN-HB`.
    #[schemars(transform = crate::schema::non_blank)]
    pub region: String,
    /// Critical-information-infrastructure operator.
    #[serde(default)]
    pub ciio: bool,
    /// Data volumes; when absent the rating takes the reference organisation's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataVolumes>,
    /// Start of the period for which the incident list is complete; without it the history
    /// is assumed to cover the model's default observation window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_history_since: Option<NaiveDate>,
}
