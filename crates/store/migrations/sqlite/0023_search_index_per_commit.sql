-- New messages are indexed for search once per group commit instead of once per message.
-- FTS5 writes its pending terms out as a new segment at every savepoint, and the writer runs
-- each write in a savepoint of its batch, so indexing inside the write made one segment (and
-- soon a merge) per message. The insert trigger now only queues the message; the writer
-- indexes everything queued after the batch's last savepoint, before its commit, in the same
-- transaction: a committed message is always searchable, and a rolled-back one never queued.
CREATE TABLE messages_fts_pending (
    id INTEGER PRIMARY KEY
);

DROP TRIGGER messages_fts_insert;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
BEGIN
    INSERT INTO messages_fts_pending (id) VALUES (new.id);
END;

-- A queued message is not in the index yet: an edit changes nothing there (the commit
-- indexes the text as it is then), and a delete only takes it off the queue.
DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.id)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
    INSERT INTO messages_fts (rowid, body, conversation_id)
        VALUES (new.id, new.body, new.conversation_id);
END;
DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body, conversation_id)
        SELECT 'delete', old.id, old.body, old.conversation_id
        WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.id);
    DELETE FROM messages_fts_pending WHERE id = old.id;
END;
