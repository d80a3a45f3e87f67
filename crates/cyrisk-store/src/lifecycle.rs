//! A finding's lifecycle changed by hand: state changes by role (the table in
//! [`crate::integrity`]) and the rated party's disputes — filed with a reason and evidence,
//! without effect on the rating until someone other than the rated party accepts them. A
//! rejected dispute is kept. Every change writes a history entry naming the key, its role, the
//! reason and the evidence, and an audit record.

use serde::Serialize;
use sqlx::Row;

use cyrisk_core::finding::FindingState;

use crate::integrity::{Ruling, is_attestation, ruling};
use crate::orgs::{HISTORY_COLUMNS, Value, state_of, write_rows};
use crate::{Principal, Result, Store, StoreError, new_id, now};

/// Where a dispute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    Pending,
    Accepted,
    Rejected,
}

impl DisputeStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Accepted, Self::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// The rated party's claim that a finding is a false positive, an accepted risk or shielded
/// by a compensating control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dispute {
    pub id: String,
    pub org_id: String,
    pub finding_id: String,
    /// `false_positive`, `risk_accepted` or `unfixed_mitigated`.
    pub proposed_state: FindingState,
    pub reason: String,
    pub evidence: Option<String>,
    /// The key that filed it.
    pub filed_by: String,
    pub filed_at: String,
    pub status: DisputeStatus,
    pub decided_by: Option<String>,
    pub decided_role: Option<String>,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
}

/// What asking for a state change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateOutcome {
    /// The finding is now in the state asked for (or already was).
    Changed,
    /// The rated party's proposal, stored as a pending dispute; the finding is unchanged.
    Disputed(Box<Dispute>),
}

const DISPUTE_COLUMNS: &str = "id, org_id, finding_id, proposed_state, reason, evidence, filed_by, \
     filed_at, status, decided_by, decided_role, decided_at, decision_note, finding_state, finding_hash";

/// What a dispute is decided on: the finding's state and a hash of its stored data.
async fn finding_snapshot(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    org_id: &str,
    finding_id: &str,
) -> Result<(String, String)> {
    let r =
        sqlx::query("SELECT state, counts_as, data FROM findings WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(finding_id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "finding",
                id: finding_id.to_owned(),
            })?;
    let state: String = r.try_get("state")?;
    let counted: Option<String> = r.try_get("counts_as")?;
    let data: String = r.try_get("data")?;
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((format!("{state}/{}", counted.unwrap_or_default()), hash))
}

fn dispute_of(r: &sqlx::any::AnyRow) -> Result<Dispute> {
    let status: String = r.try_get("status")?;
    Ok(Dispute {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        finding_id: r.try_get("finding_id")?,
        proposed_state: state_of(&r.try_get::<String, _>("proposed_state")?)?,
        reason: r.try_get("reason")?,
        evidence: r.try_get("evidence")?,
        filed_by: r.try_get("filed_by")?,
        filed_at: r.try_get("filed_at")?,
        status: DisputeStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("dispute status {status:?}")))?,
        decided_by: r.try_get("decided_by")?,
        decided_role: r.try_get("decided_role")?,
        decided_at: r.try_get("decided_at")?,
        decision_note: r.try_get("decision_note")?,
    })
}

/// A reason or evidence text: trimmed, `None` when blank.
fn text(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Moves a finding to `to` (counted as `counts_as`), with a history entry, and bumps the
/// organisation's inputs version.
#[allow(clippy::too_many_arguments)]
async fn set_state(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: crate::Backend,
    org_id: &str,
    finding_id: &str,
    to: FindingState,
    counts_as: Option<FindingState>,
    actor: &Principal,
    reason: Option<String>,
    evidence: Option<String>,
) -> Result<()> {
    let at = now();
    // The fix date follows the lifecycle: a fix a third party records (pending or closed) is
    // dated today unless it already has a date, a reopened finding has none, and a fix the
    // rated party only declared gets none from it. A rating for a past date then reads the
    // finding as it was.
    let data: String = sqlx::query("SELECT data FROM findings WHERE org_id = $1 AND id = $2")
        .bind(org_id)
        .bind(finding_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("data")?;
    let mut f: cyrisk_core::finding::Finding = crate::orgs::parse("finding", &data)?;
    let today = chrono::Utc::now().date_naive();
    let fixed_at = match to {
        FindingState::FixedPendingVerification | FindingState::Closed if counts_as.is_none() => {
            Some(f.fixed_at.unwrap_or(today.max(f.first_seen)))
        }
        s if s.is_unresolved() => None,
        _ => f.fixed_at,
    };
    let data = if fixed_at == f.fixed_at {
        data
    } else {
        f.fixed_at = fixed_at;
        crate::orgs::json(&f)?
    };
    sqlx::query(
        "UPDATE findings SET state = $3, counts_as = $4, updated_at = $5, data = $6 WHERE org_id = $1 AND id = $2",
    )
    .bind(org_id)
    .bind(finding_id)
    .bind(to.as_str())
    .bind(counts_as.map(FindingState::as_str))
    .bind(&at)
    .bind(data)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE organizations SET inputs_version = inputs_version + 1, updated_at = $2 WHERE id = $1",
    )
    .bind(org_id)
    .bind(&at)
    .execute(&mut **tx)
    .await?;
    crate::jobs::enqueue_on(
        tx,
        &crate::jobs::NewJob::rerate(org_id, "finding state changed"),
    )
    .await?;
    let text = |s: &str| Value::Text(s.to_owned());
    let row = vec![
        text(org_id),
        text(finding_id),
        text(to.as_str()),
        Value::OptText(counts_as.map(|s| s.as_str().to_owned())),
        text(&at),
        Value::OptText(Some(actor.key_id.clone())),
        Value::OptText(Some(actor.role.as_str().to_owned())),
        Value::OptText(reason),
        Value::OptText(evidence),
    ];
    write_rows(
        tx,
        backend,
        "finding_history",
        &HISTORY_COLUMNS,
        None,
        vec![row],
    )
    .await
}

impl Store {
    /// Asks to move a finding to `to` as `actor`, by the state × role table
    /// ([`crate::integrity::ruling`]):
    /// - a change the role may make applies, with a history entry (actor, role, reason,
    ///   evidence) and an audit record; a third party's attestation (`closed`,
    ///   `false_positive`, `risk_accepted`, `unfixed_mitigated`) needs a `reason`;
    /// - the rated party's `false_positive`, `risk_accepted` or `unfixed_mitigated` is filed as
    ///   a pending dispute (a `reason` is required; `Conflict` if one is already pending);
    /// - a change the role may never make is `Forbidden`.
    pub async fn change_finding_state(
        &self,
        org_id: &str,
        finding_id: &str,
        to: FindingState,
        reason: Option<&str>,
        evidence: Option<&str>,
        actor: &Principal,
    ) -> Result<StateOutcome> {
        let (reason, evidence) = (text(reason), text(evidence));
        let mut tx = self.begin_write().await?;
        self.lock_org(&mut tx, org_id).await?;
        let row =
            sqlx::query("SELECT state, counts_as FROM findings WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(finding_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "finding",
                    id: finding_id.to_owned(),
                })?;
        let state = state_of(&row.try_get::<String, _>("state")?)?;
        let counted: Option<String> = row.try_get("counts_as")?;
        let counted = counted.as_deref().map(state_of).transpose()?;
        match ruling(actor.role, Some((state, counted)), to) {
            Ruling::Refuse { code, reason } => Err(StoreError::Forbidden {
                code,
                message: reason.to_owned(),
            }),
            Ruling::Dispute => {
                let Some(reason) = reason else {
                    return Err(StoreError::Invalid(format!(
                        "reason: {} proposed by the rated party is a dispute, reviewed by an assessor, the insurer or an admin: say why (and give evidence)",
                        to.as_str()
                    )));
                };
                let pending = sqlx::query(
                    "SELECT id FROM disputes WHERE org_id = $1 AND finding_id = $2 AND status = 'pending'",
                )
                .bind(org_id)
                .bind(finding_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(p) = pending {
                    return Err(StoreError::Conflict(format!(
                        "finding {finding_id:?} already has a pending dispute ({}); wait for its decision",
                        p.try_get::<String, _>("id")?
                    )));
                }
                let (snapshot_state, snapshot_hash) =
                    finding_snapshot(&mut tx, org_id, finding_id).await?;
                let d = Dispute {
                    id: new_id(),
                    org_id: org_id.to_owned(),
                    finding_id: finding_id.to_owned(),
                    proposed_state: to,
                    reason,
                    evidence,
                    filed_by: actor.key_id.clone(),
                    filed_at: now(),
                    status: DisputeStatus::Pending,
                    decided_by: None,
                    decided_role: None,
                    decided_at: None,
                    decision_note: None,
                };
                sqlx::query(&format!(
                    "INSERT INTO disputes ({DISPUTE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                ))
                .bind(&d.id)
                .bind(&d.org_id)
                .bind(&d.finding_id)
                .bind(d.proposed_state.as_str())
                .bind(&d.reason)
                .bind(&d.evidence)
                .bind(&d.filed_by)
                .bind(&d.filed_at)
                .bind(d.status.as_str())
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(snapshot_state)
                .bind(snapshot_hash)
                .execute(&mut *tx)
                .await?;
                crate::keys::audit(
                    &mut tx,
                    Some(&actor.key_id),
                    "finding.dispute",
                    Some(org_id),
                    &serde_json::json!({ "finding": finding_id, "dispute": d.id, "proposed_state": to.as_str() }),
                )
                .await?;
                tx.commit().await?;
                Ok(StateOutcome::Disputed(Box::new(d)))
            }
            Ruling::Apply { counts_as } => {
                if (to, counts_as) == (state, counted) {
                    return Ok(StateOutcome::Changed);
                }
                if is_attestation(to) && reason.is_none() {
                    return Err(StoreError::Invalid(format!(
                        "reason: setting {} by hand attests it; say why (and give evidence)",
                        to.as_str()
                    )));
                }
                set_state(
                    &mut tx,
                    self.backend,
                    org_id,
                    finding_id,
                    to,
                    counts_as,
                    actor,
                    reason,
                    evidence,
                )
                .await?;
                crate::keys::audit(
                    &mut tx,
                    Some(&actor.key_id),
                    "finding.set_state",
                    Some(org_id),
                    &serde_json::json!({ "finding": finding_id, "state": to.as_str(),
                                         "counts_as": counts_as.map(FindingState::as_str) }),
                )
                .await?;
                tx.commit().await?;
                Ok(StateOutcome::Changed)
            }
        }
    }

    /// Accepts or rejects a pending dispute. The decider must not be the rated party nor the
    /// key that filed it (`Forbidden`); a dispute already decided is a `Conflict`. Accepting
    /// moves the finding to the proposed state (a history entry by the decider, with the
    /// dispute's reason and evidence); rejecting leaves the finding as it is. The dispute is
    /// kept either way.
    pub async fn decide_dispute(
        &self,
        org_id: &str,
        dispute_id: &str,
        accept: bool,
        note: Option<&str>,
        actor: &Principal,
    ) -> Result<Dispute> {
        if actor.role.is_rated_party() {
            return Err(StoreError::Forbidden {
                code: "forbidden",
                message: "the rated party does not decide its own disputes".into(),
            });
        }
        let note = text(note);
        let mut tx = self.begin_write().await?;
        self.lock_org(&mut tx, org_id).await?;
        let row = sqlx::query(&format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(dispute_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "dispute",
            id: dispute_id.to_owned(),
        })?;
        let mut d = dispute_of(&row)?;
        let filed_on: (Option<String>, Option<String>) =
            (row.try_get("finding_state")?, row.try_get("finding_hash")?);
        if d.status != DisputeStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "dispute {dispute_id:?} was already {}",
                d.status.as_str()
            )));
        }
        if d.filed_by == actor.key_id {
            return Err(StoreError::Forbidden {
                code: "own_dispute",
                message: "a dispute is decided by a key other than the one that filed it".into(),
            });
        }
        if accept {
            let now = finding_snapshot(&mut tx, org_id, &d.finding_id).await?;
            if filed_on != (Some(now.0), Some(now.1)) {
                return Err(StoreError::Conflict(format!(
                    "finding {:?} changed since dispute {dispute_id:?} was filed: it would be accepted on \
                     what it no longer is; reject it, and the rated party files again if it still holds",
                    d.finding_id
                )));
            }
        }
        d.status = if accept {
            DisputeStatus::Accepted
        } else {
            DisputeStatus::Rejected
        };
        d.decided_by = Some(actor.key_id.clone());
        d.decided_role = Some(actor.role.as_str().to_owned());
        d.decided_at = Some(now());
        d.decision_note = note;
        if accept {
            let reason = format!(
                "dispute {} accepted: {}{}",
                d.id,
                d.reason,
                d.decision_note
                    .as_deref()
                    .map(|n| format!(" (reviewer: {n})"))
                    .unwrap_or_default()
            );
            set_state(
                &mut tx,
                self.backend,
                org_id,
                &d.finding_id,
                d.proposed_state,
                None,
                actor,
                Some(reason),
                d.evidence.clone(),
            )
            .await?;
        }
        sqlx::query(
            "UPDATE disputes SET status = $2, decided_by = $3, decided_role = $4, decided_at = $5, \
             decision_note = $6 WHERE id = $1",
        )
        .bind(&d.id)
        .bind(d.status.as_str())
        .bind(&d.decided_by)
        .bind(&d.decided_role)
        .bind(&d.decided_at)
        .bind(&d.decision_note)
        .execute(&mut *tx)
        .await?;
        crate::keys::audit(
            &mut tx,
            Some(&actor.key_id),
            "finding.dispute_decided",
            Some(org_id),
            &serde_json::json!({ "dispute": d.id, "finding": d.finding_id, "status": d.status.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(d)
    }

    /// An organisation's disputes, newest first, optionally only those with `status`.
    pub async fn disputes(
        &self,
        org_id: &str,
        status: Option<DisputeStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Dispute>> {
        sqlx::query(&format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes WHERE org_id = $1 AND ($2 IS NULL OR status = $2) \
             ORDER BY filed_at DESC, id LIMIT $3 OFFSET $4"
        ))
        .bind(org_id)
        .bind(status.map(DisputeStatus::as_str))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(dispute_of)
        .collect()
    }

    /// The pending dispute of each of an organisation's findings that has one.
    pub async fn pending_disputes(
        &self,
        org_id: &str,
    ) -> Result<std::collections::HashMap<String, Dispute>> {
        Ok(self
            .disputes(org_id, Some(DisputeStatus::Pending), i64::MAX, 0)
            .await?
            .into_iter()
            .map(|d| (d.finding_id.clone(), d))
            .collect())
    }
}
