//! `cyrisk worker` and `cyrisk jobs list|show|retry`: the background jobs on the database
//! directly, and the helpers the other commands use to open the application and run the jobs
//! they queued.

use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};
use cyrisk_app::jobs::{Worker, WorkerOptions};
use cyrisk_app::{App, AppError};
use cyrisk_store::{Job, JobState};
use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::Format;
use crate::db::{Db, open, runtime};
use crate::input_error;

/// Where webhooks may deliver (for the commands that run webhook jobs or register webhooks).
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct WebhookArgs {
    /// Let webhooks deliver over http:// and to loopback, private and link-local addresses
    /// (a deployment whose receivers are on its own network). Default: https:// to public
    /// addresses only.
    #[arg(long, env = "CYRISK_WEBHOOKS_ALLOW_PRIVATE")]
    pub(crate) webhooks_allow_private: bool,
}

impl WebhookArgs {
    pub(crate) fn policy(self) -> cyrisk_app::webhooks::WebhookPolicy {
        cyrisk_app::webhooks::WebhookPolicy {
            allow_private: self.webhooks_allow_private,
        }
    }
}

/// The application over the database, with the built-in models.
pub(crate) async fn app(db: &Db) -> anyhow::Result<App> {
    let store = open(db).await?;
    App::builtin(store).map_err(|e| anyhow::anyhow!("{e}"))
}

/// [`app`] with a webhook policy.
pub(crate) async fn app_with(db: &Db, hooks: WebhookArgs) -> anyhow::Result<App> {
    app(db)
        .await?
        .with_webhook_policy(hooks.policy())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// An application error as the CLI reports it: the caller's mistakes (exit 2) prefixed by
/// `what`, anything else as an error (exit 1).
pub(crate) fn cli_error(e: AppError, what: &str) -> anyhow::Error {
    if e.is_client_error() {
        input_error(format!("{what}: {e}"))
    } else {
        anyhow::anyhow!("{e}")
    }
}

/// Runs the jobs `ids` here until every one has finished, with a progress bar on a terminal
/// for more than a few; returns them as they finished.
pub(crate) async fn drain(app: &App, ids: &[String], what: &str) -> Result<Vec<Job>, AppError> {
    let bar = if ids.len() > 5 && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = ProgressBar::new(ids.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(&format!("{what} [{{bar:40}}] {{pos}}/{{len}} ({{eta}})"))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let worker = Worker::new(
        app.clone(),
        WorkerOptions {
            concurrency: 1,
            ..WorkerOptions::default()
        },
    );
    let r = worker
        .drain(ids, &|done, _| bar.set_position(done as u64))
        .await;
    bar.finish_and_clear();
    r
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what service managers send).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Jobs run at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// How long a claimed job stays this worker's without a heartbeat (seconds): after a
    /// crash, another worker retries it once this has passed.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    lease_secs: u64,
    /// The first retry's delay after a failure, in milliseconds (doubling per attempt, with
    /// jitter, up to 15 minutes).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    backoff_ms: u64,
    /// How often an idle worker looks for due jobs, in milliseconds.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    poll_ms: u64,
    /// Exit once no job is due instead of waiting for more.
    #[arg(long)]
    exit_when_idle: bool,
    #[command(flatten)]
    hooks: WebhookArgs,
    #[command(flatten)]
    db: Db,
}

impl WorkerArgs {
    pub(crate) fn options(&self) -> WorkerOptions {
        WorkerOptions {
            concurrency: usize::from(self.concurrency),
            lease: Duration::from_secs(self.lease_secs),
            poll: Duration::from_millis(self.poll_ms),
            backoff_base: Duration::from_millis(self.backoff_ms),
            ..WorkerOptions::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state.
        #[arg(long, value_parser = ["queued", "running", "done", "dead"])]
        state: Option<String>,
        /// Only jobs about this organisation.
        #[arg(long = "org", value_name = "ID")]
        org: Option<String>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show one job: state, attempts, last error, result.
    Show {
        /// The job's id (from `jobs list`, or a feed load's or an import's output).
        id: String,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Put a dead job back in the queue with its attempts reset.
    Retry {
        /// The dead job's id.
        id: String,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// `cyrisk worker`: runs jobs until interrupted (Ctrl-C or SIGTERM finish the jobs in flight),
/// or with `--exit-when-idle` until none is due.
pub(crate) fn worker(a: &WorkerArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    crate::serve::init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let app = app_with(&a.db, a.hooks).await?;
        let worker = Worker::new(app.clone(), a.options());
        writeln!(
            out,
            "cyrisk worker {} on {} ({} at once)",
            worker.options().name,
            cyrisk_store::redact(a.db.url()),
            worker.options().concurrency
        )?;
        out.flush()?;
        if a.exit_when_idle {
            let n = worker
                .run_until_idle()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "ran {n} jobs; none is due")?;
        } else {
            worker.run(shutdown_signal()).await;
        }
        app.store.close().await;
        Ok(())
    })
}

fn line(j: &Job) -> String {
    format!(
        "{}  {:<7} {:<8} {}/{}  {}  {}{}",
        j.id,
        j.kind,
        j.state.as_str(),
        j.attempts,
        j.max_attempts,
        j.org_id.as_deref().unwrap_or("-"),
        j.created_at,
        j.last_error
            .as_deref()
            .map(|e| format!("  last error: {e}"))
            .unwrap_or_default()
    )
}

pub(crate) fn jobs(cmd: &JobsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match cmd {
            JobsCommand::List {
                state,
                org,
                limit,
                db,
                format,
            } => {
                let store = open(db).await?;
                let state = state.as_deref().and_then(JobState::parse);
                let jobs = store.jobs(state, org.as_deref(), *limit, 0).await;
                store.close().await;
                let jobs = jobs.map_err(|e| cli_error(e.into(), "jobs"))?;
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&jobs)?)?,
                    Format::Text => {
                        for j in &jobs {
                            writeln!(out, "{}", line(j))?;
                        }
                        if jobs.is_empty() {
                            writeln!(out, "no jobs")?;
                        }
                    }
                }
            }
            JobsCommand::Show { id, db, format } => {
                let store = open(db).await?;
                let job = store.job(id).await;
                store.close().await;
                let job = job.map_err(|e| cli_error(e.into(), id))?;
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&job)?)?,
                    Format::Text => {
                        writeln!(out, "{}", line(&job))?;
                        writeln!(out, "payload: {}", job.payload)?;
                        writeln!(
                            out,
                            "run at: {}; lease until: {}; worker: {}",
                            job.run_at,
                            job.lease_until.as_deref().unwrap_or("-"),
                            job.worker.as_deref().unwrap_or("-")
                        )?;
                        if let Some(r) = &job.result {
                            writeln!(out, "result: {r}")?;
                        }
                    }
                }
            }
            JobsCommand::Retry { id, db, format } => {
                let store = open(db).await?;
                let job = store.retry_job(id, Some("cli")).await;
                store.close().await;
                let job = job.map_err(|e| cli_error(e.into(), id))?;
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&job)?)?,
                    Format::Text => writeln!(out, "queued again: {}", line(&job))?,
                }
            }
        }
        Ok(())
    })
}
