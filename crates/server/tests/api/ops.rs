use reqwest::StatusCode;

use confidant_core::store::MessagingStore;
use confidant_core::{ConversationId, MemberId};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::TestApp;

on_both_backends!(
    metrics_need_the_configured_token,
    health_readiness_metrics_and_api_description,
    graceful_shutdown_keeps_every_acknowledged_message
);

async fn health_readiness_metrics_and_api_description(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    app.send(&alice, conversation, "counted").await;

    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().contains_key("x-request-id"));
    // A caller's own id is not echoed, and oversized headers are refused before anything
    // reads them.
    let mine = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "chosen-by-the-caller")
        .send()
        .await
        .unwrap();
    assert_ne!(mine.headers()["x-request-id"], "chosen-by-the-caller");
    let huge = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let body = huge.text().await.unwrap();
    assert!(body.len() < 200, "nothing echoed: {body}");
    assert!(body.contains("\"error\":\"headers_too_large\""), "{body}");
    assert_eq!(
        reqwest::get(app.url("/readyz")).await.unwrap().status(),
        StatusCode::OK
    );
    // A path no route has is counted too, under one label whatever the path.
    assert_eq!(
        reqwest::get(app.url("/no/such/page/42"))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"method="GET",route="unmatched",status="404""#),
        "{metrics}"
    );
    assert!(!metrics.contains("/no/such/page"), "{metrics}");
    assert!(
        metrics.contains("confidant_messages_sent_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/api/v1/conversations/{id}/messages\""));
    assert!(metrics.contains("confidant_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("confidant_live_connections"));

    let openapi: serde_json::Value = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/accounts",
        "/api/v1/sessions",
        "/api/v1/conversations/{id}/messages",
        "/api/v1/events",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is documented");
    }
    let docs = reqwest::get(app.url("/docs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(docs.contains("/api/v1/conversations/{id}/messages"));
}

async fn graceful_shutdown_keeps_every_acknowledged_message(db: TestDatabase) {
    let mut app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    // An open event stream must not hold the shutdown up.
    let _stream = app.get("/api/v1/events", &bob.token).await;
    let mut acknowledged = 0;
    for n in 0..20 {
        if app
            .send(&alice, conversation, &format!("m{n}"))
            .await
            .status()
            == StatusCode::CREATED
        {
            acknowledged += 1;
        }
    }
    app.shut_down().await;
    let stored = app
        .db
        .store
        .messages(ConversationId(conversation), MemberId(bob.id), None, 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), acknowledged);
    assert!(
        reqwest::get(app.url("/healthz")).await.is_err(),
        "the server is gone"
    );
}

async fn metrics_need_the_configured_token(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| {
        config.server.metrics_token = Some(confidant_server::config::MetricsToken(
            "scrape-me-please".into(),
        ));
    })
    .await;
    // Without the token, or with another, there is nothing here.
    for token in [None, Some("wrong"), Some("scrape-me-pleasE")] {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{token:?}");
    }
    let scraped = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me-please")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("# EOF"));
}
