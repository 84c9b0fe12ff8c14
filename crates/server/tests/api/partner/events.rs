//! Partner-reported counts: client credentials, validation against the app's declared
//! domain (all or nothing, every bad item listed), and idempotency keys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use confidant_core::Clock;
use confidant_core::reports::format_day;
use confidant_core::store::day_of;
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::TestApp;

on_both_backends!(partners_report_their_own_counts_in_validated_idempotent_batches);

async fn partners_report_their_own_counts_in_validated_idempotent_batches(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let secret = streamflix.secret.clone().unwrap();
    let today = format_day(day_of(app.clock.now()));
    let event = |key: &str, interface: &str, day: &str| {
        json!({
            "day": day,
            "channel": "off_platform",
            "interface": interface,
            "initiation_surface": "title_page",
            "variation": "default",
            "sends": 12,
            "clicks": 3,
            "idempotency_key": key,
        })
    };
    let batch = json!({ "events": [
        event("k1", "web", &today),
        event("k2", "tv", &today),
        event("k3", "ios", &today),
    ]});
    let first = app
        .report_events(&streamflix, Some(&secret), batch.clone())
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({ "received": 3, "stored": 3 })
    );
    let again = app.report_events(&streamflix, Some(&secret), batch).await;
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({ "received": 3, "stored": 0 })
    );

    // One bad item rejects the batch; every bad item is listed; nothing is stored.
    let mixed = json!({ "events": [
        event("k4", "web", &today),
        event("k5", "fridge", &today),
        event("k6", "web", &today),
        event("k7", "web", "2026-02-30"),
    ]});
    let refused = app.report_events(&streamflix, Some(&secret), mixed).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_events");
    let items: Vec<(u64, &str)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["index"].as_u64().unwrap(), i["field"].as_str().unwrap()))
        .collect();
    assert_eq!(items, [(1, "interface"), (3, "day")]);
    // An item missing a field is refused naming it by its path.
    let mut incomplete = event("k8", "web", &today);
    incomplete.as_object_mut().unwrap().remove("channel");
    let missing = app
        .report_events(
            &streamflix,
            Some(&secret),
            json!({ "events": [incomplete] }),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(
        (body["error"].as_str(), body["field"].as_str()),
        (Some("invalid_field"), Some("events[0].channel"))
    );
    let valid_part = json!({ "events": [event("k4", "web", &today), event("k6", "web", &today)] });
    let later = app
        .report_events(&streamflix, Some(&secret), valid_part)
        .await;
    assert_eq!(
        later.json::<Value>().await.unwrap()["stored"],
        2,
        "k4 and k6 were not stored before"
    );

    // Summed per cell for the report, beside Confidant's own (here: nothing measured).
    let table = app
        .core
        .raw_report_table(&streamflix.client_id, day_of(app.clock.now()), 1)
        .await
        .unwrap();
    assert_eq!(
        table.len(),
        5 * 2 * 2,
        "5 interfaces × 2 surfaces × 1 variation × 2 channels"
    );
    let web = table
        .iter()
        .find(|r| {
            r.interface == "web"
                && r.channel == "off_platform"
                && r.initiation_surface == "title_page"
        })
        .unwrap();
    assert_eq!(
        (web.sends, web.reported_sends, web.reported_clicks),
        (None, Some(36), Some(9))
    );

    let mut undeclared = event("k8", "web", &today);
    undeclared["initiation_surface"] = json!("homepage");
    let mut negative = event("k9", "web", &today);
    negative["sends"] = json!(-1);
    let mut channel = event("k10", "web", &today);
    channel["channel"] = json!("carrier_pigeon");
    let refused = app
        .report_events(
            &streamflix,
            Some(&secret),
            json!({ "events": [undeclared, negative, channel] }),
        )
        .await;
    let body: Value = refused.json().await.unwrap();
    let fields: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["initiation_surface", "sends", "channel"]);

    let too_many: Vec<Value> = (0..10_001)
        .map(|n| event(&format!("bulk-{n}"), "web", &today))
        .collect();
    let refused = app
        .report_events(&streamflix, Some(&secret), json!({ "events": too_many }))
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_batch"
    );

    // Only the app itself, by its client credentials.
    let batch = json!({ "events": [event("k11", "web", &today)] });
    let anonymous = app.report_events(&streamflix, None, batch.clone()).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let wrong = app
        .report_events(&streamflix, Some("cfd_cs_wrong"), batch.clone())
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let public = app.partner("Bookshop", true).await;
    let unsigned = app.report_events(&public, Some(""), batch).await;
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
}
