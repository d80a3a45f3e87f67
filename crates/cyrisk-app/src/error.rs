//! The application layer's error: what went wrong in the terms of the use case, with no HTTP
//! in it. The API maps each variant to a status and a problem body; the CLI to an exit code.

use cyrisk_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such thing — or one the caller may not see (the two are never told apart).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The caller's role may never do this, or the rated party may not make this change;
    /// `code` is stable (`forbidden`, `recorded_by_third_party`, …).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The request or its data is invalid; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The change conflicts with the stored state.
    #[error("{0}")]
    Conflict(String),
    /// Another writer held the database too long, or no connection came free: retry.
    #[error("the database is busy with another write; retry shortly")]
    Busy,
    /// A job's lease was taken over by another worker: this attempt's outcome is dropped.
    #[error("job {0}: the lease was lost to another worker")]
    LeaseLost(String),
    /// A service cyrisk calls (a webhook receiver) failed or could not be reached: retried.
    #[error("{0}")]
    Upstream(String),
    /// This deployment lacks something the request needs (the PDF report's fonts); the message
    /// says what to install. Not the caller's fault, and not a bug.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of cyrisk or its database; the message is for the log, not for the caller.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            code: "forbidden",
            message: message.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The caller's mistake (4xx / exit code 2) rather than cyrisk's.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Self::Busy
                | Self::Internal(_)
                | Self::LeaseLost(_)
                | Self::Upstream(_)
                | Self::Unavailable(_)
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, .. } => Self::NotFound { what },
            StoreError::Invalid(msg) => Self::Invalid(msg),
            StoreError::Forbidden { code, message } => Self::Forbidden { code, message },
            StoreError::Conflict(msg) => Self::Conflict(msg),
            StoreError::LeaseLost(job) => Self::LeaseLost(job),
            other if other.is_busy() => {
                tracing::warn!(cause = %other, "database busy");
                Self::Busy
            }
            // PostgreSQL refuses a NUL character in text (SQLite stores it): the writer's
            // mistake on either backend.
            other if other.is_unstorable_text() => Self::Invalid(
                "a text value contains a NUL character (\\u0000), which cannot be stored".into(),
            ),
            other => {
                let mut cause = other.to_string();
                if let Some(src) = std::error::Error::source(&other) {
                    cause.push_str(&format!(": {src}"));
                }
                Self::Internal(cause)
            }
        }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Internal(format!("a blocking task failed: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, AppError>;
