//! [`KurrentStore`]: the [`ledger::Store`] contract on an EventStoreDB /
//! KurrentDB server, through the official `kurrentdb` client.
//!
//! Each process follows `$all` (filtered server-side to the namespace's
//! streams) into its [`Sequence`], appends straight to case streams with
//! the exact revision it sealed on, and answers an append once its own
//! sequencer has admitted (or refused) the records. See the crate
//! documentation for the design and where it is weaker than the SQL
//! backends.
//!
//! What this module deliberately does not do: decide what is in the log
//! (that is [`crate::sequence`], shared by every process), cache entries,
//! or retry a failed server call other than an append's version race.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, EventData, Position,
    ReadAllOptions, ReadStreamOptions, RecordedEvent, StreamPosition, StreamState,
    SubscribeToAllOptions, SubscriptionEvent, SubscriptionFilter,
};
use ledger::event::PreparedEvent;
use ledger::merkle::{self, Hash, NodeId};
use ledger::note::NoteSigner;
use ledger::store::signatures::{AuthorSignatures, SignatureBatcher};
use ledger::store::{
    AppendRequest, Direction, PreparedAppend, RawEntry, StoredCheckpoint, StoredEvent, seal_append,
};
use ledger::{
    Clock, Error, EventId, KeyRegistry, LogIndex, Receipt, Store, StreamId, StreamVersion,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::mapping::{
    AllPosition, BatchMark, CHECKPOINT_EVENT_TYPE, CheckpointRecord, IDENTITY_EVENT_TYPE,
    IdentityRecord, Namespace, RevisionCheck, event_uuid, revision_check,
};
use crate::sequence::{Record, Refusal, Sequence};

/// How often an append re-seals after losing a version race before giving up.
const MAX_ATTEMPTS: usize = 100;

/// Tunables of the KurrentDB store.
#[derive(Clone, Debug)]
pub struct KurrentConfig {
    /// Which streams on the server are this ledger's (see [`Namespace`]).
    pub namespace: Namespace,
    /// A checkpoint is signed at least this often while the log grows.
    pub checkpoint_interval: Duration,
    /// How long an appender waits for its records to be sequenced, and a
    /// reader for the log to reach what the server holds.
    pub sequencing_timeout: Duration,
    /// The time stamped as `recorded_at` (never before the stream's last
    /// event's, nor the last one this process has seen in the log).
    pub clock: Clock,
}

impl Default for KurrentConfig {
    fn default() -> Self {
        KurrentConfig {
            namespace: Namespace::default(),
            checkpoint_interval: Duration::from_secs(1),
            sequencing_timeout: Duration::from_secs(10),
            clock: Clock::system(),
        }
    }
}

/// The KurrentDB store. Cheap to clone; clones share one client and one
/// sequencer. Other processes may use the same namespace at the same time.
#[derive(Clone)]
pub struct KurrentStore {
    core: Arc<Core>,
    tasks: Arc<Tasks>,
}

struct Core {
    client: Client,
    ns: Namespace,
    signer: NoteSigner,
    config: KurrentConfig,
    seq: RwLock<Sequence>,
    /// Records the sequencer has taken; every change wakes waiters.
    progress: watch::Sender<u64>,
    /// Log size, for `wait_for_size`.
    size: watch::Sender<u64>,
    /// The subscription's last failure, for messages.
    failure: Mutex<Option<String>>,
    signatures: SignatureBatcher,
    /// One checkpoint signer per process at a time; when it last signed.
    signing: tokio::sync::Mutex<Option<Instant>>,
    closed: AtomicBool,
}

/// The follower and the checkpoint ticker, aborted with the last clone.
struct Tasks(Mutex<Vec<JoinHandle<()>>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in lock(&self.0).drain(..) {
            t.abort();
        }
    }
}

impl KurrentStore {
    /// Opens the ledger in `config.namespace` on the server at `url`
    /// (`esdb://…` or `kurrentdb://…`, the client's connection string),
    /// bound to the log signed by `signer`; returns once this process has
    /// sequenced everything the server held at open. Must be called inside
    /// a Tokio runtime.
    pub async fn open(url: &str, signer: NoteSigner, config: KurrentConfig) -> Result<Self, Error> {
        let settings: ClientSettings = url.parse().map_err(|e| Error::Storage {
            reason: format!("KurrentDB connection string {url:?}: {e}"),
        })?;
        let client = Client::new(settings).map_err(|e| Error::Storage {
            reason: format!("KurrentDB client for {url:?}: {e}"),
        })?;
        bind_identity(&client, &config.namespace, &signer).await?;
        let core = Arc::new(Core {
            client,
            ns: config.namespace.clone(),
            signer,
            seq: RwLock::new(Sequence::new(config.namespace.clone())),
            progress: watch::Sender::new(0),
            size: watch::Sender::new(0),
            failure: Mutex::new(None),
            signatures: SignatureBatcher::per_core()?,
            signing: tokio::sync::Mutex::new(None),
            closed: AtomicBool::new(false),
            config,
        });
        let follower = tokio::spawn(follow_all(core.clone()));
        let store = KurrentStore {
            core: core.clone(),
            tasks: Arc::new(Tasks(Mutex::new(vec![follower]))),
        };
        core.catch_up_all(None).await?;
        store.check_latest_checkpoint().await?;
        let ticker = tokio::spawn(tick(Arc::downgrade(&core)));
        lock(&store.tasks.0).push(ticker);
        Ok(store)
    }

    /// Signs a last checkpoint if the log grew, and stops following.
    /// Later appends fail with [`Error::Closed`].
    pub async fn close(&self) {
        if self.core.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.core.store_checkpoint(true).await;
        for t in lock(&self.tasks.0).drain(..) {
            t.abort();
        }
    }

    /// The namespace this store's streams are in.
    pub fn namespace(&self) -> &Namespace {
        &self.core.ns
    }

    /// Fails if the newest stored checkpoint is not a checkpoint of the log
    /// this process derived: the event store's history changed under the
    /// log (a deleted or truncated stream, a scavenge after `$maxAge`).
    async fn check_latest_checkpoint(&self) -> Result<(), Error> {
        let Some((_, cp)) = self.core.last_checkpoint().await? else {
            return Ok(());
        };
        let seq = self.core.read();
        if cp.size > seq.size() {
            return Err(self.core.corrupt(format!(
                "the latest checkpoint is of size {}, but the log derived from $all has {} entries",
                cp.size,
                seq.size()
            )));
        }
        let root = merkle::tree_root(cp.size, seq.tree()).map_err(|e| Error::Storage {
            reason: e.to_string(),
        })?;
        if root != cp.root {
            return Err(self.core.corrupt(format!(
                "the tree derived from $all at size {} has root {}, not the checkpoint's {}",
                cp.size,
                root.to_hex(),
                cp.root.to_hex()
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for KurrentStore {
    async fn append(&self, request: AppendRequest) -> Result<Vec<Receipt>, Error> {
        if self.core.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let request = PreparedAppend::new(request)?;
        self.core.verify_signatures(&request.events).await?;
        self.core
            .append(&request.stream, request.expected, &request.events)
            .await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, Error> {
        let head = self.core.read().head(stream);
        let (Some((top, _)), Some(last_revision)) = (head.ledger, head.revision) else {
            return Ok(Vec::new());
        };
        if limit == 0 || (direction == Direction::Forwards && from > top) {
            return Ok(Vec::new());
        }
        let start = match direction {
            Direction::Forwards => head.revision_of(from),
            Direction::Backwards => head.revision_of(from.min(top)),
        };
        let options = ReadStreamOptions::default()
            .position(StreamPosition::Position(start))
            .max_count(limit.saturating_add(head.refused.len()));
        let options = match direction {
            Direction::Forwards => options.forwards(),
            Direction::Backwards => options.backwards(),
        };
        let records = self
            .core
            .read_records(self.core.ns.store_stream(stream), &options)
            .await?;
        let mut out = Vec::with_capacity(limit.min(records.len()));
        for record in records {
            // Records refused, or not sequenced here yet, are not in the log.
            if record.revision > last_revision
                || head.refused.binary_search(&record.revision).is_ok()
            {
                continue;
            }
            let id = crate::mapping::event_id(record.id);
            let Some(index) = self.core.read().index_of(id) else {
                continue;
            };
            out.push(StoredEvent::from_raw(RawEntry {
                index,
                entry: record.data,
            })?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<StreamVersion>, Error> {
        Ok(self.core.read().head(stream).version())
    }

    async fn read_entries(&self, from: LogIndex, limit: usize) -> Result<Vec<RawEntry>, Error> {
        self.core.read_entries(from, limit).await
    }

    async fn event_by_id(&self, id: EventId) -> Result<Option<StoredEvent>, Error> {
        let Some(index) = self.core.read().index_of(id) else {
            return Ok(None);
        };
        let raw = self.core.read_entries(index, 1).await?;
        raw.into_iter()
            .next()
            .map(StoredEvent::from_raw)
            .transpose()
    }

    async fn size(&self) -> Result<u64, Error> {
        Ok(self.core.read().size())
    }

    async fn wait_for_size(&self, size: u64, timeout: Duration) -> Result<u64, Error> {
        let mut rx = self.core.size.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|s| *s >= size)).await;
        let now = *rx.borrow();
        Ok(now)
    }

    async fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error> {
        let seq = self.core.read();
        ids.iter()
            .map(|id| {
                seq.tree().get(*id).ok_or_else(|| Error::Storage {
                    reason: format!(
                        "tree node level {} index {} is not in the log",
                        id.level, id.index
                    ),
                })
            })
            .collect()
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        let Some((_, cp)) = self.core.last_checkpoint().await? else {
            return Ok(None);
        };
        // Another process may have signed a size this one has not reached.
        if self.core.read().size() < cp.size {
            self.wait_for_size(cp.size, self.core.config.sequencing_timeout)
                .await?;
        }
        Ok(Some(cp))
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, Error> {
        self.core.checkpoints(from_size, limit).await
    }

    async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>, Error> {
        if self.core.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.core.store_checkpoint(true).await?;
        self.latest_checkpoint().await
    }

    async fn key_registry(&self) -> Result<KeyRegistry, Error> {
        Ok(self.core.read().registry().clone())
    }
}

impl Core {
    fn read(&self) -> RwLockReadGuard<'_, Sequence> {
        self.seq.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Sequence> {
        self.seq.write().unwrap_or_else(|p| p.into_inner())
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::Corrupt {
            path: format!("KurrentDB namespace {}", self.ns.as_str()),
            reason,
        }
    }

    /// Verifies author signatures against the keys known now (key status
    /// is judged again where the append lands in the log). A key this
    /// process has not seen may have been registered by another one: the
    /// log is caught up once before a key is called unknown.
    async fn verify_signatures(&self, events: &[PreparedEvent]) -> Result<(), Error> {
        let known = AuthorSignatures::resolve(self.read().registry(), events);
        let signatures = match known {
            Err(Error::UnknownKey { .. }) => {
                self.catch_up_all(Some(self.config.sequencing_timeout))
                    .await?;
                AuthorSignatures::resolve(self.read().registry(), events)?
            }
            other => other?,
        };
        if signatures.is_empty() {
            return Ok(());
        }
        self.signatures.verify_authors(signatures).await
    }

    async fn append(
        &self,
        stream: &StreamId,
        expected: ledger::ExpectedVersion,
        events: &[PreparedEvent],
    ) -> Result<Vec<Receipt>, Error> {
        let store_stream = self.ns.store_stream(stream);
        let mut caught_up = false;
        for _ in 0..MAX_ATTEMPTS {
            if let Some(answer) = self.already_in_log(events).await? {
                return answer;
            }
            // Seal on this process's view of the stream's head; the event
            // store then confirms that head is still the stream's.
            let sealed = {
                let seq = self.read();
                let head = seq.head(stream);
                match revision_check(stream, expected, &head) {
                    Ok(check) => {
                        let now = self.config.clock.now();
                        let recorded_at = [head.recorded_at.as_ref(), seq.last_recorded()]
                            .into_iter()
                            .flatten()
                            .fold(now, |at, t| if *t > at { t.clone() } else { at });
                        let first = StreamVersion(head.version().map_or(0, |v| v.0 + 1));
                        let prev = head.ledger.map_or(ledger::LeafHash::GENESIS, |(_, l)| l);
                        // Key status as this process sees it: refuses early
                        // what the sequencer would refuse.
                        let s =
                            seal_append(stream, events, first, prev, &recorded_at, seq.registry())?;
                        Ok((check, s))
                    }
                    Err(e) => Err(e),
                }
            };
            let (check, sealed) = match sealed {
                Ok(x) => x,
                Err(e) if caught_up => return Err(e),
                Err(_) => {
                    self.catch_up_stream(stream, None).await?;
                    caught_up = true;
                    continue;
                }
            };
            let marks = BatchMark::for_batch(events[0].event.id, events.len());
            let data: Vec<EventData> = events
                .iter()
                .zip(&sealed.entries)
                .zip(marks)
                .map(|((ev, (_, _, entry)), mark)| {
                    EventData::binary(ev.event.event_type.as_str(), Bytes::from(entry.clone()))
                        .id(event_uuid(ev.event.id))
                        .metadata(Bytes::from(mark.to_bytes()))
                })
                .collect();
            let options = AppendToStreamOptions::default().stream_state(stream_state(check));
            match self
                .client
                .append_to_stream(store_stream.clone(), &options, data)
                .await
            {
                Ok(written) => {
                    let last = written.next_expected_version;
                    let first = (last + 1).saturating_sub(events.len() as u64);
                    self.wait_for(
                        |s| s.revision(stream).is_some_and(|r| r >= last),
                        self.config.sequencing_timeout,
                        || format!("revision {last} of stream {stream}"),
                    )
                    .await?;
                    let refusal = self.write().take_refusal(stream, first);
                    match refusal {
                        None => {
                            let seq = self.read();
                            let receipts: Option<Vec<Receipt>> = events
                                .iter()
                                .zip(&sealed.entries)
                                .map(|(ev, (version, leaf, _))| {
                                    let index = seq.index_of(ev.event.id)?;
                                    (seq.leaf(index) == Some(*leaf)).then(|| Receipt {
                                        event_id: ev.event.id,
                                        stream: stream.clone(),
                                        version: *version,
                                        log_index: index,
                                        leaf_hash: *leaf,
                                    })
                                })
                                .collect();
                            if let Some(r) = receipts {
                                return Ok(r);
                            }
                            // The server took the write as a repeat of an
                            // earlier one: answer from the log (next round).
                        }
                        Some(Refusal::Rules(e)) => return Err(e),
                        // Lost a race the event store could not see (or a
                        // repeat): seal again on the new head.
                        Some(Refusal::Chain { .. } | Refusal::Duplicate { .. }) => {}
                        Some(other) => {
                            return Err(Error::Storage {
                                reason: other.to_string(),
                            });
                        }
                    }
                }
                Err(e) => match classify(e) {
                    WriteFailure::Conflict { current } => {
                        self.catch_up_stream(stream, current).await?;
                        caught_up = true;
                    }
                    WriteFailure::Other(e) => return Err(e),
                },
            }
        }
        Err(Error::Storage {
            reason: format!(
                "stream {stream} kept changing: gave up after {MAX_ATTEMPTS} attempts to append"
            ),
        })
    }

    /// The answer to an append some of whose events the log already holds:
    /// the original receipts if all are there with the same content.
    async fn already_in_log(
        &self,
        events: &[PreparedEvent],
    ) -> Result<Option<Result<Vec<Receipt>, Error>>, Error> {
        let found: Vec<(usize, LogIndex)> = {
            let seq = self.read();
            events
                .iter()
                .enumerate()
                .filter_map(|(k, e)| seq.index_of(e.event.id).map(|i| (k, i)))
                .collect()
        };
        if found.is_empty() {
            return Ok(None);
        }
        let mut receipts = Vec::with_capacity(found.len());
        for (k, index) in &found {
            let raw = self.read_entries(*index, 1).await?;
            let Some(raw) = raw.into_iter().next() else {
                return Err(Error::Storage {
                    reason: format!("entry {index} is missing from $all"),
                });
            };
            let stored = StoredEvent::from_raw(raw)?;
            if stored.event.proposed().content_digest()? != events[*k].content_digest() {
                return Ok(Some(Err(Error::IdempotencyConflict {
                    id: events[*k].event.id,
                })));
            }
            receipts.push(stored.receipt());
        }
        if found.len() == events.len() {
            Ok(Some(Ok(receipts)))
        } else {
            Ok(Some(Err(Error::PartialRetry {
                existing: found.len(),
                new: events.len() - found.len(),
            })))
        }
    }

    /// Waits until this process has sequenced the stream up to `revision`
    /// (or, if `None`, up to the stream's last record on the server).
    async fn catch_up_stream(&self, stream: &StreamId, revision: Option<u64>) -> Result<(), Error> {
        let target = match revision {
            Some(r) => Some(r),
            None => {
                let options = ReadStreamOptions::default()
                    .backwards()
                    .position(StreamPosition::End)
                    .max_count(1);
                self.read_records(self.ns.store_stream(stream), &options)
                    .await?
                    .first()
                    .map(|r| r.revision)
            }
        };
        let Some(target) = target else {
            return Ok(());
        };
        self.wait_for(
            |s| s.revision(stream).is_some_and(|r| r >= target),
            self.config.sequencing_timeout,
            || format!("revision {target} of stream {stream}"),
        )
        .await
    }

    /// Waits until this process has sequenced every ledger record `$all`
    /// holds now (`timeout` `None`: as long as it takes, as on open).
    async fn catch_up_all(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let options = ReadAllOptions::default()
            .backwards()
            .position(StreamPosition::End)
            .filter(self.filter())
            .max_count(1);
        let mut read = self.client.read_all(&options).await.map_err(esdb_error)?;
        let end = match read.next().await {
            Ok(Some(ev)) => ev.event.map(|r| position(r.position)),
            Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => None,
            Err(e) => return Err(esdb_error(e)),
        };
        let Some(end) = end else {
            return Ok(());
        };
        // A year: effectively "until done", still failing on a dead follower.
        let timeout = timeout.unwrap_or(Duration::from_secs(365 * 24 * 3600));
        self.wait_for(
            |s| s.position().is_some_and(|p| p >= end),
            timeout,
            || format!("$all position {}/{}", end.commit, end.prepare),
        )
        .await
    }

    /// Waits until `done` holds of the sequencer, or fails after `timeout`
    /// naming `what` was awaited and the follower's last failure.
    async fn wait_for(
        &self,
        done: impl Fn(&Sequence) -> bool,
        timeout: Duration,
        what: impl Fn() -> String,
    ) -> Result<(), Error> {
        let mut rx = self.progress.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.read()) {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::Closed),
                Err(_) => {
                    let failure = lock(&self.failure).clone().map_or(String::new(), |f| {
                        format!("; the last $all subscription failure: {f}")
                    });
                    return Err(Error::Storage {
                        reason: format!(
                            "this process has not sequenced {} within {timeout:?}{failure}",
                            what()
                        ),
                    });
                }
            }
        }
    }

    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter::on_stream_name().add_prefix(self.ns.stream_prefix())
    }

    /// Raw entries from `$all` at the positions the sequencer assigned.
    async fn read_entries(&self, from: LogIndex, limit: usize) -> Result<Vec<RawEntry>, Error> {
        let wanted: Vec<AllPosition> = self.read().positions(from, limit).to_vec();
        let mut out: Vec<RawEntry> = Vec::with_capacity(wanted.len());
        while out.len() < wanted.len() {
            let at = wanted[out.len()];
            let options = ReadAllOptions::default()
                .forwards()
                .position(StreamPosition::Position(Position {
                    commit: at.commit,
                    prepare: at.prepare,
                }))
                .filter(self.filter())
                .max_count(wanted.len() - out.len() + 16);
            let mut read = self.client.read_all(&options).await.map_err(esdb_error)?;
            let before = out.len();
            while out.len() < wanted.len() {
                let Some(ev) = read.next().await.map_err(esdb_error)? else {
                    break;
                };
                let Some(rec) = ev.event else { continue };
                let here = position(rec.position);
                let want = wanted[out.len()];
                if here < want {
                    // A refused record between entries.
                    continue;
                }
                let index = LogIndex(from.0 + out.len() as u64);
                if here > want {
                    return Err(self.corrupt(format!(
                        "entry {index} is no longer at $all position {}/{}",
                        want.commit, want.prepare
                    )));
                }
                out.push(RawEntry {
                    index,
                    entry: rec.data.to_vec(),
                });
            }
            if out.len() == before {
                return Err(self.corrupt(format!(
                    "entry {} is missing from $all",
                    from.0 + before as u64
                )));
            }
        }
        Ok(out)
    }

    /// The records of one stream read, none if the stream does not exist.
    async fn read_records(
        &self,
        store_stream: String,
        options: &ReadStreamOptions,
    ) -> Result<Vec<Record>, Error> {
        let mut read = match self.client.read_stream(store_stream, options).await {
            Ok(r) => r,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
            Err(e) => return Err(esdb_error(e)),
        };
        let mut out = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(ev)) => {
                    if let Some(rec) = ev.event {
                        out.push(to_record(&rec));
                    }
                }
                Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => return Ok(out),
                Err(e) => return Err(esdb_error(e)),
            }
        }
    }

    /// The newest stored checkpoint and its revision in the checkpoint stream.
    async fn last_checkpoint(&self) -> Result<Option<(u64, StoredCheckpoint)>, Error> {
        let options = ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::End)
            .max_count(1);
        self.read_checkpoints(&options)
            .await
            .map(|v| v.into_iter().next())
    }

    async fn read_checkpoints(
        &self,
        options: &ReadStreamOptions,
    ) -> Result<Vec<(u64, StoredCheckpoint)>, Error> {
        let records = self
            .read_records(self.ns.checkpoint_stream(), options)
            .await?;
        records
            .into_iter()
            .map(|r| {
                let (cp, _) = CheckpointRecord::from_bytes(&r.data)
                    .map_err(|e| self.corrupt(format!("checkpoint record {}: {e}", r.revision)))?;
                Ok((r.revision, cp))
            })
            .collect()
    }

    /// Checkpoints with size ≥ `from_size`: the first found by binary
    /// search over the checkpoint stream (sizes grow with revisions), then
    /// one forward read.
    async fn checkpoints(
        &self,
        from_size: u64,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, Error> {
        let Some((last, newest)) = self.last_checkpoint().await? else {
            return Ok(Vec::new());
        };
        if newest.size < from_size || limit == 0 {
            return Ok(Vec::new());
        }
        let (mut lo, mut hi) = (0u64, last);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let options = ReadStreamOptions::default()
                .forwards()
                .position(StreamPosition::Position(mid))
                .max_count(1);
            match self.read_checkpoints(&options).await?.first() {
                Some((_, cp)) if cp.size >= from_size => hi = mid,
                _ => lo = mid + 1,
            }
        }
        let options = ReadStreamOptions::default()
            .forwards()
            .position(StreamPosition::Position(lo))
            .max_count(limit);
        Ok(self
            .read_checkpoints(&options)
            .await?
            .into_iter()
            .map(|(_, cp)| cp)
            .collect())
    }

    /// Signs and stores a checkpoint of this process's log if it is larger
    /// than the newest stored one and, unless `force`, this process has not
    /// signed within the interval. Two processes racing store one: the
    /// loser's write meets the winner's revision and is dropped.
    async fn store_checkpoint(&self, force: bool) -> Result<(), Error> {
        let mut signed = self.signing.lock().await;
        if !force && signed.is_some_and(|t| t.elapsed() < self.config.checkpoint_interval) {
            return Ok(());
        }
        let last = self.last_checkpoint().await?;
        let (record, note) = {
            let seq = self.read();
            let size = seq.size();
            if size == 0 || last.as_ref().is_some_and(|(_, cp)| cp.size >= size) {
                return Ok(());
            }
            // Never sign a tree that does not extend the last checkpoint.
            if let Some((_, cp)) = &last {
                let root = merkle::tree_root(cp.size, seq.tree()).map_err(|e| Error::Storage {
                    reason: e.to_string(),
                })?;
                if root != cp.root {
                    return Err(self.corrupt(format!(
                        "the tree at size {} does not have the stored checkpoint's root",
                        cp.size
                    )));
                }
            }
            let cp = StoredCheckpoint::sign(&self.signer, size, seq.tree().root())?;
            (CheckpointRecord::new(&cp, seq.last_position())?, cp.note)
        };
        let state = match &last {
            None => StreamState::NoStream,
            Some((revision, _)) => StreamState::StreamRevision(*revision),
        };
        let data = EventData::binary(CHECKPOINT_EVENT_TYPE, Bytes::from(record.to_bytes()))
            .id(CheckpointRecord::id(&note));
        match self
            .client
            .append_to_stream(
                self.ns.checkpoint_stream(),
                &AppendToStreamOptions::default().stream_state(state),
                data,
            )
            .await
        {
            Ok(_) => {
                *signed = Some(Instant::now());
                Ok(())
            }
            Err(e) => match classify(e) {
                // Another process stored one first; the ticker comes back.
                WriteFailure::Conflict { .. } => Ok(()),
                WriteFailure::Other(e) => Err(e),
            },
        }
    }
}

/// Follows `$all` (the namespace's streams) into the sequencer, from where
/// it left off, re-subscribing after a failure.
async fn follow_all(core: Arc<Core>) {
    loop {
        let from = core.read().position();
        let options = SubscribeToAllOptions::default()
            .position(from.map_or(StreamPosition::Start, |p| {
                StreamPosition::Position(Position {
                    commit: p.commit,
                    prepare: p.prepare,
                })
            }))
            .filter(core.filter());
        let mut sub = core.client.subscribe_to_all(&options).await;
        loop {
            match sub.next_subscription_event().await {
                Ok(SubscriptionEvent::EventAppeared(ev)) => {
                    let Some(rec) = ev.event else { continue };
                    let size = {
                        let mut seq = core.write();
                        seq.apply(to_record(&rec));
                        seq.size()
                    };
                    core.size.send_if_modified(|s| {
                        let grew = size > *s;
                        *s = size;
                        grew
                    });
                    core.progress.send_modify(|n| *n += 1);
                }
                Ok(_) => {}
                Err(e) => {
                    *lock(&core.failure) = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

/// Signs a checkpoint when one is due, a few times per interval. Ends with
/// the store.
async fn tick(core: std::sync::Weak<Core>) {
    loop {
        let period = match core.upgrade() {
            Some(c) => (c.config.checkpoint_interval / 4).max(Duration::from_millis(20)),
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(c) = core.upgrade() else { return };
        if c.closed.load(Ordering::Acquire) {
            return;
        }
        // A failure is retried next tick; appends report storage errors.
        let _ = c.store_checkpoint(false).await;
    }
}

/// Binds the namespace to one log: the first process writes the identity
/// record, every later one must match it.
async fn bind_identity(client: &Client, ns: &Namespace, signer: &NoteSigner) -> Result<(), Error> {
    let ours = IdentityRecord::of(&signer.verifier());
    for _ in 0..2 {
        let options = ReadStreamOptions::default().forwards().max_count(1);
        let existing = match client.read_stream(ns.identity_stream(), &options).await {
            Ok(mut read) => match read.next().await {
                Ok(Some(ev)) => ev.event.map(|r| r.data),
                Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => None,
                Err(e) => return Err(esdb_error(e)),
            },
            Err(kurrentdb::Error::ResourceNotFound) => None,
            Err(e) => return Err(esdb_error(e)),
        };
        if let Some(bytes) = existing {
            let theirs = IdentityRecord::from_bytes(&bytes)?;
            if theirs != ours {
                return Err(Error::Storage {
                    reason: format!(
                        "KurrentDB namespace {} belongs to log {} (key {}), not to {} (key {})",
                        ns.as_str(),
                        theirs.origin,
                        theirs.key,
                        ours.origin,
                        ours.key
                    ),
                });
            }
            return Ok(());
        }
        let data = EventData::binary(IDENTITY_EVENT_TYPE, Bytes::from(ours.to_bytes()));
        let options = AppendToStreamOptions::default().stream_state(StreamState::NoStream);
        match client
            .append_to_stream(ns.identity_stream(), &options, data)
            .await
        {
            Ok(_) => return Ok(()),
            // Another process bound it first: read theirs.
            Err(e) => match classify(e) {
                WriteFailure::Conflict { .. } => {}
                WriteFailure::Other(e) => return Err(e),
            },
        }
    }
    Err(Error::Storage {
        reason: format!(
            "KurrentDB namespace {}: its identity record cannot be read",
            ns.as_str()
        ),
    })
}

/// A failed write, sorted by what the appender does next.
#[derive(Debug)]
enum WriteFailure {
    /// The event store's optimistic concurrency check failed: the stream's
    /// last record is at `current` (`None`: the stream has none).
    Conflict { current: Option<u64> },
    /// Anything else, as the ledger's storage error.
    Other(Error),
}

fn classify(e: kurrentdb::Error) -> WriteFailure {
    match e {
        kurrentdb::Error::WrongExpectedVersion { current, .. } => WriteFailure::Conflict {
            current: match current {
                CurrentRevision::Current(r) => Some(r),
                CurrentRevision::NoStream => None,
            },
        },
        other => WriteFailure::Other(esdb_error(other)),
    }
}

fn esdb_error(e: kurrentdb::Error) -> Error {
    Error::Storage {
        reason: format!("KurrentDB: {e}"),
    }
}

fn stream_state(check: RevisionCheck) -> StreamState {
    match check {
        RevisionCheck::NoStream => StreamState::NoStream,
        RevisionCheck::Revision(r) => StreamState::StreamRevision(r),
    }
}

fn position(p: Position) -> AllPosition {
    AllPosition {
        commit: p.commit,
        prepare: p.prepare,
    }
}

fn to_record(rec: &RecordedEvent) -> Record {
    Record {
        stream: rec.stream_id().to_owned(),
        revision: rec.revision,
        id: rec.id,
        data: rec.data.to_vec(),
        metadata: rec.custom_metadata.to_vec(),
        position: position(rec.position),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{StreamHead, conflict};
    use ledger::ExpectedVersion;

    #[test]
    fn wrong_expected_version_becomes_the_ledgers_conflict_with_the_current_version() {
        let e = kurrentdb::Error::WrongExpectedVersion {
            expected: StreamState::StreamRevision(3),
            current: CurrentRevision::Current(5),
        };
        let WriteFailure::Conflict { current } = classify(e) else {
            panic!("a conflict");
        };
        assert_eq!(current, Some(5));
        // Sequenced up to revision 5 (no record refused: version 5).
        let stream = StreamId::new("case-c").unwrap();
        let head = StreamHead {
            ledger: Some((StreamVersion(5), ledger::LeafHash::GENESIS)),
            revision: current,
            ..StreamHead::default()
        };
        let err = conflict(&stream, ExpectedVersion::Exact(StreamVersion(3)), &head);
        match &err {
            Error::WrongExpectedVersion {
                current: Some(StreamVersion(5)),
                expected: ExpectedVersion::Exact(StreamVersion(3)),
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("is at version 5"), "{err}");

        let e = kurrentdb::Error::WrongExpectedVersion {
            expected: StreamState::StreamExists,
            current: CurrentRevision::NoStream,
        };
        assert!(matches!(
            classify(e),
            WriteFailure::Conflict { current: None }
        ));
        let err = conflict(
            &stream,
            ExpectedVersion::StreamExists,
            &StreamHead::default(),
        );
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn other_client_errors_are_storage_errors_naming_kurrentdb() {
        for e in [
            kurrentdb::Error::AccessDenied,
            kurrentdb::Error::ConnectionClosed,
            kurrentdb::Error::ServerError("Maximum Append Size exceeded".into()),
        ] {
            let text = e.to_string();
            match classify(e) {
                WriteFailure::Other(Error::Storage { reason }) => {
                    assert!(reason.starts_with("KurrentDB: "), "{reason}");
                    assert!(reason.contains(&text), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn revision_checks_become_the_clients_stream_states() {
        assert_eq!(stream_state(RevisionCheck::NoStream), StreamState::NoStream);
        assert_eq!(
            stream_state(RevisionCheck::Revision(7)),
            StreamState::StreamRevision(7)
        );
    }

    #[test]
    fn recorded_events_become_records_with_their_bytes_id_and_position() {
        // The client's RecordedEvent has a private stream field, so the
        // conversion is checked on the pieces it copies.
        assert_eq!(
            position(Position {
                commit: 10,
                prepare: 9
            }),
            AllPosition {
                commit: 10,
                prepare: 9
            }
        );
        assert!(
            position(Position {
                commit: 10,
                prepare: 11
            }) > position(Position {
                commit: 10,
                prepare: 9
            })
        );
    }

    #[test]
    fn a_bad_connection_string_is_refused_before_any_io() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let signer = NoteSigner::generate("test.example/log").unwrap();
        let err = rt
            .block_on(KurrentStore::open(
                "http://nowhere",
                signer,
                KurrentConfig::default(),
            ))
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("KurrentDB connection string"),
            "{err}"
        );
    }
}
