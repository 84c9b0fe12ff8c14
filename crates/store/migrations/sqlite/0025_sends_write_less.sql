-- A send writes less: what it wrote that no query needed is gone.

-- Only messages an app sent have a partner send. Every other message put a NULL in this
-- index that no query looks up; `partner_send_id = ?` implies the column is not NULL, so the
-- partial index still serves every lookup (and the foreign key's).
DROP INDEX messages_partner_send;
CREATE INDEX messages_partner_send ON messages (partner_send_id)
    WHERE partner_send_id IS NOT NULL;

-- From this version on, a member's feed head is the newest seq of their `member_feed` rows,
-- and `members.feed_seq` only keeps the newest seq that retention deleted (the head is the
-- larger of the two): appending no longer updates the member's row. The values it holds
-- were heads, which are valid as such, so nothing needs rewriting.
