//! Released reports and the privacy ledger they form, on rusqlite.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{ResultExt, deployment};
use crate::sql::reports::{FROM_RELEASES, SELF_TEST};
use confidant_core::Timestamp;
use confidant_core::store::LEDGER_LOG;
use confidant_core::store::{
    BudgetLimit, DeliveryStatus, NewRelease, NewWebhook, ReleaseOutcome, ReleaseSummary,
    StoreResult, StoredRelease,
};

/// Read by [`summary_from_row`]; a release's body follows them where selected.
const SUMMARY_COLUMNS: &str = "r.id, r.client_id, r.first_day, r.days, r.mechanism, r.rho, \
     r.created_at, r.partner_visible, w.id, w.attempts, w.next_attempt_at, w.delivered_at, \
     w.last_error";

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<ReleaseSummary> {
    let webhook: Option<i64> = row.get(8)?;
    let delivery = match webhook {
        Some(_) => Some(DeliveryStatus {
            attempts: row
                .get::<_, Option<i64>>(9)?
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_default(),
            next_attempt_at: row.get::<_, Option<i64>>(10)?.map(Timestamp),
            delivered_at: row.get::<_, Option<i64>>(11)?.map(Timestamp),
            last_error: row.get(12)?,
        }),
        None => None,
    };
    Ok(ReleaseSummary {
        id: row.get(0)?,
        client_id: row.get(1)?,
        first_day: row.get(2)?,
        days: row.get(3)?,
        mechanism: row.get(4)?,
        rho: row.get(5)?,
        created_at: Timestamp(row.get(6)?),
        partner_visible: row.get::<_, i64>(7)? != 0,
        delivery,
    })
}

fn release_from_row(row: &Row<'_>) -> rusqlite::Result<StoredRelease> {
    Ok(StoredRelease {
        summary: summary_from_row(row)?,
        body: row.get(13)?,
    })
}

pub(crate) fn store_release(
    conn: &Connection,
    release: NewRelease,
    budget: BudgetLimit,
    webhook: Option<&NewWebhook>,
) -> StoreResult<ReleaseOutcome> {
    let earlier: Option<String> = conn
        .prepare_cached(
            "SELECT id FROM report_releases WHERE client_id = ?1 AND first_day = ?2 \
             AND days = ?3 AND mechanism = ?4",
        )
        .and_then(|mut select| {
            select
                .query_row(
                    params![
                        release.client_id,
                        release.first_day,
                        release.days,
                        release.mechanism
                    ],
                    |row| row.get(0),
                )
                .optional()
        })
        .store()?;
    if let Some(id) = earlier {
        if release.mechanism != SELF_TEST {
            let stored = self::release(conn, &id)?
                .ok_or_else(|| crate::sql::corrupt("report release", format!("{id} (vanished)")))?;
            return Ok(ReleaseOutcome::Existing(stored));
        }
        conn.prepare_cached("DELETE FROM report_releases WHERE id = ?1")
            .and_then(|mut delete| delete.execute([&id]))
            .store()?;
    }
    // The writer thread is the only writer: releases of one app take turns, so two can never
    // both fit in the budget that only one of them fits in.
    conn.prepare_cached(
        "INSERT INTO report_budgets (client_id, releases) VALUES (?1, 1) \
         ON CONFLICT (client_id) DO UPDATE SET releases = report_budgets.releases + 1",
    )
    .and_then(|mut upsert| upsert.execute([&release.client_id]))
    .store()?;
    let last_day = release.first_day + release.days - 1;
    let spent = privacy_spent(conn, &release.client_id, release.first_day, last_day)?;
    let exact = release.mechanism == SELF_TEST;
    if exact && release.partner_visible && spent > 0.0 {
        return Ok(ReleaseOutcome::WouldExposePrivate);
    }
    if release.rho > 0.0 {
        if spent + release.rho > budget.rho_per_data_day {
            return Ok(ReleaseOutcome::OverBudget { spent });
        }
        let mut charge = conn
            .prepare_cached(
                "INSERT INTO privacy_ledger (client_id, day, rho) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (client_id, day) DO UPDATE SET rho = privacy_ledger.rho + excluded.rho",
            )
            .store()?;
        for day in release.first_day..=last_day {
            charge
                .execute(params![release.client_id, day, release.rho])
                .store()?;
        }
    }
    super::tlog::append(conn, LEDGER_LOG, std::slice::from_ref(&release.ledger_leaf))?;
    let webhook_id = webhook
        .map(|webhook| deployment::enqueue_webhook(conn, webhook))
        .transpose()?;
    conn.prepare_cached(
        "INSERT INTO report_releases (id, client_id, first_day, days, mechanism, rho, \
         created_at, body, webhook_id, partner_visible) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            release.id,
            release.client_id,
            release.first_day,
            release.days,
            release.mechanism,
            release.rho,
            release.created_at.0,
            release.body,
            webhook_id,
            release.partner_visible
        ])
    })
    .store()?;
    let delivery = webhook.map(|_| DeliveryStatus {
        attempts: 0,
        next_attempt_at: Some(release.created_at),
        delivered_at: None,
        last_error: None,
    });
    Ok(ReleaseOutcome::Stored(StoredRelease {
        summary: ReleaseSummary {
            id: release.id,
            client_id: release.client_id,
            first_day: release.first_day,
            days: release.days,
            mechanism: release.mechanism,
            rho: release.rho,
            created_at: release.created_at,
            partner_visible: release.partner_visible,
            delivery,
        },
        body: release.body,
    }))
}

pub(crate) fn release_for_period(
    conn: &Connection,
    client_id: &str,
    first_day: i64,
    days: i64,
    mechanism: &str,
) -> StoreResult<Option<StoredRelease>> {
    conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS}, r.body {FROM_RELEASES} WHERE r.client_id = ?1 \
         AND r.first_day = ?2 AND r.days = ?3 AND r.mechanism = ?4"
    ))
    .and_then(|mut select| {
        select
            .query_row(
                params![client_id, first_day, days, mechanism],
                release_from_row,
            )
            .optional()
    })
    .store()
}

pub(crate) fn release(conn: &Connection, id: &str) -> StoreResult<Option<StoredRelease>> {
    conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS}, r.body {FROM_RELEASES} WHERE r.id = ?1"
    ))
    .and_then(|mut select| select.query_row([id], release_from_row).optional())
    .store()
}

pub(crate) fn releases(
    conn: &Connection,
    client_id: &str,
    limit: i64,
) -> StoreResult<Vec<ReleaseSummary>> {
    let mut select = conn
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} {FROM_RELEASES} WHERE r.client_id = ?1 \
             ORDER BY r.first_day DESC, r.days DESC, r.created_at DESC LIMIT ?2"
        ))
        .store()?;
    let rows = select
        .query_map(params![client_id, limit], summary_from_row)
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

pub(crate) fn privacy_spent(
    conn: &Connection,
    client_id: &str,
    first_day: i64,
    last_day: i64,
) -> StoreResult<f64> {
    conn.prepare_cached(
        "SELECT COALESCE(MAX(rho), 0.0) FROM privacy_ledger \
         WHERE client_id = ?1 AND day >= ?2 AND day <= ?3",
    )
    .and_then(|mut select| {
        select.query_row(params![client_id, first_day, last_day], |row| row.get(0))
    })
    .store()
}

pub(crate) fn private_releases(conn: &Connection) -> StoreResult<i64> {
    conn.prepare_cached("SELECT COUNT(*) FROM report_releases WHERE mechanism <> ?1")
        .and_then(|mut select| select.query_row([SELF_TEST], |row| row.get(0)))
        .store()
}
