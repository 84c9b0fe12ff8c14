//! The friends page: friends, requests both ways, blocks and search by handle.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::store::Member;
use confidant_core::{Error, MemberId};

use super::{FormErrors, Page, PageError, render, see_other};
use crate::http::client_addr::ClientAddr;
use crate::http::session::{CsrfToken, CurrentMember};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "friends.html")]
struct FriendsPage {
    page: Page,
    friends: Vec<Member>,
    incoming: Vec<Member>,
    outgoing: Vec<Member>,
    blocked: Vec<Member>,
    query: String,
    results: Vec<Member>,
    request_handle: String,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn page(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    ClientAddr(address): ClientAddr,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    // The page opens with an empty search box: nothing is searched until something is typed.
    let searched = if query.q.trim().is_empty() {
        Ok(Vec::new())
    } else {
        state
            .app
            .search_members(current.member().id, &query.q, address.as_deref())
            .await
    };
    let (results, status, errors) = match searched {
        Ok(found) => (found, StatusCode::OK, FormErrors::default()),
        Err(Error::Throttled { retry_after_secs }) => (
            Vec::new(),
            StatusCode::TOO_MANY_REQUESTS,
            FormErrors::one(
                "q",
                format!(
                    "That is a lot of searching. Try again in {} minutes, or ask your friend for their handle.",
                    retry_after_secs.div_ceil(60)
                ),
            ),
        ),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            (Vec::new(), status, errors)
        }
    };
    let search = Search {
        query: query.q,
        results,
    };
    friends_page(
        &state,
        current,
        csrf,
        search,
        String::new(),
        errors,
        status,
        None,
    )
    .await
}

/// What the directory search box holds and found.
#[derive(Default)]
struct Search {
    query: String,
    results: Vec<Member>,
}

#[allow(clippy::too_many_arguments)]
async fn friends_page(
    state: &AppState,
    current: CurrentMember,
    csrf: String,
    search: Search,
    request_handle: String,
    errors: FormErrors,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let me = current.0.member;
    let mut page = Page::live(state, "Friends", me.clone(), csrf).await?;
    let overview = state.app.friends_overview(me.id).await?;
    page.notice = notice;
    render(
        status,
        &FriendsPage {
            page,
            friends: overview.friends,
            incoming: overview.requests.incoming,
            outgoing: overview.requests.outgoing,
            blocked: overview.blocked,
            query: search.query,
            results: search.results,
            request_handle,
            errors,
        },
    )
}

#[derive(Deserialize)]
pub struct RequestForm {
    handle: String,
}

pub async fn request(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<RequestForm>,
) -> Result<Response, PageError> {
    match state
        .app
        .request_friend(current.member().id, &form.handle)
        .await
    {
        Ok(_) => Ok(see_other("/friends")),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            friends_page(
                &state,
                current,
                csrf,
                Search::default(),
                form.handle,
                errors,
                status,
                None,
            )
            .await
        }
    }
}

/// The one-click actions on a member: accept, decline (or withdraw), remove, block,
/// unblock, and message (opens the 1:1 conversation).
pub async fn act(
    State(state): State<AppState>,
    current: CurrentMember,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, PageError> {
    let me = current.member().id;
    let other = MemberId(id);
    let app = &state.app;
    match action.as_str() {
        "accept" => app.accept_friend(me, other).await?,
        "decline" => app.drop_friend_request(me, other).await?,
        "remove" => app.remove_friend(me, other).await?,
        "block" => app.block(me, other).await?,
        "unblock" => app.unblock(me, other).await?,
        "message" => {
            let conversation = app.open_direct(me, other).await?;
            return Ok(see_other(&format!("/c/{conversation}")));
        }
        _ => return Err(PageError::Core(confidant_core::Error::NotFound)),
    }
    Ok(see_other("/friends"))
}
