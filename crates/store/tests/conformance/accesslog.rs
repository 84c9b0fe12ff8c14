use std::collections::HashSet;

use confidant_core::MemberId;
use confidant_core::accesslog::{Action, Denial};
use confidant_core::store::{
    AccessLogStore, AppStatus, LogDraft, LogQuery, NewLogEntry, OAuthStore, Redemption,
};
use confidant_core::tokens::hash;
use confidant_log::tree::{self, Frontier};
use confidant_log::{EMPTY_ROOT, Outcome};
use confidant_store::testing::TestDatabase;
use confidant_store::{Backend, SqlStore, on_both_backends};

use super::oauth::{app, code, grant_for, log, pair};
use super::{T0, member};

on_both_backends!(
    appends_are_gapless_and_the_stored_tree_proves_them,
    concurrent_appends_to_one_log_queue_up,
    a_failed_append_rolls_back_the_access,
    revoked_tokens_are_remembered_until_they_would_expire
);

fn entry(member: MemberId, n: u64) -> NewLogEntry {
    let app = if n.is_multiple_of(3) {
        "cfd_app_b"
    } else {
        "cfd_app_a"
    };
    let entry = NewLogEntry::new(
        member,
        T0.plus_secs(n as i64),
        app,
        Action::ProfileRead,
        "r",
    )
    .with_scope("profile")
    .with_objects(vec![format!("member:{n}")]);
    if n.is_multiple_of(4) {
        LogDraft(entry).denied(Denial::InsufficientScope)
    } else {
        entry
    }
}

async fn appends_are_gapless_and_the_stored_tree_proves_them(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    assert_eq!(store.log_head(alice.id).await.unwrap().root, EMPTY_ROOT);

    let mut frontier = Frontier::empty();
    for n in 0..37 {
        let appended = store.append_log(entry(alice.id, n), None).await.unwrap();
        assert_eq!(appended.seq, n);
        frontier.push(appended.leaf_hash());
    }
    store.append_log(entry(bob.id, 0), None).await.unwrap();
    let head = store.log_head(alice.id).await.unwrap();
    assert_eq!((head.size, head.root), (37, frontier.root()));
    assert_eq!(store.log_head(bob.id).await.unwrap().size, 1);

    let newest = store
        .log_entries(
            alice.id,
            &LogQuery {
                limit: 5,
                ..LogQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        newest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [36, 35, 34, 33, 32]
    );
    assert_eq!(newest[4].outcome, Outcome::Denied);
    assert_eq!(newest[4].reason.as_deref(), Some("insufficient_scope"));
    assert_eq!(newest[0].objects, ["member:36"]);
    let of_b = store
        .log_entries(
            alice.id,
            &LogQuery {
                app: Some("cfd_app_b".into()),
                before: Some(30),
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(of_b.iter().map(|e| e.seq).collect::<Vec<_>>(), [27, 24, 21]);
    let range = store.log_range(alice.id, 35, 10).await.unwrap();
    assert_eq!(range.iter().map(|e| e.seq).collect::<Vec<_>>(), [35, 36]);

    let stored = store
        .log_hashes(alice.id, &tree::inclusion_indexes(13, 37).unwrap())
        .await
        .unwrap();
    let proof = tree::prove_inclusion(13, 37, &stored).unwrap();
    let thirteen = store.log_range(alice.id, 13, 1).await.unwrap().remove(0);
    tree::verify_inclusion(&proof, 13, 37, head.root, thirteen.leaf_hash()).unwrap();

    let mut old = Frontier::empty();
    for entry in store.log_range(alice.id, 0, 20).await.unwrap() {
        old.push(entry.leaf_hash());
    }
    let stored = store
        .log_hashes(alice.id, &tree::consistency_indexes(20, 37).unwrap())
        .await
        .unwrap();
    let proof = tree::prove_consistency(20, 37, &stored).unwrap();
    tree::verify_consistency(&proof, 20, 37, old.root(), head.root).unwrap();
}

async fn concurrent_appends_to_one_log_queue_up(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let appends = (0..24).map(|n| {
        let store = store.clone();
        tokio::spawn(async move { store.append_log(entry(alice.id, n), None).await.unwrap() })
    });
    let mut seqs = HashSet::new();
    for append in appends {
        seqs.insert(append.await.unwrap().seq);
    }
    assert_eq!(seqs, (0..24).collect());
    let mut frontier = Frontier::empty();
    for entry in store.log_range(alice.id, 0, 100).await.unwrap() {
        frontier.push(entry.leaf_hash());
    }
    assert_eq!(
        store.log_head(alice.id).await.unwrap().root,
        frontier.root()
    );
}

/// Makes every insert into the log fail, as a full disk or a broken constraint would.
async fn break_log_appends(store: &SqlStore) {
    let statements: &[&str] = match store.backend() {
        Backend::Sqlite => &[
            "CREATE TRIGGER fail_log BEFORE INSERT ON access_log_entries \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        Backend::Postgres => &[
            "CREATE FUNCTION fail_log() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_log BEFORE INSERT ON access_log_entries \
             FOR EACH ROW EXECUTE FUNCTION fail_log()",
        ],
    };
    for statement in statements {
        store.execute_raw(statement).await.unwrap();
    }
}

async fn a_failed_append_rolls_back_the_access(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let grant = grant_for(store, alice.id, "cfd_app_a", "p").await;
    let code_hash = code(store, grant, "cfd_app_a", "code-1").await;
    break_log_appends(store).await;

    let issue = LogDraft(log(alice.id, Action::TokenIssue));
    assert!(
        store
            .redeem_code(&code_hash, pair("1"), &issue)
            .await
            .is_err()
    );
    assert!(store.token(&hash("at-1")).await.unwrap().is_none());
    let code = store.code(&code_hash).await.unwrap().unwrap();
    assert_eq!(code.redeemed_at, None, "the code must still be unredeemed");

    let revoke = log(alice.id, Action::ConsentRevoke);
    assert!(
        store
            .revoke_grant(alice.id, "cfd_app_a", T0, revoke, None)
            .await
            .is_err()
    );
    assert!(
        store
            .grant(alice.id, "cfd_app_a")
            .await
            .unwrap()
            .unwrap()
            .is_active()
    );
    assert!(store.append_log(entry(alice.id, 1), None).await.is_err());
    assert_eq!(store.log_head(alice.id).await.unwrap().size, 1);

    store
        .execute_raw("DROP TRIGGER fail_log ON access_log_entries")
        .await
        .ok();
    store.execute_raw("DROP TRIGGER fail_log").await.ok();
    assert!(matches!(
        store
            .redeem_code(&code_hash, pair("1"), &issue)
            .await
            .unwrap(),
        Redemption::Issued { .. }
    ));
    assert_eq!(store.log_head(alice.id).await.unwrap().size, 2);
}

async fn revoked_tokens_are_remembered_until_they_would_expire(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    store
        .set_app_status("cfd_app_a", AppStatus::Approved)
        .await
        .unwrap();
    let grant = grant_for(store, alice.id, "cfd_app_a", "p").await;
    let code_hash = code(store, grant, "cfd_app_a", "code-1").await;
    let issue = LogDraft(log(alice.id, Action::TokenIssue));
    store
        .redeem_code(&code_hash, pair("1"), &issue)
        .await
        .unwrap();
    let revoke = log(alice.id, Action::ConsentRevoke);
    store
        .revoke_grant(alice.id, "cfd_app_a", T0, revoke, None)
        .await
        .unwrap();

    let revoked = store.revoked_token(&hash("at-1")).await.unwrap().unwrap();
    assert_eq!(revoked.member_id, alice.id);
    assert_eq!(revoked.reason, Denial::GrantRevoked);
    assert_eq!(revoked.expires_at, T0.plus_secs(600));
    // Consent, token issue and disconnect are all in the log, in order.
    let actions: Vec<String> = store
        .log_range(alice.id, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["consent.grant", "token.issue", "consent.revoke"]);

    store.delete_expired_oauth(T0.plus_secs(601)).await.unwrap();
    assert!(store.revoked_token(&hash("at-1")).await.unwrap().is_none());
}
