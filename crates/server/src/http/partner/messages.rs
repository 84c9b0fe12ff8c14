//! `POST /partner/v1/messages` and `GET /partner/v1/messages/{id}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use confidant_core::accesslog::Action;
use confidant_core::partner::{CardInput, PartnerSend, SendInput};

use super::{PartnerCall, PartnerErrorResponse};
use crate::http::error::{ApiError, AppJson};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendIn {
    /// 1 to 50 friends, by the ids `/partner/v1/friends` gives.
    #[schema(min_items = 1, max_items = 50)]
    pub to: Vec<String>,
    /// At most 2 KiB.
    pub text: Option<String>,
    pub card: Option<CardIn>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardIn {
    pub title: String,
    /// Optional: Confidant builds the link from your app's item-URL template and `item_id`,
    /// the same for every recipient. If you send it, it must be exactly that expansion.
    pub url: Option<String>,
    pub image_url: Option<String>,
    pub description: Option<String>,
    /// Your own id for the item.
    pub item_id: String,
    #[schema(value_type = super::events::Interface)]
    pub interface: String,
    /// One of the surfaces your app declared.
    pub initiation_surface: String,
    /// One of the variations your app declared.
    pub variation: String,
}

#[derive(Serialize, ToSchema)]
pub struct SendOut {
    /// This app's own id for the send, for `GET /partner/v1/messages/{id}`.
    pub id: String,
    pub created_at: i64,
    pub recipients: Vec<RecipientOut>,
}

#[derive(Serialize, ToSchema)]
pub struct RecipientOut {
    /// The recipient's id for this app.
    pub id: String,
    /// When the message reached their conversation (ms since the epoch).
    pub delivered_at: i64,
}

impl From<PartnerSend> for SendOut {
    fn from(send: PartnerSend) -> Self {
        Self {
            id: send.id,
            created_at: send.created_at.0,
            recipients: send
                .recipients
                .into_iter()
                .map(|(id, at)| RecipientOut {
                    id,
                    delivered_at: at.0,
                })
                .collect(),
        }
    }
}

/// `POST /partner/v1/messages` (scope `messages:send`): a text, a recommendation card, or
/// both, to friends who use the app, in their 1:1 conversations, labelled "via" the app.
/// Send `Idempotency-Key` to make retries safe.
#[utoipa::path(
    post, path = "/partner/v1/messages", tag = "partner", request_body = SendIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key return the first result")),
    responses(
        (status = 201, body = SendOut),
        (status = 401, description = "missing, expired or revoked token"),
        (status = 403, description = "the token lacks the `messages:send` scope"),
        (status = 409, description = "the Idempotency-Key was used for another request"),
        (status = 422, description = "a bad field (`to`, `text`, `card.*`), or a recipient who cannot receive it"),
        (status = 429, description = "too many sends for this member; see Retry-After"),
    ),
    security(("partner_oauth" = ["messages:send"]))
)]
pub async fn send(
    State(state): State<AppState>,
    PartnerCall(call): PartnerCall,
    headers: HeaderMap,
    input: Result<AppJson<SendIn>, ApiError>,
) -> Result<(StatusCode, axum::Json<SendOut>), PartnerErrorResponse> {
    let AppJson(input) =
        super::logged_unless_parsed(&state, &call, Action::MessageSend, input).await?;
    let key = headers
        .get("idempotency-key")
        .map(|value| value.to_str().unwrap_or_default());
    let input = SendInput {
        to: input.to,
        text: input.text,
        card: input.card.map(|card| CardInput {
            title: card.title,
            url: card.url,
            image_url: card.image_url,
            description: card.description,
            item_id: card.item_id,
            interface: card.interface,
            initiation_surface: card.initiation_surface,
            variation: card.variation,
        }),
    };
    let sent = state.app.partner_send(&call, input, key).await?;
    state.push.wake();
    Ok((StatusCode::CREATED, axum::Json(sent.into())))
}

/// `GET /partner/v1/messages/{id}` (scope `messages:read.app`): a send of this app for this
/// member — recipients and delivery times, nothing about reads or clicks.
#[utoipa::path(
    get, path = "/partner/v1/messages/{id}", tag = "partner",
    responses(
        (status = 200, body = SendOut),
        (status = 401, description = "missing, expired or revoked token"),
        (status = 403, description = "the token lacks the `messages:read.app` scope"),
        (status = 404, description = "no such send of this app for this member"),
    ),
    security(("partner_oauth" = ["messages:read.app"]))
)]
pub async fn status(
    State(state): State<AppState>,
    PartnerCall(call): PartnerCall,
    Path(id): Path<String>,
) -> Result<axum::Json<SendOut>, PartnerErrorResponse> {
    let send = state.app.partner_message_status(&call, &id).await?;
    Ok(axum::Json(send.into()))
}
