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

/// Whether a write transaction holds the SQLite database at `path` now: another connection's
/// `BEGIN IMMEDIATE` with no busy timeout fails while one does.
async fn write_locked(path: &std::path::Path) -> bool {
    use sqlx::ConnectOptions;
    use sqlx::Connection;
    let Ok(mut c) = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::ZERO)
        .connect()
        .await
    else {
        return false;
    };
    let locked = match sqlx::query("BEGIN IMMEDIATE").execute(&mut c).await {
        Ok(_) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut c).await;
            false
        }
        Err(_) => true,
    };
    let _ = c.close().await;
    locked
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
    let mut landed = false;
    // Kill while the load's write transaction holds the database (seen from outside as the
    // write lock held for 100 ms on end, longer than any other write here takes); retry until
    // a kill has landed there.
    for run in 0..5 {
        let dir = root.join(format!("run{run}"));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("cyrisk.db");
        let url = format!("sqlite://{}", db.display());
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
        let started = std::time::Instant::now();
        let mut held_since: Option<std::time::Instant> = None;
        let in_transaction = loop {
            if rt.block_on(write_locked(&db)) {
                let since = *held_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= Duration::from_millis(100) {
                    break true;
                }
            } else {
                held_since = None;
            }
            if started.elapsed() > Duration::from_secs(120) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

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
            "run {run}: {orgs} organisations, {findings} findings"
        );
        outcomes.push((
            run,
            in_transaction,
            if orgs == 0 { "none" } else { "all" },
            started.elapsed().as_millis(),
        ));
        if in_transaction && orgs == 0 {
            landed = true;
            break;
        }
    }
    eprintln!(
        "outcomes (run, killed while the write lock was held, batch present, ms to the kill): {outcomes:?}"
    );
    assert!(
        landed,
        "no kill landed inside the load's transaction: {outcomes:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
