//! Tracked links: a redirect to the card's URL that counts the click as an aggregate only,
//! and only when the recipient, signed in and letting clicks be counted, follows it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use confidant_core::Clock;
use confidant_core::store::day_of;
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::SentCard;
use crate::helpers::TestApp;

on_both_backends!(tracked_links_redirect_and_count_clicks_only_as_aggregates);

async fn tracked_links_redirect_and_count_clicks_only_as_aggregates(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let SentCard {
        alice_browser,
        bob,
        bob_browser,
        link,
        ..
    } = app.send_a_card(&streamflix).await;

    let today = day_of(app.clock.now());
    let counts = || async {
        let cells = app
            .core
            .measured_engagement(&streamflix.client_id, today, today)
            .await
            .unwrap();
        cells
            .into_iter()
            .map(|c| (c.cell.interface, c.sends, c.clicks))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts().await, [("tv".to_owned(), 1, 0)], "the send counts");

    let follow = |client: reqwest::Client, method: Method, path: String, agent: &'static str| {
        let url = app.url(&path);
        async move {
            client
                .request(method, url)
                .header("user-agent", agent)
                .send()
                .await
                .unwrap()
        }
    };
    let firefox = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0";
    let clicked = follow(
        bob_browser.client.clone(),
        Method::GET,
        format!("{link}?i=web"),
        firefox,
    )
    .await;
    assert_eq!(clicked.status(), StatusCode::FOUND);
    assert_eq!(
        clicked.headers()["location"],
        "https://streamflix.example/title/title-42"
    );
    assert_eq!(clicked.headers()["referrer-policy"], "no-referrer");

    // Not people clicking: a HEAD, a link-preview fetcher, the sender herself.
    let looked = follow(
        bob_browser.client.clone(),
        Method::HEAD,
        link.clone(),
        firefox,
    )
    .await;
    assert_eq!(looked.status(), StatusCode::FOUND);
    follow(
        app.client.clone(),
        Method::GET,
        link.clone(),
        "Slackbot-LinkExpanding 1.0",
    )
    .await;
    follow(
        alice_browser.client.clone(),
        Method::GET,
        link.clone(),
        firefox,
    )
    .await;
    // Nor anyone but the recipient: someone signed out the link was passed on to, on a phone,
    // or another member signed in. Each redirects, and counts under nobody's cap.
    let passed_on = follow(
        app.client.clone(),
        Method::GET,
        link.clone(),
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0)",
    )
    .await;
    assert_eq!(passed_on.status(), StatusCode::FOUND);
    let (_, carol_browser) = app.member("carol").await;
    for _ in 0..5 {
        follow(
            carol_browser.client.clone(),
            Method::GET,
            format!("{link}?i=ios"),
            firefox,
        )
        .await;
    }
    let mut expected = vec![("tv".to_owned(), 1, 0), ("web".to_owned(), 0, 1)];
    assert_eq!(counts().await, expected);

    // However often Bob clicks, he moves a cell by at most the cap (3).
    for _ in 0..10 {
        follow(
            bob_browser.client.clone(),
            Method::GET,
            format!("{link}?i=web"),
            firefox,
        )
        .await;
    }
    expected[1].2 = 3;
    assert_eq!(counts().await, expected);

    // A recipient who opted out is not counted at all.
    app.send_json(
        Method::PUT,
        "/api/v1/me/privacy",
        Some(&bob.token),
        json!({ "count_clicks": false }),
    )
    .await;
    app.clock.advance_secs(24 * 3600);
    follow(
        bob_browser.client.clone(),
        Method::GET,
        format!("{link}?i=web"),
        firefox,
    )
    .await;
    let tomorrow = app
        .core
        .measured_engagement(&streamflix.client_id, today + 1, today + 1)
        .await
        .unwrap();
    assert!(tomorrow.is_empty(), "{tomorrow:?}");

    // Unknown or malformed tokens: a 404 page, never a redirect.
    for path in ["/r/AAAAAAAAAAAAAAAAAAAAAA", "/r/short", "/r/..%2F..%2Fetc"] {
        let response = follow(app.client.clone(), Method::GET, path.to_owned(), firefox).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(response.headers().get("location").is_none());
    }
}
