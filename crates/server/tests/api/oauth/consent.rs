//! The consent page: plain words, optional scopes, silent repeat authorizations, and the
//! per-thread read picker.

use reqwest::StatusCode;
use serde_json::Value;

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{location, redirect_params, tokens_of};
use crate::helpers::TestApp;

on_both_backends!(
    consent_explains_scopes_and_grants_only_what_stays_ticked,
    repeat_authorizations_with_no_new_scopes_skip_the_page,
    thread_read_shows_a_picker_and_stores_an_expiring_grant,
    bad_consent_changes_nothing,
);

async fn consent_explains_scopes_and_grants_only_what_stays_ticked(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let path = app.authorize_path(&partner, "profile friends:read messages:send", &[]);
    let html = browser.page(&app, &path).await;
    assert!(html.contains("Connect Streamflix to your account?"));
    assert!(html.contains("See the list of your friends"));
    assert!(html.contains("Send a recommendation to a friend you choose"));
    // What it can never do, worded to hold in every case, as on /apps.
    assert!(html.contains("Streamflix can never"), "what it never can");
    for limit in confidant_core::partner::app_limits(false) {
        let shown = ["&#39;", "&#x27;"]
            .iter()
            .any(|quote| html.contains(&limit.replace('\'', quote)));
        assert!(shown, "{limit}");
    }
    assert!(
        !html.contains("who you talk to,"),
        "no promise that a thread grant would break"
    );
    assert!(html.contains("Streamflix Inc."), "who runs it");
    assert!(
        !html.contains("messages:read.app"),
        "only what was asked for"
    );

    // Untick friends:read; profile cannot be unticked, so it is always sent.
    let allowed = app
        .consent(
            &browser,
            &path,
            &[
                ("grant", "profile"),
                ("grant", "messages:send"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(allowed.status(), StatusCode::SEE_OTHER);
    let code = redirect_params(&allowed)["code"].clone();
    let tokens = tokens_of(app.exchange(&partner, &code).await).await;
    assert_eq!(tokens.body["scope"], "profile messages:send");
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 600);
    assert!(tokens.access.starts_with("cfd_at_") && tokens.refresh.starts_with("cfd_rt_"));
    assert!(tokens.body.get("authorization_details").is_none());
}

async fn repeat_authorizations_with_no_new_scopes_skip_the_page(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    app.tokens(&browser, &partner, "profile messages:send")
        .await;

    for scope in ["profile messages:send", "profile"] {
        let path = app.authorize_path(&partner, scope, &[]);
        let response = browser.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{scope}");
        assert!(location(&response).starts_with(&partner.redirect_uri));
        let code = redirect_params(&response)["code"].clone();
        let tokens = tokens_of(app.exchange(&partner, &code).await).await;
        assert_eq!(
            tokens.body["scope"], scope,
            "the token carries what was asked"
        );
    }
    // Asking for more shows the page again.
    let wider = app.authorize_path(&partner, "profile friends:read", &[]);
    let response = browser.client.get(app.url(&wider)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // After disconnecting, the member is asked again.
    let member_token = app.log_in("alice", crate::helpers::PASSWORD).await;
    let gone = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/apps/{}", partner.client_id),
            Some(&member_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let path = app.authorize_path(&partner, "profile", &[]);
    let response = browser.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn thread_read_shows_a_picker_and_stores_an_expiring_grant(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let alice = crate::helpers::TestMember {
        id: 1,
        handle: "alice".into(),
        token: app.log_in("alice", crate::helpers::PASSWORD).await,
    };
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    app.befriend(&bob, &carol).await;
    let with_bob = app.direct(&alice, &bob).await;
    let with_carol = app.direct(&alice, &carol).await;
    let strangers = app.direct(&bob, &carol).await;

    let details = r#"[{"type":"thread_read"}]"#;
    let path = app.authorize_path(&partner, "profile", &[("authorization_details", details)]);
    let html = browser.page(&app, &path).await;
    assert!(html.contains("asks to read some of your conversations"));
    assert!(html.contains(&format!("name=\"thread\" value=\"{with_bob}\"")));
    assert!(html.contains(&format!("name=\"thread\" value=\"{with_carol}\"")));
    assert!(!html.contains(&format!("value=\"{strangers}\"")));
    assert!(html.contains("<option value=\"7\" selected>7 days</option>"));

    // Longer than 30 days, or a conversation that is not hers: refused, nothing stored.
    let with_bob_id = with_bob.to_string();
    let strangers_id = strangers.to_string();
    for (thread, days, why) in [
        (with_bob_id.as_str(), "31", "at most 30 days"),
        (strangers_id.as_str(), "7", "not her conversation"),
    ] {
        let response = app
            .consent(
                &browser,
                &path,
                &[
                    ("grant", "profile"),
                    ("thread", thread),
                    ("thread_days", days),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    }
    let apps: Value = app.json("/api/v1/me/apps", &alice.token).await;
    assert_eq!(apps.as_array().unwrap().len(), 0);

    let allowed = app
        .consent(
            &browser,
            &path,
            &[
                ("grant", "profile"),
                ("thread", &with_bob_id),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = redirect_params(&allowed)["code"].clone();
    let tokens = tokens_of(app.exchange(&partner, &code).await).await;
    let details = &tokens.body["authorization_details"][0];
    assert_eq!(details["type"], "thread_read");
    assert_eq!(details["thread_count"], 1);
    let expected_expiry = (1_800_000_000_000i64 + 7 * 24 * 3600 * 1000) / 1000;
    assert_eq!(details["expires_at"], expected_expiry);

    let apps: Value = app.json("/api/v1/me/apps", &alice.token).await;
    let threads = &apps[0]["threads"];
    assert_eq!(threads.as_array().unwrap().len(), 1);
    assert_eq!(threads[0]["conversation_id"], with_bob);
    assert_eq!(threads[0]["title"], "BOB");
    assert_eq!(threads[0]["expires_at"], expected_expiry * 1000);

    // Thread grants lapse on their own.
    app.clock.advance_secs(7 * 24 * 3600 + 1);
    let apps: Value = app.json("/api/v1/me/apps", &alice.token).await;
    assert_eq!(apps[0]["threads"].as_array().unwrap().len(), 0);
}

async fn bad_consent_changes_nothing(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let token = app.log_in("alice", crate::helpers::PASSWORD).await;
    // Unknown scopes and unknown authorization details go back to the app as errors.
    for (extra, error) in [
        (("scope", "profile inbox:read"), "invalid_scope"),
        (
            ("authorization_details", r#"[{"type":"inbox_read"}]"#),
            "invalid_authorization_details",
        ),
        // Fields thread_read does not define are refused, never shown (RFC 9396 §5).
        (
            (
                "authorization_details",
                r#"[{"type":"thread_read","conversations":["all"]}]"#,
            ),
            "invalid_authorization_details",
        ),
    ] {
        let path = app.authorize_path(&partner, "profile", &[extra]);
        let response = browser.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(redirect_params(&response)["error"], error);
    }
    // A member cannot grant what was not asked for, nor drop what is required (the page
    // always sends `profile`; a hand-made form without it is refused).
    let path = app.authorize_path(&partner, "profile", &[]);
    let widened = app
        .consent(
            &browser,
            &path,
            &[("grant", "friends:read"), ("decision", "allow")],
        )
        .await;
    assert_eq!(widened.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = browser.page(&app, &path).await;
    let mut without_profile: Vec<(String, String)> = super::hidden_fields(&html)
        .into_iter()
        .filter(|(name, _)| name != "grant")
        .collect();
    without_profile.push(("decision".into(), "allow".into()));
    let response = browser
        .client
        .post(app.url("/oauth/authorize"))
        .form(&without_profile)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let apps: Value = app.json("/api/v1/me/apps", &token).await;
    assert!(apps.as_array().unwrap().is_empty());
}

#[test]
fn the_readme_words_what_apps_can_never_do_as_the_pages_do() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for limit in confidant_core::partner::app_limits(true) {
        let line = format!(
            "- {}.",
            limit.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        assert!(readme.contains(&line), "README lacks: {line}");
    }
}
