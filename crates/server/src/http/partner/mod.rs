//! The partner API under `/partner/v1`: what an app can do with a member's OAuth token.
//! Every handler takes a [`PartnerCall`] and makes one core call, which checks the token and
//! scope and records the call in the member's access log.

mod auth;

use axum::Router;
use axum::routing::get;
use serde::Serialize;

use axum::extract::State;

use crate::state::AppState;

pub use auth::{PartnerCall, PartnerErrorResponse};

pub fn router() -> Router<AppState> {
    Router::new().route("/partner/v1/me", get(me))
}

/// The member as this app knows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PartnerProfile {
    /// The member's id for this app only; other apps get a different one.
    pub id: String,
    pub display_name: String,
}

/// `GET /partner/v1/me` (scope `profile`).
#[utoipa::path(
    get, path = "/partner/v1/me", tag = "partner",
    responses(
        (status = 200, body = PartnerProfile),
        (status = 401, description = "missing, expired or revoked token"),
        (status = 403, description = "the token lacks the `profile` scope"),
    ),
    security(("partner_oauth" = ["profile"]))
)]
pub async fn me(
    State(state): State<AppState>,
    PartnerCall(call): PartnerCall,
) -> Result<axum::Json<PartnerProfile>, PartnerErrorResponse> {
    let profile = state.app.partner_profile(&call).await?;
    Ok(axum::Json(PartnerProfile {
        id: profile.id,
        display_name: profile.display_name,
    }))
}
