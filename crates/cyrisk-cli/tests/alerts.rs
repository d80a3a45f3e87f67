//! Alert delivery with two `cyrisk worker` processes on one database (PostgreSQL, and SQLite):
//! a new known-exploited vulnerability on each of twelve insured organisations is re-rated by
//! whichever worker claims it; each alert raised reaches the insurer's webhook exactly once,
//! signed (verified here with the Standard Webhooks library), with one logged attempt.
//! PostgreSQL needs `CYRISK_TEST_POSTGRES_URL`; under CI its absence is a failure.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use cyrisk_app::App;
use cyrisk_app::jobs::{Worker, WorkerOptions};
use cyrisk_app::webhooks::{WebhookPolicy, WebhookRequest};
use cyrisk_core::Bundle;
use cyrisk_store::{InputsBatch, LoadTarget, NewPolicy, Principal, Role, Store};

const ORGS: usize = 12;

fn databases(rt: &tokio::runtime::Runtime) -> Vec<(String, Option<String>)> {
    let dir = std::env::temp_dir().join(format!("cyrisk-alerts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = vec![(
        format!("sqlite://{}", dir.join("cyrisk.db").display()),
        None,
    )];
    match std::env::var("CYRISK_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let db = format!("cyrisk_alerts_{}", std::process::id());
            let (base, _) = admin_url.rsplit_once('/').unwrap();
            rt.block_on(async {
                let admin = Store::connect(&admin_url).await.unwrap();
                for sql in [
                    format!("DROP DATABASE IF EXISTS {db}"),
                    format!("CREATE DATABASE {db}"),
                ] {
                    sqlx::query(&sql).execute(admin.pool()).await.unwrap();
                }
                admin.close().await;
            });
            out.push((format!("{base}/{db}"), Some(db)));
        }
        Err(_) => assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but CYRISK_TEST_POSTGRES_URL is not"
        ),
    }
    out
}

/// Verifies and records each message: webhook-id → times received.
async fn receiver(secret: Arc<Mutex<String>>, got: Arc<Mutex<BTreeMap<String, usize>>>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (secret, got) = (secret.clone(), got.clone());
            async move {
                let wh = standardwebhooks::Webhook::new(&secret.lock().unwrap()).unwrap();
                if wh.verify(&body, &headers).is_err() {
                    return StatusCode::UNAUTHORIZED;
                }
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                *got.lock().unwrap().entry(id).or_default() += 1;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[test]
fn two_worker_processes_deliver_every_alert_exactly_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dbs = databases(&rt);
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/sme-external-scan.json"),
    )
    .unwrap();
    for (url, _) in &dbs {
        let secret = Arc::new(Mutex::new(String::new()));
        let got = Arc::new(Mutex::new(BTreeMap::new()));
        let (store, insurer, hook_id) = rt.block_on(async {
            let hook_url = receiver(secret.clone(), got.clone()).await;
            let s = Store::open(url).await.unwrap();
            let app = App::builtin(s.clone())
                .unwrap()
                .with_webhook_policy(WebhookPolicy {
                    allow_private: true,
                })
                .unwrap();
            let key = s
                .create_key("insurer", Role::Insurer, None, None)
                .await
                .unwrap();
            let insurer = s.authenticate(&key.key).await.unwrap().unwrap();
            let today = chrono::Utc::now().date_naive();
            let mut orgs = Vec::new();
            for i in 0..ORGS {
                let mut doc: serde_json::Value = serde_json::from_str(&example).unwrap();
                doc["profile"]["name"] = format!("Insured {i}").into();
                let b = Bundle::from_json(&doc.to_string()).unwrap();
                let org = s
                    .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                    .await
                    .unwrap()
                    .org_id;
                s.create_policy(
                    &NewPolicy {
                        org_id: org.clone(),
                        insurer_key_id: insurer.key_id.clone(),
                        quote_id: None,
                        starts_on: today,
                        ends_on: today + chrono::Days::new(365),
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
                orgs.push(org);
            }
            let hook = app
                .create_webhook(
                    &insurer,
                    WebhookRequest {
                        url: hook_url,
                        description: None,
                        insurer_key_id: None,
                        org_id: None,
                    },
                )
                .await
                .unwrap();
            *secret.lock().unwrap() = hook.secret.clone();
            // The baseline evaluations, here; then a re-scan finds a KEV on every web server.
            Worker::new(app.clone(), WorkerOptions::default())
                .run_until_idle()
                .await
                .unwrap();
            let finding: cyrisk_core::finding::Finding =
                serde_json::from_value(serde_json::json!({
                    "id": "pan-os-3400", "asset": "www", "cve": "CVE-2024-3400", "cvss_score": 10.0,
                    "first_seen": today,
                }))
                .unwrap();
            for org in &orgs {
                s.upsert_inputs(
                    org,
                    &InputsBatch {
                        findings: vec![finding.clone()],
                        ..Default::default()
                    },
                    &Principal::operator(),
                )
                .await
                .unwrap();
            }
            (s, insurer, hook.webhook.id)
        });
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_cyrisk"))
                .args([
                    "worker",
                    "--database-url",
                    url,
                    "--poll-ms",
                    "50",
                    "--exit-when-idle",
                ])
                .args(["--concurrency", "2", "--webhooks-allow-private"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (spawn(), spawn());
        assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
        rt.block_on(async {
            let alerts = store
                .alerts(&cyrisk_store::AlertFilter {
                    audience: Some(insurer.key_id.clone()),
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap();
            let kev = alerts
                .iter()
                .filter(|a| a.kind == "kev_internet_facing")
                .count();
            assert_eq!(
                kev, ORGS,
                "{url}: one KEV alert per organisation: {alerts:#?}"
            );
            let log = store.deliveries(&hook_id, 1000).await.unwrap();
            assert_eq!(log.len(), alerts.len(), "{url}");
            let got = got.lock().unwrap().clone();
            assert_eq!(got.len(), alerts.len(), "{url}: every alert delivered");
            assert!(
                got.values().all(|n| *n == 1),
                "{url}: delivered more than once: {got:?}"
            );
            for d in &log {
                assert_eq!(d.status, "delivered", "{url}: {d:?}");
                assert_eq!(d.attempts.len(), 1, "{url}: {d:?}");
                assert_eq!(got.get(&d.id), Some(&1));
            }
            let workers: std::collections::BTreeSet<String> = webhook_workers(&store).await;
            eprintln!(
                "{url}: {} alerts delivered once each; workers {workers:?}",
                alerts.len()
            );
            store.close().await;
        });
    }
    if let Ok(admin_url) = std::env::var("CYRISK_TEST_POSTGRES_URL") {
        rt.block_on(async {
            let admin = Store::connect(&admin_url).await.unwrap();
            for db in dbs.iter().filter_map(|(_, d)| d.as_ref()) {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
                    .execute(admin.pool())
                    .await;
            }
            admin.close().await;
        });
    }
}

/// The workers that ran the webhook jobs.
async fn webhook_workers(s: &Store) -> std::collections::BTreeSet<String> {
    s.jobs(None, None, 1000, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == "webhook")
        .filter_map(|j| j.worker)
        .collect()
}
