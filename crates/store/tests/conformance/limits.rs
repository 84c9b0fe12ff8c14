//! Shared budgets: one count per key for every node, taken all or none, given back to the
//! window they came from.

use confidant_core::store::{Budget, LimitStore};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::T0;

on_both_backends!(
    parallel_takers_never_pass_the_limit,
    budgets_are_taken_all_or_none_and_windows_end,
    uses_are_given_back_to_their_own_window_only,
    every_node_counts_against_the_same_budget,
);

fn budget(key: &str, limit: u32) -> Budget {
    Budget {
        key: key.into(),
        limit,
        window_secs: 60,
    }
}

async fn parallel_takers_never_pass_the_limit(db: TestDatabase) {
    let store = &db.store;
    for _ in 0..5 {
        store
            .take_budgets(&[budget("send:1", 8)], T0)
            .await
            .unwrap()
            .unwrap();
    }
    let takers: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_budgets(&[budget("send:1", 8)], T0).await })
        })
        .collect();
    let mut passed = 0;
    for taker in takers {
        if taker.await.unwrap().unwrap().is_ok() {
            passed += 1;
        }
    }
    assert_eq!(passed, 3, "exactly the room that was left");
    assert_eq!(
        store
            .take_budgets(&[budget("send:1", 8)], T0)
            .await
            .unwrap(),
        Err(60)
    );
    assert_eq!(
        store
            .spent_budget(&[budget("send:1", 8)], T0.plus_secs(45))
            .await
            .unwrap(),
        Some(15)
    );
}

async fn budgets_are_taken_all_or_none_and_windows_end(db: TestDatabase) {
    let store = &db.store;
    let member = budget("member:bob", 1);
    let address = budget("address:192.0.2.1", 1);
    store
        .take_budgets(&[budget("member:alice", 1), address.clone()], T0)
        .await
        .unwrap()
        .unwrap();
    // The address is spent: Bob, behind it, is refused, and that try spends none of his own.
    assert_eq!(
        store
            .take_budgets(&[member.clone(), address.clone()], T0)
            .await
            .unwrap(),
        Err(60)
    );
    assert_eq!(
        store
            .spent_budget(std::slice::from_ref(&member), T0)
            .await
            .unwrap(),
        None
    );
    store
        .take_budgets(&[member.clone(), budget("address:198.51.100.7", 1)], T0)
        .await
        .unwrap()
        .unwrap();
    // A window that ended starts afresh, and can be purged.
    let later = T0.plus_secs(60);
    assert_eq!(
        store
            .spent_budget(std::slice::from_ref(&member), later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.purge_ended_budgets(T0).await.unwrap(), 0);
    assert_eq!(store.purge_ended_budgets(later).await.unwrap(), 4);
    store
        .take_budgets(&[member.clone(), address], later)
        .await
        .unwrap()
        .unwrap();
    // A budget of nothing refuses everything; clearing a key forgets its uses.
    assert!(
        store
            .take_budgets(&[budget("none", 0)], later)
            .await
            .unwrap()
            .is_err()
    );
    store.clear_budget("member:bob").await.unwrap();
    assert_eq!(store.spent_budget(&[member], later).await.unwrap(), None);
}

async fn uses_are_given_back_to_their_own_window_only(db: TestDatabase) {
    let store = &db.store;
    let send = budget("send:2", 1);
    let taken = store
        .take_budgets(std::slice::from_ref(&send), T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken[0].window_started, T0);
    store.give_back(&taken).await.unwrap();
    let again = store
        .take_budgets(std::slice::from_ref(&send), T0.plus_secs(1))
        .await
        .unwrap()
        .unwrap();
    // The window ends; a use from the old one given back now owes the new one nothing.
    let next_window = T0.plus_secs(61);
    store
        .take_budgets(std::slice::from_ref(&send), next_window)
        .await
        .unwrap()
        .unwrap();
    store.give_back(&again).await.unwrap();
    assert!(
        store
            .spent_budget(std::slice::from_ref(&send), next_window)
            .await
            .unwrap()
            .is_some()
    );
}

async fn every_node_counts_against_the_same_budget(db: TestDatabase) {
    let other = confidant_store::SqlStore::connect(&db.url).await.unwrap();
    let login = budget("login:h:alice", 2);
    db.store
        .take_budgets(std::slice::from_ref(&login), T0)
        .await
        .unwrap()
        .unwrap();
    other
        .take_budgets(std::slice::from_ref(&login), T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        db.store
            .take_budgets(std::slice::from_ref(&login), T0)
            .await
            .unwrap(),
        Err(60)
    );
    other.close().await;
}
