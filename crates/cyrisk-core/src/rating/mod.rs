//! The rating: four factor families → annual incident rate → probability →
//! score and grade, with exact per-factor points, reasons, a confidence band and warnings.
//!
//! `rate` is a pure function of (bundle, model, as-of date): it never reads the clock.

mod explain;
pub(crate) mod features;
pub mod inputs;

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;

use crate::bundle::Bundle;
use crate::factor::{FACTORS, FactorId, PerFactor, Source};
use crate::model::RatingModel;
use crate::peril::Peril;
use crate::profile::{Industry, SizeBand};
use crate::units::Probability;
use features::Totals;
use inputs::FactorInputs;

pub use features::{
    CrossBorderRequirement, cross_border_requirement, finding_severity, required_mlps_level,
};

/// A computed rating.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Rating {
    pub organization: String,
    pub as_of: NaiveDate,
    /// 250–900, higher is better.
    pub score: i32,
    pub grade: String,
    pub annual_incident_probability: Probability,
    /// Expected number of material incidents a year (λ).
    pub expected_incident_rate: f64,
    pub baseline: Baseline,
    /// Per-factor contributions; `points` add up to `score − baseline.score` within rounding.
    pub factors: Vec<FactorResult>,
    /// The largest contributions, in plain language, largest first.
    pub reasons: Vec<Reason>,
    pub confidence: Confidence,
    /// The expected rate split by peril (models with a peril split; empty otherwise). The
    /// rates add up to `expected_incident_rate`; the loss simulation draws each incident's
    /// peril from these shares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perils: Vec<PerilRate>,
    pub warnings: Vec<Warning>,
    pub inputs: InputSummary,
    pub model: ModelRef,
}

/// One peril's part of the rate.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PerilRate {
    pub peril: Peril,
    /// Share of the organisation's incidents, 0–1.
    pub share: f64,
    /// The reference organisation's share, for comparison.
    pub reference_share: f64,
    /// Expected incidents of this peril a year.
    pub expected_incident_rate: f64,
}

/// The reference organisation of the same industry and size the score is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Baseline {
    pub industry: Industry,
    pub size_band: SizeBand,
    pub expected_incident_rate: f64,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FactorResult {
    // The factor's name and family, from `crate::factor::FACTORS`. (Doc comments here would
    // enter the published JSON Schema and OpenAPI document.)
    pub name: &'static str,
    pub family: &'static str,
    /// The feature's value for this organisation.
    pub value: f64,
    /// The feature's value for the reference organisation.
    pub reference: f64,
    pub beta: f64,
    /// Rate multiplier exp(β · (value − reference)).
    pub multiplier: f64,
    /// Score points (positive raises the score).
    pub points: f64,
    /// What the value was computed from.
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub inputs: FactorInputs,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Reason {
    pub factor: &'static str,
    pub points: f64,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfidenceLevel {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Confidence {
    pub level: ConfidenceLevel,
    /// completeness × freshness, in [0, 1].
    pub value: f64,
    pub completeness: f64,
    pub freshness: f64,
    /// Standard deviation of ln λ given how much is known: the width of the band, and the
    /// parameter uncertainty a loss simulation can carry (negative binomial shape
    /// 1 / (e^σ² − 1)).
    pub log_rate_sigma: f64,
    /// A 90 % band around the score given how much is known.
    pub score_low: i32,
    pub score_high: i32,
    /// What is missing, for the user to supply.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct InputSummary {
    pub assets: usize,
    pub findings: usize,
    pub findings_unresolved: usize,
    pub controls: usize,
    pub incidents: usize,
    /// Newest scan evidence: the scan date, or the newest asset sighting or finding.
    pub latest_scan: Option<NaiveDate>,
    pub oldest_control_evidence: Option<NaiveDate>,
    pub newest_control_evidence: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ModelRef {
    pub id: String,
    pub version: String,
}

/// Everything the evaluation needs besides the additive asset/finding totals; computed once
/// per bundle, then varied by the what-if plan.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub ln_base_rate: f64,
    pub industry: Industry,
    pub size_band: SizeBand,
    /// Values of the factors that do not come from totals (controls, profile, obligations).
    pub fixed: PerFactor<f64>,
    /// Recency- and impact-weighted incident count in the window.
    pub weighted_incidents: f64,
    pub window_years: f64,
    pub window_start: NaiveDate,
    /// There is an inventory or a scan; without either, exposure and vulnerabilities are
    /// unknown and taken at the reference rather than rewarded as absent.
    pub exposure_known: bool,
    /// All that is known of the exposure is the rated organisation's own declaration.
    pub exposure_self_declared: bool,
    /// Revenue could not be converted to the model's currency.
    pub currency_warning: Option<String>,
    /// The peril split's parameters, when the model has one.
    pub tilts: Option<TiltTable>,
}

/// The numbers of one evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Evaluation {
    pub x: PerFactor<f64>,
    /// β · (x − reference), on ln λ.
    pub c: PerFactor<f64>,
    pub ln_base_rate: f64,
    pub lambda: f64,
    pub score_exact: f64,
    pub baseline_score: f64,
    /// The rate by peril (models with a peril split), adding up to `lambda`.
    pub peril_rates: Option<[f64; 5]>,
}

pub(crate) fn prepare(bundle: &Bundle, model: &RatingModel, as_of: NaiveDate) -> Prepared {
    let p = bundle.profile();
    let (revenue, currency_warning) =
        model.to_model_currency(p.annual_revenue.get(), p.currency.as_str());
    let size_band = model.size_band(revenue, p.employees);
    let base = model.base_rate_for_band(size_band) * model.industry_multiplier(p.industry);
    let params = &model.factors;
    let mut fixed = PerFactor::<f64>::default();

    fixed[FactorId::DataHoldings] = match &p.data {
        Some(d) => {
            (1.0 + d.personal_records as f64 + 9.0 * d.sensitive_personal_records as f64).log10()
        }
        None => params.get(FactorId::DataHoldings).reference,
    };
    fixed[FactorId::Ciio] = if p.ciio { 1.0 } else { 0.0 };

    let required = required_mlps_level(bundle);
    for (id, ids) in features::control_factors() {
        let ev = features::control_evidence(bundle.controls(), ids, required, model, as_of);
        fixed[id] = features::control_value(ev.as_ref(), params.get(id).reference);
    }

    let (window_start, window_years) = match p.incident_history_since {
        Some(since) if since < as_of => (since, features::days_between(since, as_of) / 365.25),
        Some(_) => (as_of, 0.0),
        None => {
            let years = model.history.default_window_years;
            (
                as_of - chrono::Duration::days((years * 365.25).round() as i64),
                years,
            )
        }
    };
    let obligations = features::obligations(bundle, model, as_of, window_start);
    fixed[FactorId::RegulatoryObligations] = features::soft_count(
        obligations.iter().map(|o| o.unmet).sum(),
        model.count_elasticity,
    );

    let h = &model.history;
    let weighted_incidents = bundle
        .incidents()
        .iter()
        .filter(|i| i.started >= window_start && i.started <= as_of)
        .map(|i| {
            let years_ago = features::days_between(i.started, as_of) / 365.25;
            let corrective = if i.corrective_actions_verified && !i.self_declared {
                h.verified_corrective_weight
            } else {
                1.0
            };
            model.impact_weight(i.impact) * 0.5f64.powf(years_ago / h.half_life_years) * corrective
        })
        .sum();

    Prepared {
        ln_base_rate: base.ln(),
        industry: p.industry,
        size_band,
        fixed,
        weighted_incidents,
        window_years,
        window_start,
        exposure_known: !bundle.assets().is_empty() || bundle.raw().scan_date.is_some(),
        exposure_self_declared: bundle.raw().scan_date.is_none()
            && bundle.assets().iter().all(|a| a.self_declared),
        currency_warning,
        tilts: tilt_table(model),
    }
}

pub(crate) fn evaluate(prep: &Prepared, tot: &Totals, model: &RatingModel) -> Evaluation {
    // No allocation here: the plan evaluates this once per candidate fix.
    let params = &model.factors;
    let e = model.count_elasticity;
    let mut x = prep.fixed;
    let a = &tot.assets;
    x[FactorId::AttackSurface] = a.internet.ln_1p();
    match &model.transforms {
        None => {
            x[FactorId::RemoteAccess] = features::soft_count(a.remote_access, e);
            x[FactorId::DatabaseExposed] = features::soft_count(a.database, e);
            x[FactorId::PerimeterAppliance] = features::soft_count(a.perimeter, e);
            x[FactorId::EndOfLife] = features::soft_count(a.end_of_life, e);
            x[FactorId::ShadowAssets] = features::soft_count(a.shadow, e);
            x[FactorId::ExploitationPressure] = -(-tot.hazard).exp_m1();
            x[FactorId::OverdueFindings] = features::soft_count(tot.overdue, e);
        }
        Some(t) => {
            let w = t.share_weight;
            let of = a.internet_seen;
            let ps = features::presence_share;
            x[FactorId::RemoteAccess] = ps(a.remote_access, a.remote_access, of, w);
            x[FactorId::DatabaseExposed] = ps(a.database, a.database, of, w);
            x[FactorId::PerimeterAppliance] = ps(a.perimeter, a.perimeter_count, of, w);
            x[FactorId::EndOfLife] = ps(a.end_of_life, a.end_of_life_count, a.count, w);
            x[FactorId::ShadowAssets] = ps(a.shadow, a.shadow, a.count, w);
            // A power mean over the weighted estate: the worst assets dominate, and the same
            // posture on a larger estate gives the same value.
            let smooth_max =
                (tot.hazard_pow / a.weighted.max(1.0)).powf(1.0 / t.exploitation.power);
            x[FactorId::ExploitationPressure] = -(-smooth_max / t.exploitation.scale).exp_m1();
            let per_asset = tot.overdue / a.weighted.max(1.0);
            x[FactorId::OverdueFindings] = -(-per_asset / t.overdue.scale).exp_m1();
        }
    }
    // The factors computed from the inventory and the scan.
    let estate = FACTORS
        .iter()
        .filter(|s| matches!(s.source, Source::Estate(_)))
        .map(|s| s.id);
    if !prep.exposure_known {
        for id in estate {
            x[id] = params.get(id).reference;
        }
    } else if prep.exposure_self_declared {
        // Only the rated organisation's own word: it may add risk (these factors' β ≥ 0),
        // never claim less than the reference organisation's.
        for id in estate {
            x[id] = x[id].max(params.get(id).reference);
        }
    }

    let mut c = PerFactor::<f64>::default();
    let mut eta_prior = prep.ln_base_rate;
    // Every factor but the history, which comes after the bounds.
    for id in FactorId::ALL
        .into_iter()
        .filter(|&id| id != FactorId::IncidentHistory)
    {
        let p = params.get(id);
        c[id] = p.beta * (x[id] - p.reference);
        eta_prior += c[id];
    }
    // The floor and ceiling act on each peril's rate, relative to the reference mix:
    // λ_p = mix_p · C(λ_unbounded · share_p / mix_p). Each peril's rate then moves with every
    // factor in the factor's direction (the tilts' spread is within |β|, checked on load) and
    // the bounds hold for the total; applied to the total instead, a flattened total with a
    // moving split would let a fix raise some peril's rate.
    let (eta_prior, peril_prior) = match &prep.tilts {
        Some(table) => {
            let shares = table.shares(&x);
            let mix = table.mix();
            let mut rates = [0.0; 5];
            for p in 0..5 {
                if mix[p] > 0.0 && shares[p] > 0.0 {
                    let eta_p = eta_prior + (shares[p] / mix[p]).ln();
                    rates[p] = mix[p] * model.apply_bounds(eta_p, prep.ln_base_rate).exp();
                }
            }
            let total: f64 = rates.iter().sum();
            if total > 0.0 && total.is_finite() {
                (total.ln(), Some(rates))
            } else {
                (model.apply_bounds(eta_prior, prep.ln_base_rate), None)
            }
        }
        None => (model.apply_bounds(eta_prior, prep.ln_base_rate), None),
    };

    // Experience modification: Gamma–Poisson credibility on the class rate λ0, so the
    // history says how this organisation's record compares with its peers'. (Applied to the
    // posture-adjusted rate instead, a poor posture would turn past incidents into a bonus.)
    // A clean record counts only as far as detection (EDR, logs) could have seen incidents.
    let h = &model.history;
    let detection = h.min_detection
        + (1.0 - h.min_detection)
            * 0.5
            * (x[FactorId::Edr] + x[FactorId::LogRetention]).clamp(0.0, 2.0);
    let observed_years = prep.window_years * detection;
    let lambda0 = prep.ln_base_rate.exp();
    let lambda0_post = (h.alpha + prep.weighted_incidents) / (h.alpha / lambda0 + observed_years);
    x[FactorId::IncidentHistory] = (lambda0_post / lambda0).ln();
    let hp = params.get(FactorId::IncidentHistory);
    c[FactorId::IncidentHistory] = hp.beta * (x[FactorId::IncidentHistory] - hp.reference);

    let eta = eta_prior + c[FactorId::IncidentHistory];
    let lambda = eta.exp();
    // The history scales every peril alike.
    let history = c[FactorId::IncidentHistory].exp();
    Evaluation {
        x,
        c,
        ln_base_rate: prep.ln_base_rate,
        lambda,
        peril_rates: peril_prior.map(|r| r.map(|v| v * history)),
        score_exact: model.score_of_rate(lambda),
        baseline_score: model.score_of_rate(
            model
                .apply_bounds(prep.ln_base_rate, prep.ln_base_rate)
                .exp(),
        ),
    }
}

/// The peril shares for factor values `x`: mix_p · exp(Σ_k tilt_{k,p} · (x_k − ref_k)),
/// normalised; `None` when the model has no peril split.
pub(crate) fn peril_shares(model: &RatingModel, x: &PerFactor<f64>) -> Option<[f64; 5]> {
    tilt_table(model).map(|t| t.shares(x))
}

/// The peril split's parameters by factor: the mix, and each factor's tilts and
/// reference. Built once per rating ([`Prepared`]), not per what-if evaluation.
#[derive(Debug, Clone)]
pub(crate) struct TiltTable {
    mix: [f64; 5],
    /// (factor, reference, tilt per peril)
    tilts: Vec<(FactorId, f64, [f64; 5])>,
}

impl TiltTable {
    /// mix_p · exp(Σ_k tilt_{k,p} · (x_k − ref_k)), normalised.
    pub(crate) fn shares(&self, x: &PerFactor<f64>) -> [f64; 5] {
        let mut log_tilt = [0.0f64; 5];
        for (id, reference, tilt) in &self.tilts {
            let d = x[*id] - reference;
            for p in 0..5 {
                log_tilt[p] += tilt[p] * d;
            }
        }
        let raw: [f64; 5] = std::array::from_fn(|p| self.mix[p] * log_tilt[p].exp());
        let total: f64 = raw.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return self.mix;
        }
        raw.map(|v| v / total)
    }

    pub(crate) fn mix(&self) -> [f64; 5] {
        self.mix
    }
}

pub(crate) fn tilt_table(model: &RatingModel) -> Option<TiltTable> {
    let perils = model.perils.as_ref()?;
    let tilts = perils
        .tilt
        .iter()
        .filter_map(|(name, tilt)| {
            let id = FactorId::from_name(name)?;
            Some((id, model.factors.get(id).reference, tilt.to_array()))
        })
        .collect();
    Some(TiltTable {
        mix: perils.mix.to_array(),
        tilts,
    })
}

impl Evaluation {
    /// Points per factor: each factor's share of ln λ − ln λ0, times the average slope of
    /// the score along that path, so that the points add up exactly to score − baseline.
    pub fn points(&self, model: &RatingModel) -> PerFactor<f64> {
        let delta: f64 = self.c.iter().sum();
        let slope = if delta.abs() > 1e-9 {
            (self.score_exact - self.baseline_score) / delta
        } else {
            let h = 1e-4;
            let s = |eta: f64| model.score_of_rate(eta.exp());
            (s(self.ln_base_rate + h) - s(self.ln_base_rate - h)) / (2.0 * h)
        };
        self.c.map(|c| c * slope)
    }
}

/// Rates one organisation as of a date.
pub fn rate(bundle: &Bundle, model: &RatingModel, as_of: NaiveDate) -> Rating {
    let prep = prepare(bundle, model, as_of);
    let (tot, stats) = explain::collect(bundle, model, as_of);
    let ev = evaluate(&prep, &tot, model);
    explain::build(bundle, model, as_of, &prep, &ev, &stats)
}

/// The unrounded score alone, without the explanation: for batch scoring and what-if checks.
pub fn score_of(bundle: &Bundle, model: &RatingModel, as_of: NaiveDate) -> f64 {
    let prep = prepare(bundle, model, as_of);
    let (tot, _) = explain::collect(bundle, model, as_of);
    evaluate(&prep, &tot, model).score_exact
}

/// Rates many organisations in parallel (rayon); results keep the input order.
pub fn rate_many(bundles: &[Bundle], model: &RatingModel, as_of: NaiveDate) -> Vec<Rating> {
    bundles.par_iter().map(|b| rate(b, model, as_of)).collect()
}
