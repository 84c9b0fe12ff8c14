//! Engagement counters behind partner reports: daily counts per report cell, and each
//! member's contribution to each cell, capped, so no member can move a cell by more than the
//! cap however much they send or click.

use async_trait::async_trait;

use super::StoreResult;
use crate::{MemberId, MessageId, Timestamp};

/// The channel of sends and clicks Confidant measures itself.
pub const CHANNEL_CONFIDANT: &str = "confidant";

/// Days since 1970-01-01 (UTC).
pub fn day_of(at: Timestamp) -> i64 {
    at.0.div_euclid(86_400_000)
}

/// One cell of an app's report domain, on one day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub client_id: String,
    pub day: i64,
    pub interface: String,
    pub surface: String,
    pub variation: String,
    pub channel: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Sends,
    Clicks,
}

impl Counter {
    pub fn column(self) -> &'static str {
        match self {
            Counter::Sends => "sends",
            Counter::Clicks => "clicks",
        }
    }
}

/// One send or click by one member, counted unless the member already reached `cap` for
/// this cell and day, or would add to more than `cells_per_day` cells of the app that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub member: MemberId,
    pub cell: Cell,
    pub counter: Counter,
    pub cap: u32,
    pub cells_per_day: u32,
}

/// What a tracked link leads to, and whose conversation it was sent into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardTarget {
    pub url: String,
    /// The image the card shows, served through the image proxy.
    pub image_url: Option<String>,
    pub message_id: MessageId,
    pub client_id: String,
    pub surface: String,
    pub variation: String,
    pub sender: Option<MemberId>,
    pub recipient: Option<MemberId>,
}

/// A cell's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellCounts {
    pub cell: Cell,
    pub sends: i64,
    pub clicks: i64,
}

/// A count a partner reports for one cell, under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedEvent {
    pub cell: Cell,
    pub sends: i64,
    pub clicks: i64,
    pub idempotency_key: String,
}

/// A member's counts in one cell and day, already capped, for bulk imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedContribution {
    pub member: MemberId,
    pub cell: Cell,
    pub sends: i64,
    pub clicks: i64,
}

/// Engagement made elsewhere (demo data, a migration), loaded as the live paths would have
/// left it. The importer applies the caps; the store checks nothing but the keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngagementImport {
    pub contributions: Vec<ImportedContribution>,
    pub reported: Vec<ReportedEvent>,
    /// The caps the importer applied, recorded for every day it adds counts to.
    pub caps: Option<CapsInForce>,
}

/// The contribution bounds that were in force: what a release must calibrate its noise to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapsInForce {
    pub contribution_cap: u32,
    pub cells_per_day: u32,
}

/// What a purge of engagement data removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngagementPurge {
    /// Per-member rows (contributions and cells touched) of days that are over.
    pub member_rows: u64,
    /// Daily cells, partner-reported counts and recorded caps past retention.
    pub expired_rows: u64,
}

#[async_trait]
pub trait EngagementStore: Send + Sync {
    /// Stores the batch in one transaction, skipping keys seen before; returns how many were
    /// new.
    async fn store_reported_events(
        &self,
        events: &[ReportedEvent],
        received_at: Timestamp,
    ) -> StoreResult<u64>;
    async fn card_target(&self, token: &str) -> StoreResult<Option<CardTarget>>;
    /// Counts the contribution in its own transaction; returns whether it counted (the
    /// member was under the cap and, for a click, lets their clicks be counted: checked in
    /// that transaction). Records the contribution's caps as in force for its app and day
    /// (the largest, if they changed during the day).
    async fn contribute(&self, contribution: &Contribution) -> StoreResult<bool>;
    /// What the app reported itself, summed per cell, from `first_day` to `last_day`.
    async fn reported_engagement(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<Vec<CellCounts>>;
    /// Adds the import in one transaction: the daily cells the contributions sum to, the
    /// caps they were taken under, the reported counts, and — for days not yet over at
    /// `received_at` — the contributions and each member's cells per day. Fails, changing nothing, if a
    /// contribution's member, cell and day already has counts.
    async fn import_engagement(
        &self,
        import: &EngagementImport,
        received_at: Timestamp,
    ) -> StoreResult<()>;
    /// The largest caps recorded for the app's days from `first_day` to `last_day`;
    /// `None` if nothing was counted then.
    async fn caps_in_force(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<Option<CapsInForce>>;
    /// Deletes every per-member row of days before `today` — they exist only to enforce
    /// the caps while a day runs — and all engagement data of days before `keep_from`.
    async fn purge_engagement(&self, today: i64, keep_from: i64) -> StoreResult<EngagementPurge>;
    /// The app's non-empty cells from `first_day` to `last_day`, inclusive.
    async fn engagement(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> StoreResult<Vec<CellCounts>>;
}
