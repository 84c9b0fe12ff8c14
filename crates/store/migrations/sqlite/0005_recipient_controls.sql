-- What recipients control: apps whose messages they muted, and whether their clicks on
-- recommendation links may be counted in apps' aggregate reports.

CREATE TABLE app_mutes (
    member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    client_id TEXT   NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    muted_at  INTEGER NOT NULL,
    PRIMARY KEY (member_id, client_id)
);

ALTER TABLE members ADD COLUMN count_clicks INTEGER NOT NULL DEFAULT 1;
