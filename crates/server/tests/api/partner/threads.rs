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
    two_apps_given_the_same_thread_cannot_link_it,
    every_member_an_app_reaches_finds_it_in_their_own_log,
    a_thread_read_returns_what_people_wrote_and_still_stands,
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
    assert_eq!(threads[0]["title"], "Family");
    // The app's own id for the thread: not Confidant's.
    let family_id = threads[0]["id"].as_str().unwrap().to_owned();
    assert!(family_id.starts_with("th_") && family_id != family.to_string());
    let family_path = format!("/partner/v1/threads/{family_id}/messages");
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

    // Bob learns of the read from his own log: which thread, whose share, how many of his.
    let bob_log: Value = app.json("/api/v1/me/access-log", &bob.token).await;
    let about_bob = &bob_log["entries"][0];
    assert_eq!(about_bob["action"], "thread.messages_read");
    assert_eq!(
        about_bob["text"],
        "Streamflix read 1 of your messages in thread 'Family', which ALICE shared with it"
    );

    // Every way in that it was not given: 404, the same as no thread at all.
    let not_found = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
    };
    // Confidant's own ids, a made-up one, and one of the app's ids bent out of shape.
    // One character in the middle changed (the last one holds padding bits too).
    let mut bent: Vec<char> = family_id.chars().collect();
    bent[8] = if bent[8] == 'A' { 'B' } else { 'A' };
    let bent: String = bent.into_iter().collect();
    for id in [
        work.to_string(),
        not_hers.to_string(),
        family.to_string(),
        "999999".to_owned(),
        "th_AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        bent,
    ] {
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
    // Another app of Alice's, without a thread grant, trying Streamflix's id for it.
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
    // Added back, she finds the grant ended for good: the app reads nothing, not even what
    // was said while she was away.
    app.send(&bob, family, "while alice was away").await;
    let readded = app
        .post(
            &format!("/api/v1/conversations/{family}/members"),
            &bob.token,
            json!({ "member_ids": [alice.id] }),
        )
        .await;
    assert!(readded.status().is_success(), "{}", readded.status());
    not_found(app.partner_get(&family_path, &tokens.access).await).await;
    let threads: Value = app
        .partner_json("/partner/v1/threads", &tokens.access)
        .await;
    assert_eq!(threads, json!([]));

    // An expired thread grant, even with a fresh token.
    let shared = app
        .share_threads(&alice_browser, &streamflix, &[work])
        .await;
    let work_path = format!(
        "/partner/v1/threads/{}/messages",
        app.partner_thread_id(&shared.access).await
    );
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
    // Six ids that name nothing for Streamflix, "abc", Bookshop on Family, Family after
    // leaving and after being added back, Work expired.
    assert_eq!(refused.len(), 11, "{log:#}");
    let texts: Vec<&str> = refused
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"Streamflix was refused a thread: not granted"));
    assert!(texts.contains(&"Streamflix was refused thread 'Work': not granted"));
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Bookshop was refused a thread"))
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
            &format!(
                "/partner/v1/threads/{}/messages",
                threads[0]["id"].as_str().unwrap()
            ),
            &tokens.access,
        )
        .await;
    assert_eq!(messages[0]["body"], "from last week");
}

async fn two_apps_given_the_same_thread_cannot_link_it(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let bookshop = app.partner("Bookshop", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, bob_browser) = app.member("bob").await;
    app.befriend(&alice, &bob).await;
    let family = app.group(&alice, "Family", &[&bob]).await;
    app.send(&alice, family, "hello").await;
    app.clock.advance_secs(1);
    // Alice shares Family with Streamflix, Bob shares it with Bookshop: two colluding apps.
    let alices = app
        .share_threads(&alice_browser, &streamflix, &[family])
        .await;
    let bobs = app.share_threads(&bob_browser, &bookshop, &[family]).await;
    app.send(&bob, family, "a message both may read").await;

    let at_streamflix = app.partner_thread_id(&alices.access).await;
    let at_bookshop = app.partner_thread_id(&bobs.access).await;
    assert_ne!(at_streamflix, at_bookshop, "thread ids are pairwise");
    let app = &app;
    let read = |id: String, access: String| async move {
        app.partner_json(&format!("/partner/v1/threads/{id}/messages"), &access)
            .await
    };
    let seen_by_streamflix = read(at_streamflix.clone(), alices.access.clone()).await;
    let seen_by_bookshop = read(at_bookshop.clone(), bobs.access.clone()).await;
    assert_eq!(seen_by_streamflix[0]["body"], "a message both may read");
    assert_eq!(seen_by_bookshop[0]["body"], "a message both may read");
    assert_ne!(
        seen_by_streamflix[0]["id"], seen_by_bookshop[0]["id"],
        "message ids are pairwise"
    );
    // Neither app's id works for the other, even on a thread the other was given.
    for (id, access) in [
        (&at_streamflix, &bobs.access),
        (&at_bookshop, &alices.access),
    ] {
        let path = format!("/partner/v1/threads/{id}/messages");
        assert_eq!(
            app.partner_get(&path, access).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    // Paging goes by the app's own message ids; another app's is a bad cursor.
    let before = seen_by_streamflix[0]["id"].as_str().unwrap();
    let older: Value = app
        .partner_json(
            &format!("/partner/v1/threads/{at_streamflix}/messages?before={before}"),
            &alices.access,
        )
        .await;
    assert_eq!(older, json!([]), "nothing older than the share");
    let foreign_cursor = seen_by_bookshop[0]["id"].as_str().unwrap();
    let refused = app
        .partner_get(
            &format!("/partner/v1/threads/{at_streamflix}/messages?before={foreign_cursor}"),
            &alices.access,
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["field"], "before");
}

async fn every_member_an_app_reaches_finds_it_in_their_own_log(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, bob_browser) = app.member("bob").await;
    app.befriend(&alice, &bob).await;
    let bob_id = app.pseudonym(&bob_browser, &streamflix).await;
    let tokens = app
        .tokens(
            &alice_browser,
            &streamflix,
            "profile friends:read messages:send",
        )
        .await;
    let app = &app;
    let entries = |token: String| async move {
        let log: Value = app.json("/api/v1/me/access-log?limit=200", &token).await;
        log["entries"].as_array().unwrap().clone()
    };
    let about_bob = |entries: &[Value], action: &str| -> Vec<Value> {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    };

    // Alice's friend list, asked 120 times in a day: one entry in Bob's log, with a count.
    for _ in 0..120 {
        app.partner_json("/partner/v1/friends", &tokens.access)
            .await;
    }
    let bobs = entries(bob.token.clone()).await;
    let listed = about_bob(&bobs, "friend.listed");
    assert_eq!(listed.len(), 1, "{bobs:#?}");
    assert_eq!(listed[0]["count"], 120);
    assert_eq!(
        listed[0]["text"],
        "Streamflix was shown your name when ALICE listed their friends"
    );
    // Alice's own log keeps one entry per call; her page groups them.
    let alices = entries(alice.token.clone()).await;
    assert_eq!(about_bob(&alices, "friends.list").len(), 120);
    let page = alice_browser.page(app, "/settings/access-log").await;
    assert!(page.contains(" times today"), "grouped on the timeline");
    // A new day: a new entry.
    app.clock.advance_secs(24 * 3600);
    let tokens = app
        .tokens(
            &alice_browser,
            &streamflix,
            "profile friends:read messages:send",
        )
        .await;
    app.partner_json("/partner/v1/friends", &tokens.access)
        .await;
    assert_eq!(
        about_bob(&entries(bob.token.clone()).await, "friend.listed").len(),
        2
    );

    // A recommendation sent to Bob is in Bob's log too, before he opens it.
    let sent = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "card": crate::partner::card() }),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let received = about_bob(&entries(bob.token.clone()).await, "message.received");
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]["text"],
        "Streamflix sent you a message from ALICE"
    );
    assert_eq!(received[0]["app"], streamflix.client_id.as_str());

    // Bob's log still verifies as a Merkle log with those entries in it.
    let export: Value = app.json("/api/v1/me/access-log/export", &bob.token).await;
    assert!(export["entries"].as_array().unwrap().len() >= 3);
}

/// A shared thread is read as what people wrote and still stands: an edit's new words, no
/// deleted text (not even as an empty message), and none of the lines the group writes when
/// it changes.
async fn a_thread_read_returns_what_people_wrote_and_still_stands(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, browser) = app.member("alice").await;
    let (bob, _) = app.member("bob").await;
    let carol = app.sign_up("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    let family = app.group(&alice, "Family", &[&bob]).await;
    let tokens = app.share_threads(&browser, &streamflix, &[family]).await;
    app.clock.advance_secs(1);

    let kept: Value = app
        .send(&alice, family, "dinner at eight")
        .await
        .json()
        .await
        .unwrap();
    let gone: Value = app
        .send(&bob, family, "my secret recipe")
        .await
        .json()
        .await
        .unwrap();
    let path = |m: &Value| format!("/api/v1/conversations/{family}/messages/{}", m["id"]);
    let edited = app
        .send_json(
            Method::PATCH,
            &path(&kept),
            Some(&alice.token),
            json!({ "body": "dinner at nine" }),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let deleted = app
        .request(Method::DELETE, &path(&gone), Some(&bob.token))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let added = app
        .post(
            &format!("/api/v1/conversations/{family}/members"),
            &alice.token,
            json!({ "member_ids": [carol.id] }),
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);

    let thread = app.partner_thread_id(&tokens.access).await;
    let messages: Value = app
        .partner_json(
            &format!("/partner/v1/threads/{thread}/messages"),
            &tokens.access,
        )
        .await;
    let bodies: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["dinner at nine"]);
}
