//! Remediation tickets: the insured's work on a finding, a failed control or an alert, with
//! an assignee, a due date (the rating model's remediation SLA, chosen by the caller), a
//! status history, comments and evidence. A ticket is **closed only when verified**: by a
//! re-scan that no longer sees the finding (its state moved to `closed` or `false_positive`,
//! which only a scan or a third party can do), by a verified control result that now passes,
//! or by an assessor's, insurer's or admin's attestation — never by the insured's say-so,
//! the same rule as the findings' lifecycle. Closing a ticket changes the organisation's
//! remediation record, an input of its rating: the inputs version moves and a re-rating is
//! queued in the same transaction.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;

use crate::jobs::{NewJob, WriteTx, enqueue_on};
use crate::keys::audit;
use crate::{Principal, Result, Role, Store, StoreError, new_id, now};

/// Where a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    InProgress,
    /// The insured says it is fixed: waiting for verification.
    Resolved,
    /// Verified (re-scan, passing control, or attestation).
    Closed,
}

impl TicketStatus {
    pub const ALL: [Self; 4] = [Self::Open, Self::InProgress, Self::Resolved, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InProgress => "in_progress",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What a ticket is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketSource {
    Finding,
    Control,
    Alert,
}

impl TicketSource {
    pub const ALL: [Self; 3] = [Self::Finding, Self::Control, Self::Alert];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finding => "finding",
            Self::Control => "control",
            Self::Alert => "alert",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A ticket to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub org_id: String,
    pub source: TicketSource,
    /// The finding id, the control id (`mfa`, `patch_cadence`, …) or the alert id.
    pub source_id: String,
    pub title: String,
    pub assignee: Option<String>,
    /// The working due date.
    pub due_on: NaiveDate,
    /// The due date by the rating model's SLA (what the remediation record measures).
    pub sla_due_on: NaiveDate,
    /// The insurer key that opened it, if one did (other insurers do not see it).
    pub insurer_key_id: Option<String>,
}

/// A stored ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    pub id: String,
    pub org_id: String,
    pub source: TicketSource,
    pub source_id: String,
    pub title: String,
    pub assignee: Option<String>,
    /// The working due date (the people working it may move it).
    pub due_on: NaiveDate,
    /// The due date by the rating model's SLA, fixed when opened: the remediation record
    /// measures against this, so moving `due_on` cannot improve it.
    pub sla_due_on: NaiveDate,
    pub status: TicketStatus,
    pub created_by: String,
    /// The insurer key that opened it, if one did: other insurers do not see it.
    pub insurer_key_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// When it first left `open`.
    pub acknowledged_at: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    /// `rescan` or `attestation`, once closed.
    pub verified_by: Option<String>,
    pub verification_note: Option<String>,
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketEvent {
    pub id: String,
    pub ticket_id: String,
    pub at: String,
    /// The key (or `rescan`) that made the change.
    pub actor: String,
    /// `created`, `status`, `comment`, `evidence`, `assigned`, `due` or `verified`.
    pub kind: String,
    pub from_status: Option<TicketStatus>,
    pub to_status: Option<TicketStatus>,
    pub body: Option<String>,
}

/// A change to a ticket by the people working it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketUpdate {
    /// `open`, `in_progress` or `resolved` (closing takes verification).
    pub status: Option<TicketStatus>,
    pub assignee: Option<String>,
    pub due_on: Option<NaiveDate>,
}

/// Tickets closed in a window, for the remediation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedTicket {
    pub created_at: String,
    pub acknowledged_at: Option<String>,
    pub closed_at: String,
    /// The SLA due date.
    pub sla_due_on: NaiveDate,
}

const COLUMNS: &str = "id, org_id, source_kind, source_id, title, assignee, due_on, sla_due_on, status, created_by, insurer_key_id, \
     created_at, updated_at, acknowledged_at, resolved_at, closed_at, verified_by, verification_note";

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Corrupt(format!("ticket {what} {v:?}"))
}

fn ticket_from_row(r: &sqlx::any::AnyRow) -> Result<Ticket> {
    let source: String = r.try_get("source_kind")?;
    let status: String = r.try_get("status")?;
    let due: String = r.try_get("due_on")?;
    let sla: String = r.try_get("sla_due_on")?;
    Ok(Ticket {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        source: TicketSource::parse(&source).ok_or_else(|| corrupt("source", &source))?,
        source_id: r.try_get("source_id")?,
        title: r.try_get("title")?,
        assignee: r.try_get("assignee")?,
        due_on: due.parse().map_err(|_| corrupt("due_on", &due))?,
        sla_due_on: sla.parse().map_err(|_| corrupt("sla_due_on", &sla))?,
        status: TicketStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        created_by: r.try_get("created_by")?,
        insurer_key_id: r.try_get("insurer_key_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        acknowledged_at: r.try_get("acknowledged_at")?,
        resolved_at: r.try_get("resolved_at")?,
        closed_at: r.try_get("closed_at")?,
        verified_by: r.try_get("verified_by")?,
        verification_note: r.try_get("verification_note")?,
    })
}

/// One ticket read on `conn`, with `lock` appended to the select (the backend's row lock
/// inside a write transaction). `NotFound` when there is none.
async fn ticket_on(conn: &mut sqlx::AnyConnection, id: &str, lock: &str) -> Result<Ticket> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tickets WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(ticket_from_row)
    .transpose()?
    .ok_or_else(|| StoreError::NotFound {
        what: "ticket",
        id: id.to_owned(),
    })
}

/// Writes a history entry.
#[allow(clippy::too_many_arguments)]
async fn event(
    conn: &mut sqlx::AnyConnection,
    ticket: &Ticket,
    at: &str,
    actor: &str,
    kind: &str,
    from: Option<TicketStatus>,
    to: Option<TicketStatus>,
    body: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_events (id, ticket_id, org_id, at, actor, kind, from_status, to_status, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(&ticket.id)
    .bind(&ticket.org_id)
    .bind(at)
    .bind(actor)
    .bind(kind)
    .bind(from.map(TicketStatus::as_str))
    .bind(to.map(TicketStatus::as_str))
    .bind(body)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Closes `tickets` as verified, moves the organisation's inputs version and queues its
/// re-rating (the remediation record changed).
async fn close_verified(
    conn: &mut sqlx::AnyConnection,
    tickets: &[Ticket],
    actor: &str,
    how: &str,
    note: Option<&str>,
) -> Result<()> {
    let at = now();
    for t in tickets {
        // Closed by someone else meanwhile (an attestation racing a re-scan): leave it.
        let n = sqlx::query(
            "UPDATE tickets SET status = 'closed', closed_at = $2, updated_at = $2, verified_by = $3, \
             verification_note = $4, acknowledged_at = COALESCE(acknowledged_at, $2) \
             WHERE id = $1 AND status <> 'closed'",
        )
        .bind(&t.id)
        .bind(&at)
        .bind(how)
        .bind(note)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n == 0 {
            continue;
        }
        event(
            conn,
            t,
            &at,
            actor,
            "verified",
            Some(t.status),
            Some(TicketStatus::Closed),
            note,
        )
        .await?;
    }
    let mut orgs: Vec<&str> = tickets.iter().map(|t| t.org_id.as_str()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    for org in orgs {
        sqlx::query(
            "UPDATE organizations SET inputs_version = inputs_version + 1, updated_at = $2 WHERE id = $1",
        )
        .bind(org)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
        enqueue_on(conn, &NewJob::rerate(org, "remediation verified")).await?;
    }
    Ok(())
}

impl WriteTx {
    /// Closes, as verified by a re-scan, the organisation's unclosed tickets on the findings
    /// in `retired` (now `closed` or `false_positive`) and on the controls in `passing`
    /// (control id, date of the verified passing result) when the pass is no older than the
    /// ticket. Returns the tickets closed.
    pub async fn close_tickets_verified_by_scan(
        &mut self,
        org_id: &str,
        retired: &[String],
        passing: &[(String, NaiveDate)],
    ) -> Result<Vec<Ticket>> {
        let open = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tickets WHERE org_id = $1 AND status <> 'closed' \
             AND source_kind IN ('finding', 'control')"
        ))
        .bind(org_id)
        .fetch_all(&mut *self.tx)
        .await?
        .iter()
        .map(ticket_from_row)
        .collect::<Result<Vec<_>>>()?;
        let done: Vec<Ticket> = open
            .into_iter()
            .filter(|t| match t.source {
                TicketSource::Finding => retired.contains(&t.source_id),
                TicketSource::Control => passing.iter().any(|(c, d)| {
                    *c == t.source_id && d.to_string().as_str() >= &t.created_at[..10]
                }),
                TicketSource::Alert => false,
            })
            .collect();
        if !done.is_empty() {
            close_verified(&mut self.tx, &done, "rescan", "rescan", None).await?;
        }
        Ok(done)
    }
}

impl Store {
    /// Opens a ticket; `Conflict` naming the open one when its source already has one.
    pub async fn create_ticket(&self, t: &NewTicket, actor: &str) -> Result<Ticket> {
        let at = now();
        let ticket = Ticket {
            id: new_id(),
            org_id: t.org_id.clone(),
            source: t.source,
            source_id: t.source_id.clone(),
            title: t.title.clone(),
            assignee: t.assignee.clone(),
            due_on: t.due_on,
            sla_due_on: t.sla_due_on,
            status: TicketStatus::Open,
            created_by: actor.to_owned(),
            insurer_key_id: t.insurer_key_id.clone(),
            created_at: at.clone(),
            updated_at: at.clone(),
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            verified_by: None,
            verification_note: None,
        };
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "INSERT INTO tickets (id, org_id, source_kind, source_id, title, assignee, due_on, sla_due_on, \
             status, created_by, insurer_key_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $10, 'open', $8, $11, $9, $9) \
             ON CONFLICT (org_id, source_kind, source_id) WHERE status <> 'closed' DO NOTHING",
        )
        .bind(&ticket.id)
        .bind(&ticket.org_id)
        .bind(ticket.source.as_str())
        .bind(&ticket.source_id)
        .bind(&ticket.title)
        .bind(&ticket.assignee)
        .bind(ticket.due_on.to_string())
        .bind(actor)
        .bind(&at)
        .bind(ticket.sla_due_on.to_string())
        .bind(&ticket.insurer_key_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "{} {} already has an unclosed ticket",
                t.source.as_str(),
                t.source_id
            )));
        }
        event(
            &mut tx,
            &ticket,
            &at,
            actor,
            "created",
            None,
            Some(TicketStatus::Open),
            Some(&ticket.title),
        )
        .await?;
        audit(
            &mut tx,
            Some(actor),
            "ticket.create",
            Some(&ticket.org_id),
            &serde_json::json!({ "ticket": ticket.id, "source": ticket.source, "source_id": ticket.source_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// One ticket.
    pub async fn ticket(&self, id: &str) -> Result<Ticket> {
        let mut conn = self.pool.acquire().await?;
        ticket_on(&mut conn, id, "").await
    }

    /// An organisation's tickets, newest first; with `insurer`, those an insurer key sees
    /// (opened by it, or not by any insurer).
    pub async fn tickets(
        &self,
        org_id: &str,
        status: Option<TicketStatus>,
        insurer: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Ticket>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tickets WHERE org_id = $1 AND ($2 IS NULL OR status = $2) \
             AND ($5 IS NULL OR insurer_key_id IS NULL OR insurer_key_id = $5) \
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(org_id)
        .bind(status.map(TicketStatus::as_str))
        .bind(limit)
        .bind(offset)
        .bind(insurer)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(ticket_from_row)
        .collect()
    }

    /// A ticket's history, oldest first.
    pub async fn ticket_events(&self, id: &str) -> Result<Vec<TicketEvent>> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, at, actor, kind, from_status, to_status, body FROM ticket_events \
             WHERE ticket_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let status = |c: &str| -> Result<Option<TicketStatus>> {
                    r.try_get::<Option<String>, _>(c)?
                        .map(|s| TicketStatus::parse(&s).ok_or_else(|| corrupt("status", &s)))
                        .transpose()
                };
                Ok(TicketEvent {
                    id: r.try_get("id")?,
                    ticket_id: r.try_get("ticket_id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    kind: r.try_get("kind")?,
                    from_status: status("from_status")?,
                    to_status: status("to_status")?,
                    body: r.try_get("body")?,
                })
            })
            .collect()
    }

    /// Changes a ticket's status, assignee or due date. The status moves `open ↔ in_progress
    /// → resolved`, and back from `resolved` when the fix did not hold; `closed` is refused
    /// (`Forbidden`, code `verification_required`): closing takes verification.
    pub async fn update_ticket(&self, id: &str, u: &TicketUpdate, actor: &str) -> Result<Ticket> {
        let mut tx = self.begin_write().await?;
        let t = ticket_on(&mut tx, id, self.backend.row_lock()).await?;
        if t.status == TicketStatus::Closed {
            return Err(StoreError::Conflict(format!("ticket {id} is closed")));
        }
        let at = now();
        if let Some(to) = u.status
            && to != t.status
        {
            if to == TicketStatus::Closed {
                return Err(StoreError::Forbidden {
                    code: "verification_required",
                    message: "a ticket is closed only when verified: by a re-scan that no longer \
                              sees the finding, a passing control result, or an assessor's or \
                              insurer's attestation (POST /tickets/{id}/verify)"
                        .into(),
                });
            }
            sqlx::query(
                "UPDATE tickets SET status = $2, updated_at = $3, \
                 acknowledged_at = COALESCE(acknowledged_at, $3), \
                 resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE NULL END WHERE id = $1",
            )
            .bind(id)
            .bind(to.as_str())
            .bind(&at)
            .execute(&mut *tx)
            .await?;
            event(
                &mut tx,
                &t,
                &at,
                actor,
                "status",
                Some(t.status),
                Some(to),
                None,
            )
            .await?;
        }
        if let Some(a) = &u.assignee {
            sqlx::query("UPDATE tickets SET assignee = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(a)
                .bind(&at)
                .execute(&mut *tx)
                .await?;
            event(&mut tx, &t, &at, actor, "assigned", None, None, Some(a)).await?;
        }
        if let Some(d) = u.due_on {
            sqlx::query("UPDATE tickets SET due_on = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(d.to_string())
                .bind(&at)
                .execute(&mut *tx)
                .await?;
            event(
                &mut tx,
                &t,
                &at,
                actor,
                "due",
                None,
                None,
                Some(&d.to_string()),
            )
            .await?;
        }
        tx.commit().await?;
        self.ticket(id).await
    }

    /// Adds a comment or a piece of evidence (`evidence` true) to a ticket.
    pub async fn comment_ticket(
        &self,
        id: &str,
        body: &str,
        evidence: bool,
        actor: &str,
    ) -> Result<TicketEvent> {
        let t = self.ticket(id).await?;
        let mut tx = self.begin_write().await?;
        let at = now();
        let kind = if evidence { "evidence" } else { "comment" };
        event(&mut tx, &t, &at, actor, kind, None, None, Some(body)).await?;
        sqlx::query("UPDATE tickets SET updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.ticket_events(id)
            .await?
            .into_iter()
            .rfind(|e| e.kind == kind && e.at == at)
            .ok_or_else(|| StoreError::Corrupt("a comment just written is missing".into()))
    }

    /// Closes a ticket on an attestation by `p` — an assessor, insurer or admin key, never
    /// the rated party's (`Forbidden`, code `recorded_by_third_party`); `Conflict` if closed.
    pub async fn verify_ticket(&self, id: &str, p: &Principal, note: &str) -> Result<Ticket> {
        if p.role == Role::Enterprise {
            return Err(StoreError::Forbidden {
                code: "recorded_by_third_party",
                message: "the rated party does not verify its own remediation: a re-scan, an \
                          assessor, the insurer or an admin does"
                    .into(),
            });
        }
        let mut tx = self.begin_write().await?;
        let t = ticket_on(&mut tx, id, self.backend.row_lock()).await?;
        if t.status == TicketStatus::Closed {
            return Err(StoreError::Conflict(format!(
                "ticket {id} is already closed"
            )));
        }
        close_verified(&mut tx, &[t], &p.key_id, "attestation", Some(note)).await?;
        tx.commit().await?;
        self.ticket(id).await
    }

    /// The organisation's tickets closed on or after `since`, for its remediation record —
    /// leaving out tickets on findings the rated party recorded itself (it could invent them,
    /// let a scan "close" them, and pad its record).
    pub async fn closed_tickets(
        &self,
        org_id: &str,
        since: NaiveDate,
    ) -> Result<Vec<ClosedTicket>> {
        let rows = sqlx::query(
            "SELECT t.created_at, t.acknowledged_at, t.closed_at, t.sla_due_on FROM tickets t \
             LEFT JOIN findings f ON t.source_kind = 'finding' AND f.org_id = t.org_id AND f.id = t.source_id \
             WHERE t.org_id = $1 AND t.status = 'closed' AND t.closed_at >= $2 \
             AND (f.recorded_by IS NULL OR f.recorded_by <> 'enterprise')",
        )
        .bind(org_id)
        .bind(since.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let due: String = r.try_get("sla_due_on")?;
                Ok(ClosedTicket {
                    created_at: r.try_get("created_at")?,
                    acknowledged_at: r.try_get("acknowledged_at")?,
                    closed_at: r.try_get("closed_at")?,
                    sla_due_on: due.parse().map_err(|_| corrupt("sla_due_on", &due))?,
                })
            })
            .collect()
    }

    /// The organisation's unclosed tickets on controls and alerts whose SLA due date is
    /// before `as_of`: misses in its remediation record (overdue findings count through the
    /// findings themselves, ticketed or not).
    pub async fn overdue_tickets(&self, org_id: &str, as_of: NaiveDate) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE org_id = $1 AND status <> 'closed' \
             AND source_kind IN ('control', 'alert') AND sla_due_on < $2",
        )
        .bind(org_id)
        .bind(as_of.to_string())
        .fetch_one(&self.pool)
        .await?)
    }
}
