//! The Merkle tree over a member's log entries (RFC 9162 §2.1: SHA-256, leaf `0x00‖entry`,
//! node `0x01‖left‖right`), its proofs, and their verification.
//!
//! Storage follows the transparency-log convention (Crosby and Wallach; Go's `sumdb/tlog`): the
//! hash of every complete subtree is stored once, under a dense "stored hash index", when its
//! last leaf is appended. Appending needs only the current frontier — the roots of the complete
//! subtrees along the right edge, at most log₂ n of them — and any proof reads O(log n) stored
//! hashes. The proof algorithms themselves come from the `tlog_tiles` crate.

use std::cell::RefCell;
use std::collections::HashMap;

use tlog_tiles::{HashReader, node_hash};

pub use tlog_tiles::Hash;
/// The root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = tlog_tiles::EMPTY_HASH;

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    tlog_tiles::record_hash(data)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("entry {seq} is not in a log of {size} entries")]
    NotInTree { seq: u64, size: u64 },
    #[error("a consistency proof needs 1 ≤ first ≤ second; got first {first}, second {second}")]
    BadRange { first: u64, second: u64 },
    #[error("the proof has {got} hashes where {expected} are needed")]
    WrongLength { expected: usize, got: usize },
    #[error("the proof does not lead to the expected root hash")]
    Mismatch,
    #[error("stored hashes are missing or inconsistent: {0}")]
    Storage(String),
}

/// The roots of the complete subtrees along the right edge of a tree: what an append needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontier {
    size: u64,
    /// Largest (leftmost) subtree first; one per set bit of `size`.
    roots: Vec<Hash>,
}

/// What appending one leaf produced: hashes to store from `first_index` on, consecutively.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub seq: u64,
    pub first_index: u64,
    pub hashes: Vec<Hash>,
}

impl Frontier {
    pub fn empty() -> Self {
        Self {
            size: 0,
            roots: Vec::new(),
        }
    }

    /// The stored hash indexes of a tree's frontier, in the order [`Frontier::from_stored`]
    /// takes them.
    pub fn indexes(size: u64) -> Vec<u64> {
        tlog_tiles::sub_tree_index(0, size, Vec::new())
    }

    /// Rebuilds the frontier from the stored hashes at [`Frontier::indexes`].
    pub fn from_stored(size: u64, roots: Vec<Hash>) -> Result<Self, ProofError> {
        if roots.len() != Self::indexes(size).len() {
            return Err(ProofError::Storage(format!(
                "a tree of {size} entries has {} frontier hashes, not {}",
                size.count_ones(),
                roots.len()
            )));
        }
        Ok(Self { size, roots })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf, hashing only up the right edge: O(log n).
    pub fn push(&mut self, leaf: Hash) -> Appended {
        let seq = self.size;
        let mut hashes = vec![leaf];
        let mut hash = leaf;
        // Each trailing 1 bit of the old size is a complete subtree the new leaf completes.
        for _ in 0..seq.trailing_ones() {
            let left = self.roots.pop().expect("one frontier root per set bit");
            hash = node_hash(left, hash);
            hashes.push(hash);
        }
        self.roots.push(hash);
        self.size += 1;
        Appended {
            seq,
            first_index: tlog_tiles::stored_hash_index(0, seq),
            hashes,
        }
    }

    /// The tree's root hash.
    pub fn root(&self) -> Hash {
        let mut roots = self.roots.iter().rev();
        let Some(&last) = roots.next() else {
            return EMPTY_ROOT;
        };
        roots.fold(last, |right, &left| node_hash(left, right))
    }
}

/// The stored hash indexes needed to prove that entry `seq` is in the tree of `size` entries.
pub fn inclusion_indexes(seq: u64, size: u64) -> Result<Vec<u64>, ProofError> {
    if seq >= size {
        return Err(ProofError::NotInTree { seq, size });
    }
    Ok(requested(|reader| {
        tlog_tiles::prove_record(size, seq, reader)
    }))
}

/// Builds the inclusion proof from the hashes stored at [`inclusion_indexes`], in that order.
pub fn prove_inclusion(seq: u64, size: u64, stored: &[Hash]) -> Result<Vec<Hash>, ProofError> {
    let reader = Prefetched::new(inclusion_indexes(seq, size)?, stored)?;
    tlog_tiles::prove_record(size, seq, &reader).map_err(storage)
}

/// The stored hash indexes needed to prove the tree of `first` entries is a prefix of the
/// tree of `second` entries.
pub fn consistency_indexes(first: u64, second: u64) -> Result<Vec<u64>, ProofError> {
    check_range(first, second)?;
    Ok(requested(|reader| {
        tlog_tiles::prove_tree(second, first, reader)
    }))
}

pub fn prove_consistency(
    first: u64,
    second: u64,
    stored: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    let reader = Prefetched::new(consistency_indexes(first, second)?, stored)?;
    tlog_tiles::prove_tree(second, first, &reader).map_err(storage)
}

/// Checks that `leaf` is entry `seq` of the tree of `size` entries whose root is `root`.
pub fn verify_inclusion(
    proof: &[Hash],
    seq: u64,
    size: u64,
    root: Hash,
    leaf: Hash,
) -> Result<(), ProofError> {
    if seq >= size {
        return Err(ProofError::NotInTree { seq, size });
    }
    let expected = inclusion_proof_len(seq, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    tlog_tiles::check_record(&proof.to_vec(), size, root, seq, leaf)
        .map_err(|_| ProofError::Mismatch)
}

/// Checks that the tree of `first` entries with root `first_root` is a prefix of the tree of
/// `second` entries with root `second_root`.
pub fn verify_consistency(
    proof: &[Hash],
    first: u64,
    second: u64,
    first_root: Hash,
    second_root: Hash,
) -> Result<(), ProofError> {
    check_range(first, second)?;
    let expected = consistency_proof_len(first, second);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    tlog_tiles::check_tree(&proof.to_vec(), second, second_root, first, first_root)
        .map_err(|_| ProofError::Mismatch)
}

fn check_range(first: u64, second: u64) -> Result<(), ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::BadRange { first, second });
    }
    Ok(())
}

/// The largest power of two strictly less than `n` (n ≥ 2): where RFC 9162 splits a tree.
fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// How many hashes the inclusion proof of entry `seq` in a tree of `size` entries holds
/// (RFC 9162 §2.1.3: one per level walked from the root down to the leaf).
pub fn inclusion_proof_len(seq: u64, size: u64) -> usize {
    let (mut lo, mut hi, mut len) = (0, size, 0);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if seq < lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        len += 1;
    }
    len
}

/// RFC 9162 §2.1.4: one hash per level walked, plus the old subtree unless it is the whole
/// old tree.
fn consistency_proof_len(first: u64, second: u64) -> usize {
    let (mut lo, mut hi, mut len) = (0, second, 0);
    while first != hi {
        let k = split(hi - lo);
        if first <= lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        len += 1;
    }
    len + usize::from(lo != 0)
}

fn storage(e: tlog_tiles::Error) -> ProofError {
    ProofError::Storage(e.to_string())
}

/// Which stored hashes a proof algorithm reads; they depend only on the tree sizes, so a
/// dry run finds them and the caller can fetch them from the database in one query.
fn requested<T>(run: impl FnOnce(&Recorder) -> Result<T, tlog_tiles::Error>) -> Vec<u64> {
    let recorder = Recorder::default();
    // The dry run's result is built from placeholder hashes and is thrown away.
    let _ = run(&recorder);
    recorder.0.into_inner()
}

#[derive(Default)]
struct Recorder(RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![EMPTY_ROOT; indexes.len()])
    }
}

struct Prefetched(HashMap<u64, Hash>);

impl Prefetched {
    fn new(indexes: Vec<u64>, hashes: &[Hash]) -> Result<Self, ProofError> {
        if indexes.len() != hashes.len() {
            return Err(ProofError::Storage(format!(
                "{} hashes asked for, {} found",
                indexes.len(),
                hashes.len()
            )));
        }
        Ok(Self(
            indexes.into_iter().zip(hashes.iter().copied()).collect(),
        ))
    }
}

impl HashReader for Prefetched {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|index| {
                self.0
                    .get(index)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole tree held in memory under stored hash indexes, as the database holds it.
    fn build(leaves: &[Hash]) -> (Frontier, HashMap<u64, Hash>) {
        let mut frontier = Frontier::empty();
        let mut stored = HashMap::new();
        for leaf in leaves {
            let appended = frontier.push(*leaf);
            for (i, hash) in appended.hashes.iter().enumerate() {
                stored.insert(appended.first_index + i as u64, *hash);
            }
        }
        (frontier, stored)
    }

    fn fetch(stored: &HashMap<u64, Hash>, indexes: &[u64]) -> Vec<Hash> {
        indexes.iter().map(|i| stored[i]).collect()
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn the_empty_tree_has_the_rfc_root() {
        assert_eq!(
            Frontier::empty().root().to_string(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn appends_store_what_tlog_would() {
        let (_, stored) = build(&leaves(37));
        struct Map<'a>(&'a HashMap<u64, Hash>);
        impl HashReader for Map<'_> {
            fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
                Ok(indexes.iter().map(|i| self.0[i]).collect())
            }
        }
        for (n, leaf) in leaves(37).into_iter().enumerate() {
            let expected =
                tlog_tiles::stored_hashes_for_record_hash(n as u64, leaf, &Map(&stored)).unwrap();
            let first = tlog_tiles::stored_hash_index(0, n as u64);
            let ours: Vec<Hash> = (0..expected.len() as u64)
                .map(|i| stored[&(first + i)])
                .collect();
            assert_eq!(ours, expected, "record {n}");
        }
    }

    #[test]
    fn a_frontier_rebuilt_from_storage_continues_the_same_tree() {
        let all = leaves(21);
        let (whole, _) = build(&all);
        let (partial, stored) = build(&all[..13]);
        let indexes = Frontier::indexes(13);
        let mut resumed = Frontier::from_stored(13, fetch(&stored, &indexes)).unwrap();
        assert_eq!(resumed, partial);
        for leaf in &all[13..] {
            resumed.push(*leaf);
        }
        assert_eq!(resumed.root(), whole.root());
    }

    #[test]
    fn every_inclusion_and_consistency_proof_of_a_small_tree_verifies() {
        let all = leaves(20);
        for size in 1..=20u64 {
            let (tree, stored) = build(&all[..size as usize]);
            let root = tree.root();
            for seq in 0..size {
                let indexes = inclusion_indexes(seq, size).unwrap();
                let proof = prove_inclusion(seq, size, &fetch(&stored, &indexes)).unwrap();
                verify_inclusion(&proof, seq, size, root, all[seq as usize]).unwrap();
            }
            for first in 1..=size {
                let (old, _) = build(&all[..first as usize]);
                let indexes = consistency_indexes(first, size).unwrap();
                let proof = prove_consistency(first, size, &fetch(&stored, &indexes)).unwrap();
                verify_consistency(&proof, first, size, old.root(), root).unwrap();
            }
        }
    }

    #[test]
    fn the_verifier_rejects_malformed_proofs() {
        let all = leaves(11);
        let (tree, stored) = build(&all);
        let root = tree.root();
        let proof =
            prove_inclusion(3, 11, &fetch(&stored, &inclusion_indexes(3, 11).unwrap())).unwrap();

        let mut extra = proof.clone();
        extra.push(all[0]);
        assert_eq!(
            verify_inclusion(&extra, 3, 11, root, all[3]),
            Err(ProofError::WrongLength {
                expected: 4,
                got: 5
            })
        );
        assert!(matches!(
            verify_inclusion(&proof[1..], 3, 11, root, all[3]),
            Err(ProofError::WrongLength { .. })
        ));
        assert_eq!(
            verify_inclusion(&proof, 3, 11, root, all[4]),
            Err(ProofError::Mismatch)
        );
        // A size whose tree has another shape needs another path.
        let last =
            prove_inclusion(10, 11, &fetch(&stored, &inclusion_indexes(10, 11).unwrap())).unwrap();
        verify_inclusion(&last, 10, 11, root, all[10]).unwrap();
        assert!(verify_inclusion(&last, 10, 12, root, all[10]).is_err());
        assert!(verify_inclusion(&proof, 3, 7, root, all[3]).is_err());
        assert_eq!(
            verify_inclusion(&proof, 11, 11, root, all[3]),
            Err(ProofError::NotInTree { seq: 11, size: 11 })
        );

        let (old, _) = build(&all[..5]);
        let proof = prove_consistency(5, 11, &fetch(&stored, &consistency_indexes(5, 11).unwrap()))
            .unwrap();
        verify_consistency(&proof, 5, 11, old.root(), root).unwrap();
        assert_eq!(
            verify_consistency(&proof, 11, 5, old.root(), root),
            Err(ProofError::BadRange {
                first: 11,
                second: 5
            })
        );
        assert!(verify_consistency(&proof, 0, 11, old.root(), root).is_err());
        assert!(verify_consistency(&proof, 6, 11, old.root(), root).is_err());
        assert!(verify_consistency(&proof, 5, 17, old.root(), root).is_err());
        assert!(verify_consistency(&proof[1..], 5, 11, old.root(), root).is_err());
        let mut extra = proof.clone();
        extra.push(root);
        assert!(verify_consistency(&extra, 5, 11, old.root(), root).is_err());
        assert_eq!(
            verify_consistency(&proof, 5, 11, root, root),
            Err(ProofError::Mismatch)
        );
    }

    #[test]
    fn a_consistency_proof_to_the_same_size_is_empty() {
        let (tree, stored) = build(&leaves(8));
        let proof =
            prove_consistency(8, 8, &fetch(&stored, &consistency_indexes(8, 8).unwrap())).unwrap();
        assert!(proof.is_empty());
        verify_consistency(&proof, 8, 8, tree.root(), tree.root()).unwrap();
    }
}
