-- Privacy by construction, against a hostile partner:
--
-- * apps register an item-URL template, and Confidant builds every card's URL from it, so
--   every recipient of an item gets the same link;
-- * deployment-wide settings that must never change silently (the access-log key's public
--   half and name, the pairwise-id key, whether exact reports may reach partners);
-- * the contribution caps in force per app and day, which a release is calibrated to;
-- * the privacy ledger, charged per data day rather than per calendar release;
-- * whether a release may reach its partner, decided once when it is made;
-- * leases, so that a periodic job runs on one node at a time;
-- * per-day tallies of the access-log entries written about members an app touched through
--   someone else (a friend listing, a shared thread, a send), so repeats coalesce.

ALTER TABLE apps ADD COLUMN item_url_template TEXT;

CREATE TABLE deployment_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE engagement_caps (
    client_id        TEXT    NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    day              BIGINT  NOT NULL,
    contribution_cap BIGINT  NOT NULL,
    cells_per_day    BIGINT  NOT NULL,
    PRIMARY KEY (client_id, day)
);
-- Every day that already has counts was counted under the defaults of its time.
INSERT INTO engagement_caps (client_id, day, contribution_cap, cells_per_day)
    SELECT DISTINCT client_id, day, 3, 4 FROM engagement_daily;

CREATE TABLE privacy_ledger (
    client_id TEXT    NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    day       BIGINT  NOT NULL,
    rho       DOUBLE PRECISION   NOT NULL,
    PRIMARY KEY (client_id, day)
);
-- Releases made before the ledger charged days: each one's ρ goes to every day it covers.
INSERT INTO privacy_ledger (client_id, day, rho)
    WITH RECURSIVE covered(client_id, day, last_day, rho) AS (
        SELECT client_id, first_day, first_day + days - 1, rho FROM report_releases
            WHERE mechanism <> 'self_test'
        UNION ALL
        SELECT client_id, day + 1, last_day, rho FROM covered WHERE day < last_day
    )
    SELECT client_id, day, SUM(rho) FROM covered GROUP BY client_id, day;

-- Earlier self-test releases reached the partner only while the deployment was in
-- self-test mode; from now on that is decided once, when a release is made. Earlier ones
-- stay with the operator.
ALTER TABLE report_releases ADD COLUMN partner_visible BIGINT  NOT NULL DEFAULT 1;
UPDATE report_releases SET partner_visible = 0 WHERE mechanism = 'self_test';

CREATE TABLE job_leases (
    name   TEXT    PRIMARY KEY,
    holder TEXT    NOT NULL,
    until  BIGINT  NOT NULL
);

CREATE TABLE access_log_tallies (
    member_id BIGINT  NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    app       TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    day       BIGINT  NOT NULL,
    -- The entry this day's repeats were folded into.
    seq       BIGINT  NOT NULL,
    count     BIGINT  NOT NULL,
    PRIMARY KEY (member_id, app, action, day)
);
CREATE INDEX access_log_tallies_seq ON access_log_tallies (member_id, seq);
