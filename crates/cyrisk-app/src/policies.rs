//! Policies: an insurer binds a layer on an organisation for a period, and the policy lives
//! `bound → active → expired | cancelled` (a quote is the step before). Binding freezes the
//! organisation's rating at inception with the policy, links the insurer to the
//! organisation, and starts the insurer's monitoring from that rating (what was known at
//! inception raises no alert). The premium is annual: a policy writes annual × days ÷ 365,
//! earned day by day. Mid-term endorsements change the limit or deductible, re-priced on the
//! rating at inception, the change written for the days left; a cancellation returns the
//! written premium less what was earned to the day before it takes effect.

use chrono::NaiveDate;
use cyrisk_sim::bridge::RatedRisk;
use cyrisk_store::{Endorsement, Inception, NewEndorsement, NewPolicy, Policy, Principal, Role};
use serde::Serialize;

use crate::App;
use crate::access::{Action, authorize_role};
use crate::error::{AppError, Result};
use crate::quotes::layer_terms;

/// The fewest simulated years an endorsement or a renewal quote is priced with: their
/// premium is a ratio of two simulated prices, which a few thousand years leave noisy.
pub const MIN_REPRICING_TRIALS: u64 = 10_000;

/// A policy to bind.
#[derive(Debug, Clone, PartialEq)]
pub struct BindRequest {
    pub organization_id: String,
    /// The insurer key the policy belongs to: required for admin keys; an insurer key may
    /// only name itself (the default).
    pub insurer_key_id: Option<String>,
    /// The quote the policy was bound from.
    pub quote_id: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// ISO 4217 code [default: the organisation's currency].
    pub currency: Option<String>,
    pub deductible: f64,
    pub limit: f64,
    /// Annual premium.
    pub premium: f64,
}

/// A mid-term change of the layer.
#[derive(Debug, Clone, PartialEq)]
pub struct EndorseRequest {
    pub effective_on: NaiveDate,
    /// The new per-occurrence limit [default: unchanged].
    pub limit: Option<f64>,
    /// The new deductible [default: unchanged].
    pub deductible: Option<f64>,
    pub reason: String,
    /// Simulated years for the re-pricing (1 to 2,000,000).
    pub trials: u64,
}

/// A policy with its endorsements.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyDetail {
    #[serde(flatten)]
    pub policy: Policy,
    pub endorsements: Vec<Endorsement>,
}

/// Days in a year of premium: an annual premium accrues 1/365 of itself a day, so a policy
/// of any length writes annual × days ÷ 365.
pub const DAYS_PER_YEAR: f64 = 365.0;

/// The years of cover from `from` (inclusive) to the policy's end: the pro-rata basis of an
/// endorsement's premium change (no short-rate table).
pub fn years_left(p: &Policy, from: NaiveDate) -> f64 {
    (((p.ends_on - from).num_days() + 1).max(0) as f64) / DAYS_PER_YEAR
}

/// The policy's premium schedule: (first day, last day, annual premium) per stretch of the
/// period with the same terms — the annual premium at binding, then each endorsement's from
/// its effective date (endorsements take effect in order).
pub fn schedule(p: &Policy, endorsements: &[Endorsement]) -> Vec<(NaiveDate, NaiveDate, f64)> {
    let mut out = Vec::with_capacity(endorsements.len() + 1);
    let first = endorsements
        .first()
        .map_or(p.premium, |e| e.previous_premium);
    let mut start = p.starts_on;
    let mut annual = first;
    for e in endorsements {
        if e.effective_on > start {
            out.push((start, e.effective_on.pred_opt().unwrap_or(start), annual));
            start = e.effective_on;
        }
        annual = e.annual_premium;
    }
    out.push((start, p.ends_on, annual));
    out
}

/// The premium earned by the end of the day before `until`: each stretch's annual premium
/// accrues 1/365 a day; at a cancellation's effective date it is what the insurer keeps.
pub fn earned_by(p: &Policy, endorsements: &[Endorsement], until: NaiveDate) -> f64 {
    schedule(p, endorsements)
        .into_iter()
        .map(|(from, to, annual)| {
            let end = to.min(until.pred_opt().unwrap_or(until));
            let days = ((end - from).num_days() + 1).max(0) as f64;
            annual * days / DAYS_PER_YEAR
        })
        .sum()
}

impl App {
    /// Binds a policy for `p`: the role check, whose insurer it is, the object check, then
    /// the write, with the organisation's live rating frozen as the rating at inception and
    /// the insurer's monitoring started from it. `Forbidden` when an insurer binds for
    /// another insurer.
    pub async fn bind_policy(&self, p: &Principal, req: BindRequest) -> Result<Policy> {
        authorize_role(p, Action::BindPolicy)?;
        let insurer = match (p.role, req.insurer_key_id) {
            (Role::Insurer, None) => p.key_id.clone(),
            (Role::Insurer, Some(k)) if k == p.key_id => k,
            (Role::Insurer, Some(_)) => {
                return Err(AppError::forbidden(
                    "an insurer key binds policies only for itself",
                ));
            }
            (_, Some(k)) => k,
            (_, None) => {
                return Err(AppError::Invalid(
                    "insurer_key_id: required when an admin key binds a policy".into(),
                ));
            }
        };
        self.authorize(p, &req.organization_id, Action::BindPolicy)
            .await?;
        let org = &req.organization_id;
        let currency = match req.currency {
            Some(c) => c,
            None => self
                .store
                .bundle(org)
                .await?
                .profile
                .currency
                .as_str()
                .to_owned(),
        };
        let rating = self.live_rating(org).await?;
        let policy = self
            .store
            .create_policy(
                &NewPolicy {
                    org_id: org.clone(),
                    insurer_key_id: insurer.clone(),
                    quote_id: req.quote_id,
                    starts_on: req.starts_on,
                    ends_on: req.ends_on,
                    currency,
                    deductible: req.deductible,
                    limit: req.limit,
                    premium: req.premium,
                    inception: Some(Inception {
                        rating_id: rating.id.clone(),
                        score: rating.score,
                        grade: rating.grade.clone(),
                    }),
                },
                Some(&p.key_id),
            )
            .await?;
        self.start_monitoring(org, &insurer, &rating.id).await?;
        Ok(policy)
    }

    /// An organisation's policies as `p` may see them: an insurer only its own.
    pub async fn policies(&self, p: &Principal, org_id: &str) -> Result<Vec<Policy>> {
        self.authorize(p, org_id, Action::Read).await?;
        Ok(self
            .store
            .policies(org_id)
            .await?
            .into_iter()
            .filter(|x| match p.role {
                Role::Admin | Role::Enterprise => true,
                Role::Insurer => x.insurer_key_id == p.key_id,
                // An assessor is not party to the insurance.
                Role::Assessor => false,
            })
            .collect())
    }

    /// One policy `p` may see (its insurer, an admin, or a key of the insured organisation),
    /// with its endorsements; `NotFound` otherwise.
    pub async fn policy(&self, p: &Principal, id: &str) -> Result<PolicyDetail> {
        let policy = self.store.policy(id).await?;
        let visible = match p.role {
            Role::Admin => true,
            Role::Insurer => policy.insurer_key_id == p.key_id,
            Role::Enterprise => p.org_id.as_deref() == Some(policy.org_id.as_str()),
            // An assessor is not party to the insurance.
            Role::Assessor => false,
        };
        if !visible {
            return Err(AppError::NotFound { what: "policy" });
        }
        let endorsements = self.store.endorsements(id).await?;
        Ok(PolicyDetail {
            policy,
            endorsements,
        })
    }

    /// A policy its insurer (or an admin) may change: `Forbidden` for other roles, `NotFound`
    /// for another insurer's.
    pub(crate) async fn own_policy(&self, p: &Principal, id: &str) -> Result<Policy> {
        authorize_role(p, Action::BindPolicy)?;
        let policy = self.store.policy(id).await?;
        if p.role == Role::Insurer && policy.insurer_key_id != p.key_id {
            return Err(AppError::NotFound { what: "policy" });
        }
        Ok(policy)
    }

    /// Cancels a policy from `effective_on`: the insurer keeps the premium earned to the day
    /// before (`earned_by`, endorsements included) and returns the rest of the written
    /// premium. `Conflict` if a claim's loss falls on or after that date.
    pub async fn cancel_policy(
        &self,
        p: &Principal,
        id: &str,
        effective_on: NaiveDate,
        reason: &str,
    ) -> Result<Policy> {
        let policy = self.own_policy(p, id).await?;
        let endorsements = self.store.endorsements(id).await?;
        let earned = earned_by(&policy, &endorsements, effective_on);
        let back = (policy.written_premium - earned).max(0.0);
        Ok(self
            .store
            .cancel_policy(
                id,
                effective_on,
                reason,
                back,
                policy.written_premium,
                &p.key_id,
            )
            .await?)
    }

    /// Endorses a policy: the new layer is priced on the rating at inception (frozen), and
    /// the annual premium scales by the model's price of the new layer over the old (the
    /// same simulated years for both), so a negotiated rate carries over; the written premium
    /// changes by the difference × the unexpired share of the term.
    pub async fn endorse_policy(
        &self,
        p: &Principal,
        id: &str,
        req: EndorseRequest,
    ) -> Result<Endorsement> {
        let policy = self.own_policy(p, id).await?;
        let deductible = req.deductible.unwrap_or(policy.deductible);
        let limit = req.limit.unwrap_or(policy.limit);
        if req.deductible.is_none() && req.limit.is_none() {
            return Err(AppError::Invalid(
                "limit, deductible: an endorsement changes at least one".into(),
            ));
        }
        if req.trials < MIN_REPRICING_TRIALS {
            return Err(AppError::Invalid(format!(
                "trials: at least {MIN_REPRICING_TRIALS} to re-price an endorsement, got {}",
                req.trials
            )));
        }
        let new_layer = layer_terms(deductible, limit, None, req.trials)?;
        let old_layer = layer_terms(policy.deductible, policy.limit, None, req.trials)?;
        let inception = policy.inception.as_ref().ok_or_else(|| {
            AppError::Conflict(format!(
                "policy {id} was bound before ratings were frozen at inception: re-bind it to endorse"
            ))
        })?;
        let rating = self
            .store
            .rating_raw(&policy.org_id, &inception.rating_id)
            .await?;
        let risk = RatedRisk::from_stored_json(&rating.rating).map_err(AppError::internal)?;
        let profile = self.store.bundle(&policy.org_id).await?.profile;
        let seed = 1;
        let old = self
            .price(&risk, &profile, &old_layer, req.trials, seed)
            .await?;
        let new = self
            .price(&risk, &profile, &new_layer, req.trials, seed)
            .await?;
        let annual = if old.premium.premium > 0.0 {
            policy.premium * new.premium.premium / old.premium.premium
        } else {
            new.premium.premium
        };
        let change = (annual - policy.premium) * years_left(&policy, req.effective_on);
        Ok(self
            .store
            .endorse_policy(
                id,
                &NewEndorsement {
                    priced_on: (policy.premium, policy.limit, policy.deductible),
                    effective_on: req.effective_on,
                    deductible,
                    limit,
                    annual_premium: annual,
                    premium_change: change,
                    reason: req.reason,
                },
                &p.key_id,
            )
            .await?)
    }
}
