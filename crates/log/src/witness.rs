//! The checks of a C2SP tlog-witness: whether to cosign a submitted checkpoint, given the
//! latest one the witness cosigned for the same log. Storage and HTTP are the caller's; what
//! is here is the protocol's decision, so that it is tested on its own.
//!
//! A request body is an `old <size>` line, up to 63 consistency-proof lines (base64 hashes),
//! an empty line and the signed checkpoint. The witness cosigns only a checkpoint signed by a
//! log key it trusts that extends, by a valid RFC 9162 consistency proof, the latest checkpoint
//! it cosigned for that origin — so a log cannot get cosignatures on two different views.

use crate::checkpoint::{self, PublicKey};
use crate::cosignature::{CosignerKey, split_note};
use crate::export::hash_from_base64;
use crate::tree::{self, Hash};

/// The most consistency-proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// The media type of a 409 response's body: the witness's size for the log.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The latest checkpoint a witness cosigned for one log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogState {
    pub size: u64,
    pub root: Hash,
}

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint, as submitted.
    pub checkpoint: String,
}

/// Why a witness refuses to cosign; each maps to the protocol's HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("this witness does not follow the log {0:?}")]
    UnknownLog(String),
    #[error("the checkpoint is not signed by a key this witness trusts for its log")]
    Forbidden,
    /// The old size is not the witness's size, or the same size came with another root: the
    /// body of the reply is `size`.
    #[error("the witness's latest checkpoint of this log has size {size}")]
    Conflict { size: u64 },
    #[error("the consistency proof does not verify")]
    BadProof,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::Conflict { .. } => 409,
            Refusal::BadProof => 422,
        }
    }
}

impl AddCheckpoint {
    /// The request body for submitting `checkpoint` to a witness whose size is `old_size`.
    pub fn body(old_size: u64, proof: &[Hash], checkpoint: &str) -> String {
        let mut body = format!("old {old_size}\n");
        for hash in proof {
            body.push_str(&crate::export::hash_to_base64(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(checkpoint);
        body
    }

    pub fn parse(body: &str) -> Result<Self, Refusal> {
        let bad = |why: &str| Refusal::BadRequest(why.to_owned());
        let (head, checkpoint) = body
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old_size = lines
            .next()
            .and_then(|line| line.strip_prefix("old "))
            .filter(|size| size == &"0" || !size.starts_with('0'))
            .and_then(|size| size.parse::<u64>().ok())
            .ok_or_else(|| bad("the first line must be `old <size>`"))?;
        let proof = lines
            .map(|line| hash_from_base64(line).ok_or_else(|| bad("a proof line is not a hash")))
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(bad("more than 63 proof lines"));
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// What the witness decided to cosign.
#[derive(Debug, Clone, PartialEq)]
pub struct Cosigned {
    pub origin: String,
    /// The state to persist before answering.
    pub state: LogState,
    /// The cosignature line(s) to answer with.
    pub signatures: String,
}

/// A witness: its key and the log keys it follows. A log key named `n` covers the origins
/// `n/…`, so one key can have the witness follow a deployment's log of heads and its ledger.
#[derive(Debug)]
pub struct Witness {
    pub key: CosignerKey,
    pub logs: Vec<PublicKey>,
}

impl Witness {
    /// The origin of a request, or why the witness will not look at it.
    pub fn origin_of(&self, request: &AddCheckpoint) -> Result<String, Refusal> {
        let origin = request
            .checkpoint
            .split('\n')
            .next()
            .filter(|origin| !origin.is_empty())
            .ok_or_else(|| Refusal::BadRequest("the checkpoint has no origin line".into()))?;
        if !self.follows(origin) {
            return Err(Refusal::UnknownLog(origin.to_owned()));
        }
        Ok(origin.to_owned())
    }

    fn follows(&self, origin: &str) -> bool {
        self.logs.iter().any(|key| {
            origin
                .strip_prefix(key.name())
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// Checks `request` against `stored`, the latest checkpoint this witness cosigned for
    /// the request's origin, and cosigns it at `now` (seconds since the epoch). The caller
    /// must read `stored`, call this and persist the result atomically.
    pub fn add_checkpoint(
        &self,
        request: &AddCheckpoint,
        stored: Option<&LogState>,
        now: u64,
    ) -> Result<Cosigned, Refusal> {
        let origin = self.origin_of(request)?;
        let opened = self
            .logs
            .iter()
            .filter(|key| origin.starts_with(&format!("{}/", key.name())))
            .find_map(|key| checkpoint::open(&request.checkpoint, key).ok())
            .ok_or(Refusal::Forbidden)?;
        if request.old_size > opened.size {
            return Err(Refusal::BadRequest(
                "the old size is larger than the checkpoint's".into(),
            ));
        }
        let stored_size = stored.map_or(0, |state| state.size);
        if request.old_size != stored_size {
            return Err(Refusal::Conflict { size: stored_size });
        }
        match stored {
            None if !request.proof.is_empty() => {
                return Err(Refusal::BadRequest(
                    "a proof from size 0 must be empty".into(),
                ));
            }
            // The same size with another root: a different view of the log.
            Some(state) if state.size == opened.size && state.root != opened.root => {
                return Err(Refusal::Conflict { size: state.size });
            }
            Some(state) if state.size == opened.size => {}
            Some(state) if state.size > 0 => tree::verify_consistency(
                &request.proof,
                state.size,
                opened.size,
                state.root,
                opened.root,
            )
            .map_err(|_| Refusal::BadProof)?,
            _ => {}
        }
        let (body, _) = split_note(&request.checkpoint)
            .ok_or_else(|| Refusal::BadRequest("the checkpoint is not a signed note".into()))?;
        Ok(Cosigned {
            signatures: self.key.cosign(body, now),
            origin,
            state: LogState {
                size: opened.size,
                root: opened.root,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::{CosignerVerifier, add_signature_lines};
    use crate::{Frontier, LogSigner};

    fn tree_of(n: u8) -> (Frontier, Vec<Hash>) {
        let mut frontier = Frontier::empty();
        let mut stored = Vec::new();
        for i in 0..n {
            let appended = frontier.push(tree::leaf_hash(&[i]));
            stored.extend(appended.hashes);
        }
        (frontier, stored)
    }

    fn witness() -> (Witness, LogSigner) {
        let (log, _) = LogSigner::generate("example.org").unwrap();
        let (key, _) = CosignerKey::generate("witness.example").unwrap();
        let logs = vec![PublicKey::parse(log.public_key()).unwrap()];
        (Witness { key, logs }, log)
    }

    #[test]
    fn a_witness_cosigns_consistent_growth_and_refuses_a_fork_or_rollback() {
        let (witness, log) = witness();
        let origin = "example.org/heads";
        let (three, _) = tree_of(3);
        let first = log.sign(origin, 3, three.root());
        let request = AddCheckpoint::parse(&AddCheckpoint::body(0, &[], &first)).unwrap();
        let cosigned = witness.add_checkpoint(&request, None, 10).unwrap();
        assert_eq!(cosigned.state.size, 3);
        let verifier = CosignerVerifier::parse(&witness.key.verifier_key()).unwrap();
        let note = add_signature_lines(&first, &cosigned.signatures);
        let (body, signatures) = split_note(&note).unwrap();
        assert_eq!(verifier.find(body, &signatures), Some(10));
        let state = cosigned.state;

        let (seven, stored) = tree_of(7);
        let proof = tree::prove_consistency(
            3,
            7,
            &stored_at(&stored, &tree::consistency_indexes(3, 7).unwrap()),
        )
        .unwrap();
        let grown = log.sign(origin, 7, seven.root());
        let request = AddCheckpoint::parse(&AddCheckpoint::body(3, &proof, &grown)).unwrap();
        assert_eq!(
            witness
                .add_checkpoint(&request, Some(&state), 11)
                .unwrap()
                .state
                .size,
            7
        );

        // The same size with another root is a fork.
        let fork = log.sign(origin, 3, tree::leaf_hash(b"other"));
        let request = AddCheckpoint::parse(&AddCheckpoint::body(3, &[], &fork)).unwrap();
        assert_eq!(
            witness.add_checkpoint(&request, Some(&state), 12),
            Err(Refusal::Conflict { size: 3 })
        );
        // A smaller tree than the witness's is a rollback: the old size cannot match.
        let (two, _) = tree_of(2);
        let rollback = log.sign(origin, 2, two.root());
        let request = AddCheckpoint::parse(&AddCheckpoint::body(2, &[], &rollback)).unwrap();
        assert_eq!(
            witness.add_checkpoint(&request, Some(&state), 12),
            Err(Refusal::Conflict { size: 3 })
        );
        // A grown tree that does not extend the witnessed one has no valid proof.
        let forked_growth = log.sign(origin, 7, tree::leaf_hash(b"forked"));
        let request =
            AddCheckpoint::parse(&AddCheckpoint::body(3, &proof, &forked_growth)).unwrap();
        assert_eq!(
            witness.add_checkpoint(&request, Some(&state), 12),
            Err(Refusal::BadProof)
        );
    }

    fn stored_at(stored: &[Hash], indexes: &[u64]) -> Vec<Hash> {
        indexes.iter().map(|&i| stored[i as usize]).collect()
    }

    #[test]
    fn unknown_logs_foreign_signatures_and_malformed_bodies_are_refused() {
        let (witness, _) = witness();
        let (stranger, _) = LogSigner::generate("example.org").unwrap();
        let foreign = stranger.sign("example.org/heads", 0, crate::EMPTY_ROOT);
        let request = AddCheckpoint::parse(&AddCheckpoint::body(0, &[], &foreign)).unwrap();
        assert_eq!(
            witness.add_checkpoint(&request, None, 1),
            Err(Refusal::Forbidden)
        );
        let elsewhere = stranger.sign("example.net/heads", 0, crate::EMPTY_ROOT);
        let request = AddCheckpoint::parse(&AddCheckpoint::body(0, &[], &elsewhere)).unwrap();
        assert!(matches!(
            witness.add_checkpoint(&request, None, 1),
            Err(Refusal::UnknownLog(_))
        ));
        for body in [
            "",
            "old 01\n\nx\n",
            "new 1\n\nx\n",
            "old 1\nnot-a-hash\n\nx\n",
        ] {
            assert!(
                matches!(AddCheckpoint::parse(body), Err(Refusal::BadRequest(_))),
                "{body:?}"
            );
        }
    }
}
