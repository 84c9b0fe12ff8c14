//! The offline verifier against exports that were tampered with, each failing for its reason.

use confidant_log::export::{self, hash_to_base64};
use confidant_log::tree::{self, Frontier};
use confidant_log::{
    CheckpointError, EXPORT_FORMAT, Entry, Export, ExportedEntry, LogSigner, Outcome, PublicKey,
    VerifyError, origin,
};

const KEY_NAME: &str = "confidant.test";

fn entry(seq: u64) -> Entry {
    Entry {
        seq,
        at_ms: 1_763_800_000_000 + seq as i64,
        app: "cfd_app_streamflix".into(),
        action: if seq.is_multiple_of(2) {
            "profile.read"
        } else {
            "token.issue"
        }
        .into(),
        scope: Some("profile".into()),
        objects: vec![format!("member:{seq}")],
        outcome: if seq.is_multiple_of(3) {
            Outcome::Denied
        } else {
            Outcome::Allowed
        },
        reason: seq.is_multiple_of(3).then(|| "insufficient_scope".into()),
        request_id: format!("req-{seq}"),
    }
}

/// A log of `size` entries as the server would export it, with the checkpoint at its size.
struct Log {
    signer: LogSigner,
    entries: Vec<Entry>,
}

impl Log {
    fn new(size: u64) -> Self {
        Self {
            signer: LogSigner::generate(KEY_NAME).unwrap().0,
            entries: (0..size).map(entry).collect(),
        }
    }

    fn origin(&self) -> String {
        origin(KEY_NAME, 42)
    }

    fn checkpoint_of(&self, entries: &[Entry]) -> String {
        let mut frontier = Frontier::empty();
        for entry in entries {
            frontier.push(entry.leaf_hash());
        }
        self.signer
            .sign(&self.origin(), entries.len() as u64, frontier.root())
    }

    fn checkpoint(&self) -> String {
        self.checkpoint_of(&self.entries)
    }

    /// Exports `entries` as the whole log under the checkpoint the server holds for them.
    fn export(&self, entries: Vec<Entry>, checkpoint: String) -> Export {
        Export {
            note: None,
            format: EXPORT_FORMAT.into(),
            origin: self.origin(),
            public_key: self.signer.public_key().into(),
            checkpoint,
            complete: true,
            entries: entries
                .into_iter()
                .map(|entry| ExportedEntry {
                    entry,
                    inclusion_proof: None,
                })
                .collect(),
            witnessed: None,
        }
    }

    fn key(&self) -> PublicKey {
        PublicKey::parse(self.signer.public_key()).unwrap()
    }
}

#[test]
fn an_untouched_log_verifies_also_against_an_earlier_checkpoint() {
    let log = Log::new(10);
    let earlier = log.checkpoint_of(&log.entries[..6]);
    let export = log.export(log.entries.clone(), log.checkpoint());
    let verified = export::verify(&export, Some(&log.key()), Some(&earlier)).unwrap();
    assert_eq!(verified.entries, 10);
    assert_eq!(verified.consistent_with, Some(6));
    assert!(!verified.key_from_file);
    assert!(export::verify(&export, None, None).unwrap().key_from_file);

    let json = serde_json::to_string(&export).unwrap();
    let reread: Export = serde_json::from_str(&json).unwrap();
    export::verify(&reread, Some(&log.key()), Some(&earlier)).unwrap();
}

#[test]
fn an_edited_entry_is_caught_even_when_the_server_re_signs() {
    let log = Log::new(10);
    let earlier = log.checkpoint();
    let mut entries = log.entries.clone();
    // A denial rewritten as an allowed access.
    entries[3].outcome = Outcome::Allowed;
    entries[3].reason = None;

    // The rows were edited but the stored tree was not: the root no longer matches.
    let export = log.export(entries.clone(), log.checkpoint());
    assert_eq!(
        export::verify(&export, Some(&log.key()), None),
        Err(VerifyError::RootMismatch { size: 10 })
    );
    // The tree was rebuilt and re-signed too: only the earlier checkpoint shows it.
    let resigned = log.export(entries.clone(), log.checkpoint_of(&entries));
    export::verify(&resigned, Some(&log.key()), None).unwrap();
    assert_eq!(
        export::verify(&resigned, Some(&log.key()), Some(&earlier)),
        Err(VerifyError::Rewritten { previous: 10 })
    );
}

#[test]
fn deleted_and_reordered_entries_are_caught() {
    let log = Log::new(10);
    let checkpoint = log.checkpoint();

    let mut deleted = log.entries.clone();
    deleted.remove(3);
    assert_eq!(
        export::verify(
            &log.export(deleted, checkpoint.clone()),
            Some(&log.key()),
            None
        ),
        Err(VerifyError::CountMismatch {
            entries: 9,
            size: 10
        })
    );

    let mut reordered = log.entries.clone();
    reordered.swap(2, 5);
    assert_eq!(
        export::verify(
            &log.export(reordered, checkpoint.clone()),
            Some(&log.key()),
            None
        ),
        Err(VerifyError::Sequence {
            position: 2,
            seq: 5
        })
    );

    // Contents swapped but seqs kept in place, as a database edit would do.
    let mut swapped = log.entries.clone();
    let (a, b) = (swapped[2].clone(), swapped[5].clone());
    swapped[2] = Entry { seq: 2, ..b };
    swapped[5] = Entry { seq: 5, ..a };
    assert_eq!(
        export::verify(&log.export(swapped, checkpoint), Some(&log.key()), None),
        Err(VerifyError::RootMismatch { size: 10 })
    );
}

#[test]
fn a_truncated_log_is_caught_against_an_earlier_checkpoint() {
    let log = Log::new(10);
    let earlier = log.checkpoint();
    let truncated = log.entries[..7].to_vec();
    let export = log.export(truncated.clone(), log.checkpoint_of(&truncated));
    export::verify(&export, Some(&log.key()), None).unwrap();
    assert_eq!(
        export::verify(&export, Some(&log.key()), Some(&earlier)),
        Err(VerifyError::Truncated {
            previous: 10,
            size: 7
        })
    );
}

#[test]
fn checkpoints_under_another_key_or_edited_are_refused() {
    let log = Log::new(4);
    let impostor = Log::new(4);
    let export = log.export(log.entries.clone(), log.checkpoint());
    assert!(matches!(
        export::verify(&export, Some(&impostor.key()), None),
        Err(VerifyError::Checkpoint(CheckpointError::NotSignedBy { .. }))
    ));
    let mut edited = export.clone();
    edited.checkpoint = edited.checkpoint.replacen("\n4\n", "\n3\n", 1);
    assert!(matches!(
        export::verify(&edited, Some(&log.key()), None),
        Err(VerifyError::Checkpoint(
            CheckpointError::BadSignature { .. }
        ))
    ));
    let other_log = log
        .signer
        .sign("confidant.test/access-log/7", 0, tree::EMPTY_ROOT);
    assert_eq!(
        export::verify(&export, Some(&log.key()), Some(&other_log)),
        Err(VerifyError::PreviousOriginMismatch(
            "confidant.test/access-log/7".into()
        ))
    );
    let mut wrong_format = export;
    wrong_format.format = "something-else".into();
    assert!(matches!(
        export::verify(&wrong_format, None, None),
        Err(VerifyError::UnknownFormat(_))
    ));
}

#[test]
fn a_selection_verifies_by_inclusion_proofs() {
    let log = Log::new(9);
    let mut frontier = Frontier::empty();
    let mut stored = std::collections::HashMap::new();
    for entry in &log.entries {
        let appended = frontier.push(entry.leaf_hash());
        for (i, hash) in appended.hashes.into_iter().enumerate() {
            stored.insert(appended.first_index + i as u64, hash);
        }
    }
    let proof_of = |seq: u64| {
        let indexes = tree::inclusion_indexes(seq, 9).unwrap();
        let hashes: Vec<_> = indexes.iter().map(|i| stored[i]).collect();
        tree::prove_inclusion(seq, 9, &hashes)
            .unwrap()
            .iter()
            .map(hash_to_base64)
            .collect::<Vec<_>>()
    };
    let mut export = log.export(vec![], log.checkpoint());
    export.complete = false;
    export.entries = [1, 4, 8]
        .into_iter()
        .map(|seq| ExportedEntry {
            entry: log.entries[seq as usize].clone(),
            inclusion_proof: Some(proof_of(seq)),
        })
        .collect();
    let verified = export::verify(&export, Some(&log.key()), None).unwrap();
    assert_eq!((verified.entries, verified.size), (3, 9));

    let mut forged = export.clone();
    forged.entries[1].entry.action = "thread.read".into();
    assert!(matches!(
        export::verify(&forged, Some(&log.key()), None),
        Err(VerifyError::Inclusion { seq: 4, .. })
    ));
    let mut unproven = export.clone();
    unproven.entries[0].inclusion_proof = None;
    assert_eq!(
        export::verify(&unproven, Some(&log.key()), None),
        Err(VerifyError::MissingProof { seq: 1 })
    );
    assert_eq!(
        export::verify(&export, Some(&log.key()), Some(&log.checkpoint())),
        Err(VerifyError::PreviousNeedsWholeLog)
    );
}
