//! The partner API under `/partner/v1`: what an app can do with a member's OAuth token.
//! Every handler takes a [`PartnerCall`] and makes one core call, which checks the token and
//! scope and records the call in the member's access log.

mod auth;
pub mod events;
pub mod messages;
pub mod reports;
pub mod threads;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use confidant_core::partner::MAX_FRIENDS_PAGE;

use confidant_core::accesslog::Action;
use confidant_core::partner::PartnerRequest;

use crate::http::error::{ApiError, AppQuery};
use crate::state::AppState;

pub use auth::{PartnerCall, PartnerErrorResponse};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/partner/v1/me", get(me))
        .route("/partner/v1/friends", get(friends))
        .route("/partner/v1/messages", post(messages::send))
        .route(
            events::PATH,
            post(events::report).layer(DefaultBodyLimit::max(events::MAX_BODY_BYTES)),
        )
        .route("/partner/v1/messages/{id}", get(messages::status))
        .route("/partner/v1/reports", get(reports::list))
        .route("/partner/v1/reports/{id}", get(reports::show))
        .route("/partner/v1/threads", get(threads::threads))
        .route(
            "/partner/v1/threads/{id}/messages",
            get(threads::thread_messages),
        )
}

/// The member as this app knows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PartnerProfile {
    /// The member's id for this app only; other apps get a different one.
    pub id: String,
    pub display_name: String,
}

/// `GET /partner/v1/me` (scope `profile`).
#[utoipa::path(
    get, path = "/partner/v1/me", tag = "partner",
    responses(
        (status = 200, body = PartnerProfile),
        (status = 401, description = "missing, expired or revoked token"),
        (status = 403, description = "the token lacks the `profile` scope"),
    ),
    security(("partner_oauth" = ["profile"]))
)]
pub async fn me(
    State(state): State<AppState>,
    PartnerCall(call): PartnerCall,
) -> Result<axum::Json<PartnerProfile>, PartnerErrorResponse> {
    let profile = state.app.partner_profile(&call).await?;
    Ok(axum::Json(PartnerProfile {
        id: profile.id,
        display_name: profile.display_name,
    }))
}

/// A friend of the member who also connected this app.
#[derive(Serialize, ToSchema)]
pub struct PartnerFriendOut {
    /// The friend's id for this app only.
    pub id: String,
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerFriendsOut {
    pub friends: Vec<PartnerFriendOut>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next_after: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FriendsParams {
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// At most this many (default 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

/// What a request part parsed to; if it did not parse, the refusal is first recorded in the
/// member's log (promise 3: refused calls are logged too), then answered with the parse
/// error — or with the token's refusal, if the token is no good.
pub(super) async fn logged_unless_parsed<T>(
    state: &AppState,
    call: &PartnerRequest,
    action: Action,
    parsed: Result<T, ApiError>,
) -> Result<T, PartnerErrorResponse> {
    match parsed {
        Ok(value) => Ok(value),
        Err(malformed) => {
            state.app.partner_refuse_malformed(call, action).await?;
            Err(malformed.into())
        }
    }
}

/// `GET /partner/v1/friends` (scope `friends:read`): the member's friends who also use this
/// app. Friends who do not are not shown, nor counted.
#[utoipa::path(
    get, path = "/partner/v1/friends", tag = "partner", params(FriendsParams),
    responses(
        (status = 200, body = PartnerFriendsOut),
        (status = 401, description = "missing, expired or revoked token"),
        (status = 403, description = "the token lacks the `friends:read` scope"),
    ),
    security(("partner_oauth" = ["friends:read"]))
)]
pub async fn friends(
    State(state): State<AppState>,
    PartnerCall(call): PartnerCall,
    params: Result<AppQuery<FriendsParams>, ApiError>,
) -> Result<axum::Json<PartnerFriendsOut>, PartnerErrorResponse> {
    let AppQuery(params) = logged_unless_parsed(&state, &call, Action::FriendsList, params).await?;
    let page = state
        .app
        .partner_friends(
            &call,
            params.after.as_deref(),
            params.limit.unwrap_or(MAX_FRIENDS_PAGE),
        )
        .await?;
    Ok(axum::Json(PartnerFriendsOut {
        friends: page
            .friends
            .into_iter()
            .map(|friend| PartnerFriendOut {
                id: friend.id,
                display_name: friend.display_name,
            })
            .collect(),
        next_after: page.next_after,
    }))
}
