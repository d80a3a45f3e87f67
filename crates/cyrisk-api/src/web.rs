//! The live rating page, `/app`: server-rendered HTML (the report renderer's templates) with
//! htmx for in-place navigation, and its stylesheet and htmx embedded in the binary (no CDN;
//! works offline).
//!
//! Sign-in exchanges an API key for a session (`cyrisk_session` cookie: HttpOnly,
//! SameSite=Strict, path `/app`, `Secure` behind TLS; the store keeps only its hash, and a revoked
//! key ends it). Every form that changes state carries a CSRF token: the sign-in form the one of a
//! `cyrisk_login` cookie set with the form (double submit), the sign-out form the session's own.
//! The page follows the API's access rules — it reads through the same use cases with the
//! session's principal — so another organisation's page or report is a 404.
//!
//! Every answer carries a content security policy that runs only this origin's scripts (htmx),
//! with no inline script, allows no framing, and `nosniff`. These routes are the browser's, not
//! the API's: they are not in the OpenAPI document.

use axum::Form;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use cookie::{Cookie, SameSite};
use cyrisk_app::report::{ReportFormat, ReportLang};
use cyrisk_app::web::SESSION_HOURS;
use cyrisk_store::Session;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cyrisk_session";
/// The sign-in form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "cyrisk_login";

/// The content security policy of every `/app` answer.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                            img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                            frame-ancestors 'none'; base-uri 'none'";

const APP_CSS: &[u8] = include_bytes!("../assets/app.css");
const FAVICON: &[u8] = include_bytes!("../assets/favicon.svg");
/// htmx 2.0.11, as published on npm (`tests/browser/package.json` pins it; a browser test
/// checks this is the same file).
const HTMX_JS: &[u8] = include_bytes!("../assets/htmx.min.js");

/// The `/app` routes (with their security headers).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(page))
        .route("/app/", get(|| async { Redirect::permanent("/app") }))
        .route("/app/login", get(sign_in_form).post(sign_in))
        .route("/app/logout", axum::routing::post(sign_out))
        .route("/app/report", get(report))
        .route("/app/fixes", get(fixes))
        .route("/app/assets/app.css", get(css))
        .route("/app/assets/htmx.min.js", get(htmx))
        .route("/app/assets/favicon.svg", get(favicon))
        .layer(middleware::from_fn(security_headers))
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // The report's own (stricter: no script at all) stays.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn asset(body: &'static [u8], media_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, media_type),
            // Assets change only with the binary; an hour keeps a stale one short-lived.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

async fn favicon() -> Response {
    asset(FAVICON, "image/svg+xml")
}

async fn htmx() -> Response {
    asset(HTMX_JS, "text/javascript; charset=utf-8")
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// `Secure` when the request reached us over TLS (a terminating proxy says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(res: &mut Response, c: Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn cookie<'a>(name: &'a str, value: String, max_age_secs: i64, secure: bool) -> Cookie<'a> {
    Cookie::build((name, value))
        .path("/app")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build()
}

fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A small page in both languages (not found, no organisations).
fn notice(status: StatusCode, en: &str, zh: &str) -> Response {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
    html(
        status,
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cyrisk</title>\
             <link rel=\"stylesheet\" href=\"/app/assets/app.css\">\
             <link rel=\"icon\" href=\"/app/assets/favicon.svg\" type=\"image/svg+xml\"></head><body><main class=\"sign-in\">\
             <h1>cyrisk</h1><p id=\"notice\">{}</p><p lang=\"zh-CN\">{}</p><p><a href=\"/app\">/app</a></p>\
             </main></body></html>",
            escape(en),
            escape(zh)
        ),
    )
}

/// The 404 page for an organisation the session may not see (or that does not exist: the two
/// are never told apart).
fn not_visible() -> Response {
    notice(
        StatusCode::NOT_FOUND,
        "No such organisation is visible to this key.",
        "此密钥看不到该组织。",
    )
}

fn lang_of(s: Option<&str>) -> ReportLang {
    s.and_then(ReportLang::parse).unwrap_or(ReportLang::ZhCn)
}

/// The session of the request's cookie, if live.
async fn session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, Session)>, ApiError> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state.app.session(&token).await?.map(|s| (token, s)))
}

/// To the sign-in form: a redirect, or for an htmx request (a boosted link after the session
/// expired) `HX-Redirect`, so the whole page changes rather than a swap htmx would not show.
fn to_sign_in(headers: &HeaderMap, lang: ReportLang) -> Response {
    let target = format!("/app/login?lang={}", lang.tag());
    if headers.contains_key("hx-request") {
        let mut res = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            res.headers_mut().insert("hx-redirect", v);
        }
        res
    } else {
        Redirect::to(&target).into_response()
    }
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    org: Option<String>,
    lang: Option<String>,
}

/// `GET /app`: the page of `org` (default: the caller's first), or the sign-in form.
async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let lang = lang_of(q.lang.as_deref());
    let Some((_, s)) = session(&state, &headers).await? else {
        return Ok(to_sign_in(&headers, lang));
    };
    let orgs = state.app.page_orgs(&s.principal).await?;
    let org = match q.org.filter(|o| !o.is_empty()) {
        Some(o) => o,
        None => match (&s.principal.org_id, orgs.first()) {
            (Some(own), _) => own.clone(),
            (None, Some(first)) => first.id.clone(),
            (None, None) => {
                return Ok(notice(
                    StatusCode::OK,
                    "No organisation is visible to this key.",
                    "此密钥看不到任何组织。",
                ));
            }
        },
    };
    match state.app.live_page(&s.principal, &org, orgs).await {
        Ok(mut p) => {
            p.csrf = s.csrf;
            Ok(html(StatusCode::OK, state.app.render_page(p, lang).await?))
        }
        Err(cyrisk_app::error::AppError::NotFound { .. }) => Ok(not_visible()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

async fn sign_in_response(
    state: &AppState,
    headers: &HeaderMap,
    lang: ReportLang,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let csrf = random_token();
    let body = state
        .app
        .renderer()?
        .sign_in_page(lang, &csrf, error)
        .map_err(cyrisk_app::error::AppError::from)?;
    let mut res = html(status, body);
    set_cookie(
        &mut res,
        cookie(LOGIN_COOKIE, csrf, 3600, over_tls(headers)),
    );
    Ok(res)
}

/// 244 random bits (two version-4 UUIDs, from the operating system's generator) as hex.
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// `GET /app/login`: the sign-in form.
async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    sign_in_response(
        &state,
        &headers,
        lang_of(q.lang.as_deref()),
        StatusCode::OK,
        None,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    key: String,
    csrf: String,
    lang: Option<String>,
}

/// `POST /app/login`: a key for a session; back to the form on a bad key or token.
async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Result<Response, ApiError> {
    let lang = lang_of(f.lang.as_deref());
    let expected = cookie_value(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !equal(&expected, &f.csrf) {
        return sign_in_response(
            &state,
            &headers,
            lang,
            StatusCode::FORBIDDEN,
            Some("page-form-expired"),
        )
        .await;
    }
    let Some(s) = state.app.sign_in(f.key.trim()).await? else {
        return sign_in_response(
            &state,
            &headers,
            lang,
            StatusCode::UNAUTHORIZED,
            Some("page-sign-in-failed"),
        )
        .await;
    };
    let mut res = Redirect::to(&format!("/app?lang={}", lang.tag())).into_response();
    let tls = over_tls(&headers);
    set_cookie(
        &mut res,
        cookie(SESSION_COOKIE, s.token, SESSION_HOURS * 3600, tls),
    );
    set_cookie(&mut res, cookie(LOGIN_COOKIE, String::new(), 0, tls));
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    csrf: String,
    lang: Option<String>,
}

/// `POST /app/logout`: ends the session (with the session's CSRF token).
async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SignOutForm>,
) -> Result<Response, ApiError> {
    let lang = lang_of(f.lang.as_deref());
    let mut res = Redirect::to(&format!("/app/login?lang={}", lang.tag())).into_response();
    // Without this browser's session cookie (a cross-site post carries none: SameSite=Strict)
    // there is nothing to end and nothing is cleared.
    let Some((token, s)) = session(&state, &headers).await? else {
        return Ok(res);
    };
    if !equal(&s.csrf, &f.csrf) {
        return Ok(notice(
            StatusCode::FORBIDDEN,
            "The form expired; reload the page.",
            "表单已过期，请刷新页面。",
        ));
    }
    state.app.sign_out(&token).await?;
    set_cookie(
        &mut res,
        cookie(SESSION_COOKIE, String::new(), 0, over_tls(&headers)),
    );
    // Nothing of the signed-out page stays in this browser (cache, storage).
    res.headers_mut().insert(
        "clear-site-data",
        HeaderValue::from_static("\"cache\", \"storage\""),
    );
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    org: String,
    format: Option<String>,
    lang: Option<String>,
}

/// `GET /app/report?org=…&format=pdf|html&lang=…`: the report, as `GET
/// /api/v1/organizations/{id}/report` gives it, for the session's principal.
async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let Some((_, s)) = session(&state, &headers).await? else {
        // A download link followed after the session ended: sign in again.
        return Ok(to_sign_in(&headers, lang_of(q.lang.as_deref())));
    };
    let lang = match q.lang.as_deref() {
        None => ReportLang::ZhCn,
        Some(l) => ReportLang::parse(l).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("lang {l:?}: zh-CN or en"),
            )
        })?,
    };
    let format = match q.format.as_deref() {
        None => ReportFormat::Pdf,
        Some(f) => ReportFormat::parse(f).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("format {f:?}: html or pdf"),
            )
        })?,
    };
    let body = state.app.report(&s.principal, &q.org, format, lang).await?;
    Ok(crate::report::report_response(body, format, lang, &q.org))
}

#[derive(Debug, Deserialize)]
pub struct FixesQuery {
    org: String,
    lang: Option<String>,
}

/// `GET /app/fixes?org=…&lang=…`: the page's "what to fix first" section (an HTML fragment
/// htmx loads after the page; the priced plan is kept by rating id, so a second look is quick).
async fn fixes(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FixesQuery>,
) -> Result<Response, ApiError> {
    let lang = lang_of(q.lang.as_deref());
    let Some((_, s)) = session(&state, &headers).await? else {
        return Ok(to_sign_in(&headers, lang));
    };
    match state.app.render_fixes(&s.principal, &q.org, lang).await {
        Ok(body) => Ok(html(StatusCode::OK, body)),
        Err(cyrisk_app::error::AppError::NotFound { .. }) => Ok(not_visible()),
        Err(e) => Err(e.into()),
    }
}
