//! One error body for every failure: RFC 9457 problem details with a stable `code`. 5xx bodies
//! never carry internals; the cause goes to the server log.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cyrisk_app::AppError;
use cyrisk_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `invalid_body`, `not_found`, `unauthorized`.
    pub code: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

/// Checks a free-text field of a request: not blank, at most `max` characters, no NUL
/// character (the constraints its schema declares).
pub(crate) fn check_text(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if cyrisk_core::schema::is_blank(v) => {
            Err(ApiError::invalid(format!("{field}: must not be blank")))
        }
        Some(v) if v.chars().count() > max => Err(ApiError::invalid(format!(
            "{field}: longer than {max} characters"
        ))),
        Some(v) if v.contains('\0') => Err(ApiError::invalid(format!(
            "{field}: contains a NUL character"
        ))),
        _ => Ok(()),
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", detail)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the cause is in the server log",
        )
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound { what } => Self::not_found(what),
            AppError::Invalid(msg) => Self::invalid(msg),
            AppError::Forbidden { code, message } => {
                Self::new(StatusCode::FORBIDDEN, code, message)
            }
            AppError::Conflict(msg) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            AppError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the database is busy with another write; retry shortly",
            ),
            AppError::Upstream(msg) => Self::new(StatusCode::BAD_GATEWAY, "upstream", msg),
            AppError::Unavailable(msg) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg)
            }
            e @ (AppError::Internal(_) | AppError::LeaseLost(_)) => Self::internal(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("https://cyrisk.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json,
        )
            .into_response()
    }
}
