//! The worker: claims due jobs from the store's queue and runs them — inside `cyrisk serve`
//! (configurable concurrency) or alone as `cyrisk worker`; the CLI also drains the jobs its own
//! commands queued.
//!
//! Each claim carries a lease, renewed by a heartbeat while the job runs; a worker that dies
//! stops renewing and, after the lease, another worker runs the job again. A failed attempt is
//! retried after an exponential backoff with "equal jitter" — half the capped exponential
//! delay plus a uniform draw over the other half (Brooker, "Exponential Backoff And Jitter",
//! AWS Architecture Blog, 2015) — so retries of many jobs that failed together spread out;
//! after `max_attempts` the job is dead-lettered with its last error. Errors that no retry can
//! fix (an unknown job kind, an organisation that does not exist) dead-letter at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cyrisk_store::monitoring::WEBHOOK;
use cyrisk_store::{Claim, ClaimFilter, JobState, StoreError, jobs::RERATE};
use serde::Serialize;

use crate::App;
use crate::book_sim::BOOK_SIMULATION;
use crate::error::AppError;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's name in the jobs table (default: host name and process id).
    pub name: String,
    /// Jobs run at once (each on its own task; CPU work on the blocking pool).
    pub concurrency: usize,
    /// How long a claim holds a job without a heartbeat.
    pub lease: Duration,
    /// How long an idle worker waits before looking again.
    pub poll: Duration,
    /// The first retry's delay (doubling per attempt, with jitter).
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// Finished jobs are deleted this long after they finished (dead ones are kept).
    pub retention: Duration,
    /// Queue the daily re-rating of monitored organisations from the housekeeping loop
    /// ([`App::schedule_monitoring`]); off for a worker that must run only what it is given.
    pub schedule: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            name: default_name(),
            concurrency: 2,
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(500),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(15 * 60),
            retention: Duration::from_secs(7 * 24 * 3600),
            schedule: true,
        }
    }
}

/// `host:pid`, so an operator can tell workers apart in `cyrisk jobs list`.
pub fn default_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    format!("{host}:{}", std::process::id())
}

/// The delay before retry number `attempt` (1 = after the first failure): `d/2 + U(0, d/2)`
/// with `d = min(max, base · 2^(attempt−1))`.
pub fn backoff(attempt: i64, base: Duration, max: Duration) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let d = base.saturating_mul(1u32 << exp).min(max);
    let half = d / 2;
    half + half.mul_f64(fastrand::f64())
}

/// What running one job did.
#[derive(Debug, Clone, Serialize)]
pub struct Ran {
    pub job_id: String,
    pub kind: String,
    /// The job's state after this attempt.
    pub state: JobState,
    pub error: Option<String>,
}

/// A job's failure: retried unless `permanent`.
#[derive(Debug)]
struct JobFailure {
    message: String,
    permanent: bool,
    lease_lost: bool,
}

impl From<AppError> for JobFailure {
    fn from(e: AppError) -> Self {
        Self {
            permanent: matches!(e, AppError::NotFound { .. } | AppError::Invalid(_)),
            lease_lost: matches!(e, AppError::LeaseLost(_)),
            message: e.to_string(),
        }
    }
}

/// Claims and runs jobs.
#[derive(Debug, Clone)]
pub struct Worker {
    app: App,
    options: WorkerOptions,
}

impl Worker {
    pub fn new(app: App, options: WorkerOptions) -> Self {
        Self { app, options }
    }

    pub fn options(&self) -> &WorkerOptions {
        &self.options
    }

    /// The kinds this build runs: a worker claims only these.
    pub const KINDS: [&'static str; 3] = [RERATE, WEBHOOK, BOOK_SIMULATION];

    /// Claims one due job and runs it; `None` when no job is due.
    pub async fn run_one(&self) -> Result<Option<Ran>, AppError> {
        self.run_one_of(None).await
    }

    /// [`Worker::run_one`], limited to `ids` when given.
    async fn run_one_of(&self, ids: Option<&[String]>) -> Result<Option<Ran>, AppError> {
        let filter = ClaimFilter {
            kinds: Self::KINDS.iter().map(|k| (*k).to_owned()).collect(),
            ids: ids.map(<[String]>::to_vec),
        };
        let Some(claim) = self
            .app
            .store
            .claim_job(&self.options.name, self.options.lease, &filter)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(self.execute(claim).await?))
    }

    /// Runs a claimed job with a heartbeat, and records its outcome.
    async fn execute(&self, claim: Claim) -> Result<Ran, AppError> {
        let store = &self.app.store;
        let lost = Arc::new(AtomicBool::new(false));
        // Stops the heartbeat however this attempt ends (returned, failed, cancelled).
        let _heartbeat = AbortOnDrop({
            let (store, claim, lease, lost) = (
                store.clone(),
                claim.clone(),
                self.options.lease,
                lost.clone(),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    match store.extend_lease(&claim, lease).await {
                        Ok(()) => {}
                        Err(StoreError::LeaseLost(_)) => {
                            lost.store(true, Ordering::Relaxed);
                            break;
                        }
                        // A failed heartbeat is retried at the next beat; the lease is long
                        // enough for a couple to fail.
                        Err(e) => {
                            tracing::warn!(job = %claim.job.id, error = %e, "lease heartbeat failed")
                        }
                    }
                }
            })
        });
        let started = std::time::Instant::now();
        let outcome = self.dispatch(&claim).await;
        drop(_heartbeat);
        let kind = claim.job.kind.clone();
        metrics::histogram!("cyrisk_job_duration_seconds", "kind" => kind.clone())
            .record(started.elapsed().as_secs_f64());
        let (state, error) = match outcome {
            Ok(()) => (JobState::Done, None),
            Err(f) if f.lease_lost || lost.load(Ordering::Relaxed) => {
                // Another worker owns the job now: its outcome is the one recorded.
                tracing::warn!(job = %claim.job.id, "lease lost; the attempt's outcome is dropped");
                (JobState::Running, Some(f.message))
            }
            Err(f) => {
                metrics::counter!("cyrisk_job_failures_total", "kind" => kind.clone()).increment(1);
                tracing::warn!(job = %claim.job.id, kind = %kind, error = %f.message, permanent = f.permanent, "job failed");
                let retry = (!f.permanent).then(|| {
                    backoff(
                        claim.job.attempts,
                        self.options.backoff_base,
                        self.options.backoff_max,
                    )
                });
                match store.fail_job(&claim, &f.message, retry).await {
                    Ok(state) => (state, Some(f.message)),
                    Err(StoreError::LeaseLost(_)) => (JobState::Running, Some(f.message)),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Ok(Ran {
            job_id: claim.job.id,
            kind,
            state,
            error,
        })
    }

    async fn dispatch(&self, claim: &Claim) -> Result<(), JobFailure> {
        match claim.job.kind.as_str() {
            RERATE => {
                self.app.rerate(claim).await?;
                Ok(())
            }
            WEBHOOK => {
                self.app.deliver_webhook(claim).await?;
                Ok(())
            }
            BOOK_SIMULATION => {
                self.app.run_book_simulation(claim).await?;
                Ok(())
            }
            other => Err(JobFailure {
                message: format!("unknown job kind {other:?}: this build cannot run it"),
                permanent: true,
                lease_lost: false,
            }),
        }
    }

    /// Runs until `shutdown` resolves: `concurrency` loops, each claiming and running one job
    /// at a time and sleeping `poll` when none is due, and a housekeeping loop that deletes
    /// finished jobs older than `retention`. A store error (the database gone for a moment)
    /// is logged and retried after `poll`. On shutdown the jobs in flight finish; idle loops
    /// stop at once.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.options.concurrency.max(1) {
            let (w, mut stop) = (self.clone(), stop_rx.clone());
            tasks.spawn(async move {
                while !*stop.borrow_and_update() {
                    let idle = match w.run_one().await {
                        Ok(Some(_)) => false,
                        Ok(None) => true,
                        Err(e) => {
                            tracing::warn!(error = %e, "worker: claiming or recording a job failed");
                            true
                        }
                    };
                    if idle {
                        // `changed` also sees a stop sent while this loop was busy.
                        tokio::select! {
                            () = tokio::time::sleep(w.options.poll) => {}
                            _ = stop.changed() => {}
                        }
                    }
                }
            });
        }
        {
            // Housekeeping: dead-letter jobs whose lease expired on their last attempt (every
            // few seconds); every ten minutes, delete finished jobs past their retention and
            // queue the day's re-rating of monitored organisations not yet rated today.
            let (app, retention, schedule, mut stop) = (
                self.app.clone(),
                self.options.retention,
                self.options.schedule,
                stop_rx.clone(),
            );
            let store = app.store.clone();
            let sweep =
                (self.options.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
            tasks.spawn(async move {
                let mut last_prune: Option<std::time::Instant> = None;
                while !*stop.borrow_and_update() {
                    match store.dead_letter_expired().await {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(
                            jobs = n,
                            "dead-lettered jobs whose worker died on their last attempt"
                        ),
                        Err(e) => tracing::warn!(error = %e, "sweeping expired jobs failed"),
                    }
                    if last_prune.is_none_or(|t| t.elapsed() >= Duration::from_secs(600)) {
                        last_prune = Some(std::time::Instant::now());
                        match store.prune_jobs(retention).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(deleted = n, "pruned finished jobs"),
                            Err(e) => tracing::warn!(error = %e, "pruning finished jobs failed"),
                        }
                        match if schedule {
                            app.schedule_monitoring().await
                        } else {
                            Ok(0)
                        } {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(
                                queued = n,
                                "queued the daily re-rating of monitored organisations"
                            ),
                            Err(e) => {
                                tracing::warn!(error = %e, "queueing the daily re-rating failed")
                            }
                        }
                    }
                    tokio::select! {
                        () = tokio::time::sleep(sweep) => {}
                        _ = stop.changed() => {}
                    }
                }
            });
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        // Jobs in flight finish (or their lease expires if the process is killed meanwhile).
        while tasks.join_next().await.is_some() {}
    }

    /// Runs due jobs until none is due; returns how many ran.
    pub async fn run_until_idle(&self) -> Result<usize, AppError> {
        self.app.store.dead_letter_expired().await?;
        let mut n = 0;
        while self.run_one().await?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// Runs the jobs `ids` here until every one is finished (done or dead), calling
    /// `progress(finished, total)`. Jobs another worker holds, or that wait out a backoff, are
    /// waited for; a busy database is waited out. Returns the jobs as they finished.
    pub async fn drain(
        &self,
        ids: &[String],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<cyrisk_store::Job>, AppError> {
        let total = ids.len();
        let pause = self.options.poll.min(Duration::from_millis(200));
        loop {
            let left = match self.app.store.unfinished(ids).await {
                Ok(n) => n,
                Err(e) if e.is_busy() => {
                    tokio::time::sleep(pause).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            progress(total - left, total);
            if left == 0 {
                break;
            }
            match self.run_one_of(Some(ids)).await {
                Ok(Some(_)) => {}
                Ok(None) | Err(AppError::Busy) => {
                    // One of ours may be held by a worker that died on its last attempt.
                    let _ = self.app.store.dead_letter_expired().await;
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.app.store.job(id).await?);
        }
        Ok(out)
    }
}

/// A task aborted when this is dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl App {
    /// Jobs, newest first (admin keys: `Forbidden` for others).
    pub async fn list_jobs(
        &self,
        p: &cyrisk_store::Principal,
        state: Option<JobState>,
        org_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<cyrisk_store::Job>, AppError> {
        crate::authorize_role(p, crate::Action::ManageJobs)?;
        Ok(self.store.jobs(state, org_id, limit, offset).await?)
    }

    /// One job (admin keys).
    pub async fn job(
        &self,
        p: &cyrisk_store::Principal,
        id: &str,
    ) -> Result<cyrisk_store::Job, AppError> {
        crate::authorize_role(p, crate::Action::ManageJobs)?;
        Ok(self.store.job(id).await?)
    }

    /// Puts a dead job back in the queue (admin keys); `Conflict` if it is not dead or the
    /// same work is queued.
    pub async fn retry_job(
        &self,
        p: &cyrisk_store::Principal,
        id: &str,
    ) -> Result<cyrisk_store::Job, AppError> {
        crate::authorize_role(p, crate::Action::ManageJobs)?;
        Ok(self.store.retry_job(id, Some(&p.key_id)).await?)
    }
}
