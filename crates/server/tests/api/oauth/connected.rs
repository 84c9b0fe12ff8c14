//! Connected apps (members), the public registry, and the operators' app admin.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{PASSWORD, TestApp, csrf_of};

on_both_backends!(
    members_see_their_connected_apps_and_revoking_kills_tokens_at_once,
    the_settings_page_lists_apps_and_its_button_disconnects,
    the_public_registry_lists_approved_apps_and_their_report_dimensions,
    operators_register_approve_and_suspend_apps_and_suspension_kills_tokens,
    a_suspension_by_another_process_refuses_the_very_next_request,
    a_member_drops_one_shared_thread_and_sees_suspensions_and_disconnections,
);

async fn members_see_their_connected_apps_and_revoking_kills_tokens_at_once(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let bookshop = app.partner("Bookshop", true).await;
    let browser = app.browser("alice").await;
    let token = app.log_in("alice", PASSWORD).await;
    let films = app
        .tokens(&browser, &streamflix, "profile messages:send")
        .await;
    let books = app.tokens(&browser, &bookshop, "profile").await;

    app.clock.advance_secs(120);
    let before: Value = app.partner_me(&films.access).await.json().await.unwrap();
    let apps: Value = app.json("/api/v1/me/apps", &token).await;
    let apps = apps.as_array().unwrap();
    assert_eq!(apps.len(), 2);
    let listed = apps
        .iter()
        .find(|a| a["client_id"] == streamflix.client_id.as_str())
        .unwrap();
    assert_eq!(listed["name"], "Streamflix");
    assert_eq!(
        listed["scopes"],
        serde_json::json!(["profile", "messages:send"])
    );
    assert_eq!(listed["granted_at"], 1_800_000_000_000i64);
    assert_eq!(listed["last_used_at"], 1_800_000_120_000i64);

    let revoked = app
        .request(
            Method::DELETE,
            &format!("/api/v1/me/apps/{}", streamflix.client_id),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    // Before any clock moves: the very next call is refused.
    assert_eq!(
        app.partner_me(&films.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app.refresh(&streamflix, &films.refresh, None).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.partner_me(&books.access).await.status(), StatusCode::OK);

    let again = app
        .request(
            Method::DELETE,
            &format!("/api/v1/me/apps/{}", streamflix.client_id),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
    let apps: Value = app.json("/api/v1/me/apps", &token).await;
    assert_eq!(apps.as_array().unwrap().len(), 1);

    // Reconnecting asks again, and the app knows the member under the same id as before.
    let films_again = app.tokens(&browser, &streamflix, "profile").await;
    let after: Value = app
        .partner_me(&films_again.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["id"], before["id"]);
    let unauthenticated = app
        .client
        .get(app.url("/api/v1/me/apps"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}

async fn the_settings_page_lists_apps_and_its_button_disconnects(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let empty = browser.page(&app, "/settings/apps").await;
    assert!(empty.contains("You have not connected any apps."));
    let tokens = app
        .tokens(&browser, &partner, "profile messages:send")
        .await;
    let page = browser.page(&app, "/settings/apps").await;
    assert!(page.contains("<h2>Streamflix</h2>"));
    assert!(page.contains("Send a recommendation to a friend you choose"));
    assert!(page.contains("not used yet"));
    let disconnect = format!("/settings/apps/{}/disconnect", partner.client_id);
    assert!(page.contains(&disconnect));
    let forged = browser
        .client
        .post(app.url(&disconnect))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::OK
    );
    let done = browser
        .client
        .post(app.url(&disconnect))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let anonymous = app
        .client
        .get(app.url("/settings/apps"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
}

async fn the_public_registry_lists_approved_apps_and_their_report_dimensions(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    app.partner("Streamflix", false).await;
    app.pending_partner("Sketchy", false).await;
    let page = app.client.get(app.url("/apps")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("<h2>Streamflix</h2>"));
    assert!(page.contains("Run by Streamflix Inc."));
    assert!(page.contains("<code>title_page</code>, <code>player_end</code>"));
    assert!(page.contains("<code>messages:send</code>"));
    assert!(page.contains("no privacy policy given"));
    assert!(!page.contains("Sketchy"), "pending apps are not listed");
}

async fn operators_register_approve_and_suspend_apps_and_suspension_kills_tokens(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let admin = app.operator().await;
    let member = app.browser("alice").await;
    let refused = member
        .client
        .get(app.url("/admin/apps"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let page = admin.page(&app, "/admin/apps").await;
    let csrf = csrf_of(&page);
    let invalid = admin
        .client
        .post(app.url("/admin/apps"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Streamflix"),
            ("redirect_uris", "http://streamflix.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(invalid.text().await.unwrap().contains("must use https"));
    assert!(
        app.core.apps().await.unwrap().is_empty(),
        "nothing registered"
    );

    let created = admin
        .client
        .post(app.url("/admin/apps"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Streamflix"),
            ("owner", "Streamflix Inc."),
            ("redirect_uris", "https://streamflix.example/callback"),
            ("scope", "profile"),
            ("scope", "messages:send"),
            ("surfaces", "title_page player_end"),
            ("variations", "arm_a arm_b"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let html = created.text().await.unwrap();
    let registered = app.core.apps().await.unwrap().remove(0);
    assert!(html.contains(&registered.client_id));
    assert!(html.contains("cfd_cs_"), "the secret, shown once");
    assert_eq!(registered.scopes.to_string(), "profile messages:send");
    assert_eq!(registered.variations, vec!["arm_a", "arm_b"]);
    let again = admin.page(&app, "/admin/apps").await;
    assert!(!again.contains("cfd_cs_"), "and never again");

    let act = |action: &'static str| {
        let path = format!("/admin/apps/{}/{action}", registered.client_id);
        let admin = &admin.client;
        let csrf = csrf.clone();
        let app = &app;
        async move {
            admin
                .post(app.url(&path))
                .form(&[("csrf", csrf)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(act("approve").await, StatusCode::SEE_OTHER);
    let forbidden = member
        .client
        .post(app.url(&format!("/admin/apps/{}/suspend", registered.client_id)))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    let secret = html
        .split("cfd_cs_")
        .nth(1)
        .map(|rest| format!("cfd_cs_{}", &rest[..rest.find('<').unwrap()]))
        .unwrap();
    let partner = super::Partner {
        client_id: registered.client_id.clone(),
        secret: Some(secret),
        redirect_uri: super::REDIRECT_URI.into(),
    };
    let tokens = app.tokens(&member, &partner, "profile").await;
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::OK
    );

    assert_eq!(act("suspend").await, StatusCode::SEE_OTHER);
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app.refresh(&partner, &tokens.refresh, None).await;
    assert_eq!(
        refresh.status(),
        StatusCode::UNAUTHORIZED,
        "a suspended client"
    );
    // Approving again does not bring the killed tokens back.
    assert_eq!(act("approve").await, StatusCode::SEE_OTHER);
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app.refresh(&partner, &tokens.refresh, None).await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
}

/// The server caches tokens and apps; a change made outside it (here the `confidant`
/// command, as an operator would run it beside the server) must still take effect at once.
async fn a_suspension_by_another_process_refuses_the_very_next_request(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let tokens = app.tokens(&browser, &streamflix, "profile").await;
    for _ in 0..3 {
        assert_eq!(
            app.partner_me(&tokens.access).await.status(),
            StatusCode::OK
        );
    }
    let suspended = std::process::Command::new(env!("CARGO_BIN_EXE_confidant"))
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .args([
            "--database-url",
            &app.db.url,
            "apps",
            "suspend",
            &streamflix.client_id,
        ])
        .output()
        .unwrap();
    assert!(suspended.status.success(), "{suspended:?}");
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn a_member_drops_one_shared_thread_and_sees_suspensions_and_disconnections(
    db: TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, browser) = app.member("alice").await;
    let (bob, _) = app.member("bob").await;
    let (carol, _) = app.member("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    let films = app.group(&alice, "Film club", &[&bob]).await;
    let books = app.group(&alice, "Book club", &[&carol]).await;
    let tokens = app
        .share_threads(&browser, &streamflix, &[films, books])
        .await;
    let threads = |access: String| {
        let app = &app;
        async move {
            let listed = app.partner_json("/partner/v1/threads", &access).await;
            listed.as_array().unwrap().len()
        }
    };
    assert_eq!(threads(tokens.access.clone()).await, 2);

    // The log-in in front of a consent names the app it leads to.
    let path = app.authorize_path(&streamflix, "profile", &[]);
    let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    let login = app
        .client
        .get(app.url(&format!("/login?next={next}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("to continue to <strong>Streamflix</strong>"),
        "{login}"
    );

    let page = browser.page(&app, "/settings/apps").await;
    assert!(page.contains("Stop sharing “Film club”"));
    assert!(
        page.contains("Yes, disconnect Streamflix"),
        "the disconnection asks first"
    );
    let drop = format!(
        "/settings/apps/{}/threads/{films}/drop",
        streamflix.client_id
    );
    let dropped = browser
        .client
        .post(app.url(&drop))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(dropped.status(), StatusCode::SEE_OTHER);
    let after = browser
        .page(&app, crate::oauth::location(&dropped).as_str())
        .await;
    assert!(after.contains("Streamflix can no longer read that conversation"));
    assert!(!after.contains("Stop sharing “Film club”"));
    assert!(after.contains("Stop sharing “Book club”"));
    assert_eq!(
        threads(tokens.access.clone()).await,
        1,
        "the other thread and the token itself still work"
    );
    let again = browser
        .client
        .post(app.url(&drop))
        .form(&[("csrf", csrf_of(&after))])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let log = app
        .json("/api/v1/me/access-log?limit=50", &alice.token)
        .await;
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| { entry["text"] == "You stopped Streamflix reading thread 'Film club'" }),
        "{log}"
    );

    // A suspended app stays listed, marked, and can still be disconnected.
    app.core.suspend_app(&streamflix.client_id).await.unwrap();
    let page = browser.page(&app, "/settings/apps").await;
    assert!(page.contains("suspended"), "{page}");
    assert!(page.contains("The server's operator suspended Streamflix"));
    let done = browser
        .client
        .post(app.url(&format!(
            "/settings/apps/{}/disconnect",
            streamflix.client_id
        )))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    let told = browser
        .page(&app, crate::oauth::location(&done).as_str())
        .await;
    assert!(told.contains("Streamflix is disconnected"));
    assert!(told.contains("You have not connected any apps."));
}
