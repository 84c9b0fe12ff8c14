//! Conversations and messages: 1:1 (one per pair of friends) and groups (up to 256 members),
//! cursor pagination, read markers and the per-member event feed behind live delivery.

use serde::{Deserialize, Serialize};

use crate::attachments::{check_attachment_list, unknown_attachment};
use crate::store::{
    ConversationKind, ConversationSummary, FeedEntry, FeedTail, Message, NewConversation,
    NewMessage, Participant, Roster,
};
use crate::{AttachmentId, Confidant, ConversationId, Error, MemberId, MessageId, StoreError};

/// The largest group.
pub const MAX_GROUP_MEMBERS: i64 = 256;
/// The longest message body, in characters (Unicode scalar values): a limit a person can
/// see, which also keeps every body within 8 KiB of UTF-8.
pub const MAX_BODY_CHARS: usize = 2048;
/// The largest page of messages.
pub const MAX_PAGE: i64 = 100;
/// The characters of a message that a reply to it quotes.
pub const QUOTE_CHARS: usize = 200;
/// Days an event-feed entry is kept, for live streams to resume from `Last-Event-ID`; a
/// client away longer reloads its conversations instead. The messages themselves stay.
pub const FEED_RETENTION_DAYS: i64 = 30;

/// What a member's event feed records. Stored as JSON; message contents are not copied
/// into the feed but read from the message when the event is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    Message {
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    Read {
        conversation_id: ConversationId,
        member_id: MemberId,
        message_id: MessageId,
    },
    /// A message was edited or deleted.
    MessageChanged {
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    /// Created, renamed, or its members changed.
    Conversation { conversation_id: ConversationId },
    /// A friend request arrived or was accepted.
    Friends,
}

/// The start of a message, as a reply quotes it.
pub fn quote_excerpt(body: &str) -> String {
    body.chars().take(QUOTE_CHARS).collect()
}

/// A message body: non-blank text of at most 2,048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(input: &str) -> Result<Self, Error> {
        if input.trim().is_empty() {
            return Err(Error::invalid(
                "body",
                "empty_message",
                "A message cannot be empty.",
            ));
        }
        if input.chars().count() > MAX_BODY_CHARS {
            return Err(Error::invalid(
                "body",
                "message_too_long",
                format!("A message is at most {MAX_BODY_CHARS} characters."),
            ));
        }
        Ok(MessageBody(input.to_owned()))
    }
}

/// A group's title: at most 100 characters as sent, something other than space, and no
/// control characters once the surrounding space is trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTitle(String);

impl GroupTitle {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, Error> {
        let title = input.trim();
        if title.is_empty()
            || input.chars().count() > Self::MAX_CHARS
            || title.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "title",
                "invalid_title",
                "A group title is 1 to 100 characters.",
            ));
        }
        Ok(GroupTitle(title.to_owned()))
    }
}

/// What a member's send carries besides its text.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// A message of the same conversation this one answers.
    pub reply_to: Option<MessageId>,
    /// The client's key for this draft (`Idempotency-Key`): a send retried with it is stored
    /// once, and answered with the message first stored.
    pub client_key: Option<String>,
    /// Uploads of the sender's to send with it; the text may then be empty.
    pub attachments: Vec<AttachmentId>,
}

/// The longest draft key, in bytes.
pub const MAX_CLIENT_KEY_BYTES: usize = 200;

/// The most words a search matches, and the longest search.
pub const MAX_SEARCH_WORDS: usize = 8;
pub const MAX_SEARCH_CHARS: usize = 200;

/// What a search looks for: words of letters and digits, each matched as the start of a word
/// of the text, all of them in one message. Anything else in the query only separates words,
/// so no operator syntax of either database can be written into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(Vec<String>);

impl SearchQuery {
    pub fn parse(input: &str) -> Result<Self, Error> {
        if input.chars().count() > MAX_SEARCH_CHARS {
            return Err(Error::invalid(
                "q",
                "query_too_long",
                format!("A search is at most {MAX_SEARCH_CHARS} characters."),
            ));
        }
        let mut words: Vec<String> = Vec::new();
        for word in input
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
        {
            let word = word.to_lowercase();
            if !words.contains(&word) {
                words.push(word);
            }
        }
        if words.is_empty() {
            return Err(Error::invalid(
                "q",
                "empty_query",
                "Search for at least one word.",
            ));
        }
        if words.len() > MAX_SEARCH_WORDS {
            return Err(Error::invalid(
                "q",
                "too_many_words",
                format!("A search has at most {MAX_SEARCH_WORDS} words."),
            ));
        }
        Ok(SearchQuery(words))
    }

    pub fn words(&self) -> &[String] {
        &self.0
    }
}

/// A page of search results, newest first, each with the title of its conversation.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub next_before: Option<MessageId>,
}

#[derive(Debug, Clone)]
pub struct SearchHit {
    pub message: Message,
    pub conversation_title: String,
}

/// Counts shown beside the navigation and in the tab's title.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waiting {
    pub unread: i64,
    pub requests: i64,
}

/// One page of messages, newest first, and the cursor for the next (older) page.
#[derive(Debug, Clone)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next_before: Option<MessageId>,
}

/// A conversation with the people in it, as one member sees it.
#[derive(Debug, Clone)]
pub struct ConversationDetail {
    pub summary: ConversationSummary,
    pub participants: Vec<Participant>,
}

impl Confidant {
    /// The 1:1 conversation between `me` and a friend, created on first use.
    #[tracing::instrument(skip_all, fields(me = %me, other = %other))]
    pub async fn open_direct(
        &self,
        me: MemberId,
        other: MemberId,
    ) -> Result<ConversationId, Error> {
        if me == other {
            return Err(Error::conflict(
                Some("member"),
                "cannot_message_self",
                "You cannot start a conversation with yourself.",
            ));
        }
        let key = direct_key(me, other);
        if let Some(id) = self.store.direct_conversation(&key).await? {
            self.ensure_not_blocked(me, other).await?;
            return Ok(id);
        }
        let relationship = self.store.relationship(me, other).await?;
        if relationship.blocked_by_me || relationship.blocked_me || !relationship.friends {
            return Err(not_friends());
        }
        let new = NewConversation {
            kind: ConversationKind::Direct,
            title: None,
            direct_key: Some(key.clone()),
            created_by: me,
            members: vec![me, other],
            created_at: self.clock.now(),
        };
        match self.store.create_conversation(new).await {
            Ok((id, advanced)) => {
                self.live.publish(&advanced);
                Ok(id)
            }
            // Both opened it at the same moment: use the one that won.
            Err(StoreError::Conflict("direct_key")) => self
                .store
                .direct_conversation(&key)
                .await?
                .ok_or(Error::NotFound),
            Err(other) => Err(other.into()),
        }
    }

    /// Creates a group of `me` and some of their friends.
    #[tracing::instrument(skip_all, fields(me = %me))]
    pub async fn create_group(
        &self,
        me: MemberId,
        title: &str,
        members: &[MemberId],
    ) -> Result<ConversationId, Error> {
        let title = GroupTitle::parse(title)?;
        let mut all = vec![me];
        for member in members {
            if !all.contains(member) {
                all.push(*member);
            }
        }
        if all.len() as i64 > MAX_GROUP_MEMBERS {
            return Err(too_many_members());
        }
        for member in &all[1..] {
            self.ensure_friend(me, *member).await?;
        }
        let new = NewConversation {
            kind: ConversationKind::Group,
            title: Some(title.0),
            direct_key: None,
            created_by: me,
            members: all,
            created_at: self.clock.now(),
        };
        let (id, advanced) = self.store.create_conversation(new).await?;
        self.live.publish(&advanced);
        Ok(id)
    }

    pub async fn conversations(&self, me: MemberId) -> Result<Vec<ConversationSummary>, Error> {
        Ok(self.store.conversations(me).await?)
    }

    /// What the member has waiting: unread messages across their conversations, and friend
    /// requests to answer.
    pub async fn waiting(&self, me: MemberId) -> Result<Waiting, Error> {
        let conversations = self.store.conversations(me).await?;
        self.waiting_beside(me, &conversations).await
    }

    /// [`waiting`](Self::waiting) for a caller that has just read the member's conversations.
    pub async fn waiting_beside(
        &self,
        me: MemberId,
        conversations: &[ConversationSummary],
    ) -> Result<Waiting, Error> {
        let unread = conversations.iter().map(|summary| summary.unread).sum();
        let requests = self.store.friend_requests(me).await?.incoming.len() as i64;
        Ok(Waiting { unread, requests })
    }

    /// The conversation if `me` is in it; otherwise `NotFound`, never "forbidden", so
    /// conversation ids reveal nothing.
    pub async fn conversation(
        &self,
        me: MemberId,
        id: ConversationId,
    ) -> Result<ConversationDetail, Error> {
        let summary = self
            .store
            .conversation(id, me)
            .await?
            .ok_or(Error::NotFound)?;
        let participants = self.store.participants(id).await?;
        Ok(ConversationDetail {
            summary,
            participants,
        })
    }

    /// Adds friends of `me` to a group `me` is in.
    pub async fn add_to_group(
        &self,
        me: MemberId,
        id: ConversationId,
        members: &[MemberId],
    ) -> Result<(), Error> {
        let detail = self.conversation(me, id).await?;
        if detail.summary.kind != ConversationKind::Group {
            return Err(Error::conflict(
                Some("conversation"),
                "not_a_group",
                "Members can only be added to groups.",
            ));
        }
        let new: Vec<MemberId> = members
            .iter()
            .copied()
            .filter(|m| !detail.participants.iter().any(|p| p.member.id == *m))
            .collect();
        for member in &new {
            self.ensure_friend(me, *member).await?;
        }
        if new.is_empty() {
            return Ok(());
        }
        let advanced = self
            .store
            .add_participants(id, me, &new, MAX_GROUP_MEMBERS, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict("member_limit") => too_many_members(),
                other => other.into(),
            })?;
        self.live.publish(&advanced);
        Ok(())
    }

    pub async fn leave_group(&self, me: MemberId, id: ConversationId) -> Result<(), Error> {
        let detail = self.conversation(me, id).await?;
        if detail.summary.kind != ConversationKind::Group {
            return Err(Error::conflict(
                Some("conversation"),
                "not_a_group",
                "Only groups can be left.",
            ));
        }
        let advanced = self
            .store
            .remove_participant(id, me, self.clock.now())
            .await?;
        self.live.publish(&advanced);
        Ok(())
    }

    pub async fn rename_group(
        &self,
        me: MemberId,
        id: ConversationId,
        title: &str,
    ) -> Result<(), Error> {
        let title = GroupTitle::parse(title)?;
        let detail = self.conversation(me, id).await?;
        if detail.summary.kind != ConversationKind::Group {
            return Err(Error::conflict(
                Some("title"),
                "not_a_group",
                "Only groups have a title.",
            ));
        }
        let advanced = self
            .store
            .rename_conversation(id, me, &title.0, self.clock.now())
            .await?;
        self.live.publish(&advanced);
        Ok(())
    }

    /// Sends a message. In a 1:1 conversation, a block in either direction stops it.
    pub async fn send_message(
        &self,
        me: MemberId,
        id: ConversationId,
        body: &str,
    ) -> Result<Message, Error> {
        self.send_message_with(me, id, body, SendOptions::default())
            .await
    }

    /// [`send_message`](Self::send_message), as a reply or with a draft's key.
    #[tracing::instrument(skip_all, fields(me = %me, conversation = %id))]
    pub async fn send_message_with(
        &self,
        me: MemberId,
        id: ConversationId,
        body: &str,
        options: SendOptions,
    ) -> Result<Message, Error> {
        check_attachment_list(&options.attachments)?;
        // A file may go without words; the text is then empty, never blank.
        let body = if options.attachments.is_empty() || !body.trim().is_empty() {
            MessageBody::parse(body)?.0
        } else {
            String::new()
        };
        if let Some(key) = &options.client_key
            && (key.is_empty() || key.len() > MAX_CLIENT_KEY_BYTES)
        {
            return Err(Error::invalid(
                "idempotency_key",
                "invalid_idempotency_key",
                format!("An Idempotency-Key has 1 to {MAX_CLIENT_KEY_BYTES} characters."),
            ));
        }
        self.roster_of(me, id).await?;
        if let Some(reply_to) = options.reply_to {
            let answers_this_conversation = self
                .store
                .message(reply_to)
                .await?
                .is_some_and(|message| message.conversation_id == id);
            if !answers_this_conversation {
                return Err(Error::invalid(
                    "reply_to",
                    "unknown_message",
                    "reply_to is not a message of this conversation.",
                ));
            }
        }
        let new = NewMessage {
            conversation_id: id,
            sender: me,
            body,
            created_at: self.clock.now(),
            reply_to: options.reply_to,
            client_key: options.client_key,
            attachments: options.attachments,
        };
        // Whether a block closes a 1:1 conversation is checked as the message is written.
        let (message, advanced) = self.store.insert_message(new).await.map_err(|e| match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Conflict("blocked") => cannot_message(),
            StoreError::Conflict("attachment") => unknown_attachment(),
            StoreError::Conflict("client_key") => Error::conflict(
                Some("idempotency_key"),
                "idempotency_key_reused",
                "This Idempotency-Key was used for a different message.",
            ),
            other => other.into(),
        })?;
        self.live.publish(&advanced);
        Ok(message)
    }

    /// Changes the text of a message `me` wrote. Everyone in the conversation sees it marked
    /// "edited"; the earlier text is not kept.
    #[tracing::instrument(skip_all, fields(me = %me, message = %message_id))]
    pub async fn edit_message(
        &self,
        me: MemberId,
        id: ConversationId,
        message_id: MessageId,
        body: &str,
    ) -> Result<Message, Error> {
        let body = MessageBody::parse(body)?;
        let message = self.own_message(me, id, message_id).await?;
        if message.via_app.is_some() {
            return Err(Error::conflict(
                Some("message"),
                "cannot_edit_app_message",
                "A message sent through an app cannot be edited; delete it instead.",
            ));
        }
        // A block closes a 1:1 conversation to changes as it does to new messages.
        let roster = self.roster_of(me, id).await?;
        if roster.kind == ConversationKind::Direct
            && let Some(other) = roster.members.iter().find(|member| **member != me)
        {
            self.ensure_not_blocked(me, *other).await?;
        }
        let (message, advanced) = self
            .store
            .edit_message(message_id, me, &body.0, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => message_deleted(),
                other => other.into(),
            })?;
        self.live.publish(&advanced);
        Ok(message)
    }

    /// Deletes a message `me` sent: its text and card are erased from the store, and everyone
    /// in the conversation sees "message deleted" in its place.
    #[tracing::instrument(skip_all, fields(me = %me, message = %message_id))]
    pub async fn delete_message(
        &self,
        me: MemberId,
        id: ConversationId,
        message_id: MessageId,
    ) -> Result<(), Error> {
        self.own_message(me, id, message_id).await?;
        let advanced = self
            .store
            .delete_message(message_id, me, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => message_deleted(),
                other => other.into(),
            })?;
        self.live.publish(&advanced);
        Ok(())
    }

    /// Removes a recommendation an app sent to `me` from their own view of the conversation;
    /// the others still see it.
    pub async fn hide_message(
        &self,
        me: MemberId,
        id: ConversationId,
        message_id: MessageId,
    ) -> Result<(), Error> {
        let message = self.message_in(me, id, message_id).await?;
        let theirs = message.sender.as_ref().is_none_or(|sender| sender.id != me);
        if message.via_app.is_none() || !theirs {
            return Err(Error::conflict(
                Some("message"),
                "cannot_remove",
                "Only a recommendation someone sent you through an app can be removed from your view.",
            ));
        }
        self.store
            .hide_message(message_id, me, self.clock.now())
            .await?;
        Ok(())
    }

    /// Searches the conversations `me` is in, newest match first.
    #[tracing::instrument(skip_all, fields(me = %me))]
    pub async fn search(
        &self,
        me: MemberId,
        query: &str,
        before: Option<MessageId>,
        limit: i64,
    ) -> Result<SearchPage, Error> {
        let query = SearchQuery::parse(query)?;
        let limit = crate::limits::page_size(limit, MAX_PAGE)?;
        let mut messages = self
            .store
            .search_messages(me, query.words(), before, limit + 1)
            .await?;
        let next_before = if messages.len() as i64 > limit {
            messages.truncate(limit as usize);
            messages.last().map(|m| m.id)
        } else {
            None
        };
        let titles: std::collections::HashMap<ConversationId, String> = if messages.is_empty() {
            Default::default()
        } else {
            self.store
                .conversations(me)
                .await?
                .into_iter()
                .map(|summary| (summary.id, summary.display_title()))
                .collect()
        };
        let hits = messages
            .into_iter()
            .map(|message| SearchHit {
                conversation_title: titles
                    .get(&message.conversation_id)
                    .cloned()
                    .unwrap_or_default(),
                message,
            })
            .collect();
        Ok(SearchPage { hits, next_before })
    }

    /// A message of conversation `id`, which `me` is in.
    async fn message_in(
        &self,
        me: MemberId,
        id: ConversationId,
        message_id: MessageId,
    ) -> Result<Message, Error> {
        self.roster_of(me, id).await?;
        self.store
            .message(message_id)
            .await?
            .filter(|message| message.conversation_id == id)
            .ok_or(Error::NotFound)
    }

    /// A message `me` wrote in conversation `id` and has not deleted.
    async fn own_message(
        &self,
        me: MemberId,
        id: ConversationId,
        message_id: MessageId,
    ) -> Result<Message, Error> {
        let message = self.message_in(me, id, message_id).await?;
        let mine = message
            .sender
            .as_ref()
            .is_some_and(|sender| sender.id == me);
        if !mine || message.system.is_some() {
            return Err(Error::forbidden(
                "not_your_message",
                "You can only change your own messages.",
            ));
        }
        if message.deleted {
            return Err(message_deleted());
        }
        Ok(message)
    }

    /// A page of messages, newest first; `before` is the cursor from the previous page.
    /// Ids only grow, so pages stay stable while new messages arrive.
    pub async fn messages(
        &self,
        me: MemberId,
        id: ConversationId,
        before: Option<MessageId>,
        limit: i64,
    ) -> Result<MessagePage, Error> {
        self.roster_of(me, id).await?;
        let limit = crate::limits::page_size(limit, MAX_PAGE)?;
        let mut messages = self.store.messages(id, me, before, limit + 1).await?;
        let next_before = if messages.len() as i64 > limit {
            messages.truncate(limit as usize);
            messages.last().map(|m| m.id)
        } else {
            None
        };
        Ok(MessagePage {
            messages,
            next_before,
        })
    }

    /// Who is in the conversation; `NotFound` unless `me` is.
    async fn roster_of(&self, me: MemberId, id: ConversationId) -> Result<Roster, Error> {
        self.store
            .roster(id)
            .await?
            .filter(|roster| roster.includes(me))
            .ok_or(Error::NotFound)
    }

    /// A single message, if `me` is in its conversation.
    pub async fn message(&self, me: MemberId, id: MessageId) -> Result<Message, Error> {
        let message = self.store.message(id).await?.ok_or(Error::NotFound)?;
        self.store
            .conversation(message.conversation_id, me)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(message)
    }

    /// Marks the conversation read up to `up_to` (or its newest message).
    pub async fn mark_read(
        &self,
        me: MemberId,
        id: ConversationId,
        up_to: Option<MessageId>,
    ) -> Result<(), Error> {
        let summary = self
            .store
            .conversation(id, me)
            .await?
            .ok_or(Error::NotFound)?;
        // A receipt names a message of this conversation; any other id would move the marker
        // past messages not yet written, and the member's unread count would stay 0.
        if let Some(up_to) = up_to {
            let known = self
                .store
                .message(up_to)
                .await?
                .is_some_and(|message| message.conversation_id == id);
            if !known {
                return Err(Error::invalid(
                    "message_id",
                    "unknown_message",
                    "message_id is not a message of this conversation",
                ));
            }
        }
        let newest = summary.last_message.as_ref().map(|m| m.id);
        let Some(target) = up_to.or(newest) else {
            return Ok(());
        };
        let target = newest.map_or(target, |newest| target.min(newest));
        if target <= summary.last_read {
            return Ok(());
        }
        let advanced = self
            .store
            .mark_read(id, me, target, self.clock.now())
            .await?;
        self.live.publish(&advanced);
        Ok(())
    }

    /// Feed entries after `after_seq`, for live delivery and for resuming after a reconnect.
    pub async fn feed_since(
        &self,
        me: MemberId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, Error> {
        Ok(self.store.feed_since(me, after_seq, limit).await?)
    }

    pub async fn feed_head(&self, me: MemberId) -> Result<i64, Error> {
        Ok(self.store.feed_head(me).await?)
    }

    /// Where the member's feed ends now, readable yet or not.
    pub async fn feed_tail(&self, me: MemberId) -> Result<FeedTail, Error> {
        Ok(self.store.feed_tail(me).await?)
    }

    /// Deletes event-feed entries older than [`FEED_RETENTION_DAYS`]; returns how many. Run
    /// periodically by the server.
    pub async fn purge_old_feed(&self) -> Result<u64, Error> {
        let before = self.clock.now().plus_secs(-FEED_RETENTION_DAYS * 24 * 3600);
        Ok(self.store.purge_feed(before).await?)
    }

    async fn ensure_friend(&self, me: MemberId, other: MemberId) -> Result<(), Error> {
        let relationship = self.store.relationship(me, other).await?;
        if relationship.friends && !relationship.blocked_by_me && !relationship.blocked_me {
            Ok(())
        } else {
            Err(Error::forbidden(
                "not_friends",
                "You can only add your friends.",
            ))
        }
    }

    async fn ensure_not_blocked(&self, me: MemberId, other: MemberId) -> Result<(), Error> {
        let relationship = self.store.relationship(me, other).await?;
        if relationship.blocked_by_me || relationship.blocked_me {
            Err(cannot_message())
        } else {
            Ok(())
        }
    }
}

/// The same answer whoever blocked whom, so a blocked member does not learn they were.
fn cannot_message() -> Error {
    Error::forbidden("cannot_message", "You cannot message this member.")
}

/// The key that makes a pair's direct conversation unique, whichever of them opens it.
pub fn direct_key(a: MemberId, b: MemberId) -> String {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

fn message_deleted() -> Error {
    Error::conflict(
        Some("message"),
        "message_deleted",
        "This message was deleted.",
    )
}

fn not_friends() -> Error {
    Error::forbidden(
        "not_friends",
        "You can only start a conversation with a friend.",
    )
}

fn too_many_members() -> Error {
    Error::conflict(
        Some("members"),
        "too_many_members",
        format!("A group has at most {MAX_GROUP_MEMBERS} members."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_non_blank_and_at_most_2048_characters() {
        assert!(MessageBody::parse("  \n").is_err());
        assert!(MessageBody::parse(&"a".repeat(MAX_BODY_CHARS)).is_ok());
        assert!(MessageBody::parse(&"a".repeat(MAX_BODY_CHARS + 1)).is_err());
        // Characters, not bytes: the longest body of 4-byte characters is still 8 KiB.
        let emoji = "🎬".repeat(MAX_BODY_CHARS);
        assert_eq!(emoji.len(), 8 * 1024);
        assert!(MessageBody::parse(&emoji).is_ok());
    }

    #[test]
    fn direct_keys_do_not_depend_on_who_opens() {
        assert_eq!(direct_key(MemberId(7), MemberId(3)), "3:7");
        assert_eq!(direct_key(MemberId(3), MemberId(7)), "3:7");
    }

    #[test]
    fn live_events_round_trip_through_json() {
        let event = LiveEvent::Read {
            conversation_id: ConversationId(1),
            member_id: MemberId(2),
            message_id: MessageId(3),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"type":"read","conversation_id":1,"member_id":2,"message_id":3}"#
        );
        assert_eq!(serde_json::from_str::<LiveEvent>(&json).unwrap(), event);
    }
}
