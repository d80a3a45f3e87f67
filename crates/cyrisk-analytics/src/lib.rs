//! cyrisk-analytics: the insurer's book as polars tables — the summary (totals by grade,
//! industry, region and size band; the score distribution; peer percentiles; top movers) and
//! exports as CSV or Parquet with stable column names and types. A leaf crate: only the binary
//! depends on it (polars costs about 13 minutes of a clean build on two cores) and hands it to
//! the application as its [`BookAnalytics`].

use chrono::NaiveDate;
use cyrisk_app::book::{
    BookAnalytics, BookGroup, BookSummary, BookTable, BookTables, ExportFormat, MIN_PEERS, Mover,
    PeerPercentile, SCORE_BIN, ScoreBin, TOP_MOVERS,
};
use polars::prelude::*;

/// Days since 1970-01-01, polars' `Date` representation.
fn epoch_days(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((d - epoch).num_days()).unwrap_or(i32::MAX)
}

fn date_column(name: &str, days: Vec<Option<i32>>) -> PolarsResult<Column> {
    Series::new(name.into(), days)
        .cast(&DataType::Date)
        .map(Column::from)
}

/// The book's organisations: one row each.
///
/// | column | type |
/// |---|---|
/// | org_id, name, industry, region, size_band, currency | string |
/// | annual_revenue | f64 (in `currency`) |
/// | employees | u32 |
/// | score | i64, null if never rated (250–900) |
/// | grade | string, null if never rated |
/// | rated_on | date, null if never rated |
/// | policies_in_force | u32 |
/// | limit_in_force, premium_in_force | f64 (in `currency`) |
pub fn organizations(book: &BookTables) -> PolarsResult<DataFrame> {
    let o = &book.organizations;
    DataFrame::new_infer_height(vec![
        Column::new(
            "org_id".into(),
            o.iter().map(|r| r.org_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "name".into(),
            o.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "industry".into(),
            o.iter().map(|r| r.industry.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "region".into(),
            o.iter().map(|r| r.region.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "size_band".into(),
            o.iter().map(|r| r.size_band.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "currency".into(),
            o.iter().map(|r| r.currency.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "annual_revenue".into(),
            o.iter().map(|r| r.annual_revenue).collect::<Vec<_>>(),
        ),
        Column::new(
            "employees".into(),
            o.iter().map(|r| r.employees).collect::<Vec<_>>(),
        ),
        Column::new(
            "score".into(),
            o.iter().map(|r| r.score).collect::<Vec<_>>(),
        ),
        Column::new(
            "grade".into(),
            o.iter().map(|r| r.grade.clone()).collect::<Vec<_>>(),
        ),
        date_column(
            "rated_on",
            o.iter().map(|r| r.rated_on.map(epoch_days)).collect(),
        )?,
        Column::new(
            "policies_in_force".into(),
            o.iter()
                .map(|r| u32::try_from(r.policies_in_force).unwrap_or(u32::MAX))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "limit_in_force".into(),
            o.iter().map(|r| r.limit_in_force).collect::<Vec<_>>(),
        ),
        Column::new(
            "premium_in_force".into(),
            o.iter().map(|r| r.premium_in_force).collect::<Vec<_>>(),
        ),
    ])
}

/// Every stored rating of the book's organisations: `org_id` string, `as_of` date,
/// `computed_at` string (RFC 3339 UTC), `score` i64, `grade` string, `model` string.
pub fn ratings(book: &BookTables) -> PolarsResult<DataFrame> {
    let r = &book.ratings;
    DataFrame::new_infer_height(vec![
        Column::new(
            "org_id".into(),
            r.iter().map(|x| x.org_id.as_str()).collect::<Vec<_>>(),
        ),
        date_column(
            "as_of",
            r.iter()
                .map(|x| x.as_of.parse::<NaiveDate>().ok().map(epoch_days))
                .collect(),
        )?,
        Column::new(
            "computed_at".into(),
            r.iter().map(|x| x.computed_at.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "score".into(),
            r.iter().map(|x| x.score).collect::<Vec<_>>(),
        ),
        Column::new(
            "grade".into(),
            r.iter().map(|x| x.grade.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "model".into(),
            r.iter().map(|x| x.model.as_str()).collect::<Vec<_>>(),
        ),
    ])
}

/// The book's policies: `policy_id`, `org_id`, `insurer_key_id` strings; `starts_on`,
/// `ends_on` dates; `currency` string; `deductible`, `limit`, `premium` (annual),
/// `written_premium` f64; `phase` string (`bound`, `active`, `expired`, `cancelled` on the
/// as-of date).
pub fn policies(book: &BookTables) -> PolarsResult<DataFrame> {
    let p = &book.policies;
    DataFrame::new_infer_height(vec![
        Column::new(
            "policy_id".into(),
            p.iter().map(|x| x.policy_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "org_id".into(),
            p.iter().map(|x| x.org_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "insurer_key_id".into(),
            p.iter()
                .map(|x| x.insurer_key_id.as_str())
                .collect::<Vec<_>>(),
        ),
        date_column(
            "starts_on",
            p.iter().map(|x| Some(epoch_days(x.starts_on))).collect(),
        )?,
        date_column(
            "ends_on",
            p.iter().map(|x| Some(epoch_days(x.ends_on))).collect(),
        )?,
        Column::new(
            "currency".into(),
            p.iter().map(|x| x.currency.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "deductible".into(),
            p.iter().map(|x| x.deductible).collect::<Vec<_>>(),
        ),
        Column::new(
            "limit".into(),
            p.iter().map(|x| x.limit).collect::<Vec<_>>(),
        ),
        Column::new(
            "premium".into(),
            p.iter().map(|x| x.premium).collect::<Vec<_>>(),
        ),
        Column::new(
            "written_premium".into(),
            p.iter().map(|x| x.written_premium).collect::<Vec<_>>(),
        ),
        Column::new(
            "phase".into(),
            p.iter().map(|x| x.phase.as_str()).collect::<Vec<_>>(),
        ),
    ])
}

/// The book's claims, by date of loss: `claim_id`, `policy_id`, `org_id`, `insurer_key_id`
/// strings; `loss_on`, `notified_on` dates; `peril`, `status` (`open`, `closed`, `denied`)
/// strings; `closed_on` date (null while open); `currency` string (the policy's); `paid`,
/// `outstanding`, `incurred` f64 (in `currency`, from the claim's reserve and payment
/// movements).
pub fn claims(book: &BookTables) -> PolarsResult<DataFrame> {
    let c = &book.claims;
    let currency: std::collections::HashMap<&str, &str> = book
        .policies
        .iter()
        .map(|p| (p.policy_id.as_str(), p.currency.as_str()))
        .collect();
    DataFrame::new_infer_height(vec![
        Column::new(
            "claim_id".into(),
            c.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "policy_id".into(),
            c.iter().map(|x| x.policy_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "org_id".into(),
            c.iter().map(|x| x.org_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "insurer_key_id".into(),
            c.iter()
                .map(|x| x.insurer_key_id.as_str())
                .collect::<Vec<_>>(),
        ),
        date_column(
            "loss_on",
            c.iter().map(|x| Some(epoch_days(x.loss_on))).collect(),
        )?,
        date_column(
            "notified_on",
            c.iter().map(|x| Some(epoch_days(x.notified_on))).collect(),
        )?,
        Column::new(
            "peril".into(),
            c.iter().map(|x| x.peril.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "status".into(),
            c.iter().map(|x| x.status.as_str()).collect::<Vec<_>>(),
        ),
        date_column(
            "closed_on",
            c.iter().map(|x| x.closed_on.map(epoch_days)).collect(),
        )?,
        Column::new(
            "currency".into(),
            c.iter()
                .map(|x| currency.get(x.policy_id.as_str()).copied())
                .collect::<Vec<_>>(),
        ),
        Column::new("paid".into(), c.iter().map(|x| x.paid).collect::<Vec<_>>()),
        Column::new(
            "outstanding".into(),
            c.iter().map(|x| x.outstanding).collect::<Vec<_>>(),
        ),
        Column::new(
            "incurred".into(),
            c.iter().map(|x| x.incurred).collect::<Vec<_>>(),
        ),
    ])
}

/// The book's quotes, oldest first: `quote_id`, `org_id` strings; `key_id` string (null:
/// priced by the operator); `created_at` string (RFC 3339 UTC); `rating_id` string; `score`
/// i64; `grade`, `currency` strings; `deductible`, `limit`, `aggregate_limit` f64 (null: none);
/// `trials` i64; `layer_expected_loss`, `premium`, `rate_on_line` f64; `capital_method`
/// string; `capital` f64.
pub fn quotes(book: &BookTables) -> PolarsResult<DataFrame> {
    let q = &book.quotes;
    let s = |f: fn(&cyrisk_app::book::BookQuoteRow) -> Option<&str>| -> Vec<Option<&str>> {
        q.iter().map(f).collect()
    };
    DataFrame::new_infer_height(vec![
        Column::new("quote_id".into(), s(|x| Some(x.quote_id.as_str()))),
        Column::new("org_id".into(), s(|x| Some(x.org_id.as_str()))),
        Column::new("key_id".into(), s(|x| x.key_id.as_deref())),
        Column::new("created_at".into(), s(|x| Some(x.created_at.as_str()))),
        Column::new("rating_id".into(), s(|x| Some(x.rating_id.as_str()))),
        Column::new(
            "score".into(),
            q.iter().map(|x| x.score).collect::<Vec<_>>(),
        ),
        Column::new("grade".into(), s(|x| x.grade.as_deref())),
        Column::new("currency".into(), s(|x| Some(x.currency.as_str()))),
        Column::new(
            "deductible".into(),
            q.iter().map(|x| x.deductible).collect::<Vec<_>>(),
        ),
        Column::new(
            "limit".into(),
            q.iter().map(|x| x.limit).collect::<Vec<_>>(),
        ),
        Column::new(
            "aggregate_limit".into(),
            q.iter().map(|x| x.aggregate_limit).collect::<Vec<_>>(),
        ),
        Column::new(
            "trials".into(),
            q.iter().map(|x| x.trials).collect::<Vec<_>>(),
        ),
        Column::new(
            "layer_expected_loss".into(),
            q.iter().map(|x| x.layer_expected_loss).collect::<Vec<_>>(),
        ),
        Column::new(
            "premium".into(),
            q.iter().map(|x| x.premium).collect::<Vec<_>>(),
        ),
        Column::new(
            "rate_on_line".into(),
            q.iter().map(|x| x.rate_on_line).collect::<Vec<_>>(),
        ),
        Column::new("capital_method".into(), s(|x| x.capital_method.as_deref())),
        Column::new(
            "capital".into(),
            q.iter().map(|x| x.capital).collect::<Vec<_>>(),
        ),
    ])
}

/// A stored simulation's per-policy results: `simulation_id`, `policy_id`, `org_id`,
/// `currency` strings (the run's currency); `expected_loss` (expected annual layer loss),
/// `co_tvar` (mean layer loss in the book's worst 0.5 % of years), `co_tvar_share` (÷ the
/// book's TVaR 99.5 %; the shares add to 1) f64. Empty without a simulation.
pub fn simulation(book: &BookTables) -> PolarsResult<DataFrame> {
    let (id, currency, rows) = match &book.simulation {
        Some((s, rows)) => (s.id.as_str(), s.currency.as_str(), rows.as_slice()),
        None => ("", "", &[][..]),
    };
    DataFrame::new_infer_height(vec![
        Column::new("simulation_id".into(), vec![id; rows.len()]),
        Column::new(
            "policy_id".into(),
            rows.iter()
                .map(|x| x.policy_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "org_id".into(),
            rows.iter().map(|x| x.org_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new("currency".into(), vec![currency; rows.len()]),
        Column::new(
            "expected_loss".into(),
            rows.iter().map(|x| x.expected_loss).collect::<Vec<_>>(),
        ),
        Column::new(
            "co_tvar".into(),
            rows.iter().map(|x| x.co_tvar).collect::<Vec<_>>(),
        ),
        Column::new(
            "co_tvar_share".into(),
            rows.iter().map(|x| x.co_tvar_share).collect::<Vec<_>>(),
        ),
    ])
}

fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    Ok(df
        .column(name)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect())
}

fn floats(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(df
        .column(name)?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect())
}

fn ints(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    Ok(df
        .column(name)?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .collect())
}

/// Totals of the book grouped by `key` and currency, by key.
fn groups(orgs: &DataFrame, key: &str) -> PolarsResult<Vec<BookGroup>> {
    let g = orgs
        .clone()
        .lazy()
        .with_column(col(key).cast(DataType::String).fill_null(lit("unrated")))
        .group_by([col(key), col("currency")])
        .agg([
            len().alias("organizations"),
            col("score").count().alias("rated"),
            col("score")
                .cast(DataType::Float64)
                .mean()
                .alias("mean_score"),
            col("policies_in_force")
                .cast(DataType::Int64)
                .sum()
                .alias("policies_in_force"),
            col("limit_in_force").sum().alias("limit_in_force"),
            col("premium_in_force").sum().alias("premium_in_force"),
        ])
        .sort([key, "currency"], SortMultipleOptions::default())
        .collect()?;
    let (keys, currencies) = (strings(&g, key)?, strings(&g, "currency")?);
    let (n, rated) = (ints(&g, "organizations")?, ints(&g, "rated")?);
    let (mean, pif) = (floats(&g, "mean_score")?, ints(&g, "policies_in_force")?);
    let (limit, premium) = (
        floats(&g, "limit_in_force")?,
        floats(&g, "premium_in_force")?,
    );
    Ok((0..g.height())
        .map(|i| BookGroup {
            key: keys[i].clone(),
            currency: currencies[i].clone(),
            organizations: n[i].unwrap_or(0) as usize,
            rated: rated[i].unwrap_or(0) as usize,
            mean_score: mean[i],
            policies_in_force: pif[i].unwrap_or(0) as usize,
            limit_in_force: limit[i].unwrap_or(0.0),
            premium_in_force: premium[i].unwrap_or(0.0),
        })
        .collect())
}

/// Each rated organisation's mid-rank percentile in the narrowest peer group with at least
/// [`MIN_PEERS`] rated members: industry and size band, then industry, then the whole book.
fn percentiles(orgs: &DataFrame) -> PolarsResult<Vec<PeerPercentile>> {
    let average = RankOptions {
        method: RankMethod::Average,
        descending: false,
    };
    let by_is = [col("industry"), col("size_band")];
    let by_i = [col("industry")];
    let rated = orgs
        .clone()
        .lazy()
        .filter(col("score").is_not_null())
        .with_columns([
            len().over(by_is.clone())?.alias("n_is"),
            col("score").rank(average, None).over(by_is)?.alias("r_is"),
            len().over(by_i.clone())?.alias("n_i"),
            col("score").rank(average, None).over(by_i)?.alias("r_i"),
            len().alias("n_b"),
            col("score").rank(average, None).alias("r_b"),
        ])
        .sort(["org_id"], SortMultipleOptions::default())
        .collect()?;
    let ids = strings(&rated, "org_id")?;
    let scores = ints(&rated, "score")?;
    let (n_is, r_is) = (ints(&rated, "n_is")?, floats(&rated, "r_is")?);
    let (n_i, r_i) = (ints(&rated, "n_i")?, floats(&rated, "r_i")?);
    let (n_b, r_b) = (ints(&rated, "n_b")?, floats(&rated, "r_b")?);
    let mut out = Vec::with_capacity(rated.height());
    for i in 0..rated.height() {
        let pick = |n: Option<i64>| n.map_or(0, |n| n as usize);
        let (group, n, r) = if pick(n_is[i]) >= MIN_PEERS {
            ("industry_size", pick(n_is[i]), r_is[i])
        } else if pick(n_i[i]) >= MIN_PEERS {
            ("industry", pick(n_i[i]), r_i[i])
        } else {
            ("book", pick(n_b[i]), r_b[i])
        };
        // Average rank r (1-based) = below + (equal + 1) / 2, so below + equal / 2 = r − ½.
        let percentile = match r {
            Some(r) if n > 0 => 100.0 * (r - 0.5) / n as f64,
            _ => 0.0,
        };
        out.push(PeerPercentile {
            org_id: ids[i].clone(),
            score: scores[i].unwrap_or(0),
            percentile: (percentile * 10.0).round() / 10.0,
            peer_group: group.to_owned(),
            peers: n,
        });
    }
    Ok(out)
}

/// Score changes from each organisation's score at the period's start to its latest, by
/// organisation id (those unchanged left out).
fn movers(book: &BookTables) -> Vec<Mover> {
    let start: std::collections::HashMap<&str, i64> = book
        .start_scores
        .iter()
        .map(|(id, s)| (id.as_str(), *s))
        .collect();
    book.organizations
        .iter()
        .filter_map(|o| {
            let to = o.score?;
            let from = *start.get(o.org_id.as_str())?;
            (to != from).then(|| Mover {
                org_id: o.org_id.clone(),
                name: o.name.clone(),
                from,
                to,
                change: to - from,
            })
        })
        .collect()
}

/// The book's summary, movers measured since its `movers_since`.
pub fn summary(book: &BookTables) -> PolarsResult<BookSummary> {
    let orgs = organizations(book)?;
    let scores: Vec<i64> = ints(&orgs, "score")?.into_iter().flatten().collect();
    let score_distribution = (250..900)
        .step_by(SCORE_BIN as usize)
        .map(|from| {
            let to = from + SCORE_BIN;
            ScoreBin {
                from,
                to,
                organizations: scores
                    .iter()
                    .filter(|s| **s >= from && (**s < to || (to >= 900 && **s <= 900)))
                    .count(),
            }
        })
        .collect();
    let mut moved = movers(book);
    let mut top_risers: Vec<Mover> = moved.iter().filter(|m| m.change > 0).cloned().collect();
    top_risers.sort_by(|a, b| {
        b.change
            .cmp(&a.change)
            .then_with(|| a.org_id.cmp(&b.org_id))
    });
    top_risers.truncate(TOP_MOVERS);
    moved.retain(|m| m.change < 0);
    moved.sort_by(|a, b| {
        a.change
            .cmp(&b.change)
            .then_with(|| a.org_id.cmp(&b.org_id))
    });
    moved.truncate(TOP_MOVERS);
    Ok(BookSummary {
        as_of: book.as_of,
        insurer_key_id: book.insurer_key_id.clone(),
        organizations: orgs.height(),
        rated: scores.len(),
        policies_in_force: book.policies.iter().filter(|p| p.phase == "active").count(),
        by_grade: groups(&orgs, "grade")?,
        by_industry: groups(&orgs, "industry")?,
        by_region: groups(&orgs, "region")?,
        by_size_band: groups(&orgs, "size_band")?,
        score_distribution,
        percentiles: percentiles(&orgs)?,
        movers_since: book.movers_since,
        top_risers,
        top_fallers: moved,
        // Filled in by the application (the loss run and the stored simulation).
        loss_ratio_by_year: Vec::new(),
        accumulation: None,
    })
}

/// One table of the book as CSV (a header row, comma-separated, dates `YYYY-MM-DD`) or Parquet.
pub fn export(book: &BookTables, table: BookTable, format: ExportFormat) -> PolarsResult<Vec<u8>> {
    let mut df = match table {
        BookTable::Organizations => organizations(book)?,
        BookTable::Ratings => ratings(book)?,
        BookTable::Policies => policies(book)?,
        BookTable::Claims => claims(book)?,
        BookTable::Quotes => quotes(book)?,
        BookTable::Simulation => simulation(book)?,
    };
    let mut out = Vec::new();
    match format {
        ExportFormat::Csv => {
            CsvWriter::new(&mut out).finish(&mut df)?;
        }
        ExportFormat::Parquet => {
            ParquetWriter::new(&mut out).finish(&mut df)?;
        }
    }
    Ok(out)
}

/// The analytics the binary gives the application.
#[derive(Debug, Clone, Copy, Default)]
pub struct Analytics;

impl BookAnalytics for Analytics {
    fn summary(&self, book: &BookTables) -> Result<BookSummary, String> {
        summary(book).map_err(|e| format!("book summary: {e}"))
    }

    fn export(
        &self,
        book: &BookTables,
        table: BookTable,
        format: ExportFormat,
    ) -> Result<Vec<u8>, String> {
        export(book, table, format).map_err(|e| format!("book export: {e}"))
    }
}

/// Reads a Parquet export back (for checks and for callers who want the table in Rust).
pub fn read_parquet(bytes: &[u8]) -> PolarsResult<DataFrame> {
    ParquetReader::new(std::io::Cursor::new(bytes)).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyrisk_app::book::BookOrgRow;
    use cyrisk_store::BookRating;

    fn org(id: &str, industry: &str, band: &str, score: Option<i64>) -> BookOrgRow {
        BookOrgRow {
            org_id: id.into(),
            name: format!("Org {id}"),
            industry: industry.into(),
            region: "CN-HB".into(),
            size_band: band.into(),
            currency: "CNY".into(),
            annual_revenue: 1e7,
            employees: 50,
            score,
            grade: score.map(|s| if s >= 700 { "B".into() } else { "D".into() }),
            rated_on: score.map(|_| NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()),
            policies_in_force: 1,
            limit_in_force: 1e6,
            premium_in_force: 1e4,
        }
    }

    fn book() -> BookTables {
        let as_of = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let mut organizations = vec![
            // Five retail/small peers, two tied at 700.
            org("a", "retail", "small", Some(600)),
            org("b", "retail", "small", Some(700)),
            org("c", "retail", "small", Some(700)),
            org("d", "retail", "small", Some(800)),
            org("e", "retail", "small", Some(850)),
            // A retail/large one: its own band has 1 member, the industry 6.
            org("f", "retail", "large", Some(650)),
            // Two energy ones: too few in the industry, so the whole book.
            org("g", "energy", "medium", Some(500)),
            org("h", "energy", "medium", Some(900)),
            // Never rated.
            org("i", "energy", "medium", None),
        ];
        organizations[8].policies_in_force = 0;
        organizations[8].limit_in_force = 0.0;
        organizations[8].premium_in_force = 0.0;
        let rating = |org: &str, day: u32, score: i64| BookRating {
            org_id: org.into(),
            as_of: format!("2026-11-{day:02}"),
            computed_at: format!("2026-11-{day:02}T00:00:00Z"),
            score,
            grade: "B".into(),
            model: "cyrisk-rating 2.0.0".into(),
        };
        BookTables {
            as_of,
            insurer_key_id: Some("k".into()),
            organizations,
            ratings: vec![
                rating("a", 1, 650),
                rating("a", 30, 600),
                rating("b", 1, 690),
                rating("b", 30, 700),
                rating("d", 30, 800),
            ],
            policies: Vec::new(),
            // At 15 November: a was 650, b 690; d was first rated after it.
            movers_since: NaiveDate::from_ymd_opt(2026, 11, 15).unwrap(),
            start_scores: vec![("a".into(), 650), ("b".into(), 690)],
            claims: Vec::new(),
            quotes: Vec::new(),
            simulation: None,
        }
    }

    #[test]
    fn percentiles_share_ties_and_fall_back_to_wider_peer_groups() {
        let s = summary(&book()).unwrap();
        let p = |id: &str| {
            s.percentiles
                .iter()
                .find(|p| p.org_id == id)
                .unwrap()
                .clone()
        };
        // Five small retailers: a is lowest, b and c tie, e is highest.
        assert_eq!(
            (p("a").peer_group.as_str(), p("a").peers),
            ("industry_size", 5)
        );
        assert_eq!(p("a").percentile, 10.0); // (0 + 0.5) / 5
        assert_eq!(p("b").percentile, 40.0); // (1 + 1) / 5
        assert_eq!(p("b").percentile, p("c").percentile);
        assert_eq!(p("e").percentile, 90.0); // (4 + 0.5) / 5
        // The large retailer: one in its band, six in retail: among retail 650 is 2nd lowest.
        assert_eq!((p("f").peer_group.as_str(), p("f").peers), ("industry", 6));
        assert_eq!(p("f").percentile, 25.0); // (1 + 0.5) / 6
        // Energy has two rated members: the whole book (eight rated).
        assert_eq!((p("g").peer_group.as_str(), p("g").peers), ("book", 8));
        assert_eq!(p("g").percentile, 6.3); // (0 + 0.5) / 8 = 6.25, one decimal
        assert_eq!(p("h").percentile, 93.8); // (7 + 0.5) / 8
        // The unrated one has no percentile, but counts in its groups' totals.
        assert!(s.percentiles.iter().all(|p| p.org_id != "i"));
        assert_eq!((s.organizations, s.rated), (9, 8));
        let unrated = s.by_grade.iter().find(|g| g.key == "unrated").unwrap();
        assert_eq!(
            (unrated.organizations, unrated.rated, unrated.mean_score),
            (1, 0, None)
        );
        let retail = s.by_industry.iter().find(|g| g.key == "retail").unwrap();
        assert_eq!((retail.organizations, retail.policies_in_force), (6, 6));
        assert_eq!(retail.limit_in_force, 6e6);
        assert_eq!(
            retail.mean_score,
            Some((600.0 + 700.0 + 700.0 + 800.0 + 850.0 + 650.0) / 6.0)
        );
        // Distribution: every rated score in one bin; 900 in the last.
        assert_eq!(
            s.score_distribution
                .iter()
                .map(|b| b.organizations)
                .sum::<usize>(),
            8
        );
        let last = s.score_distribution.last().unwrap();
        assert_eq!(
            (last.from, last.to, last.organizations),
            (850, 900, 2),
            "850 and 900"
        );
        // Movers since 15 November: a fell 650 → 600, b rose 690 → 700; d has no base.
        assert_eq!(
            s.top_risers
                .iter()
                .map(|m| (m.org_id.as_str(), m.change))
                .collect::<Vec<_>>(),
            vec![("b", 10)]
        );
        assert_eq!(
            s.top_fallers
                .iter()
                .map(|m| (m.org_id.as_str(), m.change))
                .collect::<Vec<_>>(),
            vec![("a", -50)]
        );
    }

    #[test]
    fn exports_read_back_with_their_columns() {
        let b = book();
        let bytes = export(&b, BookTable::Organizations, ExportFormat::Parquet).unwrap();
        let df = read_parquet(&bytes).unwrap();
        assert_eq!(df.height(), 9);
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "org_id",
                "name",
                "industry",
                "region",
                "size_band",
                "currency",
                "annual_revenue",
                "employees",
                "score",
                "grade",
                "rated_on",
                "policies_in_force",
                "limit_in_force",
                "premium_in_force"
            ]
        );
        assert_eq!(df.column("rated_on").unwrap().dtype(), &DataType::Date);
        assert_eq!(
            floats(&df, "limit_in_force")
                .unwrap()
                .into_iter()
                .flatten()
                .sum::<f64>(),
            8e6
        );
        let csv =
            String::from_utf8(export(&b, BookTable::Ratings, ExportFormat::Csv).unwrap()).unwrap();
        assert_eq!(
            csv.lines().next(),
            Some("org_id,as_of,computed_at,score,grade,model")
        );
        assert!(
            csv.contains("a,2026-11-01,2026-11-01T00:00:00Z,650,B,cyrisk-rating 2.0.0"),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 6);
    }
}
