use confidant_core::StoreError;
use confidant_core::store::{Relationship, SocialStore};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{T0, befriend, member};

on_both_backends!(
    requests_become_friendships,
    blocks_remove_friendship_and_requests
);

async fn requests_become_friendships(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let advanced = store
        .create_friend_request(alice.id, bob.id, T0)
        .await
        .unwrap();
    assert_eq!(advanced.len(), 1);
    assert_eq!(advanced[0].member, bob.id);
    let seen_by_bob = store.relationship(bob.id, alice.id).await.unwrap();
    assert_eq!(
        seen_by_bob,
        Relationship {
            request_received: true,
            ..Relationship::default()
        }
    );
    let requests = store.friend_requests(bob.id).await.unwrap();
    assert_eq!(requests.incoming[0].id, alice.id);
    assert!(requests.outgoing.is_empty());

    // Accepting a request that does not exist is refused.
    assert!(matches!(
        store.accept_friend_request(bob.id, alice.id, T0).await,
        Err(StoreError::NotFound)
    ));
    store
        .accept_friend_request(alice.id, bob.id, T0)
        .await
        .unwrap();
    assert!(store.relationship(alice.id, bob.id).await.unwrap().friends);
    assert!(store.relationship(bob.id, alice.id).await.unwrap().friends);
    assert_eq!(store.friends(alice.id).await.unwrap()[0].id, bob.id);
    assert!(
        store
            .friend_requests(bob.id)
            .await
            .unwrap()
            .incoming
            .is_empty()
    );

    assert!(store.delete_friendship(bob.id, alice.id).await.unwrap());
    assert!(!store.delete_friendship(bob.id, alice.id).await.unwrap());
    assert!(store.friends(alice.id).await.unwrap().is_empty());
}

async fn blocks_remove_friendship_and_requests(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    befriend(store, alice.id, bob.id).await;
    store
        .create_friend_request(bob.id, alice.id, T0)
        .await
        .unwrap();
    store.block(bob.id, alice.id, T0).await.unwrap();
    store.block(bob.id, alice.id, T0).await.unwrap(); // idempotent
    let seen_by_alice = store.relationship(alice.id, bob.id).await.unwrap();
    assert_eq!(
        seen_by_alice,
        Relationship {
            blocked_me: true,
            ..Relationship::default()
        }
    );
    assert_eq!(store.blocked(bob.id).await.unwrap()[0].id, alice.id);
    assert!(store.unblock(bob.id, alice.id).await.unwrap());
    assert!(!store.unblock(bob.id, alice.id).await.unwrap());
    assert_eq!(
        store.relationship(alice.id, bob.id).await.unwrap(),
        Relationship::default()
    );
}
