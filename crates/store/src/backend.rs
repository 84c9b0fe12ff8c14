//! What differs between SQLite and PostgreSQL: how to connect, which migrations apply, and
//! the few statements that cannot be written portably.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot open the database: {0}")]
    OpenSqlite(#[source] crate::sqlite::OpenError),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(ConnectError::UnsupportedUrl(url.to_owned()))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    pub(crate) fn migrator(self) -> sqlx::migrate::Migrator {
        match self {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        }
    }

    /// Opens the pools: `(readers, writer)`.
    ///
    /// SQLite allows one writer at a time, so writes go through a pool of exactly one
    /// connection instead of contending for the file lock; reads run in parallel beside it
    /// thanks to WAL. PostgreSQL uses one pool for both.
    pub(crate) async fn open(self, url: &str) -> Result<(AnyPool, AnyPool), ConnectError> {
        sqlx::any::install_default_drivers();
        match self {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                let readers = sqlite_pool(4)
                    .connect(&url)
                    .await
                    .map_err(ConnectError::Open)?;
                let writer = sqlite_pool(1)
                    .connect(&url)
                    .await
                    .map_err(ConnectError::Open)?;
                Ok((readers, writer))
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // Promise 7: an acknowledged write is on disk.
                            conn.execute("SET synchronous_commit = on").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
                    .map_err(ConnectError::Open)?;
                Ok((pool.clone(), pool))
            }
        }
    }
}

fn sqlite_pool(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; synchronous=FULL makes every commit
                // durable before it is acknowledged (promise 7).
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                )
                .await?;
                Ok(())
            })
        })
}

/// Asks SQLite to create the file if it is missing, unless the URL already chose a mode.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The file a `sqlite://` URL names: what follows the scheme, up to any `?options`.
pub(crate) fn sqlite_path(url: &str) -> std::path::PathBuf {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    path.into()
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_urls_name_their_file() {
        for (url, path) in [
            (
                "sqlite://confidant-data/confidant.db",
                "confidant-data/confidant.db",
            ),
            (
                "sqlite:///tmp/x/confidant.db?mode=rwc",
                "/tmp/x/confidant.db",
            ),
            ("sqlite:relative.db", "relative.db"),
        ] {
            assert_eq!(sqlite_path(url), std::path::Path::new(path), "{url}");
        }
    }
}
