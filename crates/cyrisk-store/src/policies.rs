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
}

/// Where a policy is in its life, as of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyPhase {
    /// Bound, not yet started.
    Pending,
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
    pub premium: f64,
    pub created_at: String,
    pub cancelled_at: Option<String>,
}

impl Policy {
    pub fn phase(&self, today: NaiveDate) -> PolicyPhase {
        if self.cancelled_at.is_some() {
            PolicyPhase::Cancelled
        } else if today < self.starts_on {
            PolicyPhase::Pending
        } else if today <= self.ends_on {
            PolicyPhase::Active
        } else {
            PolicyPhase::Expired
        }
    }
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

const COLUMNS: &str = "id, org_id, insurer_key_id, quote_id, starts_on, ends_on, currency, \
                       deductible, limit_amount, premium, created_at, cancelled_at";

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
    })
}

impl Store {
    /// Binds a policy and links the insurer to the organisation, in one transaction.
    pub async fn create_policy(&self, p: &NewPolicy, actor: Option<&str>) -> Result<Policy> {
        if p.ends_on <= p.starts_on {
            return Err(invalid(format!(
                "ends_on: {} must be after starts_on {}",
                p.ends_on, p.starts_on
            )));
        }
        for (field, v) in [
            ("deductible", p.deductible),
            ("limit", p.limit),
            ("premium", p.premium),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(format!(
                    "{field}: must be a finite amount of at least 0, got {v}"
                )));
            }
        }
        if p.limit <= 0.0 {
            return Err(invalid("limit: must be more than 0"));
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
        };
        sqlx::query(&format!(
            "INSERT INTO policies ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
}
