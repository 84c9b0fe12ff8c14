//! Indexing new messages for search once per group commit (migration 0023).
//!
//! FTS5 writes the terms it holds in memory out as a new index segment at every savepoint.
//! Every write of a batch runs in its own savepoint, so a message indexed inside its write
//! cost a segment of its own, and FTS5 soon merged those segments again: on the send path
//! that was a large share of the writer's work, and of the pages it wrote to the WAL. A
//! stored message is only queued (`messages_fts_pending`, by trigger); the writer indexes
//! the whole queue after the batch's last savepoint and before its commit, as one segment,
//! in the same transaction.

use rusqlite::Connection;

/// The writer's indexing step, and whether the schema has the queue yet (a database opened
/// before migration 0023 does not, nor do the writer's own tests).
#[derive(Default)]
pub(crate) struct SearchIndexing {
    queue_exists: bool,
}

impl SearchIndexing {
    /// Indexes every queued message and empties the queue, inside the open transaction.
    pub(crate) fn before_commit(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if !self.queue_exists {
            self.queue_exists = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_schema \
                     WHERE type = 'table' AND name = 'messages_fts_pending')",
                )?
                .query_row([], |row| row.get(0))?;
            if !self.queue_exists {
                return Ok(());
            }
        }
        let indexed = conn
            .prepare_cached(
                "INSERT INTO messages_fts (rowid, body, conversation_id) \
                 SELECT m.id, m.body, m.conversation_id \
                 FROM messages_fts_pending p JOIN messages m ON m.id = p.id",
            )?
            .execute([])?;
        // A queued message that was deleted left the queue with it, so an empty join means
        // an empty queue.
        if indexed > 0 {
            conn.prepare_cached("DELETE FROM messages_fts_pending")?
                .execute([])?;
        }
        Ok(())
    }

    /// The batch did not commit: the migration that made the queue may have gone with it.
    pub(crate) fn rolled_back(&mut self) {
        self.queue_exists = false;
    }
}
