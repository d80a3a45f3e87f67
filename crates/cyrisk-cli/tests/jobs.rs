//! Worker processes on one database, SQLite and PostgreSQL: two `cyrisk worker` processes
//! drain a queue and every job's effect happens exactly once; a worker SIGKILLed in the middle
//! of a job leaves it to be retried after its lease, and the retry completes it. PostgreSQL
//! needs `CYRISK_TEST_POSTGRES_URL`; under CI its absence is a failure, not a skip.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cyrisk_core::Bundle;
use cyrisk_store::{JobState, LoadTarget, NewJob, Principal, Store};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh database URL per backend: a SQLite file, and a new PostgreSQL database (dropped by
/// [`drop_databases`]).
fn databases(rt: &tokio::runtime::Runtime, name: &str) -> Vec<(String, Option<String>)> {
    let dir = std::env::temp_dir().join(format!("cyrisk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = vec![(
        format!("sqlite://{}", dir.join("cyrisk.db").display()),
        None,
    )];
    match std::env::var("CYRISK_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let db = format!("cyrisk_{name}_{}", std::process::id());
            let (base, _) = admin_url.rsplit_once('/').unwrap();
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
            out.push((format!("{base}/{db}"), Some(db)));
        }
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but CYRISK_TEST_POSTGRES_URL is not"
            );
            eprintln!("CYRISK_TEST_POSTGRES_URL not set: worker processes tested on SQLite only");
        }
    }
    out
}

fn drop_databases(rt: &tokio::runtime::Runtime, dbs: &[(String, Option<String>)]) {
    if let Ok(admin_url) = std::env::var("CYRISK_TEST_POSTGRES_URL") {
        rt.block_on(async {
            let admin = Store::connect(&admin_url).await.unwrap();
            for db in dbs.iter().filter_map(|(_, d)| d.as_ref()) {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
                    .execute(admin.pool())
                    .await;
            }
            admin.close().await;
        });
    }
}

fn worker(url: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cyrisk"))
        .args(["worker", "--database-url", url, "--poll-ms", "50"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn example(name: &str) -> Bundle {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(format!("{name}.json"));
    Bundle::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn two_worker_processes_drain_the_queue_and_each_effect_happens_once() {
    let rt = runtime();
    let dbs = databases(&rt, "drain");
    for (url, _) in &dbs {
        let ids = rt.block_on(async {
            let s = Store::open(url).await.unwrap();
            let mut orgs = Vec::new();
            for name in ["sme-external-scan", "manufacturer", "power-utility"] {
                orgs.push(
                    s.load_bundle(LoadTarget::ByName, &example(name), &Principal::operator())
                        .await
                        .unwrap()
                        .org_id,
                );
            }
            for i in 0..9 {
                for org in &orgs {
                    let mut j = NewJob::rerate(org, &format!("test {i}"));
                    j.dedupe_key = None;
                    s.enqueue(&j).await.unwrap();
                }
            }
            let ids: Vec<String> = s
                .jobs(Some(JobState::Queued), None, 1000, 0)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id)
                .collect();
            s.close().await;
            ids
        });
        assert_eq!(ids.len(), 30);
        let mut a = worker(url, &["--exit-when-idle", "--concurrency", "2"]);
        let mut b = worker(url, &["--exit-when-idle", "--concurrency", "2"]);
        assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
        rt.block_on(async {
            let s = Store::open(url).await.unwrap();
            let mut by_worker = std::collections::BTreeMap::<String, usize>::new();
            let mut stored = 0;
            for id in &ids {
                let j = s.job(id).await.unwrap();
                assert_eq!((j.state, j.attempts), (JobState::Done, 1), "{url}: {j:?}");
                let made = s.ratings_by_job(id).await.unwrap();
                assert_eq!(made, i64::from(j.result.unwrap()["computed"] == true));
                stored += made;
                *by_worker.entry(j.worker.unwrap()).or_default() += 1;
            }
            // Every stored rating is one job's effect, and no job's effect happened twice.
            let mut ratings = 0;
            for o in s.list_organizations(10, 0).await.unwrap() {
                ratings += s.ratings(&o.id, 1000).await.unwrap().len() as i64;
            }
            assert_eq!(ratings, stored, "{url}");
            assert!(stored >= 3, "every organisation rated");
            eprintln!("{url}: jobs per worker {by_worker:?}; {stored} ratings stored");
            s.close().await;
        });
    }
    drop_databases(&rt, &dbs);
}

/// An organisation large enough that rating it takes a while in a test build.
fn big_bundle() -> Bundle {
    let assets: Vec<serde_json::Value> = (0..2_000)
        .map(|i| serde_json::json!({ "id": format!("a{i}"), "kind": "host", "internet_facing": i % 10 == 0 }))
        .collect();
    let findings: Vec<serde_json::Value> = (0..30_000)
        .map(|i| {
            serde_json::json!({
                "id": format!("f{i}"), "asset": format!("a{}", i % 2_000), "cvss_score": (i % 100) as f64 / 10.0,
                "epss": 0.01, "first_seen": "2026-06-01", "title": "synthetic finding"
            })
        })
        .collect();
    Bundle::from_json(
        &serde_json::json!({
            "profile": { "name": "Big Co.", "industry": "finance", "annual_revenue": 1.0e9, "employees": 2000, "region": "CN-SH" },
            "scan_date": "2026-11-01", "assets": assets, "findings": findings
        })
        .to_string(),
    )
    .unwrap()
}

#[test]
fn a_worker_killed_mid_job_leaves_it_to_be_retried_after_its_lease() {
    let rt = runtime();
    let dbs = databases(&rt, "killed");
    for (url, _) in &dbs {
        let (org, store) = rt.block_on(async {
            let s = Store::open(url).await.unwrap();
            let org = s
                .load_bundle(LoadTarget::ByName, &big_bundle(), &Principal::operator())
                .await
                .unwrap()
                .org_id;
            (org, s)
        });
        // The load's own re-rating out of the way: only the job under test is queued.
        rt.block_on(async {
            while let Some(c) = store
                .claim_job("setup", Duration::from_secs(60), &Default::default())
                .await
                .unwrap()
            {
                store.finish_job(&c, &serde_json::json!({})).await.unwrap();
            }
        });
        // The kill must land while the job runs: watch the job, kill when this worker holds
        // it, and check it was not finished meanwhile; otherwise queue a fresh job and again.
        let mut landed = None;
        for round in 0..5 {
            // A change of inputs each round, so the job must compute (a rating already
            // current would be a quick no-op the kill could not land in).
            let job_id = rt.block_on(async {
                let incident: cyrisk_core::incident::Incident = serde_json::from_value(serde_json::json!({
                    "id": format!("INC-{round}"), "type": "outage", "impact": "minor", "started": "2026-01-01"
                }))
                .unwrap();
                let batch = cyrisk_store::InputsBatch {
                    incidents: vec![incident],
                    ..Default::default()
                };
                store
                    .upsert_inputs(&org, &batch, &Principal::operator())
                    .await
                    .unwrap()
                    .rerate_job
            });
            let mut w = worker(url, &["--lease-secs", "2", "--concurrency", "1"]);
            let me = format!(":{}", w.id());
            let t = Instant::now();
            let running = loop {
                let j = rt.block_on(store.job(&job_id)).unwrap();
                if j.state == JobState::Running
                    && j.worker.as_deref().is_some_and(|n| n.ends_with(&me))
                {
                    break true;
                }
                if j.state == JobState::Done || t.elapsed() > Duration::from_secs(60) {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            w.kill().unwrap(); // SIGKILL
            w.wait().unwrap();
            let j = rt.block_on(store.job(&job_id)).unwrap();
            let effects = rt.block_on(store.ratings_by_job(&job_id)).unwrap();
            if running && j.state == JobState::Running && effects == 0 {
                landed = Some(job_id);
                break;
            }
            eprintln!(
                "{url}: round {round}: the kill missed the job ({:?}); again",
                j.state
            );
        }
        let job_id =
            landed.unwrap_or_else(|| panic!("{url}: no kill landed inside a job in 5 rounds"));
        let ratings_before = rt.block_on(store.ratings(&org, 1000)).unwrap().len();
        // Another worker retries it once the lease has expired, and completes it.
        let mut w2 = worker(url, &["--lease-secs", "2", "--concurrency", "1"]);
        let t = Instant::now();
        let done = loop {
            let j = rt.block_on(store.job(&job_id)).unwrap();
            if j.state != JobState::Running || t.elapsed() > Duration::from_secs(180) {
                break j;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        w2.kill().unwrap();
        w2.wait().unwrap();
        assert_eq!(done.state, JobState::Done, "{url}: {done:?}");
        assert_eq!(done.attempts, 2, "{url}: {done:?}");
        assert!(
            done.last_error
                .as_deref()
                .is_some_and(|e| e.contains("expired on worker")),
            "{url}: {done:?}"
        );
        assert_eq!(rt.block_on(store.ratings_by_job(&job_id)).unwrap(), 1);
        assert_eq!(
            rt.block_on(store.ratings(&org, 1000)).unwrap().len(),
            ratings_before + 1,
            "{url}: exactly one rating from the retried job"
        );
        eprintln!(
            "{url}: killed mid-job; retried after the lease and completed in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        rt.block_on(store.close());
    }
    drop_databases(&rt, &dbs);
}
