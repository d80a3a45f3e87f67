//! From a bundle to factor values: per-asset and per-finding terms that add up, the control
//! qualities, and the profile features. Both the rating and the what-if plan are built on
//! these, so a plan's predicted score is the score the fix would really get.

use chrono::NaiveDate;
use serde::{Serialize, Serializer};

use super::inputs::Obligation;
use crate::asset::Asset;
use crate::bundle::Bundle;
use crate::control::{ControlId, ControlResult, Outcome};
use crate::cvss::Severity;
use crate::factor::{FACTORS, FactorId};
use crate::finding::{Finding, FindingState};
use crate::model::RatingModel;

/// v2 exposure feature: `(1 − w) · presence + w · min(n / of, 1)`, presence `n` over the
/// number of third-party-seen assets that add to it (at least 1): their mean weight, 1 for
/// plain counts; with nothing to divide by, the share is the presence.
pub(crate) fn presence_share(n: f64, present: f64, of: f64, w: f64) -> f64 {
    // Divided by at least one: assets only the rated party declared add their weight
    // without diluting anyone else's.
    let presence = (n / present.max(1.0)).clamp(0.0, 1.0);
    let share = if of > 0.0 {
        (n / of).clamp(0.0, 1.0)
    } else {
        presence
    };
    (1.0 - w) * presence + w * share
}

/// Soft count: `n` below one, `1 + e · ln n` above, so the first instance carries the full
/// effect and further ones add less.
pub(crate) fn soft_count(n: f64, elasticity: f64) -> f64 {
    if n <= 0.0 {
        0.0
    } else if n < 1.0 {
        n
    } else {
        1.0 + elasticity * n.ln()
    }
}

pub(crate) fn days_between(from: NaiveDate, to: NaiveDate) -> f64 {
    (to - from).num_days() as f64
}

/// Severity of a finding: from its CVSS vector if any, else its CVSS score, else the
/// scanner's severity.
pub fn finding_severity(f: &Finding) -> Severity {
    if let Some(v) = &f.cvss_vector {
        Severity::from_score(v.base_score())
    } else if let Some(s) = f.cvss_score {
        Severity::from_score(s.get())
    } else {
        f.severity.unwrap_or(Severity::Info)
    }
}

/// What one asset adds to the exposure features (not counting its findings).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct AssetTerms {
    /// 1 per asset a third party has seen: the denominator of the estate-wide shares. The
    /// rated organisation's own declarations add risk but never dilute it, so its
    /// self-declared assets are not counted in any denominator.
    pub count: f64,
    /// 1 per internet-facing asset, `exploitation.internal_weight` per internal one (third
    /// party seen): the denominator of the per-asset vulnerability rates.
    pub weighted: f64,
    /// 1 per internet-facing asset a third party has seen: the denominator of the shares of
    /// the internet-facing estate.
    pub internet_seen: f64,
    /// 1 per perimeter appliance and per asset with end-of-life software a third party has
    /// seen, whatever its weight: presence is their mean weight (the same posture on a larger
    /// estate has the same presence); self-declared ones add weight, never count.
    pub perimeter_count: f64,
    pub end_of_life_count: f64,
    pub internet: f64,
    pub remote_access: f64,
    pub database: f64,
    pub perimeter: f64,
    pub end_of_life: f64,
    pub shadow: f64,
}

pub(crate) fn asset_terms(a: &Asset, model: &RatingModel, as_of: NaiveDate) -> AssetTerms {
    let svc = &model.services;
    let matches = |ports: &[u16], names: &[String]| {
        a.services.iter().any(|s| {
            ports.contains(&s.port)
                || s.name
                    .as_deref()
                    .is_some_and(|n| names.iter().any(|m| m.eq_ignore_ascii_case(n.trim())))
        })
    };
    let seen = if a.self_declared { 0.0 } else { 1.0 };
    let mut t = AssetTerms {
        count: seen,
        weighted: seen
            * if a.internet_facing {
                1.0
            } else {
                model.exploitation.internal_weight
            },
        internet_seen: if a.internet_facing { seen } else { 0.0 },
        ..AssetTerms::default()
    };
    if a.internet_facing {
        t.internet = 1.0;
        if matches(&svc.remote_access_ports, &svc.remote_access_names) {
            t.remote_access = 1.0;
        }
        if matches(&svc.database_ports, &svc.database_names) {
            t.database = 1.0;
        }
    }
    if a.is_perimeter_appliance() {
        t.perimeter_count = seen;
        t.perimeter = if a.kev_product {
            1.0
        } else {
            model.exposure.perimeter_without_kev_weight
        };
    }
    if a.end_of_life {
        t.end_of_life_count = seen;
        t.end_of_life = if a.internet_facing {
            1.0
        } else {
            model.exposure.end_of_life_internal_weight
        };
    }
    let zombie = a
        .last_seen
        .is_some_and(|seen| days_between(seen, as_of) > f64::from(model.zombie_after_days));
    if !a.declared || zombie {
        t.shadow = 1.0;
    }
    t
}

/// What one finding adds to the vulnerability features.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct FindingTerms {
    /// −ln(1 − w·P): the finding's share of the combined exploitation hazard.
    pub hazard: f64,
    /// ln(1 − state weight · P): the finding's part of its asset's chance of not being
    /// exploited (v2 aggregates exploitation per asset).
    pub log_survival: f64,
    /// Severity- and age-weighted overdue amount.
    pub overdue: f64,
    /// The finding is still unresolved as of the rating date.
    pub unresolved: bool,
    pub overdue_flag: bool,
}

/// The state a finding counts as on `as_of`: a fix dated later had not happened yet, and a
/// fix only the rated party declared counts as the state it left ([`Finding::counts_as`]).
pub(crate) fn state_as_of(f: &Finding, as_of: NaiveDate) -> FindingState {
    match f.fixed_at {
        Some(fixed) if fixed > as_of => FindingState::Open,
        _ => FindingState::counted(f),
    }
}

/// Largest hazard one finding can add (w·P = 1 would be infinite).
const MAX_HAZARD: f64 = 40.0;

pub(crate) fn finding_terms(
    f: &Finding,
    internet_facing: bool,
    asset: &Asset,
    model: &RatingModel,
    as_of: NaiveDate,
) -> FindingTerms {
    if f.first_seen > as_of {
        return FindingTerms::default();
    }
    let state = state_as_of(f, as_of);
    let state_w = model.state_weight(state);
    if state_w == 0.0 {
        return FindingTerms::default();
    }
    let severity = finding_severity(f);
    let ex = &model.exploitation;
    let mut p30 = f
        .epss
        .map_or_else(|| model.epss_prior(severity), |p| p.get());
    if f.kev {
        p30 = p30.max(ex.kev_floor);
    }
    let end = match (state.is_unresolved(), f.fixed_at) {
        (false, Some(fixed)) => fixed.min(as_of),
        _ => as_of,
    };
    let age = days_between(f.first_seen, end).max(0.0);
    let window = age + f64::from(ex.forward_window_days);
    // P = 1 − (1 − p30)^(d/30), computed stably for small p30.
    let p_exploit = if p30 >= 1.0 {
        1.0
    } else {
        -((window / 30.0) * (-p30).ln_1p()).exp_m1()
    };
    let exposure_w = if internet_facing {
        1.0
    } else {
        ex.internal_weight
    };
    let w = state_w * exposure_w * model.criticality_weight(asset.criticality);
    let wp = (w * p_exploit).clamp(0.0, 1.0);
    let hazard = if wp >= 1.0 {
        MAX_HAZARD
    } else {
        (-(-wp).ln_1p()).min(MAX_HAZARD)
    };

    let sla = f64::from(model.sla_days(severity, f.kev));
    let mut overdue = 0.0;
    let overdue_flag = age > sla && severity != Severity::Info;
    if overdue_flag {
        let age_factor = (1.0 + (age / sla).ln()).min(model.overdue.max_age_factor);
        overdue = model.overdue_weight(severity) * age_factor * state_w * exposure_w;
    }
    // A certain exploit counts as P = 0.99: −ln(1 − P) ≈ 4.6, so several exploitable flaws on
    // one asset still add up without one of them being infinite.
    let log_survival = (-(state_w * p_exploit).clamp(0.0, 0.99)).ln_1p();
    FindingTerms {
        hazard,
        log_survival,
        overdue,
        unresolved: state.is_unresolved(),
        overdue_flag,
    }
}

/// How much an asset's compromise counts towards exploitation pressure: 1 internet-facing,
/// `exploitation.internal_weight` internal, times its criticality weight.
pub(crate) fn exploit_weight(a: &Asset, internet_facing: bool, model: &RatingModel) -> f64 {
    let exposure = if internet_facing {
        1.0
    } else {
        model.exploitation.internal_weight
    };
    exposure * model.criticality_weight(a.criticality)
}

/// v2: an asset's term in the smooth maximum, h^power with h = w · (−L): L the sum of its
/// findings' `log_survival` (−L is the cumulative hazard of its flaws being exploited, each
/// P capped at 0.99) and w its [`exploit_weight`]; 0 under v1.
pub(crate) fn asset_hazard_pow(log_survival: f64, weight: f64, model: &RatingModel) -> f64 {
    let Some(t) = &model.transforms else {
        return 0.0;
    };
    let h = (weight * -log_survival).clamp(0.0, MAX_HAZARD);
    h.powf(t.exploitation.power)
}

/// Sums of the additive asset and finding terms over the whole bundle.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub assets: AssetTerms,
    pub hazard: f64,
    /// v2: Σ over assets of the asset's exploitation hazard to the power
    /// `transforms.exploitation.power` (see [`asset_hazard_pow`]); 0 under v1.
    pub hazard_pow: f64,
    pub overdue: f64,
}

impl Totals {
    pub fn add_asset(&mut self, t: &AssetTerms) {
        let a = &mut self.assets;
        a.count += t.count;
        a.weighted += t.weighted;
        a.internet_seen += t.internet_seen;
        a.perimeter_count += t.perimeter_count;
        a.end_of_life_count += t.end_of_life_count;
        a.internet += t.internet;
        a.remote_access += t.remote_access;
        a.database += t.database;
        a.perimeter += t.perimeter;
        a.end_of_life += t.end_of_life;
        a.shadow += t.shadow;
    }

    pub fn sub_asset(&mut self, t: &AssetTerms) {
        let a = &mut self.assets;
        a.count = (a.count - t.count).max(0.0);
        a.weighted = (a.weighted - t.weighted).max(0.0);
        a.internet_seen = (a.internet_seen - t.internet_seen).max(0.0);
        a.perimeter_count = (a.perimeter_count - t.perimeter_count).max(0.0);
        a.end_of_life_count = (a.end_of_life_count - t.end_of_life_count).max(0.0);
        a.internet = (a.internet - t.internet).max(0.0);
        a.remote_access = (a.remote_access - t.remote_access).max(0.0);
        a.database = (a.database - t.database).max(0.0);
        a.perimeter = (a.perimeter - t.perimeter).max(0.0);
        a.end_of_life = (a.end_of_life - t.end_of_life).max(0.0);
        a.shadow = (a.shadow - t.shadow).max(0.0);
    }

    pub fn add_finding(&mut self, t: &FindingTerms) {
        self.hazard += t.hazard;
        self.overdue += t.overdue;
    }

    pub fn sub_finding(&mut self, t: &FindingTerms) {
        self.hazard = (self.hazard - t.hazard).max(0.0);
        self.overdue = (self.overdue - t.overdue).max(0.0);
    }
}

/// The factors that are a control quality in [0, 1], with their controls ([`FACTORS`]), in
/// factor order.
pub(crate) fn control_factors() -> impl Iterator<Item = (FactorId, &'static [ControlId])> {
    FACTORS
        .iter()
        .filter_map(|s| s.source.controls().map(|ids| (s.id, ids)))
}

/// What the evidence says about one control factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ControlEvidence {
    /// Mean outcome of the applicable results: pass 1, partial 0.5, fail 0.
    pub quality: f64,
    /// Mean weight of the evidence by freshness, in [0, 1].
    pub weight: f64,
    /// Mean of weight × outcome over the applicable results: each result pulls the value
    /// away from the reference by its own weight, so fresher evidence of a pass never lowers
    /// the value.
    pub weighted_quality: f64,
    pub results: usize,
    /// Every result said not applicable.
    pub not_applicable: bool,
    /// Every counted result is the rated organisation's own statement.
    pub self_declared: bool,
}

pub(crate) fn outcome_value(o: Outcome) -> Option<f64> {
    match o {
        Outcome::Pass => Some(1.0),
        Outcome::Partial => Some(0.5),
        Outcome::Fail => Some(0.0),
        Outcome::NotApplicable => None,
    }
}

/// Weight of evidence of a given date: 1 while fresh, then halving every half-life.
pub(crate) fn evidence_weight(
    assessed_on: Option<NaiveDate>,
    model: &RatingModel,
    as_of: NaiveDate,
) -> f64 {
    let e = &model.evidence;
    match assessed_on {
        None => e.undated_weight,
        Some(d) => {
            let excess = (days_between(d, as_of) - f64::from(e.fresh_days)).max(0.0);
            0.5f64.powf(excess / f64::from(e.half_life_days))
        }
    }
}

/// The MLPS level an organisation's important systems need: 3 for CIIOs and key sectors,
/// 2 otherwise (GB/T 22239-2019, the MLPS 2.0 baseline).
pub fn required_mlps_level(bundle: &Bundle) -> u8 {
    let p = bundle.profile();
    if p.ciio || p.industry.expects_mlps_level_3() {
        3
    } else {
        2
    }
}

pub(crate) fn control_evidence(
    controls: &[ControlResult],
    ids: &[ControlId],
    required_mlps: u8,
    model: &RatingModel,
    as_of: NaiveDate,
) -> Option<ControlEvidence> {
    // A factor with several controls (hardening: OS and network) weighs each control alike:
    // a control's results are averaged first, then the controls. (Averaging results, as
    // before 2026-12, let two records of one control outvote another control, and replacing
    // them by a single fresh pass could lower the factor.)
    let counted =
        |c: &&ControlResult| ids.contains(&c.control) && c.assessed_on.is_none_or(|d| d <= as_of);
    // A factor a third party assessed is judged on that alone: the rated organisation's own
    // statements about it (any number of them, under any scope, on any of its controls) do
    // not dilute it.
    let verified = controls.iter().filter(counted).any(|c| !c.self_declared);
    let mut self_declared = true;
    let mut results = 0usize;
    // Per control, in `ids` order: (Σq, Σw, Σwq, applicable results).
    let mut per: Vec<(f64, f64, f64, usize)> = vec![(0.0, 0.0, 0.0, 0); ids.len()];
    for c in controls.iter().filter(counted) {
        if c.self_declared && verified {
            continue;
        }
        self_declared &= c.self_declared;
        results += 1;
        let Some(mut q) = outcome_value(c.outcome) else {
            continue;
        };
        if c.control == ControlId::Mlps && c.level.is_some_and(|l| l < required_mlps) {
            // Assessed, but below the level the organisation's systems need.
            q *= 0.5;
        }
        let declared = if c.self_declared {
            model.evidence.self_declared_weight
        } else {
            1.0
        };
        let w = evidence_weight(c.assessed_on, model, as_of) * declared;
        let Some(k) = ids.iter().position(|id| *id == c.control) else {
            continue;
        };
        let e = &mut per[k];
        e.0 += q;
        e.1 += w;
        e.2 += w * q;
        e.3 += 1;
    }
    if results == 0 {
        return None;
    }
    let assessed: Vec<(f64, f64, f64)> = per
        .iter()
        .filter(|e| e.3 > 0)
        .map(|e| {
            let n = e.3 as f64;
            (e.0 / n, e.1 / n, e.2 / n)
        })
        .collect();
    if assessed.is_empty() {
        return Some(ControlEvidence {
            quality: 0.0,
            weight: 0.0,
            weighted_quality: 0.0,
            results,
            not_applicable: true,
            self_declared,
        });
    }
    let n = assessed.len() as f64;
    Some(ControlEvidence {
        quality: assessed.iter().map(|e| e.0).sum::<f64>() / n,
        weight: assessed.iter().map(|e| e.1).sum::<f64>() / n,
        weighted_quality: assessed.iter().map(|e| e.2).sum::<f64>() / n,
        results,
        not_applicable: false,
        self_declared,
    })
}

/// A control factor's value: the reference when unknown, otherwise each result's outcome
/// pulled back towards the reference by its own evidence weight, averaged:
/// reference + mean(wᵢ · (qᵢ − reference)). (The mean weight times the mean gap, as before
/// 2026-11, let a fresher pass make older failures count more and lower the value.)
pub(crate) fn control_value(ev: Option<&ControlEvidence>, reference: f64) -> f64 {
    match ev {
        None => reference,
        Some(e) if e.not_applicable => reference,
        Some(e) => reference + e.weighted_quality - e.weight * reference,
    }
}

/// Cross-border transfer mechanism required for personal information (CAC Order No. 16, 2024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossBorderRequirement {
    None,
    Exempt,
    StandardContractOrCertification,
    SecurityAssessment,
}

impl CrossBorderRequirement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Exempt => "exempt",
            Self::StandardContractOrCertification => "standard_contract_or_certification",
            Self::SecurityAssessment => "cac_security_assessment",
        }
    }
}

/// As its [`as_str`](CrossBorderRequirement::as_str) name.
impl Serialize for CrossBorderRequirement {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

pub fn cross_border_requirement(bundle: &Bundle) -> CrossBorderRequirement {
    let p = bundle.profile();
    let Some(d) = &p.data else {
        return CrossBorderRequirement::None;
    };
    let people = d.cross_border_personal_records;
    let sensitive = d.cross_border_sensitive_records;
    if people == 0 && sensitive == 0 {
        CrossBorderRequirement::None
    } else if p.ciio || people >= 1_000_000 || sensitive >= 10_000 {
        CrossBorderRequirement::SecurityAssessment
    } else if people >= 100_000 || sensitive > 0 {
        CrossBorderRequirement::StandardContractOrCertification
    } else {
        CrossBorderRequirement::Exempt
    }
}

pub(crate) fn obligations(
    bundle: &Bundle,
    model: &RatingModel,
    as_of: NaiveDate,
    window_start: NaiveDate,
) -> Vec<Obligation> {
    let mut out = Vec::new();
    let by_control = |id: ControlId| {
        control_evidence(bundle.controls(), &[id], 0, model, as_of)
            .filter(|e| !e.not_applicable)
            .map(|e| {
                // The rated organisation's word alone is pulled towards "unknown" (0.5), as
                // its evidence is weighed everywhere else.
                let unmet = 1.0 - e.quality;
                if e.self_declared {
                    0.5 + model.evidence.self_declared_weight * (unmet - 0.5)
                } else {
                    unmet
                }
            })
    };
    let mut push = |name, unmet: Option<f64>| {
        out.push(Obligation {
            name,
            unmet: unmet.unwrap_or(0.5),
            known: unmet.is_some(),
        })
    };
    if matches!(
        cross_border_requirement(bundle),
        CrossBorderRequirement::StandardContractOrCertification
            | CrossBorderRequirement::SecurityAssessment
    ) {
        push(
            "cross_border_transfer",
            by_control(ControlId::CrossBorderTransfer),
        );
    }
    let d = bundle.profile().data.clone().unwrap_or_default();
    // Important-data processors file an annual risk assessment; processing the personal
    // information of 10 million+ people brings the same duty (NDSMR 2025).
    if d.important_data || d.personal_records >= 10_000_000 {
        push(
            "data_risk_assessment",
            by_control(ControlId::DataRiskAssessment),
        );
    }
    let late = bundle.incidents().iter().any(|i| {
        i.started >= window_start && i.started <= as_of && i.reported_in_time == Some(false)
    });
    if late {
        push("timely_incident_reporting", Some(1.0));
    }
    out
}
