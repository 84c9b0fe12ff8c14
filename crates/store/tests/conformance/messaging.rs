use confidant_core::live::FeedAdvanced;
use confidant_core::messaging::LiveEvent;
use confidant_core::store::{
    ConversationKind, FeedTail, MessagingStore, NewConversation, NewMessage, SocialStore,
    SystemLine,
};
use confidant_core::{ConversationId, MemberId, MessageId, StoreError};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::{T0, is_conflict, member};

on_both_backends!(
    a_pair_has_one_direct_conversation,
    messages_page_newest_first_and_count_unread,
    feeds_grow_in_order_per_member,
    sending_reads_the_conversation_and_makes_it_the_newest,
    old_feed_entries_are_purged_and_positions_keep_growing,
    a_feed_purged_whole_goes_on_after_its_newest_position,
    groups_are_capped_and_vanish_when_empty,
    a_block_stops_direct_messages_in_the_same_transaction,
    edits_and_deletes_change_only_the_senders_own_messages,
    replies_quote_what_they_answer,
    a_draft_key_stores_a_send_once,
    search_finds_every_word_in_the_members_own_conversations,
    group_changes_write_lines_that_are_never_unread,
    a_member_can_remove_a_message_from_their_own_view,
);

pub(crate) fn direct(a: MemberId, b: MemberId) -> NewConversation {
    NewConversation {
        kind: ConversationKind::Direct,
        title: None,
        direct_key: Some(format!("{a}:{b}")),
        created_by: a,
        members: vec![a, b],
        created_at: T0,
    }
}

fn text(conversation: ConversationId, sender: MemberId, n: i64) -> NewMessage {
    NewMessage {
        conversation_id: conversation,
        sender,
        body: format!("message {n}"),
        created_at: T0.plus_secs(n),
        reply_to: None,
        client_key: None,
        attachments: Vec::new(),
    }
}

async fn a_pair_has_one_direct_conversation(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, advanced) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    assert_eq!(advanced.len(), 2);
    assert!(is_conflict(
        store.create_conversation(direct(alice.id, bob.id)).await,
        "direct_key"
    ));
    let key = format!("{}:{}", alice.id, bob.id);
    assert_eq!(store.direct_conversation(&key).await.unwrap(), Some(id));
    let seen_by_alice = store.conversation(id, alice.id).await.unwrap().unwrap();
    assert_eq!(seen_by_alice.kind, ConversationKind::Direct);
    assert_eq!(seen_by_alice.peer.unwrap().id, bob.id);
    let carol = member(store, "carol").await;
    assert!(store.conversation(id, carol.id).await.unwrap().is_none());
    // Outsiders cannot post.
    assert!(matches!(
        store.insert_message(text(id, carol.id, 1)).await,
        Err(StoreError::NotFound)
    ));
}

async fn messages_page_newest_first_and_count_unread(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 1..=5 {
        let (message, _) = store.insert_message(text(id, alice.id, n)).await.unwrap();
        assert_eq!(message.sender.as_ref().unwrap().handle, "alice");
        ids.push(message.id);
    }
    let first = store.messages(id, bob.id, None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[4], ids[3]]
    );
    let second = store.messages(id, bob.id, Some(ids[3]), 2).await.unwrap();
    assert_eq!(
        second.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );

    let bobs = store.conversation(id, bob.id).await.unwrap().unwrap();
    assert_eq!(bobs.unread, 5);
    assert_eq!(bobs.last_message.unwrap().body, "message 5");
    assert_eq!(
        store
            .conversation(id, alice.id)
            .await
            .unwrap()
            .unwrap()
            .unread,
        0
    );

    let advanced = store.mark_read(id, bob.id, ids[2], T0).await.unwrap();
    assert_eq!(advanced.len(), 2, "both see the read receipt");
    assert_eq!(
        store
            .conversation(id, bob.id)
            .await
            .unwrap()
            .unwrap()
            .unread,
        2
    );
    // Read markers never move back.
    assert!(
        store
            .mark_read(id, bob.id, ids[0], T0)
            .await
            .unwrap()
            .is_empty()
    );
    let participants = store.participants(id).await.unwrap();
    let bob_marker = participants.iter().find(|p| p.member.id == bob.id).unwrap();
    assert_eq!(bob_marker.last_read, ids[2]);

    let inbox = store.conversations(bob.id).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        store.message(ids[0]).await.unwrap().unwrap().body,
        "message 1"
    );
    assert!(store.message(MessageId(999_999)).await.unwrap().is_none());
}

async fn feeds_grow_in_order_per_member(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, opened) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let mut announced: Vec<i64> = opened
        .iter()
        .filter(|a| a.member == bob.id)
        .map(|a| a.seq)
        .collect();
    let mut sends = Vec::new();
    for n in 0..20 {
        let store = store.clone();
        let sender = if n % 2 == 0 { alice.id } else { bob.id };
        sends.push(tokio::spawn(async move {
            store.insert_message(text(id, sender, n)).await.unwrap()
        }));
    }
    let mut sent = Vec::new();
    for send in sends {
        let (message, advanced) = send.await.unwrap();
        sent.push(message.id);
        announced.extend(
            advanced
                .iter()
                .filter(|a| a.member == bob.id)
                .map(|a| a.seq),
        );
    }
    announced.sort();
    let feed = readable_feed(store, bob.id, *announced.last().unwrap()).await;
    let seqs: Vec<i64> = feed.iter().map(|entry| entry.seq).collect();
    // Every announced position is in the feed, in increasing order, and nothing else is.
    assert_eq!(seqs, announced);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(seqs[0] > 0);
    assert_eq!(
        feed[0].event,
        LiveEvent::Conversation {
            conversation_id: id
        }
    );
    // The rest are the messages, each named once.
    let mut named: Vec<MessageId> = feed[1..]
        .iter()
        .map(|entry| match entry.event {
            LiveEvent::Message {
                conversation_id,
                message_id,
            } if conversation_id == id => message_id,
            ref other => panic!("not a message of the conversation: {other:?}"),
        })
        .collect();
    named.sort();
    sent.sort();
    assert_eq!(named, sent);
    assert_eq!(store.feed_head(bob.id).await.unwrap(), seqs[20]);
    let nobody = MemberId(i64::MAX);
    assert_eq!(
        store.feed_heads(&[bob.id, nobody]).await.unwrap(),
        [(bob.id, seqs[20]), (nobody, 0)]
    );
    // Nothing is in flight: every committed entry is readable.
    let tail = store.feed_tail(bob.id).await.unwrap();
    assert_eq!((tail.head, tail.written()), (seqs[20], seqs[20]));
    assert_eq!(tail.unreadable, Vec::<i64>::new());
    assert_eq!(store.feed_tail(nobody).await.unwrap(), FeedTail::default());
    let tail = store.feed_since(bob.id, seqs[18], 100).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[19..]);
    let first_two = store.feed_since(bob.id, 0, 2).await.unwrap();
    assert_eq!(
        first_two.iter().map(|e| e.seq).collect::<Vec<_>>(),
        seqs[..2]
    );
}

/// The member's feed once it reaches `announced`, as an event stream reads it: a position
/// becomes readable once every write that began before it has ended, which on a shared
/// database server can take a moment after its own write returned.
async fn readable_feed(
    store: &impl MessagingStore,
    member: MemberId,
    announced: i64,
) -> Vec<confidant_core::store::FeedEntry> {
    for _ in 0..500 {
        let feed = store.feed_since(member, 0, 1000).await.unwrap();
        if feed.last().is_some_and(|entry| entry.seq >= announced) {
            return feed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("position {announced} never became readable");
}

async fn sending_reads_the_conversation_and_makes_it_the_newest(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;
    let (with_bob, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let (with_carol, _) = store
        .create_conversation(direct(alice.id, carol.id))
        .await
        .unwrap();
    let (first, _) = store
        .insert_message(text(with_bob, bob.id, 1))
        .await
        .unwrap();
    store
        .insert_message(text(with_carol, carol.id, 2))
        .await
        .unwrap();
    let inbox = store.conversations(alice.id).await.unwrap();
    assert_eq!(
        inbox.iter().map(|c| c.id).collect::<Vec<_>>(),
        [with_carol, with_bob]
    );
    assert_eq!(inbox[1].unread, 1);

    // Alice answers Bob without marking anything read: she has read all of it, and that
    // conversation is now her newest.
    let (answer, _) = store
        .insert_message(text(with_bob, alice.id, 3))
        .await
        .unwrap();
    let inbox = store.conversations(alice.id).await.unwrap();
    assert_eq!(
        inbox.iter().map(|c| c.id).collect::<Vec<_>>(),
        [with_bob, with_carol]
    );
    assert_eq!(inbox[0].unread, 0);
    assert_eq!(inbox[0].last_read, answer.id);
    assert_eq!(inbox[0].last_activity_at, T0.plus_secs(3));
    let participants = store.participants(with_bob).await.unwrap();
    let alices = participants
        .iter()
        .find(|p| p.member.id == alice.id)
        .unwrap();
    assert_eq!(alices.last_read, answer.id);
    // Marking an earlier message read is not news to anyone.
    assert!(
        store
            .mark_read(with_bob, alice.id, first.id, T0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn old_feed_entries_are_purged_and_positions_keep_growing(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let mut announced = 0;
    for n in 1..=4 {
        let (_, advanced) = store.insert_message(text(id, alice.id, n)).await.unwrap();
        announced = advanced.iter().find(|a| a.member == bob.id).unwrap().seq;
    }
    let before = readable_feed(store, bob.id, announced).await;
    assert_eq!(before.len(), 5, "the conversation and four messages");
    // Messages 1 and 2 are older than message 3 (created T0 + 3 s).
    let purged = store.purge_feed(T0.plus_secs(3)).await.unwrap();
    assert_eq!(
        purged,
        3 * 2,
        "both members' entries for the conversation and two messages"
    );
    let after = store.feed_since(bob.id, 0, 100).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        before[3..].iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    // A stream resuming from a purged position gets what is left; the messages stay.
    let resumed = store.feed_since(bob.id, before[1].seq, 100).await.unwrap();
    assert_eq!(resumed.len(), 2);
    assert_eq!(store.messages(id, bob.id, None, 10).await.unwrap().len(), 4);
    let (_, advanced) = store.insert_message(text(id, alice.id, 5)).await.unwrap();
    let next = advanced.iter().find(|a| a.member == bob.id).unwrap().seq;
    assert!(next > announced);
    assert_eq!(store.purge_feed(T0).await.unwrap(), 0);
}

/// Retention may delete every entry of a feed, its newest included: a stream that read up to
/// that entry must still get the next one.
async fn a_feed_purged_whole_goes_on_after_its_newest_position(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let mut announced = Vec::new();
    for n in 1..=2 {
        let (_, advanced) = store.insert_message(text(id, alice.id, n)).await.unwrap();
        announced.push(advanced);
    }
    let newest = |advanced: &[FeedAdvanced], member| {
        advanced.iter().find(|a| a.member == member).unwrap().seq
    };
    let (alice_read, bob_read) = (
        newest(&announced[1], alice.id),
        newest(&announced[1], bob.id),
    );
    assert_eq!(
        store.purge_feed(T0.plus_secs(1_000)).await.unwrap(),
        3 * 2,
        "both members' entries for the conversation and both messages"
    );
    assert!(store.feed_since(bob.id, 0, 100).await.unwrap().is_empty());
    let (_, advanced) = store.insert_message(text(id, alice.id, 3)).await.unwrap();
    for (member, read) in [(alice.id, alice_read), (bob.id, bob_read)] {
        let next = newest(&advanced, member);
        assert!(next > read, "{next} follows {read}");
        readable_feed(store, member, next).await;
        let resumed = store.feed_since(member, read, 100).await.unwrap();
        assert_eq!(resumed.iter().map(|e| e.seq).collect::<Vec<_>>(), [next]);
    }
}

async fn groups_are_capped_and_vanish_when_empty(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;
    let (id, _) = store
        .create_conversation(NewConversation {
            kind: ConversationKind::Group,
            title: Some("Film club".into()),
            direct_key: None,
            created_by: alice.id,
            members: vec![alice.id, bob.id],
            created_at: T0,
        })
        .await
        .unwrap();
    assert!(is_conflict(
        store
            .add_participants(id, alice.id, &[carol.id], 2, T0)
            .await,
        "member_limit"
    ));
    assert_eq!(
        store.participants(id).await.unwrap().len(),
        2,
        "nothing changed"
    );
    store
        .add_participants(id, alice.id, &[carol.id], 3, T0)
        .await
        .unwrap();
    store
        .rename_conversation(id, bob.id, "Book club", T0)
        .await
        .unwrap();
    let seen = store.conversation(id, carol.id).await.unwrap().unwrap();
    assert_eq!(seen.title.as_deref(), Some("Book club"));
    for who in [alice.id, bob.id, carol.id] {
        store.remove_participant(id, who, T0).await.unwrap();
    }
    assert!(matches!(
        store.remove_participant(id, alice.id, T0).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.participants(id).await.unwrap().is_empty());
}

async fn a_block_stops_direct_messages_in_the_same_transaction(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;
    let (pair, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let (group, _) = store
        .create_conversation(NewConversation {
            kind: ConversationKind::Group,
            title: Some("film club".into()),
            direct_key: None,
            created_by: alice.id,
            members: vec![alice.id, bob.id, carol.id],
            created_at: T0,
        })
        .await
        .unwrap();
    store.insert_message(text(pair, alice.id, 1)).await.unwrap();
    store
        .block(bob.id, alice.id, T0.plus_secs(2))
        .await
        .unwrap();
    // Either way round, the 1:1 conversation is closed, and nothing is written.
    for sender in [alice.id, bob.id] {
        assert!(is_conflict(
            store.insert_message(text(pair, sender, 3)).await,
            "blocked"
        ));
    }
    let kept = store.messages(pair, alice.id, None, 10).await.unwrap();
    assert_eq!(kept.len(), 1);
    // A group goes on.
    store
        .insert_message(text(group, alice.id, 4))
        .await
        .unwrap();
}

fn group(creator: MemberId, members: &[MemberId]) -> NewConversation {
    let mut all = vec![creator];
    all.extend_from_slice(members);
    NewConversation {
        kind: ConversationKind::Group,
        title: Some("film club".into()),
        direct_key: None,
        created_by: creator,
        members: all,
        created_at: T0,
    }
}

pub(crate) fn saying(conversation: ConversationId, sender: MemberId, body: &str) -> NewMessage {
    NewMessage {
        body: body.into(),
        ..text(conversation, sender, 1)
    }
}

fn words(query: &str) -> Vec<String> {
    confidant_core::messaging::SearchQuery::parse(query)
        .unwrap()
        .words()
        .to_vec()
}

async fn edits_and_deletes_change_only_the_senders_own_messages(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let (sent, _) = store
        .insert_message(saying(id, alice.id, "see you at eight"))
        .await
        .unwrap();
    // Only the sender can edit.
    assert!(matches!(
        store
            .edit_message(sent.id, bob.id, "hijacked", T0.plus_secs(5))
            .await,
        Err(StoreError::NotFound)
    ));
    let (edited, advanced) = store
        .edit_message(sent.id, alice.id, "see you at nine", T0.plus_secs(5))
        .await
        .unwrap();
    assert_eq!(edited.body, "see you at nine");
    assert_eq!(edited.edited_at, Some(T0.plus_secs(5)));
    let announced = advanced.iter().find(|a| a.member == bob.id).unwrap().seq;
    let feed = readable_feed(store, bob.id, announced).await;
    assert_eq!(
        feed.last().unwrap().event,
        LiveEvent::MessageChanged {
            conversation_id: id,
            message_id: sent.id,
        }
    );
    // The old words are no longer found; the new ones are.
    assert!(
        store
            .search_messages(bob.id, &words("eight"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .search_messages(bob.id, &words("nine"), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Only the sender can delete; the text is gone, the row stays as "deleted".
    assert!(matches!(
        store.delete_message(sent.id, bob.id, T0.plus_secs(6)).await,
        Err(StoreError::NotFound)
    ));
    store
        .delete_message(sent.id, alice.id, T0.plus_secs(6))
        .await
        .unwrap();
    let gone = store.message(sent.id).await.unwrap().unwrap();
    assert!(gone.deleted);
    assert_eq!(gone.body, "");
    assert!(
        store
            .search_messages(bob.id, &words("nine"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A deleted message cannot be edited or deleted again, and is not unread.
    assert!(matches!(
        store
            .edit_message(sent.id, alice.id, "back", T0.plus_secs(7))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .delete_message(sent.id, alice.id, T0.plus_secs(7))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .conversation(id, bob.id)
            .await
            .unwrap()
            .unwrap()
            .unread,
        0
    );
}

async fn replies_quote_what_they_answer(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let (question, _) = store
        .insert_message(saying(id, alice.id, "dinner on friday?"))
        .await
        .unwrap();
    let (answer, _) = store
        .insert_message(NewMessage {
            reply_to: Some(question.id),
            ..saying(id, bob.id, "yes!")
        })
        .await
        .unwrap();
    let quote = answer.reply_to.expect("the reply carries its quote");
    assert_eq!(quote.id, question.id);
    assert_eq!(quote.body, "dinner on friday?");
    assert_eq!(quote.sender.unwrap().id, alice.id);
    assert!(!quote.deleted);
    // Once the question is deleted, the quote says so and holds no text.
    store
        .delete_message(question.id, alice.id, T0.plus_secs(9))
        .await
        .unwrap();
    let read = store.message(answer.id).await.unwrap().unwrap();
    let quote = read.reply_to.unwrap();
    assert!(quote.deleted);
    assert_eq!(quote.body, "");
}

async fn a_draft_key_stores_a_send_once(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let keyed = |body: &str| NewMessage {
        client_key: Some("draft-1".into()),
        ..saying(id, alice.id, body)
    };
    let (first, advanced) = store.insert_message(keyed("hello")).await.unwrap();
    assert!(!advanced.is_empty());
    let (again, advanced) = store.insert_message(keyed("hello")).await.unwrap();
    assert_eq!(again.id, first.id);
    assert!(advanced.is_empty(), "a retry tells nobody anything new");
    assert_eq!(store.messages(id, bob.id, None, 10).await.unwrap().len(), 1);
    // The same key for different words is refused.
    assert!(is_conflict(
        store.insert_message(keyed("something else")).await,
        "client_key"
    ));
    // Keys are the sender's own: Bob may use the same one.
    let bobs = NewMessage {
        client_key: Some("draft-1".into()),
        ..saying(id, bob.id, "hi")
    };
    let (other, _) = store.insert_message(bobs).await.unwrap();
    assert_ne!(other.id, first.id);
}

async fn search_finds_every_word_in_the_members_own_conversations(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;
    let (ours, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let (theirs, _) = store
        .create_conversation(direct(bob.id, carol.id))
        .await
        .unwrap();
    let (older, _) = store
        .insert_message(saying(ours, alice.id, "The Lighthouse was wonderful"))
        .await
        .unwrap();
    let (newer, _) = store
        .insert_message(saying(ours, bob.id, "lighthouses and harbours"))
        .await
        .unwrap();
    store
        .insert_message(saying(ours, bob.id, "nothing to see"))
        .await
        .unwrap();
    store
        .insert_message(saying(theirs, carol.id, "a secret lighthouse plan"))
        .await
        .unwrap();

    // Prefixes, any case, newest first; never a conversation Alice is not in.
    let found = store
        .search_messages(alice.id, &words("LIGHT"), None, 10)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|m| m.id).collect::<Vec<_>>(),
        [newer.id, older.id]
    );
    // Every word must match.
    let found = store
        .search_messages(alice.id, &words("lighthouse wonderful"), None, 10)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), [older.id]);
    // Paging by cursor.
    let page = store
        .search_messages(alice.id, &words("light"), Some(newer.id), 10)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), [older.id]);
    // Carol finds her own, and Bob (in both) finds all three.
    assert_eq!(
        store
            .search_messages(carol.id, &words("secret"), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .search_messages(alice.id, &words("secret"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .search_messages(bob.id, &words("light"), None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn group_changes_write_lines_that_are_never_unread(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let carol = member(store, "carol").await;
    let (id, _) = store
        .create_conversation(group(alice.id, &[bob.id]))
        .await
        .unwrap();
    store
        .add_participants(id, alice.id, &[carol.id], 10, T0.plus_secs(1))
        .await
        .unwrap();
    store
        .rename_conversation(id, bob.id, "Book club", T0.plus_secs(2))
        .await
        .unwrap();
    store
        .remove_participant(id, carol.id, T0.plus_secs(3))
        .await
        .unwrap();
    let lines = store.messages(id, alice.id, None, 10).await.unwrap();
    let said: Vec<(MemberId, SystemLine)> = lines
        .iter()
        .rev()
        .map(|m| (m.sender.as_ref().unwrap().id, m.system.clone().unwrap()))
        .collect();
    assert_eq!(said.len(), 3);
    assert_eq!(said[0].0, alice.id);
    assert!(matches!(&said[0].1, SystemLine::Added { member: Some(m) } if m.id == carol.id));
    assert_eq!(
        said[1],
        (
            bob.id,
            SystemLine::Renamed {
                title: "Book club".into()
            }
        )
    );
    assert_eq!(said[2], (carol.id, SystemLine::Left));
    // Lines are not unread, and not found by search.
    let alices = store.conversation(id, alice.id).await.unwrap().unwrap();
    assert_eq!(alices.unread, 0);
    assert!(alices.last_message.unwrap().system.is_some());
    assert!(
        store
            .search_messages(alice.id, &words("book"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_member_can_remove_a_message_from_their_own_view(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let (message, _) = store
        .insert_message(saying(id, alice.id, "a film for you"))
        .await
        .unwrap();
    store
        .hide_message(message.id, bob.id, T0.plus_secs(1))
        .await
        .unwrap();
    // Twice is the same as once.
    store
        .hide_message(message.id, bob.id, T0.plus_secs(2))
        .await
        .unwrap();
    assert!(
        store
            .messages(id, bob.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_messages(bob.id, &words("film"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Alice still sees it.
    assert_eq!(
        store.messages(id, alice.id, None, 10).await.unwrap().len(),
        1
    );
}

/// "Gone from the database, not hidden": on SQLite, once a deleted message's page reaches the
/// file, neither the table nor the search index holds its words.
#[tokio::test]
async fn a_deleted_message_leaves_no_words_in_the_sqlite_file() {
    let db = TestDatabase::sqlite().await;
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    let (id, _) = store
        .create_conversation(direct(alice.id, bob.id))
        .await
        .unwrap();
    let secret = "zanzibarquux";
    let (sent, _) = store
        .insert_message(saying(id, alice.id, &format!("the code is {secret}")))
        .await
        .unwrap();
    // A search has the message indexed first (messages are otherwise indexed in batches), so
    // the words are in the search index too before the delete.
    let found = store
        .search_messages(alice.id, &words(secret), None, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let path = db.url.strip_prefix("sqlite://").unwrap().to_owned();
    let file_holds = |word: &str| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        // Copies the WAL into the file; nothing else holds a read open, so it completes.
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .unwrap();
        assert_eq!(busy, 0);
        drop(conn);
        let needle = word.as_bytes();
        [path.clone(), format!("{path}-wal")].iter().any(|file| {
            std::fs::read(file)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|window| window == needle)
        })
    };
    assert!(file_holds(secret), "the word is stored before the delete");
    store
        .delete_message(sent.id, alice.id, T0.plus_secs(1))
        .await
        .unwrap();
    assert!(
        !file_holds(secret),
        "the deleted words are still in the file"
    );
    db.remove().await;
}
