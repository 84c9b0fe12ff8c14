//! What recipients control (muting, click counting), and how access ends: idle grants, and
//! the signed deletion webhook.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{ALL_SCOPES, FriendsOnTheApp, card, receiver};
use crate::helpers::{PASSWORD, TestApp};

on_both_backends!(
    grants_unused_for_too_long_end_by_themselves,
    recipients_mute_an_app_and_opt_out_of_click_counting,
    a_disconnect_sends_a_signed_deletion_webhook_with_retries,
    a_recipient_removes_a_recommendation_from_their_own_view,
);

async fn grants_unused_for_too_long_end_by_themselves(db: TestDatabase) {
    const DAY: i64 = 24 * 3600;
    let app = TestApp::spawn(db).await;
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
    let app = app
        .spawn_beside(|config| config.oauth.grant_idle_days = 1)
        .await;
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
        ("/\\evil.example".to_owned(), "/settings/apps".to_owned()),
        ("/\t/evil.example".to_owned(), "/settings/apps".to_owned()),
        (
            "/x\r\nSet-Cookie: a=b".to_owned(),
            "/settings/apps".to_owned(),
        ),
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
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "count_clicks");
}

async fn a_disconnect_sends_a_signed_deletion_webhook_with_retries(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let hooks = receiver(vec![500]).await;
    let (partner, secret) = app.partner_with_webhook("Streamflix", &hooks.url).await;
    assert!(secret.starts_with("whsec_"));
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

async fn a_recipient_removes_a_recommendation_from_their_own_view(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let FriendsOnTheApp {
        alice,
        bob,
        bob_id,
        tokens,
        ..
    } = app.friends_on_the_app(&streamflix).await;
    let sent = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "card": card() }),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let (conversation, messages) = app.latest_conversation(&bob.token).await;
    let card_message = messages[0]["id"].as_i64().unwrap();
    let own: Value = app
        .send(&bob, conversation, "thanks!")
        .await
        .json()
        .await
        .unwrap();
    let hide = |who: &str, message: i64| {
        let path = format!("/api/v1/conversations/{conversation}/messages/{message}/hide");
        app.request(Method::POST, &path, Some(who)).send()
    };
    // Only someone else's app message can be removed from one's view.
    let refused = hide(&bob.token, own["id"].as_i64().unwrap()).await.unwrap();
    crate::helpers::assert_error(refused, StatusCode::CONFLICT, "cannot_remove").await;
    let refused = hide(&alice.token, card_message).await.unwrap();
    crate::helpers::assert_error(refused, StatusCode::CONFLICT, "cannot_remove").await;
    let missing = hide(&bob.token, i64::MAX).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        hide(&bob.token, card_message).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let (_, bobs) = app.latest_conversation(&bob.token).await;
    assert_eq!(bobs.len(), 1, "the card is gone from Bob's view");
    assert_eq!(bobs[0]["body"], "thanks!");
    let (_, alices) = app.latest_conversation(&alice.token).await;
    assert_eq!(alices.len(), 2, "Alice still sees what she sent");
}
