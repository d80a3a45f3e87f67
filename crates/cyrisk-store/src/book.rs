//! The insurer's book as rows for analytics: the organisations an insurer holds policies on
//! (or every organisation), and every rating of them. Plain reads in one query each; the
//! analytics crate turns them into tables.

use sqlx::Row;

use crate::{Result, Store};

/// An organisation of the book, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BookOrganization {
    pub id: String,
    pub name: String,
    pub industry: String,
    /// The profile as stored (JSON).
    pub profile: String,
}

/// One stored rating of a book organisation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BookRating {
    pub org_id: String,
    /// The rating date (`YYYY-MM-DD`).
    pub as_of: String,
    /// RFC 3339 UTC.
    pub computed_at: String,
    /// 250–900.
    pub score: i64,
    pub grade: String,
    /// `id version` of the rating model.
    pub model: String,
}

/// The organisations in `insurer`'s book: `Some(key)` those it holds a policy on (in any
/// state), `None` every organisation.
const BOOK: &str = "SELECT o.id FROM organizations o WHERE $1 IS NULL OR EXISTS \
                    (SELECT 1 FROM policies p WHERE p.org_id = o.id AND p.insurer_key_id = $1)";

impl Store {
    /// The book's organisations (see [`BOOK`]), by id.
    pub async fn book_organizations(&self, insurer: Option<&str>) -> Result<Vec<BookOrganization>> {
        sqlx::query(&format!(
            "SELECT id, name, industry, profile FROM organizations WHERE id IN ({BOOK}) ORDER BY id"
        ))
        .bind(insurer)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(BookOrganization {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                industry: r.try_get("industry")?,
                profile: r.try_get("profile")?,
            })
        })
        .collect()
    }

    /// Every rating of the book's organisations, by organisation, then as computed.
    pub async fn book_ratings(&self, insurer: Option<&str>) -> Result<Vec<BookRating>> {
        sqlx::query(&format!(
            "SELECT org_id, as_of, computed_at, score, grade, model_id, model_version FROM ratings \
             WHERE org_id IN ({BOOK}) ORDER BY org_id, computed_at, id"
        ))
        .bind(insurer)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(BookRating {
                org_id: r.try_get("org_id")?,
                as_of: r.try_get("as_of")?,
                computed_at: r.try_get("computed_at")?,
                score: r.try_get("score")?,
                grade: r.try_get("grade")?,
                model: format!(
                    "{} {}",
                    r.try_get::<String, _>("model_id")?,
                    r.try_get::<String, _>("model_version")?
                ),
            })
        })
        .collect()
    }
}
