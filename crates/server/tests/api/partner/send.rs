//! Sending on a member's behalf: labelled messages, refusals that reveal nothing, the
//! authorization matrix, and the send dialog.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{ALL_SCOPES, FriendsOnTheApp, card};
use crate::helpers::{TestApp, assert_error};
use crate::oauth::{redirect_params, tokens_of};

on_both_backends!(
    partners_send_recommendations_labelled_via_the_app,
    bad_sends_are_refused_with_the_field_and_change_nothing,
    the_authorization_matrix_holds_for_every_endpoint,
    the_share_dialog_sends_without_a_token_and_tells_the_app_only_the_outcome,
    parallel_sends_never_pass_the_per_member_limit,
);

async fn parallel_sends_never_pass_the_per_member_limit(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| config.oauth.sends_per_member_per_hour = 5).await;
    let streamflix = app.partner("Streamflix", false).await;
    let FriendsOnTheApp {
        bob,
        bob_id,
        tokens,
        ..
    } = app.friends_on_the_app(&streamflix).await;
    // A refused send takes nothing from the allowance.
    let refused = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": ["cfd_u_nobody"], "text": "hi" }),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let keyed = json!({ "to": [bob_id], "text": "with a key" });
    let first = app
        .partner_send(&tokens.access, Some("draft-1"), keyed.clone())
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let sends = (0..20).map(|n| {
        app.partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "text": format!("hi {n}") }),
        )
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(sends)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let sent = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((sent, limited), (4, 16), "{statuses:?}");
    // With the allowance spent, a retry of the keyed send still answers with what it stored:
    // a replay costs nothing, and stores nothing.
    let retried = app
        .partner_send(&tokens.access, Some("draft-1"), keyed)
        .await;
    assert!(retried.status().is_success(), "{}", retried.status());
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["id"], first["id"]);
    let (_, messages) = app.latest_conversation(&bob.token).await;
    assert_eq!(messages.len(), 5);
}

async fn partners_send_recommendations_labelled_via_the_app(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let FriendsOnTheApp {
        alice,
        alice_browser,
        bob,
        bob_browser,
        bob_id,
        tokens,
    } = app.friends_on_the_app(&streamflix).await;

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
        // Names are isolated from the text around them, whatever their direction.
        assert!(html.contains("<bdi>ALICE</bdi>"), "{html}");
        assert!(html.contains(&format!("href=\"{link}?i=web\"")));
    }

    // The send's id is the app's own, not a global counter other apps' sends move.
    assert!(sent["id"].as_str().unwrap().starts_with("snd_"), "{sent}");
    // The app may ask whom it reached and when — nothing more.
    let status: Value = app
        .partner_json(
            &format!("/partner/v1/messages/{}", sent["id"].as_str().unwrap()),
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
            &format!("/partner/v1/messages/{}", sent["id"].as_str().unwrap()),
            &narrow.access,
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // Bob's own app token cannot see Alice's sends.
    let bobs = app.tokens(&bob_browser, &streamflix, ALL_SCOPES).await;
    let foreign = app
        .partner_get(
            &format!("/partner/v1/messages/{}", sent["id"].as_str().unwrap()),
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
    // Fields missing, unknown or of the wrong type: 422 naming the field by its path.
    let without = |field: &str| {
        let mut card = card();
        card.as_object_mut().unwrap().remove(field);
        json!({ "to": [bob_id], "card": card })
    };
    for (body, field) in [
        (without("title"), "card.title"),
        (without("item_id"), "card.item_id"),
        (without("interface"), "card.interface"),
        (with_card(json!({ "color": "red" })), "card.color"),
        (with_card(json!({ "title": 42 })), "card.title"),
        (json!({ "text": "hi" }), "to"),
        (json!({ "to": [bob_id, 7], "text": "hi" }), "to[1]"),
        (json!({ "to": [bob_id], "text": "hi", "bcc": [] }), "bcc"),
    ] {
        let response = app.partner_send(&tokens.access, None, body.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {body}"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_field", "{error}");
        assert_eq!(error["field"], field, "{error}");
    }
    // Not JSON at all: 400, and like every refusal, in Alice's log.
    let garbled = app
        .client
        .post(app.url("/partner/v1/messages"))
        .bearer_auth(&tokens.access)
        .header("content-type", "application/json")
        .body("{\"to\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), StatusCode::BAD_REQUEST);
    let bad_query = app
        .partner_get("/partner/v1/friends?limit=lots", &tokens.access)
        .await;
    assert_eq!(bad_query.status(), StatusCode::BAD_REQUEST);
    // A page size out of range is refused, not quietly changed, and logged like the rest.
    let too_many = app
        .partner_get("/partner/v1/friends?limit=201", &tokens.access)
        .await;
    assert_error(too_many, StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit").await;
    let too_long = app
        .get("/api/v1/me/access-log?limit=201", &alice.token)
        .await;
    assert_error(too_long, StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit").await;
    // A cursor is a position in the log, as the document states: 0 to 2^63 - 1.
    let from_far = app
        .json(
            &format!("/api/v1/me/access-log?before={}", i64::MAX),
            &alice.token,
        )
        .await;
    assert!(!from_far["entries"].as_array().unwrap().is_empty());
    for (before, status) in [
        (u64::MAX.to_string(), StatusCode::BAD_REQUEST),
        ("-1".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let refused = app
            .get(
                &format!("/api/v1/me/access-log?before={before}"),
                &alice.token,
            )
            .await;
        assert_eq!(refused.status(), status, "{before}");
    }
    // The page in the browser takes any position, and a huge one means the whole log.
    let browser = app.browser_for("alice").await;
    let page = browser
        .client
        .get(app.url(&format!("/settings/access-log?before={}", u64::MAX)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Streamflix"));
    let log: Value = app
        .json("/api/v1/me/access-log?limit=200", &alice.token)
        .await;
    let malformed = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "invalid_request")
        .map(|e| e["action"].as_str().unwrap())
        .collect::<Vec<_>>();
    assert!(
        malformed.iter().filter(|a| **a == "message.send").count() >= 9,
        "{malformed:?}"
    );
    assert_eq!(
        malformed.iter().filter(|a| **a == "friends.list").count(),
        2,
        "{malformed:?}"
    );

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
    // Ten bad values, eight bodies of the wrong shape and one that is not JSON.
    assert_eq!(
        reasons.iter().filter(|r| **r == "invalid_request").count(),
        19
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
            // The app knows the thread only by its own id for it.
            let thread = app.partner_thread_id(&tokens.access).await;
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
            let own_send = own["id"].as_str().unwrap().to_owned();
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
            let status_path = format!(
                "/partner/v1/messages/{}",
                alice_send["id"].as_str().unwrap()
            );
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
            ("item_id", "7"),
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
