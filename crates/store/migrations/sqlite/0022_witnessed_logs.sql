-- The server's own Merkle logs, which witnesses cosign: the log of members' log heads
-- ('heads') and the public budget ledger of report releases ('ledger'). For each: its head,
-- every leaf, the tree's stored hashes (one per complete subtree, as for members' logs) and
-- the checkpoints signed so far, with the cosignatures collected for them.

CREATE TABLE tlog_heads (
    log  TEXT   PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB  NOT NULL
);

CREATE TABLE tlog_leaves (
    log  TEXT   NOT NULL,
    idx  INTEGER NOT NULL,
    data BLOB  NOT NULL,
    PRIMARY KEY (log, idx)
);

CREATE TABLE tlog_hashes (
    log  TEXT   NOT NULL,
    idx  INTEGER NOT NULL,
    hash BLOB  NOT NULL,
    PRIMARY KEY (log, idx)
);

-- `note` is the signed checkpoint with every valid cosignature collected so far;
-- `cosigned_at` the newest cosignature's time (Unix milliseconds).
CREATE TABLE tlog_checkpoints (
    log         TEXT   NOT NULL,
    size        INTEGER NOT NULL,
    note        TEXT   NOT NULL,
    cosigners   INTEGER NOT NULL DEFAULT 0,
    signed_at   INTEGER NOT NULL,
    cosigned_at INTEGER,
    PRIMARY KEY (log, size)
);

-- Each member log's label salt and the size it was last published at in the log of heads.
CREATE TABLE access_log_labels (
    member_id      INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    salt           BLOB  NOT NULL,
    published_size INTEGER NOT NULL
);

-- Every publication of a member's head: its leaf in the log of heads.
CREATE TABLE access_log_publications (
    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    leaf      INTEGER NOT NULL,
    PRIMARY KEY (member_id, leaf)
);
