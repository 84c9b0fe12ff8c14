use reqwest::header::{ALLOW, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{PASSWORD, TestApp, csrf_of};

on_both_backends!(
    browsers_sign_up_with_csrf_and_get_a_safe_session_cookie,
    forms_keep_input_and_show_errors_beside_fields,
    pages_escape_what_members_write,
    https_deployments_use_host_prefixed_secure_cookies,
    every_surface_answers_errors_in_its_own_shape,
);

/// A browser-like client: keeps cookies, does not follow redirects.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(client: &Client, app: &TestApp, path: &str) -> String {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.text().await.unwrap()
}

async fn browsers_sign_up_with_csrf_and_get_a_safe_session_cookie(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let browser = browser();
    let form = page(&browser, &app, "/signup").await;
    let csrf = csrf_of(&form);
    assert!(form.contains("<label for=\"handle\">"), "labelled fields");

    // Without the token (a cross-site form), nothing happens.
    let forged = browser
        .post(app.url("/signup"))
        .form(&[
            ("handle", "mallory"),
            ("display_name", ""),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let foreign_origin = browser
        .post(app.url("/signup"))
        .header("Origin", "https://evil.example")
        .form(&[
            ("csrf", csrf.as_str()),
            ("handle", "mallory"),
            ("display_name", ""),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_origin.status(), StatusCode::FORBIDDEN);

    let signed_up = browser
        .post(app.url("/signup"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("handle", "alice"),
            ("display_name", "Alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), StatusCode::SEE_OTHER);
    let cookie = signed_up
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("confidant_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain http deployment");
    let mallory = app.try_log_in("mallory", PASSWORD).await;
    assert_eq!(
        mallory.status(),
        StatusCode::UNAUTHORIZED,
        "the forged sign-ups created nobody"
    );

    let inbox = page(&browser, &app, "/").await;
    assert!(inbox.contains("Inbox"));
    // Logged in, the form token is the session's own.
    let session_csrf = csrf_of(&inbox);
    let forged_logout = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_logout.status(), StatusCode::FORBIDDEN);
    // A bearer header does not excuse a cookie-session form from its check, whatever token
    // it carries: the form still acts on the cookie session.
    let api_token = app.log_in("alice", PASSWORD).await;
    for bearer in [api_token.as_str(), "anything"] {
        let smuggled = browser
            .post(app.url("/settings/password"))
            .bearer_auth(bearer)
            .header("origin", "https://evil.example")
            .form(&[
                ("current_password", PASSWORD),
                ("new_password", "a new long password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(smuggled.status(), StatusCode::FORBIDDEN, "{bearer}");
    }
    assert_eq!(
        app.try_log_in("alice", PASSWORD).await.status(),
        StatusCode::CREATED,
        "the password is unchanged"
    );
    // API calls with a bearer token get no CSRF cookie: they have no forms. What is private
    // is never cached, and a plain-http deployment sends no HSTS.
    let api = app.get("/api/v1/me", &api_token).await;
    assert!(api.headers().get(SET_COOKIE).is_none());
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert!(api.headers().get("strict-transport-security").is_none());
    let inbox = browser.get(app.url("/")).send().await.unwrap();
    assert_eq!(inbox.headers()["cache-control"], "no-store");

    let public = reqwest::get(app.url("/apps")).await.unwrap();
    assert!(public.headers().get("cache-control").is_none());
    let logout = browser
        .post(app.url("/logout"))
        .form(&[("csrf", session_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    let after = browser.get(app.url("/friends")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert!(
        after.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login?next=%2Ffriends")
    );

    // Logging in again gives a new session id, and `next` never leads off-site — however
    // a browser would read it — nor breaks the answer after the log-in committed.
    for next in [
        "//evil.example/",
        "/%09/evil.example",
        "/\t/evil.example",
        "/\t\\evil.example",
        "/\\evil.example",
        "/x\nLocation: https://evil.example",
        "/x\r\n",
        "/x\0",
        "https://evil.example/",
    ] {
        let login_page = page(&browser, &app, "/login").await;
        let login = browser
            .post(app.url("/login"))
            .form(&[
                ("csrf", csrf_of(&login_page).as_str()),
                ("handle", "alice"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        if next.contains('\0') {
            // NUL is refused in any text, before anything happens.
            assert_eq!(login.status(), StatusCode::BAD_REQUEST, "{next:?}");
            continue;
        }
        assert_eq!(login.status(), StatusCode::SEE_OTHER, "{next:?}");
        let to = login.headers()[LOCATION].to_str().unwrap();
        assert!(
            to.starts_with('/') && !to.starts_with("//"),
            "{next:?} -> {to}"
        );
        assert!(
            !to.contains("evil.example") || to.starts_with("/%09"),
            "{next:?} -> {to}"
        );
    }
    let login_page = page(&browser, &app, "/login").await;
    let login = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf_of(&login_page).as_str()),
            ("handle", "alice"),
            ("password", PASSWORD),
            ("next", "/friends?tab=requests"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.headers()[LOCATION], "/friends?tab=requests");
}

async fn forms_keep_input_and_show_errors_beside_fields(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    app.sign_up("alice").await;
    let browser = browser();
    let csrf = csrf_of(&page(&browser, &app, "/signup").await);
    let taken = browser
        .post(app.url("/signup"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("handle", "alice"),
            ("display_name", "Second Alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let html = taken.text().await.unwrap();
    assert!(html.contains("id=\"handle-error\""));
    assert!(html.contains("That handle is already taken."));
    assert!(
        html.contains("value=\"Second Alice\""),
        "what was typed is kept"
    );

    let login_page = page(&browser, &app, "/login").await;
    let wrong = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf_of(&login_page).as_str()),
            ("handle", "alice"),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("Wrong handle or password."));
    assert!(html.contains("value=\"alice\""));

    // A directory search too short to be one is refused beside the search box.
    let browser = app.browser_for("alice").await.client;
    let short = browser.get(app.url("/friends?q=bo")).send().await.unwrap();
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = short.text().await.unwrap();
    assert!(html.contains("id=\"q-error\""));
    assert!(html.contains("Type at least 3 characters of their handle."));
    assert!(html.contains("value=\"bo\""), "the query is kept");
}

async fn pages_escape_what_members_write(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    app.send(&alice, conversation, "<script>alert('x')</script>")
        .await;

    let browser = browser();
    let csrf = csrf_of(&page(&browser, &app, "/login").await);
    browser
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("handle", "bob"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let response = browser
        .get(app.url(&format!("/c/{conversation}")))
        .send()
        .await
        .unwrap();
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"));
    let html = response.text().await.unwrap();
    assert!(
        html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"));
    assert!(
        !html.contains("<script>") || html.matches("<script").count() == 1,
        "only app.js"
    );

    // Sending from the page works without JavaScript.
    let conversation_page = page(&browser, &app, &format!("/c/{conversation}")).await;
    let sent = browser
        .post(app.url(&format!("/c/{conversation}/messages")))
        .form(&[
            ("csrf", csrf_of(&conversation_page).as_str()),
            ("body", "hi from the form"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    assert!(
        page(&browser, &app, &format!("/c/{conversation}"))
            .await
            .contains("hi from the form")
    );
    // Another member's conversation is not found, not forbidden.
    let carol = app.sign_up("carol").await;
    let _ = carol;
    let elsewhere = browser.get(app.url("/c/999999")).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
}

async fn https_deployments_use_host_prefixed_secure_cookies(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| {
        config.server.public_url = Some("https://chat.example.org".into());
    })
    .await;
    let response = reqwest::get(app.url("/login")).await.unwrap();
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-confidant_csrf="), "{cookie}");
    // Served over https: browsers are told to stay on https.
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    assert!(cookie.contains("Secure") && cookie.contains("Path=/"));
}

async fn every_surface_answers_errors_in_its_own_shape(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    app.sign_up("alice").await;
    let browser = app.browser_for("alice").await.client;
    let has_type = |response: &reqwest::Response, prefix: &str| {
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(prefix)
    };
    let is_json = |response: &reqwest::Response| has_type(response, "application/json");
    let is_page = |response: &reqwest::Response| has_type(response, "text/html");

    // The JSON API and the partner API: their error object, with `Allow` kept.
    for (method, path) in [
        (Method::DELETE, "/api/v1/members"),
        (Method::PUT, "/partner/v1/me"),
    ] {
        let refused = app.request(method, path, None).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert!(refused.headers().contains_key(ALLOW), "{path}");
        assert!(is_json(&refused), "{path}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{path}");
        assert!(
            body["message"].as_str().unwrap().contains("Allow"),
            "{body}"
        );
    }
    // A method no route acts on is not taken for a form post: 405, not a CSRF refusal.
    // Nor is any method on a public document that no form posts to.
    for method in [Method::TRACE, Method::PUT] {
        let refused = app
            .request(method.clone(), "/.well-known/confidant-log-key", None)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert!(is_json(&refused), "{method}");
    }
    // The OAuth endpoints: an OAuth error object.
    let refused = browser.get(app.url("/oauth/token")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].is_string());

    // Web pages: a page, whatever refused the request (the router, an extractor, a limit).
    let not_a_number = browser
        .get(app.url("/c/not-a-number"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_number.status(), StatusCode::BAD_REQUEST);
    assert!(is_page(&not_a_number));
    assert!(
        not_a_number
            .text()
            .await
            .unwrap()
            .contains("<h1>This request is not valid</h1>")
    );
    let wrong_method = browser.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(is_page(&wrong_method));
    // Pages only take forms: another unsafe method is the router's 405, not a CSRF refusal.
    for (method, path) in [
        (Method::PUT, "/oauth/authorize"),
        (Method::DELETE, "/settings"),
        (Method::PATCH, "/login"),
    ] {
        let refused = browser
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(refused.headers().contains_key(ALLOW), "{method} {path}");
        assert!(is_page(&refused));
    }
    let no_such_file = browser
        .get(app.url("/static/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_such_file.status(), StatusCode::NOT_FOUND);
    assert!(is_page(&no_such_file));
    assert!(no_such_file.headers().contains_key(CONTENT_SECURITY_POLICY));
    for (path, json) in [("/settings", false), ("/api/v1/me", true)] {
        let huge = browser
            .get(app.url(path))
            .header("x-padding", "x".repeat(20_000))
            .send()
            .await
            .unwrap();
        assert_eq!(huge.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(is_json(&huge), json, "{path}");
        assert_eq!(is_page(&huge), !json, "{path}");
    }
}
