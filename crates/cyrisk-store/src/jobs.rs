//! Durable background jobs: a queue table in the same database as everything else.
//!
//! - **Transactional outbox.** A job is enqueued inside the transaction of the write that
//!   causes it ([`enqueue_on`], used by every write that changes an organisation's inputs, and
//!   [`WriteTx::enqueue`]): if that write rolls back, the job never existed.
//! - **Claiming** is one `UPDATE … RETURNING` in a write transaction: on PostgreSQL the row is
//!   chosen with `FOR UPDATE SKIP LOCKED`, so workers never wait on each other; on SQLite the
//!   single writer (`BEGIN IMMEDIATE`) serialises claims.
//! - **Leases.** A claimed job carries a random lease token and an expiry. A worker that dies
//!   stops renewing it; after the expiry another worker claims the job again (a new attempt).
//!   Finishing or failing a job is fenced by the token, so a worker whose lease was taken over
//!   cannot overwrite the new owner's outcome, and an effect written in the same transaction as
//!   [`WriteTx::finish_job`] happens exactly once.
//! - **Retries and the dead letter.** A failed attempt is queued again at the time the caller
//!   chooses (exponential backoff with jitter, in cyrisk-app); after `max_attempts` attempts —
//!   failed, or lost with a dead worker (the workers' housekeeping sweep) — the job is `dead`,
//!   its last error kept, until an operator retries it.
//! - **Dedupe.** At most one *queued* job per dedupe key (a partial unique index): enqueueing
//!   the same work again joins the queued job. A job already running does not absorb new work
//!   (it may have read its inputs before the change), so a new one is queued.

use std::time::Duration;

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::{Backend, Result, Store, StoreError, new_id, now};

/// The job kind that re-rates one organisation (payload `{"reason": …}`), enqueued by every
/// write that changes an organisation's inputs and by feed loads.
pub const RERATE: &str = "rerate";

/// Attempts before a job is dead-lettered, unless the job says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 5;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to run (now or, after a failed attempt, at `run_at`).
    Queued,
    /// Claimed by a worker until `lease_until`.
    Running,
    /// Finished (its effect committed with it).
    Done,
    /// Failed `max_attempts` times: kept with its last error until retried by an operator.
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 4] = [Self::Queued, Self::Running, Self::Done, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    /// The state named `s`, if there is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub kind: String,
    /// The organisation the job is about, if any.
    pub org_id: Option<String>,
    pub payload: serde_json::Value,
    pub dedupe_key: Option<String>,
    pub state: JobState,
    /// Attempts started so far (a claim counts as one).
    pub attempts: i64,
    pub max_attempts: i64,
    /// When the job may run (RFC 3339 UTC).
    pub run_at: String,
    /// When the running attempt's lease ends.
    pub lease_until: Option<String>,
    /// The worker that holds or last held the job.
    pub worker: Option<String>,
    /// The last attempt's error (kept after a later success, for the record).
    pub last_error: Option<String>,
    /// What the job produced (JSON), once done.
    pub result: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub org_id: Option<String>,
    pub payload: serde_json::Value,
    pub dedupe_key: Option<String>,
    pub max_attempts: i64,
}

impl NewJob {
    /// Re-rate `org_id` (deduplicated per organisation while queued).
    pub fn rerate(org_id: &str, reason: &str) -> Self {
        Self {
            kind: RERATE.to_owned(),
            org_id: Some(org_id.to_owned()),
            payload: serde_json::json!({ "reason": reason }),
            dedupe_key: Some(format!("{RERATE}:{org_id}")),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// What enqueueing did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    pub id: String,
    /// False when the job joined a queued one with the same dedupe key.
    pub created: bool,
}

/// A job claimed by a worker: the job as it was claimed and the lease token that fences its
/// outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub job: Job,
    pub token: String,
}

/// Counts for monitoring the queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueStats {
    pub queued: i64,
    /// Queued jobs whose time has come (not waiting out a backoff).
    pub ready: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
    /// Seconds since the oldest ready job became ready (0 when none is waiting).
    pub oldest_ready_age_secs: f64,
}

const COLUMNS: &str = "id, kind, org_id, payload, dedupe_key, state, attempts, max_attempts, run_at, \
                       lease_until, worker, last_error, result, created_at, updated_at, finished_at";

fn json_column(r: &sqlx::any::AnyRow, col: &str) -> Result<Option<serde_json::Value>> {
    r.try_get::<Option<String>, _>(col)?
        .map(|t| {
            serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("job {col}: {e}")))
        })
        .transpose()
}

fn job(r: &sqlx::any::AnyRow) -> Result<Job> {
    let state: String = r.try_get("state")?;
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        org_id: r.try_get("org_id")?,
        payload: json_column(r, "payload")?.unwrap_or(serde_json::Value::Null),
        dedupe_key: r.try_get("dedupe_key")?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("job state {state:?}")))?,
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        run_at: r.try_get("run_at")?,
        lease_until: r.try_get("lease_until")?,
        worker: r.try_get("worker")?,
        last_error: r.try_get("last_error")?,
        result: json_column(r, "result")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

/// A time `d` from now, as stored (RFC 3339 UTC with microseconds, which sorts as text).
pub(crate) fn after(d: Duration) -> String {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(365));
    crate::stamp(chrono::Utc::now() + d)
}

/// Enqueues a job on the caller's connection — inside its transaction, so the job exists
/// exactly when that transaction commits. A queued job with the same dedupe key absorbs it.
pub(crate) async fn enqueue_on(conn: &mut AnyConnection, new: &NewJob) -> Result<Enqueued> {
    let at = now();
    let id = new_id();
    // One statement either inserts or returns the queued twin's id (a no-op update on the
    // conflict makes it return the row), so a twin claimed meanwhile cannot slip between an
    // insert that did nothing and a select that finds nothing.
    let got: String = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, org_id, payload, dedupe_key, state, attempts, max_attempts, run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $7, $7) \
         ON CONFLICT (dedupe_key) WHERE state = 'queued' DO UPDATE SET dedupe_key = excluded.dedupe_key \
         RETURNING id",
    )
    .bind(&id)
    .bind(&new.kind)
    .bind(&new.org_id)
    .bind(new.payload.to_string())
    .bind(&new.dedupe_key)
    .bind(new.max_attempts.max(1))
    .bind(&at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Enqueued {
        created: got == id,
        id: got,
    })
}

/// Which jobs a worker may claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimFilter {
    /// Only these kinds (empty: any) — a worker claims only what it can run, so an older
    /// worker in a rolling deploy leaves a newer kind to the newer workers.
    pub kinds: Vec<String>,
    /// Only these jobs (`None`: any).
    pub ids: Option<Vec<String>>,
}

/// A unique-index violation (SQLite 2067/1555, PostgreSQL 23505).
fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db))
        if matches!(db.code().as_deref(), Some("23505" | "2067" | "1555")))
}

/// A write transaction that spans several store calls, for a use case whose writes must commit
/// together (a job's effect with its completion; a feed snapshot with the jobs it causes).
/// Dropping it without [`WriteTx::commit`] rolls everything back.
#[derive(Debug)]
pub struct WriteTx {
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Any>,
    pub(crate) backend: Backend,
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Enqueues a job in this transaction.
    pub async fn enqueue(&mut self, new: &NewJob) -> Result<Enqueued> {
        enqueue_on(&mut self.tx, new).await
    }

    /// Marks a claimed job done with its result, in this transaction — fenced: fails with
    /// [`StoreError::LeaseLost`] (and the caller rolls back) if the claim's lease is no longer
    /// the job's, so an effect written in the same transaction happens only once.
    pub async fn finish_job(&mut self, claim: &Claim, result: &serde_json::Value) -> Result<()> {
        let at = now();
        let n = sqlx::query(
            "UPDATE jobs SET state = 'done', result = $3, lease_token = NULL, lease_until = NULL, \
             updated_at = $4, finished_at = $4 WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        )
        .bind(&claim.job.id)
        .bind(&claim.token)
        .bind(result.to_string())
        .bind(&at)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost(claim.job.id.clone()))
        }
    }
}

impl Store {
    /// Starts a [`WriteTx`].
    pub async fn write_tx(&self) -> Result<WriteTx> {
        Ok(WriteTx {
            tx: self.begin_write().await?,
            backend: self.backend,
        })
    }

    /// Enqueues a job on its own (its own transaction).
    pub async fn enqueue(&self, new: &NewJob) -> Result<Enqueued> {
        let mut tx = self.write_tx().await?;
        let e = tx.enqueue(new).await?;
        tx.commit().await?;
        Ok(e)
    }

    /// Claims the next job that is due — queued with `run_at` passed, or running with its
    /// lease expired (a dead worker's) and attempts left — for `worker`, with a lease of
    /// `lease`; `None` when no job the filter admits is due. One `UPDATE … RETURNING`.
    /// (A job whose lease expired on its last attempt is left to
    /// [`Store::dead_letter_expired`].)
    pub async fn claim_job(
        &self,
        worker: &str,
        lease: Duration,
        filter: &ClaimFilter,
    ) -> Result<Option<Claim>> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let mut binds: Vec<&str> = Vec::new();
        let mut conditions = String::new();
        let mut next = 5;
        let placeholders = |n: usize, next: &mut usize| -> String {
            let v: Vec<String> = (0..n).map(|i| format!("${}", *next + i)).collect();
            *next += n;
            v.join(", ")
        };
        if !filter.kinds.is_empty() {
            conditions.push_str(&format!(
                " AND kind IN ({})",
                placeholders(filter.kinds.len(), &mut next)
            ));
            binds.extend(filter.kinds.iter().map(String::as_str));
        }
        if let Some(ids) = &filter.ids {
            if ids.is_empty() {
                tx.commit().await?;
                return Ok(None);
            }
            conditions.push_str(&format!(
                " AND id IN ({})",
                placeholders(ids.len(), &mut next)
            ));
            binds.extend(ids.iter().map(String::as_str));
        }
        let skip = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let token = new_id();
        let sql = format!(
            "UPDATE jobs SET \
               last_error = CASE WHEN state = 'running' THEN 'the lease of attempt ' || attempts || ' expired on worker ' \
                 || COALESCE(worker, '?') || ' (it stopped or hung)' ELSE last_error END, \
               state = 'running', attempts = attempts + 1, lease_token = $1, lease_until = $2, worker = $3, updated_at = $4 \
             WHERE id = (SELECT id FROM jobs WHERE ((state = 'queued' AND run_at <= $4) \
               OR (state = 'running' AND lease_until < $4 AND attempts < max_attempts)){conditions} \
               ORDER BY run_at, id LIMIT 1{skip}) \
             RETURNING {COLUMNS}"
        );
        let mut q = sqlx::query(&sql)
            .bind(&token)
            .bind(after(lease))
            .bind(worker)
            .bind(&at);
        for b in binds {
            q = q.bind(b);
        }
        let row = q.fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(Claim {
                job: job(&r)?,
                token,
            })
        })
        .transpose()
    }

    /// Dead-letters the jobs whose lease expired on their last allowed attempt (their worker
    /// died every time); returns how many. Workers call it as housekeeping.
    pub async fn dead_letter_expired(&self) -> Result<u64> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE jobs SET state = 'dead', lease_token = NULL, updated_at = $1, finished_at = $1, \
             last_error = 'the lease of attempt ' || attempts || ' expired on worker ' || COALESCE(worker, '?') \
             || ' (it stopped or hung)' \
             WHERE state = 'running' AND lease_until < $1 AND attempts >= max_attempts",
        )
        .bind(&at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Extends a running job's lease (a heartbeat); `LeaseLost` if it is no longer held.
    pub async fn extend_lease(&self, claim: &Claim, lease: Duration) -> Result<()> {
        let n = sqlx::query(
            "UPDATE jobs SET lease_until = $3, updated_at = $4 WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        )
        .bind(&claim.job.id)
        .bind(&claim.token)
        .bind(after(lease))
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost(claim.job.id.clone()))
        }
    }

    /// Marks a job done with no effect of its own to commit (see [`WriteTx::finish_job`]).
    pub async fn finish_job(&self, claim: &Claim, result: &serde_json::Value) -> Result<()> {
        let mut tx = self.write_tx().await?;
        tx.finish_job(claim, result).await?;
        tx.commit().await
    }

    /// Records a failed attempt (fenced by the lease): queued again to run after `retry_in`,
    /// or dead after its last attempt or at once when `retry_in` is `None` (an error no retry
    /// can fix). A job whose dedupe key has meanwhile been queued again is finished as
    /// superseded instead (the queued one does the same work). Returns the job's new state;
    /// `LeaseLost` if the claim no longer holds the job.
    pub async fn fail_job(
        &self,
        claim: &Claim,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<JobState> {
        // A twin enqueued between the check and the update (PostgreSQL, read committed)
        // makes the update violate the dedupe index: the second try sees the twin.
        match self.fail_job_once(claim, error, retry_in).await {
            Err(e) if is_unique_violation(&e) => self.fail_job_once(claim, error, retry_in).await,
            other => other,
        }
    }

    async fn fail_job_once(
        &self,
        claim: &Claim,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<JobState> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let lock = self.backend.row_lock();
        let row = sqlx::query(&format!(
            "SELECT attempts, max_attempts, dedupe_key FROM jobs WHERE id = $1 AND lease_token = $2 AND state = 'running'{lock}"
        ))
        .bind(&claim.job.id)
        .bind(&claim.token)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::LeaseLost(claim.job.id.clone()))?;
        let attempts: i64 = row.try_get("attempts")?;
        let max: i64 = row.try_get("max_attempts")?;
        let dedupe: Option<String> = row.try_get("dedupe_key")?;
        let twin: Option<String> = match &dedupe {
            Some(k) => {
                sqlx::query_scalar("SELECT id FROM jobs WHERE dedupe_key = $1 AND state = 'queued'")
                    .bind(k)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            None => None,
        };
        // Error text is for people: keep it bounded.
        let error: String = error.chars().take(4000).collect();
        let (state, run_at, result) = if attempts >= max || retry_in.is_none() {
            (JobState::Dead, None, None)
        } else if let Some(twin) = twin {
            (
                JobState::Done,
                None,
                Some(serde_json::json!({ "superseded_by": twin }).to_string()),
            )
        } else {
            (JobState::Queued, retry_in.map(after), None)
        };
        let finished = (state != JobState::Queued).then(|| at.clone());
        let n = sqlx::query(
            "UPDATE jobs SET state = $3, last_error = $4, run_at = COALESCE($5, run_at), result = COALESCE($6, result), \
             lease_token = NULL, lease_until = NULL, updated_at = $7, finished_at = $8 \
             WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        )
        .bind(&claim.job.id)
        .bind(&claim.token)
        .bind(state.as_str())
        .bind(&error)
        .bind(run_at)
        .bind(result)
        .bind(&at)
        .bind(finished)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::LeaseLost(claim.job.id.clone()));
        }
        tx.commit().await?;
        Ok(state)
    }

    /// Deletes finished (done) jobs last updated more than `older_than` ago; returns how
    /// many. Dead jobs are kept until an operator retries them.
    pub async fn prune_jobs(&self, older_than: Duration) -> Result<u64> {
        let d = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::days(3650));
        let cutoff = crate::stamp(chrono::Utc::now() - d);
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// One job.
    pub async fn job(&self, id: &str) -> Result<Job> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| job(&r))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound {
                what: "job",
                id: id.to_owned(),
            })
    }

    /// Jobs, newest first, optionally only those in `state` or about `org_id`.
    pub async fn jobs(
        &self,
        state: Option<JobState>,
        org_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Job>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR org_id = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(state.map(JobState::as_str))
        .bind(org_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(job)
        .collect()
    }

    /// Puts a dead job back in the queue to run now, with its attempts reset (its last error
    /// is kept). `Conflict` if the job is not dead or the same work is already queued.
    pub async fn retry_job(&self, id: &str, actor: Option<&str>) -> Result<Job> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let current = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE id = $1{}",
            self.backend.row_lock()
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| job(&r))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound {
            what: "job",
            id: id.to_owned(),
        })?;
        if current.state != JobState::Dead {
            return Err(StoreError::Conflict(format!(
                "job {id} is {}: only a dead job can be retried",
                current.state.as_str()
            )));
        }
        if let Some(k) = &current.dedupe_key {
            let twin: Option<String> = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE dedupe_key = $1 AND state = 'queued'",
            )
            .bind(k)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(twin) = twin {
                return Err(StoreError::Conflict(format!(
                    "the same work is already queued as job {twin}"
                )));
            }
        }
        let n = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2, worker = NULL, updated_at = $2, finished_at = NULL \
             WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("the same work was queued meanwhile".into())
            } else {
                e
            }
        })?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "job {id} is no longer dead (retried meanwhile)"
            )));
        }
        crate::keys::audit(
            &mut tx,
            actor,
            "job.retry",
            current.org_id.as_deref(),
            &serde_json::json!({ "job": id, "kind": current.kind }),
        )
        .await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        job(&row)
    }

    /// Queue depth by state and the age of the oldest ready job.
    pub async fn queue_stats(&self) -> Result<QueueStats> {
        let at = now();
        let mut s = QueueStats::default();
        for r in sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?
        {
            let n: i64 = r.try_get("n")?;
            match JobState::parse(&r.try_get::<String, _>("state")?) {
                Some(JobState::Queued) => s.queued = n,
                Some(JobState::Running) => s.running = n,
                Some(JobState::Done) => s.done = n,
                Some(JobState::Dead) => s.dead = n,
                None => {}
            }
        }
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(run_at) AS oldest FROM jobs WHERE state = 'queued' AND run_at <= $1",
        )
        .bind(&at)
        .fetch_one(&self.pool)
        .await?;
        s.ready = r.try_get("n")?;
        if let Some(oldest) = r.try_get::<Option<String>, _>("oldest")?
            && let Ok(t) = chrono::DateTime::parse_from_rfc3339(&oldest)
        {
            s.oldest_ready_age_secs = ((chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .num_milliseconds() as f64
                / 1000.0)
                .max(0.0);
        }
        Ok(s)
    }

    /// How many of `ids` are not yet finished (queued or running).
    pub async fn unfinished(&self, ids: &[String]) -> Result<usize> {
        let mut n = 0;
        for chunk in ids.chunks(500) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND id IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query_scalar::<_, i64>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            n += q.fetch_one(&self.pool).await? as usize;
        }
        Ok(n)
    }
}
