//! Web Push over the JSON API: a browser subscribes, new messages reach its push service
//! encrypted to it (decrypted here with the browser's own key), only the text the member
//! opted into is in them, a browser watching the live stream is not pushed to, failures are
//! retried, a subscription the push service says is gone is dropped, and a muted app never
//! notifies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use web_push_native::{Auth, p256};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{TestApp, TestMember, assert_error};
use crate::partner::{ALL_SCOPES, card};

on_both_backends!(
    pushes_reach_the_browser_encrypted_to_it_with_only_what_it_opted_into,
    a_watching_browser_is_not_pushed_to_and_failures_are_retried_or_dropped,
    subscriptions_are_checked_and_muted_apps_never_notify,
);

/// A push service on loopback: keeps what it receives and answers with the statuses it is
/// given, in turn (201 once they run out).
struct PushService {
    url: String,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl PushService {
    async fn start(answers: Vec<u16>) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let log = received.clone();
        let router = axum::Router::new().route(
            "/push/{device}",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (log, answers) = (log.clone(), answers.clone());
                async move {
                    log.lock().unwrap().push((headers, body));
                    let status = answers.lock().unwrap().next().unwrap_or(201);
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/push", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        PushService { url, received }
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Waits for push number `n` (from 1) to arrive, and returns it.
    async fn nth(&self, n: usize) -> (HeaderMap, Bytes) {
        for _ in 0..200 {
            if let Some(push) = self.received.lock().unwrap().get(n - 1) {
                return push.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("push {n} never arrived ({} did)", self.count());
    }
}

/// A browser's side of a subscription: its key pair and authentication secret.
struct Device {
    secret: p256::SecretKey,
    auth: [u8; 16],
    endpoint: String,
}

impl Device {
    fn new(service: &PushService, name: &str) -> Self {
        let secret = loop {
            if let Ok(secret) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                break secret;
            }
        };
        Device {
            secret,
            auth: rand::random(),
            endpoint: format!("{}/{name}", service.url),
        }
    }

    fn subscription(&self, show_text: bool) -> Value {
        let public = self.secret.public_key();
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&public, false);
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
            "show_text": show_text,
        })
    }

    /// What the browser reads from a push: decrypted with its own key (RFC 8291).
    fn read(&self, body: &Bytes) -> Value {
        let plain = web_push_native::decrypt(
            body.to_vec(),
            &self.secret,
            &Auth::clone_from_slice(&self.auth),
        )
        .expect("a push this browser can decrypt");
        serde_json::from_slice(&plain).unwrap()
    }
}

async fn subscribe(app: &TestApp, member: &TestMember, body: Value) -> reqwest::Response {
    app.post("/api/v1/push/subscriptions", &member.token, body)
        .await
}

async fn loopback_app(db: TestDatabase) -> TestApp {
    TestApp::spawn_with(db, |config| {
        config.push.allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
}

async fn pushes_reach_the_browser_encrypted_to_it_with_only_what_it_opted_into(db: TestDatabase) {
    let app = loopback_app(db).await;
    let service = PushService::start(Vec::new()).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;

    let key = app.json("/api/v1/push/key", &bob.token).await;
    assert_eq!(key["enabled"], true);
    let vapid_key = URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (vapid_key.len(), vapid_key[0]),
        (65, 4),
        "an uncompressed P-256 point"
    );

    let phone = Device::new(&service, "phone");
    let subscribed = subscribe(&app, &bob, phone.subscription(false)).await;
    assert_eq!(subscribed.status(), StatusCode::CREATED);
    let subscribed: Value = subscribed.json().await.unwrap();
    assert_eq!(subscribed["show_text"], false);
    let listed = app.json("/api/v1/push/subscriptions", &bob.token).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        app.json("/api/v1/push/subscriptions", &alice.token)
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Without the text: who wrote, and where it leads.
    app.send(&alice, conversation, "the lighthouse at eight")
        .await;
    let (headers, body) = service.nth(1).await;
    assert_eq!(headers["content-encoding"], "aes128gcm");
    assert!(headers.contains_key("ttl"));
    let authorization = headers["authorization"].to_str().unwrap();
    assert!(authorization.starts_with("vapid t="), "{authorization}");
    assert!(authorization.contains(&format!("k={}", key["public_key"].as_str().unwrap())));
    assert!(
        !body.windows(10).any(|window| window == b"lighthouse"),
        "sent encrypted"
    );
    let push = phone.read(&body);
    assert_eq!(push["title"], "ALICE");
    assert_eq!(push["body"], "New message");
    assert_eq!(push["tag"], format!("conversation-{conversation}"));
    assert!(
        push["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/c/{conversation}#m"))
    );

    // Opting into the text, by subscribing the same browser again.
    let again = subscribe(&app, &bob, phone.subscription(true)).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(
        app.json("/api/v1/push/subscriptions", &bob.token)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.send(&alice, conversation, "bring a torch").await;
    let (_, body) = service.nth(2).await;
    assert_eq!(phone.read(&body)["body"], "bring a torch");
    // Nobody is pushed their own messages.
    app.send(&bob, conversation, "will do").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(service.count(), 2);

    // Turned off: no more pushes; someone else's subscription cannot be turned off.
    let id = again.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let path = format!("/api/v1/push/subscriptions/{id}");
    let theirs = app
        .request(Method::DELETE, &path, Some(&alice.token))
        .send()
        .await
        .unwrap();
    assert_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
    let off = app
        .request(Method::DELETE, &path, Some(&bob.token))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    app.send(&alice, conversation, "are you coming?").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(service.count(), 2);
}

async fn a_watching_browser_is_not_pushed_to_and_failures_are_retried_or_dropped(db: TestDatabase) {
    let app = loopback_app(db).await;
    // The first push fails (the service is down), the last says the browser unsubscribed.
    let service = PushService::start(vec![201, 503, 201, 201, 410]).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    let laptop = Device::new(&service, "laptop");
    let subscribed: Value = subscribe(&app, &bob, laptop.subscription(true))
        .await
        .json()
        .await
        .unwrap();
    let device = subscribed["id"].as_i64().unwrap();

    // While Bob's browser has the live stream open, it sees messages there: no push.
    let stream = app
        .request(
            Method::GET,
            &format!("/api/v1/events?device={device}"),
            Some(&bob.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    app.send(&alice, conversation, "seen live").await;
    drop(stream);
    // Closing the stream ends the watch; the next message is pushed, and it is the first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.send(&alice, conversation, "pushed").await;
    assert_eq!(laptop.read(&service.nth(1).await.1)["body"], "pushed");

    // A failed push is tried again later.
    app.send(&alice, conversation, "try again").await;
    assert_eq!(laptop.read(&service.nth(2).await.1)["body"], "try again");
    app.clock.advance_secs(3600);
    app.send(&alice, conversation, "next").await;
    let mut bodies = vec![
        laptop.read(&service.nth(3).await.1)["body"].clone(),
        laptop.read(&service.nth(4).await.1)["body"].clone(),
    ];
    bodies.sort_by_key(|body| body.to_string());
    assert_eq!(bodies, vec![json!("next"), json!("try again")]);

    // 410: the browser unsubscribed; the subscription goes.
    app.send(&alice, conversation, "gone?").await;
    service.nth(5).await;
    for _ in 0..100 {
        let left = app.json("/api/v1/push/subscriptions", &bob.token).await;
        if left.as_array().unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the subscription the push service called gone was kept");
}

async fn subscriptions_are_checked_and_muted_apps_never_notify(db: TestDatabase) {
    let app = loopback_app(db).await;
    let service = PushService::start(Vec::new()).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (alice, alice_browser) = app.member("alice").await;
    let (bob, bob_browser) = app.member("bob").await;

    // Only loopback was allowed here: a subscription cannot aim the server anywhere else
    // inside its network.
    for inward in [
        "http://10.0.0.7/push/x",
        "http://[::1]:8080/push/x",
        "http://169.254.169.254/latest",
    ] {
        let mut aimed = Device::new(&service, "x").subscription(false);
        aimed["endpoint"] = json!(inward);
        let refused = subscribe(&app, &bob, aimed).await;
        assert_error(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "endpoint_not_allowed",
        )
        .await;
    }
    let mut bad_key = Device::new(&service, "y").subscription(false);
    bad_key["keys"]["p256dh"] = json!("AAAA");
    let refused = subscribe(&app, &bob, bad_key).await;
    assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_key").await;
    let mut not_a_url = Device::new(&service, "z").subscription(false);
    not_a_url["endpoint"] = json!("javascript:alert(1)");
    let refused = subscribe(&app, &bob, not_a_url).await;
    assert_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_endpoint",
    )
    .await;
    let none = app.json("/api/v1/push/subscriptions", &bob.token).await;
    assert!(none.as_array().unwrap().is_empty());

    // A muted app's recommendation notifies no one; a friend's message still does.
    app.befriend(&alice, &bob).await;
    let bob_id = app.pseudonym(&bob_browser, &streamflix).await;
    let tokens = app.tokens(&alice_browser, &streamflix, ALL_SCOPES).await;
    let tablet = Device::new(&service, "tablet");
    let subscribed = subscribe(&app, &bob, tablet.subscription(true)).await;
    assert_eq!(subscribed.status(), StatusCode::CREATED);
    let mute_path = format!("/api/v1/me/muted-apps/{}", streamflix.client_id);
    let muted = app
        .request(Method::PUT, &mute_path, Some(&bob.token))
        .send()
        .await
        .unwrap();
    assert_eq!(muted.status(), StatusCode::NO_CONTENT);
    let sent = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "text": "watch this", "card": card() }),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let conversation = app.direct(&alice, &bob).await;
    app.send(&alice, conversation, "did you see it?").await;
    let push = tablet.read(&service.nth(1).await.1);
    assert_eq!(push["body"], "did you see it?");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        service.count(),
        1,
        "the muted app's recommendation was pushed"
    );
}
