//! Tamper and damage tests: every change to a store's bytes is found by
//! `verify_store`, named by kind and position; damaged files give clear
//! errors, never a panic.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ledger::audit::verify_store;
use ledger::datadir::DataDir;
use ledger::note::NoteVerifier;
use ledger::store::sqlite::{SqliteConfig, SqliteStore};
use ledger::verify::{Problem, ProblemKind};
use ledger::{Error, Store};
use proptest::prelude::*;
use rusqlite::{Connection, params};
use tests::fixtures::{DepartmentKey, append_one, event, register, signed};

/// Entries in the pristine store.
const ENTRIES: u64 = 120;

struct Pristine {
    _dir: tempfile::TempDir,
    db: PathBuf,
    key: NoteVerifier,
}

/// One pristine store, built once: two keys, signed and unsigned events in
/// several streams, checkpoints along the way and at the end.
fn pristine() -> &'static Pristine {
    static P: OnceLock<Pristine> = OnceLock::new();
    P.get_or_init(|| {
        build(|store| async move {
            let k1 = DepartmentKey::generate("dept-a");
            let k2 = DepartmentKey::generate("dept-b");
            register(&store, &k1, None).await;
            register(&store, &k2, None).await;
            for i in 2..ENTRIES {
                let stream = format!("case-{}", i % 9);
                let ev = match i % 3 {
                    0 => event(&stream, "case.note", "dept-a"),
                    1 => signed(&stream, "case.note", &k1),
                    _ => signed(&stream, "case.note", &k2),
                };
                append_one(&store, ev).await;
                if i % 25 == 0 {
                    store.checkpoint_now().await.unwrap();
                }
            }
        })
    })
}

/// A store filled by `fill`, then checkpointed and closed.
fn build<F, Fut>(fill: F) -> Pristine
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open_or_init(dir.path(), Some("tamper.example/log")).unwrap();
        let sqlite = data.open_store(SqliteConfig::default()).unwrap();
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        fill(Arc::clone(&store)).await;
        store.checkpoint_now().await.unwrap();
        drop(store);
        sqlite.close();
        Pristine {
            key: data.signer().verifier(),
            db: data.store_path(),
            _dir: dir,
        }
    })
}

/// A copy of the pristine store to damage.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let p = pristine();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.sqlite");
    std::fs::copy(&p.db, &db).unwrap();
    (dir, db)
}

fn audit(db: &Path) -> Result<Result<ledger::audit::AuditSummary, Problem>, Error> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open_for_audit(db)?;
        verify_store(&store, &pristine().key, |_| {}).await
    })
}

fn problem(db: &Path) -> Problem {
    match audit(db).expect("the store is readable") {
        Ok(summary) => panic!("tampering went unnoticed: {summary:?}"),
        Err(p) => p,
    }
}

fn entry(c: &Connection, idx: u64) -> Vec<u8> {
    c.query_row(
        "SELECT entry FROM events WHERE idx = ?1",
        params![idx as i64],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn the_pristine_store_is_clean() {
    let (_d, db) = copy();
    let summary = audit(&db).unwrap().unwrap();
    assert_eq!(summary.entries, ENTRIES);
    assert_eq!(summary.keys, 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Any single byte changed in any entry: altered entry, at that index.
    #[test]
    fn a_changed_byte_is_an_altered_entry(idx in 0..ENTRIES, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (_d, db) = copy();
        let c = Connection::open(&db).unwrap();
        let mut e = entry(&c, idx);
        let k = at.index(e.len());
        e[k] ^= 1 << bit;
        c.execute("UPDATE events SET entry = ?1 WHERE idx = ?2", params![e, idx as i64]).unwrap();
        drop(c);
        let p = problem(&db);
        prop_assert_eq!((p.kind, p.index.0), (ProblemKind::AlteredEntry, idx), "{}", p);
    }

    /// An entry removed: a missing event there (or, for the last one, a
    /// truncated log under the final checkpoint).
    #[test]
    fn a_removed_entry_is_missing(idx in 0..ENTRIES) {
        let (_d, db) = copy();
        let c = Connection::open(&db).unwrap();
        c.execute("DELETE FROM events WHERE idx = ?1", params![idx as i64]).unwrap();
        drop(c);
        let p = problem(&db);
        let want = if idx == ENTRIES - 1 { ProblemKind::TruncatedLog } else { ProblemKind::MissingEvent };
        prop_assert_eq!((p.kind, p.index.0), (want, idx), "{}", p);
    }

    /// Two entries' bytes swapped: a reordered event at the first of them.
    #[test]
    fn swapped_entries_are_reordered(i in 0..ENTRIES, j in 0..ENTRIES) {
        prop_assume!(i != j);
        let (lo, hi) = (i.min(j), i.max(j));
        let (_d, db) = copy();
        let c = Connection::open(&db).unwrap();
        let (a, b) = (entry(&c, lo), entry(&c, hi));
        // Move ids out of the way of the unique index, then swap the rows' contents.
        let swap = "UPDATE events SET entry = ?1, id = ?2, stream = ?3, version = ?4 WHERE idx = ?5";
        let cols = |idx: u64| -> (Vec<u8>, String, i64) {
            c.query_row("SELECT id, stream, version FROM events WHERE idx = ?1", params![idx as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap()
        };
        let (ida, sa, va) = cols(lo);
        let (idb, sb, vb) = cols(hi);
        c.execute(swap, params![a.clone(), vec![0u8], "tmp", -1, hi as i64]).unwrap();
        c.execute(swap, params![b, idb, sb, vb, lo as i64]).unwrap();
        c.execute(swap, params![a, ida, sa, va, hi as i64]).unwrap();
        drop(c);
        let p = problem(&db);
        prop_assert_eq!((p.kind, p.index.0), (ProblemKind::ReorderedEvent, lo), "{}", p);
    }
}

/// An attacker who rewrites an entry and its leaf hash still breaks the
/// stream's next link or the tree above it.
#[test]
fn rewriting_an_entry_with_its_leaf_breaks_link_or_tree() {
    let (_d, db) = copy();
    let c = Connection::open(&db).unwrap();
    let idx = 30u64; // unsigned (30 % 3 == 0), stream case-3
    let text = String::from_utf8(entry(&c, idx)).unwrap();
    let forged = text.replace("\"step\":1", "\"step\":2");
    assert_ne!(forged, text);
    let leaf = ledger::merkle::leaf_hash(forged.as_bytes());
    c.execute(
        "UPDATE events SET entry = ?1, leaf = ?2 WHERE idx = ?3",
        params![forged.as_bytes(), &leaf.0[..], idx as i64],
    )
    .unwrap();
    drop(c);
    let p = problem(&db);
    assert!(
        matches!(
            p.kind,
            ProblemKind::BrokenLink | ProblemKind::TreeHashMismatch
        ),
        "{p}"
    );
    assert!(p.index.0 >= idx, "{p}");
}

/// A stored tree hash changed: tree hash mismatch.
#[test]
fn a_changed_tree_node_is_a_tree_hash_mismatch() {
    let (_d, db) = copy();
    let c = Connection::open(&db).unwrap();
    c.execute(
        "UPDATE nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 3",
        [],
    )
    .unwrap();
    drop(c);
    let p = problem(&db);
    assert_eq!(p.kind, ProblemKind::TreeHashMismatch, "{p}");
    // Node (2, 3) covers leaves 12..16; it is complete once leaf 15 is in.
    assert_eq!(p.index.0, 15, "{p}");
}

/// A checkpoint signed by another key: bad checkpoint.
#[test]
fn a_checkpoint_by_another_key_is_refused() {
    let (_d, db) = copy();
    let c = Connection::open(&db).unwrap();
    let (size, root): (i64, Vec<u8>) = c
        .query_row(
            "SELECT size, root FROM checkpoints ORDER BY size LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let other = ledger::note::NoteSigner::generate("tamper.example/log").unwrap();
    let cp = ledger::checkpoint::Checkpoint {
        origin: "tamper.example/log".into(),
        size: size as u64,
        root: root.try_into().unwrap(),
        extensions: vec![],
    };
    let note = cp.sign(&other).unwrap().to_bytes();
    c.execute(
        "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
        params![note, size],
    )
    .unwrap();
    drop(c);
    let p = problem(&db);
    assert_eq!(
        (p.kind, p.index.0),
        (ProblemKind::BadCheckpoint, size as u64 - 1),
        "{p}"
    );
}

/// The last entries cut off (with their tree nodes): truncated log.
#[test]
fn a_truncated_log_is_named() {
    let (_d, db) = copy();
    let c = Connection::open(&db).unwrap();
    c.execute(
        "DELETE FROM events WHERE idx >= ?1",
        params![(ENTRIES - 5) as i64],
    )
    .unwrap();
    drop(c);
    let p = problem(&db);
    assert_eq!(
        (p.kind, p.index.0),
        (ProblemKind::TruncatedLog, ENTRIES - 5),
        "{p}"
    );
}

/// A file cut in half, or overwritten with junk, is a clear error.
#[test]
fn damaged_files_give_clear_errors_not_panics() {
    // Truncated.
    let (_d, db) = copy();
    let len = std::fs::metadata(&db).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    match audit(&db) {
        Err(e @ (Error::Corrupt { .. } | Error::Storage { .. })) => {
            let msg = e.to_string();
            assert!(
                msg.contains("ledger.sqlite")
                    || msg.contains("malformed")
                    || msg.contains("missing"),
                "{msg}"
            );
        }
        Ok(Err(_)) => {} // damage below the tree shows as a named problem
        Ok(Ok(s)) => panic!("half a file audited clean: {s:?}"),
        Err(e) => panic!("unexpected error kind: {e}"),
    }
    // Not a database at all: opening for writing refuses with Corrupt.
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open_or_init(dir.path(), None).unwrap();
    std::fs::write(data.store_path(), vec![0x5au8; 8192]).unwrap();
    match data.open_store(SqliteConfig::default()) {
        Err(Error::Corrupt { path, reason }) => {
            assert!(path.ends_with("ledger.sqlite"), "{path}");
            assert!(reason.contains("not a database"), "{reason}");
        }
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("opened junk as a store"),
    }
    // Truncated, opened for writing: Corrupt or a named inconsistency, no panic.
    let (_d2, db2) = copy();
    let f = std::fs::OpenOptions::new().write(true).open(&db2).unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    let result = SqliteStore::open(
        &db2,
        ledger::note::NoteSigner::generate("tamper.example/log").unwrap(),
        SqliteConfig::default(),
    );
    assert!(result.is_err(), "a truncated store opened for writing");
}

/// A store longer than three of `verify_store`'s chunks (4,096 entries),
/// with a key registered in the second chunk and events it signed in the
/// second and third: the audit's pipeline prepares a chunk with the
/// registry as of two chunks back, so these signatures are checked late.
fn long_store() -> &'static Pristine {
    static P: OnceLock<Pristine> = OnceLock::new();
    P.get_or_init(|| {
        build(|store| async move {
            let key = DepartmentKey::generate("dept-a");
            let mut size = 0u64;
            while size < LONG_ENTRIES {
                if size == 5_000 {
                    register(&store, &key, None).await;
                    size += 1;
                    continue;
                }
                let stream = format!("case-{}", size / 100 % 37);
                let events: Vec<_> = (0..100)
                    .map(|k| {
                        if size >= 5_000 && k % 10 == 0 {
                            signed(&stream, "case.note", &key)
                        } else {
                            event(&stream, "case.note", "dept-b")
                        }
                    })
                    .collect();
                size += events.len() as u64;
                store
                    .append(ledger::AppendRequest {
                        stream: ledger::StreamId::new(&stream).unwrap(),
                        expected: ledger::ExpectedVersion::Any,
                        events,
                    })
                    .await
                    .expect("append");
            }
        })
    })
}

const LONG_ENTRIES: u64 = 12_401;

fn audit_long(db: &Path) -> Result<ledger::audit::AuditSummary, Problem> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open_for_audit(db).expect("readable");
        verify_store(&store, &long_store().key, |_| {})
            .await
            .expect("readable")
    })
}

#[test]
fn problems_in_later_chunks_are_named_at_their_position() {
    let p = long_store();
    let summary = audit_long(&p.db).expect("the long store is clean");
    assert_eq!(summary.entries, LONG_ENTRIES);
    assert_eq!(summary.keys, 1);

    let copy = |f: &dyn Fn(&Connection)| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.sqlite");
        std::fs::copy(&p.db, &db).unwrap();
        f(&Connection::open(&db).unwrap());
        (dir, db)
    };

    // A signed event of the third chunk (batches of 100 start at 5,001
    // after the key's registration, their first event signed) altered.
    let (_d, db) = copy(&|c| {
        let mut e = entry(c, 9_001);
        let at = e.len() / 2;
        e[at] ^= 0x01;
        c.execute("UPDATE events SET entry = ?1 WHERE idx = 9001", params![e])
            .unwrap();
    });
    let found = audit_long(&db).unwrap_err();
    assert_eq!(found.kind, ProblemKind::AlteredEntry, "{found}");
    assert_eq!(found.index.0, 9_001, "{found}");

    // An event of the third chunk removed: the gap is named where it opens.
    let (_d, db) = copy(&|c| {
        c.execute("DELETE FROM events WHERE idx = 10000", [])
            .unwrap();
    });
    let found = audit_long(&db).unwrap_err();
    assert_eq!(found.kind, ProblemKind::MissingEvent, "{found}");
    assert_eq!(found.index.0, 10_000, "{found}");
}
