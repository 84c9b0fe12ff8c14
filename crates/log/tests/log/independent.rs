//! Our storage-backed tree against `ct-merkle`, an independent in-memory RFC 6962/9162 tree:
//! for random logs, the roots and every proof must be the same bytes.

use std::collections::HashMap;

use confidant_log::tree::{self, Frontier, Hash, leaf_hash};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use proptest::prelude::*;
use sha2_digest011::Sha256;

struct Ours {
    frontier: Frontier,
    stored: HashMap<u64, Hash>,
}

impl Ours {
    fn new(leaves: &[Vec<u8>]) -> Self {
        let mut ours = Self {
            frontier: Frontier::empty(),
            stored: HashMap::new(),
        };
        for leaf in leaves {
            let appended = ours.frontier.push(leaf_hash(leaf));
            for (i, hash) in appended.hashes.into_iter().enumerate() {
                ours.stored.insert(appended.first_index + i as u64, hash);
            }
        }
        ours
    }

    fn fetch(&self, indexes: &[u64]) -> Vec<Hash> {
        indexes.iter().map(|i| self.stored[i]).collect()
    }
}

fn theirs(leaves: &[Vec<u8>]) -> MemoryBackedTree<Sha256, Vec<u8>> {
    let mut tree = MemoryBackedTree::new();
    for leaf in leaves {
        tree.push(leaf.clone());
    }
    tree
}

fn flat(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|hash| hash.0).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roots_and_proofs_match_an_independent_implementation(
        leaves in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..150),
        pick in any::<prop::sample::Index>(),
        old in any::<prop::sample::Index>(),
    ) {
        let size = leaves.len() as u64;
        let ours = Ours::new(&leaves);
        let theirs = theirs(&leaves);
        let their_root = theirs.root();
        prop_assert_eq!(&ours.frontier.root().0[..], &their_root.as_bytes()[..]);

        let seq = pick.index(leaves.len()) as u64;
        let proof = tree::prove_inclusion(seq, size, &ours.fetch(&tree::inclusion_indexes(seq, size).unwrap())).unwrap();
        let expected = theirs.prove_inclusion(seq as usize);
        prop_assert_eq!(flat(&proof), expected.as_bytes().to_vec());
        tree::verify_inclusion(&proof, seq, size, ours.frontier.root(), leaf_hash(&leaves[seq as usize])).unwrap();

        let first = old.index(leaves.len()) as u64 + 1;
        let proof = tree::prove_consistency(first, size, &ours.fetch(&tree::consistency_indexes(first, size).unwrap())).unwrap();
        let expected = theirs.prove_consistency((size - first) as usize);
        prop_assert_eq!(flat(&proof), expected.as_bytes().to_vec());
        let old_root = Ours::new(&leaves[..first as usize]).frontier.root();
        tree::verify_consistency(&proof, first, size, old_root, ours.frontier.root()).unwrap();
    }
}
