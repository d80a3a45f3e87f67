//! Golden tests: the example bundles' ratings and plans are committed under tests/golden and
//! must not change without a reviewed update. Also keeps models/bundle.schema.json in sync.

use crate::support::{cyrisk, ensure_file_contents, root};

const EXAMPLES: [&str; 3] = ["sme-external-scan", "manufacturer", "power-utility"];

#[test]
fn example_ratings_match_golden_files() {
    for name in EXAMPLES {
        let input = root().join(format!("examples/{name}.json"));
        let input = input.to_str().expect("utf-8 path");
        let rate = cyrisk(&[
            "rate",
            "--input",
            input,
            "--as-of",
            "2026-11-21",
            "--format",
            "json",
        ]);
        assert_eq!(rate.code, 0, "{}", rate.stderr);
        ensure_file_contents(
            &root().join(format!("tests/golden/{name}.rate.json")),
            &rate.stdout,
        );

        let text = cyrisk(&["rate", "--input", input, "--as-of", "2026-11-21"]);
        assert_eq!(text.code, 0, "{}", text.stderr);
        ensure_file_contents(
            &root().join(format!("tests/golden/{name}.rate.txt")),
            &text.stdout,
        );

        let plan = cyrisk(&[
            "plan",
            "--input",
            input,
            "--as-of",
            "2026-11-21",
            "--format",
            "json",
            "--top",
            "5",
        ]);
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        ensure_file_contents(
            &root().join(format!("tests/golden/{name}.plan.json")),
            &plan.stdout,
        );
    }
}

#[test]
fn rate_json_has_the_documented_fields() {
    let input = root().join("examples/manufacturer.json");
    let run = cyrisk(&[
        "rate",
        "--input",
        input.to_str().unwrap(),
        "--as-of",
        "2026-11-21",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("rate prints JSON");
    for key in [
        "score",
        "grade",
        "annual_incident_probability",
        "expected_incident_rate",
        "factors",
        "reasons",
        "confidence",
        "warnings",
        "model",
    ] {
        assert!(v.get(key).is_some(), "rate output lacks {key}");
    }
    assert_eq!(v["model"]["id"], "cyrisk-rating");
    assert_eq!(v["model"]["version"], "2.0.0");
    let factor = &v["factors"][0];
    assert!(
        factor["name"].is_string() && factor["points"].is_number() && factor["inputs"].is_object()
    );
    // The vector wins over a disagreeing score, and the rating says so.
    let codes: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["code"].as_str())
        .collect();
    assert!(codes.contains(&"cvss_score_mismatch"), "{codes:?}");
    // The bundled KEV snapshot marked the KEV-listed CVEs of the example.
    assert_eq!(v["sources"]["kev"]["catalog_version"], "2025.08.25");
    assert_eq!(v["sources"]["kev"]["findings_marked"], 4);
}

#[test]
fn bundle_schema_is_committed_and_current() {
    let schema = cyrisk(&["schema"]);
    assert_eq!(schema.code, 0);
    ensure_file_contents(&root().join("models/bundle.schema.json"), &schema.stdout);
}
