//! The query string, deserialized into a `params.rs` struct ([`QueryString::parse`]). TrueFoundry's clients
//! send list parameters both as repeated keys and comma-separated, and the document's scalar types
//! are stricter than serde's usual string parsing, so the query is read by a small deserializer
//! of its own instead of `serde_urlencoded`:
//!
//! - a scalar parameter given more than once takes its last value;
//! - a list parameter (`Vec<String>`) takes every value, each split at commas (`a&a` and `a=x,y`
//!   alike), empty items dropped;
//! - a boolean is `true` or `false`, nothing else; an integer is parsed by its own type
//!   (`params::Limit`, `params::Offset`), which keeps the document's plain decimal form and bounds;
//! - unknown parameters are ignored, as the document's clients may send more than it lists.
//!
//! Every refusal is the 422 `validation_failed` answer naming the parameter.
//!
//! This module must not know what any parameter means: that is the structs' business.

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::{
    de::{self, DeserializeOwned, IntoDeserializer, value::MapDeserializer},
    forward_to_deserialize_any,
};

use crate::error::ApiError;

/// The raw query string of a request; [`QueryString::parse`] reads it as a `params.rs` struct.
/// Parsed where the handler says, not by the extractor, so a handler that decides authorization
/// first still answers 403 before it looks at the query (as it always did).
#[derive(Default)]
pub struct QueryString(String);

impl<S: Send + Sync> FromRequestParts<S> for QueryString {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(QueryString(parts.uri.query().unwrap_or("").to_owned()))
    }
}

impl QueryString {
    /// The query as the struct `T` (see the module comment for how it is read).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse(&self.0)
    }
}

/// Parses a raw query string (without the `?`) into `T`.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    // Each name once, in the order first given, with every value it was given.
    let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, value) in &pairs {
        match grouped.iter_mut().find(|(seen, _)| seen == name) {
            Some((_, values)) => values.push(value),
            None => grouped.push((name, vec![value])),
        }
    }
    let map = MapDeserializer::new(grouped.into_iter().map(|(name, values)| (name, Values(values))));
    serde_path_to_error::deserialize(map).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        // serde's words for an absent required parameter; the field is in the message, not the path.
        match message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
            Some(field) => ApiError::validation(field, "is required"),
            None => ApiError::validation(path, message),
        }
    })
}

/// Every value one parameter was given, in order.
struct Values<'q>(Vec<&'q str>);

impl<'q> Values<'q> {
    fn last(&self) -> &'q str {
        self.0.last().copied().unwrap_or_default()
    }
}

impl<'de, 'q> IntoDeserializer<'de, de::value::Error> for Values<'q> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de, 'q> de::Deserializer<'de> for Values<'q> {
    type Error = de::value::Error;

    /// A scalar: the last value, as text (strings, and the integer types' own parsing).
    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str(self.last())
    }

    fn deserialize_bool<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.last() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(de::Error::custom("must be true or false")),
        }
    }

    /// Present means given: an absent parameter never reaches here (serde makes it `None`).
    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let items =
            self.0.into_iter().flat_map(|value| value.split(',')).map(str::trim).filter(|item| !item.is_empty());
        visitor.visit_seq(de::value::SeqDeserializer::new(items))
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::{GroupFilterParams, NameParams, PageParams, VirtualAccountFilterParams};
    use axum::http::StatusCode;

    fn refused<T: DeserializeOwned>(query: &str) -> (StatusCode, String) {
        match parse::<T>(query) {
            Ok(_) => panic!("{query} was accepted"),
            Err(err) => (err.status(), err.message().to_owned()),
        }
    }

    #[test]
    fn integers_are_plain_decimal_digits_within_bounds() {
        assert_eq!(parse::<PageParams>("").ok().map(|p| p.page()), Some((100, 0)));
        assert_eq!(parse::<PageParams>("limit=5&offset=7").ok().map(|p| p.page()), Some((5, 7)));
        assert_eq!(parse::<PageParams>("limit=5&limit=6").ok().map(|p| p.page()), Some((6, 0)), "the last one wins");
        let max = parse::<PageParams>("offset=9223372036854775807").ok().map(|p| p.page());
        assert_eq!(max, Some((100, i64::MAX)));
        for bad in [
            "limit=",
            "limit",
            "limit=+5",
            "limit=%205",
            "limit=5%20",
            "limit=5.0",
            "limit=1e2",
            "limit=-",
            "limit=0x5",
        ] {
            let (status, message) = refused::<PageParams>(bad);
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(message.contains("limit must be an integer"), "{bad}: {message}");
        }
        for out in ["limit=0", "limit=1001", "limit=-1", "limit=99999999999999999999"] {
            let (_, message) = refused::<PageParams>(out);
            assert!(message.contains("limit must be between 1 and 1000"), "{out}: {message}");
        }
        let (_, message) = refused::<PageParams>("offset=-1");
        assert!(message.contains("offset must be between 0 and"), "{message}");
    }

    #[test]
    fn flags_lists_strings_and_required_parameters() {
        let filter: VirtualAccountFilterParams =
            parse("isExpired=true&nameSearchQuery=a&nameSearchQuery=b").expect("ok");
        assert_eq!((filter.is_expired, filter.name_search_query.as_deref()), (Some(true), Some("b")));
        let filter: VirtualAccountFilterParams = parse("other=1").expect("unknown parameters are ignored");
        assert_eq!((filter.is_expired, filter.name_search_query), (None, None));
        for bad in ["isExpired=", "isExpired=TRUE", "isExpired=1", "isExpired=yes"] {
            let (_, message) = refused::<VirtualAccountFilterParams>(bad);
            assert!(message.contains("isExpired must be true or false"), "{bad}: {message}");
        }
        let groups: GroupFilterParams = parse("attributes=id&attributes=name,fqn&attributes=&fqn=t:g").expect("ok");
        assert_eq!(groups.attributes, Some(vec!["id".to_owned(), "name".to_owned(), "fqn".to_owned()]));
        assert_eq!(groups.fqn.as_deref(), Some("t:g"));
        let (_, message) = refused::<NameParams>("other=x");
        assert!(message.contains("name is required"), "{message}");
        assert_eq!(parse::<NameParams>("name=a%20b").ok().map(|p| p.name), Some("a b".to_owned()));
    }
}
