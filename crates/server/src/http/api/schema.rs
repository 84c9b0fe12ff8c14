//! The JSON shapes of the first-party API, documented in the OpenAPI document.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use confidant_core::integers;
use confidant_core::messaging::ConversationDetail;
use confidant_core::store::{
    AttachmentInfo, ConversationSummary, Member, MemberRef, Message, Participant, SystemLine,
};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberOut {
    pub id: i64,
    pub handle: String,
    pub display_name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A member found in the directory: what a friend request needs, nothing more.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryMemberOut {
    pub id: i64,
    pub handle: String,
    pub display_name: String,
}

impl From<Member> for MemberOut {
    fn from(member: Member) -> Self {
        Self {
            id: member.id.0,
            handle: member.handle,
            display_name: member.display_name,
            created_at: member.created_at.0,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberRefOut {
    pub id: i64,
    pub handle: String,
    pub display_name: String,
}

impl From<MemberRef> for MemberRefOut {
    fn from(member: MemberRef) -> Self {
        Self {
            id: member.id.0,
            handle: member.handle,
            display_name: member.display_name,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageOut {
    pub id: i64,
    pub conversation_id: i64,
    /// Absent once the sender deleted their account ("deleted member").
    pub sender: Option<MemberRefOut>,
    pub body: String,
    pub created_at: i64,
    /// The partner app it was sent through, shown as "via {name}".
    #[serde(default)]
    pub via_app: Option<ViaAppOut>,
    #[serde(default)]
    pub card: Option<CardOut>,
    /// When its sender last changed the text.
    #[serde(default)]
    pub edited_at: Option<i64>,
    /// Deleted by its sender: `body` is empty, shown as "message deleted".
    #[serde(default)]
    pub deleted: bool,
    /// The message this one answers.
    #[serde(default)]
    pub reply_to: Option<QuoteOut>,
    /// Set on the lines a group writes itself when it changes; `sender` made the change.
    #[serde(default)]
    pub system: Option<SystemLineOut>,
    /// Files sent with it; none once it is deleted.
    #[serde(default)]
    pub attachments: Vec<AttachmentOut>,
}

/// A file: fetch it at `url`, and an image's thumbnail at `thumbnail_url`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttachmentOut {
    pub id: i64,
    /// The name it is downloaded as.
    pub name: String,
    /// What its bytes are, as sniffed when it was uploaded (never the type it was sent with).
    pub content_type: String,
    /// In bytes.
    pub size: i64,
    /// An image's size in pixels.
    #[serde(default)]
    pub width: Option<i64>,
    #[serde(default)]
    pub height: Option<i64>,
    /// `/api/v1/attachments/{id}`.
    pub url: String,
    /// `/api/v1/attachments/{id}/thumbnail`, for images.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
}

impl From<AttachmentInfo> for AttachmentOut {
    fn from(info: AttachmentInfo) -> Self {
        let url = format!("/api/v1/attachments/{}", info.id);
        Self {
            thumbnail_url: info.thumbnail.then(|| format!("{url}/thumbnail")),
            url,
            id: info.id.0,
            name: info.name,
            content_type: info.content_type,
            size: info.size,
            width: info.width,
            height: info.height,
        }
    }
}

/// The message a reply answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuoteOut {
    pub id: i64,
    pub sender: Option<MemberRefOut>,
    /// Its first 200 characters; empty once it is deleted.
    pub body: String,
    pub deleted: bool,
}

/// What changed in a group: `added` (with `member`), `left`, or `renamed` (with `title`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SystemLineOut {
    #[serde(rename = "type")]
    pub kind: String,
    /// Who was added (absent once their account is deleted).
    #[serde(default)]
    pub member: Option<MemberRefOut>,
    /// The new title.
    #[serde(default)]
    pub title: Option<String>,
}

impl From<SystemLine> for SystemLineOut {
    fn from(line: SystemLine) -> Self {
        let kind = line.kind().to_owned();
        let (member, title) = match line {
            SystemLine::Added { member } => (member.map(MemberRefOut::from), None),
            SystemLine::Left => (None, None),
            SystemLine::Renamed { title } => (None, Some(title)),
        };
        Self {
            kind,
            member,
            title,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ViaAppOut {
    pub client_id: String,
    pub name: String,
}

/// A recommendation. Follow `link`, not `url`: the link goes through Confidant so that clicks
/// can be counted in the app's aggregate reports.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CardOut {
    pub title: String,
    pub url: String,
    /// The image the app named. Show `image` instead: fetching this address would tell the
    /// app when and from where the card was seen.
    pub image_url: Option<String>,
    /// `/img/{token}`: the image, served by Confidant (present when `image_url` is).
    #[serde(default)]
    pub image: Option<String>,
    pub description: Option<String>,
    /// `/r/{token}`.
    pub link: String,
}

impl From<Message> for MessageOut {
    fn from(message: Message) -> Self {
        Self {
            id: message.id.0,
            conversation_id: message.conversation_id.0,
            sender: message.sender.map(MemberRefOut::from),
            body: message.body,
            created_at: message.created_at.0,
            via_app: message.via_app.map(|via| ViaAppOut {
                client_id: via.client_id,
                name: via.name,
            }),
            card: message.card.map(|card| CardOut {
                link: format!("/r/{}", card.token),
                image: card
                    .image_url
                    .as_ref()
                    .map(|_| format!("/img/{}", card.token)),
                title: card.title,
                url: card.url,
                image_url: card.image_url,
                description: card.description,
            }),
            edited_at: message.edited_at.map(|at| at.0),
            deleted: message.deleted,
            reply_to: message.reply_to.map(|quote| QuoteOut {
                id: quote.id.0,
                sender: quote.sender.map(MemberRefOut::from),
                body: quote.body,
                deleted: quote.deleted,
            }),
            system: message.system.map(SystemLineOut::from),
            attachments: message
                .attachments
                .into_iter()
                .map(AttachmentOut::from)
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationOut {
    pub id: i64,
    /// `direct` or `group`.
    pub kind: String,
    /// The group's title; for direct conversations, the other member's name.
    pub title: String,
    pub unread: i64,
    /// The newest message this member has read.
    pub last_read_message_id: i64,
    pub last_message: Option<MessageOut>,
    pub last_activity_at: i64,
    /// For direct conversations, the other member (absent once they deleted their account).
    pub peer: Option<MemberRefOut>,
}

/// The title people see: a group's own, or the other member's name.
pub fn conversation_title(summary: &ConversationSummary) -> String {
    summary.display_title()
}

impl From<ConversationSummary> for ConversationOut {
    fn from(summary: ConversationSummary) -> Self {
        Self {
            title: conversation_title(&summary),
            id: summary.id.0,
            kind: summary.kind.as_str().to_owned(),
            unread: summary.unread,
            last_read_message_id: summary.last_read.0,
            last_message: summary.last_message.map(MessageOut::from),
            last_activity_at: summary.last_activity_at.0,
            peer: summary.peer.map(MemberRefOut::from),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ParticipantOut {
    pub member: MemberOut,
    /// Read receipt: the newest message this participant has read.
    pub last_read_message_id: i64,
    pub joined_at: i64,
}

impl From<Participant> for ParticipantOut {
    fn from(participant: Participant) -> Self {
        Self {
            member: participant.member.into(),
            last_read_message_id: participant.last_read.0,
            joined_at: participant.joined_at.0,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationDetailOut {
    #[serde(flatten)]
    pub conversation: ConversationOut,
    pub participants: Vec<ParticipantOut>,
}

impl From<ConversationDetail> for ConversationDetailOut {
    fn from(detail: ConversationDetail) -> Self {
        Self {
            conversation: detail.summary.into(),
            participants: detail.participants.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpIn {
    /// 3 to 32 letters a–z (any case; stored lower-case), digits and underscores.
    pub handle: String,
    /// At least 10 characters (and at most 1 KiB).
    #[schema(min_length = 10)]
    pub password: String,
    /// Up to 64 characters with something visible; no control or text-direction characters.
    /// The handle when absent or blank.
    #[schema(max_length = 64)]
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInIn {
    pub handle: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionOut {
    /// Send as `Authorization: Bearer <token>`. Shown only once.
    pub token: String,
    pub expires_at: i64,
    pub member: MemberOut,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileIn {
    /// Up to 64 characters with something visible; no control or text-direction characters.
    #[schema(max_length = 64)]
    pub display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeIn {
    pub current_password: String,
    /// At least 10 characters (and at most 1 KiB).
    #[schema(min_length = 10)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDeletionIn {
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FriendsOut {
    pub friends: Vec<MemberOut>,
    pub incoming_requests: Vec<MemberOut>,
    pub outgoing_requests: Vec<MemberOut>,
    pub blocked: Vec<MemberOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FriendRequestIn {
    pub handle: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FriendRequestOut {
    /// `sent`, or `friends` if they had already asked you.
    pub status: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum NewConversationIn {
    /// The 1:1 conversation with a friend (returned if it exists).
    Direct {
        #[serde(deserialize_with = "integers::integer")]
        member_id: i64,
    },
    /// A group of you and some friends.
    Group {
        /// Up to 100 characters, not all space; no control characters.
        #[schema(max_length = 100)]
        title: String,
        #[serde(deserialize_with = "integers::integers")]
        member_ids: Vec<i64>,
    },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatchIn {
    /// Up to 100 characters, not all space; no control characters.
    #[schema(max_length = 100)]
    pub title: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembersIn {
    #[serde(deserialize_with = "integers::integers")]
    pub member_ids: Vec<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageIn {
    /// Up to 2,048 characters, not all space; may be empty when files are attached.
    #[schema(max_length = 2048)]
    pub body: String,
    /// A message of this conversation that this one answers.
    #[serde(default, deserialize_with = "integers::optional_integer")]
    pub reply_to: Option<i64>,
    /// Ids of your uploads (`POST /api/v1/attachments`) to send with it, at most 10.
    #[serde(default, deserialize_with = "integers::integers")]
    #[schema(max_items = 10)]
    pub attachments: Vec<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagePatchIn {
    /// The new text: up to 2,048 characters, not all space.
    #[schema(max_length = 2048)]
    pub body: String,
}

/// A page of search results, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchPageOut {
    pub results: Vec<SearchHitOut>,
    /// Pass as `before` to get the next, older page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchHitOut {
    pub message: MessageOut,
    /// The conversation's title, as your conversation list shows it.
    pub conversation_title: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagePageOut {
    /// Newest first.
    pub messages: Vec<MessageOut>,
    /// Pass as `before` to get the next, older page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadIn {
    /// Mark read up to this message; the newest when absent.
    #[serde(default, deserialize_with = "integers::optional_integer")]
    pub message_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorOut {
    /// A stable code, e.g. `invalid_handle`, `not_friends`, `payload_too_large`.
    pub error: String,
    pub message: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
}
