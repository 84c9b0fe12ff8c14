//! Deployment-wide settings, job leases and the webhook outbox, on rusqlite.

use rusqlite::{Connection, OptionalExtension, params};

use super::{ResultExt, insert_row};
use confidant_core::Timestamp;
use confidant_core::store::{DueWebhook, NewWebhook, StoreResult, WebhookOutcome};

pub(crate) fn setting(conn: &Connection, name: &str) -> StoreResult<Option<String>> {
    conn.prepare_cached("SELECT value FROM deployment_settings WHERE name = ?1")
        .and_then(|mut select| select.query_row([name], |row| row.get(0)).optional())
        .store()
}

pub(crate) fn init_setting(conn: &Connection, name: &str, value: &str) -> StoreResult<String> {
    conn.prepare_cached(
        "INSERT INTO deployment_settings (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO NOTHING",
    )
    .and_then(|mut insert| insert.execute([name, value]))
    .store()?;
    setting(conn, name)?.ok_or(confidant_core::StoreError::NotFound)
}

pub(crate) fn set_setting(conn: &Connection, name: &str, value: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO deployment_settings (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut upsert| upsert.execute([name, value]))
    .store()
    .map(drop)
}

pub(crate) fn take_lease(
    conn: &Connection,
    name: &str,
    holder: &str,
    now: Timestamp,
    until: Timestamp,
) -> StoreResult<bool> {
    let taken = conn
        .prepare_cached(
            "INSERT INTO job_leases (name, holder, until) VALUES (?1, ?2, ?4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE job_leases.until <= ?3 OR job_leases.holder = excluded.holder",
        )
        .and_then(|mut upsert| upsert.execute(params![name, holder, now.0, until.0]))
        .store()?;
    Ok(taken == 1)
}

pub(crate) fn has_log_entries(conn: &Connection) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM access_log_heads WHERE size > 0)")
        .and_then(|mut select| select.query_row([], |row| row.get(0)))
        .store()
}

/// Queues a webhook in the caller's transaction, due at once; returns its id.
pub(crate) fn enqueue_webhook(conn: &Connection, webhook: &NewWebhook) -> StoreResult<i64> {
    insert_row(
        conn,
        "INSERT INTO webhook_deliveries (client_id, message_id, event_type, payload, \
         created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            webhook.client_id,
            webhook.message_id,
            webhook.event_type,
            webhook.payload,
            webhook.created_at.0
        ],
    )
}

pub(crate) fn due_webhooks(
    conn: &Connection,
    now: Timestamp,
    limit: i64,
) -> StoreResult<Vec<DueWebhook>> {
    let mut select = conn
        .prepare_cached(
            "SELECT w.id, a.report_webhook, a.webhook_secret, w.message_id, w.payload, \
             w.attempts, w.next_attempt_at FROM webhook_deliveries w \
             JOIN apps a ON a.client_id = w.client_id \
             WHERE w.next_attempt_at <= ?1 AND a.report_webhook IS NOT NULL \
             AND a.webhook_secret IS NOT NULL ORDER BY w.next_attempt_at LIMIT ?2",
        )
        .store()?;
    let rows = select
        .query_map([now.0, limit], |row| {
            Ok(DueWebhook {
                id: row.get(0)?,
                url: row.get(1)?,
                secret: row.get(2)?,
                message_id: row.get(3)?,
                payload: row.get(4)?,
                attempts: u32::try_from(row.get::<_, i64>(5)?).unwrap_or(u32::MAX),
                next_attempt_at: Timestamp(row.get(6)?),
            })
        })
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn claim_webhook(
    conn: &Connection,
    id: i64,
    seen: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<bool> {
    let claimed = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET next_attempt_at = ?3 \
             WHERE id = ?1 AND next_attempt_at = ?2",
        )
        .and_then(|mut update| update.execute([id, seen.0, lease_until.0]))
        .store()?;
    Ok(claimed == 1)
}

pub(crate) fn finish_webhook_attempt(
    conn: &Connection,
    id: i64,
    at: Timestamp,
    outcome: &WebhookOutcome,
) -> StoreResult<()> {
    let finished = match outcome {
        WebhookOutcome::Delivered => conn
            .prepare_cached(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = ?2, \
                 next_attempt_at = NULL, last_error = NULL WHERE id = ?1",
            )
            .and_then(|mut update| update.execute([id, at.0])),
        WebhookOutcome::Failed { error, retry_at } => conn
            .prepare_cached(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?2, \
                 next_attempt_at = ?3 WHERE id = ?1",
            )
            .and_then(|mut update| update.execute(params![id, error, retry_at.map(|t| t.0)])),
    };
    finished.store().map(drop)
}
