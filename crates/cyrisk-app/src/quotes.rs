//! Quotes: the live rating, a loss simulation for the requested layer and its premium, stored
//! with the organisation. The rating reaches the money model through one typed bridge
//! (`cyrisk_sim::bridge`), the same the CLI's `price` uses.

use cyrisk_sim::bridge::{RatedRisk, loss_model};
use cyrisk_sim::pricing::{PricingContext, premium_in};
use cyrisk_sim::simulate::{SimSpec, simulate};
use cyrisk_sim::terms::Layer;
use cyrisk_store::{Principal, StoredQuote};
use serde::Serialize;

use crate::App;
use crate::access::{Action, authorize_role};
use crate::error::{AppError, Result};

/// Most simulated years a quote may ask for.
pub const MAX_QUOTE_TRIALS: u64 = 2_000_000;

/// The layer to price for an organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteRequest {
    pub organization_id: String,
    /// Per-occurrence deductible (at most the limit), in the organisation's currency.
    pub deductible: f64,
    /// Per-occurrence limit.
    pub limit: f64,
    /// Annual aggregate limit (at least the per-occurrence limit).
    pub aggregate_limit: Option<f64>,
    /// Simulated years, 1 to [`MAX_QUOTE_TRIALS`].
    pub trials: u64,
    /// Random seed: the same request and inputs give the same quote.
    pub seed: u64,
}

impl QuoteRequest {
    /// The layer, or `Invalid` naming the field.
    pub fn layer(&self) -> Result<Layer> {
        layer_terms(
            self.deductible,
            self.limit,
            self.aggregate_limit,
            self.trials,
        )
    }
}

/// A layer to price and the years to simulate, checked: `Invalid` naming the field.
pub fn layer_terms(
    deductible: f64,
    limit: f64,
    aggregate_limit: Option<f64>,
    trials: u64,
) -> Result<Layer> {
    if !(1..=MAX_QUOTE_TRIALS).contains(&trials) {
        return Err(AppError::Invalid(format!(
            "trials: must be 1 to {MAX_QUOTE_TRIALS}, got {trials}"
        )));
    }
    Layer::new(deductible, Some(limit), aggregate_limit, Default::default())
        .map_err(|e| AppError::Invalid(e.to_string()))
}

/// What a quote holds (stored as it was computed).
#[derive(Debug, Serialize)]
pub struct QuoteDocument {
    pub organization_id: String,
    /// ISO 4217 code of every amount in the quote.
    pub currency: String,
    pub rating: QuotedRating,
    /// The layer priced.
    pub layer: serde_json::Value,
    /// The Monte Carlo result.
    pub simulation: serde_json::Value,
    /// The premium and its parts.
    pub premium: serde_json::Value,
    /// Where the capital came from when the quote was priced into the insurer's simulated
    /// book (`premium.capital_method` is then `book_co_tvar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub book_capital: Option<BookCapital>,
}

/// The fewest simulated years of a book simulation quotes take capital from: its co-TVaR
/// averages the worst 0.5 % of years, 50 of them at 10,000.
pub const CAPITAL_RUN_MIN_TRIALS: i64 = 10_000;
/// The oldest book simulation quotes take capital from, in days: a quarter (the book moves).
pub const CAPITAL_RUN_MAX_AGE_DAYS: i64 = 92;

/// The capital a quote takes from the insurer's simulated book: the organisation's policies'
/// co-TVaR 99.5 % less their expected loss, per unit of expected loss, in the newest stored
/// simulation of the book (of at least [`CAPITAL_RUN_MIN_TRIALS`] years, at most
/// [`CAPITAL_RUN_MAX_AGE_DAYS`] old), if it holds them. Capital allocated by co-TVaR (Euler allocation) is
/// homogeneous of degree one — scaling a risk's losses scales its allocation (Tasche,
/// "Risk contributions and performance measurement", 1999) — so the quoted layer takes this
/// multiple of its own expected loss, never more than it would need alone (TVaR 99.5 % less its
/// mean, which bounds a co-TVaR by subadditivity).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookCapital {
    /// The book simulation's id.
    pub simulation_id: String,
    /// When it ran (RFC 3339 UTC).
    pub simulated_at: String,
    /// (co-TVaR − expected loss) ÷ expected loss of the organisation's policies in it.
    pub co_tvar_multiple: f64,
}

/// The stored rating a quote was priced on.
#[derive(Debug, Serialize)]
pub struct QuotedRating {
    pub id: String,
    pub as_of: String,
    pub score: i64,
    pub grade: String,
    /// λ, the expected number of material incidents a year.
    pub expected_incident_rate: f64,
    pub model: ModelVersion,
}

/// A model's id and version.
#[derive(Debug, Serialize)]
pub struct ModelVersion {
    pub id: String,
    pub version: String,
}

impl App {
    /// Prices a layer on the organisation's live rating and stores the quote for `p`: the
    /// role check, the layer, the object check, then the work. `Invalid` for a bad layer or an organisation whose
    /// currency the severity model cannot convert.
    pub async fn quote(&self, p: &Principal, req: &QuoteRequest) -> Result<StoredQuote> {
        authorize_role(p, Action::Quote)?;
        let layer = req.layer()?;
        let id = &req.organization_id;
        self.authorize(p, id, Action::Quote).await?;
        let rating = self.live_rating(id).await?;
        let risk = RatedRisk::from_stored_json(&rating.rating).map_err(AppError::internal)?;
        let lambda = risk.expected_incident_rate;
        let profile = self.store.bundle(id).await?.profile;
        // An insurer quoting an organisation its simulated book holds: capital by co-TVaR,
        // from the book's newest run of enough years in the last quarter.
        let since = (crate::today() - chrono::Duration::days(CAPITAL_RUN_MAX_AGE_DAYS)).to_string();
        let book_capital = match p.role {
            cyrisk_store::Role::Insurer => self
                .store
                .allocated_capital(&p.key_id, id, CAPITAL_RUN_MIN_TRIALS, &since)
                .await?
                // A co-TVaR at or below the expected loss (a risk that diversifies the book)
                // allocates zero capital, continuously: no switch to another method.
                .filter(|a| a.expected_loss > 0.0 && a.co_tvar.is_finite())
                .map(|a| BookCapital {
                    co_tvar_multiple: ((a.co_tvar - a.expected_loss) / a.expected_loss).max(0.0),
                    simulation_id: a.simulation_id,
                    simulated_at: a.created_at,
                }),
            _ => None,
        };
        let priced = self
            .price_with(
                &risk,
                &profile,
                &layer,
                req.trials,
                req.seed,
                book_capital.as_ref().map(|b| b.co_tvar_multiple),
            )
            .await?;
        let (result, prem) = (priced.simulation, priced.premium);
        let doc = QuoteDocument {
            organization_id: id.clone(),
            currency: profile.currency.as_str().to_owned(),
            rating: QuotedRating {
                id: rating.id.clone(),
                as_of: rating.as_of.clone(),
                score: rating.score,
                grade: rating.grade.clone(),
                expected_incident_rate: lambda,
                model: ModelVersion {
                    id: rating.model_id.clone(),
                    version: rating.model_version.clone(),
                },
            },
            layer: to_json(&layer)?,
            simulation: to_json(&result)?,
            premium: to_json(&prem)?,
            book_capital,
        };
        Ok(self
            .store
            .insert_quote(id, Some(&p.key_id), &rating.id, &to_json(&doc)?)
            .await?)
    }
}

/// A layer priced for a rated risk: the simulation and the premium.
#[derive(Debug, Clone)]
pub struct Priced {
    pub simulation: cyrisk_sim::simulate::SimResult,
    pub premium: cyrisk_sim::pricing::Premium,
}

impl App {
    /// Simulates `layer` for a rated risk with `trials` years from `seed` (on the blocking
    /// pool) and prices it. `Invalid` for a currency the severity model cannot convert or a
    /// size beyond what it represents — the organisation's data, not a fault.
    pub async fn price(
        &self,
        risk: &RatedRisk,
        profile: &cyrisk_core::profile::Profile,
        layer: &Layer,
        trials: u64,
        seed: u64,
    ) -> Result<Priced> {
        self.price_with(risk, profile, layer, trials, seed, None)
            .await
    }

    /// [`App::price`], the capital `co_tvar_multiple` × the layer's expected loss when given
    /// (from the insurer's simulated book, [`BookCapital`]), capped at the layer's stand-alone
    /// capital (TVaR 99.5 % − mean).
    pub async fn price_with(
        &self,
        risk: &RatedRisk,
        profile: &cyrisk_core::profile::Profile,
        layer: &Layer,
        trials: u64,
        seed: u64,
        co_tvar_multiple: Option<f64>,
    ) -> Result<Priced> {
        let severity = &self.models.severity;
        let lm = loss_model(risk, profile, severity, false)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let pricing = self.models.pricing.clone();
        let mut ctx = PricingContext {
            log_rate_sigma: risk.log_rate_sigma,
            currency: Some(lm.currency.clone()),
            to_model_currency: severity.rate_to_model(&lm.currency).unwrap_or(1.0),
            allocated_capital: None,
        };
        let sim_layer = layer.clone();
        let (simulation, premium) = tokio::task::spawn_blocking(move || {
            let r = simulate(
                &SimSpec {
                    events: &lm.events,
                    frequency: lm.frequency,
                    layer: &sim_layer,
                    trials,
                    seed,
                },
                &|_| {},
            )?;
            let alone = (r.tvar["99.5"] - r.layer.expected_loss).max(0.0);
            let capped = co_tvar_multiple.is_some_and(|k| k * r.layer.expected_loss > alone);
            if let Some(k) = co_tvar_multiple {
                ctx.allocated_capital = Some((k * r.layer.expected_loss).min(alone));
            }
            let mut prem = premium_in(&r, &pricing, &ctx);
            if capped {
                // The book's allocation would exceed what the layer needs alone.
                prem.capital_method = "stand_alone";
            }
            Ok::<_, cyrisk_sim::error::SimError>((r, prem))
        })
        .await?
        .map_err(|e| AppError::Invalid(e.to_string()))?;
        // A size beyond what the severity model represents would price as infinite or NaN
        // money: refuse it rather than store or show such a price.
        if !(simulation.expected_loss.is_finite()
            && simulation.layer.expected_loss.is_finite()
            && premium.premium.is_finite())
        {
            return Err(AppError::Invalid(
                "profile.annual_revenue: the organisation's size is beyond the range the severity model represents: its loss does not come out finite".into(),
            ));
        }
        Ok(Priced {
            simulation,
            premium,
        })
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(AppError::internal)
}
