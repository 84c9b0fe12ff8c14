-- Webhooks to partner apps, signed as Standard Webhooks: an outbox row is written in the same
-- transaction as the change it announces, then delivered, and retried, by a background job.

ALTER TABLE apps ADD COLUMN webhook_secret TEXT;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT   NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    message_id      TEXT   NOT NULL UNIQUE,
    event_type      TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- NULL once delivered or given up.
    next_attempt_at INTEGER,
    delivered_at    INTEGER,
    last_error      TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at);
