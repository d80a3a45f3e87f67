//! Organisations and their inputs: loading an assessment bundle (one transaction), reading it
//! back for rating, listing, and the findings' lifecycle history.

use std::collections::HashMap;

use cyrisk_core::bundle::AssessmentBundle;
use cyrisk_core::finding::FindingState;
use cyrisk_core::profile::Profile;
use cyrisk_core::{
    Bundle, asset::Asset, control::ControlResult, finding::Finding, incident::Incident,
};
use serde::Serialize;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::inputs::InputsBatch;
use crate::integrity::ControlsMode;
use crate::{Principal, Result, Role, Store, StoreError, new_id, now};

/// Rows per multi-row INSERT (keeps parameters well under both backends' limits).
const ROWS_PER_INSERT: usize = 1000;

/// What loading a bundle did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadSummary {
    pub org_id: String,
    pub created: bool,
    pub inputs_version: i64,
    pub assets: usize,
    pub findings: usize,
    pub findings_changed_state: usize,
    pub controls: usize,
    pub incidents: usize,
    /// The re-rating job queued with the load (in its transaction).
    pub rerate_job: String,
}

/// Which organisation a bundle load writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadTarget<'a> {
    /// This organisation, which must exist.
    Existing(&'a str),
    /// This id: updated if it exists, created with it otherwise (the operator's
    /// `cyrisk orgs load --org ID`).
    Id(&'a str),
    /// The organisation with the bundle's `profile.name` among those the writer may already
    /// see (the oldest if several), else a new one: never one the writer cannot see.
    ByName,
}

/// A SQL condition on `o.id` (an `organizations o` row) that holds for exactly the
/// organisations `p` may see, with its parameters numbered from `$first`, and their values in
/// order. Admins see everything; an enterprise key its own organisation; assessor and insurer
/// keys their own (assessors) and those linked to them (`org_links`).
pub(crate) fn visible_condition(p: &Principal, first: usize) -> (String, Vec<Option<String>>) {
    match p.role {
        Role::Admin => ("1 = 1".to_owned(), Vec::new()),
        Role::Enterprise => (format!("o.id = ${first}"), vec![p.org_id.clone()]),
        Role::Insurer | Role::Assessor => (
            format!(
                "(o.id = ${first} OR EXISTS (SELECT 1 FROM org_links l WHERE l.key_id = ${} AND l.org_id = o.id))",
                first + 1
            ),
            vec![p.org_id.clone(), Some(p.key_id.clone())],
        ),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
    pub industry: String,
    pub inputs_version: i64,
    pub updated_at: String,
}

/// One entry of a finding's lifecycle history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateChange {
    pub state: String,
    /// What the rating counts the finding as from then on, when not `state` (a fix only the
    /// rated party declared).
    pub counts_as: Option<String>,
    pub at: String,
    /// The key that made the change (`cli` for the operator).
    pub actor: Option<String>,
    /// The key's role (absent on entries recorded before roles were kept).
    pub role: Option<String>,
    pub reason: Option<String>,
    pub evidence: Option<String>,
}

pub(crate) fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Binds one row's values in order.
fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    values: Vec<Value>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for v in values {
        q = match v {
            Value::Text(s) => q.bind(s),
            Value::OptText(s) => q.bind(s),
            Value::Int(i) => q.bind(i),
        };
    }
    q
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

/// Placeholders for `rows` rows of `cols` values, in binding order: `$N` on PostgreSQL, `?` on
/// SQLite (sqlx resolves each `$N` on SQLite through `sqlite3_bind_parameter_name`, which is
/// linear in the parameter count: quadratic for a 500-row statement).
fn placeholders(backend: crate::Backend, rows: usize, cols: usize) -> Vec<String> {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=cols)
                .map(|c| match backend {
                    crate::Backend::Postgres => format!("${}", r * cols + c),
                    crate::Backend::Sqlite => "?".to_owned(),
                })
                .collect();
            format!("({})", row.join(", "))
        })
        .collect()
}

/// Inserts rows (upserting on `conflict` when given) in multi-row `VALUES` batches, one
/// statement per [`ROWS_PER_INSERT`] rows. (On PostgreSQL one `jsonb` parameter per batch
/// unpacked by `jsonb_to_recordset` was measured and was slower: 44k against 60k findings/s.)
pub(crate) async fn write_rows(
    tx: &mut sqlx::Transaction<'_, Any>,
    backend: crate::Backend,
    table: &str,
    cols: &[&str],
    conflict: Option<&[&str]>,
    rows: Vec<Vec<Value>>,
) -> Result<()> {
    let on_conflict = conflict.map_or(String::new(), |key| {
        let updates: Vec<String> = cols
            .iter()
            .filter(|c| !key.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            key.join(", "),
            updates.join(", ")
        )
    });
    // The rows' values move into the statements (no copy of each row's JSON).
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Value> = rows.by_ref().take(ROWS_PER_INSERT).flatten().collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}{on_conflict}",
            cols.join(", "),
            placeholders(backend, chunk.len() / cols.len(), cols.len()).join(", ")
        );
        bind_all(sqlx::query(&sql), chunk)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Upserts assets by (organisation, id); `recorded_by[i]` is who recorded `assets[i]`.
pub(crate) async fn write_assets(
    tx: &mut sqlx::Transaction<'_, Any>,
    backend: crate::Backend,
    org_id: &str,
    assets: &[Asset],
    recorded_by: &[String],
    at: &str,
) -> Result<()> {
    let mut rows = Vec::with_capacity(assets.len());
    for (a, by) in assets.iter().zip(recorded_by) {
        rows.push(vec![
            Value::Text(org_id.to_owned()),
            Value::Text(a.id.clone()),
            Value::Int(i64::from(a.internet_facing)),
            Value::Text(json(a)?),
            Value::Text(at.to_owned()),
            Value::Text(by.clone()),
        ]);
    }
    let cols = [
        "org_id",
        "id",
        "internet_facing",
        "data",
        "updated_at",
        "recorded_by",
    ];
    write_rows(tx, backend, "assets", &cols, Some(&["org_id", "id"]), rows).await
}

/// Who makes a change, when and why: what a lifecycle history entry records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change<'a> {
    pub actor: &'a Principal,
    pub at: &'a str,
    pub reason: Option<&'a str>,
}

/// The lifecycle stored for a finding: (state, counts_as).
pub(crate) type Lifecycle = (FindingState, Option<FindingState>);

/// Upserts findings by (organisation, id), `recorded_by[i]` being who recorded
/// `findings[i]`, with a history entry for each finding whose lifecycle (state or what it
/// counts as) is new or differs from `previous`; returns how many those are.
pub(crate) async fn write_findings(
    tx: &mut sqlx::Transaction<'_, Any>,
    backend: crate::Backend,
    org_id: &str,
    findings: &[Finding],
    recorded_by: &[String],
    previous: &HashMap<String, Lifecycle>,
    change: Change<'_>,
) -> Result<usize> {
    let mut changed = 0usize;
    let mut rows = Vec::with_capacity(findings.len());
    let mut history = Vec::new();
    let state_text = |s: Option<FindingState>| Value::OptText(s.map(|s| s.as_str().to_owned()));
    for (f, by) in findings.iter().zip(recorded_by) {
        let state = f.state.as_str();
        if previous.get(&f.id) != Some(&(f.state, f.counts_as)) {
            changed += 1;
            history.push(vec![
                Value::Text(org_id.to_owned()),
                Value::Text(f.id.clone()),
                Value::Text(state.to_owned()),
                state_text(f.counts_as),
                Value::Text(change.at.to_owned()),
                Value::OptText(Some(change.actor.key_id.clone())),
                Value::OptText(Some(change.actor.role.as_str().to_owned())),
                Value::OptText(change.reason.map(str::to_owned)),
                Value::OptText(None),
            ]);
        }
        rows.push(vec![
            Value::Text(org_id.to_owned()),
            Value::Text(f.id.clone()),
            Value::Text(f.asset.clone()),
            Value::Text(state.to_owned()),
            state_text(f.counts_as),
            Value::OptText(f.cve.as_ref().map(|c| c.as_str().to_owned())),
            Value::OptText(
                Some(f.cves().map(|c| c.as_str()).collect::<Vec<_>>().join(" "))
                    .filter(|s| !s.is_empty()),
            ),
            Value::Int(i64::from(f.kev)),
            Value::Text(f.first_seen.to_string()),
            Value::Text(json(f)?),
            Value::Text(change.at.to_owned()),
            Value::Text(by.clone()),
        ]);
    }
    let cols = [
        "org_id",
        "id",
        "asset_id",
        "state",
        "counts_as",
        "cve",
        "cves",
        "kev",
        "first_seen",
        "data",
        "updated_at",
        "recorded_by",
    ];
    write_rows(
        tx,
        backend,
        "findings",
        &cols,
        Some(&["org_id", "id"]),
        rows,
    )
    .await?;
    write_rows(
        tx,
        backend,
        "finding_history",
        &HISTORY_COLUMNS,
        None,
        history,
    )
    .await?;
    Ok(changed)
}

/// The columns of a lifecycle history row, in binding order.
pub(crate) const HISTORY_COLUMNS: [&str; 9] = [
    "org_id",
    "finding_id",
    "state",
    "counts_as",
    "at",
    "actor",
    "role",
    "reason",
    "evidence",
];

/// Replaces an organisation's control results with `controls` (each with who recorded it),
/// in that order.
pub(crate) async fn replace_controls(
    tx: &mut sqlx::Transaction<'_, Any>,
    org_id: &str,
    controls: &[(ControlResult, String)],
) -> Result<()> {
    sqlx::query("DELETE FROM controls WHERE org_id = $1")
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    for (seq, (c, by)) in controls.iter().enumerate() {
        sqlx::query(
            "INSERT INTO controls (org_id, seq, control, data, recorded_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org_id)
        .bind(seq as i64)
        .bind(c.control.as_str())
        .bind(json(c)?)
        .bind(by)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Upserts incidents by (organisation, id); `recorded_by[i]` is who recorded `incidents[i]`.
pub(crate) async fn write_incidents(
    tx: &mut sqlx::Transaction<'_, Any>,
    org_id: &str,
    incidents: &[Incident],
    recorded_by: &[String],
) -> Result<()> {
    for (inc, by) in incidents.iter().zip(recorded_by) {
        sqlx::query(
            "INSERT INTO incidents (org_id, id, data, recorded_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, id) DO UPDATE SET data = excluded.data, recorded_by = excluded.recorded_by",
        )
        .bind(org_id)
        .bind(&inc.id)
        .bind(json(inc)?)
        .bind(by)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Creates or updates an organisation from a validated bundle, in one transaction.
    /// `target` says which organisation (see [`LoadTarget`]); the by-name match only ever
    /// finds an organisation `actor` may already see. Assets, findings and incidents are
    /// upserted by id (nothing is deleted); controls are replaced; a finding whose state is
    /// new or changed gets a history entry. An insurer that loads an organisation is linked
    /// to it in the same transaction.
    pub async fn load_bundle(
        &self,
        target: LoadTarget<'_>,
        bundle: &Bundle,
        actor: &Principal,
    ) -> Result<LoadSummary> {
        let raw = bundle.raw();
        let at = now();
        let mut tx = self.begin_write().await?;
        // Concurrent loads to one organisation must not lose a version increment: on
        // PostgreSQL lock its row for the transaction (SQLite's write lock already serialises).
        let id = match target {
            LoadTarget::Existing(id) | LoadTarget::Id(id) => Some(id.to_owned()),
            LoadTarget::ByName => {
                let (visible, binds) = visible_condition(actor, 2);
                let sql = format!(
                    "SELECT o.id FROM organizations o WHERE o.name = $1 AND {visible} \
                     ORDER BY o.created_at, o.id LIMIT 2"
                );
                let mut q = sqlx::query_scalar::<_, String>(&sql).bind(&raw.profile.name);
                for b in binds {
                    q = q.bind(b);
                }
                let mut ids = q.fetch_all(&mut *tx).await?;
                if ids.len() > 1 {
                    return Err(StoreError::Conflict(format!(
                        "more than one organisation you can see is named {:?}: load into one by its id \
                         (POST /organizations/{{id}}/bundle, or cyrisk orgs load --org ID)",
                        raw.profile.name
                    )));
                }
                ids.pop()
            }
        };
        let row = match &id {
            Some(id) => sqlx::query(&format!(
                "SELECT id, inputs_version, profile, scan_date FROM organizations WHERE id = $1{}",
                self.backend.row_lock()
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?,
            None => None,
        };
        if let (Some(r), true) = (&row, actor.role.is_rated_party()) {
            // The rated party's profile (size, industry, data volumes, the incident window) and
            // scan date set its baseline: it cannot restate them itself.
            let stored: Profile =
                parse("organization profile", &r.try_get::<String, _>("profile")?)?;
            let scan_date: Option<String> = r.try_get("scan_date")?;
            if stored != raw.profile {
                return Err(StoreError::Forbidden {
                    code: "recorded_by_third_party",
                    message: "profile: the rated party cannot change its own profile; an assessor, the insurer or an admin can".into(),
                });
            }
            if raw
                .scan_date
                .is_some_and(|d| Some(d.to_string()) != scan_date)
            {
                return Err(StoreError::Forbidden {
                    code: "recorded_by_third_party",
                    message: "scan_date: the rated party cannot change the scan date; its scans are imported".into(),
                });
            }
        }
        let existing: Option<(String, i64)> = row
            .map(|r| Ok::<_, sqlx::Error>((r.try_get("id")?, r.try_get("inputs_version")?)))
            .transpose()?;
        if let (LoadTarget::Existing(id), None) = (target, &existing) {
            return Err(StoreError::NotFound {
                what: "organization",
                id: id.to_owned(),
            });
        }
        let created = existing.is_none();
        let id = match (&existing, target) {
            (Some((i, _)), _) => i.clone(),
            (None, LoadTarget::Id(i)) => i.to_owned(),
            (None, _) => new_id(),
        };
        let version = existing.as_ref().map_or(1, |(_, v)| v + 1);
        let profile = json(&raw.profile)?;
        let scan_date = raw.scan_date.map(|d| d.to_string());
        if created {
            sqlx::query(
                "INSERT INTO organizations (id, name, industry, profile, scan_date, inputs_version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(&raw.profile.name)
            .bind(raw.profile.industry.as_str())
            .bind(&profile)
            .bind(scan_date)
            .bind(version)
            .bind(&at)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE organizations SET name = $2, industry = $3, profile = $4, scan_date = COALESCE($5, scan_date), \
                 inputs_version = $6, updated_at = $7 WHERE id = $1",
            )
            .bind(&id)
            .bind(&raw.profile.name)
            .bind(raw.profile.industry.as_str())
            .bind(&profile)
            .bind(scan_date)
            .bind(version)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }

        // Controls are replaced as a set; assets, findings and incidents upserted by id.
        let mut batch = InputsBatch {
            assets: raw.assets.clone(),
            findings: raw.findings.clone(),
            controls: raw.controls.clone(),
            incidents: raw.incidents.clone(),
        };
        let written = crate::inputs::write_batch(
            &mut tx,
            self.backend,
            &id,
            crate::inputs::Check {
                profile: None,
                fresh: created,
            },
            &mut batch,
            ControlsMode::Replace,
            Change {
                actor,
                at: &at,
                reason: Some("bundle load"),
            },
        )
        .await?;
        let changed = written.findings_changed_state;

        let mut summary = LoadSummary {
            org_id: id.clone(),
            created,
            inputs_version: version,
            assets: raw.assets.len(),
            findings: raw.findings.len(),
            findings_changed_state: changed,
            controls: raw.controls.len(),
            incidents: raw.incidents.len(),
            rerate_job: String::new(),
        };
        if actor.role == crate::Role::Insurer {
            crate::keys::link_in(&mut tx, &actor.key_id, &id, "loaded").await?;
        }
        summary.rerate_job =
            crate::jobs::enqueue_on(&mut tx, &crate::jobs::NewJob::rerate(&id, "bundle load"))
                .await?
                .id;
        crate::keys::audit(
            &mut tx,
            Some(&actor.key_id),
            "organization.load_bundle",
            Some(&id),
            &summary,
        )
        .await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// The organisation's current inputs as a bundle (assets, findings and incidents sorted
    /// by id, controls in load order).
    /// Read in one snapshot transaction, so the parts are from one moment.
    pub async fn bundle(&self, org_id: &str) -> Result<AssessmentBundle> {
        let mut tx = self.begin_read().await?;
        let b = bundle_on(&mut tx, org_id).await?;
        tx.commit().await?;
        Ok(b)
    }

    /// The current inputs with the inputs version they are, read in one snapshot transaction
    /// (the version first: were the snapshot ever not one, the label would be too old — and
    /// the rating recomputed — never too new).
    pub async fn bundle_versioned(&self, org_id: &str) -> Result<(AssessmentBundle, i64)> {
        let mut tx = self.begin_read().await?;
        let v: Option<i64> =
            sqlx::query_scalar("SELECT inputs_version FROM organizations WHERE id = $1")
                .bind(org_id)
                .fetch_optional(&mut *tx)
                .await?;
        let b = bundle_on(&mut tx, org_id).await?;
        tx.commit().await?;
        let v = v.ok_or_else(|| StoreError::NotFound {
            what: "organization",
            id: org_id.to_owned(),
        })?;
        Ok((b, v))
    }

    pub async fn organization(&self, org_id: &str) -> Result<OrgSummary> {
        let r = sqlx::query("SELECT id, name, industry, inputs_version, updated_at FROM organizations WHERE id = $1")
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "organization", id: org_id.to_owned() })?;
        org_summary(&r)
    }

    /// The organisations a principal may see, ordered by name, then id.
    pub async fn list_organizations_for(
        &self,
        p: &Principal,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<OrgSummary>> {
        let (visible, binds) = visible_condition(p, 1);
        let n = binds.len();
        let sql = format!(
            "SELECT o.id, o.name, o.industry, o.inputs_version, o.updated_at FROM organizations o \
             WHERE {visible} ORDER BY o.name, o.id LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        rows.iter().map(org_summary).collect()
    }

    /// Organisations ordered by name, then id.
    pub async fn list_organizations(&self, limit: i64, offset: i64) -> Result<Vec<OrgSummary>> {
        sqlx::query(
            "SELECT id, name, industry, inputs_version, updated_at FROM organizations ORDER BY name, id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(org_summary)
        .collect()
    }

    /// Findings of an organisation, by id, optionally only those in `state`; the state
    /// column is authoritative.
    pub async fn list_findings(
        &self,
        org_id: &str,
        state: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Finding>> {
        let rows = sqlx::query(
            "SELECT data, state, counts_as FROM findings WHERE org_id = $1 AND ($2 IS NULL OR state = $2) \
             ORDER BY id LIMIT $3 OFFSET $4",
        )
        .bind(org_id)
        .bind(state)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(finding_from_row).collect()
    }

    /// Assets of an organisation, by id.
    pub async fn list_assets(
        &self,
        org_id: &str,
        internet_facing: Option<bool>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Asset>> {
        sqlx::query(
            "SELECT data FROM assets WHERE org_id = $1 AND ($2 IS NULL OR internet_facing = $2) ORDER BY id LIMIT $3 OFFSET $4",
        )
        .bind(org_id)
        .bind(internet_facing.map(i64::from))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| parse("asset", &r.try_get::<String, _>("data")?))
        .collect()
    }

    /// One asset.
    pub async fn asset(&self, org_id: &str, asset_id: &str) -> Result<Asset> {
        let r = sqlx::query("SELECT data FROM assets WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(asset_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "asset",
                id: asset_id.to_owned(),
            })?;
        parse("asset", &r.try_get::<String, _>("data")?)
    }

    /// Control results of an organisation, in load order.
    pub async fn list_controls(&self, org_id: &str) -> Result<Vec<ControlResult>> {
        self.json_rows(
            "SELECT data FROM controls WHERE org_id = $1 ORDER BY seq",
            org_id,
            "control",
        )
        .await
    }

    /// Incidents of an organisation, by id.
    pub async fn list_incidents(&self, org_id: &str) -> Result<Vec<Incident>> {
        self.json_rows(
            "SELECT data FROM incidents WHERE org_id = $1 ORDER BY id",
            org_id,
            "incident",
        )
        .await
    }

    /// The `data` column of every row a one-parameter query returns, parsed as `T`.
    async fn json_rows<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        org_id: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        sqlx::query(sql)
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| parse(what, &r.try_get::<String, _>("data")?))
            .collect()
    }

    /// One finding.
    pub async fn finding(&self, org_id: &str, finding_id: &str) -> Result<Finding> {
        let row = sqlx::query(
            "SELECT data, state, counts_as FROM findings WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(finding_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "finding",
            id: finding_id.to_owned(),
        })?;
        finding_from_row(&row)
    }

    /// A finding's lifecycle history, oldest first.
    pub async fn finding_history(
        &self,
        org_id: &str,
        finding_id: &str,
    ) -> Result<Vec<StateChange>> {
        sqlx::query(
            "SELECT state, counts_as, at, actor, role, reason, evidence FROM finding_history \
             WHERE org_id = $1 AND finding_id = $2 ORDER BY seq",
        )
        .bind(org_id)
        .bind(finding_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(StateChange {
                state: r.try_get("state")?,
                counts_as: r.try_get("counts_as")?,
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                role: r.try_get("role")?,
                reason: r.try_get("reason")?,
                evidence: r.try_get("evidence")?,
            })
        })
        .collect()
    }

    /// Rows per table for one organisation (for tests and diagnostics).
    pub async fn counts(&self, org_id: &str) -> Result<[i64; 5]> {
        let mut out = [0i64; 5];
        for (i, table) in [
            "assets",
            "findings",
            "controls",
            "incidents",
            "finding_history",
        ]
        .iter()
        .enumerate()
        {
            let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE org_id = $1");
            out[i] = sqlx::query(&sql)
                .bind(org_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        }
        Ok(out)
    }
}

/// A finding from its stored JSON, with the state column (authoritative) applied.
pub(crate) fn finding_from_row(r: &sqlx::any::AnyRow) -> Result<Finding> {
    let mut f: Finding = parse("finding", &r.try_get::<String, _>("data")?)?;
    f.state = state_of(&r.try_get::<String, _>("state")?)?;
    f.counts_as = r
        .try_get::<Option<String>, _>("counts_as")?
        .as_deref()
        .map(state_of)
        .transpose()?;
    Ok(f)
}

/// A stored lifecycle state.
pub(crate) fn state_of(s: &str) -> Result<FindingState> {
    FindingState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("finding state {s:?}")))
}

fn org_summary(r: &sqlx::any::AnyRow) -> Result<OrgSummary> {
    Ok(OrgSummary {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        industry: r.try_get("industry")?,
        inputs_version: r.try_get("inputs_version")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// [`Store::bundle`] on the caller's connection (inside its transaction, if it has one).
pub(crate) async fn bundle_on(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
) -> Result<AssessmentBundle> {
    let row = sqlx::query("SELECT profile, scan_date FROM organizations WHERE id = $1")
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "organization",
            id: org_id.to_owned(),
        })?;
    let profile: Profile = parse(
        "organization profile",
        &row.try_get::<String, _>("profile")?,
    )?;
    let scan_date = row
        .try_get::<Option<String>, _>("scan_date")?
        .map(|d| {
            d.parse()
                .map_err(|e| StoreError::Corrupt(format!("scan_date {d:?}: {e}")))
        })
        .transpose()?;
    let assets: Vec<Asset> = json_rows_on(
        conn,
        "SELECT data FROM assets WHERE org_id = $1 ORDER BY id",
        org_id,
        "asset",
    )
    .await?;
    let findings: Vec<Finding> =
        sqlx::query("SELECT data, state, counts_as FROM findings WHERE org_id = $1 ORDER BY id")
            .bind(org_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(finding_from_row)
            .collect::<Result<_>>()?;
    let controls = json_rows_on(
        conn,
        "SELECT data FROM controls WHERE org_id = $1 ORDER BY seq",
        org_id,
        "control",
    )
    .await?;
    let incidents = json_rows_on(
        conn,
        "SELECT data FROM incidents WHERE org_id = $1 ORDER BY id",
        org_id,
        "incident",
    )
    .await?;
    Ok(AssessmentBundle {
        schema_version: 1,
        profile,
        assets,
        findings,
        controls,
        incidents,
        scan_date,
    })
}

/// The `data` column of every row a one-parameter query returns, parsed as `T`.
async fn json_rows_on<T: serde::de::DeserializeOwned>(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    org_id: &str,
    what: &str,
) -> Result<Vec<T>> {
    sqlx::query(sql)
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| parse(what, &r.try_get::<String, _>("data")?))
        .collect()
}
