-- Partner apps, members' grants to them, and OAuth codes and tokens (stored only as hashes).
-- Lists of scopes, surfaces and variations are space-separated; redirect URIs, which may not
-- contain whitespace, are newline-separated.

CREATE TABLE apps (
    client_id      TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL,
    owner          TEXT    NOT NULL,
    homepage       TEXT,
    privacy_policy TEXT,
    report_webhook TEXT,
    redirect_uris  TEXT    NOT NULL,
    confidential   INTEGER NOT NULL,
    secret_hash    TEXT,
    scopes         TEXT    NOT NULL,
    surfaces       TEXT    NOT NULL,
    variations     TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);

-- One row per member and app, kept after revocation so the pseudonym stays stable.
CREATE TABLE grants (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id    INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    client_id    TEXT    NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    pseudonym    TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    UNIQUE (member_id, client_id)
);
CREATE INDEX grants_client ON grants (client_id);

CREATE TABLE thread_grants (
    grant_id        INTEGER NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    granted_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (grant_id, conversation_id)
);

CREATE TABLE authorization_codes (
    code_hash      TEXT    PRIMARY KEY,
    grant_id       INTEGER NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    client_id      TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    scopes         TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    redeemed_at    INTEGER,
    -- The token family the redemption started, so that a replay can revoke it.
    family_id      INTEGER
);
CREATE INDEX authorization_codes_grant ON authorization_codes (grant_id);

-- Every access and refresh token descended from one code redemption.
CREATE TABLE token_families (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    grant_id   INTEGER NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX token_families_grant ON token_families (grant_id);

CREATE TABLE oauth_tokens (
    token_hash TEXT    PRIMARY KEY,
    family_id  INTEGER NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER
);
CREATE INDEX oauth_tokens_family ON oauth_tokens (family_id);
CREATE INDEX oauth_tokens_expires ON oauth_tokens (expires_at);
