-- A thread grant may include the conversation's earlier messages, if the member chose so on
-- the consent screen: the app may read from `readable_from` (NULL: from `granted_at`).

ALTER TABLE thread_grants ADD COLUMN readable_from INTEGER;
