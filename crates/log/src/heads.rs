//! The log of heads: one deployment-wide Merkle log whose leaves are the heads (size and root)
//! members' logs had when they were published. Witnesses cosign its checkpoints, so a server
//! that showed one member two different versions of their log would have to put both heads in
//! one append-only log everyone sees the same of.
//!
//! A leaf names a member's log by a **label**, not by the member id: the SHA-256 of a random
//! per-log salt and the log's origin. Only the member (whose export carries the salt) can tell
//! which leaves are theirs, and anyone given the salt can check the label belongs to that
//! origin.
//!
//! ```text
//! leaf = version:u8 (= 1) ‖ label[32] ‖ size:u64 (big-endian) ‖ root[32]
//! label = SHA-256("confidant/head-label\n" ‖ salt[32] ‖ origin)
//! ```

use sha2::{Digest, Sha256};

use crate::tree::{Hash, leaf_hash};

const ENCODING_VERSION: u8 = 1;

/// The origin line of a deployment's log of heads: `<key name>/access-log-heads`.
pub fn origin(key_name: &str) -> String {
    format!("{key_name}/access-log-heads")
}

/// The label that stands for the log `origin` in the log of heads.
pub fn label(salt: &[u8; 32], origin: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"confidant/head-label\n");
    hasher.update(salt);
    hasher.update(origin.as_bytes());
    hasher.finalize().into()
}

/// One member log's head as published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadLeaf {
    pub label: [u8; 32],
    pub size: u64,
    pub root: Hash,
}

impl HeadLeaf {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(73);
        out.push(ENCODING_VERSION);
        out.extend_from_slice(&self.label);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.root.0);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        if version != ENCODING_VERSION || rest.len() != 72 {
            return None;
        }
        Some(Self {
            label: rest[..32].try_into().ok()?,
            size: u64::from_be_bytes(rest[32..40].try_into().ok()?),
            root: Hash(rest[40..].try_into().ok()?),
        })
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_round_trips_and_its_label_depends_on_salt_and_origin() {
        let salt = [7; 32];
        let leaf = HeadLeaf {
            label: label(&salt, "example.org/access-log/1"),
            size: 12,
            root: Hash([3; 32]),
        };
        assert_eq!(HeadLeaf::decode(&leaf.encode()), Some(leaf));
        assert_eq!(leaf.encode().len(), 73);
        assert_ne!(leaf.label, label(&salt, "example.org/access-log/2"));
        assert_ne!(leaf.label, label(&[8; 32], "example.org/access-log/1"));
        assert_eq!(HeadLeaf::decode(&leaf.encode()[1..]), None);
    }
}
