//! In-memory caches for the lookups every request makes (sessions, members, apps, tokens,
//! conversation rosters, tracked links), kept exactly as fresh as the database where it
//! matters.
//!
//! Every change that could make a cached answer wrong — a logout, a revoked grant or token, a
//! suspended app, a member leaving a conversation — bumps the epoch of each [`Family`] of
//! caches it concerns, in the same transaction, by trigger (migration 0013), whichever
//! process or node made it. Each cached value is tagged with its family's epoch read *before*
//! it was loaded, and a lookup trusts it only if that epoch, read *after* the lookup began, is
//! still the same. So a revocation that has been acknowledged is seen by the very next
//! request, on every node — and rotating a refresh token leaves the session, member, roster
//! and link caches alone.
//!
//! On SQLite a lookup first asks SQLite whether anything was committed since the epochs were
//! last read (`sqlite/epochs.rs`, a few microseconds on the calling thread), and reads them
//! again only then; a request asks once, unless this process commits meanwhile. On
//! PostgreSQL reading them costs one tiny query, but concurrent lookups share it: a lookup
//! waits for the first epoch read that *starts* after it arrived, and every lookup that
//! arrived before that read started takes its answer. Under load, one read serves a whole
//! wave.
//!
//! Fields that change on every request and never turn a "no" into a "yes" (a session's last
//! use, a grant's last use) do not bump the epoch; entries are reloaded after [`MAX_AGE`] so
//! those stay close to the database too.

use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{ResultExt, SqlStore};
use confidant_core::store::{
    App, CardTarget, Member, Roster, SessionRecord, StoreResult, TokenRecord,
};

/// How long an entry is trusted for the fields the epoch does not cover.
const MAX_AGE: Duration = Duration::from_secs(30);
/// Entries per cache; beyond it the least useful are evicted (S3-FIFO).
const CAPACITY: usize = 100_000;

/// A family of caches, with its own epoch: the rows of `cache_epochs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Sessions,
    Members,
    Apps,
    Tokens,
    Rosters,
    Cards,
}

impl Family {
    const ALL: [Family; 6] = [
        Family::Sessions,
        Family::Members,
        Family::Apps,
        Family::Tokens,
        Family::Rosters,
        Family::Cards,
    ];

    fn name(self) -> &'static str {
        match self {
            Family::Sessions => "sessions",
            Family::Members => "members",
            Family::Apps => "apps",
            Family::Tokens => "tokens",
            Family::Rosters => "rosters",
            Family::Cards => "cards",
        }
    }
}

/// Every family's epoch, as one read saw them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Epochs([i64; Family::ALL.len()]);

/// Reads every family's epoch.
pub(crate) const SELECT_EPOCHS: &str = "SELECT family, epoch FROM cache_epochs";

impl Epochs {
    fn of(&self, family: Family) -> i64 {
        self.0[family as usize]
    }

    /// The epochs in rows of `cache_epochs`; an error if a family has no row.
    pub(crate) fn from_rows(rows: &[(String, i64)]) -> StoreResult<Epochs> {
        let mut epochs = Epochs::default();
        for family in Family::ALL {
            let (_, epoch) = rows
                .iter()
                .find(|(name, _)| name == family.name())
                .ok_or_else(|| corrupt_epochs(family))?;
            epochs.0[family as usize] = *epoch;
        }
        Ok(epochs)
    }
}

pub(crate) struct Caches {
    epochs: EpochGate,
    pub sessions: Cache<String, SessionRecord>,
    pub members: Cache<i64, Member>,
    pub apps: Cache<String, App>,
    pub tokens: Cache<String, TokenRecord>,
    pub rosters: Cache<i64, Roster>,
    /// Tracked links, by token.
    pub cards: Cache<String, CardTarget>,
    /// Whether a member lets their clicks be counted.
    pub click_consent: Cache<i64, bool>,
}

impl Caches {
    pub fn new(enabled: bool) -> Self {
        Caches {
            epochs: EpochGate::default(),
            sessions: Cache::new(enabled, Family::Sessions),
            members: Cache::new(enabled, Family::Members),
            apps: Cache::new(enabled, Family::Apps),
            tokens: Cache::new(enabled, Family::Tokens),
            rosters: Cache::new(enabled, Family::Rosters),
            cards: Cache::new(enabled, Family::Cards),
            click_consent: Cache::new(enabled, Family::Members),
        }
    }

    /// The value for `key`: from `cache` if it is still current, else from `load`.
    pub async fn get<K, V, F>(
        &self,
        store: &SqlStore,
        cache: &Cache<K, V>,
        key: K,
        load: F,
    ) -> StoreResult<Option<V>>
    where
        K: Eq + Hash + Clone,
        V: Clone,
        F: Future<Output = StoreResult<Option<V>>>,
    {
        let Some(entries) = &cache.entries else {
            return load.await;
        };
        let epochs = match &store.sqlite {
            Some(db) => db.cache_epochs()?,
            None => self.epochs.current(store).await?,
        };
        let epoch = epochs.of(cache.family);
        if let Some(entry) = entries.get(&key)
            && entry.epoch == epoch
            && entry.loaded.elapsed() < MAX_AGE
        {
            return Ok(Some(entry.value));
        }
        let value = load.await?;
        if let Some(value) = &value {
            let entry = Entry {
                value: value.clone(),
                epoch,
                loaded: Instant::now(),
            };
            entries.insert(key, entry);
        }
        Ok(value)
    }
}

pub(crate) struct Cache<K, V> {
    /// `None` when caching is off.
    entries: Option<quick_cache::sync::Cache<K, Entry<V>>>,
    /// Whose epoch says whether an entry is current.
    family: Family,
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    /// The family's epoch read before the value was loaded: the value is at least that fresh.
    epoch: i64,
    loaded: Instant,
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn new(enabled: bool, family: Family) -> Self {
        Cache {
            entries: enabled.then(|| quick_cache::sync::Cache::new(CAPACITY)),
            family,
        }
    }

    /// Forgets `key`, for changes made here that do not bump the epoch.
    pub fn forget(&self, key: &K) {
        if let Some(entries) = &self.entries {
            entries.remove(key);
        }
    }
}

/// Reads of `cache_epochs`, shared by every lookup that can use them.
#[derive(Default)]
struct EpochGate {
    /// Orders arrivals and the starts of reads.
    ticks: AtomicU64,
    /// One read at a time; the others wait for it and, if it started after they arrived,
    /// use its answer.
    turn: tokio::sync::Mutex<()>,
    /// The latest read: the tick it started at and the epochs it saw.
    latest: Mutex<(u64, Epochs)>,
}

impl EpochGate {
    /// Epochs read by a query that began after this call did: they reflect every commit
    /// acknowledged before the call.
    async fn current(&self, store: &SqlStore) -> StoreResult<Epochs> {
        let arrived = self.ticks.fetch_add(1, Ordering::SeqCst);
        let _turn = self.turn.lock().await;
        let (started, epochs) = *self.latest.lock().expect("epoch lock");
        if started > arrived {
            return Ok(epochs);
        }
        let started = self.ticks.fetch_add(1, Ordering::SeqCst);
        let rows: Vec<(String, i64)> = sqlx::query_as(SELECT_EPOCHS)
            .fetch_all(&store.pg().pool)
            .await
            .store()?;
        let epochs = Epochs::from_rows(&rows)?;
        *self.latest.lock().expect("epoch lock") = (started, epochs);
        Ok(epochs)
    }
}

/// A family without its row: the migration that makes them did not run, or a row was
/// deleted by hand. Caching blind would serve revoked credentials, so lookups fail instead.
fn corrupt_epochs(family: Family) -> confidant_core::StoreError {
    confidant_core::StoreError::Backend(
        format!("cache_epochs has no row for `{}`", family.name()).into(),
    )
}
