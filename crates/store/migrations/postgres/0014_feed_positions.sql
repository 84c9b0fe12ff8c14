-- Sends no longer lock member or conversation rows, so concurrent sends to the same members
-- commit in parallel instead of queueing on a row until the holder's commit is on disk.
--
-- Feed positions: a feed row's position is its transaction's id shifted left 16 bits, plus its
-- rank among that transaction's rows for the member (see src/sql/feed.rs). A position is
-- readable once every transaction that started writing before it has ended, so positions
-- appear in increasing order without a per-member counter. The counter goes.
ALTER TABLE members DROP COLUMN feed_seq;

-- "A sender has read their own message" is derived when read marks are read (the newest message
-- the member sent in the conversation), no longer written into their membership row on every
-- send; likewise a conversation's activity time counts its newest message. This index finds a
-- member's newest message in a conversation, and still serves deleting a member's messages.
DROP INDEX messages_sender;
CREATE INDEX messages_sender ON messages (sender_id, conversation_id, id);
