use reqwest::{Method, StatusCode};
use serde_json::json;

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{TestApp, assert_error};

on_both_backends!(
    friends_request_accept_decline_and_remove,
    blocks_stop_requests_and_messages_both_ways
);

async fn friends_request_accept_decline_and_remove(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;

    let unknown = app
        .post(
            "/api/v1/friends/requests",
            &alice.token,
            json!({ "handle": "nobody" }),
        )
        .await;
    assert_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_member").await;
    let me = app
        .post(
            "/api/v1/friends/requests",
            &alice.token,
            json!({ "handle": "alice" }),
        )
        .await;
    assert_error(me, StatusCode::CONFLICT, "cannot_befriend_self").await;

    // Only friends start conversations.
    let early = app
        .post(
            "/api/v1/conversations",
            &alice.token,
            json!({ "kind": "direct", "member_id": bob.id }),
        )
        .await;
    assert_error(early, StatusCode::FORBIDDEN, "not_friends").await;

    let sent = app
        .post(
            "/api/v1/friends/requests",
            &alice.token,
            json!({ "handle": "BOB" }),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    assert_eq!(
        sent.json::<serde_json::Value>().await.unwrap()["status"],
        "sent"
    );
    let again = app
        .post(
            "/api/v1/friends/requests",
            &alice.token,
            json!({ "handle": "bob" }),
        )
        .await;
    assert_error(again, StatusCode::CONFLICT, "request_pending").await;
    let bobs = app.json("/api/v1/friends", &bob.token).await;
    assert_eq!(bobs["incoming_requests"][0]["handle"], "alice");
    let accept = app
        .post(
            &format!("/api/v1/friends/requests/{}/accept", alice.id),
            &bob.token,
            json!({}),
        )
        .await;
    assert_eq!(accept.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.json("/api/v1/friends", &alice.token).await["friends"][0]["handle"],
        "bob"
    );
    app.direct(&alice, &bob).await;

    // Carol asks, Alice declines.
    app.post(
        "/api/v1/friends/requests",
        &carol.token,
        json!({ "handle": "alice" }),
    )
    .await;
    let declined = app
        .request(
            Method::DELETE,
            &format!("/api/v1/friends/requests/{}", carol.id),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.json("/api/v1/friends", &carol.token).await["outgoing_requests"],
        json!([])
    );
    let accept_gone = app
        .post(
            &format!("/api/v1/friends/requests/{}/accept", carol.id),
            &alice.token,
            json!({}),
        )
        .await;
    assert_error(accept_gone, StatusCode::NOT_FOUND, "not_found").await;

    // Crossing requests make friends at once.
    app.post(
        "/api/v1/friends/requests",
        &carol.token,
        json!({ "handle": "bob" }),
    )
    .await;
    let crossing = app
        .post(
            "/api/v1/friends/requests",
            &bob.token,
            json!({ "handle": "carol" }),
        )
        .await;
    assert_eq!(
        crossing.json::<serde_json::Value>().await.unwrap()["status"],
        "friends"
    );

    let removed = app
        .request(
            Method::DELETE,
            &format!("/api/v1/friends/{}", bob.id),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.json("/api/v1/friends", &bob.token).await["friends"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn blocks_stop_requests_and_messages_both_ways(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    assert_eq!(
        app.send(&bob, conversation, "hi").await.status(),
        StatusCode::CREATED
    );

    let self_block = app
        .request(
            Method::PUT,
            &format!("/api/v1/blocks/{}", alice.id),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_error(self_block, StatusCode::CONFLICT, "cannot_block_self").await;
    let block = app
        .request(
            Method::PUT,
            &format!("/api/v1/blocks/{}", bob.id),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(block.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.send(&bob, conversation, "hello?").await,
        StatusCode::FORBIDDEN,
        "cannot_message",
    )
    .await;
    assert_error(
        app.send(&alice, conversation, "bye").await,
        StatusCode::FORBIDDEN,
        "cannot_message",
    )
    .await;
    for (from, to) in [(&bob, "alice"), (&alice, "bob")] {
        let request = app
            .post(
                "/api/v1/friends/requests",
                &from.token,
                json!({ "handle": to }),
            )
            .await;
        assert_error(request, StatusCode::FORBIDDEN, "cannot_request").await;
    }
    assert_eq!(
        app.json("/api/v1/friends", &alice.token).await["blocked"][0]["handle"],
        "bob"
    );
    let messages = app
        .json(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &bob.token,
        )
        .await;
    assert_eq!(
        messages["messages"].as_array().unwrap().len(),
        1,
        "the refused sends stored nothing"
    );

    let unblock = app
        .request(
            Method::DELETE,
            &format!("/api/v1/blocks/{}", bob.id),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unblock.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.send(&bob, conversation, "hello again").await.status(),
        StatusCode::CREATED
    );
    // The block ended the friendship; a new one must be asked for.
    assert_eq!(
        app.json("/api/v1/friends", &alice.token).await["friends"],
        json!([])
    );
}
