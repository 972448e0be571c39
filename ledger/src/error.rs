//! The ledger's one error type.

use crate::ids::{ActorId, EventId, StreamId, StreamVersion};
use crate::keys::KeyId;
use crate::store::ExpectedVersion;
use crate::time::Timestamp;

/// Everything that can go wrong in the ledger core. Input errors name the
/// field and value at fault; none of them has changed anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stream name breaks the rules in SPEC.md §2.
    #[error(
        "invalid stream id {name:?}: 1-128 ASCII letters, digits, '-', '_', '.', ':', starting with a letter or digit"
    )]
    InvalidStreamId { name: String },
    /// An event id is not a canonical (upper-case) ULID.
    #[error("invalid event id {id:?}: expected a 26-character upper-case ULID")]
    InvalidEventId { id: String },
    /// An event type breaks the rules in SPEC.md §2.
    #[error(
        "invalid event type {name:?}: 1-64 ASCII letters, digits, '.', '_', '-', starting with a letter"
    )]
    InvalidEventType { name: String },
    /// A department or officer id breaks the rules in SPEC.md §2.
    #[error("invalid actor id {name:?}: 1-64 ASCII letters, digits, '.', '_', '-'")]
    InvalidActorId { name: String },
    /// A timestamp is not RFC 3339 UTC.
    #[error("invalid timestamp {text:?}: {reason}")]
    InvalidTimestamp { text: String, reason: String },
    /// A key id is not `<alg>:<16 hex digits>`.
    #[error("invalid key id {id:?}: expected '<alg>:<16 lower-case hex digits>'")]
    InvalidKeyId { id: String },
    /// A payload cannot be carried exactly in canonical JSON.
    #[error("invalid payload: {reason}")]
    InvalidPayload { reason: String },
    /// The event's entry would not fit a C2SP entry bundle.
    #[error(
        "event {id}: its log entry would be {size} bytes; the limit is {max} (C2SP tlog-tiles entry bundles)"
    )]
    EntryTooLarge {
        id: EventId,
        size: usize,
        max: usize,
    },
    /// Bytes in the log that are not a canonical event.
    #[error("malformed log entry: {reason}")]
    MalformedEntry { reason: String },
    /// A signature or key names an algorithm this ledger cannot check.
    #[error("unsupported signature algorithm {alg:?}")]
    UnsupportedAlgorithm { alg: String },
    /// A `registry` event that does not describe a valid key change.
    #[error("invalid registry event: {reason}")]
    InvalidRegistryEvent { reason: String },
    /// The signing key is not registered.
    #[error("unknown key {key}")]
    UnknownKey { key: KeyId },
    /// The signing key was revoked.
    #[error("key {key} was revoked at {revoked_at}")]
    KeyRevoked { key: KeyId, revoked_at: Timestamp },
    /// The signing key is not valid yet.
    #[error("key {key} is not valid before {valid_from}")]
    KeyNotYetValid { key: KeyId, valid_from: Timestamp },
    /// The key belongs to another department than the event's actor.
    #[error("key {key} belongs to {key_department}, not to {actor_department}")]
    KeyDepartmentMismatch {
        key: KeyId,
        key_department: ActorId,
        actor_department: ActorId,
    },
    /// The author signature does not verify.
    #[error("event {id}: the author signature does not verify")]
    BadSignature { id: EventId },
    /// The stream is not at the version the append expected.
    #[error("stream {stream}: expected {expected}, but the stream {}", match current { Some(v) => format!("is at version {v}"), None => "does not exist".to_owned() })]
    WrongExpectedVersion {
        stream: StreamId,
        expected: ExpectedVersion,
        current: Option<StreamVersion>,
    },
    /// An event id already in the log with different content.
    #[error("event {id} is already in the log with different content")]
    IdempotencyConflict { id: EventId },
    /// A batch mixing events already in the log with new ones.
    #[error(
        "batch mixes events already in the log ({existing}) with new ones ({new}); re-send the original batch or only new events"
    )]
    PartialRetry { existing: usize, new: usize },
    /// An event in a batch names another stream than the batch.
    #[error("event {id} is for stream {event_stream}, but the batch appends to {stream}")]
    StreamMismatch {
        id: EventId,
        event_stream: StreamId,
        stream: StreamId,
    },
    /// The same id twice in one batch.
    #[error("event id {id} appears twice in the batch")]
    DuplicateIdInBatch { id: EventId },
    /// A batch with no events.
    #[error("empty batch: nothing to append")]
    EmptyBatch,
    /// A batch with too many events.
    #[error("batch of {count} events; at most {max} per append")]
    BatchTooLarge { count: usize, max: usize },
    /// A range or tree size outside the log.
    #[error("out of range: {reason}")]
    OutOfRange { reason: String },
    /// The database file is damaged or is not a ledger store.
    #[error("store at {path} is unreadable: {reason}")]
    Corrupt { path: String, reason: String },
    /// The storage engine failed; nothing of the failed operation was kept.
    #[error("storage error: {reason}")]
    Storage { reason: String },
    /// The store has shut down.
    #[error("the store is closed")]
    Closed,
}

impl Error {
    pub(crate) fn storage(e: impl std::fmt::Display) -> Self {
        Error::Storage {
            reason: e.to_string(),
        }
    }
}
