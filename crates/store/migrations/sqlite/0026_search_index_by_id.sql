-- The messages still to index for search are those past the newest one indexed: message ids
-- only grow (AUTOINCREMENT), so one number says what 0023's queue said with a row per message,
-- which every send inserted by trigger and every commit deleted again. The writer indexes the
-- messages past `upto` after the batch's last savepoint and before its commit, in the same
-- transaction, and moves `upto` to the newest: a committed message is always searchable.
CREATE TABLE messages_fts_indexed (
    single INTEGER PRIMARY KEY CHECK (single = 1),
    upto   INTEGER NOT NULL
);

-- Every message not queued is indexed; index the queued ones, and start from the newest.
INSERT INTO messages_fts (rowid, body, conversation_id)
    SELECT m.id, m.body, m.conversation_id
    FROM messages_fts_pending p JOIN messages m ON m.id = p.id;
INSERT INTO messages_fts_indexed (single, upto)
    VALUES (1, COALESCE((SELECT MAX(id) FROM messages), 0));

-- A message past `upto` is not in the index yet: an edit changes nothing there (the commit
-- indexes the text as it is then), and a delete takes nothing out of it.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.id <= (SELECT upto FROM messages_fts_indexed)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
    INSERT INTO messages_fts (rowid, body, conversation_id)
        VALUES (new.id, new.body, new.conversation_id);
END;
DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT upto FROM messages_fts_indexed)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
END;
DROP TABLE messages_fts_pending;
