//! The one-click risk report over HTTP: each example organisation in both languages, with the
//! score the API returns, the security headers of an HTML answer, and the same bytes twice; the
//! PDF rendered to pixels (not blank) and to text (name and score).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use cyrisk_core::Bundle;
use cyrisk_store::{LoadTarget, Principal, Role, Store};
use tower::ServiceExt;

use crate::api::{app_state, call, runtime};
use crate::support::{pdf_first_page_grey, pdf_text, pdf_tools, root, scratch};

async fn get(
    app: &axum::Router,
    uri: &str,
    key: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method(Method::GET)
                .uri(uri)
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, headers, bytes)
}

#[test]
fn every_example_reports_in_both_languages_with_its_score_and_the_same_bytes_twice() {
    runtime().block_on(async {
        let dir = scratch("report");
        let store = Store::open(&format!("sqlite://{}", dir.join("cyrisk.db").display()))
            .await
            .unwrap();
        let key = store
            .create_key("admin", Role::Admin, None, None)
            .await
            .unwrap()
            .key;
        let app = cyrisk_api::app(app_state(store.clone()), &cyrisk_api::Options::default());
        for name in ["sme-external-scan", "manufacturer", "power-utility"] {
            let text =
                std::fs::read_to_string(root().join(format!("examples/{name}.json"))).unwrap();
            let b = Bundle::from_json(&text).unwrap();
            let org = store
                .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                .await
                .unwrap()
                .org_id;
            let (s, _, rating) = call(
                &app,
                Method::GET,
                &format!("/api/v1/organizations/{org}/rating"),
                Some(&key),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            let score = rating["score"].as_i64().unwrap();
            for (lang, title) in [("zh-CN", "网络安全风险报告"), ("en", "Cyber risk report")]
            {
                let uri = format!("/api/v1/organizations/{org}/report?format=html&lang={lang}");
                let (s, h, body) = get(&app, &uri, &key).await;
                assert_eq!(s, StatusCode::OK, "{name} {lang}");
                assert_eq!(h["content-type"], "text/html; charset=utf-8");
                let csp = h["content-security-policy"].to_str().unwrap();
                assert!(
                    csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
                    "{csp}"
                );
                assert!(!csp.contains("script-src"), "no script may run: {csp}");
                assert_eq!(h["x-content-type-options"], "nosniff");
                let html = String::from_utf8(body.clone()).unwrap();
                assert!(html.contains(title), "{name} {lang}");
                assert!(html.contains(b.profile().name.as_str()), "{name} {lang}");
                assert!(
                    html.contains(&format!(r#"id="score">{score}<"#)),
                    "{name} {lang}: score {score}"
                );
                assert!(
                    html.contains("<svg") && !html.contains("<script"),
                    "{name} {lang}"
                );
                // Under five rated organisations in all: no peer percentile to show.
                assert!(!html.contains(r#"id="peers""#), "{name} {lang}");
                if lang == "en" {
                    assert!(
                        html.contains("What to fix first") && html.contains("Regulatory duties"),
                        "{name}"
                    );
                    // The reporting duty of an organisation in China: 1 hour for a CIIO, else 4.
                    let hours = if b.profile().ciio {
                        "within 1 hour"
                    } else {
                        "within 4 hours"
                    };
                    assert!(html.contains(hours), "{name}: {hours}");
                    if b.profile().ciio {
                        assert!(
                            html.contains("critical-information-infrastructure operator"),
                            "{name}"
                        );
                    }
                }
                let (_, _, again) = get(&app, &uri, &key).await;
                assert_eq!(again, body, "{name} {lang}: the same bytes twice");
            }
        }
        // Two more organisations (renamed copies of the SME) make five rated: each report's
        // peer percentile is then the one the book summary gives it among everything rated
        // (an admin's book without an insurer is every organisation).
        for copy in ["Copy One Trading Co.", "Copy Two Trading Co."] {
            let mut v: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(root().join("examples/sme-external-scan.json")).unwrap(),
            )
            .unwrap();
            v["profile"]["name"] = copy.into();
            let b = Bundle::from_json(&v.to_string()).unwrap();
            let org = store
                .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                .await
                .unwrap()
                .org_id;
            let (s, _, _) = call(
                &app,
                Method::GET,
                &format!("/api/v1/organizations/{org}/rating"),
                Some(&key),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK);
        }
        let (s, _, book) = call(&app, Method::GET, "/api/v1/portfolio", Some(&key), None).await;
        assert_eq!(s, StatusCode::OK, "{book}");
        let percentiles = book["percentiles"].as_array().unwrap();
        assert_eq!(percentiles.len(), 5);
        for p in percentiles {
            let org = p["org_id"].as_str().unwrap();
            let (_, _, body) = get(&app, &format!("/api/v1/organizations/{org}/report?lang=en"), &key).await;
            let html = String::from_utf8(body).unwrap();
            let group = match p["peer_group"].as_str().unwrap() {
                "book" => "organisations rated by cyrisk",
                "industry" => "rated organisations of its industry",
                _ => "rated organisations of its industry and size",
            };
            let line = format!(
                r#"id="peers">Peer percentile: {:.1} (0–100, higher is better) among {} {group}<"#,
                p["percentile"].as_f64().unwrap(),
                p["peers"]
            );
            assert!(html.contains(&line), "{line}\n{html}");
        }
        // With a quote: its terms and the layer's loss exceedance curve.
        let orgs = store.list_organizations(10, 0).await.unwrap();
        let org = &orgs[0].id;
        let q = serde_json::json!({ "organization_id": org, "deductible": 100000, "limit": 5000000, "trials": 20000 });
        let (s, _, _) = call(&app, Method::POST, "/api/v1/quotes", Some(&key), Some(q.to_string())).await;
        assert_eq!(s, StatusCode::OK);
        let (_, _, body) = get(&app, &format!("/api/v1/organizations/{org}/report?lang=en"), &key).await;
        let html = String::from_utf8(body).unwrap();
        assert!(html.contains("Latest quote: 5,000,000"), "the quote's terms");
        assert!(html.contains("<polyline"), "the exceedance curve");
        // That quote is the admin's: an insurer sees only its own quotes, an assessor none.
        let insurer = store.create_key("insurer", Role::Insurer, None, None).await.unwrap();
        store.link(&insurer.id, org, "test").await.unwrap();
        let assessor = store.create_key("assessor", Role::Assessor, Some(org), None).await.unwrap();
        for k in [&insurer.key, &assessor.key] {
            let (s, _, body) = get(&app, &format!("/api/v1/organizations/{org}/report?lang=en"), k).await;
            assert_eq!(s, StatusCode::OK);
            let html = String::from_utf8(body).unwrap();
            assert!(!html.contains("Latest quote"), "another party's quote leaked");
        }
        // A language or format that is not offered.
        let orgs = store.list_organizations(1, 0).await.unwrap();
        let (s, h, _) = get(
            &app,
            &format!("/api/v1/organizations/{}/report?lang=fr", orgs[0].id),
            &key,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(h["content-type"], "application/problem+json");
        let (s, _, _) = get(
            &app,
            &format!("/api/v1/organizations/{}/report?format=docx", orgs[0].id),
            &key,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    });
}

#[test]
fn every_example_has_a_pdf_in_both_languages_that_renders_with_its_name_and_score() {
    if !pdf_tools() {
        return;
    }
    runtime().block_on(async {
        let dir = scratch("report-pdf");
        let store = Store::open(&format!("sqlite://{}", dir.join("cyrisk.db").display()))
            .await
            .unwrap();
        let key = store
            .create_key("admin", Role::Admin, None, None)
            .await
            .unwrap()
            .key;
        let app = cyrisk_api::app(app_state(store.clone()), &cyrisk_api::Options::default());
        for name in ["sme-external-scan", "manufacturer", "power-utility"] {
            let text =
                std::fs::read_to_string(root().join(format!("examples/{name}.json"))).unwrap();
            let b = Bundle::from_json(&text).unwrap();
            let org = store
                .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                .await
                .unwrap()
                .org_id;
            let (_, _, rating) = call(
                &app,
                Method::GET,
                &format!("/api/v1/organizations/{org}/rating"),
                Some(&key),
                None,
            )
            .await;
            let score = rating["score"].as_i64().unwrap();
            for (lang, heading) in [("zh-CN", "影响评分的因素"), ("en", "What moves the score")]
            {
                let uri = format!("/api/v1/organizations/{org}/report?format=pdf&lang={lang}");
                let (s, h, pdf) = get(&app, &uri, &key).await;
                assert_eq!(
                    s,
                    StatusCode::OK,
                    "{name} {lang}: {}",
                    String::from_utf8_lossy(&pdf)
                );
                assert_eq!(h["content-type"], "application/pdf");
                let disposition = h["content-disposition"].to_str().unwrap();
                assert_eq!(
                    disposition,
                    format!("attachment; filename=\"cyrisk-report-{org}-{lang}.pdf\"")
                );
                assert!(pdf.starts_with(b"%PDF-"), "{name} {lang}");
                let (_, _, again) = get(&app, &uri, &key).await;
                assert!(again == pdf, "{name} {lang}: the same bytes twice");
                let file = dir.join(format!("{name}-{lang}.pdf"));
                std::fs::write(&file, &pdf).unwrap();
                // The cover is not blank: some pixels are dark (text), most are paper.
                let pixels = pdf_first_page_grey(&file);
                let dark = pixels.iter().filter(|p| **p < 128).count();
                assert!(
                    pixels.len() > 10_000,
                    "{name} {lang}: {} pixels",
                    pixels.len()
                );
                assert!(
                    dark > pixels.len() / 500 && dark < pixels.len() / 2,
                    "{name} {lang}: {dark} dark of {} pixels",
                    pixels.len()
                );
                // The text layer has the name, the score and the language's own words (CJK
                // glyphs map back to their characters).
                let words = pdf_text(&file);
                assert!(
                    words.contains(b.profile().name.as_str()),
                    "{name} {lang}: {words}"
                );
                assert!(
                    words.contains(&score.to_string()),
                    "{name} {lang}: score {score}"
                );
                assert!(words.contains(heading), "{name} {lang}: {heading}");
            }
        }
    });
}

#[test]
fn the_cli_writes_the_pdf_report_to_a_file_and_refuses_unknown_formats() {
    let (url, org) = crate::support::sme_database("report-cli");
    let bad = crate::support::cyrisk(&[
        "report",
        "--org",
        &org,
        "--format",
        "docx",
        "--database-url",
        &url,
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("html or pdf"), "{}", bad.stderr);
    if !pdf_tools() {
        return;
    }
    let file = scratch("report-cli-out").join("report.pdf");
    let run = crate::support::cyrisk(&[
        "report",
        "--org",
        &org,
        "--format",
        "pdf",
        "--lang",
        "en",
        "-o",
        file.to_str().unwrap(),
        "--database-url",
        &url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("wrote "), "{}", run.stdout);
    let pdf = std::fs::read(&file).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf_text(&file).contains("Cyber risk report"));
}
