//! The event model and its canonical bytes (SPEC.md §2–§4).
//!
//! An author builds a [`ProposedEvent`] and may sign it; the sequencer seals
//! it with its stream version, server time and the link to the stream's
//! previous event, producing the [`Event`] whose RFC 8785 canonical JSON is
//! the log entry. This module is pure: no I/O, no clock except where a
//! caller passes one in, no key registry (see [`crate::keys`]).

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::ids::{ActorId, EventId, EventType, MAX_SAFE_INTEGER, StreamId, StreamVersion};
use crate::keys::KeyId;
use crate::merkle::{self, Hash};
use crate::time::Timestamp;

/// Largest log entry: C2SP tlog-tiles entry bundles carry a 16-bit length.
pub const MAX_ENTRY_BYTES: usize = 65_535;

/// The value of the `v` field: the version of this event format.
pub const FORMAT_VERSION: u64 = 1;

/// Prefix of the message an author signs (SPEC.md §3), so that an event
/// signature can never be mistaken for a signature over anything else.
pub const SIGNATURE_CONTEXT: &[u8] = b"ledger-event-signature/v1\n";

/// RFC 6962 leaf hash of a log entry: `SHA-256(0x00 || entry)`. It is also
/// the link a stream's next event carries in `prev`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LeafHash(pub Hash);

impl LeafHash {
    /// The `prev` of an event at version 0: 32 zero bytes.
    pub const GENESIS: LeafHash = LeafHash(Hash([0; 32]));

    pub fn of_entry(entry: &[u8]) -> Self {
        LeafHash(merkle::leaf_hash(entry))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(LeafHash(Hash(out)))
    }
}

impl fmt::Debug for LeafHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeafHash({})", self.to_hex())
    }
}

impl fmt::Display for LeafHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for LeafHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for LeafHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LeafHash::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("expected 64 lower-case hex digits"))
    }
}

/// Who recorded a step: the department, and the officer when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub department: ActorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<ActorId>,
}

/// Signature algorithms an event or key may name. Ed25519 now; the field is
/// there so SM2 can be added without a format break (SPEC.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    Ed25519,
}

impl SignatureAlgorithm {
    pub fn as_str(&self) -> &'static str {
        match self {
            SignatureAlgorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "ed25519" => Ok(SignatureAlgorithm::Ed25519),
            other => Err(Error::UnsupportedAlgorithm {
                alg: other.chars().take(32).collect(),
            }),
        }
    }
}

impl Serialize for SignatureAlgorithm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SignatureAlgorithm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SignatureAlgorithm::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Signature bytes, written as standard padded base64.
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureBytes(pub Vec<u8>);

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureBytes({})", b64_encode(&self.0))
    }
}

impl Serialize for SignatureBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = b64_decode(&s).ok_or_else(|| serde::de::Error::custom("bad base64"))?;
        if bytes.len() > 512 {
            return Err(serde::de::Error::custom("signature longer than 512 bytes"));
        }
        Ok(SignatureBytes(bytes))
    }
}

/// The author's signature over [`ProposedEvent::signing_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorSignature {
    pub alg: SignatureAlgorithm,
    pub key: KeyId,
    pub sig: SignatureBytes,
}

/// An event as its author writes it, before the ledger sequences it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposedEvent {
    pub id: EventId,
    pub stream: StreamId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub occurred_at: Timestamp,
    pub actor: Actor,
    #[serde(deserialize_with = "payload_object")]
    pub payload: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<AuthorSignature>,
}

/// The fields an author signs (SPEC.md §3).
#[derive(Serialize)]
struct Authored<'a> {
    v: u64,
    id: &'a EventId,
    stream: &'a StreamId,
    #[serde(rename = "type")]
    event_type: &'a EventType,
    occurred_at: &'a Timestamp,
    actor: &'a Actor,
    payload: &'a Map<String, Value>,
}

/// The whole event as written to the log (SPEC.md §2).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventWire {
    v: u64,
    id: EventId,
    stream: StreamId,
    version: StreamVersion,
    #[serde(rename = "type")]
    event_type: EventType,
    recorded_at: Timestamp,
    occurred_at: Timestamp,
    actor: Actor,
    payload: Map<String, Value>,
    prev: LeafHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<AuthorSignature>,
}

impl ProposedEvent {
    /// A new unsigned event with a fresh id.
    pub fn new(
        stream: StreamId,
        event_type: EventType,
        occurred_at: Timestamp,
        actor: Actor,
        payload: Map<String, Value>,
    ) -> Self {
        ProposedEvent {
            id: EventId::generate(),
            stream,
            event_type,
            occurred_at,
            actor,
            payload,
            signature: None,
        }
    }

    /// The exact message an author signs: `SIGNATURE_CONTEXT || JCS(authored)`.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, Error> {
        check_payload(&self.payload)?;
        let mut out = SIGNATURE_CONTEXT.to_vec();
        let authored = Authored {
            v: FORMAT_VERSION,
            id: &self.id,
            stream: &self.stream,
            event_type: &self.event_type,
            occurred_at: &self.occurred_at,
            actor: &self.actor,
            payload: &self.payload,
        };
        serde_json_canonicalizer::to_writer(&authored, &mut out).map_err(|e| {
            Error::InvalidPayload {
                reason: e.to_string(),
            }
        })?;
        Ok(out)
    }

    /// Signs with an Ed25519 key registered as `key`.
    pub fn sign_ed25519(mut self, key: KeyId, signing_key: &SigningKey) -> Result<Self, Error> {
        let msg = self.signing_bytes()?;
        let sig = signing_key.sign(&msg);
        self.signature = Some(AuthorSignature {
            alg: SignatureAlgorithm::Ed25519,
            key,
            sig: SignatureBytes(sig.to_bytes().to_vec()),
        });
        Ok(self)
    }

    /// A digest of everything the author chose (signature included): two
    /// submissions with the same id are the same event iff this matches.
    pub fn content_digest(&self) -> Result<[u8; 32], Error> {
        let bytes = serde_json_canonicalizer::to_vec(self).map_err(|e| Error::InvalidPayload {
            reason: e.to_string(),
        })?;
        Ok(Sha256::digest(&bytes).into())
    }

    /// Seals the event at `version` in its stream, recorded at `recorded_at`,
    /// linked to the stream's previous event by `prev`.
    pub fn seal(
        &self,
        version: StreamVersion,
        recorded_at: Timestamp,
        prev: LeafHash,
    ) -> Result<SealedEvent, Error> {
        check_payload(&self.payload)?;
        let event = Event {
            id: self.id,
            stream: self.stream.clone(),
            version,
            event_type: self.event_type.clone(),
            recorded_at,
            occurred_at: self.occurred_at.clone(),
            actor: self.actor.clone(),
            payload: self.payload.clone(),
            prev,
            signature: self.signature.clone(),
        };
        let entry = event.to_entry()?;
        let leaf_hash = LeafHash::of_entry(&entry);
        Ok(SealedEvent {
            event,
            entry,
            leaf_hash,
        })
    }
}

/// A sequenced event: what the log holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub stream: StreamId,
    pub version: StreamVersion,
    pub event_type: EventType,
    pub recorded_at: Timestamp,
    pub occurred_at: Timestamp,
    pub actor: Actor,
    pub payload: Map<String, Value>,
    pub prev: LeafHash,
    pub signature: Option<AuthorSignature>,
}

/// An event with its entry bytes and leaf hash.
#[derive(Clone, Debug, PartialEq)]
pub struct SealedEvent {
    pub event: Event,
    pub entry: Vec<u8>,
    pub leaf_hash: LeafHash,
}

impl Event {
    /// The canonical entry bytes: RFC 8785 JSON of the whole event.
    pub fn to_entry(&self) -> Result<Vec<u8>, Error> {
        let wire = EventWire {
            v: FORMAT_VERSION,
            id: self.id,
            stream: self.stream.clone(),
            version: self.version,
            event_type: self.event_type.clone(),
            recorded_at: self.recorded_at.clone(),
            occurred_at: self.occurred_at.clone(),
            actor: self.actor.clone(),
            payload: self.payload.clone(),
            prev: self.prev,
            signature: self.signature.clone(),
        };
        let entry = serde_json_canonicalizer::to_vec(&wire).map_err(|e| Error::InvalidPayload {
            reason: e.to_string(),
        })?;
        if entry.len() > MAX_ENTRY_BYTES {
            return Err(Error::EntryTooLarge {
                id: self.id,
                size: entry.len(),
                max: MAX_ENTRY_BYTES,
            });
        }
        Ok(entry)
    }

    /// Parses a log entry, insisting that it is exactly the canonical form of
    /// what it says (so one event has one byte string).
    pub fn from_entry(entry: &[u8]) -> Result<Event, Error> {
        let malformed = |reason: String| Error::MalformedEntry { reason };
        if entry.len() > MAX_ENTRY_BYTES {
            return Err(malformed(format!(
                "{} bytes, over the 65535-byte limit",
                entry.len()
            )));
        }
        let wire: EventWire =
            serde_json::from_slice(entry).map_err(|e| malformed(e.to_string()))?;
        if wire.v != FORMAT_VERSION {
            return Err(malformed(format!("unknown format version {}", wire.v)));
        }
        check_payload(&wire.payload)?;
        let event = Event {
            id: wire.id,
            stream: wire.stream,
            version: wire.version,
            event_type: wire.event_type,
            recorded_at: wire.recorded_at,
            occurred_at: wire.occurred_at,
            actor: wire.actor,
            payload: wire.payload,
            prev: wire.prev,
            signature: wire.signature,
        };
        if event.to_entry()? != entry {
            return Err(malformed("not in RFC 8785 canonical form".to_owned()));
        }
        Ok(event)
    }

    /// The author's part of this event, as it was proposed.
    pub fn proposed(&self) -> ProposedEvent {
        ProposedEvent {
            id: self.id,
            stream: self.stream.clone(),
            event_type: self.event_type.clone(),
            occurred_at: self.occurred_at.clone(),
            actor: self.actor.clone(),
            payload: self.payload.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// Payloads are JSON objects whose integers RFC 8785 can carry exactly.
fn check_payload(payload: &Map<String, Value>) -> Result<(), Error> {
    fn walk(v: &Value, path: &mut String) -> Result<(), Error> {
        match v {
            Value::Number(n) => {
                let too_big = n.as_u64().is_some_and(|u| u > MAX_SAFE_INTEGER)
                    || n.as_i64()
                        .is_some_and(|i| i.unsigned_abs() > MAX_SAFE_INTEGER);
                if too_big {
                    return Err(Error::InvalidPayload {
                        reason: format!(
                            "number at {path} is beyond ±(2^53-1); RFC 8785 cannot carry it exactly: send it as a string"
                        ),
                    });
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    let mut path = String::from("payload");
    for (k, v) in payload {
        path.truncate(7);
        path.push('.');
        path.push_str(k);
        walk(v, &mut path)?;
    }
    Ok(())
}

fn payload_object<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(map) => Ok(map),
        other => Err(serde::de::Error::custom(format!(
            "payload must be a JSON object, not {}",
            json_kind(&other)
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample(stream: &str) -> ProposedEvent {
        ProposedEvent::new(
            StreamId::new(stream).unwrap(),
            EventType::new("case.accepted").unwrap(),
            Timestamp::parse("2026-11-26T09:00:00Z").unwrap(),
            Actor {
                department: ActorId::new("dept-market").unwrap(),
                officer: Some(ActorId::new("officer-7").unwrap()),
            },
            json!({"item": "营业执照", "channel": "window"})
                .as_object()
                .unwrap()
                .clone(),
        )
    }

    #[test]
    fn entry_round_trips_and_is_canonical() {
        let sealed = sample("case-1")
            .seal(StreamVersion(0), Timestamp::now(), LeafHash::GENESIS)
            .unwrap();
        let back = Event::from_entry(&sealed.entry).unwrap();
        assert_eq!(back, sealed.event);
        assert_eq!(sealed.leaf_hash, LeafHash::of_entry(&sealed.entry));
        // Keys are sorted (RFC 8785 §3.2.3): "actor" first, "version" last.
        let text = std::str::from_utf8(&sealed.entry).unwrap();
        assert!(text.starts_with("{\"actor\":"), "{text}");
        assert!(text.ends_with(",\"version\":0}"), "{text}");
    }

    #[test]
    fn non_canonical_entry_is_refused() {
        let sealed = sample("case-1")
            .seal(StreamVersion(0), Timestamp::now(), LeafHash::GENESIS)
            .unwrap();
        let mut spaced = b"{ ".to_vec();
        spaced.extend_from_slice(&sealed.entry[1..]);
        assert!(matches!(
            Event::from_entry(&spaced),
            Err(Error::MalformedEntry { .. })
        ));
    }

    #[test]
    fn oversize_entry_is_refused_with_its_size() {
        let mut ev = sample("case-1");
        ev.payload
            .insert("note".into(), Value::String("x".repeat(MAX_ENTRY_BYTES)));
        match ev.seal(StreamVersion(0), Timestamp::now(), LeafHash::GENESIS) {
            Err(Error::EntryTooLarge { size, max, .. }) => {
                assert!(size > max);
                assert_eq!(max, 65_535);
            }
            other => panic!("expected EntryTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn unsafe_integers_are_refused() {
        let mut ev = sample("case-1");
        ev.payload
            .insert("n".into(), json!(9_007_199_254_740_993u64));
        let err = ev.signing_bytes().unwrap_err();
        assert!(err.to_string().contains("payload.n"), "{err}");
    }

    #[test]
    fn payload_must_be_an_object() {
        let text = r#"{"id":"01JDQ3S1W9T8M3G8X0QF3V2K7P","stream":"case-1","type":"x","occurred_at":"2026-11-26T09:00:00Z","actor":{"department":"d"},"payload":[1]}"#;
        let err = serde_json::from_str::<ProposedEvent>(text).unwrap_err();
        assert!(
            err.to_string().contains("payload must be a JSON object"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"{"id":"01JDQ3S1W9T8M3G8X0QF3V2K7P","stream":"case-1","type":"x","occurred_at":"2026-11-26T09:00:00Z","actor":{"department":"d"},"payload":{},"colour":"red"}"#;
        let err = serde_json::from_str::<ProposedEvent>(text).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}

/// Builders shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::ids::ActorId;

    pub(crate) fn sample_signed(sk: &SigningKey, key: &KeyId, department: &str) -> ProposedEvent {
        ProposedEvent::new(
            StreamId::new("case-1").unwrap(),
            EventType::new("case.accepted").unwrap(),
            Timestamp::parse("2026-06-01T00:00:00Z").unwrap(),
            Actor {
                department: ActorId::new(department).unwrap(),
                officer: None,
            },
            Map::new(),
        )
        .sign_ed25519(key.clone(), sk)
        .unwrap()
    }
}
