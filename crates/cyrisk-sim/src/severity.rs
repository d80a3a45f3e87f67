//! Severity as data (`models/severity-v1.toml`): by event type and coverage, scaled to one
//! organisation, and sampled one event at a time.

use std::collections::BTreeMap;

use cyrisk_core::profile::{Industry, SizeBand};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Result, check_finite_positive, check_unit, from_toml, invalid};
use crate::lognormal::{LogNormal, SeveritySpec, TailSpec};

/// What a policy pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    BusinessInterruption,
    Extortion,
    DataBreach,
    Liability,
    RegulatoryFines,
    IncidentResponse,
    FundsTransferFraud,
}

impl Coverage {
    pub const ALL: [Coverage; 7] = [
        Self::BusinessInterruption,
        Self::Extortion,
        Self::DataBreach,
        Self::Liability,
        Self::RegulatoryFines,
        Self::IncidentResponse,
        Self::FundsTransferFraud,
    ];
    pub const COUNT: usize = 7;

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BusinessInterruption => "business_interruption",
            Self::Extortion => "extortion",
            Self::DataBreach => "data_breach",
            Self::Liability => "liability",
            Self::RegulatoryFines => "regulatory_fines",
            Self::IncidentResponse => "incident_response",
            Self::FundsTransferFraud => "funds_transfer_fraud",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Ransomware,
    DataBreach,
    /// Business email compromise / funds-transfer fraud.
    FundsTransferFraud,
    Outage,
    Other,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        Self::Ransomware,
        Self::DataBreach,
        Self::FundsTransferFraud,
        Self::Outage,
        Self::Other,
    ];
    pub const COUNT: usize = 5;

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ransomware => "ransomware",
            Self::DataBreach => "data_breach",
            Self::FundsTransferFraud => "funds_transfer_fraud",
            Self::Outage => "outage",
            Self::Other => "other",
        }
    }
}

// ---------------------------------------------------------------------------------------
// The model file.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityModel {
    pub id: String,
    pub version: String,
    pub currency: String,
    #[serde(default)]
    pub notes: String,
    pub reference_revenue: f64,
    pub revenue_elasticity: f64,
    /// Widening of the lognormal spread per decade of revenue above `reference_revenue`
    /// (σ ↦ σ · (1 + g · decades)); 0 when a model file predates it.
    #[serde(default)]
    pub sigma_growth_per_decade: f64,
    /// Units of `currency` per unit of each other currency (ISO 4217 code → rate): the
    /// conversion for organisations that report in another currency.
    #[serde(default)]
    pub exchange_rates: BTreeMap<String, f64>,
    pub within_event_correlation: f64,
    pub industry_scale: BTreeMap<Industry, f64>,
    pub records: RecordsSpec,
    pub fines: Vec<FineBand>,
    pub event_types: BTreeMap<EventType, EventTypeSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsSpec {
    pub default_by_size: BTreeMap<SizeBand, f64>,
    pub fraction: SeveritySpec,
    pub cost_per_record: SeveritySpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FineBand {
    pub name: String,
    pub probability: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<f64>,
    /// 90 % interval of the fine as a share of annual revenue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_share: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_revenue_share: Option<f64>,
    /// The cap is at least this amount (PIPL: "up to ¥50M or 5 % of revenue").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_at_least: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypeSpec {
    pub share: f64,
    pub coverages: BTreeMap<Coverage, ComponentSpec>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentModel {
    #[default]
    Lognormal,
    Records,
    Fines,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// Chance the coverage is hit when an event of this type happens.
    pub probability: f64,
    #[serde(default)]
    pub model: ComponentModel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<TailSpec>,
}

impl ComponentSpec {
    fn lognormal(&self, field: &str) -> Result<LogNormal> {
        let spec = SeveritySpec {
            interval: self.interval,
            mu: self.mu,
            sigma: self.sigma,
            tail: self.tail,
        };
        LogNormal::from_spec(&spec, field)
    }
}

/// The largest annual revenue, in the model currency (CNY), the severity model scales to:
/// about twenty times the largest company's (Walmart, fiscal 2025: USD 681 bn ≈ CNY 4.9e12;
/// Fortune Global 500, 2025). Beyond it the size scaling extrapolates into amounts that mean
/// nothing (and, far enough, overflow), so such a profile is refused rather than priced.
pub const MAX_REVENUE: f64 = 1e14;

impl SeverityModel {
    /// The default model shipped with this build (`models/severity-v2.toml`).
    pub fn builtin() -> Self {
        Self::from_toml(include_str!("../../../models/severity-v2.toml"))
            .expect("the built-in severity model is validated by the test suite")
    }

    /// The first severity model (`models/severity-v1.toml`).
    pub fn builtin_v1() -> Self {
        Self::from_toml(include_str!("../../../models/severity-v1.toml"))
            .expect("the built-in severity model is validated by the test suite")
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        let m: SeverityModel = from_toml(text)?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<()> {
        if self.id.trim().is_empty() {
            return Err(invalid("id", "must not be empty"));
        }
        check_finite_positive("reference_revenue", self.reference_revenue)?;
        check_unit("revenue_elasticity", self.revenue_elasticity)?;
        check_unit("within_event_correlation", self.within_event_correlation)?;
        if !(self.sigma_growth_per_decade.is_finite() && self.sigma_growth_per_decade >= 0.0) {
            return Err(invalid(
                "sigma_growth_per_decade",
                format!("must be at least 0, got {}", self.sigma_growth_per_decade),
            ));
        }
        for (code, rate) in &self.exchange_rates {
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    format!("exchange_rates.{code}"),
                    "keys must be ISO 4217 codes",
                ));
            }
            check_finite_positive(&format!("exchange_rates.{code}"), *rate)?;
        }
        for ind in Industry::ALL {
            let v =
                self.industry_scale.get(&ind).copied().ok_or_else(|| {
                    invalid(format!("industry_scale.{}", ind.as_str()), "is missing")
                })?;
            check_finite_positive(&format!("industry_scale.{}", ind.as_str()), v)?;
        }
        for band in SizeBand::ALL {
            let v = self
                .records
                .default_by_size
                .get(&band)
                .copied()
                .ok_or_else(|| {
                    invalid(
                        format!("records.default_by_size.{}", band.as_str()),
                        "is missing",
                    )
                })?;
            check_finite_positive(&format!("records.default_by_size.{}", band.as_str()), v)?;
        }
        LogNormal::from_spec(&self.records.fraction, "records.fraction")?;
        LogNormal::from_spec(&self.records.cost_per_record, "records.cost_per_record")?;

        if self.fines.is_empty() {
            return Err(invalid("fines", "needs at least one band"));
        }
        let mut total = 0.0;
        for (i, b) in self.fines.iter().enumerate() {
            let f = format!("fines[{i}]");
            check_unit(&format!("{f}.probability"), b.probability)?;
            total += b.probability;
            match (b.interval, b.revenue_share) {
                (Some([lo, hi]), None) => {
                    LogNormal::from_spec(
                        &SeveritySpec {
                            interval: Some([lo, hi]),
                            mu: None,
                            sigma: None,
                            tail: None,
                        },
                        &f,
                    )?;
                    let cap = b
                        .cap
                        .ok_or_else(|| invalid(format!("{f}.cap"), "is required with interval"))?;
                    check_finite_positive(&format!("{f}.cap"), cap)?;
                }
                (None, Some([lo, hi])) => {
                    if !(lo > 0.0 && hi > lo && hi <= 1.0) {
                        return Err(invalid(
                            format!("{f}.revenue_share"),
                            format!("needs 0 < low < high ≤ 1, got [{lo}, {hi}]"),
                        ));
                    }
                    let cap = b.cap_revenue_share.ok_or_else(|| {
                        invalid(
                            format!("{f}.cap_revenue_share"),
                            "is required with revenue_share",
                        )
                    })?;
                    check_unit(&format!("{f}.cap_revenue_share"), cap)?;
                }
                _ => {
                    return Err(invalid(
                        &f,
                        "give either interval and cap, or revenue_share and cap_revenue_share",
                    ));
                }
            }
        }
        if (total - 1.0).abs() > 1e-6 {
            return Err(invalid(
                "fines",
                format!("band probabilities must add up to 1, got {total}"),
            ));
        }

        let mut share = 0.0;
        if self.event_types.is_empty() {
            return Err(invalid("event_types", "needs at least one event type"));
        }
        for (t, spec) in &self.event_types {
            let f = format!("event_types.{}", t.as_str());
            check_unit(&format!("{f}.share"), spec.share)?;
            share += spec.share;
            if spec.coverages.is_empty() {
                return Err(invalid(
                    format!("{f}.coverages"),
                    "needs at least one coverage",
                ));
            }
            for (c, comp) in &spec.coverages {
                let cf = format!("{f}.coverages.{}", c.as_str());
                check_unit(&format!("{cf}.probability"), comp.probability)?;
                match comp.model {
                    ComponentModel::Lognormal => {
                        comp.lognormal(&cf)?;
                    }
                    ComponentModel::Records | ComponentModel::Fines => {
                        if comp.interval.is_some() || comp.mu.is_some() || comp.sigma.is_some() {
                            return Err(invalid(
                                &cf,
                                "a records or fines component takes no interval, mu or sigma",
                            ));
                        }
                    }
                }
            }
        }
        if (share - 1.0).abs() > 1e-6 {
            return Err(invalid(
                "event_types",
                format!("shares must add up to 1, got {share}"),
            ));
        }
        Ok(())
    }

    /// Records held when the profile does not say.
    pub fn default_records(&self, band: SizeBand) -> f64 {
        self.records
            .default_by_size
            .get(&band)
            .copied()
            .unwrap_or(0.0)
    }

    /// The severity of one organisation's incidents.
    pub fn for_org(&self, org: &OrgExposure) -> EventModel {
        self.template().with_org(self.org_scale(org))
    }

    /// Units of the model's currency per unit of `currency`: 1 for the model's own, `None`
    /// when the model has no rate for it.
    pub fn rate_to_model(&self, currency: &str) -> Option<f64> {
        if currency == self.currency {
            Some(1.0)
        } else {
            self.exchange_rates.get(currency).copied()
        }
    }

    /// [`SeverityModel::org_scale`] for an organisation whose revenue is in `currency`:
    /// the revenue is converted to the model's currency and every sampled amount back to
    /// `currency`.
    ///
    /// # Errors
    /// `currency` is neither the model's nor in its `exchange_rates`.
    pub fn org_scale_in(&self, org: &OrgExposure, currency: &str) -> Result<OrgScale> {
        let rate = match self.rate_to_model(currency) {
            Some(r) => r,
            None => {
                return Err(invalid(
                    "currency",
                    format!(
                        "the severity model ({} {}) has no exchange rate for {currency}; it converts {}",
                        self.id,
                        self.version,
                        std::iter::once(self.currency.as_str())
                            .chain(self.exchange_rates.keys().map(String::as_str))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        };
        let revenue = org.revenue * rate;
        if !(revenue.is_finite() && revenue <= MAX_REVENUE) {
            return Err(invalid(
                "annual_revenue",
                format!(
                    "{} {currency} is beyond the range the severity model represents (at most {MAX_REVENUE:e} {} a year, about twenty times the largest company's revenue)",
                    org.revenue, self.currency
                ),
            ));
        }
        let mut scale = self.org_scale(&OrgExposure {
            revenue,
            ..org.clone()
        });
        scale.fx = 1.0 / rate;
        Ok(scale)
    }

    /// What scales this model's amounts for one organisation.
    pub fn org_scale(&self, org: &OrgExposure) -> OrgScale {
        let size = if org.revenue > 0.0 {
            (org.revenue / self.reference_revenue).powf(self.revenue_elasticity)
        } else {
            1.0
        };
        let decades = if org.revenue > 0.0 {
            (org.revenue / self.reference_revenue).log10().max(0.0)
        } else {
            0.0
        };
        OrgScale {
            loss_scale: size
                * self
                    .industry_scale
                    .get(&org.industry)
                    .copied()
                    .unwrap_or(1.0),
            records: org.records.max(0.0),
            revenue: org.revenue.max(1.0),
            sigma_scale: 1.0 + self.sigma_growth_per_decade * decades,
            fx: 1.0,
            cumulative: None,
        }
    }

    /// The model at reference scale, shared by every organisation: amounts are scaled per
    /// event by an [`OrgScale`] (how a portfolio samples many insureds from one template).
    pub fn template(&self) -> EventModel {
        let records = Records {
            fraction: LogNormal::from_spec(&self.records.fraction, "records.fraction")
                .expect("validated"),
            cost_per_record: LogNormal::from_spec(
                &self.records.cost_per_record,
                "records.cost_per_record",
            )
            .expect("validated"),
        };
        let fines = self
            .fines
            .iter()
            .map(|b| match (b.interval, b.revenue_share) {
                (Some([lo, hi]), _) => Fine {
                    probability: b.probability,
                    amount: LogNormal::from_interval(lo, hi),
                    cap: b.cap.unwrap_or(f64::INFINITY),
                    revenue_relative: false,
                    cap_at_least: 0.0,
                },
                (None, Some([lo, hi])) => Fine {
                    probability: b.probability,
                    amount: LogNormal::from_interval(lo, hi),
                    cap: b.cap_revenue_share.unwrap_or(1.0),
                    revenue_relative: true,
                    cap_at_least: b.cap_at_least.unwrap_or(0.0),
                },
                (None, None) => Fine {
                    probability: b.probability,
                    amount: LogNormal::new(0.0, 1.0),
                    cap: 0.0,
                    revenue_relative: false,
                    cap_at_least: 0.0,
                },
            })
            .collect();
        let types = self
            .event_types
            .iter()
            .map(|(t, spec)| EventTypeModel {
                event_type: *t,
                share: spec.share,
                components: spec
                    .coverages
                    .iter()
                    .map(|(c, comp)| Component {
                        coverage: *c,
                        probability: comp.probability,
                        kind: match comp.model {
                            ComponentModel::Lognormal => {
                                ComponentKind::Lognormal(comp.lognormal("").expect("validated"))
                            }
                            ComponentModel::Records => ComponentKind::Records,
                            ComponentModel::Fines => ComponentKind::Fines,
                        },
                    })
                    .collect(),
            })
            .collect();
        EventModel::new(types, self.within_event_correlation, records, fines)
    }
}

/// What scales a template's amounts to one organisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrgScale {
    /// Multiplies lognormal amounts (industry × size).
    pub loss_scale: f64,
    /// People whose records a breach can expose.
    pub records: f64,
    /// Annual revenue in the model's currency, for revenue-relative fines.
    pub revenue: f64,
    /// Widens the lognormal amounts' spread (z ↦ s·z, the median kept): larger firms have
    /// heavier tails (Cyentia IRIS 2025, Table 1).
    pub sigma_scale: f64,
    /// Converts the model's currency into the organisation's (1 when they are the same).
    pub fx: f64,
    /// Cumulative event-type shares over the template's types, when the rating split the
    /// rate by peril; `None` uses the model's shares.
    pub cumulative: Option<[f64; EventType::COUNT]>,
}

impl OrgScale {
    pub const UNIT: OrgScale = OrgScale {
        loss_scale: 1.0,
        records: 0.0,
        revenue: 1.0,
        sigma_scale: 1.0,
        fx: 1.0,
        cumulative: None,
    };
}

/// What the severity of an organisation's incidents depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgExposure {
    pub industry: Industry,
    pub revenue: f64,
    /// People whose personal information is held.
    pub records: f64,
}

// ---------------------------------------------------------------------------------------
// The compiled, per-organisation form that the simulation samples from.

#[derive(Debug, Clone)]
pub struct EventModel {
    types: Vec<EventTypeModel>,
    /// Cumulative shares for picking the event type.
    cumulative: Vec<f64>,
    rho: f64,
    rho_c: f64,
    records: Records,
    fines: Vec<Fine>,
    /// The organisation [`EventModel::sample`] scales to.
    org: OrgScale,
}

#[derive(Debug, Clone)]
pub struct EventTypeModel {
    pub event_type: EventType,
    pub share: f64,
    pub components: Vec<Component>,
}

#[derive(Debug, Clone)]
pub struct Component {
    pub coverage: Coverage,
    pub probability: f64,
    pub kind: ComponentKind,
}

#[derive(Debug, Clone)]
pub enum ComponentKind {
    Lognormal(LogNormal),
    Records,
    Fines,
}

#[derive(Debug, Clone)]
pub struct Records {
    fraction: LogNormal,
    cost_per_record: LogNormal,
}

#[derive(Debug, Clone)]
pub struct Fine {
    probability: f64,
    /// The amount, or the share of revenue when `revenue_relative`.
    amount: LogNormal,
    /// The cap, or the capped share of revenue when `revenue_relative`.
    cap: f64,
    revenue_relative: bool,
    /// A revenue-relative cap is at least this amount.
    cap_at_least: f64,
}

/// The ground-up loss of one event, by coverage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EventLoss {
    pub event_type: usize,
    pub by_coverage: [f64; Coverage::COUNT],
}

impl EventLoss {
    pub fn total(&self) -> f64 {
        self.by_coverage.iter().sum()
    }
}

/// A uniform draw in [0, 1) with 53 random bits.
#[inline]
pub(crate) fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl EventModel {
    fn new(types: Vec<EventTypeModel>, rho: f64, records: Records, fines: Vec<Fine>) -> Self {
        let total: f64 = types.iter().map(|t| t.share).sum();
        let mut acc = 0.0;
        let cumulative = types
            .iter()
            .map(|t| {
                acc += t.share / total;
                acc
            })
            .collect();
        Self {
            types,
            cumulative,
            rho,
            rho_c: (1.0 - rho * rho).sqrt(),
            records,
            fines,
            org: OrgScale::UNIT,
        }
    }

    /// The same model scaled to one organisation.
    pub fn with_org(mut self, org: OrgScale) -> Self {
        self.org = org;
        self
    }

    pub fn org(&self) -> OrgScale {
        self.org
    }

    /// One lognormal coverage hit by every event, e.g. an actuary's scenario.
    pub fn single(ln: LogNormal, coverage: Coverage, event_type: EventType) -> Self {
        let types = vec![EventTypeModel {
            event_type,
            share: 1.0,
            components: vec![Component {
                coverage,
                probability: 1.0,
                kind: ComponentKind::Lognormal(ln),
            }],
        }];
        Self::new(types, 0.0, Records::none(), vec![])
    }

    /// Several coverages, each hit with its probability, by one event type.
    pub fn components(components: Vec<Component>, rho: f64, event_type: EventType) -> Self {
        let types = vec![EventTypeModel {
            event_type,
            share: 1.0,
            components,
        }];
        Self::new(types, rho, Records::none(), vec![])
    }

    /// The fast path, if this model is one lognormal hit with certainty: that lognormal,
    /// scaled to the organisation.
    pub fn as_single(&self) -> Option<(LogNormal, Coverage)> {
        match self.types.as_slice() {
            [t] => match t.components.as_slice() {
                [
                    Component {
                        coverage,
                        probability,
                        kind: ComponentKind::Lognormal(ln),
                    },
                ] if *probability >= 1.0 => Some((ln.scaled(self.org.loss_scale), *coverage)),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn types(&self) -> &[EventTypeModel] {
        &self.types
    }

    /// Samples one event of a random type for the model's organisation.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> EventLoss {
        self.sample_for(&self.org, rng)
    }

    /// Samples one event of a random type, scaled to `org`.
    #[inline]
    pub fn sample_for<R: Rng + ?Sized>(&self, org: &OrgScale, rng: &mut R) -> EventLoss {
        let u = uniform(rng);
        let cumulative = match &org.cumulative {
            Some(c) => &c[..self.types.len().min(EventType::COUNT)],
            None => &self.cumulative[..],
        };
        let t = cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.types.len() - 1);
        self.sample_type_for(t, org, rng)
    }

    /// `org` with incidents split over event types by `shares` (event type → share, need
    /// not be normalised); types the model lacks get nothing, and without any positive share
    /// the model's own shares stay.
    pub fn with_shares(&self, mut org: OrgScale, shares: &[(EventType, f64)]) -> OrgScale {
        let weights: Vec<f64> = self
            .types
            .iter()
            .map(|t| {
                shares
                    .iter()
                    .filter(|(e, _)| *e == t.event_type)
                    .map(|(_, s)| s.max(0.0))
                    .sum()
            })
            .collect();
        let total: f64 = weights.iter().sum();
        if !(total > 0.0 && total.is_finite()) || self.types.len() > EventType::COUNT {
            return org;
        }
        let mut c = [1.0; EventType::COUNT];
        let mut acc = 0.0;
        for (i, w) in weights.iter().enumerate() {
            acc += w / total;
            c[i] = acc;
        }
        if let Some(last) = c.get_mut(self.types.len() - 1) {
            *last = 1.0;
        }
        org.cumulative = Some(c);
        org
    }

    /// The event-type shares `org` is sampled with, by type.
    pub fn shares_for(&self, org: &OrgScale) -> Vec<(EventType, f64)> {
        let cumulative = match &org.cumulative {
            Some(c) => c[..self.types.len()].to_vec(),
            None => self.cumulative.clone(),
        };
        let mut prev = 0.0;
        self.types
            .iter()
            .zip(cumulative)
            .map(|(t, c)| {
                let s = c - prev;
                prev = c;
                (t.event_type, s)
            })
            .collect()
    }

    /// Samples one event of the type at index `t` of [`EventModel::types`].
    pub fn sample_type<R: Rng + ?Sized>(&self, t: usize, rng: &mut R) -> EventLoss {
        self.sample_type_for(t, &self.org, rng)
    }

    /// Samples one event of the type at index `t`, scaled to `org`.
    pub fn sample_type_for<R: Rng + ?Sized>(
        &self,
        t: usize,
        org: &OrgScale,
        rng: &mut R,
    ) -> EventLoss {
        let ty = &self.types[t];
        let mut loss = EventLoss {
            event_type: ty.event_type.index(),
            ..Default::default()
        };
        let z0: f64 = StandardNormal.sample(rng);
        for c in &ty.components {
            if c.probability < 1.0 && uniform(rng) >= c.probability {
                continue;
            }
            let e: f64 = StandardNormal.sample(rng);
            let z = self.rho * z0 + self.rho_c * e;
            let amount = match &c.kind {
                ComponentKind::Lognormal(ln) => {
                    org.loss_scale * ln.from_normal(org.sigma_scale * z)
                }
                ComponentKind::Records => {
                    let share = self.records.fraction.from_normal(z).min(1.0);
                    let cpr = self
                        .records
                        .cost_per_record
                        .from_normal(StandardNormal.sample(rng));
                    org.records * share * cpr
                }
                ComponentKind::Fines => self.fine(org, rng),
            };
            loss.by_coverage[c.coverage.index()] += amount * org.fx;
        }
        loss
    }

    fn fine<R: Rng + ?Sized>(&self, org: &OrgScale, rng: &mut R) -> f64 {
        let mut u = uniform(rng);
        for b in &self.fines {
            if u < b.probability {
                let x = b.amount.from_normal(StandardNormal.sample(rng));
                return if b.revenue_relative {
                    (x * org.revenue).min((b.cap * org.revenue).max(b.cap_at_least))
                } else {
                    x.min(b.cap)
                };
            }
            u -= b.probability;
        }
        0.0
    }

    /// The event-type index of `t` in the model, if present.
    pub fn type_index(&self, t: EventType) -> Option<usize> {
        self.types.iter().position(|m| m.event_type == t)
    }
}

impl Records {
    fn none() -> Self {
        Self {
            fraction: LogNormal::new(0.0, 1.0),
            cost_per_record: LogNormal::new(0.0, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{SimRng, batch_rng};

    const SHIPPED: &str = include_str!("../../../models/severity-v1.toml");

    #[test]
    fn shipped_model_is_valid() {
        let m = SeverityModel::from_toml(SHIPPED).unwrap();
        assert_eq!(m.event_types.len(), 5);
        assert_eq!(m.currency, "CNY");
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            SeverityModel::from_toml(&SHIPPED.replace("share = 0.30", "share = 0.40")).unwrap_err();
        assert_eq!(e.field, "event_types");
        let e = SeverityModel::from_toml(
            &SHIPPED.replace("[300000.0, 20000000.0]", "[300000.0, 2000.0]"),
        )
        .unwrap_err();
        assert_eq!(
            e.field,
            "event_types.ransomware.coverages.business_interruption.interval"
        );
        let e = SeverityModel::from_toml(
            &SHIPPED.replace("coverages.extortion", "coverages.extorsion"),
        )
        .unwrap_err();
        assert!(e.message.contains("extorsion"), "{e}");
        let e =
            SeverityModel::from_toml(&SHIPPED.replace("probability = 0.60", "probability = 0.70"))
                .unwrap_err();
        assert_eq!(e.field, "fines");
    }

    #[test]
    fn bigger_organisations_lose_more_and_samples_are_non_negative() {
        let m = SeverityModel::builtin();
        let small = m.for_org(&OrgExposure {
            industry: Industry::Retail,
            revenue: 1e7,
            records: 1e4,
        });
        let large = m.for_org(&OrgExposure {
            industry: Industry::Retail,
            revenue: 1e10,
            records: 1e7,
        });
        let mut rng = batch_rng(1, 0);
        let n = 20_000;
        let mean = |em: &EventModel, rng: &mut SimRng| {
            (0..n)
                .map(|_| em.sample(rng))
                .inspect(|e| assert!(e.by_coverage.iter().all(|v| *v >= 0.0)))
                .map(|e| e.total())
                .sum::<f64>()
                / n as f64
        };
        assert!(mean(&large, &mut rng) > 3.0 * mean(&small, &mut rng));
    }
}
