//! Quotes: the live rating, a loss simulation for the requested layer and its premium, stored
//! with the organisation. The simulation runs on the blocking pool, never on async workers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use cyrisk_store::StoredQuote;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::access::{Action, authorize, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::orgs::Page;

/// The layer to price for an organisation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    #[schema(min_length = 1)]
    pub organization_id: String,
    /// Per-occurrence deductible (default 0; at most the limit).
    #[serde(default)]
    #[schema(minimum = 0.0)]
    pub deductible: f64,
    /// Per-occurrence limit.
    #[schema(exclusive_minimum = 0.0)]
    pub limit: f64,
    /// Annual aggregate limit (default none; at least the per-occurrence limit).
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0)]
    pub aggregate_limit: Option<f64>,
    /// Simulated years (default 100,000).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2_000_000)]
    pub trials: Option<u64>,
    /// Random seed (default 1): the same request and inputs give the same quote.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub seed: Option<i64>,
}

/// A stored quote.
#[derive(Debug, Serialize, ToSchema)]
pub struct Quote {
    pub id: String,
    pub org_id: String,
    pub created_at: String,
    /// The stored rating the quote was priced on.
    pub rating_id: String,
    /// The quote: rating summary, layer, simulation results (expected loss, VaR/TVaR, EP
    /// curves, by coverage) and the premium with its components.
    #[schema(value_type = QuoteDocument)]
    pub quote: Box<serde_json::value::RawValue>,
}

/// What a quote holds (stored as it was computed).
#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteDocument {
    pub organization_id: String,
    /// ISO 4217 code of every amount in the quote.
    pub currency: String,
    pub rating: QuotedRating,
    /// The layer priced: deductible, limit, aggregate limit, sublimits by coverage.
    #[schema(value_type = Object)]
    pub layer: serde_json::Value,
    /// The Monte Carlo result: trials, gross and layer expected loss and standard deviation,
    /// VaR/TVaR at 95/99/99.5 %, attachment probability, aggregate and occurrence
    /// exceedance curves, and the same by coverage and by event type.
    #[schema(value_type = Object)]
    pub simulation: serde_json::Value,
    /// The premium and its parts: expected loss, parameter-risk load, the capital and how it
    /// was allocated, cost of capital, expense and profit loadings, minimum premium, rate on
    /// line.
    #[schema(value_type = Object)]
    pub premium: serde_json::Value,
    /// Present when an insurer quoted an organisation its simulated book holds: the capital is
    /// `co_tvar_multiple` × the layer's expected loss (at most its stand-alone TVaR 99.5 % −
    /// mean), and `premium.capital_method` is `book_co_tvar`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub book_capital: Option<BookCapitalDoc>,
}

/// The capital a quote took from the insurer's simulated book.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BookCapital)]
pub struct BookCapitalDoc {
    /// The book simulation (`GET /api/v1/portfolio/simulations/{id}`).
    pub simulation_id: String,
    /// When it ran (RFC 3339 UTC).
    pub simulated_at: String,
    /// (co-TVaR 99.5 % − expected loss) ÷ expected loss of the organisation's policies in it.
    #[schema(minimum = 0)]
    pub co_tvar_multiple: f64,
}

/// The stored rating a quote was priced on.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotedRating {
    pub id: String,
    pub as_of: String,
    pub score: i64,
    pub grade: String,
    /// λ, the expected number of material incidents a year.
    pub expected_incident_rate: f64,
    pub model: ModelVersion,
}

/// A model's id and version.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelVersion {
    pub id: String,
    pub version: String,
}

impl TryFrom<StoredQuote> for Quote {
    type Error = ApiError;
    fn try_from(q: StoredQuote) -> Result<Self, ApiError> {
        Ok(Self {
            id: q.id,
            org_id: q.org_id,
            created_at: q.created_at,
            rating_id: q.rating_id,
            quote: serde_json::value::RawValue::from_string(q.quote).map_err(ApiError::internal)?,
        })
    }
}

/// Price a layer for an organisation (admin and insurer keys).
#[utoipa::path(
    post, path = "/api/v1/quotes", operation_id = "create_quote", tag = "quotes",
    request_body(content = QuoteRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The stored quote", body = Quote),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and insurer keys quote", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request; the detail names the field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create_quote(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<Json<Quote>, ApiError> {
    authorize_role(&p, Action::Quote)?;
    let req: QuoteRequest = crate::inputs::parse_json(&body, "")?;
    let seed = u64::try_from(req.seed.unwrap_or(1))
        .map_err(|_| ApiError::invalid("seed: must be at least 0"))?;
    let stored = state
        .app
        .quote(
            &p,
            &cyrisk_app::quotes::QuoteRequest {
                organization_id: req.organization_id,
                deductible: req.deductible,
                limit: req.limit,
                aggregate_limit: req.aggregate_limit,
                trials: req.trials.unwrap_or(100_000),
                seed,
            },
        )
        .await?;
    Ok(Json(stored.try_into()?))
}

/// An organisation's quotes, newest first.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/quotes", operation_id = "list_quotes", tag = "quotes",
    params(("id" = String, Path, description = "Organisation id"), Page),
    responses(
        (status = 200, description = "Stored quotes, newest first", body = [Quote]),
        (status = 400, description = "Bad paging parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_quotes(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Quote>>, ApiError> {
    let (limit, offset) = page.resolve()?;
    authorize(&state, &p, &id, Action::Read).await?;
    // An insurer sees its own quotes, not its competitors' on a shared organisation.
    let own = (p.role == cyrisk_store::Role::Insurer).then_some(p.key_id.as_str());
    let mut quotes = state.store.quotes(&id, own, limit, offset).await?;
    // The capital an insurer's book allocated is the insurer's business, not the insured's.
    if matches!(
        p.role,
        cyrisk_store::Role::Enterprise | cyrisk_store::Role::Assessor
    ) {
        for q in &mut quotes {
            let mut doc: serde_json::Value =
                serde_json::from_str(&q.quote).map_err(ApiError::internal)?;
            if let Some(o) = doc.as_object_mut()
                && o.remove("book_capital").is_some()
            {
                q.quote = doc.to_string();
            }
        }
    }
    Ok(Json(
        quotes
            .into_iter()
            .map(Quote::try_from)
            .collect::<Result<_, _>>()?,
    ))
}
