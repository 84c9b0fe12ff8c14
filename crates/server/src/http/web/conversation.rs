//! A conversation page: messages, the send box, and group controls.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::messaging::SendOptions;
use confidant_core::store::{AttachmentInfo, ConversationKind, Member, Message};
use confidant_core::{ConversationId, MemberId, MessageId, Timestamp};

use super::timeline::{self, Moment, Placement, file_size, system_text};
use super::{FormErrors, Page, PageError, render, see_other};
use crate::attachments::inspect::THUMBNAIL_SIDE;
use crate::http::api::schema::conversation_title;
use crate::http::session::{CsrfToken, CurrentMember};
use crate::state::AppState;

/// Messages per page.
const PAGE: i64 = 50;

pub struct MessageView {
    pub id: i64,
    pub sender: String,
    pub mine: bool,
    /// The sender deleted their account.
    pub erased: bool,
    /// The sender deleted the message.
    pub deleted: bool,
    pub edited: bool,
    pub body: String,
    pub at: Moment,
    /// The partner app it came through, shown as "via {name}".
    pub via: Option<String>,
    pub via_client_id: Option<String>,
    /// Sent through an app the member muted: shown folded away.
    pub muted: bool,
    pub card: Option<CardView>,
    pub quote: Option<QuoteView>,
    /// The text of a group's own line.
    pub system: Option<String>,
    /// A day header shown before it.
    pub day_break: Option<String>,
    /// Continues the previous message's group: no header of its own.
    pub continues: bool,
    /// Shown as a form to change its text (`?edit=`).
    pub editing: bool,
    pub files: Vec<FileView>,
}

/// A file sent with a message: an image as its thumbnail, anything else as a download.
pub struct FileView {
    pub url: String,
    pub name: String,
    pub size: String,
    /// An image's thumbnail, and the size it is shown at.
    pub thumbnail: Option<String>,
    pub thumbnail_width: i64,
    pub thumbnail_height: i64,
}

impl From<AttachmentInfo> for FileView {
    fn from(file: AttachmentInfo) -> Self {
        let url = format!("/api/v1/attachments/{}", file.id);
        let side = THUMBNAIL_SIDE as i64;
        let (width, height) = (file.width.unwrap_or(side), file.height.unwrap_or(side));
        let scale = (side as f64 / width.max(height).max(1) as f64).min(1.0);
        Self {
            thumbnail: file.thumbnail.then(|| format!("{url}/thumbnail")),
            thumbnail_width: ((width as f64 * scale).round() as i64).max(1),
            thumbnail_height: ((height as f64 * scale).round() as i64).max(1),
            size: file_size(file.size),
            name: file.name,
            url,
        }
    }
}

pub struct CardView {
    pub title: String,
    pub description: Option<String>,
    pub link: String,
    pub app: String,
    /// The first letter of the app's name, as its icon.
    pub app_initial: String,
    /// The card's image, through this server's image proxy.
    pub image: Option<String>,
}

pub struct QuoteView {
    pub id: i64,
    pub sender: String,
    pub body: String,
    pub deleted: bool,
}

impl MessageView {
    fn new(
        message: Message,
        placement: Placement,
        me: MemberId,
        muted: &[String],
        now: Timestamp,
    ) -> Self {
        let mine = message.sender.as_ref().is_some_and(|s| s.id == me);
        let muted = !mine
            && message
                .via_app
                .as_ref()
                .is_some_and(|via| muted.contains(&via.client_id));
        let system = message.system.as_ref().map(|line| {
            system_text(
                line,
                message.sender.as_ref().map(|s| s.display_name.as_str()),
            )
        });
        let app = message.via_app.as_ref().map(|via| via.name.clone());
        Self {
            id: message.id.0,
            mine,
            muted,
            via_client_id: message.via_app.as_ref().map(|via| via.client_id.clone()),
            erased: message.sender.is_none(),
            deleted: message.deleted,
            edited: message.edited_at.is_some(),
            sender: message
                .sender
                .map_or_else(|| "deleted member".to_owned(), |s| s.display_name),
            body: message.body,
            at: Moment::new(message.created_at, now),
            card: message.card.map(|card| {
                let app = app.clone().unwrap_or_default();
                CardView {
                    app_initial: app.chars().next().unwrap_or('?').to_uppercase().collect(),
                    app,
                    image: card
                        .image_url
                        .as_ref()
                        .map(|_| format!("/img/{}", card.token)),
                    link: format!("/r/{}?i=web", card.token),
                    title: card.title,
                    description: card.description,
                }
            }),
            via: app,
            quote: message.reply_to.map(|quote| QuoteView {
                id: quote.id.0,
                sender: quote
                    .sender
                    .map_or_else(|| "deleted member".to_owned(), |s| s.display_name),
                body: quote.body,
                deleted: quote.deleted,
            }),
            system,
            day_break: placement.day_break,
            continues: placement.continues,
            editing: false,
            files: message
                .attachments
                .into_iter()
                .map(FileView::from)
                .collect(),
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
    /// This draft's key: a form posted twice stores one message.
    draft_key: String,
    /// The message the draft answers.
    replying_to: Option<QuoteView>,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    before: Option<i64>,
    /// A message of mine to show as an edit form.
    edit: Option<i64>,
    /// A message the send form answers.
    reply: Option<i64>,
}

pub async fn show(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    // Opening the newest page counts as reading it.
    if query.before.is_none() {
        state
            .app
            .mark_read(current.member().id, ConversationId(id), None)
            .await?;
    }
    let draft = Draft {
        reply_to: query.reply,
        ..Draft::default()
    };
    conversation_page(
        &state,
        current,
        csrf,
        id,
        query,
        draft,
        FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// What the send form holds when the page is shown again.
#[derive(Default)]
struct Draft {
    body: String,
    key: Option<String>,
    reply_to: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
async fn conversation_page(
    state: &AppState,
    current: CurrentMember,
    csrf: String,
    id: i64,
    query: PageQuery,
    draft: Draft,
    errors: FormErrors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let me = current.0.member;
    let mut page = Page::live(state, "", me.clone(), csrf).await?;
    let detail = state.app.conversation(me.id, ConversationId(id)).await?;
    page.title = conversation_title(&detail.summary);
    let batch = state
        .app
        .messages(me.id, ConversationId(id), query.before.map(MessageId), PAGE)
        .await?;
    let muted: Vec<String> = state
        .app
        .muted_apps(me.id)
        .await?
        .into_iter()
        .map(|app| app.client_id)
        .collect();
    let now = state.app.clock().now();
    let mut batch_messages = batch.messages;
    batch_messages.reverse();
    let placements = timeline::place(&batch_messages, now);
    let replying_to = draft.reply_to.and_then(|reply| {
        batch_messages
            .iter()
            .find(|m| m.id.0 == reply && m.system.is_none() && !m.deleted)
            .map(|m| QuoteView {
                id: m.id.0,
                sender: m
                    .sender
                    .as_ref()
                    .map_or_else(|| "deleted member".to_owned(), |s| s.display_name.clone()),
                body: confidant_core::messaging::quote_excerpt(&m.body),
                deleted: false,
            })
    });
    let messages: Vec<MessageView> = batch_messages
        .into_iter()
        .zip(placements)
        .map(|(m, placement)| {
            let mut view = MessageView::new(m, placement, me.id, &muted, now);
            view.editing = view.mine
                && !view.deleted
                && view.system.is_none()
                && view.via.is_none()
                && query.edit == Some(view.id);
            view
        })
        .collect();
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
            draft: draft.body,
            draft_key: draft
                .key
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            replying_to,
            errors,
        },
    )
}

/// The receipt under the newest message when it is mine: "Sent", then "Seen by Bob" (or
/// "Seen by everyone" in a group once all have read it). Receipts are about your own
/// messages only: the sender of someone else's message has of course "seen" it, and saying
/// so names them for nothing.
fn seen_by(
    participants: &[confidant_core::store::Participant],
    me: MemberId,
    newest: Option<&confidant_core::store::Message>,
) -> Option<String> {
    let newest =
        newest.filter(|m| m.sender.as_ref().is_some_and(|s| s.id == me) && m.system.is_none())?;
    let others = participants.iter().filter(|p| p.member.id != me).count();
    let names: Vec<&str> = participants
        .iter()
        .filter(|p| p.member.id != me && p.last_read >= newest.id)
        .map(|p| p.member.display_name.as_str())
        .collect();
    Some(match names.len() {
        0 => "Sent".to_owned(),
        n if n == others && others > 3 => "Seen by everyone".to_owned(),
        _ => format!("Seen by {}", names.join(", ")),
    })
}

/// After a form post: back to the conversation on success, or the page again with the
/// error beside its field and the draft kept.
async fn after_post(
    state: &AppState,
    current: CurrentMember,
    csrf: String,
    id: i64,
    result: Result<(), confidant_core::Error>,
    draft: Draft,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(see_other(&format!("/c/{id}"))),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            let query = PageQuery::default();
            conversation_page(state, current, csrf, id, query, draft, errors, status).await
        }
    }
}

#[derive(Deserialize)]
pub struct SendForm {
    body: String,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    reply_to: Option<i64>,
}

pub async fn send(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(id): Path<i64>,
    Form(form): Form<SendForm>,
) -> Result<Response, PageError> {
    let key = form.idempotency_key.filter(|key| !key.is_empty());
    let options = SendOptions {
        reply_to: form.reply_to.map(MessageId),
        client_key: key.clone(),
        // Files are attached by the page's script, through the JSON API.
        attachments: Vec::new(),
    };
    let sent = state
        .app
        .send_message_with(current.member().id, ConversationId(id), &form.body, options)
        .await
        .map(|_| {
            state.metrics.messages_sent.inc();
            state.push.wake();
        });
    let draft = Draft {
        body: form.body,
        key,
        reply_to: form.reply_to,
    };
    after_post(&state, current, csrf, id, sent, draft).await
}

#[derive(Deserialize)]
pub struct EditForm {
    body: String,
}

pub async fn edit(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path((id, message_id)): Path<(i64, i64)>,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    let edited = state
        .app
        .edit_message(
            current.member().id,
            ConversationId(id),
            MessageId(message_id),
            &form.body,
        )
        .await;
    match edited {
        Ok(_) => Ok(see_other(&format!("/c/{id}#m{message_id}"))),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            let query = PageQuery {
                edit: Some(message_id),
                ..PageQuery::default()
            };
            let draft = Draft::default();
            conversation_page(&state, current, csrf, id, query, draft, errors, status).await
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    current: CurrentMember,
    Path((id, message_id)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    state
        .app
        .delete_message(
            current.member().id,
            ConversationId(id),
            MessageId(message_id),
        )
        .await?;
    state.attachments.released();
    Ok(see_other(&format!("/c/{id}#m{message_id}")))
}

pub async fn hide(
    State(state): State<AppState>,
    current: CurrentMember,
    Path((id, message_id)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    state
        .app
        .hide_message(
            current.member().id,
            ConversationId(id),
            MessageId(message_id),
        )
        .await?;
    Ok(see_other(&format!("/c/{id}")))
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
    after_post(&state, current, csrf, id, renamed, Draft::default()).await
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
    after_post(&state, current, csrf, id, added, Draft::default()).await
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
        Message::written(
            MessageId(id),
            ConversationId(1),
            Some(MemberRef {
                id: MemberId(sender),
                handle: "x".into(),
                display_name: "X".into(),
            }),
            "hi".into(),
            Timestamp(0),
        )
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
        // Nobody else has read it yet: sent. No message: nothing to say.
        assert_eq!(
            seen_by(&people, alice, Some(&message(8, 1))).as_deref(),
            Some("Sent")
        );
        assert_eq!(seen_by(&people, alice, None), None);
    }
}
