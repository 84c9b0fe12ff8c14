use confidant_core::MemberId;
use confidant_core::store::{MessagingStore, NewPushSubscription, PushStore};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::messaging::{direct, saying};
use super::{T0, is_conflict, member};

on_both_backends!(
    a_message_queues_a_push_for_each_browser_of_the_others,
    claims_hold_pushes_until_their_lease_ends,
    a_browser_belongs_to_whoever_subscribed_in_it_last,
);

fn browser(member: MemberId, endpoint: &str) -> NewPushSubscription {
    NewPushSubscription {
        member_id: member,
        endpoint: format!("https://push.example/{endpoint}"),
        p256dh: "key".into(),
        auth: "auth".into(),
        show_text: false,
        created_at: T0,
    }
}

async fn a_message_queues_a_push_for_each_browser_of_the_others(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    store
        .save_push_subscription(browser(alice.id, "alices-phone"), 20)
        .await
        .unwrap();
    let phone = store
        .save_push_subscription(browser(bob.id, "bobs-phone"), 20)
        .await
        .unwrap();
    let laptop = store
        .save_push_subscription(browser(bob.id, "bobs-laptop"), 20)
        .await
        .unwrap();
    // Bob's laptop has the live stream open: it sees the message there.
    assert!(
        store
            .set_push_streaming(laptop.id, bob.id, Some(T0.plus_secs(90)))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_push_streaming(laptop.id, alice.id, Some(T0.plus_secs(90)))
            .await
            .unwrap(),
        "only its owner says a browser is watching"
    );
    let (message, _) = store
        .insert_message(saying(id, alice.id, "hello"))
        .await
        .unwrap();
    let due = store
        .claim_due_pushes(T0.plus_secs(1), T0.plus_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "one push: Bob's phone");
    assert_eq!(due[0].subscription, phone);
    assert_eq!(due[0].message.id, message.id);
    assert_eq!(due[0].attempts, 1);
    assert!(!due[0].streaming);
    store.finish_push(due[0].id).await.unwrap();
    assert!(
        store
            .claim_due_pushes(T0.plus_secs(3600), T0.plus_secs(3700), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn claims_hold_pushes_until_their_lease_ends(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    store
        .save_push_subscription(browser(bob.id, "phone"), 20)
        .await
        .unwrap();
    store
        .insert_message(saying(id, alice.id, "one"))
        .await
        .unwrap();
    let (deleted, _) = store
        .insert_message(saying(id, alice.id, "two"))
        .await
        .unwrap();
    let first = store
        .claim_due_pushes(T0.plus_secs(1), T0.plus_secs(60), 1)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // Claimed: another node finds only the other one.
    store
        .delete_message(deleted.id, alice.id, T0.plus_secs(2))
        .await
        .unwrap();
    let others = store
        .claim_due_pushes(T0.plus_secs(2), T0.plus_secs(60), 10)
        .await
        .unwrap();
    assert!(
        others.is_empty(),
        "the deleted message's push is dropped, not sent"
    );
    // A retry comes back when it is due, its attempts counted.
    store
        .retry_push(first[0].id, T0.plus_secs(300))
        .await
        .unwrap();
    assert!(
        store
            .claim_due_pushes(T0.plus_secs(299), T0.plus_secs(400), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_due_pushes(T0.plus_secs(300), T0.plus_secs(400), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // The push service said the browser is gone: its pushes go with it.
    store
        .drop_push_subscription(again[0].subscription.id)
        .await
        .unwrap();
    assert!(store.push_subscriptions(bob.id).await.unwrap().is_empty());
    assert!(
        store
            .claim_due_pushes(T0.plus_secs(9999), T0.plus_secs(99999), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_browser_belongs_to_whoever_subscribed_in_it_last(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let first = store
        .save_push_subscription(browser(alice.id, "shared"), 20)
        .await
        .unwrap();
    let second = store
        .save_push_subscription(
            NewPushSubscription {
                show_text: true,
                ..browser(bob.id, "shared")
            },
            20,
        )
        .await
        .unwrap();
    assert_ne!(first.id, second.id);
    assert!(store.push_subscriptions(alice.id).await.unwrap().is_empty());
    assert_eq!(
        store.push_subscriptions(bob.id).await.unwrap(),
        vec![second.clone()]
    );
    assert!(
        !store
            .delete_push_subscription(second.id, alice.id)
            .await
            .unwrap()
    );
    // At most `max` browsers a member.
    store
        .save_push_subscription(browser(bob.id, "two"), 2)
        .await
        .unwrap();
    assert!(is_conflict(
        store
            .save_push_subscription(browser(bob.id, "three"), 2)
            .await,
        "too_many_devices"
    ));
    // Subscribing a known browser again is no new one.
    store
        .save_push_subscription(browser(bob.id, "two"), 2)
        .await
        .unwrap();
    assert!(
        store
            .delete_push_subscription(second.id, bob.id)
            .await
            .unwrap()
    );
}
