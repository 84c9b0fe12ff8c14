//! Engagement reports: exact in self-test mode, private otherwise (capped, noised once,
//! stored, within budget even under concurrent requests), served to the app only, and released
//! and delivered by the schedule.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use confidant_core::Clock;
use confidant_core::partner::INTERFACES;
use confidant_core::reports::{Mechanism, ReportRequest, format_day};
use confidant_core::store::day_of;
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{ALL_SCOPES, FriendsOnTheApp, card, receiver};
use crate::helpers::{TestApp, csrf_of};
use crate::oauth::Partner;

on_both_backends!(
    self_test_reports_equal_the_ground_truth,
    private_reports_are_capped_stored_once_and_within_budget,
    the_schedule_releases_each_period_once_and_delivers_it_signed,
    a_report_over_months_places_every_month_and_tells_its_progress_in_order,
);

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0";
const SURFACES: [&str; 2] = ["title_page", "player_end"];

impl TestApp {
    /// `recipient` follows `link`, signed in: only the recipient's own click counts.
    async fn click(&self, recipient: &reqwest::Client, link: &str, interface: &str) {
        let response = recipient
            .get(self.url(&format!("{link}?i={interface}")))
            .header("user-agent", FIREFOX)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
    }

    async fn partner_reports(&self, partner: &Partner, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .basic_auth(&partner.client_id, partner.secret.as_deref())
            .send()
            .await
            .unwrap()
    }

    fn release<'a>(&self, client_id: &'a str, first_day: i64, days: i64) -> ReportRequest<'a> {
        ReportRequest {
            client_id,
            first_day,
            days,
            mechanism: None,
            progress: &|_, _| {},
        }
    }
}

/// (member, day, interface, surface) → count, before the cap.
type Tally = HashMap<(usize, i64, String, String), i64>;

async fn self_test_reports_equal_the_ground_truth(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| {
        config.reports.noise = Mechanism::SelfTest;
        // The per-day cell limit is checked by the store's conformance suite; here each
        // member may touch every cell, so only the per-cell cap shapes the truth.
        config.reports.cells_per_member_per_day = 1000;
        config.oauth.access_token_secs = 30 * 86_400;
    })
    .await;
    let cap = 3;
    let streamflix = app.partner("Streamflix", false).await;
    let mut members = Vec::new();
    for handle in ["alice", "bob", "carol", "dave"] {
        members.push(app.member(handle).await);
    }
    for i in 0..members.len() {
        for j in i + 1..members.len() {
            app.befriend(&members[i].0, &members[j].0).await;
        }
    }
    let mut access = Vec::new();
    let mut pseudonyms = Vec::new();
    for (_, browser) in &members {
        let tokens = app.tokens(browser, &streamflix, ALL_SCOPES).await;
        let me: Value = app.partner_me(&tokens.access).await.json().await.unwrap();
        pseudonyms.push(me["id"].as_str().unwrap().to_owned());
        access.push(tokens.access);
    }

    let mut rng = StdRng::seed_from_u64(6);
    let first_day = day_of(app.clock.now());
    let days = 3;
    let (mut sends, mut clicks) = (Tally::new(), Tally::new());
    for day in first_day..first_day + days {
        for _ in 0..10 {
            let sender = rng.gen_range(0..members.len());
            let recipient = (sender + rng.gen_range(1..members.len())) % members.len();
            let interface = INTERFACES[rng.gen_range(0..INTERFACES.len())];
            let surface = SURFACES[rng.gen_range(0..2)];
            let mut card = card();
            card["interface"] = json!(interface);
            card["initiation_surface"] = json!(surface);
            let sent = app
                .partner_send(
                    &access[sender],
                    None,
                    json!({ "to": [pseudonyms[recipient]], "card": card }),
                )
                .await;
            assert_eq!(sent.status(), StatusCode::CREATED);
            *sends
                .entry((sender, day, interface.into(), surface.into()))
                .or_default() += 1;
            let link = app.newest_link(&members[recipient].0.token).await;
            // Some recipients click many times, past the cap; the click's interface is where
            // the link was shown.
            let times = rng.gen_range(0..=5);
            let shown_on = INTERFACES[rng.gen_range(0..INTERFACES.len())];
            for _ in 0..times {
                app.click(&members[recipient].1.client, &link, shown_on)
                    .await;
            }
            *clicks
                .entry((recipient, day, shown_on.into(), surface.into()))
                .or_default() += times;
        }
        app.clock.advance_secs(24 * 3600);
    }
    // The app's own figures: off-platform sends, and its view of one Confidant cell.
    let reported = json!({ "events": [
        { "day": format_day(first_day), "channel": "off_platform", "interface": "web",
          "initiation_surface": "title_page", "variation": "default", "sends": 40, "clicks": 9,
          "idempotency_key": "d0-web" },
        { "day": format_day(first_day + 1), "channel": "confidant", "interface": "tv",
          "initiation_surface": "player_end", "variation": "default", "sends": 2, "clicks": 1,
          "idempotency_key": "d1-tv" },
    ]});
    let posted = app
        .report_events(&streamflix, streamflix.secret.as_deref(), reported)
        .await;
    assert_eq!(posted.status(), StatusCode::OK);

    // The truth, computed here: each member's count per cell and day, capped, then summed.
    let truth = |tally: &Tally, day: i64, interface: &str, surface: &str| -> i64 {
        tally
            .iter()
            .filter(|((_, d, i, s), _)| *d == day && i == interface && s == surface)
            .map(|(_, count)| (*count).min(cap))
            .sum()
    };
    let released = app
        .core
        .release_report(app.release(&streamflix.client_id, first_day, days))
        .await
        .unwrap();
    let report = &released.report;
    assert!(report.self_test);
    assert_eq!(
        report.rows.len() as i64,
        days * 5 * 2 * 2,
        "every cell, zeros too"
    );
    let mut nonzero = 0;
    for row in &report.rows {
        let day = first_day
            + (0..days)
                .find(|d| format_day(first_day + d) == row.day)
                .unwrap();
        let reported = match (
            row.day.as_str(),
            row.interface.as_str(),
            row.channel.as_str(),
        ) {
            (d, "web", "off_platform")
                if d == format_day(first_day) && row.initiation_surface == "title_page" =>
            {
                Some((40, 9))
            }
            (d, "tv", "confidant")
                if d == format_day(first_day + 1) && row.initiation_surface == "player_end" =>
            {
                Some((2, 1))
            }
            _ => None,
        };
        assert_eq!(
            (row.reported_sends, row.reported_clicks),
            (reported.map(|r| r.0), reported.map(|r| r.1)),
            "{row:?}"
        );
        if row.channel == "off_platform" {
            assert_eq!(
                (row.sends, row.clicks),
                (None, None),
                "Confidant sees nothing there"
            );
            continue;
        }
        let expected = (
            truth(&sends, day, &row.interface, &row.initiation_surface),
            truth(&clicks, day, &row.interface, &row.initiation_surface),
        );
        assert_eq!(
            (row.sends, row.clicks),
            (Some(expected.0), Some(expected.1)),
            "{row:?}"
        );
        nonzero += i64::from(expected.0 + expected.1 > 0);
        // Without noise, any difference from the app's own figure is flagged.
        assert_eq!(
            row.differs,
            reported.is_some_and(|r| r != expected),
            "{row:?}"
        );
    }
    assert!(
        nonzero >= 10,
        "the events spread over many cells ({nonzero})"
    );

    // The app fetches it, in every format; the self-test says so first.
    let list: Value = app
        .partner_reports(&streamflix, "/partner/v1/reports")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["reports"][0]["id"], report.id.as_str());
    assert_eq!(list["reports"][0]["mechanism"], "self_test");
    let path = format!("/partner/v1/reports/{}", report.id);
    let json: Value = app
        .partner_reports(&streamflix, &path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json, serde_json::to_value(report).unwrap());
    let csv = app
        .partner_reports(&streamflix, &format!("{path}?format=csv"))
        .await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("# SELF-TEST REPORT")
    );
    assert_eq!(csv.lines().filter(|l| !l.starts_with('#')).count(), 61);
    let html = app
        .partner_reports(&streamflix, &format!("{path}?format=html"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("SELF-TEST REPORT") && html.contains("<svg"));

    // Nobody else gets it.
    let other = app.partner("Bookshop", false).await;
    let foreign = app.partner_reports(&other, &path).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let anonymous = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let unknown_format = app
        .partner_reports(&streamflix, &format!("{path}?format=xlsx"))
        .await;
    assert_eq!(unknown_format.status(), StatusCode::BAD_REQUEST);
}

async fn private_reports_are_capped_stored_once_and_within_budget(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| {
        config.reports.noise = Mechanism::DiscreteGaussian;
        config.reports.rho_per_report = 0.5;
        // Room for two releases on any day of data.
        config.reports.rho_per_data_day = 1.0;
    })
    .await;
    let streamflix = app.partner("Streamflix", false).await;
    let sent = app.send_a_card(&streamflix).await;
    let (link, bob) = (sent.link, sent.bob_browser.client);
    let today = day_of(app.clock.now());

    // A member with 1,000 clicks in a day moves the cell by the cap, no more.
    for _ in 0..1000 {
        app.click(&bob, &link, "web").await;
    }
    let exact = app
        .core
        .raw_report_table(&streamflix.client_id, today, 1)
        .await
        .unwrap();
    let web = exact
        .iter()
        .find(|r| {
            r.interface == "web" && r.channel == "confidant" && r.initiation_surface == "player_end"
        })
        .unwrap();
    assert_eq!(web.clicks, Some(3));

    // A private release covers only days that are over.
    let too_soon = app
        .core
        .release_report(app.release(&streamflix.client_id, today, 1))
        .await
        .unwrap_err();
    assert_eq!(too_soon.code(), "period_not_over");
    app.clock.advance_secs(24 * 3600);

    let first = app
        .core
        .release_report(app.release(&streamflix.client_id, today, 1))
        .await
        .unwrap();
    assert!(first.fresh && !first.report.self_test && first.report.notice.is_none());
    assert_eq!(first.report.rows.len(), 5 * 2 * 2, "every cell, zeros too");
    let noise = first.report.privacy;
    assert!(noise.rho <= 0.5 && noise.rho > 0.499, "{noise:?}");
    assert!(noise.scale > 1.0);
    let measured: Vec<i64> = first.report.rows.iter().filter_map(|r| r.clicks).collect();
    assert_eq!(measured.len(), 10);
    assert!(
        measured.iter().any(|c| *c != 0 && *c != 3),
        "released counts carry noise: {measured:?}"
    );

    // Asking again serves the stored release: the same numbers, no new spending.
    let again = app
        .core
        .release_report(app.release(&streamflix.client_id, today, 1))
        .await
        .unwrap();
    assert!(!again.fresh);
    assert_eq!(again.report, first.report);
    assert_eq!(
        app.core
            .privacy_budget(&streamflix.client_id)
            .await
            .unwrap(),
        (noise.rho, 1.0)
    );
    assert!((first.report.data_day_rho - noise.rho).abs() < 1e-12);
    assert!(first.report.privacy.epsilon > 5.0 && first.report.data_day_epsilon > 5.0);

    // The hostile partner asks for six overlapping periods at once, each covering that day
    // again, to average its noise away. The day has room for one more release: exactly one
    // is made, whatever the interleaving, and the others are refused.
    let attempts = (1..=6).map(|back| {
        app.core
            .release_report(app.release(&streamflix.client_id, today - back, back + 1))
    });
    let results = futures::future::join_all(attempts).await;
    let released = results.iter().filter(|r| r.is_ok()).count();
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(released, 1, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|e| e.code() == "privacy_budget_exhausted")
    );
    assert!(
        refused[0]
            .to_string()
            .contains("each day of data may spend at most")
    );
    let (spent, limit) = app
        .core
        .privacy_budget(&streamflix.client_id)
        .await
        .unwrap();
    assert!(spent <= limit + 1e-9 && spent > 0.99, "{spent} of {limit}");
    // The calendar does not refill a day: a year later, the same day is still spent.
    let later = app.clock.now();
    app.clock.advance_secs(365 * 24 * 3600);
    let a_year_on = app
        .core
        .release_report(app.release(&streamflix.client_id, today, 2))
        .await
        .unwrap_err();
    assert_eq!(a_year_on.code(), "privacy_budget_exhausted");
    // Data past retention is gone, and periods before it are refused outright.
    app.clock.advance_secs(40 * 24 * 3600);
    let expired = app
        .core
        .release_report(app.release(&streamflix.client_id, today, 1))
        .await
        .unwrap_err();
    assert_eq!(expired.code(), "period_expired");
    app.clock.set(later);
    // Days nobody released yet have their whole budget.
    app.core
        .release_report(app.release(&streamflix.client_id, today - 20, 3))
        .await
        .unwrap();
    assert_eq!(
        app.core
            .reports_of(&streamflix.client_id)
            .await
            .unwrap()
            .len(),
        3
    );

    // A stored release is still served past the budget; a self-test spends nothing.
    let served = app
        .core
        .release_report(app.release(&streamflix.client_id, today, 1))
        .await
        .unwrap();
    assert_eq!(served.report.id, first.report.id);
    let self_test = app
        .core
        .release_report(ReportRequest {
            mechanism: Some(Mechanism::SelfTest),
            ..app.release(&streamflix.client_id, today, 1)
        })
        .await
        .unwrap();
    assert!(self_test.report.self_test);
    assert_eq!(
        app.core
            .privacy_budget(&streamflix.client_id)
            .await
            .unwrap()
            .0,
        spent
    );
    // An operator's exact self-test on a private deployment never reaches the app.
    let listed: Value = app
        .partner_reports(&streamflix, "/partner/v1/reports")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&self_test.report.id.as_str()));
    let hidden = app
        .partner_reports(
            &streamflix,
            &format!("/partner/v1/reports/{}", self_test.report.id),
        )
        .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    // Bad input changes nothing.
    for (first_day, days) in [(today - 10, 0), (today - 2000, 1097)] {
        let error = app
            .core
            .release_report(app.release(&streamflix.client_id, first_day, days))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "out_of_range");
    }
    assert_eq!(
        app.core
            .reports_of(&streamflix.client_id)
            .await
            .unwrap()
            .len(),
        4
    );
}

async fn the_schedule_releases_each_period_once_and_delivers_it_signed(db: TestDatabase) {
    let start = confidant_core::Timestamp(1_800_000_000_000);
    let anchor = format_day(day_of(start));
    let app = TestApp::spawn_with(db, move |config| {
        config.reports.schedule_anchor = anchor;
    })
    .await;
    let hooks = receiver(vec![503]).await;
    let (streamflix, secret) = app.partner_with_webhook("Streamflix", &hooks.url).await;
    let client_id = streamflix.client_id.clone();
    let pending = app.partner("Pending", false).await;
    app.core.suspend_app(&pending.client_id).await.unwrap();
    let transport = confidant_server::webhooks::HttpWebhooks::new().unwrap();

    // A minute before the first period ends: nothing is due yet.
    let period_end_ms = (day_of(start) + 14) * 86_400_000;
    app.clock
        .advance_secs((period_end_ms - start.0) / 1000 - 60);
    let run = app.core.run_report_schedule().await.unwrap();
    assert!(run.first_day.is_none() && run.released.is_empty());

    // The period is over: one release, for the approved app only, and its webhook queued.
    app.clock.advance_secs(120);
    let run = app.core.run_report_schedule().await.unwrap();
    assert_eq!(run.first_day, Some(day_of(start)));
    assert_eq!(run.released.len(), 1, "{:?}", run.refused);
    let report = run.released[0].report.clone();
    assert_eq!(report.app.client_id, client_id);
    assert_eq!(
        (report.days, report.from.clone()),
        (14, format_day(day_of(start)))
    );

    // Later passes — on this node or any other, before or after a restart — find it stored.
    for _ in 0..3 {
        let run = app.core.run_report_schedule().await.unwrap();
        assert!(run.released.is_empty() && run.refused.is_empty());
    }
    assert_eq!(app.core.reports_of(&client_id).await.unwrap().len(), 1);

    // Delivered as a signed Standard Webhook, retried after a failure.
    assert_eq!(app.core.deliver_due_webhooks(&transport).await.unwrap(), 1);
    let status = app.core.reports_of(&client_id).await.unwrap()[0]
        .delivery
        .clone()
        .unwrap();
    assert_eq!(status.attempts, 1);
    assert!(status.last_error.unwrap().contains("503"));
    app.clock.advance_secs(5);
    assert_eq!(app.core.deliver_due_webhooks(&transport).await.unwrap(), 1);
    let received = hooks.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let (headers, body) = &received[1];
    // The Standard Webhooks signature over id, timestamp and body. (The library's `verify`
    // also wants the timestamp near the real time, which this test's clock is not.)
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    assert_eq!(timestamp, app.clock.now().0 / 1000);
    let expected = standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .sign(&header("webhook-id"), timestamp, body.as_bytes())
        .unwrap();
    assert_eq!(header("webhook-signature"), expected);
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "report.ready");
    assert_eq!(event["data"]["report_id"], report.id.as_str());
    assert!(event["data"]["url"].as_str().unwrap().ends_with(&report.id));
    assert_eq!(
        event["data"]["report"],
        serde_json::to_value(&report).unwrap()
    );

    // Operators see it delivered.
    let admin = app.operator().await;
    let page = admin.page(&app, "/admin/reports").await;
    assert!(page.contains(r#"<select id="from" name="from" required>"#));
    assert!(page.contains(&report.id));
    assert!(page.contains("delivery delivered"), "{page}");
    // And can release one by hand; a bad date is an error on the form, nothing stored.
    let bad = admin
        .client
        .post(app.url("/admin/reports"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("app", client_id.as_str()),
            ("from", "2027-02-30"),
            ("days", "14"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("YYYY-MM-DD"));
    let by_hand = admin
        .client
        .post(app.url("/admin/reports"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("app", client_id.as_str()),
            ("from", report.from.as_str()),
            ("days", "7"),
            ("self_test", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(by_hand.status(), StatusCode::OK);
    let after = by_hand.text().await.unwrap();
    assert!(after.contains("Released report"));
    // The operator's exact check is not delivered, and the page says why rather than
    // claiming the app has no webhook.
    assert!(
        after.contains("an exact self-test stays with the operator"),
        "{after}"
    );
    assert!(!after.contains("no webhook URL"));
    // Periods are picked from the finished ones, not typed.
    assert!(
        after.contains(&format!(r#"<option value="{}""#, report.from)),
        "the released period is offered"
    );
    assert_eq!(app.core.reports_of(&client_id).await.unwrap().len(), 2);
    let view = admin
        .client
        .request(
            Method::GET,
            app.url(&format!("/admin/reports/{}", report.id)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(view.status(), StatusCode::OK);
    assert!(
        view.text()
            .await
            .unwrap()
            .contains("Sends per day by interface")
    );
}

/// A report longer than a month is read a month at a time, several months at once: each
/// month's counts must still land on their own days, and the progress must only move forward.
async fn a_report_over_months_places_every_month_and_tells_its_progress_in_order(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| {
        config.reports.noise = Mechanism::SelfTest;
        config.oauth.access_token_secs = 200 * 86_400;
    })
    .await;
    let streamflix = app.partner("Streamflix", false).await;
    let FriendsOnTheApp { bob_id, tokens, .. } = app.friends_on_the_app(&streamflix).await;

    // Alice sends on the first day of the period, 40 days in and 80 days in: three months
    // of the read, each on a different interface.
    let first_day = day_of(app.clock.now());
    let days = 100;
    let sent = [(0, "web"), (40, "ios"), (80, "tv")];
    let mut today = 0;
    for (offset, interface) in sent {
        app.clock.advance_secs((offset - today) * 86_400);
        today = offset;
        let mut card = card();
        card["interface"] = json!(interface);
        let response = app
            .partner_send(
                &tokens.access,
                None,
                json!({ "to": [bob_id], "card": card }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // The app reports its own off-platform sends on days of other months.
    app.clock.advance_secs((days + 1 - today) * 86_400);
    let reported_days = [10, 50, 95];
    let events: Vec<Value> = reported_days
        .iter()
        .map(|offset| {
            json!({ "day": format_day(first_day + offset), "channel": "off_platform",
                "interface": "android", "initiation_surface": "title_page",
                "variation": "default", "sends": offset, "clicks": 0,
                "idempotency_key": format!("day-{offset}") })
        })
        .collect();
    let posted = app
        .report_events(
            &streamflix,
            streamflix.secret.as_deref(),
            json!({ "events": events }),
        )
        .await;
    assert_eq!(posted.status(), StatusCode::OK);

    let told = std::sync::Mutex::new(Vec::new());
    let progress = |done: i64, all: i64| told.lock().unwrap().push((done, all));
    let released = app
        .core
        .release_report(ReportRequest {
            progress: &progress,
            ..app.release(&streamflix.client_id, first_day, days)
        })
        .await
        .unwrap();
    let rows = &released.report.rows;
    assert_eq!(rows.len() as i64, days * 5 * 2 * 2, "every cell, zeros too");
    let day_order: Vec<&str> = rows.iter().map(|row| row.day.as_str()).collect();
    assert!(day_order.is_sorted(), "rows in day order");
    let measured: Vec<(String, String, i64)> = rows
        .iter()
        .filter(|row| row.sends.unwrap_or(0) > 0)
        .map(|row| (row.day.clone(), row.interface.clone(), row.sends.unwrap()))
        .collect();
    let expected: Vec<(String, String, i64)> = sent
        .iter()
        .map(|(offset, interface)| (format_day(first_day + offset), (*interface).to_owned(), 1))
        .collect();
    assert_eq!(measured, expected);
    let reported: Vec<(String, i64)> = rows
        .iter()
        .filter_map(|row| Some((row.day.clone(), row.reported_sends?)))
        .collect();
    let expected: Vec<(String, i64)> = reported_days
        .iter()
        .map(|offset| (format_day(first_day + offset), *offset))
        .collect();
    assert_eq!(reported, expected);

    let told = told.into_inner().unwrap();
    let done: Vec<i64> = told.iter().map(|(done, _)| *done).collect();
    assert_eq!(done, [31, 62, 93, 100], "a month at a time, in order");
    assert!(told.iter().all(|(_, all)| *all == days));
}
