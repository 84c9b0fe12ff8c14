//! The request's id (`x-request-id`, always set by the outer layer, which drops any the
//! client sent), for the records that must name the request they came from: access-log
//! entries.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::REQUEST_ID;

/// Longest request id kept; the server's own are UUIDs.
const MAX_LEN: usize = 128;

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get(&REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("-");
        // Always the server's UUID; kept printable and short all the same.
        let id: String = id
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(MAX_LEN)
            .collect();
        Ok(RequestId(if id.is_empty() { "-".into() } else { id }))
    }
}
