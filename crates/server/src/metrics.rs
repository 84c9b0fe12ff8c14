//! Prometheus metrics: request counts and latency by route, messages sent, live connections.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub messages_sent: Counter,
    pub live_connections: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub logins_failed: Counter<u64, AtomicU64>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("confidant");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let messages_sent = Counter::default();
        let live_connections = Gauge::default();
        let logins_failed = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            latency.clone(),
        );
        registry.register("messages_sent", "Messages sent", messages_sent.clone());
        registry.register(
            "live_connections",
            "Open live event streams",
            live_connections.clone(),
        );
        registry.register(
            "logins_failed",
            "Refused log-in attempts",
            logins_failed.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            messages_sent,
            live_connections,
            logins_failed,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts and times one answered request under its route template (`/c/{id}`, not
    /// `/c/42`), so the number of series stays bounded.
    pub fn observe(&self, route: RouteLabels, started: Instant, status: StatusCode) {
        self.latency
            .get_or_create(&route)
            .observe(started.elapsed().as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method: route.method,
                route: route.route,
                status: status.as_u16(),
            })
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteLabels {
    /// The request's method and route template; `unmatched` for a path no route has.
    pub fn of(request: &Request) -> Self {
        RouteLabels {
            method: request.method().to_string(),
            route: request
                .extensions()
                .get::<MatchedPath>()
                .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned()),
        }
    }
}
