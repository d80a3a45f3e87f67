//! A KEV update against a stored, monitored book: 10,000 organisations, each under a policy
//! in force (so an insurer's monitoring watches it, besides the insured's own), of which
//! 1,000 have an open finding on an internet-facing asset on a CVE the new catalogue lists.
//! Measures how long the load takes to answer (it stores the snapshot and queues one
//! re-rating job per affected organisation, in one transaction), and how long two workers take
//! to drain those jobs — each re-rates, evaluates both audiences' alert rules and raises the
//! alerts in one transaction; checks the jobs are exactly the affected organisations, that
//! each stored exactly one rating, and that each raised the new KEV's alert once per audience.
//! The reference is the same 1,000 ratings computed in a plain loop on one thread (no
//! database), measured in the same run, so the ratio travels between machines.
//!
//! `cargo bench -p cyrisk-benches --bench jobs`
//! PostgreSQL is taken from `CYRISK_TEST_POSTGRES_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres); a scratch database is created and dropped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cyrisk_app::App;
use cyrisk_app::feeds::FeedFile;
use cyrisk_app::jobs::{Worker, WorkerOptions};
use cyrisk_core::{Bundle, KevCatalog, RatingModel};
use cyrisk_store::{JobState, LoadTarget, Principal, Store};

const ORGS: usize = 10_000;
const AFFECTED_EVERY: usize = 10;
const NEW_CVE: &str = "CVE-2026-90001";

fn kev_text() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/kev/kev-2025.08.25.json"),
    )
    .expect("bundled KEV snapshot")
}

/// The demo book's organisations; every tenth with an open finding on [`NEW_CVE`].
fn book() -> Vec<(String, Bundle)> {
    let kev = KevCatalog::from_json(&kev_text()).expect("KEV");
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    (0..ORGS)
        .map(|i| {
            let org = cyrisk_sim::demo::demo_organization(i, 7, &kev, as_of);
            let mut v = serde_json::to_value(org.bundle.raw()).expect("bundle JSON");
            if i % AFFECTED_EVERY == 0 {
                let asset = v["assets"][0]["id"].clone();
                if asset.is_null() {
                    v["assets"] = serde_json::json!([{ "id": "edge", "kind": "host", "internet_facing": true }]);
                }
                v["assets"][0]["internet_facing"] = true.into();
                let asset = v["assets"][0]["id"].clone();
                v["findings"].as_array_mut().expect("findings").push(serde_json::json!({
                    "id": "bench-new-kev", "asset": asset, "cve": NEW_CVE, "cvss_score": 9.8,
                    "first_seen": "2026-10-01", "title": "edge appliance RCE"
                }));
            }
            (
                format!("bench-{i:05}"),
                Bundle::from_json(&v.to_string()).expect("valid bundle"),
            )
        })
        .collect()
}

/// The bundled catalogue plus [`NEW_CVE`], released yesterday.
fn new_kev() -> Arc<[u8]> {
    let mut kev: serde_json::Value = serde_json::from_str(&kev_text()).expect("KEV JSON");
    let yesterday = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    kev["catalogVersion"] = yesterday.format("%Y.%m.%d").to_string().into();
    kev["dateReleased"] = format!("{yesterday}T00:00:00.000Z").into();
    let mut added = kev["vulnerabilities"][0].clone();
    added["cveID"] = NEW_CVE.into();
    kev["vulnerabilities"]
        .as_array_mut()
        .expect("vulnerabilities")
        .push(added);
    kev.to_string().into_bytes().into()
}

/// Jobs run at once (`CYRISK_BENCH_WORKERS`, default 2, as `cyrisk serve`'s default).
fn workers() -> usize {
    std::env::var("CYRISK_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or(2)
}

async fn run(url: &str, label: &str, book: &[(String, Bundle)], reference: f64) {
    let store = Store::open(url).await.expect("open store");
    let t = Instant::now();
    for (id, b) in book {
        store
            .load_bundle(LoadTarget::Id(id), b, &Principal::operator())
            .await
            .expect("load");
    }
    // Every organisation under a policy of one insurer, in force today.
    let insurer = store
        .create_key("bench insurer", cyrisk_store::Role::Insurer, None, None)
        .await
        .expect("insurer key");
    let today = chrono::Utc::now().date_naive();
    for (id, b) in book {
        store
            .create_policy(
                &cyrisk_store::NewPolicy {
                    org_id: id.clone(),
                    insurer_key_id: insurer.id.clone(),
                    quote_id: None,
                    starts_on: today,
                    ends_on: today + chrono::Duration::days(364),
                    currency: b.profile().currency.as_str().to_owned(),
                    deductible: 100_000.0,
                    limit: 5_000_000.0,
                    premium: 50_000.0,
                    inception: None,
                },
                None,
            )
            .await
            .expect("policy");
    }
    println!(
        "{label}: {ORGS} organisations stored and insured in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // The loads' own re-ratings start monitoring (the baseline) for the organisations the
    // feed will touch; the rest are not what is measured here.
    let app = App::builtin(store.clone()).expect("models");
    let baseline: Vec<String> = store
        .jobs(Some(JobState::Queued), None, 100_000, 0)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| {
            j.org_id
                .as_deref()
                .and_then(|o| o.strip_prefix("bench-"))
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n % AFFECTED_EVERY == 0)
        })
        .map(|j| j.id)
        .collect();
    sqlx::query("UPDATE jobs SET state = 'done' WHERE org_id NOT LIKE 'bench-%0'")
        .execute(store.pool())
        .await
        .expect("clear the queue");
    let setup = Worker::new(app.clone(), WorkerOptions::default());
    setup.drain(&baseline, &|_, _| {}).await.expect("baselines");
    let alerts_before = store
        .alerts(&cyrisk_store::AlertFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .expect("alerts")
        .len();

    let t = Instant::now();
    let summary = app
        .load_feed(FeedFile::Kev, new_kev(), None)
        .await
        .expect("KEV load");
    let answered = t.elapsed().as_secs_f64();
    let queued: BTreeSet<String> = summary.rerating.iter().map(|q| q.org_id.clone()).collect();
    let affected: BTreeSet<String> = book
        .iter()
        .enumerate()
        .filter(|(i, _)| i % AFFECTED_EVERY == 0)
        .map(|(_, (id, _))| id.clone())
        .collect();
    assert_eq!(
        queued, affected,
        "queued exactly the affected organisations"
    );

    let worker = Worker::new(
        app.clone(),
        WorkerOptions {
            concurrency: workers(),
            poll: Duration::from_millis(20),
            // Only the feed's work: not the day's scheduled re-rating of the other 9,000.
            schedule: false,
            ..WorkerOptions::default()
        },
    );
    let ids: Vec<String> = summary.rerating.iter().map(|q| q.job_id.clone()).collect();
    let t = Instant::now();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let w = worker.clone();
    let running = tokio::spawn(async move {
        w.run(async {
            let _ = rx.await;
        })
        .await;
    });
    while store.unfinished(&ids).await.expect("unfinished") > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = t.elapsed().as_secs_f64();
    let _ = tx.send(());
    running.await.expect("worker");
    let mut rated = 0;
    let mut retried = 0;
    for id in &ids {
        let j = store.job(id).await.expect("job");
        assert_eq!(j.state, JobState::Done, "{j:?}");
        if j.attempts > 1 {
            retried += 1;
            if retried == 1 {
                println!(
                    "{label}: a job took {} attempts: {:?}",
                    j.attempts, j.last_error
                );
            }
        }
        rated += store.ratings_by_job(id).await.expect("ratings");
    }
    assert_eq!(rated, ids.len() as i64, "one rating per job");
    let alerts = store
        .alerts(&cyrisk_store::AlertFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .expect("alerts");
    let kev_alerts = alerts
        .iter()
        .filter(|a| a.kind == "kev_internet_facing" && a.detail["finding_id"] == "bench-new-kev")
        .count();
    assert_eq!(
        kev_alerts,
        2 * ids.len(),
        "the new KEV raised one alert per affected organisation and audience"
    );
    let raised = alerts.len() - alerts_before;
    let t = Instant::now();
    for org in &queued {
        app.compute_rating(org).await.expect("direct re-rating");
    }
    let direct = t.elapsed().as_secs_f64();
    println!(
        "{label}: KEV load answered in {answered:.3} s with {} jobs queued ({} CVE changed); \
         {} workers re-rated them and evaluated their alert rules ({raised} alerts raised; \
         {retried} jobs retried) in {drained:.2} s = {:.0} re-ratings/s; \
         the same re-ratings one after another without the queue: {direct:.2} s \
         (queue ÷ direct = {:.2}); the ratings alone, no database: {reference:.3} s",
        ids.len(),
        summary.changed_cves,
        workers(),
        ids.len() as f64 / drained,
        drained / direct
    );
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let book = book();
    // Reference: the affected organisations' ratings alone, one thread, no database.
    let model = RatingModel::builtin();
    let kev = KevCatalog::from_json(&kev_text()).expect("KEV");
    let today = chrono::Utc::now().date_naive();
    let affected: Vec<Bundle> = book
        .iter()
        .enumerate()
        .filter(|(i, _)| i % AFFECTED_EVERY == 0)
        .map(|(_, (_, b))| {
            let mut b = b.clone();
            b.apply_kev(&kev);
            b
        })
        .collect();
    let t = Instant::now();
    for b in &affected {
        std::hint::black_box(cyrisk_core::rate(b, &model, today));
    }
    let reference = t.elapsed().as_secs_f64();

    let dir = std::env::temp_dir().join(format!("cyrisk-jobs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    run(
        &format!("sqlite://{}", dir.join("book.db").display()),
        "SQLite",
        &book,
        reference,
    )
    .await;
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
    let db = format!("cyrisk_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(admin.pool())
        .await
        .expect("create database");
    run(&format!("{base}/{db}"), "PostgreSQL", &book, reference).await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute(admin.pool())
        .await;
}
