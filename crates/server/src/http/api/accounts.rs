//! Sign-up, API sessions and the caller's own account.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use confidant_core::accounts::SignUp;
use confidant_core::store::SessionKind;

use super::schema::*;
use crate::http::client_addr::ClientAddr;
use crate::http::error::{ApiError, AppJson, AppQuery};
use crate::http::session::ApiCaller;
use crate::state::AppState;

/// Create an account.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = SignUpIn,
    responses((status = 201, body = MemberOut), (status = 409, body = ErrorOut, description = "Handle taken"),
              (status = 422, body = ErrorOut, description = "Invalid handle, password or name")))]
pub async fn sign_up(
    State(state): State<AppState>,
    AppJson(input): AppJson<SignUpIn>,
) -> Result<(StatusCode, AppJson<MemberOut>), ApiError> {
    let member = state
        .app
        .sign_up(SignUp {
            handle: input.handle,
            display_name: input.display_name,
            password: input.password,
            is_admin: false,
        })
        .await?;
    Ok((StatusCode::CREATED, AppJson(member.into())))
}

/// Log in and get a bearer token.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = LogInIn,
    responses((status = 201, body = SessionOut), (status = 401, body = ErrorOut),
              (status = 429, body = ErrorOut, description = "Too many failed attempts")))]
pub async fn log_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AppJson(input): AppJson<LogInIn>,
) -> Result<(StatusCode, AppJson<SessionOut>), ApiError> {
    let opened = state
        .app
        .log_in(
            &input.handle,
            &input.password,
            SessionKind::Api,
            client.as_deref(),
        )
        .await
        .inspect_err(|_| {
            state.metrics.logins_failed.inc();
        })?;
    Ok((
        StatusCode::CREATED,
        AppJson(SessionOut {
            token: opened.secret,
            expires_at: opened.expires_at.0,
            member: opened.session.member.into(),
        }),
    ))
}

/// End the session whose token authenticates this request.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "accounts",
    security(("bearer" = [])), responses((status = 204), (status = 401, body = ErrorOut)))]
pub async fn log_out(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<StatusCode, ApiError> {
    state.app.log_out(&caller.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = MemberOut), (status = 401, body = ErrorOut)))]
pub async fn me(caller: ApiCaller) -> AppJson<MemberOut> {
    AppJson(caller.0.member.into())
}

/// Change your display name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    request_body = ProfileIn, responses((status = 200, body = MemberOut), (status = 422, body = ErrorOut)))]
pub async fn update_profile(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppJson(input): AppJson<ProfileIn>,
) -> Result<AppJson<MemberOut>, ApiError> {
    let member = state
        .app
        .set_display_name(caller.member().id, &input.display_name)
        .await?;
    Ok(AppJson(member.into()))
}

/// Change your password; every other session of yours ends.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "accounts", security(("bearer" = [])),
    request_body = PasswordChangeIn, responses((status = 204),
    (status = 403, body = ErrorOut, description = "`wrong_password`"), (status = 422, body = ErrorOut)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppJson(input): AppJson<PasswordChangeIn>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .change_password(&caller.0, &input.current_password, &input.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete your account and your data. Your messages disappear from others' conversations,
/// shown as from "deleted member".
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    request_body = AccountDeletionIn, responses((status = 204),
    (status = 403, body = ErrorOut, description = "`wrong_password`"), (status = 422, body = ErrorOut)))]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppJson(input): AppJson<AccountDeletionIn>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_account(&caller.0, &input.password).await?;
    // Their files went with the account.
    state.attachments.released();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The start of a handle: at least 3 of its characters (a leading `@` is ignored).
    #[param(pattern = r"^\s*@?[A-Za-z0-9_]{3,}\s*$")]
    pub q: String,
}

/// Find members by the start of their handle: at most 5, leaving out the caller and anyone
/// who blocked them. Each member and each address has a small budget of searches per
/// minute and per day (429 with `Retry-After` past it).
#[utoipa::path(get, path = "/api/v1/members", tag = "accounts", security(("bearer" = [])),
    params(SearchQuery), responses(
        (status = 200, body = Vec<DirectoryMemberOut>),
        (status = 422, description = "`query_too_short` or `invalid_query`", body = ErrorOut),
        (status = 429, description = "The search budget is spent", body = ErrorOut)))]
pub async fn search(
    State(state): State<AppState>,
    caller: ApiCaller,
    ClientAddr(address): ClientAddr,
    AppQuery(query): AppQuery<SearchQuery>,
) -> Result<AppJson<Vec<DirectoryMemberOut>>, ApiError> {
    let found = state
        .app
        .search_members(caller.member().id, &query.q, address.as_deref())
        .await?;
    Ok(AppJson(
        found
            .into_iter()
            .map(|member| DirectoryMemberOut {
                id: member.id.0,
                handle: member.handle,
                display_name: member.display_name,
            })
            .collect(),
    ))
}
