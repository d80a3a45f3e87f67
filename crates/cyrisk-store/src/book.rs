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

/// The organisations in an insurer's book: those it holds a policy on (in any state).
const BOOK: &str = "SELECT DISTINCT org_id FROM policies WHERE insurer_key_id = $1";

impl Store {
    /// The book's organisations, by id: `Some(key)` those the insurer holds a policy on (in any
    /// state), `None` every organisation.
    pub async fn book_organizations(&self, insurer: Option<&str>) -> Result<Vec<BookOrganization>> {
        let sql = match insurer {
            Some(_) => format!(
                "SELECT o.id, o.name, o.industry, o.profile FROM organizations o \
                 JOIN ({BOOK}) b ON b.org_id = o.id ORDER BY o.id"
            ),
            None => "SELECT id, name, industry, profile FROM organizations ORDER BY id".to_owned(),
        };
        let mut q = sqlx::query(&sql);
        if let Some(k) = insurer {
            q = q.bind(k);
        }
        q.fetch_all(&self.pool)
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
        let columns =
            "r.org_id, r.as_of, r.computed_at, r.score, r.grade, r.model_id, r.model_version";
        let sql = match insurer {
            Some(_) => format!(
                "SELECT {columns} FROM ratings r JOIN ({BOOK}) b ON b.org_id = r.org_id \
                 ORDER BY r.org_id, r.computed_at, r.id"
            ),
            None => {
                format!("SELECT {columns} FROM ratings r ORDER BY r.org_id, r.computed_at, r.id")
            }
        };
        let mut q = sqlx::query(&sql);
        if let Some(k) = insurer {
            q = q.bind(k);
        }
        q.fetch_all(&self.pool)
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
