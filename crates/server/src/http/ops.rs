//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use crate::http::client_addr::ClientIp;
use crate::http::session::bearer;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.app.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Prometheus metrics, for the operator's scraper only: with `[server] metrics_token`, to
/// requests bearing it; without, to peers on the loopback interface. Anyone else gets 404, as
/// if there were nothing here.
async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    let allowed = match &state.web.metrics_token {
        Some(token) => bearer(request.headers())
            .is_some_and(|given| given.as_bytes().ct_eq(token.0.as_bytes()).into()),
        // The client as resolved through trusted proxies: a proxy on this host does not make
        // everyone it forwards a loopback client.
        None => request
            .extensions()
            .get::<ClientIp>()
            .and_then(|client| client.0)
            .is_some_and(|ip| ip.is_loopback()),
    };
    if !allowed {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
