//! The home page: the inbox for members, a welcome for everyone else; and group creation.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::MemberId;
use confidant_core::store::{ConversationKind, ConversationSummary, Member};

use super::timeline::preview;
use super::{FormErrors, Page, PageError, render, see_other, when};
use crate::http::api::schema::conversation_title;
use crate::http::session::{BrowserSession, CsrfToken, CurrentMember};
use crate::state::AppState;

pub struct ConversationRow {
    pub id: i64,
    pub title: String,
    pub is_group: bool,
    pub unread: i64,
    pub preview: String,
    pub when: String,
    pub when_iso: String,
}

impl From<ConversationSummary> for ConversationRow {
    fn from(summary: ConversationSummary) -> Self {
        let (when, when_iso) = when(summary.last_activity_at);
        let preview = summary
            .last_message
            .as_ref()
            .map_or_else(|| "No messages yet".to_owned(), |m| preview(m, 80));
        Self {
            title: conversation_title(&summary),
            id: summary.id.0,
            is_group: summary.kind == ConversationKind::Group,
            unread: summary.unread,
            preview,
            when,
            when_iso,
        }
    }
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    page: Page,
    conversations: Vec<ConversationRow>,
    friends: Vec<Member>,
    group_title: String,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomePage {
    page: Page,
}

pub async fn home(
    State(state): State<AppState>,
    BrowserSession(session): BrowserSession,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    match session {
        Some(session) => {
            inbox(
                &state,
                session.member,
                csrf,
                String::new(),
                FormErrors::default(),
                StatusCode::OK,
            )
            .await
        }
        None => render(
            StatusCode::OK,
            &WelcomePage {
                page: Page::new("Welcome", None, csrf),
            },
        ),
    }
}

async fn inbox(
    state: &AppState,
    me: Member,
    csrf: String,
    group_title: String,
    errors: FormErrors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut page = Page::streamed(state, "Inbox", me.clone(), csrf).await?;
    let conversations = state.app.conversations(me.id).await?;
    page.waiting = state.app.waiting_beside(me.id, &conversations).await?;
    let friends = state.app.friends(me.id).await?;
    render(
        status,
        &InboxPage {
            page,
            conversations: conversations.into_iter().map(Into::into).collect(),
            friends,
            group_title,
            errors,
        },
    )
}

#[derive(Deserialize)]
pub struct GroupForm {
    title: String,
    #[serde(default)]
    member_ids: Vec<i64>,
}

pub async fn create_group(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<GroupForm>,
) -> Result<Response, PageError> {
    let members: Vec<MemberId> = form.member_ids.iter().copied().map(MemberId).collect();
    match state
        .app
        .create_group(current.member().id, &form.title, &members)
        .await
    {
        Ok(id) => Ok(see_other(&format!("/c/{id}"))),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            inbox(&state, current.0.member, csrf, form.title, errors, status).await
        }
    }
}
