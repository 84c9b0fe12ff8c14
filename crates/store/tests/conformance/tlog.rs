use std::sync::Arc;

use confidant_core::MemberId;
use confidant_core::accesslog::Action;
use confidant_core::store::{
    AccessLogStore, HEADS_LOG, NewLogEntry, StoredCheckpoint, WitnessedLogStore,
};
use confidant_log::heads::{self, HeadLeaf};
use confidant_log::tree::{self, Frontier};
use confidant_log::{EMPTY_ROOT, Hash};
use confidant_store::testing::TestDatabase;
use confidant_store::{SqlStore, on_both_backends};

use super::{T0, member};

on_both_backends!(
    publishing_appends_the_heads_of_grown_logs_once,
    checkpoints_keep_the_most_cosigned_version
);

fn leaf(salt: &[u8; 32], member: MemberId, size: u64, root: Hash) -> Vec<u8> {
    HeadLeaf {
        label: heads::label(salt, &confidant_log::origin("test", member.0)),
        size,
        root,
    }
    .encode()
}

async fn access(store: &SqlStore, member: MemberId) {
    let entry = NewLogEntry::new(member, T0, "cfd_app", Action::ProfileRead, "r");
    store.append_log(entry, None).await.unwrap();
}

async fn publishing_appends_the_heads_of_grown_logs_once(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let _quiet = member(store, "carol").await;
    assert_eq!(store.tlog_head(HEADS_LOG).await.unwrap().root, EMPTY_ROOT);

    access(store, alice.id).await;
    access(store, alice.id).await;
    access(store, bob.id).await;
    let first = store.publish_heads(100, Arc::new(leaf)).await.unwrap();
    // Carol's log is empty: nothing to publish for her.
    assert_eq!((first.published, first.head.size), (2, 2));
    let nothing = store.publish_heads(100, Arc::new(leaf)).await.unwrap();
    assert_eq!((nothing.published, nothing.head), (0, first.head.clone()));

    access(store, alice.id).await;
    let second = store.publish_heads(100, Arc::new(leaf)).await.unwrap();
    assert_eq!((second.published, second.head.size), (1, 3));

    // The stored tree is the tree of the stored leaves, and proves them.
    let leaves = store.tlog_leaves(HEADS_LOG, 0, 10).await.unwrap();
    assert_eq!(leaves.len(), 3);
    let mut frontier = Frontier::empty();
    for leaf in &leaves {
        frontier.push(tree::leaf_hash(leaf));
    }
    assert_eq!(frontier.root(), second.head.root);
    let proof_indexes = tree::inclusion_indexes(2, 3).unwrap();
    let stored = store.tlog_hashes(HEADS_LOG, &proof_indexes).await.unwrap();
    let proof = tree::prove_inclusion(2, 3, &stored).unwrap();
    tree::verify_inclusion(&proof, 2, 3, second.head.root, tree::leaf_hash(&leaves[2])).unwrap();

    // Alice's newest publication is leaf 2 (her log at 3 entries), with the same salt as
    // her first; below leaf 2, it is her first publication.
    let newest = store.published_head(alice.id, 3).await.unwrap().unwrap();
    let earlier = store.published_head(alice.id, 2).await.unwrap().unwrap();
    assert_eq!((newest.leaf, earlier.leaf), (2, 0));
    assert_eq!(newest.salt, earlier.salt);
    assert_eq!(newest.data, leaves[2]);
    let decoded = HeadLeaf::decode(&newest.data).unwrap();
    assert_eq!(decoded.size, 3);
    assert_eq!(decoded.root, store.log_head(alice.id).await.unwrap().root);
    assert_eq!(
        decoded.label,
        heads::label(&newest.salt, &confidant_log::origin("test", alice.id.0))
    );
    let bobs = store.published_head(bob.id, 3).await.unwrap().unwrap();
    assert_ne!(bobs.salt, newest.salt);
    assert!(store.published_head(alice.id, 0).await.unwrap().is_none());

    // A batch limit leaves the rest for the next round.
    access(store, alice.id).await;
    access(store, bob.id).await;
    for expected in [1, 1, 0] {
        let round = store.publish_heads(1, Arc::new(leaf)).await.unwrap();
        assert_eq!(round.published, expected);
    }
}

async fn checkpoints_keep_the_most_cosigned_version(db: TestDatabase) {
    let store = &db.store;
    let checkpoint = |size, note: &str, cosigners, cosigned_at| StoredCheckpoint {
        size,
        note: note.into(),
        cosigners,
        signed_at: T0,
        cosigned_at,
    };
    assert_eq!(store.latest_checkpoint(HEADS_LOG, 0).await.unwrap(), None);
    store
        .save_checkpoint(HEADS_LOG, &checkpoint(1, "one", 0, None))
        .await
        .unwrap();
    store
        .save_checkpoint(HEADS_LOG, &checkpoint(1, "one+w1", 1, Some(T0)))
        .await
        .unwrap();
    // Fewer cosigners never replace more.
    store
        .save_checkpoint(HEADS_LOG, &checkpoint(1, "one again", 0, None))
        .await
        .unwrap();
    store
        .save_checkpoint(HEADS_LOG, &checkpoint(2, "two", 0, None))
        .await
        .unwrap();
    let latest = store
        .latest_checkpoint(HEADS_LOG, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.note, "two");
    let cosigned = store
        .latest_checkpoint(HEADS_LOG, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cosigned.size, cosigned.note.as_str()), (1, "one+w1"));
    // As many cosigners, newer: replaced (a refreshed cosignature).
    let later = T0.plus_secs(60);
    store
        .save_checkpoint(HEADS_LOG, &checkpoint(1, "one+w1 later", 1, Some(later)))
        .await
        .unwrap();
    let cosigned = store
        .latest_checkpoint(HEADS_LOG, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cosigned.note.as_str(), cosigned.cosigned_at),
        ("one+w1 later", Some(later))
    );
    assert!(
        store
            .latest_checkpoint("ledger", 0)
            .await
            .unwrap()
            .is_none()
    );
}
