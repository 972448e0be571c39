//! The event model and its canonical bytes (SPEC.md §2–§4).
//!
//! An author builds a [`ProposedEvent`] and may sign it; the sequencer seals
//! it with its stream version, server time and the link to the stream's
//! previous event, producing the [`Event`] whose RFC 8785 canonical JSON is
//! the log entry. This module is pure: no I/O, no clock except where a
//! caller passes one in, no key registry (see [`crate::keys`]).

use std::fmt;

use crate::sha256::Sha256;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

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
        self.0.to_hex()
    }

    /// Exactly 64 lower-case hex digits ([`Hash::from_hex`]).
    pub fn from_hex(text: &str) -> Option<Self> {
        Hash::from_hex(text).map(LeafHash)
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
        crate::ids::from_text(d, |s| {
            LeafHash::from_hex(s).ok_or("expected 64 lower-case hex digits")
        })
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
        crate::ids::from_text(d, SignatureAlgorithm::parse)
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
        crate::ids::from_text(d, |s| {
            let bytes = b64_decode(s).ok_or("bad base64")?;
            if bytes.len() > 512 {
                return Err("signature longer than 512 bytes");
            }
            Ok(SignatureBytes(bytes))
        })
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
        Ok(PreparedEvent::new(self.clone())?.signing_bytes())
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
    /// It is SHA-256 of the RFC 8785 form of this `ProposedEvent`.
    pub fn content_digest(&self) -> Result<[u8; 32], Error> {
        Ok(PreparedEvent::new(self.clone())?.content_digest())
    }

    /// Seals the event at `version` in its stream, recorded at `recorded_at`,
    /// linked to the stream's previous event by `prev`.
    pub fn seal(
        &self,
        version: StreamVersion,
        recorded_at: Timestamp,
        prev: LeafHash,
    ) -> Result<SealedEvent, Error> {
        PreparedEvent::new(self.clone())?.seal(version, recorded_at, prev)
    }

    /// Canonicalises once, for callers that need several of the forms.
    pub fn prepare(self) -> Result<PreparedEvent, Error> {
        PreparedEvent::new(self)
    }
}

/// An event with its canonical pieces computed once (SPEC.md §2–§3).
///
/// RFC 8785 §3.2.3 serialises an object as its members sorted by name, each
/// value in its own canonical form. The fields of an event have fixed ASCII
/// names, so the canonical bytes of the signed message, of the author's
/// content and of the log entry are concatenations of the same canonical
/// values: the payload is canonicalised once, by the author's side, and the
/// sequencer only splices in `prev`, `recorded_at` and `version`.
#[derive(Clone, Debug)]
pub struct PreparedEvent {
    pub event: ProposedEvent,
    /// `{"actor":…,"id":…,"occurred_at":…,"payload":…` (no closing brace).
    common: Vec<u8>,
    /// `,"signature":{…}` or empty.
    signature: Vec<u8>,
    /// `,"stream":…,"type":…`.
    stream_type: Vec<u8>,
    /// SHA-256 state after `0x00 || common` (the leaf hash's leading
    /// bytes), when prepared for a sequencer: see
    /// [`PreparedEvent::for_sequencing`].
    leaf_midstate: Option<Sha256>,
}

impl PreparedEvent {
    /// Canonicalises `event` once; refuses payloads RFC 8785 cannot carry.
    pub fn new(event: ProposedEvent) -> Result<Self, Error> {
        use crate::jcs::{write_object, write_string};
        check_payload(&event.payload)?;
        let mut common = Vec::with_capacity(512);
        // Actor members in name order: department, officer.
        common.extend_from_slice(b"{\"actor\":{\"department\":");
        write_string(&mut common, event.actor.department.as_str());
        if let Some(officer) = &event.actor.officer {
            common.extend_from_slice(b",\"officer\":");
            write_string(&mut common, officer.as_str());
        }
        common.extend_from_slice(b"},\"id\":");
        write_string(&mut common, &event.id.to_string());
        common.extend_from_slice(b",\"occurred_at\":");
        write_string(&mut common, event.occurred_at.as_str());
        common.extend_from_slice(b",\"payload\":");
        write_object(&mut common, &event.payload);
        let mut signature = Vec::new();
        if let Some(sig) = &event.signature {
            // Signature members in name order: alg, key, sig.
            signature.extend_from_slice(b",\"signature\":{\"alg\":");
            write_string(&mut signature, sig.alg.as_str());
            signature.extend_from_slice(b",\"key\":");
            write_string(&mut signature, sig.key.as_str());
            signature.extend_from_slice(b",\"sig\":");
            write_string(&mut signature, &b64_encode(&sig.sig.0));
            signature.push(b'}');
        }
        let mut stream_type = Vec::with_capacity(64);
        stream_type.extend_from_slice(b",\"stream\":");
        write_string(&mut stream_type, event.stream.as_str());
        stream_type.extend_from_slice(b",\"type\":");
        write_string(&mut stream_type, event.event_type.as_str());
        Ok(PreparedEvent {
            event,
            common,
            signature,
            stream_type,
            leaf_midstate: None,
        })
    }

    /// [`PreparedEvent::new`] for a store's append path: also hashes the
    /// leaf's leading bytes (`0x00` and the author's part of the entry,
    /// payload included), so that the sequencer, which can hash an entry
    /// only once it knows its version, time and link, hashes just the bytes
    /// it adds (RFC 9162 §2.1.1 leaf hash, computed in two steps).
    pub fn for_sequencing(event: ProposedEvent) -> Result<Self, Error> {
        let mut prepared = Self::new(event)?;
        let mut h = Sha256::new();
        h.update([0x00]);
        h.update(&prepared.common);
        prepared.leaf_midstate = Some(h);
        Ok(prepared)
    }

    /// The exact message an author signs: `SIGNATURE_CONTEXT || JCS(authored)`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            SIGNATURE_CONTEXT.len() + self.common.len() + self.stream_type.len() + 8,
        );
        out.extend_from_slice(SIGNATURE_CONTEXT);
        out.extend_from_slice(&self.common);
        out.extend_from_slice(&self.stream_type);
        out.extend_from_slice(b",\"v\":1}");
        out
    }

    /// See [`ProposedEvent::content_digest`]: SHA-256 of JCS(ProposedEvent),
    /// the author's fields and the signature, without `v`. Computed when
    /// asked (only a retried or conflicting id needs it).
    pub fn content_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(&self.common);
        h.update(&self.signature);
        h.update(&self.stream_type);
        h.update(b"}");
        h.finalize()
    }

    /// The log entry of this event sealed at `version`, `recorded_at`, `prev`:
    /// byte for byte what [`Event::to_entry`] gives.
    pub fn entry(
        &self,
        version: StreamVersion,
        recorded_at: &Timestamp,
        prev: &LeafHash,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(
            self.common.len() + self.signature.len() + self.stream_type.len() + 160,
        );
        out.extend_from_slice(&self.common);
        out.extend_from_slice(b",\"prev\":\"");
        let mut hex_buf = [0u8; 64];
        // Invariant: 64 bytes hold the hex of 32.
        hex::encode_to_slice(prev.0.0, &mut hex_buf).expect("64-byte buffer for 32 bytes");
        out.extend_from_slice(&hex_buf);
        out.extend_from_slice(b"\",\"recorded_at\":");
        // A Timestamp's text is RFC 3339 (digits, '-', ':', '.', 'T', 'Z'),
        // which JSON strings carry without escapes.
        out.push(b'"');
        out.extend_from_slice(recorded_at.as_str().as_bytes());
        out.push(b'"');
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.stream_type);
        out.extend_from_slice(b",\"v\":1,\"version\":");
        out.extend_from_slice(version.0.to_string().as_bytes());
        out.push(b'}');
        if out.len() > MAX_ENTRY_BYTES {
            return Err(Error::EntryTooLarge {
                id: self.event.id,
                size: out.len(),
                max: MAX_ENTRY_BYTES,
            });
        }
        Ok(out)
    }

    /// [`PreparedEvent::entry`] with its leaf hash, finished from the
    /// midstate when the event was prepared [for sequencing](Self::for_sequencing).
    pub fn entry_and_leaf(
        &self,
        version: StreamVersion,
        recorded_at: &Timestamp,
        prev: &LeafHash,
    ) -> Result<(Vec<u8>, LeafHash), Error> {
        let entry = self.entry(version, recorded_at, prev)?;
        let leaf = match &self.leaf_midstate {
            Some(midstate) => {
                let mut h = midstate.clone();
                // `entry` begins with `common`, already hashed.
                h.update(&entry[self.common.len()..]);
                LeafHash(crate::merkle::Hash(h.finalize()))
            }
            None => LeafHash::of_entry(&entry),
        };
        Ok((entry, leaf))
    }

    /// Seals the event: its entry and leaf hash, and the event as sequenced.
    pub fn seal(
        &self,
        version: StreamVersion,
        recorded_at: Timestamp,
        prev: LeafHash,
    ) -> Result<SealedEvent, Error> {
        let (entry, leaf_hash) = self.entry_and_leaf(version, &recorded_at, &prev)?;
        let e = &self.event;
        Ok(SealedEvent {
            event: Event {
                id: e.id,
                stream: e.stream.clone(),
                version,
                event_type: e.event_type.clone(),
                recorded_at,
                occurred_at: e.occurred_at.clone(),
                actor: e.actor.clone(),
                payload: e.payload.clone(),
                prev,
                signature: e.signature.clone(),
            },
            entry,
            leaf_hash,
        })
    }
}

/// What an audit reads of an entry (SPEC.md §7): the fields that place,
/// link and authorise it, and the whole event only for the `registry`
/// stream, whose payloads change the key registry.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryHead {
    pub stream: StreamId,
    pub version: StreamVersion,
    pub recorded_at: Timestamp,
    pub department: ActorId,
    pub prev: LeafHash,
    pub signature: Option<AuthorSignature>,
    /// The event itself, for the `registry` stream's events only.
    pub registry_event: Option<Event>,
}

impl From<Event> for EntryHead {
    fn from(event: Event) -> Self {
        EntryHead {
            stream: event.stream.clone(),
            version: event.version,
            recorded_at: event.recorded_at.clone(),
            department: event.actor.department.clone(),
            prev: event.prev,
            signature: event.signature.clone(),
            registry_event: event.stream.is_registry().then_some(event),
        }
    }
}

/// A cursor over an entry read by [`Event::parse_entry_head`]'s fast path.
struct Spelling<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Spelling<'a> {
    /// Steps over `part`, which must come next.
    fn fixed(&mut self, part: &[u8]) -> Option<()> {
        self.optional(part).then_some(())
    }

    /// Steps over `part` if it comes next.
    fn optional(&mut self, part: &[u8]) -> bool {
        let next = self.bytes[self.at..].starts_with(part);
        if next {
            self.at += part.len();
        }
        next
    }

    /// The text up to the next quote, and past the quote: UTF-8 without
    /// anything RFC 8785 would escape (`\`, control characters).
    fn text(&mut self) -> Option<&'a str> {
        let rest = &self.bytes[self.at..];
        // The first quote or backslash, by memchr's vectorised search; a
        // backslash first is an escape, left to the full path.
        let len = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[len] != b'"' {
            return None;
        }
        let text = &rest[..len];
        // Control characters, which RFC 8785 escapes: a fold without an
        // early exit, so that it vectorises.
        if text.iter().fold(false, |control, &b| control | (b < 0x20)) {
            return None;
        }
        self.at += len + 1;
        std::str::from_utf8(text).ok()
    }

    /// `{"actor":{"department":…[,"officer":…]}`, opening the entry.
    fn actor(&mut self) -> Option<Actor> {
        self.fixed(b"{\"actor\":{\"department\":\"")?;
        let department = exact(self.text()?, ActorId::new, ActorId::as_str)?;
        let officer = if self.optional(b",\"officer\":\"") {
            Some(exact(self.text()?, ActorId::new, ActorId::as_str)?)
        } else {
            None
        };
        self.fixed(b"}")?;
        Some(Actor {
            department,
            officer,
        })
    }

    /// `,"signature":{…}` if it comes next: the signature, with its
    /// base64 text as spelled (whether that is the canonical spelling is
    /// the caller's question). `None` if it is there but malformed.
    fn signature(&mut self) -> Option<Option<(AuthorSignature, &'a str)>> {
        if !self.optional(b",\"signature\":{\"alg\":\"") {
            return Some(None);
        }
        let alg = exact(self.text()?, SignatureAlgorithm::parse, |a| a.as_str())?;
        self.fixed(b",\"key\":\"")?;
        let key = exact(self.text()?, KeyId::new, KeyId::as_str)?;
        self.fixed(b",\"sig\":\"")?;
        let text = self.text()?;
        // As `SignatureBytes` deserialises.
        let bytes = b64_decode(text)?;
        if bytes.len() > 512 {
            return None;
        }
        self.fixed(b"}")?;
        Some(Some((
            AuthorSignature {
                alg,
                key,
                sig: SignatureBytes(bytes),
            },
            text,
        )))
    }

    /// A version as `u64` writes it (no sign, no leading zero) within the
    /// range [`StreamVersion`] accepts.
    fn version(&mut self) -> Option<StreamVersion> {
        let rest = &self.bytes[self.at..];
        let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let digits = &rest[..len];
        if digits.is_empty() || (digits[0] == b'0' && len > 1) || len > 16 {
            return None;
        }
        let value = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
        if value > MAX_SAFE_INTEGER {
            return None;
        }
        self.at += len;
        Some(StreamVersion(value))
    }
}

/// `text` made a `T` by the constructor its `Deserialize` uses, provided
/// the `T` writes back as `text` (so the full path's re-write would match).
fn exact<T>(
    text: &str,
    make: impl FnOnce(&str) -> Result<T, Error>,
    write: impl FnOnce(&T) -> &str,
) -> Option<T> {
    let value = make(text).ok()?;
    (write(&value) == text).then_some(value)
}

/// [`exact`] for a timestamp.
fn exact_timestamp(text: &str) -> Option<Timestamp> {
    exact(text, Timestamp::parse, Timestamp::as_str)
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
        Self::parse_entry(entry).map(|(event, _)| event)
    }

    /// Parses a log entry its own store wrote, without the canonical-form
    /// check of [`Event::from_entry`]: for derived views (the read models)
    /// of a store that checked every entry on append, which re-serialising
    /// each one again would slow down by half. Auditors and anyone reading
    /// another party's log use [`Event::from_entry`]; `verify_store` audits
    /// the store itself. Malformed JSON and unknown format versions are
    /// still refused.
    ///
    /// An entry in its one canonical spelling is read by walking it, as
    /// [`Event::parse_entry_head`] does, with only the payload parsed by
    /// serde_json in place; anything else takes serde_json's parse of the
    /// whole entry. Both give the same event (tested).
    pub fn from_own_entry(entry: &[u8]) -> Result<Event, Error> {
        if let Some(event) = Self::parse_own_fast(entry) {
            return Ok(event);
        }
        Self::own_entry_by_serde(entry)
    }

    /// [`Event::from_own_entry`] by serde_json alone.
    fn own_entry_by_serde(entry: &[u8]) -> Result<Event, Error> {
        let malformed = |reason: String| Error::MalformedEntry { reason };
        let wire: EventWire =
            serde_json::from_slice(entry).map_err(|e| malformed(e.to_string()))?;
        if wire.v != FORMAT_VERSION {
            return Err(malformed(format!("unknown format version {}", wire.v)));
        }
        Ok(Event {
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
        })
    }

    /// [`Event::from_entry`], also giving the message its author signed
    /// (computed from the same canonical pieces as the canonical check).
    pub fn parse_entry(entry: &[u8]) -> Result<(Event, Vec<u8>), Error> {
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
        let prepared = PreparedEvent::new(ProposedEvent {
            id: wire.id,
            stream: wire.stream,
            event_type: wire.event_type,
            occurred_at: wire.occurred_at,
            actor: wire.actor,
            payload: wire.payload,
            signature: wire.signature,
        })?;
        if prepared.entry(wire.version, &wire.recorded_at, &wire.prev)? != entry {
            return Err(malformed("not in RFC 8785 canonical form".to_owned()));
        }
        let signing_bytes = prepared.signing_bytes();
        let p = prepared.event;
        Ok((
            Event {
                id: p.id,
                stream: p.stream,
                version: wire.version,
                event_type: p.event_type,
                recorded_at: wire.recorded_at,
                occurred_at: p.occurred_at,
                actor: p.actor,
                payload: p.payload,
                prev: wire.prev,
                signature: p.signature,
            },
            signing_bytes,
        ))
    }

    /// [`Event::parse_entry`] for an auditor, which needs of most events only
    /// their [`EntryHead`]: the same verdict and the same signed message,
    /// but an entry whose payload is shown canonical byte by byte
    /// ([`crate::jcs::is_canonical_subset`]) is not parsed into values and
    /// written again. Anything that check does not show (a float, an
    /// escape, a malformed or registry entry) takes the full path, so the
    /// errors are [`Event::parse_entry`]'s.
    pub fn parse_entry_head(entry: &[u8]) -> Result<(EntryHead, Vec<u8>), Error> {
        if let Some(fast) = Self::parse_head_fast(entry) {
            return Ok(fast);
        }
        let (event, msg) = Self::parse_entry(entry)?;
        Ok((EntryHead::from(event), msg))
    }

    /// The fast path of [`Event::parse_entry_head`]: `None` unless the entry
    /// is shown to be exactly the canonical form of what it says.
    ///
    /// RFC 8785 leaves an event one spelling: its members in one order
    /// (SPEC.md §2), no whitespace, and, for strings without characters to
    /// escape, the text between quotes. So the entry is read by walking
    /// that spelling: each fixed part must be there byte for byte, each
    /// string is taken up to its closing quote (one needing an escape is
    /// left to the full path), and each value must be what the full path's
    /// newtype would accept and write back the same (an id, a time, a
    /// hash, a base64 signature; a version without leading zeros).
    fn parse_head_fast(entry: &[u8]) -> Option<(EntryHead, Vec<u8>)> {
        if entry.len() > MAX_ENTRY_BYTES {
            return None;
        }
        let mut at = Spelling {
            bytes: entry,
            at: 0,
        };
        let department = at.actor()?.department;
        at.fixed(b",\"id\":\"")?;
        at.text()?.parse::<EventId>().ok()?;
        at.fixed(b",\"occurred_at\":\"")?;
        exact_timestamp(at.text()?)?;
        at.fixed(b",\"payload\":")?;
        if !entry[at.at..].starts_with(b"{") {
            return None;
        }
        at.at += crate::jcs::canonical_subset_prefix(&entry[at.at..])?;
        let common_end = at.at;
        at.fixed(b",\"prev\":\"")?;
        let prev = LeafHash::from_hex(at.text()?)?;
        at.fixed(b",\"recorded_at\":\"")?;
        let recorded_at = exact_timestamp(at.text()?)?;
        let signature = match at.signature()? {
            // The full path writes the signature back: only its own
            // spelling of the bytes is the entry's.
            Some((sig, text)) if b64_encode(&sig.sig.0) != text => return None,
            other => other.map(|(sig, _)| sig),
        };
        let stream_type_start = at.at;
        at.fixed(b",\"stream\":\"")?;
        let stream = exact(at.text()?, StreamId::new, StreamId::as_str)?;
        at.fixed(b",\"type\":\"")?;
        exact(at.text()?, EventType::new, EventType::as_str)?;
        let stream_type_end = at.at;
        at.fixed(b",\"v\":1,\"version\":")?;
        let version = at.version()?;
        at.fixed(b"}")?;
        if at.at != entry.len() || stream.is_registry() {
            return None;
        }
        // SIGNATURE_CONTEXT || JCS(authored): the entry up to the payload's
        // end, then `stream` and `type`, then `v` (SPEC.md §3).
        let mut msg = Vec::with_capacity(
            SIGNATURE_CONTEXT.len() + common_end + (stream_type_end - stream_type_start) + 8,
        );
        msg.extend_from_slice(SIGNATURE_CONTEXT);
        msg.extend_from_slice(&entry[..common_end]);
        msg.extend_from_slice(&entry[stream_type_start..stream_type_end]);
        msg.extend_from_slice(b",\"v\":1}");
        Some((
            EntryHead {
                stream,
                version,
                recorded_at,
                department,
                prev,
                signature,
                registry_event: None,
            },
            msg,
        ))
    }

    /// The fast path of [`Event::from_own_entry`]: `None` unless the entry
    /// is spelled as RFC 8785 writes an event (members in order, no
    /// whitespace, no escapes outside the payload) and each value is what
    /// its `Deserialize` would make of it, written back the same. The
    /// payload, whatever its spelling, is parsed by serde_json as the full
    /// path parses it, and the walk goes on from its end. No canonical
    /// check of the payload and no signed message: the store that wrote
    /// the entry checked both.
    fn parse_own_fast(entry: &[u8]) -> Option<Event> {
        let mut at = Spelling {
            bytes: entry,
            at: 0,
        };
        let actor = at.actor()?;
        at.fixed(b",\"id\":\"")?;
        let id_text = at.text()?;
        let id = id_text.parse::<EventId>().ok()?;
        if id.to_string() != id_text {
            return None;
        }
        at.fixed(b",\"occurred_at\":\"")?;
        let occurred_at = exact_timestamp(at.text()?)?;
        at.fixed(b",\"payload\":")?;
        if !entry[at.at..].starts_with(b"{") {
            return None;
        }
        // An object delimits itself: the stream reader stops at its `}`.
        let mut values = serde_json::Deserializer::from_slice(&entry[at.at..]).into_iter::<Value>();
        let Some(Ok(Value::Object(payload))) = values.next() else {
            return None;
        };
        at.at += values.byte_offset();
        at.fixed(b",\"prev\":\"")?;
        let prev = LeafHash::from_hex(at.text()?)?;
        at.fixed(b",\"recorded_at\":\"")?;
        let recorded_at = exact_timestamp(at.text()?)?;
        // Decoded as `SignatureBytes` deserialises, which is all the full
        // path does here (no check of the base64 spelling).
        let signature = at.signature()?.map(|(sig, _)| sig);
        at.fixed(b",\"stream\":\"")?;
        let stream = exact(at.text()?, StreamId::new, StreamId::as_str)?;
        at.fixed(b",\"type\":\"")?;
        let event_type = exact(at.text()?, EventType::new, EventType::as_str)?;
        at.fixed(b",\"v\":1,\"version\":")?;
        let version = at.version()?;
        at.fixed(b"}")?;
        if at.at != entry.len() {
            return None;
        }
        Some(Event {
            id,
            stream,
            version,
            event_type,
            recorded_at,
            occurred_at,
            actor,
            payload,
            prev,
            signature,
        })
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

    /// The signed fields as one struct: the reference the spliced
    /// [`PreparedEvent`] forms are checked against.
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

    fn reference_signing_bytes(e: &ProposedEvent) -> Vec<u8> {
        let mut out = SIGNATURE_CONTEXT.to_vec();
        let authored = Authored {
            v: FORMAT_VERSION,
            id: &e.id,
            stream: &e.stream,
            event_type: &e.event_type,
            occurred_at: &e.occurred_at,
            actor: &e.actor,
            payload: &e.payload,
        };
        serde_json_canonicalizer::to_writer(&authored, &mut out).unwrap();
        out
    }

    fn arb_json(depth: u32) -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(|n| json!(n)),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(depth, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// The spliced entry, signed message and digest are byte for byte
        /// the one-piece RFC 8785 forms, whatever the payload holds.
        #[test]
        fn spliced_forms_equal_the_one_piece_forms(
            payload in proptest::collection::btree_map("\\PC{0,8}", arb_json(3), 0..6),
            version in 0u64..(1 << 53),
            signed in proptest::bool::ANY,
            officer in proptest::bool::ANY,
        ) {
            let mut ev = sample("case-1");
            ev.payload = payload.into_iter().collect();
            if !officer {
                ev.actor.officer = None;
            }
            if signed {
                let sk = SigningKey::from_bytes(&[7; 32]);
                ev = ev.sign_ed25519(KeyId::new("ed25519:0011223344556677").unwrap(), &sk).unwrap();
            }
            let prepared = PreparedEvent::new(ev.clone()).unwrap();
            proptest::prop_assert_eq!(prepared.signing_bytes(), reference_signing_bytes(&ev));
            let digest: [u8; 32] =
                crate::sha256::digest(serde_json_canonicalizer::to_vec(&ev).unwrap());
            proptest::prop_assert_eq!(prepared.content_digest(), digest);
            let sealed = prepared
                .seal(StreamVersion(version), Timestamp::now(), LeafHash([9; 32].into()))
                .unwrap();
            proptest::prop_assert_eq!(&sealed.entry, &sealed.event.to_entry().unwrap());
            let (back, msg) = Event::parse_entry(&sealed.entry).unwrap();
            proptest::prop_assert_eq!(&back, &sealed.event);
            proptest::prop_assert_eq!(msg, reference_signing_bytes(&ev));
            // The sequencer's two-step leaf hash is the one-piece one.
            let for_sequencing = PreparedEvent::for_sequencing(ev.clone()).unwrap();
            let (entry, leaf) = for_sequencing
                .entry_and_leaf(StreamVersion(version), &sealed.event.recorded_at, &sealed.event.prev)
                .unwrap();
            proptest::prop_assert_eq!(&entry, &sealed.entry);
            proptest::prop_assert_eq!(leaf, LeafHash::of_entry(&sealed.entry));
            proptest::prop_assert_eq!(leaf, sealed.leaf_hash);
        }
    }

    /// Payloads the fast audit parse takes (safe integers, no escapes) and
    /// ones it leaves to the full path (floats, escapes), mixed.
    fn arb_payload() -> impl proptest::strategy::Strategy<Value = Map<String, Value>> {
        use proptest::prelude::*;
        let plain = "[a-z0-9 é营业执照\\u{e000}😀]{0,8}";
        let leaf = prop_oneof![
            4 => "[a-z0-9 é营业执照\\u{e000}😀]{0,8}".prop_map(Value::String),
            4 => (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(|n| json!(n)),
            1 => (-1e6f64..1e6).prop_map(|f| json!(f)),
            1 => "\\PC{0,6}".prop_map(Value::String),
            1 => any::<bool>().prop_map(Value::Bool),
        ];
        let value = leaf.prop_recursive(2, 16, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(plain, inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        proptest::collection::btree_map(plain, value, 0..6).prop_map(|m| m.into_iter().collect())
    }

    /// A parse's outcome in a comparable shape: the head and message, or
    /// the error's text.
    type Parsed = Result<(EntryHead, Vec<u8>), String>;

    /// The full parse and the audit's parse of the same bytes.
    fn both_parses(entry: &[u8]) -> (Parsed, Parsed) {
        let full = Event::parse_entry(entry)
            .map(|(e, m)| (EntryHead::from(e), m))
            .map_err(|e| e.to_string());
        let head = Event::parse_entry_head(entry).map_err(|e| e.to_string());
        (full, head)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// The audit's parse gives what the full parse gives (head, signed
        /// message, or the same error) for sealed entries and for the same
        /// entries with one byte changed, removed or doubled.
        #[test]
        fn the_audit_parse_agrees_with_the_full_parse(
            payload in arb_payload(),
            stream in proptest::sample::select(vec!["case-1", "complaint-9", "registry"]),
            signed in proptest::bool::ANY,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let mut ev = sample(stream);
            ev.payload = payload;
            if signed {
                let sk = SigningKey::from_bytes(&[7; 32]);
                ev = ev.sign_ed25519(KeyId::new("ed25519:0011223344556677").unwrap(), &sk).unwrap();
            }
            let sealed = ev.seal(StreamVersion(4), Timestamp::now(), LeafHash([9; 32].into())).unwrap();
            let (full, head) = both_parses(&sealed.entry);
            proptest::prop_assert!(full.is_ok());
            proptest::prop_assert_eq!(&head, &full);
            for bytes in one_byte_off(&sealed.entry, at, byte) {
                let (full, head) = both_parses(&bytes);
                proptest::prop_assert_eq!(head, full, "{}", String::from_utf8_lossy(&bytes));
            }
        }
    }

    #[test]
    fn the_audit_parse_takes_the_fast_path_only_where_it_can() {
        let seal = |ev: ProposedEvent| {
            ev.seal(StreamVersion(0), Timestamp::now(), LeafHash::GENESIS)
                .unwrap()
                .entry
        };
        let sk = SigningKey::from_bytes(&[7; 32]);
        let key = KeyId::new("ed25519:0011223344556677").unwrap();
        let plain = seal(sample("case-1").sign_ed25519(key, &sk).unwrap());
        let (head, msg) = Event::parse_head_fast(&plain).expect("a plain signed entry is fast");
        let (event, full_msg) = Event::parse_entry(&plain).unwrap();
        assert_eq!(head, EntryHead::from(event));
        assert_eq!(msg, full_msg);
        for (why, payload) in [
            ("a float", json!({"fee": 1.5})),
            ("an escape", json!({"note": "line\nbreak"})),
        ] {
            let mut ev = sample("case-1");
            ev.payload = payload.as_object().unwrap().clone();
            let entry = seal(ev);
            assert!(Event::parse_head_fast(&entry).is_none(), "{why}");
            assert!(Event::parse_entry_head(&entry).is_ok(), "{why}");
        }
        // Spellings the full path refuses (or reads differently) are not
        // taken by the fast one, and both give the same answer.
        let text = String::from_utf8(plain.clone()).unwrap();
        let id = Event::parse_entry(&plain).unwrap().0.id.to_string();
        let mut spellings = other_spellings(&text, &id);
        spellings.push(("an escaped letter", text.replace("window", "windo\\u0077")));
        for (why, changed) in spellings {
            assert_ne!(changed, text, "{why}");
            assert!(
                Event::parse_head_fast(changed.as_bytes()).is_none(),
                "{why}"
            );
            let (full, head) = both_parses(changed.as_bytes());
            assert_eq!(head, full, "{why}");
        }
        let registry = seal(sample("registry"));
        assert!(Event::parse_head_fast(&registry).is_none());
        let (head, _) = Event::parse_entry_head(&registry).unwrap();
        assert!(head.registry_event.is_some());
        let mut spaced = b"{ ".to_vec();
        spaced.extend_from_slice(&plain[1..]);
        assert!(Event::parse_head_fast(&spaced).is_none());
        assert!(matches!(
            Event::parse_entry_head(&spaced),
            Err(Error::MalformedEntry { .. })
        ));
    }

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
    fn own_entries_parse_as_checked_ones_do_without_the_canonical_check() {
        let sealed = sample("case-1")
            .seal(StreamVersion(3), Timestamp::now(), LeafHash::GENESIS)
            .unwrap();
        assert_eq!(
            Event::from_own_entry(&sealed.entry).unwrap(),
            Event::from_entry(&sealed.entry).unwrap()
        );
        // Not canonical: the trusted path does not look.
        let mut spaced = b"{ ".to_vec();
        spaced.extend_from_slice(&sealed.entry[1..]);
        assert_eq!(
            Event::from_own_entry(&spaced).unwrap(),
            Event::from_entry(&sealed.entry).unwrap()
        );
        // Malformed or of another format: refused all the same.
        assert!(matches!(
            Event::from_own_entry(b"{\"v\":1"),
            Err(Error::MalformedEntry { .. })
        ));
        let text = String::from_utf8(sealed.entry.clone()).unwrap();
        let other = text.replace("\"v\":1", "\"v\":2");
        assert_ne!(other, text, "the entry carries its format version");
        assert!(matches!(
            Event::from_own_entry(other.as_bytes()),
            Err(Error::MalformedEntry { reason }) if reason.contains("format version 2")
        ));
    }

    /// `entry` with the byte at `at` changed to `byte`, removed, and doubled.
    fn one_byte_off(entry: &[u8], at: proptest::sample::Index, byte: u8) -> [Vec<u8>; 3] {
        let i = at.index(entry.len());
        let mut changed = entry.to_vec();
        changed[i] = byte;
        let mut removed = entry.to_vec();
        removed.remove(i);
        let mut doubled = entry.to_vec();
        doubled.insert(i, entry[i]);
        [changed, removed, doubled]
    }

    /// The sealed [`sample`] entry `text` (event id `id`) spelled otherwise
    /// than RFC 8785 writes it, each with what was changed.
    fn other_spellings(text: &str, id: &str) -> Vec<(&'static str, String)> {
        vec![
            ("a lower-case id", text.replace(id, &id.to_lowercase())),
            (
                "a leading zero",
                text.replace("\"version\":0}", "\"version\":00}"),
            ),
            ("a space", text.replace(",\"v\":1", ", \"v\":1")),
            ("format 2", text.replace(",\"v\":1", ",\"v\":2")),
            (
                "an unknown member",
                text.replace(",\"v\":1", ",\"u\":1,\"v\":1"),
            ),
            ("no type", text.replace(",\"type\":\"case.accepted\"", "")),
            (
                "a time with an offset",
                text.replace("09:00:00Z", "09:00:00+00:00"),
            ),
        ]
    }

    /// An own-entry parse's outcome in a comparable shape.
    fn own_parses(entry: &[u8]) -> (Result<Event, String>, Result<Event, String>) {
        (
            Event::from_own_entry(entry).map_err(|e| e.to_string()),
            Event::own_entry_by_serde(entry).map_err(|e| e.to_string()),
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// The projector's parse gives what serde_json's parse of the whole
        /// entry gives (the event, or the same error), for sealed entries
        /// of every kind and for them with one byte changed, removed or
        /// doubled; a sealed entry always takes the walk.
        #[test]
        fn the_own_entry_walk_agrees_with_serde(
            payload in arb_payload(),
            stream in proptest::sample::select(vec!["case-1", "complaint-9", "registry"]),
            signed in proptest::bool::ANY,
            officer in proptest::bool::ANY,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let mut ev = sample(stream);
            ev.payload = payload;
            if !officer {
                ev.actor.officer = None;
            }
            if signed {
                let sk = SigningKey::from_bytes(&[7; 32]);
                ev = ev.sign_ed25519(KeyId::new("ed25519:0011223344556677").unwrap(), &sk).unwrap();
            }
            let sealed = ev.seal(StreamVersion(4), Timestamp::now(), LeafHash([9; 32].into())).unwrap();
            proptest::prop_assert_eq!(Event::parse_own_fast(&sealed.entry), Some(sealed.event.clone()));
            let (own, serde) = own_parses(&sealed.entry);
            proptest::prop_assert_eq!(&own, &Ok(sealed.event.clone()));
            proptest::prop_assert_eq!(own, serde);
            for bytes in one_byte_off(&sealed.entry, at, byte) {
                let (own, serde) = own_parses(&bytes);
                proptest::prop_assert_eq!(own, serde, "{}", String::from_utf8_lossy(&bytes));
            }
        }
    }

    #[test]
    fn the_own_entry_walk_leaves_other_spellings_to_serde() {
        let sealed = sample("case-1")
            .seal(StreamVersion(0), Timestamp::now(), LeafHash::GENESIS)
            .unwrap();
        let text = String::from_utf8(sealed.entry.clone()).unwrap();
        let id = sealed.event.id.to_string();
        let mut spellings = other_spellings(&text, &id);
        spellings.extend([
            (
                "an escaped officer",
                text.replace("officer-7", "officer\\u002d7"),
            ),
            (
                "a payload that is not an object",
                text.replace(
                    &serde_json::to_string(&sealed.event.payload).unwrap(),
                    "[1]",
                ),
            ),
            ("trailing bytes", format!("{text} ")),
        ]);
        for (why, changed) in spellings {
            assert_ne!(changed, text, "{why}");
            assert!(Event::parse_own_fast(changed.as_bytes()).is_none(), "{why}");
            let (own, serde) = own_parses(changed.as_bytes());
            assert_eq!(own, serde, "{why}");
        }
        // An escape inside the payload is the payload parser's business:
        // the walk still takes the entry.
        let mut ev = sample("case-1");
        ev.payload.insert(
            "note".into(),
            Value::String("line\nbreak \"quoted\" }".into()),
        );
        let sealed = ev
            .seal(StreamVersion(0), Timestamp::now(), LeafHash::GENESIS)
            .unwrap();
        assert_eq!(
            Event::parse_own_fast(&sealed.entry),
            Some(sealed.event.clone())
        );
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
