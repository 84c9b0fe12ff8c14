-- Web Push (RFC 8030): each browser a member turned notifications on in, and the pushes
-- waiting to go to it.
CREATE TABLE push_subscriptions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id       BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    -- The push service's URL for this browser; unique, so subscribing again replaces it.
    endpoint        TEXT NOT NULL UNIQUE,
    -- The browser's P-256 key and authentication secret (RFC 8291), base64url.
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    -- Whether a push carries the message's text, or only who wrote.
    show_text       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    -- Set while this browser has the live stream open (renewed by the node serving it):
    -- it sees new messages there, and is not pushed to.
    streaming_until BIGINT
);
CREATE INDEX push_subscriptions_member ON push_subscriptions (member_id);

-- One push of one message to one browser, written in the transaction that stores the
-- message, and retried until it is delivered, refused for good, or out of attempts.
CREATE TABLE push_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id BIGINT NOT NULL REFERENCES push_subscriptions(id) ON DELETE CASCADE,
    message_id      BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL
);
CREATE INDEX push_deliveries_due ON push_deliveries (next_attempt_at);
CREATE INDEX push_deliveries_subscription ON push_deliveries (subscription_id);
CREATE INDEX push_deliveries_message ON push_deliveries (message_id);
