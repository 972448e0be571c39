//! Loads the demo data set ([`projections::demo`]) into a ledger: what
//! `ledger init --demo` and `ledger serve --demo` do.
//!
//! The data set is generated for the months up to today (China time) and
//! appended in the order it was recorded, so the log reads as if the
//! departments had written it as they worked: the store is opened with a
//! manual clock ([`ledger::Clock::manual`]), and for each recording time
//! the clock is set to it and that time's events are appended together —
//! one request per stream, `no_stream` / exact expected versions, all at
//! once so that group commit takes them in one transaction. Steps of today
//! that lie after now are left out. The departments are registered first
//! (`department.registered`, as the admin endpoint does), each with an
//! Ed25519 key made for this load (`key.registered`), and every event a
//! registered department records is signed with its department's key, as a
//! department's own client would sign it. The private keys live only in
//! memory while the demo loads: afterwards nobody can sign as a demo
//! department with them (register a new key to append as one).
//!
//! Loading twice adds nothing: a log with a `catalog` stream already has
//! the demo (or a real catalogue, which the demo must not mix with). A log
//! with anything recorded after the demo's history begins is refused: the
//! store never lets server time run backwards, so the demo's past would be
//! stamped with the later time.
//!
//! Deliberately not here: generating the data (that is `projections`), or
//! keeping the manual clock once the demo is in (it is released on return).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ledger::keys::{KEY_REGISTERED, KeyRegistration, PublicKey};
use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, KeyId, LogIndex, ManualClock,
    ProposedEvent, Store, StreamId, StreamVersion, Timestamp,
};
use projections::calendar::local_date;
use projections::demo::{self, DemoConfig, DemoData, DemoError, DemoEvent};
use serde_json::json;

use crate::auth::DEPARTMENT_REGISTERED;
use crate::state::admin_actor;

/// The first demo cases' streams (every demo has at least these when it
/// has three cases or more); the first is an ordinary 企业设立登记.
pub const DEMO_CASES: [&str; 3] = ["case-demo-0001", "case-demo-0002", "case-demo-0003"];

/// The department of the first demo case.
pub const DEMO_DEPARTMENT: &str = "dept-market";

/// The catalogue item the first demo case is accepted under (企业设立登记).
pub const DEMO_ITEM: &str = demo::MODEL_ITEM;

/// How many cases `--demo` loads unless told otherwise.
pub const DEFAULT_DEMO_CASES: usize = DemoConfig::DEFAULT_CASES;

/// The subject the demo's registry events name as the administrator.
const LOADER: &str = "demo-loader";

/// Why the demo could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoLoadError {
    #[error("demo data: {0}")]
    Generate(#[from] DemoError),
    #[error("appending the demo: {0}")]
    Ledger(#[from] ledger::Error),
    #[error(
        "the demo goes into a new data directory: this log's last entry was recorded at {last}, \
         after the demo's history begins ({first})"
    )]
    LogNotEmpty { last: String, first: String },
}

/// What [`load_demo`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DemoOutcome {
    /// The log already has a catalogue: nothing added.
    AlreadyThere,
    Loaded(DemoLoaded),
}

/// A loaded demo, counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoLoaded {
    /// Cases with events in the log: those asked for, less any whose first
    /// contact lies later today.
    pub cases: usize,
    /// Complaints with events in the log, counted the same way.
    pub complaints: usize,
    /// Events appended, the departments' registrations included.
    pub events: usize,
    /// Distinct recording times (one clock setting and one round of appends each).
    pub steps: usize,
    pub elapsed: Duration,
}

/// Loads a demo of `cases` cases ending today into `store`, whose clock
/// `clock` sets; releases the clock when done (or failed).
pub async fn load_demo(
    store: &Arc<dyn Store>,
    clock: ManualClock,
    cases: usize,
) -> Result<DemoOutcome, DemoLoadError> {
    let started = Instant::now();
    if store
        .stream_version(&StreamId::new("catalog")?)
        .await?
        .is_some()
    {
        tracing::info!("demo: the log already has a catalogue; nothing added");
        return Ok(DemoOutcome::AlreadyThere);
    }
    let today = local_date(Utc::now());
    let data = demo::generate(&DemoConfig {
        cases,
        ..DemoConfig::ending(today)
    })?;
    let generated = started.elapsed();
    let now = Utc::now();
    let events: Vec<&DemoEvent> = data
        .events
        .iter()
        .filter(|e| e.recorded_at <= now)
        .collect();
    let Some(first) = events.first().map(|e| e.recorded_at) else {
        return Ok(DemoOutcome::AlreadyThere);
    };
    refuse_a_later_log(store, first).await?;
    tracing::info!(
        cases = data.cases.len(),
        complaints = data.complaints.len(),
        events = events.len(),
        from = %first,
        generated_ms = generated.as_millis() as u64,
        "demo: loading"
    );

    let mut next_version: HashMap<StreamId, u64> = HashMap::new();
    let registry = StreamId::registry();
    if let Some(v) = store.stream_version(&registry).await? {
        next_version.insert(registry.clone(), v.0 + 1);
    }
    clock.set(first);
    let keys = DemoKeys::generate(&data)?;
    let registrations = registrations(&data, &keys, first)?;
    let mut appended = registrations.len();
    append_step(store, &mut next_version, vec![(registry, registrations)]).await?;

    let total = events.len();
    let mut steps = 0;
    let mut reported = 0;
    let mut rest = &events[..];
    while let Some(head) = rest.first() {
        let at = head.recorded_at;
        let n = rest.iter().take_while(|e| e.recorded_at == at).count();
        let (step, later) = rest.split_at(n);
        rest = later;
        clock.set(at);
        let mut by_stream: Vec<(StreamId, Vec<ProposedEvent>)> = Vec::new();
        for e in step {
            let proposed = keys.sign(proposed(e))?;
            match by_stream.iter_mut().find(|(s, _)| *s == e.stream) {
                Some((_, list)) => list.push(proposed),
                None => by_stream.push((e.stream.clone(), vec![proposed])),
            }
        }
        append_step(store, &mut next_version, by_stream).await?;
        appended += n;
        steps += 1;
        let done = total - rest.len();
        if done * 10 / total > reported {
            reported = done * 10 / total;
            tracing::info!("demo: {done}/{total} events ({}0 %)", reported);
        }
    }
    clock.release();
    // A case (or complaint) whose first event lies later today is left out
    // whole: count those that are in the log.
    let streams: HashSet<&StreamId> = events.iter().map(|e| &e.stream).collect();
    let in_log = |all: &[StreamId]| all.iter().filter(|s| streams.contains(s)).count();
    let loaded = DemoLoaded {
        cases: in_log(&data.cases),
        complaints: in_log(&data.complaints),
        events: appended,
        steps,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        cases = loaded.cases,
        complaints = loaded.complaints,
        events = loaded.events,
        steps = loaded.steps,
        seconds = loaded.elapsed.as_secs_f64(),
        "demo: loaded"
    );
    Ok(DemoOutcome::Loaded(loaded))
}

/// Refuses a log whose last entry was recorded after `first`.
async fn refuse_a_later_log(
    store: &Arc<dyn Store>,
    first: DateTime<Utc>,
) -> Result<(), DemoLoadError> {
    let size = store.size().await?;
    if size == 0 {
        return Ok(());
    }
    let last = store.read_log(LogIndex(size - 1), 1).await?;
    match last.first() {
        Some(e) if e.event.recorded_at.datetime() > first => Err(DemoLoadError::LogNotEmpty {
            last: e.event.recorded_at.to_string(),
            first: Timestamp::from_datetime(first).to_string(),
        }),
        _ => Ok(()),
    }
}

/// One signing key per demo department, for the length of one load.
struct DemoKeys {
    by_department: HashMap<ActorId, (KeyId, SigningKey)>,
}

impl DemoKeys {
    fn generate(data: &DemoData) -> Result<DemoKeys, ledger::Error> {
        let by_department = data
            .departments
            .iter()
            .map(|d| {
                let signing = SigningKey::generate(&mut rand::rng());
                let key = KeyId::derive(&PublicKey::Ed25519(signing.verifying_key()));
                Ok((ActorId::new(d.id)?, (key, signing)))
            })
            .collect::<Result<_, ledger::Error>>()?;
        Ok(DemoKeys { by_department })
    }

    /// The event signed with its department's key; as it was if its
    /// department has none (an event the administrator records).
    fn sign(&self, event: ProposedEvent) -> Result<ProposedEvent, ledger::Error> {
        match self.by_department.get(&event.actor.department) {
            Some((key, signing)) => event.sign_ed25519(key.clone(), signing),
            None => Ok(event),
        }
    }
}

/// The departments' registrations and their keys', as the admin endpoints
/// write them; each key is valid from the demo's first moment.
fn registrations(
    data: &DemoData,
    keys: &DemoKeys,
    at: DateTime<Utc>,
) -> Result<Vec<ProposedEvent>, ledger::Error> {
    let actor = admin_actor(Some(ActorId::new(LOADER)?));
    let registry = |event_type: &str, payload: serde_json::Map<String, serde_json::Value>| {
        Ok(ProposedEvent::new(
            StreamId::registry(),
            EventType::new(event_type)?,
            Timestamp::from_datetime(at),
            actor.clone(),
            payload,
        ))
    };
    let mut events = Vec::with_capacity(2 * data.departments.len());
    for d in &data.departments {
        let payload = json!({"department": d.id, "name": d.name});
        events.push(registry(
            DEPARTMENT_REGISTERED,
            payload.as_object().cloned().unwrap_or_default(),
        )?);
    }
    for d in &data.departments {
        let department = ActorId::new(d.id)?;
        if let Some((_, signing)) = keys.by_department.get(&department) {
            let registration = KeyRegistration::new(
                &PublicKey::Ed25519(signing.verifying_key()),
                department,
                None,
            );
            events.push(registry(KEY_REGISTERED, registration.to_payload())?);
        }
    }
    Ok(events)
}

fn proposed(e: &DemoEvent) -> ProposedEvent {
    ProposedEvent::new(
        e.stream.clone(),
        e.event_type.clone(),
        Timestamp::from_datetime(e.occurred_at),
        Actor {
            department: e.department.clone(),
            officer: e.officer.clone(),
        },
        e.payload.clone(),
    )
}

/// Appends one recording time's events, a request per stream, all at once.
async fn append_step(
    store: &Arc<dyn Store>,
    next_version: &mut HashMap<StreamId, u64>,
    by_stream: Vec<(StreamId, Vec<ProposedEvent>)>,
) -> Result<(), ledger::Error> {
    let requests: Vec<AppendRequest> = by_stream
        .into_iter()
        .map(|(stream, events)| {
            let next = next_version.get(&stream).copied().unwrap_or(0);
            next_version.insert(stream.clone(), next + events.len() as u64);
            AppendRequest {
                expected: match next {
                    0 => ExpectedVersion::NoStream,
                    n => ExpectedVersion::Exact(StreamVersion(n - 1)),
                },
                stream,
                events,
            }
        })
        .collect();
    let results = futures::future::join_all(requests.into_iter().map(|r| store.append(r))).await;
    for r in results {
        r?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::Clock;
    use ledger::datadir::DataDir;
    use ledger::store::sqlite::SqliteConfig;

    #[tokio::test]
    async fn the_demo_is_recorded_at_its_own_times_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open_or_init(dir.path(), Some("demo.example/log")).expect("dir");
        let (clock, hand) = Clock::manual();
        let sqlite = data
            .open_store(SqliteConfig {
                clock,
                ..SqliteConfig::default()
            })
            .expect("store");
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let outcome = load_demo(&store, hand, 60).await.expect("loads");
        let DemoOutcome::Loaded(loaded) = outcome else {
            panic!("loaded: {outcome:?}")
        };
        let size = store.size().await.expect("size");
        assert_eq!(size, loaded.events as u64);
        let log = store
            .read_log(LogIndex(0), size as usize)
            .await
            .expect("log");
        // The cases counted are those in the log: all asked for, less the
        // last few if their first contact lies later today.
        let cases: std::collections::HashSet<_> = log
            .iter()
            .map(|e| e.event.stream.as_str())
            .filter(|s| s.starts_with("case-"))
            .collect();
        assert_eq!(loaded.cases, cases.len());
        assert!((55..=60).contains(&loaded.cases), "{loaded:?}");
        // The departments first, then months of history in recorded order,
        // nothing in the future.
        assert_eq!(log[0].event.event_type.as_str(), DEPARTMENT_REGISTERED);
        let first = log[0].event.recorded_at.datetime();
        assert!(Utc::now() - first > chrono::Duration::days(150), "{first}");
        for pair in log.windows(2) {
            assert!(pair[0].event.recorded_at <= pair[1].event.recorded_at);
        }
        assert!(log.last().expect("last").event.recorded_at.datetime() <= Utc::now());
        // Most steps are recorded within minutes of the work.
        let prompt = log
            .iter()
            .filter(|e| {
                e.event.recorded_at.datetime() - e.event.occurred_at.datetime()
                    < chrono::Duration::hours(1)
            })
            .count();
        assert!(prompt * 10 > log.len() * 8, "{prompt} of {}", log.len());
        // Every department has a key, and every step a department recorded
        // is signed with it: the audit checks each signature under the key
        // the registry held at that step.
        let keys = log
            .iter()
            .filter(|e| e.event.event_type.as_str() == KEY_REGISTERED)
            .count();
        let departments = log
            .iter()
            .filter(|e| e.event.event_type.as_str() == DEPARTMENT_REGISTERED)
            .count();
        assert_eq!(keys, departments);
        let cases: Vec<_> = log
            .iter()
            .filter(|e| e.event.stream.as_str().starts_with("case-"))
            .collect();
        assert!(!cases.is_empty());
        assert!(
            cases.iter().all(|e| e.event.signature.is_some()),
            "an unsigned case step"
        );
        let audit = ledger::audit::verify_store(&sqlite, &data.signer().verifier(), |_| {})
            .await
            .expect("reads");
        assert!(audit.is_ok(), "{audit:?}");
        for case in DEMO_CASES {
            let v = store
                .stream_version(&StreamId::new(case).expect("id"))
                .await
                .expect("version");
            assert!(v.is_some(), "{case}");
        }

        // Again: nothing added (and the new clock is released on return).
        let (_, hand) = Clock::manual();
        assert_eq!(
            load_demo(&store, hand, 60).await.expect("again"),
            DemoOutcome::AlreadyThere
        );
        assert_eq!(store.size().await.expect("size"), size);
        sqlite.close();
    }

    #[tokio::test]
    async fn a_log_with_recent_entries_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open_or_init(dir.path(), Some("demo.example/log")).expect("dir");
        let (clock, hand) = Clock::manual();
        let sqlite = data
            .open_store(SqliteConfig {
                clock,
                ..SqliteConfig::default()
            })
            .expect("store");
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let stream = StreamId::new("notes-1").expect("id");
        store
            .append(AppendRequest {
                stream: stream.clone(),
                expected: ExpectedVersion::NoStream,
                events: vec![ProposedEvent::new(
                    stream,
                    EventType::new("note.written").expect("type"),
                    Timestamp::now(),
                    admin_actor(None),
                    serde_json::Map::new(),
                )],
            })
            .await
            .expect("append");
        let err = load_demo(&store, hand, 20).await.expect_err("refused");
        assert!(matches!(err, DemoLoadError::LogNotEmpty { .. }), "{err}");
        assert_eq!(store.size().await.expect("size"), 1);
        sqlite.close();
    }
}
