//! Attachments: upload a file, then send its id with a message; fetch it (or an image's
//! thumbnail) as long as you may read it.
//!
//! A file is served inline only when it is an image that decoded, of a type browsers show;
//! everything else (SVG and HTML included) is a download of `application/octet-stream`,
//! sandboxed, so nothing uploaded ever runs as a page of this origin.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use utoipa::IntoParams;

use confidant_core::AttachmentId;
use confidant_core::store::Attachment;

use super::schema::{AttachmentOut, ErrorOut};
use crate::attachments::Variant;
use crate::attachments::inspect::{self, shown_inline};
use crate::http::error::{ApiError, AppJson, AppPath, AppQuery};
use crate::http::session::ApiCaller;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name, as it will be downloaded (at most 255 characters; a path is cut to
    /// its last part).
    #[param(max_length = 255)]
    pub name: Option<String>,
}

/// Upload a file (the raw bytes as the body, at most `[media] max_bytes`, 25 MiB by
/// default), then send its id in a message's `attachments`. Its type is read from the bytes,
/// whatever `Content-Type` says. Images get a thumbnail, and lose their metadata (EXIF, GPS,
/// XMP). An upload no message carries is deleted after a day.
#[utoipa::path(post, path = "/api/v1/attachments", tag = "conversations",
    security(("bearer" = [])), params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentOut),
              (status = 413, body = ErrorOut, description = "`payload_too_large`"),
              (status = 422, body = ErrorOut, description = "`empty_file`, `name_too_long`")))]
pub async fn upload(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppQuery(query): AppQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, AppJson<AttachmentOut>), ApiError> {
    let max = state.attachments.max_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let attachment = state
        .attachments
        .upload(&state.app, caller.member().id, query.name.as_deref(), bytes)
        .await?;
    Ok((StatusCode::CREATED, AppJson(attachment.info.into())))
}

/// Download a file sent in a conversation you are in, or one you uploaded. Anyone else gets
/// 404, as for an id that does not exist.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "conversations",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 404, body = ErrorOut)))]
pub async fn download(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
) -> Result<Response, ApiError> {
    let (attachment, bytes) = state
        .attachments
        .read(
            &state.app,
            caller.member().id,
            AttachmentId(id),
            Variant::Original,
        )
        .await?;
    let inline = shown_inline(&attachment.info.content_type, attachment.info.thumbnail);
    let content_type = if inline {
        attachment.info.content_type.clone()
    } else {
        "application/octet-stream".to_owned()
    };
    Ok(serve(&attachment, content_type, inline, bytes))
}

/// An image's thumbnail (at most 320 pixels a side), for those who may read the image.
#[utoipa::path(get, path = "/api/v1/attachments/{id}/thumbnail", tag = "conversations",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>),
              (status = 404, body = ErrorOut, description = "Not yours to read, or not an image")))]
pub async fn thumbnail(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppPath(id): AppPath<i64>,
) -> Result<Response, ApiError> {
    let (attachment, bytes) = state
        .attachments
        .read(
            &state.app,
            caller.member().id,
            AttachmentId(id),
            Variant::Thumbnail,
        )
        .await?;
    let content_type = crate::images::sniff(&bytes)
        .filter(|kind| inspect::INLINE_TYPES.contains(kind))
        .unwrap_or("application/octet-stream");
    Ok(serve(&attachment, content_type.to_owned(), true, bytes))
}

/// Characters a `filename*` value keeps as they are (RFC 8187's attr-char).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `inline` or `attachment`, with the file's name for every browser: an ASCII fallback and
/// the exact name in RFC 8187 encoding (RFC 6266).
fn disposition(inline: bool, name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    let value = format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR_CHAR)
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

fn serve(
    attachment: &Attachment,
    content_type: String,
    inline: bool,
    bytes: bytes::Bytes,
) -> Response {
    let content_type = HeaderValue::from_str(&content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                disposition(inline, &attachment.info.name),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
            // Never a page of this origin, whatever a browser makes of the bytes.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("same-origin"),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reach_every_browser_unharmed() {
        assert_eq!(
            disposition(false, "report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            disposition(true, "été \"2026\".jpg"),
            "inline; filename=\"_t_ _2026_.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9%20%222026%22.jpg"
        );
    }
}
