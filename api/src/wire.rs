//! JSON shapes shared by several endpoints.
//!
//! Numbers: stream versions, log indexes and tree sizes are plain JSON
//! integers (`integer`, `format: int64`, ≥ 0). They stay below 2^53 in any
//! real log (the ledger refuses payload integers above 2^53 − 1 too), so
//! every JSON parser reads them exactly. Hashes are lower-case hex; the
//! checkpoint note is text exactly as signed.

use ledger::store::StoredEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Default page size of reads.
pub const DEFAULT_PAGE: usize = 100;
/// Largest page size of reads.
pub const MAX_PAGE: usize = 1_000;

/// What an acknowledged append returns for each event.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct ReceiptView {
    /// The event's ULID.
    pub event_id: String,
    pub stream: String,
    /// Position in its stream, from 0.
    #[schema(format = Int64, minimum = 0)]
    pub version: u64,
    /// Position in the log (the Merkle leaf index), from 0.
    #[schema(format = Int64, minimum = 0)]
    pub log_index: u64,
    /// RFC 6962 leaf hash of the entry, hex.
    pub leaf_hash: String,
}

impl From<ledger::Receipt> for ReceiptView {
    fn from(r: ledger::Receipt) -> Self {
        ReceiptView {
            event_id: r.event_id.to_string(),
            stream: r.stream.to_string(),
            version: r.version.0,
            log_index: r.log_index.0,
            leaf_hash: r.leaf_hash.to_hex(),
        }
    }
}

/// A recorded event with its place in the log.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct EventView {
    #[schema(format = Int64, minimum = 0)]
    pub log_index: u64,
    /// RFC 6962 leaf hash of the entry, hex.
    pub leaf_hash: String,
    /// The log entry as JSON (SPEC.md §2): its RFC 8785 serialisation is
    /// exactly the entry bytes whose leaf hash is `leaf_hash`.
    #[schema(value_type = Object)]
    pub event: Value,
}

impl EventView {
    pub fn of(stored: &StoredEvent) -> Result<Self, ApiError> {
        let event: Value = serde_json::from_slice(&stored.entry)
            .map_err(|e| ApiError::internal(format!("stored entry is not JSON: {e}")))?;
        Ok(EventView {
            log_index: stored.index.0,
            leaf_hash: stored.leaf_hash.to_hex(),
            event,
        })
    }
}

/// A page of events.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Where the next page starts (a stream version for stream reads, a log
    /// index for log reads), or null when this page reached the end.
    #[schema(format = Int64, minimum = 0)]
    pub next: Option<u64>,
}

/// Clamps a requested page size.
pub fn page_size(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}
