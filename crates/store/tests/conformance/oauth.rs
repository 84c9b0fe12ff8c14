use confidant_core::accesslog::{Action, Denial};
use confidant_core::messaging::direct_key;
use confidant_core::oauth::Scopes;
use confidant_core::store::{
    AccessLogStore, App, AppStatus, AuthorizationCode, Budget, GrantUpdate, LogDraft,
    MessagingStore, NewLogEntry, NewMessage, NewPartnerSend, OAuthStore, PartnerMessage,
    PartnerSendRecord, PartnerStore, PreviousSecret, RecommendationCard, Redemption, Rotation,
    SendOutcome, SocialStore, TokenKind, TokenPair,
};
use confidant_core::tokens::{TokenHash, hash};
use confidant_core::{ConversationId, MemberId, MessageId, StoreError};
use confidant_store::SqlStore;
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{T0, befriend, is_conflict, member};

on_both_backends!(
    apps_round_trip_and_change_status,
    grants_keep_their_pseudonym_across_revocation,
    a_code_redeems_once_and_a_replay_revokes_its_tokens,
    a_reused_refresh_token_revokes_its_family,
    suspending_an_app_or_revoking_a_grant_deletes_its_tokens,
    updating_an_app_writes_every_field_and_narrowing_ends_its_tokens,
    deleting_an_app_takes_its_grants_and_tokens_but_not_members_logs,
    a_partner_send_reaches_only_friends_with_the_app_and_no_block,
    a_partner_send_opens_conversations_and_checks_recipients_as_it_writes,
    a_page_reads_every_message_as_whole_as_reading_it_alone,
);

pub fn app(client_id: &str) -> App {
    App {
        client_id: client_id.into(),
        name: "Streamflix".into(),
        owner: "Streamflix Inc. <dev@streamflix.example>".into(),
        homepage: Some("https://streamflix.example".into()),
        privacy_policy: None,
        report_webhook: None,
        webhook_secret: None,
        redirect_uris: vec![
            "https://streamflix.example/cb".into(),
            "http://127.0.0.1/cb".into(),
        ],
        confidential: true,
        secret_hash: Some(hash("secret")),
        scopes: Scopes::parse("profile messages:send").unwrap(),
        surfaces: vec!["title_page".into(), "player_end".into()],
        variations: vec!["arm_a".into()],
        item_url_template: None,
        previous_secret: None,
        status: AppStatus::Pending,
        created_at: T0,
    }
}

/// An entry for the member's access log, as the use cases pass to each write.
pub fn log(member: MemberId, action: Action) -> NewLogEntry {
    NewLogEntry::new(member, T0, "cfd_app_a", action, "req")
}

pub fn scopes(s: &str) -> Scopes {
    Scopes::parse(s).unwrap()
}

pub async fn grant_for(
    store: &SqlStore,
    member: MemberId,
    client_id: &str,
    pseudonym: &str,
) -> i64 {
    store
        .save_grant(
            GrantUpdate {
                member_id: member,
                client_id: client_id.into(),
                scopes: scopes("profile"),
                new_pseudonym: pseudonym.into(),
                threads: vec![],
                threads_expire_at: T0,
                threads_history: false,
                at: T0,
            },
            log(member, Action::ConsentGrant),
        )
        .await
        .unwrap()
        .id
}

pub fn pair(tag: &str) -> TokenPair {
    TokenPair {
        access_hash: hash(&format!("at-{tag}")),
        access_expires_at: T0.plus_secs(600),
        access_scopes: scopes("profile"),
        refresh_hash: hash(&format!("rt-{tag}")),
        refresh_expires_at: T0.plus_secs(3600),
        refresh_scopes: scopes("profile"),
        created_at: T0,
    }
}

pub async fn code(store: &SqlStore, grant_id: i64, client_id: &str, secret: &str) -> TokenHash {
    let code_hash = hash(secret);
    store
        .create_code(AuthorizationCode {
            code_hash: code_hash.clone(),
            grant_id,
            client_id: client_id.into(),
            redirect_uri: "https://streamflix.example/cb".into(),
            scopes: scopes("profile"),
            member_id: MemberId(0),
            code_challenge: "challenge".into(),
            created_at: T0,
            expires_at: T0.plus_secs(60),
            redeemed_at: None,
        })
        .await
        .unwrap();
    code_hash
}

async fn live(store: &SqlStore, tag: &str) -> bool {
    store.token(&hash(tag)).await.unwrap().is_some()
}

async fn apps_round_trip_and_change_status(db: TestDatabase) {
    let store = &db.store;
    store.create_app(app("cfd_app_a")).await.unwrap();
    assert!(is_conflict(
        store.create_app(app("cfd_app_a")).await,
        "client_id"
    ));
    assert_eq!(
        store.app("cfd_app_a").await.unwrap(),
        Some(app("cfd_app_a"))
    );
    assert_eq!(store.apps().await.unwrap().len(), 1);
    store
        .set_app_status("cfd_app_a", AppStatus::Approved)
        .await
        .unwrap();
    assert_eq!(
        store.app("cfd_app_a").await.unwrap().unwrap().status,
        AppStatus::Approved
    );
    assert!(matches!(
        store.set_app_status("nope", AppStatus::Approved).await,
        Err(StoreError::NotFound)
    ));
}

async fn grants_keep_their_pseudonym_across_revocation(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    grant_for(store, alice.id, "cfd_app_a", "pseudo-1").await;
    // A second consent updates the same grant; the first pseudonym stays.
    grant_for(store, alice.id, "cfd_app_a", "pseudo-2").await;
    let grant = store.grant(alice.id, "cfd_app_a").await.unwrap().unwrap();
    assert_eq!(grant.pseudonym, "pseudo-1");
    assert!(grant.is_active());

    assert!(
        store
            .revoke_grant(
                alice.id,
                "cfd_app_a",
                T0,
                log(alice.id, Action::ConsentRevoke),
                None
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_grant(
                alice.id,
                "cfd_app_a",
                T0,
                log(alice.id, Action::ConsentRevoke),
                None
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .grant(alice.id, "cfd_app_a")
            .await
            .unwrap()
            .unwrap()
            .is_active()
    );
    grant_for(store, alice.id, "cfd_app_a", "pseudo-3").await;
    let renewed = store.grant(alice.id, "cfd_app_a").await.unwrap().unwrap();
    assert!(renewed.is_active());
    assert_eq!(renewed.pseudonym, "pseudo-1");
    assert_eq!(store.grants_of(alice.id).await.unwrap().len(), 1);
}

async fn a_code_redeems_once_and_a_replay_revokes_its_tokens(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let grant = grant_for(store, alice.id, "cfd_app_a", "p").await;
    let code_hash = code(store, grant, "cfd_app_a", "code-1").await;

    let first = store
        .redeem_code(
            &code_hash,
            pair("1"),
            &LogDraft(log(alice.id, Action::TokenIssue)),
        )
        .await
        .unwrap();
    assert!(matches!(first, Redemption::Issued { .. }));
    let access = store.token(&hash("at-1")).await.unwrap().unwrap();
    assert_eq!(access.kind, TokenKind::Access);
    assert_eq!(access.grant.member_id, alice.id);
    assert_eq!(access.app_status, AppStatus::Pending);
    assert!(live(store, "rt-1").await);

    let second = store
        .redeem_code(
            &code_hash,
            pair("2"),
            &LogDraft(log(alice.id, Action::TokenIssue)),
        )
        .await
        .unwrap();
    assert_eq!(second, Redemption::Replayed);
    assert!(!live(store, "at-1").await);
    assert!(!live(store, "rt-1").await);
    assert!(!live(store, "at-2").await);
}

async fn a_reused_refresh_token_revokes_its_family(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let grant = grant_for(store, alice.id, "cfd_app_a", "p").await;
    let code_hash = code(store, grant, "cfd_app_a", "code-1").await;
    let Redemption::Issued { family_id } = store
        .redeem_code(
            &code_hash,
            pair("1"),
            &LogDraft(log(alice.id, Action::TokenIssue)),
        )
        .await
        .unwrap()
    else {
        panic!("first redemption must issue");
    };
    let rotated = store
        .rotate_refresh_token(
            &hash("rt-1"),
            family_id,
            pair("2"),
            &LogDraft(log(alice.id, Action::TokenRefresh)),
        )
        .await
        .unwrap();
    assert_eq!(rotated, Rotation::Rotated);
    assert!(live(store, "at-2").await && live(store, "rt-2").await);
    let old = store.token(&hash("rt-1")).await.unwrap().unwrap();
    assert!(old.rotated_at.is_some());

    let reused = store
        .rotate_refresh_token(
            &hash("rt-1"),
            family_id,
            pair("3"),
            &LogDraft(log(alice.id, Action::TokenRefresh)),
        )
        .await
        .unwrap();
    assert_eq!(reused, Rotation::Reused);
    for tag in ["at-1", "rt-1", "at-2", "rt-2", "at-3", "rt-3"] {
        assert!(!live(store, tag).await, "{tag} must be gone");
    }
}

async fn suspending_an_app_or_revoking_a_grant_deletes_its_tokens(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let alice_grant = grant_for(store, alice.id, "cfd_app_a", "pa").await;
    let bob_grant = grant_for(store, bob.id, "cfd_app_a", "pb").await;
    let alice_code = code(store, alice_grant, "cfd_app_a", "code-a").await;
    let bob_code = code(store, bob_grant, "cfd_app_a", "code-b").await;
    store
        .redeem_code(
            &alice_code,
            pair("a"),
            &LogDraft(log(alice.id, Action::TokenIssue)),
        )
        .await
        .unwrap();
    store
        .redeem_code(
            &bob_code,
            pair("b"),
            &LogDraft(log(bob.id, Action::TokenIssue)),
        )
        .await
        .unwrap();

    store
        .revoke_grant(
            alice.id,
            "cfd_app_a",
            T0,
            log(alice.id, Action::ConsentRevoke),
            None,
        )
        .await
        .unwrap();
    assert!(!live(store, "at-a").await && !live(store, "rt-a").await);
    assert!(
        live(store, "at-b").await,
        "another member's grant is untouched"
    );

    let pending = code(store, bob_grant, "cfd_app_a", "code-b2").await;
    store
        .set_app_status("cfd_app_a", AppStatus::Suspended)
        .await
        .unwrap();
    assert!(!live(store, "at-b").await && !live(store, "rt-b").await);
    assert!(store.code(&pending).await.unwrap().is_none());
}

async fn a_partner_send_reaches_only_friends_with_the_app_and_no_block(db: TestDatabase) {
    let store = &db.store;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let alice = member(store, "alice").await;
    let mut friends = Vec::new();
    for handle in ["bob", "carol", "dave", "erin"] {
        let friend = member(store, handle).await;
        befriend(store, alice.id, friend.id).await;
        friends.push(friend);
    }
    let [bob, carol, dave, _erin] = [0, 1, 2, 3].map(|i| friends[i].clone());
    let stranger = member(store, "stranger").await;
    for (who, pseudonym) in [
        (alice.id, "p-alice"),
        (bob.id, "p-bob"),
        (carol.id, "p-carol"),
        (dave.id, "p-dave"),
        (stranger.id, "p-stranger"),
    ] {
        grant_for(store, who, "cfd_app_a", pseudonym).await;
    }
    // Carol disconnected the app; Dave blocked Alice; Erin never connected it.
    store
        .revoke_grant(
            carol.id,
            "cfd_app_a",
            T0,
            log(carol.id, Action::ConsentRevoke),
            None,
        )
        .await
        .unwrap();
    store.block(dave.id, alice.id, T0).await.unwrap();
    let asked: Vec<String> = [
        "p-bob",
        "p-carol",
        "p-dave",
        "p-stranger",
        "p-alice",
        "p-erin",
        "p-nobody",
    ]
    .map(String::from)
    .to_vec();
    let reachable = store
        .reachable_recipients("cfd_app_a", alice.id, &asked)
        .await
        .unwrap();
    assert_eq!(reachable, [("p-bob".to_owned(), bob.id)]);
    // Another app's ids name nobody here.
    let elsewhere = store
        .reachable_recipients("cfd_app_b", alice.id, &asked)
        .await
        .unwrap();
    assert!(elsewhere.is_empty());
}

async fn a_partner_send_opens_conversations_and_checks_recipients_as_it_writes(db: TestDatabase) {
    let store = &db.store;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;
    for friend in [bob.id, carol.id] {
        befriend(store, alice.id, friend).await;
    }
    let send = |to: MemberId, key: &str| NewPartnerSend {
        client_id: "cfd_app_a".into(),
        member_id: alice.id,
        idempotency_key: Some(key.into()),
        request_hash: key.into(),
        created_at: T0,
        messages: vec![PartnerMessage {
            recipient: to,
            body: "watch this".into(),
            card: None,
        }],
        contributions: vec![],
        about_recipients: vec![],
        // Two sends an hour, taken by the write itself.
        budget: Some(Budget {
            key: "send:cfd_app_a:alice".into(),
            limit: 2,
            window_secs: 3600,
        }),
    };
    // Alice and Bob have no conversation yet: the send opens it, in its own transaction.
    let sent = store
        .send_partner_messages(send(bob.id, "k1"), log(alice.id, Action::MessageSend))
        .await
        .unwrap();
    let SendOutcome::Sent { record, .. } = sent else {
        panic!("not sent: {sent:?}");
    };
    let opened = store
        .direct_conversation(&direct_key(alice.id, bob.id))
        .await
        .unwrap()
        .expect("the send opened the 1:1 conversation");
    assert_eq!(conversation_of(store, &record).await, opened);
    // The record answered is the one a later read returns.
    let read_back = store
        .partner_send("cfd_app_a", alice.id, record.id)
        .await
        .unwrap();
    assert_eq!(read_back, Some(record));
    // Carol blocks Alice after any check a use case could have made: the write refuses,
    // and nothing of the send is stored.
    store.block(carol.id, alice.id, T0).await.unwrap();
    let refused = store
        .send_partner_messages(send(carol.id, "k2"), log(alice.id, Action::MessageSend))
        .await;
    assert!(is_conflict(refused, "not_reachable"));
    let none = store
        .direct_conversation(&direct_key(alice.id, carol.id))
        .await
        .unwrap();
    assert_eq!(none, None);
    // A second send to Bob goes into the same conversation.
    let again = store
        .send_partner_messages(send(bob.id, "k3"), log(alice.id, Action::MessageSend))
        .await
        .unwrap();
    let SendOutcome::Sent { record, .. } = again else {
        panic!("not sent: {again:?}");
    };
    assert_eq!(conversation_of(store, &record).await, opened);

    // The refused send took nothing from the budget; these two took all of it. A third is
    // refused with the wait, and stores nothing; a replay of the first costs nothing.
    let limited = store
        .send_partner_messages(send(bob.id, "k4"), log(alice.id, Action::MessageSend))
        .await
        .unwrap();
    let SendOutcome::RateLimited { retry_after_secs } = limited else {
        panic!("not limited: {limited:?}");
    };
    assert!((1..=3600).contains(&retry_after_secs), "{retry_after_secs}");
    let stored = store.messages(opened, alice.id, None, 10).await.unwrap();
    assert_eq!(stored.len(), 2);
    let replayed = store
        .send_partner_messages(send(bob.id, "k1"), log(alice.id, Action::MessageSend))
        .await
        .unwrap();
    assert!(matches!(replayed, SendOutcome::Replayed(_)), "{replayed:?}");
}

/// A page between plain messages: an app's message with its card, a reply to it, and a
/// reply to a message since deleted. Each reads in the page as it reads alone.
async fn a_page_reads_every_message_as_whole_as_reading_it_alone(db: TestDatabase) {
    let store = &db.store;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    befriend(store, alice.id, bob.id).await;
    let card = RecommendationCard {
        title: "Nosferatu".into(),
        url: "https://streamflix.example/title/1922".into(),
        image_url: Some("https://streamflix.example/poster/1922.jpg".into()),
        description: Some("A symphony of horror".into()),
        item_id: "1922".into(),
        interface: "web".into(),
        surface: "title_page".into(),
        variation: "confidant".into(),
        token: "tok-1922".into(),
    };
    let sent = store
        .send_partner_messages(
            NewPartnerSend {
                client_id: "cfd_app_a".into(),
                member_id: alice.id,
                idempotency_key: None,
                request_hash: "h".into(),
                created_at: T0,
                messages: vec![PartnerMessage {
                    recipient: bob.id,
                    body: "watch this".into(),
                    card: Some(card.clone()),
                }],
                contributions: vec![],
                about_recipients: vec![],
                budget: None,
            },
            log(alice.id, Action::MessageSend),
        )
        .await
        .unwrap();
    let SendOutcome::Sent { record, .. } = sent else {
        panic!("not sent: {sent:?}");
    };
    let id = conversation_of(store, &record).await;
    let recommended = record.deliveries[0].message_id;
    let say = |sender: MemberId, body: &str, reply_to: Option<MessageId>| NewMessage {
        conversation_id: id,
        sender,
        body: body.into(),
        created_at: T0.plus_secs(1),
        reply_to,
        client_key: None,
        attachments: Vec::new(),
    };
    let (plain, _) = store
        .insert_message(say(bob.id, "thanks", None))
        .await
        .unwrap();
    let (doomed, _) = store
        .insert_message(say(alice.id, "tonight?", None))
        .await
        .unwrap();
    let (on_card, _) = store
        .insert_message(say(bob.id, "seen it!", Some(recommended)))
        .await
        .unwrap();
    let (on_doomed, _) = store
        .insert_message(say(bob.id, "sure", Some(doomed.id)))
        .await
        .unwrap();
    store
        .delete_message(doomed.id, alice.id, T0.plus_secs(2))
        .await
        .unwrap();
    let (last, _) = store
        .insert_message(say(alice.id, "great", None))
        .await
        .unwrap();

    let page = store.messages(id, bob.id, None, 10).await.unwrap();
    let ids: Vec<MessageId> = page.iter().map(|message| message.id).collect();
    assert_eq!(
        ids,
        [
            last.id,
            on_doomed.id,
            on_card.id,
            doomed.id,
            plain.id,
            recommended
        ]
    );
    for message in &page {
        let alone = store.message(message.id).await.unwrap().unwrap();
        assert_eq!(message, &alone);
    }
    let app_message = page.last().unwrap();
    assert_eq!(app_message.card.as_ref(), Some(&card));
    assert_eq!(app_message.via_app.as_ref().unwrap().client_id, "cfd_app_a");
    assert_eq!(page[2].reply_to.as_ref().unwrap().body, "watch this");
    assert!(page[1].reply_to.as_ref().unwrap().deleted);
    assert!(page[3].deleted);
    assert_eq!(page[0].reply_to, None);
    assert_eq!(page[0].card, None);
}

/// The conversation a one-recipient send's message went into.
async fn conversation_of(store: &SqlStore, record: &PartnerSendRecord) -> ConversationId {
    let [delivery] = record.deliveries.as_slice() else {
        panic!("one recipient, one delivery: {record:?}");
    };
    let message = store.message(delivery.message_id).await.unwrap().unwrap();
    message.conversation_id
}

/// Alice's and Bob's grants of app A, each with a redeemed pair of tokens (`at-a`/`rt-a`,
/// `at-b`/`rt-b`) and Bob's with a code still unredeemed.
async fn two_members_with_tokens(store: &SqlStore) -> (MemberId, MemberId, TokenHash) {
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    for (who, tag) in [(alice.id, "a"), (bob.id, "b")] {
        let grant = grant_for(store, who, "cfd_app_a", &format!("p{tag}")).await;
        let code_hash = code(store, grant, "cfd_app_a", &format!("code-{tag}")).await;
        store
            .redeem_code(
                &code_hash,
                pair(tag),
                &LogDraft(log(who, Action::TokenIssue)),
            )
            .await
            .unwrap();
    }
    let bob_grant = store.grant(bob.id, "cfd_app_a").await.unwrap().unwrap().id;
    let pending = code(store, bob_grant, "cfd_app_a", "code-b2").await;
    (alice.id, bob.id, pending)
}

async fn updating_an_app_writes_every_field_and_narrowing_ends_its_tokens(db: TestDatabase) {
    let store = &db.store;
    let (_, bob, pending) = two_members_with_tokens(store).await;
    let mut changed = app("cfd_app_a");
    changed.name = "Streamflix Plus".into();
    changed.owner = "Streamflix GmbH".into();
    changed.homepage = None;
    changed.privacy_policy = Some("https://streamflix.example/privacy".into());
    changed.report_webhook = Some("https://streamflix.example/hooks".into());
    changed.webhook_secret = Some("whsec_x".into());
    changed.redirect_uris = vec!["https://streamflix.example/new-cb".into()];
    changed.secret_hash = Some(hash("new secret"));
    changed.previous_secret = Some(PreviousSecret {
        hash: hash("secret"),
        expires_at: T0.plus_secs(3600),
    });
    changed.surfaces = vec!["search".into()];
    changed.variations = vec!["arm_b".into()];
    changed.item_url_template = Some("https://streamflix.example/t/{item_id}".into());
    store.update_app(&changed, None).await.unwrap();
    assert_eq!(store.app("cfd_app_a").await.unwrap(), Some(changed.clone()));
    assert!(
        live(store, "at-a").await,
        "a plain update leaves tokens alone"
    );

    changed.scopes = scopes("profile");
    store
        .update_app(&changed, Some(Denial::AppNarrowed))
        .await
        .unwrap();
    assert_eq!(store.app("cfd_app_a").await.unwrap(), Some(changed.clone()));
    for tag in ["at-a", "rt-a", "at-b", "rt-b"] {
        assert!(!live(store, tag).await, "{tag} ended with the narrowing");
    }
    assert!(store.code(&pending).await.unwrap().is_none());
    // A token used afterwards is still recognised, and refused for the right reason.
    let revoked = store.revoked_token(&hash("at-b")).await.unwrap().unwrap();
    assert_eq!(
        (revoked.member_id, revoked.reason),
        (bob, Denial::AppNarrowed)
    );

    changed.client_id = "nope".into();
    assert!(matches!(
        store.update_app(&changed, None).await,
        Err(StoreError::NotFound)
    ));
}

async fn deleting_an_app_takes_its_grants_and_tokens_but_not_members_logs(db: TestDatabase) {
    let store = &db.store;
    let (alice, _, _) = two_members_with_tokens(store).await;
    let active = store.active_grants_of_app("cfd_app_a").await.unwrap();
    assert_eq!(active.len(), 2);
    store
        .revoke_grant(
            alice,
            "cfd_app_a",
            T0,
            log(alice, Action::ConsentRevoke),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.active_grants_of_app("cfd_app_a").await.unwrap().len(),
        1
    );
    let head = store.log_head(alice).await.unwrap();
    assert!(head.size >= 2);

    assert!(store.delete_app("cfd_app_a").await.unwrap());
    assert!(!store.delete_app("cfd_app_a").await.unwrap(), "only once");
    assert_eq!(store.app("cfd_app_a").await.unwrap(), None);
    assert!(store.grant(alice, "cfd_app_a").await.unwrap().is_none());
    assert!(!live(store, "at-b").await && !live(store, "rt-b").await);
    let revoked = store.revoked_token(&hash("at-b")).await.unwrap().unwrap();
    assert_eq!(revoked.reason, Denial::AppDeleted);
    assert_eq!(
        store.log_head(alice).await.unwrap(),
        head,
        "the member's log keeps its history"
    );
}
