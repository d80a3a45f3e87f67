//! The policy loop end to end over HTTP, on SQLite and PostgreSQL: an applicant assessed
//! (referred on a rule, then accepted by an underwriter) → quoted → bound → a scan with a new
//! known-exploited vulnerability on an internet-facing asset → exactly one alert about it and
//! one signed webhook delivery of it → a ticket → fixed and re-scanned → the ticket verified
//! and closed → the rating recovers → a claim filed → the loss run shows it → the renewal
//! pack explains the score change.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::Days;
use cyrisk_app::App;
use cyrisk_app::jobs::{Worker, WorkerOptions};
use cyrisk_app::webhooks::WebhookPolicy;
use cyrisk_store::{Role, Store};
use serde_json::{Value, json};

use crate::api::call;
use crate::monitoring::Receiver;
use crate::store::{backends, finish, runtime};
use crate::support::root;

/// A Nessus export of the applicant's web server (203.0.113.10, `www`): with the PAN-OS
/// GlobalProtect flaw CVE-2024-3400 (in the KEV catalogue) when `vulnerable`, clean otherwise;
/// `run` tells the scans apart (the same file imported twice is the same import).
fn scan(vulnerable: bool, run: u32) -> String {
    let item = if vulnerable {
        r#"<ReportItem port="443" svc_name="www" protocol="tcp" severity="4" pluginID="910010" pluginName="Firewall OS command injection">
<cve>CVE-2024-3400</cve>
<cvss3_vector>CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H</cvss3_vector>
</ReportItem>"#
    } else {
        r#"<ReportItem port="443" svc_name="www" protocol="tcp" severity="0" pluginID="10107" pluginName="HTTP Server Type and Version"></ReportItem>"#
    };
    format!(
        r#"<?xml version="1.0" ?>
<NessusClientData_v2><Report name="external scan {run}">
<ReportHost name="203.0.113.10"><HostProperties><tag name="host-ip">203.0.113.10</tag></HostProperties>
{item}
</ReportHost></Report></NessusClientData_v2>"#
    )
}

struct Ctx {
    router: axum::Router,
    store: Store,
    worker: Worker,
}

impl Ctx {
    async fn req(
        &self,
        m: Method,
        uri: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, _, v) = call(&self.router, m, uri, Some(key), body.map(|b| b.to_string())).await;
        (s, v)
    }

    async fn ok(&self, m: Method, uri: &str, key: &str, body: Option<Value>) -> Value {
        let (s, v) = self.req(m.clone(), uri, key, body).await;
        assert!(s.is_success(), "{m} {uri}: {s} {v}");
        v
    }

    async fn raw(&self, m: Method, uri: &str, key: &str, body: String) -> Value {
        let (s, _, v) = call(&self.router, m.clone(), uri, Some(key), Some(body)).await;
        assert!(s.is_success(), "{m} {uri}: {s} {v}");
        v
    }

    /// Runs every due job (re-ratings, webhook deliveries).
    async fn settle(&self) {
        let start = std::time::Instant::now();
        loop {
            self.worker.run_until_idle().await.unwrap();
            let q = self.store.queue_stats().await.unwrap();
            if q.queued == 0 && q.running == 0 {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{q:?}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

#[test]
fn the_policy_loop_from_application_to_renewal() {
    runtime().block_on(async {
        let all = backends("policy-loop").await;
        for f in &all {
            let store = f.store.clone();
            let backend = store.backend();
            let app = App::builtin(store.clone())
                .unwrap()
                .with_webhook_policy(WebhookPolicy {
                    allow_private: true,
                })
                .unwrap();
            let cx = Ctx {
                router: cyrisk_api::app(
                    cyrisk_api::AppState::new(app.clone()),
                    &cyrisk_api::Options::default(),
                ),
                store: store.clone(),
                worker: Worker::new(
                    app.clone(),
                    WorkerOptions {
                        backoff_base: Duration::from_millis(20),
                        backoff_max: Duration::from_millis(100),
                        ..WorkerOptions::default()
                    },
                ),
            };
            let insurer = store.create_key("insurer", Role::Insurer, None, None).await.unwrap().key;
            let applicant: Value = serde_json::from_str(
                &std::fs::read_to_string(root().join("examples/sme-external-scan.json")).unwrap(),
            )
            .unwrap();

            // 1. Pre-policy: this insurer refers (rather than declines) an open KEV; the
            // applicant's open BlueKeep is referred, and an underwriter accepts with a note.
            let rules = std::fs::read_to_string(root().join("models/underwriting-v1.toml"))
                .unwrap()
                .replace(
                    "[open_kev_internet_facing]\non_fail = \"decline\"",
                    "[open_kev_internet_facing]\non_fail = \"refer\"",
                );
            assert!(rules.contains("on_fail = \"refer\""));
            cx.ok(Method::PUT, "/api/v1/underwriting/rules", &insurer, Some(json!({ "rules": rules }))).await;
            let a = cx
                .ok(
                    Method::POST,
                    "/api/v1/underwriting/assessments",
                    &insurer,
                    Some(json!({ "bundle": applicant, "deductible": 100000, "limit": 2000000, "trials": 20000 })),
                )
                .await;
            assert_eq!(a["decision"], "refer", "{backend:?}: {}", a["rules"]);
            let kev_rule = a["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["rule"] == "open_kev_internet_facing")
                .unwrap();
            assert_eq!(kev_rule["outcome"], "refer");
            let application = a["application_id"].as_str().unwrap();
            let decided = cx
                .ok(
                    Method::POST,
                    &format!("/api/v1/underwriting/applications/{application}/decision"),
                    &insurer,
                    Some(json!({ "decision": "accept", "note": "RDP to be closed within 30 days" })),
                )
                .await;
            assert_eq!(decided["status"], "accepted");

            // 2. The insured, quoted and bound: in force since 300 days, expiring in 64 (the
            // renewal window is open).
            let org = cx
                .ok(Method::POST, "/api/v1/organizations/bundle", &insurer, Some(applicant.clone()))
                .await["org_id"]
                .as_str()
                .unwrap()
                .to_owned();
            // The condition of acceptance met: RDP closed, seen closed by the insurer's check.
            cx.ok(
                Method::PATCH,
                &format!("/api/v1/organizations/{org}/findings/ext-2"),
                &insurer,
                Some(json!({ "state": "closed", "reason": "RDP no longer reachable from the internet" })),
            )
            .await;
            cx.settle().await;
            let bound_on = cx.ok(Method::GET, &format!("/api/v1/organizations/{org}/rating"), &insurer, None).await;
            let quote = cx
                .ok(
                    Method::POST,
                    "/api/v1/quotes",
                    &insurer,
                    Some(json!({ "organization_id": org, "deductible": 100000, "limit": 2000000, "trials": 20000 })),
                )
                .await;
            let premium = quote["quote"]["premium"]["premium"].as_f64().unwrap();
            let today = chrono::Utc::now().date_naive();
            let policy = cx
                .ok(
                    Method::POST,
                    "/api/v1/policies",
                    &insurer,
                    Some(json!({
                        "organization_id": org, "quote_id": quote["id"],
                        "starts_on": today - Days::new(300), "ends_on": today + Days::new(64),
                        "deductible": 100000, "limit": 2000000, "premium": premium,
                    })),
                )
                .await;
            let policy_id = policy["id"].as_str().unwrap().to_owned();
            assert_eq!(policy["phase"], "active");
            let inception_score = policy["inception"]["score"].as_i64().unwrap();

            // 3. Monitoring: a webhook, then a scan with a new KEV on the web server.
            let receiver = Receiver::default();
            let url = receiver.start().await;
            let hook = cx
                .ok(Method::POST, "/api/v1/webhooks", &insurer, Some(json!({ "url": url })))
                .await;
            receiver.secret.set(hook["secret"].as_str().unwrap().to_owned()).unwrap();
            let import = format!("/api/v1/organizations/{org}/imports?format=nessus");
            cx.raw(Method::POST, &import, &insurer, scan(true, 1)).await;
            cx.settle().await;
            let with_kev = cx.ok(Method::GET, &format!("/api/v1/organizations/{org}/rating"), &insurer, None).await;
            assert!(
                with_kev["score"].as_i64() < bound_on["score"].as_i64(),
                "{backend:?}: the new KEV lowers the score: {} → {}",
                bound_on["score"],
                with_kev["score"]
            );
            let alerts = cx.ok(Method::GET, "/api/v1/alerts", &insurer, None).await;
            let kev: Vec<&Value> = alerts
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["kind"] == "kev_internet_facing")
                .collect();
            assert_eq!(kev.len(), 1, "{backend:?}: exactly one alert about the new KEV: {alerts}");
            let alert_id = kev[0]["id"].as_str().unwrap();
            assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
            let got = receiver.accepted.lock().unwrap().clone();
            assert_eq!(
                got.iter().filter(|(_, b)| b["data"]["id"] == alert_id).count(),
                1,
                "exactly one signed delivery of the alert"
            );
            assert_eq!(got.len(), alerts.as_array().unwrap().len(), "every alert delivered once");

            // 4. Handling: a ticket from the alert's finding; fixed; two re-scans (the second
            // verifies the fix) close it.
            let finding = kev[0]["detail"]["finding_id"].as_str().unwrap();
            let ticket = cx
                .ok(
                    Method::POST,
                    &format!("/api/v1/organizations/{org}/tickets"),
                    &insurer,
                    Some(json!({ "source": "finding", "source_id": finding })),
                )
                .await;
            let ticket_id = ticket["id"].as_str().unwrap();
            cx.raw(Method::POST, &import, &insurer, scan(false, 2)).await;
            cx.settle().await;
            cx.raw(Method::POST, &import, &insurer, scan(false, 3)).await;
            cx.settle().await;
            let closed = cx.ok(Method::GET, &format!("/api/v1/tickets/{ticket_id}"), &insurer, None).await;
            assert_eq!(closed["status"], "closed", "{backend:?}: {closed}");
            assert_eq!(closed["verified_by"], "rescan");
            let fixed = cx.ok(Method::GET, &format!("/api/v1/organizations/{org}/rating"), &insurer, None).await;
            assert!(
                fixed["score"].as_i64() > with_kev["score"].as_i64(),
                "{backend:?}: the rating recovers: {} → {}",
                with_kev["score"],
                fixed["score"]
            );
            // The alert is acknowledged.
            cx.ok(Method::POST, &format!("/api/v1/alerts/{alert_id}/ack"), &insurer, None).await;

            // An assessor verifies MFA in place: the score moves from inception.
            let assessor = store.create_key("assessor", Role::Assessor, Some(&org), None).await.unwrap().key;
            cx.ok(
                Method::POST,
                &format!("/api/v1/organizations/{org}/controls"),
                &assessor,
                Some(json!([{ "control": "mfa", "outcome": "pass", "assessed_on": today }])),
            )
            .await;
            cx.settle().await;

            // 5. Post-policy: a claim with a reserve and a payment; the loss run shows it.
            let claim = cx
                .ok(
                    Method::POST,
                    "/api/v1/claims",
                    &insurer,
                    Some(json!({
                        "policy_id": policy_id, "loss_on": today - Days::new(20),
                        "notified_on": today - Days::new(19), "peril": "funds_transfer_fraud",
                        "description": "invoice redirection fraud",
                    })),
                )
                .await;
            let claim_id = claim["id"].as_str().unwrap();
            let moves = format!("/api/v1/claims/{claim_id}/movements");
            cx.ok(Method::POST, &moves, &insurer, Some(json!({ "kind": "reserve", "amount": 500000, "on": today - Days::new(18) }))).await;
            let c = cx
                .ok(Method::POST, &moves, &insurer, Some(json!({ "kind": "payment", "amount": 200000, "on": today })))
                .await;
            assert_eq!((c["paid"].as_f64(), c["outstanding"].as_f64()), (Some(200000.0), Some(300000.0)));
            let run = cx
                .ok(Method::GET, &format!("/api/v1/policies/{policy_id}/loss-run"), &insurer, None)
                .await;
            let row = &run["rows"][0];
            assert_eq!((row["claims"].as_u64(), row["incurred"].as_f64()), (Some(1), Some(500000.0)));
            let earned = row["earned_premium"].as_f64().unwrap();
            assert!((earned - premium * 301.0 / 365.0).abs() < 1e-6, "{row}");
            assert!((row["loss_ratio"].as_f64().unwrap() - 500000.0 / earned).abs() < 1e-9);
            let book = cx.ok(Method::GET, "/api/v1/loss-run", &insurer, None).await;
            assert_eq!(book["totals"][0]["claims"].as_u64(), Some(1));

            // 6. Renewal: the pack explains the score change since inception.
            let pack = cx
                .ok(Method::GET, &format!("/api/v1/policies/{policy_id}/renewal?trials=20000"), &insurer, None)
                .await;
            let now_score = pack["current"]["score"].as_i64().unwrap();
            assert_eq!(pack["inception"]["score"].as_i64(), Some(inception_score));
            assert_eq!(pack["score_change"].as_i64(), Some(now_score - inception_score));
            assert!(now_score > inception_score, "{backend:?}: {pack}");
            let changes = pack["factor_changes"].as_array().unwrap();
            assert_eq!(changes[0]["factor"], "mfa", "{backend:?}: {changes:?}");
            assert!(pack["explanation"][0].as_str().unwrap().starts_with("mfa raised the score"));
            assert_eq!(pack["claims"].as_array().unwrap().len(), 1);
            assert_eq!(pack["loss_run"]["incurred"].as_f64(), Some(500000.0));
            let rq = &pack["renewal_quote"];
            assert!(rq["indicated_premium"].as_f64().unwrap() < premium, "a better risk renews cheaper: {rq}");
            assert!(
                pack["contingencies"]["open_findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|f| f["cve"] != "CVE-2019-0708" && f["cve"] != "CVE-2024-3400"),
                "the fixed KEVs are not contingencies: {}",
                pack["contingencies"]
            );
        }
        finish(all).await;
    });
}
