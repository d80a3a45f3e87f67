//! Threat-intelligence snapshots: stored as loaded (the file's bytes), versioned, never
//! changed; the newest of each kind — by the date its content carries, not by when it was
//! loaded — enriches ratings.

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
    /// The date the snapshot's content carries (KEV release, EPSS score date), `YYYY-MM-DD`.
    pub published: String,
    pub content_hash: String,
    pub loaded_at: String,
    pub entries: i64,
}

fn snapshot(r: &sqlx::any::AnyRow) -> Result<FeedSnapshot> {
    Ok(FeedSnapshot {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        version: r.try_get("version")?,
        published: r
            .try_get::<Option<String>, _>("published")?
            .unwrap_or_default(),
        content_hash: r.try_get("content_hash")?,
        loaded_at: r.try_get("loaded_at")?,
        entries: r.try_get("entries")?,
    })
}

/// A snapshot to store: the file's bytes as loaded and what its parse said.
#[derive(Debug, Clone, Copy)]
pub struct NewFeed<'a> {
    /// `kev` or `epss`.
    pub kind: &'a str,
    pub version: &'a str,
    /// The date the content carries, `YYYY-MM-DD`.
    pub published: &'a str,
    pub content_hash: &'a str,
    pub entries: i64,
    pub data: &'a [u8],
}

const COLUMNS: &str = "id, kind, version, published, content_hash, loaded_at, entries";

impl Store {
    /// Stores a snapshot unless the same file (by hash) was loaded before; returns it and
    /// whether it is new.
    pub async fn insert_feed(
        &self,
        new: &NewFeed<'_>,
        actor: Option<&str>,
    ) -> Result<(FeedSnapshot, bool)> {
        let mut tx = self.begin_write().await?;
        if let Some(r) = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM feed_snapshots WHERE kind = $1 AND content_hash = $2"
        ))
        .bind(new.kind)
        .bind(new.content_hash)
        .fetch_optional(&mut *tx)
        .await?
        {
            return Ok((snapshot(&r)?, false));
        }
        let s = FeedSnapshot {
            id: new_id(),
            kind: new.kind.to_owned(),
            version: new.version.to_owned(),
            published: new.published.to_owned(),
            content_hash: new.content_hash.to_owned(),
            loaded_at: now(),
            entries: new.entries,
        };
        sqlx::query(
            "INSERT INTO feed_snapshots (id, kind, version, published, content_hash, loaded_at, entries, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id)
        .bind(&s.kind)
        .bind(&s.version)
        .bind(&s.published)
        .bind(&s.content_hash)
        .bind(&s.loaded_at)
        .bind(s.entries)
        .bind(new.data.to_vec())
        .execute(&mut *tx)
        .await?;
        crate::keys::audit(
            &mut tx,
            actor,
            "feed.load",
            None,
            &serde_json::json!({ "kind": s.kind, "version": s.version, "snapshot": s.id }),
        )
        .await?;
        tx.commit().await?;
        Ok((s, true))
    }

    /// The current snapshot of a kind: the newest by the date its content carries (of two
    /// with the same date, the one loaded last).
    pub async fn latest_feed(&self, kind: &str) -> Result<Option<FeedSnapshot>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM feed_snapshots WHERE kind = $1 \
             ORDER BY published DESC, loaded_at DESC, id DESC LIMIT 1"
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

    /// (organisation, CVE) of every CVE of every finding that still counts in the rating
    /// (as it is counted: a fix only the rated party declared still counts).
    pub async fn open_cves(&self) -> Result<Vec<(String, String)>> {
        let mut out = std::collections::BTreeSet::new();
        for r in sqlx::query(
            "SELECT DISTINCT org_id, COALESCE(cves, cve) AS cves FROM findings \
             WHERE COALESCE(cves, cve) IS NOT NULL \
             AND COALESCE(counts_as, state) NOT IN ('closed', 'false_positive')",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let org: String = r.try_get("org_id")?;
            let cves: String = r.try_get("cves")?;
            for c in cves.split_whitespace() {
                out.insert((org.clone(), c.to_owned()));
            }
        }
        Ok(out.into_iter().collect())
    }
}
