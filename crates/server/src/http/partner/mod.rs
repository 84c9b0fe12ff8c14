//! The partner API under `/partner/v1`: what an app can do with a member's OAuth token.
//! Every handler takes a [`PartnerCaller`] and states the scope it needs.

mod auth;

use axum::Router;
use axum::routing::get;
use serde::Serialize;

use confidant_core::oauth::Scope;

use crate::state::AppState;

pub use auth::{PartnerCaller, PartnerError};

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
pub async fn me(caller: PartnerCaller) -> Result<axum::Json<PartnerProfile>, PartnerError> {
    let access = caller.require(Scope::Profile)?;
    Ok(axum::Json(PartnerProfile {
        id: access.grant.pseudonym.clone(),
        display_name: access.member.display_name.clone(),
    }))
}
