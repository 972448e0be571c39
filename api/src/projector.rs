//! The projector: keeps the persisted read models
//! ([`projections::readstore::ReadStore`], `DIR/projections.sqlite`)
//! following the log.
//!
//! At start it checks that the read store belongs to this log (the leaf at
//! its saved position must be the log's) and empties it otherwise; then it
//! catches up from the saved position and follows new entries as they
//! become durable. Reading and folding overlap: one task reads the next
//! page of the log while a blocking thread folds the previous one in. A
//! case whose timeline is not in the read store's memory is folded again
//! from its stream, read from the ledger.
//!
//! Queries that must see every append acknowledged before them call
//! [`Projector::caught_up`] first (read-your-writes). While appends keep
//! coming and no query is waiting, the follower folds at most every
//! [`LIVE_FOLD_INTERVAL`], so each fold takes in many groups at once rather
//! than one small page per commit: the read models then cost appends little
//! CPU. A query that has to wait wakes the follower at once. The same pipeline
//! rebuilds a read store from scratch ([`rebuild`], `ledger projections
//! rebuild`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::store::Direction;
use ledger::{Event, LogIndex, Store, StreamId, StreamVersion};
use projections::readstore::{CaseSource, LogEvent, ReadStore, ReadStoreConfig, ReadStoreError};
use tokio::sync::{Notify, mpsc, watch};

use crate::error::ApiError;

/// What the read models are derived with: the working-day calendar
/// (`LEDGER_CALENDAR`, else the official one) and the default thresholds.
pub fn read_store_config() -> Result<ReadStoreConfig, ApiError> {
    Ok(ReadStoreConfig {
        calendar: crate::routes::cases::calendar()?.clone(),
        rules: projections::RuleConfig::default(),
    })
}

/// Log entries read per page.
const PAGE: usize = 8_192;

/// While the log keeps growing and no query waits, the follower folds at
/// most this often.
pub const LIVE_FOLD_INTERVAL: Duration = Duration::from_millis(250);

/// The read store file in a data directory.
pub const READ_STORE_FILE: &str = "projections.sqlite";

/// A running projector. Dropping it does not stop the task; the shutdown
/// signal given to [`Projector::start`] does.
pub struct Projector {
    read: Arc<ReadStore>,
    store: Arc<dyn Store>,
    position: watch::Receiver<u64>,
    /// Told by a query that is waiting for the read models.
    wanted: Arc<Notify>,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl Projector {
    /// Opens the read store at `path`, checks it against the log (emptying
    /// it if it belongs to another), and follows the log until `shutdown`
    /// turns true.
    pub async fn start(
        store: Arc<dyn Store>,
        path: &Path,
        config: ReadStoreConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Projector>, ReadStoreError> {
        Self::start_folding_every(store, path, config, shutdown, LIVE_FOLD_INTERVAL).await
    }

    /// [`Projector::start`] with another live fold interval than
    /// [`LIVE_FOLD_INTERVAL`].
    pub async fn start_folding_every(
        store: Arc<dyn Store>,
        path: &Path,
        config: ReadStoreConfig,
        shutdown: watch::Receiver<bool>,
        live_fold_interval: Duration,
    ) -> Result<Arc<Projector>, ReadStoreError> {
        let read = open_checked(&store, path, config).await?;
        let (tx, position) = watch::channel(read.next_index());
        let wanted = Arc::new(Notify::new());
        let projector = Arc::new(Projector {
            read: Arc::clone(&read),
            store: Arc::clone(&store),
            position,
            wanted: Arc::clone(&wanted),
        });
        tokio::spawn(follow(
            store,
            read,
            tx,
            shutdown,
            wanted,
            live_fold_interval,
        ));
        Ok(projector)
    }

    /// The read models.
    pub fn read(&self) -> &ReadStore {
        &self.read
    }

    /// The read models, shared (for blocking tasks).
    pub fn read_store(&self) -> Arc<ReadStore> {
        Arc::clone(&self.read)
    }

    /// Waits until the read models hold every entry durable now (at most
    /// `timeout`): what a request sees then includes every append
    /// acknowledged before it.
    pub async fn caught_up(&self, timeout: Duration) -> Result<(), ApiError> {
        let target = self.store.size().await?;
        let mut rx = self.position.clone();
        if *rx.borrow() < target {
            // The follower may be holding back to fold a larger batch.
            self.wanted.notify_one();
        }
        let wait = rx.wait_for(|next| *next >= target);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ApiError::unavailable(
                "the read models stopped following the log",
            )),
            Err(_) => Err(ApiError::unavailable(format!(
                "the read models are at log position {} of {target}; try again shortly",
                *self.position.borrow()
            ))),
        }
    }
}

/// Builds a new read store at `path` (which must not exist) from the start
/// of the log, up to the log's size when called; `progress` is told the
/// position after each page. Returns the number of entries folded in. A
/// failed rebuild leaves a file to be thrown away.
pub async fn rebuild(
    store: Arc<dyn Store>,
    path: &Path,
    config: ReadStoreConfig,
    progress: impl Fn(u64, u64) + Send + 'static,
) -> Result<Rebuilt, ReadStoreError> {
    let read = {
        let path = path.to_owned();
        blocking(move || ReadStore::create_for_rebuild(&path, config)).await?
    };
    let read = Arc::new(read);
    let until = store.size().await.map_err(source_error)?;
    catch_up(store, Arc::clone(&read), until, progress).await?;
    {
        let read = Arc::clone(&read);
        blocking(move || read.finish_rebuild()).await?;
    }
    // The folds kept in memory are not needed any more; freeing them is
    // not part of the rebuild.
    let stats = read.stats();
    tracing::info!(
        refolds = stats.refolds,
        summaries = stats.summaries_written,
        "read models rebuilt"
    );
    let caches = read.take_caches();
    std::thread::spawn(move || drop(caches));
    Ok(Rebuilt {
        entries: read.next_index(),
        stats,
    })
}

/// What a rebuild did.
#[derive(Clone, Copy, Debug)]
pub struct Rebuilt {
    /// Log entries folded in.
    pub entries: u64,
    pub stats: projections::readstore::ReadStoreStats,
}

/// Folds the log into `read` from its position up to `until`, reading the
/// next page while the last one is folded in.
pub async fn catch_up(
    store: Arc<dyn Store>,
    read: Arc<ReadStore>,
    until: u64,
    progress: impl Fn(u64, u64) + Send + 'static,
) -> Result<(), ReadStoreError> {
    let (tx, mut rx) = mpsc::channel::<Vec<LogEvent>>(2);
    let reader = {
        let store = Arc::clone(&store);
        let mut next = read.next_index();
        tokio::spawn(async move {
            while next < until {
                let want = PAGE.min((until - next) as usize);
                let page = store.read_entries(LogIndex(next), want).await?;
                let Some(last) = page.last() else { break };
                next = last.index.0 + 1;
                // Parsed beside the folding thread, on a blocking thread of
                // its own: a page of thousands of entries is tens of
                // milliseconds of work, which on a runtime worker would hold
                // up the requests queued behind it.
                let page = tokio::task::spawn_blocking(move || parse_page(page))
                    .await
                    .map_err(|e| ledger::Error::Storage {
                        reason: format!("parsing a page of the log: {e}"),
                    })??;
                if tx.send(page).await.is_err() {
                    break;
                }
            }
            Ok::<(), ledger::Error>(())
        })
    };
    while let Some(page) = rx.recv().await {
        apply(&store, &read, page).await?;
        progress(read.next_index(), until);
    }
    match reader.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(source_error(e)),
        Err(e) => Err(source_error(e)),
    }
}

/// A page of log entries, parsed into a page allocated once: grown by
/// doubling instead, a page of thousands of events is copied a dozen times
/// over, each time into fresh memory the kernel must first zero.
fn parse_page(page: Vec<ledger::store::RawEntry>) -> Result<Vec<LogEvent>, ledger::Error> {
    let mut parsed = Vec::with_capacity(page.len());
    for raw in page {
        parsed.push(LogEvent::from_own_entry(raw)?);
    }
    Ok(parsed)
}

async fn open_checked(
    store: &Arc<dyn Store>,
    path: &Path,
    config: ReadStoreConfig,
) -> Result<Arc<ReadStore>, ReadStoreError> {
    let opened = {
        let path = path.to_owned();
        let config = config.clone();
        blocking(move || ReadStore::open(&path, config)).await
    };
    let read = match opened {
        Ok(read) => read,
        // Damaged (say, a first build cut short): it holds nothing that
        // is not in the log.
        Err(e) => {
            tracing::warn!("{e}: building the read models again");
            remove_sqlite(path)?;
            let path = path.to_owned();
            let config = config.clone();
            blocking(move || ReadStore::open(&path, config)).await?
        }
    };
    let mut next = read.next_index();
    if next > 0 {
        let log_leaf = store
            .read_log(LogIndex(next - 1), 1)
            .await
            .map_err(source_error)?
            .first()
            .filter(|e| e.index.0 == next - 1)
            .map(|e| e.leaf_hash);
        if let Err(e) = read.check_log(log_leaf) {
            tracing::warn!("{e}: rebuilding the read models from the start of the log");
            read.reset()?;
            next = 0;
        }
    }
    // Nothing folded yet and a long log: the one-pass rebuild is several
    // times faster than following, and the read models are complete when
    // the service starts answering.
    let size = store.size().await.map_err(source_error)?;
    if next == 0 && size >= FIRST_BUILD_AT {
        drop(read);
        remove_sqlite(path)?;
        let started = Instant::now();
        let rebuilt = rebuild(Arc::clone(store), path, config.clone(), |_, _| {}).await?;
        tracing::info!(
            entries = rebuilt.entries,
            seconds = started.elapsed().as_secs_f64(),
            "read models built from the log"
        );
        let path = path.to_owned();
        let read = blocking(move || ReadStore::open(&path, config)).await?;
        return Ok(Arc::new(read));
    }
    Ok(Arc::new(read))
}

/// Log size from which an empty read store is built in one pass at start.
const FIRST_BUILD_AT: u64 = 10_000;

/// Removes an SQLite file with its WAL and shared-memory files.
pub fn remove_sqlite(path: &Path) -> Result<(), ReadStoreError> {
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ReadStoreError::Log {
                    reason: format!("removing {}: {e}", p.display()),
                });
            }
        }
    }
    Ok(())
}

async fn follow(
    store: Arc<dyn Store>,
    read: Arc<ReadStore>,
    position: watch::Sender<u64>,
    mut shutdown: watch::Receiver<bool>,
    wanted: Arc<Notify>,
    live_fold_interval: Duration,
) {
    let started = Instant::now();
    let mut caught_up_once = false;
    // When the last live fold ended; none yet while catching up at start.
    let mut last_fold: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let until = match store.size().await {
            Ok(size) => size,
            Err(e) => {
                tracing::error!("read models: log size: {e}");
                pause(&mut shutdown).await;
                continue;
            }
        };
        let next = read.next_index();
        if next >= until {
            if !caught_up_once {
                caught_up_once = true;
                tracing::info!(
                    position = next,
                    seconds = started.elapsed().as_secs_f64(),
                    "read models caught up with the log"
                );
            }
            tokio::select! {
                _ = store.wait_for_size(next + 1, Duration::from_secs(5)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        // Appends keep coming: gather more of them into the next fold unless
        // a query is waiting.
        if let Some(at) = last_fold {
            let wait = live_fold_interval.saturating_sub(at.elapsed());
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wanted.notified() => {}
                    _ = shutdown.changed() => {}
                }
                last_fold = None;
                continue;
            }
        }
        let tx = position.clone();
        let result = catch_up(
            Arc::clone(&store),
            Arc::clone(&read),
            until,
            move |at, _| {
                tx.send_replace(at);
            },
        )
        .await;
        if let Err(e) = result {
            if *shutdown.borrow() {
                // The runtime is stopping: a read cut short by it is not a
                // fault, and nothing is retried.
                tracing::debug!("read models: stopped while reading: {e}");
                break;
            }
            tracing::error!("read models: {e}; retrying");
            pause(&mut shutdown).await;
        } else if caught_up_once {
            last_fold = Some(Instant::now());
        }
    }
}

async fn pause(shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        _ = shutdown.changed() => {}
    }
}

async fn apply(
    store: &Arc<dyn Store>,
    read: &Arc<ReadStore>,
    mut page: Vec<LogEvent>,
) -> Result<(), ReadStoreError> {
    let read = Arc::clone(read);
    let mut source = LedgerCases {
        store: Arc::clone(store),
        handle: tokio::runtime::Handle::current(),
    };
    let leftovers = blocking(move || {
        read.apply_prepared(&mut page, &mut source)
            .map(|evicted| (page, evicted))
    })
    .await?;
    // Freed off the folding thread, which is the pipeline's bottleneck.
    tokio::spawn(async move { drop(leftovers) });
    Ok(())
}

/// A case's earlier events, read from the ledger on a blocking thread.
struct LedgerCases {
    store: Arc<dyn Store>,
    handle: tokio::runtime::Handle,
}

impl CaseSource for LedgerCases {
    fn events_before(
        &mut self,
        stream: &StreamId,
        before: StreamVersion,
    ) -> Result<Vec<Event>, String> {
        let store = Arc::clone(&self.store);
        let stream = stream.clone();
        self.handle.block_on(async move {
            let mut out = Vec::with_capacity(before.0 as usize);
            while (out.len() as u64) < before.0 {
                let from = StreamVersion(out.len() as u64);
                let want = (before.0 - from.0).min(1_000) as usize;
                let page = store
                    .read_stream(&stream, from, Direction::Forwards, want)
                    .await
                    .map_err(|e| e.to_string())?;
                if page.is_empty() {
                    break;
                }
                out.extend(page.into_iter().map(|s| s.event));
            }
            Ok(out)
        })
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReadStoreError> + Send + 'static,
) -> Result<T, ReadStoreError> {
    tokio::task::spawn_blocking(f).await.map_err(source_error)?
}

fn source_error(e: impl std::fmt::Display) -> ReadStoreError {
    ReadStoreError::Log {
        reason: e.to_string(),
    }
}
