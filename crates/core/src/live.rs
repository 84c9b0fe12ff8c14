//! Live fan-out: after a write commits, the members whose event feed grew are announced here,
//! and every open event stream of theirs wakes up and reads the new events from the store.
//!
//! The announcement carries no data, only "member M has events up to seq S", so a lost or
//! duplicated announcement can never lose or duplicate a message: the store is the source of truth.

use tokio::sync::broadcast;

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
    fn subscribe(&self) -> broadcast::Receiver<FeedAdvanced>;
    /// How many live streams are listening, for metrics.
    fn listeners(&self) -> usize;
}

/// The single-node bus: an in-process broadcast channel.
#[derive(Debug)]
pub struct LocalBus {
    sender: broadcast::Sender<FeedAdvanced>,
}

impl LocalBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }

    /// Hands an announcement that arrived from another node to local listeners.
    pub fn deliver_local(&self, event: FeedAdvanced) {
        // An error only means nobody is listening right now, which is fine.
        let _ = self.sender.send(event);
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl LiveBus for LocalBus {
    fn publish(&self, events: &[FeedAdvanced]) {
        for event in events {
            self.deliver_local(*event);
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<FeedAdvanced> {
        self.sender.subscribe()
    }

    fn listeners(&self) -> usize {
        self.sender.receiver_count()
    }
}
