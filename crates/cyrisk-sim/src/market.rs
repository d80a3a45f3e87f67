//! Market sanity: a book of synthetic organisations rated, costed and priced, summarised by
//! size band beside the bands public market figures give. The bench `market_sanity` prints
//! it; a test asserts the book's averages sit inside the bands.
//!
//! Bands (USD revenue; CNY at 7.2): annual incident probability, expected annual loss ÷
//! revenue and the rate on line of a primary layer, derived from Coalition's *Cyber Claims
//! Report* (2024–26), NetDiligence's *Cyber Claims Study* (2025), Cyentia's *IRIS 2025*,
//! Eurostat's ICT security survey (2024), GAO-21-477 (2021) and NAIC loss ratios (via Aon,
//! Fitch, AM Best). The micro and small rows are solid; large-firm rates on line are weak.

use cyrisk_core::RatingModel;
use cyrisk_core::profile::SizeBand;
use cyrisk_core::rating::Rating;
use rayon::prelude::*;
use serde::Serialize;

use crate::bridge::{RatedRisk, loss_model};
use crate::demo::DemoOrganization;
use crate::pricing::{PricingContext, PricingModel, premium_in};
use crate::severity::SeverityModel;
use crate::simulate::{SimSpec, batch_rng, simulate};
use crate::terms::Layer;

/// A published range and its central value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub low: f64,
    pub high: f64,
    pub central: Option<f64>,
}

const fn band(low: f64, high: f64, central: Option<f64>) -> Band {
    Band { low, high, central }
}

/// The market's bands for one size band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MarketBands {
    pub probability: Band,
    pub loss_to_revenue: Band,
    pub rate_on_line: Band,
}

/// The bands by size band: probability (Coalition 2025–26 claim frequencies, IRIS 2025 for
/// the largest), expected loss ÷ revenue (frequency × NetDiligence 2025 / Coalition 2024 mean
/// claim by revenue), rate on line of a primary layer (GAO-21-477 and AdvisorSmith 2021 for
/// small business, derived above USD 100M).
pub fn market_bands(b: SizeBand) -> MarketBands {
    match b {
        SizeBand::Micro => MarketBands {
            probability: band(0.005, 0.03, Some(0.012)),
            loss_to_revenue: band(0.0002, 0.003, None),
            rate_on_line: band(0.001, 0.0035, None),
        },
        SizeBand::Small => MarketBands {
            probability: band(0.015, 0.06, Some(0.035)),
            loss_to_revenue: band(0.0001, 0.0015, None),
            rate_on_line: band(0.003, 0.012, None),
        },
        SizeBand::Medium => MarketBands {
            probability: band(0.03, 0.10, Some(0.06)),
            loss_to_revenue: band(0.00005, 0.001, None),
            rate_on_line: band(0.005, 0.02, None),
        },
        SizeBand::Large => MarketBands {
            probability: band(0.06, 0.20, Some(0.11)),
            loss_to_revenue: band(0.0001, 0.001, None),
            rate_on_line: band(0.01, 0.04, None),
        },
        SizeBand::Xlarge => MarketBands {
            probability: band(0.15, 0.45, Some(0.25)),
            loss_to_revenue: band(0.0001, 0.002, None),
            rate_on_line: band(0.02, 0.08, None),
        },
    }
}

/// The standard primary layer priced for each band, in CNY: (deductible, limit) — USD 1M,
/// 2M, 5M, 10M and 20M limits (7.2 CNY per USD) with retentions rising with size (USD 7K,
/// 14K, 50K, 500K, 1M; judgement: large buyers retain more).
pub fn standard_layer(b: SizeBand) -> (f64, f64) {
    match b {
        SizeBand::Micro => (50_000.0, 7_200_000.0),
        SizeBand::Small => (100_000.0, 14_400_000.0),
        SizeBand::Medium => (360_000.0, 36_000_000.0),
        SizeBand::Large => (3_600_000.0, 72_000_000.0),
        SizeBand::Xlarge => (7_200_000.0, 144_000_000.0),
    }
}

/// One size band of the book.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandReport {
    pub size_band: SizeBand,
    pub organizations: usize,
    pub mean_probability: f64,
    pub median_probability: f64,
    /// Mean of each organisation's expected annual ground-up loss ÷ its revenue.
    pub mean_loss_to_revenue: f64,
    pub median_loss_to_revenue: f64,
    /// Mean over the band's organisations of their mean ground-up cost per incident (CNY).
    pub mean_severity: f64,
    pub median_severity: f64,
    /// Organisations whose standard layer was simulated and priced.
    pub priced: usize,
    pub deductible: f64,
    pub limit: f64,
    /// Median technical premium ÷ expected layer loss over the priced organisations, and
    /// its 10th and 90th percentiles.
    pub median_premium_to_loss: f64,
    pub p10_premium_to_loss: f64,
    pub p90_premium_to_loss: f64,
    pub median_rate_on_line: f64,
    pub market: MarketBands,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketReport {
    pub organizations: usize,
    pub bands: Vec<BandReport>,
    /// Share of organisations at the score's floor and ceiling.
    pub share_at_min_score: f64,
    pub share_at_max_score: f64,
    /// The book's mean peril shares, by peril name.
    pub mean_peril_shares: Vec<(String, f64)>,
    /// The book's mean of each factor's value, beside the model's reference (the reference
    /// organisation is meant to be the typical one): (factor, mean, reference).
    pub mean_factor_values: Vec<(String, f64, f64)>,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The `q` quantile of sorted values (nearest rank); NaN when empty.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Mean ground-up loss of one event, from `n` seeded draws.
fn mean_event_loss(events: &crate::severity::EventModel, n: u64, seed: u64) -> f64 {
    let mut rng = batch_rng(seed, 0);
    (0..n).map(|_| events.sample(&mut rng).total()).sum::<f64>() / n as f64
}

/// How a market check runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketRun {
    pub as_of: chrono::NaiveDate,
    /// The first this many organisations of each band get their standard layer priced.
    pub priced_per_band: usize,
    /// Years simulated per priced organisation.
    pub trials: u64,
    pub seed: u64,
}

/// Rates, costs and prices `orgs` and summarises them by size band. Deterministic for a
/// seed.
pub fn market_sanity(
    orgs: &[DemoOrganization],
    model: &RatingModel,
    severity: &SeverityModel,
    pricing: &PricingModel,
    run: MarketRun,
) -> MarketReport {
    let MarketRun {
        as_of,
        priced_per_band,
        trials,
        seed,
    } = run;
    let ratings: Vec<Rating> = orgs
        .par_iter()
        .map(|o| cyrisk_core::rate(&o.bundle, model, as_of))
        .collect();
    let severities: Vec<f64> = orgs
        .par_iter()
        .zip(&ratings)
        .map(|(o, r)| {
            let risk = RatedRisk::from_rating(r);
            match loss_model(&risk, o.bundle.profile(), severity, false) {
                Ok(lm) => mean_event_loss(&lm.events, 4000, seed),
                Err(_) => f64::NAN,
            }
        })
        .collect();
    let losses: Vec<f64> = ratings
        .iter()
        .zip(&severities)
        .map(|(r, s)| r.expected_incident_rate * s)
        .collect();
    let mut bands = Vec::new();
    for b in SizeBand::ALL {
        let idx: Vec<usize> = (0..orgs.len())
            .filter(|&i| ratings[i].baseline.size_band == b)
            .collect();
        if idx.is_empty() {
            continue;
        }
        let n = idx.len() as f64;
        let mut p: Vec<f64> = idx
            .iter()
            .map(|&i| ratings[i].annual_incident_probability.get())
            .collect();
        let mut l2r: Vec<f64> = idx
            .iter()
            .map(|&i| losses[i] / orgs[i].bundle.profile().annual_revenue.get())
            .collect();
        let mean_p = p.iter().sum::<f64>() / n;
        let mut sev: Vec<f64> = idx.iter().map(|&i| severities[i]).collect();
        let mean_severity = sev.iter().sum::<f64>() / n;
        let mean_l2r = l2r.iter().sum::<f64>() / n;
        let (deductible, limit) = standard_layer(b);
        let priced: Vec<(f64, f64)> = idx
            .iter()
            .take(priced_per_band)
            .collect::<Vec<_>>()
            .par_iter()
            .filter_map(|&&i| {
                let risk = RatedRisk::from_rating(&ratings[i]);
                let lm = loss_model(&risk, orgs[i].bundle.profile(), severity, false).ok()?;
                let layer =
                    Layer::new(deductible, Some(limit), Some(limit), Default::default()).ok()?;
                let r = simulate(
                    &SimSpec {
                        events: &lm.events,
                        frequency: lm.frequency,
                        layer: &layer,
                        trials,
                        seed,
                    },
                    &|_| {},
                )
                .ok()?;
                let prem = premium_in(
                    &r,
                    pricing,
                    &PricingContext {
                        log_rate_sigma: risk.log_rate_sigma,
                        currency: None,
                        to_model_currency: 1.0,
                        allocated_capital: None,
                    },
                );
                (r.layer.expected_loss > 0.0).then(|| {
                    (
                        prem.technical_premium / r.layer.expected_loss,
                        prem.premium / limit,
                    )
                })
            })
            .collect();
        let mut ratio: Vec<f64> = priced.iter().map(|x| x.0).collect();
        let mut rol: Vec<f64> = priced.iter().map(|x| x.1).collect();
        bands.push(BandReport {
            size_band: b,
            organizations: idx.len(),
            mean_probability: mean_p,
            median_probability: median(&mut p),
            mean_loss_to_revenue: mean_l2r,
            mean_severity,
            median_severity: median(&mut sev),
            median_loss_to_revenue: median(&mut l2r),
            priced: priced.len(),
            deductible,
            limit,
            median_premium_to_loss: median(&mut ratio),
            p10_premium_to_loss: percentile(&ratio, 0.10),
            p90_premium_to_loss: percentile(&ratio, 0.90),
            median_rate_on_line: median(&mut rol),
            market: market_bands(b),
        });
    }
    let total = ratings.len().max(1) as f64;
    let at = |v: f64| ratings.iter().filter(|r| f64::from(r.score) == v).count() as f64 / total;
    let mut peril_sum = std::collections::BTreeMap::<String, f64>::new();
    for r in &ratings {
        for p in &r.perils {
            *peril_sum.entry(p.peril.as_str().to_owned()).or_default() += p.share;
        }
    }
    let mean_factor_values = model
        .factors
        .iter()
        .enumerate()
        .map(|(k, (name, param))| {
            let mean = ratings.iter().map(|r| r.factors[k].value).sum::<f64>() / total;
            (name.to_owned(), mean, param.reference)
        })
        .collect();
    MarketReport {
        mean_factor_values,
        organizations: orgs.len(),
        bands,
        share_at_min_score: at(model.score.min),
        share_at_max_score: at(model.score.max),
        mean_peril_shares: peril_sum.into_iter().map(|(k, v)| (k, v / total)).collect(),
    }
}

impl MarketReport {
    /// The report as a plain-text table.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Market sanity: {} synthetic organisations (market band in brackets)",
            self.organizations
        );
        let _ = writeln!(
            s,
            "{:<7} {:>6}  {:>24}  {:>26}  {:>7} {:>12}  {:>24}",
            "band",
            "orgs",
            "mean p (market)",
            "mean EAL/revenue (market)",
            "priced",
            "prem/EL",
            "rate on line (market)"
        );
        for b in &self.bands {
            let m = &b.market;
            let _ = writeln!(
                s,
                "{:<7} {:>6}  {:>7.2} % [{:>4.1}–{:>4.1} %]  {:>8.3} % [{:.3}–{:.3} %]  {:>7} {:>6.2} [1.4–2.5]  {:>6.2} % [{:.2}–{:.2} %]",
                b.size_band.as_str(),
                b.organizations,
                b.mean_probability * 100.0,
                m.probability.low * 100.0,
                m.probability.high * 100.0,
                b.mean_loss_to_revenue * 100.0,
                m.loss_to_revenue.low * 100.0,
                m.loss_to_revenue.high * 100.0,
                b.priced,
                b.median_premium_to_loss,
                b.median_rate_on_line * 100.0,
                m.rate_on_line.low * 100.0,
                m.rate_on_line.high * 100.0,
            );
        }
        let _ = writeln!(
            s,
            "Cost per incident (CNY; mean of the organisations' means / median):"
        );
        for b in &self.bands {
            let _ = writeln!(
                s,
                "  {:<7} {:>14.0} / {:>14.0}",
                b.size_band.as_str(),
                b.mean_severity,
                b.median_severity
            );
        }
        let _ = writeln!(
            s,
            "At the score floor {:.2} %, at the ceiling {:.2} %",
            self.share_at_min_score * 100.0,
            self.share_at_max_score * 100.0
        );
        let shares: Vec<String> = self
            .mean_peril_shares
            .iter()
            .map(|(k, v)| format!("{k} {:.1} %", v * 100.0))
            .collect();
        let _ = writeln!(s, "Mean peril split: {}", shares.join(", "));
        let _ = writeln!(s, "Factor means in the book (reference):");
        for (name, mean, reference) in &self.mean_factor_values {
            let _ = writeln!(s, "  {name:<24} {mean:>8.3} ({reference})");
        }
        s
    }
}
