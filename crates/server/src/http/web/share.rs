//! `/share`: the send dialog an app opens instead of asking for a token. The member picks
//! friends and confirms; the app gets back only `result=shared` or `result=cancelled`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::partner::{CardInput, ShareDialog, ShareParams};
use confidant_core::store::Member;
use confidant_core::{Error, MemberId};

use super::{Page, PageError, render};
use crate::http::request_id::RequestId;
use crate::http::session::{BrowserSession, CsrfToken};
use crate::state::AppState;

/// What the app passes, as query and again as the form's hidden fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShareQuery {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    state: Option<String>,
    url: Option<String>,
    #[serde(default)]
    title: String,
    description: Option<String>,
    image_url: Option<String>,
    item_id: Option<String>,
    interface: Option<String>,
    surface: Option<String>,
    variation: Option<String>,
}

impl ShareQuery {
    fn params(&self) -> ShareParams {
        ShareParams {
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            card: CardInput {
                title: self.title.clone(),
                url: self.url.clone().filter(|u| !u.is_empty()),
                image_url: self.image_url.clone().filter(|u| !u.is_empty()),
                description: self.description.clone().filter(|d| !d.is_empty()),
                // The link is built from the app's item-URL template and this id.
                item_id: self.item_id.clone().unwrap_or_default(),
                interface: self.interface.clone().unwrap_or_else(|| "web".into()),
                initiation_surface: self.surface.clone().unwrap_or_default(),
                variation: self.variation.clone().unwrap_or_else(|| "default".into()),
            },
        }
    }

    fn hidden(&self) -> Vec<(&'static str, String)> {
        [
            ("client_id", Some(&self.client_id)),
            ("redirect_uri", Some(&self.redirect_uri)),
            ("state", self.state.as_ref()),
            ("url", self.url.as_ref()),
            ("title", Some(&self.title)),
            ("description", self.description.as_ref()),
            ("image_url", self.image_url.as_ref()),
            ("item_id", self.item_id.as_ref()),
            ("interface", self.interface.as_ref()),
            ("surface", self.surface.as_ref()),
            ("variation", self.variation.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?.clone())))
        .collect()
    }
}

#[derive(Template)]
#[template(path = "share.html")]
struct SharePage {
    page: Page,
    me: Member,
    dialog: ShareDialog,
    host: String,
    hidden: Vec<(&'static str, String)>,
    friends: Vec<Member>,
    error: Option<String>,
}

/// `GET /share?client_id=…&redirect_uri=…&url=…&title=…&surface=…`.
pub async fn dialog(
    State(state): State<AppState>,
    BrowserSession(session): BrowserSession,
    CsrfToken(csrf): CsrfToken,
    Query(query): Query<ShareQuery>,
) -> Result<Response, PageError> {
    let dialog = open(&state, &query).await?;
    let Some(session) = session else {
        let here = format!("/share?{}", query_string(&query.hidden()));
        return Err(PageError::LoginRequired { next: here });
    };
    page(
        &state,
        session.member,
        csrf,
        &query,
        dialog,
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct ShareForm {
    #[serde(flatten)]
    query: ShareQuery,
    #[serde(default)]
    friend: Vec<i64>,
    text: Option<String>,
    decision: String,
}

/// `POST /share`: the member's decision.
pub async fn decide(
    State(state): State<AppState>,
    BrowserSession(session): BrowserSession,
    CsrfToken(csrf): CsrfToken,
    RequestId(request_id): RequestId,
    Form(form): Form<ShareForm>,
) -> Result<Response, PageError> {
    let dialog = open(&state, &form.query).await?;
    let Some(session) = session else {
        return Err(PageError::LoginRequired { next: "/".into() });
    };
    if form.decision != "share" {
        return Ok(back_to_app(&dialog, "cancelled"));
    }
    let to: Vec<MemberId> = form.friend.iter().copied().map(MemberId).collect();
    let me = session.member;
    match state
        .app
        .share(&me, &dialog, &to, form.text.as_deref(), &request_id)
        .await
    {
        Ok(()) => Ok(back_to_app(&dialog, "shared")),
        Err(Error::Invalid { message, .. }) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            page(&state, me, csrf, &form.query, dialog, Some(message), status).await
        }
        Err(other) => Err(other.into()),
    }
}

/// The dialog's parameters checked; a bad app or redirect URI is an error page, never a
/// redirect.
async fn open(state: &AppState, query: &ShareQuery) -> Result<ShareDialog, PageError> {
    state
        .app
        .open_share_dialog(query.params())
        .await
        .map_err(|error| match error {
            Error::Invalid { message, .. } => PageError::BadRequest(message),
            other => other.into(),
        })
}

async fn page(
    state: &AppState,
    me: Member,
    csrf: String,
    query: &ShareQuery,
    dialog: ShareDialog,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let friends = state.app.friends(me.id).await?;
    let host = url::Url::parse(&dialog.card.url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    let redirect_uri = dialog.redirect_uri.clone();
    let mut response = render(
        status,
        &SharePage {
            page: Page::new(
                format!("Share from {}", dialog.app.name),
                Some(me.clone()),
                csrf,
            ),
            me,
            host,
            hidden: query.hidden(),
            friends,
            dialog,
            error,
        },
    )?;
    // The form's answer redirects to the app; browsers hold redirects to `form-action` too.
    crate::http::allow_form_target(&mut response, &redirect_uri);
    Ok(response)
}

fn back_to_app(dialog: &ShareDialog, result: &str) -> Response {
    let Ok(mut target) = url::Url::parse(&dialog.redirect_uri) else {
        return PageError::BadRequest("The app's redirect URI is not valid.".into())
            .into_response();
    };
    {
        let mut query = target.query_pairs_mut();
        query.append_pair("result", result);
        if let Some(state) = &dialog.state {
            query.append_pair("state", state);
        }
    }
    Redirect::to(target.as_str()).into_response()
}

fn query_string(pairs: &[(&'static str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}
