//! The wrapped page cache (`ledger::store::page_cache`) under a load that
//! splits B-tree pages all the time, with rollbacks that must drop pages
//! past the end of the database: every committed row must read back, no
//! rolled-back row may, SQLite's integrity check must pass, and the
//! wrapper must actually have skipped walks.
//!
//! One test in its own binary: the wrapper has to be installed before the
//! process's first SQLite connection, which only a binary of its own can
//! promise.

use std::collections::BTreeMap;

use ledger::store::page_cache;
use rusqlite::{Connection, params};

/// xorshift64: reproducible keys spread over the whole index.
struct Keys(u64);

impl Keys {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn wrapped_cache_keeps_commits_and_drops_rollbacks() {
    assert!(
        page_cache::install(),
        "the wrapper must be installed before any connection"
    );
    assert!(
        page_cache::install(),
        "a second call is a no-op that still says yes"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite");
    let writer = Connection::open(&path).unwrap();
    writer.pragma_update(None, "journal_mode", "WAL").unwrap();
    writer.pragma_update(None, "synchronous", "NORMAL").unwrap();
    // The store writer's cache size: large enough that nothing is evicted.
    writer.pragma_update(None, "cache_size", -65_536).unwrap();
    writer
        .execute_batch(
            "CREATE TABLE rows(k INTEGER PRIMARY KEY, tag BLOB NOT NULL, body BLOB NOT NULL);
             CREATE UNIQUE INDEX rows_by_tag ON rows(tag);",
        )
        .unwrap();
    let reader = Connection::open(&path).unwrap();

    let mut model: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    let mut keys = Keys(0x9E37_79B9_7F4A_7C15);
    let skipped_before = page_cache::walks_skipped();
    for round in 0..300u32 {
        let tx = writer.unchecked_transaction().unwrap();
        let mut added = Vec::new();
        // Rolled-back rounds insert more, so the file grows inside them.
        let rows = if round % 7 == 3 { 400 } else { 60 };
        for _ in 0..rows {
            let k = (keys.next() >> 1) as i64;
            let tag = keys.next().to_be_bytes().to_vec();
            let body = vec![(k & 0xff) as u8; 100 + (k as usize % 300)];
            tx.execute(
                "INSERT OR IGNORE INTO rows(k, tag, body) VALUES (?1, ?2, ?3)",
                params![k, tag, body],
            )
            .unwrap();
            added.push((k, tag));
        }
        if round % 11 == 5 {
            // A savepoint rolled back inside a transaction that commits.
            tx.execute_batch("SAVEPOINT inner").unwrap();
            for _ in 0..200 {
                let k = (keys.next() >> 1) as i64;
                tx.execute(
                    "INSERT OR IGNORE INTO rows(k, tag, body) VALUES (?1, ?2, zeroblob(500))",
                    params![k, keys.next().to_be_bytes().to_vec()],
                )
                .unwrap();
            }
            tx.execute_batch("ROLLBACK TO inner; RELEASE inner")
                .unwrap();
        }
        if round % 7 == 3 {
            tx.rollback().unwrap();
        } else {
            tx.commit().unwrap();
            for (k, tag) in added {
                model.entry(k).or_insert(tag);
            }
        }
        let count: i64 = reader
            .query_row("SELECT count(*) FROM rows", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count as usize, model.len(), "after round {round}");
    }

    let check: String = writer
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    // Every row, through the writer's own cache and through the reader.
    for conn in [&writer, &reader] {
        let mut stmt = conn.prepare("SELECT k, tag FROM rows ORDER BY k").unwrap();
        let stored: BTreeMap<i64, Vec<u8>> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, model);
    }
    drop(reader);
    drop(writer);
    // And from a fresh connection, after the WAL is folded in.
    let again = Connection::open(&path).unwrap();
    again
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let count: i64 = again
        .query_row("SELECT count(*) FROM rows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count as usize, model.len());
    let skipped = page_cache::walks_skipped() - skipped_before;
    eprintln!("walks skipped: {skipped} of 300 transactions");
    assert!(
        skipped >= 100,
        "commits after page splits should skip the walk; skipped {skipped}"
    );
}
