//! Policies: a layer an insurer has bound on an organisation for a period. Binding one links
//! the insurer's key to the organisation, which is how an insurer comes to see the
//! organisations it insures (besides those it loaded or quoted).

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;

use crate::keys::{active_key_role, audit};
use crate::{Result, Role, Store, StoreError, new_id, now};

/// A policy to bind.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    pub org_id: String,
    /// The insurer key the policy belongs to.
    pub insurer_key_id: String,
    /// The quote it was bound from, if any (must be a quote of the same organisation).
    pub quote_id: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub currency: String,
    pub deductible: f64,
    pub limit: f64,
    pub premium: f64,
    /// The organisation's rating when the policy was bound, frozen with it.
    pub inception: Option<Inception>,
}

/// The rating a policy was bound on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inception {
    pub rating_id: String,
    pub score: i64,
    pub grade: String,
}

/// A mid-term change of a policy's layer, re-priced pro rata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endorsement {
    pub id: String,
    pub policy_id: String,
    /// The first day the new terms apply.
    pub effective_on: NaiveDate,
    pub previous_deductible: f64,
    pub previous_limit: f64,
    /// The annual premium before.
    pub previous_premium: f64,
    pub deductible: f64,
    pub limit: f64,
    /// The annual premium of the new terms.
    pub annual_premium: f64,
    /// What the endorsement adds to the written premium (negative: returned): the change in
    /// annual premium × the share of the term left.
    pub premium_change: f64,
    pub reason: String,
    pub created_at: String,
    pub created_by: Option<String>,
}

/// An endorsement to record (the caller prices it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEndorsement {
    /// The terms it was priced from (premium, limit, deductible): if the policy changed
    /// meanwhile, the endorsement is refused (`Conflict`) rather than applied to other terms.
    pub priced_on: (f64, f64, f64),
    pub effective_on: NaiveDate,
    pub deductible: f64,
    pub limit: f64,
    pub annual_premium: f64,
    pub premium_change: f64,
    pub reason: String,
}

/// Where a policy is in its life, as of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyPhase {
    /// Bound, not yet started.
    Bound,
    /// In force.
    Active,
    /// Ended.
    Expired,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub id: String,
    pub org_id: String,
    pub insurer_key_id: String,
    pub quote_id: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub currency: String,
    pub deductible: f64,
    pub limit: f64,
    /// The annual premium of the current terms.
    pub premium: f64,
    pub created_at: String,
    pub cancelled_at: Option<String>,
    /// The rating at inception.
    pub inception: Option<Inception>,
    /// The premium written: the annual premium at binding, plus each endorsement's change,
    /// less any return premium on cancellation.
    pub written_premium: f64,
    /// A cancellation's effective date (cover ends the day before).
    pub cancelled_on: Option<NaiveDate>,
    pub cancel_reason: Option<String>,
    pub return_premium: Option<f64>,
}

impl Policy {
    pub fn phase(&self, today: NaiveDate) -> PolicyPhase {
        if self.cancelled_on.is_some_and(|d| today >= d) {
            PolicyPhase::Cancelled
        } else if today < self.starts_on {
            PolicyPhase::Bound
        } else if today <= self.ends_on {
            PolicyPhase::Active
        } else {
            PolicyPhase::Expired
        }
    }
}

/// The largest amount a policy or claim may carry (10¹³ in its currency): beyond any cyber
/// limit written — the largest towers are around USD 1 billion (Marsh, Global Cyber Insurance
/// Market Report, 2024) — and far inside what `f64` sums exactly enough for a loss run.
pub const MAX_AMOUNT: f64 = 1e13;

/// The longest policy period accepted: five years (multi-year cyber policies run three).
pub const MAX_TERM_DAYS: i64 = 5 * 366;

/// Dates a policy may carry: four-digit years, so that stored dates sort as text.
fn check_date(field: &str, d: NaiveDate) -> Result<()> {
    use chrono::Datelike;
    if (1970..=9999).contains(&d.year()) {
        Ok(())
    } else {
        Err(invalid(format!("{field}: {d} is outside 1970 to 9999")))
    }
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

const COLUMNS: &str = "id, org_id, insurer_key_id, quote_id, starts_on, ends_on, currency, \
                       deductible, limit_amount, premium, created_at, cancelled_at, inception_rating_id, \
                       inception_score, inception_grade, written_premium, cancelled_on, cancel_reason, \
                       return_premium";

/// One policy read on `conn`, with `lock` appended to the select (the backend's row lock
/// inside a write transaction). `NotFound` when there is none.
pub(crate) async fn policy_on(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    lock: &str,
) -> Result<Policy> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM policies WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(policy_from_row)
    .transpose()?
    .ok_or_else(|| StoreError::NotFound {
        what: "policy",
        id: id.to_owned(),
    })
}

fn policy_from_row(r: &sqlx::any::AnyRow) -> Result<Policy> {
    let date = |col: &str| -> Result<NaiveDate> {
        let s: String = r.try_get(col)?;
        s.parse()
            .map_err(|e| StoreError::Corrupt(format!("policy {col} {s:?}: {e}")))
    };
    Ok(Policy {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        insurer_key_id: r.try_get("insurer_key_id")?,
        quote_id: r.try_get("quote_id")?,
        starts_on: date("starts_on")?,
        ends_on: date("ends_on")?,
        currency: r.try_get("currency")?,
        deductible: r.try_get("deductible")?,
        limit: r.try_get("limit_amount")?,
        premium: r.try_get("premium")?,
        created_at: r.try_get("created_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
        inception: match r.try_get::<Option<String>, _>("inception_rating_id")? {
            Some(rating_id) => Some(Inception {
                rating_id,
                score: r.try_get("inception_score")?,
                grade: r.try_get("inception_grade")?,
            }),
            None => None,
        },
        written_premium: r
            .try_get::<Option<f64>, _>("written_premium")?
            .unwrap_or(r.try_get("premium")?),
        cancelled_on: r
            .try_get::<Option<String>, _>("cancelled_on")?
            .map(|s| {
                s.parse()
                    .map_err(|e| StoreError::Corrupt(format!("policy cancelled_on {s:?}: {e}")))
            })
            .transpose()?,
        cancel_reason: r.try_get("cancel_reason")?,
        return_premium: r.try_get("return_premium")?,
    })
}

impl Store {
    /// Binds a policy and links the insurer to the organisation, in one transaction.
    pub async fn create_policy(&self, p: &NewPolicy, actor: Option<&str>) -> Result<Policy> {
        check_date("starts_on", p.starts_on)?;
        check_date("ends_on", p.ends_on)?;
        if p.ends_on <= p.starts_on {
            return Err(invalid(format!(
                "ends_on: {} must be after starts_on {}",
                p.ends_on, p.starts_on
            )));
        }
        if (p.ends_on - p.starts_on).num_days() >= MAX_TERM_DAYS {
            return Err(invalid(format!(
                "ends_on: a policy period of at most five years, got {} to {}",
                p.starts_on, p.ends_on
            )));
        }
        for (field, v) in [
            ("deductible", p.deductible),
            ("limit", p.limit),
            ("premium", p.premium),
        ] {
            if !(v.is_finite() && (0.0..=MAX_AMOUNT).contains(&v)) {
                return Err(invalid(format!(
                    "{field}: must be an amount from 0 to {MAX_AMOUNT:e}, got {v}"
                )));
            }
        }
        if p.limit <= 0.0 {
            return Err(invalid("limit: must be more than 0"));
        }
        if p.premium <= 0.0 {
            return Err(invalid("premium: must be more than 0"));
        }
        if p.deductible > p.limit {
            return Err(invalid(format!(
                "deductible: {} is more than the limit {}",
                p.deductible, p.limit
            )));
        }
        if p.currency.len() != 3 || !p.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(format!(
                "currency: an ISO 4217 code of three capital letters, got {:?}",
                p.currency
            )));
        }
        self.organization(&p.org_id).await?;
        let mut tx = self.begin_write().await?;
        let role = active_key_role(&mut tx, &p.insurer_key_id).await?;
        if role.as_deref() != Some(Role::Insurer.as_str()) {
            return Err(invalid(format!(
                "insurer_key_id: {:?} is not an active insurer key",
                p.insurer_key_id
            )));
        }
        if let Some(q) = &p.quote_id {
            let found = sqlx::query("SELECT 1 AS one FROM quotes WHERE id = $1 AND org_id = $2")
                .bind(q)
                .bind(&p.org_id)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(invalid(format!(
                    "quote_id: {q:?} is not a quote of this organisation"
                )));
            }
        }
        let policy = Policy {
            id: new_id(),
            org_id: p.org_id.clone(),
            insurer_key_id: p.insurer_key_id.clone(),
            quote_id: p.quote_id.clone(),
            starts_on: p.starts_on,
            ends_on: p.ends_on,
            currency: p.currency.clone(),
            deductible: p.deductible,
            limit: p.limit,
            premium: p.premium,
            created_at: now(),
            cancelled_at: None,
            inception: p.inception.clone(),
            // The premium is annual: the period writes annual × days ÷ 365.
            written_premium: p.premium * (((p.ends_on - p.starts_on).num_days() + 1) as f64)
                / 365.0,
            cancelled_on: None,
            cancel_reason: None,
            return_premium: None,
        };
        sqlx::query(&format!(
            "INSERT INTO policies ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, NULL, NULL, NULL)"
        ))
        .bind(&policy.id)
        .bind(&policy.org_id)
        .bind(&policy.insurer_key_id)
        .bind(&policy.quote_id)
        .bind(policy.starts_on.to_string())
        .bind(policy.ends_on.to_string())
        .bind(&policy.currency)
        .bind(policy.deductible)
        .bind(policy.limit)
        .bind(policy.premium)
        .bind(&policy.created_at)
        .bind(None::<String>)
        .bind(policy.inception.as_ref().map(|i| i.rating_id.clone()))
        .bind(policy.inception.as_ref().map(|i| i.score))
        .bind(policy.inception.as_ref().map(|i| i.grade.clone()))
        .bind(policy.written_premium)
        .execute(&mut *tx)
        .await?;
        crate::keys::link_in(&mut tx, &policy.insurer_key_id, &policy.org_id, "policy").await?;
        audit(
            &mut tx,
            actor,
            "policy.create",
            Some(&policy.org_id),
            &serde_json::json!({ "policy": policy.id, "insurer_key": policy.insurer_key_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(policy)
    }

    /// An organisation's policies, oldest start first.
    pub async fn policies(&self, org_id: &str) -> Result<Vec<Policy>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM policies WHERE org_id = $1 ORDER BY starts_on, created_at"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(policy_from_row)
        .collect()
    }

    /// One policy.
    pub async fn policy(&self, id: &str) -> Result<Policy> {
        let mut conn = self.pool.acquire().await?;
        policy_on(&mut conn, id, "").await
    }

    /// An insurer's policies (every policy when `None`), oldest start first.
    pub async fn policies_of(&self, insurer_key_id: Option<&str>) -> Result<Vec<Policy>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM policies WHERE ($1 IS NULL OR insurer_key_id = $1) \
             ORDER BY starts_on, created_at"
        ))
        .bind(insurer_key_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(policy_from_row)
        .collect()
    }

    /// Cancels a policy from `on` (cover ends the day before) with a return premium (the
    /// caller computes it): `Conflict` if already cancelled, `Invalid` if `on` is outside the
    /// period. Written premium falls by the return premium.
    pub async fn cancel_policy(
        &self,
        id: &str,
        on: NaiveDate,
        reason: &str,
        return_premium: f64,
        priced_on_written: f64,
        actor: &str,
    ) -> Result<Policy> {
        let mut tx = self.begin_write().await?;
        let p = policy_on(&mut tx, id, self.backend.row_lock()).await?;
        if p.cancelled_on.is_some() {
            return Err(StoreError::Conflict(format!(
                "policy {id} is already cancelled"
            )));
        }
        if (p.written_premium - priced_on_written).abs() > 1e-9 {
            return Err(StoreError::Conflict(format!(
                "policy {id} changed while the cancellation was priced: retry"
            )));
        }
        if on < p.starts_on || on > p.ends_on {
            return Err(invalid(format!(
                "effective_on: {on} is outside the policy period {} to {}",
                p.starts_on, p.ends_on
            )));
        }
        if !(return_premium.is_finite() && return_premium >= 0.0) {
            return Err(invalid(
                "return premium: must be a finite amount of at least 0",
            ));
        }
        let late: Option<String> = sqlx::query_scalar(
            "SELECT id FROM claims WHERE policy_id = $1 AND loss_on >= $2 ORDER BY loss_on LIMIT 1",
        )
        .bind(id)
        .bind(on.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(c) = late {
            return Err(StoreError::Conflict(format!(
                "claim {c} has a loss on or after {on}, inside the cover a cancellation from then would remove"
            )));
        }
        sqlx::query(
            "UPDATE policies SET cancelled_at = $2, cancelled_on = $3, cancel_reason = $4, \
             return_premium = $5, written_premium = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(now())
        .bind(on.to_string())
        .bind(reason)
        .bind(return_premium)
        .bind(p.written_premium - return_premium)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            Some(actor),
            "policy.cancel",
            Some(&p.org_id),
            &serde_json::json!({ "policy": id, "effective_on": on, "return_premium": return_premium }),
        )
        .await?;
        tx.commit().await?;
        self.policy(id).await
    }

    /// Records an endorsement and applies its terms to the policy; written premium changes
    /// by its premium change. `Conflict` if the policy is cancelled, `Invalid` if the date is
    /// outside the period or the terms are not a layer.
    pub async fn endorse_policy(
        &self,
        id: &str,
        e: &NewEndorsement,
        actor: &str,
    ) -> Result<Endorsement> {
        let mut tx = self.begin_write().await?;
        let p = policy_on(&mut tx, id, self.backend.row_lock()).await?;
        if p.cancelled_on.is_some() {
            return Err(StoreError::Conflict(format!(
                "policy {id} is cancelled: it cannot be endorsed"
            )));
        }
        if (p.premium, p.limit, p.deductible) != e.priced_on {
            return Err(StoreError::Conflict(format!(
                "policy {id} changed while the endorsement was priced: retry"
            )));
        }
        if e.effective_on < p.starts_on || e.effective_on > p.ends_on {
            return Err(invalid(format!(
                "effective_on: {} is outside the policy period {} to {}",
                e.effective_on, p.starts_on, p.ends_on
            )));
        }
        if !(e.limit.is_finite()
            && e.limit > 0.0
            && e.limit <= MAX_AMOUNT
            && e.deductible.is_finite()
            && e.deductible >= 0.0)
            || e.deductible > e.limit
        {
            return Err(invalid(format!(
                "limit, deductible: 0 ≤ deductible ≤ limit ≤ {MAX_AMOUNT:e}, limit > 0"
            )));
        }
        let last: Option<String> =
            sqlx::query_scalar("SELECT MAX(effective_on) FROM endorsements WHERE policy_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if let Some(last) = last
            && e.effective_on.to_string() < last
        {
            return Err(invalid(format!(
                "effective_on: {} is before the last endorsement's ({last}): endorsements take effect in order",
                e.effective_on
            )));
        }
        if !(e.annual_premium.is_finite() && e.premium_change.is_finite()) {
            return Err(invalid("premium: must be finite"));
        }
        let out = Endorsement {
            id: new_id(),
            policy_id: id.to_owned(),
            effective_on: e.effective_on,
            previous_deductible: p.deductible,
            previous_limit: p.limit,
            previous_premium: p.premium,
            deductible: e.deductible,
            limit: e.limit,
            annual_premium: e.annual_premium,
            premium_change: e.premium_change,
            reason: e.reason.clone(),
            created_at: now(),
            created_by: Some(actor.to_owned()),
        };
        sqlx::query(
            "INSERT INTO endorsements (id, policy_id, effective_on, previous_deductible, previous_limit, \
             previous_premium, deductible, limit_amount, annual_premium, premium_change, reason, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&out.id)
        .bind(id)
        .bind(out.effective_on.to_string())
        .bind(out.previous_deductible)
        .bind(out.previous_limit)
        .bind(out.previous_premium)
        .bind(out.deductible)
        .bind(out.limit)
        .bind(out.annual_premium)
        .bind(out.premium_change)
        .bind(&out.reason)
        .bind(&out.created_at)
        .bind(&out.created_by)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE policies SET deductible = $2, limit_amount = $3, premium = $4, written_premium = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(out.deductible)
        .bind(out.limit)
        .bind(out.annual_premium)
        .bind(p.written_premium + out.premium_change)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            Some(actor),
            "policy.endorse",
            Some(&p.org_id),
            &serde_json::json!({ "policy": id, "endorsement": out.id, "premium_change": out.premium_change }),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A policy's endorsements, oldest first.
    pub async fn endorsements(&self, policy_id: &str) -> Result<Vec<Endorsement>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDORSEMENT_COLUMNS} FROM endorsements WHERE policy_id = $1 ORDER BY created_at, id"
        ))
        .bind(policy_id)
        .fetch_all(&self.pool)
        .await?;
        endorsement_rows(&rows)
    }

    /// Every endorsement of `insurer_key_id`'s policies (`None`: of every policy), by policy,
    /// then as made — one query for a whole book's loss run.
    pub async fn endorsements_of(&self, insurer_key_id: Option<&str>) -> Result<Vec<Endorsement>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDORSEMENT_COLUMNS} FROM endorsements e WHERE $1 IS NULL OR EXISTS \
             (SELECT 1 FROM policies p WHERE p.id = e.policy_id AND p.insurer_key_id = $1) \
             ORDER BY policy_id, created_at, id"
        ))
        .bind(insurer_key_id)
        .fetch_all(&self.pool)
        .await?;
        endorsement_rows(&rows)
    }
}

const ENDORSEMENT_COLUMNS: &str = "id, policy_id, effective_on, previous_deductible, \
    previous_limit, previous_premium, deductible, limit_amount, annual_premium, premium_change, \
    reason, created_at, created_by";

fn endorsement_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Endorsement>> {
    rows.iter()
        .map(|r| {
            let d: String = r.try_get("effective_on")?;
            Ok(Endorsement {
                id: r.try_get("id")?,
                policy_id: r.try_get("policy_id")?,
                effective_on: d
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("endorsement date {d:?}: {e}")))?,
                previous_deductible: r.try_get("previous_deductible")?,
                previous_limit: r.try_get("previous_limit")?,
                previous_premium: r.try_get("previous_premium")?,
                deductible: r.try_get("deductible")?,
                limit: r.try_get("limit_amount")?,
                annual_premium: r.try_get("annual_premium")?,
                premium_change: r.try_get("premium_change")?,
                reason: r.try_get("reason")?,
                created_at: r.try_get("created_at")?,
                created_by: r.try_get("created_by")?,
            })
        })
        .collect()
}
