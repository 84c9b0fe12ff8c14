//! Indexing new messages for search once per group commit (migrations 0023 and 0026).
//!
//! FTS5 writes the terms it holds in memory out as a new index segment at every savepoint.
//! Every write of a batch runs in its own savepoint, so a message indexed inside its write
//! cost a segment of its own, and FTS5 soon merged those segments again: on the send path
//! that was a large share of the writer's work, and of the pages it wrote to the WAL. So a
//! message is stored unindexed; after the batch's last savepoint and before its commit, in
//! the same transaction, the writer indexes every message past the newest one indexed
//! (`messages_fts_indexed.upto`; ids only grow) as one segment, and moves that mark.

use rusqlite::Connection;

/// The writer's indexing step, and whether the schema has the mark yet (a database opened
/// before migration 0026 does not, nor do the writer's own tests).
#[derive(Default)]
pub(crate) struct SearchIndexing {
    mark_exists: bool,
}

impl SearchIndexing {
    /// Indexes every message past the mark and moves it, inside the open transaction.
    pub(crate) fn before_commit(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if !self.mark_exists {
            self.mark_exists = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_schema \
                     WHERE type = 'table' AND name = 'messages_fts_indexed')",
                )?
                .query_row([], |row| row.get(0))?;
            if !self.mark_exists {
                return Ok(());
            }
        }
        // Both are seeks: the mark's one row (its migration made it), and the end of the
        // messages' rowid b-tree.
        let (upto, newest): (i64, Option<i64>) = conn
            .prepare_cached(
                "SELECT upto, (SELECT MAX(id) FROM messages) FROM messages_fts_indexed",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let Some(newest) = newest.filter(|newest| *newest > upto) else {
            return Ok(());
        };
        conn.prepare_cached(
            "INSERT INTO messages_fts (rowid, body, conversation_id) \
             SELECT id, body, conversation_id FROM messages WHERE id > ?1 AND id <= ?2",
        )?
        .execute([upto, newest])?;
        conn.prepare_cached("UPDATE messages_fts_indexed SET upto = ?1")?
            .execute([newest])?;
        Ok(())
    }

    /// The batch did not commit: the migration that made the mark may have gone with it.
    pub(crate) fn rolled_back(&mut self) {
        self.mark_exists = false;
    }
}
