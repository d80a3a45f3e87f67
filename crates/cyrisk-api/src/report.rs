//! The one-click risk report: `GET /organizations/{id}/report` (`cyrisk_app::report`, rendered
//! by `cyrisk-report`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cyrisk_app::report::{ReportFormat, ReportLang};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

/// The report's format.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormatDoc {
    Html,
    Pdf,
}

/// The report's language.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum ReportLangDoc {
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

/// A PDF document, as bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PdfDocument(#[allow(dead_code)] Vec<u8>);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `html` (default) or `pdf` (A4, fonts embedded; a download).
    #[param(inline)]
    pub format: Option<ReportFormatDoc>,
    /// `zh-CN` (default) or `en`.
    #[param(inline)]
    pub lang: Option<ReportLangDoc>,
}

/// The content security policy of every HTML answer: nothing loads, nothing runs (the report
/// has no script; its styles and SVG are inline), and no page may frame it.
pub const HTML_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                            frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The organisation's risk report: rating, grade and band, what moves the score, what to fix
/// first with the loss each fix removes, the expected loss and (the caller's latest quote
/// permitting) the layer's exceedance curve, open findings by age (KEV marked), exposure,
/// controls, follow-up, the regulatory duties that apply, methodology — in Simplified Chinese
/// or English. The same stored data on the same day gives the same bytes.
#[utoipa::path(
    get, path = "/api/v1/organizations/{id}/report", operation_id = "get_report", tag = "ratings",
    params(("id" = String, Path, description = "Organisation id"), ReportQuery),
    responses(
        (status = 200, description = "The report", content(
            (String = "text/html"),
            (PdfDocument = "application/pdf"),
        )),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This server cannot render PDF: its fonts (Debian's fonts-noto-cjk) are missing", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_report(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let lang = match q.lang.unwrap_or(ReportLangDoc::ZhCn) {
        ReportLangDoc::ZhCn => ReportLang::ZhCn,
        ReportLangDoc::En => ReportLang::En,
    };
    let format = match q.format.unwrap_or(ReportFormatDoc::Html) {
        ReportFormatDoc::Html => ReportFormat::Html,
        ReportFormatDoc::Pdf => ReportFormat::Pdf,
    };
    let body = state.app.report(&p, &id, format, lang).await?;
    Ok(report_response(body, format, lang, &id))
}

/// A rendered report as the answer: its media type, a download name for a PDF, and the HTML
/// report's security headers.
pub(crate) fn report_response(
    body: Vec<u8>,
    format: ReportFormat,
    lang: ReportLang,
    id: &str,
) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    if format == ReportFormat::Pdf {
        // A download named after the organisation id (ids are `[A-Za-z0-9_-]`, safe in a header).
        let name: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "attachment; filename=\"cyrisk-report-{name}-{}.pdf\"",
            lang.tag()
        )) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(HTML_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // It carries premiums and incidents: no shared cache keeps it.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
