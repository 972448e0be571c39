//! Identifier newtypes: parsed once at the edge, trusted everywhere after.
//!
//! Every constructor that takes text validates it and names what is wrong;
//! there is no way to hold a `StreamId` that breaks the rules in SPEC.md.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

use crate::error::Error;

/// Reads a JSON string with `parse`, from the text in place: no `String`
/// is built for what is only parsed (ids, times, hashes, base64). A value
/// of another type is refused as `String`'s reading refuses it ("expected a
/// string"); `parse`'s error is the message otherwise.
pub(crate) fn from_text<'de, D, T, E, F>(d: D, parse: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
    F: FnOnce(&str) -> Result<T, E>,
{
    struct Text<F, T, E>(F, std::marker::PhantomData<fn() -> (T, E)>);

    impl<'de, T, E, F> serde::de::Visitor<'de> for Text<F, T, E>
    where
        E: fmt::Display,
        F: FnOnce(&str) -> Result<T, E>,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<Er: serde::de::Error>(self, v: &str) -> Result<T, Er> {
            (self.0)(v).map_err(Er::custom)
        }
    }

    d.deserialize_str(Text(parse, std::marker::PhantomData))
}

/// Largest integer an RFC 8785 number carries exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Name of an event stream: `case-…`, `complaint-…`, `catalog`, `registry`, …
///
/// 1 to 128 bytes of ASCII letters, digits, `-`, `_`, `.` and `:`, starting
/// with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(String);

impl StreamId {
    /// The stream holding key registrations and revocations.
    pub const REGISTRY: &'static str = "registry";

    pub fn new(name: &str) -> Result<Self, Error> {
        let ok_len = (1..=128).contains(&name.len());
        let mut chars = name.chars();
        let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let ok_rest =
            chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if ok_len && ok_first && ok_rest {
            Ok(StreamId(name.to_owned()))
        } else {
            Err(Error::InvalidStreamId {
                name: name.chars().take(140).collect(),
            })
        }
    }

    pub fn registry() -> Self {
        StreamId(Self::REGISTRY.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_registry(&self) -> bool {
        self.0 == Self::REGISTRY
    }
}

/// An event's unique id, a ULID, chosen by the author so retries are idempotent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub Ulid);

impl EventId {
    pub fn generate() -> Self {
        EventId(Ulid::generate())
    }
}

/// Position of an event in its stream: 0, 1, 2, …
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamVersion(pub u64);

/// Position of an entry in the global log (the Merkle leaf index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogIndex(pub u64);

/// An event type, e.g. `case.accepted`: 1 to 64 bytes of ASCII letters,
/// digits, `.`, `_` and `-`, starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(String);

impl EventType {
    pub fn new(name: &str) -> Result<Self, Error> {
        let ok_len = (1..=64).contains(&name.len());
        let mut chars = name.chars();
        let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok_len && ok_first && ok_rest {
            Ok(EventType(name.to_owned()))
        } else {
            Err(Error::InvalidEventType {
                name: name.chars().take(80).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A department or officer identifier: 1 to 64 bytes, ASCII letters, digits,
/// `-`, `_`, `.`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(String);

impl ActorId {
    pub fn new(name: &str) -> Result<Self, Error> {
        let ok_len = (1..=64).contains(&name.len());
        let mut chars = name.chars();
        let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok_len && ok_first && ok_rest {
            Ok(ActorId(name.to_owned()))
        } else {
            Err(Error::InvalidActorId {
                name: name.chars().take(80).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_impls {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                $t::new(s)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $t::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_newtype_impls!(StreamId);
string_newtype_impls!(EventType);
string_newtype_impls!(ActorId);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for EventId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        // ULIDs are 26 Crockford base32 characters; we insist on the
        // canonical upper-case form so one id has one spelling in the log.
        let id = Ulid::from_string(s).map_err(|_| Error::InvalidEventId {
            id: s.chars().take(40).collect(),
        })?;
        let mut canonical = [0u8; ulid::ULID_LEN];
        if id.array_to_str(&mut canonical) != s {
            return Err(Error::InvalidEventId { id: s.to_owned() });
        }
        Ok(EventId(id))
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, str::parse::<EventId>)
    }
}

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

// Stream versions are JSON numbers in the canonical form, so they must stay
// within RFC 8785's exact integer range.
impl Serialize for StreamVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for StreamVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        if v > MAX_SAFE_INTEGER {
            return Err(serde::de::Error::custom("version exceeds 2^53-1"));
        }
        Ok(StreamVersion(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_read_in_place_escaped_owned_or_refused_as_string_would() {
        let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
        let plain: EventId = serde_json::from_str(&format!("\"{id}\"")).expect("plain");
        assert_eq!(plain.to_string(), id);
        // An escape makes serde_json unescape into scratch space first.
        let escaped: EventId =
            serde_json::from_str(&format!("\"\\u0030{}\"", &id[1..])).expect("escaped");
        assert_eq!(escaped, plain);
        // From a JSON value the text is owned.
        let owned: EventId = serde_json::from_value(serde_json::json!(id)).expect("owned");
        assert_eq!(owned, plain);
        // Wrong type: the words `String`'s reading uses.
        let err = serde_json::from_str::<EventId>("7")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a string"), "{err}");
        // Not canonical (lower case): the parser's own error.
        let err = serde_json::from_str::<EventId>(&format!("\"{}\"", id.to_lowercase()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("event id"), "{err}");
    }

    #[test]
    fn stream_ids_follow_the_rules() {
        assert!(StreamId::new("case-2026-000123").is_ok());
        assert!(StreamId::new("registry").is_ok());
        for bad in ["", "-case", "case 1", "案件", "$all", &"a".repeat(129)] {
            assert!(
                matches!(StreamId::new(bad), Err(Error::InvalidStreamId { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn event_ids_must_be_canonical_ulids() {
        let id = EventId::generate();
        assert_eq!(id.to_string().parse::<EventId>().unwrap(), id);
        let lower = id.to_string().to_lowercase();
        assert!(lower.parse::<EventId>().is_err());
        assert!("not-a-ulid".parse::<EventId>().is_err());
    }

    #[test]
    fn event_types_and_actors() {
        assert!(EventType::new("case.accepted").is_ok());
        assert!(EventType::new("1case").is_err());
        assert!(ActorId::new("dept-tax").is_ok());
        assert!(ActorId::new("dept tax").is_err());
    }
}
