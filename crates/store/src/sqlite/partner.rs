//! What partner apps send for members, on rusqlite: sends, their labelled messages and cards.

use rusqlite::{Connection, OptionalExtension, params};

use super::messaging::{self, Via};
use super::{ResultExt, accesslog, engagement, insert_row, limits};
use confidant_core::store::{
    Delivery, NewLogEntry, NewMessage, NewPartnerSend, PartnerSendRecord, SendOutcome, StoreResult,
    ViaApp,
};
use confidant_core::{MemberId, MessageId, StoreError, Timestamp};

/// The members behind `pseudonyms` whom `sender` may send to through the app: connected to
/// it, friends of the sender, and with no block either way.
pub(crate) fn reachable_recipients(
    conn: &Connection,
    client_id: &str,
    sender: MemberId,
    pseudonyms: &[String],
) -> StoreResult<Vec<(String, MemberId)>> {
    let mut select = conn
        .prepare_cached(
            "SELECT g.member_id FROM grants g \
             WHERE g.client_id = ?1 AND g.pseudonym = ?3 AND g.revoked_at IS NULL \
             AND g.member_id <> ?2 \
             AND EXISTS (SELECT 1 FROM friendships f \
                         WHERE f.member_id = ?2 AND f.friend_id = g.member_id) \
             AND NOT EXISTS (SELECT 1 FROM blocks b \
                             WHERE (b.blocker_id = ?2 AND b.blocked_id = g.member_id) \
                                OR (b.blocker_id = g.member_id AND b.blocked_id = ?2))",
        )
        .store()?;
    let mut reachable = Vec::new();
    for pseudonym in pseudonyms {
        let member: Option<i64> = select
            .query_row(params![client_id, sender.0, pseudonym], |row| row.get(0))
            .optional()
            .store()?;
        if let Some(member) = member {
            reachable.push((pseudonym.clone(), MemberId(member)));
        }
    }
    Ok(reachable)
}

/// The send with its deliveries.
pub(crate) fn partner_send(
    conn: &Connection,
    client_id: &str,
    member: MemberId,
    id: i64,
) -> StoreResult<Option<PartnerSendRecord>> {
    let created_at: Option<i64> = conn
        .prepare_cached(
            "SELECT created_at FROM partner_sends \
             WHERE id = ?1 AND client_id = ?2 AND member_id = ?3",
        )
        .and_then(|mut select| {
            select
                .query_row(params![id, client_id, member.0], |row| row.get(0))
                .optional()
        })
        .store()?;
    let Some(created_at) = created_at else {
        return Ok(None);
    };
    // The recipient of a message in a 1:1 conversation is its other participant.
    let mut select = conn
        .prepare_cached(
            "SELECT cm.member_id, m.id, m.created_at FROM messages m \
             JOIN conversation_members cm ON cm.conversation_id = m.conversation_id \
               AND cm.member_id <> m.sender_id \
             WHERE m.partner_send_id = ?1 ORDER BY m.id",
        )
        .store()?;
    let deliveries = select
        .query_map([id], |row| {
            Ok(Delivery {
                recipient: MemberId(row.get(0)?),
                message_id: MessageId(row.get(1)?),
                delivered_at: Timestamp(row.get(2)?),
            })
        })
        .store()?
        .collect::<Result<_, _>>()
        .store()?;
    Ok(Some(PartnerSendRecord {
        id,
        created_at: Timestamp(created_at),
        deliveries,
    }))
}

pub(crate) fn send_partner_messages(
    conn: &Connection,
    send: &NewPartnerSend,
    log: &NewLogEntry,
) -> StoreResult<SendOutcome> {
    if let Some(key) = &send.idempotency_key {
        let earlier: Option<(i64, String)> = conn
            .prepare_cached(
                "SELECT id, request_hash FROM partner_sends \
                 WHERE client_id = ?1 AND member_id = ?2 AND idempotency_key = ?3",
            )
            .and_then(|mut select| {
                select
                    .query_row(params![send.client_id, send.member_id.0, key], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
            })
            .store()?;
        if let Some((id, hash)) = earlier {
            if hash != send.request_hash {
                return Ok(SendOutcome::KeyReused);
            }
            let record = partner_send(conn, &send.client_id, send.member_id, id)?;
            return Ok(record.map_or(SendOutcome::KeyReused, SendOutcome::Replayed));
        }
    }
    if let Some(budget) = &send.budget
        && let Some(retry_after_secs) = limits::take_one_or_wait(conn, budget, send.created_at)?
    {
        // A spent budget writes nothing: the send ends here with nothing to roll back.
        return Ok(SendOutcome::RateLimited { retry_after_secs });
    }
    let send_id = insert_row(
        conn,
        "INSERT INTO partner_sends (client_id, member_id, idempotency_key, request_hash, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            send.client_id,
            send.member_id.0,
            send.idempotency_key,
            send.request_hash,
            send.created_at.0
        ],
    )?;
    let mut store_card = conn
        .prepare_cached(
            "INSERT INTO recommendation_cards (message_id, title, url, image_url, description, \
             item_id, interface, surface, variation, token) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .store()?;
    let mut ids = Vec::with_capacity(send.messages.len());
    let mut advanced = Vec::new();
    for message in &send.messages {
        let (conversation_id, opened) =
            messaging::open_direct(conn, send.member_id, message.recipient, send.created_at)?;
        advanced.extend(opened);
        let new = NewMessage {
            conversation_id,
            sender: send.member_id,
            body: message.body.clone(),
            reply_to: None,
            client_key: None,
            attachments: Vec::new(),
            created_at: send.created_at,
        };
        let via = Via {
            client_id: &send.client_id,
            send_id,
        };
        let (id, feeds) = messaging::insert_partner_message(conn, &new, via)?;
        if let Some(card) = &message.card {
            store_card
                .execute(params![
                    id.0,
                    card.title,
                    card.url,
                    card.image_url,
                    card.description,
                    card.item_id,
                    card.interface,
                    card.surface,
                    card.variation,
                    card.token
                ])
                .store()?;
        }
        ids.push(id);
        advanced.extend(feeds);
    }
    for contribution in &send.contributions {
        engagement::contribute(conn, contribution)?;
    }
    accesslog::append_with_others(conn, log, &send.about_recipients)?;
    // A send is a use of the grant, like a read: it keeps the grant from going idle.
    conn.prepare_cached(
        "UPDATE grants SET last_used_at = ?3 WHERE member_id = ?1 AND client_id = ?2",
    )
    .and_then(|mut update| {
        update.execute(params![send.member_id.0, send.client_id, send.created_at.0])
    })
    .store()?;
    Ok(SendOutcome::Sent {
        record: send.stored_as(send_id, &ids),
        advanced,
    })
}

pub(crate) fn mute_app(
    conn: &Connection,
    member: MemberId,
    client_id: &str,
    at: Timestamp,
) -> StoreResult<()> {
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM apps WHERE client_id = ?1)")
        .and_then(|mut select| select.query_row([client_id], |row| row.get(0)))
        .store()?;
    if !exists {
        return Err(StoreError::NotFound);
    }
    conn.prepare_cached(
        "INSERT INTO app_mutes (member_id, client_id, muted_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (member_id, client_id) DO NOTHING",
    )
    .and_then(|mut insert| insert.execute(params![member.0, client_id, at.0]))
    .store()
    .map(drop)
}

pub(crate) fn unmute_app(
    conn: &Connection,
    member: MemberId,
    client_id: &str,
) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM app_mutes WHERE member_id = ?1 AND client_id = ?2")
        .and_then(|mut delete| delete.execute(params![member.0, client_id]))
        .store()?;
    Ok(deleted > 0)
}

pub(crate) fn muted_apps(conn: &Connection, member: MemberId) -> StoreResult<Vec<ViaApp>> {
    let mut select = conn
        .prepare_cached(
            "SELECT a.client_id, a.name FROM app_mutes m JOIN apps a ON a.client_id = m.client_id \
             WHERE m.member_id = ?1 ORDER BY a.name",
        )
        .store()?;
    let rows = select
        .query_map([member.0], |row| {
            Ok(ViaApp {
                client_id: row.get(0)?,
                name: row.get(1)?,
            })
        })
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn set_count_clicks(
    conn: &Connection,
    member: MemberId,
    count: bool,
) -> StoreResult<()> {
    conn.prepare_cached("UPDATE members SET count_clicks = ?2 WHERE id = ?1")
        .and_then(|mut update| update.execute(params![member.0, count]))
        .store()
        .map(drop)
}

pub(crate) fn count_clicks(conn: &Connection, member: MemberId) -> StoreResult<Option<bool>> {
    conn.prepare_cached("SELECT count_clicks FROM members WHERE id = ?1")
        .and_then(|mut select| {
            select
                .query_row([member.0], |row| row.get::<_, i64>(0).map(|n| n != 0))
                .optional()
        })
        .store()
}
