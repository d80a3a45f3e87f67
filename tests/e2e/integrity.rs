//! Rating integrity over HTTP: the state × role table pair by pair, the rated party's
//! disputes (no effect until someone else accepts them), what the rated party may write in
//! bulk, self-declared evidence, and scans the rated party loads itself.

use std::collections::HashMap;

use axum::Router;
use axum::http::{Method, StatusCode};
use cyrisk_core::Bundle;
use cyrisk_core::finding::FindingState;
use cyrisk_store::{LoadTarget, Principal, Role, Store};
use serde_json::{Value, json};

use crate::api::{app_state, call, runtime};
use crate::support::{root, scratch};

struct Setup {
    app: Router,
    store: Store,
    org: String,
    keys: HashMap<Role, String>,
    /// A second assessor engaged on the organisation.
    assessor2: String,
}

/// The example manufacturer, with one key per role (enterprise and assessor bound to it, the
/// insurer linked to it) and a second assessor assigned to it.
async fn setup(name: &str) -> Setup {
    let dir = scratch(&format!("integrity-{name}"));
    let store = Store::open(&format!("sqlite://{}", dir.join("cyrisk.db").display()))
        .await
        .unwrap();
    let bundle = Bundle::from_json(
        &std::fs::read_to_string(root().join("examples/manufacturer.json")).unwrap(),
    )
    .unwrap();
    let org = store
        .load_bundle(LoadTarget::ByName, &bundle, &Principal::operator())
        .await
        .unwrap()
        .org_id;
    let mut keys = HashMap::new();
    for role in Role::ALL {
        let bound = matches!(role, Role::Enterprise | Role::Assessor).then_some(org.as_str());
        let k = store
            .create_key(role.as_str(), role, bound, None)
            .await
            .unwrap();
        if role == Role::Insurer {
            store.link(&k.id, &org, "test").await.unwrap();
        }
        keys.insert(role, k.key);
    }
    let second = store
        .create_key("second assessor", Role::Assessor, Some(&org), None)
        .await
        .unwrap();
    Setup {
        app: cyrisk_api::app(app_state(store.clone()), &Default::default()),
        store,
        org,
        keys,
        assessor2: second.key,
    }
}

impl Setup {
    async fn req(
        &self,
        m: Method,
        path: &str,
        role: Role,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.as_key(m, path, &self.keys[&role], body).await
    }

    async fn as_key(
        &self,
        m: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let uri = format!("/api/v1/organizations/{}{path}", self.org);
        let (s, _, v) = call(&self.app, m, &uri, Some(key), body.map(|b| b.to_string())).await;
        (s, v)
    }

    async fn score(&self) -> i64 {
        let (s, v) = self.req(Method::GET, "/rating", Role::Admin, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["score"].as_i64().unwrap()
    }

    async fn finding(&self, id: &str) -> Value {
        let (s, v) = self
            .req(Method::GET, &format!("/findings/{id}"), Role::Admin, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

/// Every role × every target state, each on a fresh open finding: what applies, what becomes
/// a dispute, what is refused, and what the rating counts the finding as afterwards.
#[test]
fn every_role_and_state_pair_follows_the_table() {
    runtime().block_on(async {
        let s = setup("table").await;
        // One open finding per pair, recorded by the assessor.
        let mut batch = Vec::new();
        for role in Role::ALL {
            for to in FindingState::ALL {
                batch.push(json!({
                    "id": format!("T-{}-{}", role.as_str(), to.as_str()),
                    "asset": "erp", "first_seen": "2026-09-01", "severity": "high",
                    "source": "pentest:1"
                }));
            }
        }
        let (st, v) = s.req(Method::POST, "/findings", Role::Assessor, Some(Value::Array(batch))).await;
        assert_eq!(st, StatusCode::OK, "{v}");

        let mut pairs = 0;
        for role in Role::ALL {
            for to in FindingState::ALL {
                let id = format!("T-{}-{}", role.as_str(), to.as_str());
                let body = json!({ "state": to.as_str(), "reason": "checked on site", "evidence": "ticket 42" });
                let (st, v) = s.req(Method::PATCH, &format!("/findings/{id}"), role, Some(body)).await;
                let f = s.finding(&id).await;
                use FindingState::*;
                match (role, to) {
                    (Role::Enterprise, Closed) => {
                        assert_eq!(st, StatusCode::FORBIDDEN, "{role:?} {to:?}: {v}");
                        assert_eq!(v["code"], "verification_required");
                        assert_eq!(f["state"], "open");
                    }
                    (Role::Enterprise, FalsePositive | RiskAccepted | UnfixedMitigated) => {
                        assert_eq!(st, StatusCode::ACCEPTED, "{role:?} {to:?}: {v}");
                        assert_eq!(v["status"], "pending");
                        assert_eq!(v["proposed_state"], to.as_str());
                        assert_eq!(v["reason"], "checked on site");
                        assert_eq!(v["evidence"], "ticket 42");
                        assert_eq!(f["state"], "open", "a dispute changes nothing");
                    }
                    (Role::Enterprise, FixedPendingVerification) => {
                        assert_eq!(st, StatusCode::OK, "{role:?} {to:?}: {v}");
                        assert_eq!(f["state"], to.as_str());
                        assert_eq!(f["counts_as"], "open", "a declared fix counts as before");
                    }
                    _ => {
                        assert_eq!(st, StatusCode::OK, "{role:?} {to:?}: {v}");
                        assert_eq!(f["state"], to.as_str());
                        assert!(f.get("counts_as").is_none(), "{f}");
                    }
                }
                if st == StatusCode::OK && to != Open {
                    let last = v.as_array().unwrap().last().unwrap().clone();
                    assert_eq!(last["state"], to.as_str());
                    assert_eq!(last["role"], role.as_str());
                    assert_eq!(last["reason"], "checked on site");
                    assert_eq!(last["evidence"], "ticket 42");
                    assert!(last["actor"].is_string());
                }
                pairs += 1;
            }
        }
        assert_eq!(pairs, 32);

        // A third party's attestation needs a reason; so does a dispute.
        let (st, v) = s
            .req(Method::PATCH, "/findings/T-admin-open", Role::Assessor, Some(json!({ "state": "false_positive" })))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (st, v) = s
            .req(Method::PATCH, "/findings/T-admin-open", Role::Enterprise, Some(json!({ "state": "risk_accepted" })))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        // One pending dispute per finding.
        let (st, v) = s
            .req(
                Method::PATCH,
                "/findings/T-enterprise-false_positive",
                Role::Enterprise,
                Some(json!({ "state": "risk_accepted", "reason": "again" })),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
    });
}

/// The issue's own example: the insured marks every finding a false positive. Its rating does
/// not move until an assessor accepts the disputes; declaring fixes does not move it either.
#[test]
fn the_insured_cannot_raise_its_own_rating_by_assertion() {
    runtime().block_on(async {
        let s = setup("assertion").await;
        let before = s.score().await;
        let (_, findings) = s
            .req(Method::GET, "/findings?limit=1000", Role::Enterprise, None)
            .await;
        let ids: Vec<String> = findings
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| !matches!(f["state"].as_str(), Some("closed" | "false_positive")))
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(ids.len() > 40);
        // Closing is refused; declared fixes keep counting.
        let (st, _) = s
            .req(
                Method::PATCH,
                &format!("/findings/{}", ids[0]),
                Role::Enterprise,
                Some(json!({ "state": "closed", "reason": "patched" })),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        for id in &ids {
            let (st, v) = s
                .req(
                    Method::PATCH,
                    &format!("/findings/{id}"),
                    Role::Enterprise,
                    Some(json!({ "state": "fixed_pending_verification" })),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{id}: {v}");
        }
        assert_eq!(s.score().await, before, "declared fixes moved the rating");

        for id in &ids {
            let (st, v) = s
                .req(
                    Method::PATCH,
                    &format!("/findings/{id}"),
                    Role::Enterprise,
                    Some(json!({ "state": "false_positive", "reason": "not applicable to us" })),
                )
                .await;
            assert_eq!(st, StatusCode::ACCEPTED, "{id}: {v}");
        }
        assert_eq!(s.score().await, before, "pending disputes moved the rating");
        let (_, pending) = s
            .req(
                Method::GET,
                "/disputes?status=pending&limit=1000",
                Role::Insurer,
                None,
            )
            .await;
        let pending = pending.as_array().unwrap().clone();
        assert_eq!(pending.len(), ids.len());

        // Nobody decides their own dispute, and the rated party decides none.
        let first = pending[0]["id"].as_str().unwrap();
        let path = format!("/disputes/{first}/decision");
        let accept = json!({ "decision": "accept", "note": "re-tested" });
        let (st, v) = s
            .req(Method::POST, &path, Role::Enterprise, Some(accept.clone()))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");

        // The assessor accepts all of them: now the rating moves, and history says who and why.
        for d in &pending {
            let path = format!("/disputes/{}/decision", d["id"].as_str().unwrap());
            let (st, v) = s
                .req(Method::POST, &path, Role::Assessor, Some(accept.clone()))
                .await;
            assert_eq!(st, StatusCode::OK, "{v}");
            assert_eq!(v["status"], "accepted");
            assert_eq!(v["decided_role"], "assessor");
        }
        let after = s.score().await;
        assert!(after > before + 50, "{before} → {after}");
        let (st, v) = s
            .req(Method::POST, &path, Role::Insurer, Some(accept.clone()))
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "decided twice: {v}");
        let (_, history) = s
            .req(
                Method::GET,
                &format!("/findings/{}/history", ids[0]),
                Role::Enterprise,
                None,
            )
            .await;
        let last = history.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["state"], "false_positive");
        assert_eq!(last["role"], "assessor");
        assert!(
            last["reason"]
                .as_str()
                .unwrap()
                .contains("not applicable to us"),
            "{last}"
        );
    });
}

/// A rejected dispute is kept and changes nothing; the filing key cannot decide its own.
#[test]
fn rejected_disputes_are_kept_and_filers_do_not_decide() {
    runtime().block_on(async {
        let s = setup("reject").await;
        let before = s.score().await;
        // An assessor may file (as a reviewer it could also just set the state): a second
        // assessor decides, not the first.
        let (st, d) = s
            .req(Method::PATCH, "/findings/F-103", Role::Enterprise, Some(json!({ "state": "unfixed_mitigated", "reason": "SMB blocked at the firewall", "evidence": "fw rule 7" })))
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{d}");
        let path = format!("/disputes/{}/decision", d["id"].as_str().unwrap());
        let (st, v) = s
            .as_key(Method::POST, &path, &s.assessor2, Some(json!({ "decision": "reject", "note": "rule not in the exported config" })))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "rejected");
        assert_eq!(s.finding("F-103").await["state"], "open");
        assert_eq!(s.score().await, before);
        let (_, all) = s.req(Method::GET, "/disputes?status=rejected", Role::Enterprise, None).await;
        assert_eq!(all.as_array().unwrap().len(), 1);
        assert_eq!(all[0]["decision_note"], "rule not in the exported config");

        // The admin files nothing here, but an admin that filed cannot decide its own.
        let (st, d) = s
            .req(Method::PATCH, "/findings/F-105", Role::Enterprise, Some(json!({ "state": "risk_accepted", "reason": "dev only" })))
            .await;
        assert_eq!(st, StatusCode::ACCEPTED);
        let decided = s
            .store
            .decide_dispute(
                &s.org,
                d["id"].as_str().unwrap(),
                true,
                None,
                &Principal { key_id: d["filed_by"].as_str().unwrap().to_owned(), role: Role::Admin, org_id: None },
            )
            .await;
        assert!(matches!(decided, Err(cyrisk_store::StoreError::Forbidden { code: "own_dispute", .. })), "{decided:?}");
    });
}

/// Bulk writes by the rated party follow the same rules, item by item, all or nothing: no
/// closing, no disputed states, no rewriting what a third party recorded; its control results
/// and incidents are marked self-declared and weigh less.
#[test]
fn the_rated_party_writes_in_bulk_by_the_same_rules() {
    runtime().block_on(async {
        let s = setup("bulk").await;
        let version = |v: &Value| v["inputs_version"].as_i64();
        let org_before = s.store.organization(&s.org).await.unwrap().inputs_version;
        let before = s.score().await;
        let new = json!({ "id": "E-1", "asset": "erp", "first_seen": "2026-10-01", "severity": "medium" });
        let cases = [
            ("/findings", json!([new, { "id": "F-103", "asset": "file-srv", "first_seen": "2025-12-01",
                "cve": "CVE-2017-0144", "cvss_vector": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", "epss": 0.95,
                "title": "SMBv1 remote code execution (EternalBlue)", "state": "closed" }]),
             "verification_required", "findings[1].state"),
            ("/findings", json!([{ "id": "E-2", "asset": "erp", "first_seen": "2026-10-01", "severity": "low", "state": "false_positive" }]),
             "dispute_required", "findings[0].state"),
            ("/findings", json!([{ "id": "F-103", "asset": "file-srv", "first_seen": "2026-11-01", "severity": "low" }]),
             "recorded_by_third_party", "findings[0]"),
            ("/assets", json!([{ "id": "vpn", "kind": "security_device", "internet_facing": false }]),
             "recorded_by_third_party", "assets[0]"),
            ("/controls", json!([{ "control": "offline_backups", "outcome": "pass" }]),
             "recorded_by_third_party", "controls[0]"),
            ("/incidents", json!([{ "id": "INC-2025-11", "type": "bec", "impact": "minor", "started": "2025-11-20", "corrective_actions_verified": true }]),
             "recorded_by_third_party", "incidents[0]"),
        ];
        for (path, body, code, at) in cases {
            let (st, v) = s.req(Method::POST, path, Role::Enterprise, Some(body)).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {v}");
            assert_eq!(v["code"], code, "{v}");
            assert!(v["detail"].as_str().unwrap().starts_with(at), "{v}");
        }
        assert_eq!(s.store.organization(&s.org).await.unwrap().inputs_version, org_before, "a refused batch wrote");
        // A whole bundle from the rated party cannot drop the assessor's control results.
        let mut bundle: Value = serde_json::from_str(&std::fs::read_to_string(root().join("examples/manufacturer.json")).unwrap()).unwrap();
        bundle["controls"] = json!([]);
        let (st, v) = s.req(Method::POST, "/bundle", Role::Enterprise, Some(bundle.clone())).await;
        assert_eq!((st, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("recorded_by_third_party")), "{v}");
        // The same bundle unchanged is fine: nothing of a third party's is rewritten.
        let unchanged: Value = serde_json::from_str(&std::fs::read_to_string(root().join("examples/manufacturer.json")).unwrap()).unwrap();
        let (st, v) = s.req(Method::POST, "/bundle", Role::Enterprise, Some(unchanged)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(s.score().await, before);

        // What the rated party may write: new findings (which only add risk), a declared fix,
        // and its own control results, marked self-declared.
        let (st, v) = s
            .req(Method::POST, "/findings", Role::Enterprise, Some(json!([new, { "id": "E-3", "asset": "erp",
                "first_seen": "2026-10-01", "severity": "critical", "state": "fixed_pending_verification" }])))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert!(version(&v).is_some());
        assert_eq!(s.finding("E-3").await["counts_as"], "open");
        let (st, v) = s
            .req(Method::POST, "/controls", Role::Enterprise, Some(json!([{ "control": "privileged_access", "outcome": "pass", "assessed_on": "2026-11-01" }])))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (_, controls) = s.req(Method::GET, "/controls", Role::Enterprise, None).await;
        let pam = controls.as_array().unwrap().iter().find(|c| c["control"] == "privileged_access").unwrap().clone();
        assert_eq!(pam["self_declared"], true, "{pam}");
        let self_declared = s.score().await;
        // The same result from the assessor counts more.
        let (st, v) = s
            .req(Method::POST, "/controls", Role::Assessor, Some(json!([{ "control": "privileged_access", "outcome": "pass", "assessed_on": "2026-11-01" }])))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let verified = s.score().await;
        assert!(verified > self_declared, "verified {verified} vs self-declared {self_declared}");
        // Incidents the rated party records are self-declared: their "verified" corrective
        // actions earn no credit.
        let (st, v) = s
            .req(Method::POST, "/incidents", Role::Enterprise, Some(json!([{ "id": "INC-E", "type": "malware", "impact": "moderate",
                "started": "2026-06-01", "corrective_actions_verified": true }])))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (_, incidents) = s.req(Method::GET, "/incidents", Role::Admin, None).await;
        let e = incidents.as_array().unwrap().iter().find(|i| i["id"] == "INC-E").unwrap().clone();
        assert_eq!(e["self_declared"], true, "{e}");
    });
}

fn nessus(items: &[(&str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(plugin, cve)| {
            format!(
                r#"<ReportItem port="445" svc_name="cifs" protocol="tcp" severity="4" pluginID="{plugin}" pluginName="check {plugin}">
<cve>{cve}</cve><cvss3_vector>CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H</cvss3_vector></ReportItem>"#
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" ?><NessusClientData_v2><Report name="r"><ReportHost name="10.10.1.20"><HostProperties>
<tag name="host-ip">10.10.1.20</tag><tag name="HOST_START">Mon Nov  2 10:00:00 2026</tag></HostProperties>{items}</ReportHost></Report></NessusClientData_v2>"#
    )
}

/// A scan the rated party loads itself declares fixes but does not verify them; the same
/// file loaded by the assessor does.
#[test]
fn the_rated_partys_own_rescan_declares_and_a_third_partys_verifies() {
    runtime().block_on(async {
        let s = setup("rescan").await;
        let import = |role: Role, body: String| {
            let app = s.app.clone();
            let key = s.keys[&role].clone();
            let uri = format!("/api/v1/organizations/{}/imports?format=nessus", s.org);
            async move {
                let (st, _, v) = call(&app, Method::POST, &uri, Some(&key), Some(body)).await;
                assert_eq!(st, StatusCode::OK, "{v}");
                v
            }
        };
        let first = import(
            Role::Assessor,
            nessus(&[("1", "CVE-2017-0144"), ("2", "CVE-2020-0796")]),
        )
        .await;
        assert_eq!(first["verifying"], true);
        let with_findings = s.score().await;
        // The insured's own re-scan no longer shows either: declared, not verified.
        let clean = nessus(&[("3", "CVE-2019-0708")]);
        let own = import(Role::Enterprise, clean.clone()).await;
        assert_eq!(own["verifying"], false);
        assert_eq!(own["findings_fix_declared"], 2);
        let id = "nessus:1:10.10.1.20:445%2Ftcp";
        let f = s.finding(id).await;
        assert_eq!(
            (f["state"].as_str(), f["counts_as"].as_str()),
            (Some("fixed_pending_verification"), Some("open"))
        );
        // Its one new finding counts (more risk), the fixes do not count yet.
        assert!(s.score().await <= with_findings);
        let declared = s.score().await;
        // The assessor loads the same file: the fixes are verified (pending now, closed by the
        // next verifying scan), and the rating improves.
        let verified = import(Role::Assessor, clean.clone()).await;
        assert_eq!(
            verified["duplicate"], false,
            "the declaration must not swallow the verification"
        );
        assert_eq!(verified["findings_fix_verified"], 2, "{verified}");
        assert_eq!(s.finding(id).await["state"], "closed");
        assert!(s.score().await > declared);
        // The insured's own scan shows it again: it reopens (the fix date goes with it).
        let again = import(Role::Enterprise, nessus(&[("1", "CVE-2017-0144")])).await;
        assert_eq!(again["findings_opened"], 1, "{again}");
        let f = s.finding(id).await;
        assert_eq!(
            (f["state"].as_str(), f.get("fixed_at")),
            (Some("open"), None),
            "{f}"
        );
    });
}

/// The rated party cannot restate the baseline it is rated against (its profile, its
/// incident window), nor drown a control a third party assessed in its own statements.
#[test]
fn the_rated_party_cannot_restate_its_profile_or_outvote_a_verified_control() {
    runtime().block_on(async {
        let s = setup("profile").await;
        let before = s.score().await;
        let example: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("examples/manufacturer.json")).unwrap(),
        )
        .unwrap();
        for (field, value) in [
            ("incident_history_since", json!("2026-11-01")),
            ("annual_revenue", json!(1e6)),
            ("industry", json!("retail")),
        ] {
            let mut b = example.clone();
            b["profile"][field] = value;
            let (st, v) = s.req(Method::POST, "/bundle", Role::Enterprise, Some(b.clone())).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{field}: {v}");
            assert!(v["detail"].as_str().unwrap().starts_with("profile"), "{v}");
            // The insurer may correct it.
            let (st, v) = s.req(Method::POST, "/bundle", Role::Insurer, Some(b)).await;
            assert_eq!(st, StatusCode::OK, "{field}: {v}");
            let (st, v) = s.req(Method::POST, "/bundle", Role::Insurer, Some(example.clone())).await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
        assert_eq!(s.score().await, before);
        // Five self-declared MFA passes under made-up scopes against the assessor's "partial".
        let passes: Vec<Value> = (0..5)
            .map(|i| json!({ "control": "mfa", "outcome": "pass", "scope": format!("system {i}"), "assessed_on": "2026-11-01" }))
            .collect();
        let (st, v) = s.req(Method::POST, "/controls", Role::Enterprise, Some(Value::Array(passes))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(s.score().await, before, "self-declared results outvoted a verified one");
    });
}

/// What a third party recorded stays as recorded: the fix date of its finding, and findings a
/// verifying scan has seen (whoever first reported them).
#[test]
fn third_party_records_stay_as_recorded() {
    runtime().block_on(async {
        let s = setup("records").await;
        // F-104 is pending verification with the assessor's fix date; backdating it would age
        // the finding less.
        let mut f = serde_json::to_value(s.store.finding(&s.org, "F-104").await.unwrap()).unwrap();
        f["fixed_at"] = json!("2026-01-16");
        let (st, v) = s
            .req(
                Method::POST,
                "/findings",
                Role::Enterprise,
                Some(json!([f])),
            )
            .await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("recorded_by_third_party")),
            "{v}"
        );

        // The insured imports its own scan first, then the assessor the same file: the findings
        // are now the assessor's, and the insured cannot tone them down.
        let scan = nessus(&[("1", "CVE-2017-0144")]);
        let uri = "/imports?format=nessus";
        for role in [Role::Enterprise, Role::Assessor] {
            let (st, _, v) = call(
                &s.app,
                Method::POST,
                &format!("/api/v1/organizations/{}{uri}", s.org),
                Some(&s.keys[&role]),
                Some(scan.clone()),
            )
            .await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
        let mut f = s.finding("nessus:1:10.10.1.20:445%2Ftcp").await;
        for k in ["kev_source", "epss_source", "pending_dispute"] {
            f.as_object_mut().unwrap().remove(k);
        }
        f["kev"] = json!(false);
        f["severity"] = json!("low");
        let (st, v) = s
            .req(
                Method::POST,
                "/findings",
                Role::Enterprise,
                Some(json!([f])),
            )
            .await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("recorded_by_third_party")),
            "{v}"
        );
    });
}

/// An acceptance holds for what was accepted: a finding the insured planted under a scanner's
/// id with harmless data and had accepted as a false positive reopens when a verifying scan
/// reports it as it is; and a dispute on a finding that changed since it was filed is not
/// accepted.
#[test]
fn acceptances_hold_only_for_what_was_accepted() {
    runtime().block_on(async {
        let s = setup("planted").await;
        let planted = json!([{ "id": "nessus:1:10.10.1.20:445/tcp", "asset": "file-srv", "first_seen": "2026-11-01",
                               "severity": "low", "title": "informational banner", "source": "nessus:1" }]);
        let (st, v) = s.req(Method::POST, "/findings", Role::Enterprise, Some(planted)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let id = "nessus:1:10.10.1.20:445%2Ftcp";
        let (st, d) = s
            .req(Method::PATCH, &format!("/findings/{id}"), Role::Enterprise, Some(json!({ "state": "false_positive", "reason": "just a banner" })))
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{d}");
        let path = format!("/disputes/{}/decision", d["id"].as_str().unwrap());
        let (st, v) = s.req(Method::POST, &path, Role::Assessor, Some(json!({ "decision": "accept" }))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(s.finding(id).await["state"], "false_positive");
        let (st, _, summary) = call(
            &s.app,
            Method::POST,
            &format!("/api/v1/organizations/{}/imports?format=nessus", s.org),
            Some(&s.keys[&Role::Assessor]),
            Some(nessus(&[("1", "CVE-2017-0144")])),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{summary}");
        let f = s.finding(id).await;
        assert_eq!((f["state"].as_str(), f["severity"].as_str()), (Some("open"), Some("critical")), "{f}");
        assert!(summary["warnings"].to_string().contains("reopened"), "{summary}");

        // A dispute filed, then the finding changes: accepting it now would accept something
        // else.
        let (st, d) = s
            .req(Method::PATCH, "/findings/F-103", Role::Enterprise, Some(json!({ "state": "risk_accepted", "reason": "legacy" })))
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{d}");
        let (st, v) = s
            .req(Method::PATCH, "/findings/F-103", Role::Assessor, Some(json!({ "state": "verified" })))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let path = format!("/disputes/{}/decision", d["id"].as_str().unwrap());
        let (st, v) = s.req(Method::POST, &path, Role::Insurer, Some(json!({ "decision": "accept" }))).await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
        let (st, v) = s.req(Method::POST, &path, Role::Insurer, Some(json!({ "decision": "reject", "note": "changed since" }))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    });
}

/// What the rated party records about itself can add risk, never remove it: its own assets
/// cannot lower the exposure below the reference organisation's when nothing else is known,
/// nor be toned down once recorded; its own findings cannot be edited away; its copies of a
/// third party's control results count as its own word; its statements on a factor a third
/// party assessed, or on its obligations, weigh as what they are.
#[test]
fn the_rated_partys_own_records_only_add_risk() {
    runtime().block_on(async {
        let s = setup("own-records").await;
        // A profile-only organisation, as an insurer creates it from an application form.
        let admin = &s.keys[&Role::Admin];
        let mut bundle: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("examples/sme-external-scan.json")).unwrap(),
        )
        .unwrap();
        bundle["profile"]["name"] = "Profile Only Ltd".into();
        for k in ["assets", "findings", "controls", "incidents", "scan_date"] {
            bundle.as_object_mut().unwrap().remove(k);
        }
        let (st, _, v) = call(&s.app, Method::POST, "/api/v1/organizations/bundle", Some(admin), Some(bundle.to_string())).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let org = v["org_id"].as_str().unwrap().to_owned();
        let ent = s.store.create_key("ent2", Role::Enterprise, Some(&org), None).await.unwrap().key;
        let at = |path: &str| format!("/api/v1/organizations/{org}{path}");
        let score = || async {
            let (_, _, r) = call(&s.app, Method::GET, &at("/rating"), Some(admin), None).await;
            r["score"].as_i64().unwrap()
        };
        let before = score().await;
        let (st, _, v) = call(&s.app, Method::POST, &at("/assets"), Some(&ent),
            Some(json!([{ "id": "laptop-1", "kind": "host", "internet_facing": false }]).to_string())).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert!(score().await <= before, "one declared harmless asset raised the score");
        // It can add risk: an exposed RDP host counts.
        let (st, _, v) = call(&s.app, Method::POST, &at("/assets"), Some(&ent),
            Some(json!([{ "id": "rdp-1", "kind": "host", "internet_facing": true, "criticality": "high",
                          "services": [{ "port": 3389, "name": "ms-wbt-server" }] }]).to_string())).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let exposed = score().await;
        assert!(exposed < before, "{before} → {exposed}");
        // … but not take it back, nor tone down what it reported.
        for (body, field) in [
            (json!([{ "id": "rdp-1", "kind": "host", "internet_facing": false, "criticality": "high",
                      "services": [{ "port": 3389, "name": "ms-wbt-server" }] }]), "internet_facing"),
            (json!([{ "id": "rdp-1", "kind": "host", "internet_facing": true, "criticality": "low",
                      "services": [{ "port": 3389, "name": "ms-wbt-server" }] }]), "criticality"),
            (json!([{ "id": "rdp-1", "kind": "host", "internet_facing": true, "criticality": "high" }]), "services"),
        ] {
            let (st, _, v) = call(&s.app, Method::POST, &at("/assets"), Some(&ent), Some(body.to_string())).await;
            assert_eq!((st, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("lowers_own_record")), "{field}: {v}");
            assert!(v["detail"].as_str().unwrap().contains(field), "{v}");
        }
        let finding = json!({ "id": "own-1", "asset": "rdp-1", "first_seen": "2026-06-01", "severity": "critical", "cve": "CVE-2019-0708" });
        let (st, _, v) = call(&s.app, Method::POST, &at("/findings"), Some(&ent), Some(json!([finding]).to_string())).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let mut later = finding.clone();
        later["first_seen"] = "2026-11-20".into();
        let (st, _, v) = call(&s.app, Method::POST, &at("/findings"), Some(&ent), Some(json!([later]).to_string())).await;
        assert_eq!((st, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("lowers_own_record")), "{v}");
        // Nor rename what answers on a port, nor move the dates its staleness is judged on,
        // nor put them in the future; nor tone down an incident it reported.
        for (body, field) in [
            (json!([{ "id": "rdp-1", "kind": "host", "internet_facing": true, "criticality": "high",
                      "services": [{ "port": 3389, "name": "http" }] }]), "services"),
            (json!([{ "id": "rdp-1", "kind": "host", "internet_facing": true, "criticality": "high",
                      "services": [{ "port": 3389, "name": "ms-wbt-server" }], "last_seen": "2026-11-29" }]), "last_seen"),
        ] {
            let (st, _, v) = call(&s.app, Method::POST, &at("/assets"), Some(&ent), Some(body.to_string())).await;
            assert_eq!((st, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("lowers_own_record")), "{field}: {v}");
        }
        let (st, _, v) = call(&s.app, Method::POST, &at("/assets"), Some(&ent),
            Some(json!([{ "id": "new-1", "kind": "host", "last_seen": "2999-01-01" }]).to_string())).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("in the future"), "{v}");
        let incident = json!({ "id": "own-inc", "type": "ransomware", "impact": "major", "started": "2026-05-01" });
        let (st, _, v) = call(&s.app, Method::POST, &at("/incidents"), Some(&ent), Some(json!([incident]).to_string())).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let mut toned = incident.clone();
        toned["impact"] = "minor".into();
        let (st, _, v) = call(&s.app, Method::POST, &at("/incidents"), Some(&ent), Some(json!([toned]).to_string())).await;
        assert_eq!((st, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("lowers_own_record")), "{v}");
    });
}

/// A third party's control results: given back once by a whole bundle from the rated party,
/// its repeats are the rated party's own word (and do not count against the third party's);
/// leaving one out is refused; self-declared results on the other controls of a factor a
/// third party assessed do not move it; a self-declared obligation is half met.
#[test]
fn third_party_control_results_cannot_be_multiplied_or_diluted() {
    runtime().block_on(async {
        let s = setup("controls").await;
        let example: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("examples/manufacturer.json")).unwrap(),
        )
        .unwrap();
        // The assessor records MFA on the VPN (pass) and on email (fail); the insured gives the
        // stored results back with the pass repeated twenty times.
        let mfa = json!([
            { "control": "mfa", "outcome": "pass", "scope": "vpn", "assessed_on": "2026-11-01" },
            { "control": "mfa", "outcome": "fail", "scope": "email", "assessed_on": "2026-11-01" }
        ]);
        let (st, v) = s.req(Method::POST, "/controls", Role::Assessor, Some(mfa.clone())).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let before = s.score().await;
        let (_, stored) = s.req(Method::GET, "/controls", Role::Enterprise, None).await;
        let mut copies = example.clone();
        copies["controls"] = stored.clone();
        for _ in 0..20 {
            copies["controls"].as_array_mut().unwrap().push(mfa[0].clone());
        }
        let (st, v) = s.req(Method::POST, "/bundle", Role::Enterprise, Some(copies)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(s.score().await, before, "copies of a third party's pass outvoted its fail");
        let (_, after) = s.req(Method::GET, "/controls", Role::Enterprise, None).await;
        let own = after.as_array().unwrap().iter().filter(|c| c["self_declared"] == true).count();
        assert_eq!(own, 20, "the copies are the insured's own word");
        let (st, v) = s
            .req(Method::POST, "/controls", Role::Enterprise, Some(json!([
                { "control": "hardening_network", "outcome": "pass", "assessed_on": "2026-11-01" },
                { "control": "hardening_database", "outcome": "pass", "assessed_on": "2026-11-01" },
                { "control": "hardening_middleware", "outcome": "pass", "assessed_on": "2026-11-01" }
            ])))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(s.score().await, before, "self-declared results diluted the assessor's hardening result");
        let example: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("examples/manufacturer.json")).unwrap(),
        )
        .unwrap();
        // Leaving out one of the third party's results is refused.
        let mut fewer = example.clone();
        fewer["controls"].as_array_mut().unwrap().retain(|c| c["control"] != "edr");
        let (st, v) = s.req(Method::POST, "/bundle", Role::Enterprise, Some(fewer)).await;
        assert_eq!((st, v["code"].as_str()), (StatusCode::FORBIDDEN, Some("recorded_by_third_party")), "{v}");
    });
}
