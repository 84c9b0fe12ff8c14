use confidant_core::store::{
    AccountStore, AttachmentStore, ConversationKind, MessagingStore, NewAttachment,
    NewConversation, NewMessage,
};
use confidant_core::{AttachmentId, MemberId, StoreError};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::messaging::{direct, saying};
use super::{T0, is_conflict, member};

on_both_backends!(
    an_upload_is_its_uploaders_until_a_message_carries_it,
    only_the_members_of_its_conversation_read_a_sent_file,
    only_the_uploader_sends_an_upload_and_only_once,
    deleting_the_message_queues_its_blobs_for_deletion,
    every_way_a_file_goes_queues_its_blob,
);

fn upload(uploader: MemberId, key: &str) -> NewAttachment {
    NewAttachment {
        uploader,
        blob_key: key.to_owned(),
        name: format!("{key}.jpg"),
        content_type: "image/jpeg".into(),
        size: 1234,
        width: Some(640),
        height: Some(480),
        thumbnail: true,
        created_at: T0,
    }
}

fn with_files(message: NewMessage, files: &[AttachmentId]) -> NewMessage {
    NewMessage {
        attachments: files.to_vec(),
        ..message
    }
}

async fn an_upload_is_its_uploaders_until_a_message_carries_it(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let file = store
        .insert_attachment(upload(alice.id, "k1"))
        .await
        .unwrap();
    assert_eq!(file.uploader, alice.id);
    assert_eq!(file.message_id, None);
    assert_eq!(file.info.name, "k1.jpg");
    assert_eq!((file.info.width, file.info.height), (Some(640), Some(480)));
    assert!(file.info.thumbnail);
    let seen = store.attachment_for(file.info.id, alice.id).await.unwrap();
    assert_eq!(seen, Some(file.clone()));
    assert_eq!(
        store.attachment_for(file.info.id, bob.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.attachments_by(alice.id).await.unwrap(),
        vec![file.clone()]
    );
    // Never sent: purged once it is older than the cut-off, and its blob queued.
    assert_eq!(store.purge_unsent_attachments(T0).await.unwrap(), 0);
    assert_eq!(
        store
            .purge_unsent_attachments(T0.plus_secs(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.blob_deletions(10).await.unwrap(), vec!["k1"]);
    store.forget_blob_deletions(&["k1".into()]).await.unwrap();
    assert!(store.blob_deletions(10).await.unwrap().is_empty());
}

async fn only_the_members_of_its_conversation_read_a_sent_file(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;
    let dave = member(store, "dave").await;
    let (group, _) = store
        .create_conversation(NewConversation {
            kind: ConversationKind::Group,
            title: Some("trip".into()),
            direct_key: None,
            created_by: alice.id,
            members: vec![alice.id, bob.id, carol.id],
            created_at: T0,
        })
        .await
        .unwrap();
    let photo = store
        .insert_attachment(upload(alice.id, "p1"))
        .await
        .unwrap();
    let plan = store
        .insert_attachment(upload(alice.id, "p2"))
        .await
        .unwrap();
    let (message, _) = store
        .insert_message(with_files(
            saying(group, alice.id, ""),
            &[plan.info.id, photo.info.id],
        ))
        .await
        .unwrap();
    // In the order they were attached, on every read of the message.
    let order: Vec<AttachmentId> = message.attachments.iter().map(|a| a.id).collect();
    assert_eq!(order, vec![plan.info.id, photo.info.id]);
    let page = store.messages(group, bob.id, None, 10).await.unwrap();
    assert_eq!(page[0].attachments, message.attachments);
    assert_eq!(
        store
            .message(message.id)
            .await
            .unwrap()
            .unwrap()
            .attachments,
        message.attachments
    );
    for reader in [alice.id, bob.id, carol.id] {
        let seen = store.attachment_for(photo.info.id, reader).await.unwrap();
        assert_eq!(seen.unwrap().message_id, Some(message.id));
    }
    assert_eq!(
        store.attachment_for(photo.info.id, dave.id).await.unwrap(),
        None
    );
    // Leaving the group ends access to its files.
    store
        .remove_participant(group, carol.id, T0.plus_secs(5))
        .await
        .unwrap();
    assert_eq!(
        store.attachment_for(photo.info.id, carol.id).await.unwrap(),
        None
    );
    assert!(
        store
            .attachment_for(photo.info.id, bob.id)
            .await
            .unwrap()
            .is_some()
    );
}

async fn only_the_uploader_sends_an_upload_and_only_once(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let alices = store
        .insert_attachment(upload(alice.id, "a1"))
        .await
        .unwrap();
    // Bob cannot send Alice's upload, nor an id that does not exist; nothing is stored.
    for files in [vec![alices.info.id], vec![AttachmentId(987_654)]] {
        assert!(is_conflict(
            store
                .insert_message(with_files(saying(id, bob.id, "look"), &files))
                .await,
            "attachment"
        ));
    }
    assert!(
        store
            .messages(id, bob.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (sent, _) = store
        .insert_message(with_files(saying(id, alice.id, "look"), &[alices.info.id]))
        .await
        .unwrap();
    assert_eq!(sent.attachments.len(), 1);
    // A file goes with one message.
    assert!(is_conflict(
        store
            .insert_message(with_files(saying(id, alice.id, "again"), &[alices.info.id]))
            .await,
        "attachment"
    ));
    // A retry of the same draft is answered with the first message, files and all.
    let keyed = NewMessage {
        client_key: Some("draft-7".into()),
        ..with_files(saying(id, alice.id, "retry"), &[])
    };
    let second = store
        .insert_attachment(upload(alice.id, "a2"))
        .await
        .unwrap();
    let keyed = with_files(keyed, &[second.info.id]);
    let (first, _) = store.insert_message(keyed.clone()).await.unwrap();
    let (again, advanced) = store.insert_message(keyed).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.attachments, first.attachments);
    assert!(advanced.is_empty());
    assert_eq!(store.messages(id, bob.id, None, 10).await.unwrap().len(), 2);
}

async fn deleting_the_message_queues_its_blobs_for_deletion(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let file = store
        .insert_attachment(upload(alice.id, "d1"))
        .await
        .unwrap();
    let (message, _) = store
        .insert_message(with_files(saying(id, alice.id, "x"), &[file.info.id]))
        .await
        .unwrap();
    store
        .delete_message(message.id, alice.id, T0.plus_secs(3))
        .await
        .unwrap();
    for reader in [alice.id, bob.id] {
        assert_eq!(
            store.attachment_for(file.info.id, reader).await.unwrap(),
            None
        );
    }
    let read = store.message(message.id).await.unwrap().unwrap();
    assert!(read.deleted);
    assert!(read.attachments.is_empty());
    assert_eq!(store.blob_deletions(10).await.unwrap(), vec!["d1"]);
    // An id is never given again: a browser may still hold the old file under its URL.
    let next = store
        .insert_attachment(upload(alice.id, "d2"))
        .await
        .unwrap();
    assert!(next.info.id > file.info.id);
}

async fn every_way_a_file_goes_queues_its_blob(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;
    // Bob's file in his 1:1 with Carol goes with Bob's account.
    let (theirs, _) = store
        .create_conversation(direct(bob.id, carol.id))
        .await
        .unwrap();
    let bobs = store.insert_attachment(upload(bob.id, "b1")).await.unwrap();
    store
        .insert_message(with_files(saying(theirs, bob.id, "x"), &[bobs.info.id]))
        .await
        .unwrap();
    let unsent = store.insert_attachment(upload(bob.id, "b2")).await.unwrap();
    store.delete_member(bob.id).await.unwrap();
    assert_eq!(
        store.attachment_for(bobs.info.id, carol.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.attachment_for(unsent.info.id, bob.id).await.unwrap(),
        None
    );
    // Alice's file in a group goes with the group, once its last member leaves.
    let (group, _) = store
        .create_conversation(NewConversation {
            kind: ConversationKind::Group,
            title: Some("solo".into()),
            direct_key: None,
            created_by: alice.id,
            members: vec![alice.id],
            created_at: T0,
        })
        .await
        .unwrap();
    let alices = store
        .insert_attachment(upload(alice.id, "a1"))
        .await
        .unwrap();
    store
        .insert_message(with_files(saying(group, alice.id, "x"), &[alices.info.id]))
        .await
        .unwrap();
    store
        .remove_participant(group, alice.id, T0.plus_secs(2))
        .await
        .unwrap();
    assert!(store.attachments_by(alice.id).await.unwrap().is_empty());
    let mut queued = store.blob_deletions(10).await.unwrap();
    queued.sort();
    assert_eq!(queued, vec!["a1", "b1", "b2"]);
    assert!(matches!(
        store.member(bob.id).await,
        Ok(None) | Err(StoreError::NotFound)
    ));
}
