//! The member's connected apps: what each may do, and disconnecting them.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
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

/// An app whose messages you muted.
#[derive(Serialize, ToSchema)]
pub struct MutedAppOut {
    pub client_id: String,
    pub name: String,
}

/// Apps you muted: their messages reach you folded away, without notifications.
#[utoipa::path(get, path = "/api/v1/me/muted-apps", tag = "apps", security(("bearer" = [])),
    responses((status = 200, body = Vec<MutedAppOut>)))]
pub async fn muted(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<AppJson<Vec<MutedAppOut>>, ApiError> {
    let muted = state.app.muted_apps(caller.member().id).await?;
    Ok(AppJson(
        muted
            .into_iter()
            .map(|app| MutedAppOut {
                client_id: app.client_id,
                name: app.name,
            })
            .collect(),
    ))
}

/// Mute an app. The app cannot tell.
#[utoipa::path(put, path = "/api/v1/me/muted-apps/{client_id}", tag = "apps",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The app's client id")),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub async fn mute(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(client_id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.app.mute_app(caller.member().id, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unmute an app.
#[utoipa::path(delete, path = "/api/v1/me/muted-apps/{client_id}", tag = "apps",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The app's client id")),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub async fn unmute(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(client_id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.app.unmute_app(caller.member().id, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyOut {
    /// Whether your clicks on recommendation links may be counted in apps' aggregate
    /// reports (never as yours).
    pub count_clicks: bool,
}

/// Your privacy choices about partner apps.
#[utoipa::path(get, path = "/api/v1/me/privacy", tag = "apps", security(("bearer" = [])),
    responses((status = 200, body = PrivacyOut)))]
pub async fn privacy(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<AppJson<PrivacyOut>, ApiError> {
    let count_clicks = state.app.count_clicks(caller.member().id).await?;
    Ok(AppJson(PrivacyOut { count_clicks }))
}

/// Change your privacy choices about partner apps.
#[utoipa::path(put, path = "/api/v1/me/privacy", tag = "apps", security(("bearer" = [])),
    request_body = PrivacyOut,
    responses((status = 200, body = PrivacyOut), (status = 400, body = ErrorOut)))]
pub async fn set_privacy(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppJson(choices): AppJson<PrivacyOut>,
) -> Result<AppJson<PrivacyOut>, ApiError> {
    state
        .app
        .set_count_clicks(caller.member().id, choices.count_clicks)
        .await?;
    Ok(AppJson(choices))
}
