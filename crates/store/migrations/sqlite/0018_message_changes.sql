-- Edits, deletions, replies, the lines a group writes when it changes, a key per draft so a
-- retried send is stored once, recommendations a recipient removed from their view, and
-- full-text search of message bodies.
--
-- No foreign keys on `reply_to` and `subject_id`: a conversation's deletion would otherwise
-- look for references to each of its messages (and a member's, to them) with no index to
-- do it by. A quote of a message that is gone, or a line naming a member who is, reads as
-- "unavailable" through its LEFT JOIN.

ALTER TABLE messages ADD COLUMN edited_at INTEGER;
-- Set when the sender deleted the message; its body is then '' (the text is gone, not hidden).
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
-- 'added' (of `subject_id`), 'left' or 'renamed' (to `body`), by `sender_id`; NULL for
-- what people wrote.
ALTER TABLE messages ADD COLUMN system_kind TEXT;
ALTER TABLE messages ADD COLUMN subject_id INTEGER;
ALTER TABLE messages ADD COLUMN client_key TEXT;
CREATE UNIQUE INDEX messages_client_key ON messages (sender_id, client_key)
    WHERE client_key IS NOT NULL;

CREATE TABLE hidden_messages (
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    hidden_at  INTEGER NOT NULL,
    PRIMARY KEY (member_id, message_id)
);
CREATE INDEX hidden_messages_message ON hidden_messages (message_id);

-- The index keeps no copy of the text: it reads `messages` (external content). Every row is
-- indexed, so a trigger can always remove exactly what was added; searches skip system
-- lines and deleted messages themselves. The conversation is indexed too (its id as a
-- token), so a search runs inside the member's own conversations instead of walking every
-- match of a common word. With `secure-delete`, an edit or a delete takes the old words out
-- of the index at once, instead of leaving them behind a delete marker until a merge.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, conversation_id, content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
BEGIN
    INSERT INTO messages_fts (rowid, body, conversation_id)
        VALUES (new.id, new.body, new.conversation_id);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
    INSERT INTO messages_fts (rowid, body, conversation_id)
        VALUES (new.id, new.body, new.conversation_id);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
END;
