//! Friends who use the app, and per-thread read: only what the member picked, and nothing a
//! hostile partner tries besides.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{PASSWORD, TestApp};
use crate::oauth::{redirect_params, tokens_of};

on_both_backends!(
    friends_are_only_those_who_connected_the_app,
    a_hostile_partner_reads_only_the_threads_it_was_given,
    a_member_may_share_a_threads_history_too,
);

async fn friends_are_only_those_who_connected_the_app(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let mut friends = Vec::new();
    for handle in ["bob", "carol", "dave"] {
        let (friend, browser) = app.member(handle).await;
        app.befriend(&alice, &friend).await;
        friends.push((friend, browser));
    }
    let (_, stranger_browser) = app.member("erin").await;
    // Bob and Dave connect the app, Carol does not; Erin connects it but is no friend.
    let mut pseudonyms = Vec::new();
    for (_, browser) in [&friends[0], &friends[2]] {
        let tokens = app.tokens(browser, &streamflix, "profile").await;
        let me: Value = app.partner_me(&tokens.access).await.json().await.unwrap();
        pseudonyms.push(me["id"].as_str().unwrap().to_owned());
    }
    app.tokens(&stranger_browser, &streamflix, "profile").await;

    let tokens = app
        .tokens(&alice_browser, &streamflix, "profile friends:read")
        .await;
    let body: Value = app
        .partner_json("/partner/v1/friends", &tokens.access)
        .await;
    let mut listed: Vec<(String, String)> = body["friends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["display_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        (pseudonyms[0].clone(), "BOB".to_owned()),
        (pseudonyms[1].clone(), "DAVE".to_owned()),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(body["next_after"].is_null());

    let first: Value = app
        .partner_json("/partner/v1/friends?limit=1", &tokens.access)
        .await;
    assert_eq!(first["friends"].as_array().unwrap().len(), 1);
    let after = first["next_after"].as_str().unwrap();
    let second: Value = app
        .partner_json(
            &format!("/partner/v1/friends?limit=1&after={after}"),
            &tokens.access,
        )
        .await;
    assert_eq!(second["friends"][0]["id"], expected[1].0.as_str());

    // Without the scope: 403 naming it.
    let narrow = app.tokens(&friends[1].1, &streamflix, "profile").await;
    let refused = app.partner_get("/partner/v1/friends", &narrow.access).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"friends:read\"")
    );
    let log: Value = app.json("/api/v1/me/access-log", &alice.token).await;
    assert_eq!(log["entries"][0]["action"], "friends.list");
    assert_eq!(
        log["entries"][0]["text"],
        "Streamflix listed your friends who also use it"
    );
}

async fn a_hostile_partner_reads_only_the_threads_it_was_given(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let bookshop = app.partner("Bookshop", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, bob_browser) = app.member("bob").await;
    let (carol, _) = app.member("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    app.befriend(&bob, &carol).await;
    let family = app.group(&alice, "Family", &[&bob, &carol]).await;
    let work = app.group(&alice, "Work", &[&bob]).await;
    let not_hers = app.direct(&bob, &carol).await;
    app.send(&alice, family, "before sharing").await;
    app.send(&alice, work, "secret work talk").await;
    app.clock.advance_secs(1);

    let tokens = app
        .share_threads(&alice_browser, &streamflix, &[family])
        .await;
    app.clock.advance_secs(1);
    app.send(&bob, family, "after sharing").await;
    app.send(&alice, family, "me too").await;

    let threads: Value = app
        .partner_json("/partner/v1/threads", &tokens.access)
        .await;
    assert_eq!(threads.as_array().unwrap().len(), 1);
    assert_eq!(threads[0]["id"], family);
    assert_eq!(threads[0]["title"], "Family");
    let family_path = format!("/partner/v1/threads/{family}/messages");
    let messages: Value = app.partner_json(&family_path, &tokens.access).await;
    let bodies: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["me too", "after sharing"],
        "nothing from before the grant"
    );
    assert_eq!(messages[0]["from_member"], true);
    assert_eq!(messages[1]["from"], "BOB");
    assert!(messages[1].get("sender_id").is_none());

    // Every way in that it was not given: 404, the same as no thread at all.
    let not_found = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
    };
    for id in [work, not_hers, 999_999] {
        let path = format!("/partner/v1/threads/{id}/messages");
        not_found(app.partner_get(&path, &tokens.access).await).await;
    }
    not_found(
        app.partner_get("/partner/v1/threads/abc/messages", &tokens.access)
            .await,
    )
    .await;
    // Bob connected the app too, but never shared Family: his token cannot read it.
    let bobs = app.tokens(&bob_browser, &streamflix, "profile").await;
    not_found(app.partner_get(&family_path, &bobs.access).await).await;
    // Another app of Alice's, without a thread grant.
    let books = app.tokens(&alice_browser, &bookshop, "profile").await;
    not_found(app.partner_get(&family_path, &books.access).await).await;

    // Leaving the conversation ends the access.
    let left = app
        .request(
            Method::DELETE,
            &format!("/api/v1/conversations/{family}/members/me"),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    not_found(app.partner_get(&family_path, &tokens.access).await).await;
    let threads: Value = app
        .partner_json("/partner/v1/threads", &tokens.access)
        .await;
    assert_eq!(threads, json!([]));

    // An expired thread grant, even with a fresh token.
    let shared = app
        .share_threads(&alice_browser, &streamflix, &[work])
        .await;
    let work_path = format!("/partner/v1/threads/{work}/messages");
    assert_eq!(
        app.partner_get(&work_path, &shared.access).await.status(),
        StatusCode::OK
    );
    app.clock.advance_secs(8 * 24 * 3600);
    let fresh = tokens_of(app.refresh(&streamflix, &shared.refresh, None).await).await;
    not_found(app.partner_get(&work_path, &fresh.access).await).await;

    // After a disconnect: 401, and no new tokens.
    app.request(
        Method::DELETE,
        &format!("/api/v1/me/apps/{}", streamflix.client_id),
        Some(&alice.token),
    )
    .send()
    .await
    .unwrap();
    let after = app.partner_get(&work_path, &fresh.access).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&streamflix, &fresh.refresh, None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    // Every attempt is in Alice's log.
    let alice_token = app.log_in("alice", PASSWORD).await;
    let log: Value = app
        .json("/api/v1/me/access-log?limit=200", &alice_token)
        .await;
    let refused: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "thread.read" && e["reason"] == "not_granted")
        .collect();
    // Work, not hers, 999999, Bookshop on Family, Family after leaving, Work expired.
    assert_eq!(refused.len(), 6, "{log:#}");
    let texts: Vec<&str> = refused
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"Streamflix was refused thread #999999, which you are not in: not granted")
    );
    assert!(texts.contains(&"Streamflix was refused thread 'Work': not granted"));
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Bookshop was refused thread"))
    );
    let after_disconnect = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "thread.read" && e["reason"] == "grant_revoked")
        .expect("the read after the disconnect is logged");
    assert_eq!(
        after_disconnect["text"],
        "Streamflix was refused thread 'Work': you had disconnected it"
    );
    let allowed_reads = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "thread.read" && e["outcome"] == "allowed")
        .count();
    assert_eq!(allowed_reads, 2);
    // Bob's own log shows his token's refused attempt on Family.
    let bob_log: Value = app
        .json("/api/v1/me/access-log?limit=200", &bob.token)
        .await;
    assert!(
        bob_log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "thread.read" && e["reason"] == "not_granted")
    );
}

async fn a_member_may_share_a_threads_history_too(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, browser) = app.member("alice").await;
    let (bob, _) = app.member("bob").await;
    app.befriend(&alice, &bob).await;
    let family = app.group(&alice, "Family", &[&bob]).await;
    app.send(&alice, family, "from last week").await;
    app.clock.advance_secs(60);

    let details = r#"[{"type":"thread_read"}]"#;
    let path = app.authorize_path(
        &streamflix,
        "profile",
        &[("authorization_details", details)],
    );
    let html = browser.page(&app, &path).await;
    assert!(html.contains("Also let it read what was said before today"));
    let family_id = family.to_string();
    let response = app
        .consent(
            &browser,
            &path,
            &[
                ("grant", "profile"),
                ("thread", family_id.as_str()),
                ("thread_history", "on"),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = redirect_params(&response)["code"].clone();
    let tokens = tokens_of(app.exchange(&streamflix, &code).await).await;
    let threads: Value = app
        .partner_json("/partner/v1/threads", &tokens.access)
        .await;
    assert_eq!(threads[0]["readable_from"], 0);
    let messages: Value = app
        .partner_json(
            &format!("/partner/v1/threads/{family}/messages"),
            &tokens.access,
        )
        .await;
    assert_eq!(messages[0]["body"], "from last week");
}
