//! The in-memory caches answer as the database would: a change made anywhere — by this
//! store, by another process or node on the same database, or by hand in SQL — is seen by the
//! very next lookup. (Within one request on SQLite, a change of another process made while
//! the request runs may be seen only by the next request.)

use confidant_core::accesslog::Action;
use confidant_core::store::{
    AccountStore, AppStatus, ConversationKind, LogDraft, MessagingStore, NewConversation,
    OAuthStore, PartnerStore, SessionKind, SessionRecord,
};
use confidant_core::tokens::{TokenHash, hash};
use confidant_core::{MemberId, Timestamp};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;
use confidant_store::{SqlStore, within_request};

use super::oauth::{app, code, grant_for, log, pair};
use super::{T0, member};

on_both_backends!(
    a_hit_is_served_from_memory_until_the_entry_is_touched,
    a_change_empties_only_the_caches_of_what_it_changed,
    changes_made_by_another_node_are_seen_by_the_next_lookup,
    changes_made_by_hand_in_sql_are_seen_by_the_next_lookup,
    within_one_request_every_commit_of_this_store_is_seen_by_the_next_lookup
);

fn session(member: MemberId, secret: &str) -> SessionRecord {
    SessionRecord {
        token_hash: hash(secret),
        member_id: member,
        kind: SessionKind::Api,
        csrf_token: "csrf".into(),
        created_at: T0,
        last_seen_at: T0,
        expires_at: T0.plus_secs(3600),
    }
}

/// A second store on the same database: another node, or the `confidant` command.
async fn another_node(db: &TestDatabase) -> SqlStore {
    SqlStore::connect(&db.url).await.unwrap()
}

async fn last_seen(store: &SqlStore, token: &TokenHash) -> Timestamp {
    store.session(token).await.unwrap().unwrap().last_seen_at
}

/// A request's lookups may share one check of the epochs (`within_request`), but never past
/// a commit of this store: the request's own, or any other request's.
async fn within_one_request_every_commit_of_this_store_is_seen_by_the_next_lookup(
    db: TestDatabase,
) {
    let store = &db.store;
    let there = another_node(&db).await;
    let alice = member(store, "alice").await;
    store.create_session(session(alice.id, "s1")).await.unwrap();
    store.create_session(session(alice.id, "s2")).await.unwrap();
    // Logged out elsewhere before the request began: its first lookup sees it.
    there.delete_session(&hash("s2")).await.unwrap();
    within_request(async {
        assert!(store.session(&hash("s2")).await.unwrap().is_none());
        assert!(store.session(&hash("s1")).await.unwrap().is_some());
        store.delete_session(&hash("s1")).await.unwrap();
        assert!(store.session(&hash("s1")).await.unwrap().is_none());
        // A rename by another request of this process, while this one runs.
        let renamed = tokio::spawn({
            let store = store.clone();
            async move { store.set_display_name(alice.id, "Alice A.").await }
        });
        renamed.await.unwrap().unwrap();
        assert_eq!(
            store.member(alice.id).await.unwrap().unwrap().display_name,
            "Alice A."
        );
    })
    .await;
    there.close().await;
}

async fn a_change_empties_only_the_caches_of_what_it_changed(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_session(session(alice.id, "s1")).await.unwrap();
    store.create_session(session(alice.id, "s2")).await.unwrap();
    let token = hash("s1");
    assert_eq!(last_seen(store, &token).await, T0);
    assert_eq!(
        store.member(alice.id).await.unwrap().unwrap().handle,
        "alice"
    );
    // An edit no epoch covers: while the session's entry is current, it is not seen.
    let touch = format!(
        "UPDATE sessions SET last_seen_at = {} WHERE token_hash = '{}'",
        T0.plus_secs(5).0,
        token.0
    );
    db.store.execute_raw(&touch).await.unwrap();
    // A change to a member moves the members' epoch only: the member is read again, the
    // session is still served from memory.
    db.store
        .execute_raw(&format!(
            "UPDATE members SET display_name = 'Alice L.' WHERE id = {}",
            alice.id.0
        ))
        .await
        .unwrap();
    let alice_now = store.member(alice.id).await.unwrap().unwrap();
    assert_eq!(alice_now.display_name, "Alice L.");
    assert_eq!(last_seen(store, &token).await, T0, "sessions untouched");
    // Ending another session moves the sessions' epoch: now the first is read again.
    db.store
        .execute_raw(&format!(
            "DELETE FROM sessions WHERE token_hash = '{}'",
            hash("s2").0
        ))
        .await
        .unwrap();
    assert_eq!(last_seen(store, &token).await, T0.plus_secs(5));
}

async fn a_hit_is_served_from_memory_until_the_entry_is_touched(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_session(session(alice.id, "s1")).await.unwrap();
    let token = hash("s1");
    assert_eq!(last_seen(store, &token).await, T0);
    // The last-seen time does not move the epoch, so an edit of it alone is not noticed...
    db.store
        .execute_raw(&format!(
            "UPDATE sessions SET last_seen_at = {} WHERE token_hash = '{}'",
            T0.plus_secs(5).0,
            token.0
        ))
        .await
        .unwrap();
    assert_eq!(last_seen(store, &token).await, T0, "served from the cache");
    // ...but touching through the store forgets the entry.
    store.touch_session(&token, T0.plus_secs(9)).await.unwrap();
    assert_eq!(last_seen(store, &token).await, T0.plus_secs(9));
    // The uncached store always reads the database.
    let uncached = another_node(&db).await.without_caches();
    assert_eq!(last_seen(&uncached, &token).await, T0.plus_secs(9));
    uncached.close().await;
}

async fn changes_made_by_another_node_are_seen_by_the_next_lookup(db: TestDatabase) {
    let here = &db.store;
    let there = another_node(&db).await;
    let alice = member(here, "alice").await;
    let bob = member(here, "bob").await;

    // A session logged out elsewhere.
    here.create_session(session(alice.id, "s1")).await.unwrap();
    assert!(here.session(&hash("s1")).await.unwrap().is_some());
    there.delete_session(&hash("s1")).await.unwrap();
    assert!(here.session(&hash("s1")).await.unwrap().is_none());

    // A member renamed elsewhere.
    assert_eq!(
        here.member(alice.id).await.unwrap().unwrap().display_name,
        "ALICE"
    );
    there.set_display_name(alice.id, "Alice A.").await.unwrap();
    assert_eq!(
        here.member(alice.id).await.unwrap().unwrap().display_name,
        "Alice A."
    );

    // A member who stops letting their clicks be counted.
    assert!(here.count_clicks(alice.id).await.unwrap());
    there.set_count_clicks(alice.id, false).await.unwrap();
    assert!(!here.count_clicks(alice.id).await.unwrap());

    // An app approved, a token in use, then the app suspended elsewhere.
    here.create_app(app("cfd_app_a")).await.unwrap();
    assert_eq!(
        here.app("cfd_app_a").await.unwrap().unwrap().status,
        AppStatus::Pending
    );
    there
        .set_app_status("cfd_app_a", AppStatus::Approved)
        .await
        .unwrap();
    assert_eq!(
        here.app("cfd_app_a").await.unwrap().unwrap().status,
        AppStatus::Approved
    );
    let grant = grant_for(here, alice.id, "cfd_app_a", "pa").await;
    let code = code(here, grant, "cfd_app_a", "code-a").await;
    let issued = LogDraft(log(alice.id, Action::TokenIssue));
    here.redeem_code(&code, pair("a"), &issued).await.unwrap();
    assert!(here.token(&hash("at-a")).await.unwrap().is_some());
    there
        .set_app_status("cfd_app_a", AppStatus::Suspended)
        .await
        .unwrap();
    assert!(here.token(&hash("at-a")).await.unwrap().is_none());
    assert_eq!(
        here.app("cfd_app_a").await.unwrap().unwrap().status,
        AppStatus::Suspended
    );

    // A member who left a conversation elsewhere.
    let (conversation, _) = here
        .create_conversation(NewConversation {
            kind: ConversationKind::Group,
            title: Some("film club".into()),
            direct_key: None,
            created_by: alice.id,
            members: vec![alice.id, bob.id],
            created_at: T0,
        })
        .await
        .unwrap();
    assert!(
        here.roster(conversation)
            .await
            .unwrap()
            .unwrap()
            .includes(bob.id)
    );
    there
        .remove_participant(conversation, bob.id, T0)
        .await
        .unwrap();
    assert!(
        !here
            .roster(conversation)
            .await
            .unwrap()
            .unwrap()
            .includes(bob.id)
    );
    there
        .add_participants(conversation, alice.id, &[bob.id], 10, T0)
        .await
        .unwrap();
    assert!(
        here.roster(conversation)
            .await
            .unwrap()
            .unwrap()
            .includes(bob.id)
    );

    // A member deleted elsewhere: their sessions and their membership go with them.
    here.create_session(session(bob.id, "s2")).await.unwrap();
    assert!(here.session(&hash("s2")).await.unwrap().is_some());
    there.delete_member(bob.id).await.unwrap();
    assert!(here.session(&hash("s2")).await.unwrap().is_none());
    assert!(here.member(bob.id).await.unwrap().is_none());
    assert!(
        !here
            .roster(conversation)
            .await
            .unwrap()
            .unwrap()
            .includes(bob.id)
    );
    there.close().await;
}

async fn changes_made_by_hand_in_sql_are_seen_by_the_next_lookup(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_session(session(alice.id, "s1")).await.unwrap();
    store.create_app(app("cfd_app_a")).await.unwrap();
    assert!(store.session(&hash("s1")).await.unwrap().is_some());
    assert!(store.app("cfd_app_a").await.unwrap().is_some());
    store.execute_raw("DELETE FROM sessions").await.unwrap();
    store
        .execute_raw("UPDATE apps SET status = 'suspended'")
        .await
        .unwrap();
    assert!(store.session(&hash("s1")).await.unwrap().is_none());
    assert_eq!(
        store.app("cfd_app_a").await.unwrap().unwrap().status,
        AppStatus::Suspended
    );
}
