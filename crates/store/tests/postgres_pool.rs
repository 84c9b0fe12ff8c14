//! The PostgreSQL pool across connections the server ends.

use std::time::Duration;

use confidant_store::SqlStore;
use confidant_store::testing::TestDatabase;

/// A connection the server ended while it sat in the pool (a restart, an administrator's
/// `pg_terminate_backend`) is not handed to a request: the pool finds it dead and opens
/// another, and the request succeeds.
#[tokio::test]
async fn connections_ended_while_idle_are_replaced_unseen() {
    let Some(db) = TestDatabase::postgres("idle connections ended by the server").await else {
        return;
    };
    let name = format!("confidant_pool_test_{}", rand::random::<u32>());
    let store = SqlStore::connect(&format!("{}&application_name={name}", db.url))
        .await
        .unwrap();
    // Several connections open and go back to the pool.
    let reads: Vec<_> = (0..4)
        .map(|_| store.execute_raw("SELECT pg_sleep(0.05)"))
        .collect();
    for read in futures::future::join_all(reads).await {
        read.unwrap();
    }
    let ended = db
        .store
        .count_raw(&format!(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = '{name}'"
        ))
        .await
        .unwrap();
    assert!(ended >= 1, "no connection of the pool was found to end");
    // Idle for longer than the pool trusts a connection untested.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..8 {
        store.execute_raw("SELECT 1").await.unwrap();
    }
    store.close().await;
    db.remove().await;
}
