//! The CLI's handling of bad input: a clear message naming the field and the value, exit
//! code 2, and nothing written.

use crate::support::{cyrisk, root, scratch};

fn example() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("examples/manufacturer.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Writes a bundle, rates it with `--output`, and checks the failure.
fn check_rejected(name: &str, bundle: &str, expect: &[&str]) {
    let dir = scratch(name);
    let input = dir.join("bundle.json");
    std::fs::write(&input, bundle).unwrap();
    let output = dir.join("rating.json");
    let run = cyrisk(&[
        "rate",
        "--input",
        input.to_str().unwrap(),
        "--as-of",
        "2026-11-21",
        "--format",
        "json",
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{name}: exit code; stderr: {}", run.stderr);
    assert!(run.stdout.is_empty(), "{name}: printed {}", run.stdout);
    for e in expect {
        assert!(
            run.stderr.contains(e),
            "{name}: stderr lacks {e:?}: {}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("bundle.json"),
        "{name}: stderr does not name the file: {}",
        run.stderr
    );
    assert!(!output.exists(), "{name}: wrote an output file");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "{name}: left files behind: {leftovers:?}"
    );
}

#[test]
fn malformed_json_is_rejected_with_its_position() {
    let text = serde_json::to_string_pretty(&example()).unwrap();
    check_rejected("truncated", &text[..text.len() / 2], &["line"]);
    check_rejected("empty", "", &["EOF"]);
}

#[test]
fn unknown_industry_names_field_and_value() {
    let mut b = example();
    b["profile"]["industry"] = "mining".into();
    check_rejected("industry", &b.to_string(), &["profile.industry", "mining"]);
}

#[test]
fn negative_revenue_names_field_and_value() {
    let mut b = example();
    b["profile"]["annual_revenue"] = (-5.0).into();
    check_rejected("revenue", &b.to_string(), &["profile.annual_revenue", "-5"]);
}

#[test]
fn fixed_before_found_names_field_and_dates() {
    let mut b = example();
    b["findings"][0]["first_seen"] = "2026-02-01".into();
    b["findings"][0]["fixed_at"] = "2026-01-01".into();
    check_rejected(
        "dates",
        &b.to_string(),
        &["findings[0].fixed_at", "2026-01-01", "2026-02-01"],
    );
}

#[test]
fn bad_cvss_vector_names_field_and_value() {
    let mut b = example();
    b["findings"][2]["cvss_vector"] = "CVSS:3.1/AV:Q/AC:L".into();
    check_rejected(
        "cvss",
        &b.to_string(),
        &["findings[2].cvss_vector", "CVSS:3.1/AV:Q/AC:L"],
    );
}

#[test]
fn unknown_field_and_dangling_reference_are_rejected() {
    let mut b = example();
    b["profile"]["revenue"] = 1.into();
    check_rejected("unknown-field", &b.to_string(), &["profile", "revenue"]);
    let mut b = example();
    b["findings"][1]["asset"] = "nope".into();
    check_rejected("dangling", &b.to_string(), &["findings[1].asset", "nope"]);
}

#[test]
fn missing_input_file_is_a_usage_error() {
    let run = cyrisk(&["rate", "--input", "/nonexistent/bundle.json"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("/nonexistent/bundle.json"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let input = root().join("examples/manufacturer.json");
    let input = input.to_str().unwrap();
    let run = cyrisk(&["rate", "--input", input, "--as-of", "21/11/2026"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("21/11/2026"), "{}", run.stderr);
    let run = cyrisk(&["plan", "--input", input, "--top", "0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn output_file_is_written_when_input_is_good() {
    let dir = scratch("good-output");
    let output = dir.join("rating.json");
    let input = root().join("examples/sme-external-scan.json");
    let run = cyrisk(&[
        "rate",
        "--input",
        input.to_str().unwrap(),
        "--as-of",
        "2026-11-21",
        "--format",
        "json",
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert!(v["score"].as_i64().is_some());
}

#[test]
fn model_check_accepts_the_shipped_model_and_names_bad_fields() {
    let model = root().join("models/rating-v1.toml");
    let run = cyrisk(&["model", "check", model.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("cyrisk-rating 1.0.0"), "{}", run.stdout);

    let dir = scratch("bad-model");
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(&model)
        .unwrap()
        .replace("kev_floor = 0.9", "kev_floor = -2");
    std::fs::write(&bad, text).unwrap();
    let run = cyrisk(&["model", "check", bad.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("exploitation.kev_floor") && run.stderr.contains("-2"),
        "{}",
        run.stderr
    );

    let input = root().join("examples/sme-external-scan.json");
    let run = cyrisk(&[
        "rate",
        "--input",
        input.to_str().unwrap(),
        "--model",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("exploitation.kev_floor"),
        "{}",
        run.stderr
    );
}

#[test]
fn kev_file_marks_findings_and_bad_kev_file_is_rejected() {
    let input = root().join("examples/sme-external-scan.json");
    let input = input.to_str().unwrap();
    let dir = scratch("kev");
    let kev = dir.join("kev.json");
    std::fs::write(
        &kev,
        r#"{"catalogVersion":"test-1","dateReleased":"2026-01-01","vulnerabilities":[
        {"cveID":"CVE-2021-23017","vendorProject":"F5","product":"Nginx","dateAdded":"2026-01-01","dueDate":"2026-01-22"}]}"#,
    )
    .unwrap();
    let run = cyrisk(&[
        "rate",
        "--input",
        input,
        "--as-of",
        "2026-11-21",
        "--format",
        "json",
        "--kev",
        kev.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["sources"]["kev"]["catalog_version"], "test-1");
    assert_eq!(v["sources"]["kev"]["findings_marked"], 1);

    let none = cyrisk(&[
        "rate",
        "--input",
        input,
        "--as-of",
        "2026-11-21",
        "--format",
        "json",
        "--no-kev",
    ]);
    let v2: serde_json::Value = serde_json::from_str(&none.stdout).unwrap();
    assert!(v2["sources"]["kev"].is_null());
    // Marking a CVE as known-exploited can only lower the score.
    assert!(v["score"].as_i64() <= v2["score"].as_i64());

    std::fs::write(&kev, "{\"catalogVersion\": 3}").unwrap();
    let run = cyrisk(&["rate", "--input", input, "--kev", kev.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("catalogVersion"), "{}", run.stderr);
}

#[test]
fn simulate_and_price_from_a_bundle() {
    let input = root().join("examples/manufacturer.json");
    let input = input.to_str().unwrap();
    let args = [
        "--input",
        input,
        "--as-of",
        "2026-11-21",
        "--trials",
        "20000",
        "--deductible",
        "100000",
        "--limit",
        "5000000",
        "--aggregate-limit",
        "10000000",
        "--format",
        "json",
    ];
    let sim = cyrisk(&[&["simulate"], &args[..]].concat());
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    let v: serde_json::Value = serde_json::from_str(&sim.stdout).unwrap();
    for key in [
        "trials",
        "seed",
        "expected_loss",
        "layer",
        "std_dev",
        "var",
        "tvar",
        "ep_curve",
        "by_coverage",
    ] {
        assert!(v.get(key).is_some(), "simulate output lacks {key}");
    }
    for key in [
        "deductible",
        "limit",
        "aggregate_limit",
        "expected_loss",
        "attach_probability",
    ] {
        assert!(v["layer"].get(key).is_some(), "layer lacks {key}");
    }
    for key in ["95", "99", "99.5"] {
        assert!(v["var"][key].as_f64().unwrap() <= v["tvar"][key].as_f64().unwrap());
    }
    assert_eq!(v["source"]["grade"], "E");
    let price = cyrisk(&[&["price"], &args[..]].concat());
    assert_eq!(price.code, 0, "{}", price.stderr);
    let p: serde_json::Value = serde_json::from_str(&price.stdout).unwrap();
    let prem = &p["premium"];
    let pure = prem["pure_premium"].as_f64().unwrap();
    let tech = prem["technical_premium"].as_f64().unwrap();
    assert_eq!(pure, p["layer"]["expected_loss"].as_f64().unwrap());
    // The build-up of pricing v2: pure premium, parameter-risk load (0.5 · σ · pure), capital
    // allocated from the reference book at 10 %, expenses 28 % and profit 5 % of premium.
    let sigma = p["source"]["log_rate_sigma"].as_f64().unwrap();
    let param = prem["parameter_risk_load"].as_f64().unwrap();
    assert!((param - 0.5 * sigma * pure).abs() < 1e-6 * pure);
    assert_eq!(prem["capital_method"], "book_covariance");
    let risk = prem["risk_load"].as_f64().unwrap();
    assert!((risk - 0.10 * prem["capital"].as_f64().unwrap()).abs() < 1e-6 * tech);
    let rebuilt = (pure + param + risk) / (1.0 - 0.28 - 0.05);
    assert!((tech - rebuilt).abs() < 1e-6 * tech);
    let ratio = tech / pure;
    assert!(
        (1.4..=2.5).contains(&ratio),
        "technical premium ÷ expected loss {ratio}"
    );
    // Increased-limit factors on the technical premium: increasing and concave (each extra
    // unit of limit costs less than the one before).
    let ilf = p["ilf"].as_array().unwrap();
    let points: Vec<(f64, f64)> = ilf
        .iter()
        .map(|r| (r["limit"].as_f64().unwrap(), r["factor"].as_f64().unwrap()))
        .collect();
    assert!(points.windows(2).all(|w| w[0].1 < w[1].1), "{points:?}");
    let slopes: Vec<f64> = points
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0))
        .collect();
    assert!(
        slopes.windows(2).all(|s| s[1] < s[0]),
        "not concave: {points:?}"
    );
    assert!(
        ilf.iter()
            .any(|r| r["limit"] == 5_000_000.0 && r["factor"] == 1.0)
    );

    // Priced into a book: capital is the layer's co-TVaR in the simulated book.
    let book = root().join("examples/book-1000.json");
    let into = cyrisk(
        &[
            &["price"],
            &args[..],
            &["--book", book.to_str().unwrap(), "--book-trials", "20000"],
        ]
        .concat(),
    );
    assert_eq!(into.code, 0, "{}", into.stderr);
    let q: serde_json::Value = serde_json::from_str(&into.stdout).unwrap();
    assert_eq!(q["premium"]["capital_method"], "book_co_tvar");
    let ratio = q["premium"]["technical_premium"].as_f64().unwrap()
        / q["premium"]["pure_premium"].as_f64().unwrap();
    assert!((1.4..=2.5).contains(&ratio), "into the book: {ratio}");
}

#[test]
fn simulate_a_scenario_file_with_both_methods() {
    let dir = scratch("scenario");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "name = \"check\"\nfrequency = 0.1\n[severity]\ninterval = [100000.0, 1000000.0]\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let mc = cyrisk(&[
        "simulate",
        "--scenario",
        f,
        "--deductible",
        "50000",
        "--limit",
        "500000",
        "--trials",
        "400000",
        "--format",
        "json",
    ]);
    assert_eq!(mc.code, 0, "{}", mc.stderr);
    let ex = cyrisk(&[
        "simulate",
        "--scenario",
        f,
        "--deductible",
        "50000",
        "--limit",
        "500000",
        "--method",
        "panjer",
        "--format",
        "json",
    ]);
    assert_eq!(ex.code, 0, "{}", ex.stderr);
    let mc: serde_json::Value = serde_json::from_str(&mc.stdout).unwrap();
    let ex: serde_json::Value = serde_json::from_str(&ex.stdout).unwrap();
    let e = ex["layer"]["expected_loss"].as_f64().unwrap();
    assert!((e - 28_465.50).abs() / 28_465.50 < 0.005, "{e}");
    let m = mc["layer"]["expected_loss"].as_f64().unwrap();
    let se = mc["layer"]["standard_error"].as_f64().unwrap();
    assert!((m - 28_465.50).abs() < 3.0 * se, "{m} ± {se}");
}

#[test]
fn bad_money_input_is_a_usage_error() {
    let input = root().join("examples/sme-external-scan.json");
    let input = input.to_str().unwrap();
    for (args, expect) in [
        (vec!["--limit", "-5"], "limit"),
        (
            vec!["--deductible", "2000000", "--limit", "1000000"],
            "deductible",
        ),
        (vec!["--trials", "0"], "trials"),
        (vec!["--deductible", "NaN"], "deductible"),
        (vec!["--sublimit", "extortionn=5"], "extortionn"),
        (
            vec!["--limit", "1000", "--aggregate-limit", "10"],
            "aggregate_limit",
        ),
    ] {
        let run = cyrisk(&[&["simulate", "--input", input], &args[..]].concat());
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let dir = scratch("bad-scenario");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "frequency = 0.1\n[severity]\ninterval = [5.0, 1.0]\n",
    )
    .unwrap();
    let run = cyrisk(&["simulate", "--scenario", file.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("severity.interval"), "{}", run.stderr);
}

#[test]
fn demo_book_is_reproducible_and_portfolio_runs_on_it() {
    let dir = scratch("demo-book");
    let a = dir.join("a.json");
    let b = dir.join("b.json");
    for p in [&a, &b] {
        let run = cyrisk(&[
            "demo",
            "book",
            "--size",
            "40",
            "--seed",
            "3",
            "--as-of",
            "2026-11-21",
            "--output",
            p.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let run = cyrisk(&[
        "portfolio",
        "--input",
        a.to_str().unwrap(),
        "--trials",
        "2000",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["insureds"], 40);
    assert!(v["pml"]["100"].as_f64().unwrap() <= v["pml"]["200"].as_f64().unwrap());
    // The shipped example book is what the documented command writes.
    let shipped = dir.join("book-1000.json");
    let run = cyrisk(&[
        "demo",
        "book",
        "--size",
        "1000",
        "--seed",
        "7",
        "--as-of",
        "2026-11-21",
        "--output",
        shipped.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0);
    crate::support::ensure_file_contents(
        &root().join("examples/book-1000.json"),
        &std::fs::read_to_string(&shipped).unwrap(),
    );
}

#[test]
fn operator_commands_on_a_sqlite_database() {
    let dir = scratch("operator-db");
    let url = format!("sqlite://{}", dir.join("cyrisk.db").display());
    let bundle = root().join("examples/power-utility.json");
    let bundle = bundle.to_str().unwrap();
    assert_eq!(cyrisk(&["migrate", "--database-url", &url]).code, 0);
    let load = cyrisk(&[
        "orgs",
        "load",
        bundle,
        "--database-url",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(load.code, 0, "{}", load.stderr);
    let v: serde_json::Value = serde_json::from_str(&load.stdout).unwrap();
    let org = v["org_id"].as_str().unwrap().to_owned();
    assert_eq!(v["created"], true);
    let again: serde_json::Value = serde_json::from_str(
        &cyrisk(&[
            "orgs",
            "load",
            bundle,
            "--database-url",
            &url,
            "--format",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(again["org_id"], org.as_str());
    assert_eq!(again["inputs_version"], 2);
    let list: serde_json::Value = serde_json::from_str(
        &cyrisk(&["orgs", "list", "--database-url", &url, "--format", "json"]).stdout,
    )
    .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);

    let key = cyrisk(&[
        "keys",
        "create",
        "--role",
        "enterprise",
        "--name",
        "grid portal",
        "--org",
        &org,
        "--database-url",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(key.code, 0, "{}", key.stderr);
    let k: serde_json::Value = serde_json::from_str(&key.stdout).unwrap();
    assert!(k["key"].as_str().unwrap().starts_with("cyk_") && k["id"].is_string());
    let keys = cyrisk(&["keys", "list", "--database-url", &url, "--format", "json"]);
    assert!(
        !keys.stdout.contains(k["key"].as_str().unwrap()),
        "the key itself is listed"
    );
    assert_eq!(
        cyrisk(&[
            "keys",
            "revoke",
            k["id"].as_str().unwrap(),
            "--database-url",
            &url
        ])
        .code,
        0
    );
    let twice = cyrisk(&[
        "keys",
        "revoke",
        k["id"].as_str().unwrap(),
        "--database-url",
        &url,
    ]);
    assert_eq!(twice.code, 2, "{}", twice.stderr);

    // A revoked key cannot be assigned, nor an insurer key; an assessor key can.
    let revoked = cyrisk(&[
        "keys",
        "assign",
        k["id"].as_str().unwrap(),
        "--org",
        &org,
        "--database-url",
        &url,
    ]);
    assert_eq!(revoked.code, 2, "{}", revoked.stderr);
    assert!(revoked.stderr.contains("not found"), "{}", revoked.stderr);
    let insurer: serde_json::Value = serde_json::from_str(
        &cyrisk(&[
            "keys",
            "create",
            "--role",
            "insurer",
            "--name",
            "uw",
            "--database-url",
            &url,
            "--format",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    let refused = cyrisk(&[
        "keys",
        "assign",
        insurer["id"].as_str().unwrap(),
        "--org",
        &org,
        "--database-url",
        &url,
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("only assessor keys"),
        "{}",
        refused.stderr
    );
    let assessor: serde_json::Value = serde_json::from_str(
        &cyrisk(&[
            "keys",
            "create",
            "--role",
            "assessor",
            "--name",
            "audit firm",
            "--org",
            &org,
            "--database-url",
            &url,
            "--format",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    let assigned = cyrisk(&[
        "keys",
        "assign",
        assessor["id"].as_str().unwrap(),
        "--org",
        &org,
        "--database-url",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(assigned.code, 0, "{}", assigned.stderr);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&assigned.stdout).unwrap()["assigned"],
        org.as_str()
    );

    // Usage errors: exit 2 with a message, and a bad bundle never creates the database.
    let bad = cyrisk(&[
        "keys",
        "create",
        "--role",
        "assessor",
        "--name",
        "x",
        "--database-url",
        &url,
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--org"), "{}", bad.stderr);
    let other = dir.join("other.db");
    let bad_bundle = dir.join("bad.json");
    std::fs::write(&bad_bundle, "{\"profile\": {}}").unwrap();
    let run = cyrisk(&[
        "orgs",
        "load",
        bad_bundle.to_str().unwrap(),
        "--database-url",
        &format!("sqlite://{}", other.display()),
    ]);
    assert_eq!(run.code, 2);
    assert!(!other.exists(), "a rejected bundle created the database");
    let run = cyrisk(&["orgs", "list", "--database-url", "mysql://nowhere"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("sqlite://"), "{}", run.stderr);
}

/// Model governance from the command line: synthetic bundles with a known hazard (twice the
/// model's), validation that sees the miscalibration, recalibration that writes a valid new
/// model version with the fit recorded, and validation of that model back at A/E ≈ 1.
#[test]
fn validate_and_recalibrate_round_trip() {
    let dir = scratch("validate");
    let pop = dir.join("pop");
    let outcomes = dir.join("outcomes.csv");
    let model = dir.join("recalibrated.toml");
    let svg = dir.join("reliability.svg");
    let p = pop.to_str().unwrap();
    let run = cyrisk(&[
        "demo",
        "bundles",
        "--size",
        "400",
        "--as-of",
        "2026-11-21",
        "-o",
        p,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = cyrisk(&[
        "demo",
        "outcomes",
        "-i",
        p,
        "--as-of",
        "2026-11-21",
        "--years",
        "20",
        "--level",
        "0.6931",
        "-o",
        outcomes.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let validate = |extra: &[&str]| {
        let mut args = vec![
            "validate",
            "-i",
            p,
            "--outcomes",
            outcomes.to_str().unwrap(),
            "--as-of",
            "2026-11-21",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let run = cyrisk(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()
    };
    let before = validate(&["--svg", svg.to_str().unwrap()]);
    let ae = before["actual_to_expected"].as_f64().unwrap();
    assert!((1.7..2.3).contains(&ae), "A/E {ae}");
    assert_eq!(before["deciles"].as_array().unwrap().len(), 10);
    assert!(before["factors"].as_array().unwrap().len() >= 10);
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.matches("<circle").count() == 10);

    let run = cyrisk(&[
        "model",
        "recalibrate",
        "-i",
        p,
        "--outcomes",
        outcomes.to_str().unwrap(),
        "--as-of",
        "2026-11-21",
        "--version",
        "2.0.0-test",
        "-o",
        model.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&model).unwrap();
    let m = cyrisk_core::RatingModel::from_toml(&text).unwrap();
    assert_eq!(m.version, "2.0.0-test");
    let record = m.recalibration.unwrap();
    // At least the true ln 2; more where the ceiling holds the largest rates back.
    assert!(record.level > 2f64.ln() - 0.05, "level {}", record.level);
    assert_eq!(record.slope, 1.0);
    let after = validate(&["--model", model.to_str().unwrap()]);
    let ae = after["actual_to_expected"].as_f64().unwrap();
    assert!((ae - 1.0).abs() < 0.02, "A/E after recalibration {ae}");

    // Bad outcomes: a clear message, exit code 2.
    std::fs::write(&outcomes, "id,years\nINS-00001,1\n").unwrap();
    let run = cyrisk(&[
        "validate",
        "-i",
        p,
        "--outcomes",
        outcomes.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("exposure_years"), "{}", run.stderr);
}

/// The plan in money ranks by loss when asked, and every item says what it removes.
#[test]
fn plan_ranks_by_score_or_by_loss() {
    let input = root().join("examples/manufacturer.json");
    let plan = |by: &str| {
        let run = cyrisk(&[
            "plan",
            "-i",
            input.to_str().unwrap(),
            "--as-of",
            "2026-11-21",
            "--by",
            by,
            "--top",
            "6",
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()
    };
    let key = |p: &serde_json::Value, k: &str| -> Vec<f64> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[k].as_f64().or_else(|| i["money"][k].as_f64()).unwrap())
            .collect()
    };
    let by_score = plan("score");
    let by_loss = plan("loss");
    assert!(
        key(&by_score, "score_gain")
            .windows(2)
            .all(|w| w[0] >= w[1])
    );
    assert!(
        key(&by_loss, "loss_reduction")
            .windows(2)
            .all(|w| w[0] >= w[1])
    );
    assert!(key(&by_loss, "premium_reduction").iter().all(|v| *v > 0.0));
    assert_eq!(by_loss["money"]["currency"], "CNY");
    let run = cyrisk(&[
        "plan",
        "-i",
        input.to_str().unwrap(),
        "--by",
        "loss",
        "--no-money",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// A bundle in US dollars gets dollar amounts: its revenue is converted for the size band and
/// the severity, and every simulated amount comes back in USD (the same draws ÷ 7.2).
#[test]
fn a_usd_bundle_gets_converted_amounts() {
    let dir = scratch("usd");
    let mut cny = example();
    cny["findings"] = serde_json::json!([]);
    let mut usd = cny.clone();
    let revenue = cny["profile"]["annual_revenue"].as_f64().unwrap();
    usd["profile"]["currency"] = "USD".into();
    usd["profile"]["annual_revenue"] = (revenue / 7.2).into();
    let run_for = |name: &str, b: &serde_json::Value| {
        let f = dir.join(name);
        std::fs::write(&f, b.to_string()).unwrap();
        let run = cyrisk(&[
            "simulate",
            "-i",
            f.to_str().unwrap(),
            "--as-of",
            "2026-11-21",
            "--trials",
            "20000",
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()
    };
    let a = run_for("cny.json", &cny);
    let b = run_for("usd.json", &usd);
    assert_eq!(b["currency"], "USD");
    assert_eq!(
        a["source"]["expected_incident_rate"],
        b["source"]["expected_incident_rate"]
    );
    let (ea, eb) = (
        a["expected_loss"].as_f64().unwrap(),
        b["expected_loss"].as_f64().unwrap(),
    );
    assert!((ea / 7.2 - eb).abs() < 1e-6 * ea, "CNY {ea} vs USD {eb}");
    // A currency the models cannot convert: the rating warns, the money refuses.
    let mut xau = cny.clone();
    xau["profile"]["currency"] = "XAU".into();
    let f = dir.join("xau.json");
    std::fs::write(&f, xau.to_string()).unwrap();
    let run = cyrisk(&["simulate", "-i", f.to_str().unwrap(), "--trials", "1000"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no exchange rate for XAU"),
        "{}",
        run.stderr
    );
}
