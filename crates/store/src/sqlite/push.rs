//! Web Push subscriptions and the push outbox, on rusqlite.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::messaging::message;
use super::{ResultExt, id_list};
use confidant_core::store::{DuePush, NewPushSubscription, PushSubscription, StoreResult};
use confidant_core::{MemberId, MessageId, StoreError, Timestamp};

const SUBSCRIPTION_COLUMNS: &str =
    "id, member_id, endpoint, p256dh, auth, show_text, created_at, streaming_until";

fn subscription_from_row(row: &Row<'_>) -> rusqlite::Result<(PushSubscription, Option<i64>)> {
    Ok((
        PushSubscription {
            id: row.get(0)?,
            member_id: MemberId(row.get(1)?),
            endpoint: row.get(2)?,
            p256dh: row.get(3)?,
            auth: row.get(4)?,
            show_text: row.get(5)?,
            created_at: Timestamp(row.get(6)?),
        },
        row.get(7)?,
    ))
}

/// Queues a push of a new message to every browser of its `recipients`, inside the
/// transaction that stores it: not to a browser watching the live stream (it gets the message
/// there), nor for an app's message to someone who muted the app.
pub(crate) fn queue_pushes(
    conn: &Connection,
    message: MessageId,
    recipients: &[MemberId],
    via_app: Option<&str>,
    at: Timestamp,
) -> StoreResult<()> {
    if recipients.is_empty() {
        return Ok(());
    }
    // Each recipient (a participant, so listed once) probes the subscriptions' index (see
    // `id_list`): most have no subscription at all.
    conn.prepare_cached(
        "INSERT INTO push_deliveries (subscription_id, message_id, next_attempt_at) \
         SELECT s.id, ?1, ?2 FROM json_each(?3) j \
         CROSS JOIN push_subscriptions s ON s.member_id = j.value \
         WHERE (s.streaming_until IS NULL OR s.streaming_until <= ?2) \
         AND NOT EXISTS (SELECT 1 FROM app_mutes am \
             WHERE am.member_id = s.member_id AND am.client_id = ?4)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            message.0,
            at.0,
            id_list(recipients.iter().map(|id| id.0)),
            via_app
        ])
    })
    .store()
    .map(drop)
}

pub(crate) fn save_push_subscription(
    conn: &Connection,
    new: &NewPushSubscription,
    max: i64,
) -> StoreResult<PushSubscription> {
    // A browser belongs to whoever subscribed in it last: its earlier row (and any pushes
    // still queued for it) go.
    conn.prepare_cached("DELETE FROM push_subscriptions WHERE endpoint = ?1")
        .and_then(|mut delete| delete.execute([&new.endpoint]))
        .store()?;
    let count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM push_subscriptions WHERE member_id = ?1")
        .and_then(|mut select| select.query_row([new.member_id.0], |row| row.get(0)))
        .store()?;
    if count >= max {
        return Err(StoreError::Conflict("too_many_devices"));
    }
    conn.prepare_cached(&format!(
        "INSERT INTO push_subscriptions (member_id, endpoint, p256dh, auth, show_text, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {SUBSCRIPTION_COLUMNS}"
    ))
    .and_then(|mut insert| {
        insert.query_row(
            params![
                new.member_id.0,
                new.endpoint,
                new.p256dh,
                new.auth,
                new.show_text,
                new.created_at.0
            ],
            subscription_from_row,
        )
    })
    .store()
    .map(|(subscription, _)| subscription)
}

pub(crate) fn push_subscriptions(
    conn: &Connection,
    member: MemberId,
) -> StoreResult<Vec<PushSubscription>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE member_id = ?1 \
             ORDER BY id"
        ))
        .store()?;
    let rows = select
        .query_map([member.0], |row| subscription_from_row(row).map(|(s, _)| s))
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn delete_push_subscription(
    conn: &Connection,
    id: i64,
    member: MemberId,
) -> StoreResult<bool> {
    conn.prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1 AND member_id = ?2")
        .and_then(|mut delete| delete.execute([id, member.0]))
        .store()
        .map(|deleted| deleted > 0)
}

pub(crate) fn drop_push_subscription(conn: &Connection, id: i64) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1")
        .and_then(|mut delete| delete.execute([id]))
        .store()
        .map(drop)
}

pub(crate) fn set_push_streaming(
    conn: &Connection,
    id: i64,
    member: MemberId,
    until: Option<Timestamp>,
) -> StoreResult<bool> {
    conn.prepare_cached(
        "UPDATE push_subscriptions SET streaming_until = ?1 WHERE id = ?2 AND member_id = ?3",
    )
    .and_then(|mut update| update.execute(params![until.map(|at| at.0), id, member.0]))
    .store()
    .map(|updated| updated > 0)
}

pub(crate) fn claim_due_pushes(
    conn: &Connection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> StoreResult<Vec<DuePush>> {
    let claimed: Vec<(i64, i64, i64, u32)> = {
        let mut claim = conn
            .prepare_cached(
                "UPDATE push_deliveries SET next_attempt_at = ?2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM push_deliveries WHERE next_attempt_at <= ?1 \
                              ORDER BY next_attempt_at LIMIT ?3) \
                 RETURNING id, subscription_id, message_id, attempts",
            )
            .store()?;
        let rows = claim
            .query_map([now.0, lease_until.0, limit], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .store()?;
        rows.collect::<Result<_, _>>().store()?
    };
    let mut due = Vec::with_capacity(claimed.len());
    for (id, subscription, message_id, attempts) in claimed {
        let subscription = conn
            .prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE id = ?1"
            ))
            .and_then(|mut select| {
                select
                    .query_row([subscription], subscription_from_row)
                    .optional()
            })
            .store()?;
        let message = message(conn, MessageId(message_id))?;
        match (subscription, message) {
            (Some((subscription, streaming_until)), Some(message)) if !message.deleted => {
                due.push(DuePush {
                    id,
                    attempts,
                    subscription,
                    message,
                    streaming: streaming_until.is_some_and(|until| until > now.0),
                })
            }
            // Deleted before it was pushed: nothing to say.
            _ => finish_push(conn, id)?,
        }
    }
    Ok(due)
}

pub(crate) fn finish_push(conn: &Connection, id: i64) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM push_deliveries WHERE id = ?1")
        .and_then(|mut delete| delete.execute([id]))
        .store()
        .map(drop)
}

pub(crate) fn retry_push(conn: &Connection, id: i64, at: Timestamp) -> StoreResult<()> {
    conn.prepare_cached("UPDATE push_deliveries SET next_attempt_at = ?1 WHERE id = ?2")
        .and_then(|mut update| update.execute([at.0, id]))
        .store()
        .map(drop)
}
