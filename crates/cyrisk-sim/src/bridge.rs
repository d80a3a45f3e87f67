//! The one bridge from a rating to the money model: what of a rating the loss simulation
//! needs ([`RatedRisk`]), read from a fresh [`Rating`] or from a stored rating document, and
//! the organisation's loss model built from it ([`loss_model`]).

use cyrisk_core::peril::Peril;
use cyrisk_core::profile::{Profile, SizeBand};
use cyrisk_core::rating::Rating;
use serde::Deserialize;

use crate::error::{Result, invalid};
use crate::frequency::Frequency;
use crate::severity::{EventModel, EventType, OrgExposure, SeverityModel};

/// What the money model takes from a rating.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedRisk {
    /// λ, expected material incidents a year.
    pub expected_incident_rate: f64,
    /// Standard deviation of ln λ (the rating's confidence), for parameter uncertainty.
    pub log_rate_sigma: f64,
    pub size_band: SizeBand,
    /// The rate's split by peril; empty for models without one (the severity model's
    /// shares are used then).
    pub perils: Vec<(Peril, f64)>,
}

#[derive(Deserialize)]
struct StoredRating {
    expected_incident_rate: f64,
    baseline: StoredBaseline,
    confidence: StoredConfidence,
    #[serde(default)]
    perils: Vec<StoredPeril>,
}

#[derive(Deserialize)]
struct StoredBaseline {
    size_band: SizeBand,
}

#[derive(Deserialize)]
struct StoredConfidence {
    log_rate_sigma: f64,
}

#[derive(Deserialize)]
struct StoredPeril {
    peril: Peril,
    share: f64,
}

impl RatedRisk {
    pub fn from_rating(r: &Rating) -> Self {
        Self {
            expected_incident_rate: r.expected_incident_rate,
            log_rate_sigma: r.confidence.log_rate_sigma,
            size_band: r.baseline.size_band,
            perils: r.perils.iter().map(|p| (p.peril, p.share)).collect(),
        }
    }

    /// From a rating as stored (its JSON document).
    ///
    /// # Errors
    /// The document lacks the rate, the size band or the confidence.
    pub fn from_stored_json(text: &str) -> Result<Self> {
        let r: StoredRating = serde_json::from_str(text)
            .map_err(|e| invalid("rating", format!("not a rating document: {e}")))?;
        Ok(Self {
            expected_incident_rate: r.expected_incident_rate,
            log_rate_sigma: r.confidence.log_rate_sigma,
            size_band: r.baseline.size_band,
            perils: r.perils.into_iter().map(|p| (p.peril, p.share)).collect(),
        })
    }
}

/// The event type a peril's incidents are simulated as (the same names).
pub fn event_type(p: Peril) -> EventType {
    match p {
        Peril::Ransomware => EventType::Ransomware,
        Peril::FundsTransferFraud => EventType::FundsTransferFraud,
        Peril::DataBreach => EventType::DataBreach,
        Peril::Outage => EventType::Outage,
        Peril::Other => EventType::Other,
    }
}

/// An organisation's loss model: events scaled to it, in its currency, split by its perils.
#[derive(Debug, Clone)]
pub struct LossModel {
    pub events: EventModel,
    pub frequency: Frequency,
    /// ISO 4217 code of every amount the model produces.
    pub currency: String,
}

/// Builds the loss model of a rated organisation.
///
/// Frequency: Poisson(λ), or with `parameter_uncertainty` a negative binomial with the same
/// mean and shape 1 / (e^σ² − 1), σ the rating's `log_rate_sigma` (a Gamma-mixed Poisson
/// whose rate has the lognormal's coefficient of variation). Severity: the model scaled to
/// the profile's industry, revenue and records (the model's default for the size band when
/// the profile does not say), in the profile's currency.
///
/// # Errors
/// The severity model has no exchange rate for the profile's currency, or λ is not a
/// valid rate.
pub fn loss_model(
    risk: &RatedRisk,
    profile: &Profile,
    severity: &SeverityModel,
    parameter_uncertainty: bool,
) -> Result<LossModel> {
    let records = profile.data.as_ref().map_or_else(
        || severity.default_records(risk.size_band),
        |d| d.personal_records as f64,
    );
    let currency = profile.currency.as_str().to_owned();
    let org = severity.org_scale_in(
        &OrgExposure {
            industry: profile.industry,
            revenue: profile.annual_revenue.get(),
            records,
        },
        &currency,
    )?;
    let template = severity.template();
    let shares: Vec<(EventType, f64)> = risk
        .perils
        .iter()
        .map(|&(p, s)| (event_type(p), s))
        .collect();
    let org = template.with_shares(org, &shares);
    let events = template.with_org(org);
    let lambda = risk.expected_incident_rate;
    let frequency = if parameter_uncertainty && risk.log_rate_sigma > 0.0 {
        let s2 = risk.log_rate_sigma.powi(2);
        Frequency::negative_binomial(lambda, 1.0 / s2.exp_m1())
    } else {
        Frequency::poisson(lambda)
    }?;
    Ok(LossModel {
        events,
        frequency,
        currency,
    })
}
