//! One access-log entry and its canonical encoding, the bytes its Merkle leaf hashes.
//!
//! The encoding is binary and length-prefixed so that no two different entries can encode to
//! the same bytes, whatever their strings contain:
//!
//! ```text
//! entry   = version:u8 (= 1)
//!           seq:u64  at_ms:i64          -- big-endian; at_ms is Unix time in milliseconds
//!           app:str  action:str  scope:str
//!           objects:u32 (count) object:str …
//!           outcome:u8 (0 = allowed, 1 = denied)  reason:str  request_id:str
//! str     = length:u32 (big-endian) ‖ UTF-8 bytes
//! ```
//!
//! An absent scope or reason is encoded as the empty string. The leaf hash is
//! `SHA-256(0x00 ‖ entry)` (RFC 9162 §2.1).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::tree::{Hash, leaf_hash};

const ENCODING_VERSION: u8 = 1;

/// Whether the platform let the access happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allowed,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allowed" => Some(Outcome::Allowed),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

/// One thing an app did, or tried to do, with a member's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the member's log, from 0, without gaps: the Merkle leaf index.
    pub seq: u64,
    /// When it happened, to the millisecond.
    #[serde(rename = "at", with = "millis_rfc3339")]
    pub at_ms: i64,
    /// The app's client id.
    pub app: String,
    /// What was done, e.g. `profile.read` or `token.issue`.
    pub action: String,
    /// The scope the action used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// What it concerned, as `kind:id` (`member:12`, `conversation:4`).
    #[serde(default)]
    pub objects: Vec<String>,
    pub outcome: Outcome,
    /// Why it was denied (`insufficient_scope`, `grant_revoked`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The id of the HTTP request, to match the entry with the partner's and server's logs.
    pub request_id: String,
}

impl Entry {
    /// The canonical bytes of the entry (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(ENCODING_VERSION);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        put_str(&mut out, &self.app);
        put_str(&mut out, &self.action);
        put_str(&mut out, self.scope.as_deref().unwrap_or(""));
        put_len(&mut out, self.objects.len());
        for object in &self.objects {
            put_str(&mut out, object);
        }
        out.push(match self.outcome {
            Outcome::Allowed => 0,
            Outcome::Denied => 1,
        });
        put_str(&mut out, self.reason.as_deref().unwrap_or(""));
        put_str(&mut out, &self.request_id);
        out
    }

    /// The entry's Merkle leaf hash.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Entries are built from bounded request data; a 4 GiB field cannot reach here.
    let len = u32::try_from(len).expect("access-log field longer than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Formats Unix milliseconds as RFC 3339 with exactly three fractional digits, so that the
/// JSON form of an entry converts back to the same `at_ms`.
pub fn format_millis(at_ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

pub fn parse_millis(text: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let nanos = at.unix_timestamp_nanos();
    // Finer precision than milliseconds cannot come from an entry; refuse rather than round.
    (nanos % 1_000_000 == 0).then(|| i64::try_from(nanos / 1_000_000).ok())?
}

mod millis_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(at_ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_millis(*at_ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_millis(&text).ok_or_else(|| {
            D::Error::custom(format!("{text:?} is not an RFC 3339 time in milliseconds"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            seq: 7,
            at_ms: 1_763_800_000_123,
            app: "cfd_app_x".into(),
            action: "profile.read".into(),
            scope: Some("profile".into()),
            objects: vec!["member:1".into()],
            outcome: Outcome::Allowed,
            reason: None,
            request_id: "r-1".into(),
        }
    }

    #[test]
    fn the_encoding_is_the_documented_layout() {
        let bytes = entry().encode();
        let mut expected = vec![1];
        expected.extend_from_slice(&7u64.to_be_bytes());
        expected.extend_from_slice(&1_763_800_000_123i64.to_be_bytes());
        for s in ["cfd_app_x", "profile.read", "profile"] {
            expected.extend_from_slice(&(s.len() as u32).to_be_bytes());
            expected.extend_from_slice(s.as_bytes());
        }
        expected.extend_from_slice(&1u32.to_be_bytes());
        expected.extend_from_slice(&8u32.to_be_bytes());
        expected.extend_from_slice(b"member:1");
        expected.push(0);
        expected.extend_from_slice(&0u32.to_be_bytes());
        expected.extend_from_slice(&3u32.to_be_bytes());
        expected.extend_from_slice(b"r-1");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_encoding() {
        let a = Entry {
            objects: vec!["ab".into(), "c".into()],
            ..entry()
        };
        let b = Entry {
            objects: vec!["a".into(), "bc".into()],
            ..entry()
        };
        assert_ne!(a.encode(), b.encode());
    }

    #[test]
    fn json_round_trips_to_the_same_bytes() {
        let original = entry();
        let json = serde_json::to_string(&original).unwrap();
        assert!(
            json.contains("\"at\":\"2025-11-22T08:26:40.123Z\""),
            "{json}"
        );
        let back: Entry = serde_json::from_str(&json).unwrap();
        assert_eq!(back.encode(), original.encode());
    }

    #[test]
    fn times_finer_than_a_millisecond_are_refused() {
        assert_eq!(
            parse_millis("2025-11-22T08:26:40.123Z"),
            Some(1_763_800_000_123)
        );
        assert_eq!(parse_millis("2025-11-22T08:26:40.1234Z"), None);
    }
}
