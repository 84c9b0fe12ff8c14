//! What Streamflix keeps, in its own SQLite file: its users and sessions, their Confidant
//! connections, the off-platform link copies it reports, and a log of what it deleted when
//! Confidant told it to.

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// A user's connection to Confidant.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Connection {
    pub user_name: String,
    /// Confidant's id for this member, for Streamflix only.
    pub member_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// A connection attempt between sending the user to Confidant and their return.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingConnection {
    pub user_name: String,
    pub verifier: String,
    /// A path on this site.
    pub return_to: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Deletion {
    pub member_id: String,
    pub user_name: String,
    pub at: String,
    pub what: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
    -- Set when Confidant ended the user's connection, so the site can offer to reconnect.
    disconnected_at TEXT);
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_connections (
    state TEXT PRIMARY KEY, user_name TEXT NOT NULL, verifier TEXT NOT NULL, return_to TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS connections (
    user_name TEXT PRIMARY KEY, member_id TEXT NOT NULL, access_token TEXT NOT NULL,
    refresh_token TEXT);
CREATE TABLE IF NOT EXISTS shares (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_name TEXT NOT NULL, title_id TEXT NOT NULL,
    recipients INTEGER NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS link_copies (
    day TEXT NOT NULL, surface TEXT NOT NULL, variation TEXT NOT NULL, copies INTEGER NOT NULL,
    PRIMARY KEY (day, surface, variation));
CREATE TABLE IF NOT EXISTS reported_days (day TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS deletions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, member_id TEXT NOT NULL, user_name TEXT NOT NULL,
    at TEXT NOT NULL, what TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delivered_reports (id TEXT PRIMARY KEY, body TEXT NOT NULL, received_at TEXT NOT NULL);
";

impl Store {
    pub async fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePool::connect_with(options).await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn password_hash(&self, name: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn create_user(&self, name: &str, password_hash: &str) -> sqlx::Result<()> {
        sqlx::query("INSERT INTO users (name, password_hash) VALUES (?, ?)")
            .bind(name)
            .bind(password_hash)
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn create_session(&self, token: &str, name: &str, csrf: &str) -> sqlx::Result<()> {
        sqlx::query("INSERT INTO sessions (token, user_name, csrf) VALUES (?, ?, ?)")
            .bind(token)
            .bind(name)
            .bind(csrf)
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// The user and CSRF token of a session.
    pub async fn session(&self, token: &str) -> sqlx::Result<Option<(String, String)>> {
        sqlx::query_as("SELECT user_name, csrf FROM sessions WHERE token = ?")
            .bind(token)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn delete_session(&self, token: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token = ?")
            .bind(token)
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Remembers a connection attempt: who started it, its PKCE verifier, and the page to
    /// return to.
    pub async fn start_connecting(
        &self,
        state: &str,
        pending: &PendingConnection,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO pending_connections (state, user_name, verifier, return_to) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(state)
        .bind(&pending.user_name)
        .bind(&pending.verifier)
        .bind(&pending.return_to)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// A pending connection attempt, used once.
    pub async fn take_pending(&self, state: &str) -> sqlx::Result<Option<PendingConnection>> {
        sqlx::query_as(
            "DELETE FROM pending_connections WHERE state = ? \
             RETURNING user_name, verifier, return_to",
        )
        .bind(state)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn save_connection(&self, c: &Connection) -> sqlx::Result<()> {
        sqlx::query("UPDATE users SET disconnected_at = NULL WHERE name = ?")
            .bind(&c.user_name)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO connections (user_name, member_id, access_token, refresh_token) \
             VALUES (?, ?, ?, ?) ON CONFLICT (user_name) DO UPDATE SET member_id = excluded.member_id, \
             access_token = excluded.access_token, refresh_token = excluded.refresh_token",
        )
        .bind(&c.user_name)
        .bind(&c.member_id)
        .bind(&c.access_token)
        .bind(&c.refresh_token)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    pub async fn connection(&self, user: &str) -> sqlx::Result<Option<Connection>> {
        sqlx::query_as("SELECT user_name, member_id, access_token, refresh_token FROM connections WHERE user_name = ?")
            .bind(user)
            .fetch_optional(&self.pool)
            .await
    }

    /// Whether Confidant ended this user's connection (and they have not reconnected).
    pub async fn was_disconnected(&self, user: &str) -> sqlx::Result<bool> {
        let at: Option<Option<String>> =
            sqlx::query_scalar("SELECT disconnected_at FROM users WHERE name = ?")
                .bind(user)
                .fetch_optional(&self.pool)
                .await?;
        Ok(at.flatten().is_some())
    }

    pub async fn record_share(
        &self,
        user: &str,
        title: &str,
        recipients: usize,
        at: &str,
    ) -> sqlx::Result<()> {
        sqlx::query("INSERT INTO shares (user_name, title_id, recipients, at) VALUES (?, ?, ?, ?)")
            .bind(user)
            .bind(title)
            .bind(recipients as i64)
            .bind(at)
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// The Streamflix user connected as this Confidant member, if any.
    pub async fn user_of_member(&self, member_id: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT user_name FROM connections WHERE member_id = ?")
            .bind(member_id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Deletes everything held about the user's Confidant membership — the connection (with
    /// the member's id and tokens) and the record of their shares — remembers that Confidant
    /// ended it, and logs the deletion. Returns whether there was a connection.
    pub async fn forget_connection(&self, user: &str, at: &str, why: &str) -> sqlx::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let member: Option<String> =
            sqlx::query_scalar("DELETE FROM connections WHERE user_name = ? RETURNING member_id")
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("UPDATE users SET disconnected_at = ? WHERE name = ?")
            .bind(at)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        if let Some(member) = &member {
            let shares = sqlx::query("DELETE FROM shares WHERE user_name = ?")
                .bind(user)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "INSERT INTO deletions (member_id, user_name, at, what) VALUES (?, ?, ?, ?)",
            )
            .bind(member)
            .bind(user)
            .bind(at)
            .bind(format!(
                "the Confidant connection and {shares} share records ({why})"
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(member.is_some())
    }

    /// What was deleted about this user, newest first: each user sees only their own.
    pub async fn deletions_of(&self, user: &str) -> sqlx::Result<Vec<Deletion>> {
        sqlx::query_as(
            "SELECT member_id, user_name, at, what FROM deletions WHERE user_name = ? \
             ORDER BY id DESC LIMIT 50",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn count_copy(&self, day: &str, surface: &str, variation: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO link_copies (day, surface, variation, copies) VALUES (?, ?, ?, 1) \
             ON CONFLICT (day, surface, variation) DO UPDATE SET copies = copies + 1",
        )
        .bind(day)
        .bind(surface)
        .bind(variation)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// Days before `today` with copies not yet reported, and their counts.
    pub async fn unreported_copies(
        &self,
        today: &str,
    ) -> sqlx::Result<Vec<(String, String, String, i64)>> {
        sqlx::query_as(
            "SELECT day, surface, variation, copies FROM link_copies \
             WHERE day < ? AND day NOT IN (SELECT day FROM reported_days) ORDER BY day",
        )
        .bind(today)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn mark_reported(&self, days: &[String]) -> sqlx::Result<()> {
        for day in days {
            sqlx::query("INSERT OR IGNORE INTO reported_days (day) VALUES (?)")
                .bind(day)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    pub async fn save_delivered_report(&self, id: &str, body: &str, at: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO delivered_reports (id, body, received_at) VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(body)
        .bind(at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }
}
