-- Day-two administration: suspending members, and rotating an app's client secret with a
-- grace period during which the previous secret still authenticates.

ALTER TABLE members ADD COLUMN suspended_at BIGINT;

ALTER TABLE apps ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE apps ADD COLUMN previous_secret_expires_at BIGINT;
