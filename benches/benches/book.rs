//! The insurer's book at scale: 10,000 organisations, each with ten stored ratings (100,000
//! rating rows) and a policy in force, written straight into a scratch SQLite database. Times
//! the book's summary (store reads, then the polars tables: groups, percentiles, movers) and the
//! Parquet export of the 100,000 rating rows, each the median of five runs; the reference,
//! measured in the same run, is reading the same rows from the store alone.
//!
//! `cargo bench -p cyrisk-benches --bench book`

use std::time::Instant;

use cyrisk_app::App;
use cyrisk_app::book::{BookTable, ExportFormat};
use cyrisk_store::{Principal, Store};

const ORGS: usize = 10_000;
const RATINGS_PER_ORG: usize = 10;
const INDUSTRIES: [&str; 6] = [
    "manufacturing",
    "retail",
    "finance",
    "healthcare",
    "energy",
    "telecom_internet",
];

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(format!("cyrisk-book-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let url = format!("sqlite://{}", dir.join("book.db").display());
    let store = Store::open(&url).await.expect("open store");
    let insurer = store
        .create_key("bench insurer", cyrisk_store::Role::Insurer, None, None)
        .await
        .expect("key");
    // Rows straight into the tables (the book's reads are what is measured, not the loads).
    let pool = sqlx::AnyPool::connect(&url).await.expect("pool");
    let mut tx = pool.begin().await.expect("tx");
    let today = chrono::Utc::now().date_naive();
    for i in 0..ORGS {
        let id = format!("org-{i:05}");
        let industry = INDUSTRIES[i % INDUSTRIES.len()];
        let revenue = 1e6 * (1 + (i * 7919) % 5000) as f64;
        let profile = serde_json::json!({
            "name": format!("Bench {i}"), "industry": industry, "annual_revenue": revenue,
            "employees": 10 + (i % 900), "region": format!("CN-{}", ["HB", "JS", "GD", "BJ"][i % 4]),
        });
        sqlx::query("INSERT INTO organizations (id, name, industry, profile, scan_date, inputs_version, created_at, updated_at) VALUES ($1, $2, $3, $4, NULL, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
            .bind(&id).bind(format!("Bench {i}")).bind(industry).bind(profile.to_string())
            .execute(&mut *tx).await.expect("org");
        for k in 0..RATINGS_PER_ORG {
            let day = today - chrono::Duration::days(10 * (RATINGS_PER_ORG - k) as i64);
            let score = 400 + ((i * 37 + k * 11) % 450) as i64;
            // What the book's simulation reads of a stored rating: λ, the size band, the
            // confidence (a real rating document holds much more).
            let doc = serde_json::json!({
                "expected_incident_rate": 0.02 + 0.001 * (i % 50) as f64,
                "baseline": { "size_band": "small" }, "confidence": { "log_rate_sigma": 0.3 },
            });
            sqlx::query("INSERT INTO ratings (id, org_id, computed_at, as_of, inputs_version, model_id, model_version, score, grade, rating) VALUES ($1, $2, $3, $4, 1, 'cyrisk-rating', '2.0.0', $5, 'C', $6)")
                .bind(format!("r-{i}-{k}")).bind(&id).bind(format!("{day}T00:00:00Z")).bind(day.to_string()).bind(score).bind(doc.to_string())
                .execute(&mut *tx).await.expect("rating");
        }
        sqlx::query("INSERT INTO policies (id, org_id, insurer_key_id, quote_id, starts_on, ends_on, currency, deductible, limit_amount, premium, created_at, written_premium) VALUES ($1, $2, $3, NULL, $4, $5, 'CNY', 100000, 5000000, 40000, '2026-01-01T00:00:00Z', 40000)")
            .bind(format!("p-{i}")).bind(&id).bind(&insurer.id)
            .bind((today - chrono::Duration::days(30)).to_string()).bind((today + chrono::Duration::days(300)).to_string())
            .execute(&mut *tx).await.expect("policy");
    }
    tx.commit().await.expect("commit");
    let app = App::builtin(store.clone())
        .expect("app")
        .with_analytics(std::sync::Arc::new(cyrisk_analytics::Analytics));
    let p = Principal {
        key_id: insurer.id.clone(),
        role: cyrisk_store::Role::Insurer,
        org_id: None,
    };

    let mut reference = Vec::new();
    let mut summary = Vec::new();
    let mut export = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let o = store
            .book_organizations(Some(&insurer.id))
            .await
            .expect("orgs");
        let r = store
            .book_ratings(Some(&insurer.id))
            .await
            .expect("ratings");
        assert_eq!((o.len(), r.len()), (ORGS, ORGS * RATINGS_PER_ORG));
        reference.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let s = app.book_summary(&p, None, 30).await.expect("summary");
        summary.push(t.elapsed().as_secs_f64());
        assert_eq!(
            (s.organizations, s.rated, s.percentiles.len()),
            (ORGS, ORGS, ORGS)
        );
        let t = Instant::now();
        let bytes = app
            .book_export(&p, None, BookTable::Ratings, ExportFormat::Parquet, None)
            .await
            .expect("export");
        export.push(t.elapsed().as_secs_f64());
        size = bytes.len();
    }
    let (reference, summary, export) = (median(reference), median(summary), median(export));

    // The report's peer percentile among all 10,000: the first read, then with the table kept.
    let t = Instant::now();
    let first = app.peer_percentile("org-00042").await.expect("peers");
    let cold = t.elapsed().as_secs_f64();
    assert!(first.is_some());
    let mut warm = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let again = app.peer_percentile("org-00042").await.expect("peers");
        warm.push(t.elapsed().as_secs_f64());
        assert_eq!(again, first);
    }
    let warm = median(warm);

    // The stored book's simulation, 10,000 policies x 10,000 years: the book read from the
    // store, the engine's run, and the whole job (read, run, store 10,000 result rows).
    let t = Instant::now();
    let (book, _, left_out) = app
        .simulation_book(Some(&insurer.id))
        .await
        .expect("the book");
    let read = t.elapsed().as_secs_f64();
    assert_eq!((book.insureds.len(), left_out.len()), (ORGS, 0));
    let portfolio = cyrisk_sim::portfolio::Portfolio::new(
        book,
        &cyrisk_sim::severity::SeverityModel::builtin(),
        &cyrisk_sim::portfolio::ScenarioCatalogue::builtin(),
    )
    .expect("portfolio");
    let mut engine = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let r = portfolio.run(10_000, 1, 25, &|_| {}).expect("run");
        engine.push(t.elapsed().as_secs_f64());
        assert_eq!(r.insured_results.len(), ORGS);
    }
    let engine = median(engine);
    let t = Instant::now();
    let queued = app
        .queue_book_simulation(&p, None, 10_000, 1)
        .await
        .expect("queued");
    let worker = cyrisk_app::jobs::Worker::new(app.clone(), Default::default());
    assert_eq!(worker.run_until_idle().await.expect("ran"), 1);
    let job = t.elapsed().as_secs_f64();
    let done = app.book_simulation(&p, &queued.id).await.expect("status");
    assert_eq!(done.state, "done", "{:?}", done.error);
    println!(
        "book of {ORGS} organisations, {} rating rows (SQLite), median of 5:",
        ORGS * RATINGS_PER_ORG
    );
    println!(
        "  reference: the book's rows read from the store   {:>8.0} ms",
        reference * 1e3
    );
    println!(
        "  summary with percentiles (target < 1 s)          {:>8.0} ms  ({:.1}× the reference)",
        summary * 1e3,
        summary / reference
    );
    println!(
        "  Parquet export of the ratings (target < 1 s)     {:>8.0} ms  ({:.1}× the reference; {} bytes)",
        export * 1e3,
        export / reference,
        size
    );
    println!(
        "  a report's peer percentile among {ORGS}: first {:.0} ms, then {:.1} ms (kept until a rating is stored)",
        cold * 1e3,
        warm * 1e3
    );
    println!(
        "stored book's simulation, {ORGS} policies x 10,000 years ({} threads):",
        rayon::current_num_threads()
    );
    println!(
        "  the book read from the store (policies, ratings, inventories) {:>8.0} ms",
        read * 1e3
    );
    println!(
        "  the engine's run, median of 3 (target < 2 s)                   {:>8.0} ms",
        engine * 1e3
    );
    println!(
        "  the whole job: read, run, store 10,000 rows                    {:>8.0} ms",
        job * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}
