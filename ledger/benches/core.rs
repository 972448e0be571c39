//! Core benchmarks, each printed with its ratio to a ceiling measured in
//! the same run (issue 2). `LEDGER_BENCH_QUICK=1` shrinks the sizes ~10×.
//!
//! Run: cargo bench -p ledger --bench core

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ed25519_dalek::SigningKey;
use ledger::audit::verify_store;
use ledger::datadir::DataDir;
use ledger::event::LeafHash;
use ledger::keys::{KEY_REGISTERED, KeyRegistration, PublicKey};
use ledger::store::sqlite::{SqliteConfig, SqliteStore};
use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, KeyId, LogIndex, ProposedEvent,
    Store, StreamId, StreamVersion, Timestamp,
};
use rayon::prelude::*;

fn quick() -> bool {
    std::env::var("LEDGER_BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn scale(n: usize) -> usize {
    if quick() { (n / 10).max(100) } else { n }
}

fn payload() -> serde_json::Map<String, serde_json::Value> {
    serde_json::json!({
        "item": "企业设立登记", "channel": "window",
        "officer_note": "材料齐全，当场受理。Materials complete; accepted at the window.",
        "materials": ["营业执照申请书", "身份证明", "住所使用证明"],
        "applicant_ref": "ar:6f1d2c9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6",
        "step": 1
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn make_event(i: usize, sign: Option<(&KeyId, &SigningKey)>) -> ProposedEvent {
    let ev = ProposedEvent::new(
        StreamId::new(&format!("case-{}", i % 1000)).unwrap(),
        EventType::new("case.note").unwrap(),
        Timestamp::now(),
        Actor {
            department: ActorId::new("dept-bench").unwrap(),
            officer: Some(ActorId::new("officer-1").unwrap()),
        },
        payload(),
    );
    match sign {
        Some((k, sk)) => ev.sign_ed25519(k.clone(), sk).unwrap(),
        None => ev,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    data: DataDir,
    store: SqliteStore,
}

async fn fresh(key: &SigningKey) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open_or_init(dir.path(), Some("bench.example/log")).unwrap();
    let store = data.open_store(SqliteConfig::default()).unwrap();
    let reg = KeyRegistration::new(
        &PublicKey::Ed25519(key.verifying_key()),
        ActorId::new("dept-bench").unwrap(),
        None,
    );
    let ev = ProposedEvent::new(
        StreamId::registry(),
        EventType::new(KEY_REGISTERED).unwrap(),
        Timestamp::now(),
        Actor {
            department: ActorId::new("ledger-admin").unwrap(),
            officer: None,
        },
        reg.to_payload(),
    );
    store
        .append(AppendRequest {
            stream: StreamId::registry(),
            expected: ExpectedVersion::Any,
            events: vec![ev],
        })
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        data,
        store,
    }
}

/// Appends `events` one per request from `tasks` concurrent tasks: events/s.
async fn append_rate(store: &SqliteStore, events: Vec<ProposedEvent>, tasks: usize) -> f64 {
    let n = events.len();
    let events = Arc::new(events);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, events, next) = (store.clone(), events.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(ev) = events.get(i) else { return };
                store
                    .append(AppendRequest {
                        stream: ev.stream.clone(),
                        expected: ExpectedVersion::Any,
                        events: vec![ev.clone()],
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Raw SQLite: the same rows, same schema, 1,000 per transaction: rows/s.
fn raw_sqlite_rate(events: &[ProposedEvent]) -> f64 {
    let rows: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                i,
                e.seal(StreamVersion(i as u64), Timestamp::now(), LeafHash::GENESIS)
                    .unwrap(),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let c = rusqlite::Connection::open(dir.path().join("raw.sqlite")).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c.execute_batch(
        "CREATE TABLE events(idx INTEGER PRIMARY KEY, id BLOB NOT NULL, stream TEXT NOT NULL,
             version INTEGER NOT NULL, leaf BLOB NOT NULL, entry BLOB NOT NULL);
         CREATE UNIQUE INDEX events_by_id ON events(id);
         CREATE UNIQUE INDEX events_by_stream ON events(stream, version);",
    )
    .unwrap();
    let start = Instant::now();
    for chunk in rows.chunks(1000) {
        c.execute_batch("BEGIN").unwrap();
        {
            let mut st = c
                .prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .unwrap();
            for (i, s) in chunk {
                st.execute(rusqlite::params![
                    *i as i64,
                    s.event.id.0.to_bytes().to_vec(),
                    s.event.stream.as_str(),
                    *i as i64,
                    &s.leaf_hash.0.0[..],
                    &s.entry
                ])
                .unwrap();
            }
        }
        c.execute_batch("COMMIT").unwrap();
    }
    rows.len() as f64 / start.elapsed().as_secs_f64()
}

/// Ed25519 verification on every core: (single verify_strict, batch of 64) per second.
fn ed25519_rates(events: &[ProposedEvent], vk: &ed25519_dalek::VerifyingKey) -> (f64, f64) {
    let items: Vec<(Vec<u8>, ed25519_dalek::Signature)> = events
        .iter()
        .map(|e| {
            let sig =
                ed25519_dalek::Signature::from_slice(&e.signature.as_ref().unwrap().sig.0).unwrap();
            (e.signing_bytes().unwrap(), sig)
        })
        .collect();
    let start = Instant::now();
    items
        .par_iter()
        .for_each(|(m, s)| assert!(vk.verify_strict(m, s).is_ok()));
    let single = items.len() as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    items.par_chunks(64).for_each(|c| {
        let msgs: Vec<&[u8]> = c.iter().map(|(m, _)| m.as_slice()).collect();
        let sigs: Vec<_> = c.iter().map(|(_, s)| *s).collect();
        let keys = vec![*vk; c.len()];
        assert!(ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok());
    });
    let batch = items.len() as f64 / start.elapsed().as_secs_f64();
    (single, batch)
}

fn median_and_p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[(v.len() * 99) / 100])
}

/// Median/p99 µs of inclusion and consistency proofs on a store of `size`.
async fn proof_times(store: &SqliteStore, size: u64) -> ((f64, f64), (f64, f64)) {
    let mut inc = Vec::new();
    let mut con = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % size;
        let t = Instant::now();
        store.inclusion_proof(LogIndex(i), size).await.unwrap();
        inc.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        store.consistency_proof(i.max(1), size).await.unwrap();
        con.push(t.elapsed().as_secs_f64() * 1e6);
    }
    (median_and_p99(inc), median_and_p99(con))
}

async fn fill(store: &SqliteStore, n: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..4 {
        let (store, next) = (store.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let start = next.fetch_add(1000, Ordering::Relaxed);
                if start >= n {
                    return;
                }
                let count = (n - start).min(1000);
                let stream = StreamId::new(&format!("fill-{start}")).unwrap();
                let events = (0..count)
                    .map(|_| {
                        ProposedEvent::new(
                            stream.clone(),
                            EventType::new("x").unwrap(),
                            Timestamp::now(),
                            Actor {
                                department: ActorId::new("d").unwrap(),
                                officer: None,
                            },
                            serde_json::Map::new(),
                        )
                    })
                    .collect();
                store
                    .append(AppendRequest {
                        stream,
                        expected: ExpectedVersion::Any,
                        events,
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!(
        "machine: {} cores, {cpu}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let sk = SigningKey::from_bytes(&[42u8; 32]);
    let key = KeyId::derive(&PublicKey::Ed25519(sk.verifying_key()));
    let mut lines = Vec::new();

    // Ceilings.
    let n_ceiling = scale(40_000);
    let signed: Vec<ProposedEvent> = (0..n_ceiling)
        .map(|i| make_event(i, Some((&key, &sk))))
        .collect();
    let raw = raw_sqlite_rate(&signed);
    let (ed_single, ed_batch) = ed25519_rates(&signed, &sk.verifying_key());
    let signed_ceiling = raw.min(ed_single);
    lines.push(format!(
        "ceiling: raw SQLite inserts, 1,000/txn, same rows: {raw:.0} rows/s"
    ));
    lines.push(format!("ceiling: Ed25519 verify_strict on every core: {ed_single:.0}/s; batch-64 on every core: {ed_batch:.0}/s"));

    // Signed appends at 1, 16, 256.
    let mut verify_fixture = None;
    for (tasks, n) in [
        (1usize, scale(2_000)),
        (16, scale(20_000)),
        (256, scale(40_000)),
    ] {
        let fx = fresh(&sk).await;
        let events: Vec<_> = (0..n).map(|i| make_event(i, Some((&key, &sk)))).collect();
        let rate = append_rate(&fx.store, events, tasks).await;
        lines.push(format!(
            "append signed, {tasks:>3} appenders: {rate:>8.0} events/s ({:.0} % of ceiling {signed_ceiling:.0}/s)",
            100.0 * rate / signed_ceiling
        ));
        if tasks == 256 {
            verify_fixture = Some(fx);
        }
    }
    // Unsigned at 256.
    {
        let fx = fresh(&sk).await;
        let n = scale(40_000);
        let events: Vec<_> = (0..n).map(|i| make_event(i, None)).collect();
        let rate = append_rate(&fx.store, events, 256).await;
        lines.push(format!(
            "append unsigned, 256 appenders: {rate:>8.0} events/s ({:.0} % of raw SQLite {raw:.0}/s)",
            100.0 * rate / raw
        ));
    }
    // Full-store verification.
    if let Some(fx) = verify_fixture {
        fx.store.checkpoint_now().await.unwrap();
        let size = fx.store.size().await.unwrap();
        let verifier = fx.data.signer().verifier();
        let t = Instant::now();
        let summary = verify_store(&fx.store, &verifier, |_| {})
            .await
            .unwrap()
            .unwrap();
        let rate = summary.entries as f64 / t.elapsed().as_secs_f64();
        let ceiling = ed_single.max(ed_batch);
        lines.push(format!(
            "verify_store (hash+link+signature+tree), {size} events: {rate:.0} events/s ({:.0} % of Ed25519 ceiling {ceiling:.0}/s)",
            100.0 * rate / ceiling
        ));
    }
    // Proofs at 1K and at 1M.
    let big = if quick() { 100_000 } else { 1_000_000 };
    let mut medians = Vec::new();
    for n in [1_000usize, big] {
        let fx = fresh(&sk).await;
        let t = Instant::now();
        fill(&fx.store, n).await;
        let fill_s = t.elapsed().as_secs_f64();
        let size = fx.store.size().await.unwrap();
        let ((im, ip), (cm, cp)) = proof_times(&fx.store, size).await;
        medians.push((im, cm));
        lines.push(format!(
            "proofs at {size} entries (filled in {fill_s:.1} s = {:.0} events/s in batches of 1000): inclusion median {im:.1} µs p99 {ip:.1} µs; consistency median {cm:.1} µs p99 {cp:.1} µs",
            size as f64 / fill_s
        ));
    }
    lines.push(format!(
        "proof time ratio {big} / 1000 entries: inclusion {:.2}×, consistency {:.2}×",
        medians[1].0 / medians[0].0,
        medians[1].1 / medians[0].1
    ));
    println!();
    for l in lines {
        println!("{l}");
    }
}
