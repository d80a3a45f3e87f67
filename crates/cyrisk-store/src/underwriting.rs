//! Pre-policy underwriting records: assessed applications (with the rules' decision and, for a
//! referral, the underwriter's) and each insurer's own rule set.

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store, StoreError, new_id, now};

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    Accepted,
    /// Waiting for an underwriter.
    Referred,
    Declined,
}

impl ApplicationStatus {
    pub const ALL: [ApplicationStatus; 3] = [Self::Accepted, Self::Referred, Self::Declined];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Referred => "referred",
            Self::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A stored application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Application {
    pub id: String,
    /// The key that assessed it (an insurer's, or an admin's).
    pub insurer_key_id: String,
    pub applicant: String,
    pub created_at: String,
    /// What the rules decided: `accept`, `refer` or `decline`.
    pub decision: String,
    pub status: ApplicationStatus,
    /// The assessment as answered (JSON).
    pub assessment: serde_json::Value,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// The underwriter's note on a referral.
    pub note: Option<String>,
}

const COLUMNS: &str = "id, insurer_key_id, applicant, created_at, decision, status, assessment, decided_by, decided_at, note";

fn application(r: &sqlx::any::AnyRow) -> Result<Application> {
    let status: String = r.try_get("status")?;
    Ok(Application {
        id: r.try_get("id")?,
        insurer_key_id: r.try_get("insurer_key_id")?,
        applicant: r.try_get("applicant")?,
        created_at: r.try_get("created_at")?,
        decision: r.try_get("decision")?,
        status: ApplicationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("application status {status:?}")))?,
        assessment: serde_json::from_str(&r.try_get::<String, _>("assessment")?)
            .map_err(|e| StoreError::Corrupt(format!("application assessment: {e}")))?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        note: r.try_get("note")?,
    })
}

impl Store {
    /// Stores an assessed application; its status follows the rules' decision (`refer` waits
    /// for an underwriter).
    pub async fn insert_application(
        &self,
        insurer_key_id: &str,
        applicant: &str,
        decision: &str,
        assessment: &serde_json::Value,
    ) -> Result<Application> {
        let status = match decision {
            "accept" => ApplicationStatus::Accepted,
            "refer" => ApplicationStatus::Referred,
            "decline" => ApplicationStatus::Declined,
            other => return Err(StoreError::Invalid(format!("decision {other:?}"))),
        };
        let a = Application {
            id: new_id(),
            insurer_key_id: insurer_key_id.to_owned(),
            applicant: applicant.to_owned(),
            created_at: now(),
            decision: decision.to_owned(),
            status,
            assessment: assessment.clone(),
            decided_by: None,
            decided_at: None,
            note: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO applications ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL)"
        ))
        .bind(&a.id)
        .bind(&a.insurer_key_id)
        .bind(&a.applicant)
        .bind(&a.created_at)
        .bind(&a.decision)
        .bind(a.status.as_str())
        .bind(a.assessment.to_string())
        .execute(&mut *tx)
        .await?;
        crate::keys::audit(
            &mut tx,
            Some(insurer_key_id),
            "underwriting.assess",
            None,
            &serde_json::json!({ "application": a.id, "decision": decision }),
        )
        .await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Applications, newest first: those of `insurer_key_id` (all when `None`), optionally only
    /// in `status`.
    pub async fn applications(
        &self,
        insurer_key_id: Option<&str>,
        status: Option<ApplicationStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Application>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM applications WHERE ($1 IS NULL OR insurer_key_id = $1) \
             AND ($2 IS NULL OR status = $2) ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(insurer_key_id)
        .bind(status.map(ApplicationStatus::as_str))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(application)
        .collect()
    }

    /// One application; `NotFound` also when it is not `insurer_key_id`'s (when given).
    pub async fn application(&self, id: &str, insurer_key_id: Option<&str>) -> Result<Application> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM applications WHERE id = $1 AND ($2 IS NULL OR insurer_key_id = $2)"
        ))
        .bind(id)
        .bind(insurer_key_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| application(&r))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound {
            what: "application",
            id: id.to_owned(),
        })
    }

    /// An underwriter's decision on a referred application (`accepted` or `declined`, with a
    /// note); `Conflict` if it is not (or no longer) referred, `NotFound` if it is not
    /// `insurer_key_id`'s (when given).
    pub async fn decide_application(
        &self,
        id: &str,
        insurer_key_id: Option<&str>,
        to: ApplicationStatus,
        note: &str,
        actor: &str,
    ) -> Result<Application> {
        if to == ApplicationStatus::Referred {
            return Err(StoreError::Invalid("decision: accepted or declined".into()));
        }
        let at = now();
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE applications SET status = $3, decided_by = $4, decided_at = $5, note = $6 \
             WHERE id = $1 AND ($2 IS NULL OR insurer_key_id = $2) AND status = 'referred'",
        )
        .bind(id)
        .bind(insurer_key_id)
        .bind(to.as_str())
        .bind(actor)
        .bind(&at)
        .bind(note)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            drop(tx);
            // Tell "not yours / no such" (404) from "already decided" (409).
            let a = self.application(id, insurer_key_id).await?;
            return Err(StoreError::Conflict(format!(
                "application {id} is {}, not waiting for a decision",
                a.status.as_str()
            )));
        }
        crate::keys::audit(
            &mut tx,
            Some(actor),
            "underwriting.decide",
            None,
            &serde_json::json!({ "application": id, "status": to.as_str(), "note": note }),
        )
        .await?;
        tx.commit().await?;
        self.application(id, insurer_key_id).await
    }

    /// An insurer's own underwriting rules (TOML), if it stored any.
    pub async fn underwriting_rules(&self, insurer_key_id: &str) -> Result<Option<String>> {
        self.rule_set(RuleTable::Underwriting, insurer_key_id).await
    }

    /// Stores (replaces) an insurer's underwriting rules (TOML, checked by the caller).
    pub async fn set_underwriting_rules(
        &self,
        insurer_key_id: &str,
        rules: &str,
        actor: &str,
    ) -> Result<()> {
        self.set_rule_set(RuleTable::Underwriting, insurer_key_id, rules, actor)
            .await
    }

    /// An insurer's own rule set of one kind (TOML), if it stored any.
    pub(crate) async fn rule_set(
        &self,
        table: RuleTable,
        insurer_key_id: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT rules FROM {} WHERE insurer_key_id = $1",
            table.name()
        ))
        .bind(insurer_key_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores (replaces) an insurer's rule set of one kind, audited.
    pub(crate) async fn set_rule_set(
        &self,
        table: RuleTable,
        insurer_key_id: &str,
        rules: &str,
        actor: &str,
    ) -> Result<()> {
        let at = now();
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO {} (insurer_key_id, rules, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (insurer_key_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
            table.name()
        ))
        .bind(insurer_key_id)
        .bind(rules)
        .bind(&at)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        crate::keys::audit(
            &mut tx,
            Some(actor),
            table.audit_action(),
            None,
            &serde_json::json!({ "insurer_key_id": insurer_key_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The tables of insurers' own rule sets (one row per insurer key, TOML text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleTable {
    Underwriting,
    Alerts,
}

impl RuleTable {
    fn name(self) -> &'static str {
        match self {
            Self::Underwriting => "underwriting_rules",
            Self::Alerts => "alert_rules",
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            Self::Underwriting => "underwriting.rules",
            Self::Alerts => "alerts.rules",
        }
    }
}
