//! The rating model as data (`models/rating-v2.toml`, and `rating-v1.toml` for ratings made
//! under it): loading, and validation that names the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::asset::Criticality;
use crate::cvss::Severity;
use crate::factor::{FACTORS, FactorId, Sign};
use crate::finding::FindingState;
use crate::incident::Impact;
use crate::profile::{Industry, SizeBand};

/// A model file that could not be read as a valid model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct ModelError {
    /// Dotted path of the offending field (`factors.mfa.beta`), empty for syntax errors.
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ModelError {
    ModelError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingModel {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub notes: String,
    pub score: ScoreScale,
    pub grades: Vec<GradeBand>,
    pub size_bands: SizeBands,
    pub base_rate: BaseRate,
    pub sla_days: SlaDays,
    pub exploitation: Exploitation,
    pub state_weight: StateWeights,
    pub overdue: Overdue,
    pub count_elasticity: f64,
    pub zombie_after_days: u32,
    pub evidence: Evidence,
    pub exposure: Exposure,
    pub services: Services,
    pub history: History,
    pub confidence: ConfidenceParams,
    pub factors: Factors,
    /// The currency of the model's amounts and how others convert to it (absent in v1:
    /// revenue is then taken as given, whatever its currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money: Option<MoneySpec>,
    /// Size-normalised feature transforms (v2); absent, the v1 soft counts are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transforms: Option<Transforms>,
    /// A credible ceiling on the rate an organisation gets from its posture alone (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
    /// How the rate splits over perils, and how posture tilts the split (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perils: Option<Perils>,
    /// How the model was recalibrated from its parent, when it was (`cyrisk model
    /// recalibrate` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalibration: Option<RecalibrationRecord>,
}

/// The model's currency and exchange rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneySpec {
    /// ISO 4217 code of the model's amounts (the revenue thresholds of the size bands).
    pub currency: String,
    /// Units of `currency` per unit of each other currency (ISO 4217 code → rate).
    pub per_unit: BTreeMap<String, f64>,
    /// Where the rates come from, and their date.
    #[serde(default)]
    pub source: String,
}

/// v2 feature transforms: every exposure and vulnerability feature is bounded and measured
/// relative to the organisation's own estate, so size enters the rate once (the base rate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transforms {
    /// Exposure features are `(1 − w) · presence + w · share`: presence (the mean weight of
    /// the assets that have the exposure, 1 for plain counts) carries most of the effect, the
    /// share of the estate concerned (third-party-seen internet-facing assets for services
    /// and appliances, all such assets for end-of-life and shadow assets) the rest. 0–1.
    pub share_weight: f64,
    pub exploitation: PowerSaturation,
    pub overdue: RateSaturation,
}

/// x = 1 − exp(−M / scale) with M = (Σ_a h_a^power / W)^(1/power): a power mean over the
/// estate of each asset's exploitation hazard h_a (weighted by exposure and criticality), W
/// the estate's weighted size. The worst assets dominate; the same posture on a larger estate
/// gives the same value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSaturation {
    pub power: f64,
    pub scale: f64,
}

/// x = 1 − exp(−(Σ oᵢ / assets) / scale): a per-asset rate, saturating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSaturation {
    pub scale: f64,
}

/// η ↦ η_max − ln(1 + e^(k(η_max − η))) / k on ln λ before the incident history: about η
/// well below the ceiling, never above η_max = −ln(1 − max_probability).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ceiling {
    pub max_probability: f64,
    pub sharpness: f64,
    /// A floor as well: posture alone takes the rate to no less than this multiple of the
    /// reference organisation's, approached smoothly the same way (0–1; absent, no floor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_multiplier: Option<f64>,
}

/// The peril split: `mix` for the reference organisation, tilted per factor:
/// share_p ∝ mix_p · exp(Σ_k tilt_{k,p} · (x_k − ref_k)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Perils {
    pub mix: crate::peril::PerPeril,
    /// Factor name → tilt per peril (per unit of the feature).
    #[serde(default)]
    pub tilt: BTreeMap<String, crate::peril::PerPeril>,
}

/// What a recalibration fitted: ln λ' = level + slope · ln λ (Poisson maximum likelihood).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecalibrationRecord {
    /// The model version it was fitted from.
    pub parent: String,
    /// What the new model applies to its base rates and betas (the fit, with the level
    /// corrected through the model's structure when bundles could be re-rated).
    pub level: f64,
    pub slope: f64,
    /// The maximum-likelihood fit itself, when it differs from what is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_slope: Option<f64>,
    pub organizations: usize,
    pub incidents: u64,
    pub exposure_years: f64,
    pub log_likelihood_before: f64,
    pub log_likelihood_after: f64,
    /// The outcomes file it was fitted to.
    #[serde(default)]
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreScale {
    pub pdo: f64,
    pub anchor_score: f64,
    pub anchor_probability: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeBand {
    pub grade: String,
    pub min_score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeBands {
    pub revenue_below: Thresholds<f64>,
    pub employees_below: Thresholds<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds<T> {
    pub micro: T,
    pub small: T,
    pub medium: T,
    pub large: T,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseRate {
    pub size_band: PerSizeBand,
    pub industry_multiplier: PerIndustry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerSizeBand {
    pub micro: f64,
    pub small: f64,
    pub medium: f64,
    pub large: f64,
    pub xlarge: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerIndustry {
    pub telecom_internet: f64,
    pub manufacturing: f64,
    pub energy: f64,
    pub finance: f64,
    pub transport: f64,
    pub water: f64,
    pub education: f64,
    pub government: f64,
    pub healthcare: f64,
    pub retail: f64,
    pub other: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaDays {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub kev: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerSeverity {
    pub info: f64,
    pub low: f64,
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerCriticality {
    pub low: f64,
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exploitation {
    pub kev_floor: f64,
    pub forward_window_days: u32,
    pub epss_prior: PerSeverity,
    pub internal_weight: f64,
    pub criticality_weight: PerCriticality,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateWeights {
    pub open: f64,
    pub verified: f64,
    pub remediation_requested: f64,
    pub fixed_pending_verification: f64,
    pub closed: f64,
    pub unfixed_mitigated: f64,
    pub risk_accepted: f64,
    pub false_positive: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overdue {
    pub severity_weight: PerSeverity,
    pub max_age_factor: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub fresh_days: u32,
    pub half_life_days: u32,
    pub undated_weight: f64,
    /// Weight of a result the rated organisation declared itself (0–1; 1 when a model file
    /// predates it, so older models rate as they did).
    #[serde(default = "full_weight")]
    pub self_declared_weight: f64,
}

fn full_weight() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exposure {
    pub perimeter_without_kev_weight: f64,
    pub end_of_life_internal_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    pub remote_access_ports: Vec<u16>,
    pub remote_access_names: Vec<String>,
    pub database_ports: Vec<u16>,
    pub database_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerImpact {
    pub minor: f64,
    pub moderate: f64,
    pub major: f64,
    pub severe: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub alpha: f64,
    pub default_window_years: f64,
    pub half_life_years: f64,
    pub impact_weight: PerImpact,
    pub verified_corrective_weight: f64,
    pub min_detection: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceParams {
    pub sigma_min: f64,
    pub sigma_max: f64,
    pub scan_fresh_days: u32,
    pub scan_half_life_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorParam {
    pub beta: f64,
    pub reference: f64,
    #[serde(default)]
    pub note: String,
}

/// One entry per factor the rating computes ([`FACTORS`]); the field names are the factor
/// names in the output, in the same order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Factors {
    pub remote_access: FactorParam,
    pub database_exposed: FactorParam,
    pub perimeter_appliance: FactorParam,
    pub end_of_life: FactorParam,
    pub attack_surface: FactorParam,
    pub shadow_assets: FactorParam,
    pub data_holdings: FactorParam,
    pub ciio: FactorParam,
    pub exploitation_pressure: FactorParam,
    pub overdue_findings: FactorParam,
    pub mfa: FactorParam,
    pub edr: FactorParam,
    pub offline_backups: FactorParam,
    pub privileged_access: FactorParam,
    pub log_retention: FactorParam,
    pub incident_response: FactorParam,
    pub security_awareness: FactorParam,
    pub email_authentication: FactorParam,
    pub patch_cadence: FactorParam,
    pub hardening: FactorParam,
    pub mlps: FactorParam,
    pub regulatory_obligations: FactorParam,
    pub incident_history: FactorParam,
}

impl Factors {
    /// The factors as (name, parameters), in output order ([`FACTORS`]).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &FactorParam)> {
        FactorId::ALL
            .into_iter()
            .map(|id| (id.name(), self.get(id)))
    }

    /// One factor's parameters.
    pub fn get(&self, id: FactorId) -> &FactorParam {
        match id {
            FactorId::RemoteAccess => &self.remote_access,
            FactorId::DatabaseExposed => &self.database_exposed,
            FactorId::PerimeterAppliance => &self.perimeter_appliance,
            FactorId::EndOfLife => &self.end_of_life,
            FactorId::AttackSurface => &self.attack_surface,
            FactorId::ShadowAssets => &self.shadow_assets,
            FactorId::DataHoldings => &self.data_holdings,
            FactorId::Ciio => &self.ciio,
            FactorId::ExploitationPressure => &self.exploitation_pressure,
            FactorId::OverdueFindings => &self.overdue_findings,
            FactorId::Mfa => &self.mfa,
            FactorId::Edr => &self.edr,
            FactorId::OfflineBackups => &self.offline_backups,
            FactorId::PrivilegedAccess => &self.privileged_access,
            FactorId::LogRetention => &self.log_retention,
            FactorId::IncidentResponse => &self.incident_response,
            FactorId::SecurityAwareness => &self.security_awareness,
            FactorId::EmailAuthentication => &self.email_authentication,
            FactorId::PatchCadence => &self.patch_cadence,
            FactorId::Hardening => &self.hardening,
            FactorId::Mlps => &self.mlps,
            FactorId::RegulatoryObligations => &self.regulatory_obligations,
            FactorId::IncidentHistory => &self.incident_history,
        }
    }

    pub fn get_mut(&mut self, id: FactorId) -> &mut FactorParam {
        match id {
            FactorId::RemoteAccess => &mut self.remote_access,
            FactorId::DatabaseExposed => &mut self.database_exposed,
            FactorId::PerimeterAppliance => &mut self.perimeter_appliance,
            FactorId::EndOfLife => &mut self.end_of_life,
            FactorId::AttackSurface => &mut self.attack_surface,
            FactorId::ShadowAssets => &mut self.shadow_assets,
            FactorId::DataHoldings => &mut self.data_holdings,
            FactorId::Ciio => &mut self.ciio,
            FactorId::ExploitationPressure => &mut self.exploitation_pressure,
            FactorId::OverdueFindings => &mut self.overdue_findings,
            FactorId::Mfa => &mut self.mfa,
            FactorId::Edr => &mut self.edr,
            FactorId::OfflineBackups => &mut self.offline_backups,
            FactorId::PrivilegedAccess => &mut self.privileged_access,
            FactorId::LogRetention => &mut self.log_retention,
            FactorId::IncidentResponse => &mut self.incident_response,
            FactorId::SecurityAwareness => &mut self.security_awareness,
            FactorId::EmailAuthentication => &mut self.email_authentication,
            FactorId::PatchCadence => &mut self.patch_cadence,
            FactorId::Hardening => &mut self.hardening,
            FactorId::Mlps => &mut self.mlps,
            FactorId::RegulatoryObligations => &mut self.regulatory_obligations,
            FactorId::IncidentHistory => &mut self.incident_history,
        }
    }
}

impl RatingModel {
    /// The default model shipped with this build (`models/rating-v2.toml`).
    pub fn builtin() -> Self {
        Self::from_toml(include_str!("../../../models/rating-v2.toml"))
            .expect("the built-in model file is validated by the test suite")
    }

    /// The first model (`models/rating-v1.toml`), kept so ratings stored under it reproduce.
    pub fn builtin_v1() -> Self {
        Self::from_toml(include_str!("../../../models/rating-v1.toml"))
            .expect("the built-in model file is validated by the test suite")
    }

    /// A shipped model by its version (`1.0.0`, `2.0.0`), for re-rating under the model a
    /// stored rating was made with.
    pub fn shipped(version: &str) -> Option<Self> {
        match version {
            "1.0.0" => Some(Self::builtin_v1()),
            "2.0.0" => Some(Self::builtin()),
            _ => None,
        }
    }

    pub fn from_toml(text: &str) -> Result<Self, ModelError> {
        let de = toml::Deserializer::parse(text).map_err(|e| invalid("", e.to_string()))?;
        let model: RatingModel = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            invalid(path, e.into_inner().message().to_owned())
        })?;
        model.validate()?;
        Ok(model)
    }

    fn validate(&self) -> Result<(), ModelError> {
        if self.id.trim().is_empty() {
            return Err(invalid("id", "must not be empty"));
        }
        if self.version.trim().is_empty() {
            return Err(invalid("version", "must not be empty"));
        }
        let s = &self.score;
        positive("score.pdo", s.pdo)?;
        finite("score.anchor_score", s.anchor_score)?;
        open_unit("score.anchor_probability", s.anchor_probability)?;
        finite("score.min", s.min)?;
        finite("score.max", s.max)?;
        if s.min >= s.max {
            return Err(invalid(
                "score.max",
                format!("{} must be above score.min {}", s.max, s.min),
            ));
        }

        if self.grades.is_empty() {
            return Err(invalid("grades", "needs at least one grade"));
        }
        for (i, g) in self.grades.iter().enumerate() {
            if g.grade.trim().is_empty() {
                return Err(invalid(format!("grades[{i}].grade"), "must not be empty"));
            }
            finite(&format!("grades[{i}].min_score"), g.min_score)?;
            if i > 0 && g.min_score >= self.grades[i - 1].min_score {
                return Err(invalid(
                    format!("grades[{i}].min_score"),
                    format!(
                        "{} must be below the previous grade's {} (grades go best first)",
                        g.min_score,
                        self.grades[i - 1].min_score
                    ),
                ));
            }
        }
        let lowest = self.grades.last().map_or(f64::INFINITY, |g| g.min_score);
        if lowest > s.min {
            return Err(invalid(
                format!("grades[{}].min_score", self.grades.len() - 1),
                format!(
                    "{lowest} leaves scores from score.min {} without a grade",
                    s.min
                ),
            ));
        }

        let r = &self.size_bands.revenue_below;
        increasing(
            "size_bands.revenue_below",
            &[r.micro, r.small, r.medium, r.large],
        )?;
        let e = &self.size_bands.employees_below;
        increasing(
            "size_bands.employees_below",
            &[
                e.micro as f64,
                e.small as f64,
                e.medium as f64,
                e.large as f64,
            ],
        )?;
        for band in SizeBand::ALL {
            let v = self.base_rate_for_band(band);
            if !(v.is_finite() && v > 0.0 && v <= 10.0) {
                return Err(invalid(
                    format!("base_rate.size_band.{}", band.as_str()),
                    format!("must be an annual rate above 0 and at most 10, got {v}"),
                ));
            }
        }
        for ind in Industry::ALL {
            positive(
                &format!("base_rate.industry_multiplier.{}", ind.as_str()),
                self.industry_multiplier(ind),
            )?;
        }

        let sla = &self.sla_days;
        for (name, v) in [
            ("critical", sla.critical),
            ("high", sla.high),
            ("medium", sla.medium),
            ("low", sla.low),
            ("kev", sla.kev),
        ] {
            if v == 0 {
                return Err(invalid(
                    format!("sla_days.{name}"),
                    "must be at least 1 day",
                ));
            }
        }

        let x = &self.exploitation;
        unit("exploitation.kev_floor", x.kev_floor)?;
        for sev in SEVERITIES {
            unit(
                &format!("exploitation.epss_prior.{}", sev.as_str()),
                self.epss_prior(sev),
            )?;
            nonneg(
                &format!("overdue.severity_weight.{}", sev.as_str()),
                self.overdue_weight(sev),
            )?;
        }
        unit("exploitation.internal_weight", x.internal_weight)?;
        for (name, v) in [
            ("low", x.criticality_weight.low),
            ("medium", x.criticality_weight.medium),
            ("high", x.criticality_weight.high),
            ("critical", x.criticality_weight.critical),
        ] {
            unit(&format!("exploitation.criticality_weight.{name}"), v)?;
        }
        for st in FindingState::ALL {
            unit(
                &format!("state_weight.{}", st.as_str()),
                self.state_weight(st),
            )?;
        }
        let w = &self.state_weight;
        // The rated party may acknowledge a finding or request its remediation itself: that
        // must never lower its rating.
        for (field, v) in [
            ("state_weight.verified", w.verified),
            (
                "state_weight.remediation_requested",
                w.remediation_requested,
            ),
        ] {
            if v < w.open {
                return Err(invalid(
                    field,
                    format!(
                        "{v} is below open ({}): acknowledging a finding would raise the score",
                        w.open
                    ),
                ));
            }
        }
        if w.closed > w.fixed_pending_verification {
            return Err(invalid(
                "state_weight.closed",
                format!(
                    "{} must not exceed fixed_pending_verification {}",
                    w.closed, w.fixed_pending_verification
                ),
            ));
        }
        // Feed loads re-rate only organisations with a finding outside these states.
        for st in FindingState::RETIRED {
            if self.state_weight(st) != 0.0 {
                return Err(invalid(
                    format!("state_weight.{}", st.as_str()),
                    format!(
                        "must be 0 (a {} finding is no longer on the asset), got {}",
                        st.as_str(),
                        self.state_weight(st)
                    ),
                ));
            }
        }
        for st in FindingState::UNRESOLVED {
            if self.state_weight(st) < w.fixed_pending_verification {
                return Err(invalid(
                    "state_weight.fixed_pending_verification",
                    format!(
                        "{} exceeds the weight of the unresolved state {} ({}): fixing a finding would lower the score",
                        w.fixed_pending_verification,
                        st.as_str(),
                        self.state_weight(st)
                    ),
                ));
            }
        }
        if !(self.overdue.max_age_factor.is_finite() && self.overdue.max_age_factor >= 1.0) {
            return Err(invalid(
                "overdue.max_age_factor",
                format!("must be at least 1, got {}", self.overdue.max_age_factor),
            ));
        }
        unit("count_elasticity", self.count_elasticity)?;
        unit(
            "exposure.perimeter_without_kev_weight",
            self.exposure.perimeter_without_kev_weight,
        )?;
        unit(
            "exposure.end_of_life_internal_weight",
            self.exposure.end_of_life_internal_weight,
        )?;
        unit("evidence.undated_weight", self.evidence.undated_weight)?;
        unit(
            "evidence.self_declared_weight",
            self.evidence.self_declared_weight,
        )?;
        if self.evidence.half_life_days == 0 {
            return Err(invalid("evidence.half_life_days", "must be at least 1 day"));
        }

        let h = &self.history;
        positive("history.alpha", h.alpha)?;
        positive("history.default_window_years", h.default_window_years)?;
        positive("history.half_life_years", h.half_life_years)?;
        for (name, v) in [
            ("minor", h.impact_weight.minor),
            ("moderate", h.impact_weight.moderate),
            ("major", h.impact_weight.major),
            ("severe", h.impact_weight.severe),
        ] {
            nonneg(&format!("history.impact_weight.{name}"), v)?;
        }
        unit(
            "history.verified_corrective_weight",
            h.verified_corrective_weight,
        )?;
        unit("history.min_detection", h.min_detection)?;

        let c = &self.confidence;
        nonneg("confidence.sigma_min", c.sigma_min)?;
        if !(c.sigma_max.is_finite() && c.sigma_max >= c.sigma_min) {
            return Err(invalid(
                "confidence.sigma_max",
                format!(
                    "{} must be at least confidence.sigma_min {}",
                    c.sigma_max, c.sigma_min
                ),
            ));
        }
        if c.scan_half_life_days == 0 {
            return Err(invalid(
                "confidence.scan_half_life_days",
                "must be at least 1 day",
            ));
        }

        self.validate_v2()?;
        // Monotonicity of the score in the findings and controls rests on these signs.
        for spec in &FACTORS {
            let (name, f) = (spec.name, self.factors.get(spec.id));
            finite(&format!("factors.{name}.beta"), f.beta)?;
            finite(&format!("factors.{name}.reference"), f.reference)?;
            match spec.sign {
                Sign::Protective if f.beta > 0.0 => {
                    return Err(invalid(
                        format!("factors.{name}.beta"),
                        format!("{} must be ≤ 0: {name} is a protective control", f.beta),
                    ));
                }
                Sign::Risk if f.beta < 0.0 => {
                    return Err(invalid(
                        format!("factors.{name}.beta"),
                        format!("{} must be ≥ 0: {name} measures a risk", f.beta),
                    ));
                }
                Sign::Protective | Sign::Risk => {}
            }
        }
        Ok(())
    }

    fn validate_v2(&self) -> Result<(), ModelError> {
        if let Some(m) = &self.money {
            if m.currency.len() != 3 || !m.currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    "money.currency",
                    format!(
                        "must be an ISO 4217 code such as \"CNY\", got {:?}",
                        m.currency
                    ),
                ));
            }
            for (code, rate) in &m.per_unit {
                if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(invalid(
                        format!("money.per_unit.{code}"),
                        "keys must be ISO 4217 codes",
                    ));
                }
                positive(&format!("money.per_unit.{code}"), *rate)?;
            }
        }
        if let Some(t) = &self.transforms {
            unit("transforms.share_weight", t.share_weight)?;
            if !(t.exploitation.power.is_finite() && t.exploitation.power >= 1.0) {
                return Err(invalid(
                    "transforms.exploitation.power",
                    format!("must be at least 1, got {}", t.exploitation.power),
                ));
            }
            positive("transforms.exploitation.scale", t.exploitation.scale)?;
            positive("transforms.overdue.scale", t.overdue.scale)?;
        }
        if let Some(c) = &self.ceiling {
            open_unit("ceiling.max_probability", c.max_probability)?;
            positive("ceiling.sharpness", c.sharpness)?;
            if let Some(m) = c.min_multiplier {
                open_unit("ceiling.min_multiplier", m)?;
            }
        }
        if let Some(p) = &self.perils {
            let mut total = 0.0;
            for peril in crate::peril::Peril::ALL {
                let v = p.mix.get(peril);
                nonneg(&format!("perils.mix.{}", peril.as_str()), v)?;
                total += v;
            }
            if (total - 1.0).abs() > 1e-6 {
                return Err(invalid(
                    "perils.mix",
                    format!("shares must add up to 1, got {total}"),
                ));
            }
            for (name, tilt) in &p.tilt {
                let Some(id) = FactorId::from_name(name) else {
                    let names: Vec<&str> = FACTORS.iter().map(|s| s.name).collect();
                    return Err(invalid(
                        format!("perils.tilt.{name}"),
                        format!("no such factor; one of {}", names.join(", ")),
                    ));
                };
                let param = self.factors.get(id);
                for peril in crate::peril::Peril::ALL {
                    finite(
                        &format!("perils.tilt.{name}.{}", peril.as_str()),
                        tilt.get(peril),
                    )?;
                }
                // Peril p's rate moves with x_k by β_k + tilt_kp − Σ_q share_q · tilt_kq: it has
                // β_k's sign for every peril and every split exactly when the tilts' spread is
                // at most |β_k|. Wider, improving a control would raise some peril's rate.
                let t = tilt.to_array();
                let spread = t.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    - t.iter().copied().fold(f64::INFINITY, f64::min);
                if spread > param.beta.abs() + 1e-9 {
                    return Err(invalid(
                        format!("perils.tilt.{name}"),
                        format!(
                            "the tilts spread {spread} (largest − smallest, unnamed perils 0) exceeds |beta| {}: a change in {name} would move some peril's rate against the others",
                            param.beta.abs()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// This model recalibrated to ln λ' = level + slope · ln λ, structure unchanged: base
    /// rates λ0' = e^level · λ0^slope by size band, industry multipliers m' = m^slope, every
    /// factor's β' = slope · β and each peril tilt likewise (references and transforms as they
    /// were). Not exact through the whole structure: the ceiling and floor stay where they
    /// were, and the history's credibility weight depends on λ0; `recalibrate_on_bundles`
    /// corrects the level for that on re-rated bundles.
    ///
    /// # Errors
    /// `level` or `slope` is not finite, `slope` is not positive, or the result fails the
    /// model's own validation (a base rate above 10 a year, say).
    pub fn recalibrated(
        &self,
        level: f64,
        slope: f64,
        version: &str,
        record: RecalibrationRecord,
    ) -> Result<Self, ModelError> {
        finite("recalibration.level", level)?;
        positive("recalibration.slope", slope)?;
        let mut m = self.clone();
        m.version = version.to_owned();
        m.notes = format!(
            "{} Recalibrated from {} {}: ln λ' = {level:.6} + {slope:.6} · ln λ.",
            self.notes, self.id, self.version
        )
        .trim()
        .to_owned();
        let rescale = |v: &mut f64| *v = (level + slope * v.ln()).exp();
        let b = &mut m.base_rate.size_band;
        for v in [
            &mut b.micro,
            &mut b.small,
            &mut b.medium,
            &mut b.large,
            &mut b.xlarge,
        ] {
            rescale(v);
        }
        let i = &mut m.base_rate.industry_multiplier;
        for v in [
            &mut i.telecom_internet,
            &mut i.manufacturing,
            &mut i.energy,
            &mut i.finance,
            &mut i.transport,
            &mut i.water,
            &mut i.education,
            &mut i.government,
            &mut i.healthcare,
            &mut i.retail,
            &mut i.other,
        ] {
            *v = v.powf(slope);
        }
        for id in FactorId::ALL {
            m.factors.get_mut(id).beta *= slope;
        }
        // The tilts scale with their betas, so a tilt never outgrows its beta.
        if let Some(perils) = &mut m.perils {
            for t in perils.tilt.values_mut() {
                for v in [
                    &mut t.ransomware,
                    &mut t.funds_transfer_fraud,
                    &mut t.data_breach,
                    &mut t.outage,
                    &mut t.other,
                ] {
                    *v *= slope;
                }
            }
        }
        m.recalibration = Some(record);
        m.validate()?;
        Ok(m)
    }

    /// The model as a TOML file (comments are not kept; the notes and the recalibration
    /// record say where it came from).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// An amount in `currency` converted to the model's currency: `(amount, None)` when
    /// they are the same or the model states no currency (v1), `(amount, Some(message))`
    /// unconverted when the model has no rate for it.
    pub fn to_model_currency(&self, amount: f64, currency: &str) -> (f64, Option<String>) {
        match &self.money {
            None => (amount, None),
            Some(m) if m.currency == currency => (amount, None),
            Some(m) => match m.per_unit.get(currency) {
                Some(rate) => (amount * rate, None),
                None => (
                    amount,
                    Some(format!(
                        "the model has no exchange rate for {currency}; revenue was taken as {}",
                        m.currency
                    )),
                ),
            },
        }
    }

    /// ln λ from posture with the floor (relative to the reference organisation's
    /// `ln_base`) and the ceiling applied, smoothly (see [`Ceiling`]).
    pub fn apply_bounds(&self, eta: f64, ln_base: f64) -> f64 {
        let eta = match self
            .ceiling
            .as_ref()
            .and_then(|c| c.min_multiplier.map(|m| (c, m)))
        {
            None => eta,
            Some((c, m)) => {
                let eta_min = ln_base + m.ln();
                let d = c.sharpness * (eta - eta_min);
                let softplus = if d > 30.0 { d } else { d.exp().ln_1p() };
                eta_min + softplus / c.sharpness
            }
        };
        self.apply_ceiling(eta)
    }

    /// The ceiling on ln λ from posture, applied smoothly (see [`Ceiling`]).
    pub fn apply_ceiling(&self, eta: f64) -> f64 {
        match &self.ceiling {
            None => eta,
            Some(c) => {
                let max = -(-c.max_probability).ln_1p();
                let eta_max = max.ln();
                let k = c.sharpness;
                let d = k * (eta_max - eta);
                // ln(1 + e^d) / k, computed without overflow.
                let softplus = if d > 30.0 { d } else { d.exp().ln_1p() };
                eta_max - softplus / k
            }
        }
    }

    pub fn base_rate_for_band(&self, band: SizeBand) -> f64 {
        let b = &self.base_rate.size_band;
        match band {
            SizeBand::Micro => b.micro,
            SizeBand::Small => b.small,
            SizeBand::Medium => b.medium,
            SizeBand::Large => b.large,
            SizeBand::Xlarge => b.xlarge,
        }
    }

    pub fn industry_multiplier(&self, industry: Industry) -> f64 {
        let m = &self.base_rate.industry_multiplier;
        match industry {
            Industry::TelecomInternet => m.telecom_internet,
            Industry::Manufacturing => m.manufacturing,
            Industry::Energy => m.energy,
            Industry::Finance => m.finance,
            Industry::Transport => m.transport,
            Industry::Water => m.water,
            Industry::Education => m.education,
            Industry::Government => m.government,
            Industry::Healthcare => m.healthcare,
            Industry::Retail => m.retail,
            Industry::Other => m.other,
        }
    }

    /// Size band from revenue, or from employees when revenue is not disclosed (0).
    pub fn size_band(&self, revenue: f64, employees: u32) -> SizeBand {
        if revenue > 0.0 {
            let t = &self.size_bands.revenue_below;
            band_of(revenue, [t.micro, t.small, t.medium, t.large])
        } else {
            let t = &self.size_bands.employees_below;
            band_of(
                employees as f64,
                [t.micro, t.small, t.medium, t.large].map(f64::from),
            )
        }
    }

    pub fn sla_days(&self, severity: Severity, kev: bool) -> u32 {
        let s = &self.sla_days;
        let by_sev = match severity {
            Severity::Critical => s.critical,
            Severity::High => s.high,
            Severity::Medium => s.medium,
            Severity::Low | Severity::Info => s.low,
        };
        if kev { by_sev.min(s.kev) } else { by_sev }
    }

    pub fn epss_prior(&self, severity: Severity) -> f64 {
        per_severity(&self.exploitation.epss_prior, severity)
    }

    pub fn overdue_weight(&self, severity: Severity) -> f64 {
        per_severity(&self.overdue.severity_weight, severity)
    }

    pub fn criticality_weight(&self, c: Criticality) -> f64 {
        let w = &self.exploitation.criticality_weight;
        match c {
            Criticality::Low => w.low,
            Criticality::Medium => w.medium,
            Criticality::High => w.high,
            Criticality::Critical => w.critical,
        }
    }

    pub fn state_weight(&self, state: FindingState) -> f64 {
        let w = &self.state_weight;
        match state {
            FindingState::Open => w.open,
            FindingState::Verified => w.verified,
            FindingState::RemediationRequested => w.remediation_requested,
            FindingState::FixedPendingVerification => w.fixed_pending_verification,
            FindingState::Closed => w.closed,
            FindingState::UnfixedMitigated => w.unfixed_mitigated,
            FindingState::RiskAccepted => w.risk_accepted,
            FindingState::FalsePositive => w.false_positive,
        }
    }

    pub fn impact_weight(&self, impact: Impact) -> f64 {
        let w = &self.history.impact_weight;
        match impact {
            Impact::Minor => w.minor,
            Impact::Moderate => w.moderate,
            Impact::Major => w.major,
            Impact::Severe => w.severe,
        }
    }

    /// Scorecard slope B = PDO / ln 2.
    pub fn score_slope(&self) -> f64 {
        self.score.pdo / std::f64::consts::LN_2
    }

    /// Score of an annual incident probability, before clamping.
    pub fn raw_score(&self, p: f64) -> f64 {
        let s = &self.score;
        let b = self.score_slope();
        let anchor = logit(s.anchor_probability);
        s.anchor_score - b * (logit(p) - anchor)
    }

    /// Score of an annual incident rate, clamped to the display range.
    pub fn score_of_rate(&self, lambda: f64) -> f64 {
        let p = -(-lambda).exp_m1();
        self.raw_score(p).clamp(self.score.min, self.score.max)
    }

    pub fn grade(&self, score: f64) -> &str {
        self.grades
            .iter()
            .find(|g| score >= g.min_score)
            .or(self.grades.last())
            .map_or("", |g| g.grade.as_str())
    }

    /// The factor parameters by name, for reporting.
    pub fn factor_map(&self) -> BTreeMap<&'static str, &FactorParam> {
        self.factors.iter().collect()
    }
}

const SEVERITIES: [Severity; 5] = [
    Severity::Info,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

fn per_severity(t: &PerSeverity, s: Severity) -> f64 {
    match s {
        Severity::Info => t.info,
        Severity::Low => t.low,
        Severity::Medium => t.medium,
        Severity::High => t.high,
        Severity::Critical => t.critical,
    }
}

fn band_of(v: f64, upper: [f64; 4]) -> SizeBand {
    let bands = [
        SizeBand::Micro,
        SizeBand::Small,
        SizeBand::Medium,
        SizeBand::Large,
    ];
    bands
        .into_iter()
        .zip(upper)
        .find(|(_, u)| v < *u)
        .map_or(SizeBand::Xlarge, |(b, _)| b)
}

/// ln(p / (1 − p)), with p kept away from 0 and 1 so the score stays finite.
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

fn finite(field: &str, v: f64) -> Result<(), ModelError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(invalid(field, format!("must be a finite number, got {v}")))
    }
}

fn positive(field: &str, v: f64) -> Result<(), ModelError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(field, format!("must be above 0, got {v}")))
    }
}

fn nonneg(field: &str, v: f64) -> Result<(), ModelError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(field, format!("must be at least 0, got {v}")))
    }
}

fn unit(field: &str, v: f64) -> Result<(), ModelError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(field, format!("must be between 0 and 1, got {v}")))
    }
}

fn open_unit(field: &str, v: f64) -> Result<(), ModelError> {
    if v > 0.0 && v < 1.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be strictly between 0 and 1, got {v}"),
        ))
    }
}

fn increasing(field: &str, v: &[f64]) -> Result<(), ModelError> {
    let names = ["micro", "small", "medium", "large"];
    for i in 0..v.len() {
        positive(&format!("{field}.{}", names[i]), v[i])?;
        if i > 0 && v[i] <= v[i - 1] {
            return Err(invalid(
                format!("{field}.{}", names[i]),
                format!(
                    "{} must be above {}.{} {}",
                    v[i],
                    field,
                    names[i - 1],
                    v[i - 1]
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../models/rating-v1.toml");

    #[test]
    fn shipped_model_is_valid() {
        let m = RatingModel::from_toml(SHIPPED).unwrap();
        assert_eq!(m.id, "cyrisk-rating");
        assert_eq!(m.factors.iter().count(), 23);
        let v2 = RatingModel::builtin();
        assert_eq!(v2.version, "2.0.0");
        assert!(v2.transforms.is_some() && v2.perils.is_some() && v2.ceiling.is_some());
        assert_eq!(RatingModel::shipped("1.0.0"), Some(m));
        assert!(RatingModel::shipped("9.9.9").is_none());
    }

    #[test]
    fn v2_sections_are_validated() {
        const V2: &str = include_str!("../../../models/rating-v2.toml");
        let e = err_of(&V2.replace("share_weight = 0.3", "share_weight = 1.3"));
        assert_eq!(e.field, "transforms.share_weight");
        let e = err_of(&V2.replace("max_probability = 0.6", "max_probability = 1.0"));
        assert_eq!(e.field, "ceiling.max_probability");
        let e = err_of(&V2.replace("other = 0.03 }", "other = 0.13 }"));
        assert_eq!(e.field, "perils.mix");
        let e = err_of(&V2.replace(
            "remote_access = { ransomware",
            "remote_acess = { ransomware",
        ));
        assert_eq!(e.field, "perils.tilt.remote_acess");
        let e = err_of(&V2.replace("USD = 7.2", "usd = 7.2"));
        assert_eq!(e.field, "money.per_unit.usd");
        let e = err_of(&V2.replace(
            "mfa = { funds_transfer_fraud = -0.25 }",
            "mfa = { funds_transfer_fraud = -1.0 }",
        ));
        assert_eq!(e.field, "perils.tilt.mfa");
    }

    #[test]
    fn ceiling_is_smooth_monotone_and_bounded() {
        let m = RatingModel::builtin();
        let eta_max = (-(-0.6f64).ln_1p()).ln();
        let mut last = f64::NEG_INFINITY;
        for i in 0..400 {
            let eta = -8.0 + i as f64 * 0.025;
            let capped = m.apply_ceiling(eta);
            assert!(capped > last && capped < eta_max && capped <= eta + 1e-12);
            last = capped;
        }
        // Far below the ceiling it changes nothing that matters.
        assert!((m.apply_ceiling(0.06f64.ln()) - 0.06f64.ln()).abs() < 1e-3);
        assert_eq!(RatingModel::builtin_v1().apply_ceiling(1.5), 1.5);
    }

    #[test]
    fn recalibration_scales_rates_and_round_trips_through_toml() {
        let m = RatingModel::builtin();
        let record = RecalibrationRecord {
            parent: m.version.clone(),
            level: 0.3,
            slope: 1.0,
            fitted_level: None,
            fitted_slope: None,
            organizations: 10,
            incidents: 3,
            exposure_years: 10.0,
            log_likelihood_before: -5.0,
            log_likelihood_after: -4.0,
            data: "x.csv".into(),
        };
        let r = m.recalibrated(0.3, 1.0, "2.0.1", record.clone()).unwrap();
        let k = 0.3f64.exp();
        assert!((r.base_rate.size_band.small - m.base_rate.size_band.small * k).abs() < 1e-12);
        assert_eq!(r.factors.mfa.beta, m.factors.mfa.beta);
        let back = RatingModel::from_toml(&r.to_toml()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.recalibration.as_ref().unwrap().level, 0.3);
        let s = m.recalibrated(0.0, 0.5, "2.0.2", record.clone()).unwrap();
        assert!((s.factors.mfa.beta - 0.5 * m.factors.mfa.beta).abs() < 1e-12);
        assert!(m.recalibrated(0.0, -1.0, "x", record).is_err());
    }

    #[test]
    fn revenue_converts_to_the_model_currency() {
        let m = RatingModel::builtin();
        assert_eq!(m.to_model_currency(100.0, "USD"), (720.0, None));
        assert_eq!(m.to_model_currency(100.0, "CNY"), (100.0, None));
        let (v, w) = m.to_model_currency(100.0, "XAU");
        assert_eq!(v, 100.0);
        assert!(w.unwrap().contains("XAU"));
        assert_eq!(
            RatingModel::builtin_v1().to_model_currency(5.0, "USD"),
            (5.0, None)
        );
    }

    #[test]
    fn scorecard_anchor_and_pdo() {
        let m = RatingModel::builtin_v1();
        assert!((m.raw_score(0.05) - 700.0).abs() < 1e-9);
        // The scorecard's anchor points: 1 % ≈ 819, 20 % ≈ 588.
        assert_eq!(m.raw_score(0.01).round(), 819.0);
        assert_eq!(m.raw_score(0.20).round(), 588.0);
        // Halving the odds adds PDO points.
        let odds = |p: f64| p / (1.0 - p);
        let p2 = {
            let o = odds(0.05) / 2.0;
            o / (1.0 + o)
        };
        assert!((m.raw_score(p2) - 750.0).abs() < 1e-9);
    }

    fn err_of(text: &str) -> ModelError {
        RatingModel::from_toml(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_field() {
        let e = err_of(&SHIPPED.replace("beta = -0.3365", "beta = 0.3365"));
        assert_eq!(e.field, "factors.mfa.beta");
        let e = err_of(&SHIPPED.replace("kev_floor = 0.9", "kev_floor = 1.9"));
        assert_eq!(e.field, "exploitation.kev_floor");
        assert!(e.message.contains("1.9"));
        let e = err_of(&SHIPPED.replace("pdo = 50.0", "pdo = \"fifty\""));
        assert_eq!(e.field, "score.pdo");
        let e = err_of(&SHIPPED.replace("[factors.mfa]", "[factors.mfaa]"));
        assert!(e.message.contains("mfaa"), "{e}");
        let e = err_of(&SHIPPED.replace(
            "fixed_pending_verification = 0.25",
            "fixed_pending_verification = 0.5\nbogus = 1",
        ));
        assert_eq!(e.field, "state_weight.bogus");
        let e = err_of(&SHIPPED.replace("min_score = 730.0", "min_score = 790.0"));
        assert_eq!(e.field, "grades[1].min_score");
        let e = err_of("id = ");
        assert!(e.field.is_empty() && e.message.contains("line 1"), "{e}");
    }

    #[test]
    fn fixing_weight_must_not_exceed_unresolved() {
        let e = err_of(&SHIPPED.replace("unfixed_mitigated = 0.3", "unfixed_mitigated = 0.1"));
        assert_eq!(e.field, "state_weight.fixed_pending_verification");
    }

    #[test]
    fn size_band_from_revenue_or_employees() {
        let m = RatingModel::builtin_v1();
        assert_eq!(m.size_band(5.0e6, 5000), SizeBand::Micro);
        assert_eq!(m.size_band(5.0e8, 10), SizeBand::Medium);
        assert_eq!(m.size_band(2.0e10, 10), SizeBand::Xlarge);
        assert_eq!(m.size_band(0.0, 500), SizeBand::Medium);
    }
}
