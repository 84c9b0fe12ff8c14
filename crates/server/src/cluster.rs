//! The live bus between nodes: announcements ("member M's feed reached position S") travel
//! over core NATS on one subject per member, `confidant.feed.<member id>`.
//!
//! A node subscribes only to the members it has open streams for, and hands what arrives to
//! its in-process [`LocalBus`], which wakes those streams. Its own announcements go to its own
//! streams at once and to NATS for the others. The database stays the source of truth: an
//! announcement carries no data, and streams read their feed themselves.
//!
//! Core NATS delivers at most once, and a node may be cut off from it. So every `resync`, and
//! after each reconnect, a node reads the feed heads of every member it has streams for — in
//! one query per few thousand members, not one per stream — and announces them to its own
//! streams: a lost announcement delays an event by at most that, and never loses it. NATS
//! being down never fails or slows a write: announcements that cannot be handed on are
//! dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use futures::StreamExt;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use confidant_core::MemberId;
use confidant_core::live::{FeedAdvanced, LiveBus, LocalBus};
use confidant_core::store::MessagingStore;

/// Announcements waiting to be handed to NATS; past this many (NATS is slow or down), new
/// ones are dropped and the next resync picks the events up.
const OUTBOX: usize = 65_536;
/// The smallest number of relays worth sweeping for members nobody follows any more.
const FIRST_SWEEP: usize = 1024;
/// Members whose feed heads one resync query reads.
const HEADS_PER_QUERY: usize = 5_000;

pub struct NatsBus {
    local: Arc<LocalBus>,
    client: Client,
    outbox: mpsc::Sender<FeedAdvanced>,
    /// Whether announcements are being dropped, to log the start of a spell once.
    dropping: AtomicBool,
    relays: Mutex<Relays>,
}

#[derive(Default)]
struct Relays {
    /// Per member followed here, the task that relays their subject to the local bus.
    by_member: HashMap<MemberId, JoinHandle<()>>,
    sweep_at: usize,
}

fn subject(member: MemberId) -> String {
    format!("confidant.feed.{}", member.0)
}

impl NatsBus {
    /// Connects to `url` (comma-separated servers). A server that is down now is retried in
    /// the background: the node starts, and streams rely on resyncs until NATS is back.
    pub async fn connect(
        url: &str,
        resync: Duration,
        store: Arc<dyn MessagingStore>,
    ) -> anyhow::Result<Arc<Self>> {
        let reconnected = Arc::new(Notify::new());
        let on_event = reconnected.clone();
        let client = ConnectOptions::new()
            .name("confidant")
            .retry_on_initial_connect()
            .event_callback(move |event| {
                let on_event = on_event.clone();
                async move {
                    match event {
                        Event::Connected => {
                            tracing::info!("connected to NATS");
                            // Whatever was announced while cut off is read now.
                            on_event.notify_one();
                        }
                        Event::Disconnected => {
                            tracing::warn!("lost NATS; live streams fall back to resyncs")
                        }
                        other => tracing::warn!(event = %other, "NATS"),
                    }
                }
            })
            .connect(url.split(',').map(str::trim).collect::<Vec<_>>().as_slice())
            .await?;
        let (outbox, queued) = mpsc::channel(OUTBOX);
        tokio::spawn(hand_on(client.clone(), queued));
        let local = Arc::new(LocalBus::new());
        tokio::spawn(resync_periodically(
            Arc::downgrade(&local),
            store,
            resync,
            reconnected,
        ));
        Ok(Arc::new(NatsBus {
            local,
            client,
            outbox,
            dropping: AtomicBool::new(false),
            relays: Mutex::new(Relays::default()),
        }))
    }

    /// Starts relaying `member`'s subject to the local bus, unless it already is.
    fn follow(&self, member: MemberId) {
        let mut relays = self.relays.lock().expect("relay lock");
        if relays.by_member.len() >= relays.sweep_at.max(FIRST_SWEEP) {
            // Dropping a relay's subscriber unsubscribes it.
            relays.by_member.retain(|member, relay| {
                let keep = self.local.is_followed(*member);
                if !keep {
                    relay.abort();
                }
                keep
            });
            relays.sweep_at = 2 * relays.by_member.len();
        }
        if relays
            .by_member
            .get(&member)
            .is_some_and(|relay| !relay.is_finished())
        {
            return;
        }
        let client = self.client.clone();
        let local = self.local.clone();
        let relay = tokio::spawn(async move {
            let mut subscriber = match client.subscribe(subject(member)).await {
                Ok(subscriber) => subscriber,
                Err(error) => {
                    // Resyncs still reach the stream; the next stream of this member retries.
                    tracing::warn!(%error, "cannot subscribe to a member's announcements");
                    return;
                }
            };
            while let Some(message) = subscriber.next().await {
                let seq = std::str::from_utf8(&message.payload)
                    .ok()
                    .and_then(|text| text.parse().ok());
                match seq {
                    Some(seq) => local.deliver_local(FeedAdvanced { member, seq }),
                    None => tracing::warn!("ignored a malformed announcement from NATS"),
                }
            }
        });
        relays.by_member.insert(member, relay);
    }
}

/// Every `every`, and after each reconnect, announces the feed heads of every member
/// followed here to their streams; a stream already past a head ignores it. Stops with the
/// bus.
async fn resync_periodically(
    local: std::sync::Weak<LocalBus>,
    store: Arc<dyn MessagingStore>,
    every: Duration,
    reconnected: Arc<Notify>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = reconnected.notified() => {}
        }
        let Some(local) = local.upgrade() else { return };
        for members in local.followed().chunks(HEADS_PER_QUERY) {
            match store.feed_heads(members).await {
                Ok(heads) => heads
                    .into_iter()
                    .for_each(|(member, seq)| local.deliver_local(FeedAdvanced { member, seq })),
                Err(error) => tracing::warn!(%error, "could not read feed heads to resync"),
            }
        }
    }
}

/// Hands queued announcements to NATS, in order.
async fn hand_on(client: Client, mut queued: mpsc::Receiver<FeedAdvanced>) {
    while let Some(event) = queued.recv().await {
        let payload = event.seq.to_string().into_bytes().into();
        if let Err(error) = client.publish(subject(event.member), payload).await {
            tracing::warn!(%error, "could not announce on NATS");
        }
    }
}

impl LiveBus for NatsBus {
    fn publish(&self, events: &[FeedAdvanced]) {
        // This node's streams hear at once; the others through NATS.
        self.local.publish(events);
        for event in events {
            let dropped = self.outbox.try_send(*event).is_err();
            if self.dropping.swap(dropped, Ordering::Relaxed) != dropped && dropped {
                tracing::warn!("NATS is not keeping up: announcements are being dropped");
            }
        }
    }

    fn subscribe(&self, member: MemberId) -> watch::Receiver<i64> {
        let announcements = self.local.subscribe(member);
        self.follow(member);
        announcements
    }

    fn listeners(&self) -> usize {
        self.local.listeners()
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        let relays = self.relays.get_mut().expect("relay lock");
        for relay in relays.by_member.values() {
            relay.abort();
        }
    }
}
