//! Mid-policy monitoring: alerts (listed and acknowledged by those they are for), each
//! insurer's alert rules, and the webhooks alerts are delivered to with their delivery log
//! (`cyrisk_app::monitoring`, `cyrisk_app::webhooks`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cyrisk_app::webhooks::{CreatedWebhook, WebhookRequest};
use cyrisk_store::{Alert, Delivery, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

/// An alert (the schema of `cyrisk_store::Alert`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Alert)]
pub struct AlertDoc {
    pub id: String,
    pub org_id: String,
    /// Whom it is for: an insurer key id, or `insured` (the organisation itself).
    pub audience: String,
    /// `grade_change`, `score_drop`, `kev_internet_facing`, `past_sla`, `no_scan` or
    /// `underwriting_rule_failing`.
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub title: String,
    /// What was found (per kind: the finding and CVEs, the scores, the rule…).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The rating it was raised on.
    pub rating_id: Option<String>,
    pub created_at: String,
    pub acked_at: Option<String>,
    pub acked_by: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only alerts about this organisation.
    pub org_id: Option<String>,
    /// Admin keys: only this audience (an insurer key id, or `insured`).
    pub audience: Option<String>,
    /// Only alerts not yet acknowledged.
    pub unacknowledged: Option<bool>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Skip this many.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// Alerts for the caller, newest first: an insurer's for its policies, an enterprise's or
/// assessor's for its organisation's own monitoring, any for an admin.
#[utoipa::path(
    get, path = "/api/v1/alerts", operation_id = "list_alerts", tag = "monitoring",
    params(AlertsQuery),
    responses(
        (status = 200, description = "Alerts, newest first", body = [AlertDoc]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An audience other than the key's own", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "An organisation other than an enterprise key's own", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_alerts(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    authorize_role(&p, Action::ReadAlerts)?;
    let (limit, offset) = crate::orgs::page_bounds(q.limit, q.offset)?;
    Ok(Json(
        state
            .app
            .alerts(
                &p,
                q.org_id.as_deref(),
                q.audience.as_deref(),
                q.unacknowledged.unwrap_or(false),
                limit,
                offset,
            )
            .await?,
    ))
}

/// One alert the caller may see.
#[utoipa::path(
    get, path = "/api/v1/alerts/{id}", operation_id = "get_alert", tag = "monitoring",
    params(("id" = String, Path, description = "Alert id")),
    responses(
        (status = 200, description = "The alert", body = AlertDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such alert, or not the caller's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_alert(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(state.app.alert(&p, &id).await?))
}

/// Acknowledge an alert (once).
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/ack", operation_id = "ack_alert", tag = "monitoring",
    params(("id" = String, Path, description = "Alert id")),
    responses(
        (status = 200, description = "Acknowledged", body = AlertDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such alert, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already acknowledged", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn ack_alert(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(state.app.ack_alert(&p, &id).await?))
}

/// Alert rules (TOML).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRulesDoc {
    /// The rules file (TOML; see `models/alerts-v1.toml` for every rule).
    #[schema(min_length = 1, max_length = 100_000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub rules: String,
    /// `own` (this key's) or `default` (the built-in set); ignored when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The alert rules the caller is monitored with: an insurer key's own, else the defaults.
#[utoipa::path(
    get, path = "/api/v1/alerts/rules", operation_id = "get_alert_rules", tag = "monitoring",
    responses(
        (status = 200, description = "The rules and whether they are the key's own", body = AlertRulesDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_alert_rules(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<AlertRulesDoc>, ApiError> {
    let (source, rules) = state.app.alert_rules_for(&p).await?;
    Ok(Json(AlertRulesDoc {
        rules,
        source: Some(source.to_owned()),
    }))
}

/// Replace this insurer key's alert rules (applied from the next evaluation on).
#[utoipa::path(
    put, path = "/api/v1/alerts/rules", operation_id = "put_alert_rules", tag = "monitoring",
    request_body(content = AlertRulesDoc, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored; the rules now applied", body = AlertRulesDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only insurer keys have alert rules", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The rules do not load; the detail names the field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn put_alert_rules(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<Json<AlertRulesDoc>, ApiError> {
    authorize_role(&p, Action::ManageAlertRules)?;
    let r: AlertRulesDoc = crate::inputs::parse_json(&body, "")?;
    crate::error::check_text("rules", Some(&r.rules), 100_000)?;
    state.app.set_alert_rules(&p, &r.rules).await?;
    let (source, rules) = state.app.alert_rules_for(&p).await?;
    Ok(Json(AlertRulesDoc {
        rules,
        source: Some(source.to_owned()),
    }))
}

/// A webhook to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// Where to POST alerts: `https://` to a public address (a deployment started with
    /// `--webhooks-allow-private` also allows `http://` and its own network).
    #[schema(min_length = 1, max_length = 2048, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub url: String,
    #[schema(min_length = 1, max_length = 500, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub description: Option<String>,
    /// Admin keys only: the insurer key whose alerts it receives (or `org_id`).
    pub insurer_key_id: Option<String>,
    /// Admin keys only: the organisation whose own alerts it receives (or `insurer_key_id`).
    pub org_id: Option<String>,
}

/// A registered webhook (the schema of `cyrisk_store::Webhook`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookDoc {
    pub id: String,
    /// The key that registered it.
    pub owner_key_id: String,
    /// Whose alerts it receives: an insurer key id, or `insured` (with `org_id`).
    pub audience: String,
    pub org_id: Option<String>,
    pub url: String,
    pub description: Option<String>,
    pub created_at: String,
    /// Set once disabled: no further deliveries.
    pub disabled_at: Option<String>,
}

/// A webhook just registered, with its signing secret (shown only now).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedWebhook)]
pub struct CreatedWebhookDoc {
    #[serde(flatten)]
    pub webhook: WebhookDoc,
    /// `whsec_` and the base64 key to verify the `webhook-signature` header with (Standard
    /// Webhooks v1: HMAC-SHA256 over `webhook-id.webhook-timestamp.body`).
    pub secret: String,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttemptDoc {
    pub attempt: i64,
    pub attempted_at: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery of one alert to one webhook (the schema of `cyrisk_store::Delivery`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryDoc {
    /// The `webhook-id` sent on every attempt: receivers deduplicate on it.
    pub id: String,
    pub webhook_id: String,
    pub alert_id: String,
    /// `alert.created`.
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (retries exhausted; an admin may retry its job).
    pub status: String,
    pub job_id: String,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub attempts: Vec<DeliveryAttemptDoc>,
}

/// Register a webhook for the caller's alerts: every alert raised for the key (an insurer)
/// or its organisation (an enterprise) is POSTed to it, signed per Standard Webhooks.
#[utoipa::path(
    post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "monitoring",
    request_body(content = WebhookCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered; the secret is shown only now", body = CreatedWebhookDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Assessor keys register no webhooks; only admin keys name an audience", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Admin: no such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The URL is not allowed (scheme, private address, credentials) or the body is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    authorize_role(&p, Action::ManageWebhooks)?;
    let r: WebhookCreate = crate::inputs::parse_json(&body, "")?;
    crate::error::check_text("url", Some(&r.url), 2048)?;
    crate::error::check_text("description", r.description.as_deref(), 500)?;
    let created = state
        .app
        .create_webhook(
            &p,
            WebhookRequest {
                url: r.url,
                description: r.description,
                insurer_key_id: r.insurer_key_id,
                org_id: r.org_id,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The caller's webhooks (an admin: all), newest first.
#[utoipa::path(
    get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "monitoring",
    responses(
        (status = 200, description = "Webhooks", body = [WebhookDoc]),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Assessor keys have no webhooks", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    Ok(Json(state.app.webhooks(&p).await?))
}

/// One of the caller's webhooks.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}", operation_id = "get_webhook", tag = "monitoring",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Assessor keys have no webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook, or not the caller's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(state.app.webhook(&p, &id).await?))
}

/// Disable one of the caller's webhooks: no further deliveries (queued ones are dropped).
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", operation_id = "disable_webhook", tag = "monitoring",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "Disabled", body = WebhookDoc),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Assessor keys have no webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook, or not the caller's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn disable_webhook(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(state.app.disable_webhook(&p, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// At most this many deliveries (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A webhook's delivery log: each delivery, newest first, with every attempt.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "monitoring",
    params(("id" = String, Path, description = "Webhook id"), DeliveriesQuery),
    responses(
        (status = 200, description = "Deliveries with their attempts", body = [DeliveryDoc]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Assessor keys have no webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook, or not the caller's", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let (limit, _) = crate::orgs::page_bounds(q.limit, None)?;
    Ok(Json(state.app.deliveries(&p, &id, limit).await?))
}

/// One timeline entry (the schema of `cyrisk_store::TimelineEntry`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TimelineEntry)]
pub struct TimelineEntryDoc {
    pub at: String,
    /// `rating`, `alert`, `ticket.<created|status|comment|evidence|assigned|due|verified>`,
    /// `import`, `dispute.filed`, `dispute.decided`, `claim`, `policy.bound`,
    /// `policy.cancelled` or `policy.endorsed`.
    pub kind: String,
    /// The id of what it is about.
    pub ref_id: String,
    pub summary: String,
    /// This entry's position, for `before`.
    pub cursor: String,
}

/// A page of the timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePageDoc {
    pub entries: Vec<TimelineEntryDoc>,
    /// Pass as `before` for the next, older page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// A cursor from an earlier page (`next`): entries older than it.
    #[param(max_length = 400)]
    pub before: Option<String>,
    /// At most this many entries (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// An organisation's timeline: every rating, alert, ticket transition, import, dispute,
/// claim and policy change in one feed, newest first, paged by cursor. Alerts, policies and
/// claims are the caller's own (an insurer's; the insured's; all for an admin).
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/timeline", operation_id = "get_timeline", tag = "monitoring",
    params(("id" = String, Path, description = "Organisation id"), TimelineQuery),
    responses(
        (status = 200, description = "A page of entries", body = TimelinePageDoc),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_timeline(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Result<Json<cyrisk_app::monitoring::TimelinePage>, ApiError> {
    let (limit, _) = crate::orgs::page_bounds(q.limit, None)?;
    if q.before
        .as_ref()
        .is_some_and(|b| b.len() > 400 || b.contains('\0'))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "before: a cursor from an earlier page (at most 400 characters)",
        ));
    }
    Ok(Json(
        state
            .app
            .timeline(&p, &id, q.before.as_deref(), limit)
            .await?,
    ))
}
