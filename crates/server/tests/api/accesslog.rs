//! The access log over HTTP: what gets logged, the member's views of it, the proofs, and
//! offline verification of exports taken from a database someone tampered with.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use confidant_core::accesslog::Action;
use confidant_core::partner::{PartnerError, PartnerRequest};
use confidant_log::export::hash_from_base64;
use confidant_log::tree::{self, Frontier};
use confidant_log::{Export, PublicKey, checkpoint};
use confidant_store::testing::TestDatabase;
use confidant_store::{Backend, on_both_backends};

use crate::helpers::{PASSWORD, TestApp};
use crate::oauth::{Partner, Tokens};

const BIN: &str = env!("CARGO_BIN_EXE_confidant");

on_both_backends!(
    partner_calls_token_changes_and_refusals_are_all_logged,
    proofs_over_http_verify_against_the_signed_checkpoint,
    tampering_with_the_database_fails_verification,
    the_settings_page_shows_the_timeline_and_filters_by_app,
);

impl TestApp {
    /// `GET /partner/v1/me`, the partner offering a request id of its own choosing.
    async fn me_as(&self, access: &str, request_id: &str) -> StatusCode {
        self.me_with_id(access, request_id).await.0
    }

    /// The same, with the id the server gave the request (the one its log records).
    async fn me_with_id(&self, access: &str, request_id: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(self.url("/partner/v1/me"))
            .bearer_auth(access)
            .header("x-request-id", request_id)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        (response.status(), id)
    }

    async fn log_entries(&self, token: &str) -> Vec<Value> {
        let page: Value = self.json("/api/v1/me/access-log?limit=200", token).await;
        let mut entries = page["entries"].as_array().unwrap().clone();
        entries.reverse();
        entries
    }

    async fn text(&self, path: &str, token: &str) -> String {
        let response = self.get(path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    async fn public_key(&self) -> PublicKey {
        let text = self
            .client
            .get(self.url("/.well-known/confidant-log-key"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        PublicKey::parse(&text).unwrap()
    }

    /// A member with `calls` logged partner calls: consent, token issue, then `/me` calls.
    pub(crate) async fn member_with_log(
        &self,
        handle: &str,
        partner: &Partner,
        calls: usize,
    ) -> String {
        let browser = self.browser(handle).await;
        let Tokens { access, .. } = self.tokens(&browser, partner, "profile").await;
        for n in 0..calls {
            assert_eq!(
                self.me_as(&access, &format!("{handle}-{n}")).await,
                StatusCode::OK
            );
        }
        self.log_in(handle, PASSWORD).await
    }
}

fn summary(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let mut line = format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            );
            if let Some(reason) = e["reason"].as_str() {
                line = format!("{line} {reason}");
            }
            line
        })
        .collect()
}

async fn partner_calls_token_changes_and_refusals_are_all_logged(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let browser = app.browser("alice").await;
    let alice = app.log_in("alice", PASSWORD).await;

    let first = app.tokens(&browser, &streamflix, "profile").await;
    let (status, first_id) = app.me_with_id(&first.access, "req-me-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        first_id, "req-me-1",
        "the request id is the server's, not the caller's"
    );
    // A scope the token does not carry: refused, and the refusal is logged.
    let call = PartnerRequest {
        token: Some(first.access.clone()),
        request_id: "req-friends".into(),
    };
    assert!(matches!(
        app.core
            .partner_authorize(&call, Action::FriendsList, Vec::new())
            .await,
        Err(PartnerError::InsufficientScope(_))
    ));
    let refreshed =
        crate::oauth::tokens_of(app.refresh(&streamflix, &first.refresh, None).await).await;
    // The partner gives up the first access token, then tries it again.
    let revoked = app
        .client_post(&streamflix, "/oauth/revoke", &first.access)
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let (status, revoked_id) = app.me_with_id(&first.access, "req-revoked").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The old refresh token again: reuse, so the whole family goes.
    assert_eq!(
        app.refresh(&streamflix, &first.refresh, None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.me_as(&refreshed.access, "req-family").await,
        StatusCode::UNAUTHORIZED
    );

    // Connect again, let the token expire, then disconnect and try once more.
    let second = app.tokens(&browser, &streamflix, "profile").await;
    app.clock.advance_secs(11 * 60);
    assert_eq!(
        app.me_as(&second.access, "req-expired").await,
        StatusCode::UNAUTHORIZED
    );
    let third =
        crate::oauth::tokens_of(app.refresh(&streamflix, &second.refresh, None).await).await;
    let disconnected = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/apps/{}", streamflix.client_id),
            Some(&alice),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(disconnected.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.me_as(&third.access, "req-after-disconnect").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&streamflix, &third.refresh, None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // A token nobody ever issued names no member: nothing to log, nothing leaks.
    assert_eq!(
        app.me_as("cfd_at_made_up", "req-unknown").await,
        StatusCode::UNAUTHORIZED
    );

    let entries = app.log_entries(&alice).await;
    assert_eq!(
        summary(&entries),
        [
            "consent.grant allowed",
            "token.issue allowed",
            "profile.read allowed",
            "friends.list denied insufficient_scope",
            "token.refresh allowed",
            "token.revoke allowed",
            "profile.read denied token_revoked",
            "token.refresh denied refresh_token_reused",
            "profile.read denied refresh_token_reused",
            "token.issue allowed",
            "profile.read denied token_expired",
            "token.refresh allowed",
            "consent.revoke allowed",
            "profile.read denied grant_revoked",
            "token.refresh denied grant_revoked",
        ]
    );
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (0..entries.len() as u64).collect::<Vec<_>>(),
        "gapless"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["app"] == streamflix.client_id.as_str())
    );
    assert_eq!(entries[2]["request_id"], first_id.as_str());
    assert_eq!(entries[2]["scope"], "profile");
    assert_eq!(entries[2]["text"], "Streamflix read your name");
    assert_eq!(entries[6]["request_id"], revoked_id.as_str());
    assert_eq!(
        entries[13]["text"],
        "Streamflix was refused your name: you had disconnected it"
    );
    assert_eq!(entries[12]["text"], "You disconnected Streamflix");

    // Another member's log holds none of this.
    let bob = app.sign_up("bob").await;
    assert!(app.log_entries(&bob.token).await.is_empty());
}

async fn proofs_over_http_verify_against_the_signed_checkpoint(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let alice = app.member_with_log("alice", &streamflix, 3).await;
    let key = app.public_key().await;

    let earlier = app.text("/api/v1/me/access-log/checkpoint", &alice).await;
    let earlier = checkpoint::open(&earlier, &key).unwrap();
    assert_eq!(earlier.size, 5);
    let id = app.json("/api/v1/me", &alice).await["id"].as_i64().unwrap();
    assert!(
        earlier.origin.ends_with(&format!("/access-log/{id}")),
        "{}",
        earlier.origin
    );

    let browser = app.browser_for("alice").await;
    let more = app.tokens(&browser, &streamflix, "profile").await;
    for n in 0..4 {
        app.me_as(&more.access, &format!("more-{n}")).await;
    }
    let now = app.text("/api/v1/me/access-log/checkpoint", &alice).await;
    let now = checkpoint::open(&now, &key).unwrap();
    assert_eq!(now.size, 10);

    let hashes = |proof: &Value| -> Vec<tree::Hash> {
        proof
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hash_from_base64(h.as_str().unwrap()).unwrap())
            .collect()
    };
    for seq in [0, 3, 9] {
        let body: Value = app
            .json(
                &format!("/api/v1/me/access-log/inclusion?seq={seq}"),
                &alice,
            )
            .await;
        let leaf = hash_from_base64(body["leaf_hash"].as_str().unwrap()).unwrap();
        tree::verify_inclusion(&hashes(&body["proof"]), seq, 10, now.root, leaf).unwrap();
        assert_eq!(body["entry"]["seq"], seq);
    }
    // Against the earlier, smaller checkpoint too.
    let body: Value = app
        .json("/api/v1/me/access-log/inclusion?seq=2&size=5", &alice)
        .await;
    let leaf = hash_from_base64(body["leaf_hash"].as_str().unwrap()).unwrap();
    tree::verify_inclusion(&hashes(&body["proof"]), 2, 5, earlier.root, leaf).unwrap();

    let body: Value = app
        .json("/api/v1/me/access-log/consistency?first=5", &alice)
        .await;
    assert_eq!(body["second"], 10);
    tree::verify_consistency(&hashes(&body["proof"]), 5, 10, earlier.root, now.root).unwrap();

    for bad in [
        "/api/v1/me/access-log/inclusion?seq=10",
        "/api/v1/me/access-log/inclusion?seq=1&size=11",
        "/api/v1/me/access-log/consistency?first=0",
        "/api/v1/me/access-log/consistency?first=8&second=6",
        "/api/v1/me/access-log/inclusion?seq=minus-one",
    ] {
        let response = app.get(bad, &alice).await;
        assert!(
            matches!(
                response.status(),
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST
            ),
            "{bad}: {}",
            response.status()
        );
    }
    let anonymous = app
        .client
        .get(app.url("/api/v1/me/access-log/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The key lives in the data directory, owner-only, and survives a restart.
    let key_file = app.data_dir.path().join("access-log.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let config = confidant_server::config::Config {
        data_dir: app.data_dir.path().to_owned(),
        ..Default::default()
    };
    let reloaded = confidant_server::startup::log_signer(&config).unwrap();
    assert_eq!(reloaded.public_key(), key.as_str());
}

/// The export of `token`'s log, written to a file for the CLI.
async fn export_to(
    app: &TestApp,
    token: &str,
    dir: &std::path::Path,
    name: &str,
) -> std::path::PathBuf {
    let response = app.get("/api/v1/me/access-log/export", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let path = dir.join(name);
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    path
}

fn verify(
    file: &std::path::Path,
    key: &PublicKey,
    previous: Option<&std::path::Path>,
) -> (bool, String) {
    let mut command = Command::new(BIN);
    command
        .args(["log", "verify"])
        .arg(file)
        .args(["--public-key", key.as_str()]);
    if let Some(previous) = previous {
        command.arg("--previous").arg(previous);
    }
    let out = command.env("RUST_BACKTRACE", "0").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

async fn tampering_with_the_database_fails_verification(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let key = app.public_key().await;
    let dir = tempfile::tempdir().unwrap();
    let store = &app.db.store;

    // Four members, each with a log of 8 entries and a checkpoint saved now.
    let mut members = Vec::new();
    for handle in ["edited", "deleted", "reordered", "truncated"] {
        let token = app.member_with_log(handle, &streamflix, 6).await;
        let saved = dir.path().join(format!("{handle}.checkpoint"));
        std::fs::write(
            &saved,
            app.text("/api/v1/me/access-log/checkpoint", &token).await,
        )
        .unwrap();
        let id: i64 = app.json("/api/v1/me", &token).await["id"].as_i64().unwrap();
        members.push((handle, token, id, saved));
    }
    for (handle, token, _, saved) in &members {
        let file = export_to(&app, token, dir.path(), &format!("{handle}-before.json")).await;
        let (ok, out) = verify(&file, &key, Some(saved));
        assert!(ok, "{handle}: {out}");
        assert!(out.contains("verified 8 entries"), "{out}");
        assert!(
            out.contains("consistent with the earlier checkpoint of 8 entries"),
            "{out}"
        );
    }

    let [edited, deleted, reordered, truncated] = &members[..] else {
        unreachable!()
    };
    // A denial rewritten as an allowed read of someone else.
    store
        .execute_raw(&format!(
            "UPDATE access_log_entries SET objects = 'member:99' WHERE member_id = {} AND seq = 3",
            edited.2
        ))
        .await
        .unwrap();
    store
        .execute_raw(&format!(
            "DELETE FROM access_log_entries WHERE member_id = {} AND seq = 4",
            deleted.2
        ))
        .await
        .unwrap();
    for sql in [
        "UPDATE access_log_entries SET seq = -1 WHERE member_id = {id} AND seq = 2",
        "UPDATE access_log_entries SET seq = 2 WHERE member_id = {id} AND seq = 5",
        "UPDATE access_log_entries SET seq = 5 WHERE member_id = {id} AND seq = -1",
    ] {
        store
            .execute_raw(&sql.replace("{id}", &reordered.2.to_string()))
            .await
            .unwrap();
    }
    // Truncation done carefully: the head is rewritten to a consistent smaller tree, so the
    // server signs it without complaint. Only the saved checkpoint can tell.
    let export: Export =
        serde_json::from_value(app.json("/api/v1/me/access-log/export", &truncated.1).await)
            .unwrap();
    let mut frontier = Frontier::empty();
    for exported in &export.entries[..5] {
        frontier.push(exported.entry.leaf_hash());
    }
    let root = hex(&frontier.root().0);
    let root_literal = match store.backend() {
        Backend::Sqlite => format!("X'{root}'"),
        Backend::Postgres => format!("decode('{root}', 'hex')"),
    };
    for sql in [
        format!(
            "DELETE FROM access_log_entries WHERE member_id = {} AND seq >= 5",
            truncated.2
        ),
        format!(
            "UPDATE access_log_heads SET size = 5, root = {root_literal} WHERE member_id = {}",
            truncated.2
        ),
    ] {
        store.execute_raw(&sql).await.unwrap();
    }

    for ((handle, token, _, saved), expected) in members.iter().zip([
        "the first 8 entries no longer hash to the earlier checkpoint's root: the log was rewritten",
        "the file has 7 entries but the checkpoint covers 8",
        "the first 8 entries no longer hash to the earlier checkpoint's root: the log was rewritten",
        "the log has 5 entries but an earlier checkpoint had 8: it was truncated",
    ]) {
        let file = export_to(&app, token, dir.path(), &format!("{handle}-after.json")).await;
        let (ok, out) = verify(&file, &key, Some(saved));
        assert!(!ok, "{handle} must fail: {out}");
        assert!(out.contains(expected), "{handle}: {out}");
    }
    // Without the saved checkpoint, an edit still breaks the signed root.
    let file = dir.path().join("edited-after.json");
    let (ok, out) = verify(&file, &key, None);
    assert!(
        !ok && out.contains("does not match the signed checkpoint"),
        "{out}"
    );
    // A checkpoint under another key is refused with the reason.
    let (other, _) = confidant_log::LogSigner::generate("elsewhere").unwrap();
    let other = PublicKey::parse(other.public_key()).unwrap();
    let file = dir.path().join("deleted-before.json");
    let (ok, out) = verify(&file, &other, None);
    assert!(!ok && out.contains("is not signed by the key"), "{out}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn the_settings_page_shows_the_timeline_and_filters_by_app(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let bookshop = app.partner("Bookshop", true).await;
    let browser = app.browser("alice").await;
    let films = app.tokens(&browser, &streamflix, "profile").await;
    let books = app.tokens(&browser, &bookshop, "profile").await;
    app.me_as(&films.access, "f1").await;
    app.me_as(&books.access, "b1").await;
    app.clock.advance_secs(11 * 60);
    app.me_as(&books.access, "b2").await;

    let html = browser.page(&app, "/settings/access-log").await;
    assert!(html.contains("Streamflix read your name"), "{html}");
    assert!(html.contains("Bookshop was refused your name: its access token had expired"));
    assert!(html.contains("You connected Bookshop (profile)"));
    assert!(html.contains("class=\"log-entry denied\""));
    assert!(html.contains(&app.public_key().await.as_str().to_owned()));
    assert!(html.contains("/access-log/"), "the checkpoint is shown");

    let filtered = browser
        .page(
            &app,
            &format!("/settings/access-log?app={}", bookshop.client_id),
        )
        .await;
    assert!(filtered.contains("Bookshop"));
    assert!(!filtered.contains("Streamflix read your name"));
    assert!(filtered.contains(&format!(
        "/api/v1/me/access-log/export?app={}",
        bookshop.client_id
    )));

    // The filtered download carries a proof per entry, and verifies.
    let export: Export = browser
        .client
        .get(app.url(&format!(
            "/api/v1/me/access-log/export?app={}",
            bookshop.client_id
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!export.complete);
    assert_eq!(export.entries.len(), 4);
    let verified =
        confidant_log::export::verify(&export, Some(&app.public_key().await), None).unwrap();
    assert_eq!((verified.entries, verified.size), (4, 7));
    // It says what it proves: inclusion, not that nothing else of the app's is in the log.
    assert_eq!(
        export.note.as_deref(),
        Some(confidant_log::export::SELECTION_NOTE)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("selection.json");
    std::fs::write(&file, serde_json::to_string(&export).unwrap()).unwrap();
    let (ok, out) = verify(&file, &app.public_key().await, None);
    assert!(ok, "{out}");
    assert!(out.contains("holds a selection of the log"), "{out}");
    assert!(
        out.contains("not that the log holds no other entries"),
        "{out}"
    );

    // The registry publishes the key; a visitor needs no account to read it.
    let registry = app
        .client
        .get(app.url("/apps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(registry.contains(app.public_key().await.as_str()));
    let anonymous = app
        .client
        .get(app.url("/settings/access-log"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
}
