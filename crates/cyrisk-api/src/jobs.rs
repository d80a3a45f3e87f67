//! Background jobs, for admins: list, show (state, attempts, the last error, the result) and
//! retry a dead one.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cyrisk_store::{Job, JobState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

/// A background job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRecord {
    pub id: String,
    /// What the job does (`rerate`: re-rate one organisation).
    pub kind: String,
    pub org_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `queued`, `running`, `done` or `dead` (failed its last allowed attempt).
    #[schema(value_type = JobStateDoc)]
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i64,
    pub max_attempts: i64,
    /// When the job may run next (RFC 3339 UTC).
    pub run_at: String,
    /// When the running attempt's lease ends.
    pub lease_until: Option<String>,
    /// The worker holding, or that last held, the job.
    pub worker: Option<String>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// What the job produced (for `rerate`: the rating id, score before and after).
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

/// A job's state.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStateDoc {
    Queued,
    Running,
    Done,
    Dead,
}

impl From<Job> for JobRecord {
    fn from(j: Job) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            org_id: j.org_id,
            payload: j.payload,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            lease_until: j.lease_until,
            worker: j.worker,
            last_error: j.last_error,
            result: j.result,
            created_at: j.created_at,
            updated_at: j.updated_at,
            finished_at: j.finished_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Only jobs in this state.
    #[param(inline)]
    pub state: Option<JobStateDoc>,
    /// Only jobs about this organisation.
    pub org_id: Option<String>,
    /// At most this many jobs (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Skip this many jobs.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

fn state_of(s: JobStateDoc) -> JobState {
    match s {
        JobStateDoc::Queued => JobState::Queued,
        JobStateDoc::Running => JobState::Running,
        JobStateDoc::Done => JobState::Done,
        JobStateDoc::Dead => JobState::Dead,
    }
}

/// List background jobs, newest first (admin keys).
#[utoipa::path(
    get, path = "/api/v1/jobs", operation_id = "list_jobs", tag = "jobs",
    params(JobsQuery),
    responses(
        (status = 200, description = "Jobs, newest first", body = [JobRecord]),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin keys see jobs", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<JobsQuery>,
) -> Result<Json<Vec<JobRecord>>, ApiError> {
    authorize_role(&p, Action::ManageJobs)?;
    let (limit, offset) = crate::orgs::page_bounds(q.limit, q.offset)?;
    let jobs = state
        .app
        .list_jobs(
            &p,
            q.state.map(state_of),
            q.org_id.as_deref(),
            limit,
            offset,
        )
        .await?;
    Ok(Json(jobs.into_iter().map(JobRecord::from).collect()))
}

/// One background job: its state, attempts, last error and result (admin keys).
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}", operation_id = "get_job", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobRecord),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin keys see jobs", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_job(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, ApiError> {
    Ok(Json(state.app.job(&p, &id).await?.into()))
}

/// Put a dead job back in the queue with its attempts reset (admin keys).
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/retry", operation_id = "retry_job", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 202, description = "Queued again", body = JobRecord),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin keys retry jobs", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not dead, or the same work is already queued", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is busy with another write; retry shortly", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn retry_job(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    let job = state.app.retry_job(&p, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(job.into())))
}
