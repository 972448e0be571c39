//! The backend contract: every `Store` implementation passes these.
//!
//! Each case takes a [`Backend`] — something that can open (and reopen) one
//! store — and asserts behaviour through the `Store` trait only.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ledger::audit::verify_store;
use ledger::merkle;
use ledger::note::NoteVerifier;
use ledger::store::{Direction, follow};
use ledger::tiles::{EntryBundleId, TileId};
use ledger::{AppendRequest, Error, ExpectedVersion, LogIndex, Store, StreamId, StreamVersion};

use crate::fixtures::{DepartmentKey, append_one, event, register, revoke, signed};

/// A backend under test: opens a store on the same underlying storage each
/// time (so reopening tests restart), and names the log's key.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    async fn open(&self) -> Arc<dyn Store>;
    /// Releases a store so it can be reopened (flush, stop writers).
    async fn close(&self, store: Arc<dyn Store>);
    fn log_key(&self) -> NoteVerifier;
}

/// Stamps out one `#[tokio::test]` per contract case for `$backend()`.
#[macro_export]
macro_rules! contract_suite {
    ($backend:expr) => {
        $crate::contract_suite!(@cases $backend;
            appends_assign_versions_and_receipts,
            expected_versions_are_checked_atomically,
            batches_are_all_or_nothing,
            appends_are_idempotent_by_event_id,
            concurrent_appenders_one_winner_per_version,
            reads_page_forwards_and_backwards,
            following_catches_up_then_goes_live,
            proofs_verify_against_checkpoints,
            checkpoints_are_signed_at_least_every_second,
            keys_are_checked_at_sequencing_time,
            tiles_and_bundles_match_the_tree,
            oversize_events_are_refused,
            state_survives_reopening,
            proofs_in_a_deeper_tree_survive_reopening,
            verify_store_is_clean_after_a_mixed_workload,
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = $backend;
                $crate::contract::$case(&backend).await;
            }
        )*
    };
}

fn req(
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<ledger::ProposedEvent>,
) -> AppendRequest {
    AppendRequest {
        stream: StreamId::new(stream).expect("valid stream"),
        expected,
        events,
    }
}

pub async fn appends_assign_versions_and_receipts(b: &dyn Backend) {
    let store = b.open().await;
    let r0 = append_one(&store, event("case-a", "case.accepted", "dept-a")).await;
    let r1 = append_one(&store, event("case-b", "case.accepted", "dept-a")).await;
    let r2 = append_one(&store, event("case-a", "case.reviewed", "dept-a")).await;
    assert_eq!((r0.version, r0.log_index), (StreamVersion(0), LogIndex(0)));
    assert_eq!((r1.version, r1.log_index), (StreamVersion(0), LogIndex(1)));
    assert_eq!((r2.version, r2.log_index), (StreamVersion(1), LogIndex(2)));
    assert_eq!(store.size().await.unwrap(), 3);
    let got = store
        .event_by_id(r2.event_id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got.receipt(), r2);
    // The link: version 1's prev is version 0's leaf hash.
    assert_eq!(got.event.prev, r0.leaf_hash);
    assert_eq!(got.leaf_hash, ledger::LeafHash::of_entry(&got.entry));
    b.close(store).await;
}

pub async fn expected_versions_are_checked_atomically(b: &dyn Backend) {
    let store = b.open().await;
    let s = "case-exp";
    let ev = || event(s, "case.note", "dept-a");
    // StreamExists on a missing stream.
    match store
        .append(req(s, ExpectedVersion::StreamExists, vec![ev()]))
        .await
    {
        Err(Error::WrongExpectedVersion { current: None, .. }) => {}
        other => panic!("expected conflict, got {other:?}"),
    }
    store
        .append(req(s, ExpectedVersion::NoStream, vec![ev()]))
        .await
        .unwrap();
    match store
        .append(req(s, ExpectedVersion::NoStream, vec![ev()]))
        .await
    {
        Err(Error::WrongExpectedVersion { current, .. }) => {
            assert_eq!(current, Some(StreamVersion(0)))
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    store
        .append(req(s, ExpectedVersion::Exact(StreamVersion(0)), vec![ev()]))
        .await
        .unwrap();
    match store
        .append(req(s, ExpectedVersion::Exact(StreamVersion(0)), vec![ev()]))
        .await
    {
        Err(e @ Error::WrongExpectedVersion { .. }) => {
            assert!(e.to_string().contains("is at version 1"), "{e}");
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    store
        .append(req(s, ExpectedVersion::StreamExists, vec![ev()]))
        .await
        .unwrap();
    store
        .append(req(s, ExpectedVersion::Any, vec![ev()]))
        .await
        .unwrap();
    assert_eq!(
        store
            .stream_version(&StreamId::new(s).unwrap())
            .await
            .unwrap(),
        Some(StreamVersion(3))
    );
    assert_eq!(
        store.size().await.unwrap(),
        4,
        "refused appends wrote nothing"
    );
    b.close(store).await;
}

pub async fn batches_are_all_or_nothing(b: &dyn Backend) {
    let store = b.open().await;
    let key = DepartmentKey::generate("dept-a");
    register(&store, &key, None).await;
    let size = store.size().await.unwrap();
    // A batch whose third event carries a forged signature.
    let mut forged = signed("case-batch", "case.note", &key);
    forged
        .payload
        .insert("tampered".into(), serde_json::Value::Bool(true));
    let batch = vec![
        signed("case-batch", "case.accepted", &key),
        signed("case-batch", "case.note", &key),
        forged,
    ];
    assert!(matches!(
        store
            .append(req("case-batch", ExpectedVersion::Any, batch))
            .await,
        Err(Error::BadSignature { .. })
    ));
    // A batch with an event for another stream.
    let batch = vec![
        event("case-batch", "case.note", "dept-a"),
        event("case-other", "case.note", "dept-a"),
    ];
    assert!(matches!(
        store
            .append(req("case-batch", ExpectedVersion::Any, batch))
            .await,
        Err(Error::StreamMismatch { .. })
    ));
    assert!(matches!(
        store
            .append(req("case-batch", ExpectedVersion::Any, vec![]))
            .await,
        Err(Error::EmptyBatch)
    ));
    let dup = event("case-batch", "case.note", "dept-a");
    assert!(matches!(
        store
            .append(req(
                "case-batch",
                ExpectedVersion::Any,
                vec![dup.clone(), dup]
            ))
            .await,
        Err(Error::DuplicateIdInBatch { .. })
    ));
    assert_eq!(store.size().await.unwrap(), size, "nothing written");
    assert_eq!(
        store
            .stream_version(&StreamId::new("case-batch").unwrap())
            .await
            .unwrap(),
        None
    );
    // A good batch lands contiguously.
    let batch: Vec<_> = (0..5)
        .map(|_| signed("case-batch", "case.note", &key))
        .collect();
    let receipts = store
        .append(req("case-batch", ExpectedVersion::NoStream, batch))
        .await
        .unwrap();
    let versions: Vec<u64> = receipts.iter().map(|r| r.version.0).collect();
    assert_eq!(versions, vec![0, 1, 2, 3, 4]);
    let indexes: Vec<u64> = receipts.iter().map(|r| r.log_index.0).collect();
    assert_eq!(indexes, (size..size + 5).collect::<Vec<_>>());
    b.close(store).await;
}

pub async fn appends_are_idempotent_by_event_id(b: &dyn Backend) {
    let store = b.open().await;
    let ev = event("case-idem", "case.accepted", "dept-a");
    let first = store
        .append(req(
            "case-idem",
            ExpectedVersion::NoStream,
            vec![ev.clone()],
        ))
        .await
        .unwrap();
    append_one(&store, event("case-idem", "case.note", "dept-a")).await;
    // The retry carries a now-stale expectation and still gets its receipt.
    let again = store
        .append(req(
            "case-idem",
            ExpectedVersion::NoStream,
            vec![ev.clone()],
        ))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(store.size().await.unwrap(), 2);
    // Same id, different content.
    let mut changed = ev.clone();
    changed.payload.insert("step".into(), serde_json::json!(2));
    match store
        .append(req("case-idem", ExpectedVersion::Any, vec![changed]))
        .await
    {
        Err(Error::IdempotencyConflict { id }) => assert_eq!(id, ev.id),
        other => panic!("expected idempotency conflict, got {other:?}"),
    }
    // Half a retry.
    let fresh = event("case-idem", "case.note", "dept-a");
    assert!(matches!(
        store
            .append(req("case-idem", ExpectedVersion::Any, vec![ev, fresh]))
            .await,
        Err(Error::PartialRetry {
            existing: 1,
            new: 1
        })
    ));
    assert_eq!(store.size().await.unwrap(), 2, "nothing written");
    b.close(store).await;
}

pub async fn concurrent_appenders_one_winner_per_version(b: &dyn Backend) {
    let store = b.open().await;
    const TASKS: usize = 24;
    const VERSIONS: u64 = 40;
    let stream = "case-race";
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            loop {
                let current = store
                    .stream_version(&StreamId::new(stream).unwrap())
                    .await
                    .unwrap();
                let next = current.map_or(0, |v| v.0 + 1);
                if next >= VERSIONS {
                    return wins;
                }
                let expected = match current {
                    None => ExpectedVersion::NoStream,
                    Some(v) => ExpectedVersion::Exact(v),
                };
                let ev = event(stream, "case.note", &format!("dept-{t}"));
                match store.append(req(stream, expected, vec![ev])).await {
                    Ok(r) => wins.push(r[0].version.0),
                    Err(Error::WrongExpectedVersion { .. }) => {}
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort_unstable();
    let mut want: Vec<u64> = (0..VERSIONS).collect();
    want.sort_unstable();
    // Each version won exactly once; some racers may overshoot by one round.
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "a version was won twice: {all:?}"
    );
    assert!(all.len() as u64 >= VERSIONS, "gaps: {all:?}");
    assert_eq!(&all[..VERSIONS as usize], &want[..]);
    let events = store
        .read_stream(
            &StreamId::new(stream).unwrap(),
            StreamVersion(0),
            Direction::Forwards,
            1000,
        )
        .await
        .unwrap();
    let versions: Vec<u64> = events.iter().map(|e| e.event.version.0).collect();
    assert_eq!(versions, (0..all.len() as u64).collect::<Vec<_>>());
    b.close(store).await;
}

pub async fn reads_page_forwards_and_backwards(b: &dyn Backend) {
    let store = b.open().await;
    for _ in 0..10 {
        append_one(&store, event("case-read", "case.note", "dept-a")).await;
        append_one(&store, event("case-noise", "case.note", "dept-a")).await;
    }
    let s = StreamId::new("case-read").unwrap();
    let fwd = store
        .read_stream(&s, StreamVersion(3), Direction::Forwards, 4)
        .await
        .unwrap();
    assert_eq!(
        fwd.iter().map(|e| e.event.version.0).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    let back = store
        .read_stream(&s, StreamVersion(9), Direction::Backwards, 3)
        .await
        .unwrap();
    assert_eq!(
        back.iter().map(|e| e.event.version.0).collect::<Vec<_>>(),
        vec![9, 8, 7]
    );
    let log = store.read_log(LogIndex(5), 4).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.index.0).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );
    assert!(store.read_log(LogIndex(20), 10).await.unwrap().is_empty());
    let none = StreamId::new("case-none").unwrap();
    assert!(
        store
            .read_stream(&none, StreamVersion(0), Direction::Forwards, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.stream_version(&none).await.unwrap(), None);
    assert!(
        store
            .event_by_id(ledger::EventId::generate())
            .await
            .unwrap()
            .is_none()
    );
    b.close(store).await;
}

pub async fn following_catches_up_then_goes_live(b: &dyn Backend) {
    let store = b.open().await;
    for _ in 0..5 {
        append_one(&store, event("case-follow", "case.note", "dept-a")).await;
    }
    let mut sub = Box::pin(follow(store.clone(), LogIndex(2)));
    for want in 2..5 {
        let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got.index.0, want);
    }
    let writer = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        append_one(&writer, event("case-follow", "case.note", "dept-a")).await;
    });
    let live = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(live.index.0, 5);
    assert_eq!(live.event.version.0, 5);
    b.close(store).await;
}

pub async fn proofs_verify_against_checkpoints(b: &dyn Backend) {
    let store = b.open().await;
    let mut receipts = Vec::new();
    for i in 0..37 {
        receipts.push(
            append_one(
                &store,
                event(&format!("case-p{}", i % 5), "case.note", "dept-a"),
            )
            .await,
        );
        if i == 12 {
            store.checkpoint_now().await.unwrap();
        }
    }
    let cp = store.checkpoint_now().await.unwrap().expect("checkpoint");
    assert_eq!(cp.size, 37);
    let parsed =
        ledger::verify::verify_checkpoint(&cp.note, &b.log_key()).expect("signed by the log key");
    assert_eq!(parsed.root, cp.root.0);
    assert_eq!(store.tree_root(37).await.unwrap(), cp.root);
    for r in &receipts {
        let proof = store.inclusion_proof(r.log_index, cp.size).await.unwrap();
        merkle::verify_inclusion(
            &r.leaf_hash.0,
            r.log_index.0,
            cp.size,
            &proof.hashes,
            &cp.root,
        )
        .unwrap();
        // The same proof does not prove another leaf.
        let other = receipts[(r.log_index.0 as usize + 1) % receipts.len()]
            .leaf_hash
            .0;
        assert!(
            merkle::verify_inclusion(&other, r.log_index.0, cp.size, &proof.hashes, &cp.root)
                .is_err()
        );
    }
    // The explicit checkpoint at 13 is kept beside later ones.
    let old = store.checkpoints(13, 1).await.unwrap();
    assert_eq!(old.first().map(|c| c.size), Some(13));
    let proof = store.consistency_proof(13, 37).await.unwrap();
    merkle::verify_consistency(13, 37, &old[0].root, &cp.root, &proof.hashes).unwrap();
    assert!(merkle::verify_consistency(13, 37, &cp.root, &cp.root, &proof.hashes).is_err());
    assert!(matches!(
        store.inclusion_proof(LogIndex(37), 37).await,
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        store.consistency_proof(10, 38).await,
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        store.consistency_proof(20, 10).await,
        Err(Error::OutOfRange { .. })
    ));
    b.close(store).await;
}

pub async fn checkpoints_are_signed_at_least_every_second(b: &dyn Backend) {
    let store = b.open().await;
    let start = store
        .latest_checkpoint()
        .await
        .unwrap()
        .map_or(0, |c| c.size);
    append_one(&store, event("case-cp", "case.note", "dept-a")).await;
    let size = store.size().await.unwrap();
    assert!(size > start);
    // No explicit request: the backend signs by itself within ~1 s.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2_500);
    loop {
        if let Some(cp) = store.latest_checkpoint().await.unwrap()
            && cp.size == size
        {
            ledger::verify::verify_checkpoint(&cp.note, &b.log_key()).unwrap();
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint within 2.5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.close(store).await;
}

pub async fn keys_are_checked_at_sequencing_time(b: &dyn Backend) {
    let store = b.open().await;
    let key = DepartmentKey::generate("dept-tax");
    // Unknown key.
    assert!(matches!(
        store
            .append(req(
                "case-k",
                ExpectedVersion::Any,
                vec![signed("case-k", "case.note", &key)]
            ))
            .await,
        Err(Error::UnknownKey { .. })
    ));
    register(&store, &key, None).await;
    append_one(&store, signed("case-k", "case.note", &key)).await;
    // Another department's event signed with this key.
    let wrong = event("case-k", "case.note", "dept-market")
        .sign_ed25519(key.id.clone(), &key.signing)
        .unwrap();
    assert!(matches!(
        store
            .append(req("case-k", ExpectedVersion::Any, vec![wrong]))
            .await,
        Err(Error::KeyDepartmentMismatch { .. })
    ));
    // A key valid only from tomorrow.
    let later = DepartmentKey::generate("dept-tax");
    let tomorrow = ledger::Timestamp::from_datetime(chrono_now_plus_days(1));
    register(&store, &later, Some(tomorrow)).await;
    assert!(matches!(
        store
            .append(req(
                "case-k",
                ExpectedVersion::Any,
                vec![signed("case-k", "case.note", &later)]
            ))
            .await,
        Err(Error::KeyNotYetValid { .. })
    ));
    // Revoked.
    revoke(&store, &key).await;
    assert!(matches!(
        store
            .append(req(
                "case-k",
                ExpectedVersion::Any,
                vec![signed("case-k", "case.note", &key)]
            ))
            .await,
        Err(Error::KeyRevoked { .. })
    ));
    let registry = store.key_registry().await.unwrap();
    assert!(registry.get(&key.id).unwrap().revoked_at.is_some());
    assert_eq!(
        store
            .stream_version(&StreamId::new("case-k").unwrap())
            .await
            .unwrap(),
        Some(StreamVersion(0))
    );
    b.close(store).await;
}

fn chrono_now_plus_days(days: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::days(days)
}

pub async fn tiles_and_bundles_match_the_tree(b: &dyn Backend) {
    let store = b.open().await;
    let mut leaves = Vec::new();
    for i in 0..300 {
        leaves.push(
            append_one(
                &store,
                event(&format!("case-t{}", i % 7), "case.note", "dept-a"),
            )
            .await
            .leaf_hash
            .0,
        );
    }
    // Full level-0 tile 0 and the partial tile 1 (44 hashes).
    let tile = store
        .hash_tile(TileId {
            level: 0,
            index: 0,
            width: 256,
        })
        .await
        .unwrap();
    assert_eq!(tile.len(), 256 * 32);
    assert_eq!(&tile[..32], &leaves[0].0);
    let partial = store
        .hash_tile(TileId {
            level: 0,
            index: 1,
            width: 44,
        })
        .await
        .unwrap();
    assert_eq!(&partial[32 * 43..], &leaves[299].0);
    // The level-1 tile's first hash is the root of the first 256 leaves.
    let upper = store
        .hash_tile(TileId {
            level: 1,
            index: 0,
            width: 1,
        })
        .await
        .unwrap();
    assert_eq!(&upper[..], &store.tree_root(256).await.unwrap().0);
    assert!(matches!(
        store
            .hash_tile(TileId {
                level: 0,
                index: 1,
                width: 45
            })
            .await,
        Err(Error::OutOfRange { .. })
    ));
    // A tile far above the tree (its leaf range overflows u64) is refused too.
    assert!(matches!(
        store
            .hash_tile(TileId {
                level: 7,
                index: 1,
                width: 256
            })
            .await,
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        store
            .entry_bundle(EntryBundleId {
                index: 1,
                width: 45
            })
            .await,
        Err(Error::OutOfRange { .. })
    ));
    let bundle = store
        .entry_bundle(EntryBundleId {
            index: 1,
            width: 44,
        })
        .await
        .unwrap();
    let entries = ledger::tiles::decode_entry_bundle(&bundle).unwrap();
    assert_eq!(entries.len(), 44);
    for (k, e) in entries.iter().enumerate() {
        assert_eq!(merkle::leaf_hash(e), leaves[256 + k]);
    }
    b.close(store).await;
}

pub async fn oversize_events_are_refused(b: &dyn Backend) {
    let store = b.open().await;
    let mut ev = event("case-big", "case.note", "dept-a");
    ev.payload
        .insert("blob".into(), serde_json::Value::String("x".repeat(70_000)));
    match store
        .append(req("case-big", ExpectedVersion::Any, vec![ev]))
        .await
    {
        Err(e @ Error::EntryTooLarge { .. }) => assert!(e.to_string().contains("65535"), "{e}"),
        other => panic!("expected EntryTooLarge, got {other:?}"),
    }
    assert_eq!(store.size().await.unwrap(), 0);
    b.close(store).await;
}

pub async fn state_survives_reopening(b: &dyn Backend) {
    let store = b.open().await;
    let key = DepartmentKey::generate("dept-a");
    register(&store, &key, None).await;
    let r = append_one(&store, signed("case-re", "case.accepted", &key)).await;
    let cp = store.checkpoint_now().await.unwrap().unwrap();
    b.close(store).await;

    let store = b.open().await;
    assert_eq!(store.size().await.unwrap(), 2);
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(cp.clone()));
    // The registry and stream heads came back: a signed append continues the chain.
    let r2 = store
        .append(req(
            "case-re",
            ExpectedVersion::Exact(StreamVersion(0)),
            vec![signed("case-re", "case.note", &key)],
        ))
        .await
        .unwrap();
    let got = store.event_by_id(r2[0].event_id).await.unwrap().unwrap();
    assert_eq!(got.event.prev, r.leaf_hash);
    let cp2 = store.checkpoint_now().await.unwrap().unwrap();
    let proof = store.consistency_proof(cp.size, cp2.size).await.unwrap();
    merkle::verify_consistency(cp.size, cp2.size, &cp.root, &cp2.root, &proof.hashes).unwrap();
    b.close(store).await;
}

/// Appends `n` events in batches of up to 100 to streams `case-d0..d9`.
async fn append_bulk(store: &Arc<dyn Store>, n: usize) -> Vec<ledger::Receipt> {
    let mut receipts = Vec::with_capacity(n);
    let mut left = n;
    let mut k = 0;
    while left > 0 {
        let take = left.min(100);
        let stream = format!("case-d{}", k % 10);
        let events = (0..take)
            .map(|_| event(&stream, "case.note", "dept-a"))
            .collect();
        receipts.extend(
            store
                .append(req(&stream, ExpectedVersion::Any, events))
                .await
                .expect("bulk append"),
        );
        left -= take;
        k += 1;
    }
    receipts
}

/// Checks inclusion proofs of every `step`-th receipt and consistency
/// proofs from each earlier checkpoint, against checkpoint `cp`.
async fn check_proofs(
    store: &Arc<dyn Store>,
    receipts: &[ledger::Receipt],
    earlier: &[ledger::store::StoredCheckpoint],
    cp: &ledger::store::StoredCheckpoint,
    step: usize,
) {
    for r in receipts.iter().step_by(step) {
        let proof = store.inclusion_proof(r.log_index, cp.size).await.unwrap();
        merkle::verify_inclusion(
            &r.leaf_hash.0,
            r.log_index.0,
            cp.size,
            &proof.hashes,
            &cp.root,
        )
        .unwrap_or_else(|e| panic!("inclusion of {} in {}: {e:?}", r.log_index, cp.size));
    }
    for old in earlier {
        let proof = store.consistency_proof(old.size, cp.size).await.unwrap();
        merkle::verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof.hashes)
            .unwrap_or_else(|e| panic!("consistency {} -> {}: {e:?}", old.size, cp.size));
    }
    assert_eq!(store.tree_root(cp.size).await.unwrap(), cp.root);
}

/// Proofs in a tree deep enough for every kind of stored node (upper
/// levels included), before and after a restart, and as the tree grows past
/// the sizes it had.
pub async fn proofs_in_a_deeper_tree_survive_reopening(b: &dyn Backend) {
    let store = b.open().await;
    let mut receipts = append_bulk(&store, 1_000).await;
    let first = store.checkpoint_now().await.unwrap().expect("checkpoint");
    receipts.extend(append_bulk(&store, 1_337).await);
    let second = store.checkpoint_now().await.unwrap().expect("checkpoint");
    assert_eq!(second.size, 2_337);
    check_proofs(&store, &receipts, std::slice::from_ref(&first), &second, 7).await;
    let before: Vec<_> = {
        let mut v = Vec::new();
        for r in receipts.iter().step_by(97) {
            v.push(
                store
                    .inclusion_proof(r.log_index, second.size)
                    .await
                    .unwrap(),
            );
        }
        v
    };
    b.close(store).await;

    let store = b.open().await;
    let mut after = Vec::new();
    for r in receipts.iter().step_by(97) {
        after.push(
            store
                .inclusion_proof(r.log_index, second.size)
                .await
                .unwrap(),
        );
    }
    assert_eq!(before, after, "the same proofs after reopening");
    receipts.extend(append_bulk(&store, 2_100).await);
    let third = store.checkpoint_now().await.unwrap().expect("checkpoint");
    check_proofs(&store, &receipts, &[first, second], &third, 5).await;
    b.close(store).await;
}

pub async fn verify_store_is_clean_after_a_mixed_workload(b: &dyn Backend) {
    let store = b.open().await;
    let k1 = DepartmentKey::generate("dept-a");
    let k2 = DepartmentKey::generate("dept-b");
    register(&store, &k1, None).await;
    register(&store, &k2, None).await;
    for i in 0..200 {
        let key = if i % 2 == 0 { &k1 } else { &k2 };
        let ev = if i % 3 == 0 {
            event(
                &format!("case-m{}", i % 11),
                "case.note",
                key.department.as_str(),
            )
        } else {
            signed(&format!("case-m{}", i % 11), "case.note", key)
        };
        append_one(&store, ev).await;
        if i % 50 == 0 {
            store.checkpoint_now().await.unwrap();
        }
    }
    revoke(&store, &k2).await;
    append_one(&store, signed("case-m0", "case.note", &k1)).await;
    store.checkpoint_now().await.unwrap();
    let mut seen = 0;
    let verdict = verify_store(store.as_ref(), &b.log_key(), |n| seen = n)
        .await
        .unwrap();
    let summary = verdict.expect("clean store");
    assert_eq!(summary.entries, 204);
    assert_eq!(seen, 204);
    assert_eq!(summary.keys, 2);
    assert!(summary.checkpoints >= 5, "{summary:?}");
    b.close(store).await;
}
