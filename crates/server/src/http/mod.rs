//! The HTTP surfaces. Each module owns its `router()`; this one merges them and wraps them
//! in the layers every request goes through.

pub mod api;
pub mod client_addr;
pub mod error;
pub mod oauth;
pub mod ops;
pub mod partner;
pub mod request_id;
pub mod session;
mod shapes;
mod text;
pub mod web;

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::metrics::RouteLabels;
use crate::state::AppState;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// No inline script, no third-party anything; pages cannot be framed.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

pub fn router(state: AppState) -> Router {
    let max_body = state.web.max_body_bytes;
    // Two `from_fn` layers, `admit` and `edge`, each doing several things in order: every
    // such layer costs every request a boxed future and a clone of the service inside it.
    Router::new()
        .merge(web::router())
        .merge(api::router())
        .merge(oauth::router())
        .merge(partner::router())
        .merge(ops::router())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), admit))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(
            // Outermost first: every response, whatever made it, gets the security headers
            // and its surface's error shape.
            ServiceBuilder::new()
                .layer(static_header(
                    header::CONTENT_SECURITY_POLICY,
                    CONTENT_SECURITY_POLICY,
                ))
                .layer(static_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .layer(static_header(header::REFERRER_POLICY, "same-origin"))
                .layer(static_header(header::X_FRAME_OPTIONS, "DENY"))
                .layer(middleware::from_fn(edge))
                // The request id is always the server's own: it goes into members' signed
                // access logs, which a caller must not be able to write into.
                .layer(tower::util::MapRequestLayer::new(
                    |mut request: Request<Body>| {
                        request.headers_mut().remove(REQUEST_ID);
                        request
                    },
                ))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id = %request_id,
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
        .with_state(state)
}

/// The first and last thing every request meets: headers larger than any client needs are
/// refused before anything reads them, and a bare error, whatever made it, is answered in its
/// surface's shape.
async fn edge(request: Request<Body>, next: Next) -> Response {
    let shape = shapes::ErrorShape::of(&request);
    let response = match oversized_headers(&request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    };
    shape.apply(response).await
}

/// What every request goes through on its way to its route, within its time limit: text
/// Confidant never stores is refused, the client's address is resolved, and so is the
/// browser session, with its CSRF check. The store's caches check their freshness once for
/// the whole of it, and the metrics count and time it under its route. (The router has
/// matched the route by now: this layer wraps each route, and the fallback.)
async fn admit(State(state): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let route = RouteLabels::of(&request);
    let limit = time_limit(&request);
    let admitted = async {
        let mut request = match text::check(&state, request).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        client_addr::attach(&state, &mut request);
        session::resolve(&state, request, next).await
    };
    let response =
        match tokio::time::timeout(limit, confidant_store::within_request(admitted)).await {
            Ok(response) => response,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        };
    state.metrics.observe(route, started, response.status());
    response
}

/// How long a request may take to be answered (a streamed body, such as live events, goes on
/// after its headers); an upload, which must first be read whole, has longer.
const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(30);
const UPLOAD_TIME_LIMIT: Duration = Duration::from_secs(600);

/// How long `request` may take before it is answered 503: 25 MiB over a slow uplink takes
/// minutes, while anything else answering after 30 seconds is stuck.
fn time_limit(request: &Request<Body>) -> Duration {
    if request.method() == axum::http::Method::POST && request.uri().path() == "/api/v1/attachments"
    {
        UPLOAD_TIME_LIMIT
    } else {
        REQUEST_TIME_LIMIT
    }
}

/// The most header bytes (names and values) a request may carry; a browser sends a few KiB.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The refusal of a request whose headers are larger than any client needs: 431, as RFC 6585
/// says.
fn oversized_headers(request: &Request<Body>) -> Option<Response> {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    // Plain text: the surface's error shape is put on by `edge`.
    (size > MAX_HEADER_BYTES).then(|| {
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("Request headers are limited to {MAX_HEADER_BYTES} bytes."),
        )
            .into_response()
    })
}

/// Lets the forms of this page end at `redirect_uri`'s origin as well as at this server.
/// Browsers check `form-action` against every redirect that follows a form submission, and
/// the OAuth consent (and log-in on the way to it) ends with a redirect to the partner app.
pub fn allow_form_target(response: &mut axum::response::Response, redirect_uri: &str) {
    let Ok(url) = url::Url::parse(redirect_uri) else {
        return;
    };
    let source = match url.scheme() {
        "http" | "https" => url.origin().ascii_serialization(),
        // A native app's private-use scheme (RFC 8252) is matched as a scheme source.
        scheme => format!("{scheme}:"),
    };
    let policy = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {source}"),
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

fn static_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Unknown paths: the API's error shape under `/api/` and `/transparency/`, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let error = confidant_core::Error::NotFound;
    if uri.path().starts_with("/api/") || uri.path().starts_with("/transparency/") {
        error::ApiError::from(error).into_response()
    } else {
        web::PageError::from(error).into_response()
    }
}
