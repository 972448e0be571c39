//! The sequencer: group commit under the log's advisory lock.
//!
//! Each process runs one sequencer task. It takes every append queued in
//! its process (up to [`crate::PostgresConfig::max_group_events`]) and
//! sequences them in one transaction:
//!
//! 1. `BEGIN`, then `pg_advisory_xact_lock` on the log: from here until
//!    `COMMIT` no other process sequences. The lock is the transaction's, so
//!    a process that dies mid-group (SIGKILL, a lost connection) releases it
//!    with its rollback, and the next process waiting takes it at once.
//! 2. Read `log_head` (size, frontier, last `recorded_at`, last checkpoint)
//!    and the `registry` events this process has not seen (usually none),
//!    which bring its key registry up to date. If the log grew since this
//!    process last held the lock, its cached stream heads are dropped, but
//!    for the group's streams, updated from the rows appended since.
//! 3. Look up, in one query each, the heads of the group's streams and any
//!    of its event ids already in the log.
//! 4. Check each append in order against the log and the group so far
//!    (idempotency, expected version, key status at the moment of
//!    sequencing), seal its events and extend the Merkle tree. A refused
//!    append writes nothing and leaves the rest of its group alone.
//! 5. Insert entries, tree nodes, a signed checkpoint when one is due, the
//!    new `log_head`, and `pg_notify` the new size; then `COMMIT` with
//!    `synchronous_commit = on`. Only then is any append of the group
//!    answered.
//!
//! A group takes two round trips to the database, requests pipelined on
//! its one connection: `BEGIN`, the lock, `log_head`, the ids already there,
//! the heads of the streams not cached, the registry events this process
//! has not seen, and, for the streams whose heads it has cached, their rows
//! appended since it last sequenced (at most
//! [`crate::PostgresConfig::catch_up_rows`] rows past that size, an index
//! range on `idx`, empty unless another process sequenced since); then
//! every write and `COMMIT`. The server runs a connection's requests in
//! order, so everything after the lock runs holding it. So several
//! processes taking turns hold the lock for two round trips a group, not
//! three; only a process that fell further behind than that reads its
//! cached heads again, in a round trip between them.
//!
//! Any storage failure fails the whole group: its connection is thrown away
//! (the server rolls the transaction back), nothing of it was acknowledged,
//! and the next group starts from what the database holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use ledger::merkle::{Frontier, Hash, HashReader, NodeId};
use ledger::note::NoteSigner;
use ledger::store::{
    PreparedAppend, RawEntry, SealedAppend, StoredCheckpoint, StoredEvent, seal_append,
};
use ledger::{Clock, Timestamp};
use ledger::{Error, EventId, KeyRegistry, LeafHash, LogIndex, Receipt, StreamId, StreamVersion};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::Row;

use crate::pg_error;

/// Opens a sequencing transaction: durable commit, bounded waits, the lock.
/// The numbers are [`crate::LOCK_NAMESPACE`] and [`crate::LOCK_LOG`].
pub(crate) const BEGIN_SEQUENCING: &str = "BEGIN;
    SET LOCAL synchronous_commit TO on;
    SET LOCAL lock_timeout TO '30s';
    SET LOCAL idle_in_transaction_session_timeout TO '10s';
    SELECT pg_advisory_xact_lock(1279607879, 1)";

/// The channel `pg_notify` announces a new log size on.
pub(crate) const NOTIFY_CHANNEL: &str = "ledger_log";

/// Where an append's answer goes.
pub(crate) type Reply = oneshot::Sender<Result<Vec<Receipt>, Error>>;

pub(crate) enum Job {
    Append {
        request: PreparedAppend,
        reply: Reply,
    },
    /// Sign a checkpoint: `force` signs now if the log grew since the last
    /// one; otherwise only when the interval has passed (the ticker's).
    Checkpoint {
        force: bool,
        reply: Option<oneshot::Sender<Result<(), Error>>>,
    },
}

impl Job {
    fn events(&self) -> usize {
        match self {
            Job::Append { request, .. } => request.events.len(),
            Job::Checkpoint { .. } => 0,
        }
    }
}

/// The key registry as of the first `next` events of the `registry` stream.
#[derive(Clone, Default)]
pub(crate) struct RegistryView {
    pub registry: KeyRegistry,
    pub next: u64,
}

impl RegistryView {
    /// Applies the registry events after `next`, read through `client`.
    pub(crate) async fn refresh(
        &mut self,
        client: &deadpool_postgres::ClientWrapper,
        db: &str,
    ) -> Result<bool, Error> {
        let st = client
            .prepare_cached(
                "SELECT idx, entry FROM events WHERE stream = $1 AND version >= $2 ORDER BY version",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(&st, &[&StreamId::REGISTRY, &to_i64(self.next)])
            .await
            .map_err(pg_error)?;
        let changed = !rows.is_empty();
        for row in rows {
            let raw = raw_entry(&row);
            let index = raw.index;
            let corrupt = |e: Error| Error::Corrupt {
                path: db.to_owned(),
                reason: format!("registry entry {index}: {e}"),
            };
            let stored = StoredEvent::from_raw(raw).map_err(corrupt)?;
            self.registry.apply(&stored.event).map_err(corrupt)?;
            self.next = stored.event.version.0 + 1;
        }
        Ok(changed)
    }
}

/// What the process shares between its sequencer and its readers.
pub(crate) struct Shared {
    /// The largest log size this process has seen committed.
    pub size: watch::Sender<u64>,
    pub registry: RwLock<RegistryView>,
    pub stats: SequencerCounters,
}

/// What one process's sequencer has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SequencerStats {
    /// Transactions that took the lock.
    pub groups: u64,
    /// Of those, the ones that found the log grown by another process.
    pub after_others: u64,
    /// Of those, the ones that needed a third round trip: the process had
    /// fallen more than `catch_up_rows` behind and had heads of the group's
    /// streams cached.
    pub third_round_trips: u64,
}

#[derive(Default)]
pub(crate) struct SequencerCounters {
    groups: AtomicU64,
    after_others: AtomicU64,
    third_round_trips: AtomicU64,
}

impl SequencerCounters {
    pub(crate) fn snapshot(&self) -> SequencerStats {
        SequencerStats {
            groups: self.groups.load(Ordering::Relaxed),
            after_others: self.after_others.load(Ordering::Relaxed),
            third_round_trips: self.third_round_trips.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    pub(crate) fn saw_size(&self, size: u64) {
        self.size.send_if_modified(|s| {
            let grew = size > *s;
            *s = (*s).max(size);
            grew
        });
    }
}

pub(crate) struct Sequencer {
    pub pool: Pool,
    pub db: String,
    pub signer: NoteSigner,
    pub clock: Clock,
    pub checkpoint_interval: Duration,
    pub max_group_events: usize,
    /// See [`crate::PostgresConfig::catch_up_rows`].
    pub catch_up_rows: u64,
    pub shared: Arc<Shared>,
    /// The log size when this process last committed or read it under the
    /// lock; `None` after a failure (nothing cached is trusted then).
    pub known_size: Option<u64>,
    /// Heads of recently written streams, valid while `known_size` is the
    /// log's size.
    pub heads: HashMap<StreamId, (StreamVersion, LeafHash)>,
    pub registry: RegistryView,
}

/// Streams whose heads the sequencer keeps before starting afresh.
const HEAD_CACHE_STREAMS: usize = 100_000;

/// A request's outcome inside a group.
enum Outcome {
    Done(Vec<Receipt>),
    Refused(Error),
}

/// The `log_head` row.
struct Head {
    size: u64,
    frontier: Frontier,
    last_recorded: Option<Timestamp>,
    checkpoint_size: u64,
    /// Milliseconds since the last checkpoint, by the database's clock.
    since_checkpoint_ms: Option<i64>,
}

/// Rows of one group, column by column (inserted with `UNNEST`).
#[derive(Default)]
struct Rows {
    idx: Vec<i64>,
    id: Vec<Vec<u8>>,
    stream: Vec<String>,
    version: Vec<i64>,
    leaf: Vec<Vec<u8>>,
    entry: Vec<Vec<u8>>,
    node_level: Vec<i16>,
    node_idx: Vec<i64>,
    node_hash: Vec<Vec<u8>>,
}

/// Everything one group has decided, not yet committed.
struct Group {
    frontier: Frontier,
    last_recorded: Option<Timestamp>,
    /// The registry after this group's registry events, if it has any.
    registry: Option<KeyRegistry>,
    heads: HashMap<StreamId, (StreamVersion, LeafHash)>,
    /// Ids of the group already in the log: receipt and content digest.
    existing: HashMap<EventId, (Receipt, [u8; 32])>,
    /// Ids sequenced earlier in this group: receipt, request, event.
    sequenced: HashMap<EventId, (Receipt, usize, usize)>,
    rows: Rows,
}

impl Sequencer {
    /// Runs until every sender is gone, then signs a last checkpoint.
    pub(crate) async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = jobs.recv().await {
            let mut events = first.events();
            let mut group = vec![first];
            while events < self.max_group_events {
                match jobs.try_recv() {
                    Ok(job) => {
                        events += job.events();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group).await;
        }
        // Nothing left unsigned by this process's appends.
        self.commit_group(vec![Job::Checkpoint {
            force: true,
            reply: None,
        }])
        .await;
    }

    async fn commit_group(&mut self, jobs: Vec<Job>) {
        let mut appends = Vec::new();
        let mut replies = Vec::new();
        let mut force = false;
        for job in jobs {
            match job {
                Job::Append { request, reply } => appends.push((request, reply)),
                Job::Checkpoint { force: f, reply } => {
                    force |= f;
                    replies.extend(reply);
                }
            }
        }
        if appends.is_empty() && !force {
            // A tick: look without the lock whether a checkpoint is due.
            match self.checkpoint_due().await {
                Ok(false) => {
                    for r in replies {
                        let _ = r.send(Ok(()));
                    }
                    return;
                }
                Ok(true) => {}
                Err(e) => return fail(appends, replies, &e),
            }
        }
        let client = match self.pool.get().await {
            Ok(c) => c,
            Err(e) => {
                let e = Error::Storage {
                    reason: format!("connecting to PostgreSQL database {}: {e}", self.db),
                };
                return fail(appends, replies, &e);
            }
        };
        match self.transact(&client, &appends, force).await {
            Ok((size, outcomes)) => {
                self.shared.saw_size(size);
                for ((_, reply), outcome) in appends.into_iter().zip(outcomes) {
                    let _ = reply.send(match outcome {
                        Outcome::Done(r) => Ok(r),
                        Outcome::Refused(e) => Err(e),
                    });
                }
                for r in replies {
                    let _ = r.send(Ok(()));
                }
            }
            Err(e) => {
                // The transaction may be open: close the connection (the
                // server rolls back and releases the lock) rather than
                // return it to the pool.
                drop(Object::take(client));
                self.known_size = None;
                self.heads.clear();
                fail(appends, replies, &e);
            }
        }
    }

    /// Whether the log has grown past its last checkpoint and the interval
    /// has passed (by the database's clock, which every process shares).
    async fn checkpoint_due(&self) -> Result<bool, Error> {
        let client = self.pool.get().await.map_err(|e| Error::Storage {
            reason: format!("connecting to PostgreSQL database {}: {e}", self.db),
        })?;
        let st = client
            .prepare_cached(
                "SELECT size > checkpoint_size AND (checkpoint_at IS NULL
                     OR clock_timestamp() - checkpoint_at >= $1 * interval '1 millisecond')
                 FROM log_head",
            )
            .await
            .map_err(pg_error)?;
        let interval_ms = self.checkpoint_interval.as_millis() as f64;
        Ok(client
            .query_one(&st, &[&interval_ms])
            .await
            .map_err(pg_error)?
            .get(0))
    }

    /// One group in one transaction; `Err` means nothing was committed (or
    /// the commit's outcome is unknown: either way nothing is acknowledged).
    async fn transact(
        &mut self,
        client: &Object,
        appends: &[(PreparedAppend, Reply)],
        force: bool,
    ) -> Result<(u64, Vec<Outcome>), Error> {
        // One round trip: BEGIN and the lock, then, run by the server in the
        // order sent and so once the lock is held, the head, the group's ids
        // already in the log, the heads of its streams not cached here, the
        // registry events not seen here, and the rows of its cached streams
        // since this process last sequenced.
        let begin = async {
            client
                .batch_execute(BEGIN_SEQUENCING)
                .await
                .map_err(pg_error)
        };
        let (uncached, cached) = self.group_streams(appends);
        let since = self.known_size;
        let mut registry = std::mem::take(&mut self.registry);
        let lookups = async {
            if appends.is_empty() {
                return Ok((HashMap::new(), HashMap::new(), HashMap::new()));
            }
            futures::try_join!(
                self.read_heads(client, &uncached),
                self.read_existing(client, appends),
                self.read_heads_since(client, since, &cached)
            )
        };
        let first = futures::try_join!(
            begin,
            self.read_head(client),
            lookups,
            registry.refresh(client, &self.db)
        );
        self.registry = registry;
        let ((), head, (mut heads, existing, moved), refreshed) = first?;
        self.shared.stats.groups.fetch_add(1, Ordering::Relaxed);
        if refreshed {
            self.publish_registry();
        }
        // Another process sequenced since: the cached heads are stale. Those
        // of the group's streams are brought up to date from the rows read
        // above if they covered everything since; otherwise they are read
        // again, in a round trip of their own.
        if self.known_size != Some(head.size) {
            self.shared
                .stats
                .after_others
                .fetch_add(1, Ordering::Relaxed);
            let covered =
                since.is_some_and(|k| head.size >= k && head.size - k <= self.catch_up_rows);
            let cached_heads = std::mem::take(&mut self.heads);
            if covered {
                for &stream in &cached {
                    if let Some(h) = moved.get(stream).or_else(|| cached_heads.get(stream)) {
                        heads.insert(stream.clone(), *h);
                    }
                }
            } else if !cached.is_empty() {
                self.shared
                    .stats
                    .third_round_trips
                    .fetch_add(1, Ordering::Relaxed);
                let cached: Vec<&str> = cached.iter().map(|s| s.as_str()).collect();
                heads.extend(self.read_heads(client, &cached).await?);
            }
        }
        let mut group = Group {
            frontier: head.frontier,
            last_recorded: head.last_recorded,
            registry: None,
            heads: HashMap::new(),
            existing: HashMap::new(),
            sequenced: HashMap::new(),
            rows: Rows::default(),
        };
        group.heads = heads;
        group.existing = existing;
        let outcomes: Vec<Outcome> = (0..appends.len())
            .map(|k| self.apply(&mut group, appends, k))
            .collect::<Result<_, _>>()?;

        let size = group.frontier.size();
        let grew = size > head.size;
        let due = size > head.checkpoint_size
            && (force
                || head
                    .since_checkpoint_ms
                    .is_none_or(|ms| ms >= self.checkpoint_interval.as_millis() as i64));
        let checkpoint = if due {
            Some(self.sign_checkpoint(&group.frontier)?)
        } else {
            None
        };
        if grew || checkpoint.is_some() {
            self.write_and_commit(client, &group, checkpoint, head.checkpoint_size)
                .await?;
        } else {
            client.batch_execute("COMMIT").await.map_err(pg_error)?;
        }

        // Committed: the group's view becomes the process's.
        self.known_size = Some(size);
        if self.heads.len() + group.heads.len() > HEAD_CACHE_STREAMS {
            self.heads.clear();
        }
        self.heads.extend(group.heads);
        if let Some(registry) = group.registry {
            self.registry.registry = registry;
            if let Some((v, _)) = self.heads.get(&StreamId::registry()) {
                self.registry.next = v.0 + 1;
            }
            self.publish_registry();
        }
        Ok((size, outcomes))
    }

    fn publish_registry(&self) {
        let mut shared = self
            .shared
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if self.registry.next > shared.next {
            *shared = self.registry.clone();
        }
    }

    async fn read_head(&self, client: &Object) -> Result<Head, Error> {
        let st = client
            .prepare_cached(
                "SELECT size, frontier, last_recorded, checkpoint_size,
                        (EXTRACT(EPOCH FROM clock_timestamp() - checkpoint_at) * 1000)::bigint
                 FROM log_head",
            )
            .await
            .map_err(pg_error)?;
        let row = client.query_one(&st, &[]).await.map_err(pg_error)?;
        let corrupt = |reason: String| Error::Corrupt {
            path: self.db.clone(),
            reason,
        };
        let size = to_u64(row.get(0));
        let edge: &[u8] = row.get(1);
        let hashes = edge
            .chunks(32)
            .map(Hash::from_slice)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| corrupt("the stored tree frontier is not whole hashes".into()))?;
        let frontier = Frontier::load(size, &StoredFrontier(&hashes))
            .map_err(|e| corrupt(format!("the stored tree frontier for size {size}: {e}")))?;
        let last_recorded = row
            .get::<_, Option<&str>>(2)
            .map(Timestamp::parse)
            .transpose()
            .map_err(|e| corrupt(format!("the last recorded_at: {e}")))?;
        Ok(Head {
            size,
            frontier,
            last_recorded,
            checkpoint_size: to_u64(row.get(3)),
            since_checkpoint_ms: row.get(4),
        })
    }

    /// The group's streams, sorted, once each: those whose heads are not
    /// cached here, and those whose heads are.
    fn group_streams<'a>(
        &self,
        appends: &'a [(PreparedAppend, Reply)],
    ) -> (Vec<&'a str>, Vec<&'a StreamId>) {
        let mut streams: Vec<&StreamId> = appends.iter().map(|(a, _)| &a.stream).collect();
        streams.sort_unstable();
        streams.dedup();
        let (cached, uncached): (Vec<&StreamId>, Vec<&StreamId>) = streams
            .into_iter()
            .partition(|s| self.heads.contains_key(*s));
        (uncached.into_iter().map(StreamId::as_str).collect(), cached)
    }

    /// The last event of each of `streams` among the log's rows from `since`
    /// on (at most `catch_up_rows` of them): the heads that moved since this
    /// process last sequenced. One range of the `idx` key, empty when no one
    /// else has sequenced since.
    async fn read_heads_since(
        &self,
        client: &Object,
        since: Option<u64>,
        streams: &[&StreamId],
    ) -> Result<HashMap<StreamId, (StreamVersion, LeafHash)>, Error> {
        let mut heads = HashMap::new();
        let Some(since) = since else {
            return Ok(heads);
        };
        if streams.is_empty() {
            return Ok(heads);
        }
        let st = client
            .prepare_cached(
                "SELECT DISTINCT ON (stream) stream, version, leaf FROM events
                 WHERE idx >= $1 AND idx < $2 AND stream = ANY($3)
                 ORDER BY stream, version DESC",
            )
            .await
            .map_err(pg_error)?;
        let until = since.saturating_add(self.catch_up_rows);
        let streams: Vec<&str> = streams.iter().map(|s| s.as_str()).collect();
        let rows = client
            .query(&st, &[&to_i64(since), &to_i64(until), &streams])
            .await
            .map_err(pg_error)?;
        for row in rows {
            let (stream, head) = self.head_row(&row)?;
            heads.insert(stream, head);
        }
        Ok(heads)
    }

    /// A `(stream, version, leaf)` row.
    fn head_row(&self, row: &Row) -> Result<(StreamId, (StreamVersion, LeafHash)), Error> {
        let stream = StreamId::new(row.get(0))?;
        let leaf: &[u8] = row.get(2);
        let leaf = Hash::from_slice(leaf).ok_or_else(|| Error::Corrupt {
            path: self.db.clone(),
            reason: format!("stream {stream}: its last leaf hash is not 32 bytes"),
        })?;
        Ok((stream, (StreamVersion(to_u64(row.get(1))), LeafHash(leaf))))
    }

    /// The heads of `wanted` streams, one index probe each (a stream with
    /// no events has no row).
    async fn read_heads(
        &self,
        client: &Object,
        wanted: &[&str],
    ) -> Result<HashMap<StreamId, (StreamVersion, LeafHash)>, Error> {
        let mut heads = HashMap::new();
        if wanted.is_empty() {
            return Ok(heads);
        }
        let st = client
            .prepare_cached(
                "SELECT s.stream, e.version, e.leaf
                 FROM unnest($1::text[]) AS s(stream)
                 CROSS JOIN LATERAL (
                     SELECT version, leaf FROM events
                     WHERE events.stream = s.stream ORDER BY version DESC LIMIT 1) AS e",
            )
            .await
            .map_err(pg_error)?;
        for row in client.query(&st, &[&wanted]).await.map_err(pg_error)? {
            let (stream, head) = self.head_row(&row)?;
            heads.insert(stream, head);
        }
        Ok(heads)
    }

    /// The group's event ids already in the log (usually none).
    async fn read_existing(
        &self,
        client: &Object,
        appends: &[(PreparedAppend, Reply)],
    ) -> Result<HashMap<EventId, (Receipt, [u8; 32])>, Error> {
        let ids: Vec<Vec<u8>> = appends
            .iter()
            .flat_map(|(a, _)| &a.events)
            .map(|e| e.event.id.0.to_bytes().to_vec())
            .collect();
        let st = client
            .prepare_cached("SELECT idx, entry FROM events WHERE id = ANY($1)")
            .await
            .map_err(pg_error)?;
        let mut existing = HashMap::new();
        for row in client.query(&st, &[&ids]).await.map_err(pg_error)? {
            let stored = StoredEvent::from_raw(raw_entry(&row))?;
            let digest = stored.event.proposed().content_digest()?;
            existing.insert(stored.event.id, (stored.receipt(), digest));
        }
        Ok(existing)
    }

    /// Sequences request `k` into the group. `Ok(Refused)` writes nothing.
    fn apply(
        &self,
        group: &mut Group,
        appends: &[(PreparedAppend, Reply)],
        k: usize,
    ) -> Result<Outcome, Error> {
        let request = &appends[k].0;
        if let Some(outcome) = already_sequenced(group, appends, request) {
            return Ok(outcome);
        }
        let head = group
            .heads
            .get(&request.stream)
            .or_else(|| self.heads.get(&request.stream))
            .copied();
        let current = head.map(|(v, _)| v);
        if !request.expected.admits(current) {
            return Ok(Outcome::Refused(Error::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                current,
            }));
        }

        // Server time never runs backwards along the log, whichever process
        // sequenced the previous entry.
        let now = self.clock.now();
        let recorded_at = match &group.last_recorded {
            Some(last) if last > &now => last.clone(),
            _ => now,
        };

        // Key status, registry changes and entries, before anything is kept.
        let base = group.registry.as_ref().unwrap_or(&self.registry.registry);
        let prev = head.map_or(LeafHash::GENESIS, |(_, leaf)| leaf);
        let first = StreamVersion(current.map_or(0, |v| v.0 + 1));
        let SealedAppend {
            entries: sealed,
            registry: changed,
        } = match seal_append(
            &request.stream,
            &request.events,
            first,
            prev,
            &recorded_at,
            base,
        ) {
            Ok(s) => s,
            Err(e) => return Ok(Outcome::Refused(e)),
        };

        // Accepted: extend the tree and queue the rows.
        let mut receipts = Vec::with_capacity(sealed.len());
        let mut nodes = Vec::new();
        for (e, (ev, (version, leaf, entry))) in request.events.iter().zip(sealed).enumerate() {
            let index = group.frontier.size();
            nodes.clear();
            group.frontier.push_into(leaf.0, &mut nodes);
            let rows = &mut group.rows;
            for (id, hash) in nodes.iter().filter(|(id, _)| id.level > 0) {
                rows.node_level.push(i16::from(id.level));
                rows.node_idx.push(to_i64(id.index));
                rows.node_hash.push(hash.0.to_vec());
            }
            rows.idx.push(to_i64(index));
            rows.id.push(ev.event.id.0.to_bytes().to_vec());
            rows.stream.push(request.stream.as_str().to_owned());
            rows.version.push(to_i64(version.0));
            rows.leaf.push(leaf.0.0.to_vec());
            rows.entry.push(entry);
            let receipt = Receipt {
                event_id: ev.event.id,
                stream: request.stream.clone(),
                version,
                log_index: LogIndex(index),
                leaf_hash: leaf,
            };
            group.sequenced.insert(ev.event.id, (receipt.clone(), k, e));
            receipts.push(receipt);
        }
        if let Some(last) = receipts.last() {
            group
                .heads
                .insert(request.stream.clone(), (last.version, last.leaf_hash));
        }
        if let Some(reg) = changed {
            group.registry = Some(reg);
        }
        group.last_recorded = Some(recorded_at);
        Ok(Outcome::Done(receipts))
    }

    /// A C2SP checkpoint of the tree at `frontier`, signed with the log key.
    fn sign_checkpoint(&self, frontier: &Frontier) -> Result<StoredCheckpoint, Error> {
        StoredCheckpoint::sign(&self.signer, frontier.size(), frontier.root())
    }

    /// The group's writes and `COMMIT`, pipelined on the one connection:
    /// the statements are prepared first (cached), then every write is sent,
    /// `COMMIT` last, and the answers awaited together. A failed write
    /// aborts the transaction — the `COMMIT` behind it then rolls back —
    /// and fails the group.
    async fn write_and_commit(
        &self,
        client: &Object,
        group: &Group,
        checkpoint: Option<StoredCheckpoint>,
        checkpoint_size: u64,
    ) -> Result<(), Error> {
        let r = &group.rows;
        let insert_events = client
            .prepare_cached(
                "INSERT INTO events(idx, id, stream, version, leaf, entry)
                 SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::bigint[],
                                      $5::bytea[], $6::bytea[])",
            )
            .await
            .map_err(pg_error)?;
        let insert_nodes = client
            .prepare_cached(
                "INSERT INTO nodes(level, idx, hash)
                 SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
            )
            .await
            .map_err(pg_error)?;
        let insert_checkpoint = client
            .prepare_cached("INSERT INTO checkpoints(size, root, note) VALUES ($1, $2, $3)")
            .await
            .map_err(pg_error)?;
        let update_head = client
            .prepare_cached(
                "UPDATE log_head SET size = $1, frontier = $2, last_recorded = $3,
                     checkpoint_size = $4,
                     checkpoint_at = CASE WHEN $5 THEN clock_timestamp() ELSE checkpoint_at END",
            )
            .await
            .map_err(pg_error)?;
        let notify = client
            .prepare_cached("SELECT pg_notify($1, $2)")
            .await
            .map_err(pg_error)?;

        let size = group.frontier.size();
        let edge: Vec<u8> = group.frontier.hashes().iter().flat_map(|h| h.0).collect();
        let last_recorded = group.last_recorded.as_ref().map(|t| t.as_str());
        let signed = checkpoint.is_some();
        let new_checkpoint_size = to_i64(checkpoint.as_ref().map_or(checkpoint_size, |c| c.size));
        let size_text = size.to_string();
        let events = async {
            if !r.idx.is_empty() {
                client
                    .execute(
                        &insert_events,
                        &[&r.idx, &r.id, &r.stream, &r.version, &r.leaf, &r.entry],
                    )
                    .await?;
            }
            Ok(())
        };
        let nodes = async {
            if !r.node_idx.is_empty() {
                client
                    .execute(&insert_nodes, &[&r.node_level, &r.node_idx, &r.node_hash])
                    .await?;
            }
            Ok(())
        };
        let cp = async {
            if let Some(StoredCheckpoint { size, root, note }) = &checkpoint {
                client
                    .execute(&insert_checkpoint, &[&to_i64(*size), &&root.0[..], &note])
                    .await?;
            }
            Ok(())
        };
        let size_i64 = to_i64(size);
        let head = async {
            client
                .execute(
                    &update_head,
                    &[
                        &size_i64,
                        &edge,
                        &last_recorded,
                        &new_checkpoint_size,
                        &signed,
                    ],
                )
                .await?;
            Ok(())
        };
        let announce = async {
            client
                .execute(&notify, &[&NOTIFY_CHANNEL, &size_text])
                .await?;
            Ok(())
        };
        // Polled (so sent) in this order: COMMIT goes after every write.
        let commit = client.batch_execute("COMMIT");
        futures::try_join!(events, nodes, cp, head, announce, commit)
            .map_err(|e: tokio_postgres::Error| pg_error(e))?;
        Ok(())
    }
}

/// If any of the request's events is already in the log (or earlier in the
/// group): the original receipts when all are and match, else the refusal.
fn already_sequenced(
    group: &Group,
    appends: &[(PreparedAppend, Reply)],
    request: &PreparedAppend,
) -> Option<Outcome> {
    let mut found = Vec::new();
    for ev in &request.events {
        let id = ev.event.id;
        let hit = match (group.existing.get(&id), group.sequenced.get(&id)) {
            (Some((receipt, digest)), _) => Some((receipt.clone(), *digest)),
            (None, Some((receipt, r, e))) => {
                Some((receipt.clone(), appends[*r].0.events[*e].content_digest()))
            }
            (None, None) => None,
        };
        if let Some((receipt, digest)) = hit {
            if digest != ev.content_digest() {
                return Some(Outcome::Refused(Error::IdempotencyConflict { id }));
            }
            found.push(receipt);
        }
    }
    if found.is_empty() {
        None
    } else if found.len() == request.events.len() {
        Some(Outcome::Done(found))
    } else {
        Some(Outcome::Refused(Error::PartialRetry {
            existing: found.len(),
            new: request.events.len() - found.len(),
        }))
    }
}

fn fail(
    appends: Vec<(PreparedAppend, Reply)>,
    replies: Vec<oneshot::Sender<Result<(), Error>>>,
    e: &Error,
) {
    let reason = e.to_string();
    for (_, reply) in appends {
        let _ = reply.send(Err(Error::Storage {
            reason: reason.clone(),
        }));
    }
    for r in replies {
        let _ = r.send(Err(Error::Storage {
            reason: reason.clone(),
        }));
    }
}

/// The frontier hashes as `log_head` keeps them, handed to
/// [`Frontier::load`], which asks for exactly one node per set bit of the
/// size, largest subtree first: the order [`Frontier::hashes`] gives.
struct StoredFrontier<'a>(&'a [Hash]);

impl HashReader for StoredFrontier<'_> {
    type Error = String;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, String> {
        if ids.len() == self.0.len() {
            Ok(self.0.to_vec())
        } else {
            Err(format!(
                "{} hashes stored, {} needed",
                self.0.len(),
                ids.len()
            ))
        }
    }
}

pub(crate) fn raw_entry(row: &Row) -> RawEntry {
    RawEntry {
        index: LogIndex(to_u64(row.get(0))),
        entry: row.get(1),
    }
}

/// Sizes, indexes and versions are `bigint`: below 2^63 in any real log.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
