//! Engagement counters on rusqlite: capped per-member contributions and the daily cells they
//! roll up to. A member adds at most the cap to a cell and touches at most `cells_per_day`
//! cells of an app per day: the bounds the privacy layer's noise is calibrated to.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::ResultExt;
use crate::sql::engagement::CELL_COLUMNS;
use confidant_core::store::{
    CapsInForce, CardTarget, Cell, CellCounts, Contribution, Counter, EngagementImport,
    EngagementPurge, ReportedEvent, StoreResult, day_of,
};
use confidant_core::{MemberId, MessageId, Timestamp};

/// A cell's six values, in the order of [`CELL_COLUMNS`], followed by `more`: bound as
/// `?1`–`?6`, then `?7`….
fn cell_params<'a>(cell: &'a Cell, more: &[&'a dyn ToSql]) -> Vec<&'a dyn ToSql> {
    let mut values: Vec<&dyn ToSql> = vec![
        &cell.client_id,
        &cell.day,
        &cell.interface,
        &cell.surface,
        &cell.variation,
        &cell.channel,
    ];
    values.extend_from_slice(more);
    values
}

/// The statements a contribution runs that name the cell's columns or the counter's, built
/// once per counter: every send and click runs them, and formatting them on every click was
/// about 2.5 % of its work on the writer.
struct CounterStatements {
    /// Adds one to the member's cell if it is under the cap (`?8`).
    bump: String,
    /// Opens the member's cell for the day.
    new_cell: String,
    /// Adds one to the cell's daily count.
    count_in_day: String,
}

impl CounterStatements {
    fn of(counter: Counter) -> &'static CounterStatements {
        static SENDS: LazyLock<CounterStatements> =
            LazyLock::new(|| CounterStatements::new(Counter::Sends));
        static CLICKS: LazyLock<CounterStatements> =
            LazyLock::new(|| CounterStatements::new(Counter::Clicks));
        match counter {
            Counter::Sends => &SENDS,
            Counter::Clicks => &CLICKS,
        }
    }

    fn new(counter: Counter) -> CounterStatements {
        let column = counter.column();
        CounterStatements {
            bump: format!(
                "UPDATE engagement_contributions SET {column} = {column} + 1 \
                 WHERE member_id = ?7 AND client_id = ?1 AND day = ?2 AND interface = ?3 \
                 AND surface = ?4 AND variation = ?5 AND channel = ?6 AND {column} < ?8"
            ),
            new_cell: format!(
                "INSERT INTO engagement_contributions (member_id, {CELL_COLUMNS}) \
                 VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"
            ),
            count_in_day: format!(
                "INSERT INTO engagement_daily ({CELL_COLUMNS}, {column}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1) ON CONFLICT ({CELL_COLUMNS}) \
                 DO UPDATE SET {column} = engagement_daily.{column} + 1"
            ),
        }
    }
}

/// Counts a contribution inside the caller's transaction, unless the member reached the cap
/// for this cell and day or, for a click, does not let their clicks be counted (read here,
/// so that a withdrawal that committed first always stops it). Returns whether it counted.
pub(crate) fn contribute(conn: &Connection, contribution: &Contribution) -> StoreResult<bool> {
    if contribution.counter == Counter::Clicks
        && super::partner::count_clicks(conn, contribution.member)? != Some(true)
    {
        return Ok(false);
    }
    let cell = &contribution.cell;
    let member = contribution.member.0;
    if !bump(conn, contribution)? {
        // Either the member's cell is full, or they have not touched it today.
        let new_cell = conn
            .prepare_cached(&CounterStatements::of(contribution.counter).new_cell)
            .and_then(|mut insert| insert.execute(&*cell_params(cell, &[&member])))
            .store()?
            == 1;
        if !new_cell {
            // The cell is full.
            return Ok(false);
        }
        // A cell the member had not touched today: it must fit in their cells for the day.
        let fits = conn
            .prepare_cached(
                "INSERT INTO engagement_member_days (member_id, client_id, day, cells) \
                 VALUES (?1, ?2, ?3, 1) ON CONFLICT (member_id, client_id, day) \
                 DO UPDATE SET cells = engagement_member_days.cells + 1 \
                 WHERE engagement_member_days.cells < ?4",
            )
            .and_then(|mut upsert| {
                upsert.execute(params![
                    member,
                    cell.client_id,
                    cell.day,
                    contribution.cells_per_day
                ])
            })
            .store()?
            == 1;
        if !fits {
            conn.prepare_cached(
                "DELETE FROM engagement_contributions WHERE member_id = ?7 \
                 AND client_id = ?1 AND day = ?2 AND interface = ?3 AND surface = ?4 \
                 AND variation = ?5 AND channel = ?6",
            )
            .and_then(|mut delete| delete.execute(&*cell_params(cell, &[&member])))
            .store()?;
            return Ok(false);
        }
        if !bump(conn, contribution)? {
            // A cap of zero counts nothing.
            return Ok(false);
        }
    }
    record_caps(
        conn,
        &cell.client_id,
        cell.day,
        CapsInForce {
            contribution_cap: contribution.cap,
            cells_per_day: contribution.cells_per_day,
        },
    )?;
    conn.prepare_cached(&CounterStatements::of(contribution.counter).count_in_day)
        .and_then(|mut upsert| upsert.execute(&*cell_params(cell, &[])))
        .store()?;
    Ok(true)
}

/// Adds one to the member's cell if it exists and is under the cap; whether it did.
fn bump(conn: &Connection, contribution: &Contribution) -> StoreResult<bool> {
    let bumped = conn
        .prepare_cached(&CounterStatements::of(contribution.counter).bump)
        .and_then(|mut update| {
            update.execute(&*cell_params(
                &contribution.cell,
                &[&contribution.member.0, &contribution.cap],
            ))
        })
        .store()?;
    Ok(bumped == 1)
}

/// Records `caps` as in force for the app's day, keeping the larger of each if the day has
/// caps already: a release must be calibrated to the largest bound any count was taken under.
fn record_caps(conn: &Connection, client_id: &str, day: i64, caps: CapsInForce) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO engagement_caps (client_id, day, contribution_cap, cells_per_day) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (client_id, day) DO UPDATE SET \
         contribution_cap = MAX(excluded.contribution_cap, engagement_caps.contribution_cap), \
         cells_per_day = MAX(excluded.cells_per_day, engagement_caps.cells_per_day) \
         WHERE excluded.contribution_cap > engagement_caps.contribution_cap \
         OR excluded.cells_per_day > engagement_caps.cells_per_day",
    )
    .and_then(|mut upsert| {
        upsert.execute(params![
            client_id,
            day,
            caps.contribution_cap,
            caps.cells_per_day
        ])
    })
    .store()
    .map(drop)
}

pub(crate) fn store_reported_events(
    conn: &Connection,
    events: &[ReportedEvent],
    received_at: Timestamp,
) -> StoreResult<u64> {
    let mut insert = conn
        .prepare_cached(&format!(
            "INSERT INTO partner_events ({CELL_COLUMNS}, idempotency_key, sends, clicks, \
             received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (client_id, idempotency_key) DO NOTHING"
        ))
        .store()?;
    let mut stored = 0;
    for event in events {
        let values = cell_params(
            &event.cell,
            &[
                &event.idempotency_key,
                &event.sends,
                &event.clicks,
                &received_at.0,
            ],
        );
        stored += insert.execute(&*values).store()? as u64;
    }
    Ok(stored)
}

pub(crate) fn import_engagement(
    conn: &Connection,
    import: &EngagementImport,
    received_at: Timestamp,
) -> StoreResult<()> {
    let mut daily: BTreeMap<&Cell, (i64, i64)> = BTreeMap::new();
    let mut member_days: BTreeMap<(i64, &str, i64), i64> = BTreeMap::new();
    let mut days: BTreeSet<(&str, i64)> = BTreeSet::new();
    for c in &import.contributions {
        let counts = daily.entry(&c.cell).or_default();
        counts.0 += c.sends;
        counts.1 += c.clicks;
        days.insert((c.cell.client_id.as_str(), c.cell.day));
    }
    if let Some(caps) = import.caps {
        for (client_id, day) in days {
            record_caps(conn, client_id, day, caps)?;
        }
    }
    // Who contributed is kept only while their day runs, to enforce the caps.
    let today = day_of(received_at);
    let mut contribute = conn
        .prepare_cached(&format!(
            "INSERT INTO engagement_contributions (member_id, {CELL_COLUMNS}, sends, clicks) \
             VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6, ?8, ?9)"
        ))
        .store()?;
    for c in import.contributions.iter().filter(|c| c.cell.day >= today) {
        *member_days
            .entry((c.member.0, c.cell.client_id.as_str(), c.cell.day))
            .or_default() += 1;
        contribute
            .execute(&*cell_params(&c.cell, &[&c.member.0, &c.sends, &c.clicks]))
            .store()?;
    }
    let mut member_day = conn
        .prepare_cached(
            "INSERT INTO engagement_member_days (member_id, client_id, day, cells) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (member_id, client_id, day) \
             DO UPDATE SET cells = engagement_member_days.cells + excluded.cells",
        )
        .store()?;
    for ((member, client_id, day), cells) in member_days {
        member_day
            .execute(params![member, client_id, day, cells])
            .store()?;
    }
    let mut count = conn
        .prepare_cached(&format!(
            "INSERT INTO engagement_daily ({CELL_COLUMNS}, sends, clicks) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT ({CELL_COLUMNS}) DO UPDATE SET \
             sends = engagement_daily.sends + excluded.sends, \
             clicks = engagement_daily.clicks + excluded.clicks"
        ))
        .store()?;
    for (cell, (sends, clicks)) in daily {
        count
            .execute(&*cell_params(cell, &[&sends, &clicks]))
            .store()?;
    }
    let mut report = conn
        .prepare_cached(&format!(
            "INSERT INTO partner_events ({CELL_COLUMNS}, idempotency_key, sends, clicks, \
             received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))
        .store()?;
    for event in &import.reported {
        let values = cell_params(
            &event.cell,
            &[
                &event.idempotency_key,
                &event.sends,
                &event.clicks,
                &received_at.0,
            ],
        );
        report.execute(&*values).store()?;
    }
    Ok(())
}

pub(crate) fn caps_in_force(
    conn: &Connection,
    client_id: &str,
    first_day: i64,
    last_day: i64,
) -> StoreResult<Option<CapsInForce>> {
    let (cap, cells): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT MAX(contribution_cap), MAX(cells_per_day) FROM engagement_caps \
             WHERE client_id = ?1 AND day >= ?2 AND day <= ?3",
        )
        .and_then(|mut select| {
            select.query_row(params![client_id, first_day, last_day], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
        })
        .store()?;
    let bound = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
    Ok(match (bound(cap), bound(cells)) {
        (Some(contribution_cap), Some(cells_per_day)) => Some(CapsInForce {
            contribution_cap,
            cells_per_day,
        }),
        _ => None,
    })
}

pub(crate) fn purge_engagement(
    conn: &Connection,
    today: i64,
    keep_from: i64,
) -> StoreResult<EngagementPurge> {
    let mut purge = EngagementPurge::default();
    let delete_before = |table: &str, day: i64| {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE day < ?1"))
            .and_then(|mut delete| delete.execute([day]))
            .store()
            .map(|deleted| deleted as u64)
    };
    for table in ["engagement_contributions", "engagement_member_days"] {
        purge.member_rows += delete_before(table, today)?;
    }
    for table in ["engagement_daily", "partner_events", "engagement_caps"] {
        purge.expired_rows += delete_before(table, keep_from)?;
    }
    Ok(purge)
}

pub(crate) fn reported_engagement(
    conn: &Connection,
    client_id: &str,
    first_day: i64,
    last_day: i64,
) -> StoreResult<Vec<CellCounts>> {
    cells(
        conn,
        &format!(
            "SELECT {CELL_COLUMNS}, SUM(sends), SUM(clicks) FROM partner_events \
             WHERE client_id = ?1 AND day >= ?2 AND day <= ?3 \
             GROUP BY {CELL_COLUMNS} ORDER BY day, interface, surface, variation, channel"
        ),
        client_id,
        first_day,
        last_day,
    )
}

pub(crate) fn engagement(
    conn: &Connection,
    client_id: &str,
    first_day: i64,
    last_day: i64,
) -> StoreResult<Vec<CellCounts>> {
    cells(
        conn,
        &format!(
            "SELECT {CELL_COLUMNS}, sends, clicks FROM engagement_daily \
             WHERE client_id = ?1 AND day >= ?2 AND day <= ?3 \
             ORDER BY day, interface, surface, variation, channel"
        ),
        client_id,
        first_day,
        last_day,
    )
}

/// Runs a query selecting a cell's columns and two counts, over one app and a day range.
fn cells(
    conn: &Connection,
    sql: &str,
    client_id: &str,
    first_day: i64,
    last_day: i64,
) -> StoreResult<Vec<CellCounts>> {
    let mut select = conn.prepare_cached(sql).store()?;
    let rows = select
        .query_map(params![client_id, first_day, last_day], cell_counts)
        .store()?;
    rows.collect::<Result<_, _>>().store()
}

fn cell_counts(row: &Row<'_>) -> rusqlite::Result<CellCounts> {
    Ok(CellCounts {
        cell: Cell {
            client_id: row.get(0)?,
            day: row.get(1)?,
            interface: row.get(2)?,
            surface: row.get(3)?,
            variation: row.get(4)?,
            channel: row.get(5)?,
        },
        sends: row.get(6)?,
        clicks: row.get(7)?,
    })
}

pub(crate) fn card_target(conn: &Connection, token: &str) -> StoreResult<Option<CardTarget>> {
    conn.prepare_cached(
        "SELECT rc.url, m.id, m.via_app, rc.surface, rc.variation, m.sender_id, \
         (SELECT cm.member_id FROM conversation_members cm \
          WHERE cm.conversation_id = m.conversation_id \
          AND cm.member_id <> m.sender_id LIMIT 1), rc.image_url \
         FROM recommendation_cards rc JOIN messages m ON m.id = rc.message_id \
         WHERE rc.token = ?1 AND m.via_app IS NOT NULL",
    )
    .and_then(|mut select| {
        select
            .query_row([token], |row| {
                Ok(CardTarget {
                    url: row.get(0)?,
                    image_url: row.get(7)?,
                    message_id: MessageId(row.get(1)?),
                    client_id: row.get(2)?,
                    surface: row.get(3)?,
                    variation: row.get(4)?,
                    sender: row.get::<_, Option<i64>>(5)?.map(MemberId),
                    recipient: row.get::<_, Option<i64>>(6)?.map(MemberId),
                })
            })
            .optional()
    })
    .store()
}
