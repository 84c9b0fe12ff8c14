//! A conversation page: messages, the send box, and group controls.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::store::{ConversationKind, Member, Message};
use confidant_core::{ConversationId, MemberId, MessageId};

use super::{FormErrors, Page, PageError, render, see_other, when};
use crate::http::api::schema::conversation_title;
use crate::http::session::{CsrfToken, CurrentMember};
use crate::state::AppState;

/// Messages per page.
const PAGE: i64 = 50;

pub struct MessageView {
    pub id: i64,
    pub sender: String,
    pub mine: bool,
    pub erased: bool,
    pub body: String,
    pub when: String,
    pub when_iso: String,
    /// The partner app it came through, shown as "via {name}".
    pub via: Option<String>,
    pub via_client_id: Option<String>,
    /// Sent through an app the member muted: shown folded away.
    pub muted: bool,
    pub card: Option<CardView>,
}

pub struct CardView {
    pub title: String,
    pub description: Option<String>,
    pub link: String,
    pub host: String,
}

impl MessageView {
    fn new(message: Message, me: MemberId, muted: &[String]) -> Self {
        let mine = message.sender.as_ref().is_some_and(|s| s.id == me);
        let muted = !mine
            && message
                .via_app
                .as_ref()
                .is_some_and(|via| muted.contains(&via.client_id));
        let (when, when_iso) = when(message.created_at);
        Self {
            id: message.id.0,
            mine,
            muted,
            via_client_id: message.via_app.as_ref().map(|via| via.client_id.clone()),
            erased: message.sender.is_none(),
            sender: message
                .sender
                .map_or_else(|| "deleted member".to_owned(), |s| s.display_name),
            body: message.body,
            when,
            when_iso,
            via: message.via_app.map(|via| via.name),
            card: message.card.map(|card| CardView {
                host: url::Url::parse(&card.url)
                    .ok()
                    .and_then(|url| url.host_str().map(str::to_owned))
                    .unwrap_or_default(),
                link: format!("/r/{}?i=web", card.token),
                title: card.title,
                description: card.description,
            }),
        }
    }
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationPage {
    page: Page,
    id: i64,
    me_id: i64,
    title: String,
    is_group: bool,
    can_send: bool,
    /// Oldest first, as people read.
    messages: Vec<MessageView>,
    older: Option<i64>,
    seen_by: Option<String>,
    participants: Vec<Member>,
    addable: Vec<Member>,
    draft: String,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<i64>,
}

pub async fn show(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let before = query.before.map(MessageId);
    // Opening the newest page counts as reading it.
    if before.is_none() {
        state
            .app
            .mark_read(current.member().id, ConversationId(id), None)
            .await?;
    }
    conversation_page(
        &state,
        current,
        csrf,
        id,
        before,
        String::new(),
        FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn conversation_page(
    state: &AppState,
    current: CurrentMember,
    csrf: String,
    id: i64,
    before: Option<MessageId>,
    draft: String,
    errors: FormErrors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let me = current.0.member;
    let mut page = Page::live(state, "", me.clone(), csrf).await?;
    let detail = state.app.conversation(me.id, ConversationId(id)).await?;
    page.title = conversation_title(&detail.summary);
    let batch = state
        .app
        .messages(me.id, ConversationId(id), before, PAGE)
        .await?;
    let muted: Vec<String> = state
        .app
        .muted_apps(me.id)
        .await?
        .into_iter()
        .map(|app| app.client_id)
        .collect();
    let mut messages: Vec<MessageView> = batch
        .messages
        .into_iter()
        .map(|m| MessageView::new(m, me.id, &muted))
        .collect();
    messages.reverse();
    let is_group = detail.summary.kind == ConversationKind::Group;
    let seen_by = seen_by(
        &detail.participants,
        me.id,
        detail.summary.last_message.as_ref(),
    );
    let participants: Vec<Member> = detail
        .participants
        .iter()
        .map(|p| p.member.clone())
        .collect();
    let addable = if is_group {
        state
            .app
            .friends(me.id)
            .await?
            .into_iter()
            .filter(|f| !participants.iter().any(|p| p.id == f.id))
            .collect()
    } else {
        Vec::new()
    };
    let can_send = is_group || detail.summary.peer.is_some();
    render(
        status,
        &ConversationPage {
            page,
            id,
            me_id: me.id.0,
            title: conversation_title(&detail.summary),
            is_group,
            can_send,
            messages,
            older: batch.next_before.map(|id| id.0),
            seen_by,
            participants,
            addable,
            draft,
            errors,
        },
    )
}

/// "Seen by Bob" under the newest message when it is mine and others have read it. Receipts
/// are about your own messages only: the sender of someone else's message has of course
/// "seen" it, and saying so names them for nothing.
fn seen_by(
    participants: &[confidant_core::store::Participant],
    me: MemberId,
    newest: Option<&confidant_core::store::Message>,
) -> Option<String> {
    let newest = newest.filter(|m| m.sender.as_ref().is_some_and(|s| s.id == me))?;
    let names: Vec<&str> = participants
        .iter()
        .filter(|p| p.member.id != me && p.last_read >= newest.id)
        .map(|p| p.member.display_name.as_str())
        .collect();
    (!names.is_empty()).then(|| format!("Seen by {}", names.join(", ")))
}

/// After a form post: back to the conversation on success, or the page again with the
/// error beside its field and the draft kept.
async fn after_post(
    state: &AppState,
    current: CurrentMember,
    csrf: String,
    id: i64,
    result: Result<(), confidant_core::Error>,
    draft: String,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(see_other(&format!("/c/{id}"))),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            conversation_page(state, current, csrf, id, None, draft, errors, status).await
        }
    }
}

#[derive(Deserialize)]
pub struct SendForm {
    body: String,
}

pub async fn send(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(id): Path<i64>,
    Form(form): Form<SendForm>,
) -> Result<Response, PageError> {
    let sent = state
        .app
        .send_message(current.member().id, ConversationId(id), &form.body)
        .await
        .map(|_| {
            state.metrics.messages_sent.inc();
        });
    after_post(&state, current, csrf, id, sent, form.body).await
}

#[derive(Deserialize)]
pub struct RenameForm {
    title: String,
}

pub async fn rename(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(id): Path<i64>,
    Form(form): Form<RenameForm>,
) -> Result<Response, PageError> {
    let renamed = state
        .app
        .rename_group(current.member().id, ConversationId(id), &form.title)
        .await;
    after_post(&state, current, csrf, id, renamed, String::new()).await
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    member_ids: Vec<i64>,
}

pub async fn add(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(id): Path<i64>,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    let members: Vec<MemberId> = form.member_ids.into_iter().map(MemberId).collect();
    let added = state
        .app
        .add_to_group(current.member().id, ConversationId(id), &members)
        .await;
    after_post(&state, current, csrf, id, added, String::new()).await
}

pub async fn leave(
    State(state): State<AppState>,
    current: CurrentMember,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    state
        .app
        .leave_group(current.member().id, ConversationId(id))
        .await?;
    Ok(see_other("/"))
}

#[cfg(test)]
mod tests {
    use confidant_core::store::{Member, MemberRef, Message, Participant};
    use confidant_core::{ConversationId, Timestamp};

    use super::*;

    fn participant(id: i64, name: &str, last_read: i64) -> Participant {
        Participant {
            member: Member {
                id: MemberId(id),
                handle: name.to_lowercase(),
                display_name: name.to_owned(),
                is_admin: false,
                created_at: Timestamp(0),
            },
            last_read: MessageId(last_read),
            joined_at: Timestamp(0),
        }
    }

    fn message(id: i64, sender: i64) -> Message {
        Message {
            id: MessageId(id),
            conversation_id: ConversationId(1),
            sender: Some(MemberRef {
                id: MemberId(sender),
                handle: "x".into(),
                display_name: "X".into(),
            }),
            body: "hi".into(),
            created_at: Timestamp(0),
            via_app: None,
            card: None,
        }
    }

    #[test]
    fn receipts_are_shown_on_your_own_messages_only() {
        let alice = MemberId(1);
        let people = [
            participant(1, "Alice", 7),
            participant(2, "Bob", 7),
            participant(3, "Carol", 6),
        ];
        // Alice's message 7, read by Bob but not yet by Carol.
        assert_eq!(
            seen_by(&people, alice, Some(&message(7, 1))).as_deref(),
            Some("Seen by Bob")
        );
        // Bob's message 7: Bob has "read" his own message, which says nothing to Alice.
        assert_eq!(seen_by(&people, alice, Some(&message(7, 2))), None);
        // Nobody else has read it yet, or there is no message.
        assert_eq!(seen_by(&people, alice, Some(&message(8, 1))), None);
        assert_eq!(seen_by(&people, alice, None), None);
    }
}
