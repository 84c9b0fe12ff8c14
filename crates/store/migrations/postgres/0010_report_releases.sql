-- Biweekly engagement reports as released to partners, and what each release cost.
--
-- A release is drawn once and stored; asking again for the same period serves the stored
-- one, never a fresh draw (which would leak more). Its row is also the privacy ledger entry:
-- `rho` is the budget it spent, debited in the same transaction that stores it.

-- How many cells of one app a member added to on one day, so that no member touches more
-- than the configured number of cells per day.
CREATE TABLE engagement_member_days (
    member_id BIGINT  NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    client_id TEXT    NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    day       BIGINT  NOT NULL,
    cells     BIGINT  NOT NULL,
    PRIMARY KEY (member_id, client_id, day)
);

-- One row per app, locked by each release so that two releases never spend the same budget.
CREATE TABLE report_budgets (
    client_id TEXT    PRIMARY KEY REFERENCES apps(client_id) ON DELETE CASCADE,
    releases  BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE report_releases (
    id         TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    first_day  BIGINT  NOT NULL,
    days       BIGINT  NOT NULL,
    mechanism  TEXT    NOT NULL,
    rho        DOUBLE PRECISION NOT NULL,
    created_at BIGINT  NOT NULL,
    body       TEXT    NOT NULL,
    -- The `report.ready` webhook that delivers it, if the app has a webhook URL.
    webhook_id BIGINT  REFERENCES webhook_deliveries(id) ON DELETE SET NULL,
    UNIQUE (client_id, first_day, days, mechanism)
);
CREATE INDEX report_releases_spent ON report_releases (client_id, created_at);
