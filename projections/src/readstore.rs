//! The persisted read models: one SQLite file that follows the log from a
//! saved position, so a restart resumes where it stopped instead of
//! replaying everything, and that can be thrown away and rebuilt from the
//! log at any time.
//!
//! [`ReadStore::apply`] takes the next events of the log, in log order, and
//! folds them into the catalogue, the case summaries and the work logs in
//! one transaction that also saves the new position — so what the file
//! holds is always exactly the fold of the log's first `position` entries.
//! The position is saved with the leaf hash of the last entry folded in, so
//! a read store that does not belong to the log it is given (another data
//! directory, a rewritten log) is detected and rebuilt, never trusted.
//!
//! This is the crate's one module that does I/O, and only on its own file.
//! It does not read the ledger: the caller drives it with the log's events,
//! and answers [`CaseSource`] when a case's earlier events are needed (a
//! case whose timeline fell out of the in-memory cache). It holds no secret
//! and no personal data; everything in it can be derived from the log.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ledger::store::{RawEntry, StoredEvent};
use ledger::{Event, EventId, LeafHash, LogIndex, StreamId, StreamVersion, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::calendar::{WorkingDayCalendar, local_date};
use crate::catalogue::Catalogue;
use crate::complaint::{ComplaintSummary, ComplaintTimeline};
use crate::rules::{RuleConfig, ViolationKind};
use crate::schema::{self, DomainEvent};
use crate::summary::CaseSummary;
use crate::timelimit::TimeLimitStatus;
use crate::timeline::{CaseStatus, CaseTimeline};
use crate::worklog::WorkLogEntry;

/// Bumped whenever the tables or what is derived into them change; a file
/// of another version is rebuilt from the log.
pub const SCHEMA_VERSION: u32 = 5;

/// What the read models are derived with besides the log. A store built
/// with another calendar or other thresholds is rebuilt at open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStoreConfig {
    pub calendar: WorkingDayCalendar,
    pub rules: RuleConfig,
}

impl ReadStoreConfig {
    /// The official calendar and the default thresholds.
    pub fn official() -> Self {
        ReadStoreConfig {
            calendar: WorkingDayCalendar::official(),
            rules: RuleConfig::default(),
        }
    }

    /// A fingerprint of the configuration (FNV-1a 64 over its debug form):
    /// equal configurations give equal fingerprints within one build.
    fn fingerprint(&self) -> String {
        let text = format!("{:?}|{:?}", self.calendar, self.rules);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// Case timelines kept in memory between batches. A case not in the cache
/// is folded again from its stream through [`CaseSource`].
const CASE_CACHE: usize = 20_000;

/// Folds kept in memory by a one-pass rebuild (a few hundred MB at most).
const REBUILD_CASE_CACHE: usize = 60_000;

/// How the file is written.
#[derive(Clone, Copy)]
enum Journal {
    /// Write-ahead log: readers never wait, a crash loses nothing committed.
    Wal,
    /// None: a one-pass rebuild into a file thrown away if it fails.
    Off,
}

/// What can go wrong with the read store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadStoreError {
    /// The SQLite file could not be read or written.
    #[error("read store {path}: {source}")]
    Storage {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The events given do not continue the log where the store stands.
    #[error("read store is at log position {position}, but was given the entry at {given}")]
    OutOfOrder { position: u64, given: u64 },
    /// The store's last entry is not the log's entry at that position: it
    /// was built from another log, or the log was rewritten.
    #[error(
        "read store was built from another log: entry {index} has leaf {stored}, the log says {log}"
    )]
    NotThisLog {
        index: u64,
        stored: String,
        log: String,
    },
    /// The log could not be read.
    #[error("reading the log: {reason}")]
    Log { reason: String },
    /// The caller could not supply a case's earlier events.
    #[error("earlier events of {stream}: {reason}")]
    CaseSource { stream: String, reason: String },
    /// A row holds something this version cannot read (written by a newer
    /// version, or edited by hand).
    #[error("read store row {what}: {reason}")]
    Corrupt { what: String, reason: String },
}

/// Where the read store stands in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Entries folded in: the next entry to apply is at this index.
    pub next: u64,
    /// The leaf hash of entry `next - 1`, if any.
    pub last_leaf: Option<LeafHash>,
}

/// Supplies a case's (or complaint's) events before a version, for one
/// whose fold is not in memory. Implemented by the caller over the ledger.
pub trait CaseSource {
    fn events_before(
        &mut self,
        stream: &StreamId,
        before: StreamVersion,
    ) -> Result<Vec<Event>, String>;
}

/// An entry of the log made ready to fold: its payload parsed already if
/// it is a case or complaint event. Preparing is pure and can run on
/// another thread than [`ReadStore::apply_prepared`].
#[derive(Debug)]
pub struct LogEvent {
    index: LogIndex,
    entry: Vec<u8>,
    event: Event,
    parsed: Option<DomainEvent>,
}

impl LogEvent {
    /// An event as the store gave it, parsed and checked.
    pub fn new(stored: StoredEvent) -> LogEvent {
        Self::prepare(stored.index, stored.entry, stored.event)
    }

    /// An entry of the read store's own ledger, parsed without the
    /// canonical-form check ([`Event::from_own_entry`]): the projector's
    /// path, which trusts the store it follows as the service does.
    pub fn from_own_entry(raw: RawEntry) -> Result<LogEvent, ledger::Error> {
        let event = Event::from_own_entry(&raw.entry)?;
        Ok(Self::prepare(raw.index, raw.entry, event))
    }

    /// Its place in the log.
    pub fn index(&self) -> LogIndex {
        self.index
    }

    fn prepare(index: LogIndex, entry: Vec<u8>, event: Event) -> LogEvent {
        let stream = event.stream.as_str();
        let parsed = if stream.starts_with("case-") || stream.starts_with("complaint-") {
            schema::parse_object(event.event_type.as_str(), &event.payload)
                .ok()
                .flatten()
        } else {
            None
        };
        LogEvent {
            index,
            entry,
            event,
            parsed,
        }
    }
}

/// Folds that left the in-memory cache after a batch: freeing them is
/// left to the caller, off the folding thread if it likes.
#[derive(Default)]
pub struct Evicted {
    _cases: Vec<CaseTimeline>,
    _complaints: Vec<ComplaintTimeline>,
}

/// One row of the case index, as searches and dashboards read it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CaseRow {
    pub stream: String,
    pub status: String,
    pub status_label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_version: Option<u32>,
    /// 事项名称.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The deadline day, while the clock runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// `recorded_at` of the last event.
    pub last_recorded_at: String,
    /// Events in the stream.
    pub steps: u64,
    /// 限时办结 status judged at the moment of the search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_status: Option<TimeLimitStatus>,
    /// Kinds of violation judged at the moment of the search.
    pub violations: Vec<ViolationKind>,
}

/// A search over the case index. Every field narrows; none means all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Case stream, exactly (`case-…`), or a prefix when it ends in `*`.
    pub stream: Option<String>,
    pub department: Option<String>,
    pub item_id: Option<String>,
    /// A [`CaseStatus`] in snake case (`accepted`, `completed`, …).
    pub status: Option<String>,
    /// Accepted on or after this day (China time).
    pub accepted_from: Option<NaiveDate>,
    /// Accepted before this day (China time).
    pub accepted_before: Option<NaiveDate>,
    /// With a violation of this kind (judged at the search's moment).
    pub violation: Option<ViolationKind>,
    /// With this time-limit status (judged at the search's moment).
    pub time_limit: Option<TimeLimitStatus>,
}

/// A search over complaints. Every field narrows; none means all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComplaintFilter {
    /// About this case stream.
    pub case: Option<String>,
    /// About this department.
    pub department: Option<String>,
    /// Filed on or after this day (China time).
    pub filed_from: Option<NaiveDate>,
    /// Filed before this day (China time).
    pub filed_before: Option<NaiveDate>,
}

/// The persisted read models. Cheap to share: reads take a connection from
/// a small pool and never wait for the writer (SQLite WAL).
pub struct ReadStore {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    catalogue: RwLock<Arc<Catalogue>>,
    next: AtomicU64,
    config: ReadStoreConfig,
}

/// Counters of a read store since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStoreStats {
    /// Folds not in memory, read again from the source.
    pub refolds: u64,
    /// Case summaries written.
    pub summaries_written: u64,
}

struct Writer {
    conn: Connection,
    position: Position,
    cases: FoldCache<CaseTimeline>,
    complaints: FoldCache<ComplaintTimeline>,
    /// A one-pass rebuild: summaries are written when their fold leaves
    /// the cache or at [`ReadStore::finish_rebuild`], not at every batch.
    deferred: bool,
    stats: ReadStoreStats,
    /// Changed since written (deferred mode only).
    pending_cases: StreamSet,
    pending_complaints: StreamSet,
}

impl std::fmt::Debug for ReadStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadStore")
            .field("path", &self.path)
            .field("next", &self.next_index())
            .finish_non_exhaustive()
    }
}

impl ReadStore {
    /// Opens (creating if needed) the read store at `path`. A file of
    /// another schema version, or derived with another calendar or other
    /// thresholds, is emptied, to be rebuilt from the log.
    pub fn open(path: &Path, config: ReadStoreConfig) -> Result<Self, ReadStoreError> {
        Self::open_with(path, config, Journal::Wal)
    }

    /// Creates a read store at `path` (which must not exist) to be filled
    /// in one pass and then opened with [`Self::open`]: no journal and no
    /// syncing, since a rebuild that fails or is interrupted is thrown
    /// away whole, never resumed. Not for a store that serves reads.
    pub fn create_for_rebuild(
        path: &Path,
        config: ReadStoreConfig,
    ) -> Result<Self, ReadStoreError> {
        if path.exists() {
            return Err(ReadStoreError::Storage {
                path: path.to_owned(),
                source: rusqlite::Error::InvalidPath(path.to_owned()),
            });
        }
        Self::open_with(path, config, Journal::Off)
    }

    fn open_with(
        path: &Path,
        config: ReadStoreConfig,
        journal: Journal,
    ) -> Result<Self, ReadStoreError> {
        let storage = storage_error(path);
        let conn = Connection::open(path).map_err(&storage)?;
        conn.execute_batch(match journal {
            Journal::Wal => {
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
            }
            Journal::Off => {
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;"
            }
        })
        .map_err(&storage)?;
        let version: Option<u32> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .or_else(|e| match e {
                // No meta table yet: a new file.
                rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
                    Ok(None)
                }
                e => Err(e),
            })
            .map_err(&storage)?
            .and_then(|v| v.parse().ok());
        let fingerprint = config.fingerprint();
        let derived_with: Option<String> = match version {
            Some(_) => conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'derived_with'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&storage)?,
            None => None,
        };
        if version != Some(SCHEMA_VERSION) || derived_with.as_deref() != Some(&fingerprint) {
            if version.is_some() {
                tracing::warn!(
                    path = %path.display(),
                    found = ?version,
                    want = SCHEMA_VERSION,
                    "read store of another version, calendar or thresholds: rebuilding from the log"
                );
            }
            create_tables(&conn, &fingerprint, matches!(journal, Journal::Wal))
                .map_err(&storage)?;
        }
        if matches!(journal, Journal::Wal) {
            // A file whose rebuild was cut short has no indexes yet.
            conn.execute_batch(INDEXES).map_err(&storage)?;
        }
        let position = load_position(&conn).map_err(&storage)?;
        let catalogue = load_catalogue(&conn, path)?;
        // A rebuild holds more folds: fewer are read again from the log,
        // and a summary is written about once per case.
        let bound = match journal {
            Journal::Wal => CASE_CACHE,
            Journal::Off => REBUILD_CASE_CACHE,
        };
        let store = ReadStore {
            path: path.to_owned(),
            writer: Mutex::new(Writer {
                conn,
                position,
                cases: FoldCache::new(bound),
                complaints: FoldCache::new(bound),
                deferred: matches!(journal, Journal::Off),
                stats: ReadStoreStats::default(),
                pending_cases: StreamSet::default(),
                pending_complaints: StreamSet::default(),
            }),
            readers: Mutex::new(Vec::new()),
            catalogue: RwLock::new(Arc::new(catalogue)),
            next: AtomicU64::new(position.next),
            config,
        };
        Ok(store)
    }

    /// Keeps at most `cases` case timelines in memory between batches
    /// (default 20,000); others are folded again from [`CaseSource`].
    pub fn with_case_cache(self, cases: usize) -> Self {
        let mut w = self.lock_writer();
        w.cases = FoldCache::new(cases);
        w.complaints = FoldCache::new(cases);
        drop(w);
        self
    }

    /// Takes the folds kept in memory out of the store (which will fold
    /// them again from the source as needed), so the caller can free them
    /// where it suits it.
    pub fn take_caches(&self) -> impl Send + 'static {
        let mut w = self.lock_writer();
        let bound = w.cases.bound;
        let cases = std::mem::replace(&mut w.cases, FoldCache::new(bound));
        let complaints = std::mem::replace(&mut w.complaints, FoldCache::new(bound));
        (cases, complaints)
    }

    /// Counters since the store was opened.
    pub fn stats(&self) -> ReadStoreStats {
        let w = self.lock_writer();
        ReadStoreStats {
            refolds: w.cases.refolds + w.complaints.refolds,
            ..w.stats
        }
    }

    /// Where the store stands.
    pub fn position(&self) -> Position {
        self.lock_writer().position
    }

    /// Entries folded in so far (the next index to apply); lock-free.
    pub fn next_index(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// Checks that the store belongs to the log whose entry at
    /// `position.next - 1` has leaf `log_leaf` (`None` when the log is
    /// shorter than the store).
    pub fn check_log(&self, log_leaf: Option<LeafHash>) -> Result<(), ReadStoreError> {
        let position = self.position();
        match (position.last_leaf, log_leaf) {
            (None, _) => Ok(()),
            (Some(stored), Some(log)) if stored == log => Ok(()),
            (Some(stored), log) => Err(ReadStoreError::NotThisLog {
                index: position.next - 1,
                stored: stored.0.to_hex(),
                log: log.map_or_else(|| "(no such entry)".to_owned(), |l| l.0.to_hex()),
            }),
        }
    }

    /// Empties every table, to rebuild from the start of the log.
    pub fn reset(&self) -> Result<(), ReadStoreError> {
        let mut w = self.lock_writer();
        create_tables(&w.conn, &self.config.fingerprint(), true)
            .map_err(storage_error(&self.path))?;
        w.position = Position {
            next: 0,
            last_leaf: None,
        };
        w.cases.clear();
        w.complaints.clear();
        self.next.store(0, Ordering::Release);
        *self.catalogue.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Catalogue::default());
        Ok(())
    }

    /// Folds the next events of the log in, in one transaction with the
    /// new position. `events` must start at [`Self::next_index`] and be
    /// consecutive. On error nothing is applied.
    pub fn apply(
        &self,
        events: &[StoredEvent],
        source: &mut dyn CaseSource,
    ) -> Result<(), ReadStoreError> {
        let mut prepared: Vec<LogEvent> = events.iter().cloned().map(LogEvent::new).collect();
        self.apply_prepared(&mut prepared, source).map(drop)
    }

    /// [`Self::apply`] of events prepared (payloads parsed) elsewhere, the
    /// projector's path ([`Self::apply`] copies the events to prepare
    /// them). The parsed payloads are taken out: after an error, prepare
    /// the events again.
    pub fn apply_prepared(
        &self,
        events: &mut [LogEvent],
        source: &mut dyn CaseSource,
    ) -> Result<Evicted, ReadStoreError> {
        // One leaf hash per batch: the position's check that the read
        // store follows this log.
        let Some(last) = events
            .last()
            .map(|e| (e.index, LeafHash::of_entry(&e.entry)))
        else {
            return Ok(Evicted::default());
        };
        let mut guard = self.lock_writer();
        let w = &mut *guard;
        for (expected, ev) in (w.position.next..).zip(events.iter()) {
            if ev.index.0 != expected {
                return Err(ReadStoreError::OutOfOrder {
                    position: expected,
                    given: ev.index.0,
                });
            }
        }
        let storage = storage_error(&self.path);
        // The catalogue as the batch goes: a case accepted under an item
        // published earlier in the same batch is judged by it.
        let current = self.catalogue();
        let mut changed: Option<Catalogue> = None;
        let mut dirty_cases = std::mem::take(&mut w.pending_cases);
        let mut dirty_complaints = std::mem::take(&mut w.pending_complaints);
        let tx = w.conn.transaction().map_err(&storage)?;
        let result = (|| -> Result<(StreamSet, StreamSet), ReadStoreError> {
            let mut insert_work = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO worklog (department, day, occurred_us, idx, officer,
                        stream, version, event_type, event_id, recorded_us, occurred_text)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(&storage)?;
            let mut insert_catalog = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO catalog_events (idx, entry) VALUES (?1, ?2)",
                )
                .map_err(&storage)?;
            for prepared in events.iter_mut() {
                let parsed = prepared.parsed.take();
                let ev = &prepared.event;
                let stream = ev.stream.as_str();
                if stream == schema::CATALOG_STREAM {
                    insert_catalog
                        .execute(params![prepared.index.0 as i64, prepared.entry])
                        .map_err(&storage)?;
                    changed
                        .get_or_insert_with(|| Catalogue::clone(&current))
                        .apply(ev);
                    continue;
                }
                let is_case = stream.starts_with("case-");
                if !is_case && !stream.starts_with("complaint-") {
                    continue;
                }
                let occurred = ev.occurred_at.datetime();
                insert_work
                    .execute(params![
                        ev.actor.department.as_str(),
                        local_date(occurred).to_string(),
                        occurred.timestamp_micros(),
                        prepared.index.0 as i64,
                        ev.actor.officer.as_ref().map(|o| o.as_str()),
                        stream,
                        ev.version.0 as i64,
                        ev.event_type.as_str(),
                        ev.id.to_string(),
                        ev.recorded_at.datetime().timestamp_micros(),
                        // The author's spelling, when it is not the
                        // canonical one the micros give back (the text
                        // `Timestamp::from_datetime` writes, without its
                        // parse back).
                        (occurred.to_rfc3339_opts(SecondsFormat::Micros, true)
                            != ev.occurred_at.as_str())
                        .then(|| ev.occurred_at.as_str()),
                    ])
                    .map_err(&storage)?;
                if is_case {
                    let timeline = w.cases.get_or_load(&ev.stream, ev.version, source)?;
                    timeline.fold_parsed(ev, parsed);
                    if !dirty_cases.contains(stream) {
                        dirty_cases.insert(stream.to_owned());
                    }
                } else {
                    let timeline = w.complaints.get_or_load(&ev.stream, ev.version, source)?;
                    timeline.fold_parsed(ev, parsed);
                    if !dirty_complaints.contains(stream) {
                        dirty_complaints.insert(stream.to_owned());
                    }
                }
            }
            let catalogue = changed.as_ref().unwrap_or(&current);
            // Deferred: only what leaves the cache now is written; the rest
            // waits for a later batch or the end of the rebuild.
            let (write_cases, write_complaints) = if w.deferred {
                (
                    w.cases.take_leaving(&mut dirty_cases),
                    w.complaints.take_leaving(&mut dirty_complaints),
                )
            } else {
                (
                    std::mem::take(&mut dirty_cases),
                    std::mem::take(&mut dirty_complaints),
                )
            };
            write_case_summaries(&tx, &w.cases, &write_cases, catalogue, &self.config)
                .map_err(|e| e.at(&self.path))?;
            w.stats.summaries_written += write_cases.len() as u64;
            write_complaint_summaries(&tx, &w.complaints, &write_complaints)
                .map_err(|e| e.at(&self.path))?;
            let position = Position {
                next: last.0.0 + 1,
                last_leaf: Some(last.1),
            };
            // A rebuild's file is not the fold of any position until it
            // is finished: it says 0 until then, so an interrupted one is
            // built again, never resumed.
            if !w.deferred {
                save_position(&tx, position).map_err(&storage)?;
            }
            Ok((dirty_cases, dirty_complaints))
        })();
        let (dirty_cases, dirty_complaints) = match result {
            Ok(held_back) => {
                tx.commit().map_err(&storage)?;
                held_back
            }
            Err(e) => {
                drop(tx); // rolls back
                // The caches may hold folds of events that were not committed.
                w.cases.clear();
                w.complaints.clear();
                return Err(e);
            }
        };
        w.position = Position {
            next: last.0.0 + 1,
            last_leaf: Some(last.1),
        };
        w.pending_cases = dirty_cases;
        w.pending_complaints = dirty_complaints;
        let evicted = Evicted {
            _cases: w.cases.trim(),
            _complaints: w.complaints.trim(),
        };
        if let Some(c) = changed {
            *self.catalogue.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(c);
        }
        self.next.store(w.position.next, Ordering::Release);
        Ok(evicted)
    }

    /// Ends a rebuild ([`Self::create_for_rebuild`]): writes the summaries
    /// still held back. Before this the file is not to be opened.
    pub fn finish_rebuild(&self) -> Result<(), ReadStoreError> {
        let mut guard = self.lock_writer();
        let w = &mut *guard;
        let cases = std::mem::take(&mut w.pending_cases);
        let complaints = std::mem::take(&mut w.pending_complaints);
        let catalogue = self.catalogue();
        let storage = storage_error(&self.path);
        let tx = w.conn.transaction().map_err(&storage)?;
        write_case_summaries(&tx, &w.cases, &cases, &catalogue, &self.config)
            .map_err(|e| e.at(&self.path))?;
        w.stats.summaries_written += cases.len() as u64;
        write_complaint_summaries(&tx, &w.complaints, &complaints).map_err(|e| e.at(&self.path))?;
        tx.execute_batch(INDEXES).map_err(&storage)?;
        save_position(&tx, w.position).map_err(&storage)?;
        tx.commit().map_err(&storage)
    }

    /// The catalogue as of the store's position.
    pub fn catalogue(&self) -> Arc<Catalogue> {
        Arc::clone(&self.catalogue.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A department's steps on `day` (China time), or one officer's, in
    /// the order of the work: by `occurred_at`, then log position.
    pub fn work_log(
        &self,
        department: &str,
        day: NaiveDate,
        officer: Option<&str>,
    ) -> Result<Vec<WorkLogEntry>, ReadStoreError> {
        let backfill_after = self.config.rules.backfill_after;
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT idx, officer, stream, version, event_type, event_id, occurred_us,
                        occurred_text, recorded_us
                 FROM worklog WHERE department = ?1 AND day = ?2
                   AND (?3 IS NULL OR officer = ?3)
                 ORDER BY occurred_us, idx",
            )?;
            let rows = stmt.query_map(params![department, day.to_string(), officer], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    (
                        r.get::<_, i64>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, i64>(8)?,
                    ),
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })?
        .into_iter()
        .map(
            |(
                idx,
                officer,
                stream,
                version,
                event_type,
                id,
                (occurred_us, occurred_text, recorded_us),
            )| {
                let corrupt = |what: &str, reason: String| ReadStoreError::Corrupt {
                    what: format!("worklog {idx} {what}"),
                    reason,
                };
                let instant = |what: &str, us: i64| {
                    DateTime::<Utc>::from_timestamp_micros(us)
                        .map(Timestamp::from_datetime)
                        .ok_or_else(|| corrupt(what, format!("{us} µs is out of range")))
                };
                let occurred_at = match occurred_text {
                    Some(text) => Timestamp::parse(&text)
                        .map_err(|e| corrupt("occurred_text", e.to_string()))?,
                    None => instant("occurred_us", occurred_us)?,
                };
                let recorded_at = instant("recorded_us", recorded_us)?;
                let event_id: EventId = id
                    .parse()
                    .map_err(|e: ledger::Error| corrupt("event_id", e.to_string()))?;
                Ok(WorkLogEntry {
                    event_id,
                    log_index: idx as u64,
                    stream,
                    version: version as u64,
                    label: schema::label(&event_type).unwrap_or(&event_type).to_owned(),
                    event_type,
                    officer,
                    backfilled: recorded_at.datetime() - occurred_at.datetime() > backfill_after,
                    occurred_at,
                    recorded_at,
                })
            },
        )
        .collect()
    }

    /// Cases matching `filter`, most recently accepted first (then by
    /// stream), `limit` from `offset`, judged at `now`; and how many match
    /// in all.
    pub fn cases(
        &self,
        filter: &CaseFilter,
        offset: usize,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<(Vec<CaseRow>, u64), ReadStoreError> {
        let judge = |summary: &CaseSummary| {
            let judged = summary.judge(now, &self.config.calendar, &self.config.rules);
            let kinds: Vec<ViolationKind> = judged.violations.iter().map(|v| v.kind).collect();
            (judged.time_limit_status, kinds)
        };
        let wanted = |status: Option<TimeLimitStatus>, kinds: &[ViolationKind]| {
            filter.time_limit.is_none_or(|t| status == Some(t))
                && filter.violation.is_none_or(|v| kinds.contains(&v))
        };
        if filter.violation.is_none() && filter.time_limit.is_none() {
            // Paged by SQL; only the page is judged.
            let (summaries, total) = self.query_summaries(filter, Some((offset, limit)))?;
            let rows = summaries
                .iter()
                .map(|s| {
                    let (status, kinds) = judge(s);
                    CaseRow::of(s, status, kinds)
                })
                .collect();
            return Ok((rows, total));
        }
        // Judged filters: every candidate is judged, then paged.
        let (summaries, _) = self.query_summaries(filter, None)?;
        let mut total = 0u64;
        let mut rows = Vec::new();
        for s in &summaries {
            let (status, kinds) = judge(s);
            if !wanted(status, &kinds) {
                continue;
            }
            if total as usize >= offset && rows.len() < limit {
                rows.push(CaseRow::of(s, status, kinds));
            }
            total += 1;
        }
        Ok((rows, total))
    }

    /// The summaries of every case matching `filter`'s stored fields
    /// (`violation` and `time_limit` are not applied: they need a moment
    /// to judge at), for scorecards, fairness and dashboards.
    pub fn case_summaries(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, ReadStoreError> {
        Ok(self.query_summaries(filter, None)?.0)
    }

    /// One case's summary.
    pub fn case_summary(&self, stream: &str) -> Result<Option<CaseSummary>, ReadStoreError> {
        let filter = CaseFilter {
            stream: Some(stream.trim_end_matches('*').to_owned()),
            ..CaseFilter::default()
        };
        Ok(self.query_summaries(&filter, None)?.0.into_iter().next())
    }

    fn query_summaries(
        &self,
        filter: &CaseFilter,
        page: Option<(usize, usize)>,
    ) -> Result<(Vec<CaseSummary>, u64), ReadStoreError> {
        let (prefix, exact) = match filter.stream.as_deref() {
            Some(s) if s.ends_with('*') => (Some(s.trim_end_matches('*').to_owned()), None),
            Some(s) => (None, Some(s.to_owned())),
            None => (None, None),
        };
        let from = filter.accepted_from.map(|d| d.to_string());
        let before = filter.accepted_before.map(|d| d.to_string());
        let args = params![
            exact,
            prefix,
            filter.department,
            filter.item_id,
            filter.status,
            from,
            before
        ];
        const WHERE: &str = "WHERE (?1 IS NULL OR stream = ?1)
              AND (?2 IS NULL OR substr(stream, 1, length(?2)) = ?2)
              AND (?3 IS NULL OR department = ?3)
              AND (?4 IS NULL OR item_id = ?4)
              AND (?5 IS NULL OR status = ?5)
              AND (?6 IS NULL OR accepted_on >= ?6)
              AND (?7 IS NULL OR accepted_on < ?7)";
        let paging = match page {
            Some((offset, limit)) => format!("LIMIT {limit} OFFSET {offset}"),
            None => String::new(),
        };
        let (texts, total) = self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT stream, summary FROM cases {WHERE}
                 ORDER BY accepted_at IS NULL, accepted_at DESC, stream {paging}"
            ))?;
            let texts = stmt
                .query_map(args, |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let total = match page {
                Some(_) => {
                    conn.query_row(&format!("SELECT count(*) FROM cases {WHERE}"), args, |r| {
                        r.get::<_, i64>(0)
                    })? as u64
                }
                None => texts.len() as u64,
            };
            Ok((texts, total))
        })?;
        let summaries = texts
            .into_iter()
            .map(|(stream, text)| {
                serde_json::from_str(&text).map_err(|e| ReadStoreError::Corrupt {
                    what: format!("summary of {stream}"),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<CaseSummary>, _>>()?;
        Ok((summaries, total))
    }

    /// Complaints matching `filter`, most recently filed first.
    pub fn complaints(
        &self,
        filter: &ComplaintFilter,
    ) -> Result<Vec<ComplaintSummary>, ReadStoreError> {
        let from = filter.filed_from.map(|d| d.to_string());
        let before = filter.filed_before.map(|d| d.to_string());
        let texts = self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT stream, summary FROM complaints
                 WHERE (?1 IS NULL OR case_stream = ?1)
                   AND (?2 IS NULL OR department = ?2)
                   AND (?3 IS NULL OR filed_on >= ?3)
                   AND (?4 IS NULL OR filed_on < ?4)
                 ORDER BY filed_on IS NULL, filed_on DESC, stream",
            )?;
            stmt.query_map(params![filter.case, filter.department, from, before], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })?;
        texts
            .into_iter()
            .map(|(stream, text)| {
                serde_json::from_str(&text).map_err(|e| ReadStoreError::Corrupt {
                    what: format!("summary of {stream}"),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// The configuration the read models are derived with.
    pub fn config(&self) -> &ReadStoreConfig {
        &self.config
    }

    /// Every table's rows in a fixed order, as text: two stores that hold
    /// the same read models give the same dump. For tests and `ledger
    /// projections check`.
    pub fn dump(&self) -> Result<String, ReadStoreError> {
        self.with_reader(|conn| {
            let mut out = String::new();
            for (table, order) in [
                ("meta", "key"),
                ("catalog_events", "idx"),
                ("cases", "stream"),
                ("complaints", "stream"),
                ("worklog", "department, day, occurred_us, idx"),
            ] {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
                let columns = stmt.column_count();
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    out.push_str(table);
                    for i in 0..columns {
                        let v: rusqlite::types::Value = row.get(i)?;
                        out.push_str(&format!("|{v:?}"));
                    }
                    out.push('\n');
                }
            }
            Ok(out)
        })
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, ReadStoreError> {
        let storage = storage_error(&self.path);
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(&storage)?;
                c.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(&storage)?;
                c
            }
        };
        let out = f(&conn).map_err(&storage);
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        // A panic while folding leaves at worst a cache that is reset on
        // the next error; the file itself is only changed by commits.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CaseRow {
    fn of(
        s: &CaseSummary,
        time_limit_status: Option<TimeLimitStatus>,
        violations: Vec<ViolationKind>,
    ) -> CaseRow {
        CaseRow {
            stream: s.stream.clone(),
            status: status_name(s.status).to_owned(),
            status_label: s.status.label().to_owned(),
            department: s.department.clone(),
            item_id: s.item.as_ref().map(|i| i.id.clone()),
            item_version: s.item.as_ref().map(|i| i.version),
            item_name: s.item.as_ref().and_then(|i| i.name.clone()),
            channel: s
                .channel
                .and_then(|c| serde_json::to_value(c).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
            accepted_at: s.accepted_at.as_ref().map(|a| a.as_str().to_owned()),
            completed_at: s.completed_at.as_ref().map(|a| a.as_str().to_owned()),
            deadline: s.deadline.map(|d| d.to_string()),
            last_recorded_at: s
                .last_recorded_at
                .as_ref()
                .map_or_else(String::new, |r| r.as_str().to_owned()),
            steps: u64::from(s.steps),
            time_limit_status,
            violations,
        }
    }
}

/// The snake-case name of a status, as the JSON of a timeline spells it.
fn status_name(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::New => "new",
        CaseStatus::Notified => "notified",
        CaseStatus::Accepted => "accepted",
        CaseStatus::AwaitingCorrection => "awaiting_correction",
        CaseStatus::Paused => "paused",
        CaseStatus::Decided => "decided",
        CaseStatus::Completed => "completed",
        CaseStatus::Delivered => "delivered",
        CaseStatus::NotAccepted => "not_accepted",
        CaseStatus::Withdrawn => "withdrawn",
    }
}

const ALL_STATUSES: [CaseStatus; 10] = [
    CaseStatus::New,
    CaseStatus::Notified,
    CaseStatus::Accepted,
    CaseStatus::AwaitingCorrection,
    CaseStatus::Paused,
    CaseStatus::Decided,
    CaseStatus::Completed,
    CaseStatus::Delivered,
    CaseStatus::NotAccepted,
    CaseStatus::Withdrawn,
];

/// Is `name` a case status (snake case)?
pub fn is_case_status(name: &str) -> bool {
    ALL_STATUSES.iter().any(|s| status_name(*s) == name)
}

/// A fold of one stream that the read store keeps in memory.
trait StreamFold {
    fn empty(stream: &str) -> Self;
    fn fold_in(&mut self, ev: &Event);
    fn fold_parsed(&mut self, ev: &Event, parsed: Option<DomainEvent>);
    /// Events folded in so far.
    fn folded(&self) -> u64;
}

impl StreamFold for CaseTimeline {
    fn empty(stream: &str) -> Self {
        CaseTimeline::new(stream)
    }
    fn fold_in(&mut self, ev: &Event) {
        self.apply(ev);
    }
    fn fold_parsed(&mut self, ev: &Event, parsed: Option<DomainEvent>) {
        self.apply_parsed(ev, parsed);
    }
    fn folded(&self) -> u64 {
        self.steps.len() as u64
    }
}

impl StreamFold for ComplaintTimeline {
    fn empty(stream: &str) -> Self {
        ComplaintTimeline::new(stream)
    }
    fn fold_in(&mut self, ev: &Event) {
        self.apply(ev);
    }
    fn fold_parsed(&mut self, ev: &Event, parsed: Option<DomainEvent>) {
        self.apply_parsed(ev, parsed);
    }
    fn folded(&self) -> u64 {
        self.steps.len() as u64
    }
}

/// Recently folded streams, bounded.
struct FoldCache<T> {
    map: HashMap<String, (T, u64), foldhash::fast::RandomState>,
    clock: u64,
    bound: usize,
    refolds: u64,
}

impl<T: StreamFold> FoldCache<T> {
    fn new(bound: usize) -> Self {
        FoldCache {
            map: HashMap::default(),
            clock: 0,
            bound: bound.max(1),
            refolds: 0,
        }
    }

    fn clear(&mut self) {
        self.map.clear();
    }

    /// The fold of `stream` with every event before `version` in it, from
    /// memory or from `source`.
    fn get_or_load(
        &mut self,
        stream: &StreamId,
        version: StreamVersion,
        source: &mut dyn CaseSource,
    ) -> Result<&mut T, ReadStoreError> {
        self.clock += 1;
        let clock = self.clock;
        let key = stream.as_str();
        let cached_ok = self
            .map
            .get(key)
            .is_some_and(|(t, _)| t.folded() == version.0);
        if !cached_ok {
            let mut fold = T::empty(key);
            if version.0 > 0 {
                self.refolds += 1;
                let events = source.events_before(stream, version).map_err(|reason| {
                    ReadStoreError::CaseSource {
                        stream: key.to_owned(),
                        reason,
                    }
                })?;
                if events.len() as u64 != version.0 {
                    return Err(ReadStoreError::CaseSource {
                        stream: key.to_owned(),
                        reason: format!(
                            "{} events before version {} (expected {})",
                            events.len(),
                            version.0,
                            version.0
                        ),
                    });
                }
                for ev in &events {
                    fold.fold_in(ev);
                }
            }
            self.map.insert(key.to_owned(), (fold, clock));
        }
        let (fold, touched) = self
            .map
            .get_mut(key)
            .ok_or_else(|| ReadStoreError::Corrupt {
                what: "fold cache".to_owned(),
                reason: format!("{key} vanished"),
            })?;
        *touched = clock;
        Ok(fold)
    }

    fn peek(&self, stream: &str) -> Option<&T> {
        self.map.get(stream).map(|(t, _)| t)
    }

    /// The least recently used half when over the bound: what
    /// [`Self::trim`] drops.
    fn cut(&self) -> Option<u64> {
        if self.map.len() <= self.bound {
            return None;
        }
        let mut touched: Vec<u64> = self.map.values().map(|(_, c)| *c).collect();
        touched.sort_unstable();
        Some(touched[touched.len() / 2])
    }

    /// Takes out of `dirty` the streams [`Self::trim`] would drop now:
    /// their summaries must be written before their folds go.
    fn take_leaving(&self, dirty: &mut StreamSet) -> StreamSet {
        let Some(cut) = self.cut() else {
            return StreamSet::default();
        };
        let mut leaving = StreamSet::default();
        for (stream, (_, touched)) in &self.map {
            if *touched <= cut && dirty.remove(stream.as_str()) {
                leaving.insert(stream.clone());
            }
        }
        leaving
    }

    /// Takes out the least recently used half when over the bound.
    fn trim(&mut self) -> Vec<T> {
        let Some(cut) = self.cut() else {
            return Vec::new();
        };
        self.map
            .extract_if(|_, (_, c)| *c <= cut)
            .map(|(_, (t, _))| t)
            .collect()
    }
}

/// Stream names, hashed fast (foldhash, seeded per set): the fold path
/// looks one up per event.
#[derive(Default)]
struct StreamSet(HashSet<String, foldhash::fast::RandomState>);

impl std::ops::Deref for StreamSet {
    type Target = HashSet<String, foldhash::fast::RandomState>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for StreamSet {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A failure while writing summaries, before the path is known.
enum WriteError {
    Sql(rusqlite::Error),
    Json { stream: String, reason: String },
}

impl WriteError {
    fn at(self, path: &Path) -> ReadStoreError {
        match self {
            WriteError::Sql(source) => ReadStoreError::Storage {
                path: path.to_owned(),
                source,
            },
            WriteError::Json { stream, reason } => ReadStoreError::Corrupt {
                what: format!("summary of {stream}"),
                reason,
            },
        }
    }
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        WriteError::Sql(e)
    }
}

fn write_case_summaries(
    conn: &Connection,
    cases: &FoldCache<CaseTimeline>,
    streams: &StreamSet,
    catalogue: &Catalogue,
    config: &ReadStoreConfig,
) -> Result<(), WriteError> {
    let mut upsert = conn.prepare_cached(
        "INSERT OR REPLACE INTO cases (stream, status, department, item_id,
            channel, accepted_at, accepted_on, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let summarise = |stream: &String| -> Option<Result<(CaseSummary, String), WriteError>> {
        let t = cases.peek(stream)?;
        let item = t
            .accepted
            .as_ref()
            .and_then(|a| catalogue.item(&a.item_id, a.item_version));
        let summary = CaseSummary::of(t, item, &config.calendar, &config.rules);
        Some(
            serde_json::to_string(&summary)
                .map(|json| (summary, json))
                .map_err(|e| WriteError::Json {
                    stream: stream.clone(),
                    reason: e.to_string(),
                }),
        )
    };
    // In key order: each insert lands beside the last one.
    let mut streams: Vec<&String> = streams.iter().collect();
    streams.sort_unstable();
    // Many summaries (a rebuild's): computed on two threads while this one
    // inserts nothing; they are pure.
    let summaries: Vec<Result<(CaseSummary, String), WriteError>> = if streams.len() >= 512 {
        let (a, b) = streams.split_at(streams.len() / 2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| a.iter().filter_map(|s| summarise(s)).collect::<Vec<_>>());
            let mine: Vec<_> = b.iter().filter_map(|s| summarise(s)).collect();
            // A panic in the other half is a bug in a pure function; let
            // it surface here.
            let mut all = other
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            all.extend(mine);
            all
        })
    } else {
        streams.iter().filter_map(|s| summarise(s)).collect()
    };
    for summary in summaries {
        let (summary, json) = summary?;
        upsert.execute(params![
            summary.stream,
            status_name(summary.status),
            summary.department,
            summary.item.as_ref().map(|i| i.id.as_str()),
            summary
                .channel
                .and_then(|c| serde_json::to_value(c).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
            summary.accepted_at.as_ref().map(|a| a.as_str()),
            summary.accepted_on().map(|d| d.to_string()),
            json,
        ])?;
    }
    Ok(())
}

fn write_complaint_summaries(
    conn: &Connection,
    complaints: &FoldCache<ComplaintTimeline>,
    streams: &StreamSet,
) -> Result<(), WriteError> {
    let mut upsert = conn.prepare_cached(
        "INSERT OR REPLACE INTO complaints (stream, case_stream, department, filed_on, summary)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut streams: Vec<&String> = streams.iter().collect();
    streams.sort_unstable();
    for stream in streams {
        let Some(t) = complaints.peek(stream) else {
            continue;
        };
        let summary = ComplaintSummary::of(t);
        let json = serde_json::to_string(&summary).map_err(|e| WriteError::Json {
            stream: stream.clone(),
            reason: e.to_string(),
        })?;
        upsert.execute(params![
            summary.stream,
            summary.case,
            summary.department,
            summary
                .filed_at
                .as_ref()
                .map(|f| local_date(f.datetime()).to_string()),
            json,
        ])?;
    }
    Ok(())
}

fn storage_error(path: &Path) -> impl Fn(rusqlite::Error) -> ReadStoreError + '_ {
    move |source| ReadStoreError::Storage {
        path: path.to_owned(),
        source,
    }
}

fn create_tables(
    conn: &Connection,
    fingerprint: &str,
    indexed: bool,
) -> Result<(), rusqlite::Error> {
    conn.execute_batch(&format!(
        "BEGIN;
         DROP TABLE IF EXISTS meta;
         DROP TABLE IF EXISTS catalog_events;
         DROP TABLE IF EXISTS cases;
         DROP TABLE IF EXISTS complaints;
         DROP TABLE IF EXISTS worklog;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
         INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
         INSERT INTO meta VALUES ('derived_with', '{fingerprint}');
         INSERT INTO meta VALUES ('next', '0');
         CREATE TABLE catalog_events (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
         CREATE TABLE cases (
            stream TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            department TEXT,
            item_id TEXT,
            channel TEXT,
            accepted_at TEXT,
            accepted_on TEXT,
            summary TEXT NOT NULL
         ) WITHOUT ROWID;
         CREATE TABLE complaints (
            stream TEXT PRIMARY KEY,
            case_stream TEXT,
            department TEXT,
            filed_on TEXT,
            summary TEXT NOT NULL
         ) WITHOUT ROWID;
         CREATE TABLE worklog (
            idx INTEGER PRIMARY KEY,
            department TEXT NOT NULL,
            day TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            officer TEXT,
            stream TEXT NOT NULL,
            version INTEGER NOT NULL,
            event_type TEXT NOT NULL,
            event_id TEXT NOT NULL,
            recorded_us INTEGER NOT NULL,
            occurred_text TEXT
         );
         {indexes}
         COMMIT;",
        indexes = if indexed { INDEXES } else { "" }
    ))
}

/// The secondary indexes. A rebuild creates them once all rows are in:
/// one sort each instead of a B-tree insert per row. `worklog_by_day` is
/// the work log's order within a department's day (the rowid, the log
/// index, breaks ties).
const INDEXES: &str = "
    CREATE INDEX IF NOT EXISTS cases_by_department ON cases (department, accepted_on);
    CREATE INDEX IF NOT EXISTS cases_by_accepted ON cases (accepted_at);
    CREATE INDEX IF NOT EXISTS complaints_by_case ON complaints (case_stream);
    CREATE INDEX IF NOT EXISTS worklog_by_day ON worklog (department, day, occurred_us);";

fn load_position(conn: &Connection) -> Result<Position, rusqlite::Error> {
    let get = |key: &str| -> Result<Option<String>, rusqlite::Error> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    let next = get("next")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let last_leaf = get("last_leaf")?
        .and_then(|v| ledger::merkle::Hash::from_hex(&v))
        .map(LeafHash);
    Ok(Position { next, last_leaf })
}

fn save_position(conn: &Connection, p: Position) -> Result<(), rusqlite::Error> {
    conn.execute(
        "INSERT OR REPLACE INTO meta VALUES ('next', ?1)",
        [p.next.to_string()],
    )?;
    if let Some(leaf) = p.last_leaf {
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('last_leaf', ?1)",
            [leaf.0.to_hex()],
        )?;
    }
    Ok(())
}

fn load_catalogue(conn: &Connection, path: &Path) -> Result<Catalogue, ReadStoreError> {
    let storage = storage_error(path);
    let mut stmt = conn
        .prepare("SELECT idx, entry FROM catalog_events ORDER BY idx")
        .map_err(&storage)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .map_err(&storage)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&storage)?;
    let mut catalogue = Catalogue::default();
    for (idx, entry) in rows {
        let event = Event::from_entry(&entry).map_err(|e| ReadStoreError::Corrupt {
            what: format!("catalog_events {idx}"),
            reason: e.to_string(),
        })?;
        catalogue.apply(&event);
    }
    Ok(catalogue)
}

#[cfg(test)]
mod tests;
