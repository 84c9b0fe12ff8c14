-- Counts partners report about their own channels (off-platform sends and clicks, or their
-- own view of Confidant sends), shown beside Confidant's measured counts in reports.
-- Idempotent by the partner's key: a repeated key changes nothing.

CREATE TABLE partner_events (
    client_id       TEXT   NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    idempotency_key TEXT   NOT NULL,
    day             BIGINT NOT NULL,
    interface       TEXT   NOT NULL,
    surface         TEXT   NOT NULL,
    variation       TEXT   NOT NULL,
    channel         TEXT   NOT NULL,
    sends           BIGINT NOT NULL,
    clicks          BIGINT NOT NULL,
    received_at     BIGINT NOT NULL,
    PRIMARY KEY (client_id, idempotency_key)
);
CREATE INDEX partner_events_day ON partner_events (client_id, day);
