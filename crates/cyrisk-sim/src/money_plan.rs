//! The plan in money: each candidate fix with its score gain, the expected annual loss it
//! removes and the premium it saves for a layer, ranked by score or by loss.
//!
//! Every candidate is carried out on the bundle ([`cyrisk_core::apply`]) and re-rated, so its
//! peril split moves too (fixing exposed RDP lowers the ransomware share). Severity does not
//! depend on posture, so each peril's event moments are drawn once and every candidate is
//! costed on the same draws, weighted by its own split (differences between candidates are
//! exact, not sampling noise): gross EAL = λ · Σ s_p E[X_p]; for the layer, the
//! compound-Poisson moments EL = λ · Σ s_p E[Y_p], Var = λ · Σ s_p E[Y_p²] with Y the
//! occurrence layer loss (the aggregate limit is not applied here). The premium is the pricing model's
//! book method ([`crate::pricing::technical_from_moments`]).

use chrono::NaiveDate;
use cyrisk_core::profile::SizeBand;
use cyrisk_core::{Bundle, ItemMoney, Plan, PlanMoney, RatingModel, apply, plan, rate};
use rayon::prelude::*;

use crate::bridge::{RatedRisk, loss_model};
use crate::error::Result;
use crate::pricing::{PricingContext, PricingModel, technical_from_moments};
use crate::severity::SeverityModel;
use crate::simulate::batch_rng;
use crate::terms::Layer;

/// Most candidates priced: the best by score gain when a bundle has more.
pub const MAX_PRICED_CANDIDATES: usize = 200;
/// Events sampled per event type, once per plan.
pub const EVENTS_PER_TYPE: u64 = 50_000;

/// What the plan is ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankBy {
    Score,
    Loss,
}

impl RankBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Score => "score",
            Self::Loss => "loss",
        }
    }
}

/// The layer to price the plan for and where it came from.
#[derive(Debug, Clone)]
pub struct PlanLayer {
    pub layer: Layer,
    /// `requested` or `standard_for_size_band`.
    pub source: String,
}

/// Money figures of one state of the organisation.
struct Money {
    eal: f64,
    premium: Option<f64>,
}

/// Per event type, the moments of one event's loss for this organisation: E[X] ground-up,
/// E[Y] and E[Y²] in the layer. Severity does not depend on posture, only the peril split
/// and the rate do, so these are drawn once per plan and every candidate is costed on the
/// same draws.
struct TypeMoments {
    gross: Vec<f64>,
    layer: Vec<f64>,
    layer_sq: Vec<f64>,
}

fn type_moments(events: &crate::severity::EventModel, layer: &Layer, seed: u64) -> TypeMoments {
    let n_types = events.types().len();
    let mut m = TypeMoments {
        gross: vec![0.0; n_types],
        layer: vec![0.0; n_types],
        layer_sq: vec![0.0; n_types],
    };
    for t in 0..n_types {
        let mut rng = batch_rng(seed, t as u64);
        for _ in 0..EVENTS_PER_TYPE {
            let g = events.sample_type(t, &mut rng).total();
            let y = layer.occurrence(g);
            m.gross[t] += g;
            m.layer[t] += y;
            m.layer_sq[t] += y * y;
        }
        let n = EVENTS_PER_TYPE as f64;
        m.gross[t] /= n;
        m.layer[t] /= n;
        m.layer_sq[t] /= n;
    }
    m
}

/// A rated state of the organisation costed on `moments`: gross EAL = λ · Σ s_t E[X_t]; layer
/// EL = λ · Σ s_t E[Y_t], Var = λ · Σ s_t E[Y_t²] (compound Poisson, no aggregate limit).
fn costed(
    risk: &RatedRisk,
    lm: &crate::bridge::LossModel,
    severity: &SeverityModel,
    pricing: &PricingModel,
    moments: &TypeMoments,
) -> Money {
    let shares = lm.events.shares_for(&lm.events.org());
    let lambda = risk.expected_incident_rate;
    let (mut gross, mut occ, mut occ2) = (0.0, 0.0, 0.0);
    for (t, (_, s)) in shares.iter().enumerate() {
        gross += s * moments.gross[t];
        occ += s * moments.layer[t];
        occ2 += s * moments.layer_sq[t];
    }
    let el = lambda * occ;
    let sd = (lambda * occ2).sqrt();
    let to_model = severity.rate_to_model(&lm.currency).unwrap_or(1.0);
    let ctx = PricingContext {
        log_rate_sigma: risk.log_rate_sigma,
        currency: Some(lm.currency.clone()),
        to_model_currency: to_model,
        allocated_capital: None,
    };
    Money {
        eal: lambda * gross,
        premium: technical_from_moments(el, sd, pricing, &ctx)
            .map(|t| t.max(pricing.minimum_premium / to_model)),
    }
}

impl Money {
    fn is_finite(&self) -> bool {
        self.eal.is_finite() && self.premium.is_none_or(f64::is_finite)
    }
}

fn round_to(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// The plan with every item priced for `layer` (the standard primary layer of the
/// organisation's size band when `None`, see [`crate::market::standard_layer`]), ranked
/// `by`, the best `top`.
///
/// # Errors
/// The severity model cannot convert the organisation's currency.
#[allow(clippy::too_many_arguments)]
pub fn money_plan(
    bundle: &Bundle,
    model: &RatingModel,
    as_of: NaiveDate,
    severity: &SeverityModel,
    pricing: &PricingModel,
    layer: Option<PlanLayer>,
    by: RankBy,
    top: usize,
    seed: u64,
) -> Result<Plan> {
    let mut p = plan(bundle, model, as_of, MAX_PRICED_CANDIDATES);
    let current = RatedRisk::from_rating(&rate(bundle, model, as_of));
    let layer = match layer {
        Some(l) => l,
        None => standard_layer(current.size_band, bundle, severity)?,
    };
    let lm = loss_model(&current, bundle.profile(), severity, false)?;
    let moments = type_moments(&lm.events, &layer.layer, seed);
    let now = costed(&current, &lm, severity, pricing, &moments);
    // An organisation whose size puts its losses beyond floating point (a revenue no company
    // has) would come out as infinite or NaN money: refuse it, naming the field, rather than
    // publish a plan with holes in it.
    let beyond = || {
        crate::error::invalid(
            "profile.annual_revenue",
            "the organisation's size is beyond the range the severity model represents: its expected loss does not come out finite",
        )
    };
    if !now.is_finite() {
        return Err(beyond());
    }
    let priced: Vec<Result<Money>> = p
        .items
        .par_iter()
        .map(|item| {
            let fixed = apply(bundle, &item.action, as_of);
            let risk = RatedRisk::from_rating(&rate(&fixed, model, as_of));
            let lm = loss_model(&risk, fixed.profile(), severity, false)?;
            Ok(costed(&risk, &lm, severity, pricing, &moments))
        })
        .collect();
    for (item, m) in p.items.iter_mut().zip(priced) {
        let m = m?;
        if !m.is_finite() {
            return Err(beyond());
        }
        item.money = Some(ItemMoney {
            expected_annual_loss: round_to(m.eal, 2),
            loss_reduction: round_to(now.eal - m.eal, 2),
            premium: m.premium.map(|v| round_to(v, 2)),
            premium_reduction: match (now.premium, m.premium) {
                (Some(a), Some(b)) => Some(round_to(a - b, 2)),
                _ => None,
            },
        });
    }
    if by == RankBy::Loss {
        let gain = |i: &cyrisk_core::PlanItem| i.money.as_ref().map_or(0.0, |m| m.loss_reduction);
        p.items.sort_by(|a, b| {
            gain(b)
                .total_cmp(&gain(a))
                .then_with(|| b.score_gain.total_cmp(&a.score_gain))
                .then_with(|| a.description.cmp(&b.description))
        });
    }
    p.items.truncate(top);
    for (r, item) in p.items.iter_mut().enumerate() {
        item.rank = r + 1;
    }
    p.money = Some(PlanMoney {
        currency: bundle.profile().currency.as_str().to_owned(),
        deductible: layer.layer.deductible,
        limit: layer.layer.limit.unwrap_or(f64::INFINITY),
        aggregate_limit: layer.layer.aggregate_limit,
        layer_source: layer.source.clone(),
        expected_annual_loss: round_to(now.eal, 2),
        premium: now.premium.map(|v| round_to(v, 2)),
        ranked_by: by.as_str().to_owned(),
        method: format!(
            "each fix applied and re-rated; {EVENTS_PER_TYPE} events per peril drawn once (seed {seed}) and weighted by each state's peril split; layer moments without the aggregate limit; premium by the book method of {} {}",
            pricing.id, pricing.version
        ),
    });
    Ok(p)
}

/// The standard primary layer for a size band, in the organisation's currency.
fn standard_layer(band: SizeBand, bundle: &Bundle, severity: &SeverityModel) -> Result<PlanLayer> {
    let (d, l) = crate::market::standard_layer(band);
    let currency = bundle.profile().currency.as_str();
    let rate_to_cny = severity.rate_to_model(currency).ok_or_else(|| {
        crate::error::invalid(
            "currency",
            format!("the severity model has no exchange rate for {currency}"),
        )
    })?;
    Ok(PlanLayer {
        layer: Layer::new(
            d / rate_to_cny,
            Some(l / rate_to_cny),
            None,
            Default::default(),
        )?,
        source: "standard_for_size_band".to_owned(),
    })
}
