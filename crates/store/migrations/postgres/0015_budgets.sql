-- Fixed-window budgets shared by every node: failed log-ins, wrong client secrets, partner
-- sends, directory searches (see confidant_core::store::LimitStore). One row per key while
-- its window lasts; ended windows are purged hourly.
CREATE TABLE budget_windows (
    key      TEXT   PRIMARY KEY,
    started  BIGINT NOT NULL,
    ends_at  BIGINT NOT NULL,
    taken    BIGINT NOT NULL
);
CREATE INDEX budget_windows_ends ON budget_windows (ends_at);
