//! Threat-intelligence snapshots: stored as loaded (the file's bytes), versioned, never
//! changed; the latest of each kind enriches ratings.

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store, StoreError, new_id, now};

/// A stored snapshot, without its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedSnapshot {
    pub id: String,
    /// `kev` or `epss`.
    pub kind: String,
    pub version: String,
    pub content_hash: String,
    pub loaded_at: String,
    pub entries: i64,
}

fn snapshot(r: &sqlx::any::AnyRow) -> Result<FeedSnapshot> {
    Ok(FeedSnapshot {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        version: r.try_get("version")?,
        content_hash: r.try_get("content_hash")?,
        loaded_at: r.try_get("loaded_at")?,
        entries: r.try_get("entries")?,
    })
}

const COLUMNS: &str = "id, kind, version, content_hash, loaded_at, entries";

impl Store {
    /// Stores a snapshot unless the same file (by hash) was loaded before; returns it and
    /// whether it is new.
    pub async fn insert_feed(
        &self,
        kind: &str,
        version: &str,
        content_hash: &str,
        entries: i64,
        data: &[u8],
        actor: Option<&str>,
    ) -> Result<(FeedSnapshot, bool)> {
        let mut tx = self.begin_write().await?;
        if let Some(r) = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM feed_snapshots WHERE kind = $1 AND content_hash = $2"
        ))
        .bind(kind)
        .bind(content_hash)
        .fetch_optional(&mut *tx)
        .await?
        {
            return Ok((snapshot(&r)?, false));
        }
        let s = FeedSnapshot {
            id: new_id(),
            kind: kind.to_owned(),
            version: version.to_owned(),
            content_hash: content_hash.to_owned(),
            loaded_at: now(),
            entries,
        };
        sqlx::query(
            "INSERT INTO feed_snapshots (id, kind, version, content_hash, loaded_at, entries, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id)
        .bind(&s.kind)
        .bind(&s.version)
        .bind(&s.content_hash)
        .bind(&s.loaded_at)
        .bind(s.entries)
        .bind(data.to_vec())
        .execute(&mut *tx)
        .await?;
        crate::keys::audit(
            &mut tx,
            actor,
            "feed.load",
            None,
            &serde_json::json!({ "kind": kind, "version": version, "snapshot": s.id }),
        )
        .await?;
        tx.commit().await?;
        Ok((s, true))
    }

    /// The newest snapshot of a kind.
    pub async fn latest_feed(&self, kind: &str) -> Result<Option<FeedSnapshot>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM feed_snapshots WHERE kind = $1 ORDER BY loaded_at DESC, id DESC LIMIT 1"
        ))
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| snapshot(&r))
        .transpose()
    }

    /// The newest snapshot of a kind loaded before `snapshot_id`.
    pub async fn feed_before(&self, kind: &str, snapshot_id: &str) -> Result<Option<FeedSnapshot>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM feed_snapshots WHERE kind = $1 AND id <> $2 AND loaded_at <= \
             (SELECT loaded_at FROM feed_snapshots WHERE id = $2) ORDER BY loaded_at DESC, id DESC LIMIT 1"
        ))
        .bind(kind)
        .bind(snapshot_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| snapshot(&r))
        .transpose()
    }

    /// A snapshot's bytes, as loaded.
    pub async fn feed_data(&self, snapshot_id: &str) -> Result<Vec<u8>> {
        let r = sqlx::query("SELECT data FROM feed_snapshots WHERE id = $1")
            .bind(snapshot_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "feed snapshot",
                id: snapshot_id.to_owned(),
            })?;
        Ok(r.try_get("data")?)
    }

    /// (organisation, CVE) of every finding with a CVE that still counts in the rating (as
    /// it is counted: a fix only the rated party declared still counts).
    pub async fn open_cves(&self) -> Result<Vec<(String, String)>> {
        sqlx::query(
            "SELECT DISTINCT org_id, cve FROM findings WHERE cve IS NOT NULL \
             AND COALESCE(counts_as, state) NOT IN ('closed', 'false_positive')",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("org_id")?, r.try_get("cve")?)))
        .collect()
    }
}
