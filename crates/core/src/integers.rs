//! Reading JSON integers as JSON Schema defines them: a number with no fractional part, so
//! `12.0` is the integer 12 (JSON Schema 2020-12 §6.3, "integer"). Use with
//! `#[serde(deserialize_with = ...)]` on the integer fields of request bodies.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, SeqAccess, Visitor};

/// An `i64` written as `12` or `12.0`.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(IntegerVisitor)
}

/// An optional `i64` (absent or `null` is `None`).
pub fn optional_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    struct OptionalVisitor;
    impl<'de> Visitor<'de> for OptionalVisitor {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            integer(d).map(Some)
        }
    }
    deserializer.deserialize_option(OptionalVisitor)
}

/// A list of `i64`s, each written as `12` or `12.0`.
pub fn integers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of integers")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(Integer(item)) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(ListVisitor)
}

struct Integer(i64);

impl<'de> serde::Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        integer(deserializer).map(Integer)
    }
}

struct IntegerVisitor;

impl Visitor<'_> for IntegerVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::custom(format!("{value} is too large")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
        // i64::MAX is not exactly representable; 2^63 as f64 is the first value out of range.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value) {
            Ok(value as i64)
        } else {
            Err(E::custom(format!("{value} is not an integer")))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "super::integer")]
        one: i64,
        #[serde(default, deserialize_with = "super::optional_integer")]
        maybe: Option<i64>,
        #[serde(deserialize_with = "super::integers")]
        many: Vec<i64>,
    }

    fn parse(text: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn whole_numbers_are_integers_however_they_are_written() {
        let body = parse(r#"{"one": 7.0, "maybe": 1e3, "many": [1, 2.0, -3]}"#).unwrap();
        assert_eq!(
            body,
            Body {
                one: 7,
                maybe: Some(1000),
                many: vec![1, 2, -3]
            }
        );
        assert_eq!(
            parse(r#"{"one": 7, "maybe": null, "many": []}"#)
                .unwrap()
                .maybe,
            None
        );
        assert_eq!(parse(r#"{"one": 7, "many": []}"#).unwrap().maybe, None);
    }

    #[test]
    fn fractions_and_out_of_range_numbers_are_refused() {
        assert!(parse(r#"{"one": 7.5, "many": []}"#).is_err());
        assert!(parse(r#"{"one": 9223372036854775808, "many": []}"#).is_err());
        assert!(parse(r#"{"one": 1e19, "many": []}"#).is_err());
        assert!(parse(r#"{"one": 1, "many": [0.5]}"#).is_err());
        assert!(parse(r#"{"one": "1", "many": []}"#).is_err());
    }
}
