//! cyrisk-app: the application layer. Every use case of the product — rating and re-rating,
//! plans, imports, feed loads, quotes, policies, access decisions, background jobs — lives
//! here, over the store and the models, and returns domain results or an [`AppError`]. There
//! is no HTTP here: the API (`cyrisk-api`) extracts, calls and maps; the CLI calls the same
//! functions on the database directly; the worker runs the jobs they enqueue.
//!
//! The heavy CPU work — ratings, plans, simulations, parsing scans and feeds — runs on tokio's
//! blocking pool, not on the async workers. (Reconciling a parsed scan with the stored inputs
//! runs inside the import's write transaction, on the async worker that holds it.)

pub mod access;
pub mod book;
pub mod book_sim;
pub mod claims;
pub mod error;
pub mod feeds;
pub mod imports;
pub mod jobs;
pub mod monitoring;
pub mod plan;
pub mod policies;
pub mod quotes;
pub mod rating;
pub mod renewal;
pub mod report;
pub mod tickets;
pub mod underwriting;
pub mod web;
pub mod webhooks;

use std::sync::Arc;

use cyrisk_core::{KevCatalog, RatingModel};
use cyrisk_sim::pricing::PricingModel;
use cyrisk_sim::severity::SeverityModel;
use cyrisk_store::Store;

pub use access::{Action, authorize_role};
pub use error::{AppError, Result};

/// The CISA KEV catalogue snapshot shipped with this build (2025-08-25): the catalogue ratings
/// use until a newer one is loaded.
pub const BUNDLED_KEV: &str = include_str!("../../../data/kev/kev-2025.08.25.json");

/// The models a deployment rates and prices with.
#[derive(Debug, Clone)]
pub struct Models {
    pub rating: Arc<RatingModel>,
    pub severity: Arc<SeverityModel>,
    pub pricing: Arc<PricingModel>,
    /// The KEV catalogue built into this build.
    pub kev: Arc<KevCatalog>,
    /// The underwriting rules applied to applications (`models/underwriting-v1.toml`).
    pub underwriting: Arc<cyrisk_core::underwriting::UnderwritingRules>,
    /// The default alert rules (`models/alerts-v1.toml`).
    pub alerts: Arc<cyrisk_core::monitoring::AlertRules>,
}

impl Models {
    /// The built-in models (`models/rating-v2.toml`, `severity-v2.toml`, `pricing-v2.toml`,
    /// `underwriting-v1.toml`, `alerts-v1.toml`) and the bundled KEV snapshot.
    pub fn builtin() -> Result<Self> {
        let kev = KevCatalog::from_json(BUNDLED_KEV)
            .map_err(|e| AppError::internal(format!("bundled KEV snapshot: {e}")))?;
        Ok(Self {
            rating: Arc::new(RatingModel::builtin()),
            severity: Arc::new(SeverityModel::builtin()),
            pricing: Arc::new(PricingModel::builtin()),
            kev: Arc::new(kev),
            underwriting: Arc::new(cyrisk_core::underwriting::UnderwritingRules::builtin()),
            alerts: Arc::new(cyrisk_core::monitoring::AlertRules::builtin()),
        })
    }
}

/// The application: the store, the models and the per-process cache of parsed feed
/// snapshots. Cheap to clone; nothing in it that matters changes while running (the cache
/// holds immutable snapshots by id), so processes sharing one database behave as one service.
#[derive(Debug, Clone)]
pub struct App {
    pub store: Store,
    pub models: Models,
    feeds: Arc<feeds::FeedCache>,
    /// Where webhooks may deliver.
    webhook_policy: webhooks::WebhookPolicy,
    /// The client webhooks are delivered with (built for `webhook_policy`).
    http: reqwest::Client,
    /// Insurers' own rule sets, parsed (by their text).
    rules: Arc<monitoring::RuleCache>,
    /// What renders reports (the binary supplies `cyrisk-report`'s).
    reports: Option<Arc<dyn report::ReportRenderer>>,
    /// What summarises and exports the book (the binary supplies `cyrisk-analytics`).
    analytics: Option<Arc<dyn book::BookAnalytics>>,
    /// PDF renders at once: one per core, so report downloads cannot take every core from the
    /// API (a request waits up to [`report::RENDER_WAIT`] for its turn, then gets `Busy`).
    renders: Arc<tokio::sync::Semaphore>,
    /// The report's priced plans by rating id (see [`report::ReportPlan`]).
    report_plans: Arc<std::sync::Mutex<lru::LruCache<String, report::KeptPlan>>>,
    /// Every rated organisation's industry, size band and latest score, with the store's
    /// ratings watermark it was read at (see [`App::peer_percentile`]).
    peers: Arc<book::KeptPeers>,
}

impl App {
    /// Over `store` with `models`; webhooks deliver to public `https://` addresses only (see
    /// [`App::with_webhook_policy`]).
    pub fn new(store: Store, models: Models) -> Self {
        let policy = webhooks::WebhookPolicy::default();
        Self {
            store,
            models,
            feeds: Arc::new(feeds::FeedCache::new(feeds::CACHE_SNAPSHOTS)),
            webhook_policy: policy,
            http: webhooks::client(policy).expect("a default HTTP client builds"),
            rules: Arc::new(monitoring::RuleCache::new()),
            reports: None,
            analytics: None,
            report_plans: Arc::new(std::sync::Mutex::new(lru::LruCache::new(
                report::PLAN_CACHE,
            ))),
            peers: Arc::default(),
            renders: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
        }
    }

    /// The same application rendering reports with `renderer`.
    pub fn with_reports(mut self, renderer: Arc<dyn report::ReportRenderer>) -> Self {
        self.reports = Some(renderer);
        self
    }

    /// The same application with book analytics (the binary supplies `cyrisk-analytics`).
    pub fn with_analytics(mut self, analytics: Arc<dyn book::BookAnalytics>) -> Self {
        self.analytics = Some(analytics);
        self
    }

    /// The same application with another webhook policy; `Internal` if its HTTP client cannot
    /// be built.
    pub fn with_webhook_policy(mut self, policy: webhooks::WebhookPolicy) -> Result<Self> {
        self.http = webhooks::client(policy)?;
        self.webhook_policy = policy;
        Ok(self)
    }

    /// Over `store` with the built-in models.
    pub fn builtin(store: Store) -> Result<Self> {
        Ok(Self::new(store, Models::builtin()?))
    }
}

/// Today (UTC): the as-of date of a live rating.
pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}
