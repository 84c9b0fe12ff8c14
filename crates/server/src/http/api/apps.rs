//! The member's connected apps: what each may do, and disconnecting them.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use confidant_core::oauth::ConnectedApp;

use super::schema::{ErrorOut, conversation_title};
use crate::http::error::{ApiError, AppJson, AppPath};
use crate::http::request_id::RequestId;
use crate::http::session::ApiCaller;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ConnectedAppOut {
    pub client_id: String,
    pub name: String,
    pub owner: String,
    pub homepage: Option<String>,
    pub privacy_policy: Option<String>,
    /// What the app may do, e.g. `["profile", "messages:send"]`.
    pub scopes: Vec<String>,
    /// Conversations you let it read, each until its expiry.
    pub threads: Vec<ThreadGrantOut>,
    /// When you connected it (ms since the epoch).
    pub granted_at: i64,
    /// When it last used its access, if ever (to the minute).
    pub last_used_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ThreadGrantOut {
    pub conversation_id: i64,
    /// `null` if you have since left the conversation.
    pub title: Option<String>,
    pub granted_at: i64,
    pub expires_at: i64,
}

impl From<ConnectedApp> for ConnectedAppOut {
    fn from(connected: ConnectedApp) -> Self {
        Self {
            client_id: connected.app.client_id,
            name: connected.app.name,
            owner: connected.app.owner,
            homepage: connected.app.homepage,
            privacy_policy: connected.app.privacy_policy,
            scopes: connected
                .grant
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            threads: connected
                .threads
                .into_iter()
                .map(|thread| ThreadGrantOut {
                    conversation_id: thread.grant.conversation_id.0,
                    title: thread.conversation.as_ref().map(conversation_title),
                    granted_at: thread.grant.granted_at.0,
                    expires_at: thread.grant.expires_at.0,
                })
                .collect(),
            granted_at: connected.grant.created_at.0,
            last_used_at: connected.grant.last_used_at.map(|t| t.0),
        }
    }
}

/// The apps you have connected and what each may do.
#[utoipa::path(get, path = "/api/v1/me/apps", tag = "apps", security(("bearer" = [])),
    responses((status = 200, body = Vec<ConnectedAppOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<AppJson<Vec<ConnectedAppOut>>, ApiError> {
    let connected = state.app.connected_apps(caller.member().id).await?;
    Ok(AppJson(connected.into_iter().map(Into::into).collect()))
}

/// Disconnect an app. Every token it holds for you stops working before this answers.
#[utoipa::path(delete, path = "/api/v1/me/apps/{client_id}", tag = "apps",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The app's client id")),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub async fn disconnect(
    State(state): State<AppState>,
    caller: ApiCaller,
    RequestId(request_id): RequestId,
    AppPath(client_id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .disconnect_app(caller.member().id, &client_id, &request_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
