//! Portfolio accumulation: a book of insureds simulated together, attritional losses plus
//! catastrophe scenarios that hit many insureds in the same year (a KEV-listed product
//! exploited at scale, a cloud outage, a sector ransomware campaign), with a shared frailty
//! on all rates for correlation.
//!
//! Each simulated year has its own RNG stream (the seed, with the year as stream id), so any
//! year can be re-simulated exactly: the tail years are replayed with per-insured detail to
//! give each insured's co-TVaR, without keeping insured × year losses in memory.

use std::collections::{BTreeMap, HashMap};

use cyrisk_core::profile::Industry;
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Distribution, Gamma, Poisson, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, check_finite_positive, check_unit, from_toml, invalid};
use crate::frequency::MAX_RATE;
use crate::lognormal::LogNormal;
use crate::severity::{EventModel, EventType, OrgExposure, OrgScale, SeverityModel, uniform};
use crate::simulate::{SimRng, batch_rng};
use crate::stats::{EpPoint, tail_stats};
use crate::terms::Layer;

/// Years per parallel batch.
const BATCH_YEARS: u64 = 64;
/// Per-insured sums held at once while batches run (4 Mi × 8 bytes = 32 MiB): batches are
/// simulated a group at a time and their sums folded in, so memory does not grow with years.
const GROUP_SUMS: usize = 4 << 20;
/// Largest book accepted.
pub const MAX_INSUREDS: usize = 1_000_000;
pub const MAX_TRIALS: u64 = 10_000_000;

// ---------------------------------------------------------------------------------------
// The book.

fn cny() -> String {
    "CNY".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Book {
    #[serde(default = "cny")]
    pub currency: String,
    pub insureds: Vec<Insured>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Insured {
    pub id: String,
    pub name: String,
    pub industry: Industry,
    pub region: String,
    pub annual_revenue: f64,
    /// People whose personal information the insured holds.
    pub personal_records: u64,
    /// λ from the insured's rating.
    pub expected_incident_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// Technology inventory: products exposed to mass exploitation.
    #[serde(default)]
    pub products: Vec<ProductRef>,
    /// Cloud and service providers the insured depends on.
    #[serde(default)]
    pub providers: Vec<String>,
    pub policy: Policy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductRef {
    pub vendor: String,
    pub product: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub deductible: f64,
    pub limit: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_limit: Option<f64>,
}

impl Book {
    pub fn from_json(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let book: Book = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            invalid(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )
        })?;
        book.validate()?;
        Ok(book)
    }

    fn validate(&self) -> Result<()> {
        if self.insureds.is_empty() {
            return Err(invalid("insureds", "the book has no insureds"));
        }
        if self.insureds.len() > MAX_INSUREDS {
            return Err(invalid(
                "insureds",
                format!(
                    "at most {MAX_INSUREDS} insureds, got {}",
                    self.insureds.len()
                ),
            ));
        }
        let mut ids = HashMap::with_capacity(self.insureds.len());
        for (i, ins) in self.insureds.iter().enumerate() {
            let f = format!("insureds[{i}]");
            if ins.id.trim().is_empty() {
                return Err(invalid(format!("{f}.id"), "must not be empty"));
            }
            if ids.insert(ins.id.as_str(), i).is_some() {
                return Err(invalid(
                    format!("{f}.id"),
                    format!("duplicate insured id {:?}", ins.id),
                ));
            }
            if !(ins.annual_revenue.is_finite() && ins.annual_revenue >= 0.0) {
                return Err(invalid(
                    format!("{f}.annual_revenue"),
                    format!(
                        "must be a finite amount of at least 0, got {}",
                        ins.annual_revenue
                    ),
                ));
            }
            let r = ins.expected_incident_rate;
            if !(r.is_finite() && (0.0..=MAX_RATE).contains(&r)) {
                return Err(invalid(
                    format!("{f}.expected_incident_rate"),
                    format!("must be between 0 and {MAX_RATE}, got {r}"),
                ));
            }
            ins.layer()
                .map_err(|e| invalid(format!("{f}.policy.{}", e.field), e.message))?;
        }
        Ok(())
    }
}

impl Insured {
    pub fn layer(&self) -> Result<Layer> {
        Layer::new(
            self.policy.deductible,
            Some(self.policy.limit),
            self.policy.aggregate_limit,
            BTreeMap::new(),
        )
    }
}

// ---------------------------------------------------------------------------------------
// The scenario catalogue.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioCatalogue {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub notes: String,
    /// Gamma shape of the yearly frailty on all attritional rates; none for independence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frailty_shape: Option<f64>,
    pub rate_sensitivity: f64,
    #[serde(default)]
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    KevProduct,
    ProviderOutage,
    SectorCampaign,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub kind: ScenarioKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<Industry>,
    pub annual_frequency: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_probability: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_mix: BTreeMap<EventType, f64>,
    /// 90 % interval of the outage duration in hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_hours: Option<[f64; 2]>,
    /// Share of a dependent insured's revenue lost while the provider is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_at_risk: Option<f64>,
}

impl ScenarioCatalogue {
    /// The catalogue shipped with this build (`models/scenarios-v1.toml`).
    pub fn builtin() -> Self {
        Self::from_toml(include_str!("../../../models/scenarios-v1.toml"))
            .expect("the built-in scenario catalogue is validated by the test suite")
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        let c: ScenarioCatalogue = from_toml(text)?;
        if let Some(k) = c.frailty_shape {
            check_finite_positive("frailty_shape", k)?;
        }
        if !(c.rate_sensitivity.is_finite() && (0.0..=2.0).contains(&c.rate_sensitivity)) {
            return Err(invalid(
                "rate_sensitivity",
                format!("must be between 0 and 2, got {}", c.rate_sensitivity),
            ));
        }
        let mut ids = HashMap::new();
        for (i, s) in c.scenarios.iter().enumerate() {
            let f = format!("scenarios[{i}]");
            if ids.insert(s.id.as_str(), ()).is_some() {
                return Err(invalid(
                    format!("{f}.id"),
                    format!("duplicate scenario id {:?}", s.id),
                ));
            }
            if !(s.annual_frequency.is_finite() && (0.0..=10.0).contains(&s.annual_frequency)) {
                return Err(invalid(
                    format!("{f}.annual_frequency"),
                    format!("must be between 0 and 10, got {}", s.annual_frequency),
                ));
            }
            let need = |v: bool, field: &str| {
                if v {
                    Ok(())
                } else {
                    Err(invalid(
                        format!("{f}.{field}"),
                        format!("is required for a {:?} scenario", s.kind),
                    ))
                }
            };
            match s.kind {
                ScenarioKind::KevProduct | ScenarioKind::SectorCampaign => {
                    if s.kind == ScenarioKind::KevProduct {
                        need(s.vendor.is_some(), "vendor")?;
                        need(s.product.is_some(), "product")?;
                    } else {
                        need(s.industry.is_some(), "industry")?;
                    }
                    need(s.hit_probability.is_some(), "hit_probability")?;
                    check_unit(
                        &format!("{f}.hit_probability"),
                        s.hit_probability.unwrap_or(0.0),
                    )?;
                    need(!s.event_mix.is_empty(), "event_mix")?;
                    let total: f64 = s.event_mix.values().sum();
                    if (total - 1.0).abs() > 1e-6 || s.event_mix.values().any(|v| *v < 0.0) {
                        return Err(invalid(
                            format!("{f}.event_mix"),
                            format!("shares must be at least 0 and add up to 1, got {total}"),
                        ));
                    }
                }
                ScenarioKind::ProviderOutage => {
                    need(s.provider.is_some(), "provider")?;
                    let [lo, hi] = s.duration_hours.ok_or_else(|| {
                        invalid(format!("{f}.duration_hours"), "is required for an outage")
                    })?;
                    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
                        return Err(invalid(
                            format!("{f}.duration_hours"),
                            format!("needs 0 < low < high, got [{lo}, {hi}]"),
                        ));
                    }
                    check_unit(
                        &format!("{f}.revenue_at_risk"),
                        s.revenue_at_risk.unwrap_or(-1.0),
                    )?;
                }
            }
        }
        Ok(c)
    }
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Whether an insured's product is the scenario's (case-insensitive, vendors also without
/// spaces and punctuation; either product name may be the more specific, e.g. "NetScaler
/// ADC" and "NetScaler ADC and NetScaler Gateway").
fn product_matches(p: &ProductRef, vendor: &str, product: &str) -> bool {
    // Vendors compare without spaces and punctuation: a CPE's `paloaltonetworks` or
    // `palo_alto_networks` is the KEV catalogue's "Palo Alto Networks".
    let compact = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let (pp, q) = (norm(&p.product), norm(product));
    compact(&p.vendor) == compact(vendor) && (pp == q || pp.contains(&q) || q.contains(&pp))
}

// ---------------------------------------------------------------------------------------
// The compiled portfolio.

/// What the simulation needs per insured, kept small and contiguous (the severity model is
/// one shared template, scaled per insured).
#[derive(Debug)]
struct CompiledInsured {
    scale: OrgScale,
    layer: Layer,
    revenue: f64,
}

#[derive(Debug)]
enum Hit {
    Incident {
        mix: Vec<(f64, EventType)>,
    },
    Outage {
        hours: LogNormal,
        revenue_at_risk: f64,
    },
}

#[derive(Debug)]
struct CompiledScenario {
    frequency: f64,
    hit: Hit,
    /// (insured, probability it is hit when the scenario happens)
    exposed: Vec<(u32, f64)>,
}

/// A book ready to simulate.
#[derive(Debug)]
pub struct Portfolio {
    book: Book,
    template: EventModel,
    /// Index in `template.types()` of each event type.
    type_index: [Option<usize>; EventType::COUNT],
    insureds: Vec<CompiledInsured>,
    alias: Option<WeightedAliasIndex<f64>>,
    total_rate: f64,
    frailty: Option<Gamma<f64>>,
    scenarios: Vec<CompiledScenario>,
    catalogue: ScenarioCatalogue,
}

/// Per-thread working memory for simulating years.
#[derive(Debug)]
pub struct Scratch {
    /// Sum of the year's occurrence layer losses, before the aggregate limit.
    occ: Vec<f64>,
    /// The year's annual layer loss (after the aggregate limit), set at the end of the year.
    layer: Vec<f64>,
    gross: Vec<f64>,
    seen: Vec<bool>,
    touched: Vec<u32>,
    /// (scenario, insured, occurrence layer loss) of this year's catastrophe hits.
    cat_hits: Vec<(u32, u32, f64)>,
}

/// What one year cost the book.
#[derive(Debug, Clone, PartialEq)]
pub struct YearOutcome {
    pub layer: f64,
    pub gross: f64,
    /// The part of `layer` caused by catastrophe scenarios.
    pub catastrophe: f64,
}

/// One year with per-insured detail.
#[derive(Debug, Clone, PartialEq)]
pub struct YearDetail {
    pub outcome: YearOutcome,
    /// (insured index, layer loss, ground-up loss), for the insureds with any loss.
    pub losses: Vec<(usize, f64, f64)>,
}

impl Portfolio {
    pub fn new(
        book: Book,
        severity: &SeverityModel,
        catalogue: &ScenarioCatalogue,
    ) -> Result<Self> {
        book.validate()?;
        let template = severity.template();
        let type_index = EventType::ALL.map(|t| template.type_index(t));
        let insureds: Vec<CompiledInsured> = book
            .insureds
            .iter()
            .map(|ins| CompiledInsured {
                scale: severity.org_scale(&OrgExposure {
                    industry: ins.industry,
                    revenue: ins.annual_revenue,
                    records: ins.personal_records as f64,
                }),
                layer: ins.layer().expect("validated"),
                revenue: ins.annual_revenue,
            })
            .collect();
        let rates: Vec<f64> = book
            .insureds
            .iter()
            .map(|i| i.expected_incident_rate)
            .collect();
        let total_rate: f64 = rates.iter().sum();
        let mean_rate = total_rate / rates.len() as f64;
        let alias = if total_rate > 0.0 {
            WeightedAliasIndex::new(rates.clone()).ok()
        } else {
            None
        };
        let frailty = catalogue
            .frailty_shape
            .map(|k| Gamma::new(k, 1.0 / k).expect("validated shape"));
        let scenarios = catalogue
            .scenarios
            .iter()
            .map(|s| {
                let relative = |i: usize| {
                    if mean_rate > 0.0 {
                        (rates[i] / mean_rate).powf(catalogue.rate_sensitivity)
                    } else {
                        1.0
                    }
                };
                let exposed: Vec<(u32, f64)> = book
                    .insureds
                    .iter()
                    .enumerate()
                    .filter(|(_, ins)| match s.kind {
                        ScenarioKind::KevProduct => ins.products.iter().any(|p| {
                            product_matches(
                                p,
                                s.vendor.as_deref().unwrap_or(""),
                                s.product.as_deref().unwrap_or(""),
                            )
                        }),
                        ScenarioKind::ProviderOutage => {
                            let want = norm(s.provider.as_deref().unwrap_or(""));
                            ins.providers.iter().any(|p| norm(p) == want)
                        }
                        ScenarioKind::SectorCampaign => Some(ins.industry) == s.industry,
                    })
                    .map(|(i, _)| {
                        let p = match s.kind {
                            ScenarioKind::ProviderOutage => 1.0,
                            _ => (s.hit_probability.unwrap_or(0.0) * relative(i)).min(0.95),
                        };
                        (i as u32, p)
                    })
                    .collect();
                let hit = match s.kind {
                    ScenarioKind::ProviderOutage => {
                        let [lo, hi] = s.duration_hours.expect("validated");
                        Hit::Outage {
                            hours: LogNormal::from_interval(lo, hi),
                            revenue_at_risk: s.revenue_at_risk.unwrap_or(0.0),
                        }
                    }
                    _ => {
                        let mut acc = 0.0;
                        Hit::Incident {
                            mix: s
                                .event_mix
                                .iter()
                                .map(|(t, w)| {
                                    acc += w;
                                    (acc, *t)
                                })
                                .collect(),
                        }
                    }
                };
                CompiledScenario {
                    frequency: s.annual_frequency,
                    hit,
                    exposed,
                }
            })
            .collect();
        Ok(Self {
            book,
            template,
            type_index,
            insureds,
            alias,
            total_rate,
            frailty,
            scenarios,
            catalogue: catalogue.clone(),
        })
    }

    pub fn len(&self) -> usize {
        self.insureds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insureds.is_empty()
    }

    pub fn scratch(&self) -> Scratch {
        let n = self.insureds.len();
        Scratch {
            occ: vec![0.0; n],
            layer: vec![0.0; n],
            gross: vec![0.0; n],
            seen: vec![false; n],
            touched: Vec::new(),
            cat_hits: Vec::new(),
        }
    }

    #[inline]
    fn add(&self, s: &mut Scratch, i: usize, gross: f64, layer: f64) {
        if !s.seen[i] {
            s.seen[i] = true;
            s.touched.push(i as u32);
        }
        s.gross[i] += gross;
        s.occ[i] += layer;
    }

    /// Simulates year `year` of the run seeded `seed`. Afterwards `scratch` holds the year's
    /// per-insured annual layer losses for the insureds in `scratch.touched`; call
    /// [`Portfolio::clear`] before the next year.
    pub fn simulate_year(&self, seed: u64, year: u64, s: &mut Scratch) -> YearOutcome {
        let mut rng = batch_rng(seed, year);
        let g = self.frailty.as_ref().map_or(1.0, |f| f.sample(&mut rng));
        let n_events = if self.total_rate > 0.0 {
            Poisson::new(g * self.total_rate).map_or(0.0, |p| p.sample(&mut rng)) as u64
        } else {
            0
        };
        if let Some(alias) = &self.alias {
            for _ in 0..n_events {
                let i = alias.sample(&mut rng);
                let ins = &self.insureds[i];
                let e = self.template.sample_for(&ins.scale, &mut rng);
                let gross = e.total();
                self.add(s, i, gross, ins.layer.occurrence(gross));
            }
        }
        for (si, sc) in self.scenarios.iter().enumerate() {
            let occurrences = poisson_small(&mut rng, sc.frequency);
            for _ in 0..occurrences {
                match &sc.hit {
                    Hit::Incident { mix } => {
                        for &(i, p) in &sc.exposed {
                            if uniform(&mut rng) >= p {
                                continue;
                            }
                            let u = uniform(&mut rng);
                            let t = mix
                                .iter()
                                .find(|(c, _)| u < *c)
                                .map_or(mix[mix.len() - 1].1, |(_, t)| *t);
                            let ins = &self.insureds[i as usize];
                            let Some(ti) = self.type_index[t.index()] else {
                                continue;
                            };
                            let e = self.template.sample_type_for(ti, &ins.scale, &mut rng);
                            let gross = e.total();
                            let occ = ins.layer.occurrence(gross);
                            self.add(s, i as usize, gross, occ);
                            s.cat_hits.push((si as u32, i, occ));
                        }
                    }
                    Hit::Outage {
                        hours,
                        revenue_at_risk,
                    } => {
                        let h = hours.from_normal(StandardNormal.sample(&mut rng));
                        for &(i, _) in &sc.exposed {
                            let ins = &self.insureds[i as usize];
                            // Dependence varies by insured: lognormal with mean 1.
                            let z: f64 = StandardNormal.sample(&mut rng);
                            let gross = ins.revenue / 8760.0
                                * h
                                * revenue_at_risk
                                * (0.5 * z - 0.125).exp();
                            let occ = ins.layer.occurrence(gross);
                            self.add(s, i as usize, gross, occ);
                            s.cat_hits.push((si as u32, i, occ));
                        }
                    }
                }
            }
        }
        // Annual terms per insured, then the book's totals (summed in touched order).
        let mut out = YearOutcome {
            layer: 0.0,
            gross: 0.0,
            catastrophe: 0.0,
        };
        for &i in &s.touched {
            let i = i as usize;
            let annual = self.insureds[i].layer.annual(s.occ[i]);
            s.layer[i] = annual;
            out.layer += annual;
            out.gross += s.gross[i];
        }
        for &(_, i, occ) in &s.cat_hits {
            out.catastrophe += occ * Self::after_aggregate(s, i as usize);
        }
        out
    }

    /// The factor the aggregate limit applied to insured `i`'s occurrences this year.
    fn after_aggregate(s: &Scratch, i: usize) -> f64 {
        if s.occ[i] > 0.0 {
            s.layer[i] / s.occ[i]
        } else {
            0.0
        }
    }

    /// Resets the scratch after a year.
    pub fn clear(&self, s: &mut Scratch) {
        for &i in &s.touched {
            let i = i as usize;
            s.occ[i] = 0.0;
            s.layer[i] = 0.0;
            s.gross[i] = 0.0;
            s.seen[i] = false;
        }
        s.touched.clear();
        s.cat_hits.clear();
    }

    /// One year with every insured's loss, for the tail replay and for tests.
    pub fn year_detail(&self, seed: u64, year: u64) -> YearDetail {
        let mut s = self.scratch();
        let outcome = self.simulate_year(seed, year, &mut s);
        let losses = s
            .touched
            .iter()
            .map(|&i| (i as usize, s.layer[i as usize], s.gross[i as usize]))
            .collect();
        YearDetail { outcome, losses }
    }
}

/// A Poisson count for a small mean, by inversion.
fn poisson_small(rng: &mut SimRng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    let u = uniform(rng);
    let mut p = (-mean).exp();
    let mut cum = p;
    let mut k = 0u32;
    while u >= cum && k < 1000 {
        k += 1;
        p *= mean / f64::from(k);
        cum += p;
    }
    k
}

// ---------------------------------------------------------------------------------------
// Running a book.

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InsuredResult {
    pub id: String,
    pub expected_loss: f64,
    /// Mean loss in the years beyond the book's VaR 99.5 %.
    pub co_tvar: f64,
    /// co_tvar / TVaR 99.5 %: the insured's share of the tail capital (the shares add to 1).
    pub co_tvar_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Concentration {
    pub key: String,
    pub insureds: usize,
    pub total_limit: f64,
    pub expected_loss: f64,
    pub co_tvar_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub id: String,
    pub name: String,
    pub exposed_insureds: usize,
    /// Share of simulated years in which the scenario happened.
    pub annual_probability: f64,
    /// Expected annual layer loss it causes (after each insured's aggregate limit).
    pub expected_loss: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortfolioResult {
    pub trials: u64,
    pub seed: u64,
    pub currency: String,
    pub insureds: usize,
    pub scenario_catalogue: String,
    /// Expected annual loss to the book (in the layers).
    pub expected_loss: f64,
    pub gross_expected_loss: f64,
    pub std_dev: f64,
    pub attritional_expected_loss: f64,
    pub catastrophe_expected_loss: f64,
    /// Probable maximum loss at return periods 100 and 200 years (VaR 99 % and 99.5 %).
    pub pml: BTreeMap<&'static str, f64>,
    pub var: BTreeMap<&'static str, f64>,
    pub tvar: BTreeMap<&'static str, f64>,
    pub ep_curve: Vec<EpPoint>,
    pub scenarios: Vec<ScenarioResult>,
    /// Largest groups by share of tail capital, per dimension.
    pub concentrations: BTreeMap<&'static str, Vec<Concentration>>,
    /// Every insured, largest share of tail capital first.
    pub insured_results: Vec<InsuredResult>,
}

#[derive(Debug, Default)]
struct BatchOut {
    totals: Vec<f64>,
    gross: f64,
    catastrophe: f64,
    per_insured: Vec<f64>,
    per_scenario: Vec<f64>,
    scenario_years: Vec<u64>,
}

impl Portfolio {
    /// Simulates `trials` years; `progress` is called with the years each batch finished.
    pub fn run(
        &self,
        trials: u64,
        seed: u64,
        top: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<PortfolioResult> {
        if trials == 0 {
            return Err(invalid("trials", "must be at least 1"));
        }
        if trials > MAX_TRIALS {
            return Err(invalid(
                "trials",
                format!("at most {MAX_TRIALS}, got {trials}"),
            ));
        }
        let n = self.insureds.len();
        let batches = trials.div_ceil(BATCH_YEARS);
        let mut totals = Vec::with_capacity(trials as usize);
        let mut per_insured = vec![0.0; n];
        let mut per_scenario = vec![0.0; self.scenarios.len()];
        let mut scenario_years = vec![0u64; self.scenarios.len()];
        let (mut gross, mut cat) = (0.0, 0.0);
        // Batches run in parallel a group at a time and are reduced in batch order (the same
        // sums, bit for bit, however the threads interleave); a group bounds the memory of the
        // per-batch, per-insured sums to about GROUP_SUMS, whatever the years.
        let threads = rayon::current_num_threads() as u64;
        let group = ((GROUP_SUMS / n.max(1)) as u64).clamp(2 * threads, 256);
        let mut first_batch = 0;
        while first_batch < batches {
            let last_batch = (first_batch + group).min(batches);
            let outs: Vec<BatchOut> = (first_batch..last_batch)
                .into_par_iter()
                .map_init(
                    || self.scratch(),
                    |s, b| {
                        let first = b * BATCH_YEARS;
                        let last = (first + BATCH_YEARS).min(trials);
                        let mut out = BatchOut {
                            totals: Vec::with_capacity((last - first) as usize),
                            per_insured: vec![0.0; n],
                            per_scenario: vec![0.0; self.scenarios.len()],
                            scenario_years: vec![0; self.scenarios.len()],
                            ..Default::default()
                        };
                        for y in first..last {
                            let o = self.simulate_year(seed, y, s);
                            out.totals.push(o.layer);
                            out.gross += o.gross;
                            out.catastrophe += o.catastrophe;
                            for &i in &s.touched {
                                out.per_insured[i as usize] += s.layer[i as usize];
                            }
                            let mut happened = vec![false; self.scenarios.len()];
                            for &(si, i, occ) in &s.cat_hits {
                                out.per_scenario[si as usize] +=
                                    occ * Self::after_aggregate(s, i as usize);
                                happened[si as usize] = true;
                            }
                            for (k, h) in happened.iter().enumerate() {
                                out.scenario_years[k] += u64::from(*h);
                            }
                            self.clear(s);
                        }
                        progress(last - first);
                        out
                    },
                )
                .collect();
            for o in &outs {
                totals.extend_from_slice(&o.totals);
                gross += o.gross;
                cat += o.catastrophe;
                for (a, b) in per_insured.iter_mut().zip(&o.per_insured) {
                    *a += b;
                }
                for (a, b) in per_scenario.iter_mut().zip(&o.per_scenario) {
                    *a += b;
                }
                for (a, b) in scenario_years.iter_mut().zip(&o.scenario_years) {
                    *a += b;
                }
            }
            first_batch = last_batch;
        }
        let tf = trials as f64;
        let sum: f64 = totals.iter().sum();
        let mean = sum / tf;
        let sq: f64 = totals.iter().map(|v| v * v).sum();
        let std_dev = if trials > 1 {
            ((sq - tf * mean * mean) / (tf - 1.0)).max(0.0).sqrt()
        } else {
            0.0
        };
        let tail = tail_stats(&mut totals.clone(), trials);

        // Tail years: the k largest, ties broken by year so the set is deterministic.
        let k = ((0.005 * tf) - 1e-9).ceil().max(1.0) as usize;
        let mut order: Vec<u64> = (0..trials).collect();
        order.sort_unstable_by(|&a, &b| {
            totals[b as usize]
                .total_cmp(&totals[a as usize])
                .then(a.cmp(&b))
        });
        let mut tail_years: Vec<u64> = order[..k.min(order.len())].to_vec();
        tail_years.sort_unstable();
        let details: Vec<YearDetail> = tail_years
            .par_iter()
            .map(|&y| self.year_detail(seed, y))
            .collect();
        let mut co = vec![0.0; n];
        for d in &details {
            for &(i, l, _) in &d.losses {
                co[i] += l;
            }
        }
        let tail_total: f64 = details.iter().map(|d| d.outcome.layer).sum();
        let tvar_995 = tail_total / k as f64;
        for c in &mut co {
            *c /= k as f64;
        }
        let share = |c: f64| if tvar_995 > 0.0 { c / tvar_995 } else { 0.0 };

        let mut insured_results: Vec<InsuredResult> = self
            .book
            .insureds
            .iter()
            .enumerate()
            .map(|(i, ins)| InsuredResult {
                id: ins.id.clone(),
                expected_loss: per_insured[i] / tf,
                co_tvar: co[i],
                co_tvar_share: share(co[i]),
            })
            .collect();
        insured_results.sort_by(|a, b| {
            b.co_tvar_share
                .total_cmp(&a.co_tvar_share)
                .then_with(|| a.id.cmp(&b.id))
        });

        let concentrations = self.concentrations(&per_insured, &co, tf, tvar_995, top);
        let scenarios = self
            .catalogue
            .scenarios
            .iter()
            .zip(&self.scenarios)
            .enumerate()
            .map(|(si, (s, c))| ScenarioResult {
                id: s.id.clone(),
                name: s.name.clone(),
                exposed_insureds: c.exposed.len(),
                annual_probability: scenario_years[si] as f64 / tf,
                expected_loss: per_scenario[si] / tf,
            })
            .collect();
        let mut pml = BTreeMap::new();
        pml.insert("100", tail.var["99"]);
        pml.insert("200", tail.var["99.5"]);
        Ok(PortfolioResult {
            trials,
            seed,
            currency: self.book.currency.clone(),
            insureds: n,
            scenario_catalogue: format!("{} {}", self.catalogue.id, self.catalogue.version),
            expected_loss: mean,
            gross_expected_loss: gross / tf,
            std_dev,
            attritional_expected_loss: mean - cat / tf,
            catastrophe_expected_loss: cat / tf,
            pml,
            var: tail.var,
            tvar: tail.tvar,
            ep_curve: tail.ep_curve,
            scenarios,
            concentrations,
            insured_results,
        })
    }

    fn concentrations(
        &self,
        per_insured: &[f64],
        co: &[f64],
        trials: f64,
        tvar: f64,
        top: usize,
    ) -> BTreeMap<&'static str, Vec<Concentration>> {
        let mut dims: BTreeMap<&'static str, BTreeMap<String, Concentration>> = BTreeMap::new();
        for (i, ins) in self.book.insureds.iter().enumerate() {
            let mut keys: Vec<(&'static str, String)> = vec![
                ("industry", ins.industry.as_str().to_owned()),
                ("region", ins.region.clone()),
            ];
            // Each group counts an insured once, however many of its products it shares.
            let products: std::collections::BTreeSet<String> = ins
                .products
                .iter()
                .map(|p| format!("{} {}", p.vendor, p.product))
                .collect();
            let vendors: std::collections::BTreeSet<String> =
                ins.products.iter().map(|p| p.vendor.clone()).collect();
            let providers: std::collections::BTreeSet<&String> = ins.providers.iter().collect();
            keys.extend(products.into_iter().map(|p| ("product", p)));
            keys.extend(vendors.into_iter().map(|v| ("vendor", v)));
            keys.extend(providers.into_iter().map(|p| ("provider", p.clone())));
            for (dim, key) in keys {
                let e = dims
                    .entry(dim)
                    .or_default()
                    .entry(key.clone())
                    .or_insert(Concentration {
                        key,
                        insureds: 0,
                        total_limit: 0.0,
                        expected_loss: 0.0,
                        co_tvar_share: 0.0,
                    });
                e.insureds += 1;
                e.total_limit += ins.policy.limit;
                e.expected_loss += per_insured[i] / trials;
                e.co_tvar_share += if tvar > 0.0 { co[i] / tvar } else { 0.0 };
            }
        }
        dims.into_iter()
            .map(|(dim, groups)| {
                let mut v: Vec<Concentration> = groups.into_values().collect();
                v.sort_by(|a, b| {
                    b.co_tvar_share
                        .total_cmp(&a.co_tvar_share)
                        .then(b.expected_loss.total_cmp(&a.expected_loss))
                        .then_with(|| a.key.cmp(&b.key))
                });
                v.truncate(top);
                (dim, v)
            })
            .collect()
    }
}
