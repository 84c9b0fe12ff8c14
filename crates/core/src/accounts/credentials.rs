//! The parsed forms of what a member types in: once you hold one, it is valid.

use crate::Error;

/// A member's handle: 3–32 characters of `[a-z0-9_]`. Input is lower-cased first, so
/// handles are unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

impl Handle {
    pub fn parse(input: &str) -> Result<Self, Error> {
        let handle = input.trim().to_ascii_lowercase();
        let length_ok = (3..=32).contains(&handle.len());
        let charset_ok = handle
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if length_ok && charset_ok {
            Ok(Handle(handle))
        } else {
            Err(Error::invalid(
                "handle",
                "invalid_handle",
                "A handle is 3 to 32 characters: letters a–z, digits and underscores.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password of at least 10 characters (and at most 1024, to bound hashing work).
/// `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(input: &str) -> Result<Self, Error> {
        if input.chars().count() < Self::MIN_CHARS {
            return Err(Error::invalid(
                "password",
                "weak_password",
                format!("A password needs at least {} characters.", Self::MIN_CHARS),
            ));
        }
        if input.len() > Self::MAX_BYTES {
            return Err(Error::invalid(
                "password",
                "invalid_password",
                "That password is too long.",
            ));
        }
        Ok(Password(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The name shown beside messages: at most 64 characters as sent, and once the surrounding
/// space is trimmed, no control characters, no bidi overrides or isolates (which would
/// reorder the text around the name, e.g. to make "txt.exe" read "exe.txt"), and something
/// visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

/// Characters that change the direction of the text that follows (U+202A–U+202E,
/// U+2066–U+2069) or mark it (U+200E, U+200F, U+061C).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that take no room on screen, so that a name of only these looks empty.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{FEFF}'
                | '\u{00AD}'
                | '\u{034F}'
                | '\u{180E}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{3164}'
                | '\u{FFA0}'
                | '\u{2800}'
        )
}

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(input: &str) -> Result<Self, Error> {
        let name = input.trim();
        let valid = input.chars().count() <= Self::MAX_CHARS
            && !name.chars().any(|c| c.is_control() || is_bidi_control(c))
            && !name.chars().all(is_invisible);
        if !valid {
            return Err(Error::invalid(
                "display_name",
                "invalid_display_name",
                "A display name is 1 to 64 characters with something visible, without control \
                 or text-direction characters.",
            ));
        }
        Ok(DisplayName(name.to_owned()))
    }

    /// The name chosen at sign-up; left blank, it is the handle. Its length is counted as
    /// sent either way.
    pub fn parse_or_handle(input: Option<&str>, handle: &Handle) -> Result<Self, Error> {
        match input {
            Some(name) if !name.trim().is_empty() || name.chars().count() > Self::MAX_CHARS => {
                Self::parse(name)
            }
            _ => Self::parse(handle.as_str()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_names_cannot_reorder_text_or_look_empty() {
        assert!(DisplayName::parse("Zoë 🎬").is_ok());
        assert!(
            DisplayName::parse("עדי").is_ok(),
            "right-to-left names are fine"
        );
        for bad in [
            "abc\u{202E}exe.txt",
            "\u{2067}Bob",
            "Al\u{200F}ice",
            "\u{200B}\u{200B}",
            "\u{3164}",
            " \u{FEFF} ",
            "",
            "tab\there",
        ] {
            assert!(
                DisplayName::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn handles_are_lower_cased_and_checked() {
        assert_eq!(Handle::parse("Alice_1").unwrap().as_str(), "alice_1");
        for bad in ["ab", "", "a-b-c", "ünï", "white space", &"x".repeat(33)] {
            assert!(Handle::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Handle::parse(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn passwords_need_ten_characters_and_hide_in_debug() {
        assert!(Password::parse("123456789").is_err());
        let password = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
    }

    proptest! {
        #[test]
        fn any_parsed_handle_is_in_the_allowed_alphabet(input in "\\PC{0,40}") {
            if let Ok(handle) = Handle::parse(&input) {
                prop_assert!((3..=32).contains(&handle.as_str().len()));
                prop_assert!(handle.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            }
        }
    }
}
