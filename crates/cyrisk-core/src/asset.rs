//! Assets: what an organisation exposes.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    Host,
    Ip,
    Domain,
    WebApplication,
    CloudService,
    Endpoint,
    NetworkDevice,
    SecurityDevice,
    OtDevice,
}

/// Business criticality of an asset.
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
pub enum Criticality {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

/// Data classification held on an asset (Data Security Law / PIPL categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    Core,
    Important,
    Personal,
    SensitivePersonal,
    General,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

/// An open port and what answers on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub port: u16,
    #[serde(default)]
    pub protocol: Transport,
    /// Service name as a scanner reports it (`ms-wbt-server`, `http`, `mysql`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The product's CPE, where the scanner gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe: Option<String>,
}

/// Something a scan saw on an asset that is not a vulnerability (a Nessus informational
/// item: a detected service, an OS fingerprint, a certificate, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetFact {
    /// The check that reported it (`nessus:19506`).
    pub source: String,
    pub name: String,
    /// The port it was seen on (0 or absent for the host as a whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// Identifier, unique within the bundle; findings refer to it.
    #[schemars(transform = crate::schema::non_blank)]
    pub id: String,
    pub kind: AssetKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Other names the asset answers to (a scanner may reach one address under several).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::schema::ip_address)]
    pub ip: Option<std::net::IpAddr>,
    /// Reachable from the internet.
    #[serde(default)]
    pub internet_facing: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe: Option<String>,
    /// Runs software its vendor no longer supports.
    #[serde(default)]
    pub end_of_life: bool,
    /// The vendor/product has vulnerabilities in the KEV catalogue (set by KEV enrichment
    /// from `vendor` and `product`, or given).
    #[serde(default)]
    pub kev_product: bool,
    #[serde(default)]
    pub criticality: Criticality,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_classes: Vec<DataClass>,
    /// In the organisation's declared inventory; `false` for assets only discovery found.
    #[serde(default = "yes")]
    pub declared: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<NaiveDate>,
    /// Operating system as a scanner reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Not seen by any scan for longer than the configured time: a zombie candidate (set by
    /// scan imports; cleared when a scan sees it again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// What the latest scan saw besides vulnerabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<AssetFact>,
    /// Recorded by the rated organisation itself, with no third party's observation behind
    /// it. Such assets can add to the exposure the rating sees, never lower it below the
    /// reference organisation's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_declared: bool,
}

impl Asset {
    /// Whether the asset goes by `name` (its id, host name or an alias; case-insensitive,
    /// a trailing dot ignored).
    pub fn answers_to(&self, name: &str) -> bool {
        let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
        let name = norm(name);
        !name.is_empty()
            && (norm(&self.id) == name
                || self.hostname.as_deref().is_some_and(|h| norm(h) == name)
                || self.aliases.iter().any(|a| norm(a) == name))
    }

    /// Network and security devices on the internet edge: VPN gateways, firewalls, routers.
    pub fn is_perimeter_appliance(&self) -> bool {
        self.internet_facing
            && matches!(
                self.kind,
                AssetKind::NetworkDevice | AssetKind::SecurityDevice
            )
    }
}
