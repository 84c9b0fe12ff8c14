//! Partner apps, grants, authorization codes and OAuth tokens.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::oauth`); the SQL here serves
//! PostgreSQL.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::accesslog::{self, Revoking, tombstone_tokens};
use super::webhooks;
use super::{ResultExt, SqlStore, corrupt};
use crate::sqlite::oauth as sqlite;
use confidant_core::accesslog::Denial;
use confidant_core::oauth::Scopes;
use confidant_core::store::{
    App, AppStatus, AuthorizationCode, Grant, GrantUpdate, LogDraft, NewLogEntry, NewWebhook,
    OAuthStore, PreviousSecret, Redemption, Rotation, StoreResult, ThreadGrant, TokenKind,
    TokenPair, TokenRecord,
};
use confidant_core::tokens::TokenHash;
use confidant_core::{ConversationId, MemberId, StoreError, Timestamp};

pub(crate) fn scopes(value: &str) -> StoreResult<Scopes> {
    Scopes::parse(value).map_err(|_| corrupt("scopes", value))
}

pub(crate) fn words(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_owned).collect()
}

pub(crate) const APP_COLUMNS: &str = "client_id, name, owner, homepage, privacy_policy, report_webhook, \
     redirect_uris, confidential, secret_hash, scopes, surfaces, variations, status, created_at, \
     webhook_secret, item_url_template, previous_secret_hash, previous_secret_expires_at";

#[derive(sqlx::FromRow)]
struct AppRow {
    client_id: String,
    name: String,
    owner: String,
    homepage: Option<String>,
    privacy_policy: Option<String>,
    report_webhook: Option<String>,
    redirect_uris: String,
    confidential: i64,
    secret_hash: Option<String>,
    scopes: String,
    surfaces: String,
    variations: String,
    status: String,
    created_at: i64,
    webhook_secret: Option<String>,
    item_url_template: Option<String>,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<i64>,
}

impl TryFrom<AppRow> for App {
    type Error = StoreError;

    fn try_from(row: AppRow) -> StoreResult<Self> {
        Ok(App {
            status: AppStatus::parse(&row.status).ok_or_else(|| corrupt("status", &row.status))?,
            scopes: scopes(&row.scopes)?,
            client_id: row.client_id,
            name: row.name,
            owner: row.owner,
            homepage: row.homepage,
            privacy_policy: row.privacy_policy,
            report_webhook: row.report_webhook,
            webhook_secret: row.webhook_secret,
            redirect_uris: row.redirect_uris.lines().map(str::to_owned).collect(),
            confidential: row.confidential != 0,
            secret_hash: row.secret_hash.map(TokenHash),
            previous_secret: previous_secret(
                row.previous_secret_hash,
                row.previous_secret_expires_at,
            ),
            surfaces: words(&row.surfaces),
            variations: words(&row.variations),
            item_url_template: row.item_url_template,
            created_at: Timestamp(row.created_at),
        })
    }
}

/// A rotated-out secret from its two nullable columns.
pub(crate) fn previous_secret(
    hash: Option<String>,
    expires_at: Option<i64>,
) -> Option<PreviousSecret> {
    Some(PreviousSecret {
        hash: TokenHash(hash?),
        expires_at: Timestamp(expires_at?),
    })
}

/// The columns of `grants`, qualified by the alias `g` where that is needed in joins.
pub(crate) const GRANT_COLUMNS: &str = "g.id, g.member_id, g.client_id, g.pseudonym, g.scopes, \
     g.created_at, g.updated_at, g.last_used_at, g.revoked_at";
/// The same columns unqualified, for `RETURNING` (SQLite does not accept aliases there).
pub(crate) const GRANT_COLUMNS_BARE: &str = "id, member_id, client_id, pseudonym, scopes, \
     created_at, updated_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    id: i64,
    member_id: i64,
    client_id: String,
    pseudonym: String,
    scopes: String,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;

    fn try_from(row: GrantRow) -> StoreResult<Self> {
        Ok(Grant {
            scopes: scopes(&row.scopes)?,
            id: row.id,
            member_id: MemberId(row.member_id),
            client_id: row.client_id,
            pseudonym: row.pseudonym,
            created_at: Timestamp(row.created_at),
            updated_at: Timestamp(row.updated_at),
            last_used_at: row.last_used_at.map(Timestamp),
            revoked_at: row.revoked_at.map(Timestamp),
        })
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: String,
    grant_id: i64,
    member_id: i64,
    client_id: String,
    redirect_uri: String,
    scopes: String,
    code_challenge: String,
    created_at: i64,
    expires_at: i64,
    redeemed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_hash: String,
    kind: String,
    family_id: i64,
    token_scopes: String,
    token_created_at: i64,
    token_expires_at: i64,
    rotated_at: Option<i64>,
    app_status: String,
    #[sqlx(flatten)]
    grant: GrantRow,
}

/// Deletes the family's tokens and marks it revoked, inside the caller's transaction.
async fn revoke_family_in(
    conn: &mut PgConnection,
    family_id: i64,
    at: Timestamp,
    reason: Denial,
) -> StoreResult<()> {
    tombstone_tokens(conn, Revoking::Family(family_id), reason).await?;
    sqlx::query("DELETE FROM oauth_tokens WHERE family_id = $1")
        .bind(family_id)
        .execute(&mut *conn)
        .await
        .store()?;
    sqlx::query("UPDATE token_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(family_id)
        .bind(at.0)
        .execute(&mut *conn)
        .await
        .store()?;
    Ok(())
}

/// Revokes the family a redeemed code started, inside the caller's transaction.
async fn revoke_code_family_in(
    conn: &mut PgConnection,
    code_hash: &TokenHash,
    at: Timestamp,
) -> StoreResult<()> {
    let family: Option<Option<i64>> =
        sqlx::query_scalar("SELECT family_id FROM authorization_codes WHERE code_hash = $1")
            .bind(&code_hash.0)
            .fetch_optional(&mut *conn)
            .await
            .store()?;
    if let Some(Some(family_id)) = family {
        revoke_family_in(conn, family_id, at, Denial::CodeReplayed).await?;
    }
    Ok(())
}

/// Stores an access and a refresh token in a family.
async fn insert_pair(conn: &mut PgConnection, family_id: i64, pair: &TokenPair) -> StoreResult<()> {
    let insert = "INSERT INTO oauth_tokens (token_hash, family_id, kind, scopes, created_at, \
                  expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
    for (hash, kind, scopes, expires_at) in [
        (
            &pair.access_hash,
            TokenKind::Access,
            &pair.access_scopes,
            pair.access_expires_at,
        ),
        (
            &pair.refresh_hash,
            TokenKind::Refresh,
            &pair.refresh_scopes,
            pair.refresh_expires_at,
        ),
    ] {
        sqlx::query(insert)
            .bind(&hash.0)
            .bind(family_id)
            .bind(kind.as_str())
            .bind(scopes.to_string())
            .bind(pair.created_at.0)
            .bind(expires_at.0)
            .execute(&mut *conn)
            .await
            .store()?;
    }
    Ok(())
}

/// Tokens of every family under grants matching `condition` (over `g`).
fn tokens_under(condition: &str) -> String {
    format!(
        "DELETE FROM oauth_tokens WHERE family_id IN (SELECT f.id FROM token_families f \
         JOIN grants g ON g.id = f.grant_id WHERE {condition})"
    )
}

fn families_under(condition: &str) -> String {
    format!(
        "UPDATE token_families SET revoked_at = $2 WHERE revoked_at IS NULL AND grant_id IN \
         (SELECT g.id FROM grants g WHERE {condition})"
    )
}

impl SqlStore {
    async fn load_token(&self, token_hash: &TokenHash) -> StoreResult<Option<TokenRecord>> {
        if let Some(db) = &self.sqlite {
            let token_hash = token_hash.clone();
            return db.read(move |conn| sqlite::token(conn, &token_hash)).await;
        }
        let sql = format!(
            "SELECT t.token_hash, t.kind, t.family_id, t.scopes AS token_scopes, \
             t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.rotated_at, \
             a.status AS app_status, {GRANT_COLUMNS} \
             FROM oauth_tokens t \
             JOIN token_families f ON f.id = t.family_id \
             JOIN grants g ON g.id = f.grant_id \
             JOIN apps a ON a.client_id = g.client_id \
             WHERE t.token_hash = $1 AND f.revoked_at IS NULL"
        );
        let row: Option<TokenRow> = sqlx::query_as(&sql)
            .bind(&token_hash.0)
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
        row.map(|row| {
            Ok(TokenRecord {
                kind: TokenKind::parse(&row.kind).ok_or_else(|| corrupt("kind", &row.kind))?,
                app_status: AppStatus::parse(&row.app_status)
                    .ok_or_else(|| corrupt("status", &row.app_status))?,
                scopes: scopes(&row.token_scopes)?,
                token_hash: TokenHash(row.token_hash),
                family_id: row.family_id,
                created_at: Timestamp(row.token_created_at),
                expires_at: Timestamp(row.token_expires_at),
                rotated_at: row.rotated_at.map(Timestamp),
                grant: Grant::try_from(row.grant)?,
            })
        })
        .transpose()
    }
}

#[async_trait]
impl OAuthStore for SqlStore {
    async fn create_app(&self, app: App) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db.write(move |conn| sqlite::create_app(conn, &app)).await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let sql = format!(
                        "INSERT INTO apps ({APP_COLUMNS}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                      $17, $18)"
                    );
                    sqlx::query(&sql)
                        .bind(&app.client_id)
                        .bind(&app.name)
                        .bind(&app.owner)
                        .bind(&app.homepage)
                        .bind(&app.privacy_policy)
                        .bind(&app.report_webhook)
                        .bind(app.redirect_uris.join("\n"))
                        .bind(i64::from(app.confidential))
                        .bind(app.secret_hash.as_ref().map(|h| h.0.clone()))
                        .bind(app.scopes.to_string())
                        .bind(app.surfaces.join(" "))
                        .bind(app.variations.join(" "))
                        .bind(app.status.as_str())
                        .bind(app.created_at.0)
                        .bind(&app.webhook_secret)
                        .bind(&app.item_url_template)
                        .bind(app.previous_secret.as_ref().map(|p| p.hash.0.clone()))
                        .bind(app.previous_secret.as_ref().map(|p| p.expires_at.0))
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn app(&self, client_id: &str) -> StoreResult<Option<App>> {
        let load = async {
            if let Some(db) = &self.sqlite {
                let client_id = client_id.to_owned();
                return db.read(move |conn| sqlite::app(conn, &client_id)).await;
            }
            let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE client_id = $1");
            let row: Option<AppRow> = sqlx::query_as(&sql)
                .bind(client_id)
                .fetch_optional(&self.pg().pool)
                .await
                .store()?;
            row.map(App::try_from).transpose()
        };
        let caches = &self.caches;
        let key = client_id.to_owned();
        caches.get(self, &caches.apps, key, load).await
    }

    async fn apps(&self) -> StoreResult<Vec<App>> {
        if let Some(db) = &self.sqlite {
            return db.read(sqlite::apps).await;
        }
        let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at DESC, client_id");
        let rows: Vec<AppRow> = sqlx::query_as(&sql)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        rows.into_iter().map(App::try_from).collect()
    }

    async fn set_app_status(&self, client_id: &str, status: AppStatus) -> StoreResult<()> {
        let client_id = client_id.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::set_app_status(conn, &client_id, status))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let updated = sqlx::query("UPDATE apps SET status = $2 WHERE client_id = $1")
                        .bind(&client_id)
                        .bind(status.as_str())
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    if status == AppStatus::Suspended {
                        end_app_tokens(tx, &client_id, Denial::AppSuspended).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn update_app(&self, app: &App, revoke_tokens: Option<Denial>) -> StoreResult<()> {
        let app = app.clone();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::update_app(conn, &app, revoke_tokens))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let updated = sqlx::query(UPDATE_APP)
                        .bind(&app.client_id)
                        .bind(&app.name)
                        .bind(&app.owner)
                        .bind(&app.homepage)
                        .bind(&app.privacy_policy)
                        .bind(&app.report_webhook)
                        .bind(app.redirect_uris.join("\n"))
                        .bind(app.secret_hash.as_ref().map(|h| h.0.clone()))
                        .bind(app.scopes.to_string())
                        .bind(app.surfaces.join(" "))
                        .bind(app.variations.join(" "))
                        .bind(&app.webhook_secret)
                        .bind(&app.item_url_template)
                        .bind(app.previous_secret.as_ref().map(|p| p.hash.0.clone()))
                        .bind(app.previous_secret.as_ref().map(|p| p.expires_at.0))
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    if let Some(reason) = revoke_tokens {
                        end_app_tokens(tx, &app.client_id, reason).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn delete_app(&self, client_id: &str) -> StoreResult<bool> {
        let client_id = client_id.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_app(conn, &client_id))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    end_app_tokens(tx, &client_id, Denial::AppDeleted).await?;
                    let deleted = sqlx::query("DELETE FROM apps WHERE client_id = $1")
                        .bind(&client_id)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    Ok(deleted.rows_affected() > 0)
                })
            })
            .await
    }

    async fn set_item_url_template(
        &self,
        client_id: &str,
        template: Option<&str>,
    ) -> StoreResult<()> {
        let client_id = client_id.to_owned();
        let template = template.map(str::to_owned);
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| {
                    sqlite::set_item_url_template(conn, &client_id, template.as_deref())
                })
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let updated =
                        sqlx::query("UPDATE apps SET item_url_template = $2 WHERE client_id = $1")
                            .bind(&client_id)
                            .bind(&template)
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

    async fn grant(&self, member: MemberId, client_id: &str) -> StoreResult<Option<Grant>> {
        if let Some(db) = &self.sqlite {
            let client_id = client_id.to_owned();
            return db
                .read(move |conn| sqlite::grant(conn, member, &client_id))
                .await;
        }
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.member_id = $1 AND g.client_id = $2"
        );
        let row: Option<GrantRow> = sqlx::query_as(&sql)
            .bind(member.0)
            .bind(client_id)
            .fetch_optional(&self.pg().pool)
            .await
            .store()?;
        row.map(Grant::try_from).transpose()
    }

    async fn save_grant(&self, update: GrantUpdate, log: NewLogEntry) -> StoreResult<Grant> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::save_grant(conn, &update, &log))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    // A grant revoked earlier starts afresh, but keeps its pseudonym.
                    let sql = format!(
                        "INSERT INTO grants AS g (member_id, client_id, pseudonym, scopes, \
                         created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5) \
                         ON CONFLICT (member_id, client_id) DO UPDATE SET \
                           scopes = excluded.scopes, updated_at = excluded.updated_at, \
                           created_at = CASE WHEN g.revoked_at IS NULL THEN g.created_at \
                             ELSE excluded.created_at END, \
                           last_used_at = CASE WHEN g.revoked_at IS NULL THEN g.last_used_at \
                             ELSE NULL END, \
                           revoked_at = NULL \
                         RETURNING {GRANT_COLUMNS_BARE}"
                    );
                    let row: GrantRow = sqlx::query_as(&sql)
                        .bind(update.member_id.0)
                        .bind(&update.client_id)
                        .bind(&update.new_pseudonym)
                        .bind(update.scopes.to_string())
                        .bind(update.at.0)
                        .fetch_one(&mut *tx)
                        .await
                        .store()?;
                    for thread in &update.threads {
                        sqlx::query(
                            "INSERT INTO thread_grants (grant_id, conversation_id, granted_at, \
                             expires_at, \
                             readable_from) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (grant_id, conversation_id) DO UPDATE SET \
                             granted_at = excluded.granted_at, expires_at = excluded.expires_at, \
                             readable_from = excluded.readable_from",
                        )
                        .bind(row.id)
                        .bind(thread.0)
                        .bind(update.at.0)
                        .bind(update.threads_expire_at.0)
                        .bind(update.threads_history.then_some(0i64))
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    }
                    accesslog::append(tx, &log).await?;
                    Grant::try_from(row)
                })
            })
            .await
    }

    async fn grants_of(&self, member: MemberId) -> StoreResult<Vec<Grant>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::grants_of(conn, member)).await;
        }
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.member_id = $1 \
             ORDER BY g.updated_at DESC, g.id DESC"
        );
        let rows: Vec<GrantRow> = sqlx::query_as(&sql)
            .bind(member.0)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        rows.into_iter().map(Grant::try_from).collect()
    }

    async fn active_grants_of_app(&self, client_id: &str) -> StoreResult<Vec<Grant>> {
        let client_id = client_id.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::active_grants_of_app(conn, &client_id))
                .await;
        }
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM grants g \
             WHERE g.client_id = $1 AND g.revoked_at IS NULL ORDER BY g.id"
        );
        let rows: Vec<GrantRow> = sqlx::query_as(&sql)
            .bind(client_id)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        rows.into_iter().map(Grant::try_from).collect()
    }

    async fn thread_grants(&self, grant_id: i64) -> StoreResult<Vec<ThreadGrant>> {
        if let Some(db) = &self.sqlite {
            return db
                .read(move |conn| sqlite::thread_grants(conn, grant_id))
                .await;
        }
        let rows: Vec<(i64, i64, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT grant_id, conversation_id, granted_at, expires_at, readable_from \
             FROM thread_grants \
             WHERE grant_id = $1 ORDER BY granted_at DESC, conversation_id",
        )
        .bind(grant_id)
        .fetch_all(&self.pg().pool)
        .await
        .store()?;
        Ok(rows
            .into_iter()
            .map(
                |(grant_id, conversation, granted_at, expires_at, readable_from)| ThreadGrant {
                    grant_id,
                    conversation_id: ConversationId(conversation),
                    granted_at: Timestamp(granted_at),
                    expires_at: Timestamp(expires_at),
                    readable_from: Timestamp(readable_from.unwrap_or(granted_at)),
                },
            )
            .collect())
    }

    async fn idle_grants(&self, cutoff: Timestamp) -> StoreResult<Vec<Grant>> {
        if let Some(db) = &self.sqlite {
            return db.read(move |conn| sqlite::idle_grants(conn, cutoff)).await;
        }
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.revoked_at IS NULL \
             AND COALESCE(g.last_used_at, g.updated_at) < $1"
        );
        let rows: Vec<GrantRow> = sqlx::query_as(&sql)
            .bind(cutoff.0)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        rows.into_iter().map(Grant::try_from).collect()
    }

    async fn revoke_grant(
        &self,
        member: MemberId,
        client_id: &str,
        at: Timestamp,
        log: NewLogEntry,
        webhook: Option<NewWebhook>,
    ) -> StoreResult<bool> {
        let client_id = client_id.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| {
                    sqlite::revoke_grant(conn, member, &client_id, at, &log, webhook.as_ref())
                })
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let grant_id: Option<i64> = sqlx::query_scalar(
                        "UPDATE grants SET revoked_at = $3, updated_at = $3 \
                     WHERE member_id = $1 AND client_id = $2 AND revoked_at IS NULL RETURNING id",
                    )
                    .bind(member.0)
                    .bind(client_id)
                    .bind(at.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .store()?;
                    let Some(grant_id) = grant_id else {
                        return Ok(false);
                    };
                    tombstone_tokens(tx, Revoking::Grant(grant_id), Denial::GrantRevoked).await?;
                    sqlx::query(&tokens_under("g.id = $1"))
                        .bind(grant_id)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    sqlx::query(&families_under("g.id = $1"))
                        .bind(grant_id)
                        .bind(at.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    for table in ["authorization_codes", "thread_grants"] {
                        sqlx::query(&format!("DELETE FROM {table} WHERE grant_id = $1"))
                            .bind(grant_id)
                            .execute(&mut *tx)
                            .await
                            .store()?;
                    }
                    accesslog::append(tx, &log).await?;
                    if let Some(webhook) = &webhook {
                        webhooks::enqueue(tx, webhook).await?;
                    }
                    Ok(true)
                })
            })
            .await
    }

    async fn revoke_thread_grant(
        &self,
        grant_id: i64,
        conversation: ConversationId,
        log: NewLogEntry,
    ) -> StoreResult<bool> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::revoke_thread_grant(conn, grant_id, conversation, &log))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let deleted = sqlx::query(
                        "DELETE FROM thread_grants WHERE grant_id = $1 AND conversation_id = $2",
                    )
                    .bind(grant_id)
                    .bind(conversation.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    if deleted.rows_affected() == 0 {
                        return Ok(false);
                    }
                    accesslog::append(tx, &log).await?;
                    Ok(true)
                })
            })
            .await
    }

    async fn create_code(&self, code: AuthorizationCode) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db.write(move |conn| sqlite::create_code(conn, &code)).await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO authorization_codes (code_hash, grant_id, client_id, \
                         redirect_uri, \
                         scopes, code_challenge, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&code.code_hash.0)
                    .bind(code.grant_id)
                    .bind(&code.client_id)
                    .bind(&code.redirect_uri)
                    .bind(code.scopes.to_string())
                    .bind(&code.code_challenge)
                    .bind(code.created_at.0)
                    .bind(code.expires_at.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    Ok(())
                })
            })
            .await
    }

    async fn code(&self, code_hash: &TokenHash) -> StoreResult<Option<AuthorizationCode>> {
        if let Some(db) = &self.sqlite {
            let code_hash = code_hash.clone();
            return db.read(move |conn| sqlite::code(conn, &code_hash)).await;
        }
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT c.code_hash, c.grant_id, g.member_id, c.client_id, c.redirect_uri, c.scopes, \
             c.code_challenge, c.created_at, c.expires_at, c.redeemed_at \
             FROM authorization_codes c JOIN grants g ON g.id = c.grant_id \
             WHERE c.code_hash = $1",
        )
        .bind(&code_hash.0)
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        row.map(|row| {
            Ok(AuthorizationCode {
                scopes: scopes(&row.scopes)?,
                code_hash: TokenHash(row.code_hash),
                grant_id: row.grant_id,
                member_id: MemberId(row.member_id),
                client_id: row.client_id,
                redirect_uri: row.redirect_uri,
                code_challenge: row.code_challenge,
                created_at: Timestamp(row.created_at),
                expires_at: Timestamp(row.expires_at),
                redeemed_at: row.redeemed_at.map(Timestamp),
            })
        })
        .transpose()
    }

    async fn redeem_code(
        &self,
        code_hash: &TokenHash,
        tokens: TokenPair,
        log: &LogDraft,
    ) -> StoreResult<Redemption> {
        let code_hash = code_hash.to_owned();
        let log = log.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::redeem_code(conn, &code_hash, &tokens, &log))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    // The conditional update is the single point that decides which redemption
                    // wins.
                    let grant_id: Option<i64> = sqlx::query_scalar(
                        "UPDATE authorization_codes SET redeemed_at = $2 \
                     WHERE code_hash = $1 AND redeemed_at IS NULL RETURNING grant_id",
                    )
                    .bind(&code_hash.0)
                    .bind(tokens.created_at.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .store()?;
                    let Some(grant_id) = grant_id else {
                        revoke_code_family_in(tx, &code_hash, tokens.created_at).await?;
                        accesslog::append(tx, &log.denied(Denial::CodeReplayed)).await?;
                        return Ok(Redemption::Replayed);
                    };
                    let family_id: i64 = sqlx::query_scalar(
                        "INSERT INTO token_families (grant_id, created_at, expires_at) \
                     VALUES ($1, $2, $3) RETURNING id",
                    )
                    .bind(grant_id)
                    .bind(tokens.created_at.0)
                    .bind(tokens.refresh_expires_at.0)
                    .fetch_one(&mut *tx)
                    .await
                    .store()?;
                    sqlx::query(
                        "UPDATE authorization_codes SET family_id = $2 WHERE code_hash = $1",
                    )
                    .bind(&code_hash.0)
                    .bind(family_id)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    insert_pair(tx, family_id, &tokens).await?;
                    accesslog::append(tx, &log.allowed()).await?;
                    Ok(Redemption::Issued { family_id })
                })
            })
            .await
    }

    async fn revoke_tokens_of_code(
        &self,
        code_hash: &TokenHash,
        at: Timestamp,
        log: NewLogEntry,
    ) -> StoreResult<()> {
        let code_hash = code_hash.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::revoke_tokens_of_code(conn, &code_hash, at, &log))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    revoke_code_family_in(tx, &code_hash, at).await?;
                    accesslog::append(tx, &log).await?;
                    Ok(())
                })
            })
            .await
    }

    async fn token(&self, token_hash: &TokenHash) -> StoreResult<Option<TokenRecord>> {
        let caches = &self.caches;
        let load = self.load_token(token_hash);
        caches
            .get(self, &caches.tokens, token_hash.0.clone(), load)
            .await
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        family_id: i64,
        tokens: TokenPair,
        log: &LogDraft,
    ) -> StoreResult<Rotation> {
        let old = old.to_owned();
        let log = log.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| {
                    sqlite::rotate_refresh_token(conn, &old, family_id, &tokens, &log)
                })
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let rotated = sqlx::query(
                        "UPDATE oauth_tokens SET rotated_at = $2 \
                     WHERE token_hash = $1 AND kind = 'refresh' AND rotated_at IS NULL",
                    )
                    .bind(&old.0)
                    .bind(tokens.created_at.0)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    if rotated.rows_affected() == 0 {
                        let reason = Denial::RefreshTokenReused;
                        revoke_family_in(tx, family_id, tokens.created_at, reason).await?;
                        accesslog::append(tx, &log.denied(reason)).await?;
                        return Ok(Rotation::Reused);
                    }
                    insert_pair(tx, family_id, &tokens).await?;
                    accesslog::append(tx, &log.allowed()).await?;
                    Ok(Rotation::Rotated)
                })
            })
            .await
    }

    async fn delete_token(&self, token_hash: &TokenHash, log: NewLogEntry) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_token(conn, &token_hash, &log))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    tombstone_tokens(tx, Revoking::Token(&token_hash), Denial::TokenRevoked)
                        .await?;
                    sqlx::query("DELETE FROM oauth_tokens WHERE token_hash = $1")
                        .bind(&token_hash.0)
                        .execute(&mut *tx)
                        .await
                        .store()?;
                    accesslog::append(tx, &log).await?;
                    Ok(())
                })
            })
            .await
    }

    async fn revoke_family(
        &self,
        family_id: i64,
        at: Timestamp,
        log: NewLogEntry,
    ) -> StoreResult<()> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::revoke_family(conn, family_id, at, &log))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    // A family revoked as a refusal (a reused refresh token) keeps that reason for
                    // its tokens; otherwise the app gave the family up itself.
                    let reason = log.reason.unwrap_or(Denial::TokenRevoked);
                    revoke_family_in(tx, family_id, at, reason).await?;
                    accesslog::append(tx, &log).await?;
                    Ok(())
                })
            })
            .await
    }

    async fn delete_expired_oauth(&self, now: Timestamp) -> StoreResult<u64> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::delete_expired_oauth(conn, now))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let mut deleted = 0;
                    // Codes stay a day past expiry so that a late replay still revokes what they
                    // issued; rotated refresh tokens stay until their family expires, since they
                    // detect reuse.
                    let day_ago = now.plus_secs(-24 * 3600);
                    for (sql, cutoff) in [
                        (
                            "DELETE FROM authorization_codes WHERE expires_at <= $1",
                            day_ago,
                        ),
                        ("DELETE FROM oauth_tokens WHERE expires_at <= $1", now),
                        ("DELETE FROM revoked_tokens WHERE expires_at <= $1", now),
                        ("DELETE FROM thread_grants WHERE expires_at <= $1", now),
                        ("DELETE FROM token_families WHERE expires_at <= $1", now),
                    ] {
                        deleted += sqlx::query(sql)
                            .bind(cutoff.0)
                            .execute(&mut *tx)
                            .await
                            .store()?
                            .rows_affected();
                    }
                    Ok(deleted)
                })
            })
            .await
    }
}

/// Every column `update_app` writes, by client id.
pub(crate) const UPDATE_APP: &str = "UPDATE apps SET name = $2, owner = $3, homepage = $4, \
     privacy_policy = $5, report_webhook = $6, redirect_uris = $7, secret_hash = $8, scopes = $9, \
     surfaces = $10, variations = $11, webhook_secret = $12, item_url_template = $13, \
     previous_secret_hash = $14, previous_secret_expires_at = $15 WHERE client_id = $1";

/// Records every token of the app as revoked for `reason`, then deletes them and its
/// unredeemed codes, inside the caller's transaction.
async fn end_app_tokens(tx: &mut PgConnection, client_id: &str, reason: Denial) -> StoreResult<()> {
    tombstone_tokens(tx, Revoking::App(client_id), reason).await?;
    sqlx::query(&tokens_under("g.client_id = $1"))
        .bind(client_id)
        .execute(&mut *tx)
        .await
        .store()?;
    sqlx::query("DELETE FROM authorization_codes WHERE client_id = $1")
        .bind(client_id)
        .execute(&mut *tx)
        .await
        .store()?;
    Ok(())
}
