-- Files members upload and send with a message. The bytes live in a blob store (under the
-- data directory, or in an S3-compatible bucket) under `blob_key`; this row is what makes
-- them reachable, and only through the message it was sent with.
--
-- An upload belongs to its uploader until a message carries it (`message_id`); one message
-- at most, so deleting that message, its conversation or the uploader's account deletes it.
-- Uploads never sent are purged after a day.
CREATE TABLE attachments (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uploader_id   BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    message_id    BIGINT REFERENCES messages(id) ON DELETE CASCADE,
    -- Its place among the message's attachments.
    position      INTEGER NOT NULL DEFAULT 0,
    blob_key      TEXT NOT NULL UNIQUE,
    -- As the uploader named it, made safe to offer as a file name.
    name          TEXT NOT NULL,
    -- Sniffed from the bytes, never taken from the upload's Content-Type.
    content_type  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    width         BIGINT,
    height        BIGINT,
    has_thumbnail BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
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

CREATE FUNCTION attachments_queue_blob_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO blob_deletions (blob_key) VALUES (OLD.blob_key) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER attachments_queue_blob_deletion AFTER DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION attachments_queue_blob_deletion();
