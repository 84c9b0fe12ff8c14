-- Files members upload and send with a message. The bytes live in a blob store (under the
-- data directory, or in an S3-compatible bucket) under `blob_key`; this row is what makes
-- them reachable, and only through the message it was sent with.
--
-- An upload belongs to its uploader until a message carries it (`message_id`); one message
-- at most, so deleting that message, its conversation or the uploader's account deletes it.
-- Uploads never sent are purged after a day.
CREATE TABLE attachments (
    -- Never reused: a browser may hold a file under its URL (`/api/v1/attachments/{id}`).
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uploader_id   INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    message_id    INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    -- Its place among the message's attachments.
    position      INTEGER NOT NULL DEFAULT 0,
    blob_key      TEXT NOT NULL UNIQUE,
    -- As the uploader named it, made safe to offer as a file name.
    name          TEXT NOT NULL,
    -- Sniffed from the bytes, never taken from the upload's Content-Type.
    content_type  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    has_thumbnail INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_uploader ON attachments (uploader_id);
CREATE INDEX attachments_unsent ON attachments (created_at) WHERE message_id IS NULL;

-- Blobs whose row is gone, for the server to delete from the blob store. Queued by the
-- trigger below in the transaction that deletes the row, whatever deleted it (a message's
-- deletion, a cascade from a conversation or an account, the purge of unsent uploads), so
-- a crash between the commit and the blob's deletion leaves a queued key, never a blob
-- nobody knows about.
CREATE TABLE blob_deletions (
    blob_key TEXT PRIMARY KEY
);

CREATE TRIGGER attachments_queue_blob_deletion AFTER DELETE ON attachments
BEGIN
    INSERT OR IGNORE INTO blob_deletions (blob_key) VALUES (old.blob_key);
END;
