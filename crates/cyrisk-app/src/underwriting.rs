//! Pre-policy underwriting: an applicant's bundle (an SME may send only its profile and an
//! external scan) rated with the current feeds, priced for the requested layer, and decided —
//! accept, refer or decline — by the underwriting rules (`cyrisk_core::underwriting`), each
//! rule's outcome explained. Nothing is stored: an application is not yet an insured.

use chrono::NaiveDate;
use cyrisk_core::underwriting::{Decision, RuleOutcome, evaluate};
use cyrisk_core::{Bundle, Rating};
use cyrisk_sim::bridge::RatedRisk;
use cyrisk_store::Principal;
use serde::Serialize;

use crate::access::{Action, authorize_role};
use crate::error::{AppError, Result};
use crate::quotes::QuoteRequest;
use crate::{App, today};

/// An application to assess.
#[derive(Debug, Clone)]
pub struct AssessmentRequest {
    pub bundle: Bundle,
    /// The layer asked for, in the applicant's currency.
    pub deductible: f64,
    pub limit: f64,
    pub aggregate_limit: Option<f64>,
    /// Simulated years (1 to 2,000,000).
    pub trials: u64,
    pub seed: u64,
}

/// The score's 90 % band and how much is known.
#[derive(Debug, Clone, Serialize)]
pub struct Band {
    pub score_low: i32,
    pub score_high: i32,
    /// `high`, `medium` or `low`.
    pub level: String,
    /// What is missing, for the applicant to supply.
    pub missing: Vec<String>,
}

/// The layer's price.
#[derive(Debug, Clone, Serialize)]
pub struct AssessedQuote {
    pub layer: serde_json::Value,
    /// Expected annual loss in the layer.
    pub layer_expected_loss: f64,
    /// The premium and its parts.
    pub premium: serde_json::Value,
}

/// The answer to an application.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub applicant: String,
    pub as_of: NaiveDate,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// `accept`, `refer` (an underwriter decides) or `decline`: the worst rule outcome.
    pub decision: Decision,
    /// `id version` of the rules applied.
    pub rules_version: String,
    /// Every rule's outcome, explained.
    pub rules: Vec<RuleOutcome>,
    pub score: i32,
    pub grade: String,
    pub confidence: Band,
    /// Expected annual ground-up loss (all incidents, before any layer).
    pub expected_annual_loss: f64,
    pub quote: AssessedQuote,
    /// The full rating (factors, reasons, perils, warnings).
    pub rating: Rating,
}

impl App {
    /// Assesses an application for `p` (admin and insurer keys): rate, price, decide.
    pub async fn assess(&self, p: &Principal, req: AssessmentRequest) -> Result<Assessment> {
        authorize_role(p, Action::Quote)?;
        let layer = QuoteRequest {
            organization_id: String::new(),
            deductible: req.deductible,
            limit: req.limit,
            aggregate_limit: req.aggregate_limit,
            trials: req.trials,
            seed: req.seed,
        }
        .layer()?;
        let mut bundle = req.bundle;
        self.current_feeds().await?.apply(&mut bundle);
        let (model, rules) = (self.models.rating.clone(), self.models.underwriting.clone());
        let as_of = today();
        let (bundle, rating, decision) = tokio::task::spawn_blocking(move || {
            let rating = cyrisk_core::rate(&bundle, &model, as_of);
            let decision = evaluate(&rules, &bundle, &rating, as_of);
            (bundle, rating, decision)
        })
        .await?;
        let priced = self
            .price(
                &RatedRisk::from_rating(&rating),
                bundle.profile(),
                &layer,
                req.trials,
                req.seed,
            )
            .await?;
        let json = |v: serde_json::Result<serde_json::Value>| v.map_err(AppError::internal);
        Ok(Assessment {
            applicant: bundle.profile().name.clone(),
            as_of,
            currency: bundle.profile().currency.as_str().to_owned(),
            decision: decision.decision,
            rules_version: decision.rules_version,
            rules: decision.rules,
            score: rating.score,
            grade: rating.grade.clone(),
            confidence: Band {
                score_low: rating.confidence.score_low,
                score_high: rating.confidence.score_high,
                level: json(serde_json::to_value(rating.confidence.level))?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                missing: rating.confidence.missing.clone(),
            },
            expected_annual_loss: priced.simulation.expected_loss,
            quote: AssessedQuote {
                layer: json(serde_json::to_value(&layer))?,
                layer_expected_loss: priced.simulation.layer.expected_loss,
                premium: json(serde_json::to_value(&priced.premium))?,
            },
            rating,
        })
    }
}
