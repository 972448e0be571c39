//! Where the embedded store gets the server time it stamps as `recorded_at`.
//!
//! [`Clock::system`] (the default) reads the system clock. [`Clock::manual`]
//! gives a clock whose time a [`ManualClock`] handle sets; only the demo
//! loader uses it, to record a generated history of several months at the
//! times it happened (otherwise every demo step would look backfilled).
//! Once the handle is released (or dropped) the clock reads system time
//! again, for good.
//!
//! Deliberately not here: any guarantee about ordering. The store itself
//! keeps server time from running backwards along the log (a time set
//! earlier than the last recorded one is stamped as that one).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

use crate::time::Timestamp;

/// Marks a manual clock that is not set (or released): read system time.
const SYSTEM_TIME: i64 = i64::MIN;

/// The store's source of server time. Cheap to clone; clones share the time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds since the Unix epoch, or [`SYSTEM_TIME`]; `None` for
    /// the system clock.
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock set by the returned handle. Until the first
    /// [`ManualClock::set`] it reads system time. Only the demo loader
    /// uses it.
    pub fn manual() -> (Clock, ManualClock) {
        let micros = Arc::new(AtomicI64::new(SYSTEM_TIME));
        (
            Clock {
                manual: Some(micros.clone()),
            },
            ManualClock { micros },
        )
    }

    /// The time now, by this clock.
    pub fn now(&self) -> Timestamp {
        let set = self
            .manual
            .as_ref()
            .map(|m| m.load(Ordering::Acquire))
            .filter(|&m| m != SYSTEM_TIME)
            .and_then(DateTime::<Utc>::from_timestamp_micros);
        match set {
            Some(at) => Timestamp::from_datetime(at),
            None => Timestamp::now(),
        }
    }
}

/// The handle that sets a [`Clock::manual`] clock. Dropping it releases
/// the clock, as [`ManualClock::release`] does.
#[derive(Debug)]
pub struct ManualClock {
    micros: Arc<AtomicI64>,
}

impl ManualClock {
    /// From now on the clock reads `at` (to the microsecond).
    pub fn set(&self, at: DateTime<Utc>) {
        let micros = at.timestamp_micros();
        // i64::MIN microseconds is 292,000 years BC: never a time we set.
        let micros = if micros == SYSTEM_TIME {
            SYSTEM_TIME + 1
        } else {
            micros
        };
        self.micros.store(micros, Ordering::Release);
    }

    /// Back to system time, for good.
    pub fn release(self) {
        // Drop does the work.
    }
}

impl Drop for ManualClock {
    fn drop(&mut self) {
        self.micros.store(SYSTEM_TIME, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::datadir::DataDir;
    use crate::store::sqlite::SqliteConfig;
    use crate::{
        Actor, ActorId, AppendRequest, EventType, ExpectedVersion, ProposedEvent, Store, StreamId,
    };

    fn close_to_now(t: &Timestamp) -> bool {
        (Utc::now() - t.datetime()).num_seconds().abs() < 60
    }

    #[test]
    fn system_clock_reads_system_time() {
        assert!(close_to_now(&Clock::system().now()));
    }

    #[test]
    fn manual_clock_reads_what_was_set_until_released() {
        let (clock, hand) = Clock::manual();
        assert!(close_to_now(&clock.now()), "unset reads system time");
        let at = Utc.with_ymd_and_hms(2025, 3, 4, 1, 30, 0).unwrap();
        hand.set(at);
        assert_eq!(clock.now().datetime(), at);
        assert_eq!(clock.now().as_str(), "2025-03-04T01:30:00.000000Z");
        // Clones share the time.
        let copy = clock.clone();
        hand.set(at + Duration::minutes(10));
        assert_eq!(copy.now().datetime(), at + Duration::minutes(10));
        hand.release();
        assert!(close_to_now(&clock.now()));
        assert!(close_to_now(&copy.now()));
    }

    #[test]
    fn dropping_the_handle_releases_the_clock() {
        let (clock, hand) = Clock::manual();
        hand.set(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap());
        drop(hand);
        assert!(close_to_now(&clock.now()));
    }

    fn one_event(stream: &str) -> AppendRequest {
        let stream = StreamId::new(stream).unwrap();
        AppendRequest {
            stream: stream.clone(),
            expected: ExpectedVersion::Any,
            events: vec![ProposedEvent::new(
                stream,
                EventType::new("test.step").unwrap(),
                Timestamp::parse("2025-01-01T00:00:00Z").unwrap(),
                Actor {
                    department: ActorId::new("dept-test").unwrap(),
                    officer: None,
                },
                serde_json::Map::new(),
            )],
        }
    }

    #[tokio::test]
    async fn the_store_stamps_the_manual_time_and_never_runs_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open_or_init(dir.path(), Some("clock.example/log")).unwrap();
        let (clock, hand) = Clock::manual();
        let sqlite = data
            .open_store(SqliteConfig {
                clock,
                ..SqliteConfig::default()
            })
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let t1 = Utc.with_ymd_and_hms(2025, 6, 2, 1, 0, 0).unwrap();
        hand.set(t1);
        store.append(one_event("s-1")).await.unwrap();
        // Set earlier: stamped as the last recorded time, not earlier.
        hand.set(t1 - Duration::days(3));
        store.append(one_event("s-2")).await.unwrap();
        hand.set(t1 + Duration::hours(2));
        store.append(one_event("s-3")).await.unwrap();
        hand.release();
        store.append(one_event("s-4")).await.unwrap();
        let log = store.read_log(crate::LogIndex(0), 10).await.unwrap();
        let recorded: Vec<_> = log.iter().map(|e| e.event.recorded_at.datetime()).collect();
        assert_eq!(recorded[..3], [t1, t1, t1 + Duration::hours(2)]);
        assert!(close_to_now(&log[3].event.recorded_at));
        sqlite.close();
    }
}
