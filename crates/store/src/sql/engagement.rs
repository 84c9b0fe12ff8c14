//! Engagement counters: capped per-member contributions and the daily cells they roll up to.
//! A member adds at most the cap to a cell and touches at most `cells_per_day` cells of an
//! app per day: the bounds the privacy layer's noise is calibrated to.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::engagement`); the SQL here
//! serves PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use sqlx::PgConnection;

use super::partner::counts_clicks_in;
use super::{ResultExt, SqlStore};
use crate::sqlite::engagement as sqlite;
use confidant_core::store::day_of;
use confidant_core::store::{
    CapsInForce, CardTarget, Cell, CellCounts, Contribution, Counter, EngagementImport,
    EngagementPurge, EngagementStore, ReportedEvent, StoreResult,
};
use confidant_core::{MemberId, MessageId, Timestamp};

pub(crate) const CELL_COLUMNS: &str = "client_id, day, interface, surface, variation, channel";

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds a cell's six values next, in the order of [`CELL_COLUMNS`] (as `$1`–`$6` when
/// they come first).
fn with_cell<'q>(query: PgQuery<'q>, cell: &'q Cell) -> PgQuery<'q> {
    query
        .bind(&cell.client_id)
        .bind(cell.day)
        .bind(&cell.interface)
        .bind(&cell.surface)
        .bind(&cell.variation)
        .bind(&cell.channel)
}

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` values: numbered placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let values: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts a contribution inside the caller's transaction, unless the member reached the cap
/// for this cell and day or, for a click, does not let their clicks be counted (read here,
/// so that a withdrawal that committed first always stops it). Returns whether it counted.
///
/// The common case, a member's cell that already exists and is under its cap, takes two
/// statements: the bump and the daily cell (and the consent, for a click).
pub(crate) async fn contribute_in(
    conn: &mut PgConnection,
    contribution: &Contribution,
) -> StoreResult<bool> {
    if contribution.counter == Counter::Clicks
        && counts_clicks_in(conn, contribution.member).await? != Some(true)
    {
        return Ok(false);
    }
    let cell = &contribution.cell;
    if !bump(conn, contribution).await? {
        // Either the member's cell is full, or they have not touched it today.
        let insert_contribution = format!(
            "INSERT INTO engagement_contributions (member_id, {CELL_COLUMNS}) \
             VALUES ($7, $1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
        );
        let new_cell = with_cell(sqlx::query(&insert_contribution), cell)
            .bind(contribution.member.0)
            .execute(&mut *conn)
            .await
            .store()?
            .rows_affected()
            == 1;
        if !new_cell {
            // The cell is full, or a concurrent transaction has just made it: try once more.
            return if bump(conn, contribution).await? {
                count_daily(conn, contribution).await
            } else {
                Ok(false)
            };
        }
        // A cell the member had not touched today: it must fit in their cells for the day.
        // The conditional upsert holds the member's day row, so concurrent contributions
        // count one after the other.
        let fits = sqlx::query(
            "INSERT INTO engagement_member_days (member_id, client_id, day, cells) \
             VALUES ($1, $2, $3, 1) ON CONFLICT (member_id, client_id, day) \
             DO UPDATE SET cells = engagement_member_days.cells + 1 \
             WHERE engagement_member_days.cells < $4",
        )
        .bind(contribution.member.0)
        .bind(&cell.client_id)
        .bind(cell.day)
        .bind(i64::from(contribution.cells_per_day))
        .execute(&mut *conn)
        .await
        .store()?
        .rows_affected()
            == 1;
        if !fits {
            let forget = "DELETE FROM engagement_contributions WHERE member_id = $7 \
                 AND client_id = $1 AND day = $2 AND interface = $3 AND surface = $4 \
                 AND variation = $5 AND channel = $6";
            with_cell(sqlx::query(forget), cell)
                .bind(contribution.member.0)
                .execute(&mut *conn)
                .await
                .store()?;
            return Ok(false);
        }
        if !bump(conn, contribution).await? {
            // A cap of zero counts nothing.
            return Ok(false);
        }
    }
    count_daily(conn, contribution).await
}

/// Adds one to the app's daily cell, the sum of every member's capped contributions, and
/// records the caps it was counted under.
async fn count_daily(conn: &mut PgConnection, contribution: &Contribution) -> StoreResult<bool> {
    record_caps(
        conn,
        &contribution.cell.client_id,
        contribution.cell.day,
        CapsInForce {
            contribution_cap: contribution.cap,
            cells_per_day: contribution.cells_per_day,
        },
    )
    .await?;
    let column = contribution.counter.column();
    let count = format!(
        "INSERT INTO engagement_daily ({CELL_COLUMNS}, {column}) \
         VALUES ($1, $2, $3, $4, $5, $6, 1) \
         ON CONFLICT ({CELL_COLUMNS}) DO UPDATE SET {column} = engagement_daily.{column} + 1"
    );
    with_cell(sqlx::query(&count), &contribution.cell)
        .execute(&mut *conn)
        .await
        .store()?;
    Ok(true)
}

/// Records `caps` as in force for the app's day, keeping the larger of each if the day has
/// caps already: a release must be calibrated to the largest bound any count was taken under.
async fn record_caps(
    conn: &mut PgConnection,
    client_id: &str,
    day: i64,
    caps: CapsInForce,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO engagement_caps (client_id, day, contribution_cap, cells_per_day) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, day) DO UPDATE SET \
         contribution_cap = CASE WHEN excluded.contribution_cap > engagement_caps.contribution_cap \
         THEN excluded.contribution_cap ELSE engagement_caps.contribution_cap END, \
         cells_per_day = CASE WHEN excluded.cells_per_day > engagement_caps.cells_per_day \
         THEN excluded.cells_per_day ELSE engagement_caps.cells_per_day END \
         WHERE excluded.contribution_cap > engagement_caps.contribution_cap \
         OR excluded.cells_per_day > engagement_caps.cells_per_day",
    )
    .bind(client_id)
    .bind(day)
    .bind(i64::from(caps.contribution_cap))
    .bind(i64::from(caps.cells_per_day))
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(())
}

/// Adds one to the member's cell if it exists and is under the cap; whether it did.
async fn bump(conn: &mut PgConnection, contribution: &Contribution) -> StoreResult<bool> {
    let column = contribution.counter.column();
    let bump = format!(
        "UPDATE engagement_contributions SET {column} = {column} + 1 \
         WHERE member_id = $7 AND client_id = $1 AND day = $2 AND interface = $3 \
         AND surface = $4 AND variation = $5 AND channel = $6 AND {column} < $8"
    );
    let done = with_cell(sqlx::query(&bump), &contribution.cell)
        .bind(contribution.member.0)
        .bind(i64::from(contribution.cap))
        .execute(&mut *conn)
        .await
        .store()?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl EngagementStore for SqlStore {
    async fn store_reported_events(
        &self,
        events: &[ReportedEvent],
        received_at: Timestamp,
    ) -> StoreResult<u64> {
        let events = events.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::store_reported_events(conn, &events, received_at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let mut stored = 0;
                    for event in events {
                        let sql = format!(
                            "INSERT INTO partner_events ({CELL_COLUMNS}, idempotency_key, sends, \
                             clicks, \
                             received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                             ON CONFLICT (client_id, idempotency_key) DO NOTHING"
                        );
                        stored += with_cell(sqlx::query(&sql), &event.cell)
                            .bind(&event.idempotency_key)
                            .bind(event.sends)
                            .bind(event.clicks)
                            .bind(received_at.0)
                            .execute(&mut *tx)
                            .await
                            .store()?
                            .rows_affected();
                    }
                    Ok(stored)
                })
            })
            .await
    }

    async fn card_target(&self, token: &str) -> StoreResult<Option<CardTarget>> {
        let caches = &self.caches;
        let load = self.load_card_target(token);
        caches
            .get(self, &caches.cards, token.to_owned(), load)
            .await
    }

    async fn contribute(&self, contribution: &Contribution) -> StoreResult<bool> {
        let contribution = contribution.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::contribute(conn, &contribution))
                .await;
        }
        self.pg()
            .write(move |tx| Box::pin(async move { contribute_in(tx, &contribution).await }))
            .await
    }

    async fn import_engagement(
        &self,
        import: &EngagementImport,
        received_at: Timestamp,
    ) -> StoreResult<()> {
        let import = import.to_owned();
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::import_engagement(conn, &import, received_at))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    // Rows per statement: well under PostgreSQL's bound-parameter limit.
                    const ROWS: usize = 1000;
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
                            record_caps(tx, client_id, day, caps).await?;
                        }
                    }
                    // Who contributed is kept only while their day runs, to enforce the caps.
                    let today = day_of(received_at);
                    let running: Vec<_> = import
                        .contributions
                        .iter()
                        .filter(|c| c.cell.day >= today)
                        .collect();
                    for c in &running {
                        *member_days
                            .entry((c.member.0, c.cell.client_id.as_str(), c.cell.day))
                            .or_default() += 1;
                    }
                    for chunk in running.chunks(ROWS) {
                        let sql = format!(
                            "INSERT INTO engagement_contributions (member_id, {CELL_COLUMNS}, \
                             sends, clicks) \
                             VALUES {}",
                            placeholders(chunk.len(), 9)
                        );
                        let mut insert = sqlx::query(&sql);
                        for c in chunk {
                            insert = with_cell(insert.bind(c.member.0), &c.cell)
                                .bind(c.sends)
                                .bind(c.clicks);
                        }
                        insert.execute(&mut *tx).await.store()?;
                    }
                    let member_days: Vec<_> = member_days.into_iter().collect();
                    for chunk in member_days.chunks(ROWS) {
                        let sql = format!(
                            "INSERT INTO engagement_member_days (member_id, client_id, day, \
                             cells) VALUES {} \
                             ON CONFLICT (member_id, client_id, day) \
                             DO UPDATE SET cells = engagement_member_days.cells + excluded.cells",
                            placeholders(chunk.len(), 4)
                        );
                        let mut insert = sqlx::query(&sql);
                        for ((member, client_id, day), cells) in chunk {
                            insert = insert
                                .bind(*member)
                                .bind(*client_id)
                                .bind(*day)
                                .bind(*cells);
                        }
                        insert.execute(&mut *tx).await.store()?;
                    }
                    let daily: Vec<_> = daily.into_iter().collect();
                    for chunk in daily.chunks(ROWS) {
                        let sql = format!(
                            "INSERT INTO engagement_daily ({CELL_COLUMNS}, sends, clicks) VALUES \
                             {} \
                             ON CONFLICT ({CELL_COLUMNS}) DO UPDATE SET \
                             sends = engagement_daily.sends + excluded.sends, \
                             clicks = engagement_daily.clicks + excluded.clicks",
                            placeholders(chunk.len(), 8)
                        );
                        let mut upsert = sqlx::query(&sql);
                        for (cell, (sends, clicks)) in chunk {
                            upsert = with_cell(upsert, cell).bind(*sends).bind(*clicks);
                        }
                        upsert.execute(&mut *tx).await.store()?;
                    }
                    for chunk in import.reported.chunks(ROWS) {
                        let sql = format!(
                            "INSERT INTO partner_events ({CELL_COLUMNS}, idempotency_key, sends, \
                             clicks, \
                             received_at) VALUES {}",
                            placeholders(chunk.len(), 10)
                        );
                        let mut insert = sqlx::query(&sql);
                        for event in chunk {
                            insert = with_cell(insert, &event.cell)
                                .bind(&event.idempotency_key)
                                .bind(event.sends)
                                .bind(event.clicks)
                                .bind(received_at.0);
                        }
                        insert.execute(&mut *tx).await.store()?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn caps_in_force(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<Option<CapsInForce>> {
        if let Some(db) = &self.sqlite {
            let client_id = client_id.to_owned();
            return db
                .read(move |conn| sqlite::caps_in_force(conn, &client_id, first_day, last_day))
                .await;
        }
        let row: (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT MAX(contribution_cap), MAX(cells_per_day) FROM engagement_caps \
             WHERE client_id = $1 AND day >= $2 AND day <= $3",
        )
        .bind(client_id)
        .bind(first_day)
        .bind(last_day)
        .fetch_one(&self.pg().pool)
        .await
        .store()?;
        let bound = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
        Ok(match (bound(row.0), bound(row.1)) {
            (Some(contribution_cap), Some(cells_per_day)) => Some(CapsInForce {
                contribution_cap,
                cells_per_day,
            }),
            _ => None,
        })
    }

    async fn purge_engagement(&self, today: i64, keep_from: i64) -> StoreResult<EngagementPurge> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::purge_engagement(conn, today, keep_from))
                .await;
        }
        self.pg()
            .write(move |tx| {
                Box::pin(async move {
                    let mut purge = EngagementPurge::default();
                    for table in ["engagement_contributions", "engagement_member_days"] {
                        purge.member_rows +=
                            sqlx::query(&format!("DELETE FROM {table} WHERE day < $1"))
                                .bind(today)
                                .execute(&mut *tx)
                                .await
                                .store()?
                                .rows_affected();
                    }
                    for table in ["engagement_daily", "partner_events", "engagement_caps"] {
                        purge.expired_rows +=
                            sqlx::query(&format!("DELETE FROM {table} WHERE day < $1"))
                                .bind(keep_from)
                                .execute(&mut *tx)
                                .await
                                .store()?
                                .rows_affected();
                    }
                    Ok(purge)
                })
            })
            .await
    }

    async fn reported_engagement(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<Vec<CellCounts>> {
        if let Some(db) = &self.sqlite {
            let client_id = client_id.to_owned();
            return db
                .read(move |conn| {
                    sqlite::reported_engagement(conn, &client_id, first_day, last_day)
                })
                .await;
        }
        self.cells(
            &format!(
                "SELECT {CELL_COLUMNS}, CAST(SUM(sends) AS BIGINT) AS sends, CAST(SUM(clicks) AS \
                 BIGINT) AS clicks FROM partner_events \
                 WHERE client_id = $1 AND day >= $2 AND day <= $3 \
                 GROUP BY {CELL_COLUMNS} ORDER BY day, interface, surface, variation, channel"
            ),
            client_id,
            first_day,
            last_day,
        )
        .await
    }

    async fn engagement(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<Vec<CellCounts>> {
        if let Some(db) = &self.sqlite {
            let client_id = client_id.to_owned();
            return db
                .read(move |conn| sqlite::engagement(conn, &client_id, first_day, last_day))
                .await;
        }
        self.cells(
            &format!(
                "SELECT {CELL_COLUMNS}, sends, clicks FROM engagement_daily \
                 WHERE client_id = $1 AND day >= $2 AND day <= $3 \
                 ORDER BY day, interface, surface, variation, channel"
            ),
            client_id,
            first_day,
            last_day,
        )
        .await
    }
}

/// A tracked link's URL, message, app, surface, variation, sender and recipient.
type CardRow = (
    String,
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

impl SqlStore {
    async fn load_card_target(&self, token: &str) -> StoreResult<Option<CardTarget>> {
        if let Some(db) = &self.sqlite {
            let token = token.to_owned();
            return db.read(move |conn| sqlite::card_target(conn, &token)).await;
        }
        let row: Option<CardRow> = sqlx::query_as(
            "SELECT rc.url, m.id, m.via_app, rc.surface, rc.variation, m.sender_id, \
                 (SELECT cm.member_id FROM conversation_members cm \
                  WHERE cm.conversation_id = m.conversation_id \
                  AND cm.member_id <> m.sender_id LIMIT 1), rc.image_url \
                 FROM recommendation_cards rc JOIN messages m ON m.id = rc.message_id \
                 WHERE rc.token = $1 AND m.via_app IS NOT NULL",
        )
        .bind(token)
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        Ok(row.map(
            |(url, message, client_id, surface, variation, sender, recipient, image_url)| {
                CardTarget {
                    url,
                    image_url,
                    message_id: MessageId(message),
                    client_id,
                    surface,
                    variation,
                    sender: sender.map(MemberId),
                    recipient: recipient.map(MemberId),
                }
            },
        ))
    }

    /// Runs a query selecting a cell's columns and two counts, over one app and a day range.
    async fn cells(
        &self,
        sql: &str,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<Vec<CellCounts>> {
        let rows: Vec<CellRow> = sqlx::query_as(sql)
            .bind(client_id)
            .bind(first_day)
            .bind(last_day)
            .fetch_all(&self.pg().pool)
            .await
            .store()?;
        Ok(rows.into_iter().map(CellCounts::from).collect())
    }
}

/// A cell and its two counts, as the count queries select them (in [`CELL_COLUMNS`] order).
#[derive(sqlx::FromRow)]
struct CellRow {
    client_id: String,
    day: i64,
    interface: String,
    surface: String,
    variation: String,
    channel: String,
    sends: i64,
    clicks: i64,
}

impl From<CellRow> for CellCounts {
    fn from(row: CellRow) -> Self {
        CellCounts {
            cell: Cell {
                client_id: row.client_id,
                day: row.day,
                interface: row.interface,
                surface: row.surface,
                variation: row.variation,
                channel: row.channel,
            },
            sends: row.sends,
            clicks: row.clicks,
        }
    }
}
