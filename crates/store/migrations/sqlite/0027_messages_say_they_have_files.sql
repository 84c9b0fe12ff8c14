-- A page of messages looked up every message's files, one probe of the attachments' index per
-- message, though few messages have any. A message now says whether it was sent with files
-- (attachments are linked to a message only as it is sent), and a page looks up only those.
ALTER TABLE messages ADD COLUMN has_attachments INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET has_attachments = 1
    WHERE id IN (SELECT message_id FROM attachments WHERE message_id IS NOT NULL);
