//! Item-URL templates: a hostile partner cannot give each recipient a link of its own, so its
//! web server cannot tell which recipient followed a recommendation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{ALL_SCOPES, FriendsOnTheApp, card};
use crate::helpers::{TestApp, csrf_of};

on_both_backends!(
    every_recipient_of_an_item_gets_the_same_link,
    operators_set_the_template_and_cards_need_one,
);

async fn every_recipient_of_an_item_gets_the_same_link(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, bob_browser) = app.member("bob").await;
    let (carol, carol_browser) = app.member("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    let bob_id = app.pseudonym(&bob_browser, &streamflix).await;
    let carol_id = app.pseudonym(&carol_browser, &streamflix).await;
    let tokens = app.tokens(&alice_browser, &streamflix, ALL_SCOPES).await;
    let send_to = |to: &str, url: Option<&str>| {
        let mut card = card();
        match url {
            Some(url) => card["url"] = json!(url),
            None => {
                card.as_object_mut().unwrap().remove("url");
            }
        }
        json!({ "to": [to], "card": card })
    };

    // The hostile partner tags each recipient's link: refused, naming the field, and the
    // expansion it must be.
    for tagged in [
        "https://streamflix.example/title/title-42?r=bob",
        "https://streamflix.example/title/title-42#bob",
        "https://streamflix.example/title/title-43",
        "https://tracker.example/title/title-42",
    ] {
        let refused = app
            .partner_send(&tokens.access, None, send_to(&bob_id, Some(tagged)))
            .await;
        assert_eq!(
            refused.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{tagged}"
        );
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["field"], "card.url");
        assert_eq!(error["error"], "card_url_mismatch");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("https://streamflix.example/title/title-42"),
            "{error}"
        );
    }
    assert!(
        app.json("/api/v1/conversations", &bob.token)
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was sent"
    );

    // Without a url, or with exactly the expansion: both recipients get the same link.
    for (to, url) in [
        (&bob_id, None),
        (&carol_id, Some("https://streamflix.example/title/title-42")),
    ] {
        let sent = app
            .partner_send(&tokens.access, None, send_to(to, url))
            .await;
        assert_eq!(sent.status(), StatusCode::CREATED);
    }
    let mut destinations = Vec::new();
    for (token, browser) in [(&bob.token, &bob_browser), (&carol.token, &carol_browser)] {
        let (_, messages) = app.latest_conversation(token).await;
        assert_eq!(
            messages[0]["card"]["url"],
            "https://streamflix.example/title/title-42"
        );
        let link = app.newest_link(token).await;
        let followed = browser.client.get(app.url(&link)).send().await.unwrap();
        assert_eq!(followed.status(), StatusCode::FOUND);
        destinations.push(followed.headers()["location"].to_str().unwrap().to_owned());
    }
    assert_eq!(destinations[0], destinations[1]);

    // An item id cannot smuggle a query or a path into the link: it is escaped.
    let mut tricky = card();
    tricky.as_object_mut().unwrap().remove("url");
    tricky["item_id"] = json!("42?r=bob/../x#y");
    let sent = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "card": tricky }),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let (_, messages) = app.latest_conversation(&bob.token).await;
    assert_eq!(
        messages[0]["card"]["url"],
        "https://streamflix.example/title/42%3Fr%3Dbob%2F..%2Fx%23y"
    );
}

async fn operators_set_the_template_and_cards_need_one(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let FriendsOnTheApp {
        bob,
        bob_id,
        tokens,
        ..
    } = app.friends_on_the_app(&streamflix).await;

    // Templates that would let the app pick the site per item are refused.
    for bad in [
        "https://{item_id}.example/",
        "https://films.example/a/{item_id}/{item_id}",
        "https://films.example/title",
        "javascript:{item_id}",
    ] {
        let error = app
            .core
            .set_item_url_template(&streamflix.client_id, Some(bad))
            .await
            .unwrap_err();
        assert_eq!(error.field(), Some("item_url_template"), "{bad}");
    }

    // Without a template, no cards; a plain text still goes.
    app.core
        .set_item_url_template(&streamflix.client_id, None)
        .await
        .unwrap();
    let refused = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "card": card() }),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(
        (error["field"].as_str(), error["error"].as_str()),
        (Some("card.url"), Some("no_item_url_template"))
    );
    let text = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "text": "hi" }),
        )
        .await;
    assert_eq!(text.status(), StatusCode::CREATED);

    // The operator sets one on the admin page; the registry shows it to everyone.
    let admin = app.operator().await;
    let page = admin.page(&app, "/admin/apps").await;
    let csrf = csrf_of(&page);
    let path = format!("/admin/apps/{}/item-url-template", streamflix.client_id);
    let invalid = admin
        .client
        .post(app.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("item_url_template", "https://x.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let template = "https://films.example/watch/{item_id}";
    let saved = admin
        .client
        .post(app.url(&path))
        .form(&[("csrf", csrf.as_str()), ("item_url_template", template)])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    app.core.approve_app(&streamflix.client_id).await.unwrap();
    let registry = app
        .client
        .get(app.url("/apps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        registry.contains(template),
        "the registry shows where links lead"
    );
    let sent = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "card": {
                "title": "The Long Night", "item_id": "42", "interface": "web",
                "initiation_surface": "title_page", "variation": "default",
            }}),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let (_, messages) = app.latest_conversation(&bob.token).await;
    assert_eq!(messages[0]["card"]["url"], "https://films.example/watch/42");
}
