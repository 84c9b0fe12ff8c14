//! Searching your own conversations: a page of matches, each linking to the message in its
//! conversation.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use confidant_core::{Error, MessageId};

use super::timeline::{Moment, preview};
use super::{FormErrors, Page, PageError, render};
use crate::http::session::{CsrfToken, CurrentMember};
use crate::state::AppState;

/// Matches per page.
const PAGE: i64 = 20;

pub struct HitView {
    pub conversation_id: i64,
    pub message_id: i64,
    pub conversation: String,
    pub text: String,
    pub at: Moment,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    page: Page,
    q: String,
    searched: bool,
    hits: Vec<HitView>,
    older: Option<i64>,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    before: Option<i64>,
}

pub async fn page(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let me = current.0.member;
    let title = if query.q.trim().is_empty() {
        "Search".to_owned()
    } else {
        format!("Search: {}", query.q.trim())
    };
    let page = Page::member(&state, title, me.clone(), csrf).await?;
    let mut view = SearchPage {
        page,
        searched: !query.q.trim().is_empty(),
        q: query.q.clone(),
        hits: Vec::new(),
        older: None,
        errors: FormErrors::default(),
    };
    let mut status = StatusCode::OK;
    if view.searched {
        let before = query.before.map(MessageId);
        match state.app.search(me.id, &query.q, before, PAGE).await {
            Ok(found) => {
                let now = state.app.clock().now();
                view.older = found.next_before.map(|id| id.0);
                view.hits = found
                    .hits
                    .into_iter()
                    .map(|hit| HitView {
                        conversation_id: hit.message.conversation_id.0,
                        message_id: hit.message.id.0,
                        conversation: hit.conversation_title,
                        text: preview(&hit.message, 200),
                        at: Moment::new(hit.message.created_at, now),
                    })
                    .collect();
            }
            Err(error @ Error::Invalid { .. }) => {
                (status, view.errors) = FormErrors::from_error(error)?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    render(status, &view)
}
