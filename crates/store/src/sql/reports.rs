//! Released reports and the privacy ledger they form.
//!
//! On SQLite every method runs on rusqlite (`crate::sqlite::reports`); the SQL here serves
//! PostgreSQL.

use async_trait::async_trait;
use sqlx::PgConnection;

use super::{ResultExt, SqlStore, webhooks};
use crate::sqlite::reports as sqlite;
use confidant_core::Timestamp;
use confidant_core::store::LEDGER_LOG;
use confidant_core::store::{
    BudgetLimit, DeliveryStatus, NewRelease, NewWebhook, ReleaseOutcome, ReleaseSummary,
    ReportStore, StoreResult, StoredRelease,
};

/// The mechanism whose releases spend nothing and are redone rather than served again.
pub(crate) const SELF_TEST: &str = "self_test";

const SUMMARY_COLUMNS: &str = "r.id, r.client_id, r.first_day, r.days, r.mechanism, r.rho, \
     r.created_at, r.partner_visible, w.id AS webhook, w.attempts, w.next_attempt_at, w.delivered_at, w.last_error";
pub(crate) const FROM_RELEASES: &str =
    "FROM report_releases r LEFT JOIN webhook_deliveries w ON w.id = r.webhook_id";

/// What the release transaction did: decided, or found the release already made.
enum Written {
    Outcome(ReleaseOutcome),
    Existing(String),
}

#[async_trait]
impl ReportStore for SqlStore {
    async fn store_release(
        &self,
        release: NewRelease,
        budget: BudgetLimit,
        webhook: Option<NewWebhook>,
    ) -> StoreResult<ReleaseOutcome> {
        if let Some(db) = &self.sqlite {
            return db
                .write(move |conn| sqlite::store_release(conn, release, budget, webhook.as_ref()))
                .await;
        }
        let written = self
            .pg()
            .write(move |tx| {
                Box::pin(async move {
                    // Holds the app's budget row until commit: releases of one app take turns, so
                    // two can never both fit in the budget that only one of them fits in.
                    sqlx::query(
                        "INSERT INTO report_budgets (client_id, releases) VALUES ($1, 1) \
                     ON CONFLICT (client_id) DO UPDATE SET releases = report_budgets.releases + 1",
                    )
                    .bind(&release.client_id)
                    .execute(&mut *tx)
                    .await
                    .store()?;
                    let earlier: Option<(String,)> = sqlx::query_as(
                        "SELECT id FROM report_releases WHERE client_id = $1 AND first_day = $2 \
                     AND days = $3 AND mechanism = $4",
                    )
                    .bind(&release.client_id)
                    .bind(release.first_day)
                    .bind(release.days)
                    .bind(&release.mechanism)
                    .fetch_optional(&mut *tx)
                    .await
                    .store()?;
                    if let Some((id,)) = earlier {
                        if release.mechanism != SELF_TEST {
                            return Ok(Written::Existing(id));
                        }
                        sqlx::query("DELETE FROM report_releases WHERE id = $1")
                            .bind(&id)
                            .execute(&mut *tx)
                            .await
                            .store()?;
                    }
                    let last_day = release.first_day + release.days - 1;
                    let (spent,): (f64,) = sqlx::query_as(
                        "SELECT COALESCE(MAX(rho), 0.0) FROM privacy_ledger \
                         WHERE client_id = $1 AND day >= $2 AND day <= $3",
                    )
                    .bind(&release.client_id)
                    .bind(release.first_day)
                    .bind(last_day)
                    .fetch_one(&mut *tx)
                    .await
                    .store()?;
                    let exact = release.mechanism == SELF_TEST;
                    if exact && release.partner_visible && spent > 0.0 {
                        return Ok(Written::Outcome(ReleaseOutcome::WouldExposePrivate));
                    }
                    if release.rho > 0.0 {
                        if spent + release.rho > budget.rho_per_data_day {
                            return Ok(Written::Outcome(ReleaseOutcome::OverBudget { spent }));
                        }
                        charge_days(
                            tx,
                            &release.client_id,
                            release.first_day,
                            last_day,
                            release.rho,
                        )
                        .await?;
                    }
                    super::tlog::append(tx, LEDGER_LOG, std::slice::from_ref(&release.ledger_leaf))
                        .await?;
                    let webhook_id = match &webhook {
                        Some(webhook) => Some(webhooks::enqueue(tx, webhook).await?),
                        None => None,
                    };
                    sqlx::query(
                    "INSERT INTO report_releases (id, client_id, first_day, days, mechanism, rho, \
                     created_at, body, webhook_id, partner_visible) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&release.id)
                .bind(&release.client_id)
                .bind(release.first_day)
                .bind(release.days)
                .bind(&release.mechanism)
                .bind(release.rho)
                .bind(release.created_at.0)
                .bind(&release.body)
                .bind(webhook_id)
                .bind(i64::from(release.partner_visible))
                .execute(&mut *tx)
                .await
                .store()?;
                    let delivery = webhook.map(|_| DeliveryStatus {
                        attempts: 0,
                        next_attempt_at: Some(release.created_at),
                        delivered_at: None,
                        last_error: None,
                    });
                    Ok(Written::Outcome(ReleaseOutcome::Stored(StoredRelease {
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
                    })))
                })
            })
            .await?;
        match written {
            Written::Outcome(outcome) => Ok(outcome),
            Written::Existing(id) => {
                let stored = self
                    .release(&id)
                    .await?
                    .ok_or_else(|| super::corrupt("report release", format!("{id} (vanished)")))?;
                Ok(ReleaseOutcome::Existing(stored))
            }
        }
    }

    async fn release_for_period(
        &self,
        client_id: &str,
        first_day: i64,
        days: i64,
        mechanism: &str,
    ) -> StoreResult<Option<StoredRelease>> {
        if let Some(db) = &self.sqlite {
            let (client_id, mechanism) = (client_id.to_owned(), mechanism.to_owned());
            return db
                .read(move |conn| {
                    sqlite::release_for_period(conn, &client_id, first_day, days, &mechanism)
                })
                .await;
        }
        let row: Option<ReleaseRow> = sqlx::query_as(&format!(
            "SELECT {SUMMARY_COLUMNS}, r.body {FROM_RELEASES} WHERE r.client_id = $1 \
             AND r.first_day = $2 AND r.days = $3 AND r.mechanism = $4"
        ))
        .bind(client_id)
        .bind(first_day)
        .bind(days)
        .bind(mechanism)
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        Ok(row.map(StoredRelease::from))
    }

    async fn release(&self, id: &str) -> StoreResult<Option<StoredRelease>> {
        if let Some(db) = &self.sqlite {
            let id = id.to_owned();
            return db.read(move |conn| sqlite::release(conn, &id)).await;
        }
        let row: Option<ReleaseRow> = sqlx::query_as(&format!(
            "SELECT {SUMMARY_COLUMNS}, r.body {FROM_RELEASES} WHERE r.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pg().pool)
        .await
        .store()?;
        Ok(row.map(StoredRelease::from))
    }

    async fn releases(&self, client_id: &str, limit: i64) -> StoreResult<Vec<ReleaseSummary>> {
        if let Some(db) = &self.sqlite {
            let client_id = client_id.to_owned();
            return db
                .read(move |conn| sqlite::releases(conn, &client_id, limit))
                .await;
        }
        let rows: Vec<SummaryRow> = sqlx::query_as(&format!(
            "SELECT {SUMMARY_COLUMNS} {FROM_RELEASES} WHERE r.client_id = $1 \
             ORDER BY r.first_day DESC, r.days DESC, r.created_at DESC LIMIT $2"
        ))
        .bind(client_id)
        .bind(limit)
        .fetch_all(&self.pg().pool)
        .await
        .store()?;
        Ok(rows.into_iter().map(ReleaseSummary::from).collect())
    }

    async fn privacy_spent(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<f64> {
        if let Some(db) = &self.sqlite {
            let client_id = client_id.to_owned();
            return db
                .read(move |conn| sqlite::privacy_spent(conn, &client_id, first_day, last_day))
                .await;
        }
        let (spent,): (f64,) = sqlx::query_as(
            "SELECT COALESCE(MAX(rho), 0.0) FROM privacy_ledger \
             WHERE client_id = $1 AND day >= $2 AND day <= $3",
        )
        .bind(client_id)
        .bind(first_day)
        .bind(last_day)
        .fetch_one(&self.pg().pool)
        .await
        .store()?;
        Ok(spent)
    }

    async fn private_releases(&self) -> StoreResult<i64> {
        if let Some(db) = &self.sqlite {
            return db.read(sqlite::private_releases).await;
        }
        sqlx::query_scalar("SELECT COUNT(*) FROM report_releases WHERE mechanism <> $1")
            .bind(SELF_TEST)
            .fetch_one(&self.pg().pool)
            .await
            .store()
    }
}

/// Adds `rho` to the ledger of every day from `first_day` to `last_day`, in one statement.
async fn charge_days(
    conn: &mut PgConnection,
    client_id: &str,
    first_day: i64,
    last_day: i64,
    rho: f64,
) -> StoreResult<()> {
    sqlx::query(
        "WITH RECURSIVE covered(day) AS (SELECT CAST($2 AS BIGINT) UNION ALL \
         SELECT day + 1 FROM covered WHERE day < $3) \
         INSERT INTO privacy_ledger (client_id, day, rho) SELECT $1, day, $4 FROM covered \
         WHERE true ON CONFLICT (client_id, day) DO UPDATE SET rho = privacy_ledger.rho + excluded.rho",
    )
    .bind(client_id)
    .bind(first_day)
    .bind(last_day)
    .bind(rho)
    .execute(&mut *conn)
    .await
    .store()?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    client_id: String,
    first_day: i64,
    days: i64,
    mechanism: String,
    rho: f64,
    created_at: i64,
    partner_visible: i64,
    webhook: Option<i64>,
    attempts: Option<i64>,
    next_attempt_at: Option<i64>,
    delivered_at: Option<i64>,
    last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ReleaseRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    body: String,
}

impl From<SummaryRow> for ReleaseSummary {
    fn from(row: SummaryRow) -> Self {
        let delivery = row.webhook.map(|_| DeliveryStatus {
            attempts: row
                .attempts
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_default(),
            next_attempt_at: row.next_attempt_at.map(Timestamp),
            delivered_at: row.delivered_at.map(Timestamp),
            last_error: row.last_error,
        });
        ReleaseSummary {
            id: row.id,
            client_id: row.client_id,
            first_day: row.first_day,
            days: row.days,
            mechanism: row.mechanism,
            rho: row.rho,
            created_at: Timestamp(row.created_at),
            partner_visible: row.partner_visible != 0,
            delivery,
        }
    }
}

impl From<ReleaseRow> for StoredRelease {
    fn from(row: ReleaseRow) -> Self {
        StoredRelease {
            summary: row.summary.into(),
            body: row.body,
        }
    }
}
