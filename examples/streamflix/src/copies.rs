//! Off-platform shares: "Copy link" is counted per day, surface and variation, and each
//! finished day is reported to Confidant through `/partner/v1/events`, once.

use serde_json::{Value, json};

use crate::confidant::CallError;
use crate::web::App;

/// Reports each day's off-platform link copies to Confidant once the day is over (before
/// `today`), once.
pub async fn report_copies(app: &App, today: &str) -> Result<usize, CallError> {
    let copies = app
        .store
        .unreported_copies(today)
        .await
        .map_err(|e| CallError::Failed(e.to_string()))?;
    if copies.is_empty() {
        return Ok(0);
    }
    let events: Vec<Value> = copies
        .iter()
        .map(|(day, surface, variation, count)| {
            json!({
                "day": day,
                "channel": "off_platform",
                "interface": "web",
                "initiation_surface": surface,
                "variation": variation,
                "sends": count,
                "clicks": 0,
                "idempotency_key": format!("copies-{day}-{surface}-{variation}"),
            })
        })
        .collect();
    app.confidant.report_events(events).await?;
    let mut days: Vec<String> = copies.into_iter().map(|(day, ..)| day).collect();
    days.dedup();
    app.store
        .mark_reported(&days)
        .await
        .map_err(|e| CallError::Failed(e.to_string()))?;
    Ok(days.len())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::http::{HeaderMap, header};
    use axum::routing::{get, post};

    use super::*;
    use crate::catalogue::Catalogue;
    use crate::confidant::Confidant;
    use crate::store::Store;

    /// A stand-in for Confidant's metadata and events endpoints that records what it gets.
    async fn fake_confidant() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let base = url.clone();
        let router = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || {
                    let base = base.clone();
                    async move {
                        axum::Json(json!({
                            "authorization_endpoint": format!("{base}/oauth/authorize"),
                            "token_endpoint": format!("{base}/oauth/token"),
                        }))
                    }
                }),
            )
            .route(
                "/partner/v1/events",
                post(
                    move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                        let log = log.clone();
                        async move {
                            let auth = headers[header::AUTHORIZATION].to_str().unwrap().to_owned();
                            log.lock().unwrap().push((auth, body));
                            axum::Json(json!({ "received": 1, "stored": 1 }))
                        }
                    },
                ),
            );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (url, received)
    }

    #[tokio::test]
    async fn finished_days_of_copied_links_are_reported_once_with_client_credentials() {
        let (url, received) = fake_confidant().await;
        let dir = std::env::temp_dir().join(format!("streamflix-test-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let confidant = Confidant::discover(
            &url,
            "cfd_app_s",
            "cfd_cs_secret",
            "http://127.0.0.1/callback",
        )
        .await
        .unwrap();
        let app = App {
            store: Store::open(&dir.join("streamflix.db")).await.unwrap(),
            confidant: Arc::new(confidant),
            catalogue: Arc::new(Catalogue::load().unwrap()),
            public_url: "http://127.0.0.1:8090".into(),
            webhook_secret: None,
        };
        for (day, surface) in [
            ("2026-11-20", "title_page"),
            ("2026-11-20", "title_page"),
            ("2026-11-21", "player_end"),
            ("2026-11-22", "title_page"),
        ] {
            app.store.count_copy(day, surface, "control").await.unwrap();
        }

        // On the 22nd, the 20th and 21st are over; the 22nd is not.
        assert_eq!(report_copies(&app, "2026-11-22").await.unwrap(), 2);
        assert_eq!(
            report_copies(&app, "2026-11-22").await.unwrap(),
            0,
            "reported once"
        );
        let received = received.lock().unwrap().clone();
        assert_eq!(received.len(), 1);
        let (auth, body) = &received[0];
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.encode("cfd_app_s:cfd_cs_secret");
        assert_eq!(auth, &format!("Basic {expected}"));
        let events = body["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            json!({
                "day": "2026-11-20", "channel": "off_platform", "interface": "web",
                "initiation_surface": "title_page", "variation": "control",
                "sends": 2, "clicks": 0, "idempotency_key": "copies-2026-11-20-title_page-control",
            })
        );
        assert_eq!(events[1]["day"], "2026-11-21");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
