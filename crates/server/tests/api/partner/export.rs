//! The member's own export: one zip with everything Confidant holds about them, and a walk
//! of the schema that fails on any table the export neither covers nor excludes with a reason.

use std::io::Read;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_server::http::api::export::COVERAGE;
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{FriendsOnTheApp, card};
use crate::helpers::TestApp;

on_both_backends!(
    the_export_holds_the_members_data_and_nobody_elses,
    every_table_is_exported_or_excluded_with_a_reason,
);

/// The archive's files, by name.
pub(crate) fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).unwrap();
            let mut contents = Vec::new();
            file.read_to_end(&mut contents).unwrap();
            (file.name().to_owned(), contents)
        })
        .collect()
}

fn json_of(files: &std::collections::BTreeMap<String, Vec<u8>>, name: &str) -> Value {
    serde_json::from_slice(
        files
            .get(name)
            .unwrap_or_else(|| panic!("{name} is missing")),
    )
    .unwrap()
}

async fn the_export_holds_the_members_data_and_nobody_elses(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let FriendsOnTheApp {
        alice,
        bob,
        bob_id,
        tokens,
        ..
    } = app.friends_on_the_app(&streamflix).await;
    let carol = app.sign_up("carol").await;
    let dave = app.sign_up("dave").await;
    app.befriend(&carol, &dave).await;
    let elsewhere = app.direct(&carol, &dave).await;
    app.send(&carol, elsewhere, "not bob's business").await;
    // Bob: a conversation with a card and a reply, a block, a muted app, no click counting.
    let sent = app
        .partner_send(
            &tokens.access,
            None,
            json!({ "to": [bob_id], "card": card() }),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let (conversation, _) = app.latest_conversation(&bob.token).await;
    app.send(&bob, conversation, "thanks, watching tonight")
        .await;
    let blocked = app
        .request(
            Method::PUT,
            &format!("/api/v1/blocks/{}", carol.id),
            Some(&bob.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::NO_CONTENT);
    let muted = app
        .request(
            Method::PUT,
            &format!("/api/v1/me/muted-apps/{}", streamflix.client_id),
            Some(&bob.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(muted.status(), StatusCode::NO_CONTENT);
    let privacy = app
        .send_json(
            Method::PUT,
            "/api/v1/me/privacy",
            Some(&bob.token),
            json!({ "count_clicks": false }),
        )
        .await;
    assert_eq!(privacy.status(), StatusCode::OK);

    let response = app.get("/api/v1/me/export", &bob.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("confidant-bob.zip")
    );
    let files = unzip(&response.bytes().await.unwrap());

    assert_eq!(json_of(&files, "profile.json")["handle"], "bob");
    let friends = json_of(&files, "friends.json");
    assert_eq!(friends["friends"][0]["handle"], "alice");
    assert_eq!(friends["blocked"][0]["handle"], "carol");
    let apps = json_of(&files, "apps.json");
    assert_eq!(apps["connected"][0]["name"], "Streamflix");
    assert_eq!(apps["muted"][0]["client_id"], streamflix.client_id.as_str());
    assert_eq!(json_of(&files, "privacy.json")["count_clicks"], false);
    let thread = json_of(&files, &format!("conversations/{conversation}.json"));
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "oldest first, every message Bob can see");
    assert_eq!(messages[0]["card"]["title"], "The Long Night");
    assert_eq!(messages[0]["via_app"]["name"], "Streamflix");
    assert_eq!(messages[1]["body"], "thanks, watching tonight");
    assert_eq!(
        thread["conversation"]["participants"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The access log is whole, and verifies as `confidant log verify` would check it.
    let log = json_of(&files, "access-log.json");
    assert!(!log["entries"].as_array().unwrap().is_empty());
    let text = String::from_utf8(files["access-log.json"].clone()).unwrap();
    let export = confidant_log::export::Export::parse(&text).unwrap();
    assert!(export.complete);
    confidant_log::export::verify(&export, None, None).expect("the access log verifies");
    assert!(files.contains_key("README.txt"));
    // Nothing of a conversation Bob is not in.
    let everything: String = files
        .values()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .collect();
    assert!(!everything.contains("not bob's business"));
    assert!(!files.contains_key(&format!("conversations/{elsewhere}.json")));
    let _ = (alice, dave);
}

async fn every_table_is_exported_or_excluded_with_a_reason(db: TestDatabase) {
    let tables: Vec<String> = match db.backend() {
        confidant_store::Backend::Sqlite => {
            let path = db.url.strip_prefix("sqlite://").unwrap();
            let conn = rusqlite::Connection::open(path).unwrap();
            let mut select = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .unwrap();
            select
                .query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
        confidant_store::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::TEXT FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            names
        }
    };
    assert!(tables.iter().any(|t| t == "messages"), "{tables:?}");
    let unaccounted: Vec<&String> = tables
        .iter()
        .filter(|table| !COVERAGE.iter().any(|(name, _)| name == table))
        .collect();
    assert!(
        unaccounted.is_empty(),
        "tables the export neither covers nor excludes with a reason: {unaccounted:?} \
         (add each to COVERAGE in crates/server/src/http/api/export.rs)"
    );
    for (table, where_or_why) in COVERAGE {
        assert!(!where_or_why.trim().is_empty(), "{table} has no reason");
    }
}
