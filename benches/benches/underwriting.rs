//! Pre-policy underwriting: one assessment of the example SME (profile and external scan):
//! enrich with the current feeds, rate, decide by the rules, simulate and price the layer
//! (100,000 years), in process on a fresh SQLite store. Target: under 200 ms. The reference,
//! in the same run, is the rating alone (no feeds, no simulation).
//!
//! `cargo bench -p cyrisk-benches --bench underwriting`

use std::time::Instant;

use cyrisk_app::App;
use cyrisk_app::underwriting::AssessmentRequest;
use cyrisk_core::{Bundle, RatingModel};
use cyrisk_store::{Principal, Store};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sme-external-scan.json"),
    )
    .expect("example");
    let bundle = Bundle::from_json(&text).expect("bundle");
    let dir = std::env::temp_dir().join(format!("cyrisk-uw-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let store = Store::open(&format!("sqlite://{}", dir.join("c.db").display()))
        .await
        .expect("store");
    let app = App::builtin(store.clone()).expect("models");
    let request = || AssessmentRequest {
        bundle: bundle.clone(),
        deductible: 50_000.0,
        limit: 2_000_000.0,
        aggregate_limit: None,
        trials: 100_000,
        seed: 1,
    };
    let mut times = Vec::new();
    let mut decision = None;
    for _ in 0..21 {
        let t = Instant::now();
        let a = app
            .assess(&Principal::operator(), request())
            .await
            .expect("assessment");
        times.push(t.elapsed().as_secs_f64());
        decision = Some((a.decision, a.score));
    }
    times.sort_by(f64::total_cmp);
    let model = RatingModel::builtin();
    let today = chrono::Utc::now().date_naive();
    let mut rate_times = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        std::hint::black_box(cyrisk_core::rate(&bundle, &model, today));
        rate_times.push(t.elapsed().as_secs_f64());
    }
    rate_times.sort_by(f64::total_cmp);
    println!(
        "underwriting assessment of the example SME ({:?}): median {:.2} ms, max {:.2} ms over 21 \
         (target < 200 ms); the rating alone: median {:.3} ms",
        decision.expect("ran"),
        times[10] * 1e3,
        times[20] * 1e3,
        rate_times[10] * 1e3
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
