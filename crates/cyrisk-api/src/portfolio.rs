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
    /// The book's loss run today, totalled by underwriting year and currency.
    pub loss_ratio_by_year: Vec<crate::claims::LossRunTotalDoc>,
    /// Accumulation from the newest stored simulation of this book; null before one has run
    /// (`POST /api/v1/portfolio/simulations`).
    pub accumulation: Option<BookAccumulationDoc>,
}

/// The book's exposure to one shared product, vendor, provider, industry or region.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Accumulation)]
pub struct AccumulationDoc {
    /// `vendor product` (lowercased), the vendor, the provider (`aliyun`, `tencent_cloud`,
    /// `huawei_cloud`, `aws`, `azure`, `gcp`, or the vendor's name), the industry or region.
    pub key: String,
    /// Policies exposed.
    pub policies: usize,
    /// Their per-occurrence limits, summed.
    pub total_limit: f64,
    /// Their expected annual layer loss, summed.
    pub expected_loss: f64,
    /// Their share of the book's tail capital (co-TVaR 99.5 % ÷ TVaR 99.5 %), 0–1.
    pub co_tvar_share: f64,
}

/// The book's accumulation as its newest simulation found it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BookAccumulation)]
pub struct BookAccumulationDoc {
    pub simulation_id: String,
    /// RFC 3339 UTC.
    pub simulated_at: String,
    /// ISO 4217 code of the amounts (the severity model's currency).
    pub currency: String,
    /// The simulation's years.
    pub trials: i64,
    /// By `product`, `vendor`, `provider`, `industry`, `region` (each present, possibly
    /// empty): the groups with the largest share of tail capital (at most 25 each).
    pub groups: std::collections::BTreeMap<String, Vec<AccumulationDoc>>,
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
        (status = 404, description = "No such insurer key (admin keys naming one)", body = Problem, content_type = "application/problem+json"),
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
    Claims,
    Quotes,
    Simulation,
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
    /// `ratings` (every stored rating), `policies`, `claims`, `quotes` (an insurer's own), or
    /// `simulation` (a stored
    /// simulation's per-policy expected loss and co-TVaR).
    #[param(inline)]
    pub table: BookTableDoc,
    /// `table=simulation`: this simulation (default: the book's newest).
    pub simulation_id: Option<String>,
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
        (status = 404, description = "No such insurer key (admin); table=simulation: no such simulation of the caller's book, or none yet", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "simulation_id given for a table other than simulation", body = Problem, content_type = "application/problem+json"),
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
        BookTableDoc::Claims => BookTable::Claims,
        BookTableDoc::Quotes => BookTable::Quotes,
        BookTableDoc::Simulation => BookTable::Simulation,
    };
    let format = match q.format.unwrap_or(ExportFormatDoc::Csv) {
        ExportFormatDoc::Csv => ExportFormat::Csv,
        ExportFormatDoc::Parquet => ExportFormat::Parquet,
    };
    let body = state
        .app
        .book_export(
            &p,
            q.insurer_key_id.as_deref(),
            table,
            format,
            q.simulation_id.as_deref(),
        )
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

// ---------------------------------------------------------------------------------------
// The stored book's simulation.

/// What to simulate.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationRequestDoc {
    /// Admin keys: one insurer's book (default: every policy in force). An insurer key may
    /// give only its own id.
    #[serde(default)]
    pub insurer_key_id: Option<String>,
    /// Simulated years (default 10,000).
    #[serde(default)]
    #[schema(minimum = 1000, maximum = 200_000)]
    pub trials: Option<u64>,
    /// Random seed (default 1): the same book and seed give the same result.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub seed: Option<u64>,
}

/// A simulation's request as queued.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SimulationRequestRecord)]
pub struct SimulationRequestRecordDoc {
    /// Whose book; null: every policy in force.
    pub insurer_key_id: Option<String>,
    pub trials: u64,
    pub seed: u64,
    /// The key that asked (empty once the job record is pruned).
    pub requested_by: String,
}

/// A finished simulation's headline figures.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BookSimulation)]
pub struct BookSimulationDoc {
    pub id: String,
    pub insurer_key_id: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The day whose policies in force were simulated.
    #[schema(value_type = String, format = Date)]
    pub as_of: String,
    pub trials: i64,
    pub seed: i64,
    /// ISO 4217 code of every amount (the severity model's currency).
    pub currency: String,
    /// Policies simulated.
    pub policies: i64,
    /// Expected annual loss to the book's layers.
    pub expected_loss: f64,
    /// Probable maximum loss, 1-in-100 years (VaR 99 % of the annual book loss).
    pub pml_100: f64,
    /// Probable maximum loss, 1-in-200 years (VaR 99.5 %).
    pub pml_200: f64,
    /// Mean annual loss in the worst 0.5 % of years.
    pub tvar_995: f64,
}

/// A point of the book's aggregate exceedance (AEP) curve.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ExceedancePoint)]
pub struct ExceedancePointDoc {
    pub return_period: f64,
    pub probability: f64,
    pub loss: f64,
}

/// A catastrophe scenario's part of the book's loss.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ScenarioOutcome)]
pub struct ScenarioOutcomeDoc {
    pub id: String,
    pub name: String,
    pub exposed_policies: usize,
    pub annual_probability: f64,
    pub expected_loss: f64,
}

/// A policy in force the simulation left out.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LeftOutPolicy)]
pub struct LeftOutDoc {
    pub policy_id: String,
    pub org_id: String,
    pub reason: String,
}

/// A finished simulation's full result.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SimulationOutcome)]
pub struct SimulationOutcomeDoc {
    pub scenario_catalogue: String,
    pub gross_expected_loss: f64,
    pub std_dev: f64,
    pub attritional_expected_loss: f64,
    pub catastrophe_expected_loss: f64,
    /// By level: `"95"`, `"99"`, `"99.5"`.
    pub var: std::collections::BTreeMap<String, f64>,
    pub tvar: std::collections::BTreeMap<String, f64>,
    pub ep_curve: Vec<ExceedancePointDoc>,
    pub scenarios: Vec<ScenarioOutcomeDoc>,
    /// By `product`, `vendor`, `provider`, `industry`, `region`.
    pub accumulation: std::collections::BTreeMap<String, Vec<AccumulationDoc>>,
    pub left_out: Vec<LeftOutDoc>,
}

/// A book simulation: queued, running or failed, or done with its figures.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BookSimulationStatus)]
pub struct SimulationStatusDoc {
    pub id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub request: SimulationRequestRecordDoc,
    pub error: Option<String>,
    pub simulation: Option<BookSimulationDoc>,
    pub outcome: Option<SimulationOutcomeDoc>,
}

/// Simulate the stored book (admin and insurer keys; an insurer its own): every rated policy
/// in force, with its organisation's latest rating and inventory — attritional losses,
/// catastrophe scenarios (KEV-listed products exploited at scale, cloud outages, sector
/// campaigns), PML 1-in-100 and 1-in-200, TVaR, each policy's co-TVaR and the accumulation by
/// product, vendor and provider. Runs as a background job; poll the returned simulation. The
/// insurer's later quotes on organisations in the book take their capital from it.
#[utoipa::path(
    post, path = "/api/v1/portfolio/simulations", operation_id = "simulate_portfolio", tag = "portfolio",
    request_body(content = Option<SimulationRequestDoc>, content_type = "application/json",
                 description = "Optional: without a body, 10,000 years from seed 1 of the caller's book"),
    responses(
        (status = 202, description = "Queued (or joined the same queued request)", body = SimulationStatusDoc,
         headers(("location" = String, description = "The simulation"))),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys; an insurer only its own book", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such insurer key (admin keys naming one)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A simulation of this book with other years or seed is queued", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request (the detail names the field), or a book with no policy in force", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn simulate_portfolio(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // No body (or JSON null): every default; otherwise an object (serde would also read a
    // struct from an array).
    let value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        crate::inputs::parse_json(&body, "")?
    };
    let req: SimulationRequestDoc = match value {
        serde_json::Value::Null => SimulationRequestDoc::default(),
        v @ serde_json::Value::Object(_) => {
            serde_json::from_value(v).map_err(|e| ApiError::invalid(e.to_string()))?
        }
        _ => return Err(ApiError::invalid("the body must be a JSON object")),
    };
    let status = state
        .app
        .queue_book_simulation(
            &p,
            req.insurer_key_id.as_deref(),
            req.trials.unwrap_or(cyrisk_app::book_sim::DEFAULT_TRIALS),
            req.seed.unwrap_or(1),
        )
        .await?;
    let location = format!("/api/v1/portfolio/simulations/{}", status.id);
    let mut res = (
        axum::http::StatusCode::ACCEPTED,
        Json(serde_json::to_value(&status).map_err(ApiError::internal)?),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimulationsQuery {
    /// Admin keys: one insurer's book (default: the runs over every policy).
    pub insurer_key_id: Option<String>,
}

/// The finished simulations of the caller's book (an insurer its own; an admin any
/// insurer's), newest first, at most 100.
#[utoipa::path(
    get, path = "/api/v1/portfolio/simulations", operation_id = "list_portfolio_simulations", tag = "portfolio",
    params(SimulationsQuery),
    responses(
        (status = 200, description = "Finished simulations, newest first", body = [BookSimulationDoc]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys; an insurer only its own book", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such insurer key (admin keys naming one)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_portfolio_simulations(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<SimulationsQuery>,
) -> Result<Json<Vec<cyrisk_store::BookSimulation>>, ApiError> {
    Ok(Json(
        state
            .app
            .book_simulations(&p, q.insurer_key_id.as_deref())
            .await?,
    ))
}

/// One simulation of the caller's book: its state and, once done, its figures (AEP curve,
/// PML, TVaR, scenarios, accumulation, the policies left out). Per-policy co-TVaR:
/// `GET /api/v1/portfolio/export?table=simulation&simulation_id=…`.
#[utoipa::path(
    get, path = "/api/v1/portfolio/simulations/{id}", operation_id = "get_portfolio_simulation", tag = "portfolio",
    params(("id" = String, Path, description = "Simulation id")),
    responses(
        (status = 200, description = "The simulation", body = SimulationStatusDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such simulation of the caller's book", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_portfolio_simulation(
    State(state): State<AppState>,
    Caller(p): Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<cyrisk_app::book_sim::SimulationStatus>, ApiError> {
    Ok(Json(state.app.book_simulation(&p, &id).await?))
}
