//! Partner apps, grants, authorization codes and OAuth tokens, on rusqlite.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::accesslog::{self, Revoking, tombstone_tokens};
use super::{ResultExt, deployment, insert_row};
use crate::sql::corrupt;
use crate::sql::oauth::{
    APP_COLUMNS, GRANT_COLUMNS, GRANT_COLUMNS_BARE, UPDATE_APP, previous_secret, scopes, words,
};
use confidant_core::accesslog::Denial;
use confidant_core::oauth::Scopes;
use confidant_core::store::{
    App, AppStatus, AuthorizationCode, Grant, GrantUpdate, LogDraft, NewLogEntry, NewWebhook,
    Redemption, Rotation, StoreResult, ThreadGrant, TokenKind, TokenPair, TokenRecord,
};
use confidant_core::tokens::TokenHash;
use confidant_core::{ConversationId, MemberId, StoreError, Timestamp};

fn app_from_row(row: &Row<'_>) -> rusqlite::Result<StoreResult<App>> {
    let status: String = row.get(12)?;
    let scope: String = row.get(9)?;
    let redirect_uris: String = row.get(6)?;
    let surfaces: String = row.get(10)?;
    let variations: String = row.get(11)?;
    let app = App {
        client_id: row.get(0)?,
        name: row.get(1)?,
        owner: row.get(2)?,
        homepage: row.get(3)?,
        privacy_policy: row.get(4)?,
        report_webhook: row.get(5)?,
        webhook_secret: row.get(14)?,
        redirect_uris: redirect_uris.lines().map(str::to_owned).collect(),
        confidential: row.get::<_, i64>(7)? != 0,
        secret_hash: row.get::<_, Option<String>>(8)?.map(TokenHash),
        scopes: Scopes::default(),
        surfaces: words(&surfaces),
        variations: words(&variations),
        status: AppStatus::Pending,
        item_url_template: row.get(15)?,
        previous_secret: previous_secret(row.get(16)?, row.get(17)?),
        created_at: Timestamp(row.get(13)?),
    };
    Ok((|| {
        Ok(App {
            status: AppStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
            scopes: scopes(&scope)?,
            ..app
        })
    })())
}

fn grant_at(row: &Row<'_>, offset: usize) -> rusqlite::Result<StoreResult<Grant>> {
    let scope: String = row.get(offset + 4)?;
    let grant = Grant {
        id: row.get(offset)?,
        member_id: MemberId(row.get(offset + 1)?),
        client_id: row.get(offset + 2)?,
        pseudonym: row.get(offset + 3)?,
        scopes: Scopes::default(),
        created_at: Timestamp(row.get(offset + 5)?),
        updated_at: Timestamp(row.get(offset + 6)?),
        last_used_at: row.get::<_, Option<i64>>(offset + 7)?.map(Timestamp),
        revoked_at: row.get::<_, Option<i64>>(offset + 8)?.map(Timestamp),
    };
    Ok(scopes(&scope).map(|scopes| Grant { scopes, ..grant }))
}

pub(crate) fn grant_from_row(row: &Row<'_>) -> rusqlite::Result<StoreResult<Grant>> {
    grant_at(row, 0)
}

/// Deletes the family's tokens and marks it revoked, inside the caller's transaction.
fn revoke_family_in(
    conn: &Connection,
    family_id: i64,
    at: Timestamp,
    reason: Denial,
) -> StoreResult<()> {
    tombstone_tokens(conn, Revoking::Family(family_id), reason)?;
    conn.prepare_cached("DELETE FROM oauth_tokens WHERE family_id = ?1")
        .and_then(|mut delete| delete.execute([family_id]))
        .store()?;
    conn.prepare_cached(
        "UPDATE token_families SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    )
    .and_then(|mut update| update.execute([family_id, at.0]))
    .store()
    .map(drop)
}

/// Revokes the family a redeemed code started, inside the caller's transaction.
fn revoke_code_family_in(
    conn: &Connection,
    code_hash: &TokenHash,
    at: Timestamp,
) -> StoreResult<()> {
    let family: Option<Option<i64>> = conn
        .prepare_cached("SELECT family_id FROM authorization_codes WHERE code_hash = ?1")
        .and_then(|mut select| {
            select
                .query_row([&code_hash.0], |row| row.get(0))
                .optional()
        })
        .store()?;
    if let Some(Some(family_id)) = family {
        revoke_family_in(conn, family_id, at, Denial::CodeReplayed)?;
    }
    Ok(())
}

/// Stores an access and a refresh token in a family.
fn insert_pair(conn: &Connection, family_id: i64, pair: &TokenPair) -> StoreResult<()> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO oauth_tokens (token_hash, family_id, kind, scopes, created_at, \
             expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .store()?;
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
        insert
            .execute(params![
                hash.0,
                family_id,
                kind.as_str(),
                scopes.to_string(),
                pair.created_at.0,
                expires_at.0
            ])
            .store()?;
    }
    Ok(())
}

/// Deletes the tokens of every family under grants matching `condition` (over `g`, on `?1`).
fn delete_tokens_under(
    conn: &Connection,
    condition: &str,
    value: &dyn rusqlite::ToSql,
) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "DELETE FROM oauth_tokens WHERE family_id IN (SELECT f.id FROM token_families f \
         JOIN grants g ON g.id = f.grant_id WHERE {condition})"
    ))
    .and_then(|mut delete| delete.execute([value]))
    .store()
    .map(drop)
}

pub(crate) fn token(conn: &Connection, token_hash: &TokenHash) -> StoreResult<Option<TokenRecord>> {
    let read = |row: &Row<'_>| -> rusqlite::Result<StoreResult<TokenRecord>> {
        let kind: String = row.get(1)?;
        let scope: String = row.get(3)?;
        let status: String = row.get(7)?;
        let grant = grant_at(row, 8)?;
        let token_hash = TokenHash(row.get(0)?);
        let family_id = row.get(2)?;
        let created_at = Timestamp(row.get(4)?);
        let expires_at = Timestamp(row.get(5)?);
        let rotated_at = row.get::<_, Option<i64>>(6)?.map(Timestamp);
        Ok((|| {
            Ok(TokenRecord {
                kind: TokenKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                app_status: AppStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                scopes: scopes(&scope)?,
                token_hash,
                family_id,
                created_at,
                expires_at,
                rotated_at,
                grant: grant?,
            })
        })())
    };
    conn.prepare_cached(&format!(
        "SELECT t.token_hash, t.kind, t.family_id, t.scopes, t.created_at, t.expires_at, \
         t.rotated_at, a.status, {GRANT_COLUMNS} \
         FROM oauth_tokens t \
         JOIN token_families f ON f.id = t.family_id \
         JOIN grants g ON g.id = f.grant_id \
         JOIN apps a ON a.client_id = g.client_id \
         WHERE t.token_hash = ?1 AND f.revoked_at IS NULL"
    ))
    .and_then(|mut select| select.query_row([&token_hash.0], read).optional())
    .store()?
    .transpose()
}

pub(crate) fn create_app(conn: &Connection, app: &App) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO apps ({APP_COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    ))
    .and_then(|mut insert| {
        insert.execute(params![
            app.client_id,
            app.name,
            app.owner,
            app.homepage,
            app.privacy_policy,
            app.report_webhook,
            app.redirect_uris.join("\n"),
            app.confidential,
            app.secret_hash.as_ref().map(|hash| &hash.0),
            app.scopes.to_string(),
            app.surfaces.join(" "),
            app.variations.join(" "),
            app.status.as_str(),
            app.created_at.0,
            app.webhook_secret,
            app.item_url_template,
            app.previous_secret.as_ref().map(|p| &p.hash.0),
            app.previous_secret.as_ref().map(|p| p.expires_at.0),
        ])
    })
    .store()
    .map(drop)
}

pub(crate) fn app(conn: &Connection, client_id: &str) -> StoreResult<Option<App>> {
    conn.prepare_cached(&format!(
        "SELECT {APP_COLUMNS} FROM apps WHERE client_id = ?1"
    ))
    .and_then(|mut select| select.query_row([client_id], app_from_row).optional())
    .store()?
    .transpose()
}

pub(crate) fn apps(conn: &Connection) -> StoreResult<Vec<App>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {APP_COLUMNS} FROM apps ORDER BY created_at DESC, client_id"
        ))
        .store()?;
    let rows = select.query_map([], app_from_row).store()?;
    rows.map(|row| row.store()?).collect()
}

pub(crate) fn set_app_status(
    conn: &Connection,
    client_id: &str,
    status: AppStatus,
) -> StoreResult<()> {
    let updated = conn
        .prepare_cached("UPDATE apps SET status = ?2 WHERE client_id = ?1")
        .and_then(|mut update| update.execute([client_id, status.as_str()]))
        .store()?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    if status == AppStatus::Suspended {
        end_app_tokens(conn, client_id, Denial::AppSuspended)?;
    }
    Ok(())
}

/// Records every token of the app as revoked for `reason`, then deletes them and its
/// unredeemed codes, inside the caller's transaction.
fn end_app_tokens(conn: &Connection, client_id: &str, reason: Denial) -> StoreResult<()> {
    tombstone_tokens(conn, Revoking::App(client_id), reason)?;
    delete_tokens_under(conn, "g.client_id = ?1", &client_id)?;
    conn.prepare_cached("DELETE FROM authorization_codes WHERE client_id = ?1")
        .and_then(|mut delete| delete.execute([client_id]))
        .store()
        .map(drop)
}

pub(crate) fn update_app(
    conn: &Connection,
    app: &App,
    revoke_tokens: Option<Denial>,
) -> StoreResult<()> {
    // The shared statement numbers its parameters `$n`, which SQLite reads as `?n`.
    let updated = conn
        .prepare_cached(&UPDATE_APP.replace('$', "?"))
        .and_then(|mut update| {
            update.execute(params![
                app.client_id,
                app.name,
                app.owner,
                app.homepage,
                app.privacy_policy,
                app.report_webhook,
                app.redirect_uris.join("\n"),
                app.secret_hash.as_ref().map(|hash| &hash.0),
                app.scopes.to_string(),
                app.surfaces.join(" "),
                app.variations.join(" "),
                app.webhook_secret,
                app.item_url_template,
                app.previous_secret.as_ref().map(|p| &p.hash.0),
                app.previous_secret.as_ref().map(|p| p.expires_at.0),
            ])
        })
        .store()?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    if let Some(reason) = revoke_tokens {
        end_app_tokens(conn, &app.client_id, reason)?;
    }
    Ok(())
}

pub(crate) fn delete_app(conn: &Connection, client_id: &str) -> StoreResult<bool> {
    end_app_tokens(conn, client_id, Denial::AppDeleted)?;
    let deleted = conn
        .prepare_cached("DELETE FROM apps WHERE client_id = ?1")
        .and_then(|mut delete| delete.execute([client_id]))
        .store()?;
    Ok(deleted > 0)
}

pub(crate) fn active_grants_of_app(conn: &Connection, client_id: &str) -> StoreResult<Vec<Grant>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants g \
             WHERE g.client_id = ?1 AND g.revoked_at IS NULL ORDER BY g.id"
        ))
        .store()?;
    let rows = select.query_map([client_id], grant_from_row).store()?;
    rows.map(|row| row.store().and_then(|grant| grant))
        .collect()
}

pub(crate) fn set_item_url_template(
    conn: &Connection,
    client_id: &str,
    template: Option<&str>,
) -> StoreResult<()> {
    let updated = conn
        .prepare_cached("UPDATE apps SET item_url_template = ?2 WHERE client_id = ?1")
        .and_then(|mut update| update.execute(params![client_id, template]))
        .store()?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn grant(
    conn: &Connection,
    member: MemberId,
    client_id: &str,
) -> StoreResult<Option<Grant>> {
    conn.prepare_cached(&format!(
        "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.member_id = ?1 AND g.client_id = ?2"
    ))
    .and_then(|mut select| {
        select
            .query_row(params![member.0, client_id], grant_from_row)
            .optional()
    })
    .store()?
    .transpose()
}

pub(crate) fn save_grant(
    conn: &Connection,
    update: &GrantUpdate,
    log: &NewLogEntry,
) -> StoreResult<Grant> {
    // A grant revoked earlier starts afresh, but keeps its pseudonym.
    let grant = conn
        .prepare_cached(&format!(
            "INSERT INTO grants AS g (member_id, client_id, pseudonym, scopes, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
             ON CONFLICT (member_id, client_id) DO UPDATE SET \
               scopes = excluded.scopes, updated_at = excluded.updated_at, \
               created_at = CASE WHEN g.revoked_at IS NULL THEN g.created_at \
                 ELSE excluded.created_at END, \
               last_used_at = CASE WHEN g.revoked_at IS NULL THEN g.last_used_at \
                 ELSE NULL END, \
               revoked_at = NULL \
             RETURNING {GRANT_COLUMNS_BARE}"
        ))
        .and_then(|mut upsert| {
            upsert.query_row(
                params![
                    update.member_id.0,
                    update.client_id,
                    update.new_pseudonym,
                    update.scopes.to_string(),
                    update.at.0
                ],
                grant_from_row,
            )
        })
        .store()??;
    let mut share = conn
        .prepare_cached(
            "INSERT INTO thread_grants (grant_id, conversation_id, granted_at, expires_at, \
             readable_from) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (grant_id, conversation_id) DO UPDATE SET \
             granted_at = excluded.granted_at, expires_at = excluded.expires_at, \
             readable_from = excluded.readable_from",
        )
        .store()?;
    for thread in &update.threads {
        share
            .execute(params![
                grant.id,
                thread.0,
                update.at.0,
                update.threads_expire_at.0,
                update.threads_history.then_some(0i64)
            ])
            .store()?;
    }
    accesslog::append(conn, log)?;
    Ok(grant)
}

fn grants_where(conn: &Connection, condition: &str, value: i64) -> StoreResult<Vec<Grant>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants g WHERE {condition}"
        ))
        .store()?;
    let rows = select.query_map([value], grant_from_row).store()?;
    rows.map(|row| row.store()?).collect()
}

pub(crate) fn grants_of(conn: &Connection, member: MemberId) -> StoreResult<Vec<Grant>> {
    grants_where(
        conn,
        "g.member_id = ?1 ORDER BY g.updated_at DESC, g.id DESC",
        member.0,
    )
}

pub(crate) fn idle_grants(conn: &Connection, cutoff: Timestamp) -> StoreResult<Vec<Grant>> {
    grants_where(
        conn,
        "g.revoked_at IS NULL AND COALESCE(g.last_used_at, g.updated_at) < ?1",
        cutoff.0,
    )
}

pub(crate) fn thread_grants(conn: &Connection, grant_id: i64) -> StoreResult<Vec<ThreadGrant>> {
    let mut select = conn
        .prepare_cached(
            "SELECT grant_id, conversation_id, granted_at, expires_at, readable_from \
             FROM thread_grants WHERE grant_id = ?1 ORDER BY granted_at DESC, conversation_id",
        )
        .store()?;
    let rows = select
        .query_map([grant_id], |row| {
            let granted_at = row.get(2)?;
            Ok(ThreadGrant {
                grant_id: row.get(0)?,
                conversation_id: ConversationId(row.get(1)?),
                granted_at: Timestamp(granted_at),
                expires_at: Timestamp(row.get(3)?),
                readable_from: Timestamp(row.get::<_, Option<i64>>(4)?.unwrap_or(granted_at)),
            })
        })
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn revoke_thread_grant(
    conn: &Connection,
    grant_id: i64,
    conversation: ConversationId,
    log: &NewLogEntry,
) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM thread_grants WHERE grant_id = ?1 AND conversation_id = ?2")
        .and_then(|mut delete| delete.execute([grant_id, conversation.0]))
        .store()?;
    if deleted == 0 {
        return Ok(false);
    }
    accesslog::append(conn, log)?;
    Ok(true)
}

pub(crate) fn revoke_grant(
    conn: &Connection,
    member: MemberId,
    client_id: &str,
    at: Timestamp,
    log: &NewLogEntry,
    webhook: Option<&NewWebhook>,
) -> StoreResult<bool> {
    let grant_id: Option<i64> = conn
        .prepare_cached(
            "UPDATE grants SET revoked_at = ?3, updated_at = ?3 \
             WHERE member_id = ?1 AND client_id = ?2 AND revoked_at IS NULL RETURNING id",
        )
        .and_then(|mut update| {
            update
                .query_row(params![member.0, client_id, at.0], |row| row.get(0))
                .optional()
        })
        .store()?;
    let Some(grant_id) = grant_id else {
        return Ok(false);
    };
    tombstone_tokens(conn, Revoking::Grant(grant_id), Denial::GrantRevoked)?;
    delete_tokens_under(conn, "g.id = ?1", &grant_id)?;
    conn.prepare_cached(
        "UPDATE token_families SET revoked_at = ?2 WHERE revoked_at IS NULL AND grant_id = ?1",
    )
    .and_then(|mut update| update.execute([grant_id, at.0]))
    .store()?;
    for table in ["authorization_codes", "thread_grants"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE grant_id = ?1"))
            .and_then(|mut delete| delete.execute([grant_id]))
            .store()?;
    }
    accesslog::append(conn, log)?;
    if let Some(webhook) = webhook {
        deployment::enqueue_webhook(conn, webhook)?;
    }
    Ok(true)
}

pub(crate) fn create_code(conn: &Connection, code: &AuthorizationCode) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, \
         scopes, code_challenge, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            code.code_hash.0,
            code.grant_id,
            code.client_id,
            code.redirect_uri,
            code.scopes.to_string(),
            code.code_challenge,
            code.created_at.0,
            code.expires_at.0
        ])
    })
    .store()
    .map(drop)
}

pub(crate) fn code(
    conn: &Connection,
    code_hash: &TokenHash,
) -> StoreResult<Option<AuthorizationCode>> {
    let read = |row: &Row<'_>| -> rusqlite::Result<StoreResult<AuthorizationCode>> {
        let scope: String = row.get(5)?;
        let code = AuthorizationCode {
            code_hash: TokenHash(row.get(0)?),
            grant_id: row.get(1)?,
            member_id: MemberId(row.get(2)?),
            client_id: row.get(3)?,
            redirect_uri: row.get(4)?,
            scopes: Scopes::default(),
            code_challenge: row.get(6)?,
            created_at: Timestamp(row.get(7)?),
            expires_at: Timestamp(row.get(8)?),
            redeemed_at: row.get::<_, Option<i64>>(9)?.map(Timestamp),
        };
        Ok(scopes(&scope).map(|scopes| AuthorizationCode { scopes, ..code }))
    };
    conn.prepare_cached(
        "SELECT c.code_hash, c.grant_id, g.member_id, c.client_id, c.redirect_uri, c.scopes, \
         c.code_challenge, c.created_at, c.expires_at, c.redeemed_at \
         FROM authorization_codes c JOIN grants g ON g.id = c.grant_id WHERE c.code_hash = ?1",
    )
    .and_then(|mut select| select.query_row([&code_hash.0], read).optional())
    .store()?
    .transpose()
}

pub(crate) fn redeem_code(
    conn: &Connection,
    code_hash: &TokenHash,
    tokens: &TokenPair,
    log: &LogDraft,
) -> StoreResult<Redemption> {
    // The conditional update is the single point that decides which redemption wins.
    let grant_id: Option<i64> = conn
        .prepare_cached(
            "UPDATE authorization_codes SET redeemed_at = ?2 \
             WHERE code_hash = ?1 AND redeemed_at IS NULL RETURNING grant_id",
        )
        .and_then(|mut update| {
            update
                .query_row(params![code_hash.0, tokens.created_at.0], |row| row.get(0))
                .optional()
        })
        .store()?;
    let Some(grant_id) = grant_id else {
        revoke_code_family_in(conn, code_hash, tokens.created_at)?;
        accesslog::append(conn, &log.denied(Denial::CodeReplayed))?;
        return Ok(Redemption::Replayed);
    };
    let family_id = insert_row(
        conn,
        "INSERT INTO token_families (grant_id, created_at, expires_at) VALUES (?1, ?2, ?3)",
        [grant_id, tokens.created_at.0, tokens.refresh_expires_at.0],
    )?;
    conn.prepare_cached("UPDATE authorization_codes SET family_id = ?2 WHERE code_hash = ?1")
        .and_then(|mut update| update.execute(params![code_hash.0, family_id]))
        .store()?;
    insert_pair(conn, family_id, tokens)?;
    accesslog::append(conn, &log.allowed())?;
    Ok(Redemption::Issued { family_id })
}

pub(crate) fn revoke_tokens_of_code(
    conn: &Connection,
    code_hash: &TokenHash,
    at: Timestamp,
    log: &NewLogEntry,
) -> StoreResult<()> {
    revoke_code_family_in(conn, code_hash, at)?;
    accesslog::append(conn, log).map(drop)
}

pub(crate) fn rotate_refresh_token(
    conn: &Connection,
    old: &TokenHash,
    family_id: i64,
    tokens: &TokenPair,
    log: &LogDraft,
) -> StoreResult<Rotation> {
    let rotated = conn
        .prepare_cached(
            "UPDATE oauth_tokens SET rotated_at = ?2 \
             WHERE token_hash = ?1 AND kind = 'refresh' AND rotated_at IS NULL",
        )
        .and_then(|mut update| update.execute(params![old.0, tokens.created_at.0]))
        .store()?;
    if rotated == 0 {
        let reason = Denial::RefreshTokenReused;
        revoke_family_in(conn, family_id, tokens.created_at, reason)?;
        accesslog::append(conn, &log.denied(reason))?;
        return Ok(Rotation::Reused);
    }
    insert_pair(conn, family_id, tokens)?;
    accesslog::append(conn, &log.allowed())?;
    Ok(Rotation::Rotated)
}

pub(crate) fn delete_token(
    conn: &Connection,
    token_hash: &TokenHash,
    log: &NewLogEntry,
) -> StoreResult<()> {
    tombstone_tokens(conn, Revoking::Token(token_hash), Denial::TokenRevoked)?;
    conn.prepare_cached("DELETE FROM oauth_tokens WHERE token_hash = ?1")
        .and_then(|mut delete| delete.execute([&token_hash.0]))
        .store()?;
    accesslog::append(conn, log).map(drop)
}

pub(crate) fn revoke_family(
    conn: &Connection,
    family_id: i64,
    at: Timestamp,
    log: &NewLogEntry,
) -> StoreResult<()> {
    // A family revoked as a refusal (a reused refresh token) keeps that reason for its
    // tokens; otherwise the app gave the family up itself.
    let reason = log.reason.unwrap_or(Denial::TokenRevoked);
    revoke_family_in(conn, family_id, at, reason)?;
    accesslog::append(conn, log).map(drop)
}

pub(crate) fn delete_expired_oauth(conn: &Connection, now: Timestamp) -> StoreResult<u64> {
    // Codes stay a day past expiry so that a late replay still revokes what they issued;
    // rotated refresh tokens stay until their family expires, since they detect reuse.
    let day_ago = now.plus_secs(-24 * 3600);
    let mut deleted = 0;
    for (table, cutoff) in [
        ("authorization_codes", day_ago),
        ("oauth_tokens", now),
        ("revoked_tokens", now),
        ("thread_grants", now),
        ("token_families", now),
    ] {
        deleted += conn
            .prepare_cached(&format!("DELETE FROM {table} WHERE expires_at <= ?1"))
            .and_then(|mut delete| delete.execute([cutoff.0]))
            .store()? as u64;
    }
    Ok(deleted)
}
