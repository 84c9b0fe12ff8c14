use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{TestApp, assert_error};

on_both_backends!(
    one_direct_conversation_per_pair_and_cursor_pages_stay_stable,
    unread_counts_and_read_receipts,
    groups_add_rename_and_leave,
    message_rules_are_enforced,
    nul_in_text_is_refused_alike_on_every_backend_and_surface,
);

async fn nul_in_text_is_refused_alike_on_every_backend_and_surface(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    // In a JSON body, in a query, in a partner's client id, at the token endpoint, in a form.
    let sent = app
        .post(&path, &alice.token, json!({ "body": "a\u{0}b" }))
        .await;
    assert_error(sent, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    let searched = app
        .get("/api/v1/me/access-log?app=x%00y", &alice.token)
        .await;
    assert_error(searched, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    let token = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "a\0b"),
            ("refresh_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        token.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let login = app
        .client
        .post(app.url("/login"))
        .form(&[("handle", "alice\0"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::BAD_REQUEST);
    assert!(login.text().await.unwrap().contains("NUL"));
    // The consent page is a page, and says so in HTML.
    let authorize = app
        .client
        .get(app.url("/oauth/authorize?client_id=a%00b"))
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), StatusCode::BAD_REQUEST);
    assert!(
        authorize.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // A form field that is not UTF-8 is refused too, rather than stored as U+FFFD.
    let not_utf8 = app
        .client
        .post(app.url("/signup"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("handle=mallory&display_name=Mal%FFlory&password=correct+horse+battery")
        .send()
        .await
        .unwrap();
    assert_eq!(not_utf8.status(), StatusCode::BAD_REQUEST);
    assert!(not_utf8.text().await.unwrap().contains("UTF-8"));
    // The text `\u0000`, written out, is just text.
    let literal = app
        .post(
            &path,
            &alice.token,
            json!({ "body": "type \\u0000 to see it" }),
        )
        .await;
    assert_eq!(literal.status(), StatusCode::CREATED);
    // Nothing else was stored.
    let page = app.json(&path, &bob.token).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
}

async fn one_direct_conversation_per_pair_and_cursor_pages_stay_stable(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    assert_eq!(
        app.direct(&bob, &alice).await,
        conversation,
        "one per pair, whoever opens it"
    );

    for n in 1..=7 {
        assert_eq!(
            app.send(&alice, conversation, &format!("m{n}"))
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let first = app.json(&format!("{path}?limit=3"), &bob.token).await;
    let bodies = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(bodies(&first), ["m7", "m6", "m5"]);
    // New messages arrive between pages; the next page continues where the first ended.
    app.send(&bob, conversation, "new one").await;
    let cursor = first["next_before"].as_i64().unwrap();
    let second = app
        .json(&format!("{path}?limit=3&before={cursor}"), &bob.token)
        .await;
    assert_eq!(bodies(&second), ["m4", "m3", "m2"]);
    let cursor = second["next_before"].as_i64().unwrap();
    let last = app
        .json(&format!("{path}?limit=3&before={cursor}"), &bob.token)
        .await;
    assert_eq!(bodies(&last), ["m1"]);
    assert!(last["next_before"].is_null());
    let bad = app
        .get(&format!("{path}?before=yesterday"), &bob.token)
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid_query").await;

    let carol = app.sign_up("carol").await;
    let outsider = app.get(&path, &carol.token).await;
    assert_error(outsider, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        app.send(&carol, conversation, "let me in").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn unread_counts_and_read_receipts(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let sent: Value = app
            .send(&alice, conversation, &format!("m{n}"))
            .await
            .json()
            .await
            .unwrap();
        ids.push(sent["id"].as_i64().unwrap());
    }
    let inbox = app.json("/api/v1/conversations", &bob.token).await;
    assert_eq!(inbox[0]["unread"], 3);
    assert_eq!(inbox[0]["title"], "ALICE");
    assert_eq!(inbox[0]["last_message"]["body"], "m2");
    assert_eq!(
        app.json("/api/v1/conversations", &alice.token).await[0]["unread"],
        0
    );

    let read = app
        .post(
            &format!("/api/v1/conversations/{conversation}/read"),
            &bob.token,
            json!({ "message_id": ids[1] }),
        )
        .await;
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.json("/api/v1/conversations", &bob.token).await[0]["unread"],
        1
    );
    // A receipt for a message that is not in the conversation is refused and moves nothing:
    // the unread count keeps working.
    for bogus in [i64::MAX, 0, -5] {
        let refused = app
            .post(
                &format!("/api/v1/conversations/{conversation}/read"),
                &bob.token,
                json!({ "message_id": bogus }),
            )
            .await;
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "unknown_message").await;
    }
    assert_eq!(
        app.json("/api/v1/conversations", &bob.token).await[0]["unread"],
        1
    );
    let detail = app
        .json(
            &format!("/api/v1/conversations/{conversation}"),
            &alice.token,
        )
        .await;
    let bob_receipt = detail["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["member"]["handle"] == "bob")
        .unwrap()["last_read_message_id"]
        .clone();
    assert_eq!(bob_receipt, ids[1]);
    app.post(
        &format!("/api/v1/conversations/{conversation}/read"),
        &bob.token,
        json!({}),
    )
    .await;
    assert_eq!(
        app.json("/api/v1/conversations", &bob.token).await[0]["unread"],
        0
    );
}

async fn groups_add_rename_and_leave(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    let stranger = app.sign_up("stranger").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;

    let no_title = app
        .post(
            "/api/v1/conversations",
            &alice.token,
            json!({ "kind": "group", "title": " ", "member_ids": [bob.id] }),
        )
        .await;
    assert_error(no_title, StatusCode::UNPROCESSABLE_ENTITY, "invalid_title").await;
    let with_stranger = app
        .post(
            "/api/v1/conversations",
            &alice.token,
            json!({ "kind": "group", "title": "Films", "member_ids": [stranger.id] }),
        )
        .await;
    assert_error(with_stranger, StatusCode::FORBIDDEN, "not_friends").await;
    assert_eq!(
        app.json("/api/v1/conversations", &alice.token).await,
        json!([]),
        "nothing was created"
    );

    let created = app
        .post(
            "/api/v1/conversations",
            &alice.token,
            json!({ "kind": "group", "title": "Films", "member_ids": [bob.id] }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let group: Value = created.json().await.unwrap();
    let id = group["id"].as_i64().unwrap();
    assert_eq!(group["participants"].as_array().unwrap().len(), 2);

    let added = app
        .post(
            &format!("/api/v1/conversations/{id}/members"),
            &alice.token,
            json!({ "member_ids": [carol.id] }),
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    let renamed = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/conversations/{id}"),
            Some(&carol.token),
            json!({ "title": "Film club" }),
        )
        .await;
    assert_eq!(renamed.json::<Value>().await.unwrap()["title"], "Film club");
    assert_eq!(
        app.send(&carol, id, "hello all").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.json("/api/v1/conversations", &bob.token).await[0]["unread"],
        1
    );

    let left = app
        .request(
            Method::DELETE,
            &format!("/api/v1/conversations/{id}/members/me"),
            Some(&bob.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.send(&bob, id, "still here?").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        app.json(&format!("/api/v1/conversations/{id}"), &alice.token)
            .await["participants"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Group-only operations on a 1:1 conversation conflict with what it is: 409, and
    // nothing changes.
    let direct = app.direct(&alice, &carol).await;
    let renamed = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/conversations/{direct}"),
            Some(&alice.token),
            json!({ "title": "Us" }),
        )
        .await;
    assert_error(renamed, StatusCode::CONFLICT, "not_a_group").await;
    let added = app
        .post(
            &format!("/api/v1/conversations/{direct}/members"),
            &alice.token,
            json!({ "member_ids": [bob.id] }),
        )
        .await;
    assert_error(added, StatusCode::CONFLICT, "not_a_group").await;
    let left = app
        .request(
            Method::DELETE,
            &format!("/api/v1/conversations/{direct}/members/me"),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_error(left, StatusCode::CONFLICT, "not_a_group").await;
    let unchanged = app
        .json(&format!("/api/v1/conversations/{direct}"), &alice.token)
        .await;
    assert_eq!(unchanged["kind"], "direct");
    assert_eq!(unchanged["participants"].as_array().unwrap().len(), 2);
}

async fn message_rules_are_enforced(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    assert_error(
        app.send(&alice, conversation, "   ").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "empty_message",
    )
    .await;
    assert_error(
        app.send(&alice, conversation, &"x".repeat(2049)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "message_too_long",
    )
    .await;
    // The limit is in characters, whatever their size: 2,048 four-byte characters fit.
    assert_eq!(
        app.send(&alice, conversation, &"🎬".repeat(2048))
            .await
            .status(),
        StatusCode::CREATED
    );
    // A page size outside 1..=100 is refused, not quietly changed.
    for limit in [0, 101, -1] {
        let page = app
            .get(
                &format!("/api/v1/conversations/{conversation}/messages?limit={limit}"),
                &bob.token,
            )
            .await;
        assert_error(page, StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit").await;
    }
    // An unknown field is refused by name, and nothing is sent.
    let extra = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &alice.token,
            json!({ "body": "hi", "urgent": true }),
        )
        .await;
    assert_error(extra, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let page = app
        .json(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &bob.token,
        )
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    let missing = app.send(&alice, 999_999, "anyone?").await;
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    // An id that is not a number names nothing either.
    let not_an_id = app
        .post(
            "/api/v1/conversations/abc/messages",
            &alice.token,
            json!({ "body": "hi" }),
        )
        .await;
    assert_error(not_an_id, StatusCode::NOT_FOUND, "not_found").await;
    // Ids are JSON Schema integers: 2.0 is 2, 2.5 is refused.
    let newest = page["messages"][0]["id"].as_i64().unwrap();
    let read = app
        .post(
            &format!("/api/v1/conversations/{conversation}/read"),
            &bob.token,
            json!({ "message_id": newest as f64 }),
        )
        .await;
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    let fraction = app
        .post(
            &format!("/api/v1/conversations/{conversation}/read"),
            &bob.token,
            json!({ "message_id": 2.5 }),
        )
        .await;
    assert_error(fraction, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
}
