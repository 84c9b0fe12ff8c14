//! The exported access log — one JSON file a member downloads — and its offline verification.
//!
//! A whole-log export carries every entry and the signed checkpoint; the verifier rebuilds the
//! tree from the entries, so any edited, missing, duplicated or reordered entry shows. A
//! selection (one app's entries) carries an inclusion proof for each entry instead. Given a
//! checkpoint saved earlier, the verifier also checks that the log has only grown since:
//! same origin, no fewer entries, and the same root over the entries it had then.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointError, KeyError, PublicKey};
use crate::cosignature::{CosignerVerifier, split_note};
use crate::entry::Entry;
use crate::heads::{self, HeadLeaf};
use crate::tree::{self, Frontier, Hash, ProofError};

/// The value of the `format` field of an export file.
pub const EXPORT_FORMAT: &str = "confidant-access-log/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Export {
    pub format: String,
    /// The log's name, as in its checkpoints: `<key name>/access-log/<member id>`.
    pub origin: String,
    /// The server's checkpoint key, for convenience; pin it with `--public-key`.
    pub public_key: String,
    /// The signed checkpoint the entries are checked against.
    pub checkpoint: String,
    /// `true` if `entries` is the whole log, in order; `false` for a selection with proofs.
    pub complete: bool,
    /// What the file can prove, in words; set on a selection ([`SELECTION_NOTE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where the log's head was published in the deployment's witnessed log of heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witnessed: Option<WitnessedHead>,
    pub entries: Vec<ExportedEntry>,
}

/// A head of the member's log as published in the log of heads, and the proof that it is
/// there: what ties the member's log to checkpoints that witnesses cosigned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WitnessedHead {
    /// The log of heads' checkpoint, signed by the server and cosigned by witnesses.
    pub checkpoint: String,
    /// The leaf's index in the log of heads.
    pub leaf_index: u64,
    /// The salt of the log's label (base64): the label is what the log of heads names the
    /// member's log by.
    pub salt: String,
    /// The member log's size and root hash (base64) when it was published.
    pub size: u64,
    pub root: String,
    /// The leaf's inclusion proof in the log of heads, base64 hashes.
    pub inclusion_proof: Vec<String>,
    /// For a selection: the proof that the member's log at `size` entries is a prefix of the
    /// log at the export's checkpoint, base64 hashes (a whole log shows that by its entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consistency_proof: Vec<String>,
}

/// The words every selection carries: it proves inclusion, never completeness.
pub const SELECTION_NOTE: &str = "This file holds a selection of the log. It proves that each \
     entry in it is in the log at the checkpoint, not that the log holds no other entries of \
     the kind selected: for that, verify the whole log's export.";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedEntry {
    #[serde(flatten)]
    pub entry: Entry,
    /// For a selection: the entry's inclusion proof against the checkpoint, base64 hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<Vec<String>>,
}

/// The fields an export file may have, at the top and in each entry: the format is strict,
/// so that nothing in a file escapes what verification covers.
const EXPORT_FIELDS: [&str; 8] = [
    "format",
    "origin",
    "public_key",
    "checkpoint",
    "complete",
    "note",
    "witnessed",
    "entries",
];
const WITNESSED_FIELDS: [&str; 7] = [
    "checkpoint",
    "leaf_index",
    "salt",
    "size",
    "root",
    "inclusion_proof",
    "consistency_proof",
];
const ENTRY_FIELDS: [&str; 10] = [
    "seq",
    "at",
    "app",
    "action",
    "scope",
    "objects",
    "outcome",
    "reason",
    "request_id",
    "inclusion_proof",
];

/// Why a file is not an export at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON of the export's shape: {0}")]
    Shape(String),
    #[error("`{field}` is not a field of {place}")]
    UnknownField { place: String, field: String },
}

impl Export {
    /// Reads an export file strictly: a field the format does not define, anywhere, is an
    /// error rather than silently ignored.
    pub fn parse(text: &str) -> Result<Export, ParseError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::Shape(e.to_string()))?;
        let unknown = |object: &serde_json::Value, known: &[&str], place: String| {
            let fields = object.as_object()?;
            let field = fields.keys().find(|key| !known.contains(&key.as_str()))?;
            Some(ParseError::UnknownField {
                place,
                field: field.clone(),
            })
        };
        if let Some(error) = unknown(&value, &EXPORT_FIELDS, "the export".into()) {
            return Err(error);
        }
        if let Some(witnessed) = value.get("witnessed")
            && let Some(error) = unknown(witnessed, &WITNESSED_FIELDS, "`witnessed`".into())
        {
            return Err(error);
        }
        let entries = value.get("entries").and_then(|e| e.as_array());
        for (index, entry) in entries.into_iter().flatten().enumerate() {
            if let Some(error) = unknown(entry, &ENTRY_FIELDS, format!("entry {index}")) {
                return Err(error);
            }
        }
        serde_json::from_value(value).map_err(|e| ParseError::Shape(e.to_string()))
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub origin: String,
    /// Entries checked.
    pub entries: usize,
    /// Entries in the log at the checkpoint.
    pub size: u64,
    pub complete: bool,
    /// `true` if the key came from the file itself rather than from the caller.
    pub key_from_file: bool,
    /// The size of the earlier checkpoint the log was found consistent with.
    pub consistent_with: Option<u64>,
    /// What the witnesses vouched for, when verified with witness keys.
    pub witnessed: Option<Witnessing>,
}

/// Which witnesses to require: `quorum` of `witnesses` must have cosigned the log of heads'
/// checkpoint no longer than `max_age_secs` before `now_secs`.
#[derive(Debug, Clone)]
pub struct WitnessPolicy {
    pub witnesses: Vec<CosignerVerifier>,
    pub quorum: usize,
    pub now_secs: u64,
    pub max_age_secs: u64,
}

/// What verification against witnesses established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessing {
    /// The member log's first `size` entries are the head the witnesses vouched for.
    pub size: u64,
    /// The size of the log of heads at the cosigned checkpoint.
    pub heads_size: u64,
    /// Each witness that counted, with the time of its cosignature.
    pub cosigned_by: Vec<(String, u64)>,
    /// Witnesses whose cosignature was older than the limit, with its time.
    pub stale: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a Confidant access-log export (format {0:?})")]
    UnknownFormat(String),
    #[error("the public key is unusable: {0}")]
    Key(String),
    #[error("checkpoint: {0}")]
    Checkpoint(CheckpointError),
    #[error("earlier checkpoint: {0}")]
    PreviousCheckpoint(CheckpointError),
    #[error("the checkpoint is for log {checkpoint:?} but the file says {file:?}")]
    OriginMismatch { file: String, checkpoint: String },
    #[error("the earlier checkpoint is for another log ({0:?})")]
    PreviousOriginMismatch(String),
    #[error(
        "the file has {entries} entries but the checkpoint covers {size}: entries were added or removed"
    )]
    CountMismatch { entries: usize, size: u64 },
    #[error(
        "the entry at position {position} has seq {seq}: entries were deleted, duplicated or reordered"
    )]
    Sequence { position: usize, seq: u64 },
    #[error(
        "the root hash of the {size} entries does not match the signed checkpoint: an entry was changed"
    )]
    RootMismatch { size: u64 },
    #[error("entry {seq}: its inclusion proof is missing")]
    MissingProof { seq: u64 },
    #[error("entry {seq}: {reason}")]
    Inclusion { seq: u64, reason: String },
    #[error(
        "the log has {size} entries but an earlier checkpoint had {previous}: it was truncated"
    )]
    Truncated { previous: u64, size: u64 },
    #[error(
        "the first {previous} entries no longer hash to the earlier checkpoint's root: the log was rewritten"
    )]
    Rewritten { previous: u64 },
    #[error(
        "a selection of entries cannot be checked against an earlier checkpoint; export the whole log"
    )]
    PreviousNeedsWholeLog,
    #[error("the file has no witnessed head: the server has not published this log yet")]
    NotWitnessed,
    #[error("the witnessed head is malformed: {0}")]
    WitnessedMalformed(String),
    #[error("the log of heads' checkpoint: {0}")]
    HeadsCheckpoint(CheckpointError),
    #[error("the log of heads' checkpoint is for {0:?}, not this server's log of heads")]
    HeadsOrigin(String),
    #[error(
        "the log was published with {witnessed} entries but the file has {size}: it was rolled back"
    )]
    RolledBack { witnessed: u64, size: u64 },
    #[error(
        "the first {witnessed} entries do not hash to the head that was published: the log was \
         rewritten, or shown differently to someone else"
    )]
    ForkedFromWitnessed { witnessed: u64 },
    #[error("the published head is not in the log of heads: {0}")]
    HeadNotIncluded(String),
    #[error("{0}")]
    Quorum(String),
}

pub fn hash_to_base64(hash: &Hash) -> String {
    BASE64.encode(hash.0)
}

/// Base64 hashes, as proofs carry them; `None` if one is malformed.
pub fn hashes_from_base64(texts: &[String]) -> Option<Vec<Hash>> {
    texts.iter().map(|text| hash_from_base64(text)).collect()
}

pub fn hash_from_base64(text: &str) -> Option<Hash> {
    BASE64
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .map(Hash)
}

/// Verifies an export against its signed checkpoint, and against an earlier checkpoint if one
/// is given. Without `public_key`, the key written in the file is used.
pub fn verify(
    export: &Export,
    public_key: Option<&PublicKey>,
    previous: Option<&str>,
) -> Result<Verified, VerifyError> {
    verify_witnessed(export, public_key, previous, None)
}

/// As [`verify`], and with `witnesses`, also that the log's published head is an extension
/// of nothing but these entries, is in the log of heads, and that a quorum of the witnesses
/// cosigned that log's checkpoint recently enough.
pub fn verify_witnessed(
    export: &Export,
    public_key: Option<&PublicKey>,
    previous: Option<&str>,
    witnesses: Option<&WitnessPolicy>,
) -> Result<Verified, VerifyError> {
    if export.format != EXPORT_FORMAT {
        return Err(VerifyError::UnknownFormat(export.format.clone()));
    }
    let key = match public_key {
        Some(key) => key.clone(),
        None => PublicKey::parse(&export.public_key)
            .map_err(|e: KeyError| VerifyError::Key(e.to_string()))?,
    };
    let checkpoint = checkpoint::open(&export.checkpoint, &key).map_err(VerifyError::Checkpoint)?;
    if checkpoint.origin != export.origin {
        return Err(VerifyError::OriginMismatch {
            file: export.origin.clone(),
            checkpoint: checkpoint.origin,
        });
    }
    let previous = previous
        .map(|text| checkpoint::open(text, &key).map_err(VerifyError::PreviousCheckpoint))
        .transpose()?;
    if let Some(previous) = &previous {
        if previous.origin != checkpoint.origin {
            return Err(VerifyError::PreviousOriginMismatch(previous.origin.clone()));
        }
        if previous.size > checkpoint.size {
            return Err(VerifyError::Truncated {
                previous: previous.size,
                size: checkpoint.size,
            });
        }
        if !export.complete {
            return Err(VerifyError::PreviousNeedsWholeLog);
        }
    }

    let published = match (witnesses, &export.witnessed) {
        (Some(_), None) => return Err(VerifyError::NotWitnessed),
        (Some(_), Some(witnessed)) => Some(published_head(witnessed)?),
        (None, _) => None,
    };
    if let Some((_, size, _)) = &published
        && *size > checkpoint.size
    {
        return Err(VerifyError::RolledBack {
            witnessed: *size,
            size: checkpoint.size,
        });
    }
    let mut prefix_root = None;

    if export.complete {
        if export.entries.len() as u64 != checkpoint.size {
            return Err(VerifyError::CountMismatch {
                entries: export.entries.len(),
                size: checkpoint.size,
            });
        }
        let mut frontier = Frontier::empty();
        let witnessed_size = published.as_ref().map(|(_, size, _)| *size);
        if witnessed_size == Some(0) {
            prefix_root = Some(frontier.root());
        }
        let check_previous = |frontier: &Frontier| match &previous {
            Some(previous)
                if previous.size == frontier.size() && previous.root != frontier.root() =>
            {
                Err(VerifyError::Rewritten {
                    previous: previous.size,
                })
            }
            _ => Ok(()),
        };
        check_previous(&frontier)?;
        for (position, exported) in export.entries.iter().enumerate() {
            if exported.entry.seq != position as u64 {
                return Err(VerifyError::Sequence {
                    position,
                    seq: exported.entry.seq,
                });
            }
            frontier.push(exported.entry.leaf_hash());
            check_previous(&frontier)?;
            if witnessed_size == Some(frontier.size()) {
                prefix_root = Some(frontier.root());
            }
        }
        if frontier.root() != checkpoint.root {
            return Err(VerifyError::RootMismatch {
                size: checkpoint.size,
            });
        }
    } else {
        for exported in &export.entries {
            let seq = exported.entry.seq;
            let proof = exported
                .inclusion_proof
                .as_deref()
                .ok_or(VerifyError::MissingProof { seq })
                .map(hashes_from_base64)?
                .ok_or_else(|| VerifyError::Inclusion {
                    seq,
                    reason: "the proof holds a malformed hash".into(),
                })?;
            tree::verify_inclusion(
                &proof,
                seq,
                checkpoint.size,
                checkpoint.root,
                exported.entry.leaf_hash(),
            )
            .map_err(|e: ProofError| VerifyError::Inclusion {
                seq,
                reason: e.to_string(),
            })?;
        }
    }

    let witnessed = match (witnesses, published) {
        (Some(policy), Some((leaf, size, root))) => {
            let witnessed = export
                .witnessed
                .as_ref()
                .expect("published implies witnessed");
            // A whole log shows its own prefix; a selection carries a consistency proof from
            // the published head to the checkpoint it was exported at.
            let extends = if export.complete {
                prefix_root == Some(root)
            } else if size == checkpoint.size {
                root == checkpoint.root
            } else {
                let proof = hashes_from_base64(&witnessed.consistency_proof).ok_or_else(|| {
                    VerifyError::WitnessedMalformed("the consistency proof".into())
                })?;
                tree::verify_consistency(&proof, size, checkpoint.size, root, checkpoint.root)
                    .is_ok()
            };
            if !extends {
                return Err(VerifyError::ForkedFromWitnessed { witnessed: size });
            }
            Some(check_witnessed(
                witnessed,
                &key,
                &checkpoint.origin,
                (leaf, root),
                policy,
            )?)
        }
        _ => None,
    };

    Ok(Verified {
        origin: checkpoint.origin,
        entries: export.entries.len(),
        size: checkpoint.size,
        complete: export.complete,
        key_from_file: public_key.is_none(),
        consistent_with: previous.map(|previous| previous.size),
        witnessed,
    })
}

/// The salt, size and root of a witnessed head, decoded.
fn published_head(witnessed: &WitnessedHead) -> Result<([u8; 32], u64, Hash), VerifyError> {
    let salt = BASE64
        .decode(&witnessed.salt)
        .ok()
        .and_then(|salt| <[u8; 32]>::try_from(salt).ok())
        .ok_or_else(|| VerifyError::WitnessedMalformed("the salt is not 32 bytes".into()))?;
    let root = hash_from_base64(&witnessed.root)
        .ok_or_else(|| VerifyError::WitnessedMalformed("the root is not a hash".into()))?;
    Ok((salt, witnessed.size, root))
}

/// Checks the head's inclusion in the log of heads and the witnesses' cosignatures on its
/// checkpoint.
fn check_witnessed(
    witnessed: &WitnessedHead,
    key: &PublicKey,
    origin: &str,
    (salt, root): ([u8; 32], Hash),
    policy: &WitnessPolicy,
) -> Result<Witnessing, VerifyError> {
    let heads =
        checkpoint::open(&witnessed.checkpoint, key).map_err(VerifyError::HeadsCheckpoint)?;
    if heads.origin != heads::origin(key.name()) {
        return Err(VerifyError::HeadsOrigin(heads.origin));
    }
    let leaf = HeadLeaf {
        label: heads::label(&salt, origin),
        size: witnessed.size,
        root,
    };
    let proof = hashes_from_base64(&witnessed.inclusion_proof)
        .ok_or_else(|| VerifyError::HeadNotIncluded("the proof holds a malformed hash".into()))?;
    tree::verify_inclusion(
        &proof,
        witnessed.leaf_index,
        heads.size,
        heads.root,
        leaf.leaf_hash(),
    )
    .map_err(|e| VerifyError::HeadNotIncluded(e.to_string()))?;

    let Cosignatures { cosigned_by, stale } = check_cosigned(&witnessed.checkpoint, policy)?;
    Ok(Witnessing {
        size: witnessed.size,
        heads_size: heads.size,
        cosigned_by,
        stale,
    })
}

/// The witnesses that cosigned a checkpoint recently enough, and those whose cosignature
/// was stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignatures {
    pub cosigned_by: Vec<(String, u64)>,
    pub stale: Vec<(String, u64)>,
}

/// Checks that `policy.quorum` of the witnesses cosigned the signed note `checkpoint`
/// recently enough.
pub fn check_cosigned(
    checkpoint: &str,
    policy: &WitnessPolicy,
) -> Result<Cosignatures, VerifyError> {
    let (body, signatures) = split_note(checkpoint).ok_or_else(|| {
        VerifyError::HeadsCheckpoint(CheckpointError::Malformed("no signature lines".into()))
    })?;
    let mut cosigned_by = Vec::new();
    let mut stale = Vec::new();
    let mut missing = Vec::new();
    for witness in &policy.witnesses {
        match witness.find(body, &signatures) {
            Some(at) if policy.now_secs.saturating_sub(at) > policy.max_age_secs => {
                stale.push((witness.name().to_owned(), at));
            }
            Some(at) => cosigned_by.push((witness.name().to_owned(), at)),
            None => missing.push(witness.name().to_owned()),
        }
    }
    if cosigned_by.len() < policy.quorum {
        let mut reasons = Vec::new();
        if !missing.is_empty() {
            reasons.push(format!("no cosignature from {}", missing.join(", ")));
        }
        for (name, at) in &stale {
            reasons.push(format!(
                "{name}'s cosignature is stale ({} old, the limit is {})",
                age(policy.now_secs.saturating_sub(*at)),
                age(policy.max_age_secs)
            ));
        }
        let origin = body.lines().next().unwrap_or_default();
        return Err(VerifyError::Quorum(format!(
            "{} of the {} witnesses needed cosigned {origin}: {}",
            cosigned_by.len(),
            policy.quorum,
            reasons.join("; ")
        )));
    }
    Ok(Cosignatures { cosigned_by, stale })
}

/// A duration in words, to the hour or minute.
pub fn age(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

#[cfg(test)]
mod strict_tests {
    use super::*;

    #[test]
    fn fields_the_format_does_not_define_are_refused() {
        let export = r#"{"format":"confidant-access-log/1","origin":"o","public_key":"k",
            "checkpoint":"c","complete":true,"entries":[]}"#;
        assert!(Export::parse(export).is_ok());
        let extra = export.replace("\"entries\"", "\"extra\":1,\"entries\"");
        assert_eq!(
            Export::parse(&extra).unwrap_err(),
            ParseError::UnknownField {
                place: "the export".into(),
                field: "extra".into()
            }
        );
        let entry = r#"{"seq":0,"at":"2026-11-30T00:00:00.000Z","app":"a","action":"profile.read",
            "outcome":"allowed","request_id":"r","verified":true}"#;
        let with_entry = export.replace("[]", &format!("[{entry}]"));
        assert!(matches!(
            Export::parse(&with_entry),
            Err(ParseError::UnknownField { field, .. }) if field == "verified"
        ));
        assert!(matches!(Export::parse("[]"), Err(ParseError::Shape(_))));
    }
}
