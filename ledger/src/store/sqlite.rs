//! The embedded store: one SQLite file (bundled SQLite; WAL; `synchronous=FULL`).
//!
//! One writer thread owns the write connection and sequences the log. Callers
//! check their batch's shape and author signatures in their own task (so
//! signature checks use every core), then queue it. The writer drains what
//! is queued into one transaction — a group commit — checks each request's
//! expectation and idempotency against the database and the group so far,
//! seals the events, extends the Merkle tree from its in-memory frontier,
//! signs a checkpoint when one is due, commits with one fsync, and only then
//! answers each caller. A request that fails a check writes nothing and
//! does not disturb the rest of its group; a storage failure fails the whole
//! group and the writer reloads its state from disk.
//!
//! Readers use their own connections (WAL lets them run beside the writer).
//!
//! Schema (version 1):
//! - `events(idx PRIMARY KEY, id, stream, version, leaf, entry)` — the log;
//!   `leaf` is the RFC 6962 leaf hash, i.e. level 0 of the tree.
//! - `nodes(level, idx, hash)` — every complete subtree at level ≥ 1.
//! - `checkpoints(size PRIMARY KEY, root, note)` — every signed checkpoint.
//! - `meta(key, value)` — schema version, origin, verifier key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{Semaphore, oneshot, watch};

use super::StreamHeads;
use super::signatures::{AuthorSignatures, SignatureBatcher};
use super::{
    AppendRequest, Direction, PreparedAppend, RawEntry, Receipt, SealedAppend, Store,
    StoredCheckpoint, StoredEvent, seal_append,
};
use crate::clock::Clock;
use crate::error::Error;
use crate::event::{Event, LeafHash, PreparedEvent};
use crate::ids::{EventId, LogIndex, StreamId, StreamVersion};
use crate::keys::KeyRegistry;
use crate::merkle::{Frontier, Hash, HashReader, NodeId};
use crate::note::NoteSigner;
use crate::time::Timestamp;

const SCHEMA_VERSION: &str = "1";

/// Tunables of the embedded store.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// A checkpoint is signed at least this often while the log grows.
    pub checkpoint_interval: Duration,
    /// Most events sequenced in one transaction.
    pub max_group_events: usize,
    /// Longest the writer waits for appends still being prepared before it
    /// commits the group it has.
    pub gather: Duration,
    /// The server time stamped as `recorded_at` (the system clock; a
    /// manual clock only for the demo loader).
    pub clock: Clock,
    /// Once the write-ahead log is this large, the writer checkpoints it and
    /// starts it again from the beginning (see `Writer::maybe_restart_wal`).
    pub wal_restart_bytes: u64,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            checkpoint_interval: Duration::from_secs(1),
            max_group_events: 4_096,
            gather: Duration::from_millis(1),
            clock: Clock::system(),
            wal_restart_bytes: 64 << 20,
        }
    }
}

/// The embedded SQLite store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    jobs: Mutex<Option<std_mpsc::Sender<Job>>>,
    readers: Mutex<Vec<Connection>>,
    /// Reads on blocking threads at once (see [`max_blocking_reads`]).
    blocking_reads: Arc<Semaphore>,
    size: watch::Receiver<u64>,
    registry: Arc<RwLock<KeyRegistry>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<(std_mpsc::Sender<()>, JoinHandle<()>)>>,
    /// Appends being prepared (canonicalised, signatures checked), not yet
    /// queued: the writer waits a little for them when gathering a group.
    preparing: Arc<AtomicUsize>,
    stats: Arc<StatCounters>,
    /// Tree levels ≥ [`UpperNodes::LOWEST_LEVEL`], kept by the writer.
    upper: Arc<RwLock<UpperNodes>>,
    signatures: Option<SignatureBatcher>,
    /// Opened by [`SqliteStore::open_for_audit`]: no writer, reads unbounded.
    audit_only: bool,
}

/// The tree's complete nodes at levels ≥ [`UpperNodes::LOWEST_LEVEL`], in
/// memory: one node per 2^LOWEST_LEVEL entries (32 bytes per 64 entries),
/// so a proof reads only its lowest few hashes from disk.
#[derive(Default)]
struct UpperNodes {
    /// `levels[k]` holds level `LOWEST_LEVEL + k`, by index.
    levels: Vec<Vec<Hash>>,
}

impl UpperNodes {
    const LOWEST_LEVEL: u8 = 6;

    fn get(&self, id: NodeId) -> Option<Hash> {
        let k = usize::from(id.level.checked_sub(Self::LOWEST_LEVEL)?);
        let index = usize::try_from(id.index).ok()?;
        self.levels.get(k)?.get(index).copied()
    }

    /// Nodes arrive in index order within each level.
    fn push(&mut self, id: NodeId, hash: Hash) {
        let Some(k) = id.level.checked_sub(Self::LOWEST_LEVEL).map(usize::from) else {
            return;
        };
        if self.levels.len() <= k {
            self.levels.resize_with(k + 1, Vec::new);
        }
        let level = &mut self.levels[k];
        if level.len() as u64 == id.index {
            level.push(hash);
        }
    }

    /// The stored upper nodes of the tree of `size` entries.
    fn load(conn: &Connection, size: u64) -> Result<Self, rusqlite::Error> {
        let mut upper = UpperNodes::default();
        let mut st = conn
            .prepare("SELECT level, idx, hash FROM nodes WHERE level >= ?1 ORDER BY level, idx")?;
        let rows = st.query_map(params![i64::from(Self::LOWEST_LEVEL)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        for row in rows {
            let (level, index, hash) = row?;
            let (Ok(level), Ok(index), Some(hash)) = (
                u8::try_from(level),
                u64::try_from(index),
                Hash::from_slice(&hash),
            ) else {
                // Damaged rows stay on disk, where reads report them.
                continue;
            };
            // Only nodes of complete subtrees inside the tree.
            if (u128::from(index) + 1) << level <= u128::from(size) {
                upper.push(NodeId { level, index }, hash);
            }
        }
        Ok(upper)
    }
}

/// Counters of the writer's work since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (group commits).
    pub groups: u64,
    /// Append requests sequenced in them (refused ones included).
    pub requests: u64,
    /// WAL flushes (`fdatasync`) by the syncer.
    pub flushes: u64,
    /// WAL restarts tried by the writer (see `SqliteConfig::wal_restart_bytes`).
    pub wal_restarts_tried: u64,
    /// Of those, the ones readers held up (each followed by a back-off).
    pub wal_restarts_held_up: u64,
    /// Reader connections opened (each is pooled and reused; at most
    /// [`max_blocking_reads`] serve reads on blocking threads at once).
    pub reader_connections: u64,
}

#[derive(Default)]
struct StatCounters {
    groups: AtomicU64,
    requests: AtomicU64,
    flushes: AtomicU64,
    wal_restarts_tried: AtomicU64,
    wal_restarts_held_up: AtomicU64,
    reader_connections: AtomicU64,
}

/// Counts an append as being prepared until dropped (also on early errors).
struct PreparingGuard<'a>(&'a AtomicUsize);

impl<'a> PreparingGuard<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        PreparingGuard(count)
    }
}

impl Drop for PreparingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where an append's answer goes.
type Reply = oneshot::Sender<Result<Vec<Receipt>, Error>>;

enum Job {
    Append {
        request: PreparedAppend,
        reply: Reply,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`, bound to the log
    /// signed by `signer` (its name is the checkpoint origin).
    pub fn open(path: &Path, signer: NoteSigner, config: SqliteConfig) -> Result<Self, Error> {
        let display = path.display().to_string();
        let conn = Connection::open(path).map_err(|e| map_err(&display, e))?;
        init_schema(&conn, &signer).map_err(|e| match e {
            Error::Storage { reason } => Error::Corrupt {
                path: display.clone(),
                reason,
            },
            other => other,
        })?;
        // When the writer starts the WAL again, SQLite cuts the file back
        // to this (it may have grown long while a reader held it).
        let wal_restart_bytes = config.wal_restart_bytes;
        conn.pragma_update(
            None,
            "journal_size_limit",
            i64::try_from(wal_restart_bytes.saturating_mul(2)).unwrap_or(i64::MAX),
        )
        .map_err(|e| map_err(&display, e))?;
        let (size_tx, size_rx) = watch::channel(0);
        let size_tx = Arc::new(size_tx);
        let sync_failure = Arc::new(Mutex::new(None));
        let (syncer, committed) = std_mpsc::channel();
        let unsynced = Arc::new(Unsynced::default());
        let preparing = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(StatCounters::default());
        let syncer_thread = Syncer {
            stats: stats.clone(),
            unsynced: unsynced.clone(),
            wal: wal_path(path),
            file: None,
            size_tx: size_tx.clone(),
            failure: sync_failure.clone(),
        }
        .start(committed)?;
        let registry = Arc::new(RwLock::new(KeyRegistry::new()));
        let upper = Arc::new(RwLock::new(UpperNodes::default()));
        let wal_bytes = Arc::new(AtomicU64::new(0));
        let mut writer = Writer {
            wal_bytes: wal_bytes.clone(),
            wal_restart_after: Instant::now(),
            conn,
            path: display.clone(),
            signer,
            config,
            frontier: Frontier::new(),
            registry: KeyRegistry::new(),
            last_recorded: None,
            last_checkpoint_size: 0,
            next_checkpoint_due: Instant::now(),
            size_tx,
            syncer,
            syncer_thread,
            unsynced,
            preparing: preparing.clone(),
            stats: stats.clone(),
            sync_failure,
            shared_registry: registry.clone(),
            heads: StreamHeads::default(),
            upper: upper.clone(),
            upper_pending: Vec::new(),
        };
        writer.reload()?;
        // What a crash left in the WAL may still be only in the OS cache:
        // flush it before calling any of it durable.
        let wal = wal_path(path);
        if wal.exists() {
            open_wal(&wal)
                .and_then(|f| f.sync_data())
                .map_err(|e| Error::Storage {
                    reason: format!("flushing {}: {e}", wal.display()),
                })?;
        }
        writer.size_tx.send_replace(writer.frontier.size());
        let (stop_checkpoints, stopped) = std_mpsc::channel();
        let checkpointer = start_checkpointer(path, wal_bytes, stopped)?;
        let (tx, rx) = std_mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("ledger-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(Error::storage)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                jobs: Mutex::new(Some(tx)),
                readers: Mutex::new(Vec::new()),
                blocking_reads: Arc::new(Semaphore::new(max_blocking_reads())),
                size: size_rx,
                registry,
                writer: Mutex::new(Some(handle)),
                checkpointer: Mutex::new(Some((stop_checkpoints, checkpointer))),
                preparing,
                stats,
                upper,
                signatures: Some(SignatureBatcher::per_core()?),
                audit_only: false,
            }),
        })
    }

    /// Opens an existing store read-only, without a writer and without
    /// replaying anything: for audits of a store that may be damaged.
    /// Appends fail with [`Error::Closed`].
    pub fn open_for_audit(path: &Path) -> Result<Self, Error> {
        let display = path.display().to_string();
        if !path.exists() {
            return Err(Error::Storage {
                reason: format!("{display}: no such store"),
            });
        }
        let conn = open_reader(path).map_err(|e| map_err(&display, e))?;
        let size: i64 = conn
            .query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM events", [], |r| {
                r.get(0)
            })
            .map_err(|e| map_err(&display, e))?;
        let (_size_tx, size_rx) = watch::channel(size.max(0) as u64);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                jobs: Mutex::new(None),
                readers: Mutex::new(vec![conn]),
                blocking_reads: Arc::new(Semaphore::new(max_blocking_reads())),
                size: size_rx,
                registry: Arc::new(RwLock::new(KeyRegistry::new())),
                writer: Mutex::new(None),
                checkpointer: Mutex::new(None),
                preparing: Arc::new(AtomicUsize::new(0)),
                stats: Arc::default(),
                upper: Arc::default(),
                signatures: None,
                audit_only: true,
            }),
        })
    }

    /// Stops the writer after the work already queued; later calls fail
    /// with [`Error::Closed`].
    pub fn close(&self) {
        self.inner.stop();
    }

    /// What the writer has done since the store was opened.
    pub fn stats(&self) -> WriterStats {
        let c = &self.inner.stats;
        WriterStats {
            groups: c.groups.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            wal_restarts_tried: c.wal_restarts_tried.load(Ordering::Relaxed),
            wal_restarts_held_up: c.wal_restarts_held_up.load(Ordering::Relaxed),
            reader_connections: c.reader_connections.load(Ordering::Relaxed),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many entries are durable and answered: readers see no further.
    /// An audit sees everything stored, checkpoints beyond the entries
    /// included (that is how a truncated log shows).
    fn durable(&self) -> i64 {
        if self.inner.audit_only {
            return i64::MAX;
        }
        i64::try_from(*self.inner.size.borrow()).unwrap_or(i64::MAX)
    }

    fn send(&self, job: Job) -> Result<(), Error> {
        match lock(&self.inner.jobs).as_ref() {
            Some(tx) => tx.send(job).map_err(|_| Error::Closed),
            None => Err(Error::Closed),
        }
    }

    async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let inner = self.inner.clone();
        // Waiting here rather than on a new thread: a burst of reads (the
        // first request of each of 256 clients, say) would otherwise start
        // a blocking thread and open a connection for each.
        let permit = inner
            .blocking_reads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        tokio::task::spawn_blocking(move || {
            let out = inner.with_reader(f);
            drop(permit);
            out
        })
        .await
        .map_err(Error::storage)?
    }

    /// Runs a small read in the calling task, on a pooled connection: for
    /// the few point reads of a proof, the hop to a blocking thread would
    /// cost more than the reads. Only for reads of a handful of rows by key.
    fn read_inline<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, Error> {
        self.inner.with_reader(f)
    }

    /// Verifies author signatures of events that carry one, against the
    /// keys known now (key *status* is checked again by the writer, at the
    /// moment of sequencing), batched with concurrent appends.
    async fn verify_signatures(&self, events: &[PreparedEvent]) -> Result<(), Error> {
        let signatures = {
            let registry = self
                .inner
                .registry
                .read()
                .unwrap_or_else(|p| p.into_inner());
            AuthorSignatures::resolve(&registry, events)?
        };
        if signatures.is_empty() {
            return Ok(());
        }
        let batcher = self.inner.signatures.as_ref().ok_or(Error::Closed)?;
        batcher.verify_authors(signatures).await
    }
}

impl Inner {
    /// Runs `f` on a pooled reader connection (opening one if none is free).
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, Error> {
        let display = || self.path.display().to_string();
        let conn = match lock(&self.readers).pop() {
            Some(c) => c,
            None => {
                let conn = open_reader(&self.path).map_err(|e| map_err(&display(), e))?;
                self.stats
                    .reader_connections
                    .fetch_add(1, Ordering::Relaxed);
                conn
            }
        };
        let out = f(&conn).map_err(|e| map_err(&display(), e));
        lock(&self.readers).push(conn);
        out
    }

    /// Stops the writer (after its queue), then the checkpointer.
    fn stop(&self) {
        lock(&self.jobs).take();
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
        if let Some((stop, handle)) = lock(&self.checkpointer).take() {
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copies the WAL into the database file in the background (SQLite's
/// PASSIVE checkpoint, which never blocks the writer or readers), so the
/// writer thread does not stop to do it at commit time as SQLite's
/// automatic checkpoint would; the writer itself restarts the WAL once it is
/// long ([`Writer::maybe_restart_wal`]). Stops when `stop` is dropped.
///
/// Each round also tells the writer how long the WAL is (`wal_bytes`: the
/// frames since it last started over, from the checkpoint's answer).
fn start_checkpointer(
    path: &Path,
    wal_bytes: Arc<AtomicU64>,
    stop: std_mpsc::Receiver<()>,
) -> Result<JoinHandle<()>, Error> {
    let display = path.display().to_string();
    let conn = Connection::open(path).map_err(|e| map_err(&display, e))?;
    conn.busy_timeout(Duration::from_secs(5))
        .and_then(|_| conn.pragma_update(None, "synchronous", "FULL"))
        .map_err(|e| map_err(&display, e))?;
    // A WAL frame is a 24-byte header and a page.
    let frame_bytes: u64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .map(|page| u64::try_from(page).unwrap_or(4096) + 24)
        .map_err(|e| map_err(&display, e))?;
    std::thread::Builder::new()
        .name("ledger-sqlite-checkpointer".into())
        .spawn(move || {
            while let Err(std_mpsc::RecvTimeoutError::Timeout) =
                stop.recv_timeout(WAL_CHECKPOINT_EVERY)
            {
                // (busy, frames in the WAL, frames checkpointed)
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
                    Ok(frames) => wal_bytes.store(
                        u64::try_from(frames).unwrap_or(0) * frame_bytes,
                        Ordering::Relaxed,
                    ),
                    Err(e) => eprintln!("ledger: background WAL checkpoint of {display}: {e}"),
                }
            }
            // A last full pass so a closed store's WAL is folded in.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        })
        .map_err(Error::storage)
}

/// Node reads few enough to run in the calling task (a proof's lowest
/// levels, below the ones kept in memory).
const INLINE_NODE_READS: usize = 8;

/// How much of the database file each reader maps (SQLite `mmap_size`).
const READER_MMAP_BYTES: i64 = 1 << 34;

/// How often the background checkpointer folds the WAL into the database.
const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

#[async_trait]
impl Store for SqliteStore {
    async fn append(&self, request: AppendRequest) -> Result<Vec<Receipt>, Error> {
        let _preparing = PreparingGuard::enter(&self.inner.preparing);
        let request = PreparedAppend::new(request)?;
        self.verify_signatures(&request.events).await?;
        let (reply, answer) = oneshot::channel();
        self.send(Job::Append { request, reply })?;
        drop(_preparing);
        answer.await.map_err(|_| Error::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, Error> {
        let stream = stream.as_str().to_owned();
        let limit = limit as i64;
        let durable = self.durable();
        let raws = self
            .read(move |c| {
                let sql = match direction {
                    Direction::Forwards => {
                        "SELECT idx, entry FROM events WHERE stream = ?1 AND version >= ?2 AND idx < ?4 ORDER BY version ASC LIMIT ?3"
                    }
                    Direction::Backwards => {
                        "SELECT idx, entry FROM events WHERE stream = ?1 AND version <= ?2 AND idx < ?4 ORDER BY version DESC LIMIT ?3"
                    }
                };
                let mut st = c.prepare_cached(sql)?;
                let from = i64::try_from(from.0).unwrap_or(i64::MAX);
                st.query_map(params![stream, from, limit, durable], raw_row)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        raws.into_iter().map(StoredEvent::from_raw).collect()
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<StreamVersion>, Error> {
        let stream = stream.as_str().to_owned();
        let durable = self.durable();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT version FROM events WHERE stream = ?1 AND idx < ?2 ORDER BY version DESC LIMIT 1",
            )?
            .query_row(params![stream, durable], |r| {
                Ok(StreamVersion(r.get::<_, i64>(0)? as u64))
            })
            .optional()
        })
        .await
    }

    async fn read_entries(&self, from: LogIndex, limit: usize) -> Result<Vec<RawEntry>, Error> {
        let from = i64::try_from(from.0).unwrap_or(i64::MAX);
        let limit = limit as i64;
        let durable = self.durable();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT idx, entry FROM events WHERE idx >= ?1 AND idx < ?3 ORDER BY idx LIMIT ?2",
            )?;
            // As many rows as there are up to the durable end, at most
            // `limit` (and a bound, for the audit-only store, whose end is
            // not known): allocated once rather than grown by doubling.
            let rows = durable
                .saturating_sub(from)
                .clamp(0, limit.clamp(0, 1 << 16)) as usize;
            let mut out = Vec::with_capacity(rows);
            for row in st.query_map(params![from, limit, durable], raw_row)? {
                out.push(row?);
            }
            Ok(out)
        })
        .await
    }

    async fn event_by_id(&self, id: EventId) -> Result<Option<StoredEvent>, Error> {
        let durable = self.durable();
        let raw = self
            .read(move |c| {
                c.prepare_cached("SELECT idx, entry FROM events WHERE id = ?1 AND idx < ?2")?
                    .query_row(params![&id.0.to_bytes()[..], durable], raw_row)
                    .optional()
            })
            .await?;
        raw.map(StoredEvent::from_raw).transpose()
    }

    async fn size(&self) -> Result<u64, Error> {
        Ok(*self.inner.size.borrow())
    }

    async fn wait_for_size(&self, size: u64, timeout: Duration) -> Result<u64, Error> {
        let mut rx = self.inner.size.clone();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|s| *s >= size)).await;
        let now = *rx.borrow();
        Ok(now)
    }

    async fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error> {
        // Upper levels from memory; only the rest from disk.
        let mut out: Vec<Option<Hash>> = {
            let upper = self.inner.upper.read().unwrap_or_else(|p| p.into_inner());
            ids.iter().map(|id| upper.get(*id)).collect()
        };
        let missing: Vec<NodeId> = ids
            .iter()
            .zip(&out)
            .filter(|(_, h)| h.is_none())
            .map(|(id, _)| *id)
            .collect();
        if !missing.is_empty() {
            let read = if missing.len() <= INLINE_NODE_READS {
                self.read_inline(|c| read_node_hashes(c, &missing))??
            } else {
                self.read(move |c| read_node_hashes(c, &missing)).await??
            };
            let mut read = read.into_iter();
            for slot in out.iter_mut().filter(|h| h.is_none()) {
                *slot = read.next();
            }
        }
        // Invariant: every `None` was filled from `read`, which returns one
        // hash per missing id or an error.
        Ok(out.into_iter().flatten().collect())
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        let durable = self.durable();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT size, root, note FROM checkpoints WHERE size <= ?1 ORDER BY size DESC LIMIT 1",
            )?
            .query_row(params![durable], checkpoint_row)
            .optional()
        })
        .await
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, Error> {
        let from = i64::try_from(from_size).unwrap_or(i64::MAX);
        let limit = limit as i64;
        let durable = self.durable();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT size, root, note FROM checkpoints WHERE size >= ?1 AND size <= ?3 ORDER BY size LIMIT ?2",
            )?
            .query_map(params![from, limit, durable], checkpoint_row)?
            .collect::<Result<Vec<_>, _>>()
        })
        .await
    }

    async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Checkpoint { reply })?;
        answer.await.map_err(|_| Error::Closed)??;
        self.latest_checkpoint().await
    }

    async fn key_registry(&self) -> Result<KeyRegistry, Error> {
        Ok(self
            .inner
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }
}

/// The sequencer: owns the write connection and the in-memory tree edge.
struct Writer {
    conn: Connection,
    path: String,
    /// Bytes of frames in the WAL since it last started over, as the
    /// checkpointer last counted them (at most one round old).
    wal_bytes: Arc<AtomicU64>,
    /// No WAL restart is tried before this (after one that readers held up).
    wal_restart_after: Instant,
    signer: NoteSigner,
    config: SqliteConfig,
    frontier: Frontier,
    registry: KeyRegistry,
    last_recorded: Option<Timestamp>,
    last_checkpoint_size: u64,
    next_checkpoint_due: Instant,
    /// The durable size readers see; set by the syncer, and on reload.
    size_tx: Arc<watch::Sender<u64>>,
    syncer: std_mpsc::Sender<Committed>,
    syncer_thread: JoinHandle<()>,
    unsynced: Arc<Unsynced>,
    /// Appends between their start and their hand-over to the writer.
    preparing: Arc<AtomicUsize>,
    stats: Arc<StatCounters>,
    /// Set when the WAL could not be flushed: nothing more is acknowledged.
    sync_failure: Arc<Mutex<Option<String>>>,
    shared_registry: Arc<RwLock<KeyRegistry>>,
    /// Last version and leaf of recently written streams, as of the open
    /// transaction; cleared when it grows past [`HEAD_CACHE_STREAMS`] and
    /// whenever a group rolls back.
    heads: StreamHeads,
    /// The upper tree levels readers answer from memory, and the nodes of the
    /// open group that will join them once it commits.
    upper: Arc<RwLock<UpperNodes>>,
    upper_pending: Vec<(NodeId, Hash)>,
}

/// Streams whose heads the writer keeps in memory before starting afresh.
const HEAD_CACHE_STREAMS: usize = 100_000;

/// What one group has done so far.
#[derive(Default)]
struct Group {
    registry_changed: bool,
}

/// A request's outcome inside a group: refused (nothing written) or a
/// storage failure (the group must roll back).
enum Outcome {
    Done(Vec<Receipt>),
    Refused(Error),
}

impl Writer {
    fn run(mut self, rx: std_mpsc::Receiver<Job>) {
        loop {
            let pending = self.frontier.size() > self.last_checkpoint_size;
            let first = if pending {
                let wait = self
                    .next_checkpoint_due
                    .saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(job) => Some(job),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return self.shutdown(),
                }
            } else {
                match rx.recv() {
                    Ok(job) => Some(job),
                    Err(_) => return self.shutdown(),
                }
            };
            // At most UNSYNCED_GROUPS groups wait on the disk at once: the
            // writer builds the next group while the last one is flushed,
            // and appends arriving meanwhile join that next group.
            self.unsynced.wait_below(UNSYNCED_GROUPS);
            let mut jobs = Vec::new();
            let mut events = 0;
            if let Some(job) = first {
                events += job_events(&job);
                jobs.push(job);
                // Take what is queued; then, while appends are still being
                // prepared (signatures checked), wait a little for them: a
                // larger group writes each dirty page once for more events.
                let gather_until = Instant::now() + self.config.gather;
                while events < self.config.max_group_events {
                    let job = match rx.try_recv() {
                        Ok(job) => job,
                        Err(_) => {
                            let left = gather_until.saturating_duration_since(Instant::now());
                            if self.preparing.load(Ordering::Acquire) == 0 || left.is_zero() {
                                break;
                            }
                            match rx.recv_timeout(left.min(GATHER_STEP)) {
                                Ok(job) => job,
                                Err(_) => continue,
                            }
                        }
                    };
                    events += job_events(&job);
                    jobs.push(job);
                }
            }
            self.commit_group(jobs);
            self.maybe_restart_wal();
        }
    }

    /// Once the WAL has grown to `wal_restart_bytes`, checkpoints it with
    /// RESTART between two groups, so that the next group writes it again
    /// from its start instead of extending the file.
    ///
    /// Under steady appends the background PASSIVE checkpoints never quite
    /// catch up with this writer, and SQLite starts the WAL over only after
    /// one that did: the WAL grew without bound, every commit extending the
    /// file, which costs the kernel a zeroing of each new page (a third of
    /// this thread's time once the WAL passed a few hundred MiB). A RESTART
    /// from another connection starves behind this writer; from this one it
    /// only copies the frames the PASSIVE rounds left. It waits at most
    /// [`WAL_RESTART_WAIT`] for readers still on old frames, else it is
    /// tried again after [`WAL_RESTART_BACKOFF`]. Durability is unchanged: the
    /// checkpoint syncs the WAL before copying and the database after, so
    /// groups not yet flushed by the syncer are on disk in the database
    /// before their frames can be overwritten.
    fn maybe_restart_wal(&mut self) {
        // (Not the file's length: a WAL started over keeps its length while
        // it is written again from the start.)
        if self.wal_bytes.load(Ordering::Relaxed) < self.config.wal_restart_bytes
            || self.wal_restart_after > Instant::now()
        {
            return;
        }
        let restarted = self
            .conn
            .busy_timeout(WAL_RESTART_WAIT)
            .and_then(|_| {
                self.conn
                    .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0))
            })
            .and_then(|busy| {
                self.conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
                Ok(busy == 0)
            });
        self.stats
            .wal_restarts_tried
            .fetch_add(1, Ordering::Relaxed);
        match restarted {
            Ok(true) => self.wal_bytes.store(0, Ordering::Relaxed),
            // A reader is still on old frames (a long export, say): do not
            // wait for it after every group; try again a little later.
            _ => {
                self.stats
                    .wal_restarts_held_up
                    .fetch_add(1, Ordering::Relaxed);
                self.wal_restart_after = Instant::now() + WAL_RESTART_BACKOFF;
            }
        }
        if let Err(e) = restarted {
            eprintln!("ledger: restarting the WAL of {}: {e}", self.path);
            let _ = self.conn.busy_timeout(WRITER_BUSY_TIMEOUT);
        }
    }

    /// On shutdown, sign a last checkpoint so nothing is left unsigned, and
    /// wait until everything committed is on disk and answered.
    fn shutdown(mut self) {
        if self.frontier.size() > self.last_checkpoint_size {
            self.commit_group(Vec::new());
        }
        let Writer {
            syncer,
            syncer_thread,
            conn,
            ..
        } = self;
        drop(syncer);
        let _ = syncer_thread.join();
        drop(conn);
    }

    fn commit_group(&mut self, jobs: Vec<Job>) {
        if let Some(reason) = lock(&self.sync_failure).clone() {
            for job in jobs {
                job.fail(&reason);
            }
            return;
        }
        let mut group = Group::default();
        let mut answers: Vec<(Reply, Outcome)> = Vec::new();
        let mut checkpoint_replies = Vec::new();
        let mut spent = Vec::new();
        let mut failure: Option<Error> = None;

        // Prepared once: a group is a few hundred microseconds of work.
        if let Err(e) = self
            .conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut st| st.execute([]))
        {
            failure = Some(map_err(&self.path, e));
        }
        let mut jobs = jobs.into_iter();
        if failure.is_none() {
            for job in jobs.by_ref() {
                match job {
                    Job::Append { request, reply } => {
                        let applied = self.apply(&mut group, &request);
                        spent.push(request);
                        match applied {
                            Ok(outcome) => answers.push((reply, outcome)),
                            Err(e) => {
                                let _ = reply.send(Err(Error::storage(&e)));
                                failure = Some(e);
                                break;
                            }
                        }
                    }
                    Job::Checkpoint { reply } => checkpoint_replies.push(reply),
                }
            }
        }
        let force = !checkpoint_replies.is_empty();
        if failure.is_none()
            && let Err(e) = self.maybe_checkpoint(force)
        {
            failure = Some(e);
        }
        if failure.is_none()
            && let Err(e) = self
                .conn
                .prepare_cached("COMMIT")
                .and_then(|mut st| st.execute([]))
        {
            failure = Some(map_err(&self.path, e));
        }

        if let Some(err) = failure {
            let _ = self.conn.execute_batch("ROLLBACK");
            let reason = err.to_string();
            for job in jobs {
                job.fail(&reason);
            }
            Committed {
                size: 0,
                answers,
                checkpoint_replies,
                spent,
            }
            .fail(reason);
            // The in-memory tree edge and registry may be ahead of disk.
            if let Err(e) = self.reload() {
                eprintln!("ledger: reloading after a failed commit: {e}");
            }
            return;
        }

        {
            let mut upper = self.upper.write().unwrap_or_else(|p| p.into_inner());
            for (id, hash) in self.upper_pending.drain(..) {
                upper.push(id, hash);
            }
        }
        if group.registry_changed {
            *self
                .shared_registry
                .write()
                .unwrap_or_else(|p| p.into_inner()) = self.registry.clone();
        }
        // Answers wait for the WAL frames to reach the disk.
        let committed = Committed {
            size: self.frontier.size(),
            answers,
            checkpoint_replies,
            spent,
        };
        self.unsynced.add();
        self.stats.groups.fetch_add(1, Ordering::Relaxed);
        self.stats
            .requests
            .fetch_add(committed.answers.len() as u64, Ordering::Relaxed);
        if let Err(std_mpsc::SendError(committed)) = self.syncer.send(committed) {
            self.unsynced.done(1);
            committed.fail("the store is closing".to_owned());
        }
    }

    /// Sequences one request inside the open transaction. `Ok(Refused)`
    /// means nothing was written; `Err` means the group must roll back.
    ///
    /// The common case costs no reads: the stream's head comes from memory
    /// and the events' ids are checked by the unique index as they are
    /// inserted. Only a failed expectation or an id already in the log takes
    /// the slower path of looking the events up.
    fn apply(&mut self, group: &mut Group, request: &PreparedAppend) -> Result<Outcome, Error> {
        let head = self.head(&request.stream)?;
        let current = head.map(|(v, _)| v);
        if !request.expected.admits(current) {
            // A retry gets its original receipts whatever the stream's
            // version is now.
            if let Some(outcome) = self.already_sequenced(request)? {
                return Ok(outcome);
            }
            return Ok(Outcome::Refused(Error::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                current,
            }));
        }

        // Server time never runs backwards along the log.
        let now = self.config.clock.now();
        let recorded_at = match &self.last_recorded {
            Some(last) if last > &now => last.clone(),
            _ => now,
        };

        // Key status, registry changes and entries, before anything is written.
        let prev = head.map_or(LeafHash::GENESIS, |(_, leaf)| leaf);
        let first = StreamVersion(current.map_or(0, |v| v.0 + 1));
        let SealedAppend {
            entries: rows,
            registry: scratch,
        } = match seal_append(
            &request.stream,
            &request.events,
            first,
            prev,
            &recorded_at,
            &self.registry,
        ) {
            Ok(sealed) => sealed,
            Err(e) => return Ok(Outcome::Refused(e)),
        };

        // Write the entries; the unique index on `id` catches a retry.
        let start = self.frontier.size();
        {
            let mut insert = self
                .conn
                .prepare_cached(
                    "INSERT INTO events(idx, id, stream, version, leaf, entry) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO NOTHING",
                )
                .map_err(|e| map_err(&self.path, e))?;
            for (k, (ev, (version, leaf, entry))) in request.events.iter().zip(&rows).enumerate() {
                let inserted = insert
                    .execute(params![
                        (start + k as u64) as i64,
                        &ev.event.id.0.to_bytes()[..],
                        request.stream.as_str(),
                        version.0 as i64,
                        &leaf.0.0[..],
                        entry,
                    ])
                    .map_err(|e| map_err(&self.path, e))?;
                if inserted == 0 {
                    drop(insert);
                    if k > 0 {
                        self.conn
                            .prepare_cached("DELETE FROM events WHERE idx >= ?1")
                            .and_then(|mut st| st.execute(params![start as i64]))
                            .map_err(|e| map_err(&self.path, e))?;
                    }
                    return match self.already_sequenced(request)? {
                        Some(outcome) => Ok(outcome),
                        None => Err(Error::Storage {
                            reason: format!(
                                "event {} collided on insert but cannot be found",
                                ev.event.id
                            ),
                        }),
                    };
                }
            }
        }

        // Extend the tree.
        let mut receipts = Vec::with_capacity(rows.len());
        let mut nodes = Vec::new();
        {
            let mut insert_node = self
                .conn
                .prepare_cached("INSERT INTO nodes(level, idx, hash) VALUES (?1, ?2, ?3)")
                .map_err(|e| map_err(&self.path, e))?;
            for (ev, (version, leaf, _)) in request.events.iter().zip(&rows) {
                let index = self.frontier.size();
                nodes.clear();
                self.frontier.push_into(leaf.0, &mut nodes);
                for (id, hash) in nodes.iter().filter(|(id, _)| id.level > 0) {
                    insert_node
                        .execute(params![i64::from(id.level), id.index as i64, &hash.0[..]])
                        .map_err(|e| map_err(&self.path, e))?;
                    if id.level >= UpperNodes::LOWEST_LEVEL {
                        self.upper_pending.push((*id, *hash));
                    }
                }
                receipts.push(Receipt {
                    event_id: ev.event.id,
                    stream: request.stream.clone(),
                    version: *version,
                    log_index: LogIndex(index),
                    leaf_hash: *leaf,
                });
            }
        }
        if let Some((version, leaf, _)) = rows.last() {
            if self.heads.len() >= HEAD_CACHE_STREAMS {
                self.heads.clear();
            }
            self.heads.insert(request.stream.clone(), (*version, *leaf));
        }
        if let Some(reg) = scratch {
            self.registry = reg;
            group.registry_changed = true;
        }
        self.last_recorded = Some(recorded_at);
        Ok(Outcome::Done(receipts))
    }

    /// The stream's last version and leaf: from memory, else from disk.
    fn head(&mut self, stream: &StreamId) -> Result<Option<(StreamVersion, LeafHash)>, Error> {
        if let Some(h) = self.heads.get(stream) {
            return Ok(Some(*h));
        }
        let h = stream_head(&self.conn, stream.as_str()).map_err(|e| map_err(&self.path, e))?;
        if let Some(h) = h {
            if self.heads.len() >= HEAD_CACHE_STREAMS {
                self.heads.clear();
            }
            self.heads.insert(stream.clone(), h);
        }
        Ok(h)
    }

    /// If any of the request's events is already in the log: the original
    /// receipts when all are and match, else the refusal. `None` when none
    /// is.
    fn already_sequenced(&self, request: &PreparedAppend) -> Result<Option<Outcome>, Error> {
        let mut existing = Vec::new();
        for ev in &request.events {
            if let Some((receipt, stored_digest)) = self.find_event(ev.event.id)? {
                if stored_digest != ev.content_digest() {
                    return Ok(Some(Outcome::Refused(Error::IdempotencyConflict {
                        id: ev.event.id,
                    })));
                }
                existing.push(receipt);
            }
        }
        if existing.is_empty() {
            Ok(None)
        } else if existing.len() == request.events.len() {
            Ok(Some(Outcome::Done(existing)))
        } else {
            Ok(Some(Outcome::Refused(Error::PartialRetry {
                existing: existing.len(),
                new: request.events.len() - existing.len(),
            })))
        }
    }

    /// An event already sequenced (committed, or earlier in the open
    /// transaction), with the digest of its author's content.
    fn find_event(&self, id: EventId) -> Result<Option<(Receipt, [u8; 32])>, Error> {
        let raw = self
            .conn
            .prepare_cached("SELECT idx, entry FROM events WHERE id = ?1")
            .and_then(|mut st| {
                st.query_row(params![&id.0.to_bytes()[..]], raw_row)
                    .optional()
            })
            .map_err(|e| map_err(&self.path, e))?;
        match raw {
            None => Ok(None),
            Some(raw) => {
                let stored = StoredEvent::from_raw(raw)?;
                let digest = stored.event.proposed().content_digest()?;
                Ok(Some((stored.receipt(), digest)))
            }
        }
    }

    fn maybe_checkpoint(&mut self, force: bool) -> Result<(), Error> {
        let size = self.frontier.size();
        let due = force || Instant::now() >= self.next_checkpoint_due;
        if size <= self.last_checkpoint_size || !due {
            return Ok(());
        }
        let StoredCheckpoint { root, note, .. } =
            StoredCheckpoint::sign(&self.signer, size, self.frontier.root())?;
        self.conn
            .prepare_cached("INSERT INTO checkpoints(size, root, note) VALUES (?1, ?2, ?3)")
            .and_then(|mut st| st.execute(params![size as i64, &root.0[..], note]))
            .map_err(|e| map_err(&self.path, e))?;
        self.last_checkpoint_size = size;
        self.next_checkpoint_due = Instant::now() + self.config.checkpoint_interval;
        Ok(())
    }

    /// Rebuilds the in-memory state from disk.
    fn reload(&mut self) -> Result<(), Error> {
        self.heads.clear();
        let path = self.path.clone();
        let corrupt = |reason: String| Error::Corrupt {
            path: path.clone(),
            reason,
        };
        let size: u64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(idx) + 1, 0), COUNT(*) FROM events",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .map_err(|e| map_err(&self.path, e))
            .and_then(|(next, count)| {
                if next != count {
                    Err(corrupt(format!(
                        "the log has {count} entries but its last index is {}",
                        next - 1
                    )))
                } else {
                    Ok(next as u64)
                }
            })?;
        self.frontier = Frontier::load(size, &ConnHashes(&self.conn, &self.path))
            .map_err(|e| corrupt(format!("tree nodes for size {size}: {e}")))?;
        self.upper_pending.clear();
        let upper = UpperNodes::load(&self.conn, size).map_err(|e| map_err(&self.path, e))?;
        *self.upper.write().unwrap_or_else(|p| p.into_inner()) = upper;
        let mut registry = KeyRegistry::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT idx, entry FROM events WHERE stream = ?1 ORDER BY version")
                .map_err(|e| map_err(&self.path, e))?;
            let rows = st
                .query_map(params![StreamId::REGISTRY], raw_row)
                .map_err(|e| map_err(&self.path, e))?;
            for raw in rows {
                let raw = raw.map_err(|e| map_err(&self.path, e))?;
                let index = raw.index;
                let event = Event::from_entry(&raw.entry)
                    .map_err(|e| corrupt(format!("registry entry {index}: {e}")))?;
                registry
                    .apply(&event)
                    .map_err(|e| corrupt(format!("registry entry {index}: {e}")))?;
            }
        }
        self.registry = registry;
        *self
            .shared_registry
            .write()
            .unwrap_or_else(|p| p.into_inner()) = self.registry.clone();
        self.last_recorded = if size == 0 {
            None
        } else {
            let raw = self
                .conn
                .query_row(
                    "SELECT idx, entry FROM events WHERE idx = ?1",
                    params![size as i64 - 1],
                    raw_row,
                )
                .map_err(|e| map_err(&self.path, e))?;
            Some(
                Event::from_entry(&raw.entry)
                    .map_err(|e| corrupt(format!("entry {}: {e}", size - 1)))?
                    .recorded_at,
            )
        };
        self.last_checkpoint_size = self
            .conn
            .query_row("SELECT COALESCE(MAX(size), 0) FROM checkpoints", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| map_err(&self.path, e))? as u64;
        if self.last_checkpoint_size > size {
            return Err(corrupt(format!(
                "a checkpoint of size {} is stored but the log has only {size} entries (truncated log)",
                self.last_checkpoint_size
            )));
        }
        // The durable size is the syncer's to raise (and `open`'s to set):
        // after a failed group, committed groups may still await their flush.
        Ok(())
    }
}

/// How long the writer's WAL restart waits for readers on old frames.
const WAL_RESTART_WAIT: Duration = Duration::from_millis(20);

/// How long the writer waits before trying a WAL restart again after
/// readers held one up.
const WAL_RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// The writer connection's busy timeout otherwise (as `init_schema` sets).
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer connection's page cache, in KiB (SQLite's `cache_size`).
pub const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// The writer's wait for the next append, while gathering a group.
const GATHER_STEP: Duration = Duration::from_micros(100);

/// Groups committed but not yet flushed to disk.
const UNSYNCED_GROUPS: usize = 2;

/// A count of committed groups the syncer has not flushed yet.
#[derive(Default)]
struct Unsynced {
    count: Mutex<usize>,
    flushed: std::sync::Condvar,
}

impl Unsynced {
    fn add(&self) {
        *lock(&self.count) += 1;
    }

    fn done(&self, groups: usize) {
        let mut count = lock(&self.count);
        *count = count.saturating_sub(groups);
        self.flushed.notify_all();
    }

    fn wait_below(&self, limit: usize) {
        let mut count = lock(&self.count);
        while *count >= limit {
            count = self.flushed.wait(count).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A committed group whose answers wait for its WAL frames to be on disk.
struct Committed {
    size: u64,
    answers: Vec<(Reply, Outcome)>,
    checkpoint_replies: Vec<oneshot::Sender<Result<(), Error>>>,
    /// The group's requests, sequenced: freed by the syncer after it
    /// answers, not by the writer (their payloads are many small
    /// allocations, and the writer is the store's one serial stage).
    spent: Vec<PreparedAppend>,
}

impl Committed {
    fn answer(self) {
        let Committed {
            answers,
            checkpoint_replies,
            spent,
            ..
        } = self;
        for (reply, outcome) in answers {
            let _ = reply.send(match outcome {
                Outcome::Done(receipts) => Ok(receipts),
                Outcome::Refused(e) => Err(e),
            });
        }
        for reply in checkpoint_replies {
            let _ = reply.send(Ok(()));
        }
        drop(spent);
    }

    fn fail(self, reason: String) {
        for (reply, _) in self.answers {
            let _ = reply.send(Err(Error::Storage {
                reason: reason.clone(),
            }));
        }
        for reply in self.checkpoint_replies {
            let _ = reply.send(Err(Error::Storage {
                reason: reason.clone(),
            }));
        }
    }
}

/// Makes committed groups durable, off the writer thread.
///
/// The writer commits with `synchronous=NORMAL`: SQLite writes the WAL
/// frames but does not wait for the disk, so the writer can go on to the next
/// group at once. This thread then flushes the WAL file (`fdatasync`) once
/// for every group that has committed since its last flush, and only then
/// answers those groups' appends and raises the size readers see. An
/// acknowledged append is therefore exactly as durable as with
/// `synchronous=FULL`; what changes is that the writer never waits on the
/// disk. (SQLite still syncs the WAL before each checkpoint and the
/// database after it, and the WAL header when the WAL is reused.)
struct Syncer {
    stats: Arc<StatCounters>,
    unsynced: Arc<Unsynced>,
    wal: PathBuf,
    file: Option<std::fs::File>,
    size_tx: Arc<watch::Sender<u64>>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Syncer {
    fn start(self, committed: std_mpsc::Receiver<Committed>) -> Result<JoinHandle<()>, Error> {
        std::thread::Builder::new()
            .name("ledger-sqlite-syncer".into())
            .spawn(move || self.run(committed))
            .map_err(Error::storage)
    }

    fn run(mut self, committed: std_mpsc::Receiver<Committed>) {
        while let Ok(first) = committed.recv() {
            let mut groups = vec![first];
            while let Ok(more) = committed.try_recv() {
                groups.push(more);
            }
            let failed = lock(&self.failure).clone();
            let outcome = match failed {
                Some(reason) => Err(reason),
                None => self
                    .flush()
                    .inspect(|_| {
                        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
                    })
                    .map_err(|e| {
                        let reason = format!(
                            "the write-ahead log {} could not be flushed to disk ({e}); \
                         nothing more is acknowledged until the service restarts",
                            self.wal.display()
                        );
                        *lock(&self.failure) = Some(reason.clone());
                        reason
                    }),
            };
            self.unsynced.done(groups.len());
            match outcome {
                Ok(()) => {
                    let size = groups.iter().map(|g| g.size).max().unwrap_or(0);
                    self.size_tx.send_if_modified(|s| {
                        let grew = size > *s;
                        *s = (*s).max(size);
                        grew
                    });
                    for g in groups {
                        g.answer();
                    }
                }
                Err(reason) => {
                    for g in groups {
                        g.fail(reason.clone());
                    }
                }
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(open_wal(&self.wal)?),
        };
        file.sync_data()
    }
}

/// SQLite's write-ahead log beside the database at `db`.
fn wal_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", db.display()))
}

/// The WAL opened for `fdatasync` (never written through this handle).
fn open_wal(wal: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).open(wal)
}

impl Job {
    /// Answers the job with a storage failure; nothing of it was written.
    fn fail(self, reason: &str) {
        let reason = reason.to_owned();
        match self {
            Job::Append { reply, .. } => {
                let _ = reply.send(Err(Error::Storage { reason }));
            }
            Job::Checkpoint { reply } => {
                let _ = reply.send(Err(Error::Storage { reason }));
            }
        }
    }
}

fn job_events(job: &Job) -> usize {
    match job {
        Job::Append { request, .. } => request.events.len(),
        Job::Checkpoint { .. } => 0,
    }
}

/// Stored hashes read through one connection, for the merkle algorithms.
struct ConnHashes<'a>(&'a Connection, &'a str);

impl HashReader for ConnHashes<'_> {
    type Error = Error;
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error> {
        read_node_hashes(self.0, ids).map_err(|e| map_err(self.1, e))?
    }
}

/// Reads node hashes; the outer error is SQLite's, the inner a missing node.
/// Runs of consecutive indexes at one level (an audit's leaves, a tile) are
/// read with one range query each.
fn read_node_hashes(
    c: &Connection,
    ids: &[NodeId],
) -> Result<Result<Vec<Hash>, Error>, rusqlite::Error> {
    let mut leaf = c.prepare_cached("SELECT leaf FROM events WHERE idx = ?1")?;
    let mut node = c.prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")?;
    let mut leaf_run =
        c.prepare_cached("SELECT idx, leaf FROM events WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
    let mut node_run = c.prepare_cached(
        "SELECT idx, hash FROM nodes WHERE level = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
    )?;
    let missing = |id: &NodeId| Error::Storage {
        reason: format!(
            "tree node level {} index {} is missing or damaged",
            id.level, id.index
        ),
    };
    let mut out = Vec::with_capacity(ids.len());
    let mut rest = ids;
    while let Some(first) = rest.first() {
        let run = rest
            .iter()
            .enumerate()
            .take_while(|(k, id)| id.level == first.level && id.index == first.index + *k as u64)
            .count();
        if run == 1 {
            let bytes: Option<Vec<u8>> = if first.level == 0 {
                leaf.query_row(params![first.index as i64], |r| r.get(0))
                    .optional()?
            } else {
                node.query_row(params![i64::from(first.level), first.index as i64], |r| {
                    r.get(0)
                })
                .optional()?
            };
            match bytes.as_deref().and_then(Hash::from_slice) {
                Some(h) => out.push(h),
                None => return Ok(Err(missing(first))),
            }
        } else {
            let start = first.index as i64;
            let end = start + run as i64;
            let map = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?));
            let rows = if first.level == 0 {
                leaf_run
                    .query_map(params![start, end], map)?
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                node_run
                    .query_map(params![i64::from(first.level), start, end], map)?
                    .collect::<Result<Vec<_>, _>>()?
            };
            for (k, id) in rest[..run].iter().enumerate() {
                match rows.get(k) {
                    Some((idx, bytes)) if *idx == id.index as i64 => {
                        match Hash::from_slice(bytes) {
                            Some(h) => out.push(h),
                            None => return Ok(Err(missing(id))),
                        }
                    }
                    _ => return Ok(Err(missing(id))),
                }
            }
        }
        rest = &rest[run..];
    }
    Ok(Ok(out))
}

fn stream_head(
    c: &Connection,
    stream: &str,
) -> Result<Option<(StreamVersion, LeafHash)>, rusqlite::Error> {
    c.prepare_cached(
        "SELECT version, leaf FROM events WHERE stream = ?1 ORDER BY version DESC LIMIT 1",
    )?
    .query_row(params![stream], |r| {
        let v: i64 = r.get(0)?;
        let leaf: Vec<u8> = r.get(1)?;
        Ok((
            StreamVersion(v as u64),
            LeafHash(Hash::from_slice(&leaf).unwrap_or_default()),
        ))
    })
    .optional()
}

fn raw_row(r: &rusqlite::Row<'_>) -> Result<RawEntry, rusqlite::Error> {
    Ok(RawEntry {
        index: LogIndex(r.get::<_, i64>(0)? as u64),
        entry: r.get(1)?,
    })
}

fn checkpoint_row(r: &rusqlite::Row<'_>) -> Result<StoredCheckpoint, rusqlite::Error> {
    let root: Vec<u8> = r.get(1)?;
    Ok(StoredCheckpoint {
        size: r.get::<_, i64>(0)? as u64,
        root: Hash::from_slice(&root).unwrap_or_default(),
        note: r.get(2)?,
    })
}

fn init_schema(conn: &Connection, signer: &NoteSigner) -> Result<(), Error> {
    conn.busy_timeout(WRITER_BUSY_TIMEOUT)
        .map_err(Error::storage)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(Error::storage)?;
    // NORMAL: commits write the WAL without waiting for the disk; the
    // syncer flushes it before any append is acknowledged (see `Syncer`).
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(Error::storage)?;
    // The background checkpointer folds the WAL in; see `start_checkpointer`.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(Error::storage)?;
    // Appends to many streams insert all over the `(stream, version)`
    // index: SQLite's default 2 MiB page cache holds its hot pages only
    // for the first hundred thousand or so events.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(Error::storage)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS events(
             idx INTEGER PRIMARY KEY, id BLOB NOT NULL, stream TEXT NOT NULL,
             version INTEGER NOT NULL, leaf BLOB NOT NULL, entry BLOB NOT NULL);
         CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events(id);
         CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events(stream, version);
         CREATE TABLE IF NOT EXISTS nodes(
             level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
             PRIMARY KEY(level, idx)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS checkpoints(
             size INTEGER PRIMARY KEY, root BLOB NOT NULL, note BLOB NOT NULL);",
    )
    .map_err(Error::storage)?;
    let verifier = signer.verifier().to_verifier_key_string();
    for (key, value) in [
        ("schema_version", SCHEMA_VERSION),
        ("origin", signer.name()),
        ("verifier_key", verifier.as_str()),
    ] {
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)",
            params![key, value],
        )
        .map_err(Error::storage)?;
        let stored: String = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .map_err(Error::storage)?;
        if stored != value {
            return Err(Error::Storage {
                reason: format!(
                    "this store's {key} is {stored:?}, not {value:?}: it belongs to another log"
                ),
            });
        }
    }
    Ok(())
}

/// How many reads run on blocking threads at once, each on a pooled connection of
/// its own: two per core (a reader waits on the page cache or the disk
/// part of the time), at least four. More would only add threads and
/// connections contending for the same cores.
pub fn max_blocking_reads() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get() * 2)
        .max(4)
}

fn open_reader(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "query_only", true)?;
    // Readers map the database file: a tree node or entry already in the
    // OS page cache is read without a system call.
    conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
    Ok(conn)
}

/// SQLite's "this is not a database" and "malformed" become [`Error::Corrupt`].
fn map_err(path: &str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        },
        _ => Error::Storage {
            reason: e.to_string(),
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
