use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{PASSWORD, TestApp, assert_error};

on_both_backends!(
    clients_behind_a_trusted_proxy_are_told_apart_and_no_one_else_can_claim_to_be,
    forwarded_for_is_ignored_from_peers_not_trusted,
    sign_up_log_in_and_log_out,
    bad_sign_ups_are_refused_and_change_nothing,
    repeated_failed_log_ins_are_throttled_without_revealing_handles,
    changing_the_password_ends_other_sessions,
    deleting_an_account_leaves_only_deleted_member_behind,
    sessions_expire_when_idle,
    the_directory_answers_a_few_members_and_cannot_be_walked,
);

async fn sign_up_log_in_and_log_out(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("Alice").await;
    assert_eq!(alice.handle, "Alice");
    let me = app.json("/api/v1/me", &alice.token).await;
    assert_eq!(me["handle"], "alice", "handles are stored lower-case");
    assert_eq!(me["display_name"], "ALICE");

    let renamed = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&alice.token),
            json!({ "display_name": "Alice Liddell" }),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(
        app.json("/api/v1/me", &alice.token).await["display_name"],
        "Alice Liddell"
    );

    let out = app
        .request(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get("/api/v1/me", &alice.token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get("/api/v1/me", "cfd_api_forged").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn bad_sign_ups_are_refused_and_change_nothing(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let sign_up = |body: Value| app.send_json(Method::POST, "/api/v1/accounts", None, body);

    let taken = sign_up(json!({ "handle": "ALICE", "password": PASSWORD })).await;
    let body = assert_error(taken, StatusCode::CONFLICT, "handle_taken").await;
    assert_eq!(body["field"], "handle");
    for handle in ["ab", "has space", "x".repeat(33).as_str(), "émile"] {
        let refused = sign_up(json!({ "handle": handle, "password": PASSWORD })).await;
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_handle").await;
    }
    // Names that would reorder the text around them, or look empty, are refused.
    // So is a name longer than 64 characters as sent, even if most of it is space.
    let padded = format!("{}{}", " ".repeat(60), "Evelyn");
    for name in [
        "abc\u{202E}exe.txt",
        "\u{200B}\u{200B}",
        "\u{2067}x",
        &padded,
    ] {
        let refused =
            sign_up(json!({ "handle": "eve", "password": PASSWORD, "display_name": name })).await;
        assert_error(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_display_name",
        )
        .await;
    }
    let weak = sign_up(json!({ "handle": "bob", "password": "123456789" })).await;
    assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    let wrong_type = sign_up(json!({ "handle": 42, "password": PASSWORD })).await;
    let body = assert_error(
        wrong_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert_eq!(body["field"], "handle");
    let missing = sign_up(json!({ "password": PASSWORD })).await;
    let body = assert_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(body["field"], "handle");
    let malformed = app
        .request(Method::POST, "/api/v1/accounts", None)
        .header("content-type", "application/json")
        .body("{\"handle\": \"bob\",")
        .send()
        .await
        .unwrap();
    assert_error(malformed, StatusCode::BAD_REQUEST, "invalid_json").await;
    let not_json = app
        .request(Method::POST, "/api/v1/accounts", None)
        .body("handle=bob")
        .send()
        .await
        .unwrap();
    assert_error(not_json, StatusCode::BAD_REQUEST, "unsupported_media_type").await;
    let huge = sign_up(json!({ "handle": "bob", "password": "p".repeat(100_000) })).await;
    assert_error(huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let unknown_field =
        sign_up(json!({ "handle": "bob", "password": PASSWORD, "admin": true })).await;
    let body = assert_error(
        unknown_field,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert_eq!(body["field"], "admin");

    // None of that created anyone.
    let found = app.json("/api/v1/members?q=bob", &alice.token).await;
    assert_eq!(found, json!([]));
}

/// Failed log-ins from `client` (as a proxy in front would say), one per handle so that only
/// the per-client allowance is at stake; then whether one more attempt is throttled.
async fn throttled_after_failures(app: &TestApp, client: &str, failures: usize) -> bool {
    let attempt = |handle: String| {
        app.request(Method::POST, "/api/v1/sessions", None)
            .header("x-forwarded-for", format!("198.51.100.77, {client}"))
            .json(&json!({ "handle": handle, "password": "wrong password!" }))
            .send()
    };
    for n in 0..failures {
        let wrong = attempt(format!("nobody_{n}")).await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let next = attempt("nobody_else".to_owned()).await.unwrap();
    next.status() == StatusCode::TOO_MANY_REQUESTS
}

async fn clients_behind_a_trusted_proxy_are_told_apart_and_no_one_else_can_claim_to_be(
    db: TestDatabase,
) {
    // The tests reach the server from 127.0.0.1: here, that is the operator's proxy.
    let app = TestApp::spawn_with(db, |config| {
        config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        config.accounts.login_failures_per_client = 3;
    })
    .await;
    assert!(throttled_after_failures(&app, "203.0.113.1", 3).await);
    // Another client behind the same proxy still has its own allowance.
    assert!(!throttled_after_failures(&app, "203.0.113.2", 0).await);
}

async fn forwarded_for_is_ignored_from_peers_not_trusted(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| {
        config.accounts.login_failures_per_client = 3;
    })
    .await;
    assert!(throttled_after_failures(&app, "203.0.113.1", 3).await);
    // Claiming to be someone else buys nothing: the peer is the client.
    assert!(throttled_after_failures(&app, "203.0.113.2", 0).await);
}

async fn repeated_failed_log_ins_are_throttled_without_revealing_handles(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    app.sign_up("alice").await;
    for handle in ["alice", "nobody_here"] {
        for _ in 0..5 {
            let wrong = app.try_log_in(handle, "wrong password!").await;
            let body = assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
            assert_eq!(body["message"], "invalid credentials");
        }
        let throttled = app.try_log_in(handle, PASSWORD).await;
        assert!(throttled.headers().contains_key("retry-after"));
        assert_error(
            throttled,
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
        )
        .await;
    }
    // The window passes.
    app.clock.advance_secs(16 * 60);
    assert_eq!(
        app.try_log_in("alice", PASSWORD).await.status(),
        StatusCode::CREATED
    );

    // Spellings of one handle share one allowance: padding or capitals buy no new guesses.
    let bob = app.sign_up("bob").await;
    drop(bob);
    for spelling in ["bob", " bob", "bob ", "BOB", "\tBob"] {
        let wrong = app.try_log_in(spelling, "wrong password!").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{spelling:?}");
    }
    for spelling in ["  bob  ", "Bob"] {
        let throttled = app.try_log_in(spelling, PASSWORD).await;
        assert_eq!(
            throttled.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{spelling:?}"
        );
    }
}

async fn changing_the_password_ends_other_sessions(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let other_device = app.log_in("alice", PASSWORD).await;
    let change = |current: &str, new: &str| {
        app.send_json(
            Method::PUT,
            "/api/v1/me/password",
            Some(&alice.token),
            json!({ "current_password": current, "new_password": new }),
        )
    };
    let wrong = change("not my password", "a brand new secret").await;
    assert_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let weak = change(PASSWORD, "short").await;
    let body = assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    assert_eq!(body["field"], "new_password");
    assert_eq!(
        app.get("/api/v1/me", &other_device).await.status(),
        StatusCode::OK,
        "nothing changed yet"
    );

    assert_eq!(
        change(PASSWORD, "a brand new secret").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/v1/me", &alice.token).await.status(),
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        app.get("/api/v1/me", &other_device).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.try_log_in("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.try_log_in("alice", "a brand new secret").await.status(),
        StatusCode::CREATED
    );
}

async fn deleting_an_account_leaves_only_deleted_member_behind(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    app.send(&alice, conversation, "my secret plans").await;
    app.send(&bob, conversation, "tell me more").await;

    let wrong = app
        .send_json(
            Method::DELETE,
            "/api/v1/me",
            Some(&alice.token),
            json!({ "password": "not it at all" }),
        )
        .await;
    assert_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let gone = app
        .send_json(
            Method::DELETE,
            "/api/v1/me",
            Some(&alice.token),
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        app.get("/api/v1/me", &alice.token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.try_log_in("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let page = app
        .json(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &bob.token,
        )
        .await;
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages[0]["body"], "tell me more");
    assert_eq!(messages[1]["body"], "");
    assert!(messages[1]["sender"].is_null());
    let raw = serde_json::to_string(&page).unwrap();
    assert!(!raw.contains("secret plans"));
    let list = app.json("/api/v1/conversations", &bob.token).await;
    assert_eq!(list[0]["title"], "deleted member");
    assert_eq!(
        app.json("/api/v1/friends", &bob.token).await["friends"],
        json!([])
    );
}

async fn sessions_expire_when_idle(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| config.accounts.api_session_idle_secs = 3600).await;
    let alice = app.sign_up("alice").await;
    app.clock.advance_secs(3000);
    assert_eq!(
        app.get("/api/v1/me", &alice.token).await.status(),
        StatusCode::OK
    );
    // Being used keeps it alive.
    app.clock.advance_secs(3000);
    assert_eq!(
        app.get("/api/v1/me", &alice.token).await.status(),
        StatusCode::OK
    );
    app.clock.advance_secs(3601);
    assert_eq!(
        app.get("/api/v1/me", &alice.token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn the_directory_answers_a_few_members_and_cannot_be_walked(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| {
        config.accounts.searches_per_member_per_minute = 100;
        config.accounts.searches_per_member_per_day = 8;
        config.accounts.searches_per_address_per_day = 12;
    })
    .await;
    let alice = app.sign_up("alice").await;
    for handle in ["bob", "bobby", "bob_1", "bob_2", "bob_3", "bob_4", "bob_5"] {
        app.sign_up(handle).await;
    }
    let search = |q: &str| {
        let path = format!("/api/v1/members?q={q}");
        let (app, token) = (&app, &alice.token);
        async move { app.get(&path, token).await }
    };

    // A whole handle, or its start: never more than five, and only what a request needs.
    let found: Value = search("%40Bob").await.json().await.unwrap();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 5, "{found:?}");
    assert_eq!(found[0]["handle"], "bob", "the exact handle comes first");
    let fields: Vec<&String> = found[0].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["display_name", "handle", "id"]);
    // The searcher is not among what they find.
    assert_eq!(
        search("alice").await.json::<Value>().await.unwrap(),
        json!([])
    );

    // Walking one- and two-letter prefixes is refused outright, and costs nothing.
    for short in ["", "a", "b", "bo", "%40bo"] {
        let refused = search(short).await;
        let body = assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "query_too_short").await;
        assert_eq!(body["field"], "q");
    }
    assert_error(
        search("bo%25").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    )
    .await;

    // Someone who blocked Alice is not in her answers.
    let bob = app.log_in("bob", PASSWORD).await;
    let blocked = app
        .request(
            Method::PUT,
            &format!("/api/v1/blocks/{}", alice.id),
            Some(&bob),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::NO_CONTENT);
    let found: Value = search("bob").await.json().await.unwrap();
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["handle"] != "bob"),
        "{found}"
    );

    // Alice has made 3 counted searches; her day allows 8.
    for _ in 0..5 {
        assert_eq!(search("bob_").await.status(), StatusCode::OK);
    }
    let spent = search("bob_").await;
    assert!(spent.headers().contains_key("retry-after"));
    assert_error(spent, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;

    // The address has its own budget (12), shared by everyone behind it: Carol gets the
    // four searches left on it, however many her own day allows.
    let carol = app.sign_up("carol").await;
    for _ in 0..4 {
        let answer = app.get("/api/v1/members?q=bob", &carol.token).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let spent = app.get("/api/v1/members?q=bob", &carol.token).await;
    assert_error(spent, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}
