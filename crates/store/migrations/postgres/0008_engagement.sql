-- Engagement counters for partner reports, kept up to date in the same transaction as each
-- send and click. `day` is days since 1970-01-01 (UTC). Contributions are counted per member
-- too, so that no member moves a cell by more than the cap, whatever they do.

CREATE TABLE engagement_daily (
    client_id TEXT   NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    day       BIGINT NOT NULL,
    interface TEXT   NOT NULL,
    surface   TEXT   NOT NULL,
    variation TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    sends     BIGINT NOT NULL DEFAULT 0,
    clicks    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, day, interface, surface, variation, channel)
);

CREATE TABLE engagement_contributions (
    member_id BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    client_id TEXT   NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    day       BIGINT NOT NULL,
    interface TEXT   NOT NULL,
    surface   TEXT   NOT NULL,
    variation TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    sends     BIGINT NOT NULL DEFAULT 0,
    clicks    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (member_id, client_id, day, interface, surface, variation, channel)
);
