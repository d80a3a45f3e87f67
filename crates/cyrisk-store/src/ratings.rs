//! Computed ratings: immutable rows, so an organisation's rating history is an audit trail.

use cyrisk_core::Rating;
use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store, StoreError, new_id, now};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRating {
    pub id: String,
    pub org_id: String,
    pub computed_at: String,
    pub as_of: String,
    /// The organisation's inputs version the rating was computed from.
    pub inputs_version: i64,
    pub model_id: String,
    pub model_version: String,
    pub score: i64,
    pub grade: String,
    /// The threat-intelligence snapshots the rating used (`{"kev": version, "epss": version}`).
    pub feeds: Option<String>,
    pub rating: serde_json::Value,
}

/// A stored quote: the priced layer as JSON, with the rating it was priced on.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredQuote {
    pub id: String,
    pub org_id: String,
    pub key_id: Option<String>,
    pub created_at: String,
    pub rating_id: String,
    pub quote: String,
}

/// A stored rating with its document still as the stored JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRating {
    pub id: String,
    pub org_id: String,
    pub computed_at: String,
    pub as_of: String,
    pub inputs_version: i64,
    pub model_id: String,
    pub model_version: String,
    pub score: i64,
    pub grade: String,
    pub feeds: Option<String>,
    pub rating: String,
}

impl From<StoredRating> for RawRating {
    fn from(r: StoredRating) -> Self {
        Self {
            id: r.id,
            org_id: r.org_id,
            computed_at: r.computed_at,
            as_of: r.as_of,
            inputs_version: r.inputs_version,
            model_id: r.model_id,
            model_version: r.model_version,
            score: r.score,
            grade: r.grade,
            feeds: r.feeds,
            rating: r.rating.to_string(),
        }
    }
}

impl RawRating {
    /// The rating columns of a row (`id` and `org_id` given, as queries select them
    /// differently).
    fn from_row(r: &sqlx::any::AnyRow, id: String, org_id: String) -> Result<Self> {
        Ok(Self {
            id,
            org_id,
            computed_at: r.try_get("computed_at")?,
            as_of: r.try_get("as_of")?,
            inputs_version: r.try_get("inputs_version")?,
            model_id: r.try_get("model_id")?,
            model_version: r.try_get("model_version")?,
            score: r.try_get("score")?,
            grade: r.try_get("grade")?,
            feeds: r.try_get("feeds")?,
            rating: r.try_get("rating")?,
        })
    }

    /// With the rating document parsed.
    pub fn parse(self) -> Result<StoredRating> {
        let rating = serde_json::from_str(&self.rating)
            .map_err(|e| StoreError::Corrupt(format!("rating: {e}")))?;
        Ok(StoredRating {
            id: self.id,
            org_id: self.org_id,
            computed_at: self.computed_at,
            as_of: self.as_of,
            inputs_version: self.inputs_version,
            model_id: self.model_id,
            model_version: self.model_version,
            score: self.score,
            grade: self.grade,
            feeds: self.feeds,
            rating,
        })
    }
}

impl Store {
    /// Stores a rating computed from inputs version `inputs_version` with the feed versions
    /// `feeds` used.
    pub async fn insert_rating(
        &self,
        org_id: &str,
        rating: &Rating,
        inputs_version: i64,
        feeds: Option<&str>,
    ) -> Result<StoredRating> {
        let mut conn = self.pool.acquire().await?;
        insert_rating_on(&mut conn, org_id, rating, inputs_version, feeds, None).await
    }
    /// The newest ratings first.
    pub async fn ratings(&self, org_id: &str, limit: i64) -> Result<Vec<StoredRating>> {
        self.ratings_raw(org_id, limit, 0)
            .await?
            .into_iter()
            .map(RawRating::parse)
            .collect()
    }

    /// The newest ratings first (skipping `offset`), each rating document as stored (no
    /// parsing).
    pub async fn ratings_raw(
        &self,
        org_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<RawRating>> {
        sqlx::query(
            "SELECT id, org_id, computed_at, as_of, inputs_version, model_id, model_version, score, grade, rating, feeds \
             FROM ratings WHERE org_id = $1 ORDER BY computed_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(org_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| RawRating::from_row(r, r.try_get("id")?, r.try_get("org_id")?))
        .collect()
    }

    /// The score history: for each of the `dates` most recent rating dates (`as_of`), the last
    /// rating computed for that date, as (`as_of` `YYYY-MM-DD`, score 250–900, grade), oldest
    /// first. One row per date from the database (a window over the `(org_id, as_of)` index),
    /// however many re-ratings a day had; no rating document is read.
    pub async fn score_history(
        &self,
        org_id: &str,
        dates: usize,
    ) -> Result<Vec<(String, i64, String)>> {
        let rows = sqlx::query(
            "SELECT as_of, score, grade FROM ( \
               SELECT as_of, score, grade, ROW_NUMBER() OVER ( \
                 PARTITION BY as_of ORDER BY computed_at DESC, id DESC) AS rn \
               FROM ratings WHERE org_id = $1) latest \
             WHERE rn = 1 ORDER BY as_of DESC LIMIT $2",
        )
        .bind(org_id)
        .bind(i64::try_from(dates).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("as_of")?,
                    r.try_get("score")?,
                    r.try_get("grade")?,
                ))
            })
            .collect::<Result<Vec<(String, i64, String)>>>()?;
        out.reverse();
        Ok(out)
    }

    /// One stored rating of an organisation, unparsed.
    pub async fn rating_raw(&self, org_id: &str, id: &str) -> Result<RawRating> {
        let r = sqlx::query(
            "SELECT id, org_id, computed_at, as_of, inputs_version, model_id, model_version, score, grade, rating, feeds \
             FROM ratings WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| crate::StoreError::NotFound {
            what: "rating",
            id: id.to_owned(),
        })?;
        RawRating::from_row(&r, r.try_get("id")?, r.try_get("org_id")?)
    }

    /// Stores a quote (and audits it).
    pub async fn insert_quote(
        &self,
        org_id: &str,
        key_id: Option<&str>,
        rating_id: &str,
        quote: &serde_json::Value,
    ) -> Result<StoredQuote> {
        let q = StoredQuote {
            id: new_id(),
            org_id: org_id.to_owned(),
            key_id: key_id.map(str::to_owned),
            created_at: now(),
            rating_id: rating_id.to_owned(),
            quote: quote.to_string(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO quotes (id, org_id, key_id, created_at, rating_id, quote) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&q.id)
            .bind(&q.org_id)
            .bind(&q.key_id)
            .bind(&q.created_at)
            .bind(&q.rating_id)
            .bind(&q.quote)
            .execute(&mut *tx)
            .await?;
        crate::keys::audit(
            &mut tx,
            key_id,
            "quote.create",
            Some(org_id),
            &serde_json::json!({ "quote": q.id }),
        )
        .await?;
        tx.commit().await?;
        Ok(q)
    }

    /// An organisation's quotes, newest first (skipping `offset`); only those `key_id` asked
    /// for when given.
    pub async fn quotes(
        &self,
        org_id: &str,
        key_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredQuote>> {
        sqlx::query("SELECT id, org_id, key_id, created_at, rating_id, quote FROM quotes WHERE org_id = $1 \
                     AND ($2 IS NULL OR key_id = $2) ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4")
            .bind(org_id)
            .bind(key_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(quote_row)
            .collect()
    }

    pub async fn latest_rating(&self, org_id: &str) -> Result<Option<StoredRating>> {
        Ok(self.ratings(org_id, 1).await?.into_iter().next())
    }

    /// The hot path of the live rating, in one round trip: the organisation's current inputs
    /// version, its latest rating with the rating document as stored text (no parsing), and
    /// whether a re-rating of it is queued or running. `None` if there is no such organisation.
    pub async fn current_rating_raw(&self, org_id: &str) -> Result<Option<CurrentRating>> {
        let row = sqlx::query(&format!(
            "SELECT o.inputs_version AS current_version, r.id, r.computed_at, r.as_of, r.inputs_version, r.model_id, \
             r.model_version, r.score, r.grade, r.rating, r.feeds, \
             CASE WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.org_id = o.id AND j.kind = '{}' \
                AND j.state IN ('queued', 'running')) THEN 1 ELSE 0 END AS pending \
             FROM organizations o LEFT JOIN ratings r ON r.id = ( \
               SELECT id FROM ratings WHERE org_id = o.id ORDER BY computed_at DESC, id DESC LIMIT 1) \
             WHERE o.id = $1",
            crate::jobs::RERATE
        ))
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let inputs_version: i64 = r.try_get("current_version")?;
        let rerate_pending = r.try_get::<i64, _>("pending")? > 0;
        let id: Option<String> = r.try_get("id")?;
        let latest = id
            .map(|id| RawRating::from_row(&r, id, org_id.to_owned()))
            .transpose()?;
        Ok(Some(CurrentRating {
            inputs_version,
            latest,
            rerate_pending,
        }))
    }
}

/// What the live rating needs to know, read in one query.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentRating {
    /// The organisation's inputs version now.
    pub inputs_version: i64,
    /// Its latest stored rating.
    pub latest: Option<RawRating>,
    /// A re-rating job for it is queued or running (its inputs or a feed changed).
    pub rerate_pending: bool,
}

/// Inserts a rating on the caller's connection; `job_id` names the job that computed it (at
/// most one rating per job: a unique index).
pub(crate) async fn insert_rating_on(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
    rating: &Rating,
    inputs_version: i64,
    feeds: Option<&str>,
    job_id: Option<&str>,
) -> Result<StoredRating> {
    insert_rating_with_id(
        conn,
        &new_id(),
        org_id,
        rating,
        inputs_version,
        feeds,
        job_id,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn insert_rating_with_id(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    org_id: &str,
    rating: &Rating,
    inputs_version: i64,
    feeds: Option<&str>,
    job_id: Option<&str>,
) -> Result<StoredRating> {
    let value = serde_json::to_value(rating).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let stored = StoredRating {
        id: id.to_owned(),
        org_id: org_id.to_owned(),
        computed_at: now(),
        as_of: rating.as_of.to_string(),
        inputs_version,
        model_id: rating.model.id.clone(),
        model_version: rating.model.version.clone(),
        score: i64::from(rating.score),
        grade: rating.grade.clone(),
        feeds: feeds.map(str::to_owned),
        rating: value,
    };
    sqlx::query(
        "INSERT INTO ratings (id, org_id, computed_at, as_of, inputs_version, model_id, model_version, score, grade, rating, feeds, job_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&stored.id)
    .bind(&stored.org_id)
    .bind(&stored.computed_at)
    .bind(&stored.as_of)
    .bind(stored.inputs_version)
    .bind(&stored.model_id)
    .bind(&stored.model_version)
    .bind(stored.score)
    .bind(&stored.grade)
    .bind(stored.rating.to_string())
    .bind(&stored.feeds)
    .bind(job_id)
    .execute(&mut *conn)
    .await?;
    Ok(stored)
}

impl crate::WriteTx {
    /// [`Store::insert_rating`] in this transaction, recording the job that computed it.
    pub async fn insert_rating(
        &mut self,
        org_id: &str,
        rating: &Rating,
        inputs_version: i64,
        feeds: Option<&str>,
        job_id: Option<&str>,
    ) -> Result<StoredRating> {
        insert_rating_on(&mut self.tx, org_id, rating, inputs_version, feeds, job_id).await
    }

    /// [`WriteTx::insert_rating`] under an id the caller chose (a new UUID), for a use case
    /// that refers to the rating before storing it.
    pub async fn insert_rating_as(
        &mut self,
        id: &str,
        org_id: &str,
        rating: &Rating,
        inputs_version: i64,
        feeds: Option<&str>,
        job_id: Option<&str>,
    ) -> Result<StoredRating> {
        insert_rating_with_id(
            &mut self.tx,
            id,
            org_id,
            rating,
            inputs_version,
            feeds,
            job_id,
        )
        .await
    }

    /// The organisation's inputs version, read in this transaction.
    pub async fn inputs_version(&mut self, org_id: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT inputs_version FROM organizations WHERE id = $1")
            .bind(org_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "organization",
                id: org_id.to_owned(),
            })
    }
}

impl Store {
    /// How many ratings job `job_id` stored (0 or 1).
    pub async fn ratings_by_job(&self, job_id: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM ratings WHERE job_id = $1")
                .bind(job_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// The columns `id, org_id, key_id, created_at, rating_id, quote` as a stored quote.
pub(crate) fn quote_row(r: &sqlx::any::AnyRow) -> Result<StoredQuote> {
    Ok(StoredQuote {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        key_id: r.try_get("key_id")?,
        created_at: r.try_get("created_at")?,
        rating_id: r.try_get("rating_id")?,
        quote: r.try_get("quote")?,
    })
}
