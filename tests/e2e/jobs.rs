//! The durable job queue, on SQLite and PostgreSQL (the store conformance suite's backends):
//! the transactional outbox, dedupe, leases, backoff, the dead letter, and exactly-once
//! effects with two workers. The same with worker processes and a SIGKILL is in
//! `crates/cyrisk-cli/tests/jobs.rs`.

use std::time::Duration;

use cyrisk_app::App;
use cyrisk_app::jobs::{Worker, WorkerOptions, backoff};
use cyrisk_store::{
    ClaimFilter, InputsBatch, JobState, LoadTarget, NewJob, Principal, Store, StoreError,
};

use crate::store::{backends, example, finish, runtime};

fn job(kind: &str, key: Option<&str>, max_attempts: i64) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        org_id: None,
        payload: serde_json::json!({}),
        dedupe_key: key.map(str::to_owned),
        max_attempts,
    }
}

fn any() -> ClaimFilter {
    ClaimFilter::default()
}

fn kinds(k: &str) -> ClaimFilter {
    ClaimFilter {
        kinds: vec![k.to_owned()],
        ids: None,
    }
}

async fn count(store: &Store) -> usize {
    store.jobs(None, None, 1000, 0).await.unwrap().len()
}

async fn load(store: &Store, name: &str) -> String {
    store
        .load_bundle(LoadTarget::ByName, &example(name), &Principal::operator())
        .await
        .unwrap()
        .org_id
}

fn worker(store: &Store, name: &str) -> Worker {
    Worker::new(
        App::builtin(store.clone()).unwrap(),
        WorkerOptions {
            name: name.to_owned(),
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(80),
            ..WorkerOptions::default()
        },
    )
}

#[test]
fn a_job_enqueued_in_a_transaction_that_rolls_back_never_runs() {
    runtime().block_on(async {
        let all = backends("jobs-outbox").await;
        for f in &all {
            let s = &f.store;
            let mut tx = s.write_tx().await.unwrap();
            tx.enqueue(&job("probe", None, 3)).await.unwrap();
            drop(tx); // rolled back
            assert_eq!(count(s).await, 0, "{:?}", s.backend());
            assert!(
                s.claim_job("w", Duration::from_secs(5), &any())
                    .await
                    .unwrap()
                    .is_none()
            );

            // A write that fails part-way (a finding on an asset that does not exist) queues
            // no re-rating; the same write done right queues exactly one.
            let org = load(s, "sme-external-scan").await;
            let before = count(s).await;
            assert_eq!(before, 1, "the load queued its re-rating");
            let mut bad = example("sme-external-scan").raw().findings[0].clone();
            bad.id = "NEW-1".into();
            bad.asset = "no-such-asset".into();
            let batch = InputsBatch {
                findings: vec![bad.clone()],
                ..Default::default()
            };
            assert!(
                s.upsert_inputs(&org, &batch, &Principal::operator())
                    .await
                    .is_err()
            );
            assert_eq!(count(s).await, before, "{:?}", s.backend());
            bad.asset = example("sme-external-scan").raw().assets[0].id.clone();
            let ok = InputsBatch {
                findings: vec![bad],
                ..Default::default()
            };
            let w = s
                .upsert_inputs(&org, &ok, &Principal::operator())
                .await
                .unwrap();
            // The queued re-rating of the load absorbs this one (same organisation, not yet
            // started).
            let first = s.jobs(None, Some(&org), 10, 0).await.unwrap();
            assert_eq!(first.len(), 1, "{first:?}");
            assert_eq!(w.rerate_job, first[0].id);
        }
        finish(all).await;
    });
}

#[test]
fn dedupe_joins_a_queued_job_but_not_a_running_one() {
    runtime().block_on(async {
        let all = backends("jobs-dedupe").await;
        for f in &all {
            let s = &f.store;
            let a = s.enqueue(&job("probe", Some("k"), 3)).await.unwrap();
            let b = s.enqueue(&job("probe", Some("k"), 3)).await.unwrap();
            assert!(a.created && !b.created, "{:?}", s.backend());
            assert_eq!(a.id, b.id);
            let c = s
                .claim_job("w1", Duration::from_secs(30), &any())
                .await
                .unwrap()
                .unwrap();
            assert_eq!((c.job.id.as_str(), c.job.attempts), (a.id.as_str(), 1));
            // Running: it may have read its inputs already, so new work gets a new job.
            let d = s.enqueue(&job("probe", Some("k"), 3)).await.unwrap();
            assert!(d.created && d.id != a.id);
            // Failing the running one while its twin is queued finishes it as superseded.
            let st = s
                .fail_job(&c, "boom", Some(Duration::from_millis(1)))
                .await
                .unwrap();
            assert_eq!(st, JobState::Done);
            let done = s.job(&a.id).await.unwrap();
            assert_eq!(done.result.unwrap()["superseded_by"], d.id.as_str());
            assert_eq!(done.last_error.as_deref(), Some("boom"));
            // Kinds filter the claim.
            assert!(
                s.claim_job("w1", Duration::from_secs(30), &kinds("other"))
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                s.claim_job("w1", Duration::from_secs(30), &kinds("probe"))
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        finish(all).await;
    });
}

#[test]
fn an_expired_lease_is_claimed_again_and_the_old_holder_cannot_finish() {
    runtime().block_on(async {
        let all = backends("jobs-lease").await;
        for f in &all {
            let s = &f.store;
            let id = s.enqueue(&job("probe", None, 2)).await.unwrap().id;
            let first = s
                .claim_job("dead-worker", Duration::from_millis(1), &any())
                .await
                .unwrap()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            let second = s
                .claim_job("live-worker", Duration::from_secs(30), &any())
                .await
                .unwrap()
                .expect("the expired job is due again");
            assert_eq!(second.job.id, id);
            assert_eq!(second.job.attempts, 2);
            assert_eq!(second.job.worker.as_deref(), Some("live-worker"));
            assert!(
                second
                    .job
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("expired on worker dead-worker")),
                "{:?}",
                second.job
            );
            // The old holder's outcome is refused: its effect would roll back with it.
            assert!(matches!(
                s.finish_job(&first, &serde_json::json!({})).await,
                Err(StoreError::LeaseLost(_))
            ));
            assert!(matches!(
                s.extend_lease(&first, Duration::from_secs(1)).await,
                Err(StoreError::LeaseLost(_))
            ));
            // The old holder's effect rolls back with its refused completion: a rating it
            // wrote in the same transaction is never stored.
            let org = load(s, "sme-external-scan").await;
            let (b, v) = s.bundle_versioned(&org).await.unwrap();
            let r = cyrisk_core::rate(
                &b.validate().unwrap(),
                &cyrisk_core::RatingModel::builtin(),
                crate::support::as_of(),
            );
            let mut tx = s.write_tx().await.unwrap();
            tx.insert_rating(&org, &r, v, None, Some(&id))
                .await
                .unwrap();
            assert!(matches!(
                tx.finish_job(&first, &serde_json::json!({})).await,
                Err(StoreError::LeaseLost(_))
            ));
            drop(tx);
            assert_eq!(s.ratings_by_job(&id).await.unwrap(), 0, "{:?}", s.backend());
            s.extend_lease(&second, Duration::from_secs(30))
                .await
                .unwrap();
            s.finish_job(&second, &serde_json::json!({"ok": true}))
                .await
                .unwrap();
            assert_eq!(s.job(&id).await.unwrap().state, JobState::Done);

            // A job whose lease expires on its last attempt is dead-lettered, not run again.
            let id = s.enqueue(&job("probe", None, 1)).await.unwrap().id;
            s.claim_job("dead-worker", Duration::from_millis(1), &kinds("probe"))
                .await
                .unwrap()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(
                s.claim_job("w", Duration::from_secs(30), &kinds("probe"))
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(s.dead_letter_expired().await.unwrap(), 1);
            let dead = s.job(&id).await.unwrap();
            assert_eq!(dead.state, JobState::Dead, "{dead:?}");
            assert!(dead.last_error.unwrap().contains("expired"));
        }
        finish(all).await;
    });
}

#[test]
fn a_job_that_always_fails_backs_off_and_reaches_the_dead_letter() {
    runtime().block_on(async {
        let all = backends("jobs-dead").await;
        for f in &all {
            let s = &f.store;
            // An organisation whose stored profile no longer reads: every attempt fails with
            // a fault (not the caller's), which is retried.
            let org = load(s, "sme-external-scan").await;
            sqlx::query("UPDATE organizations SET profile = '{}' WHERE id = $1")
                .bind(&org)
                .execute(s.pool())
                .await
                .unwrap();
            let id = s.jobs(None, Some(&org), 1, 0).await.unwrap()[0].id.clone();
            let w = worker(s, "w");
            let mut attempts = 0;
            loop {
                match w.run_one().await.unwrap() {
                    Some(ran) => {
                        attempts += 1;
                        assert_eq!(ran.job_id, id);
                        assert!(ran.error.as_deref().is_some_and(|e| e.contains("profile")));
                        let j = s.job(&id).await.unwrap();
                        assert_eq!(j.attempts, attempts);
                        if ran.state == JobState::Dead {
                            break;
                        }
                        // Backing off: queued again, due only later.
                        assert_eq!(j.state, JobState::Queued);
                        assert!(j.run_at > j.updated_at, "{j:?}");
                    }
                    None => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            let dead = s.job(&id).await.unwrap();
            assert_eq!(
                (dead.state, dead.attempts),
                (JobState::Dead, cyrisk_store::jobs::DEFAULT_MAX_ATTEMPTS)
            );
            assert!(dead.last_error.unwrap().contains("profile"));
            assert_eq!(s.queue_stats().await.unwrap().dead, 1);
            // An operator retries it (attempts reset); a job that is not dead cannot be.
            let again = s.retry_job(&id, Some("test")).await.unwrap();
            assert_eq!((again.state, again.attempts), (JobState::Queued, 0));
            assert!(matches!(
                s.retry_job(&id, None).await,
                Err(StoreError::Conflict(_))
            ));

            // An error no retry can fix (no such organisation) dead-letters at once.
            let mut ghost = NewJob::rerate("no-such-org", "test");
            ghost.dedupe_key = None;
            let ghost = s.enqueue(&ghost).await.unwrap().id;
            let w2 = worker(s, "w2");
            while s.job(&ghost).await.unwrap().state == JobState::Queued {
                w2.run_one().await.unwrap();
            }
            let g = s.job(&ghost).await.unwrap();
            assert_eq!((g.state, g.attempts), (JobState::Dead, 1), "{g:?}");
        }
        finish(all).await;
    });
}

#[test]
fn two_workers_drain_every_job_and_each_effect_happens_once() {
    runtime().block_on(async {
        let all = backends("jobs-drain").await;
        for f in &all {
            let s = &f.store;
            let mut orgs = Vec::new();
            for name in ["sme-external-scan", "manufacturer", "power-utility"] {
                orgs.push(load(s, name).await);
            }
            // Three more re-ratings per organisation with no dedupe key: 12 jobs in all.
            for org in &orgs {
                for i in 0..3 {
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
            assert_eq!(ids.len(), 12);
            let (a, b) = (worker(s, "a"), worker(s, "b"));
            let (na, nb) = tokio::join!(a.run_until_idle(), b.run_until_idle());
            assert_eq!(na.unwrap() + nb.unwrap(), 12, "{:?}", s.backend());
            let mut computed = std::collections::BTreeMap::<String, i64>::new();
            for id in &ids {
                let j = s.job(id).await.unwrap();
                assert_eq!((j.state, j.attempts), (JobState::Done, 1), "{j:?}");
                let made = s.ratings_by_job(id).await.unwrap();
                let result = j.result.unwrap();
                // A job stores a rating exactly when it says it computed one, and at most one.
                assert_eq!(made, i64::from(result["computed"] == true), "{result}");
                *computed.entry(j.org_id.unwrap()).or_default() += made;
            }
            // Every organisation was rated, and every stored rating is one job's (the later
            // jobs mostly find the first one's rating current; two racing on one
            // organisation may both compute).
            for org in &orgs {
                let n = computed.get(org).copied().unwrap_or(0);
                assert!(n >= 1, "{org} never rated");
                assert_eq!(s.ratings(org, 10).await.unwrap().len() as i64, n);
            }
            assert_eq!(s.queue_stats().await.unwrap().done, 12);
        }
        finish(all).await;
    });
}

#[test]
fn backoff_doubles_with_jitter_within_its_bounds() {
    let base = Duration::from_secs(5);
    let max = Duration::from_secs(60);
    for attempt in 1..=10_i64 {
        let d = base
            .saturating_mul(1 << (attempt - 1).min(20) as u32)
            .min(max);
        let draws: Vec<Duration> = (0..200).map(|_| backoff(attempt, base, max)).collect();
        assert!(
            draws.iter().all(|x| *x >= d / 2 && *x <= d),
            "attempt {attempt}"
        );
        // Jittered: not all the same.
        assert!(draws.iter().any(|x| *x != draws[0]), "attempt {attempt}");
    }
}

#[test]
fn claims_can_be_limited_to_given_jobs_and_finished_jobs_are_pruned() {
    runtime().block_on(async {
        let all = backends("jobs-filter").await;
        for f in &all {
            let s = &f.store;
            let a = s.enqueue(&job("probe", None, 3)).await.unwrap().id;
            let b = s.enqueue(&job("probe", None, 3)).await.unwrap().id;
            let only_b = ClaimFilter {
                kinds: vec![],
                ids: Some(vec![b.clone()]),
            };
            let c = s
                .claim_job("w", Duration::from_secs(30), &only_b)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                c.job.id,
                b,
                "{:?}: {a} is older but not asked for",
                s.backend()
            );
            assert!(
                s.claim_job("w", Duration::from_secs(30), &only_b)
                    .await
                    .unwrap()
                    .is_none()
            );
            let mut tx = s.write_tx().await.unwrap();
            tx.finish_job(&c, &serde_json::json!({"ok": 1}))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(s.unfinished(&[a.clone(), b.clone()]).await.unwrap(), 1);
            // Retention: a done job is deleted once old enough; queued ones never are.
            assert_eq!(s.prune_jobs(Duration::from_secs(3600)).await.unwrap(), 0);
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(s.prune_jobs(Duration::ZERO).await.unwrap(), 1);
            assert!(matches!(s.job(&b).await, Err(StoreError::NotFound { .. })));
            assert_eq!(s.job(&a).await.unwrap().state, JobState::Queued);
        }
        finish(all).await;
    });
}

/// Between a feed load and its re-rating job, the live rating of an affected organisation
/// (what a quote prices) already uses the new feed; the job then finds it current.
#[test]
fn the_live_rating_does_not_serve_a_rating_from_before_a_feed_it_is_queued_for() {
    runtime().block_on(async {
        let all = backends("jobs-live").await;
        for f in &all {
            let s = &f.store;
            let app = App::builtin(s.clone()).unwrap();
            let org = load(s, "sme-external-scan").await;
            let before = app.live_rating(&org).await.unwrap();
            worker(s, "w").run_until_idle().await.unwrap();
            // Served from the store now that no re-rating is queued.
            assert_eq!(app.live_rating(&org).await.unwrap().id, before.id);
            let text = std::fs::read_to_string(
                crate::support::root().join("data/kev/kev-2025.08.25.json"),
            )
            .unwrap();
            let mut kev: serde_json::Value = serde_json::from_str(&text).unwrap();
            kev["catalogVersion"] = "2025.08.26".into();
            let mut added = kev["vulnerabilities"][0].clone();
            added["cveID"] = "CVE-2021-23017".into();
            kev["vulnerabilities"].as_array_mut().unwrap().push(added);
            let summary = app
                .load_feed(
                    cyrisk_app::feeds::FeedFile::Kev,
                    kev.to_string().into_bytes().into(),
                    None,
                )
                .await
                .unwrap();
            assert_eq!(summary.rerating.len(), 1);
            let live = app.live_rating(&org).await.unwrap();
            assert_ne!(live.id, before.id, "{:?}", s.backend());
            assert!(live.feeds.unwrap().contains("2025.08.26"));
            assert!(live.score < before.score, "a KEV listing lowers it");
            worker(s, "w").run_until_idle().await.unwrap();
            let job = s.job(&summary.rerating[0].job_id).await.unwrap();
            assert_eq!(job.result.unwrap()["computed"], false, "already current");
            assert_eq!(app.live_rating(&org).await.unwrap().id, live.id);
        }
        finish(all).await;
    });
}
