//! `/r/{token}`: a recommendation's tracked link. It counts the click (as an aggregate only)
//! and redirects to the card's URL; an unknown token is a 404 page, never a redirect.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use confidant_core::clicks::Click;

use super::PageError;
use crate::http::session::BrowserSession;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LinkQuery {
    /// The interface the link was shown in (`web`, `ios`, …).
    i: Option<String>,
}

pub async fn follow(
    State(state): State<AppState>,
    BrowserSession(session): BrowserSession,
    Path(token): Path<String>,
    Query(query): Query<LinkQuery>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let click = Click {
        token: &token,
        interface: query.i.as_deref(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok()),
        head: method == Method::HEAD,
        viewer: session.map(|session| session.member.id),
    };
    let url = state.app.follow_link(click).await?;
    let location = HeaderValue::from_str(&url)
        .map_err(|_| PageError::BadRequest("The link's address is not valid.".into()))?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // The destination learns nothing about the conversation the link came from.
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
    )
        .into_response())
}
