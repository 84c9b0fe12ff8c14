//! The first-party JSON API under `/api/v1`, and its OpenAPI document.

mod accesslog;
mod accounts;
mod apps;
mod attachments;
mod conversations;
mod events;
pub mod export;
mod friends;
pub mod openapi;
pub(crate) mod push;
pub mod schema;
mod transparency;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::error::AppJson;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/accounts", post(accounts::sign_up))
        .route("/api/v1/sessions", post(accounts::log_in))
        .route("/api/v1/sessions/current", delete(accounts::log_out))
        .route(
            "/api/v1/me",
            get(accounts::me)
                .patch(accounts::update_profile)
                .delete(accounts::delete_account),
        )
        .route("/api/v1/me/password", put(accounts::change_password))
        .route("/api/v1/me/export", get(export::export))
        .route("/api/v1/me/apps", get(apps::list))
        .route("/api/v1/me/access-log", get(accesslog::page))
        .route(
            "/api/v1/me/access-log/checkpoint",
            get(accesslog::checkpoint),
        )
        .route("/api/v1/me/access-log/inclusion", get(accesslog::inclusion))
        .route("/api/v1/me/access-log/witnessed", get(accesslog::witnessed))
        .route(
            "/api/v1/me/access-log/consistency",
            get(accesslog::consistency),
        )
        .route("/api/v1/me/access-log/export", get(accesslog::export))
        .route("/.well-known/confidant-log-key", get(accesslog::public_key))
        .route(
            "/transparency/heads/checkpoint",
            get(transparency::heads_checkpoint),
        )
        .route(
            "/transparency/heads/consistency",
            get(transparency::heads_consistency),
        )
        .route(
            "/transparency/heads/leaves",
            get(transparency::heads_leaves),
        )
        .route("/transparency/ledger", get(transparency::ledger))
        .route(
            "/transparency/ledger/checkpoint",
            get(transparency::ledger_checkpoint),
        )
        .route("/api/v1/me/apps/{client_id}", delete(apps::disconnect))
        .route("/api/v1/me/muted-apps", get(apps::muted))
        .route(
            "/api/v1/me/muted-apps/{client_id}",
            put(apps::mute).delete(apps::unmute),
        )
        .route(
            "/api/v1/me/privacy",
            get(apps::privacy).put(apps::set_privacy),
        )
        .route("/api/v1/members", get(accounts::search))
        .route("/api/v1/friends", get(friends::overview))
        .route("/api/v1/friends/requests", post(friends::request))
        .route(
            "/api/v1/friends/requests/{member_id}",
            delete(friends::drop_request),
        )
        .route(
            "/api/v1/friends/requests/{member_id}/accept",
            post(friends::accept),
        )
        .route("/api/v1/friends/{member_id}", delete(friends::remove))
        .route(
            "/api/v1/blocks/{member_id}",
            put(friends::block).delete(friends::unblock),
        )
        .route(
            "/api/v1/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route(
            "/api/v1/conversations/{id}",
            get(conversations::show).patch(conversations::rename),
        )
        .route(
            "/api/v1/conversations/{id}/members",
            post(conversations::add_members),
        )
        .route(
            "/api/v1/conversations/{id}/members/me",
            delete(conversations::leave),
        )
        .route(
            "/api/v1/conversations/{id}/messages",
            get(conversations::messages).post(conversations::send),
        )
        .route(
            "/api/v1/conversations/{id}/messages/{message_id}",
            axum::routing::patch(conversations::edit).delete(conversations::delete),
        )
        .route(
            "/api/v1/conversations/{id}/messages/{message_id}/hide",
            post(conversations::hide),
        )
        .route(
            "/api/v1/conversations/{id}/read",
            post(conversations::mark_read),
        )
        .route("/api/v1/search", get(conversations::search))
        // The upload reads its body itself, up to `[media] max_bytes`.
        .route(
            "/api/v1/attachments",
            post(attachments::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/attachments/{id}", get(attachments::download))
        .route(
            "/api/v1/attachments/{id}/thumbnail",
            get(attachments::thumbnail),
        )
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/push/key", get(push::key))
        .route(
            "/api/v1/push/subscriptions",
            get(push::list).post(push::subscribe),
        )
        .route("/api/v1/push/subscriptions/{id}", delete(push::unsubscribe))
        .route("/api/openapi.json", get(openapi_json))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Confidant API",
        description = "First-party JSON API: accounts, friends, conversations, messages and \
                       live events. Authenticate with `Authorization: Bearer <token>` from \
                       `POST /api/v1/sessions`. Errors are `{\"error\": code, \"message\": text}`."
    ),
    paths(
        accounts::sign_up, accounts::log_in, accounts::log_out, accounts::me,
        accounts::update_profile, accounts::delete_account, accounts::change_password,
        export::export,
        accounts::search,
        friends::overview, friends::request, friends::drop_request, friends::accept,
        friends::remove, friends::block, friends::unblock,
        conversations::list, conversations::create, conversations::show,
        conversations::rename, conversations::add_members, conversations::leave,
        conversations::messages, conversations::send, conversations::edit,
        conversations::delete, conversations::hide, conversations::search,
        conversations::mark_read,
        attachments::upload, attachments::download, attachments::thumbnail,
        events::stream,
        push::key, push::subscribe, push::list, push::unsubscribe,
        apps::list, apps::disconnect, apps::muted, apps::mute, apps::unmute, apps::privacy,
        apps::set_privacy,
        accesslog::page, accesslog::checkpoint, accesslog::inclusion, accesslog::consistency,
        accesslog::witnessed,
        accesslog::export, accesslog::public_key,
        transparency::heads_checkpoint, transparency::heads_consistency,
        transparency::heads_leaves, transparency::ledger,
        transparency::ledger_checkpoint,
        crate::http::partner::me, crate::http::partner::friends,
        crate::http::partner::threads::threads, crate::http::partner::threads::thread_messages,
        crate::http::partner::messages::send, crate::http::partner::messages::status,
        crate::http::partner::events::report,
        crate::http::partner::reports::list, crate::http::partner::reports::show,
        crate::http::oauth::metadata, crate::http::oauth::authorize::start,
        crate::http::oauth::authorize::decide,
        crate::http::oauth::endpoints::token, crate::http::oauth::endpoints::revoke,
        crate::http::oauth::endpoints::introspect,
    ),
    components(schemas(crate::reports::ReportFormat)),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Sign-up, sessions and your account"),
        (name = "friends", description = "Friend requests, friends and blocks"),
        (name = "conversations", description = "1:1 and group conversations and their messages"),
        (name = "events", description = "Live delivery over Server-Sent Events"),
        (name = "push", description = "Web Push notifications of new messages, per browser"),
        (name = "apps", description = "Partner apps you connected, and disconnecting them"),
        (name = "access log", description = "Everything partner apps did with your data, in a \
                                             Merkle log with signed checkpoints and proofs"),
        (name = "transparency", description = "The server's witnessed logs, for anyone: the log \
                                               of members' access-log heads and the public \
                                               budget ledger of report releases"),
        (name = "oauth", description = "The OAuth 2.0 authorization server partner apps connect \
                                        through: authorization code with PKCE, refresh, \
                                        revocation and introspection"),
        (name = "partner", description = "The partner API, for apps holding a member's OAuth \
                                          access token (see /.well-known/oauth-authorization-server)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "partner_client",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("The app's client id and secret, as at /oauth/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "partner_oauth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An OAuth 2.0 access token (cfd_at_…) from /oauth/token",
                    ))
                    .build(),
            ),
        );
    }
}

async fn openapi_json() -> AppJson<&'static serde_json::Value> {
    AppJson(openapi::document())
}
