//! A data directory made by an earlier Confidant, whose SQLite migrations ran through sqlx's
//! own migrator, opens unchanged: the migrations are recognised as applied, not run again.

use confidant_store::SqlStore;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

#[tokio::test]
async fn a_database_migrated_by_sqlx_opens_and_needs_no_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confidant.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .unwrap();
    let applied_by_sqlx: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;

    let store = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let count = store
        .count_raw("SELECT COUNT(*) FROM _sqlx_migrations")
        .await
        .unwrap();
    assert_eq!(count, applied_by_sqlx.len() as i64, "nothing applied twice");
    // And the schema is whole: a member can be stored.
    store
        .execute_raw(
            "INSERT INTO members (handle, display_name, password_hash, created_at) \
             VALUES ('ada', 'Ada', '-', 0)",
        )
        .await
        .unwrap();
    store.close().await;
}
