//! Members and sessions.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::accounts`); the SQL here serves
//! PostgreSQL.

use async_trait::async_trait;

use super::{MEMBER_COLUMNS, MemberRow, ResultExt, SqlStore};
use crate::sqlite::accounts as sqlite;
use confidant_core::accounts::Handle;
use confidant_core::store::{
    AccountStore, Credentials, Member, MemberStanding, NewMember, SessionKind, SessionRecord,
    StoreResult,
};
use confidant_core::tokens::TokenHash;
use confidant_core::{MemberId, StoreError, Timestamp};

#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: String,
    member_id: i64,
    kind: String,
    csrf_token: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl SqlStore {
    async fn load_session(&self, token_hash: &TokenHash) -> StoreResult<Option<SessionRecord>> {
        if let Some(db) = &self.sqlite {
            let token_hash = token_hash.clone();
            return db
                .read(move |conn| sqlite::session(conn, &token_hash))
                .await;
        }
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT token_hash, member_id, kind, csrf_token, created_at, last_seen_at, expires_at \
             FROM sessions WHERE token_hash = $1",
        )
        .bind(&token_hash.0)
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        Ok(row.and_then(|row| {
            Some(SessionRecord {
                token_hash: TokenHash(row.token_hash),
                member_id: MemberId(row.member_id),
                kind: SessionKind::parse(&row.kind)?,
                csrf_token: row.csrf_token,
                created_at: Timestamp(row.created_at),
                last_seen_at: Timestamp(row.last_seen_at),
                expires_at: Timestamp(row.expires_at),
            })
        }))
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_member(&self, new: NewMember) -> StoreResult<Member> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::create_member(conn, &new))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let sql = format!(
                        "INSERT INTO members (handle, display_name, password_hash, is_admin, \
                         created_at) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING {MEMBER_COLUMNS}"
                    );
                    let row: MemberRow = sqlx::query_as(&sql)
                        .bind(new.handle.as_str())
                        .bind(&new.display_name)
                        .bind(&new.password_hash)
                        .bind(i64::from(new.is_admin))
                        .bind(new.created_at.0)
                        .fetch_one(&mut *tx)
                        .await
                        .store()?;
                    Ok(row.into())
                })
            })
            .await
    }

    async fn member(&self, id: MemberId) -> StoreResult<Option<Member>> {
        let load = async {
            if let Some(db) = &self.sqlite {
                return db.read(move |conn| sqlite::member(conn, id)).await;
            }
            let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = $1");
            let row: Option<MemberRow> = sqlx::query_as(&sql)
                .bind(id.0)
                .fetch_optional(&self.pg().pool)
                .await
                .store()?;
            Ok(row.map(Member::from))
        };
        let caches = &self.caches;
        caches.get(self, &caches.members, id.0, load).await
    }

    async fn member_by_handle(&self, handle: &Handle) -> StoreResult<Option<Member>> {
        if let Some(db) = &self.sqlite {
            let handle = handle.as_str().to_owned();
            return db
                .read(move |conn| sqlite::member_by_handle(conn, &handle))
                .await;
        }
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE handle = $1");
        let row: Option<MemberRow> = sqlx::query_as(&sql)
            .bind(handle.as_str())
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
        Ok(row.map(Member::from))
    }

    async fn credentials(&self, handle: &Handle) -> StoreResult<Option<Credentials>> {
        if let Some(db) = &self.sqlite {
            let handle = handle.as_str().to_owned();
            return db
                .read(move |conn| sqlite::credentials(conn, &handle))
                .await;
        }
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            member: MemberRow,
            password_hash: String,
            suspended: bool,
        }
        let sql = format!(
            "SELECT {MEMBER_COLUMNS}, password_hash, suspended_at IS NOT NULL AS suspended \
             FROM members WHERE handle = $1"
        );
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(handle.as_str())
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
        Ok(row.map(|row| Credentials {
            member: row.member.into(),
            password_hash: row.password_hash,
            suspended: row.suspended,
        }))
    }

    async fn member_standings(
        &self,
        after: Option<MemberId>,
        limit: i64,
    ) -> StoreResult<Vec<MemberStanding>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::member_standings(conn, after, limit))
                .await;
        }
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            member: MemberRow,
            suspended_at: Option<i64>,
        }
        let sql = format!(
            "SELECT {MEMBER_COLUMNS}, suspended_at FROM members WHERE id > $1 \
             ORDER BY id LIMIT $2"
        );
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(after.map_or(0, |id| id.0))
            .bind(limit)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        Ok(rows
            .into_iter()
            .map(|row| MemberStanding {
                member: row.member.into(),
                suspended_at: row.suspended_at.map(Timestamp),
            })
            .collect())
    }

    async fn count_admins(&self) -> StoreResult<i64> {
        if let Some(db) = &self.sqlite {
            return db.read(sqlite::count_admins).await;
        }
        sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE is_admin <> 0")
            .fetch_one(&self.pg().pool)
            .await
            .store()
    }

    async fn set_admin(&self, id: MemberId, admin: bool) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::set_admin(conn, id, admin))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let updated = sqlx::query("UPDATE members SET is_admin = $1 WHERE id = $2")
                        .bind(i64::from(admin))
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn set_suspended(&self, id: MemberId, at: Option<Timestamp>) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::set_suspended(conn, id, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let updated = sqlx::query("UPDATE members SET suspended_at = $1 WHERE id = $2")
                        .bind(at.map(|at| at.0))
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    if at.is_some() {
                        sqlx::query("DELETE FROM sessions WHERE member_id = $1")
                            .bind(id.0)
                            .execute(&mut *tx)
                            .await
                            .store()?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn password_hash(&self, id: MemberId) -> StoreResult<Option<String>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::password_hash(conn, id)).await;
        }
        sqlx::query_scalar("SELECT password_hash FROM members WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pg().pool)
            .await
            .store()
    }

    async fn set_password_hash(&self, id: MemberId, hash: &str) -> StoreResult<()> {
        let hash = hash.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::set_password_hash(conn, id, &hash))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("UPDATE members SET password_hash = $1 WHERE id = $2")
                        .bind(hash)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn set_display_name(&self, id: MemberId, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::set_display_name(conn, id, &name))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("UPDATE members SET display_name = $1 WHERE id = $2")
                        .bind(name)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn search_members(
        &self,
        searcher: MemberId,
        prefix: &str,
        limit: i64,
    ) -> StoreResult<Vec<Member>> {
        if let Some(db) = &self.sqlite {
            let prefix = prefix.to_owned();
            return db
                .read(move |conn| sqlite::search_members(conn, searcher, &prefix, limit))
                .await;
        }
        // Handles are [a-z0-9_]; escape `_` so it is not a LIKE wildcard.
        let pattern = format!("{}%", prefix.replace('_', "\\_"));
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE handle LIKE $1 ESCAPE '\\' \
             AND id <> $2 \
             AND NOT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = members.id \
                             AND blocked_id = $2) \
             ORDER BY handle LIMIT $3"
        );
        let rows: Vec<MemberRow> = sqlx::query_as(&sql)
            .bind(pattern)
            .bind(searcher.0)
            .bind(limit)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        Ok(rows.into_iter().map(Member::from).collect())
    }

    async fn delete_member(&self, id: MemberId) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db.write(move |conn| sqlite::delete_member(conn, id)).await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    // Their words leave every conversation; the slots stay so others' threads still
                    // read in order, shown as an erased message from "deleted member".
                    sqlx::query(
                        "UPDATE messages SET body = '', erased = 1, sender_id = NULL WHERE \
                         sender_id = $1",
                    )
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    let conversations: Vec<i64> = sqlx::query_scalar(
                        "SELECT conversation_id FROM conversation_members WHERE member_id = $1",
                    )
                    .bind(id.0)
                    .fetch_all(&mut *tx)
                    .await
                    .store()?;
                    let deleted = sqlx::query("DELETE FROM members WHERE id = $1")
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    if deleted.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    for conversation in conversations {
                        super::messaging::drop_if_empty(tx, conversation).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn create_session(&self, session: SessionRecord) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::create_session(conn, &session))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO sessions \
                         (token_hash, member_id, kind, csrf_token, created_at, last_seen_at, \
                          expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&session.token_hash.0)
                    .bind(session.member_id.0)
                    .bind(session.kind.as_str())
                    .bind(&session.csrf_token)
                    .bind(session.created_at.0)
                    .bind(session.last_seen_at.0)
                    .bind(session.expires_at.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn session(&self, token_hash: &TokenHash) -> StoreResult<Option<SessionRecord>> {
        let caches = &self.caches;
        let load = self.load_session(token_hash);
        caches
            .get(self, &caches.sessions, token_hash.0.clone(), load)
            .await
    }

    async fn touch_session(&self, token_hash: &TokenHash, at: Timestamp) -> StoreResult<()> {
        // The last-seen time does not move the cache epoch; the next lookup reloads it.
        self.caches.sessions.forget(&token_hash.0);
        let token_hash = token_hash.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::touch_session(conn, &token_hash, at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                        .bind(at.0)
                        .bind(&token_hash.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn delete_session(&self, token_hash: &TokenHash) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_session(conn, &token_hash))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                        .bind(&token_hash.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn delete_sessions_of(
        &self,
        member: MemberId,
        except: Option<&TokenHash>,
    ) -> StoreResult<()> {
        let except = except.cloned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_sessions_of(conn, member, except.as_ref()))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM sessions WHERE member_id = $1 AND token_hash <> $2")
                        .bind(member.0)
                        .bind(except.map_or_else(String::new, |hash| hash.0))
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn delete_expired_sessions(
        &self,
        now: Timestamp,
        idle_cutoff_browser: Timestamp,
        idle_cutoff_api: Timestamp,
    ) -> StoreResult<u64> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| {
                    sqlite::delete_expired_sessions(conn, now, idle_cutoff_browser, idle_cutoff_api)
                })
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "DELETE FROM sessions WHERE expires_at <= $1 \
                     OR (kind = 'browser' AND last_seen_at <= $2) \
                     OR (kind = 'api' AND last_seen_at <= $3)",
                    )
                    .bind(now.0)
                    .bind(idle_cutoff_browser.0)
                    .bind(idle_cutoff_api.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db.read(sqlite::ping).await;
        }
        sqlx::query("SELECT 1")
            .execute(&self.pg().pool)
            .await
            .store()?;
        Ok(())
    }
}
