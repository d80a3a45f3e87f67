//! Pre-policy underwriting: an applicant's bundle (an SME may send only its profile and an
//! external scan) rated with the current feeds, priced for the requested layer, and decided —
//! accept, refer or decline — by the underwriting rules (`cyrisk_core::underwriting`), each
//! rule's outcome explained. Nothing is stored: an application is not yet an insured.

use chrono::NaiveDate;
use cyrisk_core::underwriting::UnderwritingRules;
use cyrisk_core::underwriting::{Decision, RuleOutcome, evaluate};
use cyrisk_core::{Bundle, Rating};
use cyrisk_sim::bridge::RatedRisk;
use cyrisk_store::{Application, ApplicationStatus, Principal};
use serde::Serialize;

use crate::access::{Action, authorize_role};
use crate::error::{AppError, Result};
use crate::quotes::layer_terms;
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
    /// The stored application (`GET /underwriting/applications/{id}`); a referral waits there
    /// for an underwriter.
    pub application_id: String,
    /// `accepted`, `referred` or `declined`.
    pub status: ApplicationStatus,
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

/// An application from a scan file: an SME's external Nessus or Nmap scan and its profile.
#[derive(Debug, Clone)]
pub struct ScanApplication {
    pub profile: cyrisk_core::profile::Profile,
    /// `Nessus` or `Nmap`.
    pub format: crate::imports::ImportFormat,
    pub file: Vec<u8>,
    /// The scan ran from the internet: every host it saw is internet-facing.
    pub internet_facing: bool,
    pub deductible: f64,
    pub limit: f64,
    pub aggregate_limit: Option<f64>,
    pub trials: u64,
    pub seed: u64,
}

impl App {
    /// Assesses an application made of a profile and a scan file: the file is read (on the
    /// blocking pool) into the applicant's assets and findings, then assessed as a bundle.
    /// `Invalid` naming the position for a file that does not read, or a CSV.
    pub async fn assess_scan(&self, p: &Principal, req: ScanApplication) -> Result<Assessment> {
        authorize_role(p, Action::Quote)?;
        use crate::imports::{ImportFormat, ImportOptions, parse_scan};
        if req.format == ImportFormat::Csv {
            return Err(AppError::Invalid(
                "format: an application takes a nessus or nmap scan".into(),
            ));
        }
        let opts = ImportOptions {
            format: req.format,
            skip_bad_rows: false,
            stale_after_days: 90,
            internet_facing: req.internet_facing,
            today: today(),
        };
        let file = req.file;
        let scan = tokio::task::spawn_blocking(move || parse_scan(&file[..], &opts))
            .await?
            .map_err(|e| AppError::Invalid(format!("file: {e}")))?;
        let bundle = cyrisk_core::AssessmentBundle {
            schema_version: 1,
            profile: req.profile,
            assets: scan.assets,
            findings: scan.findings,
            controls: Vec::new(),
            incidents: Vec::new(),
            scan_date: scan.scan_date,
        }
        .validate()
        .map_err(|e| AppError::Invalid(format!("the application: {e}")))?;
        self.assess(
            p,
            AssessmentRequest {
                bundle,
                deductible: req.deductible,
                limit: req.limit,
                aggregate_limit: req.aggregate_limit,
                trials: req.trials,
                seed: req.seed,
            },
        )
        .await
    }

    /// Assesses an application for `p` (admin and insurer keys): rate, price, decide.
    pub async fn assess(&self, p: &Principal, req: AssessmentRequest) -> Result<Assessment> {
        authorize_role(p, Action::Quote)?;
        let layer = layer_terms(req.deductible, req.limit, req.aggregate_limit, req.trials)?;
        let mut bundle = req.bundle;
        self.current_feeds().await?.apply(&mut bundle);
        let (model, rules) = (self.models.rating.clone(), self.rules_for(p).await?.0);
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
        let mut a = Assessment {
            application_id: String::new(),
            status: ApplicationStatus::Referred,
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
        };
        let decision = json(serde_json::to_value(a.decision))?;
        let stored = self
            .store
            .insert_application(
                &p.key_id,
                &a.applicant,
                decision.as_str().unwrap_or_default(),
                &json(serde_json::to_value(&a))?,
            )
            .await?;
        a.application_id = stored.id;
        a.status = stored.status;
        Ok(a)
    }

    /// The rules an assessment by `p` applies: its own stored set, else the default; and
    /// which (`own` or `default`) with the TOML text.
    pub async fn rules_for(
        &self,
        p: &Principal,
    ) -> Result<(std::sync::Arc<UnderwritingRules>, &'static str, String)> {
        authorize_role(p, Action::Quote)?;
        match self.store.underwriting_rules(&p.key_id).await? {
            Some(text) => {
                let rules = self.rules.underwriting(&text).map_err(|e| {
                    AppError::internal(format!("stored rules of {}: {e}", p.key_id))
                })?;
                Ok((rules, "own", text))
            }
            None => Ok((
                self.models.underwriting.clone(),
                "default",
                include_str!("../../../models/underwriting-v1.toml").to_owned(),
            )),
        }
    }

    /// Replaces `p`'s own underwriting rules; `Invalid` naming the field if they do not load.
    pub async fn set_rules(&self, p: &Principal, text: &str) -> Result<()> {
        authorize_role(p, Action::Quote)?;
        UnderwritingRules::from_toml(text)
            .map_err(|e| AppError::Invalid(format!("rules: {}", e.0)))?;
        Ok(self
            .store
            .set_underwriting_rules(&p.key_id, text, &p.key_id)
            .await?)
    }

    /// Applications `p` may see (an insurer its own, an admin all), newest first.
    pub async fn applications(
        &self,
        p: &Principal,
        status: Option<ApplicationStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Application>> {
        authorize_role(p, Action::Quote)?;
        Ok(self
            .store
            .applications(own(p), status, limit, offset)
            .await?)
    }

    /// One application `p` may see.
    pub async fn application(&self, p: &Principal, id: &str) -> Result<Application> {
        authorize_role(p, Action::Quote)?;
        Ok(self.store.application(id, own(p)).await?)
    }

    /// An underwriter's decision on a referral (`accept` true or false), with a note.
    pub async fn decide_application(
        &self,
        p: &Principal,
        id: &str,
        accept: bool,
        note: &str,
    ) -> Result<Application> {
        authorize_role(p, Action::Quote)?;
        let to = if accept {
            ApplicationStatus::Accepted
        } else {
            ApplicationStatus::Declined
        };
        Ok(self
            .store
            .decide_application(id, own(p), to, note, &p.key_id)
            .await?)
    }
}

/// The applications a key may see: an insurer its own, an admin every one.
fn own(p: &Principal) -> Option<&str> {
    (p.role != cyrisk_store::Role::Admin).then_some(p.key_id.as_str())
}
