//! Per-thread read — the "Inbox API", done safely. An app reads only the conversations the
//! member picked on its consent screen, only from the moment they were shared, and only until
//! the thread grant expires. Anything else is "not found", whether or not it exists, and the
//! attempt is recorded in the member's log.

use super::{PartnerError, PartnerRequest};
use crate::accesslog::{Action, Denial};
use crate::store::{ConversationKind, ThreadGrant};
use crate::{Confidant, ConversationId, MessageId, Timestamp};

/// Most messages per page.
pub const MAX_THREAD_PAGE: i64 = 100;

/// A conversation the member shared with the app.
#[derive(Debug, Clone)]
pub struct SharedThread {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: String,
    /// When the member shared it.
    pub shared_at: Timestamp,
    /// Messages from this moment on are readable: `shared_at`, or earlier if the member
    /// shared the history too.
    pub readable_from: Timestamp,
    pub expires_at: Timestamp,
}

/// A message of a shared thread, as the app sees it: no member ids, only names.
#[derive(Debug, Clone)]
pub struct ThreadMessage {
    pub id: MessageId,
    pub sent_at: Timestamp,
    /// The sender's display name (`None` once they deleted their account).
    pub from: Option<String>,
    /// Whether the member who shared the thread sent it.
    pub from_member: bool,
    pub body: String,
}

impl Confidant {
    /// `GET /partner/v1/threads`: the threads the member shared with the app and still
    /// belongs to, while their grants last.
    pub async fn partner_threads(
        &self,
        request: &PartnerRequest,
    ) -> Result<Vec<SharedThread>, PartnerError> {
        let (access, draft) = self
            .partner_authorize(request, Action::ThreadsList, Vec::new())
            .await?;
        let me = access.member.id;
        let mut threads = Vec::new();
        for grant in self.live_threads(access.grant.id, draft.0.at).await? {
            if let Some(conversation) = self.store.conversation(grant.conversation_id, me).await? {
                threads.push(SharedThread {
                    id: grant.conversation_id,
                    kind: conversation.kind,
                    title: conversation.display_title(),
                    shared_at: grant.granted_at,
                    readable_from: grant.readable_from,
                    expires_at: grant.expires_at,
                });
            }
        }
        let objects = threads
            .iter()
            .map(|thread| format!("conversation:{}", thread.id.0))
            .collect();
        self.log_partner_read(&access, draft.allowed().with_objects(objects))
            .await?;
        Ok(threads)
    }

    /// `GET /partner/v1/threads/{id}/messages`: newest first, older than `before` if given,
    /// never older than the moment the thread was shared.
    pub async fn partner_thread_messages(
        &self,
        request: &PartnerRequest,
        id: ConversationId,
        before: Option<MessageId>,
        limit: i64,
    ) -> Result<Vec<ThreadMessage>, PartnerError> {
        let thread = vec![format!("conversation:{}", id.0)];
        let (access, draft) = self
            .partner_authorize(request, Action::ThreadRead, thread)
            .await?;
        let me = access.member.id;
        let now = draft.0.at;
        let shared: Option<ThreadGrant> = self
            .live_threads(access.grant.id, now)
            .await?
            .into_iter()
            .find(|grant| grant.conversation_id == id);
        let still_member = self.store.conversation(id, me).await?.is_some();
        let Some(shared) = shared.filter(|_| still_member) else {
            self.store
                .append_log(draft.denied(Denial::NotGranted), None)
                .await?;
            return Err(PartnerError::NotFound);
        };
        self.log_partner_read(&access, draft.allowed()).await?;
        let limit = limit.clamp(1, MAX_THREAD_PAGE);
        let messages = self.store.messages(id, before, limit).await?;
        Ok(messages
            .into_iter()
            .take_while(|message| message.created_at >= shared.readable_from)
            .map(|message| ThreadMessage {
                id: message.id,
                sent_at: message.created_at,
                from_member: message.sender.as_ref().is_some_and(|s| s.id == me),
                from: message.sender.map(|sender| sender.display_name),
                body: message.body,
            })
            .collect())
    }
}
