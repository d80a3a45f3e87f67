//! Kill the server (SIGKILL) in the middle of a large bundle load: after a restart the
//! organisation has either all of that batch or none of it.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use cyrisk_store::Store;

mod common;
use common::{cli, serve};

const ASSETS: usize = 4_000;
const FINDINGS: usize = 80_000;

fn big_bundle() -> String {
    let assets: Vec<serde_json::Value> = (0..ASSETS)
        .map(|i| serde_json::json!({ "id": format!("a{i}"), "kind": "host", "internet_facing": i % 10 == 0 }))
        .collect();
    let findings: Vec<serde_json::Value> = (0..FINDINGS)
        .map(|i| {
            serde_json::json!({
                "id": format!("f{i}"), "asset": format!("a{}", i % ASSETS), "cvss_score": (i % 100) as f64 / 10.0,
                "epss": 0.01, "first_seen": "2026-06-01", "title": "synthetic finding for the crash test"
            })
        })
        .collect();
    serde_json::json!({
        "profile": { "name": "Crash Test Co.", "industry": "finance", "annual_revenue": 1.0e9, "employees": 2000, "region": "CN-SH" },
        "scan_date": "2026-11-01", "assets": assets, "findings": findings
    })
    .to_string()
}

#[test]
fn sigkill_during_a_bundle_load_leaves_all_or_nothing() {
    let body = big_bundle();
    let root = std::env::temp_dir().join(format!("cyrisk-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut outcomes = Vec::new();
    for (run, delay_ms) in [0u64, 100, 300, 700, 1500, 3000].into_iter().enumerate() {
        let dir = root.join(format!("run{run}"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("cyrisk.db").display());
        let key: serde_json::Value = serde_json::from_str(&cli(&[
            "keys",
            "create",
            "--role",
            "admin",
            "--name",
            "t",
            "--database-url",
            &url,
            "--format",
            "json",
        ]))
        .unwrap();
        let (mut child, addr) = serve(&url);
        let mut stream = TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "POST /api/v1/organizations/bundle HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            key["key"].as_str().unwrap(),
            body.len()
        )
        .unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Uncommitted work left in the write-ahead log shows the kill landed inside the
        // transaction (reported, not asserted: it depends on timing).
        let wal = std::fs::metadata(dir.join("cyrisk.db-wal")).map_or(0, |m| m.len());

        // Restart on the same database and look.
        let (orgs, findings) = rt.block_on(async {
            let store = Store::open(&url).await.unwrap();
            let orgs = store.list_organizations(10, 0).await.unwrap();
            let findings = match orgs.first() {
                Some(o) => store.counts(&o.id).await.unwrap()[1],
                None => 0,
            };
            store.close().await;
            (orgs.len(), findings)
        });
        assert!(orgs <= 1);
        assert!(
            (orgs == 0 && findings == 0) || (orgs == 1 && findings == FINDINGS as i64),
            "run {run} (killed after {delay_ms} ms): {orgs} organisations, {findings} findings"
        );
        outcomes.push((delay_ms, if orgs == 0 { "none" } else { "all" }, wal));
    }
    eprintln!("outcomes (delay ms, batch present, WAL bytes at the kill): {outcomes:?}");
    let _ = std::fs::remove_dir_all(&root);
}
