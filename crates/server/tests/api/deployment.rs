//! What a deployment holds to across restarts and nodes: the access log's pinned key, the
//! report mode, the caps its counts were taken under, and forgetting what it no longer needs.

use reqwest::StatusCode;
use serde_json::Value;

use confidant_core::reports::{Mechanism, privacy};
use confidant_core::store::{DeploymentStore, day_of, setting};
use confidant_core::{Clock, ReportPolicy};
use confidant_log::LogSigner;
use confidant_server::config::Config;
use confidant_server::startup;
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::TestApp;
use crate::partner::FriendsOnTheApp;

on_both_backends!(
    the_log_key_is_pinned_and_never_silently_replaced,
    a_deployment_with_private_releases_goes_exact_only_when_told,
    a_release_is_calibrated_to_the_largest_caps_in_force,
    who_contributed_is_forgotten_once_the_day_is_over,
);

async fn the_log_key_is_pinned_and_never_silently_replaced(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let (_, browser) = app.member("alice").await;
    app.tokens(&browser, &streamflix, "profile").await;
    let key = app.core.log_public_key().to_owned();
    let pinned = app.db.store.setting(setting::LOG_PUBLIC_KEY).await.unwrap();
    assert_eq!(pinned.as_deref(), Some(key.as_str()));

    // A node whose key file is missing does not make a new key for a database with logs.
    let missing = TestApp::try_spawn_in(app.db.clone(), tempfile::tempdir().unwrap(), |_| {})
        .await
        .err()
        .expect("refused");
    assert!(missing.to_string().contains("is missing"), "{missing}");
    assert!(missing.to_string().contains(&key), "names the pinned key");
    // Nor does one with another key start.
    let other = tempfile::tempdir().unwrap();
    let (_, private_key) = LogSigner::generate("impostor.example").unwrap();
    std::fs::write(other.path().join("access-log.key"), private_key).unwrap();
    let differs = TestApp::try_spawn_in(app.db.clone(), other, |_| {})
        .await
        .err()
        .expect("refused");
    assert!(
        differs
            .to_string()
            .contains("not the one this deployment pinned"),
        "{differs}"
    );
    // With a copy of the key, a second node signs as the first.
    let beside = app.spawn_beside(|_| {}).await;
    assert_eq!(beside.core.log_public_key(), key);

    // Two installs on the same default address still name their logs apart.
    let names: Vec<String> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let config = Config {
                data_dir: dir.path().to_owned(),
                ..Config::default()
            };
            startup::log_signer(&config).unwrap().name().to_owned()
        })
        .collect();
    assert_ne!(names[0], names[1]);
    assert!(names[0].starts_with("127.0.0.1:8080/k"), "{}", names[0]);
}

async fn a_deployment_with_private_releases_goes_exact_only_when_told(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| {
        config.reports.noise = Mechanism::DiscreteGaussian
    })
    .await;
    let streamflix = app.partner("Streamflix", false).await;
    app.send_a_card(&streamflix).await;
    let today = day_of(app.clock.now());
    app.clock.advance_secs(24 * 3600);
    let release = |core: &confidant_core::Confidant, day, mechanism| {
        let core = core.clone();
        let client_id = streamflix.client_id.clone();
        async move {
            core.release_report(confidant_core::reports::ReportRequest {
                client_id: &client_id,
                first_day: day,
                days: 1,
                mechanism,
                progress: &|_, _| {},
            })
            .await
        }
    };
    release(&app.core, today, None).await.unwrap();
    // The operator's exact check on this private deployment stays with the operator.
    let check = release(&app.core, today, Some(Mechanism::SelfTest))
        .await
        .unwrap();
    assert!(!check.summary.partner_visible);

    // Switching the deployment to self-test is refused until the operator says so.
    let refused = TestApp::try_spawn_in(app.db.clone(), app_key_dir(&app), |config| {
        config.reports.noise = Mechanism::SelfTest;
    })
    .await
    .err()
    .expect("refused");
    assert!(
        refused
            .to_string()
            .contains("confidant report allow-self-test"),
        "{refused}"
    );
    assert_eq!(app.core.allow_exact_reports().await.unwrap(), 1);
    let exact = app
        .spawn_beside(|config| config.reports.noise = Mechanism::SelfTest)
        .await;
    exact.clock.advance_secs(24 * 3600);

    // The earlier check is still not the app's, and the day it covers stays private.
    let listed: Value = exact
        .client
        .get(exact.url("/partner/v1/reports"))
        .basic_auth(&streamflix.client_id, streamflix.secret.as_deref())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "only the private release");
    assert!(!ids.contains(&check.report.id.as_str()));
    let exposed = release(&exact.core, today, None).await.unwrap_err();
    assert_eq!(exposed.code(), "would_expose_private_release");
    // A day no private release covers may be released exactly, to the app.
    let fresh = release(&exact.core, today + 1, None).await.unwrap();
    assert!(fresh.report.self_test && fresh.summary.partner_visible);
    let fetched = exact
        .client
        .get(exact.url(&format!("/partner/v1/reports/{}", fresh.report.id)))
        .basic_auth(&streamflix.client_id, streamflix.secret.as_deref())
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
}

/// A fresh data directory holding a copy of `app`'s access-log key.
fn app_key_dir(app: &TestApp) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        app.data_dir.path().join("access-log.key"),
        dir.path().join("access-log.key"),
    )
    .unwrap();
    dir
}

async fn a_release_is_calibrated_to_the_largest_caps_in_force(db: TestDatabase) {
    // Counted while the cap was 6 …
    let app = TestApp::spawn_with(db, |config| config.reports.contribution_cap = 6).await;
    let streamflix = app.partner("Streamflix", false).await;
    let sent = app.send_a_card(&streamflix).await;
    for _ in 0..10 {
        let followed = sent
            .bob_browser
            .client
            .get(app.url(&format!("{}?i=web", sent.link)))
            .send()
            .await
            .unwrap();
        assert_eq!(followed.status(), StatusCode::FOUND);
    }
    let today = day_of(app.clock.now());
    let exact = app
        .core
        .raw_report_table(&streamflix.client_id, today, 1)
        .await
        .unwrap();
    assert_eq!(exact.iter().filter_map(|r| r.clicks).sum::<i64>(), 6);

    // … and released after the operator lowered it to 3: the noise still covers 6.
    let lowered = app
        .spawn_beside(|config| config.reports.contribution_cap = 3)
        .await;
    lowered.clock.advance_secs(24 * 3600);
    let released = lowered
        .core
        .release_report(confidant_core::reports::ReportRequest {
            client_id: &streamflix.client_id,
            first_day: today,
            days: 1,
            mechanism: None,
            progress: &|_, _| {},
        })
        .await
        .unwrap();
    let noise = released.report.privacy;
    assert_eq!(noise.contribution_cap, 6);
    let policy = privacy::PrivacyPolicy {
        contribution_cap: 6,
        ..ReportPolicy::default().privacy
    };
    let expected = privacy::calibrate(&policy, 1).unwrap();
    assert!((noise.scale - expected.scale).abs() < 1e-9, "{noise:?}");
}

async fn who_contributed_is_forgotten_once_the_day_is_over(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    let FriendsOnTheApp { bob_id, tokens, .. } = app.friends_on_the_app(&streamflix).await;
    let sent = app
        .partner_send(
            &tokens.access,
            None,
            serde_json::json!({ "to": [bob_id], "card": crate::partner::card() }),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let store = &app.db.store;
    let member_rows = || async {
        store
            .count_raw("SELECT COUNT(*) FROM engagement_contributions")
            .await
            .unwrap()
            + store
                .count_raw("SELECT COUNT(*) FROM engagement_member_days")
                .await
                .unwrap()
    };
    assert_eq!(member_rows().await, 2, "Alice's send, while her day runs");
    let today = day_of(app.clock.now());

    // While the day runs, the rows enforce her caps and stay.
    let purged = app.core.purge_engagement().await.unwrap().expect("lease");
    assert_eq!(purged.member_rows, 0);
    // One node at a time: another node finds the lease taken.
    let beside = app.spawn_beside(|_| {}).await;
    assert!(beside.core.purge_engagement().await.unwrap().is_none());

    // Once the day is over, who contributed is gone; the day's count stays.
    app.clock.advance_secs(24 * 3600);
    let purged = app.core.purge_engagement().await.unwrap().expect("lease");
    assert_eq!(purged.member_rows, 2);
    assert_eq!(member_rows().await, 0);
    let cells = app
        .core
        .measured_engagement(&streamflix.client_id, today, today)
        .await
        .unwrap();
    assert_eq!(cells.iter().map(|c| c.sends).sum::<i64>(), 1);

    // Past retention (400 days), the count goes too, and the day cannot be reported on.
    app.clock.advance_secs(400 * 24 * 3600);
    let purged = app.core.purge_engagement().await.unwrap().expect("lease");
    assert!(purged.expired_rows >= 1, "{purged:?}");
    assert!(
        app.core
            .measured_engagement(&streamflix.client_id, today, today)
            .await
            .unwrap()
            .is_empty()
    );
}
