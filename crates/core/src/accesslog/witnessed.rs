//! The server's witnessed logs: publishing members' log heads into the log of heads, signing
//! its checkpoints (and the budget ledger's), keeping the witnesses' cosignatures, and tying
//! a member's export to a cosigned checkpoint. Talking to witnesses is the server's job; what
//! is here decides what is signed, stored and served.

use std::sync::Arc;

use confidant_log::WitnessedHead;
use confidant_log::export::hash_to_base64;
use confidant_log::heads::{self, HeadLeaf};
use confidant_log::ledger::{LEDGER_FORMAT, LedgerEntry, LedgerFile};
use confidant_log::tree::{self, Hash};

use super::{ConsistencyProof, proof_error};
use crate::store::{HEADS_LOG, LEDGER_LOG, LogHead, StoredCheckpoint};
use crate::{Confidant, Error, MemberId};

/// Member logs published per transaction; a publication round runs as many as it needs.
const PUBLISH_BATCH: u32 = 5_000;

/// Leaves of the log of heads listed per call at most.
pub const MAX_HEAD_LEAVES: u32 = 1000;

/// Leaves of the log of heads under its served checkpoint, with their indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadLeaves {
    /// The served checkpoint's size: leaves past it are not listed yet.
    pub size: u64,
    pub leaves: Vec<(u64, HeadLeaf)>,
}

impl Confidant {
    /// How many witnesses must have cosigned a checkpoint before it is served and exported
    /// as witnessed (0: no witnesses are configured, checkpoints are served as signed).
    pub fn with_witness_quorum(mut self, quorum: u32) -> Self {
        self.witness_quorum = quorum;
        self
    }

    pub fn witness_quorum(&self) -> u32 {
        self.witness_quorum
    }

    /// The origin line of one of the server's logs ([`HEADS_LOG`] or [`LEDGER_LOG`]).
    pub fn tlog_origin(&self, log: &str) -> String {
        match log {
            HEADS_LOG => heads::origin(self.log_signer.name()),
            LEDGER_LOG => confidant_log::ledger::origin(self.log_signer.name()),
            other => format!("{}/{other}", self.log_signer.name()),
        }
    }

    /// Appends the head of every member log that grew since the last round to the log of
    /// heads; returns the log of heads' head.
    pub async fn publish_log_heads(&self) -> Result<LogHead, Error> {
        let key_name = self.log_signer.name().to_owned();
        let leaf: crate::store::HeadLeafEncoder = Arc::new(move |salt, member, size, root| {
            HeadLeaf {
                label: heads::label(salt, &confidant_log::origin(&key_name, member.0)),
                size,
                root,
            }
            .encode()
        });
        loop {
            let round = self
                .store
                .publish_heads(PUBLISH_BATCH, leaf.clone())
                .await?;
            if round.published < u64::from(PUBLISH_BATCH) {
                return Ok(round.head);
            }
        }
    }

    /// A freshly signed checkpoint of `log`'s current head, stored if it is new, with the
    /// cosignatures already gathered for that size if any.
    pub async fn sign_tlog(&self, log: &str) -> Result<StoredCheckpoint, Error> {
        let head = self.store.tlog_head(log).await?;
        if let Some(stored) = self.store.latest_checkpoint(log, 0).await?
            && stored.size == head.size
        {
            return Ok(stored);
        }
        let checkpoint = StoredCheckpoint {
            size: head.size,
            note: self
                .log_signer
                .sign(&self.tlog_origin(log), head.size, head.root),
            cosigners: 0,
            signed_at: self.clock.now(),
            cosigned_at: None,
        };
        self.store.save_checkpoint(log, &checkpoint).await?;
        if self.witness_quorum == 0 {
            self.store.prune_checkpoints(log, checkpoint.size).await?;
        }
        Ok(checkpoint)
    }

    /// Proves `log` at `first` entries is a prefix of `log` at `second`.
    pub async fn tlog_consistency(
        &self,
        log: &str,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, Error> {
        if first == 0 || first == second {
            return Ok(Vec::new());
        }
        let indexes = tree::consistency_indexes(first, second).map_err(proof_error)?;
        let stored = self.store.tlog_hashes(log, &indexes).await?;
        tree::prove_consistency(first, second, &stored).map_err(proof_error)
    }

    /// Keeps a checkpoint with the cosignatures gathered for it; once a quorum cosigned it,
    /// it is the one served, and the smaller ones are forgotten.
    pub async fn save_cosigned(
        &self,
        log: &str,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), Error> {
        self.store.save_checkpoint(log, checkpoint).await?;
        if checkpoint.cosigners >= self.witness_quorum {
            self.store.prune_checkpoints(log, checkpoint.size).await?;
        }
        Ok(())
    }

    /// The checkpoint of `log` to show the world: the newest one a quorum of witnesses
    /// cosigned (the newest signed one when no witnesses are configured).
    pub async fn served_checkpoint(&self, log: &str) -> Result<Option<StoredCheckpoint>, Error> {
        Ok(self
            .store
            .latest_checkpoint(log, self.witness_quorum)
            .await?)
    }

    /// The size of `log` at its served checkpoint (0 before there is one).
    async fn served_size(&self, log: &str) -> Result<u64, Error> {
        Ok(self
            .served_checkpoint(log)
            .await?
            .map_or(0, |checkpoint| checkpoint.size))
    }

    /// Proves the log of heads at `first` leaves is a prefix of it at `second` (default: its
    /// served checkpoint's size), for monitors.
    pub async fn heads_consistency(
        &self,
        first: u64,
        second: Option<u64>,
    ) -> Result<ConsistencyProof, Error> {
        let served = self.served_size(HEADS_LOG).await?;
        let second = second.unwrap_or(served);
        if second > served {
            return Err(Error::invalid(
                "second",
                "beyond_log",
                format!("the served log of heads has {served} leaves, not {second}"),
            ));
        }
        if second == 0 {
            return Err(Error::invalid(
                "first",
                "bad_range",
                "the served log of heads is empty: there is nothing to prove yet",
            ));
        }
        if first == 0 || first > second {
            return Err(Error::invalid(
                "first",
                "bad_range",
                format!("first must be between 1 and {second}"),
            ));
        }
        Ok(ConsistencyProof {
            first,
            second,
            proof: self.tlog_consistency(HEADS_LOG, first, second).await?,
        })
    }

    /// Up to `limit` (default and most [`MAX_HEAD_LEAVES`]) leaves of the log of heads from
    /// `from` on, under its served checkpoint: what a member's monitor scans for their label.
    pub async fn heads_leaves(&self, from: i64, limit: Option<u32>) -> Result<HeadLeaves, Error> {
        let from = u64::try_from(from)
            .map_err(|_| Error::invalid("from", "bad_range", "from must be 0 or more"))?;
        let limit = limit.unwrap_or(MAX_HEAD_LEAVES);
        if limit == 0 || limit > MAX_HEAD_LEAVES {
            return Err(Error::invalid(
                "limit",
                "bad_limit",
                format!("limit must be between 1 and {MAX_HEAD_LEAVES}"),
            ));
        }
        let size = self.served_size(HEADS_LOG).await?;
        let wanted = size.saturating_sub(from).min(u64::from(limit)) as u32;
        let stored = if wanted == 0 {
            Vec::new()
        } else {
            self.store.tlog_leaves(HEADS_LOG, from, wanted).await?
        };
        let leaves = stored
            .iter()
            .zip(from..)
            .map(|(data, index)| {
                HeadLeaf::decode(data)
                    .map(|leaf| (index, leaf))
                    .ok_or_else(|| Error::Internal("log of heads: a leaf is malformed".into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(HeadLeaves { size, leaves })
    }

    /// Where the member's log was last published under the served checkpoint of the log
    /// of heads, with the proof; `None` before the first publication that was cosigned.
    pub async fn witnessed_head(&self, me: MemberId) -> Result<Option<WitnessedHead>, Error> {
        let Some(checkpoint) = self.served_checkpoint(HEADS_LOG).await? else {
            return Ok(None);
        };
        let Some(published) = self.store.published_head(me, checkpoint.size).await? else {
            return Ok(None);
        };
        let leaf = HeadLeaf::decode(&published.data)
            .ok_or_else(|| Error::Internal("log of heads: a leaf is malformed".into()))?;
        let indexes =
            tree::inclusion_indexes(published.leaf, checkpoint.size).map_err(proof_error)?;
        let stored = self.store.tlog_hashes(HEADS_LOG, &indexes).await?;
        let proof =
            tree::prove_inclusion(published.leaf, checkpoint.size, &stored).map_err(proof_error)?;
        Ok(Some(WitnessedHead {
            checkpoint: checkpoint.note,
            leaf_index: published.leaf,
            salt: base64_of(&published.salt),
            size: leaf.size,
            root: hash_to_base64(&leaf.root),
            inclusion_proof: proof.iter().map(hash_to_base64).collect(),
            consistency_proof: Vec::new(),
        }))
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Ledger entries read per query while serving the ledger.
const LEDGER_CHUNK: u32 = 1000;

impl Confidant {
    /// The public budget ledger up to its served checkpoint: every release's entry, the
    /// checkpoint with its cosignatures, and the cap the server enforces.
    pub async fn budget_ledger(&self) -> Result<LedgerFile, Error> {
        let checkpoint = match self.served_checkpoint(LEDGER_LOG).await? {
            Some(checkpoint) => checkpoint,
            // Nothing witnessed yet: without witnesses, sign the current head; with them,
            // serve the empty ledger's checkpoint until they cosign one.
            None if self.witness_quorum == 0 => self.sign_tlog(LEDGER_LOG).await?,
            None => StoredCheckpoint {
                size: 0,
                note: self.log_signer.sign(
                    &self.tlog_origin(LEDGER_LOG),
                    0,
                    confidant_log::EMPTY_ROOT,
                ),
                cosigners: 0,
                signed_at: self.clock.now(),
                cosigned_at: None,
            },
        };
        let mut entries = Vec::new();
        while (entries.len() as u64) < checkpoint.size {
            let wanted = (checkpoint.size - entries.len() as u64).min(LEDGER_CHUNK.into());
            let chunk = self
                .store
                .tlog_leaves(LEDGER_LOG, entries.len() as u64, wanted as u32)
                .await?;
            if chunk.is_empty() {
                return Err(Error::Internal("budget ledger: leaves are missing".into()));
            }
            for leaf in chunk {
                let entry: LedgerEntry = serde_json::from_slice(&leaf).map_err(|e| {
                    Error::Internal(format!("budget ledger: a leaf is malformed: {e}"))
                })?;
                entries.push(entry);
            }
        }
        Ok(LedgerFile {
            format: LEDGER_FORMAT.to_owned(),
            origin: self.tlog_origin(LEDGER_LOG),
            checkpoint: checkpoint.note,
            rho_per_data_day: self.reports.privacy.rho_per_data_day,
            entries,
        })
    }
}
