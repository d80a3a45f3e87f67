//! Two `cyrisk serve` processes on one PostgreSQL behave as one service: concurrent bundle
//! loads to the same organisation through both lose nothing, and each sees the other's writes.
//! Needs `CYRISK_TEST_POSTGRES_URL`; under CI its absence is a failure, not a skip.

use std::io::{Read, Write};
use std::net::TcpStream;

use cyrisk_store::Store;

mod common;
use common::{cli, serve};

/// A minimal HTTP/1.1 client (one request per connection): status and body.
fn request(addr: &str, method: &str, path: &str, key: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn two_replicas_on_one_postgres_lose_nothing() {
    let Ok(admin_url) = std::env::var("CYRISK_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but CYRISK_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "CYRISK_TEST_POSTGRES_URL not set: the two-replica test needs PostgreSQL; skipped locally"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = format!("cyrisk_replicas_{}", std::process::id());
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{db}");
    rt.block_on(async {
        let admin = Store::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
            .execute(admin.pool())
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(admin.pool())
            .await
            .unwrap();
        admin.close().await;
    });
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
    let key = key["key"].as_str().unwrap().to_owned();
    let (mut a, addr_a) = serve(&url);
    let (mut b, addr_b) = serve(&url);

    let base_bundle: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/manufacturer.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let (status, created) = request(
        &addr_a,
        "POST",
        "/api/v1/organizations/bundle",
        &key,
        &base_bundle.to_string(),
    );
    assert_eq!(status, 200, "{created}");
    let org = serde_json::from_str::<serde_json::Value>(&created).unwrap()["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let per_writer = base_bundle["findings"].as_array().unwrap().len();

    // Sixteen concurrent writers, alternating replicas, each adding its own findings.
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let addr = if w % 2 == 0 {
                addr_a.clone()
            } else {
                addr_b.clone()
            };
            let mut bundle = base_bundle.clone();
            for f in bundle["findings"].as_array_mut().unwrap() {
                f["id"] = format!("w{w}-{}", f["id"].as_str().unwrap()).into();
            }
            let (key, org) = (key.clone(), org.clone());
            std::thread::spawn(move || {
                request(
                    &addr,
                    "POST",
                    &format!("/api/v1/organizations/{org}/bundle"),
                    &key,
                    &bundle.to_string(),
                )
            })
        })
        .collect();
    for w in writers {
        let (status, body) = w.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    // Both replicas see all writes.
    for addr in [&addr_a, &addr_b] {
        let (status, body) = request(
            addr,
            "GET",
            &format!("/api/v1/organizations/{org}"),
            &key,
            "",
        );
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["inputs_version"],
            17
        );
        let (_, all) = request(
            addr,
            "GET",
            &format!("/api/v1/organizations/{org}/findings?limit=1000"),
            &key,
            "",
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&all)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            per_writer * 17
        );
    }
    // The replicas' workers re-rate after the loads; a re-rating racing the first GET could
    // store a second rating of the same inputs. Let the queue drain first: the point here is
    // that the second replica serves what the first stored.
    rt.block_on(async {
        let store = Store::open(&url).await.unwrap();
        let t = std::time::Instant::now();
        loop {
            let q = store.queue_stats().await.unwrap();
            if q.queued + q.running == 0 || t.elapsed() > std::time::Duration::from_secs(60) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        store.close().await;
    });
    let (_, ra) = request(
        &addr_a,
        "GET",
        &format!("/api/v1/organizations/{org}/rating"),
        &key,
        "",
    );
    let (_, rb) = request(
        &addr_b,
        "GET",
        &format!("/api/v1/organizations/{org}/rating"),
        &key,
        "",
    );
    let id = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap()["id"].clone();
    assert_eq!(
        id(&ra),
        id(&rb),
        "the second replica reuses the rating the first stored"
    );

    for c in [&mut a, &mut b] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    rt.block_on(async {
        let admin = Store::connect(&admin_url).await.unwrap();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
            .execute(admin.pool())
            .await;
        admin.close().await;
    });
}
