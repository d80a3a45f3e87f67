//! Real-world file faults, one kind per test, each through the CLI (`cyrisk import`, `cyrisk
//! feeds load`) and over HTTP, with fixtures of our own in `tests/fixtures/field/`: repeated
//! plugin items, several CVEs per item, host dates in other formats, declared encodings, one
//! address under several names (Nessus and Nmap), masscan's Nmap-style XML, hosts matched to
//! the declared inventory, feed snapshots out of order, EPSS files from before 2022, CSV line
//! numbers with CRLF, and GBK spreadsheets.

use std::path::PathBuf;

use axum::http::{Method, StatusCode};
use cyrisk_core::AssessmentBundle;
use cyrisk_store::{Role, Store};
use serde_json::Value;

use crate::api::{app_state, runtime};
use crate::support::{Run, cyrisk, root, sme_database};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/field").join(name)
}

/// A fresh SQLite database holding the example SME (a profile and an external scan).
struct Db {
    url: String,
    org: String,
}

fn fresh(name: &str) -> Db {
    let (url, org) = sme_database(&format!("field-{name}"));
    Db { url, org }
}

impl Db {
    fn import(&self, kind: &str, file: &str) -> Run {
        cyrisk(&[
            "import",
            kind,
            fixture(file).to_str().unwrap(),
            "--org",
            &self.org,
            "--database-url",
            &self.url,
            "--format",
            "json",
        ])
    }

    fn feed(&self, kind: &str, file: &str, extra: &[&str]) -> Run {
        let path = fixture(file);
        let mut args = vec![
            "feeds",
            "load",
            kind,
            path.to_str().unwrap(),
            "--database-url",
            &self.url,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        cyrisk(&args)
    }

    fn bundle(&self) -> AssessmentBundle {
        runtime().block_on(async {
            let s = Store::open(&self.url).await.unwrap();
            let b = s.bundle(&self.org).await.unwrap();
            s.close().await;
            b
        })
    }

    /// GET (or POST) through the HTTP API over this database with an admin key.
    fn http(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> (StatusCode, Value) {
        runtime().block_on(async {
            let store = Store::open(&self.url).await.unwrap();
            let key = store
                .create_key("field", Role::Admin, None, None)
                .await
                .unwrap()
                .key;
            let app = cyrisk_api::app(app_state(store.clone()), &Default::default());
            let uri = path.replace("{org}", &self.org);
            let req = axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {key}"))
                .body(body.map_or(axum::body::Body::empty(), axum::body::Body::from))
                .unwrap();
            let res = tower::ServiceExt::oneshot(app, req).await.unwrap();
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            store.close().await;
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }

    fn http_import(&self, format: &str, file: &str) -> (StatusCode, Value) {
        self.http(
            Method::POST,
            &format!("/api/v1/organizations/{{org}}/imports?format={format}"),
            Some(std::fs::read(fixture(file)).unwrap()),
        )
    }
}

/// Imports `file` through the CLI into one fresh database and over HTTP into another, and
/// hands both results to `check` (the summary and the organisation's inputs afterwards).
fn both(name: &str, kind: &str, file: &str, check: impl Fn(&str, &Value, &AssessmentBundle)) {
    let cli = fresh(&format!("{name}-cli"));
    let run = cli.import(kind, file);
    assert_eq!(run.code, 0, "{file} via the CLI: {}", run.stderr);
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    for w in summary["warnings"].as_array().unwrap() {
        assert!(
            run.stderr.contains(w.as_str().unwrap()),
            "the CLI must print warning {w}: {}",
            run.stderr
        );
    }
    check("cli", &summary, &cli.bundle());

    let http = fresh(&format!("{name}-http"));
    let (status, summary) = http.http_import(kind, file);
    assert_eq!(status, StatusCode::OK, "{file} over HTTP: {summary}");
    check("http", &summary, &http.bundle());
}

fn finding<'a>(b: &'a AssessmentBundle, id: &str) -> &'a cyrisk_core::finding::Finding {
    b.findings.iter().find(|f| f.id == id).unwrap_or_else(|| {
        panic!(
            "no finding {id}: {:?}",
            b.findings.iter().map(|f| &f.id).collect::<Vec<_>>()
        )
    })
}

fn asset<'a>(b: &'a AssessmentBundle, id: &str) -> &'a cyrisk_core::asset::Asset {
    b.assets
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("no asset {id}"))
}

fn ports(a: &cyrisk_core::asset::Asset) -> Vec<u16> {
    a.services.iter().map(|s| s.port).collect()
}

/// A plugin reported several times on one port (several installs; compliance checks on
/// port 0) is one finding that keeps every evidence; the file is never refused.
#[test]
fn repeated_plugin_items_merge_into_one_finding() {
    both(
        "repeated",
        "nessus",
        "nessus-repeated-items.nessus",
        |via, s, b| {
            assert_eq!(s["findings_in_file"], 2, "{via}: {s}");
            let java = finding(b, "nessus:910001:198.51.100.20:8080/tcp");
            let e = java.evidence.as_deref().unwrap();
            assert!(
                e.contains("/opt/app1/jre") && e.contains("/opt/app2/jre"),
                "{via}: {e}"
            );
            assert_eq!(
                java.severity,
                Some(cyrisk_core::cvss::Severity::Critical),
                "{via}"
            );
            let compliance = finding(b, "nessus:21156:198.51.100.20:0/tcp");
            let e = compliance.evidence.as_deref().unwrap();
            for check in ["complexity", "Minimum password length", "lockout"] {
                assert!(e.contains(check), "{via}: {e}");
            }
        },
    );
}

/// An item listing several CVEs keeps them all; KEV comes from the catalogue over all of
/// them, and EPSS is the highest of them.
#[test]
fn every_cve_of_an_item_counts_for_kev_and_epss() {
    both(
        "cves",
        "nessus",
        "nessus-several-cves.nessus",
        |via, _, b| {
            let f = finding(b, "nessus:910002:198.51.100.30:8443/tcp");
            assert_eq!(f.cve.as_ref().unwrap().as_str(), "CVE-2099-10001", "{via}");
            let more: Vec<&str> = f.additional_cves.iter().map(|c| c.as_str()).collect();
            assert_eq!(more, ["CVE-2021-44228", "CVE-2021-45046"], "{via}");
            assert!(!f.kev, "the scanner did not flag it");
        },
    );
    let db = fresh("cves-view");
    assert_eq!(db.import("nessus", "nessus-several-cves.nessus").code, 0);
    let epss = "#model_version:v2025.03.14,score_date:2026-04-08T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.5,0.9\nCVE-2021-45046,0.93,0.99\n";
    let (st, v) = db.http(
        Method::POST,
        "/api/v1/feeds/epss",
        Some(epss.as_bytes().to_vec()),
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, list) = db.http(
        Method::GET,
        "/api/v1/organizations/{org}/findings?kev=true",
        None,
    );
    assert_eq!(st, StatusCode::OK, "{list}");
    let f = list
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "nessus:910002:198.51.100.30:8443/tcp")
        .expect("KEV-listed by the catalogue, so ?kev=true finds it")
        .clone();
    assert_eq!(f["kev"], true);
    assert!(
        f["kev_source"]
            .as_str()
            .unwrap()
            .contains("CISA KEV catalogue"),
        "{f}"
    );
    assert!((f["epss"].as_f64().unwrap() - 0.93).abs() < 1e-6, "{f}");
    assert!(
        f["epss_source"]
            .as_str()
            .unwrap()
            .starts_with("EPSS 2026-04-08"),
        "{f}"
    );
}

/// Host times in ISO 8601 and as epoch seconds are read; an unreadable one is a warning and
/// its findings take the scan's own date, never silently today.
#[test]
fn host_dates_in_other_formats_are_read_or_warned() {
    both(
        "dates",
        "nessus",
        "nessus-host-dates.nessus",
        |via, s, b| {
            let day = |id: &str| finding(b, id).first_seen.to_string();
            assert_eq!(
                day("nessus:910003:https://app.example.org/:443/tcp"),
                "2022-07-04",
                "{via}"
            );
            assert_eq!(
                day("nessus:910004:198.51.100.40:22/tcp"),
                "2022-06-23",
                "{via}"
            );
            // Undated: the newest time the file records.
            assert_eq!(
                day("nessus:910005:198.51.100.41:25/tcp"),
                "2022-07-04",
                "{via}"
            );
            let warnings = s["warnings"].to_string();
            assert!(
                warnings.contains("198.51.100.41") && warnings.contains("HOST_START"),
                "{via}: {warnings}"
            );
        },
    );
}

/// An XML file declaring another encoding is decoded as declared.
#[test]
fn xml_is_decoded_as_declared() {
    both(
        "latin",
        "nessus",
        "nessus-declared-windows-1252.nessus",
        |via, _, b| {
            let f = finding(b, "nessus:910006:198.51.100.50:21/tcp");
            assert_eq!(
                f.evidence.as_deref(),
                Some("220 Serviço FTP pronto – olá, José"),
                "{via}"
            );
        },
    );
}

/// One address scanned under two names is one asset with both names (Nessus and Nmap); a
/// check seen under both names is one finding.
#[test]
fn one_address_under_several_names_is_one_asset() {
    both(
        "names-nessus",
        "nessus",
        "nessus-one-address-two-names.nessus",
        |via, _, b| {
            let a = asset(b, "portal.example.org");
            assert_eq!(a.ip.unwrap().to_string(), "198.51.100.60", "{via}");
            assert!(a.answers_to("api.example.org"), "{via}: {a:?}");
            assert!(!b.assets.iter().any(|x| x.id == "api.example.org"), "{via}");
            let tls = finding(b, "nessus:910007:portal.example.org:443/tcp");
            let e = tls.evidence.as_deref().unwrap();
            assert!(
                e.contains("seen as portal") && e.contains("seen as api"),
                "{via}: {e}"
            );
            assert_eq!(
                finding(b, "nessus:910008:portal.example.org:8443/tcp").asset,
                "portal.example.org"
            );
        },
    );
    both(
        "names-nmap",
        "nmap",
        "nmap-one-address-two-names.xml",
        |via, s, b| {
            assert_eq!(s["assets_created"], 1, "{via}: {s}");
            let a = asset(b, "198.51.100.70");
            assert_eq!(a.hostname.as_deref(), Some("shop.example.org"), "{via}");
            for n in ["pay.example.org", "lb-7.example.net"] {
                assert!(a.answers_to(n), "{via}: {a:?}");
            }
            assert_eq!(ports(a), [80, 443, 3306], "{via}");
        },
    );
}

/// masscan's Nmap-style XML (no status, one host entry per port) imports its hosts; a file
/// whose hosts yield nothing says so.
#[test]
fn nmap_style_xml_from_other_tools_imports_or_says_why_not() {
    both("masscan", "nmap", "masscan.xml", |via, s, b| {
        assert_eq!(s["assets_created"], 2, "{via}: {s}");
        assert_eq!(ports(asset(b, "198.51.100.80")), [5900, 6379], "{via}");
        assert_eq!(ports(asset(b, "198.51.100.81")), [443], "{via}");
        assert!(s["risky_services"].as_u64().unwrap() >= 2, "{via}: {s}");
    });
    both("down", "nmap", "nmap-all-down.xml", |via, s, _| {
        assert_eq!(s["assets_created"], 0, "{via}");
        assert!(
            s["warnings"].to_string().contains("none is up"),
            "{via}: {s}"
        );
    });
}

/// Scanned hosts the inventory declares are matched by address and by host name
/// (case-insensitive, trailing dot ignored): the declared assets are updated, not doubled,
/// and only what the inventory lacks is unknown.
#[test]
fn scanned_hosts_match_the_declared_inventory() {
    both(
        "declared",
        "nmap",
        "nmap-declared-assets.xml",
        |via, s, b| {
            assert_eq!(
                (s["assets_created"].as_u64(), s["assets_updated"].as_u64()),
                (Some(1), Some(2)),
                "{via}: {s}"
            );
            assert_eq!(
                s["unknown_assets"],
                serde_json::json!(["198.51.100.98"]),
                "{via}: {s}"
            );
            assert_eq!(b.assets.len(), 4, "{via}");
            // The scan (April) is older than the inventory (November): it adds what it saw
            // and fills what the inventory lacked, but takes nothing away.
            let mail = asset(b, "mail");
            assert_eq!(ports(mail), [25, 110, 993], "{via}");
            assert_eq!(
                mail.services[0].product.as_deref(),
                Some("Postfix smtpd"),
                "{via}"
            );
            assert!(mail.answers_to("smtp-out.isp.example"), "{via}");
            let www = asset(b, "www");
            assert_eq!(ports(www), [80, 443], "{via}");
            let https = www.services.iter().find(|s| s.port == 443).unwrap();
            assert_eq!(
                https.version.as_deref(),
                Some("1.18.0"),
                "{via}: the inventory's version stays"
            );
            assert_eq!(
                www.ip.unwrap().to_string(),
                "203.0.113.10",
                "{via}: an older scan does not move it"
            );
        },
    );
}

/// Snapshots loaded out of order: the newest by its own date stays current, the older one is
/// kept for the record and said to be so; a snapshot that removes entries re-rates who it
/// affects.
#[test]
fn feed_snapshots_loaded_out_of_order_keep_the_newest_current() {
    // CLI: newer, then older.
    let db = fresh("kev-order-cli");
    assert_eq!(db.import("nessus", "nessus-on-kev-cves.nessus").code, 0);
    let newer = db.feed("kev", "kev-2026-01-15.json", &[]);
    assert_eq!(newer.code, 0, "{}", newer.stderr);
    let older = db.feed("kev", "kev-2025-10-01.json", &[]);
    assert_eq!(older.code, 0, "{}", older.stderr);
    let s: Value = serde_json::from_str(&older.stdout).unwrap();
    assert_eq!(
        (s["current"].as_bool(), s["current_version"].as_str()),
        (Some(false), Some("2026.01.15")),
        "{s}"
    );
    assert_eq!(s["rerated"].as_array().unwrap().len(), 0);
    assert!(
        older.stderr.contains("older than the current one"),
        "{}",
        older.stderr
    );
    let (_, list) = db.http(
        Method::GET,
        "/api/v1/organizations/{org}/findings?kev=true",
        None,
    );
    let scanned: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("nessus:"))
        .collect();
    assert_eq!(
        scanned.len(),
        1,
        "only CVE-2024-3400 of the scan is KEV: {list}"
    );
    assert_eq!(scanned[0]["id"], "nessus:910010:198.51.100.110:443/tcp");
    assert_eq!(scanned[0]["kev_source"], "CISA KEV catalogue 2026.01.15");

    // HTTP: older first (it removes CVE-2024-3400 against the built-in catalogue), then
    // newer (it removes CVE-2023-4966): each re-rates the organisation.
    let db = fresh("kev-order-http");
    assert_eq!(db.import("nessus", "nessus-on-kev-cves.nessus").code, 0);
    for (file, gone) in [
        ("kev-2025-10-01.json", "443"),
        ("kev-2026-01-15.json", "8443"),
    ] {
        let (st, s) = db.http(
            Method::POST,
            "/api/v1/feeds/kev",
            Some(std::fs::read(fixture(file)).unwrap()),
        );
        assert_eq!(st, StatusCode::OK, "{s}");
        assert_eq!(s["current"], true, "{s}");
        let rerated: Vec<&str> = s["rerating"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["org_id"].as_str().unwrap())
            .collect();
        assert_eq!(rerated, [db.org.as_str()], "{file}: {s}");
        let (_, list) = db.http(
            Method::GET,
            "/api/v1/organizations/{org}/findings?kev=false",
            None,
        );
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|f| f["id"].as_str().unwrap().ends_with(&format!(":{gone}/tcp"))),
            "{file}: the removed CVE no longer counts as KEV: {list}"
        );
    }
}

/// EPSS files from before 2022-02-04 (no `#model_version` line) are dated by the file name
/// or a flag, or refused with a message that says how.
#[test]
fn epss_files_before_2022_are_dated_or_refused_with_how() {
    let db = fresh("epss-2021");
    let run = db.feed("epss", "epss_scores-2021-06-01.csv", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(s["published"], "2021-06-01", "{s}");
    assert_eq!(s["entries"], 2);

    let run = db.feed("epss", "epss-2021-with-percentile.csv", &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--score-date"), "{}", run.stderr);
    let run = db.feed(
        "epss",
        "epss-2021-with-percentile.csv",
        &["--score-date", "2021-09-30"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let body = std::fs::read(fixture("epss-2021-with-percentile.csv")).unwrap();
    let (st, v) = db.http(Method::POST, "/api/v1/feeds/epss", Some(body.clone()));
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("score_date"), "{v}");
    let (st, v) = db.http(
        Method::POST,
        "/api/v1/feeds/epss?score_date=2021-10-01",
        Some(body),
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    // The same content was loaded before with another date: reported as stored.
    assert_eq!(
        (v["duplicate"].as_bool(), v["published"].as_str()),
        (Some(true), Some("2021-09-30")),
        "{v}"
    );
}

/// A bad row in a CRLF file is reported at its line in the file, once saying nothing was
/// imported; a spreadsheet Chinese Excel saved in GBK is decoded, with a warning.
#[test]
fn csv_lines_count_as_saved_and_gbk_is_decoded() {
    let db = fresh("csv-crlf");
    let run = db.import("csv", "assets-crlf-bad-row-on-line-6.csv");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("at line 6"), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("nothing was imported").count(),
        1,
        "{}",
        run.stderr
    );
    let (st, v) = db.http_import("csv", "assets-crlf-bad-row-on-line-6.csv");
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("line 6"), "{detail}");
    assert_eq!(
        detail.matches("nothing was imported").count(),
        1,
        "{detail}"
    );

    both("gbk", "csv", "assets-gbk.csv", |via, s, b| {
        assert_eq!(
            asset(b, "erp-cn").owner.as_deref(),
            Some("信息中心"),
            "{via}"
        );
        assert_eq!(asset(b, "oa-cn").owner.as_deref(), Some("办公室"), "{via}");
        assert!(s["warnings"].to_string().contains("GBK"), "{via}: {s}");
    });
    both("big5", "csv", "assets-big5.csv", |via, s, b| {
        assert_eq!(
            asset(b, "erp-tw").owner.as_deref(),
            Some("資訊部門"),
            "{via}"
        );
        assert!(s["warnings"].to_string().contains("Big5"), "{via}: {s}");
    });
    // Classic Mac OS line ends (CR alone) count as lines too.
    let db = fresh("csv-cr");
    let run = db.import("csv", "assets-cr-bad-row-on-line-4.csv");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("at line 4"), "{}", run.stderr);
}

/// A feed snapshot dated in the future would stay current over every real one: refused, as
/// is an undated old-format EPSS file given a date on which files already had the model line.
#[test]
fn feed_dates_must_be_possible() {
    let db = fresh("feed-dates");
    let mut kev: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("kev-2026-01-15.json")).unwrap())
            .unwrap();
    kev["catalogVersion"] = "2099.01.01".into();
    kev["dateReleased"] = "2099-01-01T00:00:00.000Z".into();
    let (st, v) = db.http(
        Method::POST,
        "/api/v1/feeds/kev",
        Some(kev.to_string().into_bytes()),
    );
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("2099-01-01"), "{v}");
    let run = db.feed(
        "epss",
        "epss-2021-with-percentile.csv",
        &["--score-date", "2024-05-01"],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("since 2022-02-04"), "{}", run.stderr);
    // A bad date in the query is named, not just "Bad Request".
    let (st, v) = db.http(
        Method::POST,
        "/api/v1/feeds/epss?score_date=2021/06/01",
        Some(b"cve,epss\n".to_vec()),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("score_date"), "{v}");
}

/// Hostile files are refused quickly and whole: an element with thousands of attributes, a
/// finding listing more CVEs than any real one.
#[test]
fn hostile_shapes_are_refused() {
    let db = fresh("hostile");
    let attrs: String = (0..5000).map(|i| format!(" a{i}=\"1\"")).collect();
    let body = format!("<NessusClientData_v2><Report{attrs}></Report></NessusClientData_v2>");
    let started = std::time::Instant::now();
    let (st, v) = db.http(
        Method::POST,
        "/api/v1/organizations/{org}/imports?format=nessus",
        Some(body.into_bytes()),
    );
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("attributes"), "{v}");
    eprintln!("5,000 attributes refused in {:?}", started.elapsed());
    let cves: Vec<String> = (0..1100)
        .map(|i| format!("CVE-2099-{:05}", 10000 + i))
        .collect();
    let finding = serde_json::json!([{ "id": "many", "asset": "www", "first_seen": "2026-01-01", "severity": "low", "additional_cves": cves }]);
    let (st, v) = db.http(
        Method::POST,
        "/api/v1/organizations/{org}/findings",
        Some(finding.to_string().into_bytes()),
    );
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("additional_cves"),
        "{v}"
    );
}

/// A spreadsheet declares assets by id: two may share an address (and are not merged); a
/// finding row naming no known asset is reported at its line, or set aside with
/// `--skip-bad-rows`.
#[test]
fn spreadsheets_name_assets_by_id_and_bad_references_by_line() {
    both(
        "csv-shared-ip",
        "csv",
        "assets-sharing-an-address.csv",
        |via, s, b| {
            assert_eq!(s["assets_created"], 1, "{via}: {s}");
            assert!(
                b.assets.iter().any(|a| a.id == "vpn-edge")
                    && b.assets.iter().any(|a| a.id == "www"),
                "{via}"
            );
        },
    );
    let db = fresh("csv-refs");
    let run = db.import("csv", "findings-unknown-asset-on-line-3.csv");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("findings-unknown-asset-on-line-3.csv"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("at line 3") && run.stderr.contains("no-such-host"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("nothing was imported").count(),
        1,
        "{}",
        run.stderr
    );
    let run = cyrisk(&[
        "import",
        "csv",
        fixture("findings-unknown-asset-on-line-3.csv")
            .to_str()
            .unwrap(),
        "--org",
        &db.org,
        "--database-url",
        &db.url,
        "--format",
        "json",
        "--skip-bad-rows",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (s["findings_opened"].as_u64(), s["rows_rejected"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    assert_eq!(s["rejected"][0]["line"], 3);
}
