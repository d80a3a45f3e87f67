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
use cyrisk_store::{
    BookRating, BookScore, BookSimulation, BookSimulationPolicy, PolicyPhase, Principal,
};
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

/// A quote of the book, its terms and price read from the stored quote document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookQuoteRow {
    pub quote_id: String,
    pub org_id: String,
    /// The key that priced it (`None`: the operator, from the command line).
    pub key_id: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub rating_id: String,
    /// The rating it was priced on (250–900) and its grade.
    pub score: Option<i64>,
    pub grade: Option<String>,
    /// ISO 4217 code of its amounts.
    pub currency: String,
    pub deductible: Option<f64>,
    pub limit: Option<f64>,
    pub aggregate_limit: Option<f64>,
    /// Simulated years.
    pub trials: Option<i64>,
    /// Expected annual loss to the layer (the pure premium).
    pub layer_expected_loss: Option<f64>,
    /// The annual premium quoted.
    pub premium: Option<f64>,
    pub rate_on_line: Option<f64>,
    /// `book_co_tvar`, `book_covariance` or `stand_alone`.
    pub capital_method: Option<String>,
    pub capital: Option<f64>,
}

impl BookQuoteRow {
    /// From a stored quote: the figures its document holds (absent ones `None`); `Internal`
    /// when the stored document is not JSON.
    pub fn from_stored(q: &cyrisk_store::StoredQuote) -> Result<Self> {
        let d: serde_json::Value = serde_json::from_str(&q.quote)
            .map_err(|e| AppError::internal(format!("stored quote {}: {e}", q.id)))?;
        let f = |v: &serde_json::Value| v.as_f64();
        Ok(Self {
            quote_id: q.id.clone(),
            org_id: q.org_id.clone(),
            key_id: q.key_id.clone(),
            created_at: q.created_at.clone(),
            rating_id: q.rating_id.clone(),
            score: d["rating"]["score"].as_i64(),
            grade: d["rating"]["grade"].as_str().map(str::to_owned),
            currency: d["currency"].as_str().unwrap_or_default().to_owned(),
            deductible: f(&d["layer"]["deductible"]),
            limit: f(&d["layer"]["limit"]),
            aggregate_limit: f(&d["layer"]["aggregate_limit"]),
            trials: d["simulation"]["trials"].as_i64(),
            layer_expected_loss: f(&d["simulation"]["layer"]["expected_loss"]),
            premium: f(&d["premium"]["premium"]),
            rate_on_line: f(&d["premium"]["rate_on_line"]),
            capital_method: d["premium"]["capital_method"].as_str().map(str::to_owned),
            capital: f(&d["premium"]["capital"]),
        })
    }
}

/// The book as rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookTables {
    pub as_of: NaiveDate,
    /// The insurer whose book it is; `None`: every organisation (an admin's view).
    pub insurer_key_id: Option<String>,
    pub organizations: Vec<BookOrgRow>,
    /// Every stored rating of the book's organisations, by organisation then as computed —
    /// read only for the ratings export (empty otherwise).
    pub ratings: Vec<BookRating>,
    pub policies: Vec<BookPolicyRow>,
    /// The movers' period start.
    pub movers_since: NaiveDate,
    /// Each rated organisation's score at `movers_since` (its latest rating dated on or
    /// before it), by organisation id; absent if first rated after it.
    pub start_scores: Vec<(String, i64)>,
    /// The book's claims by date of loss — read only for the claims export (empty otherwise).
    pub claims: Vec<cyrisk_store::InsuranceClaim>,
    /// The book's quotes (an insurer's own), oldest first — only for the quotes export.
    pub quotes: Vec<BookQuoteRow>,
    /// A stored simulation and its per-policy results — only for the simulation export.
    pub simulation: Option<(BookSimulation, Vec<BookSimulationPolicy>)>,
}

impl BookTables {
    /// A book of `insurer` (`None`: everything) as of today with no rows, for an export that
    /// fills only its own table.
    fn empty(insurer: Option<String>) -> Self {
        Self {
            as_of: today(),
            insurer_key_id: insurer,
            organizations: Vec::new(),
            ratings: Vec::new(),
            policies: Vec::new(),
            movers_since: today(),
            start_scores: Vec::new(),
            claims: Vec::new(),
            quotes: Vec::new(),
            simulation: None,
        }
    }
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
    /// The loss ratio by underwriting year and currency (the book's loss run today; empty
    /// before any policy).
    pub loss_ratio_by_year: Vec<crate::claims::LossRunTotal>,
    /// Accumulation by shared product, vendor, provider, industry and region, from the
    /// newest stored simulation of this book; `None` before one has run.
    pub accumulation: Option<BookAccumulation>,
}

/// The book's accumulation as its newest simulation found it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookAccumulation {
    pub simulation_id: String,
    /// RFC 3339 UTC.
    pub simulated_at: String,
    /// ISO 4217 code of its amounts (the severity model's currency).
    pub currency: String,
    /// The simulation's years.
    pub trials: i64,
    /// By `product`, `vendor`, `provider`, `industry`, `region`.
    pub groups: std::collections::BTreeMap<String, Vec<crate::book_sim::Accumulation>>,
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
    Claims,
    Quotes,
    Simulation,
}

impl BookTable {
    /// `organizations`, `ratings`, `policies`, `claims`, `quotes` or `simulation`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "organizations" => Some(Self::Organizations),
            "ratings" => Some(Self::Ratings),
            "policies" => Some(Self::Policies),
            "claims" => Some(Self::Claims),
            "quotes" => Some(Self::Quotes),
            "simulation" => Some(Self::Simulation),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organizations => "organizations",
            Self::Ratings => "ratings",
            Self::Policies => "policies",
            Self::Claims => "claims",
            Self::Quotes => "quotes",
            Self::Simulation => "simulation",
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
    /// The summary of `book` (movers measured since its `movers_since`).
    fn summary(&self, book: &BookTables) -> std::result::Result<BookSummary, String>;

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
    /// an admin any insurer's or everything; `Forbidden` for the other roles. Scores at
    /// `since` for the movers; the claims only `with_claims` (the claims export). Every rating
    /// row, the quotes and a simulation's rows are not read here (see [`App::book_export`]).
    pub async fn book(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
        since: NaiveDate,
        with_claims: bool,
    ) -> Result<BookTables> {
        let insurer = self.book_owner(p, insurer_key_id).await?;
        let as_of = today();
        let orgs = self.store.book_organizations(insurer.as_deref()).await?;
        let scores = self
            .store
            .book_scores(insurer.as_deref(), &since.to_string())
            .await?;
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
        let latest: std::collections::HashMap<&str, &BookScore> =
            scores.iter().map(|s| (s.org_id.as_str(), s)).collect();
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
            insurer_key_id: insurer.clone(),
            organizations,
            ratings: Vec::new(),
            policies,
            movers_since: since,
            start_scores: scores
                .iter()
                .filter_map(|s| s.start_score.map(|v| (s.org_id.clone(), v)))
                .collect(),
            claims: if with_claims {
                self.store.claims(None, insurer.as_deref(), None).await?
            } else {
                Vec::new()
            },
            quotes: Vec::new(),
            simulation: None,
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
        let since = today() - chrono::Duration::days(i64::from(period_days));
        let book = self.book(p, insurer_key_id, since, false).await?;
        let owner = book.insurer_key_id.clone();
        let analytics = self.analytics()?;
        let mut summary = tokio::task::spawn_blocking(move || analytics.summary(&book))
            .await?
            .map_err(AppError::internal)?;
        summary.loss_ratio_by_year = self
            .book_loss_run(p, owner.as_deref(), summary.as_of)
            .await?
            .totals;
        if let Some(newest) = self
            .store
            .book_simulations(owner.as_deref(), 1)
            .await?
            .into_iter()
            .next()
        {
            let sim = self.store.book_simulation(&newest.id).await?;
            let mut outcome: crate::book_sim::SimulationOutcome =
                serde_json::from_str(sim.result.as_deref().unwrap_or("{}"))
                    .map_err(AppError::internal)?;
            outcome.fill_dimensions();
            summary.accumulation = Some(BookAccumulation {
                simulation_id: sim.id,
                simulated_at: sim.created_at,
                currency: sim.currency,
                trials: sim.trials,
                groups: outcome.accumulation,
            });
        }
        Ok(summary)
    }

    /// One table of the book `p` may see, as a file; for `Simulation`, the per-policy results
    /// of `simulation_id` (default: the book's newest simulation; `NotFound` before one).
    pub async fn book_export(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
        table: BookTable,
        format: ExportFormat,
        simulation_id: Option<&str>,
    ) -> Result<Vec<u8>> {
        // Whose book first (a 403 or 404 before any complaint about the parameters).
        let owner = self.book_owner(p, insurer_key_id).await?;
        if simulation_id.is_some() && table != BookTable::Simulation {
            return Err(AppError::Invalid(
                "simulation_id: applies only to table=simulation".into(),
            ));
        }
        // The ratings, the quotes and the simulation's rows stand alone: nothing else of the
        // book is read for them.
        let book = match table {
            BookTable::Ratings => BookTables {
                ratings: self.store.book_ratings(owner.as_deref()).await?,
                ..BookTables::empty(owner)
            },
            BookTable::Quotes => BookTables {
                quotes: self
                    .store
                    .book_quotes(owner.as_deref())
                    .await?
                    .iter()
                    .map(BookQuoteRow::from_stored)
                    .collect::<Result<_>>()?,
                ..BookTables::empty(owner)
            },
            BookTable::Simulation => BookTables {
                simulation: Some(
                    self.book_simulation_policies(p, insurer_key_id, simulation_id)
                        .await?,
                ),
                ..BookTables::empty(owner)
            },
            _ => {
                self.book(p, insurer_key_id, today(), table == BookTable::Claims)
                    .await?
            }
        };
        let analytics = self.analytics()?;
        tokio::task::spawn_blocking(move || analytics.export(&book, table, format))
            .await?
            .map_err(AppError::internal)
    }
}

/// The mid-rank percentile of `score` among `scores` (which include it): 100 × (the scores
/// lower plus half of those equal, itself included) ÷ all, on 0–100, one decimal — the book
/// summary's [`PeerPercentile`] formula (which polars ranks in `cyrisk-analytics`). `None`
/// for no scores.
pub fn mid_rank_percentile(scores: &[i64], score: i64) -> Option<f64> {
    if scores.is_empty() {
        return None;
    }
    let lower = scores.iter().filter(|s| **s < score).count() as f64;
    let equal = scores.iter().filter(|s| **s == score).count() as f64;
    let p = 100.0 * (lower + equal / 2.0) / scores.len() as f64;
    Some((p * 10.0).round() / 10.0)
}

/// Every rated organisation's (id, industry, size band, latest score), by id: the population
/// the report's peer percentile is taken in.
#[derive(Debug, Default)]
pub struct PeerTable {
    rows: Vec<(String, String, String, i64)>,
}

/// The [`PeerTable`] with the ratings watermark it was read at.
pub(crate) type KeptPeers = std::sync::Mutex<Option<(String, Arc<PeerTable>)>>;

impl App {
    /// The [`PeerTable`], read again only when the store's ratings watermark moved (a rating
    /// stored, an organisation changed): a report or a live page costs one small query, not a
    /// read of every organisation.
    async fn peer_table(&self) -> Result<Arc<PeerTable>> {
        let mark = self.store.ratings_watermark().await?;
        if let Some((m, t)) = self
            .peers
            .lock()
            .map_err(|_| AppError::internal("the peer table's lock is poisoned"))?
            .as_ref()
            && *m == mark
        {
            return Ok(t.clone());
        }
        let scores = self.store.book_scores(None, &today().to_string()).await?;
        let latest: std::collections::HashMap<&str, i64> = scores
            .iter()
            .map(|s| (s.org_id.as_str(), s.score))
            .collect();
        let model = &self.models.rating;
        let mut rows = Vec::with_capacity(scores.len());
        for o in self.store.book_organizations(None).await? {
            let Some(score) = latest.get(o.id.as_str()).copied() else {
                continue;
            };
            let profile: cyrisk_core::profile::Profile =
                serde_json::from_str(&o.profile).map_err(AppError::internal)?;
            let band = model
                .size_band(profile.annual_revenue.get(), profile.employees)
                .as_str()
                .to_owned();
            rows.push((o.id, o.industry, band, score));
        }
        let table = Arc::new(PeerTable { rows });
        if let Ok(mut cache) = self.peers.lock() {
            *cache = Some((mark, table.clone()));
        }
        Ok(table)
    }

    /// `org_id`'s percentile among every organisation rated in cyrisk, by latest stored score:
    /// among its industry and size band, else (under [`MIN_PEERS`] rated members) its
    /// industry, else all — what the report and the live page show. `None` if it was never
    /// rated, or fewer than [`MIN_PEERS`] organisations are.
    pub async fn peer_percentile(&self, org_id: &str) -> Result<Option<PeerPercentile>> {
        let table = self.peer_table().await?;
        let rated = &table.rows;
        let Some((_, industry, band, mine)) = rated.iter().find(|r| r.0 == org_id) else {
            return Ok(None);
        };
        // Fewer rated organisations than a peer group needs: a percentile would show where
        // the few others' scores sit.
        if rated.len() < MIN_PEERS {
            return Ok(None);
        }
        let same_band: Vec<i64> = rated
            .iter()
            .filter(|r| r.1 == *industry && r.2 == *band)
            .map(|r| r.3)
            .collect();
        let same_industry: Vec<i64> = rated
            .iter()
            .filter(|r| r.1 == *industry)
            .map(|r| r.3)
            .collect();
        let (group, peers) = if same_band.len() >= MIN_PEERS {
            ("industry_size", same_band)
        } else if same_industry.len() >= MIN_PEERS {
            ("industry", same_industry)
        } else {
            ("book", rated.iter().map(|r| r.3).collect())
        };
        Ok(
            mid_rank_percentile(&peers, *mine).map(|percentile| PeerPercentile {
                org_id: org_id.to_owned(),
                score: *mine,
                percentile,
                peer_group: group.to_owned(),
                peers: peers.len(),
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::mid_rank_percentile;

    #[test]
    fn mid_rank_percentiles_share_ties() {
        let s = [600, 700, 700, 800, 850];
        assert_eq!(mid_rank_percentile(&s, 600), Some(10.0));
        assert_eq!(mid_rank_percentile(&s, 700), Some(40.0));
        assert_eq!(mid_rank_percentile(&s, 850), Some(90.0));
        assert_eq!(mid_rank_percentile(&[500], 500), Some(50.0));
        assert_eq!(mid_rank_percentile(&[], 500), None);
    }
}
