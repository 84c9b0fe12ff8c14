//! The partner API beyond `/me`: friends who use the app, and per-thread read — including a
//! hostile partner trying every way to read what it was not given.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{PASSWORD, TestApp, TestMember};
use crate::oauth::{Browser, Partner, Tokens, redirect_params, tokens_of};

on_both_backends!(
    friends_are_only_those_who_connected_the_app,
    a_hostile_partner_reads_only_the_threads_it_was_given,
    partners_send_recommendations_labelled_via_the_app,
    bad_sends_are_refused_with_the_field_and_change_nothing,
    the_authorization_matrix_holds_for_every_endpoint,
    the_share_dialog_sends_without_a_token_and_tells_the_app_only_the_outcome,
    grants_unused_for_too_long_end_by_themselves,
    recipients_mute_an_app_and_opt_out_of_click_counting,
    a_disconnect_sends_a_signed_deletion_webhook_with_retries,
    a_member_may_share_a_threads_history_too,
);

impl TestApp {
    async fn partner_get(&self, path: &str, access: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }

    /// A partner GET that must succeed, as JSON.
    async fn partner_json(&self, path: &str, access: &str) -> Value {
        let response = self.partner_get(path, access).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    async fn member(&self, handle: &str) -> (TestMember, Browser) {
        let member = self.sign_up(handle).await;
        let browser = self.browser_for(handle).await;
        (member, browser)
    }

    async fn group(&self, owner: &TestMember, title: &str, others: &[&TestMember]) -> i64 {
        let ids: Vec<i64> = others.iter().map(|m| m.id).collect();
        let response = self
            .post(
                "/api/v1/conversations",
                &owner.token,
                json!({ "kind": "group", "title": title, "member_ids": ids }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// Consent to `profile` plus read access to `threads`, and the tokens.
    async fn share_threads(&self, browser: &Browser, partner: &Partner, threads: &[i64]) -> Tokens {
        let details = r#"[{"type":"thread_read"}]"#;
        let path = self.authorize_path(partner, "profile", &[("authorization_details", details)]);
        let ids: Vec<String> = threads.iter().map(i64::to_string).collect();
        let mut choices = vec![("grant", "profile"), ("decision", "allow")];
        choices.extend(ids.iter().map(|id| ("thread", id.as_str())));
        let response = self.consent(browser, &path, &choices).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let code = redirect_params(&response)["code"].clone();
        tokens_of(self.exchange(partner, &code).await).await
    }
}

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

impl TestApp {
    async fn partner_send(
        &self,
        access: &str,
        key: Option<&str>,
        body: Value,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/partner/v1/messages"))
            .bearer_auth(access);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.json(&body).send().await.unwrap()
    }

    async fn pseudonym(&self, browser: &Browser, partner: &Partner) -> String {
        let tokens = self.tokens(browser, partner, "profile").await;
        let me: Value = self.partner_me(&tokens.access).await.json().await.unwrap();
        me["id"].as_str().unwrap().to_owned()
    }
}

fn card() -> Value {
    json!({
        "title": "The Long Night",
        "url": "https://streamflix.example/title/42",
        "description": "A film about stars",
        "item_id": "title-42",
        "interface": "tv",
        "initiation_surface": "player_end",
        "variation": "default",
    })
}

const ALL_SCOPES: &str = "profile friends:read messages:send messages:read.app";

async fn partners_send_recommendations_labelled_via_the_app(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, bob_browser) = app.member("bob").await;
    app.befriend(&alice, &bob).await;
    let bob_id = app.pseudonym(&bob_browser, &streamflix).await;
    let tokens = app.tokens(&alice_browser, &streamflix, ALL_SCOPES).await;

    let body = json!({ "to": [bob_id], "text": "You have to see this", "card": card() });
    let sent = app
        .partner_send(&tokens.access, Some("send-1"), body.clone())
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let sent: Value = sent.json().await.unwrap();
    assert_eq!(sent["recipients"][0]["id"], bob_id.as_str());
    // A retry with the same key sends nothing new and answers the same.
    let again: Value = app
        .partner_send(&tokens.access, Some("send-1"), body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, sent);
    let other = app
        .partner_send(
            &tokens.access,
            Some("send-1"),
            json!({ "to": [bob_id], "text": "other" }),
        )
        .await;
    assert_eq!(other.status(), StatusCode::CONFLICT);

    // Bob sees one message from Alice, labelled, with a tracked link.
    let (conversation, messages) = app.latest_conversation(&bob.token).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "You have to see this");
    assert_eq!(messages[0]["sender"]["handle"], "alice");
    assert_eq!(messages[0]["via_app"]["name"], "Streamflix");
    assert_eq!(messages[0]["card"]["title"], "The Long Night");
    let link = messages[0]["card"]["link"].as_str().unwrap();
    assert!(link.starts_with("/r/") && link.len() > 10, "{link}");
    for browser in [&bob_browser, &alice_browser] {
        let html = browser.page(&app, &format!("/c/{conversation}")).await;
        assert!(html.contains("via Streamflix"), "{html}");
        assert!(html.contains(&format!("href=\"{link}\"")));
    }

    // The app may ask whom it reached and when — nothing more.
    let status: Value = app
        .partner_json(
            &format!("/partner/v1/messages/{}", sent["id"]),
            &tokens.access,
        )
        .await;
    assert_eq!(status, sent);
    assert!(status["recipients"][0].get("read_at").is_none());
    let unknown = app
        .partner_get("/partner/v1/messages/424242", &tokens.access)
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let narrow = app.tokens(&alice_browser, &streamflix, "profile").await;
    let narrow = tokens_of(
        app.refresh(&streamflix, &narrow.refresh, Some("profile"))
            .await,
    )
    .await;
    let refused = app
        .partner_get(
            &format!("/partner/v1/messages/{}", sent["id"]),
            &narrow.access,
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // Bob's own app token cannot see Alice's sends.
    let bobs = app.tokens(&bob_browser, &streamflix, ALL_SCOPES).await;
    let foreign = app
        .partner_get(
            &format!("/partner/v1/messages/{}", sent["id"]),
            &bobs.access,
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);

    let log: Value = app.json("/api/v1/me/access-log", &alice.token).await;
    let texts: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"Streamflix sent a recommendation to BOB"),
        "{texts:?}"
    );
    assert!(texts.contains(&"Streamflix checked whether a message it sent was delivered"));
}

async fn bad_sends_are_refused_with_the_field_and_change_nothing(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| config.oauth.sends_per_member_per_hour = 2).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, bob_browser) = app.member("bob").await;
    let (carol, _) = app.member("carol").await;
    let (_, dave_browser) = app.member("dave").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    let bob_id = app.pseudonym(&bob_browser, &streamflix).await;
    let dave_id = app.pseudonym(&dave_browser, &streamflix).await;
    let tokens = app.tokens(&alice_browser, &streamflix, ALL_SCOPES).await;

    let with_card = |changes: Value| {
        let mut card = card();
        for (key, value) in changes.as_object().unwrap() {
            card[key] = value.clone();
        }
        json!({ "to": [bob_id], "card": card })
    };
    let too_many: Vec<String> = (0..51).map(|n| format!("cfd_u_{n}")).collect();
    for (body, field) in [
        (
            with_card(json!({ "url": "javascript:alert(1)" })),
            "card.url",
        ),
        (
            with_card(json!({ "image_url": "ftp://x.example/a.png" })),
            "card.image_url",
        ),
        (
            with_card(json!({ "interface": "fridge" })),
            "card.interface",
        ),
        (
            with_card(json!({ "initiation_surface": "homepage" })),
            "card.initiation_surface",
        ),
        (with_card(json!({ "variation": "arm_z" })), "card.variation"),
        (with_card(json!({ "title": "  " })), "card.title"),
        (json!({ "to": [bob_id], "text": "x".repeat(2049) }), "text"),
        (json!({ "to": [bob_id] }), "text"),
        (json!({ "to": [], "text": "hi" }), "to"),
        (json!({ "to": too_many, "text": "hi" }), "to"),
    ] {
        let response = app.partner_send(&tokens.access, None, body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["field"], field, "{error}");
    }
    // A friend without the app (Carol has no id for it, so a partner can only guess one), a
    // stranger with it, a made-up id: one answer for all.
    let mut answers = Vec::new();
    for to in [
        "cfd_u_carol_guess".to_owned(),
        dave_id.clone(),
        "cfd_u_nobody".into(),
    ] {
        let response = app
            .partner_send(
                &tokens.access,
                None,
                json!({ "to": [bob_id, to], "text": "hi" }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "{answers:?}"
    );
    let conversations: Value = app.json("/api/v1/conversations", &bob.token).await;
    assert!(
        conversations.as_array().unwrap().is_empty(),
        "nothing was sent"
    );

    // Blocked either way: refused the same way.
    app.request(
        Method::PUT,
        &format!("/api/v1/blocks/{}", alice.id),
        Some(&bob.token),
    )
    .send()
    .await
    .unwrap();
    let blocked = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "text": "hi" }),
        )
        .await;
    assert_eq!(blocked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.request(
        Method::DELETE,
        &format!("/api/v1/blocks/{}", alice.id),
        Some(&bob.token),
    )
    .send()
    .await
    .unwrap();

    // A block ends the friendship; make friends again.
    app.befriend(&alice, &bob).await;

    // Past the limit: 429 with Retry-After.
    for n in 0..2 {
        let ok = app
            .partner_send(
                &tokens.access,
                None,
                json!({ "to": [bob_id], "text": format!("m{n}") }),
            )
            .await;
        assert_eq!(ok.status(), StatusCode::CREATED);
    }
    let limited = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "text": "m3" }),
        )
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));

    let log: Value = app
        .json("/api/v1/me/access-log?limit=200", &alice.token)
        .await;
    let reasons: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "message.send" && e["outcome"] == "denied")
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "invalid_request").count(),
        10
    );
    assert_eq!(
        reasons
            .iter()
            .filter(|r| **r == "recipient_refused")
            .count(),
        4
    );
    assert_eq!(reasons.iter().filter(|r| **r == "rate_limited").count(), 1);
}

/// A grant's state in the authorization matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GrantState {
    Active,
    ThreadExpired,
    Revoked,
    AppSuspended,
}

async fn the_authorization_matrix_holds_for_every_endpoint(db: TestDatabase) {
    use GrantState::*;
    let app = TestApp::spawn(db).await;
    let n = std::sync::atomic::AtomicUsize::new(0);
    for state in [Active, ThreadExpired, Revoked, AppSuspended] {
        for scopes in ["profile", ALL_SCOPES] {
            // A fresh app and members for each cell, so no state leaks between them.
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let partner = app.partner(&format!("App{i}"), false).await;
            let (alice, alice_browser) = app.member(&format!("alice{i}")).await;
            let (bob, bob_browser) = app.member(&format!("bob{i}")).await;
            app.befriend(&alice, &bob).await;
            let bob_id = app.pseudonym(&bob_browser, &partner).await;
            let thread = app.direct(&alice, &bob).await;
            let details = r#"[{"type":"thread_read"}]"#;
            let path = app.authorize_path(&partner, scopes, &[("authorization_details", details)]);
            let thread_id = thread.to_string();
            let mut choices: Vec<(&str, &str)> = scopes.split(' ').map(|s| ("grant", s)).collect();
            choices.extend([
                ("thread", thread_id.as_str()),
                ("thread_days", "1"),
                ("decision", "allow"),
            ]);
            let response = app.consent(&alice_browser, &path, &choices).await;
            let code = redirect_params(&response)["code"].clone();
            let mut tokens = tokens_of(app.exchange(&partner, &code).await).await;
            // A send of the app's own, for the status endpoint.
            let sender = app.tokens(&bob_browser, &partner, ALL_SCOPES).await;
            let alice_pseudonym: Value = app.partner_me(&tokens.access).await.json().await.unwrap();
            let own: Value = app
                .partner_send(
                    &sender.access,
                    None,
                    json!({ "to": [alice_pseudonym["id"]], "text": "hi" }),
                )
                .await
                .json()
                .await
                .unwrap();
            let own_send = own["id"].as_i64().unwrap();
            let alice_send: Value = if scopes == ALL_SCOPES {
                app.partner_send(
                    &tokens.access,
                    None,
                    json!({ "to": [bob_id], "text": "hi" }),
                )
                .await
                .json()
                .await
                .unwrap()
            } else {
                json!({ "id": own_send })
            };
            match state {
                Active => {}
                ThreadExpired => {
                    app.clock.advance_secs(2 * 24 * 3600);
                    tokens = tokens_of(app.refresh(&partner, &tokens.refresh, None).await).await;
                }
                Revoked => {
                    app.request(
                        Method::DELETE,
                        &format!("/api/v1/me/apps/{}", partner.client_id),
                        Some(&alice.token),
                    )
                    .send()
                    .await
                    .unwrap();
                }
                AppSuspended => {
                    app.core.suspend_app(&partner.client_id).await.unwrap();
                }
            }
            let all = scopes == ALL_SCOPES;
            let live = matches!(state, Active | ThreadExpired);
            let expect = |allowed: bool, needs_scope: bool| match (live, allowed, needs_scope) {
                (false, _, _) => StatusCode::UNAUTHORIZED,
                (true, _, true) if !all => StatusCode::FORBIDDEN,
                (true, true, _) => StatusCode::OK,
                (true, false, _) => StatusCode::NOT_FOUND,
            };
            let status_path = format!("/partner/v1/messages/{}", alice_send["id"]);
            let thread_path = format!("/partner/v1/threads/{thread}/messages");
            let cells = [
                ("/partner/v1/me", expect(true, false)),
                ("/partner/v1/friends", expect(true, true)),
                (status_path.as_str(), expect(true, true)),
                ("/partner/v1/threads", expect(true, false)),
                (thread_path.as_str(), expect(state != ThreadExpired, false)),
            ];
            for (path, expected) in cells {
                let got = app.partner_get(path, &tokens.access).await.status();
                assert_eq!(got, expected, "{state:?} {scopes:?} GET {path}");
            }
            let send = app
                .partner_send(
                    &tokens.access,
                    None,
                    json!({ "to": [bob_id], "text": "again" }),
                )
                .await
                .status();
            let expected = match expect(true, true) {
                StatusCode::OK => StatusCode::CREATED,
                other => other,
            };
            assert_eq!(
                send, expected,
                "{state:?} {scopes:?} POST /partner/v1/messages"
            );
            // Another app's send is never visible, whatever the state.
            let foreign = app
                .partner_get(&format!("/partner/v1/messages/{own_send}"), &tokens.access)
                .await
                .status();
            let expected = match expect(false, true) {
                StatusCode::OK => StatusCode::NOT_FOUND,
                other => other,
            };
            assert_eq!(foreign, expected, "{state:?} {scopes:?} a send not Alice's");
        }
    }
}

async fn the_share_dialog_sends_without_a_token_and_tells_the_app_only_the_outcome(
    db: TestDatabase,
) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, _) = app.member("bob").await;
    app.befriend(&alice, &bob).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", streamflix.client_id.as_str()),
            ("redirect_uri", streamflix.redirect_uri.as_str()),
            ("url", "https://streamflix.example/title/7"),
            ("title", "Seven Seas"),
            ("surface", "title_page"),
            ("state", "xyz"),
        ])
        .finish();
    let path = format!("/share?{query}");

    // Logged out: to the login page, and back here after.
    let anonymous = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert!(crate::oauth::location(&anonymous).starts_with("/login?next="));
    // A redirect URI the app did not register: an error page, never a redirect.
    let hijack = path.replace("streamflix.example%2Fcallback", "evil.example%2Fcallback");
    let refused = alice_browser
        .client
        .get(app.url(&hijack))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let html = alice_browser.page(&app, &path).await;
    assert!(html.contains("Seven Seas"));
    assert!(html.contains(&format!("name=\"friend\" value=\"{}\"", bob.id)));
    let mut form = crate::oauth::hidden_fields(&html);
    let submit = |mut form: Vec<(String, String)>, extra: &[(&str, &str)]| {
        form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let client = alice_browser.client.clone();
        let url = app.url("/share");
        async move { client.post(url).form(&form).send().await.unwrap() }
    };
    let nobody = submit(form.clone(), &[("decision", "share")]).await;
    assert_eq!(nobody.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let cancelled = submit(form.clone(), &[("decision", "cancel")]).await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        redirect_params(&cancelled),
        [
            ("result".to_owned(), "cancelled".to_owned()),
            ("state".to_owned(), "xyz".to_owned())
        ]
        .into_iter()
        .collect()
    );
    let bob_id = bob.id.to_string();
    form.push(("text".into(), "Watch this one".into()));
    let shared = submit(form, &[("friend", bob_id.as_str()), ("decision", "share")]).await;
    assert_eq!(shared.status(), StatusCode::SEE_OTHER);
    assert!(crate::oauth::location(&shared).starts_with(&streamflix.redirect_uri));
    assert_eq!(
        redirect_params(&shared),
        [
            ("result".to_owned(), "shared".to_owned()),
            ("state".to_owned(), "xyz".to_owned())
        ]
        .into_iter()
        .collect(),
        "the app learns the outcome and nothing else"
    );

    let (_, messages) = app.latest_conversation(&bob.token).await;
    assert_eq!(messages.len(), 1, "cancelling sent nothing");
    assert_eq!(messages[0]["body"], "Watch this one");
    assert_eq!(messages[0]["via_app"]["name"], "Streamflix");
    assert_eq!(messages[0]["card"]["title"], "Seven Seas");
    let log: Value = app.json("/api/v1/me/access-log", &alice.token).await;
    assert_eq!(
        log["entries"][0]["text"],
        "You shared a recommendation from Streamflix with BOB"
    );
}

async fn grants_unused_for_too_long_end_by_themselves(db: TestDatabase) {
    const DAY: i64 = 24 * 3600;
    let app = TestApp::spawn(db.clone()).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (_, browser) = app.member("alice").await;
    let tokens = app.tokens(&browser, &streamflix, "profile").await;
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::OK
    );

    // Used again on day 60: 60 more days later it is still connected.
    app.clock.advance_secs(60 * DAY);
    let browser = app.browser_for("alice").await;
    let tokens = app.tokens(&browser, &streamflix, "profile").await;
    assert_eq!(
        app.partner_me(&tokens.access).await.status(),
        StatusCode::OK
    );
    app.clock.advance_secs(60 * DAY);
    assert_eq!(app.core.expire_idle_grants().await.unwrap(), 0);
    // 91 days after its last use, the janitor ends it.
    app.clock.advance_secs(31 * DAY);
    assert_eq!(app.core.expire_idle_grants().await.unwrap(), 1);
    let token = app.log_in("alice", PASSWORD).await;
    let apps: Value = app.json("/api/v1/me/apps", &token).await;
    assert_eq!(apps, json!([]));
    let log: Value = app.json("/api/v1/me/access-log", &token).await;
    assert_eq!(
        log["entries"][0]["text"],
        "Streamflix lost its access: it went unused for too long"
    );

    // With a short limit, the next call of an idle app ends it on the spot.
    let app = TestApp::spawn_with(db, |config| config.oauth.grant_idle_days = 1).await;
    let bookshop = app.partner("Bookshop", false).await;
    let browser = app.browser_for("alice").await;
    let tokens = app.tokens(&browser, &bookshop, "profile").await;
    app.clock.advance_secs(2 * DAY);
    let refreshed = app.refresh(&bookshop, &tokens.refresh, None).await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    let token = app.log_in("alice", PASSWORD).await;
    let log: Value = app.json("/api/v1/me/access-log", &token).await;
    let actions: Vec<(&str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("token.refresh", "denied"), ("consent.expire", "allowed")]
    );
}

async fn recipients_mute_an_app_and_opt_out_of_click_counting(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, bob_browser) = app.member("bob").await;
    app.befriend(&alice, &bob).await;
    let bob_id = app.pseudonym(&bob_browser, &streamflix).await;
    let tokens = app.tokens(&alice_browser, &streamflix, ALL_SCOPES).await;
    let mute_path = format!("/api/v1/me/muted-apps/{}", streamflix.client_id);
    let put = |path: String, token: String| {
        let request = app.request(Method::PUT, &path, Some(&token));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        put(mute_path.clone(), bob.token.clone()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(
            "/api/v1/me/muted-apps/cfd_app_nope".into(),
            bob.token.clone()
        )
        .await,
        StatusCode::NOT_FOUND
    );

    // The app cannot tell: the send succeeds exactly as before.
    let sent = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "text": "muted one", "card": card() }),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let conversation = app.direct(&alice, &bob).await;
    let unread = |token: String| {
        let app = &app;
        async move {
            let list: Value = app.json("/api/v1/conversations", &token).await;
            list[0]["unread"].as_i64().unwrap()
        }
    };
    assert_eq!(unread(bob.token.clone()).await, 0, "no notification");
    app.send(&alice, conversation, "hello yourself").await;
    assert_eq!(unread(bob.token.clone()).await, 1);
    let html = bob_browser.page(&app, &format!("/c/{conversation}")).await;
    assert!(html.contains("<details class=\"muted-app\">"), "{html}");
    assert!(html.contains("muted one"), "still kept, folded away");
    assert!(!html.contains("Mute Streamflix"));
    let listed: Value = app.json("/api/v1/me/muted-apps", &bob.token).await;
    assert_eq!(listed[0]["name"], "Streamflix");

    // Unmuting, and muting again from the conversation's button.
    let unmute = app
        .request(Method::DELETE, &mute_path, Some(&bob.token))
        .send()
        .await
        .unwrap();
    assert_eq!(unmute.status(), StatusCode::NO_CONTENT);
    let html = bob_browser.page(&app, &format!("/c/{conversation}")).await;
    assert!(html.contains("Mute Streamflix"));
    let csrf = crate::helpers::csrf_of(&html);
    for (back, expected) in [
        (format!("/c/{conversation}"), format!("/c/{conversation}")),
        ("//evil.example/".to_owned(), "/settings/apps".to_owned()),
    ] {
        let muted = bob_browser
            .client
            .post(app.url(&format!(
                "/settings/muted-apps/{}/mute",
                streamflix.client_id
            )))
            .form(&[("csrf", csrf.as_str()), ("back", back.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(muted.status(), StatusCode::SEE_OTHER);
        assert_eq!(crate::oauth::location(&muted), expected);
    }
    let settings = bob_browser.page(&app, "/settings/apps").await;
    assert!(settings.contains("Unmute Streamflix"));

    // Click counting: on by default, off by API or by the settings form.
    let privacy: Value = app.json("/api/v1/me/privacy", &bob.token).await;
    assert_eq!(privacy, json!({ "count_clicks": true }));
    let off = app
        .send_json(
            Method::PUT,
            "/api/v1/me/privacy",
            Some(&bob.token),
            json!({ "count_clicks": false }),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    assert_eq!(
        app.json("/api/v1/me/privacy", &bob.token).await,
        json!({ "count_clicks": false })
    );
    let csrf = crate::helpers::csrf_of(&settings);
    let on = bob_browser
        .client
        .post(app.url("/settings/clicks"))
        .form(&[("csrf", csrf.as_str()), ("count_clicks", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.json("/api/v1/me/privacy", &bob.token).await,
        json!({ "count_clicks": true })
    );
    let bad = app
        .send_json(
            Method::PUT,
            "/api/v1/me/privacy",
            Some(&bob.token),
            json!({ "count_clicks": "yes" }),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

/// A partner's webhook endpoint: records what it receives and answers with the statuses it
/// is told to, in turn.
struct Receiver {
    url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
}

async fn receiver(answers: Vec<u16>) -> Receiver {
    use std::sync::{Arc, Mutex};
    let received = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let log = received.clone();
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let log = log.clone();
            let answers = answers.clone();
            async move {
                log.lock().unwrap().push((headers, body));
                let status = answers.lock().unwrap().next().unwrap_or(204);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Receiver { url, received }
}

async fn a_disconnect_sends_a_signed_deletion_webhook_with_retries(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let hooks = receiver(vec![500]).await;
    let registered = app
        .core
        .register_app(confidant_core::oauth::AppRegistration {
            name: "Streamflix".into(),
            owner: "Streamflix Inc.".into(),
            redirect_uris: vec![crate::oauth::REDIRECT_URI.into()],
            report_webhook: Some(hooks.url.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    app.core
        .approve_app(&registered.app.client_id)
        .await
        .unwrap();
    let secret = registered
        .webhook_secret
        .expect("a webhook URL comes with a secret");
    assert!(secret.starts_with("whsec_"));
    let partner = Partner {
        client_id: registered.app.client_id.clone(),
        secret: registered.client_secret.clone(),
        redirect_uri: crate::oauth::REDIRECT_URI.into(),
    };
    let (alice, browser) = app.member("alice").await;
    let pseudonym = app.pseudonym(&browser, &partner).await;
    let transport = confidant_server::webhooks::HttpWebhooks::new().unwrap();
    assert_eq!(app.core.deliver_due_webhooks(&transport).await.unwrap(), 0);

    let disconnected = app
        .request(
            Method::DELETE,
            &format!("/api/v1/me/apps/{}", partner.client_id),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(disconnected.status(), StatusCode::NO_CONTENT);

    // The endpoint fails the first attempt; the next is due 5 seconds later, not before.
    assert_eq!(app.core.deliver_due_webhooks(&transport).await.unwrap(), 1);
    assert_eq!(app.core.deliver_due_webhooks(&transport).await.unwrap(), 0);
    app.clock.advance_secs(5);
    assert_eq!(app.core.deliver_due_webhooks(&transport).await.unwrap(), 1);
    app.clock.advance_secs(3600);
    assert_eq!(
        app.core.deliver_due_webhooks(&transport).await.unwrap(),
        0,
        "delivered"
    );

    let received = hooks.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let (first, _) = &received[0];
    let (headers, body) = &received[1];
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    assert_eq!(
        first["webhook-id"], headers["webhook-id"],
        "the same message, retried"
    );
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    let expected = standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .sign(&header("webhook-id"), timestamp, body.as_bytes())
        .unwrap();
    assert_eq!(header("webhook-signature"), expected);
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "grant.revoked");
    assert_eq!(event["data"]["member_id"], pseudonym.as_str());
    assert_eq!(event["data"]["reason"], "disconnected");
    assert!(
        !body.contains("alice"),
        "nothing but the app's own pseudonym"
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
