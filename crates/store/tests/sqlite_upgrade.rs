//! A data directory made by an earlier Confidant, whose SQLite migrations ran through sqlx's
//! own migrator, opens unchanged: the migrations are recognised as applied, not run again.
//! Its 4 KiB pages stay until it is backed up and restored.

use std::path::Path;

use confidant_store::SqlStore;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

/// The search index's leaf size, as FTS5 keeps it once set (4,050 until it is).
const LEAF_SIZE: &str =
    "SELECT COALESCE((SELECT v FROM messages_fts_config WHERE k = 'pgsz'), 4050)";

/// Confidant's store on the SQLite file at `path`, as `confidant serve` opens it.
async fn opened(path: &Path) -> SqlStore {
    SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// A database at `path` as earlier versions made it: SQLite's 4 KiB pages, migrated by sqlx.
async fn migrated_by_sqlx(path: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .page_size(4096);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .unwrap();
    pool
}

#[tokio::test]
async fn a_database_migrated_by_sqlx_opens_and_needs_no_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confidant.db");
    let pool = migrated_by_sqlx(&path).await;
    let applied_by_sqlx: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;

    let store = opened(&path).await;
    store.migrate().await.unwrap();
    let count = store
        .count_raw("SELECT COUNT(*) FROM _sqlx_migrations")
        .await
        .unwrap();
    assert_eq!(count, applied_by_sqlx.len() as i64, "nothing applied twice");
    // And the schema is whole: a member can be stored.
    store_ada(&store).await;
    store.close().await;
}

/// Stores a member, `ada`.
async fn store_ada(store: &SqlStore) {
    store
        .execute_raw(
            "INSERT INTO members (handle, display_name, password_hash, created_at) \
             VALUES ('ada', 'Ada', '-', 0)",
        )
        .await
        .unwrap();
}

/// The page size a SQLite file's header gives (bytes 16 and 17, big-endian).
fn page_size_of(path: &Path) -> u32 {
    let header = std::fs::read(path).unwrap();
    u32::from(u16::from_be_bytes([header[16], header[17]]))
}

#[tokio::test]
async fn a_new_database_has_2_kib_pages_and_search_leaves_that_fit_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confidant.db");
    let store = opened(&path).await;
    store.migrate().await.unwrap();
    let leaf_size = store.count_raw(LEAF_SIZE).await.unwrap();
    store.close().await;
    assert_eq!(page_size_of(&path), 2048);
    assert_eq!(leaf_size, 2002, "the search index's leaves fit a page");
}

#[tokio::test]
async fn a_database_with_4_kib_pages_keeps_them_and_its_copy_has_2_kib_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confidant.db");
    migrated_by_sqlx(&path).await.close().await;

    let store = opened(&path).await;
    store.migrate().await.unwrap();
    store_ada(&store).await;
    assert_eq!(store.count_raw(LEAF_SIZE).await.unwrap(), 4050);
    // The copy a backup archives, which a restore puts in place.
    let copy = dir.path().join("copy.db");
    store.copy_sqlite_into(&copy).await.unwrap();
    store.close().await;
    assert_eq!(
        page_size_of(&path),
        4096,
        "an existing file is not rewritten"
    );
    assert_eq!(page_size_of(&copy), 2048);

    let copied = opened(&copy).await;
    let members = copied
        .count_raw("SELECT COUNT(*) FROM members WHERE handle = 'ada'")
        .await
        .unwrap();
    assert_eq!(members, 1);
    copied.migrate().await.unwrap();
    assert_eq!(
        copied.count_raw(LEAF_SIZE).await.unwrap(),
        2002,
        "a restored copy's search index fits its smaller pages"
    );
    copied.close().await;
}
