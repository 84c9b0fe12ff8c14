//! The image proxy for cards: `/img/{token}` serves a card's image from Confidant's origin,
//! fetched by the server, and refuses what it must: private addresses (also behind a
//! redirect), images past the size limit, and anything that is not an image.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{StatusCode as AxumStatus, header};
use axum::response::{IntoResponse, Redirect};
use reqwest::StatusCode;
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{FriendsOnTheApp, card};
use crate::helpers::TestApp;

on_both_backends!(
    card_images_are_served_from_this_origin_and_refused_when_they_must_be,
    card_images_on_private_addresses_are_never_fetched,
);

/// A 1×1 transparent PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// A partner's image host on loopback, counting the requests it gets.
struct ImageHost {
    base: String,
    hits: Arc<AtomicUsize>,
}

async fn image_host() -> ImageHost {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let router = axum::Router::new()
        .route(
            "/ok.png",
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }),
        )
        .route(
            "/big.png",
            axum::routing::get(|| async {
                let mut body = PNG.to_vec();
                body.resize(64 * 1024, 0);
                ([(header::CONTENT_TYPE, "image/png")], body)
            }),
        )
        .route(
            // Says it is an image; is a page with script.
            "/page.png",
            axum::routing::get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/png")],
                    "<html><script>alert(1)</script></html>",
                )
            }),
        )
        .route(
            "/vector.svg",
            axum::routing::get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/svg+xml")],
                    "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
                )
            }),
        )
        .route(
            "/to-metadata.png",
            axum::routing::get(|| async {
                Redirect::temporary("http://169.254.169.254/latest/meta-data.png")
            }),
        )
        .route(
            "/gone.png",
            axum::routing::get(|| async { AxumStatus::NOT_FOUND.into_response() }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    next.run(request).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    ImageHost { base, hits }
}

/// Alice sends Bob one card per image URL; returns the `image` path of each, in order.
async fn cards_with_images(app: &TestApp, urls: &[String]) -> (Vec<String>, String) {
    let streamflix = app.partner("Streamflix", false).await;
    let FriendsOnTheApp {
        bob,
        bob_id,
        tokens,
        ..
    } = app.friends_on_the_app(&streamflix).await;
    for url in urls {
        let mut with_image = card();
        with_image["image_url"] = json!(url);
        let sent = app
            .partner_send(
                &tokens.access,
                None,
                json!({ "to": [bob_id], "card": with_image }),
            )
            .await;
        assert_eq!(sent.status(), StatusCode::CREATED);
    }
    let (_, messages) = app.latest_conversation(&bob.token).await;
    let mut images: Vec<String> = messages
        .iter()
        .rev()
        .map(|m: &Value| m["card"]["image"].as_str().unwrap().to_owned())
        .collect();
    images.truncate(urls.len());
    // The app's own address is given as such, and the image to show is on this origin.
    for message in &messages {
        assert!(
            message["card"]["image"]
                .as_str()
                .unwrap()
                .starts_with("/img/")
        );
    }
    (images, bob.token)
}

async fn card_images_are_served_from_this_origin_and_refused_when_they_must_be(db: TestDatabase) {
    let host = image_host().await;
    let app = TestApp::spawn_with(db, |config| {
        // The test's image host is on loopback: allowed here, as an intranet partner would be.
        config.media.image_allowed_networks = vec!["127.0.0.1/32".parse().unwrap()];
        config.media.image_max_bytes = 32 * 1024;
    })
    .await;
    let names = [
        "ok.png",
        "big.png",
        "page.png",
        "vector.svg",
        "to-metadata.png",
        "gone.png",
    ];
    let urls: Vec<String> = names.iter().map(|n| format!("{}/{n}", host.base)).collect();
    let (images, token) = cards_with_images(&app, &urls).await;
    let get = |path: String| {
        let app = &app;
        let token = token.clone();
        async move { app.get(&path, &token).await }
    };

    let served = get(images[0].clone()).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(
        served.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    // A second view comes from the cache: the partner is not asked again.
    let before = host.hits.load(Ordering::SeqCst);
    assert_eq!(get(images[0].clone()).await.status(), StatusCode::OK);
    assert_eq!(host.hits.load(Ordering::SeqCst), before);

    // Too large, not an image whatever it says, SVG, a redirect to a private address, and
    // an image the partner no longer has: all the same 404.
    for (name, image) in names.iter().zip(&images).skip(1) {
        let refused = get(image.clone()).await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{name}");
    }
    // Tokens that name no card, or are not tokens at all.
    for path in [
        "/img/aaaaaaaaaaaaaaaaaaaaaaaa",
        "/img/..%2F..%2Fetc",
        "/img/x",
    ] {
        assert_eq!(
            get(path.to_owned()).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

async fn card_images_on_private_addresses_are_never_fetched(db: TestDatabase) {
    let host = image_host().await;
    let app = TestApp::spawn(db).await;
    let urls = vec![
        format!("{}/ok.png", host.base),
        // By name too: localhost resolves to loopback, which is refused as it resolves.
        host.base.replace("127.0.0.1", "localhost") + "/ok.png",
    ];
    let (images, token) = cards_with_images(&app, &urls).await;
    for image in &images {
        assert_eq!(app.get(image, &token).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        host.hits.load(Ordering::SeqCst),
        0,
        "nothing was fetched from a loopback address"
    );
}
