//! How a conversation reads: messages grouped by sender, days apart, times people read at a
//! glance, and the lines a group writes when it changes. Shared by the conversation, search
//! and inbox pages. The server renders in UTC; `app.js` re-renders times and days in the
//! reader's own time zone.

use time::{Date, OffsetDateTime};

use confidant_core::Timestamp;
use confidant_core::store::{Message, SystemLine};

/// Messages from one sender closer together than this share one header.
const GROUP_GAP_MS: i64 = 5 * 60 * 1000;

/// A point in time as a message shows it.
pub struct Moment {
    /// "19:05", or "just now" / "5 min ago" within the hour.
    pub short: String,
    /// "Monday 30 November 2026, 19:05 UTC", shown on hover.
    pub full: String,
    /// For `<time datetime>`.
    pub iso: String,
    /// Milliseconds since the epoch, for the script.
    pub ms: i64,
}

impl Moment {
    pub fn new(at: Timestamp, now: Timestamp) -> Self {
        let Some(time) = datetime(at) else {
            return Self {
                short: String::new(),
                full: String::new(),
                iso: String::new(),
                ms: at.0,
            };
        };
        let ago = now.0 - at.0;
        let short = if (0..60_000).contains(&ago) {
            "just now".to_owned()
        } else if (60_000..3_600_000).contains(&ago) {
            format!("{} min ago", ago / 60_000)
        } else {
            format!("{:02}:{:02}", time.hour(), time.minute())
        };
        let full = format!(
            "{} {} {} {}, {:02}:{:02} UTC",
            time.weekday(),
            time.day(),
            time.month(),
            time.year(),
            time.hour(),
            time.minute()
        );
        Self {
            short,
            full,
            iso: super::when(at).1,
            ms: at.0,
        }
    }
}

fn datetime(at: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000).ok()
}

/// "Today", "Yesterday", "Monday 30 November" this year, "30 November 2025" before.
pub fn day_label(day: Date, now: Timestamp) -> String {
    let Some(today) = datetime(now).map(|now| now.date()) else {
        return day.to_string();
    };
    if day == today {
        "Today".to_owned()
    } else if Some(day) == today.previous_day() {
        "Yesterday".to_owned()
    } else if day.year() == today.year() {
        format!("{} {} {}", day.weekday(), day.day(), day.month())
    } else {
        format!("{} {} {}", day.day(), day.month(), day.year())
    }
}

/// What a group's own line says, naming who made the change.
pub fn system_text(line: &SystemLine, actor: Option<&str>) -> String {
    let actor = actor.unwrap_or("A deleted member");
    match line {
        SystemLine::Added { member } => {
            let added = member
                .as_ref()
                .map_or("a deleted member", |m| m.display_name.as_str());
            format!("{actor} added {added}")
        }
        SystemLine::Left => format!("{actor} left"),
        SystemLine::Renamed { title } => format!("{actor} renamed the group to “{title}”"),
    }
}

/// A one-line preview of a message, for the inbox and search results.
pub fn preview(message: &Message, chars: usize) -> String {
    let name = message.sender.as_ref().map(|s| s.display_name.as_str());
    if let Some(line) = &message.system {
        return system_text(line, name);
    }
    if message.deleted {
        return format!("{}: message deleted", name.unwrap_or("deleted member"));
    }
    let Some(name) = name else {
        return "message removed".to_owned();
    };
    // Summaries carry no attachments; a message with no words carries only files.
    if message.body.is_empty() {
        return format!("{name}: sent a file");
    }
    let mut text: String = message.body.chars().take(chars).collect();
    if message.body.chars().count() > chars {
        text.push('…');
    }
    format!("{name}: {text}")
}

/// A file's size as people read it: "812 bytes", "4.2 KB", "18 MB".
pub fn file_size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// Where a message sits among its neighbours, oldest first: a day header before it, and
/// whether it continues the previous message's group.
pub struct Placement {
    pub day_break: Option<String>,
    pub continues: bool,
}

/// Places each of `messages` (oldest first).
pub fn place(messages: &[Message], now: Timestamp) -> Vec<Placement> {
    let mut placed = Vec::with_capacity(messages.len());
    let mut previous: Option<&Message> = None;
    for message in messages {
        let day = datetime(message.created_at).map(|t| t.date());
        let previous_day = previous.and_then(|p| datetime(p.created_at).map(|t| t.date()));
        let day_break = match day {
            Some(day) if previous_day != Some(day) => Some(day_label(day, now)),
            _ => None,
        };
        let continues = day_break.is_none()
            && previous.is_some_and(|previous| {
                previous.system.is_none()
                    && message.system.is_none()
                    && previous.via_app.is_none()
                    && message.via_app.is_none()
                    && message.sender.is_some()
                    && previous.sender.as_ref().map(|s| s.id)
                        == message.sender.as_ref().map(|s| s.id)
                    && message.created_at.0 - previous.created_at.0 < GROUP_GAP_MS
            });
        placed.push(Placement {
            day_break,
            continues,
        });
        previous = Some(message);
    }
    placed
}

#[cfg(test)]
mod tests {
    use confidant_core::store::MemberRef;
    use confidant_core::{ConversationId, MemberId, MessageId};

    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;
    /// Monday 30 November 2026, 19:00 UTC.
    const NOW: Timestamp = Timestamp(1_796_065_200_000);

    fn message(id: i64, sender: i64, at: i64) -> Message {
        Message::written(
            MessageId(id),
            ConversationId(1),
            Some(MemberRef {
                id: MemberId(sender),
                handle: format!("m{sender}"),
                display_name: format!("M{sender}"),
            }),
            "hi".into(),
            Timestamp(at),
        )
    }

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(Moment::new(Timestamp(NOW.0 - 5_000), NOW).short, "just now");
        assert_eq!(
            Moment::new(Timestamp(NOW.0 - 5 * 60_000), NOW).short,
            "5 min ago"
        );
        let earlier = Moment::new(Timestamp(NOW.0 - 3 * 3_600_000), NOW);
        assert_eq!(earlier.short, "16:00");
        assert_eq!(earlier.full, "Monday 30 November 2026, 16:00 UTC");
        let today = datetime(NOW).unwrap().date();
        assert_eq!(day_label(today, NOW), "Today");
        assert_eq!(day_label(today.previous_day().unwrap(), NOW), "Yesterday");
        let older = datetime(Timestamp(NOW.0 - 400 * DAY)).unwrap().date();
        assert_eq!(day_label(older, NOW), "26 October 2025");
    }

    #[test]
    fn a_sender_s_consecutive_messages_group_until_a_pause_or_a_new_day() {
        let start = NOW.0 - 2 * DAY;
        let messages = [
            message(1, 1, start),
            message(2, 1, start + 60_000),
            message(3, 2, start + 120_000),
            message(4, 2, start + 120_000 + GROUP_GAP_MS),
            message(5, 2, start + DAY),
        ];
        let placed = place(&messages, NOW);
        let continues: Vec<bool> = placed.iter().map(|p| p.continues).collect();
        assert_eq!(continues, [false, true, false, false, false]);
        assert!(placed[0].day_break.is_some());
        assert_eq!(placed[4].day_break.as_deref(), Some("Yesterday"));
        assert!(placed[1..4].iter().all(|p| p.day_break.is_none()));
    }
}
