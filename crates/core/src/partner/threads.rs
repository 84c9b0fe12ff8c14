//! Per-thread read — the "Inbox API", done safely. An app reads only the conversations the
//! member picked on its consent screen, only from the moment they were shared, and only until
//! the thread grant expires. Anything else is "not found", whether or not it exists, and the
//! attempt is recorded in the member's log.

use std::collections::BTreeMap;

use super::{PartnerError, PartnerRequest, about_other};
use crate::accesslog::{Action, Denial};
use crate::store::{ConversationKind, ThreadGrant};
use crate::{Confidant, Error, MemberId, Timestamp};

/// Most messages per page.
pub const MAX_THREAD_PAGE: i64 = 100;

/// A conversation the member shared with the app.
#[derive(Debug, Clone)]
pub struct SharedThread {
    /// The thread's id for this app alone ([`crate::pairwise`]).
    pub id: String,
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
    /// The message's id for this app alone.
    pub id: String,
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
        let mut shared = Vec::new();
        for grant in self.live_threads(access.grant.id, draft.0.at).await? {
            if let Some(conversation) = self.store.conversation(grant.conversation_id, me).await? {
                shared.push((grant, conversation));
            }
        }
        let objects = shared
            .iter()
            .map(|(grant, _)| format!("conversation:{}", grant.conversation_id.0))
            .collect();
        self.log_partner_read(&access, draft.allowed().with_objects(objects))
            .await?;
        let threads = shared
            .into_iter()
            .map(|(grant, conversation)| SharedThread {
                id: self
                    .pairwise
                    .thread(&access.client_id, grant.conversation_id),
                kind: conversation.kind,
                title: conversation.display_title(),
                shared_at: grant.granted_at,
                readable_from: grant.readable_from,
                expires_at: grant.expires_at,
            })
            .collect();
        Ok(threads)
    }

    /// `GET /partner/v1/threads/{id}/messages`: newest first, older than `before` if given,
    /// never older than the moment the thread was shared.
    pub async fn partner_thread_messages(
        &self,
        request: &PartnerRequest,
        thread_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ThreadMessage>, PartnerError> {
        // The ids are the app's own: which thread, if any, is known only once the token
        // says which app is asking.
        let named = self
            .partner_id(request, |ids, app| ids.parse_thread(app, thread_id))
            .await?;
        let objects = named
            .map(|id| vec![format!("conversation:{}", id.0)])
            .unwrap_or_default();
        let (access, draft) = self
            .partner_authorize(request, Action::ThreadRead, objects)
            .await?;
        let me = access.member.id;
        let now = draft.0.at;
        let before = match before {
            None => None,
            Some(cursor) => match self.pairwise.parse_message(&access.client_id, cursor) {
                Some(message) => Some(message),
                None => {
                    let error = Error::invalid(
                        "before",
                        "invalid_cursor",
                        "before is the id of a message this thread returned",
                    );
                    return self.refuse_malformed(&draft, error).await;
                }
            },
        };
        let limit = match crate::limits::page_size(limit, MAX_THREAD_PAGE) {
            Ok(limit) => limit,
            Err(error) => return self.refuse_malformed(&draft, error).await,
        };
        let Some(id) = named else {
            self.store
                .append_log(draft.denied(Denial::NotGranted), None)
                .await?;
            return Err(PartnerError::NotFound);
        };
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
        let messages: Vec<_> = self
            .store
            .messages(id, me, before, limit)
            .await?
            .into_iter()
            .take_while(|message| message.created_at >= shared.readable_from)
            // What people wrote and still stands: not a group's own lines, not deleted text.
            .filter(|message| message.system.is_none() && !message.deleted)
            .collect();
        // Every co-member whose messages this page holds finds the read in their own log,
        // with the thread, who shared it, and how many of their messages it returned.
        let mut theirs: BTreeMap<MemberId, usize> = BTreeMap::new();
        for sender in messages.iter().filter_map(|m| m.sender.as_ref()) {
            if sender.id != me {
                *theirs.entry(sender.id).or_default() += 1;
            }
        }
        let entry = draft.allowed();
        let about_senders = theirs
            .into_iter()
            .map(|(member, count)| {
                let objects = vec![
                    format!("conversation:{}", id.0),
                    format!("member:{}", me.0),
                    format!("messages:{count}"),
                ];
                about_other(&entry, member, Action::ThreadMessagesRead, objects)
            })
            .collect();
        self.log_partner_read_about(&access, entry, about_senders)
            .await?;
        Ok(messages
            .into_iter()
            .map(|message| ThreadMessage {
                id: self.pairwise.message(&access.client_id, message.id),
                sent_at: message.created_at,
                from_member: message.sender.as_ref().is_some_and(|s| s.id == me),
                from: message.sender.map(|sender| sender.display_name),
                body: message.body,
            })
            .collect())
    }
}
