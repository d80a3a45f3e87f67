//! What each factor's value was computed from, as the rating publishes it
//! (`Rating::factors[].inputs`): one JSON object per factor.
//!
//! The objects list their keys in alphabetical order, as they always have (they were built as
//! `serde_json` maps, which sort their keys): the fields below are declared in that order,
//! and the shapes whose keys come and go serialise through a flat struct that is.

use serde::{Serialize, Serializer};

use super::features::CrossBorderRequirement;
use crate::factor::FactorId;

/// One factor's inputs; the variant is the factor. Serialised as the inner object alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FactorInputs {
    RemoteAccess(AssetsInputs),
    DatabaseExposed(AssetsInputs),
    PerimeterAppliance(PerimeterInputs),
    EndOfLife(EndOfLifeInputs),
    AttackSurface(AttackSurfaceInputs),
    ShadowAssets(ShadowAssetsInputs),
    DataHoldings(DataHoldingsInputs),
    Ciio(CiioInputs),
    ExploitationPressure(ExploitationInputs),
    OverdueFindings(OverdueInputs),
    Mfa(ControlInputs),
    Edr(ControlInputs),
    OfflineBackups(ControlInputs),
    PrivilegedAccess(ControlInputs),
    LogRetention(ControlInputs),
    IncidentResponse(ControlInputs),
    SecurityAwareness(ControlInputs),
    EmailAuthentication(ControlInputs),
    PatchCadence(ControlInputs),
    Hardening(ControlInputs),
    Mlps(MlpsInputs),
    RegulatoryObligations(ObligationsInputs),
    IncidentHistory(HistoryInputs),
}

impl FactorInputs {
    /// The factor these are the inputs of.
    pub fn factor(&self) -> FactorId {
        match self {
            Self::RemoteAccess(_) => FactorId::RemoteAccess,
            Self::DatabaseExposed(_) => FactorId::DatabaseExposed,
            Self::PerimeterAppliance(_) => FactorId::PerimeterAppliance,
            Self::EndOfLife(_) => FactorId::EndOfLife,
            Self::AttackSurface(_) => FactorId::AttackSurface,
            Self::ShadowAssets(_) => FactorId::ShadowAssets,
            Self::DataHoldings(_) => FactorId::DataHoldings,
            Self::Ciio(_) => FactorId::Ciio,
            Self::ExploitationPressure(_) => FactorId::ExploitationPressure,
            Self::OverdueFindings(_) => FactorId::OverdueFindings,
            Self::Mfa(_) => FactorId::Mfa,
            Self::Edr(_) => FactorId::Edr,
            Self::OfflineBackups(_) => FactorId::OfflineBackups,
            Self::PrivilegedAccess(_) => FactorId::PrivilegedAccess,
            Self::LogRetention(_) => FactorId::LogRetention,
            Self::IncidentResponse(_) => FactorId::IncidentResponse,
            Self::SecurityAwareness(_) => FactorId::SecurityAwareness,
            Self::EmailAuthentication(_) => FactorId::EmailAuthentication,
            Self::PatchCadence(_) => FactorId::PatchCadence,
            Self::Hardening(_) => FactorId::Hardening,
            Self::Mlps(_) => FactorId::Mlps,
            Self::RegulatoryObligations(_) => FactorId::RegulatoryObligations,
            Self::IncidentHistory(_) => FactorId::IncidentHistory,
        }
    }
}

/// `remote_access`, `database_exposed`: the internet-facing assets with such a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetsInputs {
    pub assets: usize,
    /// Up to five of their asset ids, in bundle order.
    pub examples: Vec<String>,
}

/// `perimeter_appliance`: VPN gateways, firewalls and routers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerimeterInputs {
    pub appliances: usize,
    /// Up to five asset ids, in bundle order.
    pub examples: Vec<String>,
    /// Appliances of a product with known-exploited vulnerabilities (weight 1).
    pub with_kev_history: usize,
}

/// `end_of_life`: assets running end-of-life software.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndOfLifeInputs {
    /// Up to five asset ids, in bundle order.
    pub examples: Vec<String>,
    pub internal: usize,
    pub internet_facing: usize,
}

/// `attack_surface`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackSurfaceInputs {
    pub internet_facing_assets: usize,
}

/// `shadow_assets`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowAssetsInputs {
    /// Up to five shadow or zombie asset ids, in bundle order.
    pub examples: Vec<String>,
    /// Undeclared assets, and assets unseen for more than `zombie_after_days`.
    pub shadow_or_zombie: usize,
    /// Undeclared assets.
    pub unknown: usize,
}

/// `data_holdings`: the profile's data volumes. `{"status": "unknown"}` when it gives none.
#[derive(Debug, Clone, PartialEq)]
pub enum DataHoldingsInputs {
    Unknown,
    Given {
        /// People whose personal information the organisation holds.
        personal_records: u64,
        /// … of which sensitive personal information.
        sensitive_personal_records: u64,
    },
}

/// `ciio`: the profile says the organisation operates critical information infrastructure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CiioInputs {
    pub ciio: bool,
}

/// `exploitation_pressure`: the findings unresolved on the rating date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExploitationInputs {
    /// KEV-listed ones on internet-facing assets.
    pub kev_internet_facing: usize,
    pub kev_unresolved: usize,
    /// Up to five finding ids with the largest exploitation hazard, largest first.
    pub top_findings: Vec<String>,
    pub unresolved_findings: usize,
    /// Those without an EPSS probability (a CVSS-based prior stands in).
    pub without_epss: usize,
}

/// `overdue_findings`: findings past their remediation SLA, by severity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverdueInputs {
    pub critical: usize,
    pub high: usize,
    pub low: usize,
    pub medium: usize,
    /// Days since the oldest overdue finding was first seen (0 with none).
    pub oldest_overdue_days: i64,
    /// All of them.
    pub overdue: usize,
}

/// A control factor: what the evidence of its controls says. Published as
/// `{"status": "unknown"}`, `{"results": n, "status": "not_applicable"}` or
/// `{"evidence_weight": w, "quality": q, "results": n, "status": "assessed"}`.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlInputs {
    /// No result: the value is the reference.
    Unknown,
    /// Every counted result said not applicable: the value is the reference.
    NotApplicable { results: usize },
    Assessed {
        /// Results counted (the rated organisation's own are not, where a third party
        /// assessed the factor).
        results: usize,
        /// Mean outcome of the applicable results (pass 1, partial 0.5, fail 0), to 4
        /// decimals.
        quality: f64,
        /// Mean weight of their evidence by freshness (and self-declaration), 0–1, to 4
        /// decimals.
        evidence_weight: f64,
    },
}

/// `mlps`: the control evidence, and the levels behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpsInputs {
    pub control: ControlInputs,
    /// The MLPS level the organisation's important systems need (3 for CIIOs and key
    /// sectors, else 2); a result below it counts half.
    pub required_level: u8,
    /// The levels of every control result that states one, in bundle order.
    pub assessed_levels: Vec<u8>,
}

/// `regulatory_obligations`: the Chinese data-security obligations that apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObligationsInputs {
    /// The mechanism the cross-border transfer of personal information needs
    /// (`none`, `exempt`, `standard_contract_or_certification`, `cac_security_assessment`).
    pub cross_border_requirement: CrossBorderRequirement,
    pub obligations: Vec<Obligation>,
}

/// An obligation from the Chinese data-security rules that applies to this organisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Obligation {
    /// There is evidence either way (unmet is otherwise 0.5).
    pub known: bool,
    /// `cross_border_transfer`, `data_risk_assessment` or `timely_incident_reporting`.
    pub name: &'static str,
    /// 0 met, 1 unmet, 0.5 partly met or unknown.
    pub unmet: f64,
}

/// `incident_history`: the credibility update's inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryInputs {
    /// Share of incidents EDR and logs would have seen (`history.min_detection` … 1), to 4
    /// decimals.
    pub detection_coverage: f64,
    /// Incidents that started in the window, up to the rating date.
    pub incidents_in_window: usize,
    /// Their count weighted by impact and recency (and verified corrective actions), to 4
    /// decimals.
    pub weighted_incidents: f64,
    /// Years from `profile.incident_history_since` (or the model's default window) to the
    /// rating date, to 3 decimals.
    pub window_years: f64,
}

/// The published object of a control factor: every key it may have, in alphabetical order.
#[derive(Serialize)]
struct ControlObject<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    assessed_levels: Option<&'a [u8]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence_weight: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_level: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<usize>,
    status: &'static str,
}

impl ControlObject<'_> {
    fn of(c: &ControlInputs) -> Self {
        let (status, results, quality, evidence_weight) = match *c {
            ControlInputs::Unknown => ("unknown", None, None, None),
            ControlInputs::NotApplicable { results } => {
                ("not_applicable", Some(results), None, None)
            }
            ControlInputs::Assessed {
                results,
                quality,
                evidence_weight,
            } => (
                "assessed",
                Some(results),
                Some(quality),
                Some(evidence_weight),
            ),
        };
        ControlObject {
            assessed_levels: None,
            evidence_weight,
            quality,
            required_level: None,
            results,
            status,
        }
    }
}

impl Serialize for ControlInputs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ControlObject::of(self).serialize(serializer)
    }
}

impl Serialize for MlpsInputs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ControlObject {
            assessed_levels: Some(&self.assessed_levels),
            required_level: Some(self.required_level),
            ..ControlObject::of(&self.control)
        }
        .serialize(serializer)
    }
}

/// The published object of `data_holdings`: every key it may have, in alphabetical order.
#[derive(Serialize)]
struct DataHoldingsObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_records: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensitive_personal_records: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

impl Serialize for DataHoldingsInputs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Unknown => DataHoldingsObject {
                personal_records: None,
                sensitive_personal_records: None,
                status: Some("unknown"),
            },
            Self::Given {
                personal_records,
                sensitive_personal_records,
            } => DataHoldingsObject {
                personal_records: Some(personal_records),
                sensitive_personal_records: Some(sensitive_personal_records),
                status: None,
            },
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Written directly and through a `serde_json` map (sorted keys), the same text.
    fn sorted(inputs: &FactorInputs) -> String {
        let direct = serde_json::to_string(inputs).unwrap();
        let via_map = serde_json::to_string(&serde_json::to_value(inputs).unwrap()).unwrap();
        assert_eq!(direct, via_map, "{:?}", inputs.factor());
        direct
    }

    #[test]
    fn objects_keep_the_published_keys_and_order() {
        let ex = || vec!["a".to_owned(), "b".to_owned()];
        let assessed = ControlInputs::Assessed {
            results: 3,
            quality: 0.8333,
            evidence_weight: 1.0,
        };
        let cases = [
            (
                FactorInputs::RemoteAccess(AssetsInputs {
                    assets: 2,
                    examples: ex(),
                }),
                json!({"assets": 2, "examples": ["a", "b"]}),
            ),
            (
                FactorInputs::PerimeterAppliance(PerimeterInputs {
                    appliances: 1,
                    examples: ex(),
                    with_kev_history: 1,
                }),
                json!({"appliances": 1, "examples": ["a", "b"], "with_kev_history": 1}),
            ),
            (
                FactorInputs::EndOfLife(EndOfLifeInputs {
                    examples: vec![],
                    internal: 1,
                    internet_facing: 0,
                }),
                json!({"examples": [], "internal": 1, "internet_facing": 0}),
            ),
            (
                FactorInputs::AttackSurface(AttackSurfaceInputs {
                    internet_facing_assets: 2,
                }),
                json!({"internet_facing_assets": 2}),
            ),
            (
                FactorInputs::ShadowAssets(ShadowAssetsInputs {
                    examples: ex(),
                    shadow_or_zombie: 2,
                    unknown: 1,
                }),
                json!({"examples": ["a", "b"], "shadow_or_zombie": 2, "unknown": 1}),
            ),
            (
                FactorInputs::DataHoldings(DataHoldingsInputs::Unknown),
                json!({"status": "unknown"}),
            ),
            (
                FactorInputs::DataHoldings(DataHoldingsInputs::Given {
                    personal_records: 2_400_000,
                    sensitive_personal_records: 150_000,
                }),
                json!({"personal_records": 2_400_000, "sensitive_personal_records": 150_000}),
            ),
            (
                FactorInputs::Ciio(CiioInputs { ciio: true }),
                json!({"ciio": true}),
            ),
            (
                FactorInputs::ExploitationPressure(ExploitationInputs {
                    kev_internet_facing: 1,
                    kev_unresolved: 2,
                    top_findings: ex(),
                    unresolved_findings: 5,
                    without_epss: 2,
                }),
                json!({"kev_internet_facing": 1, "kev_unresolved": 2, "top_findings": ["a", "b"],
                       "unresolved_findings": 5, "without_epss": 2}),
            ),
            (
                FactorInputs::OverdueFindings(OverdueInputs {
                    critical: 2,
                    high: 2,
                    low: 0,
                    medium: 1,
                    oldest_overdue_days: 599,
                    overdue: 5,
                }),
                json!({"critical": 2, "high": 2, "low": 0, "medium": 1,
                       "oldest_overdue_days": 599, "overdue": 5}),
            ),
            (
                FactorInputs::Mfa(ControlInputs::Unknown),
                json!({"status": "unknown"}),
            ),
            (
                FactorInputs::Edr(ControlInputs::NotApplicable { results: 2 }),
                json!({"results": 2, "status": "not_applicable"}),
            ),
            (
                FactorInputs::Hardening(assessed.clone()),
                json!({"evidence_weight": 1.0, "quality": 0.8333, "results": 3, "status": "assessed"}),
            ),
            (
                FactorInputs::Mlps(MlpsInputs {
                    control: assessed,
                    required_level: 3,
                    assessed_levels: vec![3, 2],
                }),
                json!({"assessed_levels": [3, 2], "evidence_weight": 1.0, "quality": 0.8333,
                       "required_level": 3, "results": 3, "status": "assessed"}),
            ),
            (
                FactorInputs::Mlps(MlpsInputs {
                    control: ControlInputs::Unknown,
                    required_level: 2,
                    assessed_levels: vec![],
                }),
                json!({"assessed_levels": [], "required_level": 2, "status": "unknown"}),
            ),
            (
                FactorInputs::RegulatoryObligations(ObligationsInputs {
                    cross_border_requirement: CrossBorderRequirement::SecurityAssessment,
                    obligations: vec![Obligation {
                        known: true,
                        name: "data_risk_assessment",
                        unmet: 0.0,
                    }],
                }),
                json!({"cross_border_requirement": "cac_security_assessment",
                       "obligations": [{"known": true, "name": "data_risk_assessment", "unmet": 0.0}]}),
            ),
            (
                FactorInputs::IncidentHistory(HistoryInputs {
                    detection_coverage: 1.0,
                    incidents_in_window: 1,
                    weighted_incidents: 0.2248,
                    window_years: 5.886,
                }),
                json!({"detection_coverage": 1.0, "incidents_in_window": 1,
                       "weighted_incidents": 0.2248, "window_years": 5.886}),
            ),
        ];
        for (inputs, want) in cases {
            let text = sorted(&inputs);
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), want);
            assert_eq!(text, serde_json::to_string(&want).unwrap());
        }
    }
}
