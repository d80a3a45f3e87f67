//! Mid-policy monitoring: the state monitoring keeps per organisation and audience, the alerts
//! it raises (each once: a unique index on the organisation, audience and dedupe key), the
//! webhooks registered to receive them, and each delivery with every attempt.
//!
//! An *audience* is whom an alert is for: an insurer's key id (its policies' organisations,
//! evaluated with its own rules), or [`INSURED`] — the organisation itself, seen by its
//! enterprise keys. Raising an alert queues its webhook deliveries in the same transaction
//! (one [`WEBHOOK`] job per delivery), so an alert is never stored without its deliveries.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;

use crate::jobs::{NewJob, WriteTx, enqueue_on};
use crate::keys::audit;
use crate::{Result, Store, StoreError, new_id, now};

/// The audience of an organisation's own alerts (its enterprise keys see them).
pub const INSURED: &str = "insured";

/// The job kind that delivers one webhook message (payload `{"delivery_id": …}`).
pub const WEBHOOK: &str = "webhook";

/// Attempts at a webhook delivery before it is dead-lettered: with the worker's default
/// backoff (5 s doubling, capped at 15 min, with equal jitter) the waits average about 27
/// minutes over the first nine retries and 11 minutes each after: about 1 h 50 min in all.
pub const WEBHOOK_MAX_ATTEMPTS: i64 = 16;

/// An alert to raise.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub org_id: String,
    pub audience: String,
    pub kind: String,
    pub severity: String,
    pub dedupe_key: String,
    pub title: String,
    pub detail: serde_json::Value,
    pub rating_id: Option<String>,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: String,
    pub org_id: String,
    /// An insurer key id, or `insured`.
    pub audience: String,
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub title: String,
    pub detail: serde_json::Value,
    /// The rating the alert was raised on.
    pub rating_id: Option<String>,
    pub created_at: String,
    pub acked_at: Option<String>,
    pub acked_by: Option<String>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Only this audience.
    pub audience: Option<String>,
    pub org_id: Option<String>,
    /// Only those not yet acknowledged.
    pub unacknowledged: bool,
    pub limit: i64,
    pub offset: i64,
}

/// A webhook to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// The key that registers it.
    pub owner_key_id: String,
    /// Whose alerts it receives: an insurer key id, or `insured` with `org_id`.
    pub audience: String,
    pub org_id: Option<String>,
    pub url: String,
    /// The signing secret, `whsec_` and base64 (Standard Webhooks).
    pub secret: String,
    pub description: Option<String>,
}

/// A registered webhook (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub id: String,
    pub owner_key_id: String,
    pub audience: String,
    pub org_id: Option<String>,
    pub url: String,
    pub description: Option<String>,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    /// The job attempt it was (1 = first).
    pub attempt: i64,
    pub attempted_at: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery of one alert to one webhook, with every attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The message id sent as `webhook-id` on every attempt (receivers deduplicate on it).
    pub id: String,
    pub webhook_id: String,
    pub alert_id: String,
    pub event_type: String,
    /// `pending` (queued or being retried), `delivered`, `failed` (dead-lettered; an admin
    /// may retry its job) or `skipped` (the webhook was disabled first).
    pub status: String,
    pub job_id: String,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub attempts: Vec<DeliveryAttempt>,
}

/// What a delivery job sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTarget {
    pub id: String,
    pub url: String,
    pub secret: String,
    /// The JSON body, fixed when the alert was raised (the same bytes on every attempt).
    pub payload: String,
    pub webhook_disabled: bool,
    pub delivered: bool,
}

fn alert_from_row(r: &sqlx::any::AnyRow) -> Result<Alert> {
    let detail: String = r.try_get("detail")?;
    Ok(Alert {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        audience: r.try_get("audience")?,
        kind: r.try_get("kind")?,
        severity: r.try_get("severity")?,
        title: r.try_get("title")?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("alert detail: {e}")))?,
        rating_id: r.try_get("rating_id")?,
        created_at: r.try_get("created_at")?,
        acked_at: r.try_get("acked_at")?,
        acked_by: r.try_get("acked_by")?,
    })
}

const ALERT_COLUMNS: &str = "id, org_id, audience, kind, severity, title, detail, rating_id, created_at, acked_at, acked_by";
const WEBHOOK_COLUMNS: &str =
    "id, owner_key_id, audience, org_id, url, description, created_at, disabled_at";

fn webhook_from_row(r: &sqlx::any::AnyRow) -> Result<Webhook> {
    Ok(Webhook {
        id: r.try_get("id")?,
        owner_key_id: r.try_get("owner_key_id")?,
        audience: r.try_get("audience")?,
        org_id: r.try_get("org_id")?,
        url: r.try_get("url")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
        disabled_at: r.try_get("disabled_at")?,
    })
}

impl WriteTx {
    /// The monitoring state of `org_id` for `audience` (JSON) and its version, if any.
    pub async fn monitor_state(
        &mut self,
        org_id: &str,
        audience: &str,
    ) -> Result<Option<(String, i64)>> {
        let row = sqlx::query(
            "SELECT state, version FROM monitor_state WHERE org_id = $1 AND audience = $2",
        )
        .bind(org_id)
        .bind(audience)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| Ok((r.try_get("state")?, r.try_get("version")?)))
            .transpose()
    }

    /// Stores the monitoring state, if it is still the version read (`None`: there was none).
    /// `Conflict` when another evaluation stored one meanwhile: the caller rolls back and
    /// evaluates again, so no alert is raised twice.
    pub async fn put_monitor_state(
        &mut self,
        org_id: &str,
        audience: &str,
        state: &str,
        read_version: Option<i64>,
    ) -> Result<()> {
        let at = now();
        let conflict =
            || StoreError::Conflict(format!("monitoring of {org_id} changed concurrently"));
        match read_version {
            None => {
                let n = sqlx::query(
                    "INSERT INTO monitor_state (org_id, audience, state, version, updated_at) \
                     VALUES ($1, $2, $3, 1, $4) ON CONFLICT (org_id, audience) DO NOTHING",
                )
                .bind(org_id)
                .bind(audience)
                .bind(state)
                .bind(&at)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(conflict());
                }
            }
            Some(v) => {
                let n = sqlx::query(
                    "UPDATE monitor_state SET state = $3, version = $4, updated_at = $5 \
                     WHERE org_id = $1 AND audience = $2 AND version = $6",
                )
                .bind(org_id)
                .bind(audience)
                .bind(state)
                .bind(v + 1)
                .bind(&at)
                .bind(v)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(conflict());
                }
            }
        }
        Ok(())
    }

    /// Raises an alert and queues its deliveries to the audience's active webhooks; `None`
    /// when an alert with the same dedupe key exists (nothing is written). Returns the alert
    /// and the delivery jobs queued.
    pub async fn insert_alert(&mut self, a: &NewAlert) -> Result<Option<(Alert, Vec<String>)>> {
        Ok(self
            .insert_alerts(std::slice::from_ref(a))
            .await?
            .into_iter()
            .next())
    }

    /// Raises alerts (those whose dedupe key exists are skipped) and queues each one's
    /// deliveries to its audience's active webhooks, in a few statements whatever the number:
    /// one insert for the alerts, one lookup of the webhooks, then a delivery and its job per
    /// (alert, webhook). Returns the alerts raised, each with its delivery jobs.
    pub async fn insert_alerts(&mut self, new: &[NewAlert]) -> Result<Vec<(Alert, Vec<String>)>> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let at = now();
        let alerts: Vec<Alert> = new
            .iter()
            .map(|a| Alert {
                id: new_id(),
                org_id: a.org_id.clone(),
                audience: a.audience.clone(),
                kind: a.kind.clone(),
                severity: a.severity.clone(),
                title: a.title.clone(),
                detail: a.detail.clone(),
                rating_id: a.rating_id.clone(),
                created_at: at.clone(),
                acked_at: None,
                acked_by: None,
            })
            .collect();
        let mut raised: std::collections::HashSet<String> = std::collections::HashSet::new();
        // SQLite binds at most 32,766 parameters per statement: 1,000 alerts of 10 at a time.
        for chunk in new.iter().zip(&alerts).collect::<Vec<_>>().chunks(1000) {
            let values: Vec<String> = (0..chunk.len())
                .map(|k| {
                    let b = k * 10;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9,
                        b + 10
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO alerts (id, org_id, audience, kind, severity, dedupe_key, title, detail, rating_id, created_at) \
                 VALUES {} ON CONFLICT (org_id, audience, dedupe_key) DO NOTHING RETURNING id",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (n, a) in chunk {
                q = q
                    .bind(&a.id)
                    .bind(&a.org_id)
                    .bind(&a.audience)
                    .bind(&a.kind)
                    .bind(&a.severity)
                    .bind(&n.dedupe_key)
                    .bind(&a.title)
                    .bind(a.detail.to_string())
                    .bind(&a.rating_id)
                    .bind(&a.created_at);
            }
            for r in q.fetch_all(&mut *self.tx).await? {
                raised.insert(r.try_get("id")?);
            }
        }
        let alerts: Vec<Alert> = alerts
            .into_iter()
            .filter(|a| raised.contains(&a.id))
            .collect();
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        // The active webhooks of every audience and organisation concerned, in one lookup.
        let mut audiences: Vec<&str> = alerts.iter().map(|a| a.audience.as_str()).collect();
        audiences.sort_unstable();
        audiences.dedup();
        let marks: Vec<String> = (0..audiences.len())
            .map(|k| format!("${}", k + 1))
            .collect();
        let sql = format!(
            "SELECT w.id, w.audience, w.org_id FROM webhooks w JOIN api_keys k ON k.id = w.owner_key_id \
             WHERE w.audience IN ({}) AND w.disabled_at IS NULL AND k.revoked_at IS NULL ORDER BY w.id",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for a in &audiences {
            q = q.bind(*a);
        }
        let hooks: Vec<(String, String, Option<String>)> = q
            .fetch_all(&mut *self.tx)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("audience")?,
                    r.try_get("org_id")?,
                ))
            })
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let mut jobs = Vec::new();
            let mine = hooks.iter().filter(|(_, aud, org)| {
                *aud == alert.audience && org.as_ref().is_none_or(|o| *o == alert.org_id)
            });
            let mut payload: Option<String> = None;
            for (hook, _, _) in mine {
                // The Standard Webhooks payload shape: type, timestamp, data.
                let body = payload
                    .get_or_insert_with(|| {
                        serde_json::json!({
                            "type": "alert.created",
                            "timestamp": alert.created_at,
                            "data": alert,
                        })
                        .to_string()
                    })
                    .clone();
                let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
                let job = enqueue_on(
                    &mut self.tx,
                    &NewJob {
                        kind: WEBHOOK.to_owned(),
                        org_id: Some(alert.org_id.clone()),
                        payload: serde_json::json!({ "delivery_id": id }),
                        dedupe_key: Some(format!("{WEBHOOK}:{id}")),
                        max_attempts: WEBHOOK_MAX_ATTEMPTS,
                    },
                )
                .await?;
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, webhook_id, alert_id, event_type, payload, job_id, created_at) \
                     VALUES ($1, $2, $3, 'alert.created', $4, $5, $6)",
                )
                .bind(&id)
                .bind(hook)
                .bind(&alert.id)
                .bind(&body)
                .bind(&job.id)
                .bind(&alert.created_at)
                .execute(&mut *self.tx)
                .await?;
                jobs.push(job.id);
            }
            out.push((alert, jobs));
        }
        Ok(out)
    }

    /// Marks a delivery delivered (with the job's completion, in this transaction).
    pub async fn mark_delivered(&mut self, delivery_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET delivered_at = $2 WHERE id = $1 AND delivered_at IS NULL",
        )
        .bind(delivery_id)
        .bind(now())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// The insurers monitoring `org_id` on `today`: those whose key is not revoked, with a
    /// policy on it that is not cancelled and has not ended.
    pub async fn monitoring_insurers(&self, org_id: &str, today: NaiveDate) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT p.insurer_key_id FROM policies p JOIN api_keys k ON k.id = p.insurer_key_id \
             WHERE p.org_id = $1 AND p.cancelled_at IS NULL AND p.ends_on >= $2 AND k.revoked_at IS NULL \
             ORDER BY p.insurer_key_id",
        )
        .bind(org_id)
        .bind(today.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every audience's monitoring state of `org_id`: (audience, state JSON, version).
    pub async fn monitor_states(&self, org_id: &str) -> Result<Vec<(String, String, i64)>> {
        sqlx::query("SELECT audience, state, version FROM monitor_state WHERE org_id = $1")
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("audience")?,
                    r.try_get("state")?,
                    r.try_get("version")?,
                ))
            })
            .collect()
    }

    /// The insurers monitoring `org_id` on `today` (as [`Store::monitoring_insurers`]), each
    /// with its own alert rules and underwriting rules (TOML) where it stored any: one query.
    pub async fn monitoring_rules(
        &self,
        org_id: &str,
        today: NaiveDate,
    ) -> Result<Vec<(String, Option<String>, Option<String>)>> {
        sqlx::query(
            "SELECT i.insurer_key_id, a.rules AS alert_rules, u.rules AS underwriting_rules FROM \
             (SELECT DISTINCT p.insurer_key_id FROM policies p JOIN api_keys k ON k.id = p.insurer_key_id \
              WHERE p.org_id = $1 AND p.cancelled_at IS NULL AND p.ends_on >= $2 AND k.revoked_at IS NULL) i \
             LEFT JOIN alert_rules a ON a.insurer_key_id = i.insurer_key_id \
             LEFT JOIN underwriting_rules u ON u.insurer_key_id = i.insurer_key_id \
             ORDER BY i.insurer_key_id",
        )
        .bind(org_id)
        .bind(today.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("insurer_key_id")?,
                r.try_get("alert_rules")?,
                r.try_get("underwriting_rules")?,
            ))
        })
        .collect()
    }

    /// Organisations under a policy in force on `today` whose insurer's monitoring has not
    /// evaluated them today: the daily re-rating the schedule queues (whatever else — a live
    /// rating read — stored today's rating meanwhile).
    pub async fn monitored_orgs_stale(&self, today: NaiveDate) -> Result<Vec<String>> {
        let d = today.to_string();
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT p.org_id FROM policies p JOIN api_keys k ON k.id = p.insurer_key_id \
             WHERE p.cancelled_at IS NULL AND k.revoked_at IS NULL \
             AND p.starts_on <= $1 AND p.ends_on >= $1 AND NOT EXISTS \
             (SELECT 1 FROM monitor_state m WHERE m.org_id = p.org_id \
              AND m.audience = p.insurer_key_id AND m.updated_at >= $1) ORDER BY p.org_id",
        )
        .bind(&d)
        .fetch_all(&self.pool)
        .await?)
    }

    /// An insurer's own alert rules (TOML), if it stored any.
    pub async fn alert_rules(&self, insurer_key_id: &str) -> Result<Option<String>> {
        self.rule_set(crate::underwriting::RuleTable::Alerts, insurer_key_id)
            .await
    }

    /// Stores (replaces) an insurer's alert rules (TOML, checked by the caller).
    pub async fn set_alert_rules(
        &self,
        insurer_key_id: &str,
        rules: &str,
        actor: &str,
    ) -> Result<()> {
        self.set_rule_set(
            crate::underwriting::RuleTable::Alerts,
            insurer_key_id,
            rules,
            actor,
        )
        .await
    }

    /// Alerts, newest first.
    pub async fn alerts(&self, f: &AlertFilter) -> Result<Vec<Alert>> {
        sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE ($1 IS NULL OR audience = $1) \
             AND ($2 IS NULL OR org_id = $2) AND ($3 = 0 OR acked_at IS NULL) \
             ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
        ))
        .bind(&f.audience)
        .bind(&f.org_id)
        .bind(i64::from(f.unacknowledged))
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(alert_from_row)
        .collect()
    }

    /// One alert.
    pub async fn alert(&self, id: &str) -> Result<Alert> {
        sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(alert_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound {
                what: "alert",
                id: id.to_owned(),
            })
    }

    /// Acknowledges an alert (once: `Conflict` if it already was).
    pub async fn ack_alert(&self, id: &str, actor: &str) -> Result<Alert> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE alerts SET acked_at = $2, acked_by = $3 WHERE id = $1 AND acked_at IS NULL",
        )
        .bind(id)
        .bind(now())
        .bind(actor)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            drop(tx);
            let a = self.alert(id).await?;
            return Err(StoreError::Conflict(format!(
                "alert {id} was already acknowledged at {}",
                a.acked_at.unwrap_or_default()
            )));
        }
        let a: String = sqlx::query_scalar("SELECT org_id FROM alerts WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(actor),
            "alert.ack",
            Some(&a),
            &serde_json::json!({ "alert": id }),
        )
        .await?;
        tx.commit().await?;
        self.alert(id).await
    }

    /// Registers a webhook.
    pub async fn create_webhook(&self, w: &NewWebhook) -> Result<Webhook> {
        let hook = Webhook {
            id: new_id(),
            owner_key_id: w.owner_key_id.clone(),
            audience: w.audience.clone(),
            org_id: w.org_id.clone(),
            url: w.url.clone(),
            description: w.description.clone(),
            created_at: now(),
            disabled_at: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhooks (id, owner_key_id, audience, org_id, url, secret, description, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&hook.id)
        .bind(&hook.owner_key_id)
        .bind(&hook.audience)
        .bind(&hook.org_id)
        .bind(&hook.url)
        .bind(&w.secret)
        .bind(&hook.description)
        .bind(&hook.created_at)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            Some(&w.owner_key_id),
            "webhook.create",
            w.org_id.as_deref(),
            &serde_json::json!({ "webhook": hook.id, "url": hook.url }),
        )
        .await?;
        tx.commit().await?;
        Ok(hook)
    }

    /// Webhooks of an audience (all when `None`), newest first.
    pub async fn webhooks(
        &self,
        audience: Option<&str>,
        org_id: Option<&str>,
    ) -> Result<Vec<Webhook>> {
        sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE ($1 IS NULL OR audience = $1) \
             AND ($2 IS NULL OR org_id = $2) ORDER BY created_at DESC, id"
        ))
        .bind(audience)
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(webhook_from_row)
        .collect()
    }

    /// One webhook.
    pub async fn webhook(&self, id: &str) -> Result<Webhook> {
        sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(webhook_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound {
            what: "webhook",
            id: id.to_owned(),
        })
    }

    /// Disables a webhook: no new deliveries; queued ones are dropped when their job runs.
    pub async fn disable_webhook(&self, id: &str, actor: &str) -> Result<Webhook> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE webhooks SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL")
            .bind(id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(actor),
            "webhook.disable",
            None,
            &serde_json::json!({ "webhook": id }),
        )
        .await?;
        tx.commit().await?;
        self.webhook(id).await
    }

    /// Disables the webhook a delivery belongs to (the receiver answered 410 Gone).
    pub async fn disable_webhook_of_delivery(&self, delivery_id: &str, actor: &str) -> Result<()> {
        let hook: String =
            sqlx::query_scalar("SELECT webhook_id FROM webhook_deliveries WHERE id = $1")
                .bind(delivery_id)
                .fetch_one(&self.pool)
                .await?;
        self.disable_webhook(&hook, actor).await?;
        Ok(())
    }

    /// What a delivery job sends.
    pub async fn delivery_target(&self, delivery_id: &str) -> Result<DeliveryTarget> {
        let r = sqlx::query(
            "SELECT d.id, w.url, w.secret, d.payload, w.disabled_at, d.delivered_at \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1",
        )
        .bind(delivery_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "webhook delivery",
            id: delivery_id.to_owned(),
        })?;
        Ok(DeliveryTarget {
            id: r.try_get("id")?,
            url: r.try_get("url")?,
            secret: r.try_get("secret")?,
            payload: r.try_get("payload")?,
            webhook_disabled: r.try_get::<Option<String>, _>("disabled_at")?.is_some(),
            delivered: r.try_get::<Option<String>, _>("delivered_at")?.is_some(),
        })
    }

    /// Logs one attempt at a delivery (on its own, so a failed attempt is logged too).
    pub async fn record_attempt(&self, delivery_id: &str, a: &DeliveryAttempt) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, attempt, attempted_at, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id())
        .bind(delivery_id)
        .bind(a.attempt)
        .bind(&a.attempted_at)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(a.duration_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A webhook's deliveries, newest first, each with its attempts in order.
    pub async fn deliveries(&self, webhook_id: &str, limit: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT d.id, d.webhook_id, d.alert_id, d.event_type, d.job_id, d.created_at, d.delivered_at, \
             j.state FROM webhook_deliveries d LEFT JOIN jobs j ON j.id = d.job_id \
             WHERE d.webhook_id = $1 ORDER BY d.created_at DESC, d.id LIMIT $2",
        )
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get("id")?;
            let delivered_at: Option<String> = r.try_get("delivered_at")?;
            let job_state: Option<String> = r.try_get("state")?;
            let attempts = sqlx::query(
                "SELECT attempt, attempted_at, status_code, error, duration_ms FROM webhook_attempts \
                 WHERE delivery_id = $1 ORDER BY attempted_at, attempt",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|a| {
                Ok(DeliveryAttempt {
                    attempt: a.try_get("attempt")?,
                    attempted_at: a.try_get("attempted_at")?,
                    status_code: a.try_get("status_code")?,
                    error: a.try_get("error")?,
                    duration_ms: a.try_get("duration_ms")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
            out.push(Delivery {
                status: match (&delivered_at, job_state.as_deref()) {
                    (Some(_), _) => "delivered",
                    (None, Some("dead")) => "failed",
                    // Done without a delivery: the webhook was disabled first.
                    (None, Some("done")) => "skipped",
                    _ => "pending",
                }
                .to_owned(),
                id,
                webhook_id: r.try_get("webhook_id")?,
                alert_id: r.try_get("alert_id")?,
                event_type: r.try_get("event_type")?,
                job_id: r.try_get("job_id")?,
                created_at: r.try_get("created_at")?,
                delivered_at,
                attempts,
            });
        }
        Ok(out)
    }
}
