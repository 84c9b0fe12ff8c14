//! Delivering partner webhooks over HTTP: the transport the core's delivery pass uses, and
//! the job that runs a pass every few seconds.

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use confidant_core::Confidant;
use confidant_core::webhooks::WebhookTransport;

/// POSTs webhooks with a short timeout and no redirects: a partner endpoint answers for
/// itself or the attempt fails and is retried later.
#[derive(Clone)]
pub struct HttpWebhooks {
    client: reqwest::Client,
}

impl HttpWebhooks {
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Confidant-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl WebhookTransport for HttpWebhooks {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Result<(), String> {
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("the endpoint answered {}", response.status())),
            Err(error) => Err(format!("cannot reach the endpoint: {error}")),
        }
    }
}

/// Runs a delivery pass every `every` until cancelled.
pub async fn deliver_periodically(
    app: Confidant,
    transport: HttpWebhooks,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut every = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {
                if let Err(error) = app.deliver_due_webhooks(&transport).await {
                    tracing::warn!(%error, "webhook delivery pass failed");
                }
            }
        }
    }
}
