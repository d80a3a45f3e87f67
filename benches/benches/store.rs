//! Bulk load speed: one bundle of 10,000 assets and 100,000 findings loaded (one transaction)
//! into a fresh SQLite file and a fresh PostgreSQL database; best of three, in findings/s.
//!
//! `cargo bench -p cyrisk-benches --bench store`
//! PostgreSQL is taken from `CYRISK_TEST_POSTGRES_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres); a scratch database is created and dropped.

use std::time::Instant;

use cyrisk_benches::synthetic_bundle;
use cyrisk_store::{LoadTarget, Principal, Store};

async fn best_of_three(url_for_run: impl Fn(usize) -> String, bundle: &cyrisk_core::Bundle) -> f64 {
    let mut best = f64::INFINITY;
    for run in 0..3 {
        let store = Store::open(&url_for_run(run)).await.expect("open store");
        let t = Instant::now();
        store
            .load_bundle(LoadTarget::ByName, bundle, &Principal::operator())
            .await
            .expect("load");
        best = best.min(t.elapsed().as_secs_f64());
        store.close().await;
    }
    best
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bundle = synthetic_bundle(10_000, 100_000, 42);
    let n = bundle.findings().len() as f64;
    let dir = std::env::temp_dir().join(format!("cyrisk-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let secs = best_of_three(
        |run| format!("sqlite://{}", dir.join(format!("run{run}.db")).display()),
        &bundle,
    )
    .await;
    println!(
        "SQLite: 100,000 findings + 10,000 assets in {secs:.3} s = {:.0} findings/s",
        n / secs
    );
    let _ = std::fs::remove_dir_all(&dir);

    let admin_url = std::env::var("CYRISK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = match Store::connect(&admin_url).await {
        Ok(s) => s,
        Err(e) => {
            println!("PostgreSQL: skipped ({e})");
            return;
        }
    };
    let (base, _) = admin_url.rsplit_once('/').expect("URL with a database");
    let dbs: Vec<String> = (0..3)
        .map(|_| format!("cyrisk_bench_{}", uuid::Uuid::new_v4().simple()))
        .collect();
    for db in &dbs {
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(admin.pool())
            .await
            .expect("create database");
    }
    let secs = best_of_three(|run| format!("{base}/{}", dbs[run]), &bundle).await;
    println!(
        "PostgreSQL: 100,000 findings + 10,000 assets in {secs:.3} s = {:.0} findings/s",
        n / secs
    );
    for db in &dbs {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
            .execute(admin.pool())
            .await;
    }
}
