//! Partner apps as members see them: the public registry (`/apps`) and their own connected
//! apps (`/settings/apps`), where any app can be disconnected.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use axum::Form;
use confidant_core::oauth::Scope;
use confidant_core::partner::app_limits;
use confidant_core::reports::Mechanism;
use confidant_core::reports::privacy::epsilon;
use serde::Deserialize;

use confidant_core::ConversationId;
use confidant_core::store::{App, AppStatus, ViaApp};

use super::{Page, PageError, local_path, render, see_other, when};
use crate::http::api::schema::conversation_title;
use crate::http::request_id::RequestId;
use crate::http::session::{BrowserSession, CsrfToken, CurrentMember};
use crate::state::AppState;

/// A scope with the words the consent page uses for it.
pub struct ScopeLine {
    pub name: &'static str,
    pub allows: &'static str,
}

pub fn scope_lines<'a>(scopes: impl Iterator<Item = Scope> + 'a) -> Vec<ScopeLine> {
    scopes
        .map(|scope| ScopeLine {
            name: scope.as_str(),
            allows: scope.allows(),
        })
        .collect()
}

struct RegistryEntry {
    app: App,
    scopes: Vec<ScopeLine>,
}

#[derive(Template)]
#[template(path = "apps.html")]
struct RegistryPage {
    page: Page,
    apps: Vec<RegistryEntry>,
    log_public_key: String,
    /// The witnesses' verifier keys and how many must cosign.
    witnesses: Vec<String>,
    witness_quorum: u32,
    limits: Vec<&'static str>,
    privacy: RegistryPrivacy,
}

/// How private the engagement reports of every app are, in figures.
struct RegistryPrivacy {
    self_test: bool,
    rho_per_report: String,
    rho_per_data_day: String,
    epsilon_per_data_day: String,
    delta: String,
    contribution_cap: u32,
    cells_per_day: u32,
    retention_days: i64,
}

/// `GET /apps`: every approved app, who runs it, what it may ask for, and what it counts.
pub async fn registry(
    State(state): State<AppState>,
    BrowserSession(session): BrowserSession,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let apps = state
        .app
        .approved_apps()
        .await?
        .into_iter()
        .map(|app| RegistryEntry {
            scopes: scope_lines(app.scopes.iter()),
            app,
        })
        .collect();
    let policy = &state.app.report_policy().privacy;
    let privacy = RegistryPrivacy {
        self_test: policy.mechanism == Mechanism::SelfTest,
        rho_per_report: format!("{}", policy.rho_per_report),
        rho_per_data_day: format!("{}", policy.rho_per_data_day),
        epsilon_per_data_day: format!("{:.2}", epsilon(policy.rho_per_data_day, policy.delta)),
        delta: format!("{:e}", policy.delta),
        contribution_cap: policy.contribution_cap,
        cells_per_day: policy.cells_per_day,
        retention_days: policy.retention_days,
    };
    render(
        StatusCode::OK,
        &RegistryPage {
            page: Page::new("Apps", session.map(|s| s.member), csrf),
            apps,
            log_public_key: state.app.log_public_key().to_owned(),
            witnesses: state.web.witnesses.clone(),
            witness_quorum: state.app.witness_quorum(),
            limits: app_limits(true),
            privacy,
        },
    )
}

struct ConnectedRow {
    client_id: String,
    name: String,
    homepage: Option<String>,
    scopes: Vec<ScopeLine>,
    threads: Vec<ThreadRow>,
    granted: String,
    last_used: Option<String>,
    /// Suspended by the operator: it holds the grant but can use none of it.
    suspended: bool,
}

struct ThreadRow {
    conversation_id: i64,
    title: String,
    until: String,
}

#[derive(Template)]
#[template(path = "connected_apps.html")]
struct ConnectedPage {
    page: Page,
    /// What the last action did, said once after its redirect.
    notice: Option<String>,
    apps: Vec<ConnectedRow>,
    muted: Vec<ViaApp>,
    count_clicks: bool,
}

/// What `/settings/apps` is told after a disconnection.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    disconnected: Option<String>,
    thread_dropped: Option<String>,
}

/// `GET /settings/apps`.
pub async fn connected(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Query(done): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let me = current.0.member;
    let app_name = |client_id: String| {
        let state = state.clone();
        async move {
            match state.app.app(&client_id).await {
                Ok(app) => app.name,
                Err(_) => "The app".to_owned(),
            }
        }
    };
    let notice = match (done.disconnected, done.thread_dropped) {
        (Some(client_id), _) => Some(format!(
            "{} is disconnected: every token it held has stopped working, and your access log \
             records it.",
            app_name(client_id).await
        )),
        (None, Some(client_id)) => Some(format!(
            "{} can no longer read that conversation. Its other permissions are unchanged.",
            app_name(client_id).await
        )),
        (None, None) => None,
    };
    let apps = state
        .app
        .connected_apps(me.id)
        .await?
        .into_iter()
        .map(|connected| ConnectedRow {
            scopes: scope_lines(connected.grant.scopes.iter()),
            threads: connected
                .threads
                .iter()
                .map(|thread| ThreadRow {
                    conversation_id: thread.grant.conversation_id.0,
                    title: thread
                        .conversation
                        .as_ref()
                        .map_or_else(|| "a conversation you left".to_owned(), conversation_title),
                    until: when(thread.grant.expires_at).0,
                })
                .collect(),
            granted: when(connected.grant.created_at).0,
            last_used: connected.grant.last_used_at.map(|at| when(at).0),
            suspended: connected.app.status == AppStatus::Suspended,
            client_id: connected.app.client_id,
            name: connected.app.name,
            homepage: connected.app.homepage,
        })
        .collect();
    let muted = state.app.muted_apps(me.id).await?;
    let count_clicks = state.app.count_clicks(me.id).await?;
    let page = Page::member(&state, "Connected apps", me, csrf).await?;
    render(
        StatusCode::OK,
        &ConnectedPage {
            page,
            notice,
            apps,
            muted,
            count_clicks,
        },
    )
}

#[derive(Deserialize)]
pub struct BackForm {
    /// Where to return: a path on this server.
    back: Option<String>,
}

/// `POST /settings/muted-apps/{client_id}/{mute|unmute}`.
pub async fn mute(
    State(state): State<AppState>,
    current: CurrentMember,
    Path((client_id, action)): Path<(String, String)>,
    Form(form): Form<BackForm>,
) -> Result<Response, PageError> {
    let me = current.member().id;
    match action.as_str() {
        "mute" => state.app.mute_app(me, &client_id).await?,
        "unmute" => state.app.unmute_app(me, &client_id).await?,
        _ => return Err(PageError::BadRequest(format!("unknown action `{action}`"))),
    }
    // Only paths on this server: never an open redirect.
    let back = form
        .back
        .as_deref()
        .and_then(local_path)
        .unwrap_or_else(|| "/settings/apps".to_owned());
    Ok(see_other(&back))
}

#[derive(Deserialize)]
pub struct ClicksForm {
    /// Present when the box is ticked.
    count_clicks: Option<String>,
}

/// `POST /settings/clicks`: whether clicks on recommendation links may be counted.
pub async fn clicks(
    State(state): State<AppState>,
    current: CurrentMember,
    Form(form): Form<ClicksForm>,
) -> Result<Response, PageError> {
    state
        .app
        .set_count_clicks(current.member().id, form.count_clicks.is_some())
        .await?;
    Ok(see_other("/settings/apps"))
}

/// `POST /settings/apps/{client_id}/disconnect`: revokes the grant and all its tokens.
pub async fn disconnect(
    State(state): State<AppState>,
    current: CurrentMember,
    RequestId(request_id): RequestId,
    Path(client_id): Path<String>,
) -> Result<Response, PageError> {
    state
        .app
        .disconnect_app(current.member().id, &client_id, &request_id)
        .await?;
    Ok(see_other(&format!(
        "/settings/apps?disconnected={}",
        percent_encoding::utf8_percent_encode(&client_id, percent_encoding::NON_ALPHANUMERIC)
    )))
}

/// `POST /settings/apps/{client_id}/threads/{conversation_id}/drop`: ends the app's read
/// access to one conversation and leaves the rest of its grant alone.
pub async fn drop_thread(
    State(state): State<AppState>,
    current: CurrentMember,
    RequestId(request_id): RequestId,
    Path((client_id, conversation_id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    state
        .app
        .drop_thread_grant(
            current.member().id,
            &client_id,
            ConversationId(conversation_id),
            &request_id,
        )
        .await?;
    Ok(see_other(&format!(
        "/settings/apps?thread_dropped={}",
        percent_encoding::utf8_percent_encode(&client_id, percent_encoding::NON_ALPHANUMERIC)
    )))
}
