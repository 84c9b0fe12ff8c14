//! The security profile (RFC 9700), one test per rule.

use reqwest::StatusCode;
use serde_json::{Value, json};

use confidant_core::oauth::challenge_of;
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{REDIRECT_URI, VERIFIER, assert_oauth_error, location, redirect_params, tokens_of};
use crate::helpers::TestApp;

on_both_backends!(
    redirect_uris_must_match_exactly_or_the_member_sees_an_error_page,
    loopback_redirects_may_change_port_for_public_clients_only,
    unknown_pending_and_suspended_apps_cannot_start_an_authorization,
    pkce_s256_is_required_and_plain_or_missing_challenges_are_refused,
    wrong_short_long_or_malformed_verifiers_are_invalid_grants,
    codes_live_sixty_seconds_and_are_bound_to_client_and_redirect_uri,
    a_second_redemption_fails_and_revokes_what_the_first_issued,
    refresh_tokens_rotate_and_a_replay_revokes_the_family,
    a_refresh_may_narrow_scope_but_never_widen_it,
    password_and_implicit_grants_are_unsupported,
    confidential_clients_authenticate_and_wrong_secrets_are_throttled,
    authorization_responses_carry_iss_and_state_and_pages_cannot_be_framed,
    the_consent_form_is_csrf_protected,
    revocation_answers_200_and_never_touches_another_clients_tokens,
    introspection_reveals_nothing_about_inactive_or_foreign_tokens,
    partner_calls_need_a_live_token_with_the_right_scope,
    the_metadata_document_describes_this_server,
    authorization_schemes_are_matched_without_regard_to_case,
);

async fn authorization_schemes_are_matched_without_regard_to_case(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let tokens = app.tokens(&browser, &partner, "profile").await;
    // RFC 9110 §11.1: `bearer` is `Bearer`.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let me = app
            .client
            .get(app.url("/partner/v1/me"))
            .header("authorization", format!("{scheme} {}", tokens.access))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK, "{scheme}");
    }
    // And `basic` is `Basic`, at the token endpoint.
    let credentials = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!(
            "{}:{}",
            partner.client_id,
            partner.secret.as_deref().unwrap()
        ),
    );
    let refreshed = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", format!("basic {credentials}"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    // A scheme that only starts like one is still no bearer token.
    let glued = app
        .client
        .get(app.url("/partner/v1/me"))
        .header("authorization", format!("Bearer{}", tokens.access))
        .send()
        .await
        .unwrap();
    assert_eq!(glued.status(), StatusCode::UNAUTHORIZED);
}

async fn status_and_location(
    app: &TestApp,
    browser: &super::Browser,
    path: &str,
) -> (StatusCode, Option<String>) {
    let response = browser.client.get(app.url(path)).send().await.unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (response.status(), location)
}

async fn redirect_uris_must_match_exactly_or_the_member_sees_an_error_page(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    for near_miss in [
        "https://streamflix.example/callback/",
        "https://streamflix.example/callback?x=1",
        "https://streamflix.example/callbac",
        "https://STREAMFLIX.example/callback",
        "https://streamflix.example:443/callback",
        "http://streamflix.example/callback",
        "https://evil.example/callback",
        "",
    ] {
        let path = app.authorize_path(&partner, "profile", &[("redirect_uri", near_miss)]);
        let (status, location) = status_and_location(&app, &browser, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{near_miss}");
        assert_eq!(location, None, "never a redirect for {near_miss:?}");
    }
    let exact = app.authorize_path(&partner, "profile", &[]);
    let (status, _) = status_and_location(&app, &browser, &exact).await;
    assert_eq!(status, StatusCode::OK, "the consent page");
}

async fn loopback_redirects_may_change_port_for_public_clients_only(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let native = app.partner("Desktop", true).await;
    let browser = app.browser("alice").await;
    let path = app.authorize_path(
        &native,
        "profile",
        &[("redirect_uri", "http://127.0.0.1:49152/callback")],
    );
    let (status, _) = status_and_location(&app, &browser, &path).await;
    assert_eq!(status, StatusCode::OK);
    let other_path = app.authorize_path(
        &native,
        "profile",
        &[("redirect_uri", "http://127.0.0.1:49152/elsewhere")],
    );
    assert_eq!(
        status_and_location(&app, &browser, &other_path).await.0,
        StatusCode::BAD_REQUEST
    );

    // A confidential client registered with a loopback URI gets no such leeway.
    let registered = app
        .core
        .register_app(confidant_core::oauth::AppRegistration {
            name: "Local web".into(),
            redirect_uris: vec!["http://127.0.0.1:8000/cb".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    app.core
        .approve_app(&registered.app.client_id)
        .await
        .unwrap();
    let web = super::Partner {
        client_id: registered.app.client_id,
        secret: registered.client_secret,
        redirect_uri: "http://127.0.0.1:8001/cb".into(),
    };
    let path = app.authorize_path(&web, "profile", &[]);
    assert_eq!(
        status_and_location(&app, &browser, &path).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn unknown_pending_and_suspended_apps_cannot_start_an_authorization(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser("alice").await;
    let pending = app.pending_partner("Pending", false).await;
    let suspended = app.partner("Suspended", false).await;
    app.core.suspend_app(&suspended.client_id).await.unwrap();
    let mut unknown = pending.clone();
    unknown.client_id = "cfd_app_nope".into();
    for partner in [&unknown, &pending, &suspended] {
        let path = app.authorize_path(partner, "profile", &[]);
        let (status, location) = status_and_location(&app, &browser, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", partner.client_id);
        assert_eq!(location, None);
    }
    let missing = app.authorize_path(&pending, "profile", &[("client_id", "")]);
    assert_eq!(
        status_and_location(&app, &browser, &missing).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn pkce_s256_is_required_and_plain_or_missing_challenges_are_refused(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let plain = app.authorize_path(
        &partner,
        "profile",
        &[
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
    );
    let no_method = app.authorize_path(&partner, "profile", &[("code_challenge_method", "")]);
    let no_challenge = app.authorize_path(&partner, "profile", &[("code_challenge", "")]);
    let malformed = app.authorize_path(&partner, "profile", &[("code_challenge", "abc")]);
    for path in [plain, no_method, no_challenge, malformed] {
        let response = browser.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let params = redirect_params(&response);
        assert!(location(&response).starts_with(REDIRECT_URI));
        assert_eq!(params["error"], "invalid_request", "{path}");
        assert_eq!(params["state"], "s-123");
    }
    // No code exists without a challenge, so a verifier has nothing to be checked against:
    // presenting one with a code that was never issued is refused like any bad code.
    let response = app
        .token_request(
            &partner,
            &[
                ("grant_type", "authorization_code"),
                ("code", "cfd_code_never_issued"),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn wrong_short_long_or_malformed_verifiers_are_invalid_grants(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let code = app.code(&browser, &partner, "profile").await;
    let short = "a".repeat(42);
    let long = "a".repeat(129);
    let wrong = format!("{VERIFIER}x");
    let malformed = format!("{}+/", &VERIFIER[..45]);
    for verifier in [wrong.as_str(), &short, &long, &malformed, ""] {
        let response = app
            .token_request(
                &partner,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", verifier),
                ],
            )
            .await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    // A verifier of the right shape whose challenge the code did not carry fails too,
    // even when well-formed: only the one verifier works.
    let other = "b".repeat(43);
    assert_ne!(challenge_of(&other), challenge_of(VERIFIER));
    let response = app.exchange(&partner, &code).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the right verifier still works"
    );
}

async fn codes_live_sixty_seconds_and_are_bound_to_client_and_redirect_uri(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let other = app.partner("Bookshop", false).await;
    let browser = app.browser("alice").await;

    let code = app.code(&browser, &partner, "profile").await;
    let stolen = app.exchange(&other, &code).await;
    assert_oauth_error(stolen, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let elsewhere = app
        .token_request(
            &partner,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://streamflix.example/other"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_oauth_error(elsewhere, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(app.exchange(&partner, &code).await.status(), StatusCode::OK);

    let late = app.code(&browser, &partner, "profile").await;
    app.clock.advance_secs(61);
    assert_oauth_error(
        app.exchange(&partner, &late).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

async fn a_second_redemption_fails_and_revokes_what_the_first_issued(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let code = app.code(&browser, &partner, "profile").await;
    let first = tokens_of(app.exchange(&partner, &code).await).await;
    assert_eq!(app.partner_me(&first.access).await.status(), StatusCode::OK);

    let second = app.exchange(&partner, &code).await;
    assert_oauth_error(second, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        app.partner_me(&first.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app.refresh(&partner, &first.refresh, None).await;
    assert_oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn refresh_tokens_rotate_and_a_replay_revokes_the_family(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let first = app
        .tokens(&browser, &partner, "profile messages:send")
        .await;

    let rotated = app.refresh(&partner, &first.refresh, None).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let second = tokens_of(rotated).await;
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(second.body["scope"], "profile messages:send");
    assert_eq!(
        app.partner_me(&second.access).await.status(),
        StatusCode::OK
    );

    // The old refresh token comes back: someone has a copy. Everything in the family dies.
    let replay = app.refresh(&partner, &first.refresh, None).await;
    assert_oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        app.partner_me(&second.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let next = app.refresh(&partner, &second.refresh, None).await;
    assert_oauth_error(next, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // The refresh lifetime is absolute: rotation does not extend it.
    let fresh = app.tokens(&browser, &partner, "profile").await;
    app.clock.advance_secs(29 * 24 * 3600);
    let near_end = tokens_of(app.refresh(&partner, &fresh.refresh, None).await).await;
    app.clock.advance_secs(2 * 24 * 3600);
    let expired = app.refresh(&partner, &near_end.refresh, None).await;
    assert_oauth_error(expired, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn a_refresh_may_narrow_scope_but_never_widen_it(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let tokens = app
        .tokens(&browser, &partner, "profile messages:send")
        .await;
    let wider = app
        .refresh(
            &partner,
            &tokens.refresh,
            Some("profile messages:send friends:read"),
        )
        .await;
    assert_oauth_error(wider, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let narrower = app
        .refresh(&partner, &tokens.refresh, Some("profile"))
        .await;
    assert_eq!(narrower.status(), StatusCode::OK);
    let narrowed = tokens_of(narrower).await;
    assert_eq!(narrowed.body["scope"], "profile");
    // The narrowing is the access token's; the next refresh may ask for the full grant again.
    let again = app
        .refresh(&partner, &narrowed.refresh, Some("profile messages:send"))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
}

async fn password_and_implicit_grants_are_unsupported(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    for grant_type in ["password", "client_credentials", "implicit"] {
        let response = app
            .token_request(
                &partner,
                &[
                    ("grant_type", grant_type),
                    ("username", "alice"),
                    ("password", crate::helpers::PASSWORD),
                ],
            )
            .await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    }
    for response_type in ["token", "id_token", "code token"] {
        let path = app.authorize_path(&partner, "profile", &[("response_type", response_type)]);
        let response = browser.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let params = redirect_params(&response);
        assert_eq!(
            params["error"], "unsupported_response_type",
            "{response_type}"
        );
        assert!(!location(&response).contains('#'), "nothing in a fragment");
    }
}

async fn confidential_clients_authenticate_and_wrong_secrets_are_throttled(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| config.oauth.client_auth_failures = 4).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;

    // client_secret_post works as well as Basic.
    let code = app.code(&browser, &partner, "profile").await;
    let secret = partner.secret.clone().unwrap();
    let by_post = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", &partner.client_id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(by_post.status(), StatusCode::OK);
    let tokens = tokens_of(by_post).await;

    // Without a secret, a confidential client is not authenticated — on every endpoint.
    let mut anonymous = partner.clone();
    anonymous.secret = None;
    let refresh = app.refresh(&anonymous, &tokens.refresh, None).await;
    assert_eq!(
        refresh.headers()["www-authenticate"],
        "Basic realm=\"confidant\""
    );
    assert_oauth_error(refresh, StatusCode::UNAUTHORIZED, "invalid_client").await;
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        let response = app.client_post(&anonymous, path, &tokens.access).await;
        assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }

    let mut impostor = partner.clone();
    impostor.secret = Some("cfd_cs_wrong".into());
    // Failures so far: the anonymous refresh, revoke and introspect; one more hits the limit.
    let wrong = app.refresh(&impostor, &tokens.refresh, None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let throttled = app.refresh(&partner, &tokens.refresh, None).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    assert_eq!(throttled.headers()["cache-control"], "no-store");
    // The throttle is per client: another app is unaffected.
    let other = app.partner("Bookshop", false).await;
    let unknown_code = app
        .token_request(
            &other,
            &[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(unknown_code.status(), StatusCode::BAD_REQUEST);
    // And per source address: a stranger elsewhere who knows the client id locks out only
    // their own address. (127.0.0.2 is loopback too, but another source.)
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let from_elsewhere = elsewhere
        .post(app.url("/oauth/token"))
        .basic_auth(&partner.client_id, partner.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        from_elsewhere.status(),
        StatusCode::OK,
        "the real app's other server"
    );
    app.clock.advance_secs(16 * 60);
    let rotated = tokens_of(from_elsewhere).await;
    let later = app.refresh(&partner, &rotated.refresh, None).await;
    assert_eq!(later.status(), StatusCode::OK);

    // A public client has no secret to guess: wrong secrets never lock it out.
    let public = app.partner("Desktop", true).await;
    let mut guessing = public.clone();
    guessing.secret = Some("cfd_cs_guess".into());
    for _ in 0..20 {
        let refused = app.client_post(&guessing, "/oauth/introspect", "x").await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let revoke = app
        .client_post(&public, "/oauth/revoke", "cfd_at_nothing")
        .await;
    assert_eq!(revoke.status(), StatusCode::OK);
}

async fn authorization_responses_carry_iss_and_state_and_pages_cannot_be_framed(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let path = app.authorize_path(&partner, "profile", &[]);
    let to_login = anonymous.get(app.url(&path)).send().await.unwrap();
    assert_eq!(to_login.status(), StatusCode::SEE_OTHER);
    let login = location(&to_login);
    assert!(
        login.starts_with("/login?next=%2Foauth%2Fauthorize"),
        "{login}"
    );
    let login_page = anonymous.get(app.url(&login)).send().await.unwrap();
    let csp = login_page.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    // The log-in page lets its form lead on to the app's registered redirect URI only.
    assert!(
        csp.contains("form-action 'self' https://streamflix.example"),
        "{csp}"
    );
    let forged = path.replace("streamflix.example%2Fcallback", "evil.example%2Fcallback");
    let forged_login = format!(
        "/login?next={}",
        url::form_urlencoded::byte_serialize(forged.as_bytes()).collect::<String>()
    );
    let forged_page = anonymous.get(app.url(&forged_login)).send().await.unwrap();
    let csp = forged_page.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(!csp.contains("evil.example"), "{csp}");

    let browser = app.browser("alice").await;
    let consent = browser.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let csp = consent.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(consent.headers()["x-frame-options"], "DENY");

    let allowed = app
        .consent(
            &browser,
            &path,
            &[("grant", "profile"), ("decision", "allow")],
        )
        .await;
    let params = redirect_params(&allowed);
    assert!(location(&allowed).starts_with(REDIRECT_URI));
    assert_eq!(params["state"], "s-123");
    assert_eq!(params["iss"], app.address);
    assert!(params["code"].starts_with("cfd_code_"));

    let denied = app
        .consent(
            &browser,
            &app.authorize_path(&partner, "profile messages:send", &[]),
            &[("decision", "deny")],
        )
        .await;
    let params = redirect_params(&denied);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "s-123");
    assert_eq!(params["iss"], app.address);
}

async fn the_consent_form_is_csrf_protected(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let path = app.authorize_path(&partner, "profile", &[]);
    let html = browser.page(&app, &path).await;
    let forged: Vec<(String, String)> = super::hidden_fields(&html)
        .into_iter()
        .filter(|(name, _)| name != "csrf")
        .chain([
            ("decision".into(), "allow".into()),
            ("grant".into(), "profile".into()),
        ])
        .collect();
    let response = browser
        .client
        .post(app.url("/oauth/authorize"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("location").is_none());
    let connected = app
        .core
        .connected_apps(confidant_core::MemberId(1))
        .await
        .unwrap();
    assert!(connected.is_empty(), "nothing was granted");
}

async fn revocation_answers_200_and_never_touches_another_clients_tokens(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let other = app.partner("Bookshop", false).await;
    let browser = app.browser("alice").await;
    let tokens = app.tokens(&browser, &partner, "profile").await;

    let unknown = app
        .client_post(&partner, "/oauth/revoke", "cfd_at_unknown")
        .await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let foreign = app
        .client_post(&other, "/oauth/revoke", &tokens.access)
        .await;
    assert_eq!(foreign.status(), StatusCode::OK);
    let foreign = app
        .client_post(&other, "/oauth/revoke", &tokens.refresh)
        .await;
    assert_eq!(foreign.status(), StatusCode::OK);
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::OK
    );

    let revoked = app
        .client_post(&partner, "/oauth/revoke", &tokens.access)
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Revoking the refresh token takes every token of its family with it.
    let more = tokens_of(app.refresh(&partner, &tokens.refresh, None).await).await;
    app.client_post(&partner, "/oauth/revoke", &more.refresh)
        .await;
    assert_eq!(
        app.partner_me(&more.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let after = app.refresh(&partner, &more.refresh, None).await;
    assert_oauth_error(after, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn introspection_reveals_nothing_about_inactive_or_foreign_tokens(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let other = app.partner("Bookshop", false).await;
    let browser = app.browser("alice").await;
    let tokens = app
        .tokens(&browser, &partner, "profile messages:send")
        .await;

    let active: Value = app
        .client_post(&partner, "/oauth/introspect", &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["scope"], "profile messages:send");
    assert_eq!(active["client_id"], partner.client_id.as_str());
    assert_eq!(active["token_type"], "access_token");
    assert_eq!(active["iss"], app.address);
    let me: Value = app.partner_me(&tokens.access).await.json().await.unwrap();
    assert_eq!(active["sub"], me["id"]);

    let inactive = json!({ "active": false });
    let introspect = |partner: super::Partner, token: String| {
        let app = &app;
        async move {
            let response = app.client_post(&partner, "/oauth/introspect", &token).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["cache-control"], "no-store");
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(
        introspect(other.clone(), tokens.access.clone()).await,
        inactive
    );
    assert_eq!(
        introspect(partner.clone(), "cfd_at_unknown".into()).await,
        inactive
    );

    app.clock.advance_secs(601);
    assert_eq!(
        introspect(partner.clone(), tokens.access.clone()).await,
        inactive
    );
    assert_eq!(
        introspect(partner.clone(), tokens.refresh.clone()).await["active"],
        true
    );
    app.client_post(&partner, "/oauth/revoke", &tokens.refresh)
        .await;
    assert_eq!(
        introspect(partner.clone(), tokens.refresh.clone()).await,
        inactive
    );

    // Public clients cannot authenticate, so they cannot introspect.
    let public = app.partner("Desktop", true).await;
    let response = app
        .client_post(&public, "/oauth/introspect", &tokens.access)
        .await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

async fn partner_calls_need_a_live_token_with_the_right_scope(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let tokens = app
        .tokens(&browser, &partner, "profile messages:send")
        .await;

    let missing = app
        .client
        .get(app.url("/partner/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"confidant\", error=\"invalid_token\""
    );
    for bad in ["cfd_at_garbage", &tokens.refresh] {
        let response = app.partner_me(bad).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    // A member's own API token is no partner token.
    let alice_api = app.log_in("alice", crate::helpers::PASSWORD).await;
    assert_eq!(
        app.partner_me(&alice_api).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let me: Value = app.partner_me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me["display_name"], "ALICE");
    assert!(me["id"].as_str().unwrap().starts_with("cfd_u_"));
    assert!(me.get("handle").is_none(), "no handle, no internal id");

    let narrowed = tokens_of(
        app.refresh(&partner, &tokens.refresh, Some("messages:send"))
            .await,
    )
    .await;
    let forbidden = app.partner_me(&narrowed.access).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.headers()["www-authenticate"],
        "Bearer realm=\"confidant\", error=\"insufficient_scope\", scope=\"profile\""
    );

    app.clock.advance_secs(601);
    assert_eq!(
        app.partner_me(&narrowed.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "access tokens live ten minutes"
    );

    // Pairwise ids: another app sees the same member under another id.
    let bookshop = app.partner("Bookshop", false).await;
    let other_tokens = app.tokens(&browser, &bookshop, "profile").await;
    let other_me: Value = app
        .partner_me(&other_tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(other_me["id"], me["id"]);
}

async fn the_metadata_document_describes_this_server(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let metadata: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], app.address);
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        metadata["authorization_details_types_supported"],
        json!(["thread_read"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["token_endpoint"],
        format!("{}/oauth/token", app.address)
    );
}
