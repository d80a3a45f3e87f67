//! cyrisk-api: the HTTP API. The router and the OpenAPI document come from the same handler
//! declarations (utoipa-axum's `OpenApiRouter`); every error is problem+json; callers are
//! API keys with roles and tenancy. CPU work (ratings, plans) runs off the async workers.

pub mod access;
mod alerts;
mod auth;
mod claims;
mod disputes;
pub mod error;
pub mod feeds;
mod findings;
mod health;
pub mod imports;
mod inputs;
mod jobs;
mod orgs;
mod policies;
mod portfolio;
mod quotes;
mod report;
mod schemas;
mod tickets;
mod underwriting;
pub mod web;

use std::sync::OnceLock;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use cyrisk_app::App;
use cyrisk_store::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;

/// Everything a handler needs: the application (use cases over the store and the models) and,
/// for the plain reads that are no use case of their own, the store.
#[derive(Debug, Clone)]
pub struct AppState {
    pub app: App,
    pub store: Store,
}

impl AppState {
    pub fn new(app: App) -> Self {
        Self {
            store: app.store.clone(),
            app,
        }
    }
}

/// Upper bounds (seconds) of the latency histograms' buckets.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's Prometheus recorder (`metrics` facade → `metrics-exporter-prometheus`),
/// installed on first use; `None` if another recorder was installed first.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Limits and options of the service.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024 * 1024,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cyrisk",
        version = "1",
        description = "Cyber-insurance risk quantification: organisations and their inputs, live ratings with their history, remediation plans and priced quotes. Authenticate with an API key (`Authorization: Bearer …`). Every error is application/problem+json with a stable `code`. Text must not contain the NUL character (U+0000), which PostgreSQL cannot store: such a request gets 422. Integers may be written as `5` or `5.0`."
    ),
    modifiers(&SecurityAddon),
    tags(
        (name = "organizations", description = "Organisations and their inputs"),
        (name = "ratings", description = "Live rating, rating history, remediation plan"),
        (name = "findings", description = "Findings and their lifecycle"),
        (name = "inputs", description = "Assets, control results and incidents"),
        (name = "quotes", description = "Priced layers and bound policies"),
        (name = "feeds", description = "Threat-intelligence snapshots (KEV, EPSS)"),
        (name = "jobs", description = "Background jobs (re-ratings) and their state, for admins"),
        (name = "underwriting", description = "Pre-policy assessment: rating, price and an accept/refer/decline decision by underwriting rules"),
        (name = "monitoring", description = "Mid-policy alerts, alert rules, and the webhooks alerts are delivered to"),
        (name = "tickets", description = "Remediation tickets, closed only when verified, and the remediation record that feeds the rating"),
        (name = "claims", description = "Claims, loss runs and renewal packs"),
        (name = "portfolio", description = "The insurer's book: summary, peer percentiles, accumulation, simulation, exports"),
        (name = "operations", description = "Health, readiness, metrics")
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from `cyrisk keys create`"))
                    .build(),
            ),
        );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(orgs::list_organizations))
        .routes(routes!(orgs::load_bundle))
        .routes(routes!(orgs::get_organization))
        .routes(routes!(orgs::load_organization_bundle))
        .routes(routes!(orgs::get_rating))
        .routes(routes!(orgs::list_ratings))
        .routes(routes!(orgs::get_plan))
        .routes(routes!(report::get_report))
        .routes(routes!(findings::list_findings, inputs::upsert_findings))
        .routes(routes!(
            findings::get_finding,
            findings::update_finding_state
        ))
        .routes(routes!(findings::list_finding_history))
        .routes(routes!(disputes::list_disputes))
        .routes(routes!(disputes::decide_dispute))
        .routes(routes!(inputs::list_assets, inputs::upsert_assets))
        .routes(routes!(imports::import_file))
        .routes(routes!(feeds::load_kev))
        .routes(routes!(feeds::load_epss))
        .routes(routes!(inputs::get_asset))
        .routes(routes!(inputs::list_controls, inputs::upsert_controls))
        .routes(routes!(inputs::list_incidents, inputs::upsert_incidents))
        .routes(routes!(quotes::create_quote))
        .routes(routes!(quotes::list_quotes))
        .routes(routes!(policies::create_policy))
        .routes(routes!(policies::list_policies))
        .routes(routes!(policies::get_policy))
        .routes(routes!(policies::cancel_policy))
        .routes(routes!(policies::endorse_policy))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::retry_job))
        .routes(routes!(underwriting::assess_application))
        .routes(routes!(underwriting::assess_scan_application))
        .routes(routes!(underwriting::list_applications))
        .routes(routes!(underwriting::get_application))
        .routes(routes!(underwriting::decide_application))
        .routes(routes!(underwriting::get_rules, underwriting::put_rules))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::get_alert_rules, alerts::put_alert_rules))
        .routes(routes!(alerts::get_alert))
        .routes(routes!(alerts::ack_alert))
        .routes(routes!(alerts::create_webhook, alerts::list_webhooks))
        .routes(routes!(alerts::get_webhook, alerts::disable_webhook))
        .routes(routes!(alerts::list_deliveries))
        .routes(routes!(alerts::get_timeline))
        .routes(routes!(tickets::create_ticket, tickets::list_tickets))
        .routes(routes!(tickets::get_remediation_record))
        .routes(routes!(tickets::get_ticket, tickets::update_ticket))
        .routes(routes!(tickets::comment_ticket))
        .routes(routes!(tickets::verify_ticket))
        .routes(routes!(claims::create_claim))
        .routes(routes!(claims::get_claim))
        .routes(routes!(claims::add_claim_movement))
        .routes(routes!(claims::set_claim_status))
        .routes(routes!(claims::get_policy_loss_run))
        .routes(routes!(claims::get_book_loss_run))
        .routes(routes!(claims::get_renewal_pack))
        .routes(routes!(portfolio::get_portfolio))
        .routes(routes!(portfolio::export_portfolio))
        .routes(routes!(
            portfolio::simulate_portfolio,
            portfolio::list_portfolio_simulations
        ))
        .routes(routes!(portfolio::get_portfolio_simulation))
}

/// The OpenAPI document (3.1), as served at `/api/openapi.json` and committed at
/// `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The pretty-printed OpenAPI document.
pub fn openapi_json() -> String {
    openapi().to_pretty_json().unwrap_or_default() + "\n"
}

/// Records each request's latency by route and status for `/metrics`, and runs it in a
/// `tracing` span named by its method and route (the route template, never the ids in it),
/// ending with its status and time.
async fn observe(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    // Labels come from fixed sets only, so no client can create new metric series: a method
    // outside the standard ones is `other`, a path that is no route `unmatched`.
    let method = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let span = tracing::info_span!("request", method = %method, route = %route);
    let started = std::time::Instant::now();
    let res = next.run(req).instrument(span.clone()).await;
    let status = res.status();
    let elapsed = started.elapsed();
    metrics::histogram!(
        "cyrisk_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => status.as_u16().to_string()
    )
    .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            micros = elapsed.as_micros() as u64,
            "done"
        );
    });
    res
}

/// Turns axum's own rejections (unknown route, wrong method, oversize body) into problems.
async fn problems(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let kept = security_headers_of(&res);
    let mut res = problem_of(res).await;
    res.headers_mut().extend(kept);
    res
}

/// The security headers an answer carries (the live page's), to keep when it is rewritten.
fn security_headers_of(res: &Response) -> axum::http::HeaderMap {
    use axum::http::header;
    let mut kept = axum::http::HeaderMap::new();
    for name in [
        header::CONTENT_SECURITY_POLICY,
        header::X_CONTENT_TYPE_OPTIONS,
        header::X_FRAME_OPTIONS,
        header::REFERRER_POLICY,
        header::CACHE_CONTROL,
    ] {
        if let Some(v) = res.headers().get(&name) {
            kept.insert(name, v.clone());
        }
    }
    kept
}

async fn problem_of(res: Response) -> Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let is_problem = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/problem+json")
                || v.as_bytes().starts_with(b"application/json")
                // The live page's own error pages.
                || v.as_bytes().starts_with(b"text/html")
        });
    match res.status() {
        s if is_problem || s.is_success() || s.is_redirection() => res,
        StatusCode::NOT_FOUND => {
            ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route").into_response()
        }
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        )
        .into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than the configured limit",
        )
        .into_response(),
        // axum's own rejections (a query string that does not parse, a wrong content type)
        // say what is wrong in their plain-text body: keep that as the detail.
        s if s.is_client_error() => {
            let text = axum::body::to_bytes(res.into_body(), 4096)
                .await
                .ok()
                .and_then(|b| String::from_utf8(b.to_vec()).ok())
                .filter(|t| !t.trim().is_empty());
            ApiError::new(
                s,
                "bad_request",
                text.unwrap_or_else(|| s.canonical_reason().unwrap_or("bad request").to_owned()),
            )
            .into_response()
        }
        s => ApiError::new(
            s,
            "internal",
            "internal error; the cause is in the server log",
        )
        .into_response(),
    }
}

/// The whole service: API, OpenAPI document and offline Swagger UI at `/docs`.
pub fn app(state: AppState, options: &Options) -> Router {
    // Install the metrics recorder before the first request records anything.
    let _ = metrics_handle();
    let (router, api) = api_router().split_for_parts();
    router
        .merge(SwaggerUi::new("/docs").url("/api/openapi.json", api))
        .merge(web::router())
        .layer(middleware::from_fn(problems))
        .layer(DefaultBodyLimit::max(options.body_limit))
        .layer(middleware::from_fn(observe))
        .with_state(state)
}
