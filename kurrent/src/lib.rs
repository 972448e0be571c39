//! The ledger's EventStoreDB / KurrentDB backend (`--store esdb://…` or
//! `kurrentdb://…`): [`KurrentStore`] implements [`ledger::Store`] on an
//! event-store server through the official `kurrentdb` client (the
//! maintained successor of the `eventstore` crate).
//!
//! The client is behind the cargo feature **`kurrentdb`** (a ~155 s cold
//! build). Without it this crate is a stub: [`open`] answers that the
//! feature is needed, so the rest of the workspace builds and lints fast.
//!
//! # Design
//!
//! **Cases are event-store streams.** Ledger stream `S` is the stream
//! `<namespace>-S` ([`mapping::Namespace`], default `ledger`); each ledger
//! event is one record whose data is *exactly* its canonical log entry
//! (SPEC.md, including `version`, `prev` and `recorded_at`), whose event
//! type is the ledger event type, and whose event id is the event's ULID
//! as a UUID — the same 128 bits ([`mapping::event_uuid`]).
//!
//! **The appender stamps the entry; the event store guarantees the chain.**
//! An appending process takes the stream's head as its sequencer last saw
//! it (ledger version, leaf hash, event-store revision), checks the
//! caller's expected version against it, seals the events with
//! [`ledger::store::seal_append`] (so `prev` is the head's leaf hash and
//! key status is checked early), and appends with the event store's
//! expected revision set to *exactly that head's revision*
//! ([`mapping::revision_check`]). The event store's own optimistic
//! concurrency check then makes the expectation, the version and the
//! `prev` link hold atomically with the write: a writer that lost a race
//! gets `WrongExpectedVersion { current }`, waits until its sequencer has
//! reached `current`, and re-seals (or, if the caller's expectation now
//! fails, answers the ledger's version conflict with the current version).
//! One append is one event-store write, so it is atomic.
//!
//! **The log follows `$all`.** Every process subscribes to `$all`, filtered
//! server-side to the prefix `<namespace>-`, and runs the same
//! deterministic [`sequence::Sequence`] over it: records are admitted as
//! log entries in `$all` order, one whole append at a time (a
//! [`mapping::BatchMark`] in each record's metadata), each append re-sealed
//! on the stream's head *in the log* and against the key registry *at that
//! place in the log*, and admitted only if that gives exactly the stored
//! bytes. So **key status is judged at sequencing time** (`seal_append`
//! again, not re-implemented): a key revoked by a registry append that
//! lands in `$all` before a concurrently sealed append refuses that append.
//! Because admission is a pure function of `$all`, every process derives
//! the same log indexes, Merkle tree and registry **without a leader or a
//! lock** — the one total order is the event store's.
//!
//! **An append is answered when its own process has sequenced it**: the
//! receipt's log index comes from the local sequencer; a refusal (key
//! revoked meanwhile, say) is returned as the ledger's error.
//!
//! **Tree state.** Interior tree nodes are *not* stored in the event store:
//! they are recomputed from the entries' leaf hashes when a process opens
//! (it reads `$all` from the start) and kept in memory with each entry's
//! `$all` position and id (about 120 bytes per entry). Proofs, tiles and
//! [`ledger::audit::verify_store`] then work as on any backend: entries
//! are read from `$all` at the recorded positions.
//!
//! **Checkpoints** are signed with the log key by whichever process finds
//! one due (at least every [`KurrentConfig::checkpoint_interval`] while the
//! log grows) and stored in the stream `<namespace>.checkpoints` — outside
//! the prefix, so not in the log — as [`mapping::CheckpointRecord`]s
//! (size, root, the `$all` position of the last entry, the signed note),
//! appended with the previous checkpoint's revision as expected revision
//! so two processes never store two for one slot. A process refuses to
//! sign a tree that does not extend the last stored checkpoint, and on
//! open compares the tree it derived with the newest stored checkpoint:
//! a mismatch means the event store's history changed under the log
//! (`Error::Corrupt`). A stream `<namespace>.identity` binds the
//! namespace to one log origin and key.
//!
//! **Idempotency by event id.** A re-sent event whose id the log holds gets
//! its original receipt (or `IdempotencyConflict` / `PartialRetry`, as on
//! every backend), checked against the sequenced log before writing.
//! Because event ids are the ULIDs' bits, the event store's own idempotent
//! write also recognises a re-sent append at the same expected revision.
//!
//! # Where this is weaker than the SQL backends — deliberately stated
//!
//! - **Refused records stay in the stream.** The event store cannot delete
//!   one event, so a record refused at sequencing time (a key revoked in
//!   between, a duplicate id from a concurrent retry, a record not written
//!   by a ledger appender) remains in its stream, outside the log. Ledger
//!   versions then run behind event-store revisions for that stream; the
//!   mapping ([`mapping::StreamHead::revision_of`]) is kept in memory.
//! - **Idempotency is checked, not enforced, across streams.** The event
//!   store has no unique index on event ids across streams: the same id
//!   appended concurrently to two streams lands twice; the sequencer
//!   admits the first and refuses the second.
//! - **`recorded_at` is stamped by the appender's clock**, kept monotonic
//!   per stream and against the log as the appender last saw it, but not
//!   strictly along the whole log when processes' clocks differ.
//! - **Memory and start-up grow with the log**: each process keeps the
//!   tree and per-entry positions and ids in memory and reads `$all` from
//!   the start when it opens. The SQL backends keep them in tables.
//! - **Reads are as of this process's sequencer**, which follows `$all`
//!   within milliseconds; another process's append is visible once this
//!   process has sequenced it (its own appends always are).
//! - **Trust in the event store's operators**: author signatures are
//!   verified by the appender and by auditors, not by every sequencer; a
//!   record with a valid shape written around the ledger would need write
//!   access to the namespace's streams. Give the ledger's user (which needs
//!   read access to `$all`, admins only by default) exclusive write access,
//!   never set `$maxAge`/`$maxCount`/`$tb` on ledger streams and never
//!   delete them: `verify_store` and the checkpoint check on open would
//!   report the damage, not repair it.
//! - **Batch size**: an append of many large events may exceed the
//!   server's maximum append size (1 MiB by default in recent versions);
//!   it is then refused with a storage error naming KurrentDB.
//!
//! # What it deliberately does not do
//!
//! No projections or persistent subscriptions on the server, no home-made
//! consensus (the event store's cluster is the replication), no cache of
//! entries (they are read from `$all`).

pub mod mapping;
pub mod sequence;
#[cfg(feature = "kurrentdb")]
pub mod store;

use std::sync::Arc;

use ledger::note::NoteSigner;
use ledger::{Error, Store};

#[cfg(feature = "kurrentdb")]
pub use store::{KurrentConfig, KurrentStore};

/// Does `url` name an event-store server (`esdb://`, `esdb+discover://`,
/// `kurrentdb://`, `kurrentdb+discover://`, `kurrent://`, `kdb://`)?
pub fn is_store_url(url: &str) -> bool {
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    matches!(
        scheme,
        "esdb"
            | "esdb+discover"
            | "kurrentdb"
            | "kurrentdb+discover"
            | "kurrent"
            | "kurrent+discover"
            | "kdb"
            | "kdb+discover"
    )
}

/// What [`open`] answers in a build without the `kurrentdb` feature.
pub const FEATURE_NEEDED: &str = "this build has no EventStoreDB/KurrentDB backend: rebuild with the cargo feature `kurrentdb` (e.g. `cargo build -p tools --features ledger-kurrent/kurrentdb`)";

/// Opens the ledger in the default namespace of the event-store server at
/// `url`, bound to the log signed by `signer` (the one call `ledger serve
/// --store esdb://…` needs). Without the `kurrentdb` feature it fails with
/// [`FEATURE_NEEDED`].
#[cfg(feature = "kurrentdb")]
pub async fn open(url: &str, signer: NoteSigner) -> Result<Arc<dyn Store>, Error> {
    let store = KurrentStore::open(url, signer, KurrentConfig::default()).await?;
    Ok(Arc::new(store))
}

/// Opens the ledger in the default namespace of the event-store server at
/// `url`, bound to the log signed by `signer` (the one call `ledger serve
/// --store esdb://…` needs). Without the `kurrentdb` feature — as in this
/// build — it fails with [`FEATURE_NEEDED`].
#[cfg(not(feature = "kurrentdb"))]
pub async fn open(url: &str, signer: NoteSigner) -> Result<Arc<dyn Store>, Error> {
    let _ = (url, signer);
    Err(Error::Storage {
        reason: FEATURE_NEEDED.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_store_urls_are_recognised() {
        for url in [
            "esdb://127.0.0.1:2113?tls=false",
            "esdb+discover://cluster.example:2113",
            "kurrentdb://admin:changeit@localhost:2113",
            "kurrent://h:1",
            "kdb://h:1",
        ] {
            assert!(is_store_url(url), "{url}");
        }
        for url in ["postgres://x", "/var/lib/ledger", "esdb", "http://h"] {
            assert!(!is_store_url(url), "{url}");
        }
    }

    #[cfg(not(feature = "kurrentdb"))]
    #[test]
    fn without_the_feature_open_says_the_feature_is_needed() {
        let rt = std::thread::spawn(|| {
            let signer = NoteSigner::generate("test.example/log").unwrap();
            futures_lite_block_on(open("esdb://127.0.0.1:2113?tls=false", signer))
        })
        .join()
        .unwrap();
        let err = rt.err().expect("refused");
        assert!(err.to_string().contains("`kurrentdb`"), "{err}");
    }

    /// Polls a future that never waits (the stub's) to completion.
    #[cfg(not(feature = "kurrentdb"))]
    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
