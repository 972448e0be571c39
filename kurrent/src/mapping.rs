//! How the ledger's things are written as EventStoreDB / KurrentDB things,
//! and read back: stream names, event ids, the batch mark on each record,
//! the appender's expected revision, and the checkpoint and log-identity
//! records.
//!
//! Pure: no client, no I/O, so every mapping is unit-tested without a
//! server. What this module deliberately does not do: decide which records
//! belong to the log (that is [`crate::sequence`]), or talk to a server.

use ledger::checkpoint::Checkpoint;
use ledger::merkle::Hash;
use ledger::note::NoteVerifier;
use ledger::store::{ExpectedVersion, StoredCheckpoint};
use ledger::{Error, EventId, StreamId, StreamVersion};
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use uuid::Uuid;

/// The event-store event type of a checkpoint record.
pub const CHECKPOINT_EVENT_TYPE: &str = "ledger.checkpoint";
/// The event-store event type of the log-identity record.
pub const IDENTITY_EVENT_TYPE: &str = "ledger.identity";

/// Failures to read a record this crate wrote.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// A namespace that is not 1-32 lower-case letters, digits or `_`.
    #[error("invalid namespace {name:?}: 1-32 lower-case ASCII letters, digits or '_'")]
    InvalidNamespace { name: String },
    /// A record's JSON is not the shape this crate writes.
    #[error("{what} record: {reason}")]
    BadRecord { what: &'static str, reason: String },
}

impl From<MappingError> for Error {
    fn from(e: MappingError) -> Self {
        Error::Storage {
            reason: e.to_string(),
        }
    }
}

/// The prefix that keeps one ledger's streams apart from everything else
/// on a server (and from other ledgers on it): ledger stream `S` is the
/// event-store stream `<namespace>-S`, so `$all` is filtered server-side by
/// the prefix `<namespace>-` and the category (`$ce-<namespace>`) is the
/// whole log. The namespace has no `-`, so no namespace is a prefix of
/// another's streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace(String);

impl Namespace {
    /// The namespace `ledger serve` uses unless told otherwise.
    pub const DEFAULT: &'static str = "ledger";

    pub fn new(name: &str) -> Result<Self, MappingError> {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Namespace(name.to_owned()))
        } else {
            Err(MappingError::InvalidNamespace {
                name: name.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<namespace>-`: what every ledger stream's name starts with.
    pub fn stream_prefix(&self) -> String {
        format!("{}-", self.0)
    }

    /// The event-store stream of a ledger stream.
    pub fn store_stream(&self, stream: &StreamId) -> String {
        format!("{}-{}", self.0, stream.as_str())
    }

    /// The ledger stream of an event-store stream, if it is one of ours.
    pub fn ledger_stream(&self, store_stream: &str) -> Option<StreamId> {
        let rest = store_stream
            .strip_prefix(self.0.as_str())?
            .strip_prefix('-')?;
        StreamId::new(rest).ok()
    }

    /// The stream of signed checkpoints (outside the prefix, so not in the
    /// log; not a `$` system stream, so no admin rights are needed).
    pub fn checkpoint_stream(&self) -> String {
        format!("{}.checkpoints", self.0)
    }

    /// The stream whose one record binds the namespace to one log key.
    pub fn identity_stream(&self) -> String {
        format!("{}.identity", self.0)
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Namespace(Self::DEFAULT.to_owned())
    }
}

/// The event-store event id of a ledger event: the ULID's 128 bits as a
/// UUID, byte for byte (a ULID and a UUID are both 16 bytes; the UUID's
/// version bits are whatever the ULID's randomness put there, which the
/// event store does not check). The event store then recognises a re-sent
/// append of the same events at the same revision as already written.
pub fn event_uuid(id: EventId) -> Uuid {
    Uuid::from_bytes(id.0.to_bytes())
}

/// The ledger event id of an event-store event id ([`event_uuid`] reversed).
pub fn event_id(uuid: Uuid) -> EventId {
    EventId(Ulid::from_bytes(uuid.into_bytes()))
}

/// The custom metadata the appender puts on each record of one append, so
/// the sequencer treats the append as one all-or-nothing batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchMark {
    /// The id of the batch's first event.
    pub batch: String,
    /// Events in the batch.
    pub count: u32,
    /// This record's place in the batch, from 0.
    pub seq: u32,
}

impl BatchMark {
    /// The marks of a batch of `count` events whose first id is `first`.
    pub fn for_batch(first: EventId, count: usize) -> Vec<BatchMark> {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        (0..count)
            .map(|seq| BatchMark {
                batch: first.to_string(),
                count,
                seq,
            })
            .collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Invariant: three plain fields always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MappingError> {
        let mark: BatchMark = serde_json::from_slice(bytes).map_err(|e| bad("batch mark", e))?;
        if mark.count == 0 || mark.seq >= mark.count {
            return Err(MappingError::BadRecord {
                what: "batch mark",
                reason: format!("record {} of a batch of {}", mark.seq, mark.count),
            });
        }
        Ok(mark)
    }
}

/// A stream's state as the sequencer last saw it: what an appender checks
/// the append's expectation against and seals on top of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamHead {
    /// The ledger version and leaf hash of the stream's last event in the
    /// log; `None` if none is.
    pub ledger: Option<(StreamVersion, ledger::LeafHash)>,
    /// The `recorded_at` of that event.
    pub recorded_at: Option<ledger::Timestamp>,
    /// The event-store revision of the stream's last record, admitted to
    /// the log or not; `None` if the stream has no record.
    pub revision: Option<u64>,
    /// Revisions of records the sequencer refused, ascending. Usually
    /// empty; each one shifts later ledger versions one revision back.
    pub refused: Vec<u64>,
}

impl StreamHead {
    /// The stream's ledger version, for [`ExpectedVersion::admits`].
    pub fn version(&self) -> Option<StreamVersion> {
        self.ledger.map(|(v, _)| v)
    }

    /// The event-store revision holding ledger version `version`.
    pub fn revision_of(&self, version: StreamVersion) -> u64 {
        let mut revision = version.0;
        for r in &self.refused {
            if *r <= revision {
                revision += 1;
            } else {
                break;
            }
        }
        revision
    }
}

/// The state the appender asks the event store to check the stream is in
/// when it writes: exactly the revision it sealed on top of. This is
/// stronger than the caller's [`ExpectedVersion`], which is checked
/// against the same head first; the event store's own concurrency check
/// then makes both hold atomically with the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevisionCheck {
    /// The stream must have no record (event-store `NoStream`).
    NoStream,
    /// The stream's last record must be at this revision (event-store
    /// `StreamRevision(n)`).
    Revision(u64),
}

/// What an append to a stream at `head` with expectation `expected` asks
/// the event store to check, or the version conflict if the expectation
/// already fails against `head`.
///
/// `Any`, `StreamExists`, `NoStream` and `Exact(n)` all become the exact
/// revision of `head`: the appender computes `prev` from that head, so it
/// may only land there. While no record of the stream was refused, ledger
/// versions are revisions and `Exact(n)` is `StreamRevision(n)`.
pub fn revision_check(
    stream: &StreamId,
    expected: ExpectedVersion,
    head: &StreamHead,
) -> Result<RevisionCheck, Error> {
    if !expected.admits(head.version()) {
        return Err(conflict(stream, expected, head));
    }
    Ok(match head.revision {
        None => RevisionCheck::NoStream,
        Some(r) => RevisionCheck::Revision(r),
    })
}

/// The ledger's version conflict for a stream at `head`.
pub fn conflict(stream: &StreamId, expected: ExpectedVersion, head: &StreamHead) -> Error {
    Error::WrongExpectedVersion {
        stream: stream.clone(),
        expected,
        current: head.version(),
    }
}

/// A position in `$all`: the event store's (commit, prepare) pair, ordered
/// as the log is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AllPosition {
    pub commit: u64,
    pub prepare: u64,
}

/// A checkpoint record in the checkpoint stream: the signed note, and the
/// `$all` position of the last entry it covers. u64 values are strings
/// (RFC 8785 numbers are doubles).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRecord {
    pub size: String,
    /// Hex of the RFC 6962 root.
    pub root: String,
    /// Commit and prepare position in `$all` of entry `size - 1`.
    pub position: Option<[String; 2]>,
    /// The C2SP signed note, exactly as signed.
    pub note: String,
}

impl CheckpointRecord {
    pub fn new(checkpoint: &StoredCheckpoint, last: Option<AllPosition>) -> Result<Self, Error> {
        let note = String::from_utf8(checkpoint.note.clone()).map_err(|_| Error::Storage {
            reason: "a signed note that is not UTF-8".to_owned(),
        })?;
        Ok(CheckpointRecord {
            size: checkpoint.size.to_string(),
            root: checkpoint.root.to_hex(),
            position: last.map(|p| [p.commit.to_string(), p.prepare.to_string()]),
            note,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Invariant: strings and an optional pair of strings always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a record back, checking that its size and root are the ones
    /// its note's checkpoint text states (the signature is the auditor's
    /// to check).
    pub fn from_bytes(
        bytes: &[u8],
    ) -> Result<(StoredCheckpoint, Option<AllPosition>), MappingError> {
        let what = "checkpoint";
        let rec: CheckpointRecord = serde_json::from_slice(bytes).map_err(|e| bad(what, e))?;
        let size: u64 = rec.size.parse().map_err(|e| bad(what, e))?;
        let root = Hash::from_hex(&rec.root).ok_or_else(|| MappingError::BadRecord {
            what,
            reason: format!("root {:?} is not 32 hex bytes", rec.root),
        })?;
        let text = ledger::note::Note::parse(rec.note.as_bytes())
            .map_err(|e| bad(what, e))?
            .text;
        let body = Checkpoint::parse(&text).map_err(|e| bad(what, e))?;
        if body.size != size || body.root != root.0 {
            return Err(MappingError::BadRecord {
                what,
                reason: format!("size {size} and root {root:?} are not what its note signs"),
            });
        }
        let position = match rec.position {
            None => None,
            Some([c, p]) => Some(AllPosition {
                commit: c.parse().map_err(|e| bad(what, e))?,
                prepare: p.parse().map_err(|e| bad(what, e))?,
            }),
        };
        Ok((
            StoredCheckpoint {
                size,
                root,
                note: rec.note.into_bytes(),
            },
            position,
        ))
    }

    /// The record's event-store id: the first 16 bytes of the note's
    /// SHA-256 leaf hash, so two processes storing the same checkpoint
    /// write the same id (Ed25519 signing is deterministic) and a re-sent
    /// write is recognised.
    pub fn id(note: &[u8]) -> Uuid {
        let h = ledger::merkle::leaf_hash(note);
        let mut id = [0u8; 16];
        id.copy_from_slice(&h.0[..16]);
        Uuid::from_bytes(id)
    }
}

/// The one record of the identity stream: the log the namespace belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRecord {
    pub origin: String,
    /// The C2SP verifier key of the log.
    pub key: String,
}

impl IdentityRecord {
    pub fn of(verifier: &NoteVerifier) -> Self {
        IdentityRecord {
            origin: verifier.name().to_owned(),
            key: verifier.to_verifier_key_string(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Invariant: two strings always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MappingError> {
        serde_json::from_slice(bytes).map_err(|e| bad("identity", e))
    }
}

fn bad(what: &'static str, e: impl std::fmt::Display) -> MappingError {
    MappingError::BadRecord {
        what,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::LeafHash;
    use ledger::note::NoteSigner;

    fn sid(s: &str) -> StreamId {
        StreamId::new(s).unwrap()
    }

    #[test]
    fn namespaces_keep_ledgers_apart() {
        let ns = Namespace::new("ledger").unwrap();
        assert_eq!(ns.store_stream(&sid("case-1")), "ledger-case-1");
        assert_eq!(ns.ledger_stream("ledger-case-1"), Some(sid("case-1")));
        assert_eq!(
            ns.ledger_stream("ledger-registry"),
            Some(StreamId::registry())
        );
        // Another namespace's streams, system streams and our own metadata
        // streams are not ledger streams.
        assert_eq!(ns.ledger_stream("ledgerx-case-1"), None);
        assert_eq!(ns.ledger_stream("$$ledger-case-1"), None);
        assert_eq!(ns.ledger_stream(&ns.checkpoint_stream()), None);
        assert_eq!(ns.ledger_stream(&ns.identity_stream()), None);
        assert_eq!(ns.ledger_stream("ledger-"), None);
        assert_eq!(ns.ledger_stream("ledger-$bad"), None);
        assert!(!ns.checkpoint_stream().starts_with(&ns.stream_prefix()));
        for bad in ["", "Ledger", "a-b", "a.b", "$x", &"x".repeat(33)] {
            assert!(Namespace::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Namespace::default().as_str(), "ledger");
    }

    #[test]
    fn ulids_and_uuids_are_the_same_128_bits() {
        for _ in 0..100 {
            let id = EventId::generate();
            let uuid = event_uuid(id);
            assert_eq!(uuid.as_bytes(), &id.0.to_bytes());
            assert_eq!(event_id(uuid), id);
        }
        // A known value: ULID text is Crockford base32 of the same bits the
        // UUID shows in hex.
        let id = EventId(Ulid::from_string("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap());
        assert_eq!(
            event_uuid(id).to_string(),
            "01563e3a-b5d3-d676-4c61-efb99302bd5b"
        );
        assert_eq!(event_id(Uuid::nil()), EventId(Ulid::nil()));
    }

    #[test]
    fn batch_marks_round_trip_and_refuse_nonsense() {
        let first = EventId::generate();
        let marks = BatchMark::for_batch(first, 3);
        assert_eq!(marks.len(), 3);
        for (k, m) in marks.iter().enumerate() {
            assert_eq!(m.seq as usize, k);
            assert_eq!(m.count, 3);
            assert_eq!(m.batch, first.to_string());
            assert_eq!(&BatchMark::from_bytes(&m.to_bytes()).unwrap(), m);
        }
        for bad in [
            &br#"{"batch":"x","count":0,"seq":0}"#[..],
            br#"{"batch":"x","count":2,"seq":2}"#,
            br#"{"batch":"x","count":2}"#,
            br#"{"batch":"x","count":2,"seq":0,"extra":1}"#,
            b"not json",
        ] {
            assert!(BatchMark::from_bytes(bad).is_err());
        }
    }

    #[test]
    fn expected_versions_become_the_exact_revision_sealed_on() {
        let s = sid("case-x");
        let empty = StreamHead::default();
        let leaf = LeafHash::of_entry(b"e");
        let at3 = StreamHead {
            ledger: Some((StreamVersion(3), leaf)),
            recorded_at: None,
            revision: Some(3),
            refused: vec![],
        };
        // A stream with no record.
        for e in [ExpectedVersion::Any, ExpectedVersion::NoStream] {
            assert_eq!(
                revision_check(&s, e, &empty).unwrap(),
                RevisionCheck::NoStream
            );
        }
        for e in [
            ExpectedVersion::StreamExists,
            ExpectedVersion::Exact(StreamVersion(0)),
        ] {
            match revision_check(&s, e, &empty) {
                Err(Error::WrongExpectedVersion { current: None, .. }) => {}
                other => panic!("{e:?}: {other:?}"),
            }
        }
        // A stream at version 3 (= revision 3).
        for e in [
            ExpectedVersion::Any,
            ExpectedVersion::StreamExists,
            ExpectedVersion::Exact(StreamVersion(3)),
        ] {
            assert_eq!(
                revision_check(&s, e, &at3).unwrap(),
                RevisionCheck::Revision(3)
            );
        }
        for e in [
            ExpectedVersion::NoStream,
            ExpectedVersion::Exact(StreamVersion(2)),
        ] {
            let err = revision_check(&s, e, &at3).unwrap_err();
            assert!(err.to_string().contains("is at version 3"), "{err}");
        }
        // A stream whose revision 1 was refused: version 3 is revision 4,
        // and the check is on the revision.
        let shifted = StreamHead {
            revision: Some(4),
            refused: vec![1],
            ..at3.clone()
        };
        assert_eq!(
            revision_check(&s, ExpectedVersion::Exact(StreamVersion(3)), &shifted).unwrap(),
            RevisionCheck::Revision(4)
        );
        // A stream whose only records were refused has no ledger version.
        let only_refused = StreamHead {
            revision: Some(0),
            refused: vec![0],
            ..StreamHead::default()
        };
        assert_eq!(
            revision_check(&s, ExpectedVersion::NoStream, &only_refused).unwrap(),
            RevisionCheck::Revision(0)
        );
    }

    #[test]
    fn ledger_versions_map_past_refused_revisions() {
        let head = StreamHead {
            refused: vec![1, 2, 5],
            ..StreamHead::default()
        };
        // Revisions 0 3 4 6 7 hold versions 0 1 2 3 4.
        let got: Vec<u64> = (0..5).map(|v| head.revision_of(StreamVersion(v))).collect();
        assert_eq!(got, vec![0, 3, 4, 6, 7]);
        assert_eq!(StreamHead::default().revision_of(StreamVersion(9)), 9);
    }

    #[test]
    fn checkpoint_records_round_trip_and_must_match_their_note() {
        let signer = NoteSigner::generate("test.example/log").unwrap();
        let root = ledger::merkle::leaf_hash(b"root");
        let note = Checkpoint {
            origin: signer.name().to_owned(),
            size: 12,
            root: root.0,
            extensions: vec![],
        }
        .sign(&signer)
        .unwrap()
        .to_bytes();
        let cp = StoredCheckpoint {
            size: 12,
            root,
            note: note.clone(),
        };
        let at = AllPosition {
            commit: u64::MAX - 1,
            prepare: 7,
        };
        let rec = CheckpointRecord::new(&cp, Some(at)).unwrap();
        let bytes = rec.to_bytes();
        // u64 values are strings: no precision lost above 2^53.
        assert!(String::from_utf8_lossy(&bytes).contains(&format!("\"{}\"", u64::MAX - 1)));
        assert_eq!(
            CheckpointRecord::from_bytes(&bytes).unwrap(),
            (cp.clone(), Some(at))
        );
        let none = CheckpointRecord::new(&cp, None).unwrap().to_bytes();
        assert_eq!(CheckpointRecord::from_bytes(&none).unwrap().1, None);

        // A record whose size or root differs from what the note signs.
        let mut lying = rec.clone();
        lying.size = "13".into();
        assert!(CheckpointRecord::from_bytes(&lying.to_bytes()).is_err());
        let mut lying = rec.clone();
        lying.root = ledger::merkle::leaf_hash(b"other").to_hex();
        assert!(CheckpointRecord::from_bytes(&lying.to_bytes()).is_err());
        let mut garbled = rec.clone();
        garbled.note = "not a note".into();
        assert!(CheckpointRecord::from_bytes(&garbled.to_bytes()).is_err());
        assert!(CheckpointRecord::from_bytes(b"{}").is_err());

        // The same note, the same id; another note, another id.
        assert_eq!(CheckpointRecord::id(&note), CheckpointRecord::id(&note));
        assert_ne!(CheckpointRecord::id(&note), CheckpointRecord::id(b"x"));
    }

    #[test]
    fn identity_records_round_trip() {
        let signer = NoteSigner::generate("test.example/log").unwrap();
        let id = IdentityRecord::of(&signer.verifier());
        assert_eq!(id.origin, "test.example/log");
        assert_eq!(IdentityRecord::from_bytes(&id.to_bytes()).unwrap(), id);
        assert!(IdentityRecord::from_bytes(b"{\"origin\":1}").is_err());
    }
}
