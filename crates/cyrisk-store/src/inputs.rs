//! Piecewise writes of an organisation's inputs: bulk upserts of assets, findings, control
//! results and incidents. Each batch is one transaction, validated together with what is
//! already stored (a finding may refer to an asset stored earlier or in the same batch), and
//! either lands whole or not at all.

use std::collections::{HashMap, HashSet};

use cyrisk_core::bundle::AssessmentBundle;
use cyrisk_core::profile::Profile;
use cyrisk_core::{asset::Asset, control::ControlResult, finding::Finding, incident::Incident};
use serde::Serialize;
use sqlx::Row;

use crate::orgs::{parse, replace_controls, write_assets, write_findings, write_incidents};
use crate::{Result, Store, StoreError, now};

/// A batch of inputs to upsert into one organisation. Assets, findings and incidents are
/// keyed by id; a control result replaces the stored one for the same control and scope.
#[derive(Debug, Clone, Default)]
pub struct InputsBatch {
    pub assets: Vec<Asset>,
    pub findings: Vec<Finding>,
    pub controls: Vec<ControlResult>,
    pub incidents: Vec<Incident>,
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpsertSummary {
    pub org_id: String,
    /// The organisation's inputs version after the write.
    pub inputs_version: i64,
    /// Items that did not exist before.
    pub created: usize,
    /// Items that replaced a stored one.
    pub updated: usize,
    /// Findings whose lifecycle state is new or changed (each got a history entry).
    pub findings_changed_state: usize,
}

impl Store {
    /// Upserts a batch into an organisation in one transaction. The batch is validated with
    /// the bundle rules against the stored inputs; an error names the offending item as
    /// `assets[i]`, `findings[i]`, `controls[i]` or `incidents[i]` of the batch, and nothing
    /// is written.
    pub async fn upsert_inputs(
        &self,
        org_id: &str,
        batch: &InputsBatch,
        actor: Option<&str>,
    ) -> Result<UpsertSummary> {
        if batch.assets.is_empty()
            && batch.findings.is_empty()
            && batch.controls.is_empty()
            && batch.incidents.is_empty()
        {
            return Err(StoreError::Invalid(
                "nothing to write: the batch is empty".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let summary = self.upsert_in(&mut tx, org_id, batch, actor).await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// [`Store::upsert_inputs`] inside the caller's write transaction (not committed).
    pub(crate) async fn upsert_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        org_id: &str,
        batch: &InputsBatch,
        actor: Option<&str>,
    ) -> Result<UpsertSummary> {
        let at = now();
        let lock = self.backend.row_lock();
        let row = sqlx::query(&format!(
            "SELECT profile, inputs_version FROM organizations WHERE id = $1{lock}"
        ))
        .bind(org_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "organization",
            id: org_id.to_owned(),
        })?;
        let profile: Profile = parse(
            "organization profile",
            &row.try_get::<String, _>("profile")?,
        )?;
        let version: i64 = row.try_get::<i64, _>("inputs_version")? + 1;

        // Stored assets (for references) and the ids of everything else already stored.
        let stored_assets: Vec<Asset> = sqlx::query("SELECT data FROM assets WHERE org_id = $1")
            .bind(org_id)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| parse("asset", &r.try_get::<String, _>("data")?))
            .collect::<Result<_>>()?;
        let stored_findings =
            id_set(tx, "SELECT id FROM findings WHERE org_id = $1", org_id).await?;
        let stored_incidents =
            id_set(tx, "SELECT id FROM incidents WHERE org_id = $1", org_id).await?;
        let stored_controls: Vec<ControlResult> =
            sqlx::query("SELECT data FROM controls WHERE org_id = $1 ORDER BY seq")
                .bind(org_id)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| parse("control", &r.try_get::<String, _>("data")?))
                .collect::<Result<_>>()?;

        // Validate the batch with the bundle rules: batch assets first (so error indexes are
        // the batch's), then the stored ones it does not replace.
        let batch_asset_ids: HashSet<&str> = batch.assets.iter().map(|a| a.id.as_str()).collect();
        let mut assets = batch.assets.clone();
        assets.extend(
            stored_assets
                .iter()
                .filter(|a| !batch_asset_ids.contains(a.id.as_str()))
                .cloned(),
        );
        let check = AssessmentBundle {
            schema_version: cyrisk_core::bundle::BUNDLE_SCHEMA_VERSION,
            profile,
            assets,
            findings: batch.findings.clone(),
            controls: batch.controls.clone(),
            incidents: batch.incidents.clone(),
            scan_date: None,
        };
        check
            .validate()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;

        let stored_asset_ids: HashSet<&str> = stored_assets.iter().map(|a| a.id.as_str()).collect();
        let mut created = 0;
        let mut updated = 0;
        let mut count = |exists: bool| {
            if exists {
                updated += 1;
            } else {
                created += 1;
            }
        };
        for a in &batch.assets {
            count(stored_asset_ids.contains(a.id.as_str()));
        }
        for f in &batch.findings {
            count(stored_findings.contains(&f.id));
        }
        for i in &batch.incidents {
            count(stored_incidents.contains(&i.id));
        }
        // Control results: same control and scope replaces, in place; others are appended.
        let mut controls = stored_controls;
        let mut position: HashMap<(String, Option<String>), usize> = controls
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.control.as_str().to_owned(), c.scope.clone()), i))
            .collect();
        for c in &batch.controls {
            let key = (c.control.as_str().to_owned(), c.scope.clone());
            match position.get(&key) {
                Some(&i) => {
                    controls[i] = c.clone();
                    count(true);
                }
                None => {
                    position.insert(key, controls.len());
                    controls.push(c.clone());
                    count(false);
                }
            }
        }

        write_assets(tx, self.backend, org_id, &batch.assets, &at).await?;
        let changed = write_findings(tx, self.backend, org_id, &batch.findings, &at, actor).await?;
        if !batch.controls.is_empty() {
            replace_controls(tx, org_id, &controls).await?;
        }
        write_incidents(tx, org_id, &batch.incidents).await?;
        sqlx::query("UPDATE organizations SET inputs_version = $2, updated_at = $3 WHERE id = $1")
            .bind(org_id)
            .bind(version)
            .bind(&at)
            .execute(&mut **tx)
            .await?;
        let summary = UpsertSummary {
            org_id: org_id.to_owned(),
            inputs_version: version,
            created,
            updated,
            findings_changed_state: changed,
        };
        crate::keys::audit(
            tx,
            actor,
            "organization.upsert_inputs",
            Some(org_id),
            &serde_json::json!({
                "assets": batch.assets.len(),
                "findings": batch.findings.len(),
                "controls": batch.controls.len(),
                "incidents": batch.incidents.len(),
                "created": created,
                "updated": updated,
            }),
        )
        .await?;
        Ok(summary)
    }
}

async fn id_set(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sql: &str,
    org_id: &str,
) -> Result<HashSet<String>> {
    sqlx::query(sql)
        .bind(org_id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String, _>("id")?))
        .collect()
}
