//! Monitor benchmark (issue 5): `ledger monitor`'s logic
//! ([`tools::monitor::Monitor`]) auditing a log of signed entries over
//! loopback HTTP, served by the real router, beside the raw rate of what
//! each entry costs at the least — one SHA-256 leaf hash and one Ed25519
//! signature verification — measured in the same run on the same cores.
//!
//! `cargo bench -p tools --bench monitor`
//!
//! Environment: `MONITOR_ENTRIES` (default 1,000,000 signed case events
//! over 10,000 streams, ≈ 600 bytes each), `MONITOR_DIR` (keep the
//! generated data directory there and reuse it on the next run).
//!
//! Printed: the monitor's first run (every entry) in seconds and entries/s,
//! its state file's size, a second run over 10,000 new entries (the
//! consistency proof from tiles, then only the new entries), and the raw
//! SHA-256 + Ed25519 rate on all cores and on one, with the ratio.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use api::AppState;
use api::witness::Cosignatures;
use ledger::datadir::DataDir;
use ledger::event::Event;
use ledger::keys::{PublicKey, SignatureCheck, verify_signatures};
use ledger::store::sqlite::SqliteConfig;
use ledger::{AppendRequest, ExpectedVersion, KeyRegistry, LogIndex, Store, StreamId};
use tests::fixtures::{DepartmentKey, register, signed};
use tools::client::Client;
use tools::monitor::{Monitor, Trust};

/// The allocator `ledger` itself runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEPARTMENTS: usize = 8;
const STREAMS: usize = 10_000;
/// Events per append request (one stream each).
const BATCH: usize = 100;
/// Append requests in flight while the log is generated.
const IN_FLIGHT: usize = 8;
/// Entries appended before the second (incremental) run.
const GROWTH: usize = 10_000;
/// Entries timed for the raw rate.
const RAW_SAMPLE: usize = 50_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let entries = env_usize("MONITOR_ENTRIES", 1_000_000);
    let _tmp;
    let data: PathBuf = match std::env::var_os("MONITOR_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            _tmp = tempfile::tempdir().expect("tempdir");
            _tmp.path().join("data")
        }
    };
    println!(
        "# ledger monitor: {entries} signed entries over loopback HTTP, {} cores",
        cores()
    );
    let dir = DataDir::open_or_init(&data, None).expect("data dir");
    let store: Arc<dyn Store> = Arc::new(dir.open_store(SqliteConfig::default()).expect("store"));
    let keys: Vec<DepartmentKey> = (0..DEPARTMENTS)
        .map(|d| DepartmentKey::generate(&format!("dept-{d}")))
        .collect();
    ensure_log(&store, &keys, entries, &data).await;
    store.checkpoint_now().await.expect("checkpoint");
    let size = store.size().await.expect("size");
    println!("log size: {size}");

    // The real router over the store, on loopback.
    let settings = api::Settings {
        rate_limit: 0.0,
        ..api::Settings::default()
    };
    let state = AppState::new(
        Arc::clone(&store),
        dir.signer().name().to_owned(),
        dir.signer().verifier().to_verifier_key_string(),
        settings,
        Cosignatures::in_memory(),
    )
    .await
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, api::routes::app(state))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let monitor = Monitor::new(
        Client::new(&base, None),
        Trust {
            log_key: dir.signer().verifier(),
            witnesses: Vec::new(),
            witnesses_required: 0,
        },
        PathBuf::from("(in memory)"),
    );
    let heap_before = rss_field("RssAnon:");
    let sampler = PeakSampler::start("RssAnon:");
    let started = Instant::now();
    let (report, kept) = monitor
        .check(None, &mut |_, _| {})
        .await
        .expect("the log verifies");
    let first = started.elapsed().as_secs_f64();
    let heap_peak = sampler.stop();
    let monitor_rate = report.entries_checked as f64 / first;
    let state_bytes = serde_json::to_vec(&kept).expect("state").len();
    println!(
        "monitor, first run:        {} entries in {first:.2} s = {monitor_rate:.0} entries/s ({} tiles and bundles fetched)",
        report.entries_checked, report.tiles_fetched
    );
    println!(
        "  state kept: {:.1} KB (checkpoint, right edge, stream heads, registry entries)",
        state_bytes as f64 / 1e3
    );
    println!(
        "  anonymous memory (heap; the store's file mapping excluded) {} MB before the run, peak {} MB during it (server and monitor in one process)",
        heap_before.map_or("?".to_owned(), |m| m.to_string()),
        heap_peak.map_or("?".to_owned(), |m| m.to_string())
    );

    // The log grows; the next run proves consistency from the tiles and
    // checks only the new entries.
    append_signed(&store, &keys, size as usize, GROWTH).await;
    store.checkpoint_now().await.expect("checkpoint");
    let started = Instant::now();
    let (report, _) = monitor
        .check(Some(&kept), &mut |_, _| {})
        .await
        .expect("the extension verifies");
    let second = started.elapsed().as_secs_f64();
    assert!(report.consistency_proven);
    println!(
        "monitor, next run:         {} new entries in {second:.2} s = {:.0} entries/s (consistency {} → {} proven from tiles)",
        report.entries_checked,
        report.entries_checked as f64 / second,
        report.previous.map_or(0, |p| p.size),
        report.current.size
    );

    let _ = stop.send(());
    server.await.expect("join").expect("served");

    // The raw cost of an entry: SHA-256 leaf hash + one Ed25519 verify,
    // one by one and in the 64-signature batches the auditor uses.
    let sample = raw_sample(&store).await;
    let raw_all = raw_rate(&sample, cores(), false);
    let raw_one = raw_rate(&sample, 1, false);
    let batched = raw_rate(&sample, cores(), true);
    println!(
        "raw SHA-256 + Ed25519 verify: {raw_all:.0} entries/s on {} cores, {raw_one:.0} on one; batched by 64: {batched:.0} on {} cores ({} entries timed)",
        cores(),
        cores(),
        sample.len()
    );
    println!(
        "monitor / raw (all cores): {:.1} % of one-by-one, {:.1} % of batched",
        monitor_rate / raw_all * 100.0,
        monitor_rate / batched * 100.0
    );
}

/// Registers the department keys and appends signed events up to
/// `entries`, unless the store already holds a log.
async fn ensure_log(store: &Arc<dyn Store>, keys: &[DepartmentKey], entries: usize, data: &Path) {
    // This run's keys (a reused log gets them too, for its growth).
    for k in keys {
        register(store, k, None).await;
    }
    let have = store.size().await.expect("size") as usize;
    if have > keys.len() {
        println!("reusing {} ({have} entries)", data.display());
        return;
    }
    let started = Instant::now();
    append_signed(store, keys, 0, entries.saturating_sub(keys.len())).await;
    println!(
        "generated {} signed entries in {:.1} s",
        store.size().await.expect("size"),
        started.elapsed().as_secs_f64()
    );
}

/// Appends `n` signed case events numbered from `first`, `BATCH` per
/// request (one stream each), `IN_FLIGHT` requests at a time, signing on
/// blocking threads.
async fn append_signed(store: &Arc<dyn Store>, keys: &[DepartmentKey], first: usize, n: usize) {
    let keys = Arc::new(keys.to_vec());
    let mut batches = (0..n).step_by(BATCH).map(|s| (first + s, BATCH.min(n - s)));
    let mut pending = futures::stream::FuturesUnordered::new();
    loop {
        while pending.len() < IN_FLIGHT {
            let Some((start, len)) = batches.next() else {
                break;
            };
            let (store, keys) = (Arc::clone(store), Arc::clone(&keys));
            pending.push(tokio::spawn(async move {
                let stream = format!("case-{}", (start / BATCH) % STREAMS);
                let key = keys[(start / BATCH) % keys.len()].clone();
                let events = tokio::task::spawn_blocking(move || {
                    (0..len)
                        .map(|_| signed(&stream, "case.step", &key))
                        .collect::<Vec<_>>()
                })
                .await
                .expect("sign");
                store
                    .append(AppendRequest {
                        stream: events[0].stream.clone(),
                        expected: ExpectedVersion::Any,
                        events,
                    })
                    .await
                    .expect("append");
            }));
        }
        use futures::StreamExt as _;
        match pending.next().await {
            Some(done) => done.expect("append task"),
            None => break,
        }
    }
}

/// Entries with what verifying each takes: (entry, public key, signed
/// message, signature).
type RawCase = (Vec<u8>, PublicKey, Vec<u8>, Vec<u8>);

async fn raw_sample(store: &Arc<dyn Store>) -> Vec<RawCase> {
    let mut registry = KeyRegistry::new();
    let mut out = Vec::with_capacity(RAW_SAMPLE);
    let mut next = 0u64;
    while out.len() < RAW_SAMPLE {
        let page = store
            .read_entries(LogIndex(next), 4_096)
            .await
            .expect("read");
        let Some(last) = page.last() else { break };
        next = last.index.0 + 1;
        for raw in page {
            let Ok((event, msg)) = Event::parse_entry(&raw.entry) else {
                continue;
            };
            if event.stream == StreamId::registry() {
                registry.apply(&event).expect("registry event");
            }
            let Some(sig) = event.signature else { continue };
            let Some(rec) = registry.get(&sig.key) else {
                continue;
            };
            out.push((raw.entry, rec.public_key.clone(), msg, sig.sig.0));
        }
    }
    out.truncate(RAW_SAMPLE);
    out
}

/// Entries/s hashing and verifying `sample` on `threads` threads, one
/// signature at a time or in batches of 64 ([`verify_signatures`]).
fn raw_rate(sample: &[RawCase], threads: usize, batched: bool) -> f64 {
    let started = Instant::now();
    let per = sample.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for part in sample.chunks(per) {
            s.spawn(move || {
                for batch in part.chunks(64) {
                    for (entry, ..) in batch {
                        std::hint::black_box(ledger::merkle::leaf_hash(entry));
                    }
                    if batched {
                        let checks: Vec<SignatureCheck<'_>> = batch
                            .iter()
                            .map(|(_, key, msg, sig)| SignatureCheck { key, msg, sig })
                            .collect();
                        assert!(verify_signatures(&checks).iter().all(|ok| *ok));
                    } else {
                        for (_, key, msg, sig) in batch {
                            assert!(key.verify(msg, sig), "sample signature verifies");
                        }
                    }
                }
            });
        }
    });
    sample.len() as f64 / started.elapsed().as_secs_f64()
}

/// The largest value of a `/proc/self/status` memory field (MB), sampled
/// every 20 ms until stopped.
struct PeakSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Option<u64>>,
}

impl PeakSampler {
    fn start(field: &'static str) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = None;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_field(field));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            peak.max(rss_field(field))
        });
        PeakSampler { stop, thread }
    }

    fn stop(self) -> Option<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

/// A `/proc/self/status` memory field, MB.
fn rss_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
