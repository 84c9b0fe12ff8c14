//! What every handler can reach: the application, the settings it runs with, metrics, and
//! the shutdown signal that ends long-lived streams.

use std::sync::Arc;

use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

use confidant_core::Confidant;

use crate::config::MetricsToken;
use crate::metrics::Metrics;

/// Shared by every handler. axum clones the state for each extractor and middleware of every
/// request, so it is one `Arc`: a clone is one atomic increment, not a copy of the
/// application's policies and a dozen reference counts.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub app: Confidant,
    pub web: Arc<WebSettings>,
    pub metrics: Arc<Metrics>,
    /// Fetches and caches the images of recommendation cards.
    pub images: Arc<crate::images::ImageProxy>,
    /// Files members attach to messages, and the store that keeps their bytes.
    pub attachments: Arc<crate::attachments::Attachments>,
    /// Sends Web Push notifications of new messages.
    pub push: Arc<crate::push::PushSender>,
    /// Cancelled when the server starts shutting down, so event streams close and the
    /// graceful shutdown does not wait on them forever.
    pub shutdown: CancellationToken,
}

/// Settings the HTTP layer needs, derived once from the config.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Scheme, host and port members use, without a trailing slash.
    pub public_url: String,
    /// With https, cookies are `Secure` and take the `__Host-` prefix.
    pub secure_cookies: bool,
    pub session_cookie: &'static str,
    pub csrf_cookie: &'static str,
    pub max_body_bytes: usize,
    /// What `/metrics` requires as a bearer token; `None` restricts it to loopback clients.
    pub metrics_token: Option<MetricsToken>,
    /// Peers whose `X-Forwarded-For` names the client (see `http::client_addr`).
    pub trusted_proxies: Vec<IpNet>,
    /// The verifier keys of the witnesses of the server's logs: what the access-log page
    /// checks cosignatures with in the browser, and `/apps` tells auditors to pin.
    pub witnesses: Vec<String>,
}

impl WebSettings {
    pub fn new(public_url: String, max_body_bytes: usize) -> Self {
        let secure_cookies = public_url.starts_with("https://");
        Self {
            public_url,
            secure_cookies,
            session_cookie: if secure_cookies {
                "__Host-confidant_session"
            } else {
                "confidant_session"
            },
            csrf_cookie: if secure_cookies {
                "__Host-confidant_csrf"
            } else {
                "confidant_csrf"
            },
            max_body_bytes,
            metrics_token: None,
            trusted_proxies: Vec::new(),
            witnesses: Vec::new(),
        }
    }

    pub fn with_witnesses(self, witnesses: Vec<String>) -> Self {
        Self { witnesses, ..self }
    }

    pub fn with_metrics_token(self, metrics_token: Option<MetricsToken>) -> Self {
        Self {
            metrics_token,
            ..self
        }
    }

    pub fn with_trusted_proxies(self, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            trusted_proxies,
            ..self
        }
    }

    /// The origin (`scheme://host[:port]`) of the public URL, for checking `Origin` headers.
    pub fn origin(&self) -> &str {
        let after_scheme = self.public_url.find("://").map_or(0, |i| i + 3);
        match self.public_url[after_scheme..].find('/') {
            Some(slash) => &self.public_url[..after_scheme + slash],
            None => &self.public_url,
        }
    }
}
