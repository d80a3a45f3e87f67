//! The renewal pack, from 90 days before a policy expires: the rating at inception against
//! now with the factor changes that explain the difference, the open contingencies (critical
//! or known-exploited findings still unfixed, underwriting rules that now fail), the claims in
//! the period, and a renewal quote for the same layer on today's rating.

use chrono::{Days, NaiveDate};
use cyrisk_core::underwriting::{Decision, RuleOutcome};
use cyrisk_sim::bridge::RatedRisk;
use cyrisk_store::{InsuranceClaim, Policy, Principal};
use serde::Serialize;

use crate::claims::{LossRunRow, loss_run};
use crate::error::{AppError, Result};
use crate::quotes::layer_terms;
use crate::{App, today};

/// How long before expiry the renewal pack opens (the market's usual renewal window).
pub const RENEWAL_WINDOW_DAYS: u64 = 90;

/// A rating as the pack shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatingPoint {
    pub rating_id: String,
    pub as_of: String,
    pub score: i64,
    pub grade: String,
}

/// One factor's contribution then and now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorChange {
    pub factor: String,
    pub family: String,
    /// Score points at inception and now (positive raises the score).
    pub points_at_inception: f64,
    pub points_now: f64,
    pub change: f64,
}

/// A finding still open that an underwriter will ask about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenFinding {
    pub finding_id: String,
    pub asset: String,
    pub cve: Option<String>,
    pub severity: String,
    pub kev: bool,
    pub days_open: i64,
}

/// What is still open at renewal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contingencies {
    /// Unresolved findings that are critical or known-exploited, oldest first.
    pub open_findings: Vec<OpenFinding>,
    /// The insurer's underwriting rules that refer or decline on today's rating.
    pub failing_rules: Vec<RuleOutcome>,
}

/// The renewal quote: the same layer for the next year on today's rating.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenewalQuote {
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub deductible: f64,
    pub limit: f64,
    pub layer_expected_loss: f64,
    /// The model's premium for the layer and its parts.
    pub premium: serde_json::Value,
    /// The model's premium at inception for the same layer (on the inception rating).
    pub premium_at_inception: f64,
    pub expiring_premium: f64,
    /// The expiring premium scaled by the model's change (now ÷ at inception, both priced on
    /// today's profile): the rate change the change in risk quality indicates, keeping the
    /// negotiated rate level. A change in exposure (revenue, records) since inception is not
    /// in it: the underwriter re-quotes for that.
    pub indicated_premium: f64,
    /// indicated ÷ expiring − 1.
    pub indicated_change: f64,
}

/// The renewal pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenewalPack {
    pub policy: Policy,
    pub as_of: NaiveDate,
    pub opens_on: NaiveDate,
    pub inception: RatingPoint,
    pub current: RatingPoint,
    pub score_change: i64,
    /// Factors whose contribution moved, largest move first.
    pub factor_changes: Vec<FactorChange>,
    /// The largest moves in words.
    pub explanation: Vec<String>,
    pub contingencies: Contingencies,
    pub claims: Vec<InsuranceClaim>,
    pub loss_run: LossRunRow,
    pub renewal_quote: RenewalQuote,
}

fn factors(doc: &str) -> Result<Vec<(String, String, f64)>> {
    let v: serde_json::Value = serde_json::from_str(doc).map_err(AppError::internal)?;
    Ok(v["factors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["name"].as_str().unwrap_or_default().to_owned(),
                        f["family"].as_str().unwrap_or_default().to_owned(),
                        f["points"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The factor changes between two rating documents, largest first (moves under half a
/// point left out).
pub fn factor_changes(then: &str, now: &str) -> Result<Vec<FactorChange>> {
    let (a, b) = (factors(then)?, factors(now)?);
    let mut out: Vec<FactorChange> = b
        .iter()
        .map(|(name, family, p)| {
            let before = a
                .iter()
                .find(|(n, _, _)| n == name)
                .map_or(0.0, |(_, _, x)| *x);
            FactorChange {
                factor: name.clone(),
                family: family.clone(),
                points_at_inception: before,
                points_now: *p,
                change: p - before,
            }
        })
        .filter(|c| c.change.abs() >= 0.5)
        .collect();
    out.sort_by(|x, y| y.change.abs().total_cmp(&x.change.abs()));
    Ok(out)
}

impl App {
    /// The renewal pack of a policy of `p`'s (its insurer, or an admin), from
    /// `RENEWAL_WINDOW_DAYS` before it expires (`Conflict` before then, or for a cancelled
    /// policy). `trials` simulated years price the renewal quote.
    pub async fn renewal_pack(&self, p: &Principal, id: &str, trials: u64) -> Result<RenewalPack> {
        let policy = self.own_policy(p, id).await?;
        if trials < crate::policies::MIN_REPRICING_TRIALS {
            return Err(AppError::Invalid(format!(
                "trials: at least {} for a renewal quote, got {trials}",
                crate::policies::MIN_REPRICING_TRIALS
            )));
        }
        let as_of = today();
        let opens_on = policy
            .ends_on
            .checked_sub_days(Days::new(RENEWAL_WINDOW_DAYS))
            .unwrap_or(policy.starts_on);
        if policy.cancelled_on.is_some() {
            return Err(AppError::Conflict(format!(
                "policy {id} is cancelled: there is nothing to renew"
            )));
        }
        if as_of < opens_on {
            return Err(AppError::Conflict(format!(
                "the renewal pack of policy {id} opens on {opens_on}, {RENEWAL_WINDOW_DAYS} days before it expires on {}",
                policy.ends_on
            )));
        }
        let inception = policy.inception.clone().ok_or_else(|| {
            AppError::Conflict(format!(
                "policy {id} was bound before ratings were frozen at inception"
            ))
        })?;
        let org = policy.org_id.clone();
        let then = self.store.rating_raw(&org, &inception.rating_id).await?;
        let now = self.live_rating(&org).await?;
        let factor_changes = factor_changes(&then.rating, &now.rating)?;
        let explanation = factor_changes
            .iter()
            .take(3)
            .map(|c| {
                format!(
                    "{} {} the score by {:.0} points ({:+.0} → {:+.0})",
                    c.factor.replace('_', " "),
                    if c.change >= 0.0 { "raised" } else { "lowered" },
                    c.change.abs(),
                    c.points_at_inception,
                    c.points_now
                )
            })
            .collect();

        // Contingencies, on the inputs today's rating used.
        let feeds = self.current_feeds().await?;
        let (bundle, rating, _) = self.rate_bundle(&org, &feeds).await?;
        let mut open_findings: Vec<OpenFinding> = bundle
            .findings()
            .iter()
            .filter(|f| cyrisk_core::finding::FindingState::counted(f).is_unresolved())
            .filter_map(|f| {
                let sev = cyrisk_core::rating::finding_severity(f);
                (sev == cyrisk_core::cvss::Severity::Critical || f.kev).then(|| OpenFinding {
                    finding_id: f.id.clone(),
                    asset: f.asset.clone(),
                    cve: f.cve.as_ref().map(|c| c.as_str().to_owned()),
                    severity: sev.as_str().to_owned(),
                    kev: f.kev,
                    days_open: (as_of - f.first_seen).num_days(),
                })
            })
            .collect();
        open_findings.sort_by_key(|f| std::cmp::Reverse(f.days_open));
        let rules = self.underwriting_rules_of(&policy.insurer_key_id).await?;
        let failing_rules = cyrisk_core::underwriting::evaluate(&rules, &bundle, &rating, as_of)
            .rules
            .into_iter()
            .filter(|r| r.outcome != Decision::Accept)
            .collect();

        let claims = self.store.claims(Some(id), None, None).await?;
        let endorsements = self.store.endorsements(id).await?;
        let run = loss_run(&[(policy.clone(), endorsements)], claims.clone(), as_of);

        // The renewal quote: the same layer, next year, priced on today's rating and on the
        // inception rating with the same simulated years.
        let layer = layer_terms(policy.deductible, policy.limit, None, trials)?;
        let profile = bundle.profile().clone();
        let now_risk = RatedRisk::from_rating(&rating);
        let then_risk = RatedRisk::from_stored_json(&then.rating).map_err(AppError::internal)?;
        let priced = self.price(&now_risk, &profile, &layer, trials, 1).await?;
        let at_inception = self.price(&then_risk, &profile, &layer, trials, 1).await?;
        let model_now = priced.premium.premium;
        let model_then = at_inception.premium.premium;
        let indicated = if model_then > 0.0 {
            policy.premium * model_now / model_then
        } else {
            model_now
        };
        let starts_on = policy.ends_on.succ_opt().unwrap_or(policy.ends_on);
        let renewal_quote = RenewalQuote {
            starts_on,
            ends_on: starts_on
                .checked_add_months(chrono::Months::new(12))
                .and_then(|d| d.pred_opt())
                .unwrap_or(starts_on),
            deductible: policy.deductible,
            limit: policy.limit,
            layer_expected_loss: priced.simulation.layer.expected_loss,
            premium: serde_json::to_value(&priced.premium).map_err(AppError::internal)?,
            premium_at_inception: model_then,
            expiring_premium: policy.premium,
            indicated_premium: indicated,
            indicated_change: if policy.premium > 0.0 {
                indicated / policy.premium - 1.0
            } else {
                0.0
            },
        };
        Ok(RenewalPack {
            as_of,
            opens_on,
            inception: RatingPoint {
                rating_id: then.id.clone(),
                as_of: then.as_of.clone(),
                score: then.score,
                grade: then.grade.clone(),
            },
            current: RatingPoint {
                rating_id: now.id.clone(),
                as_of: now.as_of.clone(),
                score: now.score,
                grade: now.grade.clone(),
            },
            score_change: now.score - then.score,
            factor_changes,
            explanation,
            contingencies: Contingencies {
                open_findings,
                failing_rules,
            },
            claims,
            loss_run: run
                .rows
                .into_iter()
                .next()
                .ok_or_else(|| AppError::internal("a loss run of one policy has no row"))?,
            renewal_quote,
            policy,
        })
    }
}
