//! Mid-policy monitoring on SQLite and PostgreSQL: alerts raised once per condition by the
//! re-rating job, seen only by their audience, delivered to webhooks signed per Standard
//! Webhooks (verified here with the specification's own library), retried with backoff while
//! the receiver is down, and logged attempt by attempt. Two worker processes on one
//! PostgreSQL are in `crates/cyrisk-cli/tests/jobs.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::Days;
use cyrisk_app::App;
use cyrisk_app::jobs::{Worker, WorkerOptions};
use cyrisk_app::webhooks::{WebhookPolicy, WebhookRequest};
use cyrisk_core::finding::Finding;
use cyrisk_store::{InputsBatch, LoadTarget, NewPolicy, Principal, Role, Store};

use crate::store::{backends, example, finish, runtime};

/// A webhook receiver on loopback: verifies each message's signature and records it; answers
/// 503 while `down`.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    pub(crate) secret: Arc<OnceLock<String>>,
    pub(crate) down: Arc<AtomicBool>,
    /// (webhook-id, body) of every message accepted (2xx).
    pub(crate) accepted: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    /// webhook-id of every request, accepted or not.
    pub(crate) seen: Arc<Mutex<Vec<String>>>,
    pub(crate) bad_signatures: Arc<Mutex<usize>>,
}

impl Receiver {
    /// Serves on an ephemeral loopback port; returns the URL.
    pub(crate) async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move { me.receive(&headers, &body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }

    fn receive(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.seen.lock().unwrap().push(id.clone());
        if self.down.load(Ordering::SeqCst) {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let secret = self.secret.get().expect("secret set before delivery");
        let wh = standardwebhooks::Webhook::new(secret).unwrap();
        if wh.verify(body, headers).is_err() {
            *self.bad_signatures.lock().unwrap() += 1;
            return StatusCode::UNAUTHORIZED;
        }
        let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
        self.accepted.lock().unwrap().push((id, doc));
        StatusCode::NO_CONTENT
    }
}

fn worker(app: &App, name: &str) -> Worker {
    Worker::new(
        app.clone(),
        WorkerOptions {
            name: name.to_owned(),
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            ..WorkerOptions::default()
        },
    )
}

/// An insurer key and a policy of it on `org`, in force from today for a year.
pub(crate) async fn insure(s: &Store, org: &str, name: &str) -> Principal {
    let key = s.create_key(name, Role::Insurer, None, None).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    s.create_policy(
        &NewPolicy {
            org_id: org.to_owned(),
            insurer_key_id: key.id.clone(),
            quote_id: None,
            starts_on: today,
            ends_on: today.checked_add_days(Days::new(365)).unwrap(),
            currency: "CNY".into(),
            deductible: 100_000.0,
            limit: 5_000_000.0,
            premium: 40_000.0,
            inception: None,
        },
        None,
    )
    .await
    .unwrap();
    s.authenticate(&key.key).await.unwrap().unwrap()
}

/// A known-exploited vulnerability (PAN-OS GlobalProtect, CVE-2024-3400, in the bundled KEV
/// catalogue) newly found on the example SME's internet-facing web server.
pub(crate) fn new_kev_finding() -> Finding {
    serde_json::from_value(serde_json::json!({
        "id": "pan-os-3400",
        "asset": "www",
        "cve": "CVE-2024-3400",
        "cvss_score": 10.0,
        "first_seen": chrono::Utc::now().date_naive(),
    }))
    .unwrap()
}

/// Runs due jobs until none is left, waiting out backoffs up to `patience`.
async fn settle(w: &Worker, s: &Store, patience: Duration) {
    let start = std::time::Instant::now();
    loop {
        w.run_until_idle().await.unwrap();
        let stats = s.queue_stats().await.unwrap();
        if stats.queued == 0 && stats.running == 0 {
            return;
        }
        assert!(start.elapsed() < patience, "jobs still queued: {stats:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[test]
fn a_new_kev_on_an_internet_facing_asset_raises_one_alert_delivered_once_signed() {
    runtime().block_on(async {
        let all = backends("monitoring-alerts").await;
        for f in &all {
            let s = &f.store;
            let backend = s.backend();
            let app = App::builtin(s.clone())
                .unwrap()
                .with_webhook_policy(WebhookPolicy {
                    allow_private: true,
                })
                .unwrap();
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("sme-external-scan"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let insurer = insure(s, &org, "insurer A").await;
            let other = insure_nothing(s, "insurer B").await;
            let receiver = Receiver::default();
            let url = receiver.start().await;
            let hook = app
                .create_webhook(
                    &insurer,
                    WebhookRequest {
                        url,
                        description: Some("underwriting desk".into()),
                        insurer_key_id: None,
                        org_id: None,
                    },
                )
                .await
                .unwrap();
            receiver.secret.set(hook.secret.clone()).unwrap();
            let w = worker(&app, "w1");

            // The first evaluation is the baseline: the example's open BlueKeep on its
            // gateway was known at inception and raises nothing.
            settle(&w, s, Duration::from_secs(20)).await;
            let none = app
                .alerts(&insurer, None, None, false, 100, 0)
                .await
                .unwrap();
            assert!(none.is_empty(), "{backend:?}: {none:?}");

            // A re-scan finds a new KEV on the web server.
            s.upsert_inputs(
                &org,
                &InputsBatch {
                    findings: vec![new_kev_finding()],
                    ..Default::default()
                },
                &Principal::operator(),
            )
            .await
            .unwrap();
            settle(&w, s, Duration::from_secs(20)).await;
            let alerts = app
                .alerts(&insurer, None, None, false, 100, 0)
                .await
                .unwrap();
            let kev: Vec<_> = alerts
                .iter()
                .filter(|a| a.kind == "kev_internet_facing")
                .collect();
            assert_eq!(kev.len(), 1, "{backend:?}: {alerts:#?}");
            assert_eq!(kev[0].detail["finding_id"], "pan-os-3400");
            assert_eq!(kev[0].severity, "critical");
            assert!(
                alerts
                    .iter()
                    .all(|a| a.audience == insurer.key_id && a.org_id == org),
                "{alerts:#?}"
            );

            // Every alert for the insurer reached its webhook exactly once, signed.
            let accepted = receiver.accepted.lock().unwrap().clone();
            assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
            assert_eq!(accepted.len(), alerts.len(), "{backend:?}: {accepted:#?}");
            let mut ids: Vec<&String> = accepted.iter().map(|(id, _)| id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), accepted.len(), "one message per alert");
            for a in &alerts {
                assert_eq!(
                    accepted
                        .iter()
                        .filter(|(_, body)| body["data"]["id"] == a.id.as_str())
                        .count(),
                    1,
                    "alert {} delivered once",
                    a.id
                );
            }
            assert!(accepted.iter().all(|(_, b)| b["type"] == "alert.created"));
            let log = app
                .deliveries(&insurer, &hook.webhook.id, 100)
                .await
                .unwrap();
            assert_eq!(log.len(), alerts.len());
            assert!(
                log.iter()
                    .all(|d| d.status == "delivered" && d.attempts.len() == 1),
                "{log:#?}"
            );
            assert_eq!(log[0].attempts[0].status_code, Some(204));

            // Re-rating again (nothing new) raises nothing and delivers nothing.
            s.enqueue(&cyrisk_store::NewJob::rerate(&org, "test"))
                .await
                .unwrap();
            settle(&w, s, Duration::from_secs(20)).await;
            assert_eq!(
                app.alerts(&insurer, None, None, false, 100, 0)
                    .await
                    .unwrap()
                    .len(),
                alerts.len()
            );
            assert_eq!(receiver.accepted.lock().unwrap().len(), accepted.len());

            // The insured sees its own alert about the same finding; the other insurer sees
            // nothing and cannot open or acknowledge the first insurer's alert.
            let ent = s
                .create_key("ent", Role::Enterprise, Some(&org), None)
                .await
                .unwrap();
            let ent = s.authenticate(&ent.key).await.unwrap().unwrap();
            let own = app.alerts(&ent, None, None, false, 100, 0).await.unwrap();
            assert!(own.iter().any(|a| a.kind == "kev_internet_facing"));
            assert!(own.iter().all(|a| a.audience == "insured"));
            assert!(app.alert(&ent, &kev[0].id).await.is_err());
            assert!(
                app.alerts(&other, None, None, false, 100, 0)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert!(matches!(
                app.alert(&other, &kev[0].id).await,
                Err(cyrisk_app::AppError::NotFound { .. })
            ));
            assert!(app.ack_alert(&other, &kev[0].id).await.is_err());
            assert!(app.deliveries(&other, &hook.webhook.id, 10).await.is_err());

            // Acknowledged once.
            let acked = app.ack_alert(&insurer, &kev[0].id).await.unwrap();
            assert_eq!(acked.acked_by.as_deref(), Some(insurer.key_id.as_str()));
            assert!(matches!(
                app.ack_alert(&insurer, &kev[0].id).await,
                Err(cyrisk_app::AppError::Conflict(_))
            ));
            let open = app
                .alerts(&insurer, None, None, true, 100, 0)
                .await
                .unwrap();
            assert_eq!(open.len(), alerts.len() - 1);

            // Fixed and re-scanned: the condition clears; found again later, it alerts again.
            let mut fixed = new_kev_finding();
            fixed.state = cyrisk_core::finding::FindingState::Closed;
            fixed.fixed_at = Some(chrono::Utc::now().date_naive());
            s.upsert_inputs(
                &org,
                &InputsBatch {
                    findings: vec![fixed],
                    ..Default::default()
                },
                &Principal::operator(),
            )
            .await
            .unwrap();
            settle(&w, s, Duration::from_secs(20)).await;
            let after_fix = app
                .alerts(&insurer, None, None, false, 100, 0)
                .await
                .unwrap();
            assert_eq!(
                after_fix
                    .iter()
                    .filter(|a| a.kind == "kev_internet_facing")
                    .count(),
                1,
                "{backend:?}: a fix raises no KEV alert"
            );
        }
        finish(all).await;
    });
}

/// An insurer key with no policy.
async fn insure_nothing(s: &Store, name: &str) -> Principal {
    let key = s.create_key(name, Role::Insurer, None, None).await.unwrap();
    s.authenticate(&key.key).await.unwrap().unwrap()
}

#[test]
fn a_receiver_that_is_down_gets_the_message_when_it_is_back_with_every_attempt_logged() {
    runtime().block_on(async {
        let all = backends("monitoring-webhook-retry").await;
        for f in &all {
            let s = &f.store;
            let app = App::builtin(s.clone())
                .unwrap()
                .with_webhook_policy(WebhookPolicy {
                    allow_private: true,
                })
                .unwrap();
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("sme-external-scan"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let ent = s
                .create_key("ent", Role::Enterprise, Some(&org), None)
                .await
                .unwrap();
            let ent = s.authenticate(&ent.key).await.unwrap().unwrap();
            let receiver = Receiver::default();
            receiver.down.store(true, Ordering::SeqCst);
            let url = receiver.start().await;
            let hook = app
                .create_webhook(
                    &ent,
                    WebhookRequest {
                        url,
                        description: None,
                        insurer_key_id: None,
                        org_id: None,
                    },
                )
                .await
                .unwrap();
            receiver.secret.set(hook.secret.clone()).unwrap();
            let w = worker(&app, "w1");
            w.run_until_idle().await.unwrap(); // the baseline
            s.upsert_inputs(
                &org,
                &InputsBatch {
                    findings: vec![new_kev_finding()],
                    ..Default::default()
                },
                &Principal::operator(),
            )
            .await
            .unwrap();
            // Down: attempts fail and are retried after a backoff.
            let start = std::time::Instant::now();
            while receiver.seen.lock().unwrap().len() < 3 {
                w.run_until_idle().await.unwrap();
                assert!(start.elapsed() < Duration::from_secs(20), "no retries");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let log = app.deliveries(&ent, &hook.webhook.id, 100).await.unwrap();
            assert!(!log.is_empty());
            assert!(log.iter().all(|d| d.status == "pending"), "{log:#?}");
            let failing = log.iter().find(|d| d.attempts.len() >= 2).expect("retried");
            assert!(
                failing
                    .attempts
                    .iter()
                    .all(|a| a.status_code == Some(503) && a.error.is_some())
            );
            assert!(receiver.accepted.lock().unwrap().is_empty());

            // Back: every message arrives once, under the id its failed attempts carried.
            receiver.down.store(false, Ordering::SeqCst);
            settle(&w, s, Duration::from_secs(30)).await;
            let log = app.deliveries(&ent, &hook.webhook.id, 100).await.unwrap();
            assert!(log.iter().all(|d| d.status == "delivered"), "{log:#?}");
            let accepted = receiver.accepted.lock().unwrap().clone();
            assert_eq!(accepted.len(), log.len());
            for d in &log {
                assert_eq!(accepted.iter().filter(|(id, _)| *id == d.id).count(), 1);
                let last = d.attempts.last().unwrap();
                assert_eq!(last.status_code, Some(204));
                assert!(last.error.is_none());
            }
            let retried = log.iter().find(|d| d.id == failing.id).unwrap();
            assert!(retried.attempts.len() > failing.attempts.len());
            assert!(
                receiver
                    .seen
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|id| **id == failing.id)
                    .count()
                    >= 3,
                "the retries re-sent the same webhook-id"
            );
            // Disabled: no further deliveries queued.
            let off = app.disable_webhook(&ent, &hook.webhook.id).await.unwrap();
            assert!(off.disabled_at.is_some());
            assert_eq!(app.webhooks(&ent).await.unwrap().len(), 1);
            assert_eq!(
                app.webhook(&ent, &hook.webhook.id).await.unwrap().id,
                hook.webhook.id
            );
        }
        finish(all).await;
    });
}

/// The store's side of monitoring on both backends: the state is versioned (a second writer
/// of the same version conflicts, so two evaluations cannot both raise an alert), an alert's
/// dedupe key holds, raising one queues a delivery per active webhook of its audience in the
/// same transaction, and the schedule finds monitored organisations not rated today.
#[test]
fn the_store_versions_monitoring_state_and_raises_each_alert_once() {
    runtime().block_on(async {
        let all = backends("monitoring-store").await;
        for f in &all {
            let s = &f.store;
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("sme-external-scan"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let today = chrono::Utc::now().date_naive();
            assert!(s.monitoring_insurers(&org, today).await.unwrap().is_empty());
            assert!(s.monitored_orgs_stale(today).await.unwrap().is_empty());
            let insurer = insure(s, &org, "insurer A").await;
            assert_eq!(
                s.monitoring_insurers(&org, today).await.unwrap(),
                vec![insurer.key_id.clone()]
            );
            // Under a policy and not rated today: the schedule's work.
            assert_eq!(
                s.monitored_orgs_stale(today).await.unwrap(),
                vec![org.clone()]
            );
            let app = App::builtin(s.clone()).unwrap();
            assert_eq!(app.schedule_monitoring().await.unwrap(), 1);

            // Versioned state: read, write; a stale second write conflicts.
            let mut tx = s.write_tx().await.unwrap();
            assert!(tx.monitor_state(&org, "insured").await.unwrap().is_none());
            tx.put_monitor_state(&org, "insured", r#"{"rating_id":"r1"}"#, None)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let mut tx = s.write_tx().await.unwrap();
            let (state, v) = tx.monitor_state(&org, "insured").await.unwrap().unwrap();
            assert_eq!((state.as_str(), v), (r#"{"rating_id":"r1"}"#, 1));
            tx.put_monitor_state(&org, "insured", r#"{"rating_id":"r2"}"#, Some(1))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let mut tx = s.write_tx().await.unwrap();
            assert!(matches!(
                tx.put_monitor_state(&org, "insured", r#"{"rating_id":"r3"}"#, Some(1))
                    .await,
                Err(cyrisk_store::StoreError::Conflict(_))
            ));
            assert!(matches!(
                tx.put_monitor_state(&org, "insured", "{}", None).await,
                Err(cyrisk_store::StoreError::Conflict(_))
            ));
            drop(tx);
            assert_eq!(
                s.monitor_states(&org).await.unwrap(),
                vec![("insured".to_owned(), r#"{"rating_id":"r2"}"#.to_owned(), 2)]
            );
            // The insurer with its own rules, in one query.
            let rules = s.monitoring_rules(&org, today).await.unwrap();
            assert_eq!(rules.len(), 1);
            assert_eq!(rules[0].0, insurer.key_id);

            // Rules per insurer.
            assert!(s.alert_rules(&insurer.key_id).await.unwrap().is_none());
            s.set_alert_rules(&insurer.key_id, "id = \"x\"\nversion = \"1\"\n", "t")
                .await
                .unwrap();
            assert!(s.alert_rules(&insurer.key_id).await.unwrap().is_some());

            // An alert with a webhook: one delivery queued with it; the same key again is
            // nothing.
            let hook = s
                .create_webhook(&cyrisk_store::NewWebhook {
                    owner_key_id: insurer.key_id.clone(),
                    audience: insurer.key_id.clone(),
                    org_id: None,
                    url: "https://hooks.example.com/x".into(),
                    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                    description: None,
                })
                .await
                .unwrap();
            let new = cyrisk_store::NewAlert {
                org_id: org.clone(),
                audience: insurer.key_id.clone(),
                kind: "no_scan".into(),
                severity: "warning".into(),
                dedupe_key: "no_scan@r2".into(),
                title: "No scan".into(),
                detail: serde_json::json!({ "days": 40 }),
                rating_id: Some("r2".into()),
            };
            let mut tx = s.write_tx().await.unwrap();
            let (alert, jobs) = tx.insert_alert(&new).await.unwrap().unwrap();
            assert_eq!(jobs.len(), 1);
            assert!(tx.insert_alert(&new).await.unwrap().is_none());
            // A batch: the one already raised is skipped, the new one raised with its delivery.
            let other = cyrisk_store::NewAlert {
                dedupe_key: "no_scan@r3".into(),
                ..new.clone()
            };
            let batch = tx.insert_alerts(&[new.clone(), other]).await.unwrap();
            assert_eq!(batch.len(), 1);
            assert_eq!(batch[0].1.len(), 1);
            // A rating stored under an id chosen before.
            let rating = cyrisk_core::rate(
                &example("sme-external-scan"),
                &cyrisk_core::RatingModel::builtin(),
                today,
            );
            let stored = tx
                .insert_rating_as("chosen-id", &org, &rating, 1, None, None)
                .await
                .unwrap();
            assert_eq!(stored.id, "chosen-id");
            tx.commit().await.unwrap();
            let log = s.deliveries(&hook.id, 10).await.unwrap();
            assert_eq!(log.len(), 2);
            let log: Vec<_> = log.into_iter().filter(|d| d.alert_id == alert.id).collect();
            assert_eq!(
                (log[0].status.as_str(), log[0].alert_id.as_str()),
                ("pending", alert.id.as_str())
            );
            let target = s.delivery_target(&log[0].id).await.unwrap();
            let body: serde_json::Value = serde_json::from_str(&target.payload).unwrap();
            assert_eq!(body["data"]["id"], alert.id.as_str());
            assert!(!target.delivered && !target.webhook_disabled);
            s.record_attempt(
                &target.id,
                &cyrisk_store::DeliveryAttempt {
                    attempt: 1,
                    attempted_at: cyrisk_store::stamp_now(),
                    status_code: Some(200),
                    error: None,
                    duration_ms: 3,
                },
            )
            .await
            .unwrap();
            let mut tx = s.write_tx().await.unwrap();
            tx.mark_delivered(&target.id).await.unwrap();
            tx.commit().await.unwrap();
            let log: Vec<_> = s
                .deliveries(&hook.id, 10)
                .await
                .unwrap()
                .into_iter()
                .filter(|d| d.alert_id == alert.id)
                .collect();
            assert_eq!(
                (log[0].status.as_str(), log[0].attempts.len()),
                ("delivered", 1)
            );
            assert!(s.delivery_target(&target.id).await.unwrap().delivered);
            assert_eq!(
                s.alerts(&cyrisk_store::AlertFilter {
                    audience: Some(insurer.key_id.clone()),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap()
                .len(),
                2
            );
            assert_eq!(
                s.ack_alert(&alert.id, "t")
                    .await
                    .unwrap()
                    .acked_by
                    .as_deref(),
                Some("t")
            );
            assert_eq!(s.alert(&alert.id).await.unwrap().id, alert.id);
            assert_eq!(
                s.webhooks(Some(&insurer.key_id), None).await.unwrap().len(),
                1
            );
            // A receiver's 410 Gone disables the webhook of the delivery.
            s.disable_webhook_of_delivery(&target.id, "t")
                .await
                .unwrap();
            assert!(s.webhook(&hook.id).await.unwrap().disabled_at.is_some());
            assert!(
                s.disable_webhook(&hook.id, "t")
                    .await
                    .unwrap()
                    .disabled_at
                    .is_some()
            );
            assert!(s.webhook(&hook.id).await.unwrap().disabled_at.is_some());
        }
        finish(all).await;
    });
}

/// The policy loop's first steps on both backends: a policy bound after the organisation was
/// first rated freezes that rating at inception and starts the insurer's monitoring from it,
/// so the next change alerts; an endorsement re-prices pro rata on the frozen rating; a
/// cancellation returns the unexpired premium; only the insurer (or an admin) changes it.
#[test]
fn a_policy_freezes_its_inception_rating_and_is_endorsed_and_cancelled_pro_rata() {
    use cyrisk_app::policies::{BindRequest, EndorseRequest};
    runtime().block_on(async {
        let all = backends("policy-lifecycle").await;
        for f in &all {
            let s = &f.store;
            let backend = s.backend();
            let app = App::builtin(s.clone()).unwrap();
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("sme-external-scan"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let w = worker(&app, "w1");
            settle(&w, s, Duration::from_secs(20)).await; // rated before any policy
            let insurer = insure_nothing(s, "insurer A").await;
            let other = insure_nothing(s, "insurer B").await;
            s.link(&insurer.key_id, &org, "test").await.unwrap();
            let today = chrono::Utc::now().date_naive();
            let starts_on = today;
            let ends_on = today + Days::new(364); // a 365-day term
            let policy = app
                .bind_policy(
                    &insurer,
                    BindRequest {
                        organization_id: org.clone(),
                        insurer_key_id: None,
                        quote_id: None,
                        starts_on,
                        ends_on,
                        currency: None,
                        deductible: 100_000.0,
                        limit: 2_000_000.0,
                        premium: 36_500.0,
                    },
                )
                .await
                .unwrap();
            let live = app.live_rating(&org).await.unwrap();
            let inception = policy.inception.clone().expect("frozen at inception");
            assert_eq!(
                (inception.rating_id.as_str(), inception.score),
                (live.id.as_str(), live.score)
            );
            assert_eq!(policy.phase(today), cyrisk_store::PolicyPhase::Active);

            // The next change alerts the insurer (its monitoring began at inception).
            s.upsert_inputs(
                &org,
                &InputsBatch {
                    findings: vec![new_kev_finding()],
                    ..Default::default()
                },
                &Principal::operator(),
            )
            .await
            .unwrap();
            settle(&w, s, Duration::from_secs(20)).await;
            let alerts = app
                .alerts(&insurer, None, None, false, 100, 0)
                .await
                .unwrap();
            assert_eq!(
                alerts
                    .iter()
                    .filter(|a| a.kind == "kev_internet_facing")
                    .count(),
                1,
                "{backend:?}: {alerts:#?}"
            );
            // …and the rating at inception stays what it was.
            let detail = app.policy(&insurer, &policy.id).await.unwrap();
            assert_eq!(detail.policy.inception, Some(inception.clone()));

            // Doubling the limit half-way through the term: a higher annual premium, half of
            // the difference written now.
            let mid = starts_on + Days::new(182); // 183 of 365 days left
            let e = app
                .endorse_policy(
                    &insurer,
                    &policy.id,
                    EndorseRequest {
                        effective_on: mid,
                        limit: Some(4_000_000.0),
                        deductible: None,
                        reason: "more cover".into(),
                        trials: 20_000,
                    },
                )
                .await
                .unwrap();
            assert!(e.annual_premium > 36_500.0, "{e:?}");
            let expect = (e.annual_premium - 36_500.0) * 183.0 / 365.0;
            assert!((e.premium_change - expect).abs() < 1e-6, "{e:?}");
            let after = app.policy(&insurer, &policy.id).await.unwrap();
            assert_eq!(after.policy.limit, 4_000_000.0);
            assert_eq!(after.endorsements.len(), 1);
            assert_eq!(
                s.endorsements(&policy.id).await.unwrap(),
                after.endorsements
            );
            assert_eq!(
                s.rating_raw(&org, &inception.rating_id)
                    .await
                    .unwrap()
                    .score,
                inception.score
            );
            assert!((after.policy.written_premium - (36_500.0 + e.premium_change)).abs() < 1e-6);
            // Nothing to change; another insurer's key; a date outside the term.
            let same = EndorseRequest {
                effective_on: mid,
                limit: None,
                deductible: None,
                reason: "x".into(),
                trials: 20_000,
            };
            assert!(matches!(
                app.endorse_policy(&insurer, &policy.id, same.clone()).await,
                Err(cyrisk_app::AppError::Invalid(_))
            ));
            let more = EndorseRequest {
                limit: Some(3_000_000.0),
                ..same.clone()
            };
            assert!(matches!(
                app.endorse_policy(&other, &policy.id, more.clone()).await,
                Err(cyrisk_app::AppError::NotFound { .. })
            ));
            assert!(matches!(
                app.policy(&other, &policy.id).await,
                Err(cyrisk_app::AppError::NotFound { .. })
            ));
            let late = EndorseRequest {
                effective_on: ends_on + Days::new(1),
                ..more.clone()
            };
            assert!(matches!(
                app.endorse_policy(&insurer, &policy.id, late).await,
                Err(cyrisk_app::AppError::Invalid(_))
            ));

            // Cancelled with 73 of 365 days left: a fifth of the annual premium back.
            let cancel_on = ends_on - Days::new(72);
            assert!(matches!(
                app.cancel_policy(&other, &policy.id, cancel_on, "sold")
                    .await,
                Err(cyrisk_app::AppError::NotFound { .. })
            ));
            let c = app
                .cancel_policy(&insurer, &policy.id, cancel_on, "business sold")
                .await
                .unwrap();
            let back = e.annual_premium * 73.0 / 365.0;
            assert!((c.return_premium.unwrap() - back).abs() < 1e-6, "{c:?}");
            assert!((c.written_premium - (36_500.0 + e.premium_change - back)).abs() < 1e-6);
            assert_eq!(c.phase(cancel_on), cyrisk_store::PolicyPhase::Cancelled);
            assert_eq!(
                c.phase(cancel_on - Days::new(1)),
                cyrisk_store::PolicyPhase::Active
            );
            assert!(matches!(
                app.cancel_policy(&insurer, &policy.id, cancel_on, "again")
                    .await,
                Err(cyrisk_app::AppError::Conflict(_))
            ));
            assert!(matches!(
                app.endorse_policy(&insurer, &policy.id, more).await,
                Err(cyrisk_app::AppError::Conflict(_))
            ));
            assert_eq!(s.policies_of(Some(&insurer.key_id)).await.unwrap().len(), 1);

            // Bound back-dated for the record, already expired: stored once, monitored by no one.
            let old = app
                .bind_policy(
                    &insurer,
                    BindRequest {
                        organization_id: org.clone(),
                        insurer_key_id: None,
                        quote_id: None,
                        starts_on: today - Days::new(730),
                        ends_on: today - Days::new(366),
                        currency: None,
                        deductible: 100_000.0,
                        limit: 2_000_000.0,
                        premium: 30_000.0,
                    },
                )
                .await
                .unwrap();
            assert_eq!(old.phase(today), cyrisk_store::PolicyPhase::Expired);
            // A raised limit, then a cancellation from the first day: the whole written
            // premium comes back, never more.
            let p2 = app
                .bind_policy(
                    &insurer,
                    BindRequest {
                        organization_id: org.clone(),
                        insurer_key_id: None,
                        quote_id: None,
                        starts_on: today,
                        ends_on: today + Days::new(364),
                        currency: None,
                        deductible: 100_000.0,
                        limit: 2_000_000.0,
                        premium: 36_500.0,
                    },
                )
                .await
                .unwrap();
            let up = EndorseRequest {
                effective_on: today + Days::new(200),
                limit: Some(20_000_000.0),
                deductible: None,
                reason: "more".into(),
                trials: 20_000,
            };
            app.endorse_policy(&insurer, &p2.id, up.clone())
                .await
                .unwrap();
            let earlier = EndorseRequest {
                effective_on: today + Days::new(10),
                limit: Some(2_000_000.0),
                ..up
            };
            assert!(matches!(
                app.endorse_policy(&insurer, &p2.id, earlier).await,
                Err(cyrisk_app::AppError::Invalid(_))
            ));
            let c2 = app
                .cancel_policy(&insurer, &p2.id, today, "never started")
                .await
                .unwrap();
            assert!(c2.written_premium.abs() < 1e-6, "{c2:?}");
            assert!(c2.return_premium.unwrap() > 36_500.0);
            // An assessor is not party to the insurance.
            let assessor = s
                .create_key("assessor", Role::Assessor, Some(&org), None)
                .await
                .unwrap();
            let assessor = s.authenticate(&assessor.key).await.unwrap().unwrap();
            assert!(app.policies(&assessor, &org).await.unwrap().is_empty());
            assert!(app.policy(&assessor, &policy.id).await.is_err());
            assert!(s.policies_of(Some(&other.key_id)).await.unwrap().is_empty());
        }
        finish(all).await;
    });
}

/// Risk handling on both backends: a ticket on a finding is worked by the insured but closed
/// only by verification — a re-scan that no longer sees the finding, or a third party's
/// attestation, never the insured's own word — and verified closures within SLA become a
/// passing patch cadence that raises the score.
#[test]
fn tickets_close_only_when_verified_and_the_record_moves_the_rating() {
    use cyrisk_app::tickets::TicketRequest;
    use cyrisk_store::{TicketSource, TicketStatus, TicketUpdate};
    runtime().block_on(async {
        let all = backends("tickets").await;
        for f in &all {
            let s = &f.store;
            let backend = s.backend();
            let app = App::builtin(s.clone()).unwrap();
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("sme-external-scan"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let key = |role: Role, name: &'static str| {
                let org = org.clone();
                async move {
                    let k = s.create_key(name, role, Some(&org), None).await.unwrap();
                    s.authenticate(&k.key).await.unwrap().unwrap()
                }
            };
            let ent = key(Role::Enterprise, "insured").await;
            let assessor = key(Role::Assessor, "assessor").await;
            let w = worker(&app, "w1");
            settle(&w, s, Duration::from_secs(20)).await;
            let before = app.live_rating(&org).await.unwrap();

            // A ticket on the BlueKeep finding, due by the model's KEV SLA from first seen.
            let t = app
                .create_ticket(
                    &ent,
                    &org,
                    TicketRequest {
                        source: TicketSource::Finding,
                        source_id: "ext-2".into(),
                        title: None,
                        assignee: Some("it@jiangcheng".into()),
                        due_on: None,
                    },
                )
                .await
                .unwrap();
            let finding = s.finding(&org, "ext-2").await.unwrap();
            let sla = app
                .models
                .rating
                .sla_days(cyrisk_core::rating::finding_severity(&finding), finding.kev);
            assert_eq!(t.due_on, finding.first_seen + Days::new(u64::from(sla)));
            assert_eq!(t.sla_due_on, t.due_on);
            // Moving the working due date does not move the SLA the record measures against.
            let later = TicketUpdate {
                due_on: Some(chrono::NaiveDate::from_ymd_opt(2099, 1, 1).unwrap()),
                ..Default::default()
            };
            let moved = app.update_ticket(&ent, &t.id, &later).await.unwrap();
            assert_eq!(moved.sla_due_on, t.sla_due_on);
            assert!(matches!(
                app.create_ticket(
                    &ent,
                    &org,
                    TicketRequest {
                        source: TicketSource::Finding,
                        source_id: "ext-2".into(),
                        title: None,
                        assignee: None,
                        due_on: None
                    }
                )
                .await,
                Err(cyrisk_app::AppError::Conflict(_))
            ));
            // Worked by the insured; its word does not close it.
            let resolved = TicketUpdate {
                status: Some(TicketStatus::Resolved),
                ..Default::default()
            };
            let r = app.update_ticket(&ent, &t.id, &resolved).await.unwrap();
            assert_eq!(r.status, TicketStatus::Resolved);
            assert!(r.acknowledged_at.is_some());
            let close = TicketUpdate {
                status: Some(TicketStatus::Closed),
                ..Default::default()
            };
            assert!(matches!(
                app.update_ticket(&ent, &t.id, &close).await,
                Err(cyrisk_app::AppError::Forbidden {
                    code: "verification_required",
                    ..
                })
            ));
            assert!(matches!(
                app.verify_ticket(&ent, &t.id, "trust me").await,
                Err(cyrisk_app::AppError::Forbidden {
                    code: "recorded_by_third_party",
                    ..
                })
            ));
            app.comment_ticket(&ent, &t.id, "patched on 2026-11-29", true)
                .await
                .unwrap();

            // The re-scan no longer sees it: the ticket closes, verified by the scan.
            // (The nginx finding, high and soon past its SLA, is fixed too — so the record
            // below does not depend on the day the test runs.)
            let mut nginx = s.finding(&org, "ext-1").await.unwrap();
            nginx.state = cyrisk_core::finding::FindingState::Closed;
            nginx.fixed_at = Some(chrono::Utc::now().date_naive());
            let mut gone = finding.clone();
            gone.state = cyrisk_core::finding::FindingState::Closed;
            gone.fixed_at = Some(chrono::Utc::now().date_naive());
            s.upsert_inputs(
                &org,
                &InputsBatch {
                    findings: vec![gone, nginx],
                    ..Default::default()
                },
                &Principal::operator(),
            )
            .await
            .unwrap();
            settle(&w, s, Duration::from_secs(20)).await;
            let closed = app.ticket(&ent, &t.id).await.unwrap();
            assert_eq!(closed.ticket.status, TicketStatus::Closed, "{backend:?}");
            assert_eq!(closed.ticket.verified_by.as_deref(), Some("rescan"));
            let kinds: Vec<&str> = closed.events.iter().map(|e| e.kind.as_str()).collect();
            assert_eq!(
                kinds,
                ["created", "due", "status", "evidence", "verified"],
                "{backend:?}"
            );
            assert!(matches!(
                app.update_ticket(&ent, &t.id, &resolved).await,
                Err(cyrisk_app::AppError::Conflict(_))
            ));

            // The BlueKeep ticket closed after its KEV SLA. Ten controls put in place and
            // attested by the assessor on time: 10 of 11 verified closures within SLA (≥ 90 %)
            // make a passing patch cadence, and the score rises.
            let late = app.remediation_record(&ent, &org).await.unwrap();
            assert_eq!(
                (late.closed, late.closed_within_sla, late.patch_cadence),
                (1, 0, None)
            );
            let mid = app.live_rating(&org).await.unwrap();
            for control in [
                "mfa",
                "edr",
                "offline_backups",
                "privileged_access",
                "log_retention",
                "incident_response",
                "security_awareness",
                "email_authentication",
                "hardening_network",
                "hardening_os",
            ] {
                let c = app
                    .create_ticket(
                        &ent,
                        &org,
                        TicketRequest {
                            source: TicketSource::Control,
                            source_id: control.into(),
                            title: None,
                            assignee: None,
                            due_on: None,
                        },
                    )
                    .await
                    .unwrap();
                let v = app
                    .verify_ticket(&assessor, &c.id, "seen in place")
                    .await
                    .unwrap();
                assert_eq!(v.verified_by.as_deref(), Some("attestation"));
            }
            let record = app.remediation_record(&ent, &org).await.unwrap();
            assert_eq!(
                (record.closed, record.closed_within_sla),
                (11, 10),
                "{record:?}"
            );
            assert_eq!(
                record.patch_cadence,
                Some(cyrisk_core::control::Outcome::Pass)
            );
            settle(&w, s, Duration::from_secs(20)).await;
            let after = app.live_rating(&org).await.unwrap();
            assert!(
                after.score > mid.score,
                "{backend:?}: remediation moved the score {} → {} (before the fix {})",
                mid.score,
                after.score,
                before.score
            );
            let doc: serde_json::Value = serde_json::from_str(&after.rating).unwrap();
            let pc = doc["factors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == "patch_cadence")
                .unwrap()
                .clone();
            assert!(pc["points"].as_f64().unwrap() > 0.0, "{pc}");
            // No ticket on what is already resolved: a retired finding, a control a verified
            // result already passes (else opening and "closing" them pads the record).
            assert!(matches!(
                app.create_ticket(&ent, &org, TicketRequest { source: TicketSource::Finding, source_id: "ext-2".into(), title: None, assignee: None, due_on: None }).await,
                Err(cyrisk_app::AppError::Conflict(_))
            ));
            s.upsert_inputs(
                &org,
                &InputsBatch {
                    controls: vec![serde_json::from_value(serde_json::json!({
                        "control": "edr", "outcome": "pass", "assessed_on": chrono::Utc::now().date_naive()
                    }))
                    .unwrap()],
                    ..Default::default()
                },
                &Principal::operator(),
            )
            .await
            .unwrap();
            assert!(matches!(
                app.create_ticket(&ent, &org, TicketRequest { source: TicketSource::Control, source_id: "edr".into(), title: None, assignee: None, due_on: None }).await,
                Err(cyrisk_app::AppError::Conflict(_))
            ));
            // An insurer's own ticket is not another insurer's.
            let ins_a = insure(s, &org, "insurer A").await;
            let ins_b = insure(s, &org, "insurer B").await;
            let private = app
                .create_ticket(&ins_a, &org, TicketRequest { source: TicketSource::Control, source_id: "hardening_middleware".into(), title: None, assignee: None, due_on: None })
                .await
                .unwrap();
            assert!(app.ticket(&ins_b, &private.id).await.is_err());
            assert!(app.verify_ticket(&ins_b, &private.id, "x").await.is_err());
            assert!(!app.tickets(&ins_b, &org, None, 100, 0).await.unwrap().iter().any(|t| t.id == private.id));
            assert!(app.ticket(&ent, &private.id).await.is_ok());
            assert!(app.ticket(&assessor, &private.id).await.is_err(), "not party to the insurance");
            // Open control tickets count as misses once past their SLA date.
            let far = chrono::Utc::now().date_naive() + Days::new(1000);
            assert!(s.overdue_tickets(&org, far).await.unwrap() >= 1);
            assert_eq!(s.overdue_tickets(&org, chrono::Utc::now().date_naive()).await.unwrap(), 0);
            // Not a control id; another tenant's view.
            assert!(matches!(
                app.create_ticket(
                    &ent,
                    &org,
                    TicketRequest {
                        source: TicketSource::Control,
                        source_id: "firewall".into(),
                        title: None,
                        assignee: None,
                        due_on: None
                    }
                )
                .await,
                Err(cyrisk_app::AppError::Invalid(_))
            ));
            let stranger = insure_nothing(s, "insurer B").await;
            assert!(app.ticket(&stranger, &t.id).await.is_err());
            assert!(app.tickets(&stranger, &org, None, 10, 0).await.is_err());
            assert_eq!(
                s.tickets(&org, Some(TicketStatus::Closed), None, 100, 0)
                    .await
                    .unwrap()
                    .len(),
                11
            );
            assert_eq!(s.ticket_events(&t.id).await.unwrap().len(), 5);
            assert_eq!(s.ticket(&t.id).await.unwrap().id, t.id);
            let since = chrono::Utc::now().date_naive() - Days::new(1);
            assert_eq!(s.closed_tickets(&org, since).await.unwrap().len(), 11);
            // A verified passing control result closes its control's ticket (as a re-scan
            // does a finding's), and queues the re-rating; an older pass does not.
            let db = app
                .create_ticket(
                    &ent,
                    &org,
                    TicketRequest {
                        source: TicketSource::Control,
                        source_id: "hardening_database".into(),
                        title: None,
                        assignee: None,
                        due_on: None,
                    },
                )
                .await
                .unwrap();
            let today = chrono::Utc::now().date_naive();
            let mut tx = s.write_tx().await.unwrap();
            let old_pass = [("hardening_database".to_owned(), today - Days::new(30))];
            assert!(
                tx.close_tickets_verified_by_scan(&org, &[], &old_pass)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let pass = [("hardening_database".to_owned(), today)];
            let done = tx
                .close_tickets_verified_by_scan(&org, &[], &pass)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(done.len(), 1);
            assert_eq!(
                s.ticket(&db.id).await.unwrap().verified_by.as_deref(),
                Some("rescan")
            );
        }
        finish(all).await;
    });
}

/// Claims on both backends: filed within the period of cover, notice after the loss; a
/// reserve sets the outstanding, a payment erodes it; closing releases what is left; a closed
/// claim takes no movement until reopened; the loss run's earned premium and loss ratio.
#[test]
fn claims_fold_reserves_and_payments_and_feed_the_loss_run() {
    use cyrisk_core::peril::Peril;
    use cyrisk_store::{ClaimStatus, MovementKind, NewClaim};
    runtime().block_on(async {
        let all = backends("claims").await;
        for f in &all {
            let s = &f.store;
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("sme-external-scan"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let insurer = insure(s, &org, "insurer A").await;
            let policy = s.policies(&org).await.unwrap().remove(0);
            let day = |n: u64| policy.starts_on + Days::new(n);
            let new = |loss: u64, notice: u64| NewClaim {
                policy_id: policy.id.clone(),
                loss_on: day(loss),
                notified_on: day(notice),
                peril: Peril::Ransomware,
                description: "encrypted file servers".into(),
            };
            assert!(matches!(
                s.create_claim(&new(400, 401), "t").await,
                Err(cyrisk_store::StoreError::Invalid(_))
            ));
            assert!(matches!(
                s.create_claim(&new(10, 9), "t").await,
                Err(cyrisk_store::StoreError::Invalid(_))
            ));
            let c = s.create_claim(&new(10, 12), "t").await.unwrap();
            assert_eq!((c.status, c.incurred), (ClaimStatus::Open, 0.0));
            s.add_claim_movement(&c.id, MovementKind::Reserve, 800_000.0, day(12), None, "t")
                .await
                .unwrap();
            let c2 = s
                .add_claim_movement(
                    &c.id,
                    MovementKind::Payment,
                    300_000.0,
                    day(20),
                    Some("IR firm"),
                    "t",
                )
                .await
                .unwrap();
            assert_eq!(
                (c2.paid, c2.outstanding, c2.incurred),
                (300_000.0, 500_000.0, 800_000.0)
            );
            assert!(matches!(
                s.add_claim_movement(&c.id, MovementKind::Payment, 0.0, day(20), None, "t")
                    .await,
                Err(cyrisk_store::StoreError::Invalid(_))
            ));
            assert!(matches!(
                s.add_claim_movement(&c.id, MovementKind::Reserve, 1.0, day(5), None, "t")
                    .await,
                Err(cyrisk_store::StoreError::Invalid(_))
            ));
            // Beyond the limit left on the claim; dated before the last movement.
            assert!(matches!(
                s.add_claim_movement(
                    &c.id,
                    MovementKind::Payment,
                    5_000_000.0,
                    day(21),
                    None,
                    "t"
                )
                .await,
                Err(cyrisk_store::StoreError::Invalid(_))
            ));
            assert!(matches!(
                s.add_claim_movement(&c.id, MovementKind::Reserve, 1.0, day(15), None, "t")
                    .await,
                Err(cyrisk_store::StoreError::Invalid(_))
            ));
            assert!(matches!(
                s.set_claim_status(&c.id, ClaimStatus::Closed, day(19), "t")
                    .await,
                Err(cyrisk_store::StoreError::Invalid(_))
            ));
            // A cancellation from before a claim's loss would strand it.
            assert!(matches!(
                s.cancel_policy(&policy.id, day(5), "x", 0.0, policy.written_premium, "t")
                    .await,
                Err(cyrisk_store::StoreError::Conflict(_))
            ));
            let closed = s
                .set_claim_status(&c.id, ClaimStatus::Closed, day(30), "t")
                .await
                .unwrap();
            assert_eq!((closed.paid, closed.outstanding), (300_000.0, 0.0));
            assert_eq!(closed.closed_on, Some(day(30)));
            assert!(matches!(
                s.add_claim_movement(&c.id, MovementKind::Payment, 1.0, day(31), None, "t")
                    .await,
                Err(cyrisk_store::StoreError::Conflict(_))
            ));
            assert!(matches!(
                s.set_claim_status(&c.id, ClaimStatus::Closed, day(31), "t")
                    .await,
                Err(cyrisk_store::StoreError::Conflict(_))
            ));
            let reopened = s
                .set_claim_status(&c.id, ClaimStatus::Open, day(40), "t")
                .await
                .unwrap();
            assert_eq!(reopened.status, ClaimStatus::Open);
            assert_eq!(s.claim(&c.id).await.unwrap().movements.len(), 3);
            assert_eq!(
                s.claims(Some(&policy.id), None, None).await.unwrap().len(),
                1
            );
            assert_eq!(
                s.claims(None, Some(&insurer.key_id), None)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert!(
                s.claims(None, Some("someone else"), None)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(s.claims(None, None, Some(&org)).await.unwrap().len(), 1);

            // The loss run, half-way through the 366-day period (insure() binds today + 365): an
            // annual premium earns 1/365 a day, and the period writes 366/365 of it.
            let claims = s.claims(Some(&policy.id), None, None).await.unwrap();
            // As of before the notice: nothing; as of after the reserve, before the payment.
            let early = cyrisk_app::claims::loss_run(
                &[(policy.clone(), Vec::new())],
                claims.clone(),
                day(11),
            );
            assert_eq!(early.rows[0].claims, 0);
            let mid = cyrisk_app::claims::loss_run(
                &[(policy.clone(), Vec::new())],
                claims.clone(),
                day(15),
            );
            assert_eq!(
                (mid.rows[0].paid, mid.rows[0].outstanding),
                (0.0, 800_000.0)
            );
            assert_eq!(mid.rows[0].open_claims, 1);
            let run =
                cyrisk_app::claims::loss_run(&[(policy.clone(), Vec::new())], claims, day(182));
            let r = &run.rows[0];
            assert!(
                (r.earned_premium - 40_000.0 * 183.0 / 365.0).abs() < 1e-9,
                "{r:?}"
            );
            assert!((policy.written_premium - 40_000.0 * 366.0 / 365.0).abs() < 1e-9);
            assert_eq!((r.claims, r.incurred), (1, 300_000.0));
            assert!((r.loss_ratio.unwrap() - 300_000.0 / r.earned_premium).abs() < 1e-12);
            assert_eq!(run.totals.len(), 1);
        }
        finish(all).await;
    });
}

/// The timeline on both backends: ratings, alerts, ticket transitions, imports and policy
/// changes in one feed, newest first, paged by cursor without repeats; an insurer sees its own
/// alerts and policies only.
#[test]
fn the_timeline_pages_every_kind_of_entry_by_cursor() {
    use cyrisk_app::tickets::TicketRequest;
    use cyrisk_store::{TicketSource, TimelineScope};
    runtime().block_on(async {
        let all = backends("timeline").await;
        for f in &all {
            let s = &f.store;
            let app = App::builtin(s.clone()).unwrap();
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("sme-external-scan"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let a = insure(s, &org, "insurer A").await;
            let b = insure(s, &org, "insurer B").await;
            let w = worker(&app, "w1");
            settle(&w, s, Duration::from_secs(20)).await;
            s.upsert_inputs(
                &org,
                &InputsBatch {
                    findings: vec![new_kev_finding()],
                    ..Default::default()
                },
                &Principal::operator(),
            )
            .await
            .unwrap();
            settle(&w, s, Duration::from_secs(20)).await;
            app.create_ticket(
                &a,
                &org,
                TicketRequest {
                    source: TicketSource::Finding,
                    source_id: "pan-os-3400".into(),
                    title: None,
                    assignee: None,
                    due_on: None,
                },
            )
            .await
            .unwrap();
            let everything = s
                .timeline(&org, &TimelineScope::default(), None, 1000)
                .await
                .unwrap();
            let kinds: std::collections::BTreeSet<&str> =
                everything.iter().map(|e| e.kind.as_str()).collect();
            for k in ["rating", "alert", "ticket.created", "policy.bound"] {
                assert!(kinds.contains(k), "{k} missing: {kinds:?}");
            }
            assert!(
                everything.windows(2).all(|p| p[0].cursor > p[1].cursor),
                "newest first"
            );
            // Paged two at a time: the same entries, none twice.
            let mut paged = Vec::new();
            let mut before: Option<String> = None;
            loop {
                let page = app
                    .timeline(&Principal::operator(), &org, before.as_deref(), 2)
                    .await
                    .unwrap();
                paged.extend(page.entries.iter().map(|e| e.cursor.clone()));
                match page.next {
                    Some(c) => before = Some(c),
                    None => break,
                }
            }
            let all_cursors: Vec<String> = everything.iter().map(|e| e.cursor.clone()).collect();
            assert_eq!(paged, all_cursors);
            // Insurer A sees its own alerts and policy, not B's.
            let mine = app.timeline(&a, &org, None, 1000).await.unwrap().entries;
            let bound: Vec<_> = mine.iter().filter(|e| e.kind == "policy.bound").collect();
            assert_eq!(bound.len(), 1);
            let a_alerts = app.alerts(&a, None, None, false, 100, 0).await.unwrap();
            let b_alerts = app.alerts(&b, None, None, false, 100, 0).await.unwrap();
            assert!(!a_alerts.is_empty() && !b_alerts.is_empty());
            assert!(mine.iter().any(|e| e.ref_id == a_alerts[0].id));
            assert!(!mine.iter().any(|e| e.ref_id == b_alerts[0].id));
        }
        finish(all).await;
    });
}

/// The operator's commands over the policy loop: policies, alerts, tickets, the loss run and
/// the timeline, on a SQLite database.
#[test]
fn operator_commands_for_the_policy_loop() {
    use crate::support::{cyrisk, scratch};
    let dir = scratch("policy-loop-cli");
    let url = format!("sqlite://{}", dir.join("cyrisk.db").display());
    let (org, policy) = runtime().block_on(async {
        let s = Store::open(&url).await.unwrap();
        let app = App::builtin(s.clone()).unwrap();
        let org = s
            .load_bundle(
                LoadTarget::ByName,
                &example("sme-external-scan"),
                &Principal::operator(),
            )
            .await
            .unwrap()
            .org_id;
        insure(&s, &org, "insurer A").await;
        let w = worker(&app, "w1");
        settle(&w, &s, Duration::from_secs(20)).await;
        s.upsert_inputs(
            &org,
            &InputsBatch {
                findings: vec![new_kev_finding()],
                ..Default::default()
            },
            &Principal::operator(),
        )
        .await
        .unwrap();
        settle(&w, &s, Duration::from_secs(20)).await;
        let policy = s.policies(&org).await.unwrap().remove(0).id;
        s.close().await;
        (org, policy)
    });
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--database-url", &url]);
        let o = cyrisk(&all);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        o.stdout
    };
    let alerts: serde_json::Value =
        serde_json::from_str(&run(&["alerts", "list", "--format", "json"])).unwrap();
    let kev = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "kev_internet_facing" && a["audience"] != "insured")
        .expect("the insurer's KEV alert");
    let text = run(&["alerts", "list", "--unacknowledged"]);
    assert!(text.contains("kev_internet_facing"), "{text}");
    assert!(run(&["alerts", "ack", kev["id"].as_str().unwrap()]).contains("acknowledged"));
    assert!(run(&["policies", "list", "--org", &org]).contains(&policy));
    let pack: serde_json::Value =
        serde_json::from_str(&run(&["policies", "show", &policy])).unwrap();
    assert_eq!(pack["id"], policy.as_str());
    assert!(run(&["policies", "loss-run"]).contains("1 policies"));
    assert!(run(&["tickets", "list", "--org", &org]).contains("no tickets"));
    let timeline = run(&["timeline", "--org", &org]);
    assert!(
        timeline.contains("policy.bound") && timeline.contains("rating"),
        "{timeline}"
    );
    let today = chrono::Utc::now().date_naive();
    let out = run(&[
        "policies",
        "cancel",
        &policy,
        "--on",
        &(today + Days::new(100)).to_string(),
        "--reason",
        "sold",
    ]);
    assert!(out.contains("return premium"), "{out}");
    // A second cancellation is the caller's mistake: exit code 2, said plainly.
    let again = cyrisk(&[
        "policies",
        "cancel",
        &policy,
        "--on",
        &today.to_string(),
        "--reason",
        "x",
        "--database-url",
        &url,
    ]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("already cancelled"),
        "{}",
        again.stderr
    );
}
