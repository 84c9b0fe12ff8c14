//! Friend requests, friends and blocks.

use axum::extract::State;
use axum::http::StatusCode;

use confidant_core::MemberId;
use confidant_core::social::RequestOutcome;

use super::schema::*;
use crate::http::error::{ApiError, AppJson, AppPath};
use crate::http::session::ApiCaller;
use crate::state::AppState;

fn members(list: Vec<confidant_core::store::Member>) -> Vec<MemberOut> {
    list.into_iter().map(Into::into).collect()
}

/// Your friends, pending requests both ways, and who you blocked.
#[utoipa::path(get, path = "/api/v1/friends", tag = "friends", security(("bearer" = [])),
    responses((status = 200, body = FriendsOut)))]
pub async fn overview(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<AppJson<FriendsOut>, ApiError> {
    let overview = state.app.friends_overview(caller.member().id).await?;
    Ok(AppJson(FriendsOut {
        friends: members(overview.friends),
        incoming_requests: members(overview.requests.incoming),
        outgoing_requests: members(overview.requests.outgoing),
        blocked: members(overview.blocked),
    }))
}

/// Ask a member to be friends. If they already asked you, you become friends.
#[utoipa::path(post, path = "/api/v1/friends/requests", tag = "friends", security(("bearer" = [])),
    request_body = FriendRequestIn,
    responses((status = 201, body = FriendRequestOut), (status = 403, body = ErrorOut),
              (status = 409, body = ErrorOut), (status = 422, body = ErrorOut)))]
pub async fn request(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppJson(input): AppJson<FriendRequestIn>,
) -> Result<(StatusCode, AppJson<FriendRequestOut>), ApiError> {
    let outcome = state
        .app
        .request_friend(caller.member().id, &input.handle)
        .await?;
    let status = match outcome {
        RequestOutcome::Sent => "sent",
        RequestOutcome::BecameFriends => "friends",
    };
    Ok((
        StatusCode::CREATED,
        AppJson(FriendRequestOut {
            status: status.into(),
        }),
    ))
}

/// Accept the request a member sent you.
#[utoipa::path(post, path = "/api/v1/friends/requests/{member_id}/accept", tag = "friends",
    security(("bearer" = [])), params(("member_id" = i64, Path, description = "Who asked")),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub async fn accept(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(member_id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .accept_friend(caller.member().id, MemberId(member_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Decline a request you received, or withdraw one you sent.
#[utoipa::path(delete, path = "/api/v1/friends/requests/{member_id}", tag = "friends",
    security(("bearer" = [])), params(("member_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub async fn drop_request(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(member_id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .drop_friend_request(caller.member().id, MemberId(member_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop being friends.
#[utoipa::path(delete, path = "/api/v1/friends/{member_id}", tag = "friends",
    security(("bearer" = [])), params(("member_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(member_id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .remove_friend(caller.member().id, MemberId(member_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Block a member: ends any friendship and requests, and stops requests and direct
/// messages both ways.
#[utoipa::path(put, path = "/api/v1/blocks/{member_id}", tag = "friends",
    security(("bearer" = [])), params(("member_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`cannot_block_self`")))]
pub async fn block(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(member_id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .block(caller.member().id, MemberId(member_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a block.
#[utoipa::path(delete, path = "/api/v1/blocks/{member_id}", tag = "friends",
    security(("bearer" = [])), params(("member_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub async fn unblock(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(member_id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .unblock(caller.member().id, MemberId(member_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
