//! The HTTP API through the router itself (`tower::ServiceExt::oneshot`), each test on a fresh
//! database: access control generated from the OpenAPI document, error bodies, the live rating,
//! and the committed OpenAPI document.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use cyrisk_api::{AppState, Options};
use cyrisk_core::Bundle;
use cyrisk_store::{LoadTarget, Principal, Role, Store};
use tower::ServiceExt;

use crate::support::{ensure_file_contents, root, scratch};

pub(crate) struct World {
    pub(crate) app: Router,
    pub(crate) store: Store,
    pub(crate) keys: Vec<(Role, String)>,
    /// The insurer key's id.
    pub(crate) insurer_id: String,
    /// An insurer key no caller uses, linked to nothing.
    pub(crate) spare_insurer_id: String,
    pub(crate) own: String,
    pub(crate) other: String,
}

fn example(name: &str) -> String {
    std::fs::read_to_string(root().join(format!("examples/{name}.json"))).unwrap()
}

/// A fresh SQLite database with two organisations and one key per role; the enterprise and
/// assessor keys are bound to `own`, the insurer is linked to `own`.
async fn world(name: &str, options: Options) -> World {
    let dir = scratch(&format!("api-{name}"));
    let store = Store::open(&format!("sqlite://{}", dir.join("cyrisk.db").display()))
        .await
        .unwrap();
    let own = store
        .load_bundle(
            LoadTarget::ByName,
            &Bundle::from_json(&example("power-utility")).unwrap(),
            &Principal::operator(),
        )
        .await
        .unwrap()
        .org_id;
    let other = store
        .load_bundle(
            LoadTarget::ByName,
            &Bundle::from_json(&example("manufacturer")).unwrap(),
            &Principal::operator(),
        )
        .await
        .unwrap()
        .org_id;
    let mut keys = Vec::new();
    let mut insurer_id = String::new();
    for role in Role::ALL {
        let org = matches!(role, Role::Enterprise | Role::Assessor).then_some(own.as_str());
        let k = store
            .create_key(role.as_str(), role, org, None)
            .await
            .unwrap();
        if role == Role::Insurer {
            store.link(&k.id, &own, "test").await.unwrap();
            insurer_id.clone_from(&k.id);
        }
        keys.push((role, k.key));
    }
    let spare_insurer_id = store
        .create_key("spare insurer", Role::Insurer, None, None)
        .await
        .unwrap()
        .id;
    let state = app_state(store);
    World {
        app: cyrisk_api::app(state.clone(), &options),
        store: state.store,
        keys,
        insurer_id,
        spare_insurer_id,
        own,
        other,
    }
}

/// The service's state over `store`, with the built-in models and the bundled KEV catalogue.
pub(crate) fn app_state(store: Store) -> AppState {
    AppState::new(
        cyrisk_app::App::builtin(store)
            .unwrap()
            .with_reports(std::sync::Arc::new(cyrisk_report::Renderer))
            .with_analytics(std::sync::Arc::new(cyrisk_analytics::Analytics)),
    )
}

/// Runs every due job on `store` (one worker, here); returns how many ran.
pub(crate) async fn drain(store: &Store) -> usize {
    let worker = cyrisk_app::jobs::Worker::new(
        cyrisk_app::App::builtin(store.clone()).unwrap(),
        cyrisk_app::jobs::WorkerOptions::default(),
    );
    worker.run_until_idle().await.unwrap()
}

/// Held by the tests that read `/metrics`: the recorder is process-wide and each `/metrics`
/// request sets the job gauges from its own test's store, so two at once would see each
/// other's counts.
static METRICS: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    key: Option<&str>,
    body: Option<String>,
) -> (StatusCode, String, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let req = req
        .header("content-type", "application/json")
        .body(body.map_or(Body::empty(), Body::from))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, ctype, json)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh world of two organisations and one key per role, with default options.
pub(crate) async fn world_for(name: &str) -> World {
    world(name, Options::default()).await
}

/// What the access matrix expects of `method path` for `role` (`None`: no key).
pub(crate) fn expected_status(
    method: &str,
    path: &str,
    role: Option<Role>,
    own_tenant: bool,
) -> StatusCode {
    expected(method, path, role, own_tenant)
}

/// The access policy, route by route. A route in the spec without a rule here fails the test.
fn expected(method: &str, path: &str, role: Option<Role>, own_tenant: bool) -> StatusCode {
    let public = ["/healthz", "/readyz", "/metrics"];
    if public.contains(&path) {
        return StatusCode::OK;
    }
    let Some(role) = role else {
        return StatusCode::UNAUTHORIZED;
    };
    match (method, path) {
        ("get", "/api/v1/organizations") => StatusCode::OK,
        ("post", "/api/v1/organizations/bundle") => match role {
            Role::Admin | Role::Insurer => StatusCode::OK,
            Role::Enterprise | Role::Assessor => StatusCode::FORBIDDEN,
        },
        (
            "get" | "post",
            "/api/v1/organizations/{id}"
            | "/api/v1/organizations/{id}/bundle"
            | "/api/v1/organizations/{id}/rating"
            | "/api/v1/organizations/{id}/ratings"
            | "/api/v1/organizations/{id}/plan",
        )
        | (
            "post",
            "/api/v1/organizations/{id}/assets"
            | "/api/v1/organizations/{id}/findings"
            | "/api/v1/organizations/{id}/controls"
            | "/api/v1/organizations/{id}/incidents"
            | "/api/v1/organizations/{id}/imports",
        ) => {
            if role == Role::Admin || own_tenant {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        }
        (
            "get",
            "/api/v1/organizations/{id}/findings"
            | "/api/v1/organizations/{id}/findings/{finding_id}"
            | "/api/v1/organizations/{id}/findings/{finding_id}/history",
        ) => {
            if role == Role::Admin || own_tenant {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        }
        // Every role may ask (what each may set is the state × role table, tested apart).
        ("patch", "/api/v1/organizations/{id}/findings/{finding_id}") => {
            if role == Role::Admin || own_tenant {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        }
        ("get", "/api/v1/organizations/{id}/disputes") => {
            if role == Role::Admin || own_tenant {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        }
        // The dispute in the path does not exist: a caller who may decide disputes there
        // learns only that (404); the rated party is refused first (403).
        ("post", "/api/v1/organizations/{id}/disputes/{dispute_id}/decision") => match role {
            Role::Enterprise => StatusCode::FORBIDDEN,
            _ => StatusCode::NOT_FOUND,
        },
        (
            "get",
            "/api/v1/organizations/{id}/assets"
            | "/api/v1/organizations/{id}/assets/{asset_id}"
            | "/api/v1/organizations/{id}/controls"
            | "/api/v1/organizations/{id}/incidents",
        ) => {
            if role == Role::Admin || own_tenant {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        }
        // Jobs are the operator's: admins only, whatever organisation a job is about. The job
        // in the path exists and is queued, so an admin's retry conflicts (only dead jobs are
        // retried).
        ("get", "/api/v1/jobs" | "/api/v1/jobs/{id}") => match role {
            Role::Admin => StatusCode::OK,
            _ => StatusCode::FORBIDDEN,
        },
        ("post", "/api/v1/jobs/{id}/retry") => match role {
            Role::Admin => StatusCode::CONFLICT,
            _ => StatusCode::FORBIDDEN,
        },
        // Underwriting names no organisation: the role decides; an application in the path
        // that is not the caller's (here: none is) is a 404.
        (
            "post" | "get" | "put",
            "/api/v1/underwriting/assessments"
            | "/api/v1/underwriting/assessments/scan"
            | "/api/v1/underwriting/applications"
            | "/api/v1/underwriting/rules",
        ) => match role {
            Role::Admin | Role::Insurer => StatusCode::OK,
            Role::Enterprise | Role::Assessor => StatusCode::FORBIDDEN,
        },
        (
            "get" | "post",
            "/api/v1/underwriting/applications/{id}"
            | "/api/v1/underwriting/applications/{id}/decision",
        ) => match role {
            Role::Admin | Role::Insurer => StatusCode::NOT_FOUND,
            Role::Enterprise | Role::Assessor => StatusCode::FORBIDDEN,
        },
        ("post", "/api/v1/quotes") => match (role, own_tenant) {
            (Role::Enterprise | Role::Assessor, _) => StatusCode::FORBIDDEN,
            (Role::Admin, _) | (Role::Insurer, true) => StatusCode::OK,
            (Role::Insurer, false) => StatusCode::NOT_FOUND,
        },
        ("post", "/api/v1/feeds/kev" | "/api/v1/feeds/epss") => match role {
            Role::Admin => StatusCode::OK,
            _ => StatusCode::FORBIDDEN,
        },
        ("post", "/api/v1/policies") => match (role, own_tenant) {
            (Role::Enterprise | Role::Assessor, _) => StatusCode::FORBIDDEN,
            (Role::Admin, _) | (Role::Insurer, true) => StatusCode::CREATED,
            (Role::Insurer, false) => StatusCode::NOT_FOUND,
        },
        ("get", "/api/v1/organizations/{id}/quotes" | "/api/v1/organizations/{id}/policies") => {
            if role == Role::Admin || own_tenant {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        }
        // Alerts name no organisation in the path: each key sees its own (an insurer its
        // policies', an enterprise or assessor its organisation's); the `{id}` here is no
        // alert, so the caller learns only that (404).
        ("get", "/api/v1/alerts" | "/api/v1/alerts/rules") => StatusCode::OK,
        ("get", "/api/v1/alerts/{id}") | ("post", "/api/v1/alerts/{id}/ack") => {
            StatusCode::NOT_FOUND
        }
        // Alert rules are an insurer key's own; an admin sets none of its own.
        ("put", "/api/v1/alerts/rules") => match role {
            Role::Insurer => StatusCode::OK,
            _ => StatusCode::FORBIDDEN,
        },
        // A webhook receives the registering key's alerts; an admin must name whose (this
        // body names none: 422); an assessor has none.
        ("post", "/api/v1/webhooks") => match role {
            Role::Insurer | Role::Enterprise => StatusCode::CREATED,
            Role::Admin => StatusCode::UNPROCESSABLE_ENTITY,
            Role::Assessor => StatusCode::FORBIDDEN,
        },
        ("get", "/api/v1/webhooks") => match role {
            Role::Assessor => StatusCode::FORBIDDEN,
            _ => StatusCode::OK,
        },
        ("get" | "delete", "/api/v1/webhooks/{id}")
        | ("get", "/api/v1/webhooks/{id}/deliveries") => match role {
            Role::Assessor => StatusCode::FORBIDDEN,
            _ => StatusCode::NOT_FOUND,
        },
        // The policy in the path does not exist (it is an organisation's id): the caller
        // learns only that; changing one is refused first to the roles that never may.
        ("get", "/api/v1/policies/{id}") => StatusCode::NOT_FOUND,
        ("post", "/api/v1/policies/{id}/cancel" | "/api/v1/policies/{id}/endorsements") => {
            match role {
                Role::Admin | Role::Insurer => StatusCode::NOT_FOUND,
                Role::Enterprise | Role::Assessor => StatusCode::FORBIDDEN,
            }
        }
        // Tickets: every role works the tickets of an organisation it sees (each caller opens
        // one on its own control, so none conflicts); a ticket in the path that does not exist
        // (an organisation's id) is a 404 for all.
        (
            "get" | "post",
            "/api/v1/organizations/{id}/tickets" | "/api/v1/organizations/{id}/remediation",
        ) => match (method, role == Role::Admin || own_tenant) {
            ("post", true) => StatusCode::CREATED,
            (_, true) => StatusCode::OK,
            (_, false) => StatusCode::NOT_FOUND,
        },
        ("get" | "patch", "/api/v1/tickets/{id}")
        | ("post", "/api/v1/tickets/{id}/comments" | "/api/v1/tickets/{id}/verify") => {
            StatusCode::NOT_FOUND
        }
        // Claims and loss runs are the policy's insurer's (and an admin's); the claim or policy
        // in the path does not exist here.
        ("post", "/api/v1/claims")
        | ("post", "/api/v1/claims/{id}/movements" | "/api/v1/claims/{id}/status")
        | ("get", "/api/v1/policies/{id}/renewal") => match role {
            Role::Admin | Role::Insurer => StatusCode::NOT_FOUND,
            Role::Enterprise | Role::Assessor => StatusCode::FORBIDDEN,
        },
        ("get", "/api/v1/claims/{id}" | "/api/v1/policies/{id}/loss-run") => StatusCode::NOT_FOUND,
        ("get", "/api/v1/organizations/{id}/timeline" | "/api/v1/organizations/{id}/report") => {
            if role == Role::Admin || own_tenant {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        }
        (
            "get",
            "/api/v1/loss-run"
            | "/api/v1/portfolio"
            | "/api/v1/portfolio/export"
            | "/api/v1/portfolio/simulations",
        ) => match role {
            Role::Admin | Role::Insurer => StatusCode::OK,
            Role::Enterprise | Role::Assessor => StatusCode::FORBIDDEN,
        },
        // Queued for the caller's own book; the simulation in the path does not exist.
        ("post", "/api/v1/portfolio/simulations") => match role {
            Role::Admin | Role::Insurer => StatusCode::ACCEPTED,
            Role::Enterprise | Role::Assessor => StatusCode::FORBIDDEN,
        },
        ("get", "/api/v1/portfolio/simulations/{id}") => StatusCode::NOT_FOUND,
        other => panic!("no access rule for {other:?}: add one to tests/e2e/api.rs"),
    }
}

/// Everything stored about an organisation that a write could change: its inputs (as a
/// bundle), row counts (with lifecycle history), inputs version, ratings, quotes, policies.
async fn tenant_state(store: &Store, org: &str) -> serde_json::Value {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&store.bundle(org).await.unwrap())
        .unwrap()
        .hash(&mut h);
    serde_json::json!({
        "bundle_hash": h.finish(),
        "counts": store.counts(org).await.unwrap(),
        "inputs_version": store.organization(org).await.unwrap().inputs_version,
        "ratings": store.ratings_raw(org, 1000, 0).await.unwrap().len(),
        "quotes": store.quotes(org, None, 1000, 0).await.unwrap().len(),
        "policies": store.policies(org).await.unwrap().len(),
    })
}

#[test]
fn access_matrix_covers_every_route_role_and_tenant() {
    let _metrics = METRICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    runtime().block_on(async {
        let w = world("matrix", Options::default()).await;
        let spec = serde_json::to_value(cyrisk_api::openapi()).unwrap();
        let mut cases = 0;
        let mut guarded_writes = 0;
        for (path, item) in spec["paths"].as_object().unwrap() {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                for own_tenant in [true, false] {
                    let org = if own_tenant { &w.own } else { &w.other };
                    // A finding that exists in each organisation.
                    let finding = if own_tenant { "P-2" } else { "F-101" };
                    let asset = if own_tenant { "portal" } else { "erp" };
                    // A job about the organisation in question (its bundle load queued one).
                    let job = w.store.jobs(None, Some(org), 1, 0).await.unwrap()[0].id.clone();
                    let path_id = if path.starts_with("/api/v1/jobs/") { &job } else { org };
                    let mut uri = path.replace("{id}", path_id).replace("{finding_id}", finding).replace("{asset_id}", asset).replace("{dispute_id}", "no-such-dispute");
                    if path.ends_with("/imports") {
                        uri.push_str("?format=csv");
                    }
                    if path == "/api/v1/portfolio/export" {
                        uri.push_str("?table=organizations&format=parquet");
                    }
                    if path.ends_with("/assessments/scan") {
                        uri.push_str("?format=nmap&name=Applicant&industry=retail&annual_revenue=18000000&region=CN-HB&limit=2000000&trials=1000");
                    }
                    let body = match method {
                        "post" if path == "/api/v1/quotes" => Some(
                            serde_json::json!({ "organization_id": org, "deductible": 100000.0, "limit": 5000000.0, "trials": 2000 })
                                .to_string(),
                        ),
                        "post" if path == "/api/v1/policies" => Some(
                            serde_json::json!({ "organization_id": org, "starts_on": "2026-01-01", "ends_on": "2026-12-31",
                                                "deductible": 100000.0, "limit": 5000000.0, "premium": 42000.0 })
                                .to_string(),
                        ),
                        "post" if path.ends_with("/assessments/scan") => Some(
                            std::fs::read_to_string(root().join("tests/fixtures/field/nmap-declared-assets.xml")).unwrap(),
                        ),
                        "post" if path == "/api/v1/underwriting/assessments" => Some(
                            serde_json::json!({ "bundle": serde_json::from_str::<serde_json::Value>(&example("sme-external-scan")).unwrap(),
                                                "limit": 2000000.0, "trials": 1000 })
                                .to_string(),
                        ),
                        "post" if path.ends_with("/decision") && path.starts_with("/api/v1/underwriting/") => {
                            Some(r#"{"decision": "accept", "note": "checked"}"#.to_owned())
                        }
                        "put" if path == "/api/v1/underwriting/rules" => Some(
                            serde_json::json!({ "rules": std::fs::read_to_string(root().join("models/underwriting-v1.toml")).unwrap() })
                                .to_string(),
                        ),
                        "put" if path == "/api/v1/alerts/rules" => Some(
                            serde_json::json!({ "rules": std::fs::read_to_string(root().join("models/alerts-v1.toml")).unwrap() })
                                .to_string(),
                        ),
                        "post" if path == "/api/v1/webhooks" => {
                            Some(r#"{"url": "https://hooks.example.com/cyrisk"}"#.to_owned())
                        }
                        "post" if path == "/api/v1/portfolio/simulations" => Some(r#"{"trials": 1000}"#.to_owned()),
                        "post" if path.ends_with("/ack") => None,
                        "post" if path == "/api/v1/claims" => Some(
                            r#"{"policy_id": "no-such-policy", "loss_on": "2026-03-01", "notified_on": "2026-03-02", "peril": "ransomware", "description": "encrypted"}"#.to_owned(),
                        ),
                        "post" if path.ends_with("/movements") => {
                            Some(r#"{"kind": "reserve", "amount": 100000, "on": "2026-03-03"}"#.to_owned())
                        }
                        "post" if path.ends_with("/status") => Some(r#"{"status": "closed", "on": "2026-03-03"}"#.to_owned()),
                        "post" if path.ends_with("/comments") => Some(r#"{"body": "patched"}"#.to_owned()),
                        "post" if path.ends_with("/verify") => Some(r#"{"note": "re-tested"}"#.to_owned()),
                        "patch" if path.starts_with("/api/v1/tickets/") => Some(r#"{"status": "in_progress"}"#.to_owned()),
                        "post" if path.ends_with("/tickets") => Some(r#"{"source": "control", "source_id": "mfa"}"#.to_owned()),
                        "post" if path.ends_with("/cancel") => {
                            Some(r#"{"effective_on": "2026-06-01", "reason": "sold"}"#.to_owned())
                        }
                        "post" if path.starts_with("/api/v1/policies/") => Some(
                            r#"{"effective_on": "2026-06-01", "limit": 1000000, "reason": "more cover", "trials": 1000}"#.to_owned(),
                        ),
                        "post" if path == "/api/v1/feeds/kev" => {
                            Some(std::fs::read_to_string(root().join("data/kev/kev-2025.08.25.json")).unwrap())
                        }
                        "post" if path == "/api/v1/feeds/epss" => Some(
                            "#model_version:v2025.03.14,score_date:2025-08-27T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.97,1.0\n".to_owned(),
                        ),
                        "post" if path.ends_with("/imports") => Some("id,kind\nscanned-1,host\n".to_owned()),
                        "post" if path.ends_with("/assets") => Some(r#"[{"id": "new-host", "kind": "host"}]"#.to_owned()),
                        "post" if path.ends_with("/findings") => Some(
                            serde_json::json!([{ "id": "NEW-1", "asset": asset, "first_seen": "2026-01-01", "severity": "high" }])
                                .to_string(),
                        ),
                        "post" if path.ends_with("/controls") => Some(r#"[{"control": "mfa", "outcome": "pass"}]"#.to_owned()),
                        "post" if path.ends_with("/incidents") => Some(
                            r#"[{"id": "INC-NEW", "type": "outage", "impact": "minor", "started": "2026-01-01"}]"#.to_owned(),
                        ),
                        "post" if path.ends_with("/decision") => Some(r#"{"decision": "reject"}"#.to_owned()),
                        // The by-name path: a bundle named like the organisation in question.
                        "post" if path == "/api/v1/organizations/bundle" => {
                            Some(example(if own_tenant { "power-utility" } else { "manufacturer" }))
                        }
                        "post" => Some(example("power-utility")),
                        "patch" => Some("{\"state\": \"verified\"}".to_owned()),
                        _ => None,
                    };
                    let m: Method = method.to_uppercase().parse().unwrap();
                    let callers: Vec<(Option<Role>, Option<&str>)> = std::iter::once((None, None))
                        .chain(w.keys.iter().map(|(r, k)| (Some(*r), Some(k.as_str()))))
                        .collect();
                    for (role, key) in callers {
                        let want = expected(method, path, role, own_tenant);
                        // An admin binds a policy for an insurer key that is not a caller here,
                        // so the callers' tenancy stays as set up.
                        let body = match (path.as_str(), role) {
                            ("/api/v1/policies", Some(Role::Admin)) => body.as_deref().map(|b| {
                                let mut v: serde_json::Value = serde_json::from_str(b).unwrap();
                                v["insurer_key_id"] = w.spare_insurer_id.clone().into();
                                v.to_string()
                            }),
                            ("/api/v1/organizations/{id}/tickets", Some(r)) if method == "post" => {
                                let control = match r {
                                    // Controls the example organisations do not pass yet.
                                    Role::Admin => "hardening_middleware",
                                    Role::Insurer => "security_awareness",
                                    Role::Enterprise => "patch_cadence",
                                    Role::Assessor => "hardening_os",
                                };
                                Some(format!(r#"{{"source": "control", "source_id": "{control}"}}"#))
                            }
                            _ => body.clone(),
                        };
                        // A write by another tenant's key must leave the organisation as it was.
                        let guarded = method != "get" && !own_tenant && !matches!(role, None | Some(Role::Admin));
                        let before = if guarded { Some(tenant_state(&w.store, org).await) } else { None };
                        let (got, ctype, body_json) = call(&w.app, m.clone(), &uri, key, body).await;
                        if let Some(before) = before {
                            assert_eq!(
                                tenant_state(&w.store, org).await,
                                before,
                                "{method} {path} as {role:?} changed another tenant's organisation: {body_json}"
                            );
                            guarded_writes += 1;
                            if path == "/api/v1/organizations/bundle" && got.is_success() {
                                // Creating by name never matches an organisation the caller
                                // cannot see: it creates a new one.
                                assert_eq!(body_json["created"], true, "{body_json}");
                                assert_ne!(body_json["org_id"].as_str(), Some(org.as_str()));
                            }
                        }
                        assert_eq!(
                            got,
                            want,
                            "{method} {path} as {role:?} ({}): {body_json}",
                            if own_tenant { "own" } else { "other" }
                        );
                        if !got.is_success() {
                            assert_eq!(ctype, "application/problem+json", "{method} {path}");
                            assert_eq!(body_json["status"], got.as_u16());
                            assert!(body_json["code"].is_string());
                        }
                        cases += 1;
                    }
                }
            }
        }
        assert!(cases >= 10 * 2 * 5, "only {cases} cases");
        // Every write route × the three non-admin roles against the other tenant.
        assert!(guarded_writes >= 13 * 3, "only {guarded_writes} cross-tenant writes");
    });
}

#[test]
fn bad_bodies_and_queries_get_problem_details() {
    runtime().block_on(async {
        let w = world(
            "errors",
            Options {
                body_limit: 64 * 1024,
            },
        )
        .await;
        let admin = w
            .keys
            .iter()
            .find(|(r, _)| *r == Role::Admin)
            .map(|(_, k)| k.as_str());
        let post = |body: String| {
            call(
                &w.app,
                Method::POST,
                "/api/v1/organizations/bundle",
                admin,
                Some(body),
            )
        };
        let (s, _, j) = post("{\"profile\": ".into()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(j["detail"].as_str().unwrap().contains("line 1"), "{j}");
        let mut v: serde_json::Value = serde_json::from_str(&example("power-utility")).unwrap();
        v["profile"]["annual_revenue"] = (-1).into();
        let (s, _, j) = post(v.to_string()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            j["detail"]
                .as_str()
                .unwrap()
                .contains("profile.annual_revenue"),
            "{j}"
        );
        let mut v: serde_json::Value = serde_json::from_str(&example("power-utility")).unwrap();
        v["surprise"] = 1.into();
        let (s, _, j) = post(v.to_string()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(j["detail"].as_str().unwrap().contains("surprise"), "{j}");
        let (s, ctype, j) = post(example("book-1000")).await; // ≈ 600 KiB > 64 KiB
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{j}");
        assert_eq!(
            (ctype.as_str(), j["code"].as_str()),
            ("application/problem+json", Some("body_too_large"))
        );
        for uri in [
            "/api/v1/organizations?limit=abc",
            "/api/v1/organizations?limit=0",
            "/api/v1/nope",
        ] {
            let (s, ctype, j) = call(&w.app, Method::GET, uri, admin, None).await;
            assert!(s.is_client_error(), "{uri}: {s}");
            assert_eq!(ctype, "application/problem+json", "{uri}: {j}");
        }
        let (s, _, j) = call(
            &w.app,
            Method::GET,
            "/api/v1/organizations",
            Some("cyk_not_a_key"),
            None,
        )
        .await;
        assert_eq!(
            (s, j["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
    });
}

#[test]
fn live_rating_is_reused_until_the_inputs_change() {
    runtime().block_on(async {
        let w = world("rating", Options::default()).await;
        let admin = w
            .keys
            .iter()
            .find(|(r, _)| *r == Role::Admin)
            .map(|(_, k)| k.as_str());
        let uri = format!("/api/v1/organizations/{}/rating", w.own);
        let (s, _, first) = call(&w.app, Method::GET, &uri, admin, None).await;
        assert_eq!(s, StatusCode::OK, "{first}");
        assert_eq!(first["score"], first["rating"]["score"]);
        let (_, _, again) = call(&w.app, Method::GET, &uri, admin, None).await;
        assert_eq!(
            again["id"], first["id"],
            "unchanged inputs: the stored rating"
        );
        let load = format!("/api/v1/organizations/{}/bundle", w.own);
        let (s, _, _) = call(
            &w.app,
            Method::POST,
            &load,
            admin,
            Some(example("power-utility")),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (_, _, third) = call(&w.app, Method::GET, &uri, admin, None).await;
        assert_ne!(third["id"], first["id"], "changed inputs: a new rating");
        assert_eq!(third["inputs_version"], 2);
        let (_, _, history) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/organizations/{}/ratings", w.own),
            admin,
            None,
        )
        .await;
        assert_eq!(history.as_array().unwrap().len(), 2);
        let (_, _, plan) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/organizations/{}/plan?top=3", w.own),
            admin,
            None,
        )
        .await;
        assert_eq!(plan["items"].as_array().unwrap().len(), 3);
        // Priced by default for the size band's standard layer; ranked by loss on request.
        assert_eq!(plan["money"]["layer_source"], "standard_for_size_band");
        assert!(
            plan["items"][0]["money"]["loss_reduction"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        let (s, _, by_loss) = call(
            &w.app,
            Method::GET,
            &format!(
                "/api/v1/organizations/{}/plan?top=5&by=loss&deductible=100000&limit=10000000",
                w.own
            ),
            admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(by_loss["money"]["ranked_by"], "loss");
        assert_eq!(by_loss["money"]["limit"], 10_000_000.0);
        let losses: Vec<f64> = by_loss["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["money"]["loss_reduction"].as_f64().unwrap())
            .collect();
        assert!(losses.windows(2).all(|w| w[0] >= w[1]), "{losses:?}");
        // Rules across parameters: 422 naming the rule; money=false gives the bare plan.
        for query in [
            "by=loss&money=false",
            "deductible=5",
            "deductible=20&limit=10",
        ] {
            let (s, _, body) = call(
                &w.app,
                Method::GET,
                &format!("/api/v1/organizations/{}/plan?{query}", w.own),
                admin,
                None,
            )
            .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        }
        let (_, _, bare) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/organizations/{}/plan?money=false", w.own),
            admin,
            None,
        )
        .await;
        assert!(bare.get("money").is_none() && bare["items"][0].get("money").is_none());
    });
}

#[test]
fn committed_openapi_document_is_current() {
    let doc = cyrisk_api::openapi_json();
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["openapi"], "3.1.0");
    // Every reference resolves to a component of the document.
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&v, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(
            v["components"]["schemas"].get(name).is_some(),
            "{r} points at no schema"
        );
    }
    for (path, item) in v["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["summary"].is_string() || op["description"].is_string(),
                "{method} {path} has no summary"
            );
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
        }
    }
    ensure_file_contents(&root().join("openapi/openapi.json"), &doc);
}

#[test]
fn findings_filter_page_and_move_through_their_lifecycle() {
    runtime().block_on(async {
        let w = world("findings", Options::default()).await;
        let key = |role: Role| {
            w.keys
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, k)| k.as_str())
        };
        let base = format!("/api/v1/organizations/{}/findings", w.own);
        let (s, _, all) = call(&w.app, Method::GET, &base, key(Role::Enterprise), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(all.as_array().unwrap().len(), 6);
        let (_, _, page) = call(
            &w.app,
            Method::GET,
            &format!("{base}?limit=2&offset=1"),
            key(Role::Enterprise),
            None,
        )
        .await;
        assert_eq!(
            page.as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].clone())
                .collect::<Vec<_>>(),
            ["P-2", "P-3"]
        );
        let (_, _, open) = call(
            &w.app,
            Method::GET,
            &format!("{base}?state=open"),
            key(Role::Enterprise),
            None,
        )
        .await;
        assert!(
            open.as_array()
                .unwrap()
                .iter()
                .all(|f| f["state"] == "open")
        );
        let (s, _, j) = call(
            &w.app,
            Method::GET,
            &format!("{base}?state=opened"),
            key(Role::Enterprise),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");

        let one = format!("{base}/P-2");
        let (s, _, hist) = call(
            &w.app,
            Method::PATCH,
            &one,
            key(Role::Enterprise),
            Some("{\"state\": \"remediation_requested\"}".into()),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{hist}");
        assert_eq!(
            hist.as_array()
                .unwrap()
                .iter()
                .map(|h| h["state"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["open", "remediation_requested"]
        );
        let (_, _, f) = call(&w.app, Method::GET, &one, key(Role::Assessor), None).await;
        assert_eq!(f["state"], "remediation_requested");
        for (body, what) in [
            ("{\"state\": \"done\"}", "done"),
            ("{\"status\": \"closed\"}", "status"),
            ("nope", ""),
        ] {
            let (s, ctype, j) = call(
                &w.app,
                Method::PATCH,
                &one,
                key(Role::Enterprise),
                Some(body.into()),
            )
            .await;
            assert_eq!(
                (s, ctype.as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, "application/problem+json"),
                "{body}"
            );
            assert!(j["detail"].as_str().unwrap().contains(what), "{j}");
        }
        let (s, _, _) = call(
            &w.app,
            Method::GET,
            &format!("{base}/nope"),
            key(Role::Admin),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // The changed state moves the live rating: it is recomputed for the new inputs.
        let (_, _, r) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/organizations/{}/rating", w.own),
            key(Role::Admin),
            None,
        )
        .await;
        assert_eq!(r["inputs_version"], 2);
    });
}

#[test]
fn quotes_price_a_layer_and_are_stored_with_the_organisation() {
    runtime().block_on(async {
        let w = world("quotes", Options::default()).await;
        let key = |role: Role| w.keys.iter().find(|(r, _)| *r == role).map(|(_, k)| k.as_str());
        let request = |deductible: f64, limit: f64| {
            serde_json::json!({ "organization_id": w.own, "deductible": deductible, "limit": limit, "trials": 20000, "seed": 7 }).to_string()
        };
        let (s, _, q1) = call(&w.app, Method::POST, "/api/v1/quotes", key(Role::Insurer), Some(request(100_000.0, 5_000_000.0))).await;
        assert_eq!(s, StatusCode::OK, "{q1}");
        let doc = &q1["quote"];
        let prem = &doc["premium"];
        assert!(prem["premium"].as_f64().unwrap() >= prem["technical_premium"].as_f64().unwrap().min(prem["minimum_premium"].as_f64().unwrap()));
        assert_eq!(prem["pure_premium"], doc["simulation"]["layer"]["expected_loss"]);
        assert_eq!(doc["layer"]["limit"], 5_000_000.0);
        assert_eq!(doc["rating"]["id"], q1["rating_id"]);
        // Same request, same inputs, same seed: the same price.
        let (_, _, q2) = call(&w.app, Method::POST, "/api/v1/quotes", key(Role::Admin), Some(request(100_000.0, 5_000_000.0))).await;
        assert_eq!(q2["quote"]["premium"], q1["quote"]["premium"]);
        assert_ne!(q2["id"], q1["id"]);
        let (_, _, list) = call(&w.app, Method::GET, &format!("/api/v1/organizations/{}/quotes", w.own), key(Role::Enterprise), None).await;
        assert_eq!(list.as_array().unwrap().len(), 2);
        // Paging, and an insurer sees only its own quotes (not a competitor's on a shared client).
        let (_, _, page) = call(&w.app, Method::GET, &format!("/api/v1/organizations/{}/quotes?limit=1&offset=1", w.own), key(Role::Enterprise), None).await;
        assert_eq!(page.as_array().unwrap().len(), 1);
        assert_eq!(page[0]["id"], list[1]["id"]);
        let (_, _, mine) = call(&w.app, Method::GET, &format!("/api/v1/organizations/{}/quotes", w.own), key(Role::Insurer), None).await;
        assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
        assert_eq!(mine[0]["id"], q1["id"]);
        for (body, field) in [
            (request(6_000_000.0, 5_000_000.0), "deductible"),
            (request(0.0, -1.0), "limit"),
            (serde_json::json!({ "organization_id": w.own, "limit": 1e6, "trials": 0 }).to_string(), "trials"),
            (serde_json::json!({ "organization_id": w.own, "limit": 1e6, "deductable": 5 }).to_string(), "deductable"),
        ] {
            let (s, _, j) = call(&w.app, Method::POST, "/api/v1/quotes", key(Role::Admin), Some(body)).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
            assert!(j["detail"].as_str().unwrap().contains(field), "{field}: {j}");
        }
    });
}

#[test]
fn assets_controls_and_incidents_read_back_as_loaded() {
    runtime().block_on(async {
        let w = world("inputs", Options::default()).await;
        let admin = w
            .keys
            .iter()
            .find(|(r, _)| *r == Role::Admin)
            .map(|(_, k)| k.as_str());
        let base = format!("/api/v1/organizations/{}", w.own);
        let bundle: serde_json::Value = serde_json::from_str(&example("power-utility")).unwrap();
        let (_, _, assets) =
            call(&w.app, Method::GET, &format!("{base}/assets"), admin, None).await;
        assert_eq!(
            assets.as_array().unwrap().len(),
            bundle["assets"].as_array().unwrap().len()
        );
        let (_, _, exposed) = call(
            &w.app,
            Method::GET,
            &format!("{base}/assets?internet_facing=true"),
            admin,
            None,
        )
        .await;
        assert!(!exposed.as_array().unwrap().is_empty());
        assert!(
            exposed
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["internet_facing"] == true)
        );
        let (s, _, one) = call(
            &w.app,
            Method::GET,
            &format!("{base}/assets/fgt-vpn"),
            admin,
            None,
        )
        .await;
        assert_eq!(
            (s, one["product"].as_str()),
            (StatusCode::OK, Some("FortiOS"))
        );
        let (s, _, _) = call(
            &w.app,
            Method::GET,
            &format!("{base}/assets/nope"),
            admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, _, controls) = call(
            &w.app,
            Method::GET,
            &format!("{base}/controls"),
            admin,
            None,
        )
        .await;
        assert_eq!(controls, bundle["controls"]);
        let (_, _, incidents) = call(
            &w.app,
            Method::GET,
            &format!("{base}/incidents"),
            admin,
            None,
        )
        .await;
        assert_eq!(incidents.as_array().unwrap().len(), 1);
    });
}

#[test]
fn bulk_upserts_move_the_live_rating_and_name_bad_items() {
    runtime().block_on(async {
        let w = world("upserts", Options::default()).await;
        let key = w
            .keys
            .iter()
            .find(|(r, _)| *r == Role::Enterprise)
            .map(|(_, k)| k.as_str());
        let base = format!("/api/v1/organizations/{}", w.own);
        let (_, _, before) = call(&w.app, Method::GET, &format!("{base}/rating"), key, None).await;
        let post = |what: &str, body: serde_json::Value| {
            let uri = format!("{base}/{what}");
            let app = w.app.clone();
            async move { call(&app, Method::POST, &uri, key, Some(body.to_string())).await }
        };
        // Wrong type deep in an item: 422 naming the item and field.
        let (s, ctype, j) = post(
            "findings",
            serde_json::json!([{ "id": "X", "asset": "portal", "first_seen": "yesterday", "severity": "high" }]),
        )
        .await;
        assert_eq!(
            (s, ctype.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "application/problem+json")
        );
        assert!(
            j["detail"].as_str().unwrap().contains("findings[0].first_seen"),
            "{j}"
        );
        // Not an array.
        let (s, _, _) = post("assets", serde_json::json!({ "id": "a", "kind": "host" })).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // A dangling reference.
        let (s, _, j) = post(
            "findings",
            serde_json::json!([{ "id": "X", "asset": "ghost", "first_seen": "2026-01-01", "severity": "high" }]),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(j["detail"].as_str().unwrap().contains("findings[0].asset"), "{j}");

        // A new internet-facing server with an open critical finding lowers the live score.
        let (s, _, a) = post(
            "assets",
            serde_json::json!([{ "id": "new-rdp", "kind": "host", "internet_facing": true,
                                 "services": [{ "port": 3389, "name": "ms-wbt-server" }] }]),
        )
        .await;
        assert_eq!((s, a["created"].as_u64()), (StatusCode::OK, Some(1)), "{a}");
        let (s, _, f) = post(
            "findings",
            serde_json::json!([{ "id": "RDP-1", "asset": "new-rdp", "first_seen": "2025-06-01",
                                 "cve": "CVE-2019-0708",
                                 "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "kev": true }]),
        )
        .await;
        assert_eq!((s, f["created"].as_u64()), (StatusCode::OK, Some(1)), "{f}");
        let (_, _, after) = call(&w.app, Method::GET, &format!("{base}/rating"), key, None).await;
        assert!(after["inputs_version"].as_i64() > before["inputs_version"].as_i64());
        assert!(
            after["score"].as_i64().unwrap() < before["score"].as_i64().unwrap(),
            "{} → {}",
            before["score"],
            after["score"]
        );
        let (s, _, got) = call(&w.app, Method::GET, &format!("{base}/findings/RDP-1"), key, None).await;
        assert_eq!((s, got["asset"].as_str()), (StatusCode::OK, Some("new-rdp")));
    });
}

#[test]
fn policies_and_assignments_grant_exactly_the_organisations_they_name() {
    runtime().block_on(async {
        let w = world("tenancy", Options::default()).await;
        let key = |role: Role| {
            w.keys
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, k)| k.as_str())
        };
        let (admin, insurer, assessor, enterprise) = (
            key(Role::Admin),
            key(Role::Insurer),
            key(Role::Assessor),
            key(Role::Enterprise),
        );
        let other = format!("/api/v1/organizations/{}", w.other);
        let get = |uri: String, k: Option<&str>| {
            let app = w.app.clone();
            let k = k.map(str::to_owned);
            async move { call(&app, Method::GET, &uri, k.as_deref(), None).await.0 }
        };
        assert_eq!(
            get(format!("{other}/rating"), insurer).await,
            StatusCode::NOT_FOUND
        );

        // Bad policies: dates out of order, a non-insurer key, binding for another insurer.
        let post = |body: serde_json::Value, k: Option<&str>| {
            let app = w.app.clone();
            let k = k.map(str::to_owned);
            async move {
                call(
                    &app,
                    Method::POST,
                    "/api/v1/policies",
                    k.as_deref(),
                    Some(body.to_string()),
                )
                .await
            }
        };
        let policy = serde_json::json!({
            "organization_id": w.other, "insurer_key_id": w.insurer_id,
            "starts_on": "2026-01-01", "ends_on": "2026-12-31", "limit": 1e7, "premium": 5e4
        });
        let mut bad = policy.clone();
        bad["ends_on"] = "2025-12-31".into();
        let (s, _, j) = post(bad, admin).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(j["detail"].as_str().unwrap().contains("ends_on"), "{j}");
        let mut bad = policy.clone();
        bad["insurer_key_id"] = w.spare_insurer_id.clone().into();
        let (s, _, _) = post(bad, insurer).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let mut bad = policy.clone();
        bad["starts_on"] = "soon".into();
        let (s, _, j) = post(bad, admin).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(j["detail"].as_str().unwrap().contains("starts_on"), "{j}");

        // An admin binds a policy for the insurer on the other organisation: now it sees it,
        // and lists its policy there.
        let (s, _, created) = post(policy, admin).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        assert_eq!(created["currency"], "CNY");
        assert_eq!(
            get(format!("{other}/rating"), insurer).await,
            StatusCode::OK
        );
        let (_, _, list) = call(
            &w.app,
            Method::GET,
            &format!("{other}/policies"),
            insurer,
            None,
        )
        .await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], created["id"]);
        let (_, _, orgs) = call(&w.app, Method::GET, "/api/v1/organizations", insurer, None).await;
        assert_eq!(orgs.as_array().unwrap().len(), 2);

        // The assessor sees the other organisation only once assigned to it; the enterprise
        // key never does.
        assert_eq!(
            get(format!("{other}/findings"), assessor).await,
            StatusCode::NOT_FOUND
        );
        let assessor_id = w
            .store
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.role == Role::Assessor)
            .unwrap()
            .id;
        w.store
            .assign(&assessor_id, &w.other, Some("test"))
            .await
            .unwrap();
        assert_eq!(
            get(format!("{other}/findings"), assessor).await,
            StatusCode::OK
        );
        let (_, _, orgs) = call(&w.app, Method::GET, "/api/v1/organizations", assessor, None).await;
        assert_eq!(orgs.as_array().unwrap().len(), 2);
        assert_eq!(
            get(format!("{other}/findings"), enterprise).await,
            StatusCode::NOT_FOUND
        );
        // Only assessor keys are assigned.
        let insurer_err = w
            .store
            .assign(&w.insurer_id, &w.other, None)
            .await
            .unwrap_err();
        assert!(
            insurer_err.to_string().contains("only assessor keys"),
            "{insurer_err}"
        );
        // Writes are audited with the acting key.
        let log = w.store.audit_log(10).await.unwrap();
        assert!(log.iter().any(|e| e.action == "policy.create"));
        assert!(
            log.iter()
                .any(|e| e.action == "key.assign" && e.key_id.as_deref() == Some("test"))
        );
    });
}

#[test]
fn imports_over_http_summarise_and_refuse_bad_files_whole() {
    runtime().block_on(async {
        let w = world("imports", Options::default()).await;
        let key = w
            .keys
            .iter()
            .find(|(r, _)| *r == Role::Assessor)
            .map(|(_, k)| k.to_owned());
        let base = format!("/api/v1/organizations/{}/imports", w.own);
        let sample = std::fs::read(root().join("data/samples/ms2_scan.nessus")).unwrap();
        let post = |query: &str, body: Vec<u8>| {
            let app = w.app.clone();
            let uri = format!("{base}?{query}");
            let key = key.clone();
            async move {
                let req = Request::builder()
                    .method(Method::POST)
                    .uri(uri)
                    .header("authorization", format!("Bearer {}", key.unwrap()))
                    .header("content-type", "application/octet-stream")
                    .body(Body::from(body))
                    .unwrap();
                let res = app.oneshot(req).await.unwrap();
                let status = res.status();
                let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .unwrap();
                (
                    status,
                    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                )
            }
        };
        let before = w.store.counts(&w.own).await.unwrap();
        let (s, j) = post("format=nessus", sample[..sample.len() / 3].to_vec()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(j["detail"].as_str().unwrap().contains("byte"), "{j}");
        assert_eq!(
            w.store.counts(&w.own).await.unwrap(),
            before,
            "nothing written"
        );
        let (s, j) = post("format=docx", sample.clone()).await;
        assert_eq!(
            (s, j["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query"))
        );

        let (s, j) = post("format=nessus&internet_facing=true", sample.clone()).await;
        assert_eq!(s, StatusCode::OK, "{j}");
        assert_eq!(
            (j["findings_opened"].as_u64(), j["facts"].as_u64()),
            (Some(50), Some(126))
        );
        // The API answers at once: the rating is the queued job's.
        assert!(j["score"].is_null() && j["grade"].is_null(), "{j}");
        let job = w
            .store
            .job(j["rerate_job"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(
            (job.kind.as_str(), job.org_id.as_deref(), job.state),
            (
                "rerate",
                Some(w.own.as_str()),
                cyrisk_store::JobState::Queued
            )
        );
        drain(&w.store).await;
        let done = w.store.job(&job.id).await.unwrap();
        assert_eq!(done.state, cyrisk_store::JobState::Done, "{done:?}");
        assert_eq!(w.store.ratings_by_job(&job.id).await.unwrap(), 1);
        let (_, again) = post("format=nessus&internet_facing=true", sample).await;
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["inputs_version"], j["inputs_version"]);
        let host = w.store.asset(&w.own, "192.168.79.128").await.unwrap();
        assert!(host.internet_facing && !host.declared);
    });
}

#[test]
fn a_newer_feed_snapshot_rerates_only_the_organisations_it_affects() {
    runtime().block_on(async {
        let w = world("feeds", Options::default()).await;
        let key = |role: Role| {
            w.keys
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, k)| k.to_owned())
                .unwrap()
        };
        let admin = key(Role::Admin);
        // A third organisation with an open finding on CVE-2021-23017, which the bundled
        // catalogue (2025.08.25) does not list.
        let sme = w
            .store
            .load_bundle(LoadTarget::ByName, &cyrisk_core::Bundle::from_json(&example("sme-external-scan")).unwrap(), &Principal::operator())
            .await
            .unwrap()
            .org_id;
        let mut scores = std::collections::BTreeMap::new();
        for org in [&w.own, &w.other, &sme] {
            let (_, _, r) = call(
                &w.app,
                Method::GET,
                &format!("/api/v1/organizations/{org}/rating"),
                Some(&admin),
                None,
            )
            .await;
            scores.insert(org.clone(), r["score"].as_i64().unwrap());
        }
        // The loads queued re-ratings; with the inputs unchanged since these ratings they
        // store nothing new.
        drain(&w.store).await;
        for org in [&w.own, &w.other, &sme] {
            assert_eq!(w.store.ratings(org, 10).await.unwrap().len(), 1, "{org}");
        }
        let kev_text = std::fs::read_to_string(root().join("data/kev/kev-2025.08.25.json")).unwrap();
        let mut kev: serde_json::Value = serde_json::from_str(&kev_text).unwrap();
        kev["catalogVersion"] = "2025.08.26".into();
        let mut added = kev["vulnerabilities"][0].clone();
        added["cveID"] = "CVE-2021-23017".into();
        kev["vulnerabilities"].as_array_mut().unwrap().push(added);
        let post = |path: &str, body: String, k: &str| {
            let app = w.app.clone();
            let (path, k) = (path.to_owned(), k.to_owned());
            async move { call(&app, Method::POST, &path, Some(&k), Some(body)).await }
        };
        // Only admins load feeds; a malformed catalogue is refused.
        let (s, _, _) = post("/api/v1/feeds/kev", kev.to_string(), &key(Role::Insurer)).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _, j) = post("/api/v1/feeds/kev", "{\"catalogVersion\": ".into(), &admin).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");

        let (s, _, j) = post("/api/v1/feeds/kev", kev.to_string(), &admin).await;
        assert_eq!(s, StatusCode::OK, "{j}");
        assert_eq!(j["changed_cves"], 1);
        // It answers with the one job it queued; the job re-rates that organisation.
        let queued = j["rerating"].as_array().unwrap();
        assert_eq!(queued.len(), 1, "{j}");
        assert_eq!(queued[0]["org_id"], sme.as_str());
        let job_id = queued[0]["job_id"].as_str().unwrap().to_owned();
        let (s, _, job) = call(&w.app, Method::GET, &format!("/api/v1/jobs/{job_id}"), Some(&admin), None).await;
        assert_eq!((s, job["state"].as_str()), (StatusCode::OK, Some("queued")), "{job}");
        assert_eq!(drain(&w.store).await, 1, "exactly the affected organisation");
        let (_, _, job) = call(&w.app, Method::GET, &format!("/api/v1/jobs/{job_id}"), Some(&admin), None).await;
        assert_eq!(job["state"], "done", "{job}");
        let result = &job["result"];
        assert_eq!(result["score_before"], scores[&sme]);
        assert!(result["score"].as_i64().unwrap() < scores[&sme], "a KEV listing lowers it: {job}");
        // The same file again changes nothing.
        let (_, _, again) = post("/api/v1/feeds/kev", kev.to_string(), &admin).await;
        assert_eq!((again["duplicate"].as_bool(), again["rerating"].as_array().map(Vec::len)), (Some(true), Some(0)));

        // The live rating is the job's, and records the snapshots it used; the others'
        // ratings are untouched.
        let (_, _, live) = call(&w.app, Method::GET, &format!("/api/v1/organizations/{sme}/rating"), Some(&admin), None).await;
        assert_eq!(live["score"], result["score"]);
        assert_eq!(live["id"], result["rating_id"]);
        assert_eq!(live["feeds"]["kev"], "2025.08.26", "{live}");
        for org in [&w.own, &w.other] {
            let history = w.store.ratings(org, 10).await.unwrap();
            assert_eq!(history.len(), 1, "{org} was not re-rated");
        }

        // EPSS: a gzip file moving that CVE's score re-rates the same organisation only.
        let csv = "#model_version:v2025.03.14,score_date:2025-08-27T00:00:00+0000\ncve,epss,percentile\nCVE-2021-23017,0.91,0.99\nCVE-1999-0001,0.5,0.5\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, csv.as_bytes()).unwrap();
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/feeds/epss")
            .header("authorization", format!("Bearer {admin}"))
            .body(Body::from(gz.finish().unwrap()))
            .unwrap();
        let res = w.app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let j: serde_json::Value =
            serde_json::from_slice(&axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap()).unwrap();
        assert_eq!((j["entries"].as_i64(), j["changed_cves"].as_i64()), (Some(2), Some(2)));
        assert_eq!(j["rerating"].as_array().unwrap().len(), 1);
        let (s, _, j) = post("/api/v1/feeds/epss", "cve,epss\nCVE-2021-23017,0.5\n".into(), &admin).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(j["detail"].as_str().unwrap().contains("line 1"), "{j}");
    });
}

/// What the contract says, the handlers do: an integer written `5.0` is an integer, blank and
/// NUL-bearing texts are refused with 422, and constraints declared in the spec are enforced.
#[test]
fn the_handlers_accept_and_refuse_what_the_spec_declares() {
    runtime().block_on(async {
        let w = world("contract", Options::default()).await;
        let admin = w.keys.iter().find(|(r, _)| *r == Role::Admin).unwrap().1.clone();
        let base = format!("/api/v1/organizations/{}", w.own);
        let post = |path: String, body: serde_json::Value| {
            let app = w.app.clone();
            let admin = admin.clone();
            async move { call(&app, Method::POST, &path, Some(&admin), Some(body.to_string())).await }
        };
        let (s, _, j) = post(format!("{base}/controls"), serde_json::json!([{ "control": "mlps", "outcome": "pass", "level": 3.0 }])).await;
        assert_eq!(s, StatusCode::OK, "{j}");
        let (s, _, j) = post(format!("{base}/incidents"), serde_json::json!([{ "id": "I-9", "type": "outage", "impact": "minor", "started": "2026-01-01", "records_affected": 12.0 }])).await;
        assert_eq!(s, StatusCode::OK, "{j}");
        let (s, _, j) = post(format!("{base}/controls"), serde_json::json!([{ "control": "mlps", "outcome": "pass", "level": 3.5 }])).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        let (s, _, j) = post(format!("{base}/controls"), serde_json::json!([{ "control": "edr", "outcome": "pass", "level": 3 }])).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        let (s, _, j) = post(format!("{base}/incidents"), serde_json::json!([{ "id": " \t", "type": "outage", "impact": "minor", "started": "2026-01-01" }])).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        assert!(j["detail"].as_str().unwrap().contains("incidents[0].id"), "{j}");
        let (s, _, j) = post(format!("{base}/assets"), serde_json::json!([])).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        // Names and identifiers are bounded (256 characters): every report and page lays them out.
        let (s, _, j) = post(
            format!("{base}/assets"),
            serde_json::json!([{ "id": "h".repeat(257), "kind": "host" }]),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        assert!(j["detail"].as_str().unwrap().contains("at most 256"), "{j}");
        let (s, _, j) = post(
            format!("{base}/assets"),
            serde_json::json!([{ "id": "h".repeat(256), "kind": "host" }]),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{j}");
        for body in [
            serde_json::json!({ "state": "closed", "reason": "   " }),
            serde_json::json!({ "state": "verified", "evidence": "a\u{0}b" }),
            serde_json::json!({ "state": "verified", "reason": "x".repeat(4001) }),
        ] {
            let (s, _, j) = call(&w.app, Method::PATCH, &format!("{base}/findings/P-2"), Some(&admin), Some(body.to_string())).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {j}");
        }
        let (s, _, j) = call(&w.app, Method::PATCH, &format!("{base}/findings/P-2"), Some(&admin), Some(r#"{"state": "verified", "reason": null}"#.into())).await;
        assert_eq!(s, StatusCode::OK, "{j}");
        let (s, _, j) = post("/api/v1/quotes".into(), serde_json::json!({ "organization_id": w.own, "limit": 1e6, "trials": 1000.0, "seed": -1 })).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        assert!(j["detail"].as_str().unwrap().contains("seed"), "{j}");
    });
}

/// `/metrics` is Prometheus text from the `metrics` recorder: request latency by route and
/// status, and the job queue read from the database at scrape time.
#[test]
fn metrics_report_request_latency_and_the_job_queue() {
    let _metrics = METRICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    runtime().block_on(async {
        let w = world("metrics", Options::default()).await;
        let admin = w
            .keys
            .iter()
            .find(|(r, _)| *r == Role::Admin)
            .map(|(_, k)| k.as_str());
        let uri = format!("/api/v1/organizations/{}/rating", w.own);
        let (s, _, _) = call(&w.app, Method::GET, &uri, admin, None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, _) = call(
            &w.app,
            Method::GET,
            "/api/v1/organizations/no-such/rating",
            admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // A method of the client's invention must not become a label (a new series each).
        let odd = Method::from_bytes(b"FOOBARMETHOD").unwrap();
        let (s, _, _) = call(&w.app, odd, "/api/v1/nope", admin, None).await;
        assert!(s.is_client_error());
        let res = w
            .app
            .clone()
            .oneshot(
                Request::builder()
                    .uri("/metrics")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let text = String::from_utf8(
            axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        let has = |needle: &str| {
            text.lines()
                .any(|l| l.starts_with("cyrisk_") && l.contains(needle))
        };
        assert!(
            has(r#"cyrisk_http_request_duration_seconds_bucket{"#)
                && has(r#"route="/api/v1/organizations/{id}/rating""#)
                && has(r#"status="404""#),
            "{text}"
        );
        // The world's two bundle loads queued two re-ratings; nothing ran them.
        let queued = w.store.queue_stats().await.unwrap().queued;
        assert!(queued >= 2);
        assert!(
            text.lines()
                .any(|l| l == format!(r#"cyrisk_jobs{{state="queued"}} {queued}"#)),
            "{text}"
        );
        assert!(has("cyrisk_jobs_oldest_ready_age_seconds"), "{text}");
        assert!(
            !text.contains("FOOBARMETHOD") && has(r#"method="other""#),
            "{text}"
        );
        assert!(has("cyrisk_ratings_computed_total"), "{text}");
    });
}

/// A size no company has (found by the contract fuzzer) makes losses overflow: the plan and
/// the quote refuse it with 422 naming the field, instead of money that is null or infinite.
#[test]
fn a_size_beyond_the_severity_model_is_refused_not_priced_as_null() {
    runtime().block_on(async {
        let w = world("huge", Options::default()).await;
        let admin = w
            .keys
            .iter()
            .find(|(r, _)| *r == Role::Admin)
            .map(|(_, k)| k.as_str());
        let mut b: serde_json::Value = serde_json::from_str(&example("power-utility")).unwrap();
        b["profile"]["name"] = "Enormous Co.".into();
        b["profile"]["annual_revenue"] = 1e15.into();
        let (s, _, j) = call(
            &w.app,
            Method::POST,
            "/api/v1/organizations/bundle",
            admin,
            Some(b.to_string()),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{j}");
        let org = j["org_id"].as_str().unwrap().to_owned();
        let (s, _, j) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/organizations/{org}/plan"),
            admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        assert!(
            j["detail"].as_str().unwrap().contains("annual_revenue"),
            "{j}"
        );
        let (s, _, j) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/organizations/{org}/plan?money=false"),
            admin,
            None,
        )
        .await;
        assert_eq!(
            s,
            StatusCode::OK,
            "the score-only plan has no money in it: {j}"
        );
        let quote = serde_json::json!({ "organization_id": org, "limit": 1e7, "trials": 2000 });
        let (s, _, j) = call(
            &w.app,
            Method::POST,
            "/api/v1/quotes",
            admin,
            Some(quote.to_string()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
        assert!(
            j["detail"].as_str().unwrap().contains("annual_revenue"),
            "{j}"
        );
    });
}

/// Pre-policy underwriting: an SME applicant's bundle is rated, priced and decided by the
/// default rules, each explained; fixing what a rule flagged changes the decision.
#[test]
fn an_application_is_rated_priced_and_decided_by_the_rules() {
    runtime().block_on(async {
        let w = world("underwriting", Options::default()).await;
        let key = |role: Role| w.keys.iter().find(|(r, _)| *r == role).map(|(_, k)| k.as_str());
        let mut bundle: serde_json::Value = serde_json::from_str(&example("sme-external-scan")).unwrap();
        bundle["profile"]["name"] = "Applicant Ltd.".into();
        let application = |b: &serde_json::Value| {
            serde_json::json!({ "bundle": b, "deductible": 50000.0, "limit": 2000000.0, "trials": 5000 }).to_string()
        };
        let path = "/api/v1/underwriting/assessments";
        for role in [Role::Enterprise, Role::Assessor] {
            let (s, _, _) = call(&w.app, Method::POST, path, key(role), Some(application(&bundle))).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{role:?}");
        }
        let (s, _, a) = call(&w.app, Method::POST, path, key(Role::Insurer), Some(application(&bundle))).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["applicant"], "Applicant Ltd.");
        assert!(a["quote"]["premium"]["premium"].as_f64().unwrap() > 0.0, "{a}");
        assert!(a["expected_annual_loss"].as_f64().unwrap() > 0.0);
        assert_eq!(a["score"], a["rating"]["score"]);
        let rules = a["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 6, "every default rule applied: {a}");
        assert!(rules.iter().all(|r| !r["explanation"].as_str().unwrap().is_empty()));
        let worst = rules
            .iter()
            .map(|r| match r["outcome"].as_str().unwrap() { "accept" => 0, "refer" => 1, _ => 2 })
            .max()
            .unwrap();
        assert_eq!(a["decision"], ["accept", "refer", "decline"][worst], "{a}");
        // The example SME has no EDR result: required controls refer it.
        let required = rules.iter().find(|r| r["rule"] == "required_controls").unwrap();
        assert_eq!(required["outcome"], "refer", "{required}");
        // Nothing was stored: no organisation by that name.
        let orgs = w.store.list_organizations(100, 0).await.unwrap();
        assert!(orgs.iter().all(|o| o.name != "Applicant Ltd."));
        // With the three controls evidenced that rule passes.
        let mut fixed = bundle.clone();
        fixed["controls"] = serde_json::json!([
            { "control": "mfa", "outcome": "pass" }, { "control": "edr", "outcome": "pass" },
            { "control": "offline_backups", "outcome": "pass" }
        ]);
        let (s, _, b) = call(&w.app, Method::POST, path, key(Role::Admin), Some(application(&fixed))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let required = b["rules"].as_array().unwrap().iter().find(|r| r["rule"] == "required_controls").unwrap();
        assert_eq!(required["outcome"], "accept", "{required}");
        // A bad bundle is named as such.
        let mut bad = bundle.clone();
        bad["profile"]["annual_revenue"] = (-1).into();
        let (s, _, e) = call(&w.app, Method::POST, path, key(Role::Admin), Some(application(&bad))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e["detail"].as_str().unwrap().starts_with("bundle: "), "{e}");
        assert!(e["detail"].as_str().unwrap().contains("annual_revenue"), "{e}");
    });
}

/// The referral queue and each insurer's own rules: a referred application waits for its
/// insurer's underwriter (another insurer cannot see or decide it); a decision is final; an
/// insurer's stricter rules decide its later assessments.
#[test]
fn referrals_wait_for_their_insurer_and_rules_are_each_insurers_own() {
    runtime().block_on(async {
        let w = world("referrals", Options::default()).await;
        let key = |role: Role| w.keys.iter().find(|(r, _)| *r == role).map(|(_, k)| k.to_owned()).unwrap();
        let insurer = key(Role::Insurer);
        let other = w.store.create_key("insurer B", Role::Insurer, None, None).await.unwrap().key;
        let mut bundle: serde_json::Value = serde_json::from_str(&example("sme-external-scan")).unwrap();
        // Without its open KEV finding the SME is referred (no EDR, MFA or backups evidenced).
        bundle["findings"] = serde_json::json!([]);
        let body = serde_json::json!({ "bundle": bundle, "limit": 2000000.0, "trials": 2000 }).to_string();
        let (s, _, a) = call(&w.app, Method::POST, "/api/v1/underwriting/assessments", Some(&insurer), Some(body.clone())).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!((a["decision"].as_str(), a["status"].as_str()), (Some("refer"), Some("referred")), "{a}");
        let id = a["application_id"].as_str().unwrap().to_owned();
        // The queue: the insurer's own referral, not the other insurer's business.
        let (_, _, queue) = call(&w.app, Method::GET, "/api/v1/underwriting/applications?status=referred", Some(&insurer), None).await;
        assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
        assert_eq!(queue[0]["assessment"]["score"], a["score"]);
        let (_, _, none) = call(&w.app, Method::GET, "/api/v1/underwriting/applications", Some(&other), None).await;
        assert_eq!(none.as_array().unwrap().len(), 0, "{none}");
        let decide = |k: String, d: &str| {
            let app = w.app.clone();
            let (path, body) = (format!("/api/v1/underwriting/applications/{id}/decision"), serde_json::json!({ "decision": d, "note": "EDR confirmed by phone" }).to_string());
            async move { call(&app, Method::POST, &path, Some(&k), Some(body)).await }
        };
        let (s, _, _) = decide(other.clone(), "accept").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "another insurer's referral is not there for it");
        let (s, _, _) = call(&w.app, Method::GET, &format!("/api/v1/underwriting/applications/{id}"), Some(&other), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, d) = decide(insurer.clone(), "accept").await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!((d["status"].as_str(), d["note"].as_str()), (Some("accepted"), Some("EDR confirmed by phone")));
        let (s, _, _) = decide(insurer.clone(), "decline").await;
        assert_eq!(s, StatusCode::CONFLICT, "a decision is final");
        let (_, _, queue) = call(&w.app, Method::GET, "/api/v1/underwriting/applications?status=referred", Some(&insurer), None).await;
        assert_eq!(queue.as_array().unwrap().len(), 0);

        // Insurer B's stricter rules decline what the default refers; A's are untouched.
        let (_, _, r) = call(&w.app, Method::GET, "/api/v1/underwriting/rules", Some(&other), None).await;
        assert_eq!(r["source"], "default");
        let strict = "id = \"insurer-b\"\nversion = \"1\"\n[score]\ndecline_below = 900\n";
        let (s, _, r) = call(&w.app, Method::PUT, "/api/v1/underwriting/rules", Some(&other), Some(serde_json::json!({ "rules": strict }).to_string())).await;
        assert_eq!((s, r["source"].as_str()), (StatusCode::OK, Some("own")), "{r}");
        let (_, _, b) = call(&w.app, Method::POST, "/api/v1/underwriting/assessments", Some(&other), Some(body.clone())).await;
        assert_eq!((b["decision"].as_str(), b["rules_version"].as_str()), (Some("decline"), Some("insurer-b 1")), "{b}");
        assert_eq!(b["rules"].as_array().unwrap().len(), 1);
        let (_, _, a2) = call(&w.app, Method::POST, "/api/v1/underwriting/assessments", Some(&insurer), Some(body)).await;
        assert_eq!(a2["decision"], "refer", "{a2}");
        // Rules that do not load are refused, naming the field; the stored ones stay.
        let (s, _, e) = call(&w.app, Method::PUT, "/api/v1/underwriting/rules", Some(&other),
            Some(serde_json::json!({ "rules": "id = \"x\"\nversion = \"1\"\n[score]\ndecline_below = 700\nrefer_below = 600\n" }).to_string())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e["detail"].as_str().unwrap().contains("decline_below 700"), "{e}");
        let (_, _, r) = call(&w.app, Method::GET, "/api/v1/underwriting/rules", Some(&other), None).await;
        assert!(r["rules"].as_str().unwrap().contains("insurer-b"));
    });
}

/// An SME with only an external scan applies with the scan file and its profile: the KEV the
/// scan shows on the internet declines it; a file that does not read is a 422 naming where.
#[test]
fn an_application_from_a_scan_file_is_decided_on_what_the_scan_shows() {
    runtime().block_on(async {
        let w = world("scan-application", Options::default()).await;
        let key = |role: Role| w.keys.iter().find(|(r, _)| *r == role).map(|(_, k)| k.as_str());
        let scan = std::fs::read_to_string(root().join("tests/fixtures/field/nessus-on-kev-cves.nessus")).unwrap();
        let path = "/api/v1/underwriting/assessments/scan?format=nessus&name=Edge%20Co&industry=retail\
                    &annual_revenue=18000000&employees=40&region=CN-HB&limit=2000000&deductible=50000&trials=5000";
        let (s, _, _) = call(&w.app, Method::POST, path, key(Role::Enterprise), Some(scan.clone())).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _, a) = call(&w.app, Method::POST, path, key(Role::Insurer), Some(scan.clone())).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["applicant"], "Edge Co");
        assert_eq!(a["rating"]["inputs"]["findings"], 2, "{}", a["rating"]["inputs"]);
        let kev = a["rules"].as_array().unwrap().iter().find(|r| r["rule"] == "open_kev_internet_facing").unwrap();
        assert_eq!(kev["outcome"], "decline", "{kev}");
        assert_eq!(a["decision"], "decline");
        // Kept as an application.
        let id = a["application_id"].as_str().unwrap();
        let (s, _, stored) = call(&w.app, Method::GET, &format!("/api/v1/underwriting/applications/{id}"), key(Role::Insurer), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(stored["applicant"], "Edge Co");
        // A truncated file; a profile that does not hold.
        let (s, _, e) = call(&w.app, Method::POST, path, key(Role::Insurer), Some(scan[..scan.len() / 2].to_owned())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e["detail"].as_str().unwrap().starts_with("file:"), "{e}");
        let bad = path.replace("industry=retail", "industry=piracy");
        let (s, _, e) = call(&w.app, Method::POST, &bad, key(Role::Insurer), Some(scan)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e["detail"].as_str().unwrap().contains("profile"), "{e}");
    });
}
