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
        book_query(&sql, insurer)
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
        book_query(&sql, insurer)
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

/// An organisation's latest stored rating and its score at the start of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookScore {
    pub org_id: String,
    /// The latest rating (by `computed_at`, then id): score 250–900, grade, date `YYYY-MM-DD`.
    pub score: i64,
    pub grade: String,
    pub as_of: String,
    /// The score of the latest rating dated on or before the period's start; `None` if the
    /// organisation was first rated after it.
    pub start_score: Option<i64>,
}

impl Store {
    /// Each book organisation's latest rating and its score at `since` (`YYYY-MM-DD`), by
    /// organisation id; organisations never rated are absent. One query with two window
    /// functions, so only two rows per organisation leave the database, however many ratings
    /// it has.
    pub async fn book_scores(&self, insurer: Option<&str>, since: &str) -> Result<Vec<BookScore>> {
        let from = match insurer {
            Some(_) => format!(
                "ratings r JOIN ({}) b ON b.org_id = r.org_id",
                BOOK.replace("$1", "$2")
            ),
            None => "ratings r".to_owned(),
        };
        let sql = format!(
            "SELECT org_id, score, grade, as_of, rn, rb FROM (\
               SELECT r.org_id, r.score, r.grade, r.as_of, \
                 ROW_NUMBER() OVER (PARTITION BY r.org_id ORDER BY r.computed_at DESC, r.id DESC) AS rn, \
                 CASE WHEN r.as_of <= $1 THEN ROW_NUMBER() OVER (PARTITION BY r.org_id, r.as_of <= $1 \
                   ORDER BY r.computed_at DESC, r.id DESC) END AS rb \
               FROM {from}) x \
             WHERE rn = 1 OR rb = 1 ORDER BY org_id, rn"
        );
        let mut q = sqlx::query(&sql).bind(since);
        if let Some(k) = insurer {
            q = q.bind(k);
        }
        let mut out: Vec<BookScore> = Vec::new();
        for r in q.fetch_all(&self.pool).await? {
            let org_id: String = r.try_get("org_id")?;
            let score: i64 = r.try_get("score")?;
            let rn: i64 = r.try_get("rn")?;
            let rb: Option<i64> = r.try_get("rb")?;
            if rn == 1 {
                out.push(BookScore {
                    org_id,
                    score,
                    grade: r.try_get("grade")?,
                    as_of: r.try_get("as_of")?,
                    start_score: (rb == Some(1)).then_some(score),
                });
            } else if let Some(last) = out.last_mut().filter(|l| l.org_id == org_id) {
                // Ordered by organisation, then rn: the latest row came first.
                last.start_score = Some(score);
            }
        }
        Ok(out)
    }
}

impl Store {
    /// A value that changes whenever a rating is stored or an organisation changes (the
    /// count and newest time of ratings, the newest organisation update): what a cache of
    /// every organisation's latest score checks before it is used. One query.
    pub async fn ratings_watermark(&self) -> Result<String> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM ratings) AS n, \
             (SELECT MAX(computed_at) FROM ratings) AS rated, \
             (SELECT MAX(updated_at) FROM organizations) AS updated",
        )
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = r.try_get("n")?;
        let rated: Option<String> = r.try_get("rated")?;
        let updated: Option<String> = r.try_get("updated")?;
        Ok(format!(
            "{n}|{}|{}",
            rated.unwrap_or_default(),
            updated.unwrap_or_default()
        ))
    }
}

/// What a book simulation needs of one organisation: its profile, its latest stored rating's
/// document, its assets and its findings still counted (not closed, not false positive).
#[derive(Debug, Clone)]
pub struct BookInventory {
    pub org_id: String,
    pub profile: cyrisk_core::profile::Profile,
    /// The latest stored rating: its document (JSON), score and grade; `None` if never rated.
    pub rating: Option<(String, i64, String)>,
    pub assets: Vec<cyrisk_core::asset::Asset>,
    pub open_findings: Vec<cyrisk_core::finding::Finding>,
}

impl Store {
    /// The inventories of the book's organisations (`Some(key)`: those the insurer holds a
    /// policy on; `None`: every organisation), by id — four queries however large the book,
    /// where reading each organisation's bundle would take several per organisation.
    pub async fn book_inventories(&self, insurer: Option<&str>) -> Result<Vec<BookInventory>> {
        let join = |alias: &str| match insurer {
            Some(_) => format!("JOIN ({BOOK}) b ON b.org_id = {alias}.org_id"),
            None => String::new(),
        };
        let mut out: Vec<BookInventory> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for o in self.book_organizations(insurer).await? {
            let profile = crate::orgs::parse("organization profile", &o.profile)?;
            index.insert(o.id.clone(), out.len());
            out.push(BookInventory {
                org_id: o.id,
                profile,
                rating: None,
                assets: Vec::new(),
                open_findings: Vec::new(),
            });
        }
        let ratings_sql = format!(
            "SELECT org_id, rating, score, grade FROM (\
               SELECT r.org_id, r.rating, r.score, r.grade, ROW_NUMBER() OVER \
                 (PARTITION BY r.org_id ORDER BY r.computed_at DESC, r.id DESC) AS rn \
               FROM ratings r {}) x WHERE rn = 1",
            join("r")
        );
        for r in book_query(&ratings_sql, insurer)
            .fetch_all(&self.pool)
            .await?
        {
            let id: String = r.try_get("org_id")?;
            if let Some(&i) = index.get(&id) {
                out[i].rating = Some((
                    r.try_get("rating")?,
                    r.try_get("score")?,
                    r.try_get("grade")?,
                ));
            }
        }
        let assets_sql = format!(
            "SELECT a.org_id, a.data FROM assets a {} ORDER BY a.org_id, a.id",
            join("a")
        );
        for r in book_query(&assets_sql, insurer)
            .fetch_all(&self.pool)
            .await?
        {
            let id: String = r.try_get("org_id")?;
            if let Some(&i) = index.get(&id) {
                out[i].assets.push(crate::orgs::parse(
                    "asset",
                    &r.try_get::<String, _>("data")?,
                )?);
            }
        }
        let findings_sql = format!(
            "SELECT f.org_id, f.data, f.state, f.counts_as FROM findings f {} \
             WHERE f.state NOT IN ('closed', 'false_positive') ORDER BY f.org_id, f.id",
            join("f")
        );
        for r in book_query(&findings_sql, insurer)
            .fetch_all(&self.pool)
            .await?
        {
            let id: String = r.try_get("org_id")?;
            if let Some(&i) = index.get(&id) {
                out[i]
                    .open_findings
                    .push(crate::orgs::finding_from_row(&r)?);
            }
        }
        Ok(out)
    }
}

/// `sql` with the insurer bound as `$1` when there is one.
fn book_query<'q>(
    sql: &'q str,
    insurer: Option<&str>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let q = sqlx::query(sql);
    match insurer {
        Some(k) => q.bind(k.to_owned()),
        None => q,
    }
}

impl Store {
    /// The book's quotes, oldest first: `Some(key)` those the insurer key priced, `None`
    /// every quote (an admin's view; a quote the operator priced has no key).
    pub async fn book_quotes(&self, insurer: Option<&str>) -> Result<Vec<crate::StoredQuote>> {
        let sql = match insurer {
            Some(_) => {
                "SELECT id, org_id, key_id, created_at, rating_id, quote FROM quotes \
                 WHERE key_id = $1 ORDER BY created_at, id"
            }
            None => {
                "SELECT id, org_id, key_id, created_at, rating_id, quote FROM quotes \
                 ORDER BY created_at, id"
            }
        };
        book_query(sql, insurer)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(crate::ratings::quote_row)
            .collect()
    }
}
