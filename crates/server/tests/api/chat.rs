//! Editing, deleting, replying to and searching messages over the JSON API, and the lines
//! a group writes when it changes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::events::EventStream;
use crate::helpers::{TestApp, TestMember, assert_error};

on_both_backends!(
    members_edit_and_delete_their_own_messages_and_others_see_it_live,
    a_reply_quotes_the_message_it_answers,
    a_retried_send_with_its_draft_key_is_stored_once,
    search_finds_only_the_members_own_conversations,
    group_changes_show_as_lines_in_the_conversation,
);

fn message_path(conversation: i64, message: i64) -> String {
    format!("/api/v1/conversations/{conversation}/messages/{message}")
}

async fn sent(app: &TestApp, from: &TestMember, conversation: i64, body: &str) -> Value {
    let response = app.send(from, conversation, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// The next event of the stream named `name`, skipping others.
async fn next_named(stream: &mut EventStream, name: &str) -> Value {
    for _ in 0..20 {
        match stream.next_within(Duration::from_secs(5)).await {
            Some(event) if event.name == name => return event.data,
            Some(_) => continue,
            None => break,
        }
    }
    panic!("no {name} event arrived");
}

async fn members_edit_and_delete_their_own_messages_and_others_see_it_live(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    let message = sent(&app, &alice, conversation, "see you at eight").await;
    let id = message["id"].as_i64().unwrap();
    let mut bobs_stream = EventStream::open(&app, &bob, None).await;

    // Bob cannot change Alice's words.
    let path = message_path(conversation, id);
    let hijack = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&bob.token),
            json!({ "body": "x" }),
        )
        .await;
    assert_error(hijack, StatusCode::FORBIDDEN, "not_your_message").await;
    let hijack = app
        .request(Method::DELETE, &path, Some(&bob.token))
        .send()
        .await
        .unwrap();
    assert_error(hijack, StatusCode::FORBIDDEN, "not_your_message").await;
    // Bad input changes nothing.
    let blank = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&alice.token),
            json!({ "body": "  " }),
        )
        .await;
    assert_error(blank, StatusCode::UNPROCESSABLE_ENTITY, "empty_message").await;
    let elsewhere = message_path(conversation + 1000, id);
    let missing = app
        .send_json(
            Method::PATCH,
            &elsewhere,
            Some(&alice.token),
            json!({ "body": "x" }),
        )
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;

    let edited = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&alice.token),
            json!({ "body": "see you at nine" }),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["body"], "see you at nine");
    assert!(edited["edited_at"].as_i64().is_some());
    let live = next_named(&mut bobs_stream, "message_changed").await;
    assert_eq!(live["message"]["id"], id);
    assert_eq!(live["message"]["body"], "see you at nine");
    assert!(live["message"]["edited_at"].as_i64().is_some());

    let deleted = app
        .request(Method::DELETE, &path, Some(&alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let live = next_named(&mut bobs_stream, "message_changed").await;
    assert_eq!(live["message"]["deleted"], true);
    assert_eq!(live["message"]["body"], "");
    let (_, messages) = app.latest_conversation(&bob.token).await;
    assert_eq!(messages[0]["deleted"], true);
    assert_eq!(messages[0]["body"], "");
    // Gone is gone: no edit, no second delete.
    let again = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&alice.token),
            json!({ "body": "back" }),
        )
        .await;
    assert_error(again, StatusCode::CONFLICT, "message_deleted").await;
    let again = app
        .request(Method::DELETE, &path, Some(&alice.token))
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::CONFLICT, "message_deleted").await;
}

async fn a_reply_quotes_the_message_it_answers(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&bob, &carol).await;
    let conversation = app.direct(&alice, &bob).await;
    let other = app.direct(&bob, &carol).await;
    let question = sent(&app, &alice, conversation, "dinner on friday?").await;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let reply = app
        .post(
            &path,
            &bob.token,
            json!({ "body": "yes!", "reply_to": question["id"] }),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["reply_to"]["id"], question["id"]);
    assert_eq!(reply["reply_to"]["body"], "dinner on friday?");
    assert_eq!(reply["reply_to"]["sender"]["handle"], "alice");
    // A reply to a message of another conversation, or to none, is refused.
    let elsewhere = sent(&app, &carol, other, "psst").await;
    for target in [elsewhere["id"].clone(), json!(i64::MAX)] {
        let refused = app
            .post(
                &path,
                &bob.token,
                json!({ "body": "?", "reply_to": target }),
            )
            .await;
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "unknown_message").await;
    }
}

async fn a_retried_send_with_its_draft_key_is_stored_once(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let send = |body: &'static str, key: &'static str| {
        app.request(Method::POST, &path, Some(&alice.token))
            .header("Idempotency-Key", key)
            .json(&json!({ "body": body }))
            .send()
    };
    let first: Value = send("hello", "draft-7")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let retry = send("hello", "draft-7").await.unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    let (_, messages) = app.latest_conversation(&bob.token).await;
    assert_eq!(messages.len(), 1);
    let reused = send("other words", "draft-7").await.unwrap();
    assert_error(reused, StatusCode::CONFLICT, "idempotency_key_reused").await;
    let too_long = "k".repeat(201);
    let refused = app
        .request(Method::POST, &path, Some(&alice.token))
        .header("Idempotency-Key", too_long)
        .json(&json!({ "body": "x" }))
        .send()
        .await
        .unwrap();
    assert_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_idempotency_key",
    )
    .await;
}

async fn search_finds_only_the_members_own_conversations(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&bob, &carol).await;
    let ours = app.direct(&alice, &bob).await;
    let theirs = app.direct(&bob, &carol).await;
    sent(&app, &alice, ours, "The lighthouse at dawn").await;
    sent(&app, &carol, theirs, "the lighthouse secret").await;

    let found = app.json("/api/v1/search?q=lightho", &alice.token).await;
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["message"]["conversation_id"], ours);
    assert_eq!(results[0]["conversation_title"], "BOB");
    // Words of a conversation Alice is not in are not found.
    let secret = app.json("/api/v1/search?q=secret", &alice.token).await;
    assert!(secret["results"].as_array().unwrap().is_empty());
    let bobs = app.json("/api/v1/search?q=lighthouse", &bob.token).await;
    assert_eq!(bobs["results"].as_array().unwrap().len(), 2);
    // Operators of either database are just separators.
    let odd = app
        .json(
            "/api/v1/search?q=%22lighthouse%22%20%26%20!dawn%3A*",
            &alice.token,
        )
        .await;
    assert_eq!(odd["results"].as_array().unwrap().len(), 1);
    for (query, code) in [("", "empty_query"), ("%20!%26", "empty_query")] {
        let refused = app
            .get(&format!("/api/v1/search?q={query}"), &alice.token)
            .await;
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let long = "a".repeat(201);
    let refused = app
        .get(&format!("/api/v1/search?q={long}"), &alice.token)
        .await;
    assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "query_too_long").await;
}

async fn group_changes_show_as_lines_in_the_conversation(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    let created = app
        .post(
            "/api/v1/conversations",
            &alice.token,
            json!({ "kind": "group", "title": "Film club", "member_ids": [bob.id] }),
        )
        .await;
    let group = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let added = app
        .post(
            &format!("/api/v1/conversations/{group}/members"),
            &alice.token,
            json!({ "member_ids": [carol.id] }),
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    let renamed = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/conversations/{group}"),
            Some(&bob.token),
            json!({ "title": "Book club" }),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let left = app
        .request(
            Method::DELETE,
            &format!("/api/v1/conversations/{group}/members/me"),
            Some(&carol.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), StatusCode::NO_CONTENT);

    let page = app
        .json(
            &format!("/api/v1/conversations/{group}/messages"),
            &alice.token,
        )
        .await;
    let lines: Vec<(String, String)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|m| {
            (
                m["sender"]["handle"].as_str().unwrap().to_owned(),
                m["system"]["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("alice".to_owned(), "added".to_owned()),
            ("bob".to_owned(), "renamed".to_owned()),
            ("carol".to_owned(), "left".to_owned()),
        ]
    );
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages[1]["system"]["title"], "Book club");
    assert_eq!(messages[2]["system"]["member"]["handle"], "carol");
    // A system line is nobody's message: it cannot be edited or deleted.
    let line = messages[0]["id"].as_i64().unwrap();
    let refused = app
        .request(
            Method::DELETE,
            &message_path(group, line),
            Some(&carol.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND, "carol left");
    let conversations = app.json("/api/v1/conversations", &alice.token).await;
    assert_eq!(conversations[0]["unread"], 0);
}
