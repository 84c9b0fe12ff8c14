//! Rich authorization requests (RFC 9396) of the one type Confidant knows, `thread_read`:
//! the app asks to read some of the member's conversations, and the member picks which on
//! the consent screen. The app cannot name threads in advance, so the request carries no
//! thread ids.

use serde_json::Value;

use crate::Error;

/// The `authorization_details` types this server understands (for RFC 8414 metadata).
pub const SUPPORTED_TYPES: [&str; 1] = ["thread_read"];

/// Default and longest life of a per-thread read grant, in days.
pub const THREAD_GRANT_DEFAULT_DAYS: i64 = 7;
pub const THREAD_GRANT_MAX_DAYS: i64 = 30;

/// What an authorization request asked for beyond scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthorizationDetails {
    /// The app asks the member to pick conversations it may read.
    pub thread_read: bool,
}

impl AuthorizationDetails {
    /// Parses the `authorization_details` parameter: a JSON array of objects, each with a
    /// `type`. Unknown types and malformed JSON are `invalid_authorization_details`.
    pub fn parse(raw: Option<&str>) -> Result<Self, Error> {
        let Some(raw) = raw.filter(|s| !s.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let invalid = |message: String| {
            Error::invalid(
                "authorization_details",
                "invalid_authorization_details",
                message,
            )
        };
        let Ok(Value::Array(entries)) = serde_json::from_str::<Value>(raw) else {
            return Err(invalid(
                "authorization_details must be a JSON array of objects".into(),
            ));
        };
        let mut details = Self::default();
        for entry in entries {
            // RFC 9396 §5: fields the type does not define make the request invalid, rather
            // than being shown to the member as if they meant something.
            let unknown_field = entry
                .as_object()
                .and_then(|fields| fields.keys().find(|key| key.as_str() != "type"));
            match entry.get("type").and_then(Value::as_str) {
                Some("thread_read") if unknown_field.is_some() => {
                    return Err(invalid(format!(
                        "thread_read takes no field but `type` (found `{}`): the member picks \
                         the conversations",
                        unknown_field.map(String::as_str).unwrap_or_default()
                    )));
                }
                Some("thread_read") if !details.thread_read => details.thread_read = true,
                Some("thread_read") => {
                    return Err(invalid("thread_read may appear only once".into()));
                }
                Some(other) => {
                    return Err(invalid(format!(
                        "unknown authorization_details type `{other}`; supported: thread_read"
                    )));
                }
                None => return Err(invalid("each entry needs a string `type`".into())),
            }
        }
        Ok(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_read_is_the_only_known_type() {
        assert_eq!(
            AuthorizationDetails::parse(None).unwrap(),
            AuthorizationDetails::default()
        );
        assert!(
            AuthorizationDetails::parse(Some(r#"[{"type":"thread_read"}]"#))
                .unwrap()
                .thread_read
        );
        for bad in [
            "{}",
            "not json",
            r#"[{"type":"inbox_read"}]"#,
            r#"[{"type":"thread_read","conversations":[1,2]}]"#,
            r#"[{"type":"thread_read","locations":["https://x.example"]}]"#,
            r#"[{"kind":"thread_read"}]"#,
            r#"[{"type":"thread_read"},{"type":"thread_read"}]"#,
        ] {
            let error = AuthorizationDetails::parse(Some(bad)).unwrap_err();
            assert_eq!(error.code(), "invalid_authorization_details", "{bad}");
        }
    }
}
