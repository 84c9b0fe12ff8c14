//! `/img/{token}`: a recommendation card's image, fetched by the server (see
//! [`crate::images`]) and served from this origin. The card's token names the image, so
//! nothing but an image some card carries can be fetched through it. Anything that is not
//! served — an unknown token, a card without an image, an image the proxy refused or could
//! not fetch — is the same 404; the card then shows its placeholder.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn card_image(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let url = match state.app.card_image(&token).await {
        Ok(url) => url,
        Err(confidant_core::Error::NotFound) => return StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::warn!(%error, "could not look a card image up");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    match state.images.image(&url).await {
        Ok(image) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(image.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=86400"),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; sandbox"),
                ),
            ],
            image.bytes,
        )
            .into_response(),
        Err(refusal) => {
            tracing::info!(%refusal, "a card image was not served");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}
