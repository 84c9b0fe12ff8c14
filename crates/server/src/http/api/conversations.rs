//! Conversations and their messages.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;

use confidant_core::messaging::SendOptions;
use confidant_core::{AttachmentId, ConversationId, MemberId, MessageId};

use super::schema::*;
use crate::http::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::http::session::ApiCaller;
use crate::state::AppState;

fn member_ids(ids: &[i64]) -> Vec<MemberId> {
    ids.iter().copied().map(MemberId).collect()
}

/// Your conversations, most recently active first, with unread counts.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations",
    security(("bearer" = [])), responses((status = 200, body = Vec<ConversationOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<AppJson<Vec<ConversationOut>>, ApiError> {
    let list = state.app.conversations(caller.member().id).await?;
    Ok(AppJson(list.into_iter().map(Into::into).collect()))
}

/// Open the 1:1 conversation with a friend, or create a group.
#[utoipa::path(post, path = "/api/v1/conversations", tag = "conversations",
    security(("bearer" = [])), request_body = NewConversationIn,
    responses((status = 201, body = ConversationDetailOut), (status = 403, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`cannot_message_self`"),
              (status = 422, body = ErrorOut)))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppJson(input): AppJson<NewConversationIn>,
) -> Result<(StatusCode, AppJson<ConversationDetailOut>), ApiError> {
    let me = caller.member().id;
    let id = match input {
        NewConversationIn::Direct { member_id } => {
            state.app.open_direct(me, MemberId(member_id)).await?
        }
        NewConversationIn::Group {
            title,
            member_ids: ids,
        } => {
            state
                .app
                .create_group(me, &title, &member_ids(&ids))
                .await?
        }
    };
    let detail = state.app.conversation(me, id).await?;
    Ok((StatusCode::CREATED, AppJson(detail.into())))
}

/// A conversation with its participants and their read receipts.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ConversationDetailOut), (status = 404, body = ErrorOut)))]
pub async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<ConversationDetailOut>, ApiError> {
    let detail = state
        .app
        .conversation(caller.member().id, ConversationId(id))
        .await?;
    Ok(AppJson(detail.into()))
}

/// Rename a group.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", tag = "conversations",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = ConversationPatchIn,
    responses((status = 200, body = ConversationDetailOut), (status = 404, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`not_a_group`: a 1:1 conversation"),
              (status = 422, body = ErrorOut)))]
pub async fn rename(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
    AppJson(input): AppJson<ConversationPatchIn>,
) -> Result<AppJson<ConversationDetailOut>, ApiError> {
    let me = caller.member().id;
    state
        .app
        .rename_group(me, ConversationId(id), &input.title)
        .await?;
    Ok(AppJson(
        state.app.conversation(me, ConversationId(id)).await?.into(),
    ))
}

/// Add friends of yours to a group (at most 256 members in all).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/members", tag = "conversations",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = AddMembersIn,
    responses((status = 200, body = ConversationDetailOut), (status = 403, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`not_a_group`, `too_many_members`")))]
pub async fn add_members(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
    AppJson(input): AppJson<AddMembersIn>,
) -> Result<AppJson<ConversationDetailOut>, ApiError> {
    let me = caller.member().id;
    state
        .app
        .add_to_group(me, ConversationId(id), &member_ids(&input.member_ids))
        .await?;
    Ok(AppJson(
        state.app.conversation(me, ConversationId(id)).await?.into(),
    ))
}

/// Leave a group.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/members/me", tag = "conversations",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`not_a_group`: a 1:1 conversation")))]
pub async fn leave(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .leave_group(caller.member().id, ConversationId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_before` of the previous page.
    pub before: Option<i64>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// Messages, newest first, by cursor.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    security(("bearer" = [])), params(("id" = i64, Path), PageQuery),
    responses((status = 200, body = MessagePageOut), (status = 404, body = ErrorOut)))]
pub async fn messages(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<AppJson<MessagePageOut>, ApiError> {
    let page = state
        .app
        .messages(
            caller.member().id,
            ConversationId(id),
            page.before.map(MessageId),
            page.limit.unwrap_or(50),
        )
        .await?;
    Ok(AppJson(MessagePageOut {
        messages: page.messages.into_iter().map(Into::into).collect(),
        next_before: page.next_before.map(|id| id.0),
    }))
}

/// Send a message (at most 2,048 characters), or a reply with `reply_to`. Send an
/// `Idempotency-Key` (one per draft) to make retries safe: a retry with the same key returns
/// the message first stored, and stores nothing.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    security(("bearer" = [])), request_body = NewMessageIn,
    params(("id" = i64, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "One per draft, at most 200 bytes")),
    responses((status = 201, body = MessageOut),
              (status = 400, body = ErrorOut, description = "`invalid_idempotency_key`: not visible ASCII"),
              (status = 403, body = ErrorOut), (status = 404, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`idempotency_key_reused`: the key was used for a different message"),
              (status = 413, body = ErrorOut), (status = 422, body = ErrorOut)))]
pub async fn send(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
    headers: HeaderMap,
    AppJson(input): AppJson<NewMessageIn>,
) -> Result<(StatusCode, AppJson<MessageOut>), ApiError> {
    let options = SendOptions {
        reply_to: input.reply_to.map(MessageId),
        client_key: idempotency_key(&headers)?,
        attachments: input.attachments.into_iter().map(AttachmentId).collect(),
    };
    let message = state
        .app
        .send_message_with(caller.member().id, ConversationId(id), &input.body, options)
        .await?;
    state.metrics.messages_sent.inc();
    state.push.wake();
    Ok((StatusCode::CREATED, AppJson(message.into())))
}

/// The `Idempotency-Key` header, if sent; it must be visible ASCII.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|value| {
            value.to_str().map(str::to_owned).map_err(|_| {
                ApiError::bad_request(
                    "invalid_idempotency_key",
                    "An Idempotency-Key is visible ASCII text.",
                )
            })
        })
        .transpose()
}

/// Change the text of a message you wrote. Everyone sees it marked "edited"; the earlier
/// text is not kept. Messages sent through an app cannot be edited.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}/messages/{message_id}",
    tag = "conversations", security(("bearer" = [])), request_body = MessagePatchIn,
    params(("id" = i64, Path), ("message_id" = i64, Path)),
    responses((status = 200, body = MessageOut),
              (status = 403, body = ErrorOut, description = "`not_your_message`, `cannot_message`"),
              (status = 404, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`message_deleted`, `cannot_edit_app_message`"),
              (status = 422, body = ErrorOut)))]
pub async fn edit(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath((id, message_id)): AppPath<(i64, i64)>,
    AppJson(input): AppJson<MessagePatchIn>,
) -> Result<AppJson<MessageOut>, ApiError> {
    let message = state
        .app
        .edit_message(
            caller.member().id,
            ConversationId(id),
            MessageId(message_id),
            &input.body,
        )
        .await?;
    Ok(AppJson(message.into()))
}

/// Delete a message you sent: its text (and card) are erased, and everyone sees "message
/// deleted" in its place.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/messages/{message_id}",
    tag = "conversations", security(("bearer" = [])),
    params(("id" = i64, Path), ("message_id" = i64, Path)),
    responses((status = 204),
              (status = 403, body = ErrorOut, description = "`not_your_message`"),
              (status = 404, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`message_deleted`")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath((id, message_id)): AppPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .delete_message(
            caller.member().id,
            ConversationId(id),
            MessageId(message_id),
        )
        .await?;
    // Its files, if it had any, are gone with it.
    state.attachments.released();
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a recommendation someone sent you through an app from your own view of the
/// conversation (the others still see it).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages/{message_id}/hide",
    tag = "conversations", security(("bearer" = [])),
    params(("id" = i64, Path), ("message_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorOut),
              (status = 409, body = ErrorOut, description = "`cannot_remove`: not an app's message to you")))]
pub async fn hide(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath((id, message_id)): AppPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .hide_message(
            caller.member().id,
            ConversationId(id),
            MessageId(message_id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find, each as the start of a word (at most 8 words, 200 characters).
    pub q: String,
    /// The `next_before` of the previous page.
    pub before: Option<i64>,
    /// Page size (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// Search the messages of your conversations, newest first. Only conversations you are in
/// are searched; deleted messages and recommendations you removed are not found.
#[utoipa::path(get, path = "/api/v1/search", tag = "conversations",
    security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = SearchPageOut), (status = 422, body = ErrorOut)))]
pub async fn search(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppQuery(query): AppQuery<SearchQuery>,
) -> Result<AppJson<SearchPageOut>, ApiError> {
    let page = state
        .app
        .search(
            caller.member().id,
            &query.q,
            query.before.map(MessageId),
            query.limit.unwrap_or(20),
        )
        .await?;
    Ok(AppJson(SearchPageOut {
        results: page
            .hits
            .into_iter()
            .map(|hit| SearchHitOut {
                message: hit.message.into(),
                conversation_title: hit.conversation_title,
            })
            .collect(),
        next_before: page.next_before.map(|id| id.0),
    }))
}

/// Mark the conversation read (a read receipt for the others).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "conversations",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = ReadIn,
    responses((status = 204), (status = 404, body = ErrorOut), (status = 422, body = ErrorOut)))]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
    AppJson(input): AppJson<ReadIn>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .mark_read(
            caller.member().id,
            ConversationId(id),
            input.message_id.map(MessageId),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
