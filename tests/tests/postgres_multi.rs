//! Two PostgreSQL stores on one database — two pools, as two `ledger serve`
//! processes would have — appending concurrently to shared and to their own
//! streams, with signed events whose key one store registers and the other
//! uses at once. Afterwards: one log with no gaps, every acknowledged
//! receipt in it where it said, each stream's versions contiguous, both
//! stores agreeing on the tree, and `verify_store` clean from either side.

mod postgres_support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::audit::verify_store;
use ledger::note::NoteSigner;
use ledger::store::Direction;
use ledger::{
    AppendRequest, Error, ExpectedVersion, Receipt, Store, StreamId, StreamVersion, merkle,
};
use ledger_postgres::PostgresConfig;
use postgres_support::TestDatabase;
use tests::fixtures::{DepartmentKey, append_one, event, register, signed};

const TASKS_PER_STORE: usize = 6;
const APPENDS_PER_TASK: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_keep_one_log() {
    let db = TestDatabase::create().await;
    let signer = NoteSigner::generate("multi.example/log").unwrap();
    let a: Arc<dyn Store> = Arc::new(db.open(&signer, PostgresConfig::default()).await);
    let b: Arc<dyn Store> = Arc::new(db.open(&signer, PostgresConfig::default()).await);

    // A key registered through one store is usable through the other at once.
    let key = DepartmentKey::generate("dept-multi");
    let mut receipts = vec![register(&a, &key, None).await];
    receipts.push(append_one(&b, signed("case-first", "case.accepted", &key)).await);

    // Following: b sees a's append through LISTEN/NOTIFY (or the poll).
    let before = b.size().await.unwrap();
    receipts.push(append_one(&a, event("case-first", "case.note", "dept-multi")).await);
    let started = Instant::now();
    let seen = b
        .wait_for_size(before + 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(seen > before, "b never saw a's append");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "b saw a's append late"
    );

    let mut handles = Vec::new();
    for (s, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for t in 0..TASKS_PER_STORE {
            let store = store.clone();
            let key = key.clone();
            handles.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                let mut conflicts = 0;
                for n in 0..APPENDS_PER_TASK {
                    let (stream, expected, events) = match n % 3 {
                        // Contended: every task of both stores, at the
                        // version it just read.
                        0 => {
                            let stream = "case-shared";
                            let current = store
                                .stream_version(&StreamId::new(stream).unwrap())
                                .await
                                .unwrap();
                            let expected =
                                current.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                            (
                                stream.to_owned(),
                                expected,
                                vec![signed(stream, "case.note", &key)],
                            )
                        }
                        // Shared by the same task number in both stores.
                        1 => {
                            let stream = format!("case-pair-{t}");
                            let events = (0..1 + n % 4)
                                .map(|_| event(&stream, "case.note", "dept-multi"))
                                .collect();
                            (stream, ExpectedVersion::Any, events)
                        }
                        // This task's own stream.
                        _ => {
                            let stream = format!("case-own-{s}-{t}");
                            (
                                stream.clone(),
                                ExpectedVersion::Any,
                                vec![signed(&stream, "case.note", &key)],
                            )
                        }
                    };
                    let request = AppendRequest {
                        stream: StreamId::new(&stream).unwrap(),
                        expected,
                        events,
                    };
                    match store.append(request).await {
                        Ok(r) => mine.extend(r),
                        Err(Error::WrongExpectedVersion { .. }) => conflicts += 1,
                        Err(e) => panic!("store {s} task {t}: {e}"),
                    }
                }
                (mine, conflicts)
            }));
        }
    }
    let mut conflicts = 0;
    for h in handles {
        let (mine, c) = h.await.unwrap();
        receipts.extend(mine);
        conflicts += c;
    }

    let size = a.size().await.unwrap();
    assert_eq!(b.size().await.unwrap(), size);
    assert_eq!(
        receipts.len() as u64,
        size,
        "acknowledged receipts and the log size differ"
    );
    let indexes: HashSet<u64> = receipts.iter().map(|r| r.log_index.0).collect();
    assert_eq!(indexes.len(), receipts.len(), "a log index was given twice");
    assert_eq!(indexes, (0..size).collect(), "gaps in the log");
    for r in &receipts {
        let got = b
            .event_by_id(r.event_id)
            .await
            .unwrap()
            .expect("acknowledged event");
        assert_eq!(&got.receipt(), r);
    }
    // Each stream's versions are 0..n, and its chain links leaf to leaf.
    let mut by_stream: HashMap<&str, Vec<&Receipt>> = HashMap::new();
    for r in &receipts {
        by_stream.entry(r.stream.as_str()).or_default().push(r);
    }
    for (stream, mut rs) in by_stream {
        rs.sort_by_key(|r| r.version);
        let versions: Vec<u64> = rs.iter().map(|r| r.version.0).collect();
        assert_eq!(
            versions,
            (0..rs.len() as u64).collect::<Vec<_>>(),
            "{stream}"
        );
        let stored = a
            .read_stream(
                &StreamId::new(stream).unwrap(),
                StreamVersion(0),
                Direction::Forwards,
                10_000,
            )
            .await
            .unwrap();
        for pair in stored.windows(2) {
            assert_eq!(pair[1].event.prev, pair[0].leaf_hash, "{stream} chain");
        }
    }
    eprintln!("{size} entries from two stores, {conflicts} expected-version conflicts");

    // One tree: both stores give the same root, and b's checkpoint is
    // consistent with an earlier one of a's.
    let early = a.checkpoints(0, 1).await.unwrap().remove(0);
    let cp = b.checkpoint_now().await.unwrap().expect("a checkpoint");
    assert_eq!(cp.size, size);
    assert_eq!(a.tree_root(size).await.unwrap(), cp.root);
    let proof = a.consistency_proof(early.size, cp.size).await.unwrap();
    merkle::verify_consistency(early.size, cp.size, &early.root, &cp.root, &proof.hashes).unwrap();
    for store in [&a, &b] {
        let summary = verify_store(store.as_ref(), &signer.verifier(), |_| {})
            .await
            .unwrap()
            .unwrap_or_else(|p| panic!("verify_store: {p}"));
        assert_eq!(summary.entries, size);
        assert_eq!(summary.keys, 1);
    }
    assert_eq!(b.key_registry().await.unwrap().len(), 1);
}

/// Two stores taking turns on one stream, each with its head cached: every
/// group finds the log grown by the other, and learns the moved head (and a
/// key the other just registered) in its first round trip, without a third.
/// A store further behind than `catch_up_rows` reads its heads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_taking_turns_need_no_third_round_trip() {
    let db = TestDatabase::create().await;
    let signer = NoteSigner::generate("turns.example/log").unwrap();
    let a = db.open(&signer, PostgresConfig::default()).await;
    let b = db.open(&signer, PostgresConfig::default()).await;
    let (sa, sb): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(a.clone()), Arc::new(b.clone()));
    let first = DepartmentKey::generate("dept-turns");
    register(&sa, &first, None).await;

    let stream = StreamId::new("case-turns").unwrap();
    let mut version: Option<StreamVersion> = None;
    let mut second = None;
    for turn in 0..20 {
        let (store, other) = if turn % 2 == 0 {
            (&sa, &sb)
        } else {
            (&sb, &sa)
        };
        if turn == 10 {
            // A key the other store registers is usable here at once.
            let key = DepartmentKey::generate("dept-turns");
            register(other, &key, None).await;
            second = Some(key);
        }
        let key = second.as_ref().unwrap_or(&first);
        let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        let receipts = store
            .append(AppendRequest {
                stream: stream.clone(),
                expected,
                events: vec![signed(stream.as_str(), "case.note", key)],
            })
            .await
            .unwrap_or_else(|e| panic!("turn {turn}, expecting {expected}: {e}"));
        version = Some(receipts[0].version);
    }
    assert_eq!(version, Some(StreamVersion(19)));
    for (name, stats) in [("a", a.stats()), ("b", b.stats())] {
        assert!(
            stats.after_others >= 9,
            "{name} should have found the log grown by the other: {stats:?}"
        );
        assert_eq!(stats.third_round_trips, 0, "{name}: {stats:?}");
    }

    // Far behind: a caches the stream's head, then b appends more rows than
    // a's `catch_up_rows` before a appends again.
    let c = db
        .open(
            &signer,
            PostgresConfig {
                catch_up_rows: 3,
                ..PostgresConfig::default()
            },
        )
        .await;
    let sc: Arc<dyn Store> = Arc::new(c.clone());
    let key = second.as_ref().unwrap_or(&first);
    let head = append_one(&sc, signed("case-behind", "case.note", key)).await;
    for n in 0..5 {
        append_one(
            &sb,
            event(&format!("case-elsewhere-{n}"), "case.note", "dept-turns"),
        )
        .await;
    }
    append_one(&sb, signed("case-behind", "case.note", key)).await;
    let receipts = sc
        .append(AppendRequest {
            stream: StreamId::new("case-behind").unwrap(),
            expected: ExpectedVersion::Exact(StreamVersion(head.version.0 + 1)),
            events: vec![signed("case-behind", "case.note", key)],
        })
        .await
        .expect("the moved head is read again");
    assert_eq!(receipts[0].version, StreamVersion(head.version.0 + 2));
    assert_eq!(c.stats().third_round_trips, 1, "{:?}", c.stats());
    for store in [a, b, c] {
        store.close().await;
    }
}
