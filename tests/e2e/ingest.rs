//! Real inputs: the shared Nessus sample, an Nmap XML produced by the real `nmap`, CSV
//! spreadsheets, bad files of every kind, and re-scan reconciliation through the CLI on a
//! real database.

use std::collections::BTreeMap;

use cyrisk_core::cvss::Severity;
use cyrisk_core::{RatingModel, rate};
use cyrisk_ingest::{ExposureClass, Position};

use crate::support::{as_of, cyrisk, root, scratch, sme_database};

fn nessus_options() -> cyrisk_ingest::nessus::Options {
    cyrisk_ingest::nessus::Options {
        default_date: as_of(),
    }
}

fn sample() -> Vec<u8> {
    std::fs::read(root().join("data/samples/ms2_scan.nessus")).unwrap()
}

#[test]
fn the_shared_nessus_sample_reads_right_and_rates() {
    let scan = cyrisk_ingest::nessus::parse(&sample()[..], nessus_options()).unwrap();
    // 181 report items on one host: 131 informational (126 distinct: five repeat a plugin on
    // the same port), 50 findings.
    assert_eq!(scan.assets.len(), 1);
    assert_eq!(scan.fact_count(), 126);
    assert_eq!(scan.findings.len(), 50);
    let mut by_severity = BTreeMap::new();
    for f in &scan.findings {
        *by_severity.entry(f.severity.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        by_severity,
        BTreeMap::from([
            (Severity::Low, 8),
            (Severity::Medium, 26),
            (Severity::High, 5),
            (Severity::Critical, 11)
        ])
    );
    let host = &scan.assets[0];
    assert_eq!(host.id, "192.168.79.128");
    assert_eq!(host.ip, Some("192.168.79.128".parse().unwrap()));
    assert_eq!(
        host.os.as_deref(),
        Some("Linux Kernel 2.6 on Ubuntu 8.04 (hardy)")
    );
    assert_eq!(host.hostname.as_deref(), Some("METASPLOITABLE"));
    assert!(host.end_of_life, "unsupported software was reported");
    assert!(
        host.services
            .iter()
            .any(|s| s.port == 3306 && s.name.as_deref() == Some("mysql"))
    );
    assert_eq!(
        host.facts.len(),
        126,
        "informational items are kept on the asset (each distinct one once)"
    );
    assert!(host.facts.iter().any(|f| f.source == "nessus:19506"));
    assert_eq!(scan.scan_date, Some("2025-11-15".parse().unwrap()));
    let with_cve = scan.findings.iter().filter(|f| f.cve.is_some()).count();
    assert!(with_cve >= 20, "{with_cve} findings with a CVE");
    let ghostcat = scan
        .findings
        .iter()
        .find(|f| f.source.as_deref() == Some("nessus:134862"))
        .unwrap();
    assert!(ghostcat.kev && ghostcat.epss.is_some() && ghostcat.evidence.is_some());
    assert_eq!(ghostcat.cvss_vector.as_ref().unwrap().version(), "3.0");
    assert!(
        scan.exposures
            .iter()
            .any(|e| e.class == ExposureClass::Database)
    );
    assert!(
        scan.exposures
            .iter()
            .any(|e| e.class == ExposureClass::RemoteAccess)
    );

    // Into a bundle of its own: it validates and rates.
    let text = std::fs::read_to_string(root().join("examples/sme-external-scan.json")).unwrap();
    let mut raw: cyrisk_core::AssessmentBundle = serde_json::from_str(&text).unwrap();
    raw.assets = scan.assets.clone();
    raw.findings = scan.findings.clone();
    let bundle = raw.validate().unwrap();
    let r = rate(&bundle, &RatingModel::builtin(), as_of());
    assert_eq!(r.inputs.findings, 50);
    // One internal host, but riddled with exploitable flaws: the odds of the reference micro
    // retailer times 1.7 or more (30 points at PDO 40), exploitation pressure the main reason.
    assert!(
        f64::from(r.score) <= r.baseline.score - 30.0,
        "a Metasploitable host should rate badly: {} against a baseline of {}",
        r.score,
        r.baseline.score
    );
    assert_eq!(r.reasons[0].factor, "exploitation_pressure");
}

#[test]
fn bad_xml_is_refused_with_a_position() {
    let s = sample();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        ("truncated", s[..s.len() / 2].to_vec(), "truncated"),
        ("not xml", b"hello, world\n".to_vec(), "not XML"),
        (
            "wrong format",
            br#"<?xml version="1.0"?><nmaprun start="1"></nmaprun>"#.to_vec(),
            "not a Nessus v2 file",
        ),
        (
            "mismatched",
            b"<NessusClientData_v2><Report></NessusClientData_v2>".to_vec(),
            "malformed",
        ),
        (
            "huge attribute",
            {
                let mut v = b"<NessusClientData_v2><Report><ReportHost name=\"".to_vec();
                v.extend(std::iter::repeat_n(b'a', cyrisk_ingest::xml_limit() + 10));
                v.extend(b"\"></ReportHost></Report></NessusClientData_v2>");
                v
            },
            "longer than",
        ),
        (
            "bad severity",
            b"<NessusClientData_v2><Report><ReportHost name=\"h\"><ReportItem port=\"1\" severity=\"9\" pluginID=\"1\"></ReportItem></ReportHost></Report></NessusClientData_v2>".to_vec(),
            "out of range",
        ),
    ];
    for (what, bytes, needle) in cases {
        let err = cyrisk_ingest::nessus::parse(&bytes[..], nessus_options()).unwrap_err();
        assert!(err.message.contains(needle), "{what}: {err}");
        assert!(matches!(err.position, Position::Byte(_)), "{what}");
    }
    let err = cyrisk_ingest::nmap::parse(
        &s[..],
        cyrisk_ingest::nmap::Options {
            default_date: as_of(),
        },
    )
    .unwrap_err();
    assert!(err.message.contains("not an Nmap XML file"), "{err}");
}

#[test]
fn csv_tolerates_bom_crlf_and_column_order_and_names_bad_lines() {
    let assets =
        "\u{feff}kind,id,internet_facing,ip\r\nhost,web-1,yes,10.0.0.1\r\nhost,web-2,no,\r\n";
    let scan = cyrisk_ingest::csv::parse(assets.as_bytes(), false).unwrap();
    assert_eq!(scan.format, cyrisk_ingest::Format::CsvAssets);
    assert_eq!(scan.assets.len(), 2);
    assert!(scan.assets[0].internet_facing && !scan.assets[1].internet_facing);
    assert_eq!(scan.assets[0].ip, Some("10.0.0.1".parse().unwrap()));

    let findings = "id,asset,first_seen,severity,cve\nF-1,web-1,2026-01-02,high,CVE-2024-3400\nF-2,web-1,yesterday,high,\nF-3,web-1,2026-01-02,,\nF-1,web-1,2026-01-02,low,\n";
    let err = cyrisk_ingest::csv::parse(findings.as_bytes(), false).unwrap_err();
    assert_eq!(err.position, Position::Line(3), "{err}");
    assert!(err.message.contains("first_seen"), "{err}");
    assert!(err.message.contains("lines 4, 5"), "{err}");
    let kept = cyrisk_ingest::csv::parse(findings.as_bytes(), true).unwrap();
    assert_eq!(kept.findings.len(), 1);
    assert_eq!(
        kept.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    let err = cyrisk_ingest::csv::parse("name,ip\nx,1\n".as_bytes(), false).unwrap_err();
    assert!(err.message.contains("no \"id\" column"), "{err}");
    assert!(cyrisk_ingest::csv::parse("".as_bytes(), false).is_err());
    // The documented samples read cleanly.
    for name in ["assets", "findings"] {
        let bytes = std::fs::read(root().join(format!("examples/{name}.csv"))).unwrap();
        let s = cyrisk_ingest::csv::parse(&bytes[..], false).unwrap();
        assert!(s.assets.len() + s.findings.len() >= 3, "{name}");
    }
}

#[test]
fn an_nmap_scan_of_loopback_services_reads_as_assets_and_exposures() {
    // Produced by `nmap -sV -oX` against services started on loopback (see the file's
    // header for the command line).
    let bytes = std::fs::read(root().join("data/samples/loopback.nmap.xml")).unwrap();
    let scan = cyrisk_ingest::nmap::parse(
        &bytes[..],
        cyrisk_ingest::nmap::Options {
            default_date: as_of(),
        },
    )
    .unwrap();
    assert_eq!(scan.assets.len(), 1);
    let host = &scan.assets[0];
    assert_eq!(host.ip, Some("127.0.0.1".parse().unwrap()));
    let pg = host.services.iter().find(|s| s.port == 5432).unwrap();
    assert_eq!(pg.name.as_deref(), Some("postgresql"));
    assert_eq!(pg.cpe.as_deref(), Some("cpe:/a:postgresql:postgresql"));
    assert!(
        pg.product
            .as_deref()
            .unwrap_or_default()
            .contains("PostgreSQL")
    );
    assert!(
        host.services
            .iter()
            .any(|s| s.port == 18081 && s.name.as_deref() == Some("http"))
    );
    assert!(
        scan.exposures
            .iter()
            .any(|e| e.port == 5432 && e.class == ExposureClass::Database)
    );
    assert!(scan.findings.is_empty());
}

/// Drops the report items of the given plugins from the sample.
fn without_plugins(plugins: &[&str]) -> String {
    let text = String::from_utf8(sample()).unwrap();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("<ReportItem ") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("</ReportItem>").unwrap() + start + "</ReportItem>".len();
        let item = &rest[start..end];
        if !plugins
            .iter()
            .any(|p| item.contains(&format!("pluginID=\"{p}\"")))
        {
            out.push_str(item);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn rescans_reconcile_and_the_same_file_twice_changes_nothing() {
    let (url, org) = sme_database("rescan");
    let dir = scratch("rescan-files");
    let import = |path: &std::path::Path| {
        let run = cyrisk(&[
            "import",
            "nessus",
            path.to_str().unwrap(),
            "--org",
            &org,
            "--database-url",
            &url,
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()
    };
    let first = import(&root().join("data/samples/ms2_scan.nessus"));
    assert_eq!(
        (
            first["assets_created"].as_u64(),
            first["findings_opened"].as_u64()
        ),
        (Some(1), Some(50))
    );
    assert_eq!(first["unknown_assets"][0], "192.168.79.128");
    let score_before = first["score"].as_i64().unwrap();

    let again = import(&root().join("data/samples/ms2_scan.nessus"));
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["inputs_version"], first["inputs_version"]);

    // A re-scan where Ghostcat (134862) is gone: pending verification; the rest still open.
    let second = dir.join("second.nessus");
    std::fs::write(&second, without_plugins(&["134862"])).unwrap();
    let r2 = import(&second);
    assert_eq!(r2["findings_still_open"], 49);
    assert_eq!(r2["findings_closed"], 1);
    assert_eq!(r2["findings_fix_verified"], 0);
    assert_eq!(r2["findings_opened"], 0);
    assert!(
        r2["score"].as_i64().unwrap() >= score_before,
        "{} → {}",
        score_before,
        r2["score"]
    );
    // A third scan still without it verifies the fix; a fourth with it back reopens it.
    let third = dir.join("third.nessus");
    std::fs::write(&third, without_plugins(&["134862"]) + "\n").unwrap();
    let r3 = import(&third);
    assert_eq!(
        (
            r3["findings_closed"].as_u64(),
            r3["findings_fix_verified"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let r4 = import(&root().join("data/samples/ms2_scan.nessus"));
    assert_eq!(
        r4["duplicate"], true,
        "the very first file: already imported"
    );
    let fourth = dir.join("fourth.nessus");
    std::fs::write(&fourth, String::from_utf8(sample()).unwrap() + "\n").unwrap();
    let r5 = import(&fourth);
    assert_eq!(
        (
            r5["findings_opened"].as_u64(),
            r5["findings_still_open"].as_u64()
        ),
        (Some(1), Some(49))
    );

    // Findings from other sources were never touched by the Nessus re-scans.
    let listed = cyrisk(&["orgs", "list", "--database-url", &url, "--format", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);

    // A bad file writes nothing.
    let bad = dir.join("bad.nessus");
    std::fs::write(&bad, &sample()[..1000]).unwrap();
    let run = cyrisk(&[
        "import",
        "nessus",
        bad.to_str().unwrap(),
        "--org",
        &org,
        "--database-url",
        &url,
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("bad.nessus")
            && run.stderr.contains("byte")
            && run.stderr.contains("line"),
        "{}",
        run.stderr
    );
}
