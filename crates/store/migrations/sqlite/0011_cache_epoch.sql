-- Confidant caches hot lookups (sessions, members, apps, tokens, conversation rosters,
-- tracked links) in memory. Any change to those tables that could make a cached answer wrong — a logout, a
-- revocation, a suspension, someone leaving a conversation — bumps this one counter, in the
-- same transaction, whichever process or node made it (the server, the `confidant` command,
-- another node, or an operator at the SQL prompt). Before trusting its caches, a request
-- reads the counter; if it moved, the caches are dropped. So revocation stays immediate.
--
-- Changes that happen on every request and cannot turn a "no" into a "yes" (a session's
-- last-seen time, a grant's last use, a member's feed position) do not bump it.
CREATE TABLE cache_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO cache_epoch (id, epoch) VALUES (1, 0);

CREATE TRIGGER sessions_epoch_update AFTER UPDATE OF token_hash, member_id, kind, csrf_token, expires_at ON sessions
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER sessions_epoch_delete AFTER DELETE ON sessions
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER members_epoch_update AFTER UPDATE OF id, handle, display_name, is_admin, count_clicks ON members
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER members_epoch_delete AFTER DELETE ON members
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER apps_epoch_update AFTER UPDATE ON apps
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER apps_epoch_delete AFTER DELETE ON apps
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER grants_epoch_update AFTER UPDATE OF id, member_id, client_id, pseudonym, scopes, revoked_at ON grants
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER grants_epoch_delete AFTER DELETE ON grants
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER token_families_epoch_update AFTER UPDATE ON token_families
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER token_families_epoch_delete AFTER DELETE ON token_families
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER oauth_tokens_epoch_update AFTER UPDATE ON oauth_tokens
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER oauth_tokens_epoch_delete AFTER DELETE ON oauth_tokens
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER conversation_members_epoch_insert AFTER INSERT ON conversation_members
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER conversation_members_epoch_update AFTER UPDATE OF conversation_id, member_id ON conversation_members
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER conversation_members_epoch_delete AFTER DELETE ON conversation_members
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;

CREATE TRIGGER recommendation_cards_epoch_update AFTER UPDATE ON recommendation_cards
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER recommendation_cards_epoch_delete AFTER DELETE ON recommendation_cards
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
CREATE TRIGGER messages_epoch_update AFTER UPDATE OF conversation_id, sender_id, via_app ON messages
BEGIN UPDATE cache_epoch SET epoch = epoch + 1; END;
