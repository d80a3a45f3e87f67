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

/// A policy in force on `org` for `insurer`: began 10 days ago, 100,000 deductible, `limit`.
async fn in_force(
    store: &cyrisk_store::Store,
    org: &str,
    insurer: &str,
    limit: f64,
) -> cyrisk_store::Policy {
    let today = cyrisk_app::today();
    store
        .create_policy(
            &NewPolicy {
                org_id: org.to_owned(),
                insurer_key_id: insurer.to_owned(),
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
        .unwrap()
}

#[test]
fn an_insurer_sees_and_exports_only_its_own_book() {
    runtime().block_on(async {
        let w = world_for("book").await;
        let key = |r: Role| w.keys.iter().find(|(k, _)| *k == r).unwrap().1.clone();
        let (admin, insurer) = (key(Role::Admin), key(Role::Insurer));
        // The insurer holds a policy in force on `own`; another insurer one on `other`.
        for (org, insurer_key, limit) in [
            (&w.own, &w.insurer_id, 5_000_000.0),
            (&w.other, &w.spare_insurer_id, 2_000_000.0),
        ] {
            in_force(&w.store, org, insurer_key, limit).await;
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
        let (s, _, _) = get_bytes(&w.app, "/api/v1/portfolio/export?table=nope", &insurer).await;
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
    let bad = crate::support::cyrisk(&["export", "--table", "nope", "--database-url", &url]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    // The simulation of a book file is still `portfolio --input`.
    let bad = crate::support::cyrisk(&["portfolio"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn the_stored_book_is_simulated_as_a_job_and_quotes_take_capital_from_it() {
    runtime().block_on(async {
        let w = world_for("book-sim").await;
        let key = |r: Role| w.keys.iter().find(|(k, _)| *k == r).unwrap().1.clone();
        let (admin, insurer, enterprise) =
            (key(Role::Admin), key(Role::Insurer), key(Role::Enterprise));
        let mut own_policy = String::new();
        for (org, insurer_key, limit) in [
            (&w.own, &w.insurer_id, 5_000_000.0),
            (&w.other, &w.spare_insurer_id, 2_000_000.0),
        ] {
            let p = in_force(&w.store, org, insurer_key, limit).await;
            if org == &w.own {
                own_policy = p.id;
            }
        }
        for org in [&w.own, &w.other] {
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
        // A key that is not an insurer's: 404; a book with no policy in force: 422.
        let spare_empty = w
            .store
            .create_key("empty insurer", Role::Insurer, None, None)
            .await
            .unwrap();
        for (body, key, want) in [
            (
                r#"{"insurer_key_id": "no-such-insurer"}"#.to_owned(),
                &admin,
                StatusCode::NOT_FOUND,
            ),
            (
                format!(r#"{{"insurer_key_id": "{}"}}"#, spare_empty.id),
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (String::new(), &spare_empty.key, StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let (s, _, j) = call(
                &w.app,
                Method::POST,
                "/api/v1/portfolio/simulations",
                Some(key),
                Some(body.clone()),
            )
            .await;
            assert_eq!(s, want, "{body}: {j}");
        }
        let (s, _, _) = call(
            &w.app,
            Method::GET,
            "/api/v1/portfolio?insurer_key_id=no-such-insurer",
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Bad requests name the field.
        for body in [
            r#"{"trials": 10}"#,
            r#"{"seed": -1}"#,
            r#"{"trails": 1000}"#,
            "[null, null]",
            "7",
        ] {
            let (s, _, j) = call(
                &w.app,
                Method::POST,
                "/api/v1/portfolio/simulations",
                Some(&insurer),
                Some(body.into()),
            )
            .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {j}");
        }
        let (s, _, j) = call(
            &w.app,
            Method::POST,
            "/api/v1/portfolio/simulations",
            Some(&insurer),
            Some(format!(r#"{{"insurer_key_id": "{}"}}"#, w.spare_insurer_id)),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{j}");

        // The insurer's book: one policy.
        let (s, _, queued) = call(
            &w.app,
            Method::POST,
            "/api/v1/portfolio/simulations",
            Some(&insurer),
            Some(r#"{"trials": 10000, "seed": 7}"#.into()),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{queued}");
        let id = queued["id"].as_str().unwrap().to_owned();
        // While it is queued: the same request joins it, another is refused.
        let (s, _, again) = call(
            &w.app,
            Method::POST,
            "/api/v1/portfolio/simulations",
            Some(&insurer),
            Some(r#"{"seed": 7, "trials": 10000}"#.into()),
        )
        .await;
        assert_eq!((s, again["id"].as_str()), (StatusCode::ACCEPTED, Some(id.as_str())));
        let (s, _, j) = call(
            &w.app,
            Method::POST,
            "/api/v1/portfolio/simulations",
            Some(&insurer),
            Some(r#"{"trials": 20000}"#.into()),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{j}");
        assert!(j["detail"].as_str().unwrap().contains(&id), "{j}");
        assert!(crate::api::drain(&w.store).await >= 1);
        let uri = format!("/api/v1/portfolio/simulations/{id}");
        let (s, _, done) = call(&w.app, Method::GET, &uri, Some(&insurer), None).await;
        assert_eq!((s, done["state"].as_str()), (StatusCode::OK, Some("done")), "{done}");
        let sim = &done["simulation"];
        assert_eq!(
            (sim["policies"].as_i64(), sim["trials"].as_i64(), sim["seed"].as_i64()),
            (Some(1), Some(10000), Some(7))
        );
        let (el, pml100, pml200, tvar) = (
            sim["expected_loss"].as_f64().unwrap(),
            sim["pml_100"].as_f64().unwrap(),
            sim["pml_200"].as_f64().unwrap(),
            sim["tvar_995"].as_f64().unwrap(),
        );
        assert!(el > 0.0 && pml100 <= pml200 && pml200 <= tvar, "{sim}");
        assert!(tvar <= 5_000_000.0 * 20.0, "{sim}");
        // The Fortinet appliance and the KEV-listed FortiOS flaw: one product, one vendor.
        let acc = &done["outcome"]["accumulation"];
        let keys = |dim: &str| -> Vec<String> {
            acc[dim]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["key"].as_str().unwrap().to_owned())
                .collect()
        };
        assert!(keys("product").contains(&"fortinet fortios".to_owned()), "{acc}");
        assert!(keys("vendor").contains(&"fortinet".to_owned()), "{acc}");
        // No cloud provider known for it: the dimension is there, empty.
        assert!(keys("provider").is_empty(), "{acc}");
        let fortinet = acc["vendor"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == "fortinet")
            .unwrap();
        assert_eq!(
            (fortinet["policies"].as_u64(), fortinet["total_limit"].as_f64()),
            (Some(1), Some(5_000_000.0))
        );
        assert!(done["outcome"]["left_out"].as_array().unwrap().is_empty());
        // Another tenant cannot see it (another insurer, the insured); an admin can; the list
        // is per book.
        let rival = w
            .store
            .create_key("rival insurer", Role::Insurer, None, None)
            .await
            .unwrap()
            .key;
        for k in [&rival, &enterprise] {
            let (s, _, j) = call(&w.app, Method::GET, &uri, Some(k), None).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{j}");
        }
        let (s, _, j) = get_bytes(
            &w.app,
            &format!("/api/v1/portfolio/export?table=simulation&simulation_id={id}"),
            &rival,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{j:?}");
        let (s, _, list) = call(
            &w.app,
            Method::GET,
            "/api/v1/portfolio/simulations",
            Some(&rival),
            None,
        )
        .await;
        assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 0));
        let (s, _, _) = call(&w.app, Method::GET, &uri, Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, list) = call(
            &w.app,
            Method::GET,
            "/api/v1/portfolio/simulations",
            Some(&insurer),
            None,
        )
        .await;
        assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 1), "{list}");
        assert_eq!(list[0]["id"], id.as_str());
        let (_, _, list) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/portfolio/simulations?insurer_key_id={}", w.spare_insurer_id),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(list.as_array().unwrap().len(), 0, "{list}");

        // The per-policy export: the one policy holds the whole tail.
        let (s, _, bytes) = get_bytes(
            &w.app,
            "/api/v1/portfolio/export?table=simulation&format=parquet",
            &insurer,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let df = cyrisk_analytics::read_parquet(&bytes).unwrap();
        assert_eq!(df.height(), 1);
        let col = |name: &str| df.column(name).unwrap().f64().unwrap().get(0).unwrap();
        assert!((col("co_tvar_share") - 1.0).abs() < 1e-9);
        assert!((col("expected_loss") - el).abs() <= 1e-6 * el);
        assert_eq!(
            df.column("policy_id").unwrap().str().unwrap().get(0),
            Some(own_policy.as_str())
        );
        let (s, _, _) = get_bytes(
            &w.app,
            "/api/v1/portfolio/export?table=simulation&simulation_id=no-such",
            &insurer,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // The summary shows the accumulation and the loss ratio by underwriting year.
        let (s, _, summary) =
            call(&w.app, Method::GET, "/api/v1/portfolio", Some(&insurer), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(summary["accumulation"]["simulation_id"], id.as_str(), "{summary}");
        let years = summary["loss_ratio_by_year"].as_array().unwrap();
        assert_eq!(years.len(), 1, "{summary}");
        assert_eq!(years[0]["policies"], 1);

        // The insurer's quote on an organisation of its simulated book takes its capital
        // from the book's co-TVaR; an admin's quote does not.
        let quote = |k: String| {
            let app = w.app.clone();
            let body = serde_json::json!({
                "organization_id": w.own, "deductible": 100000.0, "limit": 5000000.0, "trials": 5000
            })
            .to_string();
            async move { call(&app, Method::POST, "/api/v1/quotes", Some(&k), Some(body)).await }
        };
        let (s, _, q) = quote(insurer.clone()).await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert_eq!(q["quote"]["book_capital"]["simulation_id"], id.as_str(), "{q}");
        assert_eq!(q["quote"]["premium"]["capital_method"], "book_co_tvar");
        // Capital = the multiple × the layer's expected loss, at most its stand-alone need.
        let multiple = q["quote"]["book_capital"]["co_tvar_multiple"]
            .as_f64()
            .unwrap();
        let pure = q["quote"]["premium"]["pure_premium"].as_f64().unwrap();
        let capital = q["quote"]["premium"]["capital"].as_f64().unwrap();
        let alone = q["quote"]["simulation"]["tvar"]["99.5"].as_f64().unwrap() - pure;
        assert!(multiple > 0.0, "{q}");
        let want = (multiple * pure).min(alone);
        assert!((capital - want).abs() <= 1e-9 * want.max(1.0), "{capital} vs {want}: {q}");
        // The insured sees the quote, not the insurer's book capital.
        let (s, _, listed) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/organizations/{}/quotes", w.own),
            Some(&enterprise),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .all(|q| q["quote"].get("book_capital").is_none()),
            "{listed}"
        );
        let (_, _, listed) = call(
            &w.app,
            Method::GET,
            &format!("/api/v1/organizations/{}/quotes", w.own),
            Some(&insurer),
            None,
        )
        .await;
        assert!(listed[0]["quote"].get("book_capital").is_some(), "{listed}");
        let (s, _, q) = quote(admin.clone()).await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert!(q["quote"].get("book_capital").is_none(), "{q}");
        assert_ne!(q["quote"]["premium"]["capital_method"], "book_co_tvar");

        // An admin's run over every policy in force (a JSON null body: the defaults): both.
        let (s, _, j) = call(
            &w.app,
            Method::POST,
            "/api/v1/portfolio/simulations",
            Some(&admin),
            Some("null".into()),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{j}");
        assert_eq!(j["request"]["trials"], 10_000, "{j}");
        crate::api::drain(&w.store).await;
        let (_, _, list) = call(
            &w.app,
            Method::GET,
            "/api/v1/portfolio/simulations",
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(list[0]["policies"], 2, "{list}");
        // The quotes export: the insurer's quote only (not the admin's), with its terms.
        let (s, _, bytes) = get_bytes(
            &w.app,
            "/api/v1/portfolio/export?table=quotes&format=parquet",
            &insurer,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let df = cyrisk_analytics::read_parquet(&bytes).unwrap();
        assert_eq!(df.height(), 1, "one quote by the insurer");
        let method = df.column("capital_method").unwrap().str().unwrap().get(0);
        assert_eq!(method, Some("book_co_tvar"));
        let limit = df.column("limit").unwrap().f64().unwrap().get(0);
        assert_eq!(limit, Some(5_000_000.0));
        let (_, _, bytes) = get_bytes(
            &w.app,
            "/api/v1/portfolio/export?table=quotes&format=csv",
            &admin,
        )
        .await;
        let csv = String::from_utf8(bytes).unwrap();
        assert_eq!(
            csv.lines().next(),
            Some("quote_id,org_id,key_id,created_at,rating_id,score,grade,currency,deductible,limit,aggregate_limit,trials,layer_expected_loss,premium,rate_on_line,capital_method,capital")
        );
        assert_eq!(csv.lines().count(), 3, "the admin sees both quotes: {csv}");
        // A simulation id applies only to the simulation table.
        let (s, _, _) = get_bytes(
            &w.app,
            &format!("/api/v1/portfolio/export?table=organizations&simulation_id={id}"),
            &insurer,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // Claims export: the header, no rows yet.
        let (s, _, bytes) =
            get_bytes(&w.app, "/api/v1/portfolio/export?table=claims", &insurer).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            String::from_utf8(bytes).unwrap().lines().next(),
            Some("claim_id,policy_id,org_id,insurer_key_id,loss_on,notified_on,peril,status,closed_on,currency,paid,outstanding,incurred")
        );
    });
}
