//! The whole flow driven by the `oauth2` crate, as an ordinary partner integration would.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    RevocationUrl, Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::Value;

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{hidden_fields, redirect_params};
use crate::helpers::{TestApp, TestMember};

on_both_backends!(an_oauth2_crate_client_connects_refreshes_and_revokes);

async fn an_oauth2_crate_client_connects_refreshes_and_revokes(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let partner = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;

    let client = BasicClient::new(ClientId::new(partner.client_id.clone()))
        .set_client_secret(ClientSecret::new(partner.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        // RFC 7009 makes clients insist on https for revocation; see `tls_terminator`.
        .set_revocation_url(
            RevocationUrl::new(app.url("/oauth/revoke").replacen("http:", "https:", 1)).unwrap(),
        )
        .set_redirect_uri(RedirectUrl::new(partner.redirect_uri.clone()).unwrap());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // 1. The partner sends the member to the authorization URL, with PKCE.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("messages:send".into()))
        .set_pkce_challenge(challenge)
        .url();

    // 2. The logged-in member reads the consent page and allows it.
    let page = browser
        .client
        .get(authorize_url.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let mut form = hidden_fields(&page.text().await.unwrap());
    form.push(("grant".into(), "messages:send".into()));
    form.push(("decision".into(), "allow".into()));
    let back = browser
        .client
        .post(app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let params = redirect_params(&back);
    assert_eq!(
        &params["state"],
        state.secret(),
        "state comes back unchanged"
    );
    assert_eq!(params["iss"], app.address, "RFC 9207 issuer");

    // 3. The partner's backend exchanges the code.
    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let granted: Vec<String> = tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(granted, ["profile", "messages:send"]);
    assert_eq!(tokens.expires_in().unwrap().as_secs(), 600);

    // 4. It calls the partner API.
    let me = app.partner_me(tokens.access_token().secret()).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["display_name"], "ALICE");

    // 5. It refreshes: a new access token and a rotated refresh token.
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret()
    );
    let access = refreshed.access_token().secret().clone();
    assert_eq!(app.partner_me(&access).await.status(), StatusCode::OK);

    // 6. It sends a recommendation to a friend who also uses it; the friend sees it in their
    // conversation with Alice, labelled with the app.
    let alice = app.log_in("alice", crate::helpers::PASSWORD).await;
    let alice = TestMember {
        id: app.json("/api/v1/me", &alice).await["id"].as_i64().unwrap(),
        handle: "alice".into(),
        token: alice,
    };
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let bob_browser = app.browser_for("bob").await;
    let bobs = app.tokens(&bob_browser, &partner, "profile").await;
    let bob_id: Value = app.partner_me(&bobs.access).await.json().await.unwrap();
    let sent = http
        .post(app.url("/partner/v1/messages"))
        .bearer_auth(&access)
        .json(&serde_json::json!({
            "to": [bob_id["id"]],
            "text": "We should watch this",
            "card": {
                "title": "The Long Night",
                "url": "https://streamflix.example/title/title-42",
                "item_id": "title-42",
                "interface": "web",
                "initiation_surface": "title_page",
                "variation": "default",
            },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    let (_, messages) = app.latest_conversation(&bob.token).await;
    let received = &messages[0];
    assert_eq!(received["body"], "We should watch this");
    assert_eq!(received["sender"]["handle"], "alice");
    assert_eq!(received["via_app"]["name"], "Streamflix");
    assert_eq!(received["card"]["title"], "The Long Night");

    // 7. It revokes the refresh token, and with it the whole family: the next call is 401.
    // The test server speaks plain HTTP; in a deployment a TLS-terminating proxy sits in
    // front of it. This client plays that proxy for the one https URL.
    let tls_terminator = |mut request: oauth2::HttpRequest| {
        let http = http.clone();
        async move {
            let plain = request.uri().to_string().replacen("https:", "http:", 1);
            *request.uri_mut() = plain.parse().unwrap();
            oauth2::AsyncHttpClient::call(&http, request).await
        }
    };
    client
        .revoke_token(StandardRevocableToken::RefreshToken(
            refreshed.refresh_token().unwrap().clone(),
        ))
        .unwrap()
        .request_async(&tls_terminator)
        .await
        .expect("revocation");
    assert_eq!(
        app.partner_me(&access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let replay = client
        .exchange_refresh_token(refreshed.refresh_token().unwrap())
        .request_async(&http)
        .await;
    assert!(replay.is_err(), "a revoked refresh token is refused");
}
