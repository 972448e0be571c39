//! The storage contract every backend implements, and what is built on it.
//!
//! [`Store`] is deliberately narrow: append a batch with its expectation,
//! read entries, read stored tree hashes, checkpoints, and wait for growth.
//! Proofs, tiles, entry bundles and live following are written once here,
//! on top of those primitives, so every backend serves them identically.

pub mod page_cache;
pub mod signatures;
pub mod sqlite;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;

use crate::checkpoint::Checkpoint;
use crate::error::Error;
use crate::event::{Event, LeafHash, PreparedEvent, ProposedEvent};
use crate::ids::{EventId, LogIndex, StreamId, StreamVersion};
use crate::keys::KeyRegistry;
use crate::merkle::{self, Hash, HashReader, NodeId};
use crate::note::NoteSigner;
use crate::tiles::{self, EntryBundleId, TileId};
use crate::time::Timestamp;

/// Most events one append may carry.
pub const MAX_BATCH_EVENTS: usize = 1_000;

/// What an append expects of its stream, checked atomically with the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's state.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must already exist.
    StreamExists,
    /// The stream's last event must be at exactly this version.
    Exact(StreamVersion),
}

impl ExpectedVersion {
    /// Does a stream currently at `current` meet this expectation?
    pub fn admits(&self, current: Option<StreamVersion>) -> bool {
        match (self, current) {
            (ExpectedVersion::Any, _) => true,
            (ExpectedVersion::NoStream, None) => true,
            (ExpectedVersion::StreamExists, Some(_)) => true,
            (ExpectedVersion::Exact(v), Some(c)) => *v == c,
            _ => false,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// An append of one or more events to one stream: all or nothing.
#[derive(Clone, Debug)]
pub struct AppendRequest {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<ProposedEvent>,
}

impl AppendRequest {
    /// Shape checks that need no state: non-empty, not too large, one
    /// stream, no id twice, payloads canonicalisable.
    pub fn check_shape(&self) -> Result<(), Error> {
        if self.events.is_empty() {
            return Err(Error::EmptyBatch);
        }
        if self.events.len() > MAX_BATCH_EVENTS {
            return Err(Error::BatchTooLarge {
                count: self.events.len(),
                max: MAX_BATCH_EVENTS,
            });
        }
        let mut seen = std::collections::HashSet::with_capacity(self.events.len());
        for ev in &self.events {
            if ev.stream != self.stream {
                return Err(Error::StreamMismatch {
                    id: ev.id,
                    event_stream: ev.stream.clone(),
                    stream: self.stream.clone(),
                });
            }
            if !seen.insert(ev.id) {
                return Err(Error::DuplicateIdInBatch { id: ev.id });
            }
        }
        Ok(())
    }
}

/// An append checked for shape ([`AppendRequest::check_shape`]) with its
/// events canonicalised for a sequencer ([`PreparedEvent::for_sequencing`]):
/// what every backend's append path starts from, before it checks
/// signatures and hands the append to whatever sequences it.
pub struct PreparedAppend {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<PreparedEvent>,
}

impl PreparedAppend {
    pub fn new(request: AppendRequest) -> Result<Self, Error> {
        request.check_shape()?;
        let AppendRequest {
            stream,
            expected,
            events,
        } = request;
        let events = events
            .into_iter()
            .map(PreparedEvent::for_sequencing)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PreparedAppend {
            stream,
            expected,
            events,
        })
    }
}

/// What an acknowledged append returns for each event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub event_id: EventId,
    pub stream: StreamId,
    pub version: StreamVersion,
    pub log_index: LogIndex,
    pub leaf_hash: LeafHash,
}

/// An entry as stored, not yet parsed: what auditors read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEntry {
    pub index: LogIndex,
    pub entry: Vec<u8>,
}

/// A parsed event with its place in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub index: LogIndex,
    pub leaf_hash: LeafHash,
    pub entry: Vec<u8>,
    pub event: Event,
}

impl StoredEvent {
    pub fn from_raw(raw: RawEntry) -> Result<Self, Error> {
        let event = Event::from_entry(&raw.entry)?;
        Ok(StoredEvent {
            index: raw.index,
            leaf_hash: LeafHash::of_entry(&raw.entry),
            entry: raw.entry,
            event,
        })
    }

    pub fn receipt(&self) -> Receipt {
        Receipt {
            event_id: self.event.id,
            stream: self.event.stream.clone(),
            version: self.event.version,
            log_index: self.index,
            leaf_hash: self.leaf_hash,
        }
    }
}

/// An append's events sealed for the log: what a sequencer writes.
#[derive(Clone, Debug)]
pub struct SealedAppend {
    /// Version, leaf hash and log entry of each event, in order.
    pub entries: Vec<(StreamVersion, LeafHash, Vec<u8>)>,
    /// The key registry after the append's `registry` events, if it has any.
    pub registry: Option<KeyRegistry>,
}

/// Seals the `events` of an append to `stream` at consecutive versions from
/// `first`, chained from `prev`, recorded at `recorded_at`: the step every
/// sequencer takes once an append's expectation holds. Each author key is
/// checked against `registry` — as changed by the append's own earlier
/// `registry` events — at `recorded_at`; `registry` events are applied to a
/// copy of it. The first refusal is returned and nothing is kept.
pub fn seal_append(
    stream: &StreamId,
    events: &[PreparedEvent],
    first: StreamVersion,
    mut prev: LeafHash,
    recorded_at: &Timestamp,
    registry: &KeyRegistry,
) -> Result<SealedAppend, Error> {
    let mut changed: Option<KeyRegistry> = None;
    let mut entries = Vec::with_capacity(events.len());
    for (next, ev) in (first.0..).zip(events) {
        let version = StreamVersion(next);
        let current = changed.as_ref().unwrap_or(registry);
        if let Some(sig) = &ev.event.signature {
            current.authorize(sig, &ev.event.actor.department, recorded_at)?;
        }
        let (entry, leaf) = if stream.is_registry() {
            let sealed = ev.seal(version, recorded_at.clone(), prev)?;
            changed
                .get_or_insert_with(|| registry.clone())
                .apply(&sealed.event)?;
            (sealed.entry, sealed.leaf_hash)
        } else {
            ev.entry_and_leaf(version, recorded_at, &prev)?
        };
        prev = leaf;
        entries.push((version, leaf, entry));
    }
    Ok(SealedAppend {
        entries,
        registry: changed,
    })
}

/// Each stream's head (its last version and that event's leaf hash), by
/// stream: the sequencer and the auditor look one up for every event, so
/// the map hashes with foldhash (seeded per map) rather than SipHash.
pub(crate) type StreamHeads =
    std::collections::HashMap<StreamId, (StreamVersion, LeafHash), foldhash::fast::RandomState>;

/// Reading direction for streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// A signed checkpoint as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    /// The C2SP signed note, exactly as signed.
    pub note: Vec<u8>,
}

impl StoredCheckpoint {
    /// The C2SP tlog-checkpoint of a tree of `size` entries with `root`,
    /// signed as a signed-note with the log key, no extension lines: what
    /// every backend's sequencer writes.
    pub fn sign(signer: &NoteSigner, size: u64, root: Hash) -> Result<Self, Error> {
        let note = Checkpoint {
            origin: signer.name().to_owned(),
            size,
            root: root.0,
            extensions: Vec::new(),
        }
        .sign(signer)
        .map_err(|e| Error::Storage {
            reason: format!("signing a checkpoint: {e}"),
        })?
        .to_bytes();
        Ok(StoredCheckpoint { size, root, note })
    }
}

/// RFC 9162 §2.1.3 inclusion proof of one entry in a tree of `tree_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub index: LogIndex,
    pub tree_size: u64,
    pub hashes: Vec<Hash>,
}

/// RFC 9162 §2.1.4 consistency proof between two tree sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub hashes: Vec<Hash>,
}

/// The storage contract. Implemented by the embedded SQLite store here and
/// by the PostgreSQL and KurrentDB backends; one contract test suite runs
/// against each.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends a batch to one stream atomically; answers only once durable.
    /// Re-sending events already in the log returns their original receipts.
    async fn append(&self, request: AppendRequest) -> Result<Vec<Receipt>, Error>;

    /// Up to `limit` events of `stream` starting at `from`, in `direction`.
    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, Error>;

    /// The version of a stream's last event, or `None` if it has none.
    async fn stream_version(&self, stream: &StreamId) -> Result<Option<StreamVersion>, Error>;

    /// Up to `limit` raw entries from log index `from`, in log order, as
    /// stored (an auditor sees gaps and damage as they are).
    async fn read_entries(&self, from: LogIndex, limit: usize) -> Result<Vec<RawEntry>, Error>;

    /// The event with this id, if any.
    async fn event_by_id(&self, id: EventId) -> Result<Option<StoredEvent>, Error>;

    /// Number of durable entries in the log.
    async fn size(&self) -> Result<u64, Error>;

    /// Waits until the log holds at least `size` entries or `timeout`
    /// passes; returns the log size then.
    async fn wait_for_size(&self, size: u64, timeout: Duration) -> Result<u64, Error>;

    /// Stored complete-subtree hashes, in the order asked.
    async fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error>;

    /// The newest checkpoint, if any.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error>;

    /// Checkpoints with size ≥ `from_size`, oldest first.
    async fn checkpoints(
        &self,
        from_size: u64,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, Error>;

    /// Signs a checkpoint of the current log now, if it has grown since the
    /// last one; returns the latest checkpoint.
    async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>, Error>;

    /// The key registry as of the end of the log.
    async fn key_registry(&self) -> Result<KeyRegistry, Error>;

    /// Parsed events from log index `from`.
    async fn read_log(&self, from: LogIndex, limit: usize) -> Result<Vec<StoredEvent>, Error> {
        self.read_entries(from, limit)
            .await?
            .into_iter()
            .map(StoredEvent::from_raw)
            .collect()
    }

    /// RFC 9162 inclusion proof for the entry at `index` in the tree of `tree_size`.
    async fn inclusion_proof(
        &self,
        index: LogIndex,
        tree_size: u64,
    ) -> Result<InclusionProof, Error> {
        check_tree_size(self, tree_size).await?;
        if index.0 >= tree_size {
            return Err(Error::OutOfRange {
                reason: format!("index {index} is not in a tree of size {tree_size}"),
            });
        }
        let hashes = with_hashes(self, |r| merkle::inclusion_proof(index.0, tree_size, r)).await?;
        Ok(InclusionProof {
            index,
            tree_size,
            hashes,
        })
    }

    /// RFC 9162 consistency proof from `old_size` to `new_size`.
    async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, Error> {
        check_tree_size(self, new_size).await?;
        if old_size > new_size {
            return Err(Error::OutOfRange {
                reason: format!("old size {old_size} is larger than new size {new_size}"),
            });
        }
        let hashes =
            with_hashes(self, |r| merkle::consistency_proof(old_size, new_size, r)).await?;
        Ok(ConsistencyProof {
            old_size,
            new_size,
            hashes,
        })
    }

    /// Root hash of the tree of `tree_size`.
    async fn tree_root(&self, tree_size: u64) -> Result<Hash, Error> {
        check_tree_size(self, tree_size).await?;
        with_hashes(self, |r| merkle::tree_root(tree_size, r)).await
    }

    /// A C2SP tlog-tiles hash tile.
    async fn hash_tile(&self, tile: TileId) -> Result<Vec<u8>, Error> {
        let size = self.size().await?;
        // The tile must lie wholly inside the tree.
        if !tile.fits(size) {
            return Err(Error::OutOfRange {
                reason: format!("tile {} is beyond the tree of size {size}", tile.path()),
            });
        }
        let ids: Vec<NodeId> = tiles::tile_nodes(&tile);
        let hashes = self.read_hashes(&ids).await?;
        Ok(tiles::encode_hash_tile(&hashes))
    }

    /// A C2SP tlog-tiles entry bundle.
    async fn entry_bundle(&self, bundle: EntryBundleId) -> Result<Vec<u8>, Error> {
        let width = u64::from(bundle.width);
        let size = self.size().await?;
        if !bundle.fits(size) {
            return Err(Error::OutOfRange {
                reason: format!(
                    "entry bundle {} is beyond the log of size {size}",
                    bundle.path()
                ),
            });
        }
        let from = bundle.index * tiles::TILE_WIDTH;
        let raw = self.read_entries(LogIndex(from), width as usize).await?;
        if raw.len() as u64 != width {
            return Err(Error::Storage {
                reason: format!(
                    "entries {from}..{} are missing from the store",
                    from + width
                ),
            });
        }
        tiles::encode_entry_bundle(raw.iter().map(|r| r.entry.as_slice())).map_err(|e| {
            Error::Storage {
                reason: e.to_string(),
            }
        })
    }
}

async fn check_tree_size<S: Store + ?Sized>(store: &S, tree_size: u64) -> Result<(), Error> {
    let size = store.size().await?;
    if tree_size > size {
        return Err(Error::OutOfRange {
            reason: format!("tree size {tree_size} is larger than the log ({size})"),
        });
    }
    Ok(())
}

/// Runs a merkle algorithm against a store's hashes. The algorithms issue
/// one batched read whose ids depend only on the sizes, so a dry run records
/// them, one async read fetches them, and a second run computes the answer.
async fn with_hashes<S, T, F>(store: &S, f: F) -> Result<T, Error>
where
    S: Store + ?Sized,
    F: Fn(&PrefetchedHashes) -> Result<T, merkle::ProofError<MissingHash>>,
{
    let wanted = {
        let recorder = PrefetchedHashes::default();
        // The dry run stops at its first read; what it asked for is recorded.
        let _ = f(&recorder);
        recorder.take_misses()
    };
    let hashes = store.read_hashes(&wanted).await?;
    let filled = PrefetchedHashes::with(wanted.into_iter().zip(hashes));
    f(&filled).map_err(|e| Error::OutOfRange {
        reason: e.to_string(),
    })
}

/// A hash an algorithm asked for that was not prefetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingHash(pub NodeId);

/// Hashes fetched ahead of an algorithm; records what was asked and missing.
#[derive(Default)]
pub struct PrefetchedHashes {
    hashes: HashMap<NodeId, Hash>,
    misses: Mutex<Vec<NodeId>>,
}

impl PrefetchedHashes {
    fn with(pairs: impl IntoIterator<Item = (NodeId, Hash)>) -> Self {
        PrefetchedHashes {
            hashes: pairs.into_iter().collect(),
            misses: Mutex::default(),
        }
    }

    fn take_misses(&self) -> Vec<NodeId> {
        std::mem::take(&mut *self.misses.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl HashReader for PrefetchedHashes {
    type Error = MissingHash;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, MissingHash> {
        let mut out = Vec::with_capacity(ids.len());
        let mut misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            match self.hashes.get(id) {
                Some(h) => out.push(*h),
                None => misses.push(*id),
            }
        }
        match misses.first() {
            Some(first) => Err(MissingHash(*first)),
            None => Ok(out),
        }
    }
}

/// Follows the log from `from`: catches up from storage, then waits for
/// new entries. Memory stays bounded by one page, whatever the lag.
pub fn follow(
    store: Arc<dyn Store>,
    from: LogIndex,
) -> impl Stream<Item = Result<StoredEvent, Error>> + Send {
    const PAGE: usize = 256;
    let state = (store, from.0, VecDeque::<StoredEvent>::new(), false);
    futures::stream::unfold(state, |(store, mut next, mut buf, failed)| async move {
        if failed {
            return None;
        }
        loop {
            if let Some(ev) = buf.pop_front() {
                return Some((Ok(ev), (store, next, buf, false)));
            }
            match store.read_log(LogIndex(next), PAGE).await {
                Err(e) => return Some((Err(e), (store, next, buf, true))),
                Ok(page) if page.is_empty() => {
                    if let Err(e) = store.wait_for_size(next + 1, Duration::from_secs(5)).await {
                        return Some((Err(e), (store, next, buf, true)));
                    }
                }
                Ok(page) => {
                    next = page.last().map_or(next, |e| e.index.0 + 1);
                    buf.extend(page);
                }
            }
        }
    })
}
