-- Edits, deletions, replies, the lines a group writes when it changes, a key per draft so a
-- retried send is stored once, recommendations a recipient removed from their view, and
-- full-text search of message bodies.
--
-- No foreign keys on `reply_to` and `subject_id`: a conversation's deletion would otherwise
-- look for references to each of its messages (and a member's, to them) with no index to
-- do it by. A quote of a message that is gone, or a line naming a member who is, reads as
-- "unavailable" through its LEFT JOIN.

ALTER TABLE messages
    ADD COLUMN edited_at BIGINT,
    -- Set when the sender deleted the message; its body is then '' (gone, not hidden).
    ADD COLUMN deleted_at BIGINT,
    ADD COLUMN reply_to BIGINT,
    -- 'added' (of `subject_id`), 'left' or 'renamed' (to `body`), by `sender_id`; NULL for
    -- what people wrote.
    ADD COLUMN system_kind TEXT,
    ADD COLUMN subject_id BIGINT,
    ADD COLUMN client_key TEXT;
CREATE UNIQUE INDEX messages_client_key ON messages (sender_id, client_key)
    WHERE client_key IS NOT NULL;

CREATE TABLE hidden_messages (
    member_id  BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    message_id BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    hidden_at  BIGINT NOT NULL,
    PRIMARY KEY (member_id, message_id)
);
CREATE INDEX hidden_messages_message ON hidden_messages (message_id);

-- Words as written, lower-cased, without stemming, as SQLite's unicode61 matches them (which
-- also folds accents; PostgreSQL would need the unaccent extension for that).
CREATE INDEX messages_search ON messages USING GIN (to_tsvector('simple', body))
    WHERE system_kind IS NULL;
