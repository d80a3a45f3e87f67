//! Perils: what kind of incident a rate is for. The rating splits its annual rate over them
//! and the loss simulation draws each incident's kind from that split.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A kind of cyber incident, as insurers' claims reports classify them (Coalition, *Cyber
/// Claims Report*, 2024; NetDiligence, *Cyber Claims Study*, 2025).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Peril {
    /// Encryption or extortion of systems and data.
    Ransomware,
    /// Business email compromise and funds-transfer fraud.
    FundsTransferFraud,
    /// Theft or exposure of personal or confidential data.
    DataBreach,
    /// Systems unavailable (denial of service, destructive attack) without ransomware.
    Outage,
    /// Every other first-party incident.
    Other,
}

impl Peril {
    pub const ALL: [Peril; 5] = [
        Self::Ransomware,
        Self::FundsTransferFraud,
        Self::DataBreach,
        Self::Outage,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ransomware => "ransomware",
            Self::FundsTransferFraud => "funds_transfer_fraud",
            Self::DataBreach => "data_breach",
            Self::Outage => "outage",
            Self::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One number per peril (a share, a rate or a tilt).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerPeril {
    #[serde(default)]
    pub ransomware: f64,
    #[serde(default)]
    pub funds_transfer_fraud: f64,
    #[serde(default)]
    pub data_breach: f64,
    #[serde(default)]
    pub outage: f64,
    #[serde(default)]
    pub other: f64,
}

impl PerPeril {
    pub fn get(&self, p: Peril) -> f64 {
        match p {
            Peril::Ransomware => self.ransomware,
            Peril::FundsTransferFraud => self.funds_transfer_fraud,
            Peril::DataBreach => self.data_breach,
            Peril::Outage => self.outage,
            Peril::Other => self.other,
        }
    }

    /// The values in [`Peril::ALL`] order.
    pub fn to_array(&self) -> [f64; 5] {
        Peril::ALL.map(|p| self.get(p))
    }
}
