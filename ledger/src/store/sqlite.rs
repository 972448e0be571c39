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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{oneshot, watch};

use super::{AppendRequest, Direction, RawEntry, Receipt, Store, StoredCheckpoint, StoredEvent};
use crate::checkpoint::Checkpoint;
use crate::error::Error;
use crate::event::{Event, LeafHash, ProposedEvent};
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
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            checkpoint_interval: Duration::from_secs(1),
            max_group_events: 4_096,
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
    size: watch::Receiver<u64>,
    registry: Arc<RwLock<KeyRegistry>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// Where an append's answer goes.
type Reply = oneshot::Sender<Result<Vec<Receipt>, Error>>;

enum Job {
    Append {
        request: AppendRequest,
        digests: Vec<[u8; 32]>,
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
        let (size_tx, size_rx) = watch::channel(0);
        let registry = Arc::new(RwLock::new(KeyRegistry::new()));
        let mut writer = Writer {
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
            shared_registry: registry.clone(),
        };
        writer.reload()?;
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
                size: size_rx,
                registry,
                writer: Mutex::new(Some(handle)),
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
                size: size_rx,
                registry: Arc::new(RwLock::new(KeyRegistry::new())),
                writer: Mutex::new(None),
            }),
        })
    }

    /// Stops the writer after the work already queued; later calls fail
    /// with [`Error::Closed`].
    pub fn close(&self) {
        lock(&self.inner.jobs).take();
        if let Some(handle) = lock(&self.inner.writer).take() {
            let _ = handle.join();
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
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
        tokio::task::spawn_blocking(move || {
            let display = inner.path.display().to_string();
            let conn = match lock(&inner.readers).pop() {
                Some(c) => c,
                None => open_reader(&inner.path).map_err(|e| map_err(&display, e))?,
            };
            let out = f(&conn).map_err(|e| map_err(&display, e));
            lock(&inner.readers).push(conn);
            out
        })
        .await
        .map_err(Error::storage)?
    }

    /// Verifies author signatures of events that carry one, against the
    /// keys known now (key *status* is checked again by the writer, at the
    /// moment of sequencing).
    fn verify_signatures(&self, events: &[ProposedEvent]) -> Result<(), Error> {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner());
        for ev in events {
            if let Some(sig) = &ev.signature {
                let rec = registry.get(&sig.key).ok_or_else(|| Error::UnknownKey {
                    key: sig.key.clone(),
                })?;
                crate::keys::verify_signature_bytes(ev, rec, sig)?;
            }
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.jobs).take();
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn append(&self, request: AppendRequest) -> Result<Vec<Receipt>, Error> {
        request.check_shape()?;
        self.verify_signatures(&request.events)?;
        let digests = request
            .events
            .iter()
            .map(ProposedEvent::content_digest)
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, answer) = oneshot::channel();
        self.send(Job::Append {
            request,
            digests,
            reply,
        })?;
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
        let raws = self
            .read(move |c| {
                let sql = match direction {
                    Direction::Forwards => {
                        "SELECT idx, entry FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version ASC LIMIT ?3"
                    }
                    Direction::Backwards => {
                        "SELECT idx, entry FROM events WHERE stream = ?1 AND version <= ?2 ORDER BY version DESC LIMIT ?3"
                    }
                };
                let mut st = c.prepare_cached(sql)?;
                let from = i64::try_from(from.0).unwrap_or(i64::MAX);
                st.query_map(params![stream, from, limit], raw_row)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        raws.into_iter().map(StoredEvent::from_raw).collect()
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<StreamVersion>, Error> {
        let stream = stream.as_str().to_owned();
        self.read(move |c| Ok(stream_head(c, &stream)?.map(|(v, _)| v)))
            .await
    }

    async fn read_entries(&self, from: LogIndex, limit: usize) -> Result<Vec<RawEntry>, Error> {
        let from = i64::try_from(from.0).unwrap_or(i64::MAX);
        let limit = limit as i64;
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT idx, entry FROM events WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
            )?;
            st.query_map(params![from, limit], raw_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .await
    }

    async fn event_by_id(&self, id: EventId) -> Result<Option<StoredEvent>, Error> {
        let raw = self
            .read(move |c| {
                c.prepare_cached("SELECT idx, entry FROM events WHERE id = ?1")?
                    .query_row(params![id.0.to_bytes().to_vec()], raw_row)
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
        let ids = ids.to_vec();
        self.read(move |c| read_node_hashes(c, &ids)).await?
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        self.read(|c| {
            c.prepare_cached("SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1")?
                .query_row([], checkpoint_row)
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
        self.read(move |c| {
            c.prepare_cached(
                "SELECT size, root, note FROM checkpoints WHERE size >= ?1 ORDER BY size LIMIT ?2",
            )?
            .query_map(params![from, limit], checkpoint_row)?
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
    signer: NoteSigner,
    config: SqliteConfig,
    frontier: Frontier,
    registry: KeyRegistry,
    last_recorded: Option<Timestamp>,
    last_checkpoint_size: u64,
    next_checkpoint_due: Instant,
    size_tx: watch::Sender<u64>,
    shared_registry: Arc<RwLock<KeyRegistry>>,
}

/// What one group has done so far, seen by later requests in the group.
#[derive(Default)]
struct Group {
    heads: HashMap<StreamId, (StreamVersion, LeafHash)>,
    receipts: HashMap<EventId, (Receipt, [u8; 32])>,
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
            let mut jobs = Vec::new();
            let mut events = 0;
            if let Some(job) = first {
                events += job_events(&job);
                jobs.push(job);
                while events < self.config.max_group_events {
                    match rx.try_recv() {
                        Ok(job) => {
                            events += job_events(&job);
                            jobs.push(job);
                        }
                        Err(_) => break,
                    }
                }
            }
            self.commit_group(jobs);
        }
    }

    /// On shutdown, sign a last checkpoint so nothing is left unsigned.
    fn shutdown(mut self) {
        if self.frontier.size() > self.last_checkpoint_size {
            self.commit_group(Vec::new());
        }
    }

    fn commit_group(&mut self, jobs: Vec<Job>) {
        let mut group = Group::default();
        let mut answers: Vec<(Reply, Outcome)> = Vec::new();
        let mut checkpoint_replies = Vec::new();
        let mut failure: Option<Error> = None;

        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            failure = Some(map_err(&self.path, e));
        }
        let mut jobs = jobs.into_iter();
        if failure.is_none() {
            for job in jobs.by_ref() {
                match job {
                    Job::Append {
                        request,
                        digests,
                        reply,
                    } => match self.apply(&mut group, &request, &digests) {
                        Ok(outcome) => answers.push((reply, outcome)),
                        Err(e) => {
                            let _ = reply.send(Err(Error::storage(&e)));
                            failure = Some(e);
                            break;
                        }
                    },
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
            && let Err(e) = self.conn.execute_batch("COMMIT")
        {
            failure = Some(map_err(&self.path, e));
        }

        if let Some(err) = failure {
            let _ = self.conn.execute_batch("ROLLBACK");
            let reason = err.to_string();
            for (reply, _) in answers {
                let _ = reply.send(Err(Error::Storage {
                    reason: reason.clone(),
                }));
            }
            for job in jobs {
                match job {
                    Job::Append { reply, .. } => {
                        let _ = reply.send(Err(Error::Storage {
                            reason: reason.clone(),
                        }));
                    }
                    Job::Checkpoint { reply } => checkpoint_replies.push(reply),
                }
            }
            for reply in checkpoint_replies {
                let _ = reply.send(Err(Error::Storage {
                    reason: reason.clone(),
                }));
            }
            // The in-memory tree edge and registry may be ahead of disk.
            if let Err(e) = self.reload() {
                eprintln!("ledger: reloading after a failed commit: {e}");
            }
            return;
        }

        if group.registry_changed {
            *self
                .shared_registry
                .write()
                .unwrap_or_else(|p| p.into_inner()) = self.registry.clone();
        }
        self.size_tx.send_replace(self.frontier.size());
        for (reply, outcome) in answers {
            let _ = reply.send(match outcome {
                Outcome::Done(receipts) => Ok(receipts),
                Outcome::Refused(e) => Err(e),
            });
        }
        for reply in checkpoint_replies {
            let _ = reply.send(Ok(()));
        }
    }

    /// Sequences one request inside the open transaction. `Ok(Refused)`
    /// means nothing was written; `Err` means the group must roll back.
    fn apply(
        &mut self,
        group: &mut Group,
        request: &AppendRequest,
        digests: &[[u8; 32]],
    ) -> Result<Outcome, Error> {
        // Idempotency first: a retry gets its original receipts whatever
        // the stream's version is now.
        let mut existing = Vec::new();
        for (ev, digest) in request.events.iter().zip(digests) {
            if let Some((receipt, stored_digest)) = self.find_event(group, ev.id)? {
                if &stored_digest != digest {
                    return Ok(Outcome::Refused(Error::IdempotencyConflict { id: ev.id }));
                }
                existing.push(receipt);
            }
        }
        if existing.len() == request.events.len() {
            return Ok(Outcome::Done(existing));
        }
        if !existing.is_empty() {
            return Ok(Outcome::Refused(Error::PartialRetry {
                existing: existing.len(),
                new: request.events.len() - existing.len(),
            }));
        }

        let head = match group.heads.get(&request.stream) {
            Some(h) => Some(*h),
            None => stream_head(&self.conn, request.stream.as_str())
                .map_err(|e| map_err(&self.path, e))?,
        };
        let current = head.map(|(v, _)| v);
        if !request.expected.admits(current) {
            return Ok(Outcome::Refused(Error::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                current,
            }));
        }

        // Server time never runs backwards along the log.
        let now = Timestamp::now();
        let recorded_at = match &self.last_recorded {
            Some(last) if last > &now => last.clone(),
            _ => now,
        };

        // Key status and registry changes, checked before anything is written.
        let mut scratch = None;
        let mut prev = head.map_or(LeafHash::GENESIS, |(_, leaf)| leaf);
        let mut sealed = Vec::with_capacity(request.events.len());
        let first_version = current.map_or(0, |v| v.0 + 1);
        for (next_version, ev) in (first_version..).zip(&request.events) {
            let registry = scratch.as_ref().unwrap_or(&self.registry);
            if let Some(sig) = &ev.signature
                && let Err(e) = registry.authorize(sig, &ev.actor.department, &recorded_at)
            {
                return Ok(Outcome::Refused(e));
            }
            let s = match ev.seal(StreamVersion(next_version), recorded_at.clone(), prev) {
                Ok(s) => s,
                Err(e) => return Ok(Outcome::Refused(e)),
            };
            if request.stream.is_registry() {
                let reg = scratch.get_or_insert_with(|| self.registry.clone());
                if let Err(e) = reg.apply(&s.event) {
                    return Ok(Outcome::Refused(e));
                }
            }
            prev = s.leaf_hash;
            sealed.push(s);
        }

        // Write.
        let mut receipts = Vec::with_capacity(sealed.len());
        let mut nodes = Vec::new();
        {
            let mut insert = self
                .conn
                .prepare_cached(
                    "INSERT INTO events(idx, id, stream, version, leaf, entry) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|e| map_err(&self.path, e))?;
            let mut insert_node = self
                .conn
                .prepare_cached("INSERT INTO nodes(level, idx, hash) VALUES (?1, ?2, ?3)")
                .map_err(|e| map_err(&self.path, e))?;
            for (s, digest) in sealed.iter().zip(digests) {
                let index = self.frontier.size();
                insert
                    .execute(params![
                        index as i64,
                        s.event.id.0.to_bytes().to_vec(),
                        s.event.stream.as_str(),
                        s.event.version.0 as i64,
                        &s.leaf_hash.0.0[..],
                        &s.entry,
                    ])
                    .map_err(|e| map_err(&self.path, e))?;
                nodes.clear();
                self.frontier.push_into(s.leaf_hash.0, &mut nodes);
                for (id, hash) in nodes.iter().filter(|(id, _)| id.level > 0) {
                    insert_node
                        .execute(params![i64::from(id.level), id.index as i64, &hash.0[..]])
                        .map_err(|e| map_err(&self.path, e))?;
                }
                let receipt = Receipt {
                    event_id: s.event.id,
                    stream: s.event.stream.clone(),
                    version: s.event.version,
                    log_index: LogIndex(index),
                    leaf_hash: s.leaf_hash,
                };
                group
                    .receipts
                    .insert(s.event.id, (receipt.clone(), *digest));
                receipts.push(receipt);
            }
        }
        if let Some(last) = sealed.last() {
            group
                .heads
                .insert(request.stream.clone(), (last.event.version, last.leaf_hash));
        }
        if let Some(reg) = scratch {
            self.registry = reg;
            group.registry_changed = true;
        }
        self.last_recorded = Some(recorded_at);
        Ok(Outcome::Done(receipts))
    }

    /// An event already sequenced (in this group or on disk), with the
    /// digest of its author's content.
    fn find_event(&self, group: &Group, id: EventId) -> Result<Option<(Receipt, [u8; 32])>, Error> {
        if let Some(found) = group.receipts.get(&id) {
            return Ok(Some(found.clone()));
        }
        let raw = self
            .conn
            .prepare_cached("SELECT idx, entry FROM events WHERE id = ?1")
            .and_then(|mut st| {
                st.query_row(params![id.0.to_bytes().to_vec()], raw_row)
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
        let root = self.frontier.root();
        let checkpoint = Checkpoint {
            origin: self.signer.name().to_owned(),
            size,
            root: root.0,
            extensions: Vec::new(),
        };
        let note = checkpoint
            .sign(&self.signer)
            .map_err(Error::storage)?
            .to_bytes();
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
        self.size_tx.send_replace(size);
        Ok(())
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
fn read_node_hashes(
    c: &Connection,
    ids: &[NodeId],
) -> Result<Result<Vec<Hash>, Error>, rusqlite::Error> {
    let mut leaf = c.prepare_cached("SELECT leaf FROM events WHERE idx = ?1")?;
    let mut node = c.prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let bytes: Option<Vec<u8>> = if id.level == 0 {
            leaf.query_row(params![id.index as i64], |r| r.get(0))
                .optional()?
        } else {
            node.query_row(params![i64::from(id.level), id.index as i64], |r| r.get(0))
                .optional()?
        };
        match bytes.as_deref().and_then(Hash::from_slice) {
            Some(h) => out.push(h),
            None => {
                return Ok(Err(Error::Storage {
                    reason: format!(
                        "tree node level {} index {} is missing or damaged",
                        id.level, id.index
                    ),
                }));
            }
        }
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
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(Error::storage)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(Error::storage)?;
    conn.pragma_update(None, "synchronous", "FULL")
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

fn open_reader(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "query_only", true)?;
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
