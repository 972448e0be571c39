//! The ledger's PostgreSQL backend: [`PostgresStore`] implements
//! [`ledger::Store`] on a PostgreSQL server (`--store postgres://…`).
//!
//! # What it does
//!
//! Several `ledger serve` processes — on one machine or many, behind a load
//! balancer — share one database and keep **one total log order and one
//! Merkle tree**. Every process takes appends and serves reads; appends are
//! sequenced by whichever process holds the log's advisory lock at that
//! moment, one group at a time:
//!
//! - Each process gathers the appends queued in it (a group commit, like the
//!   embedded store's writer) and sequences the group in **one transaction**
//!   that first takes `pg_advisory_xact_lock` for the log, reads the log's
//!   size, tree frontier and last checkpoint from the one-row `log_head`
//!   table, checks idempotency, expected versions and key status, assigns log
//!   indexes, inserts entries and RFC 6962 tree nodes (the embedded store's
//!   layout: leaf hashes beside the entries, interior nodes in `nodes`),
//!   signs a checkpoint when one is due, updates `log_head`, and commits with
//!   `synchronous_commit = on`. Appends are acknowledged only after `COMMIT`.
//!   See [`sequencer`] for the steps. The sequencer runs on a thread of its
//!   own with its own connections, so its round trips to the server never
//!   wait behind the service's HTTP tasks.
//! - The lock is transaction-scoped, so there is no leader to elect or fail
//!   over: a process killed mid-group (SIGKILL) loses its connection, the
//!   server rolls its transaction back and the next process waiting takes
//!   the lock at once. Nothing it acknowledged is lost, because nothing was
//!   acknowledged before its commit; a client whose append was cut off
//!   retries with the same event ids and gets the original receipts if the
//!   commit did land. A sequencer session that stalls inside a transaction is
//!   ended by the server after 10 s (`idle_in_transaction_session_timeout`).
//! - The key registry is the `registry` stream in the same database. Every
//!   group reads, under the lock and in its first round trip, the registry
//!   events its process has not seen (usually none) before checking any
//!   key, so key status is always judged against the whole log.
//! - Checkpoints are signed with the ledger key (`ledger::checkpoint`) by
//!   whichever process sequences when one is due — at least every
//!   [`PostgresConfig::checkpoint_interval`] while the log grows, timed by the
//!   database's clock so every process agrees — and kept in `checkpoints`.
//!   A ticker in each process signs one when the log stops growing.
//! - Following: each commit `pg_notify`s the new size; every process
//!   `LISTEN`s on a dedicated connection and also polls `log_head` every
//!   [`PostgresConfig::poll_interval`] in case a notification is missed, so
//!   `wait_for_size` (and the projections built on `ledger::store::follow`)
//!   see other processes' appends. [`Store::size`] reads `log_head` itself.
//! - Schema migrations are versioned in `schema_migrations` and applied on
//!   open under a second advisory lock ([`schema`]).
//! - Author signatures are checked before sequencing, outside the lock, in
//!   batches, by `ledger::store::signatures` — the embedded store's code.
//!
//! # What it deliberately does not do
//!
//! - No TLS: the database belongs on a private network or a local socket.
//! - No home-made replication or consensus: availability and replication are
//!   PostgreSQL's (streaming replication, a managed service). The ledger
//!   only needs one writable primary.
//! - No sequencing in parallel: the log is one order, so one group at a time
//!   holds the lock; processes add throughput by preparing and verifying
//!   appends and by serving reads, not by sequencing side by side.
//! - No cache of tree nodes in memory: proofs read their hashes from the
//!   database (one or two queries per proof).
//! - No repair: a damaged database is reported (`Error::Corrupt`), not fixed.
//!
//! # Tables (schema version 1)
//!
//! `events(idx, id UNIQUE, stream, version, leaf, entry)` with
//! `UNIQUE(stream, version)`; `nodes(level, idx, hash)`;
//! `checkpoints(size, root, note)`; `log_head` (one row); `ledger_meta`
//! (origin and verifier key: a database belongs to one log);
//! `schema_migrations`.

pub mod schema;
pub mod sequencer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures::StreamExt;
use ledger::event::PreparedEvent;
use ledger::merkle::{Hash, NodeId};
use ledger::note::NoteSigner;
use ledger::store::signatures::{AuthorSignatures, SignatureBatcher};
use ledger::store::{
    AppendRequest, Direction, PreparedAppend, RawEntry, StoredCheckpoint, StoredEvent,
};
use ledger::{
    Clock, Error, EventId, KeyRegistry, LogIndex, Receipt, Store, StreamId, StreamVersion,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

pub use sequencer::SequencerStats;
use sequencer::{
    Job, NOTIFY_CHANNEL, RegistryView, Sequencer, SequencerCounters, Shared, raw_entry, to_i64,
    to_u64,
};

/// First key of the ledger's advisory locks: "LEDG" in ASCII.
pub const LOCK_NAMESPACE: i32 = 0x4C45_4447;
/// Second key of the lock held while sequencing the log.
pub const LOCK_LOG: i32 = 1;
/// Second key of the lock held while migrating the schema.
pub const LOCK_MIGRATIONS: i32 = 2;

/// Tunables of the PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// A checkpoint is signed at least this often while the log grows.
    pub checkpoint_interval: Duration,
    /// Most events sequenced in one transaction.
    pub max_group_events: usize,
    /// Connections this process keeps for reads (the sequencer keeps two of
    /// its own).
    pub pool_size: usize,
    /// How often the log size is polled in case a notification was missed.
    pub poll_interval: Duration,
    /// The server time stamped as `recorded_at`.
    pub clock: Clock,
    /// After another process sequenced, the heads this process cached for a
    /// group's streams are checked against the rows appended since it last
    /// sequenced, in the group's first round trip, when those are at most
    /// this many; otherwise they are read again in a round trip of their
    /// own ([`sequencer`]).
    pub catch_up_rows: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            checkpoint_interval: Duration::from_secs(1),
            max_group_events: 4_096,
            pool_size: 16,
            poll_interval: Duration::from_millis(500),
            clock: Clock::system(),
            catch_up_rows: 10_000,
        }
    }
}

/// The PostgreSQL store. Cheap to clone; clones share one pool and one
/// sequencer. Other processes may open the same database at the same time.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// `host:port/dbname`, for messages.
    db: String,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    shared: Arc<Shared>,
    signatures: SignatureBatcher,
    /// Resolves when the sequencer's thread has finished.
    sequencer: Mutex<Option<oneshot::Receiver<()>>>,
    /// The listener and the checkpoint ticker: aborted on close.
    background: Mutex<Vec<JoinHandle<()>>>,
}

impl PostgresStore {
    /// Opens the store in the database at `url` (`postgres://user@host/db`),
    /// applying any schema migrations it lacks, bound to the log signed by
    /// `signer`. Must be called inside a Tokio runtime.
    pub async fn open(
        url: &str,
        signer: NoteSigner,
        config: PostgresConfig,
    ) -> Result<Self, Error> {
        let pg: tokio_postgres::Config = url.parse().map_err(|e| Error::Storage {
            reason: format!("PostgreSQL URL {url:?}: {e}"),
        })?;
        Self::connect(pg, signer, config).await
    }

    /// [`PostgresStore::open`] with a parsed connection configuration.
    pub async fn connect(
        pg: tokio_postgres::Config,
        signer: NoteSigner,
        config: PostgresConfig,
    ) -> Result<Self, Error> {
        let db = describe(&pg);
        let pool = new_pool(&pg, config.pool_size.max(2), &db)?;
        schema::migrate(&pool, &signer, &db).await?;

        let shared = Arc::new(Shared {
            size: watch::Sender::new(0),
            registry: RwLock::new(RegistryView::default()),
            stats: SequencerCounters::default(),
        });
        let mut registry = RegistryView::default();
        {
            let client = get(&pool, &db).await?;
            registry.refresh(&client, &db).await?;
            shared.saw_size(read_size(&client).await?);
        }
        *shared.registry.write().unwrap_or_else(|p| p.into_inner()) = registry.clone();

        // The sequencer's own connections, made on its own thread (below) so
        // their I/O is driven there too.
        let sequencer_pool = new_pool(&pg, 2, &db)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let sequencer = Sequencer {
            pool: sequencer_pool,
            db: db.clone(),
            signer,
            clock: config.clock.clone(),
            checkpoint_interval: config.checkpoint_interval,
            max_group_events: config.max_group_events,
            catch_up_rows: config.catch_up_rows,
            shared: shared.clone(),
            known_size: None,
            heads: HashMap::new(),
            registry,
        };
        let sequencer = spawn_sequencer(sequencer, rx)?;
        let listener = tokio::spawn(listen(
            pg,
            pool.clone(),
            shared.clone(),
            config.poll_interval,
        ));
        let ticker = tokio::spawn(tick(tx.downgrade(), config.checkpoint_interval));
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                db,
                jobs: Mutex::new(Some(tx)),
                shared,
                signatures: SignatureBatcher::per_core()?,
                sequencer: Mutex::new(Some(sequencer)),
                background: Mutex::new(vec![listener, ticker]),
            }),
        })
    }

    /// Stops taking appends, lets the sequencer finish what is queued (and
    /// sign a last checkpoint), and stops following. Later appends fail
    /// with [`Error::Closed`].
    pub async fn close(&self) {
        lock(&self.inner.jobs).take();
        let sequencer = lock(&self.inner.sequencer).take();
        if let Some(done) = sequencer {
            // An error only means the thread is gone already.
            let _ = done.await;
        }
        self.inner.stop_background();
    }

    /// What this process's sequencer has done so far.
    pub fn stats(&self) -> SequencerStats {
        self.inner.shared.stats.snapshot()
    }

    /// `host:port/dbname` of the database, for messages.
    pub fn database(&self) -> &str {
        &self.inner.db
    }

    fn send(&self, job: Job) -> Result<(), Error> {
        match lock(&self.inner.jobs).as_ref() {
            Some(tx) => tx.send(job).map_err(|_| Error::Closed),
            None => Err(Error::Closed),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        get(&self.inner.pool, &self.inner.db).await
    }

    /// The registry as of the end of the log, brought up to date from the
    /// database.
    async fn fresh_registry(&self) -> Result<KeyRegistry, Error> {
        let mut view = self
            .inner
            .shared
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let client = self.client().await?;
        if view.refresh(&client, &self.inner.db).await? {
            let mut shared = self
                .inner
                .shared
                .registry
                .write()
                .unwrap_or_else(|p| p.into_inner());
            if view.next > shared.next {
                *shared = view.clone();
            }
        }
        Ok(view.registry)
    }

    /// Verifies author signatures against the keys known now (key *status*
    /// is checked again by the sequencer, under the lock). A key this
    /// process has not seen may have been registered by another one: the
    /// registry is reread once before a key is called unknown.
    async fn verify_signatures(&self, events: &[PreparedEvent]) -> Result<(), Error> {
        let known = {
            let shared = self
                .inner
                .shared
                .registry
                .read()
                .unwrap_or_else(|p| p.into_inner());
            AuthorSignatures::resolve(&shared.registry, events)
        };
        let signatures = match known {
            Err(Error::UnknownKey { .. }) => {
                AuthorSignatures::resolve(&self.fresh_registry().await?, events)?
            }
            other => other?,
        };
        if signatures.is_empty() {
            return Ok(());
        }
        self.inner.signatures.verify_authors(signatures).await
    }
}

impl Inner {
    fn stop_background(&self) {
        for handle in lock(&self.background).drain(..) {
            handle.abort();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The sequencer ends by itself once its queue is drained.
        lock(&self.jobs).take();
        self.stop_background();
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn append(&self, request: AppendRequest) -> Result<Vec<Receipt>, Error> {
        let request = PreparedAppend::new(request)?;
        self.verify_signatures(&request.events).await?;
        let (reply, answer) = oneshot::channel();
        self.send(Job::Append { request, reply })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, Error> {
        let sql = match direction {
            Direction::Forwards => {
                "SELECT idx, entry FROM events WHERE stream = $1 AND version >= $2
                 ORDER BY version ASC LIMIT $3"
            }
            Direction::Backwards => {
                "SELECT idx, entry FROM events WHERE stream = $1 AND version <= $2
                 ORDER BY version DESC LIMIT $3"
            }
        };
        let rows = self
            .query(
                sql,
                &[&stream.as_str(), &to_i64(from.0), &to_i64(limit as u64)],
            )
            .await?;
        rows.iter()
            .map(|r| StoredEvent::from_raw(raw_entry(r)))
            .collect()
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<StreamVersion>, Error> {
        let rows = self
            .query(
                "SELECT MAX(version) FROM events WHERE stream = $1",
                &[&stream.as_str()],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.get::<_, Option<i64>>(0))
            .map(|v| StreamVersion(to_u64(v))))
    }

    async fn read_entries(&self, from: LogIndex, limit: usize) -> Result<Vec<RawEntry>, Error> {
        let rows = self
            .query(
                "SELECT idx, entry FROM events WHERE idx >= $1 ORDER BY idx LIMIT $2",
                &[&to_i64(from.0), &to_i64(limit as u64)],
            )
            .await?;
        Ok(rows.iter().map(raw_entry).collect())
    }

    async fn event_by_id(&self, id: EventId) -> Result<Option<StoredEvent>, Error> {
        let rows = self
            .query(
                "SELECT idx, entry FROM events WHERE id = $1",
                &[&&id.0.to_bytes()[..]],
            )
            .await?;
        rows.first()
            .map(|r| StoredEvent::from_raw(raw_entry(r)))
            .transpose()
    }

    async fn size(&self) -> Result<u64, Error> {
        let client = self.client().await?;
        let size = read_size(&client).await?;
        self.inner.shared.saw_size(size);
        Ok(size)
    }

    async fn wait_for_size(&self, size: u64, timeout: Duration) -> Result<u64, Error> {
        let mut rx = self.inner.shared.size.subscribe();
        if *rx.borrow() >= size {
            return Ok(*rx.borrow());
        }
        let now = self.size().await?;
        if now >= size {
            return Ok(now);
        }
        let _ = tokio::time::timeout(timeout, rx.wait_for(|s| *s >= size)).await;
        let now = *rx.borrow();
        Ok(now)
    }

    async fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let leaves: Vec<i64> = ids
            .iter()
            .filter(|id| id.level == 0)
            .map(|id| to_i64(id.index))
            .collect();
        let (levels, indexes): (Vec<i16>, Vec<i64>) = ids
            .iter()
            .filter(|id| id.level > 0)
            .map(|id| (i16::from(id.level), to_i64(id.index)))
            .unzip();
        let client = self.client().await?;
        let leaf_rows = async {
            if leaves.is_empty() {
                return Ok(Vec::new());
            }
            let st = client
                .prepare_cached("SELECT 0::smallint, idx, leaf FROM events WHERE idx = ANY($1)")
                .await?;
            client.query(&st, &[&leaves]).await
        };
        let node_rows = async {
            if levels.is_empty() {
                return Ok(Vec::new());
            }
            let st = client
                .prepare_cached(
                    "SELECT n.level, n.idx, n.hash FROM nodes n
                     JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx)
                       ON n.level = w.level AND n.idx = w.idx",
                )
                .await?;
            client.query(&st, &[&levels, &indexes]).await
        };
        let (leaf_rows, node_rows) = futures::try_join!(leaf_rows, node_rows).map_err(pg_error)?;
        let mut found: HashMap<(i16, i64), Hash> = HashMap::with_capacity(ids.len());
        for row in leaf_rows.iter().chain(&node_rows) {
            let bytes: &[u8] = row.get(2);
            if let Some(h) = Hash::from_slice(bytes) {
                found.insert((row.get(0), row.get(1)), h);
            }
        }
        ids.iter()
            .map(|id| {
                found
                    .get(&(i16::from(id.level), to_i64(id.index)))
                    .copied()
                    .ok_or_else(|| Error::Storage {
                        reason: format!(
                            "tree node level {} index {} is missing or damaged",
                            id.level, id.index
                        ),
                    })
            })
            .collect()
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        let rows = self
            .query(
                "SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )
            .await?;
        Ok(rows.first().map(checkpoint_row))
    }

    async fn checkpoints(
        &self,
        from_size: u64,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, Error> {
        let rows = self
            .query(
                "SELECT size, root, note FROM checkpoints WHERE size >= $1 ORDER BY size LIMIT $2",
                &[&to_i64(from_size), &to_i64(limit as u64)],
            )
            .await?;
        Ok(rows.iter().map(checkpoint_row).collect())
    }

    async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Checkpoint {
            force: true,
            reply: Some(reply),
        })?;
        answer.await.map_err(|_| Error::Closed)??;
        self.latest_checkpoint().await
    }

    async fn key_registry(&self) -> Result<KeyRegistry, Error> {
        self.fresh_registry().await
    }
}

impl PostgresStore {
    /// One read on a pooled connection, with its statement prepared once
    /// per connection.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, Error> {
        let client = self.client().await?;
        let st = client.prepare_cached(sql).await.map_err(pg_error)?;
        client.query(&st, params).await.map_err(pg_error)
    }
}

/// Keeps `shared.size` up to date with other processes' commits: `LISTEN`
/// on a dedicated connection (reconnecting when it drops), and a poll of
/// `log_head` whenever `poll` passes without a notification.
async fn listen(pg: tokio_postgres::Config, pool: Pool, shared: Arc<Shared>, poll: Duration) {
    loop {
        let (notes_tx, mut notes) = mpsc::unbounded_channel::<String>();
        let client = match pg.connect(NoTls).await {
            Ok((client, mut connection)) => {
                tokio::spawn(async move {
                    let mut messages = futures::stream::poll_fn(|cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if let AsyncMessage::Notification(n) = message
                            && notes_tx.send(n.payload().to_owned()).is_err()
                        {
                            break;
                        }
                    }
                });
                match client
                    .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
                    .await
                {
                    Ok(()) => Some(client),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        loop {
            tokio::select! {
                note = notes.recv(), if client.is_some() => match note {
                    Some(text) => {
                        if let Ok(size) = text.parse::<u64>() {
                            shared.saw_size(size);
                        }
                    }
                    // The connection dropped: listen again.
                    None => break,
                },
                _ = tokio::time::sleep(poll) => {
                    if let Ok(client) = pool.get().await
                        && let Ok(size) = read_size(&client).await
                    {
                        shared.saw_size(size);
                    }
                    if client.is_none() {
                        break;
                    }
                }
            }
        }
    }
}

/// Runs the sequencer on a thread of its own, with a single-threaded Tokio
/// runtime driving it and its connections. Every group waits on a few round
/// trips to the server; on the service's runtime each of those wake-ups
/// would queue behind the HTTP tasks, and under load that queueing, not the
/// database, set the pace of the log. The thread ends when the queue is
/// closed and drained; the receiver returned resolves then.
fn spawn_sequencer(
    sequencer: Sequencer,
    jobs: mpsc::UnboundedReceiver<Job>,
) -> Result<oneshot::Receiver<()>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Storage {
            reason: format!("starting the PostgreSQL sequencer's runtime: {e}"),
        })?;
    let (done_tx, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("ledger-pg-seq".to_owned())
        .spawn(move || {
            runtime.block_on(sequencer.run(jobs));
            let _ = done_tx.send(());
        })
        .map_err(|e| Error::Storage {
            reason: format!("starting the PostgreSQL sequencer's thread: {e}"),
        })?;
    Ok(done)
}

/// Asks the sequencer, a few times per interval, to sign a checkpoint if
/// one is due (it checks without the lock first). Ends with the store.
async fn tick(jobs: mpsc::WeakUnboundedSender<Job>, interval: Duration) {
    let period = (interval / 4).max(Duration::from_millis(20));
    loop {
        tokio::time::sleep(period).await;
        let Some(tx) = jobs.upgrade() else {
            return;
        };
        if tx
            .send(Job::Checkpoint {
                force: false,
                reply: None,
            })
            .is_err()
        {
            return;
        }
    }
}

/// A pool of at most `size` connections to `pg`. Connections are made
/// lazily, on the runtime that first asks for them.
fn new_pool(pg: &tokio_postgres::Config, size: usize, db: &str) -> Result<Pool, Error> {
    let manager = Manager::from_config(
        pg.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|e| Error::Storage {
            reason: format!("PostgreSQL pool for {db}: {e}"),
        })
}

async fn get(pool: &Pool, db: &str) -> Result<deadpool_postgres::Object, Error> {
    pool.get().await.map_err(|e| Error::Storage {
        reason: format!("connecting to PostgreSQL database {db}: {e}"),
    })
}

async fn read_size(client: &deadpool_postgres::Object) -> Result<u64, Error> {
    let st = client
        .prepare_cached("SELECT size FROM log_head")
        .await
        .map_err(pg_error)?;
    let row = client.query_one(&st, &[]).await.map_err(pg_error)?;
    Ok(to_u64(row.get(0)))
}

fn checkpoint_row(r: &tokio_postgres::Row) -> StoredCheckpoint {
    let root: &[u8] = r.get(1);
    StoredCheckpoint {
        size: to_u64(r.get(0)),
        root: Hash::from_slice(root).unwrap_or_default(),
        note: r.get(2),
    }
}

/// `host:port/dbname` of a connection configuration.
fn describe(pg: &tokio_postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", pg.get_dbname().unwrap_or("postgres"))
}

/// A PostgreSQL failure as the ledger's storage error.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> Error {
    Error::Storage {
        reason: match e.as_db_error() {
            Some(db) => format!("PostgreSQL: {}: {}", db.code().code(), db.message()),
            None => format!("PostgreSQL: {e}"),
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequencing_lock_is_the_documented_one() {
        let want = format!("pg_advisory_xact_lock({LOCK_NAMESPACE}, {LOCK_LOG})");
        assert!(sequencer::BEGIN_SEQUENCING.contains(&want));
        assert_eq!(&LOCK_NAMESPACE.to_be_bytes(), b"LEDG");
    }
}
