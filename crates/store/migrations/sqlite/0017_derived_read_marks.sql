-- A send no longer writes the conversation's activity time or the sender's read mark; both
-- are derived from the newest messages when read (as PostgreSQL's migration 0014 already does),
-- so each send dirties fewer pages. This index finds a member's newest message in a
-- conversation, and still serves deleting a member's messages.
DROP INDEX messages_sender;
CREATE INDEX messages_sender ON messages (sender_id, conversation_id, id);
