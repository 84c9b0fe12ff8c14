//! The text rules of names, titles and messages written as regular expressions, for API
//! descriptions: a client can check its input before sending it, and a fuzzer knows which
//! input is valid. The expressions use only what JSON Schema (ECMA-262), Python's `re` and
//! Rust's `regex` read alike, and the property tests below hold each one to the parser that
//! enforces the rule.

/// What `str::trim` removes (the Unicode `White_Space` property), spelled out because `\s`
/// means a different set in each regex dialect.
macro_rules! space {
    () => {
        r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}

/// `char::is_control`: the C0 and C1 controls.
macro_rules! control {
    () => {
        r"\u0000-\u001F\u007F-\u009F"
    };
}

/// Controls and the bidi characters `DisplayName` refuses.
macro_rules! control_or_bidi {
    () => {
        concat!(control!(), r"\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C")
    };
}

/// Characters that take no room on screen but are not space (see `is_invisible`).
macro_rules! invisible {
    () => {
        r"\u200B-\u200D\u2060-\u2064\uFEFF\u00AD\u034F\u180E\u115F\u1160\u3164\uFFA0\u2800"
    };
}

/// A handle as sent: 3 to 32 of `[A-Za-z0-9_]` (stored lower-case), space around it allowed.
pub const HANDLE: &str = concat!("^[", space!(), "]*[A-Za-z0-9_]{3,32}[", space!(), "]*$");

/// A display name: space around it, and in between no control or bidi character and at
/// least one visible character. (Its length is stated apart, as `maxLength`.)
macro_rules! display_name {
    () => {
        concat!(
            "^[",
            space!(),
            "]*",
            "[^",
            control_or_bidi!(),
            "]*",
            "[^",
            space!(),
            invisible!(),
            control_or_bidi!(),
            "]",
            "[^",
            control_or_bidi!(),
            "]*",
            "[",
            space!(),
            "]*$"
        )
    };
}

/// A display name.
pub const DISPLAY_NAME: &str = display_name!();

/// A display name at sign-up, where a blank one means "my handle".
pub const DISPLAY_NAME_OR_BLANK: &str = concat!("^[", space!(), "]*$|", display_name!());

/// A group title: space around it, and in between no control character and at least one
/// character that is not space.
pub const GROUP_TITLE: &str = concat!(
    "^[",
    space!(),
    "]*",
    "[^",
    control!(),
    "]*",
    "[^",
    space!(),
    control!(),
    "]",
    "[^",
    control!(),
    "]*",
    "[",
    space!(),
    "]*$"
);

/// Text that is not all space (found anywhere in the text: the pattern is not anchored).
pub const NOT_BLANK: &str = concat!("[^", space!(), "]");

/// A message body: at least one character that is not space, and no NUL (which no text
/// the server stores may hold).
pub const MESSAGE_BODY: &str = concat!(r"^[^\u0000]*[^\u0000", space!(), r"][^\u0000]*$");

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::accounts::{DisplayName, Handle};
    use crate::messaging::{GroupTitle, MessageBody};

    /// Strings drawn mostly from the characters the rules are about.
    fn tricky_text() -> impl Strategy<Value = String> {
        let interesting = prop_oneof![
            Just(' '),
            Just('\t'),
            Just('\n'),
            Just('\u{0}'),
            Just('\u{1c}'),
            Just('\u{85}'),
            Just('\u{a0}'),
            Just('\u{200b}'),
            Just('\u{200e}'),
            Just('\u{202e}'),
            Just('\u{2066}'),
            Just('\u{3000}'),
            Just('\u{feff}'),
            Just('\u{2800}'),
            Just('a'),
            Just('é'),
            Just('🎬'),
        ];
        prop::collection::vec(prop_oneof![interesting, any::<char>()], 0..12)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_handle_pattern_is_the_rule(text in tricky_text(), name in "[A-Za-z0-9_]{0,34}") {
            let pattern = Regex::new(HANDLE).unwrap();
            for text in [text.clone(), name.clone(), format!("{text}{name}"), format!("{name}{text}")] {
                prop_assert_eq!(pattern.is_match(&text), Handle::parse(&text).is_ok(), "{:?}", text);
            }
        }

        #[test]
        fn the_display_name_pattern_is_the_rule(text in tricky_text()) {
            let pattern = Regex::new(DISPLAY_NAME).unwrap();
            prop_assert_eq!(pattern.is_match(&text), DisplayName::parse(&text).is_ok(), "{:?}", text);
        }

        #[test]
        fn the_sign_up_display_name_pattern_is_the_rule(text in tricky_text()) {
            let pattern = Regex::new(DISPLAY_NAME_OR_BLANK).unwrap();
            let handle = Handle::parse("alice").unwrap();
            let accepted = DisplayName::parse_or_handle(Some(&text), &handle).is_ok();
            prop_assert_eq!(pattern.is_match(&text), accepted, "{:?}", text);
        }

        #[test]
        fn the_group_title_pattern_is_the_rule(text in tricky_text()) {
            let pattern = Regex::new(GROUP_TITLE).unwrap();
            prop_assert_eq!(pattern.is_match(&text), GroupTitle::parse(&text).is_ok(), "{:?}", text);
        }

        #[test]
        fn the_not_blank_pattern_is_what_trimming_leaves(text in tricky_text()) {
            let pattern = Regex::new(NOT_BLANK).unwrap();
            prop_assert_eq!(pattern.is_match(&text), !text.trim().is_empty(), "{:?}", text);
        }

        #[test]
        fn the_message_body_pattern_is_the_rule(text in tricky_text()) {
            let pattern = Regex::new(MESSAGE_BODY).unwrap();
            // NUL is refused before the body is parsed, by the HTTP layer.
            let accepted = !text.contains('\0') && MessageBody::parse(&text).is_ok();
            prop_assert_eq!(pattern.is_match(&text), accepted, "{:?}", text);
        }
    }
}
