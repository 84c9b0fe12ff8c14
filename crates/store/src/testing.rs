//! Throwaway databases for tests: a SQLite file in a temporary directory, or a fresh
//! PostgreSQL schema when `CONFIDANT_TEST_POSTGRES_URL` is set.

use std::io::Write;

use rand::Rng;

use crate::{Backend, SqlStore};

/// The environment variable that enables the PostgreSQL variants of tests.
pub const POSTGRES_URL_VAR: &str = "CONFIDANT_TEST_POSTGRES_URL";

/// A migrated, empty database. Clones share it.
#[derive(Clone)]
pub struct TestDatabase {
    pub url: String,
    pub store: SqlStore,
    cleanup: Cleanup,
}

#[derive(Clone)]
enum Cleanup {
    /// Removed when the last clone is dropped.
    Directory(#[allow(dead_code)] std::sync::Arc<tempfile::TempDir>),
    Schema {
        admin_url: String,
        schema: String,
    },
    /// Someone else's: left as it is.
    Nothing,
}

impl TestDatabase {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("confidant.db").display());
        let store = migrated(&url).await;
        Self {
            url,
            store,
            cleanup: Cleanup::Directory(std::sync::Arc::new(dir)),
        }
    }

    /// `None` (and a loud note on stderr) when no PostgreSQL URL is configured.
    pub async fn postgres(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            // Written to the real stderr, past the test harness's capture, so it is seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED on PostgreSQL: {test} (set {POSTGRES_URL_VAR} to run it)"
            );
            return None;
        };
        let schema = format!("confidant_test_{:016x}", rand::thread_rng().r#gen::<u64>());
        let admin = SqlStore::connect(&admin_url)
            .await
            .expect("connect to the PostgreSQL test server");
        admin
            .execute_raw(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create a test schema");
        admin.close().await;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
        let store = migrated(&url).await;
        Some(Self {
            url,
            store,
            cleanup: Cleanup::Schema { admin_url, schema },
        })
    }

    /// A database made by other means (a restore, say), used as it is: not migrated here,
    /// and not removed afterwards.
    pub async fn existing(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            store: SqlStore::connect(url).await.expect("open the database"),
            cleanup: Cleanup::Nothing,
        }
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }
}

async fn migrated(url: &str) -> SqlStore {
    let store = SqlStore::connect(url)
        .await
        .expect("open the test database");
    store.migrate().await.expect("migrate the test database");
    store
}

impl TestDatabase {
    /// Closes the store and removes the database. Called by [`on_both_backends!`] after a
    /// test passes; a failed test leaves its schema behind for inspection.
    ///
    /// This cannot live in `Drop`: closing the pools must be awaited, or a connection still
    /// rolling back a failed transaction would hold the locks `DROP SCHEMA` waits for.
    pub async fn remove(self) {
        self.store.close().await;
        if let Cleanup::Schema { admin_url, schema } = &self.cleanup
            && let Ok(admin) = SqlStore::connect(admin_url).await
        {
            let _ = admin
                .execute_raw(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
            admin.close().await;
        }
    }
}

/// Defines a SQLite and a PostgreSQL variant of each listed test function, which take a
/// [`TestDatabase`].
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test]
                async fn sqlite() {
                    let db = $crate::testing::TestDatabase::sqlite().await;
                    super::$test(db.clone()).await;
                    db.remove().await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(db) =
                        $crate::testing::TestDatabase::postgres(stringify!($test)).await
                    {
                        super::$test(db.clone()).await;
                        db.remove().await;
                    }
                }
            }
        )*
    };
}
