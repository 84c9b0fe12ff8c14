//! `GET /partner/v1/threads` and `GET /partner/v1/threads/{id}/messages`: the conversations
//! the member shared with the app on its consent screen, and nothing else.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PartnerCall, PartnerErrorResponse};
use confidant_core::accesslog::Action;

use crate::http::error::{ApiError, AppQuery};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct SharedThreadOut {
    /// This app's own id for the thread: another app given the same thread sees another id.
    pub id: String,
    /// `direct` or `group`.
    pub kind: String,
    pub title: String,
    /// When the member shared it (ms since the epoch).
    pub shared_at: i64,
    /// Messages from this time on can be read: `shared_at`, or earlier if the member
    /// shared the history too (ms since the epoch; 0 for the whole history).
    pub readable_from: i64,
    /// The app's access ends then (ms since the epoch).
    pub expires_at: i64,
}

/// `GET /partner/v1/threads`: the threads the member shared with this app.
#[utoipa::path(
    get, path = "/partner/v1/threads", tag = "partner",
    responses(
        (status = 200, body = Vec<SharedThreadOut>),
        (status = 401, description = "missing, expired or revoked token"),
    ),
    security(("partner_oauth" = []))
)]
pub async fn threads(
    State(state): State<AppState>,
    PartnerCall(call): PartnerCall,
) -> Result<axum::Json<Vec<SharedThreadOut>>, PartnerErrorResponse> {
    let threads = state.app.partner_threads(&call).await?;
    Ok(axum::Json(
        threads
            .into_iter()
            .map(|thread| SharedThreadOut {
                id: thread.id,
                kind: thread.kind.as_str().to_owned(),
                title: thread.title,
                shared_at: thread.shared_at.0,
                readable_from: thread.readable_from.0,
                expires_at: thread.expires_at.0,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ThreadMessageOut {
    /// This app's own id for the message.
    pub id: String,
    pub sent_at: i64,
    /// The sender's display name; `null` once they deleted their account.
    pub from: Option<String>,
    /// Whether the member who shared the thread sent it.
    pub from_member: bool,
    pub body: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadParams {
    /// Only messages older than this one (an `id` this thread returned).
    pub before: Option<String>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// `GET /partner/v1/threads/{id}/messages`: newest first, from the moment the thread was
/// shared. Any thread not shared with this app — or no longer — is 404.
#[utoipa::path(
    get, path = "/partner/v1/threads/{id}/messages", tag = "partner", params(ThreadParams),
    responses(
        (status = 200, body = Vec<ThreadMessageOut>),
        (status = 401, description = "missing, expired or revoked token"),
        (status = 404, description = "no such thread shared with this app"),
    ),
    security(("partner_oauth" = []))
)]
pub async fn thread_messages(
    State(state): State<AppState>,
    PartnerCall(call): PartnerCall,
    Path(id): Path<String>,
    params: Result<AppQuery<ThreadParams>, ApiError>,
) -> Result<axum::Json<Vec<ThreadMessageOut>>, PartnerErrorResponse> {
    let AppQuery(params) =
        super::logged_unless_parsed(&state, &call, Action::ThreadRead, params).await?;
    let messages = state
        .app
        .partner_thread_messages(
            &call,
            &id,
            params.before.as_deref(),
            params.limit.unwrap_or(50),
        )
        .await?;
    Ok(axum::Json(
        messages
            .into_iter()
            .map(|message| ThreadMessageOut {
                id: message.id,
                sent_at: message.sent_at.0,
                from: message.from,
                from_member: message.from_member,
                body: message.body,
            })
            .collect(),
    ))
}
