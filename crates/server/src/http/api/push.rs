//! Web Push: the key browsers subscribe with, and turning notifications on and off per
//! browser.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use confidant_core::push::Subscribing;
use confidant_core::store::PushSubscription;

use super::schema::ErrorOut;
use crate::http::error::{ApiError, AppJson, AppPath};
use crate::http::session::ApiCaller;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushKeyOut {
    /// The VAPID public key to subscribe with (`applicationServerKey`), base64url.
    pub public_key: String,
    /// Whether this server sends notifications at all.
    pub enabled: bool,
}

/// `PushSubscription.toJSON()` as the browser gives it, and whether pushes may carry text.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushSubscriptionIn {
    /// The push service's URL for this browser (http or https).
    #[schema(max_length = 2048)]
    pub endpoint: String,
    pub keys: PushKeysIn,
    /// Show the message's text in the notification (default: only who wrote). Anything
    /// else `toJSON()` gives (`expirationTime`) is ignored.
    #[serde(default)]
    pub show_text: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushKeysIn {
    /// The browser's P-256 public key: an uncompressed point (65 bytes), base64url.
    #[schema(pattern = r"^B[A-P][A-Za-z0-9_-]{84}[AEIMQUYcgkosw048]$")]
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    #[schema(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub auth: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushSubscriptionOut {
    pub id: i64,
    pub endpoint: String,
    pub show_text: bool,
    pub created_at: i64,
}

impl From<PushSubscription> for PushSubscriptionOut {
    fn from(subscription: PushSubscription) -> Self {
        Self {
            id: subscription.id,
            endpoint: subscription.endpoint,
            show_text: subscription.show_text,
            created_at: subscription.created_at.0,
        }
    }
}

/// The key to subscribe to this server's notifications with.
#[utoipa::path(get, path = "/api/v1/push/key", tag = "push", security(("bearer" = [])),
    responses((status = 200, body = PushKeyOut)))]
pub async fn key(State(state): State<AppState>, _caller: ApiCaller) -> AppJson<PushKeyOut> {
    AppJson(PushKeyOut {
        public_key: state.push.public_key().to_owned(),
        enabled: state.push.enabled(),
    })
}

/// Turn notifications on in this browser (or change whether they show the text). New
/// messages are then pushed to it while it has no Confidant page open.
#[utoipa::path(post, path = "/api/v1/push/subscriptions", tag = "push",
    security(("bearer" = [])), request_body = PushSubscriptionIn,
    responses((status = 201, body = PushSubscriptionOut),
              (status = 409, body = ErrorOut, description = "`push_disabled`, `too_many_devices`"),
              (status = 422, body = ErrorOut, description = "`invalid_endpoint`, `endpoint_not_allowed`, `invalid_key`")))]
pub async fn subscribe(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppJson(input): AppJson<PushSubscriptionIn>,
) -> Result<(StatusCode, AppJson<PushSubscriptionOut>), ApiError> {
    state.push.accepts(&input.endpoint, &input.keys.p256dh)?;
    let subscribing = Subscribing {
        endpoint: input.endpoint,
        p256dh: input.keys.p256dh,
        auth: input.keys.auth,
        show_text: input.show_text,
    };
    let subscription = state
        .app
        .subscribe_push(caller.member().id, subscribing)
        .await?;
    Ok((StatusCode::CREATED, AppJson(subscription.into())))
}

/// The browsers you turned notifications on in.
#[utoipa::path(get, path = "/api/v1/push/subscriptions", tag = "push",
    security(("bearer" = [])), responses((status = 200, body = Vec<PushSubscriptionOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<AppJson<Vec<PushSubscriptionOut>>, ApiError> {
    let subscriptions = state.app.push_subscriptions(caller.member().id).await?;
    Ok(AppJson(subscriptions.into_iter().map(Into::into).collect()))
}

/// Turn notifications off in one browser.
#[utoipa::path(delete, path = "/api/v1/push/subscriptions/{id}", tag = "push",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub async fn unsubscribe(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.unsubscribe_push(caller.member().id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
