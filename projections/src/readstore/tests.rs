use ledger::LogIndex;
use serde_json::json;

use super::*;
use crate::examples;
use crate::testkit::{StreamBuilder, t};

/// A log: events of several streams in the order the ledger sequenced them.
struct Log {
    events: Vec<StoredEvent>,
}

impl Log {
    fn new(streams: Vec<StreamBuilder>) -> Log {
        let mut all: Vec<Event> = streams.into_iter().flat_map(|s| s.events).collect();
        // The ledger's order: by recorded_at; stream order is kept because
        // recorded_at never decreases within a stream and the sort is stable.
        all.sort_by_key(|e| e.recorded_at.datetime());
        let events = all
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                let entry = event.to_entry().expect("entry");
                StoredEvent {
                    index: LogIndex(i as u64),
                    leaf_hash: LeafHash::of_entry(&entry),
                    entry,
                    event,
                }
            })
            .collect();
        Log { events }
    }
}

/// The earlier events of a case, as the ledger would answer; counts calls.
struct Source<'a> {
    log: &'a Log,
    calls: usize,
    fail: bool,
}

impl CaseSource for Source<'_> {
    fn events_before(
        &mut self,
        stream: &StreamId,
        before: StreamVersion,
    ) -> Result<Vec<Event>, String> {
        self.calls += 1;
        if self.fail {
            return Err("ledger unavailable".to_owned());
        }
        Ok(self
            .log
            .events
            .iter()
            .map(|s| &s.event)
            .filter(|e| &e.stream == stream && e.version < before)
            .cloned()
            .collect())
    }
}

fn source(log: &Log) -> Source<'_> {
    Source {
        log,
        calls: 0,
        fail: false,
    }
}

/// A moment after every event of the sample log.
fn now() -> chrono::DateTime<chrono::Utc> {
    t("2026-03-10 12:00")
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("day")
}

/// A catalogue item and a dozen cases over a few days, interleaved.
fn sample_log() -> Log {
    let mut catalog = StreamBuilder::new("catalog");
    catalog.push(
        schema::ITEM_PUBLISHED,
        examples::service_item(),
        "2026-03-01 08:00",
    );
    let mut streams = vec![catalog];
    for n in 0..12 {
        let mut c = StreamBuilder::new(&format!("case-{n:03}"));
        let d = 2 + n % 3;
        c.push(
            schema::ACCEPTED,
            examples::payload(schema::ACCEPTED).expect("accepted"),
            &format!("2026-03-0{d} 09:{n:02}"),
        );
        c.push(
            schema::REVIEWED,
            json!({"layer": 1, "opinion": "同意"}),
            &format!("2026-03-0{d} 10:{n:02}"),
        );
        if n % 2 == 0 {
            c.push(
                schema::COMPLETED,
                json!({}),
                &format!("2026-03-0{} 11:{n:02}", d + 1),
            );
        }
        if n % 4 == 0 {
            // Done on the 3rd, recorded on the 6th: backfilled.
            c.push_at(
                schema::NOTE,
                json!({"text": "补记"}),
                t("2026-03-03 16:00"),
                t("2026-03-06 09:00"),
            );
        }
        streams.push(c);
    }
    let mut complaint = StreamBuilder::new("complaint-001");
    let mut filed = examples::payload(schema::COMPLAINT_FILED).expect("example");
    filed["case"] = json!("case-000");
    complaint.push(schema::COMPLAINT_FILED, filed, "2026-03-05 15:00");
    streams.push(complaint);
    let mut registry = StreamBuilder::new("registry");
    registry.push("token.issued", json!({}), "2026-03-02 08:00");
    streams.push(registry);
    Log::new(streams)
}

fn open(dir: &tempfile::TempDir, name: &str) -> ReadStore {
    ReadStore::open(&dir.path().join(name), ReadStoreConfig::official()).expect("open")
}

#[test]
fn rebuilding_in_one_pass_gives_what_following_in_small_batches_gave() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");

    // Live: small batches of varying size, a cache of two cases so that
    // timelines are evicted and folded again from the source.
    let live = open(&dir, "live.sqlite").with_case_cache(2);
    let mut src = source(&log);
    let mut at = 0;
    for size in [1, 3, 2, 5, 1, 7].into_iter().cycle() {
        if at >= log.events.len() {
            break;
        }
        let end = (at + size).min(log.events.len());
        live.apply(&log.events[at..end], &mut src).expect("apply");
        at = end;
    }
    assert!(
        src.calls > 0,
        "the small cache must have sent folds to the source"
    );

    let rebuilt = open(&dir, "rebuilt.sqlite");
    let mut src = source(&log);
    rebuilt.apply(&log.events, &mut src).expect("apply");
    assert_eq!(src.calls, 0, "one pass over the whole log needs no source");

    let (a, b) = (live.dump().expect("dump"), rebuilt.dump().expect("dump"));
    assert_eq!(a, b);
    assert!(a.contains("case-011"), "the dump holds the cases: {a}");
    assert_eq!(live.position(), rebuilt.position());
    assert_eq!(live.next_index(), log.events.len() as u64);
}

#[test]
fn the_position_and_read_models_survive_reopening() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let half = log.events.len() / 2;
    {
        let store = open(&dir, "r.sqlite");
        store
            .apply(&log.events[..half], &mut source(&log))
            .expect("apply");
    }
    let store = open(&dir, "r.sqlite");
    assert_eq!(store.next_index(), half as u64);
    assert_eq!(
        store.position().last_leaf,
        Some(log.events[half - 1].leaf_hash)
    );
    assert_eq!(
        store.catalogue().len(),
        1,
        "the catalogue is folded at open"
    );
    // Resumes where it stopped; the reopened store had no cached timelines.
    let mut src = source(&log);
    store.apply(&log.events[half..], &mut src).expect("apply");
    assert!(src.calls > 0);

    let fresh = open(&dir, "fresh.sqlite");
    fresh.apply(&log.events, &mut source(&log)).expect("apply");
    assert_eq!(store.dump().expect("dump"), fresh.dump().expect("dump"));
}

#[test]
fn events_out_of_order_are_refused_and_change_nothing() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir, "r.sqlite");
    store
        .apply(&log.events[..3], &mut source(&log))
        .expect("apply");
    let before = store.dump().expect("dump");
    let err = store
        .apply(&log.events[4..6], &mut source(&log))
        .expect_err("a gap");
    assert!(
        matches!(
            err,
            ReadStoreError::OutOfOrder {
                position: 3,
                given: 4
            }
        ),
        "{err}"
    );
    let err = store
        .apply(&log.events[..2], &mut source(&log))
        .expect_err("a repeat");
    assert!(matches!(
        err,
        ReadStoreError::OutOfOrder {
            position: 3,
            given: 0
        }
    ));
    assert_eq!(store.dump().expect("dump"), before);
}

#[test]
fn a_failing_source_rolls_the_whole_batch_back() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir, "r.sqlite");
    let half = log.events.len() / 2;
    store
        .apply(&log.events[..half], &mut source(&log))
        .expect("apply");
    // A fresh open has no cached timelines: the next case event needs the source.
    drop(store);
    let store = open(&dir, "r.sqlite");
    let before = store.dump().expect("dump");
    let mut failing = Source {
        log: &log,
        calls: 0,
        fail: true,
    };
    let err = store
        .apply(&log.events[half..], &mut failing)
        .expect_err("source fails");
    assert!(matches!(err, ReadStoreError::CaseSource { .. }), "{err}");
    assert!(err.to_string().contains("ledger unavailable"));
    assert_eq!(store.dump().expect("dump"), before);
    assert_eq!(store.next_index(), half as u64);
    // And it recovers once the source answers.
    store
        .apply(&log.events[half..], &mut source(&log))
        .expect("apply");
    assert_eq!(store.next_index(), log.events.len() as u64);
}

#[test]
fn a_store_built_from_another_log_is_detected() {
    let log = sample_log();
    let other = sample_log(); // same shape, other event ids: other leaves
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir, "r.sqlite");
    store
        .apply(&log.events[..5], &mut source(&log))
        .expect("apply");
    store
        .check_log(Some(log.events[4].leaf_hash))
        .expect("same log");
    let err = store
        .check_log(Some(other.events[4].leaf_hash))
        .expect_err("other log");
    assert!(
        matches!(err, ReadStoreError::NotThisLog { index: 4, .. }),
        "{err}"
    );
    let err = store.check_log(None).expect_err("shorter log");
    assert!(err.to_string().contains("no such entry"), "{err}");
    store.reset().expect("reset");
    assert_eq!(store.next_index(), 0);
    store.check_log(None).expect("an empty store fits any log");
    assert!(store.catalogue().is_empty());
}

#[test]
fn a_file_of_another_schema_version_is_emptied() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.sqlite");
    {
        let store = open(&dir, "r.sqlite");
        store.apply(&log.events, &mut source(&log)).expect("apply");
    }
    let conn = Connection::open(&path).expect("open");
    conn.execute(
        "UPDATE meta SET value = '0' WHERE key = 'schema_version'",
        [],
    )
    .expect("update");
    drop(conn);
    let store = open(&dir, "r.sqlite");
    assert_eq!(store.next_index(), 0);
    assert_eq!(
        store
            .cases(&CaseFilter::default(), 0, 100, now())
            .expect("cases")
            .1,
        0
    );
}

#[test]
fn work_logs_come_in_the_order_of_the_work_with_backfills_marked() {
    let mut log = sample_log();
    // Every other step spelled by its author without a fraction of a
    // second: the same instant, which the work log gives back as spelled.
    for stored in log.events.iter_mut().step_by(2) {
        let at = stored.event.occurred_at.datetime();
        stored.event.occurred_at =
            Timestamp::parse(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .expect("a time");
    }
    let spelled: std::collections::HashMap<_, _> = log
        .events
        .iter()
        .map(|s| (s.event.id, s.event.occurred_at.as_str().to_owned()))
        .collect();
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir, "r.sqlite");
    store.apply(&log.events, &mut source(&log)).expect("apply");

    let entries = store
        .work_log("dept-market", day("2026-03-03"), None)
        .expect("work log");
    let times: Vec<_> = entries.iter().map(|e| e.occurred_at.datetime()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "in the order of the work");
    // Cases 1, 4, 7, 10 are accepted and reviewed on the 3rd (2 steps
    // each); cases 0, 6 are completed on the 3rd; the backfilled notes of
    // cases 0, 4, 8 were done on the 3rd.
    assert_eq!(entries.len(), 4 * 2 + 2 + 3);
    let backfilled: Vec<_> = entries.iter().filter(|e| e.backfilled).collect();
    assert_eq!(backfilled.len(), 3);
    assert!(backfilled.iter().all(|e| e.label == "工作记录"));
    assert!(entries.iter().all(|e| e.stream.starts_with("case-")));
    let kinds: std::collections::HashSet<usize> = entries
        .iter()
        .map(|e| e.occurred_at.as_str().len())
        .collect();
    assert_eq!(kinds.len(), 2, "both spellings are on the day: {kinds:?}");
    for e in &entries {
        assert_eq!(e.occurred_at.as_str(), spelled[&e.event_id], "{e:?}");
    }

    assert_eq!(
        store
            .work_log("dept-market", day("2026-03-03"), Some("officer-1"))
            .expect("officer")
            .len(),
        entries.len()
    );
    assert!(
        store
            .work_log("dept-market", day("2026-03-03"), Some("officer-9"))
            .expect("officer")
            .is_empty()
    );
    // The complaint is work too; the registry is not.
    let fifth = store
        .work_log("dept-market", day("2026-03-05"), None)
        .expect("work log");
    assert!(fifth.iter().any(|e| e.stream == "complaint-001"));
    assert!(
        store
            .work_log("dept-market", day("2026-03-02"), None)
            .expect("work log")
            .iter()
            .all(|e| e.stream != "registry")
    );
}

#[test]
fn cases_are_found_by_status_department_item_and_acceptance_day() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir, "r.sqlite");
    store.apply(&log.events, &mut source(&log)).expect("apply");

    let (all, total) = store
        .cases(&CaseFilter::default(), 0, 100, now())
        .expect("cases");
    assert_eq!(total, 12);
    assert_eq!(all.len(), 12);
    let accepted: Vec<_> = all.iter().map(|c| c.accepted_at.clone()).collect();
    let mut sorted = accepted.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(accepted, sorted, "most recently accepted first");

    let completed = CaseFilter {
        status: Some("completed".to_owned()),
        ..CaseFilter::default()
    };
    let (rows, total) = store.cases(&completed, 0, 100, now()).expect("cases");
    assert_eq!(total, 6);
    assert!(
        rows.iter()
            .all(|c| c.status_label == "已办结" && c.completed_at.is_some())
    );

    let on_the_third = CaseFilter {
        accepted_from: Some(day("2026-03-03")),
        accepted_before: Some(day("2026-03-04")),
        department: Some("dept-market".to_owned()),
        item_id: Some("scjg-qysldj".to_owned()),
        ..CaseFilter::default()
    };
    assert_eq!(
        store.cases(&on_the_third, 0, 100, now()).expect("cases").1,
        4
    );

    let (page, total) = store
        .cases(&CaseFilter::default(), 10, 5, now())
        .expect("page");
    assert_eq!((page.len(), total), (2, 12));

    let one = CaseFilter {
        stream: Some("case-00*".to_owned()),
        ..CaseFilter::default()
    };
    assert_eq!(store.cases(&one, 0, 100, now()).expect("prefix").1, 10);
    let nobody = CaseFilter {
        department: Some("dept-none".to_owned()),
        ..CaseFilter::default()
    };
    assert_eq!(store.cases(&nobody, 0, 100, now()).expect("none").1, 0);
}

#[test]
fn cases_are_found_by_what_they_are_judged_at_a_moment() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir, "r.sqlite");
    store.apply(&log.events, &mut source(&log)).expect("apply");

    // The item allows 3 working days: the six open cases, accepted on the
    // 2nd to the 4th, are overdue on the 10th; none was on the 3rd.
    let overdue = CaseFilter {
        time_limit: Some(TimeLimitStatus::Overdue),
        ..CaseFilter::default()
    };
    let (rows, total) = store.cases(&overdue, 0, 4, now()).expect("cases");
    assert_eq!(total, 6);
    assert_eq!(rows.len(), 4, "paged after judging");
    assert!(
        rows.iter()
            .all(|r| r.violations.contains(&ViolationKind::Overdue))
    );
    assert_eq!(
        store
            .cases(&overdue, 0, 100, t("2026-03-03 12:00"))
            .expect("cases")
            .1,
        0
    );
    // Backfilled notes on cases 0, 4 and 8.
    let backfilled = CaseFilter {
        violation: Some(ViolationKind::Backfilled),
        ..CaseFilter::default()
    };
    let (rows, total) = store.cases(&backfilled, 0, 100, now()).expect("cases");
    assert_eq!(total, 3);
    let mut streams: Vec<_> = rows.iter().map(|r| r.stream.as_str()).collect();
    streams.sort();
    assert_eq!(streams, ["case-000", "case-004", "case-008"]);
    // Summaries for dashboards, and one case's.
    assert_eq!(
        store
            .case_summaries(&CaseFilter::default())
            .expect("all")
            .len(),
        12
    );
    let one = store
        .case_summary("case-003")
        .expect("read")
        .expect("there");
    assert_eq!(one.steps, 2);
    assert!(store.case_summary("case-999").expect("read").is_none());
}

#[test]
fn complaints_are_kept_with_the_case_they_are_about() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir, "r.sqlite");
    store.apply(&log.events, &mut source(&log)).expect("apply");
    let about = ComplaintFilter {
        case: Some("case-000".to_owned()),
        ..ComplaintFilter::default()
    };
    let found = store.complaints(&about).expect("complaints");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].stream, "complaint-001");
    let none = ComplaintFilter {
        case: Some("case-001".to_owned()),
        ..ComplaintFilter::default()
    };
    assert!(store.complaints(&none).expect("complaints").is_empty());
    let later = ComplaintFilter {
        filed_from: Some(day("2026-03-06")),
        ..ComplaintFilter::default()
    };
    assert!(store.complaints(&later).expect("complaints").is_empty());
}

#[test]
fn another_calendar_means_a_rebuild() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.sqlite");
    {
        let store = open(&dir, "r.sqlite");
        store.apply(&log.events, &mut source(&log)).expect("apply");
        assert!(store.next_index() > 0);
    }
    let mut config = ReadStoreConfig::official();
    config.rules.stall_working_days += 1;
    let store = ReadStore::open(&path, config).expect("open");
    assert_eq!(
        store.next_index(),
        0,
        "derived with other thresholds: emptied"
    );
}

#[test]
fn an_unfinished_rebuild_is_not_taken_for_a_position() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.sqlite");
    {
        let store =
            ReadStore::create_for_rebuild(&path, ReadStoreConfig::official()).expect("create");
        store.apply(&log.events, &mut source(&log)).expect("apply");
        // Cut short: never finished.
    }
    let store = ReadStore::open(&path, ReadStoreConfig::official()).expect("open");
    assert_eq!(
        store.next_index(),
        0,
        "an unfinished rebuild says nothing was folded"
    );
    assert_eq!(
        index_names(&path).len(),
        4,
        "opened for following, it has its indexes"
    );
    assert!(
        ReadStore::create_for_rebuild(&path, ReadStoreConfig::official()).is_err(),
        "a rebuild never writes over an existing file"
    );

    // Finished, it equals following.
    let done = dir.path().join("done.sqlite");
    let rebuilt =
        ReadStore::create_for_rebuild(&done, ReadStoreConfig::official()).expect("create");
    rebuilt
        .apply(&log.events, &mut source(&log))
        .expect("apply");
    rebuilt.finish_rebuild().expect("finish");
    drop(rebuilt);
    let rebuilt = ReadStore::open(&done, ReadStoreConfig::official()).expect("open");
    assert_eq!(rebuilt.next_index(), log.events.len() as u64);
    let live = open(&dir, "live.sqlite");
    live.apply(&log.events, &mut source(&log)).expect("apply");
    assert_eq!(rebuilt.dump().expect("dump"), live.dump().expect("dump"));
}

/// The secondary indexes of a read-store file.
fn index_names(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).expect("open file");
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index'
               AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
        )
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names")
}

#[test]
fn a_rebuild_from_raw_entries_equals_following_and_ends_with_its_indexes() {
    let log = sample_log();
    let dir = tempfile::tempdir().expect("dir");
    let live = open(&dir, "live.sqlite");
    live.apply(&log.events, &mut source(&log)).expect("apply");

    let path = dir.path().join("rebuilt.sqlite");
    let rebuilt =
        ReadStore::create_for_rebuild(&path, ReadStoreConfig::official()).expect("create");
    let mut prepared = log
        .events
        .iter()
        .map(|s| {
            LogEvent::from_own_entry(RawEntry {
                index: s.index,
                entry: s.entry.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .expect("entries parse");
    assert!(
        index_names(&path).is_empty(),
        "a rebuild inserts before it indexes"
    );
    rebuilt
        .apply_prepared(&mut prepared, &mut source(&log))
        .expect("apply");
    rebuilt.finish_rebuild().expect("finish");
    assert_eq!(live.dump().expect("dump"), rebuilt.dump().expect("dump"));
    assert_eq!(live.position(), rebuilt.position());
    assert_eq!(
        index_names(&path),
        [
            "cases_by_accepted",
            "cases_by_department",
            "complaints_by_case",
            "worklog_by_day"
        ]
    );
}
