//! The insurer's book: `GET /portfolio` (the summary) and `GET /portfolio/export` (one table as
//! CSV or Parquet), through `cyrisk_app::book` and the binary's `cyrisk-analytics`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cyrisk_app::book::{BookSummary, BookTable, ExportFormat};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortfolioQuery {
    /// Admin keys: one insurer's book (default: every organisation and policy). An insurer
    /// key may give only its own id.
    pub insurer_key_id: Option<String>,
    /// Top movers over the last this many days (default 30).
    #[param(minimum = 1, maximum = 3650)]
    pub period_days: Option<u32>,
}

/// Totals of one group of the book, in one currency.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BookGroup)]
pub struct BookGroupDoc {
    /// The grade (`unrated` for never-rated organisations), industry, region or size band.
    pub key: String,
    pub currency: String,
    pub organizations: usize,
    pub rated: usize,
    /// Mean latest score of the rated ones (250–900).
    pub mean_score: Option<f64>,
    pub policies_in_force: usize,
    pub limit_in_force: f64,
    /// Annual premium of the policies in force.
    pub premium_in_force: f64,
}

/// Organisations by latest score in a 50-point bin.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ScoreBin)]
pub struct ScoreBinDoc {
    /// Inclusive.
    pub from: i64,
    /// Exclusive (the last bin includes 900).
    pub to: i64,
    pub organizations: usize,
}

/// An organisation's percentile among its peers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PeerPercentile)]
pub struct PeerPercentileDoc {
    pub org_id: String,
    pub score: i64,
    /// 0–100, higher is better: 100 × (peers scoring lower + half of those scoring the same,
    /// itself included) ÷ peers.
    pub percentile: f64,
    /// `industry_size`, `industry` or `book`: the narrowest group with at least 5 rated members,
    /// else the whole book.
    pub peer_group: String,
    pub peers: usize,
}

/// A score change over the period.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Mover)]
pub struct MoverDoc {
    pub org_id: String,
    pub name: String,
    /// The last score on or before the period's start.
    pub from: i64,
    pub to: i64,
    pub change: i64,
}

/// The book's summary.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BookSummary)]
pub struct BookSummaryDoc {
    #[schema(value_type = String, format = Date)]
    pub as_of: String,
    /// Whose book; null: every organisation (an admin's view).
    pub insurer_key_id: Option<String>,
    pub organizations: usize,
    pub rated: usize,
    pub policies_in_force: usize,
    pub by_grade: Vec<BookGroupDoc>,
    pub by_industry: Vec<BookGroupDoc>,
    pub by_region: Vec<BookGroupDoc>,
    pub by_size_band: Vec<BookGroupDoc>,
    pub score_distribution: Vec<ScoreBinDoc>,
    pub percentiles: Vec<PeerPercentileDoc>,
    #[schema(value_type = String, format = Date)]
    pub movers_since: String,
    pub top_risers: Vec<MoverDoc>,
    pub top_fallers: Vec<MoverDoc>,
}

/// The summary of an insurer's book (its own for an insurer key; any insurer's, or every
/// organisation, for an admin): counts, limits and premium in force by grade, industry, region
/// and size band; the score distribution; each organisation's percentile among its industry and
/// size peers (falling back to the industry, then the book, below 5 rated peers); the largest
/// score rises and falls over the period.
#[utoipa::path(
    get, path = "/api/v1/portfolio", operation_id = "get_portfolio", tag = "portfolio",
    params(PortfolioQuery),
    responses(
        (status = 200, description = "The summary", body = BookSummaryDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys; an insurer only its own book", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_portfolio(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<PortfolioQuery>,
) -> Result<Json<BookSummary>, ApiError> {
    let days = q.period_days.unwrap_or(30);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "bad_request",
            "period_days: 1 to 3650",
        ));
    }
    Ok(Json(
        state
            .app
            .book_summary(&p, q.insurer_key_id.as_deref(), days)
            .await?,
    ))
}

/// A table of the book.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookTableDoc {
    Organizations,
    Ratings,
    Policies,
}

/// An export's format.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormatDoc {
    Csv,
    Parquet,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `organizations` (one row each, with the latest rating and the limits in force),
    /// `ratings` (every stored rating) or `policies`.
    #[param(inline)]
    pub table: BookTableDoc,
    /// `csv` (default) or `parquet`.
    #[param(inline)]
    pub format: Option<ExportFormatDoc>,
    /// Admin keys: one insurer's book (default: everything).
    pub insurer_key_id: Option<String>,
}

/// An export file, as bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ExportFile(#[allow(dead_code)] Vec<u8>);

/// One table of the book for actuaries, as CSV or Parquet; column names and types are stable
/// (README, "The insurer's book").
#[utoipa::path(
    get, path = "/api/v1/portfolio/export", operation_id = "export_portfolio", tag = "portfolio",
    params(ExportQuery),
    responses(
        (status = 200, description = "The table", content(
            (ExportFile = "text/csv"),
            (ExportFile = "application/vnd.apache.parquet"),
        )),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys; an insurer only its own book", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn export_portfolio(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let table = match q.table {
        BookTableDoc::Organizations => BookTable::Organizations,
        BookTableDoc::Ratings => BookTable::Ratings,
        BookTableDoc::Policies => BookTable::Policies,
    };
    let format = match q.format.unwrap_or(ExportFormatDoc::Csv) {
        ExportFormatDoc::Csv => ExportFormat::Csv,
        ExportFormatDoc::Parquet => ExportFormat::Parquet,
    };
    let body = state
        .app
        .book_export(&p, q.insurer_key_id.as_deref(), table, format)
        .await?;
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    let ext = match format {
        ExportFormat::Csv => "csv",
        ExportFormat::Parquet => "parquet",
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"cyrisk-{}.{ext}\"",
        table.as_str()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
