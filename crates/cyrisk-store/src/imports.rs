//! Imports of scans and spreadsheets: idempotent by the file's content hash, reconciled
//! against the stored inputs and written in one transaction.

use cyrisk_core::bundle::AssessmentBundle;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;

use crate::inputs::{InputsBatch, UpsertSummary};
use crate::{Principal, Result, Store, StoreError, now};

/// What an import did: either it was applied, or the same file had been imported before and
/// nothing changed (the earlier summary is returned).
#[derive(Debug, Clone, PartialEq)]
pub enum ImportOutcome<S> {
    Applied {
        summary: S,
        write: Option<UpsertSummary>,
    },
    Duplicate {
        summary: S,
        imported_at: String,
    },
}

impl Store {
    /// Imports into an organisation: unless a file with `content_hash` was imported before,
    /// `plan` gets the stored inputs (read under the organisation's write lock) and returns
    /// the rows to upsert with a summary; the rows, the summary and an audit record are
    /// written in one transaction.
    pub async fn import<S, F>(
        &self,
        org_id: &str,
        content_hash: &str,
        format: &str,
        actor: &Principal,
        plan: F,
    ) -> Result<ImportOutcome<S>>
    where
        S: Serialize + DeserializeOwned,
        F: FnOnce(&AssessmentBundle) -> std::result::Result<(InputsBatch, S), String>,
    {
        let mut tx = self.begin_write().await?;
        self.lock_org(&mut tx, org_id).await?;
        if let Some(r) = sqlx::query(
            "SELECT summary, imported_at FROM imports WHERE org_id = $1 AND content_hash = $2",
        )
        .bind(org_id)
        .bind(content_hash)
        .fetch_optional(&mut *tx)
        .await?
        {
            let summary: String = r.try_get("summary")?;
            return Ok(ImportOutcome::Duplicate {
                summary: serde_json::from_str(&summary)
                    .map_err(|e| StoreError::Corrupt(format!("import summary: {e}")))?,
                imported_at: r.try_get("imported_at")?,
            });
        }
        // Read under the write lock, on this transaction's own connection.
        let stored = crate::orgs::bundle_on(&mut tx, org_id).await?;
        let (batch, summary) = plan(&stored).map_err(StoreError::Invalid)?;
        let empty = batch.assets.is_empty()
            && batch.findings.is_empty()
            && batch.controls.is_empty()
            && batch.incidents.is_empty();
        let write = if empty {
            None
        } else {
            let reason = format!(
                "{format} import (sha256 {})",
                content_hash.get(..12).unwrap_or(content_hash)
            );
            Some(
                self.upsert_in(&mut tx, org_id, &batch, actor, Some(&reason))
                    .await?,
            )
        };
        let text =
            serde_json::to_string(&summary).map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query(
            "INSERT INTO imports (org_id, content_hash, format, imported_at, key_id, summary) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org_id)
        .bind(content_hash)
        .bind(format)
        .bind(now())
        .bind(&actor.key_id)
        .bind(&text)
        .execute(&mut *tx)
        .await?;
        crate::keys::audit(
            &mut tx,
            Some(&actor.key_id),
            "organization.import",
            Some(org_id),
            &serde_json::json!({ "format": format, "content_hash": content_hash }),
        )
        .await?;
        tx.commit().await?;
        Ok(ImportOutcome::Applied { summary, write })
    }
}
