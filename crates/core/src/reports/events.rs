//! `POST /partner/v1/events`: daily counts a partner reports about its own channels. A batch
//! is all or nothing: one invalid item rejects it, with every item's error listed.

use serde::Deserialize;

use super::parse_day;
use crate::partner::INTERFACES;
use crate::store::{App, Cell, ReportedEvent, day_of};
use crate::{Confidant, Error};

/// Items per batch.
pub const MAX_EVENTS: usize = 10_000;
/// The channels a count can be for: through Confidant, or the partner's own.
pub const CHANNELS: [&str; 2] = ["confidant", "off_platform"];
/// Reported days may reach this far back.
const OLDEST_DAYS: i64 = 400;
/// The most a single count may be.
const MAX_COUNT: i64 = 1_000_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub channel: String,
    pub interface: String,
    pub initiation_surface: String,
    pub variation: String,
    #[serde(deserialize_with = "crate::integers::integer")]
    pub sends: i64,
    #[serde(deserialize_with = "crate::integers::integer")]
    pub clicks: i64,
    pub idempotency_key: String,
}

/// Why one item of a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    pub index: usize,
    pub field: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("a batch holds 1 to {MAX_EVENTS} events")]
    BatchSize,
    #[error("{} of the events are invalid; none were stored", .0.len())]
    Invalid(Vec<ItemError>),
    #[error(transparent)]
    Core(#[from] Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsAccepted {
    pub received: usize,
    /// New ones; the rest repeated keys seen before and changed nothing.
    pub stored: u64,
}

impl Confidant {
    /// Validates every item against the app's declared report domain and stores the batch.
    pub async fn report_events(
        &self,
        app: &App,
        events: Vec<EventInput>,
    ) -> Result<EventsAccepted, EventsError> {
        if events.is_empty() || events.len() > MAX_EVENTS {
            return Err(EventsError::BatchSize);
        }
        let today = day_of(self.clock.now());
        let mut errors = Vec::new();
        let mut valid = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            match check(app, event, today) {
                Ok(event) => valid.push(event),
                Err((field, message)) => errors.push(ItemError {
                    index,
                    field,
                    message,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(EventsError::Invalid(errors));
        }
        let stored = self
            .store
            .store_reported_events(&valid, self.clock.now())
            .await
            .map_err(Error::from)?;
        Ok(EventsAccepted {
            received: valid.len(),
            stored,
        })
    }
}

fn check(
    app: &App,
    event: EventInput,
    today: i64,
) -> Result<ReportedEvent, (&'static str, String)> {
    let day = parse_day(&event.day).ok_or((
        "day",
        format!("`{}` is not a date like 2026-11-22", event.day),
    ))?;
    // A day ahead is allowed: a partner's "today" may already be tomorrow in UTC.
    if day > today + 1 || day < today - OLDEST_DAYS {
        return Err(("day", format!("days reach back at most {OLDEST_DAYS} days")));
    }
    let one_of = |field, value: &str, allowed: &[&str]| {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err((
                field,
                format!("`{value}` is not one of {}", allowed.join(", ")),
            ))
        }
    };
    one_of("channel", &event.channel, &CHANNELS)?;
    one_of("interface", &event.interface, &INTERFACES)?;
    let surfaces: Vec<&str> = app.surfaces.iter().map(String::as_str).collect();
    one_of("initiation_surface", &event.initiation_surface, &surfaces)?;
    let variations: Vec<&str> = app.variations.iter().map(String::as_str).collect();
    one_of("variation", &event.variation, &variations)?;
    for (field, count) in [("sends", event.sends), ("clicks", event.clicks)] {
        if !(0..=MAX_COUNT).contains(&count) {
            return Err((field, format!("a count is between 0 and {MAX_COUNT}")));
        }
    }
    let key = event.idempotency_key.trim();
    if key.is_empty() || event.idempotency_key.chars().count() > 200 {
        return Err((
            "idempotency_key",
            "an idempotency key has 1 to 200 characters".into(),
        ));
    }
    Ok(ReportedEvent {
        cell: Cell {
            client_id: app.client_id.clone(),
            day,
            interface: event.interface,
            surface: event.initiation_surface,
            variation: event.variation,
            channel: event.channel,
        },
        sends: event.sends,
        clicks: event.clicks,
        idempotency_key: key.to_owned(),
    })
}
