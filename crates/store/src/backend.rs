//! Which backend a database URL names, and how to reach PostgreSQL.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error(
        "database URL {0:?} names no file: Confidant's SQLite connections share one database \
         file, as in sqlite://confidant-data/confidant.db"
    )]
    NoSqliteFile(String),
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot open the database: {0}")]
    OpenSqlite(#[source] crate::sqlite::OpenError),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("cannot migrate the database: {0}")]
    MigrateSqlite(#[source] confidant_core::StoreError),
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
}

/// PostgreSQL's migrations; SQLite's are applied by `sqlite::migrate`.
pub(crate) fn postgres_migrations() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations/postgres")
}

/// How long a pooled PostgreSQL connection may sit idle and still be handed out untested.
///
/// sqlx checks a connection with a round trip when it goes back to the pool, and by default
/// again when it is taken out: two round trips per request beside the one doing the work.
/// Under load a connection is back in use within milliseconds of its check on release, so
/// only one that sat idle longer (through a server restart, say) is checked again.
const IDLE_UNTESTED: Duration = Duration::from_secs(1);

/// The PostgreSQL pool every read and write draws on.
pub(crate) async fn postgres_pool(url: &str) -> Result<PgPool, ConnectError> {
    PgPoolOptions::new()
        .max_connections(16)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_UNTESTED {
                    // An error closes the connection; the pool then opens another.
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
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
        .map_err(ConnectError::Open)
}

/// The file a `sqlite://` URL names: what follows the scheme, up to any `?options`. An
/// in-memory database would be a different one for each connection, so it is refused.
pub fn sqlite_path(url: &str) -> Result<std::path::PathBuf, ConnectError> {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() || path == ":memory:" {
        return Err(ConnectError::NoSqliteFile(url.to_owned()));
    }
    Ok(path.into())
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
            assert_eq!(
                sqlite_path(url).unwrap(),
                std::path::Path::new(path),
                "{url}"
            );
        }
        for url in ["sqlite::memory:", "sqlite://", "sqlite://?mode=memory"] {
            let error = sqlite_path(url).unwrap_err().to_string();
            assert!(error.contains("names no file"), "{url}: {error}");
        }
    }
}
