//! Post-policy: claims on policies (filed and managed by the policy's insurer, seen by the
//! insured), loss runs per policy and per insurer, and — in `renewal` — the renewal pack.
//!
//! A loss run follows the usual convention: per policy, the written premium, the premium
//! earned to the as-of date (the premium schedule — the annual premium of each stretch of
//! terms — accrued day by day, to a cancellation at most), the claims notified by then with
//! paid, outstanding and incurred (paid + outstanding) from the movements dated by then, and
//! the loss ratio (incurred ÷ earned); totals per currency and underwriting year (the year
//! cover starts).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use cyrisk_core::peril::Peril;
use cyrisk_store::{
    ClaimStatus, Endorsement, InsuranceClaim, MovementKind, NewClaim, Policy, Principal, Role,
};
use serde::Serialize;

use crate::access::{Action, authorize_role};
use crate::error::{AppError, Result};
use crate::{App, today};

/// A claim to file.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub policy_id: String,
    pub loss_on: NaiveDate,
    pub notified_on: NaiveDate,
    pub peril: Peril,
    pub description: String,
}

/// One policy's line in a loss run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LossRunRow {
    pub policy_id: String,
    pub org_id: String,
    pub insurer_key_id: String,
    /// The year cover starts.
    pub underwriting_year: i32,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub currency: String,
    pub written_premium: f64,
    /// Earned by the end of the as-of date (the premium schedule accrued day by day).
    pub earned_premium: f64,
    pub claims: usize,
    pub open_claims: usize,
    pub paid: f64,
    pub outstanding: f64,
    pub incurred: f64,
    /// Incurred ÷ earned (none before any premium is earned).
    pub loss_ratio: Option<f64>,
}

/// Totals of a loss run's rows in one currency and underwriting year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LossRunTotal {
    pub currency: String,
    pub underwriting_year: i32,
    pub policies: usize,
    pub written_premium: f64,
    pub earned_premium: f64,
    pub claims: usize,
    pub paid: f64,
    pub outstanding: f64,
    pub incurred: f64,
    pub loss_ratio: Option<f64>,
}

/// A loss run as of a date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LossRun {
    pub as_of: NaiveDate,
    pub rows: Vec<LossRunRow>,
    /// Per currency and underwriting year.
    pub totals: Vec<LossRunTotal>,
    /// Every claim counted, by date of loss.
    pub claims: Vec<InsuranceClaim>,
}

/// The premium earned by the end of `as_of`: the premium schedule (endorsements included)
/// accrued day by day, to the day before a cancellation's effective date at most (all of the
/// written premium, then).
pub fn earned(p: &Policy, endorsements: &[Endorsement], as_of: NaiveDate) -> f64 {
    let until = as_of.succ_opt().unwrap_or(as_of);
    let until = p.cancelled_on.map_or(until, |c| until.min(c));
    crate::policies::earned_by(p, endorsements, until).min(p.written_premium.max(0.0))
}

fn row(
    p: &Policy,
    endorsements: &[Endorsement],
    claims: &[InsuranceClaim],
    as_of: NaiveDate,
) -> LossRunRow {
    let mine: Vec<&InsuranceClaim> = claims.iter().filter(|c| c.policy_id == p.id).collect();
    let paid: f64 = mine.iter().map(|c| c.paid).sum();
    let outstanding: f64 = mine.iter().map(|c| c.outstanding).sum();
    let earned = earned(p, endorsements, as_of);
    LossRunRow {
        policy_id: p.id.clone(),
        org_id: p.org_id.clone(),
        insurer_key_id: p.insurer_key_id.clone(),
        underwriting_year: chrono::Datelike::year(&p.starts_on),
        starts_on: p.starts_on,
        ends_on: p.ends_on,
        currency: p.currency.clone(),
        written_premium: p.written_premium,
        earned_premium: earned,
        claims: mine.len(),
        open_claims: mine
            .iter()
            .filter(|c| c.status == ClaimStatus::Open)
            .count(),
        paid,
        outstanding,
        incurred: paid + outstanding,
        loss_ratio: (earned > 0.0).then(|| (paid + outstanding) / earned),
    }
}

/// A claim as it stood at the end of `as_of`: `None` if not yet notified; otherwise only the
/// movements dated by then, folded, and `closed`/`denied` only if that happened by then.
pub fn claim_as_of(c: &InsuranceClaim, as_of: NaiveDate) -> Option<InsuranceClaim> {
    if c.notified_on > as_of {
        return None;
    }
    let mut c = c.clone();
    c.movements.retain(|m| m.on <= as_of);
    let (paid, outstanding) = cyrisk_store::claims::fold(&c.movements);
    c.paid = paid;
    c.outstanding = outstanding;
    c.incurred = paid + outstanding;
    if c.closed_on.is_some_and(|d| d > as_of) {
        c.status = ClaimStatus::Open;
        c.closed_on = None;
    }
    Some(c)
}

/// A loss run of `policies` (each with its endorsements) with their `claims`, as they stood
/// at the end of `as_of` (claims notified by then, movements dated by then).
pub fn loss_run(
    policies: &[(Policy, Vec<Endorsement>)],
    claims: Vec<InsuranceClaim>,
    as_of: NaiveDate,
) -> LossRun {
    let claims: Vec<InsuranceClaim> = claims
        .iter()
        .filter_map(|c| claim_as_of(c, as_of))
        .collect();
    let rows: Vec<LossRunRow> = policies
        .iter()
        .map(|(p, e)| row(p, e, &claims, as_of))
        .collect();
    let mut totals: BTreeMap<(String, i32), LossRunTotal> = BTreeMap::new();
    for r in &rows {
        let t = totals
            .entry((r.currency.clone(), r.underwriting_year))
            .or_insert_with(|| LossRunTotal {
                currency: r.currency.clone(),
                underwriting_year: r.underwriting_year,
                policies: 0,
                written_premium: 0.0,
                earned_premium: 0.0,
                claims: 0,
                paid: 0.0,
                outstanding: 0.0,
                incurred: 0.0,
                loss_ratio: None,
            });
        t.policies += 1;
        t.written_premium += r.written_premium;
        t.earned_premium += r.earned_premium;
        t.claims += r.claims;
        t.paid += r.paid;
        t.outstanding += r.outstanding;
        t.incurred += r.incurred;
    }
    let totals = totals
        .into_values()
        .map(|mut t| {
            t.loss_ratio = (t.earned_premium > 0.0).then(|| t.incurred / t.earned_premium);
            t
        })
        .collect();
    LossRun {
        as_of,
        rows,
        totals,
        claims,
    }
}

impl App {
    /// Files a claim on a policy of `p`'s (its insurer, or an admin). The notice date may not
    /// be in the future.
    pub async fn file_claim(&self, p: &Principal, req: ClaimRequest) -> Result<InsuranceClaim> {
        self.own_policy(p, &req.policy_id).await?;
        if req.notified_on > today() {
            return Err(AppError::Invalid(format!(
                "notified_on: {} is in the future",
                req.notified_on
            )));
        }
        Ok(self
            .store
            .create_claim(
                &NewClaim {
                    policy_id: req.policy_id,
                    loss_on: req.loss_on,
                    notified_on: req.notified_on,
                    peril: req.peril,
                    description: req.description,
                },
                &p.key_id,
            )
            .await?)
    }

    /// One claim `p` may see: the policy's insurer, an admin, or a key of the insured.
    pub async fn claim(&self, p: &Principal, id: &str) -> Result<InsuranceClaim> {
        let c = self.store.claim(id).await?;
        match self.policy(p, &c.policy_id).await {
            Ok(_) => Ok(c),
            Err(AppError::NotFound { .. }) => Err(AppError::NotFound { what: "claim" }),
            Err(e) => Err(e),
        }
    }

    /// A claim `p` may change: the policy's insurer or an admin.
    async fn own_claim(&self, p: &Principal, id: &str) -> Result<InsuranceClaim> {
        authorize_role(p, Action::BindPolicy)?;
        let c = self.store.claim(id).await?;
        if p.role == Role::Insurer && c.insurer_key_id != p.key_id {
            return Err(AppError::NotFound { what: "claim" });
        }
        Ok(c)
    }

    /// Records a reserve change or a payment on a claim (dated no later than today).
    pub async fn claim_movement(
        &self,
        p: &Principal,
        id: &str,
        kind: MovementKind,
        amount: f64,
        on: NaiveDate,
        note: Option<&str>,
    ) -> Result<InsuranceClaim> {
        self.own_claim(p, id).await?;
        if on > today() {
            return Err(AppError::Invalid(format!("on: {on} is in the future")));
        }
        Ok(self
            .store
            .add_claim_movement(id, kind, amount, on, note, &p.key_id)
            .await?)
    }

    /// Closes, denies or reopens a claim.
    pub async fn set_claim_status(
        &self,
        p: &Principal,
        id: &str,
        to: ClaimStatus,
        on: NaiveDate,
    ) -> Result<InsuranceClaim> {
        self.own_claim(p, id).await?;
        if on > today() {
            return Err(AppError::Invalid(format!("on: {on} is in the future")));
        }
        Ok(self.store.set_claim_status(id, to, on, &p.key_id).await?)
    }

    /// The loss run of one policy `p` may see, as of `as_of`.
    pub async fn policy_loss_run(
        &self,
        p: &Principal,
        policy_id: &str,
        as_of: NaiveDate,
    ) -> Result<LossRun> {
        let d = self.policy(p, policy_id).await?;
        let claims = self.store.claims(Some(policy_id), None, None).await?;
        Ok(loss_run(&[(d.policy, d.endorsements)], claims, as_of))
    }

    /// The loss run of an insurer's book as of `as_of`: `p`'s own for an insurer key; for an
    /// admin, the insurer named (every policy when none).
    pub async fn book_loss_run(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
        as_of: NaiveDate,
    ) -> Result<LossRun> {
        authorize_role(p, Action::BindPolicy)?;
        // An insurer its own; an admin any insurer's (404 for a key that is not one) or all.
        let owner = self.book_owner(p, insurer_key_id).await?;
        let insurer = owner.as_deref();
        let mut endorsements: std::collections::HashMap<String, Vec<Endorsement>> =
            Default::default();
        for e in self.store.endorsements_of(insurer).await? {
            endorsements.entry(e.policy_id.clone()).or_default().push(e);
        }
        let policies: Vec<_> = self
            .store
            .policies_of(insurer)
            .await?
            .into_iter()
            .map(|p| {
                let e = endorsements.remove(&p.id).unwrap_or_default();
                (p, e)
            })
            .collect();
        let claims = self.store.claims(None, insurer, None).await?;
        Ok(loss_run(&policies, claims, as_of))
    }
}
