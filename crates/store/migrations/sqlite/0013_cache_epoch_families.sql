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

DROP TRIGGER sessions_epoch_update;
DROP TRIGGER sessions_epoch_delete;
DROP TRIGGER members_epoch_update;
DROP TRIGGER members_epoch_delete;
DROP TRIGGER apps_epoch_update;
DROP TRIGGER apps_epoch_delete;
DROP TRIGGER grants_epoch_update;
DROP TRIGGER grants_epoch_delete;
DROP TRIGGER token_families_epoch_update;
DROP TRIGGER token_families_epoch_delete;
DROP TRIGGER oauth_tokens_epoch_update;
DROP TRIGGER oauth_tokens_epoch_delete;
DROP TRIGGER conversation_members_epoch_insert;
DROP TRIGGER conversation_members_epoch_update;
DROP TRIGGER conversation_members_epoch_delete;
DROP TRIGGER recommendation_cards_epoch_update;
DROP TRIGGER recommendation_cards_epoch_delete;
DROP TRIGGER messages_epoch_update;
DROP TABLE cache_epoch;

CREATE TABLE cache_epochs (
    family TEXT    PRIMARY KEY,
    epoch  INTEGER NOT NULL
);
INSERT INTO cache_epochs (family, epoch) VALUES
    ('sessions', 0),
    ('members', 0),
    ('apps', 0),
    ('tokens', 0),
    ('rosters', 0),
    ('cards', 0);

CREATE TRIGGER sessions_epoch_update AFTER UPDATE OF token_hash, member_id, kind, csrf_token, expires_at ON sessions
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('sessions'); END;
CREATE TRIGGER sessions_epoch_delete AFTER DELETE ON sessions
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('sessions'); END;
CREATE TRIGGER members_epoch_update AFTER UPDATE OF id, handle, display_name, is_admin, count_clicks ON members
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('members'); END;
CREATE TRIGGER members_epoch_delete AFTER DELETE ON members
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('members'); END;
CREATE TRIGGER apps_epoch_update AFTER UPDATE ON apps
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('apps', 'tokens'); END;
CREATE TRIGGER apps_epoch_delete AFTER DELETE ON apps
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('apps', 'tokens'); END;
CREATE TRIGGER grants_epoch_update AFTER UPDATE OF id, member_id, client_id, pseudonym, scopes, revoked_at ON grants
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('tokens'); END;
CREATE TRIGGER grants_epoch_delete AFTER DELETE ON grants
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('tokens'); END;
CREATE TRIGGER token_families_epoch_update AFTER UPDATE ON token_families
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('tokens'); END;
CREATE TRIGGER token_families_epoch_delete AFTER DELETE ON token_families
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('tokens'); END;
CREATE TRIGGER oauth_tokens_epoch_update AFTER UPDATE ON oauth_tokens
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('tokens'); END;
CREATE TRIGGER oauth_tokens_epoch_delete AFTER DELETE ON oauth_tokens
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('tokens'); END;
CREATE TRIGGER conversation_members_epoch_insert AFTER INSERT ON conversation_members
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('rosters', 'cards'); END;
CREATE TRIGGER conversation_members_epoch_update AFTER UPDATE OF conversation_id, member_id ON conversation_members
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('rosters', 'cards'); END;
CREATE TRIGGER conversation_members_epoch_delete AFTER DELETE ON conversation_members
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('rosters', 'cards'); END;
CREATE TRIGGER recommendation_cards_epoch_update AFTER UPDATE ON recommendation_cards
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('cards'); END;
CREATE TRIGGER recommendation_cards_epoch_delete AFTER DELETE ON recommendation_cards
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('cards'); END;
CREATE TRIGGER messages_epoch_update AFTER UPDATE OF conversation_id, sender_id, via_app ON messages
BEGIN UPDATE cache_epochs SET epoch = epoch + 1 WHERE family IN ('cards'); END;
