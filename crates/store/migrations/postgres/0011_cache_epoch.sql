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
    epoch BIGINT  NOT NULL
);
INSERT INTO cache_epoch (id, epoch) VALUES (1, 0);

CREATE FUNCTION bump_cache_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_epoch SET epoch = epoch + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_epoch_update AFTER UPDATE OF token_hash, member_id, kind, csrf_token, expires_at ON sessions
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER sessions_epoch_delete AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER members_epoch_update AFTER UPDATE OF id, handle, display_name, is_admin, count_clicks ON members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER members_epoch_delete AFTER DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER apps_epoch_update AFTER UPDATE ON apps
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER apps_epoch_delete AFTER DELETE ON apps
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER grants_epoch_update AFTER UPDATE OF id, member_id, client_id, pseudonym, scopes, revoked_at ON grants
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER grants_epoch_delete AFTER DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER token_families_epoch_update AFTER UPDATE ON token_families
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER token_families_epoch_delete AFTER DELETE ON token_families
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER oauth_tokens_epoch_update AFTER UPDATE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER oauth_tokens_epoch_delete AFTER DELETE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER conversation_members_epoch_insert AFTER INSERT ON conversation_members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER conversation_members_epoch_update AFTER UPDATE OF conversation_id, member_id ON conversation_members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER conversation_members_epoch_delete AFTER DELETE ON conversation_members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER recommendation_cards_epoch_update AFTER UPDATE ON recommendation_cards
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER recommendation_cards_epoch_delete AFTER DELETE ON recommendation_cards
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
CREATE TRIGGER messages_epoch_update AFTER UPDATE OF conversation_id, sender_id, via_app ON messages
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epoch();
