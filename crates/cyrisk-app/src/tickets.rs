//! Risk follow-up and handling: remediation tickets from findings, failed controls and
//! alerts (`cyrisk_store::tickets` keeps them and enforces that only verification closes
//! one), their due dates from the rating model's remediation SLA, and the organisation's
//! remediation record — time to acknowledge, mean time to remediate, share closed within SLA
//! — which becomes a verified `patch_cadence` control result in the rating's inputs, so
//! handling risk visibly moves the rating.

use chrono::{Days, NaiveDate};
use cyrisk_core::control::{ControlId, ControlResult, Outcome};
use cyrisk_core::cvss::Severity;
use cyrisk_store::{
    NewTicket, Principal, Ticket, TicketEvent, TicketSource, TicketStatus, TicketUpdate,
};
use serde::Serialize;

use crate::access::Action;
use crate::error::{AppError, Result};
use crate::{App, today};

/// The remediation record's window: tickets closed in the last year.
pub const RECORD_WINDOW_DAYS: u64 = 365;

/// Verified closures needed before the record says anything about patch cadence: fewer are
/// too few to tell a practice from luck.
pub const RECORD_MIN_CLOSED: usize = 5;

/// The share of tickets closed within their SLA for a `pass` (≥ 90 %) and a `partial`
/// (≥ 60 %) patch cadence; below, `fail`. Judgement, in the spirit of the deadlines
/// regulators set for fixing known-exploited and critical flaws (CISA BOD 22-01, 2021: KEV
/// entries within two weeks; PCI DSS v4.0, 2022, req. 6.3.3: critical patches within a month)
/// — a practice that meets its own SLAs nine times in ten is what "patches applied on time"
/// means to an underwriter.
pub const PASS_SHARE: f64 = 0.9;
pub const PARTIAL_SHARE: f64 = 0.6;

/// A ticket to open.
#[derive(Debug, Clone)]
pub struct TicketRequest {
    pub source: TicketSource,
    /// A finding id, a control id (`mfa`, `patch_cadence`, …) or an alert id.
    pub source_id: String,
    /// [default: from the source]
    pub title: Option<String>,
    pub assignee: Option<String>,
    /// The working due date [default: the rating model's remediation SLA from when the
    /// problem was found]. The remediation record always measures against the SLA date.
    pub due_on: Option<NaiveDate>,
}

/// A ticket with its history.
#[derive(Debug, Clone, Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub events: Vec<TicketEvent>,
}

/// An organisation's remediation record over the last year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemediationRecord {
    pub window_days: u64,
    /// Tickets closed (verified) in the window.
    pub closed: usize,
    /// Of those, closed on or before their SLA due date.
    pub closed_within_sla: usize,
    /// Work past its SLA and still not done: unresolved high, critical or known-exploited
    /// findings past the model's SLA (ticketed or not — leaving the worst untouched is not a
    /// way to keep the record clean) and unclosed control or alert tickets past their SLA date.
    pub overdue_open: usize,
    /// closed within SLA ÷ (closed + overdue and open).
    pub share_closed_within_sla: Option<f64>,
    /// Mean days from opening to first leaving `open`.
    pub mean_days_to_acknowledge: Option<f64>,
    /// Mean days from opening to verified closure.
    pub mean_days_to_remediate: Option<f64>,
    /// What the record says of the patch cadence (`pass`, `partial`, `fail`), once at least
    /// `RECORD_MIN_CLOSED` tickets closed; it enters the rating as a verified result.
    pub patch_cadence: Option<Outcome>,
}

fn days_between(from: &str, to: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(to).ok()?;
    Some((b - a).num_seconds() as f64 / 86_400.0)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

impl App {
    /// The remediation record of `org_id` as of `as_of`, with `bundle` its stored inputs (for
    /// the overdue findings).
    pub(crate) async fn record(
        &self,
        org_id: &str,
        as_of: NaiveDate,
        bundle: &cyrisk_core::Bundle,
    ) -> Result<RemediationRecord> {
        let since = as_of
            .checked_sub_days(Days::new(RECORD_WINDOW_DAYS))
            .unwrap_or(as_of);
        let closed = self.store.closed_tickets(org_id, since).await?;
        let model = &self.models.rating;
        let overdue_findings = bundle
            .findings()
            .iter()
            .filter(|f| cyrisk_core::finding::FindingState::counted(f).is_unresolved())
            .filter(|f| {
                let sev = cyrisk_core::rating::finding_severity(f);
                (sev >= Severity::High || f.kev)
                    && (as_of - f.first_seen).num_days() > i64::from(model.sla_days(sev, f.kev))
            })
            .count();
        let overdue_tickets =
            usize::try_from(self.store.overdue_tickets(org_id, as_of).await?).unwrap_or(0);
        let overdue_open = overdue_findings + overdue_tickets;
        let within = closed
            .iter()
            .filter(|t| t.closed_at[..10] <= *t.sla_due_on.to_string().as_str())
            .count();
        let ack: Vec<f64> = closed
            .iter()
            .filter_map(|t| days_between(&t.created_at, t.acknowledged_at.as_deref()?))
            .collect();
        let fix: Vec<f64> = closed
            .iter()
            .filter_map(|t| days_between(&t.created_at, &t.closed_at))
            .collect();
        let judged = closed.len() + overdue_open;
        let share = (judged > 0).then(|| within as f64 / judged as f64);
        Ok(RemediationRecord {
            window_days: RECORD_WINDOW_DAYS,
            closed: closed.len(),
            closed_within_sla: within,
            overdue_open,
            share_closed_within_sla: share,
            mean_days_to_acknowledge: mean(&ack),
            mean_days_to_remediate: mean(&fix),
            patch_cadence: share
                .filter(|_| closed.len() >= RECORD_MIN_CLOSED)
                .map(|s| {
                    if s >= PASS_SHARE {
                        Outcome::Pass
                    } else if s >= PARTIAL_SHARE {
                        Outcome::Partial
                    } else {
                        Outcome::Fail
                    }
                }),
        })
    }

    /// The remediation record as a `patch_cadence` control result dated `as_of`, for the
    /// rating's inputs; `None` until enough tickets closed. It is not self-declared: every
    /// closure in it was verified by a scan or a third party.
    pub(crate) async fn record_control(
        &self,
        org_id: &str,
        as_of: NaiveDate,
        bundle: &cyrisk_core::Bundle,
    ) -> Result<Option<ControlResult>> {
        let r = self.record(org_id, as_of, bundle).await?;
        Ok(r.patch_cadence.map(|outcome| ControlResult {
            control: ControlId::PatchCadence,
            outcome,
            assessed_on: Some(as_of),
            evidence: Some(format!(
                "cyrisk remediation record: {} of {} verified closures within SLA in {} days, {} overdue and open",
                r.closed_within_sla, r.closed, r.window_days, r.overdue_open
            )),
            level: None,
            scope: Some("remediation tickets".into()),
            self_declared: false,
        }))
    }

    /// Opens a ticket on an organisation `p` may see: on one of its findings, one of its
    /// control ids, or an alert `p` may see about it. `NotFound` for a source that is not
    /// there; `Conflict` when the source already has an unclosed ticket.
    pub async fn create_ticket(
        &self,
        p: &Principal,
        org_id: &str,
        req: TicketRequest,
    ) -> Result<Ticket> {
        self.authorize(p, org_id, Action::WorkTickets).await?;
        let model = &self.models.rating;
        let (title, due) = match req.source {
            TicketSource::Finding => {
                let f = self.store.finding(org_id, &req.source_id).await?;
                // Only open work: a ticket on a finding already retired would "close" at the
                // next re-rating without anything fixed, and pad the remediation record.
                if !cyrisk_core::finding::FindingState::counted(&f).is_unresolved() {
                    return Err(AppError::Conflict(format!(
                        "finding {} is {}: there is nothing to remediate",
                        f.id,
                        f.state.as_str()
                    )));
                }
                let sev = cyrisk_core::rating::finding_severity(&f);
                let due = f
                    .first_seen
                    .checked_add_days(Days::new(u64::from(model.sla_days(sev, f.kev))))
                    .unwrap_or(f.first_seen);
                let what = f
                    .cve
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .or(f.title.clone())
                    .unwrap_or_else(|| f.id.clone());
                (format!("Fix {what} on {}", f.asset), due)
            }
            TicketSource::Control => {
                let id: ControlId = serde_json::from_value(serde_json::Value::String(
                    req.source_id.clone(),
                ))
                .map_err(|_| {
                    AppError::Invalid(format!(
                        "source_id: {:?} is not a control id (mfa, edr, offline_backups, …)",
                        req.source_id
                    ))
                })?;
                // Only a control not already verified in place: a verified pass would close the
                // ticket at once, with nothing done.
                let passing = self
                    .store
                    .list_controls(org_id)
                    .await?
                    .into_iter()
                    .any(|c| c.control == id && c.outcome == Outcome::Pass && !c.self_declared);
                if passing {
                    return Err(AppError::Conflict(format!(
                        "control {} already passes on a verified result: there is nothing to remediate",
                        req.source_id
                    )));
                }
                let due = today() + Days::new(u64::from(model.sla_days(Severity::High, false)));
                (format!("Put control {} in place", req.source_id), due)
            }
            TicketSource::Alert => {
                let a = self.alert(p, &req.source_id).await?;
                if a.org_id != org_id {
                    return Err(AppError::NotFound { what: "alert" });
                }
                let sev = if a.severity == "critical" {
                    Severity::Critical
                } else {
                    Severity::High
                };
                let due = today() + Days::new(u64::from(model.sla_days(sev, false)));
                (a.title.clone(), due)
            }
        };
        Ok(self
            .store
            .create_ticket(
                &NewTicket {
                    org_id: org_id.to_owned(),
                    source: req.source,
                    source_id: req.source_id,
                    title: req.title.unwrap_or(title),
                    assignee: req.assignee,
                    due_on: req.due_on.unwrap_or(due),
                    sla_due_on: due,
                    insurer_key_id: (p.role == cyrisk_store::Role::Insurer)
                        .then(|| p.key_id.clone()),
                },
                &p.key_id,
            )
            .await?)
    }

    /// An organisation's tickets, newest first.
    pub async fn tickets(
        &self,
        p: &Principal,
        org_id: &str,
        status: Option<TicketStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Ticket>> {
        self.authorize(p, org_id, Action::Read).await?;
        // An insurer sees its own and the insured's; an assessor, not party to the insurance,
        // only those no insurer opened ("" matches no insurer key).
        let insurer = match p.role {
            cyrisk_store::Role::Insurer => Some(p.key_id.as_str()),
            cyrisk_store::Role::Assessor => Some(""),
            _ => None,
        };
        Ok(self
            .store
            .tickets(org_id, status, insurer, limit, offset)
            .await?)
    }

    /// A ticket `p` may see (its organisation's), with its history.
    pub async fn ticket(&self, p: &Principal, id: &str) -> Result<TicketDetail> {
        let ticket = self.visible_ticket(p, id, Action::Read).await?;
        let events = self.store.ticket_events(id).await?;
        Ok(TicketDetail { ticket, events })
    }

    async fn visible_ticket(&self, p: &Principal, id: &str, action: Action) -> Result<Ticket> {
        crate::authorize_role(p, action)?;
        let t = self.store.ticket(id).await?;
        let hidden = match p.role {
            cyrisk_store::Role::Insurer => {
                t.insurer_key_id.as_ref().is_some_and(|k| *k != p.key_id)
            }
            cyrisk_store::Role::Assessor => t.insurer_key_id.is_some(),
            _ => false,
        };
        if hidden {
            // Another insurer's ticket (opened on its own alert, with its comments).
            return Err(AppError::NotFound { what: "ticket" });
        }
        match self.authorize(p, &t.org_id, action).await {
            Ok(()) => Ok(t),
            Err(AppError::NotFound { .. }) => Err(AppError::NotFound { what: "ticket" }),
            Err(e) => Err(e),
        }
    }

    /// Moves a ticket (`open`, `in_progress`, `resolved`), reassigns it or changes its due
    /// date; closing takes verification (`Forbidden`, code `verification_required`).
    pub async fn update_ticket(&self, p: &Principal, id: &str, u: &TicketUpdate) -> Result<Ticket> {
        self.visible_ticket(p, id, Action::WorkTickets).await?;
        Ok(self.store.update_ticket(id, u, &p.key_id).await?)
    }

    /// Adds a comment, or evidence of the fix, to a ticket.
    pub async fn comment_ticket(
        &self,
        p: &Principal,
        id: &str,
        body: &str,
        evidence: bool,
    ) -> Result<TicketEvent> {
        self.visible_ticket(p, id, Action::WorkTickets).await?;
        Ok(self
            .store
            .comment_ticket(id, body, evidence, &p.key_id)
            .await?)
    }

    /// Closes a ticket on an assessor's, insurer's or admin's attestation (never the rated
    /// party's: `Forbidden`, code `recorded_by_third_party`).
    pub async fn verify_ticket(&self, p: &Principal, id: &str, note: &str) -> Result<Ticket> {
        self.visible_ticket(p, id, Action::WorkTickets).await?;
        Ok(self.store.verify_ticket(id, p, note).await?)
    }

    /// The organisation's remediation record (`p` must see it).
    pub async fn remediation_record(
        &self,
        p: &Principal,
        org_id: &str,
    ) -> Result<RemediationRecord> {
        self.authorize(p, org_id, Action::Read).await?;
        let feeds = self.current_feeds().await?;
        let mut bundle = self
            .store
            .bundle(org_id)
            .await?
            .validate()
            .map_err(AppError::internal)?;
        feeds.apply(&mut bundle);
        self.record(org_id, today(), &bundle).await
    }
}
