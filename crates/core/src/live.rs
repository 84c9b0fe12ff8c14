//! Live fan-out: after a write commits, the members whose event feed grew are announced here,
//! and every open event stream of theirs wakes up and reads the new events from the store.
//!
//! The announcement carries no data, only "member M has events up to seq S", so a lost or
//! duplicated announcement can never lose or duplicate a message: the store is the source of truth.
//!
//! Each member has a channel of their own, holding the newest seq announced for them, so an
//! announcement wakes only that member's streams, however many other streams are open.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::MemberId;

/// "This member's event feed now reaches `seq`."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedAdvanced {
    pub member: MemberId,
    pub seq: i64,
}

/// Carries [`FeedAdvanced`] announcements to every event stream, on this node or others.
pub trait LiveBus: Send + Sync + 'static {
    fn publish(&self, events: &[FeedAdvanced]);
    /// Follows one member's feed: the receiver sees the newest seq announced for them from
    /// now on (0 until the first announcement).
    fn subscribe(&self, member: MemberId) -> watch::Receiver<i64>;
    /// How many live streams are listening, for metrics.
    fn listeners(&self) -> usize;
}

/// The single-node bus: an in-process channel per member with open streams.
#[derive(Debug, Default)]
pub struct LocalBus {
    feeds: Mutex<Feeds>,
}

#[derive(Debug, Default)]
struct Feeds {
    by_member: HashMap<MemberId, watch::Sender<i64>>,
    /// When the map reaches this size, channels nobody listens to any more are dropped.
    sweep_at: usize,
}

/// The smallest map size worth sweeping.
const FIRST_SWEEP: usize = 1024;

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands an announcement (from this node, or from another) to local listeners.
    pub fn deliver_local(&self, event: FeedAdvanced) {
        let mut feeds = self.feeds.lock().expect("live bus lock");
        let Some(sender) = feeds.by_member.get(&event.member) else {
            // Nobody here follows this member.
            return;
        };
        if sender.receiver_count() == 0 {
            feeds.by_member.remove(&event.member);
            return;
        }
        sender.send_if_modified(|seq| {
            let newer = event.seq > *seq;
            if newer {
                *seq = event.seq;
            }
            newer
        });
    }
}

impl LocalBus {
    /// Whether any stream here follows `member`.
    pub fn is_followed(&self, member: MemberId) -> bool {
        let feeds = self.feeds.lock().expect("live bus lock");
        feeds
            .by_member
            .get(&member)
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    /// The members some stream here follows.
    pub fn followed(&self) -> Vec<MemberId> {
        let feeds = self.feeds.lock().expect("live bus lock");
        feeds
            .by_member
            .iter()
            .filter(|(_, sender)| sender.receiver_count() > 0)
            .map(|(member, _)| *member)
            .collect()
    }
}

impl LiveBus for LocalBus {
    fn publish(&self, events: &[FeedAdvanced]) {
        for event in events {
            self.deliver_local(*event);
        }
    }

    fn subscribe(&self, member: MemberId) -> watch::Receiver<i64> {
        let mut feeds = self.feeds.lock().expect("live bus lock");
        if feeds.by_member.len() >= feeds.sweep_at.max(FIRST_SWEEP) {
            feeds
                .by_member
                .retain(|_, sender| sender.receiver_count() > 0);
            feeds.sweep_at = 2 * feeds.by_member.len();
        }
        feeds
            .by_member
            .entry(member)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    fn listeners(&self) -> usize {
        let feeds = self.feeds.lock().expect("live bus lock");
        feeds
            .by_member
            .values()
            .map(|sender| sender.receiver_count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_announcement_wakes_only_its_members_streams() {
        let bus = LocalBus::new();
        let mut alice = bus.subscribe(MemberId(1));
        let mut alice_again = bus.subscribe(MemberId(1));
        let mut bob = bus.subscribe(MemberId(2));
        assert_eq!(bus.listeners(), 3);
        bus.publish(&[FeedAdvanced {
            member: MemberId(1),
            seq: 7,
        }]);
        assert!(alice.has_changed().unwrap() && alice_again.has_changed().unwrap());
        assert!(!bob.has_changed().unwrap());
        assert_eq!(*alice.borrow_and_update(), 7);
        // An older or repeated announcement wakes nobody.
        bus.publish(&[FeedAdvanced {
            member: MemberId(1),
            seq: 7,
        }]);
        assert!(!alice.has_changed().unwrap());
        bus.publish(&[FeedAdvanced {
            member: MemberId(2),
            seq: 3,
        }]);
        bob.changed().await.unwrap();
        assert_eq!(*bob.borrow_and_update(), 3);
        let _ = alice_again.borrow_and_update();
    }

    #[test]
    fn channels_nobody_follows_are_dropped() {
        let bus = LocalBus::new();
        for member in 0..3 * FIRST_SWEEP as i64 {
            drop(bus.subscribe(MemberId(member)));
        }
        let kept = bus.subscribe(MemberId(-1));
        let size = bus.feeds.lock().unwrap().by_member.len();
        assert!(size <= FIRST_SWEEP + 1, "{size} channels for 1 listener");
        assert_eq!(bus.listeners(), 1);
        assert_eq!(bus.followed(), [MemberId(-1)]);
        assert!(bus.is_followed(MemberId(-1)) && !bus.is_followed(MemberId(0)));
        drop(kept);
    }
}
