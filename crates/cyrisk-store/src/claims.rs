//! Claims on policies: the date of loss and of notice, the peril, the status, and every case
//! reserve change and payment with its date. Totals follow the usual loss-run convention: a
//! reserve movement sets the outstanding case reserve; a payment adds to paid and erodes the
//! outstanding reserve by as much; incurred = paid + outstanding. Closing or denying a claim
//! releases its outstanding reserve (a reserve movement to 0 on that date).

use chrono::NaiveDate;
use cyrisk_core::peril::Peril;
use serde::Serialize;
use sqlx::Row;

use crate::keys::audit;
use crate::{Result, Store, StoreError, new_id, now};

/// Where a claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Open,
    Closed,
    Denied,
}

impl ClaimStatus {
    pub const ALL: [Self; 3] = [Self::Open, Self::Closed, Self::Denied];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A reserve change or a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// Sets the outstanding case reserve to the amount.
    Reserve,
    /// A payment: adds to paid, erodes the outstanding reserve.
    Payment,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Payment => "payment",
        }
    }
}

/// A claim to file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClaim {
    pub policy_id: String,
    /// The date of loss (within the policy period: occurrence cover).
    pub loss_on: NaiveDate,
    /// The date the insurer was notified (on or after the loss).
    pub notified_on: NaiveDate,
    pub peril: Peril,
    pub description: String,
}

/// One reserve change or payment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimMovement {
    pub id: String,
    pub kind: MovementKind,
    /// In the policy's currency.
    pub amount: f64,
    pub on: NaiveDate,
    pub note: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

/// A claim with its movements and totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InsuranceClaim {
    pub id: String,
    pub policy_id: String,
    pub org_id: String,
    pub insurer_key_id: String,
    pub loss_on: NaiveDate,
    pub notified_on: NaiveDate,
    pub peril: Peril,
    pub description: String,
    pub status: ClaimStatus,
    pub created_at: String,
    pub created_by: String,
    pub closed_on: Option<NaiveDate>,
    /// Paid to date.
    pub paid: f64,
    /// The outstanding case reserve.
    pub outstanding: f64,
    /// Paid + outstanding.
    pub incurred: f64,
    pub movements: Vec<ClaimMovement>,
}

/// Paid and outstanding from movements in date order (ties: as recorded).
pub fn fold(movements: &[ClaimMovement]) -> (f64, f64) {
    let (mut paid, mut outstanding) = (0.0, 0.0_f64);
    for m in movements {
        match m.kind {
            MovementKind::Reserve => outstanding = m.amount,
            MovementKind::Payment => {
                paid += m.amount;
                outstanding = (outstanding - m.amount).max(0.0);
            }
        }
    }
    (paid, outstanding)
}

const COLUMNS: &str = "id, policy_id, org_id, insurer_key_id, loss_on, notified_on, peril, description, \
                       status, created_at, created_by, closed_on";

fn date(r: &sqlx::any::AnyRow, col: &str) -> Result<NaiveDate> {
    let s: String = r.try_get(col)?;
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("claim {col} {s:?}: {e}")))
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

async fn movements_on(
    conn: &mut sqlx::AnyConnection,
    claim_id: &str,
) -> Result<Vec<ClaimMovement>> {
    let rows = sqlx::query(
        "SELECT id, kind, amount, on_date, note, created_at, created_by FROM claim_movements \
         WHERE claim_id = $1 ORDER BY on_date, created_at, id",
    )
    .bind(claim_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(ClaimMovement {
                id: r.try_get("id")?,
                kind: match kind.as_str() {
                    "reserve" => MovementKind::Reserve,
                    "payment" => MovementKind::Payment,
                    other => {
                        return Err(StoreError::Corrupt(format!("movement kind {other:?}")));
                    }
                },
                amount: r.try_get("amount")?,
                on: date(r, "on_date")?,
                note: r.try_get("note")?,
                created_at: r.try_get("created_at")?,
                created_by: r.try_get("created_by")?,
            })
        })
        .collect()
}

/// One claim with its movements, read on `conn` (with `lock`, the backend's row lock, inside
/// a write transaction).
async fn claim_on(conn: &mut sqlx::AnyConnection, id: &str, lock: &str) -> Result<InsuranceClaim> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM claims WHERE id = $1{lock}"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "claim",
            id: id.to_owned(),
        })?;
    let movements = movements_on(conn, id).await?;
    claim_with(&r, movements)
}

fn claim_with(r: &sqlx::any::AnyRow, movements: Vec<ClaimMovement>) -> Result<InsuranceClaim> {
    let id: String = r.try_get("id")?;
    let status: String = r.try_get("status")?;
    let peril: String = r.try_get("peril")?;
    let (paid, outstanding) = fold(&movements);
    Ok(InsuranceClaim {
        policy_id: r.try_get("policy_id")?,
        org_id: r.try_get("org_id")?,
        insurer_key_id: r.try_get("insurer_key_id")?,
        loss_on: date(r, "loss_on")?,
        notified_on: date(r, "notified_on")?,
        peril: serde_json::from_value(serde_json::Value::String(peril.clone()))
            .map_err(|_| StoreError::Corrupt(format!("claim peril {peril:?}")))?,
        description: r.try_get("description")?,
        status: ClaimStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("claim status {status:?}")))?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        closed_on: r
            .try_get::<Option<String>, _>("closed_on")?
            .map(|s| {
                s.parse()
                    .map_err(|e| StoreError::Corrupt(format!("claim closed_on {s:?}: {e}")))
            })
            .transpose()?,
        paid,
        outstanding,
        incurred: paid + outstanding,
        movements,
        id,
    })
}

impl Store {
    async fn claim_from_row(&self, r: &sqlx::any::AnyRow) -> Result<InsuranceClaim> {
        let id: String = r.try_get("id")?;
        let mut conn = self.pool.acquire().await?;
        let movements = movements_on(&mut conn, &id).await?;
        claim_with(r, movements)
    }

    /// Files a claim on a policy: the loss within the period of cover (before a
    /// cancellation's effective date), notice on or after the loss. `NotFound` for no such
    /// policy, `Invalid` naming the date otherwise.
    pub async fn create_claim(&self, c: &NewClaim, actor: &str) -> Result<InsuranceClaim> {
        // The policy is read under its row lock, as a cancellation reads it: a claim cannot
        // land on cover a concurrent cancellation is removing.
        let mut tx = self.begin_write().await?;
        let p = crate::policies::policy_on(&mut tx, &c.policy_id, self.backend.row_lock()).await?;
        let last = match p.cancelled_on {
            Some(d) => d.pred_opt().unwrap_or(d),
            None => p.ends_on,
        };
        if c.loss_on < p.starts_on || c.loss_on > last {
            return Err(invalid(format!(
                "loss_on: {} is outside the period of cover {} to {last}",
                c.loss_on, p.starts_on
            )));
        }
        if c.notified_on < c.loss_on {
            return Err(invalid(format!(
                "notified_on: {} is before the loss on {}",
                c.notified_on, c.loss_on
            )));
        }
        let id = new_id();
        let at = now();
        let peril = serde_json::to_value(c.peril)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        sqlx::query(&format!(
            "INSERT INTO claims ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, NULL)"
        ))
        .bind(&id)
        .bind(&p.id)
        .bind(&p.org_id)
        .bind(&p.insurer_key_id)
        .bind(c.loss_on.to_string())
        .bind(c.notified_on.to_string())
        .bind(&peril)
        .bind(&c.description)
        .bind(&at)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            Some(actor),
            "claim.create",
            Some(&p.org_id),
            &serde_json::json!({ "claim": id, "policy": p.id }),
        )
        .await?;
        tx.commit().await?;
        self.claim(&id).await
    }

    /// One claim with its movements and totals.
    pub async fn claim(&self, id: &str) -> Result<InsuranceClaim> {
        let mut conn = self.pool.acquire().await?;
        claim_on(&mut conn, id, "").await
    }

    /// Claims by policy, insurer or organisation (each filter optional), by date of loss.
    pub async fn claims(
        &self,
        policy_id: Option<&str>,
        insurer_key_id: Option<&str>,
        org_id: Option<&str>,
    ) -> Result<Vec<InsuranceClaim>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM claims WHERE ($1 IS NULL OR policy_id = $1) \
             AND ($2 IS NULL OR insurer_key_id = $2) AND ($3 IS NULL OR org_id = $3) \
             ORDER BY loss_on, created_at, id"
        ))
        .bind(policy_id)
        .bind(insurer_key_id)
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.claim_from_row(r).await?);
        }
        Ok(out)
    }

    /// Records a reserve change or a payment on an open claim, dated on or after the loss:
    /// `Conflict` if the claim is closed or denied, `Invalid` for a negative (or, for a
    /// payment, zero) amount or a date before the loss.
    pub async fn add_claim_movement(
        &self,
        claim_id: &str,
        kind: MovementKind,
        amount: f64,
        on: NaiveDate,
        note: Option<&str>,
        actor: &str,
    ) -> Result<InsuranceClaim> {
        let mut tx = self.begin_write().await?;
        let lock = self.backend.row_lock();
        let c = claim_on(&mut tx, claim_id, lock).await?;
        if c.status != ClaimStatus::Open {
            return Err(StoreError::Conflict(format!(
                "claim {claim_id} is {}: reopen it first",
                c.status.as_str()
            )));
        }
        let ok = amount.is_finite()
            && match kind {
                MovementKind::Reserve => amount >= 0.0,
                MovementKind::Payment => amount > 0.0,
            };
        if !ok {
            return Err(invalid(format!(
                "amount: a reserve is a finite amount of at least 0, a payment more than 0; got {amount}"
            )));
        }
        if on < c.loss_on {
            return Err(invalid(format!(
                "on: {on} is before the loss on {}",
                c.loss_on
            )));
        }
        if let Some(last) = c.movements.last()
            && on < last.on
        {
            return Err(invalid(format!(
                "on: {on} is before the claim's last movement ({}): movements are recorded in date order",
                last.on
            )));
        }
        // The insurer pays at most the policy's limit on one claim (per occurrence): a reserve
        // or a payment beyond what the limit leaves is a mistake.
        let policy = crate::policies::policy_on(&mut tx, &c.policy_id, "").await?;
        let room = (policy.limit - c.paid).max(0.0);
        if amount > room {
            return Err(invalid(format!(
                "amount: {amount} is more than the {room} {} the limit leaves on this claim ({} paid of {})",
                policy.currency, c.paid, policy.limit
            )));
        }
        sqlx::query(
            "INSERT INTO claim_movements (id, claim_id, kind, amount, on_date, note, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(claim_id)
        .bind(kind.as_str())
        .bind(amount)
        .bind(on.to_string())
        .bind(note)
        .bind(now())
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            Some(actor),
            "claim.movement",
            Some(&c.org_id),
            &serde_json::json!({ "claim": claim_id, "kind": kind.as_str(), "amount": amount }),
        )
        .await?;
        tx.commit().await?;
        self.claim(claim_id).await
    }

    /// Closes or denies an open claim on `on` (releasing its outstanding reserve), or
    /// reopens a closed or denied one. `Conflict` when it already has that status.
    pub async fn set_claim_status(
        &self,
        claim_id: &str,
        to: ClaimStatus,
        on: NaiveDate,
        actor: &str,
    ) -> Result<InsuranceClaim> {
        let mut tx = self.begin_write().await?;
        let c = claim_on(&mut tx, claim_id, self.backend.row_lock()).await?;
        if c.status == to {
            return Err(StoreError::Conflict(format!(
                "claim {claim_id} is already {}",
                to.as_str()
            )));
        }
        if on < c.loss_on {
            return Err(invalid(format!(
                "on: {on} is before the loss on {}",
                c.loss_on
            )));
        }
        if let Some(last) = c.movements.last()
            && on < last.on
        {
            return Err(invalid(format!(
                "on: {on} is before the claim's last movement ({})",
                last.on
            )));
        }
        let closed_on = (to != ClaimStatus::Open).then(|| on.to_string());
        sqlx::query("UPDATE claims SET status = $2, closed_on = $3 WHERE id = $1")
            .bind(claim_id)
            .bind(to.as_str())
            .bind(&closed_on)
            .execute(&mut *tx)
            .await?;
        if to != ClaimStatus::Open && c.outstanding > 0.0 {
            sqlx::query(
                "INSERT INTO claim_movements (id, claim_id, kind, amount, on_date, note, created_at, created_by) \
                 VALUES ($1, $2, 'reserve', 0, $3, $4, $5, $6)",
            )
            .bind(new_id())
            .bind(claim_id)
            .bind(on.to_string())
            .bind(format!("reserve released: claim {}", to.as_str()))
            .bind(now())
            .bind(actor)
            .execute(&mut *tx)
            .await?;
        }
        audit(
            &mut tx,
            Some(actor),
            "claim.status",
            Some(&c.org_id),
            &serde_json::json!({ "claim": claim_id, "status": to.as_str() }),
        )
        .await?;
        tx.commit().await?;
        self.claim(claim_id).await
    }
}
