//! Live delivery over Server-Sent Events.
//!
//! Each event's id is the position of the member's feed entry. A client that reconnects sends
//! `Last-Event-ID` (browsers do so by themselves) and gets exactly the entries after it:
//! positions only ever appear in increasing order per member, so nothing is lost or repeated.
//! (They have gaps on PostgreSQL, where no per-member counter hands them out.)

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use confidant_core::messaging::LiveEvent;
use confidant_core::store::FeedEntry;
use confidant_core::{Confidant, MemberId};

use super::schema::MessageOut;
use crate::http::error::{ApiError, AppQuery};
use crate::http::session::ApiCaller;
use crate::state::AppState;

/// Entries read from the store per round trip.
const BATCH: i64 = 200;

/// How long a stream first waits, and at most waits, before looking again for an announced
/// entry it could not read yet.
const MIN_READABLE_WAIT: Duration = Duration::from_millis(2);
const MAX_READABLE_WAIT: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id, for clients that cannot set `Last-Event-ID`.
    pub last_event_id: Option<i64>,
    /// The id of this browser's push subscription, if it has one: while the stream is open,
    /// new messages are not pushed to it.
    pub device: Option<i64>,
}

/// How long a browser counts as watching after its stream last said so, and how often an
/// open stream says so again.
const WATCHING_SECS: i64 = 90;
const WATCHING_RENEWAL: Duration = Duration::from_secs(30);

/// A stream of `message`, `message_changed` (edited or deleted), `read`, `conversation` and
/// `friends` events. Without
/// `Last-Event-ID` it starts with what happens from now on.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])),
    params(EventsQuery, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this id")),
    responses((status = 200, content_type = "text/event-stream", description = "An event stream")))]
pub async fn stream(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    AppQuery(query): AppQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let me = caller.member().id;
    let header_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_last_event_id",
                    "Last-Event-ID must be an event id.",
                )
            })
        })
        .transpose()?;
    // Subscribe before reading the tail, so nothing committed in between is missed.
    let mut announcements = state.app.live().subscribe(me);
    let tail = state.app.feed_tail(me).await?;
    // What was committed before the stream subscribed was announced before it listened:
    // entries up to here that are not readable yet are looked for until they are.
    let written = tail.written();
    let (mut cursor, mut written_before) = match header_id.or(query.last_event_id) {
        // An id past the head was never sent (a client from another server, or a guess):
        // resume from the head, so the stream still delivers everything from now on.
        Some(id) => (id.clamp(0, tail.head), BTreeSet::new()),
        // From now on: entries committed before now that become readable later are old news,
        // and skipped. Those of older transactions still in flight are new when they come.
        None => (tail.head, tail.unreadable.into_iter().collect()),
    };
    let app = state.app.clone();
    let shutdown = state.shutdown.clone();
    let gauge = state.metrics.live_connections.clone();
    gauge.inc();
    let watching = match query.device {
        Some(device) => Watching::start(&app, me, device).await,
        None => None,
    };
    let events = async_stream::stream! {
        let _connected = ConnectionGuard(gauge);
        let _watching = watching;
        let mut not_yet_readable = MIN_READABLE_WAIT;
        loop {
            let entries = match app.feed_since(me, cursor, BATCH).await {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(%error, "event stream could not read the feed");
                    break;
                }
            };
            let full_batch = entries.len() as i64 == BATCH;
            for entry in entries {
                cursor = entry.seq;
                if written_before.remove(&entry.seq) {
                    continue;
                }
                if let Some(event) = render(&app, me, entry).await {
                    yield Ok(event);
                }
            }
            if full_batch {
                continue;
            }
            // An announced position can take a moment to become readable: on PostgreSQL, not
            // before every transaction that started writing earlier has ended. Look again soon.
            if (*announcements.borrow()).max(written) > cursor {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(not_yet_readable) => {}
                }
                not_yet_readable = (not_yet_readable * 2).min(MAX_READABLE_WAIT);
                continue;
            }
            not_yet_readable = MIN_READABLE_WAIT;
            // Sleep until this member's feed grows past the cursor, or the server stops.
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = announcements.changed() => match changed {
                        Ok(()) if *announcements.borrow_and_update() > cursor => break,
                        Ok(()) => continue,
                        // The bus is gone: the server is stopping.
                        Err(_) => return,
                    }
                }
            }
        }
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct ConnectionGuard(prometheus_client::metrics::gauge::Gauge<i64, std::sync::atomic::AtomicI64>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A browser with its push subscription's stream open: marked as watching (so it is not
/// pushed to) and renewed while the stream lasts; unmarked when it ends.
struct Watching {
    app: Confidant,
    me: MemberId,
    device: i64,
    renewals: tokio::task::JoinHandle<()>,
}

impl Watching {
    /// `None` if `device` is not one of `me`'s subscriptions: the stream works all the same.
    async fn start(app: &Confidant, me: MemberId, device: i64) -> Option<Self> {
        let until = |app: &Confidant| Some(app.clock().now().plus_secs(WATCHING_SECS));
        app.push_streaming(me, device, until(app)).await.ok()?;
        let renewing = app.clone();
        let renewals = tokio::spawn(async move {
            loop {
                tokio::time::sleep(WATCHING_RENEWAL).await;
                let _ = renewing.push_streaming(me, device, until(&renewing)).await;
            }
        });
        Some(Watching {
            app: app.clone(),
            me,
            device,
            renewals,
        })
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.renewals.abort();
        let (app, me, device) = (self.app.clone(), self.me, self.device);
        tokio::spawn(async move {
            let _ = app.push_streaming(me, device, None).await;
        });
    }
}

/// Turns a feed entry into an SSE event. A message the member can no longer see (they left
/// the group since) becomes a bare `gap` event so the id still advances.
async fn render(app: &Confidant, me: MemberId, entry: FeedEntry) -> Option<Event> {
    let (name, data) = match &entry.event {
        LiveEvent::Message {
            conversation_id,
            message_id,
        } => match app.message(me, *message_id).await {
            // A muted app's message arrives quietly: clients do not announce `muted` events.
            Ok(message) if app.is_muted_for(me, &message).await.unwrap_or(false) => (
                "muted",
                json!({ "conversation_id": conversation_id, "message_id": message_id }),
            ),
            Ok(message) => (
                "message",
                json!({ "conversation_id": conversation_id, "message": MessageOut::from(message) }),
            ),
            Err(_) => ("gap", json!({})),
        },
        LiveEvent::MessageChanged {
            conversation_id,
            message_id,
        } => match app.message(me, *message_id).await {
            Ok(message) => (
                "message_changed",
                json!({ "conversation_id": conversation_id, "message": MessageOut::from(message) }),
            ),
            Err(_) => ("gap", json!({})),
        },
        LiveEvent::Read { .. } => (
            "read",
            serde_json::to_value(&entry.event).unwrap_or_default(),
        ),
        LiveEvent::Conversation { .. } => (
            "conversation",
            serde_json::to_value(&entry.event).unwrap_or_default(),
        ),
        LiveEvent::Friends => (
            "friends",
            serde_json::to_value(&entry.event).unwrap_or_default(),
        ),
    };
    Event::default()
        .id(entry.seq.to_string())
        .event(name)
        .json_data(data)
        .ok()
}
