//! The insurer's book: its organisations, their ratings and its policies as plain rows
//! ([`BookTables`]), gathered from the store for the caller, and the seam ([`BookAnalytics`])
//! through which the binary's analytics crate (`cyrisk-analytics`, polars) summarises and
//! exports them — polars stays out of every other crate.
//!
//! Whose book: an insurer's own (the organisations it holds a policy on, in any state); an
//! admin's, any insurer's (`insurer_key_id`) or, without one, every organisation with every
//! policy. Enterprises and assessors have no book.

use std::sync::Arc;

use chrono::NaiveDate;
use cyrisk_store::{BookRating, PolicyPhase, Principal, Role};
use serde::Serialize;

use crate::error::{AppError, Result};
use crate::{App, today};

/// An organisation of the book, with its latest rating and its policies in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookOrgRow {
    pub org_id: String,
    pub name: String,
    pub industry: String,
    pub region: String,
    /// `micro` … `xlarge`, from revenue (and employees), by the rating model's bands.
    pub size_band: String,
    /// ISO 4217 code of the profile's amounts and of its policies.
    pub currency: String,
    pub annual_revenue: f64,
    pub employees: u32,
    /// The latest stored rating (250–900), its grade and date; `None` if never rated.
    pub score: Option<i64>,
    pub grade: Option<String>,
    pub rated_on: Option<NaiveDate>,
    /// Policies of the book in force on the as-of date, their limits and annual premiums.
    pub policies_in_force: usize,
    pub limit_in_force: f64,
    pub premium_in_force: f64,
}

/// A policy of the book.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookPolicyRow {
    pub policy_id: String,
    pub org_id: String,
    pub insurer_key_id: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub currency: String,
    pub deductible: f64,
    pub limit: f64,
    /// Annual premium (after endorsements).
    pub premium: f64,
    /// Written premium (after cancellations' returns).
    pub written_premium: f64,
    /// `bound`, `active`, `expired` or `cancelled` on the as-of date.
    pub phase: String,
}

/// The book as rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookTables {
    pub as_of: NaiveDate,
    /// The insurer whose book it is; `None`: every organisation (an admin's view).
    pub insurer_key_id: Option<String>,
    pub organizations: Vec<BookOrgRow>,
    /// Every stored rating of the book's organisations.
    pub ratings: Vec<BookRating>,
    pub policies: Vec<BookPolicyRow>,
}

/// Totals of one group of the book (one grade, industry, region or size band, in one currency).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookGroup {
    pub key: String,
    pub currency: String,
    pub organizations: usize,
    /// Of them, rated.
    pub rated: usize,
    /// Mean latest score of the rated ones.
    pub mean_score: Option<f64>,
    pub policies_in_force: usize,
    pub limit_in_force: f64,
    pub premium_in_force: f64,
}

/// Organisations by latest score, in bins of [`SCORE_BIN`] points from 250.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoreBin {
    /// Inclusive lower bound.
    pub from: i64,
    /// Exclusive upper bound (the last bin includes 900).
    pub to: i64,
    pub organizations: usize,
}

/// An organisation's percentile among its peers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerPercentile {
    pub org_id: String,
    pub score: i64,
    /// 0–100, higher is better: 100 × (peers scoring lower + half of those scoring the same,
    /// itself included) ÷ peers — the mid-rank percentile, so ties share one value.
    pub percentile: f64,
    /// `industry_size` (same industry and size band), `industry`, or `book`: the narrowest
    /// group with at least [`MIN_PEERS`] rated members, else the whole book.
    pub peer_group: String,
    /// Rated members of that group, itself included.
    pub peers: usize,
}

/// A score change over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mover {
    pub org_id: String,
    pub name: String,
    /// The last score on or before the period's start.
    pub from: i64,
    /// The latest score.
    pub to: i64,
    pub change: i64,
}

/// The book's summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookSummary {
    pub as_of: NaiveDate,
    pub insurer_key_id: Option<String>,
    pub organizations: usize,
    pub rated: usize,
    pub policies_in_force: usize,
    pub by_grade: Vec<BookGroup>,
    pub by_industry: Vec<BookGroup>,
    pub by_region: Vec<BookGroup>,
    pub by_size_band: Vec<BookGroup>,
    pub score_distribution: Vec<ScoreBin>,
    /// Every rated organisation's percentile among its peers, by organisation id.
    pub percentiles: Vec<PeerPercentile>,
    /// The period's start for the movers.
    pub movers_since: NaiveDate,
    /// The largest rises, then the largest falls (at most [`TOP_MOVERS`] each).
    pub top_risers: Vec<Mover>,
    pub top_fallers: Vec<Mover>,
}

/// Width of the score distribution's bins, in points.
pub const SCORE_BIN: i64 = 50;
/// The smallest peer group a percentile is taken in before falling back to a wider one.
pub const MIN_PEERS: usize = 5;
/// How many risers and fallers the summary lists.
pub const TOP_MOVERS: usize = 10;

/// A table of the book, for export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookTable {
    Organizations,
    Ratings,
    Policies,
}

impl BookTable {
    /// `organizations`, `ratings` or `policies`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "organizations" => Some(Self::Organizations),
            "ratings" => Some(Self::Ratings),
            "policies" => Some(Self::Policies),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organizations => "organizations",
            Self::Ratings => "ratings",
            Self::Policies => "policies",
        }
    }
}

/// An export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

impl ExportFormat {
    /// `csv` or `parquet`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Summarises and exports the book (supplied by the binary: `cyrisk-analytics`).
pub trait BookAnalytics: Send + Sync + std::fmt::Debug {
    /// The summary of `book`, movers measured since `since`.
    fn summary(
        &self,
        book: &BookTables,
        since: NaiveDate,
    ) -> std::result::Result<BookSummary, String>;

    /// One table of `book` as a file.
    fn export(
        &self,
        book: &BookTables,
        table: BookTable,
        format: ExportFormat,
    ) -> std::result::Result<Vec<u8>, String>;
}

impl App {
    /// The book `p` may see: an insurer its own (`insurer_key_id` must be absent or its own),
    /// an admin any insurer's or everything; `Forbidden` for the other roles.
    pub async fn book(&self, p: &Principal, insurer_key_id: Option<&str>) -> Result<BookTables> {
        let insurer = match p.role {
            Role::Insurer => {
                if insurer_key_id.is_some_and(|k| k != p.key_id) {
                    return Err(AppError::forbidden("an insurer key sees only its own book"));
                }
                Some(p.key_id.clone())
            }
            Role::Admin => insurer_key_id.map(str::to_owned),
            Role::Enterprise | Role::Assessor => {
                return Err(AppError::forbidden(
                    "only insurers and admins have a book of policies",
                ));
            }
        };
        let as_of = today();
        let orgs = self.store.book_organizations(insurer.as_deref()).await?;
        let ratings = self.store.book_ratings(insurer.as_deref()).await?;
        let policies: Vec<BookPolicyRow> = self
            .store
            .policies_of(insurer.as_deref())
            .await?
            .into_iter()
            .map(|p| BookPolicyRow {
                phase: match p.phase(as_of) {
                    PolicyPhase::Bound => "bound",
                    PolicyPhase::Active => "active",
                    PolicyPhase::Expired => "expired",
                    PolicyPhase::Cancelled => "cancelled",
                }
                .to_owned(),
                policy_id: p.id,
                org_id: p.org_id,
                insurer_key_id: p.insurer_key_id,
                starts_on: p.starts_on,
                ends_on: p.ends_on,
                currency: p.currency,
                deductible: p.deductible,
                limit: p.limit,
                premium: p.premium,
                written_premium: p.written_premium,
            })
            .collect();
        // The latest rating of each organisation (ratings come by organisation, as computed).
        let mut latest: std::collections::HashMap<&str, &BookRating> = Default::default();
        for r in &ratings {
            latest.insert(r.org_id.as_str(), r);
        }
        let mut in_force: std::collections::HashMap<&str, (usize, f64, f64)> = Default::default();
        for p in policies.iter().filter(|p| p.phase == "active") {
            let e = in_force.entry(p.org_id.as_str()).or_default();
            e.0 += 1;
            e.1 += p.limit;
            e.2 += p.premium;
        }
        let model = &self.models.rating;
        let mut organizations = Vec::with_capacity(orgs.len());
        for o in &orgs {
            let profile: cyrisk_core::profile::Profile =
                serde_json::from_str(&o.profile).map_err(AppError::internal)?;
            let r = latest.get(o.id.as_str());
            let f = in_force.get(o.id.as_str()).copied().unwrap_or_default();
            organizations.push(BookOrgRow {
                org_id: o.id.clone(),
                name: o.name.clone(),
                industry: o.industry.clone(),
                region: profile.region.clone(),
                size_band: model
                    .size_band(profile.annual_revenue.get(), profile.employees)
                    .as_str()
                    .to_owned(),
                currency: profile.currency.as_str().to_owned(),
                annual_revenue: profile.annual_revenue.get(),
                employees: profile.employees,
                score: r.map(|r| r.score),
                grade: r.map(|r| r.grade.clone()),
                rated_on: r.and_then(|r| r.as_of.parse().ok()),
                policies_in_force: f.0,
                limit_in_force: f.1,
                premium_in_force: f.2,
            });
        }
        Ok(BookTables {
            as_of,
            insurer_key_id: insurer,
            organizations,
            ratings,
            policies,
        })
    }

    /// The analytics, or `Internal` when this build has none.
    pub fn analytics(&self) -> Result<Arc<dyn BookAnalytics>> {
        self.analytics
            .clone()
            .ok_or_else(|| AppError::internal("this build has no book analytics"))
    }

    /// The summary of the book `p` may see, movers over the last `period_days` days.
    pub async fn book_summary(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
        period_days: u32,
    ) -> Result<BookSummary> {
        let book = self.book(p, insurer_key_id).await?;
        let analytics = self.analytics()?;
        let since = book.as_of - chrono::Duration::days(i64::from(period_days));
        tokio::task::spawn_blocking(move || analytics.summary(&book, since))
            .await?
            .map_err(AppError::internal)
    }

    /// One table of the book `p` may see, as a file.
    pub async fn book_export(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
        table: BookTable,
        format: ExportFormat,
    ) -> Result<Vec<u8>> {
        let book = self.book(p, insurer_key_id).await?;
        let analytics = self.analytics()?;
        tokio::task::spawn_blocking(move || analytics.export(&book, table, format))
            .await?
            .map_err(AppError::internal)
    }
}
