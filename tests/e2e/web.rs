//! The live rating page (`/app`) over HTTP: every role's session sees the organisations and
//! reports the API would show it and no other (404), forms without their CSRF token are
//! refused, signing out and revoking the key end the session, and every answer carries the
//! security headers.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use cyrisk_store::Role;
use tower::ServiceExt;

use crate::api::{expected_status, runtime, world_for};

#[test]
fn the_csp_check_catches_inline_scripts() {
    let mut h = HeaderMap::new();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, "nosniff".parse().unwrap());
    for bad in [
        "default-src 'none'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        "default-src *; frame-ancestors 'none'",
        "script-src 'self'",
    ] {
        h.insert(header::CONTENT_SECURITY_POLICY, bad.parse().unwrap());
        let caught = std::panic::catch_unwind(|| assert_secure_headers(&h, "test")).is_err();
        assert!(caught, "{bad}");
    }
    assert!(!no_inline_script(
        r#"<script src="/a.js"></script><script type="module">x()</script>"#
    ));
    assert!(no_inline_script(r#"<script src="/a.js"></script>"#));
}

async fn send(
    app: &axum::Router,
    method: Method,
    uri: &str,
    cookies: &str,
    form: Option<String>,
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if !cookies.is_empty() {
        req = req.header(header::COOKIE, cookies);
    }
    let body = match form {
        Some(f) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(f)
        }
        None => Body::empty(),
    };
    let res = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The value of the cookie `name` a response sets.
fn set_cookie(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or("").to_owned())
        })
}

/// The content security policy runs no inline or evaluated script and allows no framing, and
/// the answer is `nosniff`.
fn assert_secure_headers(h: &HeaderMap, what: &str) {
    let csp = h
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("{what}: no content security policy"))
        .to_str()
        .unwrap();
    let directive = |name: &str| {
        csp.split(';').map(str::trim).find_map(|d| {
            d.strip_prefix(name)
                .map(|v| v.split_whitespace().collect::<Vec<_>>())
        })
    };
    // Scripts are governed by script-src, or default-src without it.
    let scripts = directive("script-src ")
        .or_else(|| directive("default-src "))
        .unwrap_or_else(|| panic!("{what}: no script-src nor default-src: {csp}"));
    for bad in [
        "'unsafe-inline'",
        "'unsafe-eval'",
        "*",
        "data:",
        "http:",
        "https:",
    ] {
        assert!(
            !scripts.contains(&bad),
            "{what}: scripts may come from {bad}: {csp}"
        );
    }
    assert_eq!(
        directive("frame-ancestors "),
        Some(vec!["'none'"]),
        "{what}: {csp}"
    );
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
}

/// Every `<script` in a page loads a file: none is inline.
fn no_inline_script(body: &str) -> bool {
    body.match_indices("<script").all(|(i, _)| {
        let tag = &body[i..body[i..].find('>').map_or(body.len(), |e| i + e)];
        tag.contains(" src=")
    })
}

/// Signs in with `key` through the form: the session cookie.
async fn sign_in(app: &axum::Router, key: &str) -> String {
    let (s, h, body) = send(app, Method::GET, "/app/login?lang=en", "", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_secure_headers(&h, "sign-in form");
    let login = set_cookie(&h, "cyrisk_login").expect("a sign-in token cookie");
    assert!(
        body.contains(&format!("value=\"{login}\"")),
        "the form carries the token"
    );
    let (s, h, _) = send(
        app,
        Method::POST,
        "/app/login",
        &format!("cyrisk_login={login}"),
        Some(format!("key={key}&csrf={login}&lang=en")),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("cyrisk_session="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/app"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    format!(
        "cyrisk_session={}",
        set_cookie(&h, "cyrisk_session").unwrap()
    )
}

#[test]
fn every_role_sees_on_the_page_what_the_api_shows_it_and_nothing_else() {
    runtime().block_on(async {
        let w = world_for("web").await;
        for (role, key) in &w.keys {
            let session = sign_in(&w.app, key).await;
            for own_tenant in [true, false] {
                let org = if own_tenant { &w.own } else { &w.other };
                let want = expected_status(
                    "get",
                    "/api/v1/organizations/{id}/report",
                    Some(*role),
                    own_tenant,
                );
                let (s, h, body) = send(
                    &w.app,
                    Method::GET,
                    &format!("/app?org={org}&lang=en"),
                    &session,
                    None,
                )
                .await;
                assert_eq!(s, want, "{role:?} page of own={own_tenant}: {body}");
                assert_secure_headers(&h, "page");
                assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
                if s == StatusCode::OK {
                    let rating = w.app.clone();
                    let (_, _, api) = crate::api::call(
                        &rating,
                        Method::GET,
                        &format!("/api/v1/organizations/{org}/rating"),
                        Some(key),
                        None,
                    )
                    .await;
                    let score = api["score"].as_i64().unwrap();
                    assert!(
                        body.contains(&format!(r#"id="score">{score}<"#)),
                        "{role:?}: {score}"
                    );
                    assert!(body.contains("/app/assets/htmx.min.js") && no_inline_script(&body));
                    // The trend, the factors and the download links of this organisation.
                    assert!(body.contains(&format!("/app/report?org={org}&amp;format=pdf")));
                    // An assessor is no party to the insurance: no alerts section at all.
                    assert_eq!(
                        body.contains("Alerts not yet acknowledged"),
                        *role != Role::Assessor,
                        "{role:?}"
                    );
                    assert!(
                        body.contains(r#"name="csrf""#),
                        "the sign-out form carries its token"
                    );
                }
                // The plan section the page loads after its first paint: same rule.
                let (s, h, body) = send(
                    &w.app,
                    Method::GET,
                    &format!("/app/fixes?org={org}&lang=en"),
                    &session,
                    None,
                )
                .await;
                assert_eq!(s, want, "{role:?} fixes of own={own_tenant}: {body}");
                assert_secure_headers(&h, "fixes");
                if s == StatusCode::OK {
                    assert!(
                        body.starts_with(r#"<section id="plan-section">"#)
                            && body.contains(r#"<table id="plan">"#),
                        "{role:?}: {body}"
                    );
                    assert!(body.contains("Expected annual loss"), "{body}");
                }
                for format in ["html", "pdf"] {
                    if format == "pdf" && !crate::support::pdf_tools() {
                        continue;
                    }
                    let (s, h, _) = send(
                        &w.app,
                        Method::GET,
                        &format!("/app/report?org={org}&format={format}&lang=en"),
                        &session,
                        None,
                    )
                    .await;
                    assert_eq!(s, want, "{role:?} {format} report of own={own_tenant}");
                    assert_secure_headers(&h, "report");
                }
            }
            // The enterprise key's page opens its own organisation by default.
            if *role == Role::Enterprise {
                let (s, _, body) = send(&w.app, Method::GET, "/app?lang=en", &session, None).await;
                assert_eq!(s, StatusCode::OK);
                assert!(
                    !body.contains(r#"<select id="org""#),
                    "no picker for one organisation"
                );
            }
        }
        // No session: the page and a report link send to the sign-in form; an htmx request
        // (a boosted link after the session ended) is told to change the whole page.
        let (s, h, _) = send(&w.app, Method::GET, "/app", "", None).await;
        assert_eq!(
            (s, h[header::LOCATION].to_str().unwrap()),
            (StatusCode::SEE_OTHER, "/app/login?lang=zh-CN")
        );
        let (s, h, _) = send(
            &w.app,
            Method::GET,
            &format!("/app/report?org={}&lang=en", w.own),
            "",
            None,
        )
        .await;
        assert_eq!(
            (s, h[header::LOCATION].to_str().unwrap()),
            (StatusCode::SEE_OTHER, "/app/login?lang=en")
        );
        let res = w
            .app
            .clone()
            .oneshot(
                Request::get("/app?lang=en")
                    .header("hx-request", "true")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.headers()["hx-redirect"], "/app/login?lang=en");
        // A rejection axum writes itself keeps the page's headers.
        let (s, h, _) = send(&w.app, Method::GET, "/app/logout", "", None).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert_secure_headers(&h, "405");
        let (s, h, _) = send(
            &w.app,
            Method::POST,
            "/app/login",
            "",
            Some("key=x".to_owned()),
        )
        .await;
        assert!(s.is_client_error(), "{s}");
        assert_secure_headers(&h, "a form without its fields");
        let (s, _, _) = send(
            &w.app,
            Method::GET,
            &format!("/app?org={}", w.own),
            "cyrisk_session=forged",
            None,
        )
        .await;
        assert_eq!(
            s,
            StatusCode::SEE_OTHER,
            "an unknown session token is no session"
        );
    });
}

#[test]
fn forms_need_their_token_and_sessions_end_on_sign_out_and_revocation() {
    runtime().block_on(async {
        let w = world_for("web-forms").await;
        let admin = &w.keys.iter().find(|(r, _)| *r == Role::Admin).unwrap().1;
        // A sign-in post without the form's cookie (a cross-site post), or with another token.
        for cookies in ["", "cyrisk_login=abc"] {
            let (s, h, body) = send(
                &w.app,
                Method::POST,
                "/app/login",
                cookies,
                Some(format!("key={admin}&csrf=def&lang=en")),
            )
            .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{cookies}");
            assert!(set_cookie(&h, "cyrisk_session").is_none());
            assert!(body.contains("The form expired"), "{body}");
        }
        // A wrong key: the form again, 401, no session.
        let (_, h, _) = send(&w.app, Method::GET, "/app/login", "", None).await;
        let login = set_cookie(&h, "cyrisk_login").unwrap();
        let (s, h, body) = send(
            &w.app,
            Method::POST,
            "/app/login",
            &format!("cyrisk_login={login}"),
            Some(format!("key=cyk_wrong&csrf={login}&lang=en")),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(set_cookie(&h, "cyrisk_session").is_none());
        assert!(body.contains("Unknown or revoked key"));

        // A cross-site sign-out post carries no session cookie: nothing is ended or cleared.
        let (s, h, _) = send(
            &w.app,
            Method::POST,
            "/app/logout",
            "",
            Some("csrf=whatever".to_owned()),
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert!(h.get(header::SET_COOKIE).is_none() && h.get("clear-site-data").is_none());

        // Sign-out needs the session's token; with it, the session is gone.
        let session = sign_in(&w.app, admin).await;
        let (s, _, _) = send(
            &w.app,
            Method::POST,
            "/app/logout",
            &session,
            Some("csrf=wrong".to_owned()),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _, page) = send(&w.app, Method::GET, "/app", &session, None).await;
        assert_eq!(s, StatusCode::OK, "still signed in");
        let csrf = page
            .split(r#"name="csrf" value=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let (s, h, _) = send(
            &w.app,
            Method::POST,
            "/app/logout",
            &session,
            Some(format!("csrf={csrf}&lang=en")),
        )
        .await;
        assert_eq!(
            (s, h[header::LOCATION].to_str().unwrap()),
            (StatusCode::SEE_OTHER, "/app/login?lang=en")
        );
        assert_eq!(set_cookie(&h, "cyrisk_session").as_deref(), Some(""));
        assert_eq!(h["clear-site-data"], r#""cache", "storage""#);
        let (s, _, _) = send(&w.app, Method::GET, "/app", &session, None).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "signed out");

        // Revoking the key ends its sessions at once.
        let k = w
            .store
            .create_key("to revoke", Role::Admin, None, None)
            .await
            .unwrap();
        let session = sign_in(&w.app, &k.key).await;
        let (s, _, _) = send(&w.app, Method::GET, "/app", &session, None).await;
        assert_eq!(s, StatusCode::OK);
        w.store.revoke_key(&k.id, None).await.unwrap();
        let (s, _, _) = send(&w.app, Method::GET, "/app", &session, None).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "a revoked key's session is over");

        // The assets are embedded and typed.
        for (path, ctype) in [
            ("/app/assets/app.css", "text/css; charset=utf-8"),
            ("/app/assets/htmx.min.js", "text/javascript; charset=utf-8"),
            ("/app/assets/favicon.svg", "image/svg+xml"),
        ] {
            let (s, h, body) = send(&w.app, Method::GET, path, "", None).await;
            assert_eq!(
                (s, h[header::CONTENT_TYPE].to_str().unwrap()),
                (StatusCode::OK, ctype)
            );
            assert!(body.len() > 100, "{path}");
            assert_secure_headers(&h, path);
        }
    });
}
