-- Members, sessions, friends, conversations, messages and the per-member event feed.
-- Times are milliseconds since the Unix epoch; flags are 0/1 integers.

CREATE TABLE members (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    handle        TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    -- The newest seq of this member's feed; bumped in the transaction that appends.
    feed_seq      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    token_hash   TEXT    PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_member ON sessions (member_id);

CREATE TABLE friend_requests (
    from_id    INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    to_id      INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX friend_requests_to ON friend_requests (to_id);

-- One row per direction, so "my friends" is a single index range.
CREATE TABLE friendships (
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    friend_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, friend_id)
);

CREATE TABLE blocks (
    blocker_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    blocked_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id);

CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    title            TEXT,
    direct_key       TEXT    UNIQUE,
    created_by       INTEGER REFERENCES members(id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL
);

CREATE TABLE conversation_members (
    conversation_id      INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    member_id            INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    joined_at            INTEGER NOT NULL,
    last_read_message_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, member_id)
);
CREATE INDEX conversation_members_member ON conversation_members (member_id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    sender_id       INTEGER REFERENCES members(id) ON DELETE SET NULL,
    body            TEXT    NOT NULL,
    erased          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
CREATE INDEX messages_sender ON messages (sender_id);

CREATE TABLE member_feed (
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, seq)
);
