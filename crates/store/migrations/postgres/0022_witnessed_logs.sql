-- The server's own Merkle logs, which witnesses cosign: the log of members' log heads
-- ('heads') and the public budget ledger of report releases ('ledger'). For each: its head,
-- every leaf, the tree's stored hashes (one per complete subtree, as for members' logs) and
-- the checkpoints signed so far, with the cosignatures collected for them.

CREATE TABLE tlog_heads (
    log  TEXT   PRIMARY KEY,
    size BIGINT NOT NULL,
    root BYTEA  NOT NULL
);

CREATE TABLE tlog_leaves (
    log  TEXT   NOT NULL,
    idx  BIGINT NOT NULL,
    data BYTEA  NOT NULL,
    PRIMARY KEY (log, idx)
);

CREATE TABLE tlog_hashes (
    log  TEXT   NOT NULL,
    idx  BIGINT NOT NULL,
    hash BYTEA  NOT NULL,
    PRIMARY KEY (log, idx)
);

-- `note` is the signed checkpoint with every valid cosignature collected so far;
-- `cosigned_at` the newest cosignature's time (Unix milliseconds).
CREATE TABLE tlog_checkpoints (
    log         TEXT   NOT NULL,
    size        BIGINT NOT NULL,
    note        TEXT   NOT NULL,
    cosigners   BIGINT NOT NULL DEFAULT 0,
    signed_at   BIGINT NOT NULL,
    cosigned_at BIGINT,
    PRIMARY KEY (log, size)
);

-- Each member log's label salt and the size it was last published at in the log of heads.
CREATE TABLE access_log_labels (
    member_id      BIGINT PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    salt           BYTEA  NOT NULL,
    published_size BIGINT NOT NULL
);

-- Every publication of a member's head: its leaf in the log of heads.
CREATE TABLE access_log_publications (
    member_id BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    leaf      BIGINT NOT NULL,
    PRIMARY KEY (member_id, leaf)
);
