//! `POST /partner/v1/events`: counts a partner reports about its own channels, authenticated
//! with the app's client credentials (HTTP Basic), not a member's token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use confidant_core::reports::{EventInput, EventsError, MAX_EVENTS};

use super::auth::PartnerClient;
use crate::http::error::{ApiError, AppJson};
use crate::state::AppState;

/// The largest batch body accepted: 10,000 events of a few hundred bytes each.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Where apps post them.
pub const PATH: &str = "/partner/v1/events";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsIn {
    /// 1 to 10,000 daily counts.
    #[schema(value_type = Vec<EventSchema>, min_items = 1, max_items = 10000)]
    pub events: Vec<EventInput>,
}

/// One daily count, as `confidant_core::reports::EventInput` reads it. Which surfaces and
/// variations are allowed is the app's own declared domain; days reach back 400 days and
/// forward one.
#[derive(ToSchema)]
#[schema(as = EventInput)]
#[allow(dead_code)] // describes the item for the OpenAPI document
struct EventSchema {
    /// `YYYY-MM-DD` (UTC).
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    day: String,
    channel: Channel,
    interface: Interface,
    /// One of the app's declared initiation surfaces.
    initiation_surface: String,
    /// One of the app's declared variations.
    variation: String,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    sends: i64,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    clicks: i64,
    /// Repeating a key changes nothing; 1 to 200 characters, not all blank.
    #[schema(min_length = 1, max_length = 200)]
    idempotency_key: String,
}

/// Sent through Confidant or off-platform (`confidant_core::reports::CHANNELS`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(super) enum Channel {
    Confidant,
    OffPlatform,
}

/// Where a recommendation was started (`confidant_core::partner::INTERFACES`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(super) enum Interface {
    Web,
    Ios,
    Android,
    Tv,
    Other,
}

#[derive(Serialize, ToSchema)]
pub struct EventsOut {
    pub received: usize,
    /// New counts; the rest repeated keys seen before and changed nothing.
    pub stored: u64,
}

/// `POST /partner/v1/events`, with `Authorization: Basic client_id:client_secret`.
#[utoipa::path(
    post, path = "/partner/v1/events", tag = "partner", request_body = EventsIn,
    security(("partner_client" = [])),
    responses(
        (status = 200, body = EventsOut),
        (status = 401, description = "missing or wrong client credentials"),
        (status = 422, description = "invalid events, each listed with its index and field; nothing stored"),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    PartnerClient(app): PartnerClient,
    AppJson(batch): AppJson<EventsIn>,
) -> Result<Response, Response> {
    match state.app.report_events(&app, batch.events).await {
        Ok(accepted) => Ok(AppJson(EventsOut {
            received: accepted.received,
            stored: accepted.stored,
        })
        .into_response()),
        Err(EventsError::BatchSize) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({
                "error": "invalid_batch",
                "message": format!("a batch holds 1 to {MAX_EVENTS} events"),
            })),
        )
            .into_response()),
        Err(EventsError::Invalid(items)) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({
                "error": "invalid_events",
                "message": format!("{} of the events are invalid; none were stored", items.len()),
                "items": items
                    .iter()
                    .map(|item| json!({
                        "index": item.index,
                        "field": item.field,
                        "message": item.message,
                    }))
                    .collect::<Vec<_>>(),
            })),
        )
            .into_response()),
        Err(EventsError::Core(error)) => Err(ApiError::Core(error).into_response()),
    }
}
