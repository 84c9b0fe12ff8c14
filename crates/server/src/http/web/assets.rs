//! The stylesheet, the scripts and the service worker, compiled into the binary.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../../static/app.css");
const JS: &str = include_str!("../../../static/app.js");
const SERVICE_WORKER: &str = include_str!("../../../static/sw.js");
/// The access-log page's check that the log was only ever appended to.
const LOG_CHECK: &str = include_str!("../../../static/log-check.js");

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        "log-check.js" => (LOG_CHECK, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// `/sw.js`: the service worker that shows pushed notifications. Served from the root so its
/// scope is the whole site, and never cached long, so an update reaches browsers.
pub async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SERVICE_WORKER,
    )
        .into_response()
}
