//! The insurer's book over HTTP: the summary and the exports contain only the caller's book
//! (an insurer its own, an admin any insurer's or everything), and a Parquet export read back
//! in Rust equals the summary's numbers.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use cyrisk_store::{NewPolicy, Role};
use tower::ServiceExt;

use crate::api::{call, runtime, world_for};

async fn get_bytes(app: &axum::Router, uri: &str, key: &str) -> (StatusCode, String, Vec<u8>) {
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
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, ctype, bytes)
}

#[test]
fn an_insurer_sees_and_exports_only_its_own_book() {
    runtime().block_on(async {
        let w = world_for("book").await;
        let key = |r: Role| w.keys.iter().find(|(k, _)| *k == r).unwrap().1.clone();
        let (admin, insurer) = (key(Role::Admin), key(Role::Insurer));
        let today = cyrisk_app::today();
        // The insurer holds a policy in force on `own`; another insurer one on `other`.
        for (org, insurer_key, limit) in [
            (&w.own, &w.insurer_id, 5_000_000.0),
            (&w.other, &w.spare_insurer_id, 2_000_000.0),
        ] {
            w.store
                .create_policy(
                    &NewPolicy {
                        org_id: org.clone(),
                        insurer_key_id: insurer_key.clone(),
                        quote_id: None,
                        starts_on: today - chrono::Duration::days(10),
                        ends_on: today + chrono::Duration::days(355),
                        currency: "CNY".into(),
                        deductible: 100_000.0,
                        limit,
                        premium: 40_000.0,
                        inception: None,
                    },
                    None,
                )
                .await
                .unwrap();
            // A stored rating for each.
            let (s, _, _) = call(
                &w.app,
                Method::GET,
                &format!("/api/v1/organizations/{org}/rating"),
                Some(&admin),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK);
        }
        let (s, _, own) = call(
            &w.app,
            Method::GET,
            "/api/v1/portfolio",
            Some(&insurer),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{own}");
        assert_eq!(
            (own["organizations"].as_u64(), own["rated"].as_u64()),
            (Some(1), Some(1)),
            "{own}"
        );
        assert_eq!(own["insurer_key_id"], w.insurer_id.as_str());
        assert_eq!(own["percentiles"][0]["org_id"], w.own.as_str());
        assert_eq!(
            own["percentiles"][0]["peer_group"], "book",
            "one organisation: the whole book"
        );
        assert_eq!(own["percentiles"][0]["percentile"], 50.0);
        let limit: f64 = own["by_grade"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["limit_in_force"].as_f64().unwrap())
            .sum();
        assert_eq!(limit, 5_000_000.0);
        // Another insurer's book: refused to an insurer, open to an admin.
        let other_book = format!("/api/v1/portfolio?insurer_key_id={}", w.spare_insurer_id);
        let (s, _, j) = call(&w.app, Method::GET, &other_book, Some(&insurer), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{j}");
        let (s, _, j) = call(&w.app, Method::GET, &other_book, Some(&admin), None).await;
        assert_eq!((s, j["organizations"].as_u64()), (StatusCode::OK, Some(1)));
        assert_eq!(j["percentiles"][0]["org_id"], w.other.as_str());
        let (s, _, all) = call(&w.app, Method::GET, "/api/v1/portfolio", Some(&admin), None).await;
        assert_eq!(
            (
                s,
                all["organizations"].as_u64(),
                all["policies_in_force"].as_u64()
            ),
            (StatusCode::OK, Some(2), Some(2))
        );
        let (s, _, j) = call(
            &w.app,
            Method::GET,
            "/api/v1/portfolio?period_days=0",
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");

        // The Parquet export of the insurer's organisations equals the summary's numbers.
        let (s, ctype, bytes) = get_bytes(
            &w.app,
            "/api/v1/portfolio/export?table=organizations&format=parquet",
            &insurer,
        )
        .await;
        assert_eq!(
            (s, ctype.as_str()),
            (StatusCode::OK, "application/vnd.apache.parquet")
        );
        let df = cyrisk_analytics::read_parquet(&bytes).unwrap();
        assert_eq!(df.height(), 1);
        let ids: Vec<String> = df
            .column("org_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap().to_owned())
            .collect();
        assert_eq!(ids, vec![w.own.clone()]);
        let limit_col: f64 = df
            .column("limit_in_force")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .flatten()
            .sum();
        assert_eq!(limit_col, limit);
        let score = df.column("score").unwrap().i64().unwrap().get(0).unwrap();
        assert_eq!(score, own["percentiles"][0]["score"].as_i64().unwrap());
        // CSV of the ratings and the policies: only the insurer's.
        for table in ["ratings", "policies"] {
            let (s, ctype, bytes) = get_bytes(
                &w.app,
                &format!("/api/v1/portfolio/export?table={table}&format=csv"),
                &insurer,
            )
            .await;
            assert_eq!(
                (s, ctype.as_str()),
                (StatusCode::OK, "text/csv; charset=utf-8")
            );
            let text = String::from_utf8(bytes).unwrap();
            assert!(
                text.contains(&w.own) && !text.contains(&w.other),
                "{table}: {text}"
            );
        }
        let (s, _, _) = get_bytes(&w.app, "/api/v1/portfolio/export?table=claims", &insurer).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    });
}

#[test]
fn the_cli_summarises_and_exports_the_stored_book() {
    let (url, org) = crate::support::sme_database("book-cli");
    let run = crate::support::cyrisk(&[
        "portfolio",
        "summary",
        "--format",
        "json",
        "--database-url",
        &url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(s["organizations"], 1);
    let run =
        crate::support::cyrisk(&["export", "--table", "organizations", "--database-url", &url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut lines = run.stdout.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("org_id,name,industry,region,size_band,currency")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("{org},Jiangcheng Trading Co.,retail"))
    );
    let bad = crate::support::cyrisk(&["export", "--table", "claims", "--database-url", &url]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    // The simulation of a book file is still `portfolio --input`.
    let bad = crate::support::cyrisk(&["portfolio"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
