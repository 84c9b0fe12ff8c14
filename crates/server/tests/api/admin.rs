//! Day-two administration through the operator pages: members (promote, suspend, a new
//! password) and apps (change, rotate the secret, delete).

use reqwest::StatusCode;
use serde_json::Value;

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{PASSWORD, TestApp, csrf_of};
use crate::oauth::{Browser, Partner};

on_both_backends!(
    operators_suspend_reinstate_and_reset_members,
    the_last_operator_stays_and_members_cannot_administer,
    a_rotated_secret_keeps_working_for_its_grace_period_only,
    changing_an_app_checks_it_and_narrowing_ends_its_tokens,
    deleting_an_app_disconnects_its_members_and_keeps_their_logs,
);

impl TestApp {
    /// Posts an operator form on `page` to `path`, with the page's CSRF token.
    async fn operator_post(
        &self,
        operator: &Browser,
        page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let csrf = csrf_of(&operator.page(self, page).await);
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        operator
            .client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The member's access-log entries, oldest first, as `action outcome` lines.
    async fn log_lines(&self, token: &str) -> Vec<String> {
        let page: Value = self.json("/api/v1/me/access-log?limit=200", token).await;
        let mut lines: Vec<String> = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["action"].as_str().unwrap(),
                    e["outcome"].as_str().unwrap()
                )
            })
            .collect();
        lines.reverse();
        lines
    }
}

async fn operators_suspend_reinstate_and_reset_members(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let root = app.operator().await;
    let streamflix = app.partner("Streamflix", false).await;
    let bob = app.browser("bob").await;
    let tokens = app.tokens(&bob, &streamflix, "profile").await;
    let api_token = app.log_in("bob", PASSWORD).await;
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::OK
    );

    let page = root.page(&app, "/admin/members").await;
    assert!(page.contains("@bob") && page.contains("@root"));
    let suspended = app
        .operator_post(&root, "/admin/members", "/admin/members/bob/suspend", &[])
        .await;
    assert_eq!(suspended.status(), StatusCode::SEE_OTHER);
    assert!(
        root.page(&app, "/admin/members")
            .await
            .contains("suspended")
    );

    // Every way in is closed at once: the session, the API token, the partner's tokens.
    let me = app.get("/api/v1/me", &api_token).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let web = bob.client.get(app.url("/friends")).send().await.unwrap();
    assert_eq!(
        web.status(),
        StatusCode::SEE_OTHER,
        "the browser session ended"
    );
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&streamflix, &tokens.refresh, None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // Only someone who knows the password learns the account is suspended.
    let right = app.try_log_in("bob", PASSWORD).await;
    assert_eq!(right.status(), StatusCode::FORBIDDEN);
    assert!(right.text().await.unwrap().contains("account_suspended"));
    let wrong = app.try_log_in("bob", "not the password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let reinstated = app
        .operator_post(&root, "/admin/members", "/admin/members/bob/unsuspend", &[])
        .await;
    assert_eq!(reinstated.status(), StatusCode::SEE_OTHER);
    let token = app.log_in("bob", PASSWORD).await;
    let log = app.log_lines(&token).await;
    assert!(
        log.contains(&"consent.revoke allowed".to_owned()),
        "the disconnection is in bob's log: {log:?}"
    );
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "reinstating does not bring the app's access back"
    );

    // A new password: the old one stops working and sessions end.
    let short = app
        .operator_post(
            &root,
            "/admin/members",
            "/admin/members/bob/reset-password",
            &[("password", "short")],
        )
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/me", &token).await.status(), StatusCode::OK);
    let reset = app
        .operator_post(
            &root,
            "/admin/members",
            "/admin/members/bob/reset-password",
            &[("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(reset.status(), StatusCode::OK);
    assert!(
        reset
            .text()
            .await
            .unwrap()
            .contains("bob has a new password")
    );
    assert_eq!(
        app.get("/api/v1/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.try_log_in("bob", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.log_in("bob", "a brand new passphrase").await;

    let missing = app
        .operator_post(
            &root,
            "/admin/members",
            "/admin/members/nobody/suspend",
            &[],
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn the_last_operator_stays_and_members_cannot_administer(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let root = app.operator().await;
    let alice = app.browser("alice").await;
    for path in ["/admin/members", "/admin/apps"] {
        let refused = alice.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let refused = alice
        .client
        .post(app.url("/admin/members/alice/promote"))
        .form(&[("csrf", csrf_of(&alice.page(&app, "/").await))])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let last = app
        .operator_post(&root, "/admin/members", "/admin/members/root/demote", &[])
        .await;
    assert_eq!(last.status(), StatusCode::CONFLICT);
    assert!(last.text().await.unwrap().contains("only operator"));
    let promoted = app
        .operator_post(&root, "/admin/members", "/admin/members/alice/promote", &[])
        .await;
    assert_eq!(promoted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        alice
            .client
            .get(app.url("/admin/members"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let demoted = app
        .operator_post(&root, "/admin/members", "/admin/members/root/demote", &[])
        .await;
    assert_eq!(demoted.status(), StatusCode::SEE_OTHER);
}

async fn a_rotated_secret_keeps_working_for_its_grace_period_only(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let root = app.operator().await;
    let old = app.partner("Streamflix", false).await;
    let page = format!("/admin/apps/{}", old.client_id);
    let rotated = app
        .operator_post(
            &root,
            &page,
            &format!("/admin/apps/{}/rotate-secret", old.client_id),
            &[("grace_hours", "1")],
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let html = rotated.text().await.unwrap();
    let secret = html
        .split("cfd_cs_")
        .nth(1)
        .map(|rest| format!("cfd_cs_{}", &rest[..rest.find('<').unwrap()]))
        .expect("the new secret is shown once");
    assert!(html.contains("keeps working until"));
    assert!(!root.page(&app, &page).await.contains(&secret), "only once");
    let new = Partner {
        secret: Some(secret),
        ..old.clone()
    };

    // Client authentication at introspection: both work during the grace period…
    for partner in [&old, &new] {
        let response = app.client_post(partner, "/oauth/introspect", "x").await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // …and only the new one after it.
    app.clock.advance_secs(3601);
    let response = app.client_post(&old, "/oauth/introspect", "x").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app.client_post(&new, "/oauth/introspect", "x").await;
    assert_eq!(response.status(), StatusCode::OK);

    // With no grace period, the old secret stops at once.
    let now = app
        .operator_post(
            &root,
            &page,
            &format!("/admin/apps/{}/rotate-secret", new.client_id),
            &[("grace_hours", "0")],
        )
        .await;
    assert!(now.text().await.unwrap().contains("no longer works"));
    let response = app.client_post(&new, "/oauth/introspect", "x").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn changing_an_app_checks_it_and_narrowing_ends_its_tokens(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let root = app.operator().await;
    let streamflix = app.partner("Streamflix", false).await;
    let alice = app.browser("alice").await;
    let tokens = app
        .tokens(&alice, &streamflix, "profile friends:read")
        .await;
    let page = format!("/admin/apps/{}", streamflix.client_id);
    let before = app.core.app(&streamflix.client_id).await.unwrap();

    let all = [
        "profile",
        "friends:read",
        "messages:send",
        "messages:read.app",
    ];
    let invalid = app
        .operator_post(
            &root,
            &page,
            &page,
            &app_form("Streamflix 2", "http://not-loopback.example/cb", &all),
        )
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.core.app(&streamflix.client_id).await.unwrap(),
        before,
        "a refused change changes nothing"
    );

    let redirect = before.redirect_uris[0].as_str();
    let saved = app
        .operator_post(
            &root,
            &page,
            &page,
            &app_form("Streamflix 2", redirect, &all),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let after = app.core.app(&streamflix.client_id).await.unwrap();
    assert_eq!(after.name, "Streamflix 2");
    assert_eq!(after.surfaces, ["title_page", "search"]);
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::OK
    );

    let narrowed = app
        .operator_post(
            &root,
            &page,
            &page,
            &app_form("Streamflix 2", redirect, &["profile"]),
        )
        .await;
    assert_eq!(narrowed.status(), StatusCode::OK);
    assert!(
        narrowed
            .text()
            .await
            .unwrap()
            .contains("every token the app held has ended")
    );
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let token = app.log_in("alice", PASSWORD).await;
    let page: Value = app.json("/api/v1/me/access-log?limit=1", &token).await;
    assert_eq!(page["entries"][0]["reason"], "app_narrowed");
}

/// The app settings form, all of it.
fn app_form<'a>(name: &'a str, redirect: &'a str, scopes: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("name", name),
        ("owner", "Streamflix GmbH"),
        ("redirect_uris", redirect),
        ("surfaces", "title_page search"),
        ("variations", "arm_a"),
        (
            "item_url_template",
            "https://streamflix.example/t/{item_id}",
        ),
    ];
    fields.extend(scopes.iter().map(|scope| ("scope", *scope)));
    fields
}

async fn deleting_an_app_disconnects_its_members_and_keeps_their_logs(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let root = app.operator().await;
    let streamflix = app.partner("Streamflix", false).await;
    let alice = app.browser("alice").await;
    let tokens = app.tokens(&alice, &streamflix, "profile").await;
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::OK
    );
    let page = format!("/admin/apps/{}", streamflix.client_id);
    let delete = format!("/admin/apps/{}/delete", streamflix.client_id);

    let unconfirmed = app
        .operator_post(&root, &page, &delete, &[("confirm", "streamflix")])
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.core.app(&streamflix.client_id).await.is_ok());

    let deleted = app
        .operator_post(&root, &page, &delete, &[("confirm", "Streamflix")])
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(app.core.app(&streamflix.client_id).await.is_err());
    assert_eq!(
        root.client
            .get(app.url(&page))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let token = app.log_in("alice", PASSWORD).await;
    let log = app.log_lines(&token).await;
    assert!(
        log.starts_with(&["consent.grant allowed".to_owned()]),
        "{log:?}"
    );
    assert!(
        log.contains(&"consent.revoke allowed".to_owned()),
        "{log:?}"
    );
    // The use after deletion is logged against alice, with the reason.
    let page: Value = app.json("/api/v1/me/access-log?limit=1", &token).await;
    assert_eq!(page["entries"][0]["reason"], "app_deleted");
}
