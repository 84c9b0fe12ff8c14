//! The public budget ledger: one leaf per report release — its id, app, period, mechanism,
//! ρ and the SHA-256 of its body — in a Merkle log the server signs and witnesses cosign.
//! Anyone can download it and [`verify`] that it hashes to the checkpoint, only grew since a
//! checkpoint they saved, and that no app spent more than the cap on any day of data.
//!
//! A leaf is the entry's JSON in the field order below, with no spaces: the server writes it
//! once and the verifier re-encodes the entries it reads to the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, Duration};

use crate::checkpoint::{self, CheckpointError, PublicKey};
use crate::tree::{Frontier, leaf_hash};

/// The value of the `format` field of a ledger file.
pub const LEDGER_FORMAT: &str = "confidant-budget-ledger/1";

/// The origin line of a deployment's ledger: `<key name>/budget-ledger`.
pub fn origin(key_name: &str) -> String {
    format!("{key_name}/budget-ledger")
}

/// One report release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    pub release: String,
    /// The app's client id.
    pub app: String,
    /// The first day of data the release covers, `YYYY-MM-DD`.
    pub first_day: String,
    pub days: u32,
    pub mechanism: String,
    /// What the release spent on each day it covers.
    pub rho: f64,
    /// SHA-256 of the release's stored body, in hex.
    pub body_sha256: String,
}

impl LedgerEntry {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a ledger entry always encodes")
    }
}

/// What [`LedgerEntry::body_sha256`] holds for a release's stored body: its SHA-256 in
/// lower-case hex.
pub fn body_sha256(body: &str) -> String {
    use std::fmt::Write;
    Sha256::digest(body.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// The ledger as the server serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerFile {
    pub format: String,
    pub origin: String,
    /// The signed checkpoint with the witnesses' cosignatures.
    pub checkpoint: String,
    /// The cap the server says it enforces: ρ per app per day of data.
    pub rho_per_data_day: f64,
    pub entries: Vec<LedgerEntry>,
}

/// What verification established.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerSummary {
    pub size: u64,
    pub apps: usize,
    /// The most any app spent on one day of data, with the app and day.
    pub most_spent: Option<(String, String, f64)>,
    pub consistent_with: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LedgerError {
    #[error("not a Confidant budget ledger (format {0:?})")]
    UnknownFormat(String),
    #[error("checkpoint: {0}")]
    Checkpoint(CheckpointError),
    #[error("earlier checkpoint: {0}")]
    PreviousCheckpoint(CheckpointError),
    #[error("the checkpoint is for {0:?}, not this server's ledger")]
    Origin(String),
    #[error("the file has {entries} entries but the checkpoint covers {size}")]
    CountMismatch { entries: usize, size: u64 },
    #[error("the entries do not hash to the signed checkpoint: one was changed")]
    RootMismatch,
    #[error(
        "the ledger has {size} entries but an earlier checkpoint had {previous}: entries were deleted"
    )]
    Truncated { previous: u64, size: u64 },
    #[error(
        "the first {previous} entries no longer hash to the earlier checkpoint's root: entries \
         were deleted, changed or reordered"
    )]
    Rewritten { previous: u64 },
    #[error("entry {index}: {reason}")]
    BadEntry { index: usize, reason: String },
    #[error("{app} spent ρ = {spent} on {day}, over the cap of ρ = {cap} per day of data")]
    OverCap {
        app: String,
        day: String,
        spent: f64,
        cap: f64,
    },
}

/// Tolerance for summing ρ in floating point.
const EPSILON: f64 = 1e-9;

/// Verifies a ledger file against its signed checkpoint (and an earlier one, if given) and
/// checks every app's spending per day of data against `cap`.
pub fn verify(
    file: &LedgerFile,
    key: &PublicKey,
    previous: Option<&str>,
    cap: f64,
) -> Result<LedgerSummary, LedgerError> {
    if file.format != LEDGER_FORMAT {
        return Err(LedgerError::UnknownFormat(file.format.clone()));
    }
    let checkpoint = checkpoint::open(&file.checkpoint, key).map_err(LedgerError::Checkpoint)?;
    if checkpoint.origin != origin(key.name()) {
        return Err(LedgerError::Origin(checkpoint.origin));
    }
    if file.entries.len() as u64 != checkpoint.size {
        return Err(LedgerError::CountMismatch {
            entries: file.entries.len(),
            size: checkpoint.size,
        });
    }
    let previous = previous
        .map(|text| checkpoint::open(text, key).map_err(LedgerError::PreviousCheckpoint))
        .transpose()?;
    if let Some(previous) = &previous {
        if previous.origin != checkpoint.origin {
            return Err(LedgerError::Origin(previous.origin.clone()));
        }
        if previous.size > checkpoint.size {
            return Err(LedgerError::Truncated {
                previous: previous.size,
                size: checkpoint.size,
            });
        }
    }
    let mut frontier = Frontier::empty();
    let mut spent: BTreeMap<(String, Date), f64> = BTreeMap::new();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    for (index, entry) in file.entries.iter().enumerate() {
        if let Some(previous) = &previous
            && previous.size == frontier.size()
            && previous.root != frontier.root()
        {
            return Err(LedgerError::Rewritten {
                previous: previous.size,
            });
        }
        frontier.push(leaf_hash(&entry.encode()));
        let bad = |reason: &str| LedgerError::BadEntry {
            index,
            reason: reason.to_owned(),
        };
        let first = Date::parse(&entry.first_day, &format).map_err(|_| bad("bad first_day"))?;
        if !(entry.rho >= 0.0 && entry.rho.is_finite()) {
            return Err(bad("ρ must be a finite number ≥ 0"));
        }
        for offset in 0..entry.days {
            let day = first + Duration::days(i64::from(offset));
            *spent.entry((entry.app.clone(), day)).or_default() += entry.rho;
        }
    }
    if let Some(previous) = &previous
        && previous.size == frontier.size()
        && previous.root != frontier.root()
    {
        return Err(LedgerError::Rewritten {
            previous: previous.size,
        });
    }
    if frontier.root() != checkpoint.root {
        return Err(LedgerError::RootMismatch);
    }
    let day_text = |day: &Date| day.format(&format).unwrap_or_default();
    if let Some(((app, day), total)) = spent.iter().find(|(_, total)| **total > cap + EPSILON) {
        return Err(LedgerError::OverCap {
            app: app.clone(),
            day: day_text(day),
            spent: *total,
            cap,
        });
    }
    let most_spent = spent
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|((app, day), total)| (app.clone(), day_text(day), *total));
    let apps = spent
        .keys()
        .map(|(app, _)| app)
        .collect::<std::collections::HashSet<_>>()
        .len();
    Ok(LedgerSummary {
        size: checkpoint.size,
        apps,
        most_spent,
        consistent_with: previous.map(|previous| previous.size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogSigner;

    fn entry(release: &str, app: &str, first_day: &str, days: u32, rho: f64) -> LedgerEntry {
        LedgerEntry {
            release: release.into(),
            app: app.into(),
            first_day: first_day.into(),
            days,
            mechanism: "gaussian".into(),
            rho,
            body_sha256: "00".repeat(32),
        }
    }

    fn file(signer: &LogSigner, entries: Vec<LedgerEntry>) -> LedgerFile {
        let mut frontier = Frontier::empty();
        for entry in &entries {
            frontier.push(leaf_hash(&entry.encode()));
        }
        let origin = origin(signer.name());
        LedgerFile {
            format: LEDGER_FORMAT.into(),
            checkpoint: signer.sign(&origin, frontier.size(), frontier.root()),
            origin,
            rho_per_data_day: 1.0,
            entries,
        }
    }

    #[test]
    fn a_body_is_hashed_to_lower_case_hex() {
        assert_eq!(
            body_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_ledger_verifies_and_its_spending_is_summed_per_app_and_day() {
        let (signer, _) = LogSigner::generate("example.org").unwrap();
        let key = PublicKey::parse(signer.public_key()).unwrap();
        let entries = vec![
            entry("r1", "cfd_a", "2026-11-01", 14, 0.5),
            entry("r2", "cfd_a", "2026-11-14", 14, 0.5),
            entry("r3", "cfd_b", "2026-11-01", 14, 0.25),
        ];
        let ledger = file(&signer, entries.clone());
        let summary = verify(&ledger, &key, None, 1.0).unwrap();
        assert_eq!(summary.size, 3);
        assert_eq!(summary.apps, 2);
        assert_eq!(
            summary.most_spent,
            Some(("cfd_a".into(), "2026-11-14".into(), 1.0))
        );
        // The overlap day is over a smaller cap.
        assert!(matches!(
            verify(&ledger, &key, None, 0.75),
            Err(LedgerError::OverCap { day, .. }) if day == "2026-11-14"
        ));

        // A row deleted since a saved checkpoint: the server re-signs the shorter ledger, and
        // it no longer extends what was saved.
        let saved = ledger.checkpoint.clone();
        let mut shorter = entries.clone();
        shorter.remove(1);
        shorter.push(entry("r4", "cfd_b", "2026-11-15", 14, 0.25));
        let rewritten = file(&signer, shorter);
        assert!(verify(&rewritten, &key, None, 1.0).is_ok());
        assert_eq!(
            verify(&rewritten, &key, Some(&saved), 1.0),
            Err(LedgerError::Rewritten { previous: 3 })
        );
        let truncated = file(&signer, entries[..2].to_vec());
        assert_eq!(
            verify(&truncated, &key, Some(&saved), 1.0),
            Err(LedgerError::Truncated {
                previous: 3,
                size: 2
            })
        );
        // An entry edited in the file no longer hashes to the checkpoint.
        let mut edited = ledger.clone();
        edited.entries[0].rho = 0.1;
        assert_eq!(
            verify(&edited, &key, None, 1.0),
            Err(LedgerError::RootMismatch)
        );
    }
}
