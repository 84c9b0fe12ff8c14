-- Messages partner apps send for members: each send (one per request, idempotent by key),
-- the label of the app on every message it sent, and the recommendation card it carried.

CREATE TABLE partner_sends (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT   NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    member_id       INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    idempotency_key TEXT,
    request_hash    TEXT   NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (client_id, member_id, idempotency_key)
);

ALTER TABLE messages ADD COLUMN via_app TEXT;
ALTER TABLE messages ADD COLUMN partner_send_id INTEGER REFERENCES partner_sends(id) ON DELETE SET NULL;
CREATE INDEX messages_partner_send ON messages (partner_send_id);

CREATE TABLE recommendation_cards (
    message_id  INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    title       TEXT   NOT NULL,
    url         TEXT   NOT NULL,
    image_url   TEXT,
    description TEXT,
    item_id     TEXT   NOT NULL,
    interface   TEXT   NOT NULL,
    surface     TEXT   NOT NULL,
    variation   TEXT   NOT NULL,
    token       TEXT   NOT NULL UNIQUE
);
