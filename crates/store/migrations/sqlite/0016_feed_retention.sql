-- Event feed rows exist so that a live stream can resume from Last-Event-ID; after the
-- retention period (messaging::FEED_RETENTION_DAYS) they are deleted, oldest first, by this
-- index. The messages themselves stay.
CREATE INDEX member_feed_created ON member_feed (created_at);
