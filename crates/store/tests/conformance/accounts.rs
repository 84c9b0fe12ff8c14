use confidant_core::accounts::Handle;
use confidant_core::store::{AccountStore, NewMember, SessionKind, SessionRecord, SocialStore};
use confidant_core::tokens::TokenHash;
use confidant_core::{MemberId, Timestamp};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{T0, befriend, is_conflict, member};

on_both_backends!(
    handles_are_unique,
    sessions_live_and_die,
    deleting_a_member_removes_their_data,
    operators_list_promote_and_suspend_members,
);

async fn handles_are_unique(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    assert_eq!(alice.display_name, "ALICE");
    let again = store
        .create_member(NewMember {
            handle: Handle::parse("ALICE").unwrap(),
            display_name: "Other".into(),
            password_hash: "x".into(),
            is_admin: true,
            created_at: T0,
        })
        .await;
    assert!(is_conflict(again, "handle"));
    let found = store
        .member_by_handle(&Handle::parse("Alice").unwrap())
        .await
        .unwrap();
    assert_eq!(found, Some(alice.clone()));
    let credentials = store
        .credentials(&Handle::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.password_hash, "$argon2id$fake");
    let alicia = member(store, "alicia").await;
    member(store, "alina").await;
    let abc = member(store, "a_b_c").await;
    let search = |searcher: MemberId, prefix: &'static str| async move {
        store
            .search_members(searcher, prefix, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.handle)
            .collect::<Vec<_>>()
    };
    assert_eq!(search(abc.id, "ali").await, ["alice", "alicia", "alina"]);
    // Never the searcher, nor anyone who blocked them; in handle order, up to the limit.
    store.block(alicia.id, abc.id, T0).await.unwrap();
    assert_eq!(search(abc.id, "ali").await, ["alice", "alina"]);
    assert_eq!(search(alicia.id, "ali").await, ["alice", "alina"]);
    let first = store.search_members(abc.id, "ali", 1).await.unwrap();
    assert_eq!(first[0].handle, "alice");
    // `_` is literal, not a wildcard.
    assert_eq!(search(alicia.id, "a_").await, ["a_b_c"]);
}

async fn sessions_live_and_die(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let record = |hash: &str, kind, expires_at| SessionRecord {
        token_hash: TokenHash(hash.into()),
        member_id: alice.id,
        kind,
        csrf_token: "csrf".into(),
        created_at: T0,
        last_seen_at: T0,
        expires_at,
    };
    store
        .create_session(record("one", SessionKind::Browser, T0.plus_secs(100)))
        .await
        .unwrap();
    store
        .create_session(record("two", SessionKind::Api, T0.plus_secs(1000)))
        .await
        .unwrap();
    let one = store
        .session(&TokenHash("one".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.kind, SessionKind::Browser);
    assert_eq!(one.member_id, alice.id);

    store
        .touch_session(&TokenHash("two".into()), T0.plus_secs(50))
        .await
        .unwrap();
    // "one" is past its absolute expiry at +200s; "two" was seen at +50s, within idle.
    let purged = store
        .delete_expired_sessions(T0.plus_secs(200), T0.plus_secs(10), T0.plus_secs(10))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert!(
        store
            .session(&TokenHash("one".into()))
            .await
            .unwrap()
            .is_none()
    );

    store
        .create_session(record("three", SessionKind::Browser, T0.plus_secs(1000)))
        .await
        .unwrap();
    store
        .delete_sessions_of(alice.id, Some(&TokenHash("three".into())))
        .await
        .unwrap();
    assert!(
        store
            .session(&TokenHash("two".into()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session(&TokenHash("three".into()))
            .await
            .unwrap()
            .is_some()
    );
}

async fn deleting_a_member_removes_their_data(db: TestDatabase) {
    use confidant_core::store::{
        ConversationKind, MessagingStore, NewConversation, NewMessage, SocialStore,
    };
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    befriend(store, alice.id, bob.id).await;
    let (conversation, _) = store
        .create_conversation(NewConversation {
            kind: ConversationKind::Direct,
            title: None,
            direct_key: Some("1:2".into()),
            created_by: alice.id,
            members: vec![alice.id, bob.id],
            created_at: T0,
        })
        .await
        .unwrap();
    for (sender, body) in [(alice.id, "hi bob"), (bob.id, "hi alice")] {
        store
            .insert_message(NewMessage {
                conversation_id: conversation,
                sender,
                body: body.into(),
                created_at: T0,
                reply_to: None,
                client_key: None,
                attachments: Vec::new(),
            })
            .await
            .unwrap();
    }
    store.delete_member(alice.id).await.unwrap();

    assert!(store.member(alice.id).await.unwrap().is_none());
    assert!(store.friends(bob.id).await.unwrap().is_empty());
    let messages = store
        .messages(conversation, bob.id, None, 10)
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].body, "hi alice");
    assert_eq!(messages[1].body, "", "alice's words are erased");
    assert_eq!(messages[1].sender, None);
    let summary = store
        .conversation(conversation, bob.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.peer, None, "the other side shows a deleted member");
    assert!(store.delete_member(MemberId(alice.id.0)).await.is_err());
    let _ = Timestamp(0);
}

async fn operators_list_promote_and_suspend_members(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;

    let all = store.member_standings(None, 10).await.unwrap();
    let handles: Vec<&str> = all.iter().map(|s| s.member.handle.as_str()).collect();
    assert_eq!(handles, ["alice", "bob", "carol"]);
    assert!(all.iter().all(|s| s.suspended_at.is_none()));
    let page = store.member_standings(Some(alice.id), 1).await.unwrap();
    assert_eq!(page[0].member.id, bob.id);
    assert_eq!(page.len(), 1);

    let admins_before = store.count_admins().await.unwrap();
    store.set_admin(carol.id, true).await.unwrap();
    assert!(store.member(carol.id).await.unwrap().unwrap().is_admin);
    assert_eq!(store.count_admins().await.unwrap(), admins_before + 1);
    store.set_admin(carol.id, false).await.unwrap();
    assert!(!store.member(carol.id).await.unwrap().unwrap().is_admin);
    assert!(matches!(
        store.set_admin(MemberId(999_999), true).await,
        Err(confidant_core::StoreError::NotFound)
    ));

    // Suspending ends every session at once and shows in the credentials.
    for (hash, kind) in [("b1", SessionKind::Browser), ("b2", SessionKind::Api)] {
        store
            .create_session(SessionRecord {
                token_hash: TokenHash(hash.into()),
                member_id: bob.id,
                kind,
                csrf_token: "csrf".into(),
                created_at: T0,
                last_seen_at: T0,
                expires_at: T0.plus_secs(1000),
            })
            .await
            .unwrap();
    }
    let handle = Handle::parse("bob").unwrap();
    assert!(!store.credentials(&handle).await.unwrap().unwrap().suspended);
    store
        .set_suspended(bob.id, Some(T0.plus_secs(5)))
        .await
        .unwrap();
    assert!(store.credentials(&handle).await.unwrap().unwrap().suspended);
    for hash in ["b1", "b2"] {
        assert!(
            store
                .session(&TokenHash(hash.into()))
                .await
                .unwrap()
                .is_none()
        );
    }
    let standing = store.member_standings(Some(alice.id), 1).await.unwrap();
    assert_eq!(standing[0].suspended_at, Some(T0.plus_secs(5)));

    store.set_suspended(bob.id, None).await.unwrap();
    assert!(!store.credentials(&handle).await.unwrap().unwrap().suspended);
    assert!(matches!(
        store.set_suspended(MemberId(999_999), Some(T0)).await,
        Err(confidant_core::StoreError::NotFound)
    ));
}
