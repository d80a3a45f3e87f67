//! Piecewise writes of an organisation's inputs: bulk upserts of assets, findings, control
//! results and incidents. Each batch is one transaction, validated together with what is
//! already stored (a finding may refer to an asset stored earlier or in the same batch), and
//! either lands whole or not at all.

use std::collections::{HashMap, HashSet};

use cyrisk_core::bundle::AssessmentBundle;
use cyrisk_core::finding::FindingState;
use cyrisk_core::profile::Profile;
use cyrisk_core::{asset::Asset, control::ControlResult, finding::Finding, incident::Incident};
use serde::Serialize;
use sqlx::Row;

use crate::integrity::{self, ControlsMode, Stored, StoredFinding};
use crate::orgs::{
    Change, Lifecycle, parse, replace_controls, write_assets, write_findings, write_incidents,
};
use crate::{Principal, Result, Store, StoreError, now};

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
    /// The re-rating job queued by this change (in the same transaction).
    pub rerate_job: String,
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
        actor: &Principal,
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
        let summary = self
            .upsert_in(&mut tx, org_id, batch, actor, Some("bulk upsert"))
            .await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// [`Store::upsert_inputs`] inside the caller's write transaction (not committed).
    pub(crate) async fn upsert_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        org_id: &str,
        batch: &InputsBatch,
        actor: &Principal,
        reason: Option<&str>,
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
        let mut batch = batch.clone();
        let written = write_batch(
            tx,
            self.backend,
            org_id,
            Check {
                profile: Some(profile),
                fresh: false,
            },
            &mut batch,
            ControlsMode::Merge,
            Change {
                actor,
                at: &at,
                reason,
            },
        )
        .await?;
        sqlx::query("UPDATE organizations SET inputs_version = $2, updated_at = $3 WHERE id = $1")
            .bind(org_id)
            .bind(version)
            .bind(&at)
            .execute(&mut **tx)
            .await?;
        // The outbox: the re-rating commits with the change or not at all.
        let job = crate::jobs::enqueue_on(
            tx,
            &crate::jobs::NewJob::rerate(org_id, reason.unwrap_or("inputs changed")),
        )
        .await?;
        let summary = UpsertSummary {
            org_id: org_id.to_owned(),
            inputs_version: version,
            rerate_job: job.id,
            created: written.created,
            updated: written.updated,
            findings_changed_state: written.findings_changed_state,
        };
        crate::keys::audit(
            tx,
            Some(&actor.key_id),
            "organization.upsert_inputs",
            Some(org_id),
            &serde_json::json!({
                "assets": batch.assets.len(),
                "findings": batch.findings.len(),
                "controls": batch.controls.len(),
                "incidents": batch.incidents.len(),
                "created": written.created,
                "updated": written.updated,
            }),
        )
        .await?;
        Ok(summary)
    }
}

/// What [`write_batch`] checks besides the rules of who may change what.
#[derive(Debug)]
pub(crate) struct Check {
    /// Validate the batch with the bundle rules against the stored assets, with this profile
    /// (`None`: the caller validated a whole bundle already).
    pub profile: Option<Profile>,
    /// The organisation was created in this transaction: nothing is stored yet.
    pub fresh: bool,
}

/// What [`write_batch`] wrote.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub created: usize,
    pub updated: usize,
    pub findings_changed_state: usize,
}

/// Writes a batch into an organisation inside the caller's write transaction (its row already
/// locked): validates it against what is stored, applies the rules of who may change what
/// ([`integrity::apply`]: provenance, the finding-state table, self-declared evidence), and
/// upserts the rows with lifecycle history. Does not touch the organisation row.
pub(crate) async fn write_batch(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: crate::Backend,
    org_id: &str,
    check: Check,
    batch: &mut InputsBatch,
    controls_mode: ControlsMode,
    change: Change<'_>,
) -> Result<Written> {
    let stored = if check.fresh {
        Stored::default()
    } else {
        load_stored(tx, org_id, change.actor.role.is_rated_party()).await?
    };

    if let Some(profile) = check.profile {
        // Validate with the bundle rules: batch assets first (so error indexes are the
        // batch's), then the stored ones it does not replace.
        let batch_asset_ids: HashSet<&str> = batch.assets.iter().map(|a| a.id.as_str()).collect();
        let mut assets = batch.assets.clone();
        assets.extend(
            stored
                .assets
                .values()
                .filter(|(a, _)| !batch_asset_ids.contains(a.id.as_str()))
                .map(|(a, _)| a.clone()),
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
    }

    not_in_the_future(batch)?;
    let provenance = integrity::apply(change.actor.role, &stored, batch, controls_mode)?;

    let mut written = Written::default();
    let mut count = |exists: bool| {
        if exists {
            written.updated += 1;
        } else {
            written.created += 1;
        }
    };
    for a in &batch.assets {
        count(stored.assets.contains_key(&a.id));
    }
    for f in &batch.findings {
        count(stored.findings.contains_key(&f.id));
    }
    for i in &batch.incidents {
        count(stored.incidents.contains_key(&i.id));
    }
    for c in &batch.controls {
        count(
            stored
                .controls
                .iter()
                .any(|(s, _)| s.control == c.control && s.scope == c.scope),
        );
    }

    let previous: HashMap<String, Lifecycle> = stored
        .findings
        .iter()
        .map(|(id, f)| (id.clone(), (f.state, f.counts_as)))
        .collect();
    write_assets(
        tx,
        backend,
        org_id,
        &batch.assets,
        &provenance.assets,
        change.at,
    )
    .await?;
    written.findings_changed_state = write_findings(
        tx,
        backend,
        org_id,
        &batch.findings,
        &provenance.findings,
        &previous,
        change,
    )
    .await?;
    if let Some(controls) = &provenance.controls {
        replace_controls(tx, org_id, controls).await?;
    }
    write_incidents(tx, org_id, &batch.incidents, &provenance.incidents).await?;
    Ok(written)
}

/// Refuses dates after tomorrow (UTC) on what is written: a "last seen" in the future would
/// keep an asset from ever looking stale, and outrank every real scan.
fn not_in_the_future(batch: &InputsBatch) -> Result<()> {
    let limit = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    let check = |what: String, d: Option<chrono::NaiveDate>| match d {
        Some(d) if d > limit => Err(StoreError::Invalid(format!("{what}: {d} is in the future"))),
        _ => Ok(()),
    };
    for (i, a) in batch.assets.iter().enumerate() {
        check(format!("assets[{i}].first_seen"), a.first_seen)?;
        check(format!("assets[{i}].last_seen"), a.last_seen)?;
    }
    for (i, f) in batch.findings.iter().enumerate() {
        check(format!("findings[{i}].first_seen"), Some(f.first_seen))?;
        check(format!("findings[{i}].fixed_at"), f.fixed_at)?;
    }
    for (i, c) in batch.controls.iter().enumerate() {
        check(format!("controls[{i}].assessed_on"), c.assessed_on)?;
    }
    for (i, inc) in batch.incidents.iter().enumerate() {
        check(format!("incidents[{i}].started"), Some(inc.started))?;
    }
    Ok(())
}

fn lifecycle(s: &str) -> Result<FindingState> {
    FindingState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("finding state {s:?}")))
}

/// What is stored for an organisation, with who recorded each item; the findings' and
/// incidents' contents only when `with_contents` (the rated party's writes are compared
/// with them).
async fn load_stored(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    org_id: &str,
    with_contents: bool,
) -> Result<Stored> {
    let mut stored = Stored::default();
    for r in sqlx::query("SELECT data, recorded_by FROM assets WHERE org_id = $1")
        .bind(org_id)
        .fetch_all(&mut **tx)
        .await?
    {
        let a: Asset = parse("asset", &r.try_get::<String, _>("data")?)?;
        stored
            .assets
            .insert(a.id.clone(), (a, r.try_get("recorded_by")?));
    }
    let sql = if with_contents {
        "SELECT id, state, counts_as, recorded_by, data FROM findings WHERE org_id = $1"
    } else {
        "SELECT id, state, counts_as, recorded_by FROM findings WHERE org_id = $1"
    };
    for r in sqlx::query(sql).bind(org_id).fetch_all(&mut **tx).await? {
        let finding = if with_contents {
            Some(parse::<Finding>(
                "finding",
                &r.try_get::<String, _>("data")?,
            )?)
        } else {
            None
        };
        let counts_as: Option<String> = r.try_get("counts_as")?;
        stored.findings.insert(
            r.try_get("id")?,
            StoredFinding {
                state: lifecycle(&r.try_get::<String, _>("state")?)?,
                counts_as: counts_as.as_deref().map(lifecycle).transpose()?,
                recorded_by: r.try_get("recorded_by")?,
                finding,
            },
        );
    }
    for r in sqlx::query("SELECT data, recorded_by FROM controls WHERE org_id = $1 ORDER BY seq")
        .bind(org_id)
        .fetch_all(&mut **tx)
        .await?
    {
        stored.controls.push((
            parse("control", &r.try_get::<String, _>("data")?)?,
            r.try_get("recorded_by")?,
        ));
    }
    for r in sqlx::query("SELECT id, data, recorded_by FROM incidents WHERE org_id = $1")
        .bind(org_id)
        .fetch_all(&mut **tx)
        .await?
    {
        let incident = if with_contents {
            Some(parse::<Incident>(
                "incident",
                &r.try_get::<String, _>("data")?,
            )?)
        } else {
            None
        };
        stored
            .incidents
            .insert(r.try_get("id")?, (incident, r.try_get("recorded_by")?));
    }
    Ok(stored)
}
