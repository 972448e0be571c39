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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{Duration, NaiveDate};
use ledger::store::StoredEvent;
use ledger::{Event, EventId, LeafHash, StreamId, StreamVersion, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::calendar::local_date;
use crate::catalogue::Catalogue;
use crate::schema;
use crate::timeline::{CaseStatus, CaseTimeline};
use crate::worklog::WorkLogEntry;

/// Bumped whenever the tables or what is derived into them change; a file
/// of another version is rebuilt from the log.
pub const SCHEMA_VERSION: u32 = 1;

/// Case timelines kept in memory between batches. A case not in the cache
/// is folded again from its stream through [`CaseSource`].
const CASE_CACHE: usize = 20_000;

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

/// Supplies a case's events before a version, for a case whose timeline
/// is not in memory. Implemented by the caller over the ledger.
pub trait CaseSource {
    fn events_before(
        &mut self,
        stream: &StreamId,
        before: StreamVersion,
    ) -> Result<Vec<Event>, String>;
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// `recorded_at` of the last event.
    pub last_recorded_at: String,
    /// Events in the stream.
    pub steps: u64,
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
}

/// The persisted read models. Cheap to share: reads take a connection from
/// a small pool and never wait for the writer (SQLite WAL).
pub struct ReadStore {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    catalogue: RwLock<Arc<Catalogue>>,
    next: AtomicU64,
    backfill_after: Duration,
}

struct Writer {
    conn: Connection,
    position: Position,
    cases: CaseCache,
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
    /// another schema version is emptied, to be rebuilt from the log.
    /// Steps recorded more than `backfill_after` after they happened are
    /// marked backfilled in work logs.
    pub fn open(path: &Path, backfill_after: Duration) -> Result<Self, ReadStoreError> {
        let storage = storage_error(path);
        let conn = Connection::open(path).map_err(&storage)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        )
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
        if version != Some(SCHEMA_VERSION) {
            if version.is_some() {
                tracing::warn!(
                    path = %path.display(),
                    found = ?version,
                    want = SCHEMA_VERSION,
                    "read store of another version: rebuilding from the log"
                );
            }
            create_tables(&conn).map_err(&storage)?;
        }
        let position = load_position(&conn).map_err(&storage)?;
        let catalogue = load_catalogue(&conn, path)?;
        let store = ReadStore {
            path: path.to_owned(),
            writer: Mutex::new(Writer {
                conn,
                position,
                cases: CaseCache::new(CASE_CACHE),
            }),
            readers: Mutex::new(Vec::new()),
            catalogue: RwLock::new(Arc::new(catalogue)),
            next: AtomicU64::new(position.next),
            backfill_after,
        };
        Ok(store)
    }

    /// Keeps at most `cases` case timelines in memory between batches
    /// (default 20,000); others are folded again from [`CaseSource`].
    pub fn with_case_cache(self, cases: usize) -> Self {
        self.lock_writer().cases = CaseCache::new(cases);
        self
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
        create_tables(&w.conn).map_err(storage_error(&self.path))?;
        w.position = Position {
            next: 0,
            last_leaf: None,
        };
        w.cases.clear();
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
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut guard = self.lock_writer();
        let w = &mut *guard;
        let mut expected = w.position.next;
        for ev in events {
            if ev.index.0 != expected {
                return Err(ReadStoreError::OutOfOrder {
                    position: expected,
                    given: ev.index.0,
                });
            }
            expected += 1;
        }
        let storage = storage_error(&self.path);
        let mut catalogue_changed = false;
        let mut dirty: BTreeMap<String, ()> = BTreeMap::new();
        let tx = w.conn.transaction().map_err(&storage)?;
        let result = (|| -> Result<(), ReadStoreError> {
            let mut insert_work = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO worklog (department, day, occurred_us, idx, officer,
                        stream, version, event_type, event_id, occurred_at, recorded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(&storage)?;
            let mut insert_catalog = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO catalog_events (idx, entry) VALUES (?1, ?2)",
                )
                .map_err(&storage)?;
            for stored in events {
                let ev = &stored.event;
                let stream = ev.stream.as_str();
                if stream == schema::CATALOG_STREAM {
                    insert_catalog
                        .execute(params![stored.index.0 as i64, stored.entry])
                        .map_err(&storage)?;
                    catalogue_changed = true;
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
                        stored.index.0 as i64,
                        ev.actor.officer.as_ref().map(|o| o.as_str()),
                        stream,
                        ev.version.0 as i64,
                        ev.event_type.as_str(),
                        ev.id.to_string(),
                        ev.occurred_at.as_str(),
                        ev.recorded_at.as_str(),
                    ])
                    .map_err(&storage)?;
                if is_case {
                    let timeline = w.cases.get_or_load(&ev.stream, ev.version, source)?;
                    timeline.apply(ev);
                    dirty.insert(stream.to_owned(), ());
                }
            }
            let mut upsert_case = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO cases (stream, status, department, item_id,
                        item_version, channel, accepted_at, accepted_on, completed_at,
                        last_recorded_at, steps)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(&storage)?;
            for stream in dirty.keys() {
                let Some(t) = w.cases.peek(stream) else {
                    continue;
                };
                let row = CaseRow::of(t);
                upsert_case
                    .execute(params![
                        row.stream,
                        row.status,
                        row.department,
                        row.item_id,
                        row.item_version,
                        row.channel,
                        row.accepted_at,
                        t.accepted
                            .as_ref()
                            .map(|a| local_date(a.at.datetime()).to_string()),
                        row.completed_at,
                        row.last_recorded_at,
                        row.steps as i64,
                    ])
                    .map_err(&storage)?;
            }
            let position = Position {
                next: last.index.0 + 1,
                last_leaf: Some(last.leaf_hash),
            };
            save_position(&tx, position).map_err(&storage)?;
            Ok(())
        })();
        match result {
            Ok(()) => tx.commit().map_err(&storage)?,
            Err(e) => {
                drop(tx); // rolls back
                // The cache may hold folds of events that were not committed.
                w.cases.clear();
                return Err(e);
            }
        }
        w.position = Position {
            next: last.index.0 + 1,
            last_leaf: Some(last.leaf_hash),
        };
        w.cases.trim();
        self.next.store(w.position.next, Ordering::Release);
        if catalogue_changed {
            let mut c = Catalogue::clone(&self.catalogue());
            for stored in events {
                if stored.event.stream.as_str() == schema::CATALOG_STREAM {
                    c.apply(&stored.event);
                }
            }
            *self.catalogue.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(c);
        }
        Ok(())
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
        let backfill_after = self.backfill_after;
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT idx, officer, stream, version, event_type, event_id, occurred_at, recorded_at
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
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })?
        .into_iter()
        .map(|(idx, officer, stream, version, event_type, id, occurred, recorded)| {
            let corrupt = |what: &str, reason: String| ReadStoreError::Corrupt {
                what: format!("worklog {idx} {what}"),
                reason,
            };
            let occurred_at =
                Timestamp::parse(&occurred).map_err(|e| corrupt("occurred_at", e.to_string()))?;
            let recorded_at =
                Timestamp::parse(&recorded).map_err(|e| corrupt("recorded_at", e.to_string()))?;
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
        })
        .collect()
    }

    /// Cases matching `filter`, most recently accepted first (then by
    /// stream), `limit` from `offset`; and how many match in all.
    pub fn cases(
        &self,
        filter: &CaseFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<CaseRow>, u64), ReadStoreError> {
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
        self.with_reader(|conn| {
            let total: i64 =
                conn.query_row(&format!("SELECT count(*) FROM cases {WHERE}"), args, |r| {
                    r.get(0)
                })?;
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT stream, status, department, item_id, item_version, channel,
                        accepted_at, completed_at, last_recorded_at, steps
                 FROM cases {WHERE}
                 ORDER BY accepted_at IS NULL, accepted_at DESC, stream
                 LIMIT {limit} OFFSET {offset}"
            ))?;
            let rows = stmt
                .query_map(args, |r| {
                    let status: String = r.get(1)?;
                    Ok(CaseRow {
                        stream: r.get(0)?,
                        status_label: status_label(&status).to_owned(),
                        status,
                        department: r.get(2)?,
                        item_id: r.get(3)?,
                        item_version: r.get(4)?,
                        channel: r.get(5)?,
                        accepted_at: r.get(6)?,
                        completed_at: r.get(7)?,
                        last_recorded_at: r.get(8)?,
                        steps: r.get::<_, i64>(9)? as u64,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rows, total as u64))
        })
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
    fn of(t: &CaseTimeline) -> CaseRow {
        let status = status_name(t.status);
        let department = t
            .accepted
            .as_ref()
            .and_then(|a| t.steps.iter().find(|s| s.event_id == a.event_id))
            .or(t.steps.first())
            .map(|s| s.department.clone());
        CaseRow {
            stream: t.stream.clone(),
            status: status.to_owned(),
            status_label: t.status.label().to_owned(),
            department,
            item_id: t.accepted.as_ref().map(|a| a.item_id.clone()),
            item_version: t.accepted.as_ref().map(|a| a.item_version),
            channel: t
                .accepted
                .as_ref()
                .and_then(|a| serde_json::to_value(a.channel).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
            accepted_at: t.accepted.as_ref().map(|a| a.at.as_str().to_owned()),
            completed_at: t.completed.as_ref().map(|(_, at)| at.as_str().to_owned()),
            last_recorded_at: t
                .last_recorded_at
                .as_ref()
                .map_or_else(String::new, |r| r.as_str().to_owned()),
            steps: t.steps.len() as u64,
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

/// The Chinese label of a status name.
fn status_label(name: &str) -> &'static str {
    ALL_STATUSES
        .iter()
        .find(|s| status_name(**s) == name)
        .map_or("未知", |s| s.label())
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

/// Recently folded case timelines, bounded.
struct CaseCache {
    map: HashMap<String, (CaseTimeline, u64)>,
    clock: u64,
    bound: usize,
}

impl CaseCache {
    fn new(bound: usize) -> Self {
        CaseCache {
            map: HashMap::new(),
            clock: 0,
            bound: bound.max(1),
        }
    }

    fn clear(&mut self) {
        self.map.clear();
    }

    /// The timeline of `stream` with every event before `version` folded
    /// in, from memory or from `source`.
    fn get_or_load(
        &mut self,
        stream: &StreamId,
        version: StreamVersion,
        source: &mut dyn CaseSource,
    ) -> Result<&mut CaseTimeline, ReadStoreError> {
        self.clock += 1;
        let clock = self.clock;
        let key = stream.as_str();
        let cached_ok = self
            .map
            .get(key)
            .is_some_and(|(t, _)| t.steps.len() as u64 == version.0);
        if !cached_ok {
            let timeline = if version.0 == 0 {
                CaseTimeline::new(key)
            } else {
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
                CaseTimeline::fold(key, &events)
            };
            self.map.insert(key.to_owned(), (timeline, clock));
        }
        let (timeline, touched) = self
            .map
            .get_mut(key)
            .ok_or_else(|| ReadStoreError::Corrupt {
                what: "case cache".to_owned(),
                reason: format!("{key} vanished"),
            })?;
        *touched = clock;
        Ok(timeline)
    }

    fn peek(&self, stream: &str) -> Option<&CaseTimeline> {
        self.map.get(stream).map(|(t, _)| t)
    }

    /// Drops the least recently used half when over the bound.
    fn trim(&mut self) {
        if self.map.len() <= self.bound {
            return;
        }
        let mut touched: Vec<u64> = self.map.values().map(|(_, c)| *c).collect();
        touched.sort_unstable();
        let cut = touched[touched.len() / 2];
        self.map.retain(|_, (_, c)| *c > cut);
    }
}

fn storage_error(path: &Path) -> impl Fn(rusqlite::Error) -> ReadStoreError + '_ {
    move |source| ReadStoreError::Storage {
        path: path.to_owned(),
        source,
    }
}

fn create_tables(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(&format!(
        "BEGIN;
         DROP TABLE IF EXISTS meta;
         DROP TABLE IF EXISTS catalog_events;
         DROP TABLE IF EXISTS cases;
         DROP TABLE IF EXISTS worklog;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
         INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
         INSERT INTO meta VALUES ('next', '0');
         CREATE TABLE catalog_events (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
         CREATE TABLE cases (
            stream TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            department TEXT,
            item_id TEXT,
            item_version INTEGER,
            channel TEXT,
            accepted_at TEXT,
            accepted_on TEXT,
            completed_at TEXT,
            last_recorded_at TEXT NOT NULL,
            steps INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE INDEX cases_by_department ON cases (department, accepted_on);
         CREATE INDEX cases_by_accepted ON cases (accepted_at);
         CREATE TABLE worklog (
            department TEXT NOT NULL,
            day TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            officer TEXT,
            stream TEXT NOT NULL,
            version INTEGER NOT NULL,
            event_type TEXT NOT NULL,
            event_id TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            PRIMARY KEY (department, day, occurred_us, idx)
         ) WITHOUT ROWID;
         COMMIT;"
    ))
}

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
