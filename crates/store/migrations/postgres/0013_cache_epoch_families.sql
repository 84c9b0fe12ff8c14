-- One cache epoch per family of cached lookups, instead of one for all (0011). A change bumps
-- only the families whose cached answers it could make wrong, so rotating a refresh token no
-- longer empties the session, member, roster and link caches of every node, and writers of
-- unrelated families no longer queue on one row.
--
--   family     cached lookups            changed by
--   sessions   sessions                  sessions
--   members    members, click consent    members
--   apps       apps                      apps
--   tokens     OAuth tokens with grant   oauth_tokens, token_families, grants, apps
--   rosters    conversation rosters      conversation_members
--   cards      tracked links             recommendation_cards, messages, conversation_members
--
-- As before, changes that happen on every request and cannot turn a "no" into a "yes" (a
-- session's last-seen time, a grant's last use, a member's feed position) bump nothing.

DROP TRIGGER sessions_epoch_update ON sessions;
DROP TRIGGER sessions_epoch_delete ON sessions;
DROP TRIGGER members_epoch_update ON members;
DROP TRIGGER members_epoch_delete ON members;
DROP TRIGGER apps_epoch_update ON apps;
DROP TRIGGER apps_epoch_delete ON apps;
DROP TRIGGER grants_epoch_update ON grants;
DROP TRIGGER grants_epoch_delete ON grants;
DROP TRIGGER token_families_epoch_update ON token_families;
DROP TRIGGER token_families_epoch_delete ON token_families;
DROP TRIGGER oauth_tokens_epoch_update ON oauth_tokens;
DROP TRIGGER oauth_tokens_epoch_delete ON oauth_tokens;
DROP TRIGGER conversation_members_epoch_insert ON conversation_members;
DROP TRIGGER conversation_members_epoch_update ON conversation_members;
DROP TRIGGER conversation_members_epoch_delete ON conversation_members;
DROP TRIGGER recommendation_cards_epoch_update ON recommendation_cards;
DROP TRIGGER recommendation_cards_epoch_delete ON recommendation_cards;
DROP TRIGGER messages_epoch_update ON messages;
DROP FUNCTION bump_cache_epoch();
DROP TABLE cache_epoch;

CREATE TABLE cache_epochs (
    family TEXT   PRIMARY KEY,
    epoch  BIGINT NOT NULL
);
INSERT INTO cache_epochs (family, epoch) VALUES
    ('sessions', 0),
    ('members', 0),
    ('apps', 0),
    ('tokens', 0),
    ('rosters', 0),
    ('cards', 0);

-- The families to bump are the trigger's arguments.
CREATE FUNCTION bump_cache_epochs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_epochs SET epoch = epoch + 1 WHERE family = ANY (TG_ARGV);
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_epoch_update AFTER UPDATE OF token_hash, member_id, kind, csrf_token, expires_at ON sessions
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('sessions');
CREATE TRIGGER sessions_epoch_delete AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('sessions');
CREATE TRIGGER members_epoch_update AFTER UPDATE OF id, handle, display_name, is_admin, count_clicks ON members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('members');
CREATE TRIGGER members_epoch_delete AFTER DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('members');
CREATE TRIGGER apps_epoch_update AFTER UPDATE ON apps
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('apps', 'tokens');
CREATE TRIGGER apps_epoch_delete AFTER DELETE ON apps
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('apps', 'tokens');
CREATE TRIGGER grants_epoch_update AFTER UPDATE OF id, member_id, client_id, pseudonym, scopes, revoked_at ON grants
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('tokens');
CREATE TRIGGER grants_epoch_delete AFTER DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('tokens');
CREATE TRIGGER token_families_epoch_update AFTER UPDATE ON token_families
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('tokens');
CREATE TRIGGER token_families_epoch_delete AFTER DELETE ON token_families
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('tokens');
CREATE TRIGGER oauth_tokens_epoch_update AFTER UPDATE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('tokens');
CREATE TRIGGER oauth_tokens_epoch_delete AFTER DELETE ON oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('tokens');
CREATE TRIGGER conversation_members_epoch_insert AFTER INSERT ON conversation_members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('rosters', 'cards');
CREATE TRIGGER conversation_members_epoch_update AFTER UPDATE OF conversation_id, member_id ON conversation_members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('rosters', 'cards');
CREATE TRIGGER conversation_members_epoch_delete AFTER DELETE ON conversation_members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('rosters', 'cards');
CREATE TRIGGER recommendation_cards_epoch_update AFTER UPDATE ON recommendation_cards
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('cards');
CREATE TRIGGER recommendation_cards_epoch_delete AFTER DELETE ON recommendation_cards
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('cards');
CREATE TRIGGER messages_epoch_update AFTER UPDATE OF conversation_id, sender_id, via_app ON messages
    FOR EACH ROW EXECUTE FUNCTION bump_cache_epochs('cards');
