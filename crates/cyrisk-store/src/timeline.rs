//! An organisation's timeline: every rating, alert, ticket transition, import, dispute, claim
//! and policy change in one feed, newest first, paged by a keyset cursor (the last entry's
//! time and key), so a page never repeats or skips an entry when new ones arrive.

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store};

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// When (RFC 3339 UTC).
    pub at: String,
    /// `rating`, `alert`, `ticket.<created|status|comment|evidence|assigned|due|verified>`,
    /// `import`, `dispute.filed`, `dispute.decided`, `claim`, `policy.bound`,
    /// `policy.cancelled` or `policy.endorsed`.
    pub kind: String,
    /// The id of what it is about (rating, alert, ticket, import hash, dispute, claim,
    /// policy or endorsement).
    pub ref_id: String,
    /// In a line.
    pub summary: String,
    /// The keyset position: pass the last entry's as `before` for the next page.
    pub cursor: String,
}

/// Whose entries a caller sees besides the organisation's own record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineScope {
    /// Only alerts for this audience (`None`: all).
    pub alert_audience: Option<String>,
    /// Only this insurer's policies and claims, and tickets opened by no other insurer
    /// (`None`: all).
    pub insurer_key_id: Option<String>,
    /// Leave out policies and claims (an assessor is not party to the insurance).
    pub hide_insurance: bool,
}

impl Store {
    /// A page of `org_id`'s timeline, newest first: at most `limit` entries before `before`
    /// (a cursor from an earlier page; `None` for the newest).
    pub async fn timeline(
        &self,
        org_id: &str,
        scope: &TimelineScope,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TimelineEntry>> {
        // Every branch yields (at, kind, ref_id, summary); `seq` orders entries at the same
        // instant. Text concatenation and CAST work alike on SQLite and PostgreSQL.
        let sql = "SELECT at, kind, ref_id, summary, at || '|' || kind || '|' || ref_id AS seq FROM ( \
              SELECT computed_at AS at, 'rating' AS kind, id AS ref_id, \
                     'score ' || CAST(score AS TEXT) || ' (grade ' || grade || ')' AS summary \
                FROM ratings WHERE org_id = $1 \
              UNION ALL SELECT created_at, 'alert', id, severity || ': ' || title \
                FROM alerts WHERE org_id = $1 AND ($2 IS NULL OR audience = $2) \
              UNION ALL SELECT e.at, 'ticket.' || e.kind, e.ticket_id, \
                     t.title || COALESCE(' → ' || e.to_status, '') || COALESCE(': ' || e.body, '') \
                FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id WHERE e.org_id = $1 \
                AND ($3 IS NULL OR t.insurer_key_id IS NULL OR t.insurer_key_id = $3) \
              UNION ALL SELECT imported_at, 'import', content_hash, format || ' file imported' \
                FROM imports WHERE org_id = $1 \
              UNION ALL SELECT filed_at, 'dispute.filed', id, \
                     'finding ' || finding_id || ' disputed as ' || proposed_state \
                FROM disputes WHERE org_id = $1 \
              UNION ALL SELECT decided_at, 'dispute.decided', id, \
                     'dispute on finding ' || finding_id || ' ' || status \
                FROM disputes WHERE org_id = $1 AND decided_at IS NOT NULL \
              UNION ALL SELECT created_at, 'claim', id, peril || ' loss on ' || loss_on || ': ' || description \
                FROM claims WHERE org_id = $1 AND $6 = 0 AND ($3 IS NULL OR insurer_key_id = $3) \
              UNION ALL SELECT created_at, 'policy.bound', id, \
                     'policy bound for ' || starts_on || ' to ' || ends_on \
                FROM policies WHERE org_id = $1 AND $6 = 0 AND ($3 IS NULL OR insurer_key_id = $3) \
              UNION ALL SELECT cancelled_at, 'policy.cancelled', id, \
                     'policy cancelled from ' || COALESCE(cancelled_on, '?') || COALESCE(': ' || cancel_reason, '') \
                FROM policies WHERE org_id = $1 AND $6 = 0 AND cancelled_at IS NOT NULL AND ($3 IS NULL OR insurer_key_id = $3) \
              UNION ALL SELECT e.created_at, 'policy.endorsed', e.id, 'policy endorsed: ' || e.reason \
                FROM endorsements e JOIN policies p ON p.id = e.policy_id \
                WHERE p.org_id = $1 AND $6 = 0 AND ($3 IS NULL OR p.insurer_key_id = $3) \
            ) t WHERE ($4 IS NULL OR at || '|' || kind || '|' || ref_id < $4) \
            ORDER BY seq DESC LIMIT $5";
        let rows = sqlx::query(sql)
            .bind(org_id)
            .bind(&scope.alert_audience)
            .bind(&scope.insurer_key_id)
            .bind(before)
            .bind(limit)
            .bind(i64::from(scope.hide_insurance))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TimelineEntry {
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    ref_id: r.try_get("ref_id")?,
                    summary: r.try_get("summary")?,
                    cursor: r.try_get("seq")?,
                })
            })
            .collect()
    }
}
