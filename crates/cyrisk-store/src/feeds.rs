//! Threat-intelligence snapshots: stored as loaded (the file's bytes), versioned, never
//! changed; the newest of each kind — by the date its content carries, not by when it was
//! loaded — enriches ratings.

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store, StoreError, new_id, now};

/// Which feed a snapshot is: every stored kind is one of these, and anything else in the
/// table is reported as corrupt rather than guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    /// The CISA Known Exploited Vulnerabilities catalogue (JSON).
    Kev,
    /// FIRST's Exploit Prediction Scoring System daily scores (CSV).
    Epss,
}

impl FeedKind {
    pub const ALL: [FeedKind; 2] = [Self::Kev, Self::Epss];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kev => "kev",
            Self::Epss => "epss",
        }
    }

    /// The kind named `s`, if there is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored snapshot, without its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedSnapshot {
    pub id: String,
    pub kind: FeedKind,
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
        kind: {
            let k: String = r.try_get("kind")?;
            FeedKind::parse(&k).ok_or_else(|| StoreError::Corrupt(format!("feed kind {k:?}")))?
        },
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
    pub kind: FeedKind,
    pub version: &'a str,
    /// The date the content carries, `YYYY-MM-DD`.
    pub published: &'a str,
    pub content_hash: &'a str,
    pub entries: i64,
    pub data: &'a [u8],
}

const COLUMNS: &str = "id, kind, version, published, content_hash, loaded_at, entries";

/// Stores a snapshot on the caller's connection unless the same file (by hash) was loaded
/// before; returns it and whether it is new.
async fn insert_feed_on(
    conn: &mut sqlx::AnyConnection,
    new: &NewFeed<'_>,
    actor: Option<&str>,
) -> Result<(FeedSnapshot, bool)> {
    if let Some(r) = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM feed_snapshots WHERE kind = $1 AND content_hash = $2"
    ))
    .bind(new.kind.as_str())
    .bind(new.content_hash)
    .fetch_optional(&mut *conn)
    .await?
    {
        return Ok((snapshot(&r)?, false));
    }
    let s = FeedSnapshot {
        id: new_id(),
        kind: new.kind,
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
    .bind(s.kind.as_str())
    .bind(&s.version)
    .bind(&s.published)
    .bind(&s.content_hash)
    .bind(&s.loaded_at)
    .bind(s.entries)
    .bind(new.data.to_vec())
    .execute(&mut *conn)
    .await?;
    crate::keys::audit(
        conn,
        actor,
        "feed.load",
        None,
        &serde_json::json!({ "kind": s.kind, "version": s.version, "snapshot": s.id }),
    )
    .await?;
    Ok((s, true))
}

/// The current snapshot of a kind on the caller's connection.
async fn latest_feed_on(
    conn: &mut sqlx::AnyConnection,
    kind: FeedKind,
) -> Result<Option<FeedSnapshot>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM feed_snapshots WHERE kind = $1 \
         ORDER BY published DESC, loaded_at DESC, id DESC LIMIT 1"
    ))
    .bind(kind.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| snapshot(&r))
    .transpose()
}

/// The SQL list of the finding states that never count in a rating.
fn retired_states() -> String {
    cyrisk_core::finding::FindingState::RETIRED
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// [`Store::open_cves`] on the caller's connection.
async fn open_cves_on(conn: &mut sqlx::AnyConnection) -> Result<Vec<(String, String)>> {
    let mut out = std::collections::BTreeSet::new();
    for r in sqlx::query(&format!(
        "SELECT DISTINCT org_id, COALESCE(cves, cve) AS cves FROM findings \
         WHERE COALESCE(cves, cve) IS NOT NULL \
         AND COALESCE(counts_as, state) NOT IN ({})",
        retired_states()
    ))
    .fetch_all(&mut *conn)
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

impl Store {
    /// Stores a snapshot unless the same file (by hash) was loaded before; returns it and
    /// whether it is new.
    pub async fn insert_feed(
        &self,
        new: &NewFeed<'_>,
        actor: Option<&str>,
    ) -> Result<(FeedSnapshot, bool)> {
        let mut tx = self.begin_write().await?;
        let r = insert_feed_on(&mut tx, new, actor).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// The current snapshot of a kind: the newest by the date its content carries (of two
    /// with the same date, the one loaded last).
    pub async fn latest_feed(&self, kind: FeedKind) -> Result<Option<FeedSnapshot>> {
        let mut conn = self.pool.acquire().await?;
        latest_feed_on(&mut conn, kind).await
    }

    /// The newest snapshot of a kind loaded before `snapshot_id`.
    pub async fn feed_before(
        &self,
        kind: FeedKind,
        snapshot_id: &str,
    ) -> Result<Option<FeedSnapshot>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM feed_snapshots WHERE kind = $1 AND id <> $2 AND loaded_at <= \
             (SELECT loaded_at FROM feed_snapshots WHERE id = $2) ORDER BY loaded_at DESC, id DESC LIMIT 1"
        ))
        .bind(kind.as_str())
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
        let mut conn = self.pool.acquire().await?;
        open_cves_on(&mut conn).await
    }
}

impl crate::WriteTx {
    /// Serialises feed loads of `kind` until this transaction ends (PostgreSQL: a transaction
    /// advisory lock; SQLite's single writer already does), so that which snapshot is current,
    /// and what changed against it, cannot change under a concurrent load.
    pub async fn lock_feed(&mut self, kind: FeedKind) -> Result<()> {
        if self.backend == crate::Backend::Postgres {
            let key: i64 = match kind {
                FeedKind::Kev => 0x6379_7269_736b_0001,
                FeedKind::Epss => 0x6379_7269_736b_0002,
            };
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// [`Store::latest_feed`] in this transaction.
    pub async fn latest_feed(&mut self, kind: FeedKind) -> Result<Option<FeedSnapshot>> {
        latest_feed_on(&mut self.tx, kind).await
    }

    /// [`Store::insert_feed`] in this transaction.
    pub async fn insert_feed(
        &mut self,
        new: &NewFeed<'_>,
        actor: Option<&str>,
    ) -> Result<(FeedSnapshot, bool)> {
        insert_feed_on(&mut self.tx, new, actor).await
    }

    /// [`Store::open_cves`] in this transaction.
    pub async fn open_cves(&mut self) -> Result<Vec<(String, String)>> {
        open_cves_on(&mut self.tx).await
    }
}
