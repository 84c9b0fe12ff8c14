//! Confidant's provable access log, usable on its own by anyone who wants to check one.
//!
//! Every partner access to a member's data is an [`Entry`] in that member's log. The log is a
//! Merkle tree as in RFC 9162 ([`tree`]); the server signs its size and root hash as a C2SP
//! checkpoint ([`checkpoint`]); a member can export the log and anyone can [`export::verify`]
//! it offline, also against a checkpoint saved earlier, which proves the log was only ever
//! appended to. Witnesses ([`witness`]) cosign ([`cosignature`]) the deployment's log of
//! members' heads ([`heads`]), so the server cannot show different logs to different people.

pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod export;
pub mod heads;
pub mod ledger;
pub mod tree;
pub mod witness;

pub use checkpoint::{CheckpointError, KeyError, LogSigner, PublicKey, SignedCheckpoint};
pub use cosignature::{CosignerKey, CosignerVerifier};
pub use entry::{Entry, Outcome};
pub use export::{
    Cosignatures, EXPORT_FORMAT, Export, ExportedEntry, Verified, VerifyError, WitnessPolicy,
    WitnessedHead, Witnessing,
};
pub use tree::{EMPTY_ROOT, Frontier, Hash, ProofError};

/// The origin line of a member's log: `<key name>/access-log/<member id>`.
pub fn origin(key_name: &str, member_id: i64) -> String {
    format!("{key_name}/access-log/{member_id}")
}
