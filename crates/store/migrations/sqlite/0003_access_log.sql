-- Members' access logs: every partner access as an entry, the Merkle tree's stored hashes
-- (one per complete subtree, under the dense "stored hash index"), and each log's head.
-- Also tombstones of tokens revoked before they expired, so later use is still logged.

CREATE TABLE access_log_heads (
    member_id INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    size      INTEGER NOT NULL,
    root      BLOB   NOT NULL
);

CREATE TABLE access_log_entries (
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    app        TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    scope      TEXT,
    objects    TEXT   NOT NULL,
    outcome    TEXT   NOT NULL,
    reason     TEXT,
    request_id TEXT   NOT NULL,
    PRIMARY KEY (member_id, seq)
);
CREATE INDEX access_log_entries_app ON access_log_entries (member_id, app, seq);

CREATE TABLE access_log_hashes (
    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    hash      BLOB   NOT NULL,
    PRIMARY KEY (member_id, idx)
);

CREATE TABLE revoked_tokens (
    token_hash TEXT   PRIMARY KEY,
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);
