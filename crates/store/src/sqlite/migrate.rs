//! Applying the SQLite migrations on the writer thread.
//!
//! The migrations are embedded at build time by `sqlx::migrate!`, which only reads the
//! files; they are applied here, through rusqlite, in one transaction. Applied migrations are
//! recorded in `_sqlx_migrations`, in the layout sqlx's own migrator uses, so databases made
//! by earlier versions of Confidant (which migrated through sqlx) open unchanged, and a
//! migration edited after it was applied is refused rather than silently skipped.

use std::time::Instant;

use rusqlite::{Connection, params};

use super::ResultExt;
use confidant_core::StoreError;
use confidant_core::store::StoreResult;

fn migrations() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations/sqlite")
}

/// Applies every migration not yet applied, and fits the search index to the file's pages;
/// returns how many migrations it applied.
pub(crate) fn migrate(conn: &Connection) -> StoreResult<usize> {
    let applied = migrate_through(conn, i64::MAX)?;
    super::search_index::fit_leaves_to_pages(conn).store()?;
    Ok(applied)
}

/// Applies the migrations not yet applied up to version `last`: a database as that version
/// of the schema left it, which the tests of a later migration start from.
fn migrate_through(conn: &Connection, last: i64) -> StoreResult<usize> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        )",
    )
    .store()?;
    let applied: Vec<(i64, bool, Vec<u8>)> = {
        let mut select = conn
            .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .store()?;
        let rows = select
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .store()?;
        rows.collect::<Result<_, _>>().store()?
    };
    if let Some((version, ..)) = applied.iter().find(|(_, success, _)| !success) {
        return Err(refused(format!(
            "migration {version} was left half-applied; restore the database from a backup"
        )));
    }
    let migrator = migrations();
    // A database from a newer Confidant may have tables this one does not know how to keep.
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some((newer, ..)) = applied.iter().find(|(v, ..)| *v > known) {
        return Err(refused(format!(
            "this database was migrated by a newer Confidant (migration {newer}); \
             run that version or newer"
        )));
    }
    let mut count = 0;
    for migration in migrator.iter().take_while(|m| m.version <= last) {
        if let Some((_, _, checksum)) = applied.iter().find(|(v, ..)| *v == migration.version) {
            if checksum[..] != migration.checksum[..] {
                return Err(refused(format!(
                    "migration {} was changed after this database applied it",
                    migration.version
                )));
            }
            continue;
        }
        let started = Instant::now();
        conn.execute_batch(&migration.sql)
            .map_err(|error| refused(format!("migration {} failed: {error}", migration.version)))?;
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)",
            params![
                migration.version,
                &*migration.description,
                &*migration.checksum,
                i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX)
            ],
        )
        .store()?;
        count += 1;
    }
    Ok(count)
}

fn refused(why: String) -> StoreError {
    StoreError::Backend(why.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM _sqlx_migrations", [], |row| {
            row.get(0)
        })
        .unwrap()
    }

    #[test]
    fn migrates_once_and_refuses_edited_or_newer_migrations() {
        let conn = Connection::open_in_memory().unwrap();
        let all = migrations().iter().count();
        assert_eq!(migrate(&conn).unwrap(), all);
        assert_eq!(applied(&conn), all as i64);
        assert_eq!(migrate(&conn).unwrap(), 0, "a second run applies nothing");

        conn.execute(
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1",
            [],
        )
        .unwrap();
        let edited = migrate(&conn).unwrap_err().to_string();
        assert!(edited.contains("migration 1 was changed"), "{edited}");
        conn.execute("DELETE FROM _sqlx_migrations WHERE version = 1", [])
            .unwrap();

        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (1, 'x', TRUE, ?1, 0), (999999, 'future', TRUE, x'00', 0)",
            [&*migrations().iter().next().unwrap().checksum],
        )
        .unwrap();
        let newer = migrate(&conn).unwrap_err().to_string();
        assert!(newer.contains("newer Confidant"), "{newer}");
    }

    /// Messages that an earlier version left queued for search are indexed by the migration
    /// that replaced the queue with a mark (0026), and the mark starts at the newest.
    #[test]
    fn the_search_queue_left_behind_is_indexed() {
        let conn = Connection::open_in_memory().unwrap();
        migrate_through(&conn, 25).unwrap();
        // Stored without a writer to index them: both are queued, and one is deleted again.
        conn.execute_batch(
            "INSERT INTO conversations (id, kind, created_at, last_activity_at) \
             VALUES (1, 'group', 0, 0); \
             INSERT INTO messages (id, conversation_id, body, created_at) \
             VALUES (1, 1, 'quince', 0), (2, 1, 'rowan', 0); \
             DELETE FROM messages WHERE id = 2;",
        )
        .unwrap();
        let later = migrations().iter().filter(|m| m.version >= 26).count();
        assert_eq!(migrate(&conn).unwrap(), later);
        let found = |word: &str| -> Vec<i64> {
            let mut select = conn
                .prepare("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1")
                .unwrap();
            let rows = select.query_map([word], |row| row.get(0)).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(found("quince"), [1]);
        assert_eq!(found("rowan"), [] as [i64; 0]);
        let mark: i64 = conn
            .query_row("SELECT upto FROM messages_fts_indexed", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(mark, 1);
        conn.execute_batch(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
        )
        .expect("the search index matches the messages");
    }

    /// Messages sent with files before messages said so (0027) say so after it, and only they.
    #[test]
    fn messages_sent_with_files_are_marked_as_having_them() {
        let conn = Connection::open_in_memory().unwrap();
        migrate_through(&conn, 26).unwrap();
        conn.execute_batch(
            "INSERT INTO members (id, handle, display_name, password_hash, created_at) \
             VALUES (1, 'ada', 'Ada', '', 0); \
             INSERT INTO conversations (id, kind, created_at, last_activity_at) \
             VALUES (1, 'group', 0, 0); \
             INSERT INTO messages (id, conversation_id, body, created_at) \
             VALUES (1, 1, 'a photo', 0), (2, 1, 'words only', 0); \
             INSERT INTO attachments (uploader_id, message_id, blob_key, name, content_type, \
             size_bytes, created_at) VALUES (1, 1, 'sent', 'a.png', 'image/png', 1, 0), \
             (1, NULL, 'unsent', 'b.png', 'image/png', 1, 0);",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let marked: Vec<(i64, bool)> = conn
            .prepare("SELECT id, has_attachments FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(marked, [(1, true), (2, false)]);
    }
}
